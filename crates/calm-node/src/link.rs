//! Links to peers: one TCP connection per pair of nodes (the node whose name sorts first dials),
//! a version handshake, and at-least-once delivery: every batch is kept until the peer
//! acknowledges it, and sent again after a reconnect or when acknowledgements stop coming. A
//! batch delivered twice is acknowledged again but ingested once: `NodeCore` remembers the
//! sequence numbers it processed from each peer incarnation (a program that deletes could
//! otherwise see a removed fact come back).
//!
//! The protocol itself (what to write when, retransmission, acknowledgements, incarnations) is
//! the state machine [`crate::link_state::LinkState`], in the peer's [`Outbox`]; this module
//! moves its frames over TCP: it dials, runs the handshake, writes what the state machine says
//! to write, feeds it the frames it reads and wakes it at the time it asks for.
//!
//! Liveness: the link drains its peer's outbox ([`Outbox`]), which the tick loop fills
//! without waiting; every write has a timeout ([`crate::Limits::peer_write_timeout`]) after
//! which the connection is closed; and only the task reading a connection waits for room in the
//! tick loop's queue (which the tick loop always drains, since it never waits on a link), so a
//! slow or stuck peer slows its own link only.

use crate::auth::{self, NONCE_LEN, Role, Secret, Transcript};
use crate::link_state::Received;
use crate::metrics::Metrics;
use crate::node::{Event, Peer, Shared};
use crate::outbox::Outbox;
use crate::warnings::{OUTSIDER, quote};
use crate::wire::{Frame, MAX_HANDSHAKE_FRAME, PROTOCOL_VERSION, WireError, WireFact, WireValue};
use crate::wire_io;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};

/// How long the link waits for an acknowledgement, everything written, before it writes the
/// unacknowledged batches again on the same connection.
pub(crate) const RETRANSMIT_AFTER: Duration = Duration::from_secs(2);
/// Longest wait between the starts of two reconnection attempts: a healed link is back within
/// about this (plus the connect itself) once the peer can be reached again.
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// How often a write waiting for the socket checks whether the connection's reader ended (the
/// peer went silent past the idle timeout, or closed): then the write is abandoned and the link
/// reconnects, rather than waiting for the write timeout.
const WRITE_CHECK: Duration = Duration::from_millis(200);
/// Frames written in one go before the link looks at its other duties.
const WRITES_PER_TURN: usize = 256;

pub(crate) enum LinkCmd {
    /// The listener accepted a connection from this peer and completed the handshake.
    Inbound(TcpStream, u64),
}

pub(crate) struct LinkParams {
    pub me: String,
    pub incarnation: u64,
    pub peer: Peer,
    pub dial: bool,
    pub cmds: mpsc::Receiver<LinkCmd>,
    pub events: mpsc::Sender<Event>,
    pub shared: Arc<Shared>,
    /// The peer's outbox (batches owed, acknowledgements to write) and link state.
    pub state: Arc<Outbox>,
    pub stop: watch::Receiver<bool>,
}

/// Why a connection's reader ended.
type Ended = (u64, Result<(), WireError>);

struct Link {
    p: LinkParams,
    writer: Option<OwnedWriteHalf>,
    reader: Option<JoinHandle<()>>,
    generation: u64,
    ended_tx: mpsc::Sender<Ended>,
}

impl Link {
    /// Writes bytes within the write timeout; on failure or timeout the connection is closed.
    async fn write(&mut self, bytes: &[u8]) -> bool {
        let Some(w) = self.writer.as_mut() else {
            return false;
        };
        let limit = self.p.shared.limits.peer_write_timeout;
        self.p.state.set_writing(Some(std::time::Instant::now()));
        let reader = &self.reader;
        let r = timeout(limit, async {
            let write = async {
                w.write_all(bytes).await?;
                w.flush().await
            };
            tokio::pin!(write);
            loop {
                tokio::select! {
                    r = &mut write => return r,
                    () = tokio::time::sleep(WRITE_CHECK) => {
                        if reader.as_ref().is_some_and(JoinHandle::is_finished) {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::ConnectionAborted,
                                "the connection's reader ended",
                            ));
                        }
                    }
                }
            }
        })
        .await;
        self.p.state.set_writing(None);
        match r {
            Ok(Ok(())) => {
                Metrics::add(&self.p.shared.metrics.bytes_out, bytes.len() as u64);
                true
            }
            Ok(Err(e)) => {
                tracing::debug!(peer = %self.p.peer.name, error = %e, "write failed; reconnecting");
                self.disconnect();
                false
            }
            Err(_) => {
                Metrics::add(&self.p.shared.metrics.stalled_writes, 1);
                tracing::warn!(peer = %self.p.peer.name, ms = limit.as_millis() as u64, "the peer has not taken a frame within the write timeout; closing the connection");
                self.disconnect();
                false
            }
        }
    }

    /// Writes what the state machine says to write, a bounded number of frames; `true` if
    /// there is more. A failed write closes the connection, and the next one starts over.
    async fn flush(&mut self) -> bool {
        for _ in 0..WRITES_PER_TURN {
            if self.writer.is_none() {
                return false;
            }
            let Some(t) = self.p.state.poll_transmit() else {
                return false;
            };
            self.write(t.bytes()).await;
        }
        true
    }

    fn disconnect(&mut self) {
        if let Some(r) = self.reader.take() {
            r.abort();
        }
        if self.writer.take().is_some() {
            self.generation += 1;
            tracing::info!(peer = %self.p.peer.name, "link down");
        }
        self.p.state.on_disconnected();
    }

    fn connected(&mut self, stream: TcpStream, incarnation: u64) {
        self.disconnect();
        self.generation += 1;
        let (reader, writer) = stream.into_split();
        self.writer = Some(writer);
        // A new incarnation is announced to the tick loop before any batch of this connection:
        // the same task sends both, in order.
        let first = self
            .p
            .state
            .on_connected(incarnation)
            .map(|e| Event::PeerIncarnation {
                peer: self.p.peer.name.clone(),
                incarnation: e.incarnation,
                restarted: e.restarted,
            });
        self.p
            .shared
            .warnings
            .clear(&format!("wrong-node:{}", self.p.peer.name));
        self.reader = Some(tokio::spawn(read_loop(
            reader,
            self.generation,
            first,
            self.p.peer.name.clone(),
            self.p.events.clone(),
            self.ended_tx.clone(),
            self.p.state.clone(),
            self.p.shared.clone(),
        )));
        tracing::info!(peer = %self.p.peer.name, "link up");
    }
}

/// Reads one connection: batches go to the tick loop (this task alone waits for room in its
/// queue, which only slows reading this socket), acknowledgements to the outbox. Ends at the
/// end of the stream, an error or the idle timeout, and says so to the link.
#[allow(clippy::too_many_arguments)]
async fn read_loop(
    mut reader: OwnedReadHalf,
    generation: u64,
    first: Option<Event>,
    peer: String,
    events: mpsc::Sender<Event>,
    ended: mpsc::Sender<Ended>,
    state: Arc<Outbox>,
    shared: Arc<Shared>,
) {
    let metrics = &shared.metrics;
    if let Some(ev) = first {
        Metrics::add(&metrics.queue_depth, 1);
        if events.send(ev).await.is_err() {
            return;
        }
    }
    let idle = shared.limits.peer_idle_timeout;
    let why = loop {
        // Nothing for `idle` (the peer pings after a third of it): the connection is dead or
        // the peer is holding it open for nothing.
        let r = match timeout(idle, wire_io::read_frame(&mut reader)).await {
            Ok(r) => r,
            Err(_) => Err(WireError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("nothing received for {} ms", idle.as_millis()),
            ))),
        };
        let (frame, n) = match r {
            Ok(Some(x)) => x,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        Metrics::add(&metrics.bytes_in, n as u64);
        let received = match state.on_frame(frame, metrics) {
            Ok(r) => r,
            Err(e) => break Err(e),
        };
        match received {
            Received::Batch { seq, facts } => {
                // Wait for room in the inbound memory budget (this peer's, then everyone's):
                // meanwhile this connection is not read, and the peer's batches wait on its
                // side. The tick loop never waits, so the budget always comes back.
                let cost = inbound_cost(&facts);
                let mut permits = Vec::with_capacity(2);
                let caps = [
                    (
                        shared.inbound_per_peer.get(&peer),
                        crate::node::kib(shared.limits.peer_inbound_bytes),
                    ),
                    (
                        Some(&shared.inbound),
                        crate::node::kib(shared.limits.inbound_bytes),
                    ),
                ];
                for (sem, cap) in caps {
                    let Some(sem) = sem else { continue };
                    // A batch larger than a whole budget waits until nothing else holds any.
                    let n = cost.min(u32::try_from(cap).unwrap_or(u32::MAX));
                    match sem.clone().acquire_many_owned(n).await {
                        Ok(p) => permits.push(p),
                        Err(_) => return,
                    }
                }
                let ev = Event::Peer {
                    from: peer.clone(),
                    seq,
                    facts,
                    budget: Some(Budget(permits)),
                };
                Metrics::add(&metrics.queue_depth, 1);
                if events.send(ev).await.is_err() {
                    return;
                }
            }
            // The state machine lists a removed batch for the tick loop, which forgets it in the
            // store at its next commit.
            Received::Acked { resync, .. } => {
                if resync {
                    // Wake the tick loop; if its queue is full it is awake anyway, and it
                    // looks for due resyncs at every turn.
                    let _ = events.try_send(Event::Wake);
                }
            }
            Received::Ping => {}
            Received::Members(names) => check_members(&shared, &peer, names),
        }
    };
    let _ = ended.send((generation, why)).await;
}

/// Compares a peer's member list with this node's: a difference is logged and kept in the
/// status's warnings until the lists agree again.
fn check_members(shared: &Shared, peer: &str, mut names: Vec<String>) {
    names.sort();
    names.dedup();
    let key = format!("members:{peer}");
    if names == shared.members {
        shared.warnings.clear(&key);
        return;
    }
    let list = |v: Vec<&String>| -> String {
        if v.is_empty() {
            return "none".into();
        }
        let mut s: Vec<String> = v.iter().take(5).map(|n| quote(n)).collect();
        if v.len() > 5 {
            s.push(format!("and {} more", v.len() - 5));
        }
        s.join(", ")
    };
    let theirs: Vec<&String> = names
        .iter()
        .filter(|n| shared.members.binary_search(n).is_err())
        .collect();
    let ours: Vec<&String> = shared
        .members
        .iter()
        .filter(|n| names.binary_search(n).is_err())
        .collect();
    let message = format!(
        "peer `{peer}` has another member list than this node: members only it lists: {};          members only this node lists: {}. The two evaluate with different `$member`s, so          they can diverge: give every node the same peer list",
        list(theirs),
        list(ours)
    );
    if shared.warnings.set(&key, message.clone()) {
        tracing::warn!(node = %shared.name, %peer, "{message}");
    }
}

/// Runs the link to one peer until the node stops.
pub(crate) async fn run(p: LinkParams) {
    let (ended_tx, mut ended_rx) = mpsc::channel::<Ended>(8);
    let mut stop = p.stop.clone();
    let mut link = Link {
        p,
        writer: None,
        reader: None,
        generation: 0,
        ended_tx,
    };
    let far = || Instant::now() + Duration::from_secs(3600);
    let mut backoff = Duration::from_millis(50);
    let mut next_dial = Instant::now();
    let mut stopping: Option<Instant> = None;
    loop {
        if let Some(deadline) = stopping
            && (link.p.state.unacked() == 0 || Instant::now() >= deadline)
        {
            link.disconnect();
            return;
        }
        if link.writer.is_none() && link.p.dial && Instant::now() >= next_dial {
            let attempt = Instant::now();
            let dialed = tokio::select! {
                r = dial(&link.p) => Some(r),
                _ = stop.changed(), if stopping.is_none() => {
                    stopping = Some(Instant::now() + Duration::from_secs(2));
                    None
                }
            };
            match dialed {
                None => {}
                Some(Ok((stream, inc))) => {
                    backoff = Duration::from_millis(50);
                    link.connected(stream, inc);
                }
                Some(Err(e)) => {
                    match e {
                        DialError::Connect(e) => {
                            tracing::debug!(peer = %link.p.peer.name, error = %e, "cannot connect; will retry");
                        }
                        DialError::Handshake(HandshakeError::WrongNode(found)) => {
                            Metrics::add(&link.p.shared.metrics.bad_frames, 1);
                            let message = format!(
                                "peer `{}` at {} answers as node {}: the address in the peer list is another node's",
                                link.p.peer.name,
                                link.p.peer.shown(),
                                quote(&found)
                            );
                            let key = format!("wrong-node:{}", link.p.peer.name);
                            if link.p.shared.warnings.set(&key, message.clone()) {
                                tracing::warn!(peer = %link.p.peer.name, "{message}");
                            }
                        }
                        DialError::Handshake(e) => e.report(&link.p.shared, &link.p.peer.name),
                    }
                    // From the attempt's start: an attempt that timed out has waited already.
                    next_dial = attempt + backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            continue;
        }
        let more = link.flush().await;
        // The state machine's next deadline: a retransmission or a keep-alive.
        let timeout_at = link
            .p
            .state
            .poll_timeout()
            .map_or_else(far, Instant::from_std);
        let dial_at = if link.writer.is_none() && link.p.dial {
            next_dial
        } else {
            far()
        };
        tokio::select! {
            () = std::future::ready(()), if more => {}
            () = link.p.state.wake.notified() => {}
            cmd = link.p.cmds.recv() => match cmd {
                None => return,
                Some(LinkCmd::Inbound(stream, inc)) => link.connected(stream, inc),
            },
            Some((generation, why)) = ended_rx.recv() => {
                if generation != link.generation {
                    continue;
                }
                match &why {
                    Ok(()) => {}
                    Err(WireError::Io(io)) if io.kind() == std::io::ErrorKind::TimedOut => {
                        Metrics::add(&link.p.shared.metrics.closed_connections, 1);
                        tracing::info!(peer = %link.p.peer.name, error = %io, "idle connection; closing it");
                    }
                    Err(WireError::Io(_)) => {}
                    Err(e) => {
                        Metrics::add(&link.p.shared.metrics.bad_frames, 1);
                        tracing::warn!(peer = %link.p.peer.name, error = %e, "bad frame; closing the connection");
                    }
                }
                link.disconnect();
            },
            _ = sleep_until(timeout_at) => {
                let n = link.p.state.handle_timeout();
                Metrics::add(&link.p.shared.metrics.retransmits, n as u64);
            },
            _ = sleep_until(dial_at) => {},
            _ = stop.changed(), if stopping.is_none() => {
                stopping = Some(Instant::now() + Duration::from_secs(2));
            },
        }
    }
}

/// Why a handshake failed.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// The peer did not prove it knows the cluster secret.
    Auth(String),
    /// The dialer is not in this node's peer list (its name).
    NotMember(String),
    /// The listener is another node than the one dialed (its name).
    WrongNode(String),
    /// Anything else: a bad frame, a wrong version, a timeout, a closed connection.
    Bad(String),
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::Auth(m) | HandshakeError::Bad(m) => f.write_str(m),
            HandshakeError::NotMember(n) => write!(f, "{} is not a member", quote(n)),
            HandshakeError::WrongNode(n) => write!(f, "the node answering is {}", quote(n)),
        }
    }
}

impl HandshakeError {
    /// Counts and logs the failure.
    fn report(&self, shared: &Shared, from: &str) {
        match self {
            HandshakeError::Auth(m) => {
                Metrics::add(&shared.metrics.auth_failures, 1);
                tracing::warn!(peer = %from, error = %m, "peer authentication failed; closing the connection");
            }
            HandshakeError::Bad(_) | HandshakeError::WrongNode(_) => {
                Metrics::add(&shared.metrics.bad_frames, 1);
                tracing::warn!(peer = %from, error = %self, "peer handshake failed; closing the connection");
            }
            HandshakeError::NotMember(name) => {
                Metrics::add(&shared.metrics.bad_frames, 1);
                let message = format!(
                    "node {} connected from {from} but is not in this node's peer list: refused. \
                     If it is a member, every node needs the same peer list",
                    quote(name)
                );
                tracing::warn!(node = %shared.name, name = %quote(name), addr = %from, "a node that is not in this node's peer list connected; refusing it");
                shared
                    .warnings
                    .set(&format!("{OUTSIDER}{}", quote(name)), message);
            }
        }
    }
}

fn bad(e: impl std::fmt::Display) -> HandshakeError {
    HandshakeError::Bad(e.to_string())
}

/// This node's side of a handshake.
pub(crate) struct Me<'a> {
    pub name: &'a str,
    pub incarnation: u64,
    pub secret: Option<&'a Secret>,
    /// Every member's name, sorted (sent after the handshake).
    pub members: &'a [String],
}

async fn read_hello<S: AsyncRead + Unpin>(
    s: &mut S,
) -> Result<(String, u64, Vec<u8>, Vec<u8>), HandshakeError> {
    match wire_io::read_frame_max(s, MAX_HANDSHAKE_FRAME)
        .await
        .map_err(bad)?
    {
        Some((
            Frame::Hello {
                version,
                node,
                incarnation,
                nonce,
                proof,
            },
            _,
        )) => {
            if version != PROTOCOL_VERSION {
                return Err(bad(format!(
                    "protocol version {version}, expected {PROTOCOL_VERSION}"
                )));
            }
            if nonce.len() != NONCE_LEN {
                return Err(bad(format!(
                    "a nonce of {} bytes, expected {NONCE_LEN}",
                    nonce.len()
                )));
            }
            Ok((node, incarnation, nonce, proof))
        }
        Some(_) => Err(bad("expected a handshake")),
        None => Err(bad("connection closed during the handshake")),
    }
}

/// The dialer's handshake with `expected`: Hello, the listener's Hello (checked: its name, and
/// its proof if there is a secret), Auth. Returns the peer's incarnation.
pub(crate) async fn dial_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    me: &Me<'_>,
    expected: &str,
) -> Result<u64, HandshakeError> {
    let nonce = auth::nonce().map_err(bad)?;
    let hello = Frame::Hello {
        version: PROTOCOL_VERSION,
        node: me.name.to_string(),
        incarnation: me.incarnation,
        nonce: nonce.clone(),
        proof: Vec::new(),
    };
    wire_io::write_frame(s, &hello).await.map_err(bad)?;
    let (node, incarnation, their_nonce, proof) = read_hello(s).await?;
    if node != expected {
        return Err(HandshakeError::WrongNode(node));
    }
    let t = Transcript {
        dialer: me.name,
        listener: &node,
        dialer_incarnation: me.incarnation,
        listener_incarnation: incarnation,
        dialer_nonce: &nonce,
        listener_nonce: &their_nonce,
    };
    let proof_out = match me.secret {
        Some(secret) => {
            if !t.verify(secret, Role::Listener, &proof) {
                return Err(HandshakeError::Auth(if proof.is_empty() {
                    "the peer sent no proof of the cluster secret (is it configured with one?)"
                        .into()
                } else {
                    "the peer's proof of the cluster secret is wrong".into()
                }));
            }
            t.proof(secret, Role::Dialer)
        }
        None => Vec::new(),
    };
    wire_io::write_frame(s, &Frame::Auth { proof: proof_out })
        .await
        .map_err(bad)?;
    send_members(s, me).await?;
    Ok(incarnation)
}

/// The listener's handshake: the dialer's Hello (a member's), our Hello with our proof, the
/// dialer's Auth (checked if there is a secret). Returns the peer's name and incarnation. Nothing
/// after the handshake is read here: batches are read only once it succeeded.
pub(crate) async fn accept_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    me: &Me<'_>,
    is_member: impl Fn(&str) -> bool,
) -> Result<(String, u64), HandshakeError> {
    let (node, incarnation, their_nonce, _) = read_hello(s).await?;
    if !is_member(&node) {
        return Err(HandshakeError::NotMember(node));
    }
    let nonce = auth::nonce().map_err(bad)?;
    let t = Transcript {
        dialer: &node,
        listener: me.name,
        dialer_incarnation: incarnation,
        listener_incarnation: me.incarnation,
        dialer_nonce: &their_nonce,
        listener_nonce: &nonce,
    };
    let hello = Frame::Hello {
        version: PROTOCOL_VERSION,
        node: me.name.to_string(),
        incarnation: me.incarnation,
        nonce: nonce.clone(),
        proof: me
            .secret
            .map(|secret| t.proof(secret, Role::Listener))
            .unwrap_or_default(),
    };
    wire_io::write_frame(s, &hello).await.map_err(bad)?;
    let proof = match wire_io::read_frame_max(s, MAX_HANDSHAKE_FRAME)
        .await
        .map_err(bad)?
    {
        Some((Frame::Auth { proof }, _)) => proof,
        Some(_) => return Err(bad("expected the handshake's Auth")),
        None => return Err(bad("connection closed during the handshake")),
    };
    if let Some(secret) = me.secret
        && !t.verify(secret, Role::Dialer, &proof)
    {
        return Err(HandshakeError::Auth(if proof.is_empty() {
            format!("`{node}` sent no proof of the cluster secret (is it configured with one?)")
        } else {
            format!("`{node}`'s proof of the cluster secret is wrong")
        }));
    }
    send_members(s, me).await?;
    Ok((node, incarnation))
}

/// Sends this node's member list, once the handshake succeeded.
async fn send_members<S: AsyncWrite + Unpin>(s: &mut S, me: &Me<'_>) -> Result<(), HandshakeError> {
    let frame = Frame::Members {
        names: me.members.to_vec(),
    };
    wire_io::write_frame(s, &frame).await.map_err(bad)?;
    Ok(())
}

/// Why dialing a peer failed.
enum DialError {
    /// No connection (the peer is down or unreachable): retried quietly.
    Connect(String),
    /// Connected, but the handshake failed: counted and logged.
    Handshake(HandshakeError),
}

async fn dial(p: &LinkParams) -> Result<(TcpStream, u64), DialError> {
    let addr = match &p.peer.host {
        // Resolved at every attempt: the name may point elsewhere now.
        Some(host) => timeout(
            Duration::from_secs(2),
            tokio::net::lookup_host(host.as_str()),
        )
        .await
        .map_err(|_| DialError::Connect(format!("resolving `{host}` timed out")))?
        .map_err(|e| DialError::Connect(format!("cannot resolve `{host}`: {e}")))?
        .next()
        .ok_or_else(|| DialError::Connect(format!("`{host}` has no address")))?,
        None => p.peer.addr,
    };
    let mut stream = timeout(Duration::from_secs(2), TcpStream::connect(addr))
        .await
        .map_err(|_| DialError::Connect("connect timed out".into()))?
        .map_err(|e| DialError::Connect(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let me = Me {
        name: &p.me,
        incarnation: p.incarnation,
        secret: p.shared.secret.as_ref(),
        members: &p.shared.members,
    };
    let inc = timeout(
        p.shared.limits.handshake_timeout,
        dial_handshake(&mut stream, &me, &p.peer.name),
    )
    .await
    .unwrap_or_else(|_| Err(bad("handshake timed out")))
    .map_err(|e| match e {
        // The connection broke (the peer is restarting, say): retried quietly, like a refusal.
        HandshakeError::Bad(m) if m.starts_with("connection") => DialError::Connect(m),
        e => DialError::Handshake(e),
    })?;
    Ok((stream, inc))
}

/// Accepts peer connections, runs the handshake and hands each to its link.
pub(crate) async fn listen(
    listener: TcpListener,
    me: String,
    incarnation: u64,
    links: HashMap<String, mpsc::Sender<LinkCmd>>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(shared.limits.max_connections));
    let per_ip = PerIp::new(shared.limits.max_connections_per_ip);
    loop {
        let (mut stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let Some(ip_slot) = per_ip.take(addr.ip()) else {
            Metrics::add(&shared.metrics.bad_frames, 1);
            Metrics::add(&shared.metrics.peer_per_ip_rejections, 1);
            tracing::warn!(%addr, limit = shared.limits.max_connections_per_ip, "too many peer handshakes from this address; refusing");
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            Metrics::add(&shared.metrics.bad_frames, 1);
            tracing::warn!(%addr, "too many connections; refusing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (me, links, shared) = (me.clone(), links.clone(), shared.clone());
        tokio::spawn(async move {
            let _permit = (permit, ip_slot);
            let hs = Me {
                name: &me,
                incarnation,
                secret: shared.secret.as_ref(),
                members: &shared.members,
            };
            let r = timeout(
                shared.limits.handshake_timeout,
                accept_handshake(&mut stream, &hs, |n| links.contains_key(n)),
            )
            .await
            .unwrap_or_else(|_| Err(bad("handshake timed out")));
            match r {
                Ok((node, inc)) => {
                    if let Some(link) = links.get(&node) {
                        let _ = link.send(LinkCmd::Inbound(stream, inc)).await;
                    }
                }
                Err(e) => e.report(&shared, &addr.to_string()),
            }
        });
    }
}

/// A received batch's share of the inbound memory budgets; given back when dropped.
pub(crate) struct Budget(#[allow(dead_code)] Vec<tokio::sync::OwnedSemaphorePermit>);

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Budget")
    }
}

/// What a batch is estimated to hold in memory once decoded and ingested, in KiB (at least 1):
/// the decoded facts (strings, vectors, values) about twice over.
pub(crate) fn inbound_cost(facts: &[WireFact]) -> u32 {
    let bytes: usize = facts
        .iter()
        .map(|f| {
            48 + f.relation.len()
                + f.tuple
                    .iter()
                    .map(|v| match v {
                        WireValue::Number(_) => 32,
                        WireValue::Symbol(s) => 32 + s.len(),
                    })
                    .sum::<usize>()
        })
        .sum();
    u32::try_from((2 * bytes) / 1024 + 1).unwrap_or(u32::MAX)
}

/// Handshakes in progress per IP address, bounded.
struct PerIp {
    counts: std::sync::Mutex<HashMap<std::net::IpAddr, usize>>,
    max: usize,
}

/// One handshake counted against its address's limit, until dropped.
struct IpSlot {
    per_ip: Arc<PerIp>,
    ip: std::net::IpAddr,
}

impl PerIp {
    fn new(max: usize) -> Arc<PerIp> {
        Arc::new(PerIp {
            counts: std::sync::Mutex::new(HashMap::new()),
            max: max.max(1),
        })
    }

    /// A slot for one more connection from `ip`, if it has fewer than the limit.
    fn take(self: &Arc<Self>, ip: std::net::IpAddr) -> Option<IpSlot> {
        let mut m = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            per_ip: self.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = self.per_ip.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;
    use proptest::prelude::*;

    fn secret() -> Secret {
        Secret::new("correct horse battery staple").unwrap()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// Runs both sides of a handshake over an in-memory pipe.
    fn pair(a: Option<Secret>, b: Option<Secret>) -> (Result<u64, String>, Result<String, String>) {
        rt().block_on(async {
            let (mut x, mut y) = tokio::io::duplex(1 << 16);
            let dialer = Me {
                name: "a",
                incarnation: 1,
                secret: a.as_ref(),
                members: &[],
            };
            let listener = Me {
                name: "b",
                incarnation: 2,
                secret: b.as_ref(),
                members: &[],
            };
            let ((d, _open), l) = tokio::join!(
                async {
                    let r = dial_handshake(&mut x, &dialer, "b").await;
                    // A failed dialer closes the connection (the listener then sees it end); a
                    // successful one keeps it open, as a link does, for the listener's Members.
                    let open = r.is_ok().then_some(x);
                    (r, open)
                },
                accept_handshake(&mut y, &listener, |n| n == "a")
            );
            (
                d.map_err(|e| format!("{e:?}")),
                l.map(|(n, _)| n).map_err(|e| format!("{e:?}")),
            )
        })
    }

    #[test]
    fn handshakes_authenticate_both_sides() {
        assert_eq!(pair(None, None), (Ok(2), Ok("a".into())));
        assert_eq!(
            pair(Some(secret()), Some(secret())),
            (Ok(2), Ok("a".into()))
        );
        let wrong = Secret::new("another secret of some length").unwrap();
        // The dialer refuses a listener with another secret; the listener then sees the
        // connection close before any Auth.
        let (d, l) = pair(Some(secret()), Some(wrong.clone()));
        assert!(d.unwrap_err().starts_with("Auth("));
        assert!(l.is_err());
        // A dialer without the secret: the listener refuses its (empty) proof.
        let (d, l) = pair(None, Some(secret()));
        assert!(d.is_ok());
        assert!(l.unwrap_err().contains("sent no proof"));
        // A listener without the secret: the dialer refuses it.
        let (d, _) = pair(Some(secret()), None);
        assert!(d.unwrap_err().contains("sent no proof"));
    }

    /// A handshake (either side) fed these bytes by the other side.
    fn against(bytes: Vec<u8>, dialing: bool, secret: Option<Secret>) -> Result<(), String> {
        rt().block_on(async {
            let (mut x, mut y) = tokio::io::duplex(1 << 20);
            use tokio::io::AsyncWriteExt as _;
            let feed = async move {
                let _ = y.write_all(&bytes).await;
                let _ = y.shutdown().await;
                // Keep reading so the handshake's writes do not block.
                let mut sink = Vec::new();
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut y, &mut sink).await;
            };
            let me = Me {
                name: "b",
                incarnation: 2,
                secret: secret.as_ref(),
                members: &[],
            };
            let run = async {
                let r = if dialing {
                    dial_handshake(&mut x, &me, "a").await.map(|_| ())
                } else {
                    accept_handshake(&mut x, &me, |n| n == "a")
                        .await
                        .map(|_| ())
                };
                drop(x);
                r
            };
            let (r, ()) = tokio::join!(run, feed);
            r.map_err(|e| e.to_string())
        })
    }

    fn framed(frame: &Frame) -> Vec<u8> {
        let payload = wire::encode(frame).unwrap();
        let mut out = (payload.len() as u32).to_be_bytes().to_vec();
        out.extend(payload);
        out
    }

    proptest! {
        // Fuzzing the handshake: arbitrary bytes, and well-formed frames with arbitrary
        // contents, never panic and never authenticate without the secret.
        // PROPTEST_CASES sets the number of inputs (256 by default).
        #[test]
        fn arbitrary_bytes_never_complete_an_authenticated_handshake(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            dialing in any::<bool>(),
        ) {
            prop_assert!(against(bytes, dialing, Some(secret())).is_err());
        }

        #[test]
        fn forged_frames_never_authenticate(
            nonce in proptest::collection::vec(any::<u8>(), 0..40),
            proof in proptest::collection::vec(any::<u8>(), 0..40),
            auth_proof in proptest::collection::vec(any::<u8>(), 0..40),
            node in "[a-c]{1,2}",
            dialing in any::<bool>(),
        ) {
            let mut bytes = framed(&Frame::Hello {
                version: PROTOCOL_VERSION,
                node,
                incarnation: 7,
                nonce,
                proof,
            });
            bytes.extend(framed(&Frame::Auth { proof: auth_proof }));
            prop_assert!(against(bytes, dialing, Some(secret())).is_err());
        }
    }
}
