//! The link protocol to one peer as a state machine without I/O (the shape of quinn-proto's
//! `Connection`): it reads no clock, owns no socket and starts no task. Its driver feeds it what
//! happened (a connection came up or went down, a frame arrived, the node produced a batch or
//! ingested one, time passed: [`LinkState::on_connected`], [`LinkState::on_frame`],
//! [`LinkState::push`], [`LinkState::ack`], [`LinkState::handle_timeout`]) and asks it what to do
//! (the next frames to write: [`LinkState::poll_transmit`]; when to wake it up:
//! [`LinkState::poll_timeout`]). Time is a number of milliseconds since an origin the driver
//! chooses, passed in as a value.
//!
//! Two drivers run it: the tokio link of `calm node` (`link.rs`, which moves its frames over
//! TCP) and the simulator (`calm-sim`, which moves them through its faulty network in simulated
//! time). So the code that decides whether a fact is delivered is the code the simulator tests.
//!
//! The protocol (at-least-once delivery of numbered batches):
//!
//! - **Sending.** The node numbers its batches per peer ([`crate::Stepper`]); each one stays
//!   queued here until the peer acknowledges it. On a connection, queued batches are written in
//!   order, each once; when a connection comes up every queued batch is written again from the
//!   first, and when everything was written and no acknowledgement came for
//!   [`LinkConfig::retransmit_after`] (counted from the last acknowledgement or the last time
//!   it started over, whichever is later), again from the first.
//! - **Receiving.** A batch is handed to the node, which acknowledges it ([`LinkState::ack`])
//!   after the tick that ingested it is stored, and which ingests a batch delivered again only
//!   once (`NodeCore` remembers the sequence numbers it processed per peer incarnation). An
//!   acknowledgement removes its batch; the batches removed are listed for the node's store
//!   ([`LinkState::take_acked`]).
//! - **Incarnations.** Each connection carries the peer's incarnation (from the handshake), which
//!   changes when the peer lost its state. A peer seen with another incarnation than the last one
//!   known restarted: the node must send it everything again and forget the sequence numbers of
//!   its old incarnation ([`PeerIncarnation::restarted`]), before any batch of the new
//!   connection. Acknowledgements queued for the old incarnation are dropped: they name the old
//!   incarnation's batches, and the new one numbers its batches afresh, so written to it they
//!   would remove batches it never delivered.
//! - **Budget.** The queued batches are bounded in bytes ([`LinkConfig::outbox_bytes`]): over it,
//!   new batches are held back (not queued) and, once the peer acknowledged everything queued,
//!   the node sends it its whole history again ([`LinkState::take_resync`]), which covers them.
//! - **Keep-alive.** With [`LinkConfig::ping_after`], a connection without a write for that long
//!   gets a [`Frame::Ping`].

use crate::wire::{self, Frame, WireError, WireFact};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Acknowledgements waiting to be written, at most, by default; more are not queued (the peer
/// sends those batches again, which are acknowledged again).
pub const MAX_ACKS: usize = 1 << 16;

/// The numbers behind a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// Milliseconds without an acknowledgement, everything written, before the queued batches
    /// are written again on the same connection.
    pub retransmit_after: u64,
    /// Milliseconds without a write after which a [`Frame::Ping`] is written (`None`: never).
    pub ping_after: Option<u64>,
    /// Bytes of queued batch frames over which new batches are held back.
    pub outbox_bytes: usize,
    /// Acknowledgements waiting to be written, at most.
    pub max_acks: usize,
}

/// Frames to write, in order, on the current connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transmit {
    /// Acknowledgements of the peer's batches, one frame each.
    Acks {
        /// The batches acknowledged.
        seqs: Vec<u64>,
        /// Their frames, end to end.
        bytes: Vec<u8>,
    },
    /// A queued batch.
    Batch {
        /// Its sequence number.
        seq: u64,
        /// Whether it was written before (after a reconnection or a retransmission timeout).
        again: bool,
        /// Its frame.
        frame: Arc<Vec<u8>>,
    },
    /// A keep-alive.
    Ping {
        /// Its frame.
        bytes: Vec<u8>,
    },
}

impl Transmit {
    /// The bytes to write.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Transmit::Acks { bytes, .. } | Transmit::Ping { bytes } => bytes,
            Transmit::Batch { frame, .. } => frame,
        }
    }
}

/// What a frame from the peer means for the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A batch for the node to ingest (once) and then acknowledge.
    Batch {
        /// Its sequence number.
        seq: u64,
        /// The facts.
        facts: Vec<WireFact>,
    },
    /// An acknowledgement of one of this node's batches.
    Acked {
        /// The batch.
        seq: u64,
        /// It was queued (and is not any more): the store's outbox can forget it.
        removed: bool,
        /// A resync is now due ([`LinkState::take_resync`]).
        resync: bool,
    },
    /// A keep-alive.
    Ping,
    /// The peer's member list.
    Members(Vec<String>),
}

/// The peer's incarnation on a new connection differs from the last one known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerIncarnation {
    /// The new incarnation, for the node to store.
    pub incarnation: u64,
    /// Another one was known: the peer restarted and lost its state.
    pub restarted: bool,
}

/// What [`LinkState::push`] did with a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued, to be written.
    Queued,
    /// Held back: the queue is over its budget (`first`: it just went over).
    Held {
        /// This batch took the queue over its budget.
        first: bool,
    },
}

/// One link's state: see the module documentation.
#[derive(Clone, Debug)]
pub struct LinkState {
    config: LinkConfig,
    /// Unacknowledged batches, as frames ready to write.
    batches: BTreeMap<u64, Arc<Vec<u8>>>,
    /// Their bytes.
    bytes: usize,
    /// Acknowledgements of the peer's batches, to write.
    acks: Vec<u64>,
    /// Batches acknowledged since [`LinkState::take_acked`].
    acked: Vec<u64>,
    /// Over budget: batches held back since; a resync follows once the queue is acknowledged.
    overflowed: bool,
    /// The batches held back.
    held: Vec<u64>,
    connected: bool,
    ever_connected: bool,
    /// The peer's incarnation on the last connection (or as stored).
    peer_incarnation: Option<u64>,
    /// Batches up to this sequence number were written on this connection.
    cursor: u64,
    /// The highest sequence number ever written.
    written: u64,
    /// When the link last started writing the queue from the first batch.
    rewound: u64,
    last_write: u64,
    last_frame: Option<u64>,
    last_ack: Option<u64>,
}

impl LinkState {
    /// A link not connected yet, to a peer whose incarnation is `peer_incarnation` as far as
    /// this node knows (`None`: it never connected, or this node lost what it knew).
    pub fn new(config: LinkConfig, peer_incarnation: Option<u64>) -> LinkState {
        LinkState {
            config,
            batches: BTreeMap::new(),
            bytes: 0,
            acks: Vec::new(),
            acked: Vec::new(),
            overflowed: false,
            held: Vec::new(),
            connected: false,
            ever_connected: false,
            peer_incarnation,
            cursor: 0,
            written: 0,
            rewound: 0,
            last_write: 0,
            last_frame: None,
            last_ack: None,
        }
    }

    /// Sets the peer's last known incarnation (as the node's store recorded it).
    pub fn set_peer_incarnation(&mut self, incarnation: Option<u64>) {
        self.peer_incarnation = incarnation;
    }

    /// The peer's last known incarnation.
    pub fn peer_incarnation(&self) -> Option<u64> {
        self.peer_incarnation
    }

    /// Queues the node's batch `seq` unless the queue is over its budget (see the module
    /// documentation); `force` queues it regardless. An error if the batch cannot be encoded
    /// (larger than a frame may be: the peer could never receive it); it is not queued.
    pub fn push(&mut self, seq: u64, facts: &[WireFact], force: bool) -> Result<Pushed, WireError> {
        let frame = wire::frame_bytes(&Frame::Batch {
            seq,
            facts: facts.to_vec(),
        })?;
        let n = frame.len();
        if !force
            && (self.overflowed || (!self.batches.is_empty() && self.bytes + n > self.config.outbox_bytes))
        {
            let first = !self.overflowed;
            self.overflowed = true;
            self.held.push(seq);
            return Ok(Pushed::Held { first });
        }
        if let Some(old) = self.batches.insert(seq, Arc::new(frame)) {
            self.bytes -= old.len();
        }
        self.bytes += n;
        Ok(Pushed::Queued)
    }

    /// Queues an acknowledgement of the peer's batch `seq`; `false` if too many wait already.
    pub fn ack(&mut self, seq: u64) -> bool {
        if self.acks.len() >= self.config.max_acks {
            return false;
        }
        self.acks.push(seq);
        true
    }

    /// A connection to the peer came up (handshake done), the peer being incarnation
    /// `incarnation`: everything queued is written again from the first batch. Returns the
    /// incarnation to store if it is not the one known; the node must take it (and, if the peer
    /// `restarted`, send it everything again) before any batch of this connection.
    pub fn on_connected(&mut self, now: u64, incarnation: u64) -> Option<PeerIncarnation> {
        self.connected = true;
        self.ever_connected = true;
        self.cursor = 0;
        self.rewound = now;
        self.last_write = now;
        if self.peer_incarnation == Some(incarnation) {
            return None;
        }
        let restarted = self.peer_incarnation.is_some();
        self.peer_incarnation = Some(incarnation);
        // Acknowledgements of the old incarnation's batches: the new one numbers afresh.
        self.acks.clear();
        Some(PeerIncarnation {
            incarnation,
            restarted,
        })
    }

    /// The connection went down (closed, failed, timed out): nothing is written until the next.
    pub fn on_disconnected(&mut self) {
        self.connected = false;
    }

    /// Whether a connection is up.
    pub fn connected(&self) -> bool {
        self.connected
    }

    /// Whether a connection was up at least once.
    pub fn ever_connected(&self) -> bool {
        self.ever_connected
    }

    /// A frame arrived on the current connection at `now`. Handshake frames are an error (the
    /// connection must be closed).
    pub fn on_frame(&mut self, now: u64, frame: Frame) -> Result<Received, WireError> {
        self.last_frame = Some(now);
        Ok(match frame {
            Frame::Batch { seq, facts } => Received::Batch { seq, facts },
            Frame::Ack { seq } => {
                let (removed, resync) = self.on_ack(now, seq);
                Received::Acked {
                    seq,
                    removed,
                    resync,
                }
            }
            Frame::Ping => Received::Ping,
            Frame::Members { names } => Received::Members(names),
            Frame::Hello { .. } | Frame::Auth { .. } => {
                return Err(WireError::Decode("unexpected handshake frame".into()));
            }
        })
    }

    /// The peer acknowledged batch `seq` at `now`: returns whether it was queued (it is not any
    /// more) and whether a resync is now due.
    pub fn on_ack(&mut self, now: u64, seq: u64) -> (bool, bool) {
        self.last_ack = Some(now);
        let Some(f) = self.batches.remove(&seq) else {
            return (false, false);
        };
        self.bytes -= f.len();
        self.acked.push(seq);
        (true, self.overflowed && self.batches.is_empty())
    }

    /// The next frames to write at `now`, if connected: acknowledgements first, then the next
    /// queued batch, then a keep-alive if one is due. The driver writes what this returns until
    /// it returns `None`, then waits until [`LinkState::poll_timeout`] (or for new input).
    pub fn poll_transmit(&mut self, now: u64) -> Option<Transmit> {
        if !self.connected {
            return None;
        }
        if !self.acks.is_empty() {
            let seqs = std::mem::take(&mut self.acks);
            let mut bytes = Vec::with_capacity(seqs.len() * 8);
            for &seq in &seqs {
                if let Ok(b) = wire::frame_bytes(&Frame::Ack { seq }) {
                    bytes.extend(b);
                }
            }
            self.last_write = now;
            return Some(Transmit::Acks { seqs, bytes });
        }
        if let Some((&seq, frame)) = self.batches.range(self.cursor.saturating_add(1)..).next() {
            self.cursor = seq;
            let again = seq <= self.written;
            self.written = self.written.max(seq);
            self.last_write = now;
            return Some(Transmit::Batch {
                seq,
                again,
                frame: frame.clone(),
            });
        }
        if let Some(p) = self.config.ping_after
            && now >= self.last_write.saturating_add(p)
        {
            self.last_write = now;
            let bytes = wire::frame_bytes(&Frame::Ping).unwrap_or_default();
            return Some(Transmit::Ping { bytes });
        }
        None
    }

    /// When the link needs [`LinkState::handle_timeout`] (or [`LinkState::poll_transmit`], for
    /// a keep-alive) next, if connected: the retransmission deadline once everything queued was
    /// written, and the next keep-alive.
    pub fn poll_timeout(&self) -> Option<u64> {
        if !self.connected {
            return None;
        }
        let ping = self
            .config
            .ping_after
            .map(|p| self.last_write.saturating_add(p));
        match (self.retransmit_at(), ping) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn retransmit_at(&self) -> Option<u64> {
        let (&last, _) = self.batches.last_key_value()?;
        if self.cursor < last {
            return None;
        }
        let progress = self.last_ack.map_or(self.rewound, |a| a.max(self.rewound));
        Some(progress.saturating_add(self.config.retransmit_after))
    }

    /// Time passed to `now`: if the retransmission deadline passed, the queue is written again
    /// from the first batch. Returns how many batches will be written again (0: nothing due).
    pub fn handle_timeout(&mut self, now: u64) -> usize {
        if !self.connected {
            return 0;
        }
        match self.retransmit_at() {
            Some(at) if now >= at => {
                self.cursor = 0;
                self.rewound = now;
                self.batches.len()
            }
            _ => 0,
        }
    }

    /// The batches acknowledged since the last call, for the node's store to forget.
    pub fn take_acked(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.acked)
    }

    /// The batches held back, if the queue went over its budget and is now all acknowledged:
    /// the node sends the peer its history again (with `force`). Clears the mark.
    pub fn take_resync(&mut self) -> Option<Vec<u64>> {
        if self.overflowed && self.batches.is_empty() {
            self.overflowed = false;
            return Some(std::mem::take(&mut self.held));
        }
        None
    }

    /// Batches queued and not acknowledged, and their bytes.
    pub fn unacked(&self) -> (usize, usize) {
        (self.batches.len(), self.bytes)
    }

    /// The sequence numbers of the batches queued and not acknowledged, in order.
    pub fn unacked_seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.batches.keys().copied()
    }

    /// Whether new batches are held back (over budget).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// When the last frame arrived from the peer.
    pub fn last_frame(&self) -> Option<u64> {
        self.last_frame
    }
}
