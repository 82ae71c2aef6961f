//! The tick loop: ingest an unordered batch of events, query (one engine tick), send.

use crate::auth::Secret;
use crate::core::{Input, NodeCore};
use crate::durable::{Restored, SnapshotPolicy};
use crate::link::{self, LinkCmd};
use crate::metrics::Metrics;
use crate::stepper::{Step, Stepped, Stepper};
use crate::store::{RedbStorage, Storage};
use crate::wire::WireFact;
use calm_engine::{Engine, Program, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

/// Another member of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its node name.
    pub name: String,
    /// Where it listens for peers.
    pub addr: SocketAddr,
}

/// Limits on what outsiders control.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Facts in one client request.
    pub max_facts_per_request: usize,
    /// Bytes in one symbol.
    pub max_string_len: usize,
    /// Simultaneous inbound peer connections (handshakes included).
    pub max_connections: usize,
    /// Time a peer has to complete the handshake.
    pub handshake_timeout: Duration,
    /// Events queued for the tick loop before senders wait.
    pub queue_len: usize,
    /// An established peer connection on which nothing arrives for this long is closed (each
    /// side sends a ping after a third of it without traffic).
    pub peer_idle_timeout: Duration,
    /// An HTTP connection with no traffic either way for this long is closed.
    pub http_idle_timeout: Duration,
    /// Simultaneous HTTP connections; more are closed at once.
    pub max_http_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_facts_per_request: 100_000,
            max_string_len: 64 << 10,
            max_connections: 64,
            handshake_timeout: Duration::from_secs(5),
            queue_len: 1024,
            peer_idle_timeout: Duration::from_secs(30),
            http_idle_timeout: Duration::from_secs(60),
            max_http_connections: 256,
        }
    }
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
    /// Whether a connection is up.
    pub connected: bool,
    /// Batches sent and not yet acknowledged.
    pub unacked: usize,
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

pub(crate) enum Event {
    Insert {
        facts: Vec<(String, Vec<Value>)>,
        reply: oneshot::Sender<Result<u64, NodeError>>,
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
}

pub(crate) struct Shared {
    pub name: String,
    pub metrics: Metrics,
    pub links: Mutex<BTreeMap<String, PeerStatus>>,
    pub limits: Limits,
    pub secret: Option<Secret>,
    /// Batches peers acknowledged, for the tick loop to remove from the store.
    pub acked: Mutex<Vec<(String, u64)>>,
    /// Why the node stopped, if it failed.
    pub failure: Mutex<Option<String>>,
}

/// A handle to a running node; cheap to clone.
#[derive(Clone)]
pub struct NodeHandle {
    tx: mpsc::Sender<Event>,
    shared: Arc<Shared>,
    program: Program,
    stop: watch::Sender<bool>,
}

/// A started node.
pub struct Node {
    /// The handle for clients.
    pub handle: NodeHandle,
    /// The address the peer listener is bound to.
    pub peer_addr: SocketAddr,
    done: tokio::task::JoinHandle<()>,
}

impl Node {
    /// Waits until the node has stopped (after [`NodeHandle::shutdown`]).
    pub async fn wait(self) {
        let _ = self.done.await;
    }
}

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
        self.send(Event::Insert { facts, reply }).await?;
        rx.await.map_err(|_| NodeError::Stopped)?
    }

    /// The tuples of a relation after the last tick whose columns equal the filter's values.
    pub async fn query(
        &self,
        relation: &str,
        filter: Vec<(usize, Value)>,
    ) -> Result<Vec<Vec<Value>>, NodeError> {
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

    /// Prometheus text of the node's metrics.
    pub fn metrics_text(&self) -> String {
        self.shared.metrics.render(&self.shared.name)
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The limits the node applies.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
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

    async fn send(&self, ev: Event) -> Result<(), NodeError> {
        Metrics::add(&self.shared.metrics.queue_depth, 1);
        let r = self.tx.send(ev).await.map_err(|_| NodeError::Stopped);
        if r.is_err() {
            self.shared
                .metrics
                .queue_depth
                .fetch_sub(1, Ordering::Relaxed);
        }
        r
    }
}

pub(crate) fn check_fact(
    program: &Program,
    limits: &Limits,
    relation: &str,
    tuple: &[Value],
) -> Result<(), String> {
    for v in tuple {
        if let Value::Symbol(s) = v
            && s.len() > limits.max_string_len
        {
            return Err(format!(
                "a symbol of {} bytes in `{relation}` exceeds the limit of {}",
                s.len(),
                limits.max_string_len
            ));
        }
    }
    program.check(relation, tuple).map_err(|e| e.to_string())
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
}

/// Starts a node with durability and authentication options: with storage, the node first comes
/// back to the state of its last commit (an error there is [`NodeError::Storage`]).
pub async fn start_with(config: NodeConfig, options: NodeOptions) -> Result<Node, NodeError> {
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
        links: Mutex::new(
            config
                .peers
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        PeerStatus {
                            name: p.name.clone(),
                            addr: p.addr.to_string(),
                            connected: false,
                            unacked: 0,
                        },
                    )
                })
                .collect(),
        ),
        limits: config.limits.clone(),
        secret: options.cluster_secret.clone(),
        acked: Mutex::new(Vec::new()),
        failure: Mutex::new(None),
    });
    let mut links = HashMap::new();
    let mut link_rxs = Vec::new();
    for peer in &config.peers {
        let (ltx, lrx) = mpsc::channel(1024);
        links.insert(peer.name.clone(), ltx);
        link_rxs.push((peer.clone(), lrx));
    }
    // The engine is synchronous and single-threaded (not `Send`): it runs on a thread of its
    // own, which first loads the state from the store.
    let (program, name) = (config.program.clone(), config.name.clone());
    let limits = config.limits.clone();
    let peer_names: Vec<String> = config.peers.iter().map(|p| p.name.clone()).collect();
    let (loaded_tx, loaded_rx) = oneshot::channel::<Result<Loaded, NodeError>>();
    let (thread_links, thread_shared, thread_stop) = (links.clone(), shared.clone(), stop.clone());
    let thread_stop_rx = stop_rx.clone();
    let (storage, policy) = (options.storage, options.snapshot);
    let done = tokio::task::spawn_blocking(move || {
        let core = NodeCore::new(&program, &name, &peer_names, limits);
        let started = Instant::now();
        let location = storage.as_ref().map(|s| s.location());
        let (mut stepper, restored) = match Stepper::open(core, storage, policy, incarnation()) {
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
                ms = started.elapsed().as_millis() as u64,
                "state loaded from the data directory"
            );
        }
        if loaded_tx
            .send(Ok(Loaded {
                incarnation: restored.incarnation,
                restored,
            }))
            .is_err()
        {
            return;
        }
        let mut tl = TickLoop {
            stepper,
            links: thread_links,
            shared: thread_shared,
            stop: thread_stop,
        };
        tl.run(rx, thread_stop_rx);
    });
    let Loaded {
        incarnation,
        mut restored,
    } = loaded_rx.await.map_err(|_| NodeError::Stopped)??;
    for (peer, lrx) in link_rxs {
        let unacked = restored.outbox.remove(&peer.name).unwrap_or_default();
        let peer_incarnation = restored.peers.get(&peer.name).and_then(|r| r.incarnation);
        tokio::spawn(link::run(link::LinkParams {
            me: config.name.clone(),
            incarnation,
            dial: config.name < peer.name,
            peer,
            cmds: lrx,
            events: tx.clone(),
            shared: shared.clone(),
            stop: stop_rx.clone(),
            unacked,
            peer_incarnation,
        }));
    }
    tokio::spawn(link::listen(
        listener,
        config.name.clone(),
        incarnation,
        links.clone(),
        shared.clone(),
        stop_rx.clone(),
    ));
    start_timers(&config.program, &tx, &stop_rx, &restored.timers)?;
    let handle = NodeHandle {
        tx,
        shared: shared.clone(),
        program: config.program.clone(),
        stop,
    };
    tracing::info!(node = %config.name, %peer_addr, peers = config.peers.len(), "node started");
    Ok(Node {
        handle,
        peer_addr,
        done,
    })
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
) -> Result<(), NodeError> {
    for (name, period) in timer_inputs(program).map_err(NodeError::Setup)? {
        let tx = tx.clone();
        let first_round = rounds.get(&name).copied().unwrap_or(0);
        let mut stop = stop.clone();
        tokio::spawn(async move {
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
    stepper: Stepper,
    links: HashMap<String, mpsc::Sender<LinkCmd>>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl TickLoop {
    fn run(&mut self, mut rx: mpsc::Receiver<Event>, stop: watch::Receiver<bool>) {
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
            if !self.stepper.core().busy() {
                match rx.blocking_recv() {
                    Some(Event::Stop) | None => break,
                    Some(ev) => events.push(ev),
                }
            }
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
            let mut replies = Vec::new();
            let mut incarnations: Vec<(String, u64)> = Vec::new();
            for ev in events {
                match ev {
                    Event::Insert { facts, reply } => {
                        inputs.push(Input::Insert(facts));
                        replies.push(reply);
                    }
                    Event::Peer { from, seq, facts } => {
                        inputs.push(Input::Peer { from, seq, facts })
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
                    Event::Stop => {}
                    Event::Query {
                        relation,
                        filter,
                        reply,
                    } => {
                        if !filter.is_empty() {
                            let cols: Vec<usize> = filter.iter().map(|f| f.0).collect();
                            self.stepper.index_on(&relation, &cols);
                        }
                        let r = self
                            .stepper
                            .core()
                            .engine()
                            .relation_where(&relation, &filter)
                            .map_err(|e| NodeError::BadRequest(e.to_string()));
                        let _ = reply.send(r);
                    }
                    Event::Status { reply } => {
                        let _ = reply.send(self.status());
                    }
                    Event::Subscribe { relation, reply } => {
                        let r = match self.stepper.core().engine().relation(&relation) {
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
            if inputs.is_empty() && !self.stepper.core().busy() && incarnations.is_empty() {
                for r in replies {
                    let _ = r.send(Ok(self.stepper.core().engine().ticks()));
                }
                continue;
            }
            // Batches the links saw acknowledged: they leave the store's outbox in this commit.
            let acked = shared
                .acked
                .lock()
                .map(|mut a| std::mem::take(&mut *a))
                .unwrap_or_default();
            let span = tracing::debug_span!("tick", node = %shared.name, tick = self.stepper.core().engine().ticks());
            let step = Step {
                inputs,
                incarnations,
                acked,
            };
            let stepped = match span.in_scope(|| self.stepper.step(step)) {
                Ok(s) => s,
                Err(e) => {
                    // Fail-stop: nothing of this step is acknowledged, sent or answered as done.
                    failed = true;
                    let msg = e.to_string();
                    tracing::error!(path = %e.location, error = %e.message, "storage failure: stopping the node; nothing of the failed step was acknowledged");
                    if let Ok(mut f) = shared.failure.lock() {
                        *f = Some(msg.clone());
                    }
                    for r in replies {
                        let _ = r.send(Err(NodeError::Storage(msg.clone())));
                    }
                    let _ = self.stop.send(true);
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
                Metrics::add(
                    &metrics.tick_micros,
                    tick_time.map_or(0, |d| d.as_micros() as u64),
                );
            }
            if let Some(c) = committed {
                Metrics::add(&metrics.commits, 1);
                Metrics::add(
                    &metrics.commit_micros,
                    c.time.map_or(0, |d| d.as_micros() as u64),
                );
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
            for (dest, seq, facts) in sends {
                if let Some(link) = self.links.get(&dest) {
                    let _ = link.blocking_send(LinkCmd::Send { seq, facts });
                }
            }
            for (peer, seq) in out.acks {
                if let Some(link) = self.links.get(&peer) {
                    let _ = link.blocking_send(LinkCmd::Ack(seq));
                }
            }
            let result = match out.tick {
                Some(Ok(t)) => Ok(t),
                None => Ok(self.stepper.core().engine().ticks()),
                Some(Err(e)) => {
                    // The tick is abandoned and the state stays as it was before it.
                    Metrics::add(&metrics.tick_errors, 1);
                    tracing::error!(error = %e, "tick failed: a rule could not be evaluated on this input");
                    Err(e)
                }
            };
            for r in replies {
                let _ = r.send(result.clone().map_err(NodeError::Runtime));
            }
            if let Ok(tick) = result {
                notify_subscribers(
                    self.stepper.core().engine(),
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
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        tracing::info!(node = %shared.name, ticks = self.stepper.core().engine().ticks(), "node stopped");
    }

    fn status(&self) -> Status {
        let engine = self.stepper.core().engine();
        let ir = engine.program().ir();
        let relations = ir
            .relations
            .iter()
            .filter(|r| r.builtin != Some(calm_ir::Builtin::Auxiliary))
            .map(|r| (r.name.clone(), engine.relation_len(&r.name).unwrap_or(0)))
            .collect();
        let peers = self
            .shared
            .links
            .lock()
            .map(|l| l.values().cloned().collect())
            .unwrap_or_default();
        Status {
            name: self.shared.name.clone(),
            tick: engine.ticks(),
            peers,
            relations,
        }
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
