//! The tick loop: ingest an unordered batch of events, query (one engine tick), send.

use crate::auth::Secret;
use crate::core::{Input, NodeCore};
use crate::durable::{Restored, SnapshotPolicy};
pub use crate::limits::Limits;
pub(crate) use crate::limits::check_fact;
use crate::link;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::stepper::{Step, Stepped, Stepper};
use crate::store::{RedbStorage, Storage};
use crate::warnings::Warnings;
use crate::wire::WireFact;
use calm_engine::{Engine, Program, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

/// Another member of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its node name.
    pub name: String,
    /// Where it listens for peers (when `host` is a name, where that name pointed at start).
    pub addr: SocketAddr,
    /// The `HOST:PORT` it was given, when HOST is a name rather than an IP address
    /// (`calm-1.calm:7000`): resolved again at every connection attempt, so a peer that comes
    /// back under the same name at another address (a rescheduled pod) is found. `None`: `addr`
    /// is used as it is.
    pub host: Option<String>,
}

impl Peer {
    /// Where the peer is, as configured: its host name and port, or its address.
    pub fn shown(&self) -> String {
        self.host.clone().unwrap_or_else(|| self.addr.to_string())
    }
}

/// A byte budget in KiB permits (at least one, at most what a semaphore holds).
/// The link protocol's numbers for a node with these limits.
fn link_config(limits: &Limits) -> crate::link_state::LinkConfig {
    crate::link_state::LinkConfig {
        retransmit_after: crate::link::RETRANSMIT_AFTER.as_millis() as u64,
        ping_after: Some((limits.peer_idle_timeout / 3).as_millis() as u64),
        outbox_bytes: limits.peer_outbox_bytes,
        max_acks: crate::link_state::MAX_ACKS,
    }
}

pub(crate) fn kib(bytes: usize) -> usize {
    (bytes / 1024).clamp(1, tokio::sync::Semaphore::MAX_PERMITS >> 1)
}

/// How to run a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node's name (`$self`).
    pub name: String,
    /// Where to listen for peers.
    pub listen: SocketAddr,
    /// The other members (with this node, the contents of `$member`).
    pub peers: Vec<Peer>,
    /// The program.
    pub program: Program,
    /// Limits.
    pub limits: Limits,
}

/// Errors of the node API.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Bad input from a client: unknown relation, wrong arity or type, limits.
    #[error("{0}")]
    BadRequest(String),
    /// The node stopped.
    #[error("the node has stopped")]
    Stopped,
    /// The node's input queue is full: retry later (HTTP 503 with `Retry-After`).
    #[error("the node is busy (its input queue is full); retry later")]
    Busy,
    /// The program failed at run time on this input.
    #[error("{0}")]
    Runtime(String),
    /// Binding or configuration failed.
    #[error("{0}")]
    Setup(String),
    /// The data directory failed (I/O error, damaged data): the node stops, and nothing that
    /// was not stored is acknowledged.
    #[error("storage failure: {0}")]
    Storage(String),
}

/// Durability and authentication of a node; [`NodeOptions::default`] is neither.
#[derive(Default)]
pub struct NodeOptions {
    /// Where the node keeps its state across restarts (see [`NodeOptions::data_dir`]); without
    /// one, state lives in memory only.
    pub storage: Option<Box<dyn Storage>>,
    /// The cluster secret: peers must prove they know it (see [`crate::auth`]).
    pub cluster_secret: Option<Secret>,
    /// When to snapshot the state (with storage).
    pub snapshot: SnapshotPolicy,
}

impl NodeOptions {
    /// Options keeping the node's state in `dir` (created if missing; `calm.redb` in it).
    pub fn data_dir(dir: &std::path::Path) -> Result<NodeOptions, NodeError> {
        let store = RedbStorage::open(dir).map_err(|e| NodeError::Storage(e.to_string()))?;
        Ok(NodeOptions {
            storage: Some(Box::new(store)),
            ..NodeOptions::default()
        })
    }
}

/// State of the link to one peer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PeerStatus {
    /// The peer.
    pub name: String,
    /// Its address.
    pub addr: String,
    /// Whether a connection is up and taking what is written to it (no write has been
    /// pending for a second or more).
    pub connected: bool,
    /// Batches queued or sent and not yet acknowledged.
    pub unacked: usize,
    /// Bytes of those batches (their frames).
    pub outbox_bytes: u64,
    /// Milliseconds since the last frame arrived from the peer (none yet: `None`).
    pub last_frame_ago_ms: Option<u64>,
    /// Milliseconds the current write to the peer has been waiting, if one is.
    pub write_pending_ms: Option<u64>,
    /// The peer's backlog went over its budget (`Limits::peer_outbox_bytes`): new batches are
    /// not queued for it until it caught up, and then its history is sent again.
    pub overflowed: bool,
    /// Facts sent to the peer over the node's life, each counted once: what it is sent again
    /// if it restarts without its state (see `docs/node.md`, "What a node keeps").
    pub history_facts: u64,
    /// Bytes of memory that record takes.
    pub history_bytes: u64,
}

/// What `status` reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Status {
    /// The node's name.
    pub name: String,
    /// Ticks executed.
    pub tick: u64,
    /// Links to peers.
    pub peers: Vec<PeerStatus>,
    /// Each relation's size after the last tick.
    pub relations: BTreeMap<String, usize>,
    /// What is wrong with the node's setup or its cluster, in words (empty: nothing known):
    /// peers that never connected, peers with another member list, nodes not in the peer list
    /// that tried to connect, an unauthenticated non-loopback address. Each was also logged at
    /// WARN.
    pub warnings: Vec<String>,
}

/// New facts of a relation after a tick, for subscribers.
#[derive(Clone, Debug)]
pub struct Update {
    /// The tick.
    pub tick: u64,
    /// The relation.
    pub relation: String,
    /// Tuples present now that were not after the previous tick.
    pub added: Vec<Vec<Value>>,
}

/// The tick loop's answer to an insert: the tick that took it (or why not), and when the answer
/// was sent (for the `reply` stage of [`crate::metrics::InsertStages`]).
pub(crate) type InsertReply = oneshot::Sender<(Result<u64, NodeError>, Instant)>;

pub(crate) enum Event {
    Insert {
        facts: Vec<(String, Vec<Value>)>,
        reply: InsertReply,
        /// When it was queued.
        queued: Instant,
    },
    Query {
        relation: String,
        filter: Vec<(usize, Value)>,
        reply: oneshot::Sender<Result<Vec<Vec<Value>>, NodeError>>,
    },
    Status {
        reply: oneshot::Sender<Status>,
    },
    Peer {
        from: String,
        seq: u64,
        facts: Vec<WireFact>,
        /// The share of the inbound memory budget the batch holds until its tick is done.
        budget: Option<crate::link::Budget>,
    },
    /// A peer connected with an incarnation other than the last one known.
    PeerIncarnation {
        peer: String,
        incarnation: u64,
        /// It had another before: it restarted and lost its state.
        restarted: bool,
    },
    Timer {
        relation: String,
        round: i64,
    },
    Subscribe {
        relation: String,
        reply: oneshot::Sender<Result<mpsc::Receiver<Update>, NodeError>>,
    },
    /// Wakes the tick loop to stop.
    Stop,
    /// Wakes the tick loop (a peer's backlog was acknowledged after an overflow).
    Wake,
}

pub(crate) struct Shared {
    pub name: String,
    pub metrics: Metrics,
    /// Each peer's outbox and link state.
    pub links: BTreeMap<String, Arc<Outbox>>,
    pub limits: Limits,
    pub secret: Option<Secret>,
    /// Why the node stopped, if it failed.
    pub failure: Mutex<Option<String>>,
    /// When the node started.
    pub started: Instant,
    /// What is wrong, for the status.
    pub warnings: Warnings,
    /// Every member's name (this node's and its peers'), sorted: what `$member` holds.
    pub members: Vec<String>,
    /// The inbound memory budget (KiB) of all peers together, and of each.
    pub inbound: Arc<tokio::sync::Semaphore>,
    pub inbound_per_peer: BTreeMap<String, Arc<tokio::sync::Semaphore>>,
    /// Client servers (HTTP, RESP) running on the tick thread's runtime: once the tick loop
    /// has ended, the thread keeps that runtime going until they have finished (bounded).
    pub servers: AtomicUsize,
}

/// A handle to a running node; cheap to clone.
#[derive(Clone)]
pub struct NodeHandle {
    tx: mpsc::Sender<Event>,
    shared: Arc<Shared>,
    program: Program,
    stop: watch::Sender<bool>,
    /// This node among those of the process (the key of its engine on the tick thread).
    id: u64,
    /// Where the client servers and the links run: the tick thread's runtime, or with a data
    /// directory the runtime that started the node (see [`crate::http::serve_with`]).
    clients: tokio::runtime::Handle,
}

/// A started node.
pub struct Node {
    /// The handle for clients.
    pub handle: NodeHandle,
    /// The address the peer listener is bound to.
    pub peer_addr: SocketAddr,
    done: oneshot::Receiver<()>,
}

impl Node {
    /// Waits until the node has stopped (after [`NodeHandle::shutdown`]).
    pub async fn wait(self) {
        let _ = self.done.await;
    }
}

/// The engines of the nodes whose tick loop runs on this thread, by node id: a request served
/// on the tick thread (the client servers run there, see [`crate::http::serve_with`]) reads
/// the engine directly, between two steps of the tick loop, instead of queueing an event and
/// waiting for the loop to answer. Only the tick loop steps the engine, and it never holds
/// the borrow across an `.await`, so a task on this thread finds it free.
mod local {
    use super::Stepper;
    use std::cell::RefCell;
    use std::rc::Rc;

    thread_local! {
        static STEPPERS: RefCell<Vec<(u64, Rc<RefCell<Stepper>>)>> = const { RefCell::new(Vec::new()) };
    }

    /// Makes the engine of node `id` readable from tasks on this thread.
    pub(super) fn register(id: u64, stepper: Rc<RefCell<Stepper>>) {
        STEPPERS.with(|s| s.borrow_mut().push((id, stepper)));
    }

    /// Ends [`register`]: from now on, requests go through the tick loop's queue (which is
    /// closed once the loop has ended: `NodeError::Stopped`).
    pub(super) fn unregister(id: u64) {
        STEPPERS.with(|s| s.borrow_mut().retain(|(i, _)| *i != id));
    }

    /// `f` on the engine of node `id`, if this is its tick thread and the tick loop is between
    /// two steps; `None` otherwise.
    pub(super) fn with<R>(id: u64, f: impl FnOnce(&mut Stepper) -> R) -> Option<R> {
        let stepper = STEPPERS.with(|s| {
            s.borrow()
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, st)| st.clone())
        })?;
        let mut guard = stepper.try_borrow_mut().ok()?;
        Some(f(&mut guard))
    }
}

/// Node ids, unique in the process.
static NODE_IDS: AtomicU64 = AtomicU64::new(1);

impl NodeHandle {
    /// The node's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The program the node runs.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Checks one fact against the program and the limits.
    pub fn check_fact(&self, relation: &str, tuple: &[Value]) -> Result<(), NodeError> {
        check_fact(&self.program, &self.shared.limits, relation, tuple)
            .map_err(NodeError::BadRequest)
    }

    /// Inserts facts; resolves with the tick that ingested them once that tick is complete.
    /// Every fact is checked first: one bad fact refuses the whole request, and nothing of it is
    /// ingested.
    pub async fn insert(&self, facts: Vec<(String, Vec<Value>)>) -> Result<u64, NodeError> {
        self.insert_since(facts, Instant::now()).await
    }

    /// [`NodeHandle::insert`] of facts whose request arrived at `started`: the time until they
    /// are queued is the `parse` stage of [`crate::metrics::InsertStages`].
    pub(crate) async fn insert_since(
        &self,
        facts: Vec<(String, Vec<Value>)>,
        started: Instant,
    ) -> Result<u64, NodeError> {
        let limits = &self.shared.limits;
        if facts.len() > limits.max_facts_per_request {
            return Err(NodeError::BadRequest(format!(
                "{} facts in one request; the limit is {}",
                facts.len(),
                limits.max_facts_per_request
            )));
        }
        for (rel, tuple) in &facts {
            self.check_fact(rel, tuple)?;
        }
        let (reply, rx) = oneshot::channel();
        let queued = Instant::now();
        self.shared
            .metrics
            .insert
            .parse
            .observe(queued.saturating_duration_since(started));
        self.send(Event::Insert {
            facts,
            reply,
            queued,
        })
        .await?;
        let (result, sent) = rx.await.map_err(|_| NodeError::Stopped)?;
        self.shared.metrics.insert.reply.observe(sent.elapsed());
        result
    }

    /// The tuples of a relation after the last tick whose columns equal the filter's values.
    pub async fn query(
        &self,
        relation: &str,
        filter: Vec<(usize, Value)>,
    ) -> Result<Vec<Vec<Value>>, NodeError> {
        // On the tick thread (a request of a client server), the engine is read directly.
        if let Some(r) = local::with(self.id, |stepper| query(stepper, relation, &filter)) {
            return r;
        }
        let (reply, rx) = oneshot::channel();
        self.send(Event::Query {
            relation: relation.to_string(),
            filter,
            reply,
        })
        .await?;
        rx.await.map_err(|_| NodeError::Stopped)?
    }

    /// Name, tick, links and relation sizes.
    pub async fn status(&self) -> Result<Status, NodeError> {
        if let Some(s) = local::with(self.id, |stepper| status(stepper, &self.shared)) {
            return Ok(s);
        }
        let (reply, rx) = oneshot::channel();
        self.send(Event::Status { reply }).await?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    /// New facts of a relation, after every tick that adds some.
    pub async fn subscribe(&self, relation: &str) -> Result<mpsc::Receiver<Update>, NodeError> {
        let (reply, rx) = oneshot::channel();
        self.send(Event::Subscribe {
            relation: relation.to_string(),
            reply,
        })
        .await?;
        rx.await.map_err(|_| NodeError::Stopped)?
    }

    /// Prometheus text of the node's metrics, with each link's state.
    pub fn metrics_text(&self) -> String {
        let peers: Vec<PeerStatus> = self.shared.links.values().map(|l| l.status()).collect();
        let mut out = self.shared.metrics.render(&self.shared.name);
        crate::metrics::render_peers(&mut out, &self.shared.name, &peers);
        out
    }

    /// The state of the links to the peers, read without the tick loop.
    pub fn peers(&self) -> Vec<PeerStatus> {
        self.shared.links.values().map(|l| l.status()).collect()
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Where client servers run: the runtime of the node's tick thread, so that their requests
    /// reach the tick loop without waking another thread and reads are served from the engine
    /// directly; with a data directory, the runtime that started the node.
    pub(crate) fn client_runtime(&self) -> &tokio::runtime::Handle {
        &self.clients
    }

    /// Counts a client server on the tick thread's runtime until the guard is dropped.
    fn server_guard(&self) -> ServerGuard {
        self.shared.servers.fetch_add(1, Ordering::SeqCst);
        ServerGuard(self.shared.clone())
    }

    /// Runs a client server (`serve` on `listener`) on the runtime clients are served on (see
    /// [`NodeHandle::client_runtime`]), counted by a [`ServerGuard`] while it runs; the returned
    /// future only waits for it. Cancelled (the tick thread's runtime is gone, so is the node),
    /// it ends with `Ok`.
    pub(crate) async fn serve_clients<F, Fut>(
        &self,
        listener: tokio::net::TcpListener,
        serve: F,
    ) -> std::io::Result<()>
    where
        F: FnOnce(tokio::net::TcpListener, NodeHandle) -> Fut + Send + 'static,
        Fut: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let listener = listener.into_std()?;
        let guard = self.server_guard();
        let handle = self.clone();
        let served = self.client_runtime().spawn(async move {
            let _guard = guard;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            serve(listener, handle).await
        });
        served.await.unwrap_or(Ok(()))
    }

    /// The limits the node applies.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// Reports a problem with the node's setup: logged at WARN and listed in the status's
    /// `warnings` for as long as the node runs (e.g. an unauthenticated non-loopback address).
    pub fn add_warning(&self, message: impl Into<String>) {
        let message = message.into();
        tracing::warn!(node = %self.shared.name, "{message}");
        let key = format!("setup:{message}");
        self.shared.warnings.set(&key, message);
    }

    /// The status's `warnings`, read without the tick loop.
    pub fn warnings(&self) -> Vec<String> {
        warnings(&self.shared)
    }

    /// Why the node stopped, if it stopped on a failure (a storage error).
    pub fn failure(&self) -> Option<String> {
        self.shared.failure.lock().ok().and_then(|f| f.clone())
    }

    /// Asks the node to stop: it finishes the current tick, gives its links a moment to deliver
    /// what is owed, and ends.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
        let _ = self.tx.try_send(Event::Stop);
    }

    /// Queues a client's event without waiting: a full queue is [`NodeError::Busy`].
    async fn send(&self, ev: Event) -> Result<(), NodeError> {
        let m = &self.shared.metrics;
        Metrics::add(&m.queue_depth, 1);
        let r = self.tx.try_send(ev).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                Metrics::add(&m.busy_rejections, 1);
                NodeError::Busy
            }
            mpsc::error::TrySendError::Closed(_) => NodeError::Stopped,
        });
        if r.is_err() {
            m.queue_depth.fetch_sub(1, Ordering::Relaxed);
        }
        r
    }
}

/// A client server running on the tick thread's runtime (see [`NodeHandle::server_guard`]).
pub(crate) struct ServerGuard(Arc<Shared>);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.0.servers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A client's read: the tuples of `relation` matching `filter`, after the last step (an index on
/// the filter's columns is kept from then on).
fn query(
    stepper: &mut Stepper,
    relation: &str,
    filter: &[(usize, Value)],
) -> Result<Vec<Vec<Value>>, NodeError> {
    if !filter.is_empty() {
        let cols: Vec<usize> = filter.iter().map(|f| f.0).collect();
        stepper.index_on(relation, &cols);
    }
    stepper
        .core()
        .engine()
        .relation_where(relation, filter)
        .map_err(|e| NodeError::BadRequest(e.to_string()))
}

fn status(stepper: &Stepper, shared: &Shared) -> Status {
    let engine = stepper.core().engine();
    let ir = engine.program().ir();
    let relations = ir
        .relations
        .iter()
        .filter(|r| r.builtin != Some(calm_ir::Builtin::Auxiliary))
        .map(|r| (r.name.clone(), engine.relation_len(&r.name).unwrap_or(0)))
        .collect();
    let peers = shared.links.values().map(|l| l.status()).collect();
    Status {
        name: shared.name.clone(),
        tick: engine.ticks(),
        peers,
        relations,
        warnings: warnings(shared),
    }
}

/// Starts a node: binds the peer listener, starts the links, the timers and the tick loop. State
/// lives in memory only, and peers are not authenticated: see [`start_with`].
pub async fn start(config: NodeConfig) -> Result<Node, NodeError> {
    start_with(config, NodeOptions::default()).await
}

/// What the tick thread hands back once the node's state is loaded.
struct Loaded {
    incarnation: u64,
    restored: Restored,
    /// The tick thread's runtime.
    clients: tokio::runtime::Handle,
}

/// Starts a node with durability and authentication options: with storage, the node first comes
/// back to the state of its last commit (an error there is [`NodeError::Storage`]).
pub async fn start_with(config: NodeConfig, options: NodeOptions) -> Result<Node, NodeError> {
    if let Some(d) = crate::core::unsupported(&config.program) {
        return Err(NodeError::Setup(d.message));
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| NodeError::Setup(format!("cannot listen on {}: {e}", config.listen)))?;
    let peer_addr = listener
        .local_addr()
        .map_err(|e| NodeError::Setup(e.to_string()))?;
    let (tx, rx) = mpsc::channel(config.limits.queue_len);
    let (stop, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        name: config.name.clone(),
        metrics: Metrics::default(),
        links: config
            .peers
            .iter()
            .map(|p| {
                let state = Outbox::new(&p.name, p.shown(), link_config(&config.limits));
                (p.name.clone(), Arc::new(state))
            })
            .collect(),
        limits: config.limits.clone(),
        secret: options.cluster_secret.clone(),
        failure: Mutex::new(None),
        started: Instant::now(),
        warnings: Warnings::default(),
        members: {
            let mut m: Vec<String> = config.peers.iter().map(|p| p.name.clone()).collect();
            m.push(config.name.clone());
            m.sort();
            m.dedup();
            m
        },
        inbound: Arc::new(tokio::sync::Semaphore::new(kib(config
            .limits
            .inbound_bytes))),
        inbound_per_peer: config
            .peers
            .iter()
            .map(|p| {
                let s = tokio::sync::Semaphore::new(kib(config.limits.peer_inbound_bytes));
                (p.name.clone(), Arc::new(s))
            })
            .collect(),
        servers: AtomicUsize::new(0),
    });
    let mut links = HashMap::new();
    let mut link_rxs = Vec::new();
    for peer in &config.peers {
        // Only the listener sends on it (a connection it accepted for this peer).
        let (ltx, lrx) = mpsc::channel(8);
        links.insert(peer.name.clone(), ltx);
        link_rxs.push((peer.clone(), lrx));
    }
    // The engine is synchronous and single-threaded (not `Send`): it runs on a thread of its
    // own, which first loads the state from the store. That thread runs a single-threaded
    // runtime, where (without a data directory) the client servers (`http::serve_with`,
    // `resp::serve`) and the links run too: a request hands its facts to the tick loop and gets
    // its answer back without waking another thread, and reads are served from the engine
    // between two steps.
    let (program, name) = (config.program.clone(), config.name.clone());
    let limits = config.limits.clone();
    let peer_names: Vec<String> = config.peers.iter().map(|p| p.name.clone()).collect();
    let (loaded_tx, loaded_rx) = oneshot::channel::<Result<Loaded, NodeError>>();
    let (done_tx, done) = oneshot::channel::<()>();
    let (thread_shared, thread_stop) = (shared.clone(), stop.clone());
    let thread_stop_rx = stop_rx.clone();
    let (storage, policy) = (options.storage, options.snapshot);
    // With a data directory, a step ends with an fsync, during which a thread serving the
    // clients and the links too would serve nothing: they stay on the caller's runtime, whose
    // workers read the next requests while the tick thread waits for the disk (paired runs:
    // durable puts/s halved on the tick thread).
    let caller = (storage.is_some()).then(tokio::runtime::Handle::current);
    let id = NODE_IDS.fetch_add(1, Ordering::Relaxed);
    let caller_is_set = caller.is_some();
    let spawned = std::thread::Builder::new()
        .name(format!("calm-tick-{}", config.name))
        .spawn(move || {
            let mut builder = tokio::runtime::Builder::new_current_thread();
            // Without client servers and links on it (with a data directory), the loop needs
            // no I/O driver, and waits on a plain thread park.
            if caller_is_set {
                builder.enable_time();
            } else {
                builder.enable_all();
            }
            let rt = match builder.build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = loaded_tx.send(Err(NodeError::Setup(format!(
                        "cannot start the tick thread's runtime: {e}"
                    ))));
                    return;
                }
            };
            let core = NodeCore::new(&program, &name, &peer_names, limits);
            let started = Instant::now();
            let location = storage.as_ref().map(|s| s.location());
            let (mut stepper, restored) = match Stepper::open(core, storage, policy, incarnation())
            {
                Ok(opened) => opened,
                Err(e) => {
                    // The store is released (dropped by `open`) before the caller hears of it.
                    let _ = loaded_tx.send(Err(NodeError::Storage(e.to_string())));
                    return;
                }
            };
            stepper.set_timing(true);
            if let Some(path) = location {
                tracing::info!(
                    node = %name,
                    %path,
                    ticks = stepper.core().engine().ticks(),
                    replayed = restored.replayed,
                    unacked = restored.outbox.values().map(BTreeMap::len).sum::<usize>(),
                    snapshot_bytes = restored.snapshot_bytes,
                    log_bytes = restored.log_bytes,
                    ms = started.elapsed().as_millis() as u64,
                    "state loaded from the data directory"
                );
            }
            if loaded_tx
                .send(Ok(Loaded {
                    incarnation: restored.incarnation,
                    restored,
                    clients: rt.handle().clone(),
                }))
                .is_err()
            {
                return;
            }
            let stepper = Rc::new(RefCell::new(stepper));
            local::register(id, stepper.clone());
            let tl = TickLoop {
                stepper,
                shared: thread_shared.clone(),
                stop: thread_stop,
                id,
            };
            rt.block_on(tl.run(rx, thread_stop_rx));
            local::unregister(id);
            let _ = done_tx.send(());
            // The client servers on this runtime answer what is in progress (the node has
            // stopped) and end once told to; they are dropped after 5 s at most.
            rt.block_on(async {
                let deadline = Instant::now() + Duration::from_secs(5);
                while thread_shared.servers.load(Ordering::SeqCst) > 0 && Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
        });
    if let Err(e) = spawned {
        return Err(NodeError::Setup(format!(
            "cannot start the tick thread: {e}"
        )));
    }
    let Loaded {
        incarnation,
        mut restored,
        clients,
    } = loaded_rx.await.map_err(|_| NodeError::Stopped)??;
    let clients = caller.unwrap_or(clients);
    for (peer, lrx) in link_rxs {
        let unacked = restored.outbox.remove(&peer.name).unwrap_or_default();
        let peer_incarnation = restored.peers.get(&peer.name).and_then(|r| r.incarnation);
        let Some(state) = shared.links.get(&peer.name).cloned() else {
            continue;
        };
        state.set_peer_incarnation(peer_incarnation);
        // What the store owes the peer, within its budget (see `LinkState::push`).
        for (seq, facts) in unacked {
            state.push(seq, &facts, false, &shared.metrics);
        }
        clients.spawn(link::run(link::LinkParams {
            me: config.name.clone(),
            incarnation,
            dial: config.name < peer.name,
            peer,
            cmds: lrx,
            events: tx.clone(),
            shared: shared.clone(),
            stop: stop_rx.clone(),
            state,
        }));
    }
    // The links, like the client servers, run on `clients`: without a data directory the tick
    // thread's runtime, so that a peer's batch reaches the tick loop, and the tick loop's sends
    // reach the link, without a thread switch.
    let listener = listener
        .into_std()
        .map_err(|e| NodeError::Setup(format!("cannot listen on {peer_addr}: {e}")))?;
    let (listen_name, listen_links, listen_shared, listen_stop) = (
        config.name.clone(),
        links.clone(),
        shared.clone(),
        stop_rx.clone(),
    );
    clients.spawn(async move {
        match TcpListener::from_std(listener) {
            Ok(listener) => {
                link::listen(
                    listener,
                    listen_name,
                    incarnation,
                    listen_links,
                    listen_shared,
                    listen_stop,
                )
                .await
            }
            Err(e) => tracing::error!(error = %e, "cannot listen for peers"),
        }
    });
    start_timers(&config.program, &tx, &stop_rx, &restored.timers, &clients)?;
    clients.spawn(watch_connections(shared.clone(), stop_rx.clone()));
    let handle = NodeHandle {
        tx,
        shared: shared.clone(),
        program: config.program.clone(),
        stop,
        id,
        clients,
    };
    tracing::info!(node = %config.name, %peer_addr, peers = config.peers.len(), "node started");
    Ok(Node {
        handle,
        peer_addr,
        done,
    })
}

/// After [`Limits::peer_connect_grace`], logs every peer that has not connected yet (the status
/// lists them as long as they have not: see [`warnings`]).
async fn watch_connections(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let grace = shared.limits.peer_connect_grace;
    tokio::select! {
        _ = tokio::time::sleep(grace) => {}
        _ = stop.changed() => return,
    }
    for link in shared.links.values() {
        if !link.ever_connected() {
            let s = link.status();
            tracing::warn!(
                node = %shared.name,
                peer = %s.name,
                addr = %s.addr,
                secs = grace.as_secs_f64(),
                "the peer has not connected since this node started: is it running, is the address right, and does it list this node as a peer?"
            );
        }
    }
}

/// The warnings of a node: those recorded, and the peers that have not connected within
/// [`Limits::peer_connect_grace`] of the start.
fn warnings(shared: &Shared) -> Vec<String> {
    let mut out = Vec::new();
    let up = shared.started.elapsed();
    if up >= shared.limits.peer_connect_grace {
        for link in shared.links.values() {
            if !link.ever_connected() {
                let s = link.status();
                out.push(format!(
                    "peer `{}` ({}) has not connected in the {} s since this node started",
                    s.name,
                    s.addr,
                    up.as_secs()
                ));
            }
        }
    }
    out.extend(shared.warnings.list());
    out
}

/// A new incarnation: random, so that two starts never share one.
fn incarnation() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_ok() {
        return u64::from_le_bytes(b);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (std::process::id() as u64).rotate_left(32)
}

/// `.input rel(IO=timer, period="500ms")`: the node inserts `rel(round)` (or `rel()`) every
/// period.
fn start_timers(
    program: &Program,
    tx: &mpsc::Sender<Event>,
    stop: &watch::Receiver<bool>,
    rounds: &BTreeMap<String, i64>,
    rt: &tokio::runtime::Handle,
) -> Result<(), NodeError> {
    for (name, period) in timer_inputs(program).map_err(NodeError::Setup)? {
        let tx = tx.clone();
        let first_round = rounds.get(&name).copied().unwrap_or(0);
        let mut stop = stop.clone();
        rt.spawn(async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // With a data directory, rounds go on from where they were.
            let mut round = first_round;
            loop {
                tokio::select! {
                    _ = interval.tick() => {}
                    _ = stop.changed() => return,
                }
                let ev = Event::Timer {
                    relation: name.clone(),
                    round,
                };
                if tx.send(ev).await.is_err() {
                    return;
                }
                round += 1;
            }
        });
    }
    Ok(())
}

/// The program's timer inputs, `.input rel(IO=timer, period="500ms")`, with their periods:
/// an error names a bad period or a relation of the wrong shape (a timer relation has no column,
/// or one number column for the round).
pub fn timer_inputs(program: &Program) -> Result<Vec<(String, Duration)>, String> {
    let mut out = Vec::new();
    for rel in &program.ir().relations {
        let timer = |s: &&calm_ir::IoSpec| s.params.get("io").map(String::as_str) == Some("timer");
        let Some(spec) = rel.inputs.iter().find(timer) else {
            continue;
        };
        let period = spec.params.get("period").map_or("1s", String::as_str);
        let period = parse_duration(period).ok_or_else(|| {
            format!(
                "`.input {}`: bad period `{period}` (e.g. 500ms, 2s)",
                rel.name
            )
        })?;
        if rel.arity > 1
            || rel
                .types
                .first()
                .is_some_and(|t| *t != calm_ir::Type::Number)
        {
            return Err(format!(
                "`.input {}(IO=timer)`: a timer relation has no column or one number column (the round)",
                rel.name
            ));
        }
        out.push((rel.name.clone(), period));
    }
    Ok(out)
}

/// `250ms`, `2s`, `1m`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        _ => return None,
    };
    (!d.is_zero()).then_some(d)
}

/// Most events taken into one tick.
const MAX_EVENTS_PER_TICK: usize = 4096;

/// The tick loop: events in, one [`Stepper::step`] (tick and commit), then replies, sends and
/// acknowledgements out.
struct TickLoop {
    /// Also reachable from the client servers' tasks on this thread (see [`local`]), between
    /// two steps: the loop borrows it only while it runs synchronously, never across an
    /// `.await`.
    stepper: Rc<RefCell<Stepper>>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    /// The node's id (see [`local`]).
    id: u64,
}

impl TickLoop {
    /// Runs on the tick thread's runtime (the `block_on` future), whose other tasks are the
    /// client servers' connections: they run whenever the loop waits for events, and between
    /// two ticks when the node is busy.
    async fn run(self, mut rx: mpsc::Receiver<Event>, stop: watch::Receiver<bool>) {
        let shared = self.shared.clone();
        let metrics = &shared.metrics;
        let mut subscribers: Vec<(String, mpsc::Sender<Update>)> = Vec::new();
        let mut previous: HashMap<String, BTreeSet<Vec<Value>>> = HashMap::new();
        let mut failed = false;
        loop {
            let mut events = Vec::new();
            if *stop.borrow() {
                break;
            }
            let busy = self.stepper.borrow().core().busy();
            if busy {
                // The next tick runs without input; the connections run first (they may
                // bring some).
                tokio::task::yield_now().await;
            } else {
                match rx.recv().await {
                    Some(Event::Stop) | None => break,
                    Some(ev) => events.push(ev),
                }
            }
            // From here to the end of the iteration, no `.await`: the engine is borrowed.
            let stepper_cell = self.stepper.clone();
            let mut stepper = stepper_cell.borrow_mut();
            let stepper = &mut *stepper;
            while events.len() < MAX_EVENTS_PER_TICK {
                match rx.try_recv() {
                    Ok(ev) => events.push(ev),
                    Err(_) => break,
                }
            }
            metrics
                .queue_depth
                .store(rx.len() as u64, Ordering::Relaxed);
            let mut inputs = Vec::new();
            let mut replies: Vec<InsertReply> = Vec::new();
            let mut queued_at: Vec<Instant> = Vec::new();
            let mut budgets: Vec<Option<crate::link::Budget>> = Vec::new();
            let mut incarnations: Vec<(String, u64)> = Vec::new();
            for ev in events {
                match ev {
                    Event::Insert {
                        facts,
                        reply,
                        queued,
                    } => {
                        inputs.push(Input::Insert(facts));
                        replies.push(reply);
                        queued_at.push(queued);
                    }
                    Event::Peer {
                        from,
                        seq,
                        facts,
                        budget,
                    } => {
                        inputs.push(Input::Peer { from, seq, facts });
                        // Released when this iteration ends: after the step took the facts.
                        budgets.push(budget);
                    }
                    Event::PeerIncarnation {
                        peer,
                        incarnation,
                        restarted,
                    } => {
                        if restarted {
                            tracing::info!(%peer, "peer restarted without its state: sending its facts again");
                            inputs.push(Input::PeerRestarted(peer.clone()));
                        }
                        incarnations.push((peer, incarnation));
                    }
                    Event::Timer { relation, round } => {
                        inputs.push(Input::Timer { relation, round })
                    }
                    Event::Stop | Event::Wake => {}
                    Event::Query {
                        relation,
                        filter,
                        reply,
                    } => {
                        let _ = reply.send(query(stepper, &relation, &filter));
                    }
                    Event::Status { reply } => {
                        let _ = reply.send(status(stepper, &self.shared));
                    }
                    Event::Subscribe { relation, reply } => {
                        let r = match stepper.core().engine().relation(&relation) {
                            Ok(rows) => {
                                let (tx, rx) = mpsc::channel(256);
                                previous
                                    .entry(relation.clone())
                                    .or_insert_with(|| rows.into_iter().collect());
                                subscribers.push((relation, tx));
                                Ok(rx)
                            }
                            Err(e) => Err(NodeError::BadRequest(e.to_string())),
                        };
                        let _ = reply.send(r);
                    }
                }
            }
            // Peers whose backlog went over its budget and is now acknowledged: their history
            // goes out again (stored first, with a data directory).
            if let Err(e) = self.resyncs(stepper) {
                failed = true;
                self.fail(&e, replies);
                break;
            }
            if inputs.is_empty() && !stepper.core().busy() && incarnations.is_empty() {
                for r in replies {
                    let _ = r.send((Ok(stepper.core().engine().ticks()), Instant::now()));
                }
                continue;
            }
            // Batches the links saw acknowledged: they leave the store's outbox in this commit.
            let acked: Vec<(String, u64)> = shared
                .links
                .iter()
                .flat_map(|(peer, link)| link.take_acked().into_iter().map(|s| (peer.clone(), s)))
                .collect();
            let span = tracing::debug_span!("tick", node = %shared.name, tick = stepper.core().engine().ticks());
            let step = Step {
                inputs,
                incarnations,
                acked,
            };
            let step_started = Instant::now();
            for q in queued_at {
                metrics
                    .insert
                    .queue
                    .observe(step_started.saturating_duration_since(q));
            }
            let stepped = match span.in_scope(|| stepper.step(step)) {
                Ok(s) => s,
                Err(e) => {
                    // Fail-stop: nothing of this step is acknowledged, sent or answered as done.
                    failed = true;
                    self.fail(&e, replies);
                    break;
                }
            };
            let Stepped {
                output: out,
                sends,
                committed,
                tick_time,
            } = stepped;
            if out.tick.is_some() {
                Metrics::add(&metrics.ticks, 1);
                metrics.last_tick_micros.store(
                    (shared.started.elapsed().as_micros() as u64).max(1),
                    Ordering::Relaxed,
                );
                Metrics::add(
                    &metrics.tick_micros,
                    tick_time.map_or(0, |d| d.as_micros() as u64),
                );
                if let Some(d) = tick_time {
                    metrics.insert.tick.observe(d);
                }
            }
            if let Some(c) = committed {
                Metrics::add(&metrics.commits, 1);
                Metrics::add(
                    &metrics.commit_micros,
                    c.time.map_or(0, |d| d.as_micros() as u64),
                );
                if let Some(d) = c.time {
                    metrics.insert.commit.observe(d);
                }
                if c.snapshot_bytes.is_some() {
                    Metrics::add(&metrics.snapshots, 1);
                }
            }
            Metrics::add(&metrics.facts_inserted, out.inserted);
            Metrics::add(&metrics.facts_in, out.received);
            Metrics::add(&metrics.facts_out, out.sent);
            Metrics::add(&metrics.rejected_facts, out.rejected.len() as u64);
            for (peer, e) in &out.rejected {
                tracing::warn!(%peer, error = %e, "fact from peer refused");
            }
            for (dest, n) in &out.undeliverable {
                Metrics::add(&metrics.undeliverable, *n);
                tracing::warn!(%dest, facts = n, "facts addressed to a node that is not a member are dropped");
            }
            // Into the peers' outboxes, never waiting: the links drain them at their pace.
            let mut last = None;
            for (dest, seq, facts) in sends {
                if let Some(link) = shared.links.get(&dest) {
                    link.push(seq, &facts, false, metrics);
                    if last.as_ref() != Some(&dest) {
                        let (n, bytes) = stepper.core().history_size(&dest);
                        link.set_history(n, bytes);
                    }
                }
                last = Some(dest);
            }
            for (peer, seq) in out.acks {
                if let Some(link) = shared.links.get(&peer) {
                    link.ack(seq);
                }
            }
            let result = match out.tick {
                Some(Ok(t)) => Ok(t),
                None => Ok(stepper.core().engine().ticks()),
                Some(Err(e)) => {
                    // The tick is abandoned and the state stays as it was before it.
                    Metrics::add(&metrics.tick_errors, 1);
                    tracing::error!(error = %e, "tick failed: a rule could not be evaluated on this input");
                    Err(e)
                }
            };
            let replied = Instant::now();
            for r in replies {
                metrics
                    .insert
                    .step
                    .observe(replied.saturating_duration_since(step_started));
                let _ = r.send((result.clone().map_err(NodeError::Runtime), replied));
            }
            if let Ok(tick) = result {
                notify_subscribers(
                    stepper.core().engine(),
                    &mut subscribers,
                    &mut previous,
                    tick,
                );
            }
        }
        if !failed {
            // Give the links a moment to deliver what is owed.
            let deadline = Instant::now() + Duration::from_secs(2);
            while shared.metrics.unacked.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let ticks = self.stepper.borrow().core().engine().ticks();
        tracing::info!(node = %shared.name, ticks, "node stopped");
    }

    /// Sends their history again to the peers whose backlog went over its budget and has been
    /// acknowledged since.
    fn resyncs(&self, stepper: &mut Stepper) -> Result<(), crate::store::StoreError> {
        let shared = self.shared.clone();
        for (peer, link) in &shared.links {
            let Some(dropped) = link.take_resync() else {
                continue;
            };
            let sends = stepper.resend_history(peer, dropped)?;
            tracing::info!(%peer, batches = sends.len(), "the peer caught up after its backlog went over budget: sending its history again");
            Metrics::add(&shared.metrics.resyncs, 1);
            for (_, seq, facts) in sends {
                link.push(seq, &facts, true, &shared.metrics);
            }
        }
        Ok(())
    }

    /// Stops the node on a storage failure: nothing of the failed step is acknowledged, sent or
    /// answered as done.
    fn fail(&self, e: &crate::store::StoreError, replies: Vec<InsertReply>) {
        // Nothing is read from the engine from now on (it may hold the failed step).
        local::unregister(self.id);
        let msg = e.to_string();
        tracing::error!(path = %e.location, error = %e.message, "storage failure: stopping the node; nothing of the failed step was acknowledged");
        if let Ok(mut f) = self.shared.failure.lock() {
            *f = Some(msg.clone());
        }
        for r in replies {
            let _ = r.send((Err(NodeError::Storage(msg.clone())), Instant::now()));
        }
        let _ = self.stop.send(true);
    }
}

fn notify_subscribers(
    engine: &Engine,
    subscribers: &mut Vec<(String, mpsc::Sender<Update>)>,
    previous: &mut HashMap<String, BTreeSet<Vec<Value>>>,
    tick: u64,
) {
    subscribers.retain(|(_, tx)| !tx.is_closed());
    let wanted: BTreeSet<String> = subscribers.iter().map(|(r, _)| r.clone()).collect();
    previous.retain(|r, _| wanted.contains(r));
    for rel in wanted {
        let added: Vec<Vec<Value>> = match engine.last_changes(&rel) {
            // An incremental tick says what it added.
            Ok(Some(changes)) => {
                previous.remove(&rel);
                changes.added
            }
            _ => {
                let Ok(rows) = engine.relation(&rel) else {
                    continue;
                };
                let now: BTreeSet<Vec<Value>> = rows.into_iter().collect();
                let before = previous.entry(rel.clone()).or_default();
                let added = now.difference(before).cloned().collect();
                *before = now;
                added
            }
        };
        if added.is_empty() {
            continue;
        }
        for (r, tx) in subscribers.iter() {
            if *r == rel {
                let _ = tx.try_send(Update {
                    tick,
                    relation: rel.clone(),
                    added: added.clone(),
                });
            }
        }
    }
}
