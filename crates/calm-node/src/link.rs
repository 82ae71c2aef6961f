//! Links to peers: one TCP connection per pair of nodes (the node whose name sorts first dials),
//! a version handshake, and at-least-once delivery: every batch is kept until the peer
//! acknowledges it, and sent again after a reconnect or a timeout. Duplicates are harmless: a
//! node's state is a set of facts.

use crate::metrics::Metrics;
use crate::node::{Event, Peer, Shared};
use crate::wire::{self, Frame, PROTOCOL_VERSION, WireError, WireFact};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::{Instant, sleep_until, timeout};

/// How long an unacknowledged batch waits before it is sent again.
const RETRANSMIT_AFTER: Duration = Duration::from_secs(1);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub(crate) enum LinkCmd {
    /// Send these facts (reliably).
    Send(Vec<WireFact>),
    /// Acknowledge the peer's batch.
    Ack(u64),
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
    pub stop: watch::Receiver<bool>,
}

type FrameResult = (u64, Result<Option<(Frame, usize)>, WireError>);

struct Link {
    p: LinkParams,
    unacked: BTreeMap<u64, Vec<WireFact>>,
    next_seq: u64,
    writer: Option<OwnedWriteHalf>,
    generation: u64,
    peer_incarnation: Option<u64>,
    frames_tx: mpsc::Sender<FrameResult>,
    last_send: Instant,
}

impl Link {
    fn set_connected(&self, connected: bool) {
        if let Ok(mut links) = self.p.shared.links.lock() {
            if let Some(s) = links.get_mut(&self.p.peer.name) {
                s.connected = connected;
                s.unacked = self.unacked.len();
            }
        }
    }

    fn set_unacked(&self, before: usize) {
        let m = &self.p.shared.metrics.unacked;
        let after = self.unacked.len();
        if after > before {
            m.fetch_add((after - before) as u64, Ordering::Relaxed);
        } else {
            m.fetch_sub((before - after) as u64, Ordering::Relaxed);
        }
        self.set_connected(self.writer.is_some());
    }

    async fn write(&mut self, frame: &Frame) {
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        match wire::write_frame(w, frame).await {
            Ok(n) => Metrics::add(&self.p.shared.metrics.bytes_out, n as u64),
            Err(e) => {
                tracing::debug!(peer = %self.p.peer.name, error = %e, "write failed; reconnecting");
                self.disconnect();
            }
        }
    }

    fn disconnect(&mut self) {
        if self.writer.take().is_some() {
            self.generation += 1;
            tracing::info!(peer = %self.p.peer.name, "link down");
        }
        self.set_connected(false);
    }

    async fn connected(&mut self, stream: TcpStream, incarnation: u64) {
        self.generation += 1;
        let generation = self.generation;
        let (mut reader, writer) = stream.into_split();
        self.writer = Some(writer);
        let tx = self.frames_tx.clone();
        tokio::spawn(async move {
            loop {
                let r = wire::read_frame(&mut reader).await;
                let end = !matches!(r, Ok(Some(_)));
                if tx.send((generation, r)).await.is_err() || end {
                    return;
                }
            }
        });
        if let Some(old) = self.peer_incarnation {
            if old != incarnation {
                let _ = self
                    .p
                    .events
                    .send(Event::PeerRestarted {
                        peer: self.p.peer.name.clone(),
                    })
                    .await;
            }
        }
        self.peer_incarnation = Some(incarnation);
        tracing::info!(peer = %self.p.peer.name, "link up");
        self.set_connected(true);
        self.retransmit(false).await;
    }

    async fn retransmit(&mut self, count: bool) {
        let batches: Vec<(u64, Vec<WireFact>)> =
            self.unacked.iter().map(|(s, f)| (*s, f.clone())).collect();
        if count && !batches.is_empty() {
            Metrics::add(&self.p.shared.metrics.retransmits, batches.len() as u64);
        }
        for (seq, facts) in batches {
            if self.writer.is_none() {
                break;
            }
            self.write(&Frame::Batch { seq, facts }).await;
        }
        self.last_send = Instant::now();
    }
}

/// Runs the link to one peer until the node stops.
pub(crate) async fn run(p: LinkParams) {
    let (frames_tx, mut frames_rx) = mpsc::channel::<FrameResult>(256);
    let mut stop = p.stop.clone();
    let mut link = Link {
        p,
        unacked: BTreeMap::new(),
        next_seq: 1,
        writer: None,
        generation: 0,
        peer_incarnation: None,
        frames_tx,
        last_send: Instant::now(),
    };
    let far = || Instant::now() + Duration::from_secs(3600);
    let mut backoff = Duration::from_millis(50);
    let mut next_dial = Instant::now();
    let mut stopping: Option<Instant> = None;
    loop {
        if let Some(deadline) = stopping {
            if link.unacked.is_empty() || Instant::now() >= deadline {
                link.disconnect();
                return;
            }
        }
        if link.writer.is_none() && link.p.dial && Instant::now() >= next_dial {
            match dial(&link.p).await {
                Ok((stream, inc)) => {
                    backoff = Duration::from_millis(50);
                    link.connected(stream, inc).await;
                }
                Err(e) => {
                    tracing::debug!(peer = %link.p.peer.name, error = %e, "cannot connect; will retry");
                    next_dial = Instant::now() + backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            continue;
        }
        let retransmit_at = if link.writer.is_some() && !link.unacked.is_empty() {
            link.last_send + RETRANSMIT_AFTER
        } else {
            far()
        };
        let dial_at = if link.writer.is_none() && link.p.dial {
            next_dial
        } else {
            far()
        };
        tokio::select! {
            cmd = link.p.cmds.recv() => match cmd {
                None => return,
                Some(LinkCmd::Send(facts)) => {
                    let before = link.unacked.len();
                    let seq = link.next_seq;
                    link.next_seq += 1;
                    link.unacked.insert(seq, facts.clone());
                    link.set_unacked(before);
                    if link.unacked.len() == 1 {
                        link.last_send = Instant::now();
                    }
                    link.write(&Frame::Batch { seq, facts }).await;
                }
                Some(LinkCmd::Ack(seq)) => link.write(&Frame::Ack { seq }).await,
                Some(LinkCmd::Inbound(stream, inc)) => {
                    link.disconnect();
                    link.connected(stream, inc).await;
                }
            },
            Some((generation, r)) = frames_rx.recv() => {
                if generation != link.generation {
                    continue;
                }
                match r {
                    Ok(Some((frame, n))) => {
                        Metrics::add(&link.p.shared.metrics.bytes_in, n as u64);
                        match frame {
                            Frame::Batch { seq, facts } => {
                                let ev = Event::Peer { from: link.p.peer.name.clone(), seq, facts };
                                Metrics::add(&link.p.shared.metrics.queue_depth, 1);
                                if link.p.events.send(ev).await.is_err() {
                                    return;
                                }
                            }
                            Frame::Ack { seq } => {
                                let before = link.unacked.len();
                                link.unacked.remove(&seq);
                                link.set_unacked(before);
                            }
                            Frame::Hello { .. } => {
                                Metrics::add(&link.p.shared.metrics.bad_frames, 1);
                                tracing::warn!(peer = %link.p.peer.name, "unexpected handshake frame; closing the connection");
                                link.disconnect();
                            }
                        }
                    }
                    Ok(None) => link.disconnect(),
                    Err(e) => {
                        if !matches!(e, WireError::Io(_)) {
                            Metrics::add(&link.p.shared.metrics.bad_frames, 1);
                            tracing::warn!(peer = %link.p.peer.name, error = %e, "bad frame; closing the connection");
                        }
                        link.disconnect();
                    }
                }
            },
            _ = sleep_until(retransmit_at) => link.retransmit(true).await,
            _ = sleep_until(dial_at) => {},
            _ = stop.changed(), if stopping.is_none() => {
                stopping = Some(Instant::now() + Duration::from_secs(2));
            },
        }
    }
}

async fn handshake(
    stream: &mut TcpStream,
    me: &str,
    incarnation: u64,
    limit: Duration,
    first: bool,
) -> Result<(String, u64), String> {
    let hello = Frame::Hello {
        version: PROTOCOL_VERSION,
        node: me.to_string(),
        incarnation,
    };
    if first {
        wire::write_frame(stream, &hello)
            .await
            .map_err(|e| e.to_string())?;
    }
    let frame = timeout(limit, wire::read_frame(stream))
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let (node, inc) = match frame {
        Some((
            Frame::Hello {
                version,
                node,
                incarnation,
            },
            _,
        )) => {
            if version != PROTOCOL_VERSION {
                return Err(format!(
                    "protocol version {version}, expected {PROTOCOL_VERSION}"
                ));
            }
            (node, incarnation)
        }
        Some(_) => return Err("expected a handshake".into()),
        None => return Err("connection closed during the handshake".into()),
    };
    if !first {
        wire::write_frame(stream, &hello)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok((node, inc))
}

async fn dial(p: &LinkParams) -> Result<(TcpStream, u64), String> {
    let mut stream = timeout(Duration::from_secs(2), TcpStream::connect(p.peer.addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (node, inc) = handshake(
        &mut stream,
        &p.me,
        p.incarnation,
        p.shared.limits.handshake_timeout,
        true,
    )
    .await?;
    if node != p.peer.name {
        Metrics::add(&p.shared.metrics.bad_frames, 1);
        return Err(format!(
            "expected node `{}` at {}, found `{node}`",
            p.peer.name, p.peer.addr
        ));
    }
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
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            Metrics::add(&shared.metrics.bad_frames, 1);
            tracing::warn!(%addr, "too many connections; refusing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (me, links, shared) = (me.clone(), links.clone(), shared.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match handshake(
                &mut stream,
                &me,
                incarnation,
                shared.limits.handshake_timeout,
                false,
            )
            .await
            {
                Ok((node, inc)) => match links.get(&node) {
                    Some(link) => {
                        let _ = link.send(LinkCmd::Inbound(stream, inc)).await;
                    }
                    None => {
                        Metrics::add(&shared.metrics.bad_frames, 1);
                        tracing::warn!(%addr, %node, "connection from a node that is not a member; closing");
                    }
                },
                Err(e) => {
                    Metrics::add(&shared.metrics.bad_frames, 1);
                    tracing::warn!(%addr, error = %e, "peer handshake failed; closing");
                }
            }
        });
    }
}
