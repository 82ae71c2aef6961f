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
            && (self.overflowed
                || (!self.batches.is_empty() && self.bytes + n > self.config.outbox_bytes))
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

    /// The acknowledgements queued and not written yet.
    pub fn pending_acks(&self) -> &[u64] {
        &self.acks
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;
    use crate::core::{Input, NodeCore};
    use crate::wire::WireValue;
    use calm_engine::{Program, Value};

    const R: u64 = 100;

    fn config() -> LinkConfig {
        LinkConfig {
            retransmit_after: R,
            ping_after: None,
            outbox_bytes: 1 << 20,
            max_acks: MAX_ACKS,
        }
    }

    fn fact(x: &str) -> Vec<WireFact> {
        vec![WireFact {
            relation: "msg".into(),
            tuple: vec![WireValue::Symbol("b".into()), WireValue::Symbol(x.into())],
        }]
    }

    /// Node `b`: a core that keeps every `msg` it got.
    fn receiver() -> NodeCore {
        let p = Program::compile(
            "p.dl",
            ".decl msg(n: symbol, x: symbol)\n.decl got(x: symbol)\n.persist got\n\
             got(x) :- msg(_, x).\n",
        )
        .unwrap();
        NodeCore::new(&p, "b", &["a".to_string()], Limits::default())
    }

    fn got(core: &NodeCore) -> Vec<Vec<Value>> {
        core.engine().relation("got").unwrap()
    }

    /// Everything `link` writes now, as frames.
    fn written(link: &mut LinkState, now: u64) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(t) = link.poll_transmit(now) {
            out.extend(wire::decode_frames(t.bytes()).unwrap());
        }
        out
    }

    /// `b` takes frames from `a` on its link: batches go through its core (one step each),
    /// whose acknowledgements go back into the link. Returns how many batches were ingested
    /// as duplicates.
    fn deliver(core: &mut NodeCore, link: &mut LinkState, now: u64, frames: Vec<Frame>) -> u64 {
        let mut dups = 0;
        for f in frames {
            if let Received::Batch { seq, facts } = link.on_frame(now, f).unwrap() {
                let out = core.step(vec![Input::Peer {
                    from: "a".into(),
                    seq,
                    facts,
                }]);
                dups += out.duplicates;
                for (_, seq) in out.acks {
                    assert!(link.ack(seq));
                }
            }
        }
        dups
    }

    /// `a` takes acknowledgements: returns the sequence numbers it removed.
    fn acks_to(link: &mut LinkState, now: u64, frames: Vec<Frame>) -> Vec<u64> {
        let mut removed = Vec::new();
        for f in frames {
            if let Received::Acked {
                seq, removed: true, ..
            } = link.on_frame(now, f).unwrap()
            {
                removed.push(seq);
            }
        }
        removed
    }

    fn seqs(frames: &[Frame]) -> Vec<u64> {
        frames
            .iter()
            .filter_map(|f| match f {
                Frame::Batch { seq, .. } => Some(*seq),
                _ => None,
            })
            .collect()
    }

    /// Two fresh links, each connected to a peer of incarnation 1.
    fn connected_pair() -> (LinkState, LinkState) {
        let (mut a, mut b) = (
            LinkState::new(config(), None),
            LinkState::new(config(), None),
        );
        a.on_connected(0, 1);
        b.on_connected(0, 1);
        (a, b)
    }

    #[test]
    fn an_ack_lost_after_the_peer_ingested_is_retransmitted_and_the_receiver_deduplicates() {
        let (mut a, mut b) = connected_pair();
        let mut core = receiver();
        a.push(1, &fact("x"), false).unwrap();
        let frames = written(&mut a, 0);
        assert_eq!(seqs(&frames), vec![1]);
        assert_eq!(deliver(&mut core, &mut b, 5, frames), 0);
        assert_eq!(got(&core).len(), 1);
        // b's acknowledgement is written and lost.
        assert!(matches!(written(&mut b, 6)[..], [Frame::Ack { seq: 1 }]));
        // Nothing is written again before the timeout, counted from when a wrote its queue.
        assert_eq!(a.poll_timeout(), Some(R));
        assert_eq!(a.handle_timeout(R - 1), 0);
        assert!(written(&mut a, R - 1).is_empty());
        assert_eq!(a.handle_timeout(R), 1);
        let again = a.poll_transmit(R).unwrap();
        assert!(matches!(
            again,
            Transmit::Batch {
                seq: 1,
                again: true,
                ..
            }
        ));
        let frames = wire::decode_frames(again.bytes()).unwrap();
        // b acknowledges the copy but does not ingest it again.
        assert_eq!(deliver(&mut core, &mut b, R + 5, frames), 1);
        assert_eq!(got(&core).len(), 1);
        let acks = written(&mut b, R + 6);
        assert_eq!(acks_to(&mut a, R + 10, acks), vec![1]);
        assert_eq!(a.unacked(), (0, 0));
        assert_eq!(a.take_acked(), vec![1]);
        assert_eq!(a.poll_timeout(), None, "nothing left to wait for");
    }

    #[test]
    fn the_retransmission_deadline_follows_acknowledgements_and_waits_for_the_queue_to_be_written()
    {
        let mut a = LinkState::new(config(), None);
        assert_eq!(a.poll_timeout(), None);
        a.push(1, &fact("x"), false).unwrap();
        a.push(2, &fact("y"), false).unwrap();
        // Not connected: nothing to write, no deadline.
        assert!(a.poll_transmit(0).is_none());
        assert_eq!(a.handle_timeout(1000), 0);
        a.on_connected(10, 1);
        // Not everything written yet: no deadline.
        assert!(matches!(
            a.poll_transmit(10),
            Some(Transmit::Batch {
                seq: 1,
                again: false,
                ..
            })
        ));
        assert_eq!(a.poll_timeout(), None);
        assert!(matches!(
            a.poll_transmit(10),
            Some(Transmit::Batch { seq: 2, .. })
        ));
        assert_eq!(a.poll_timeout(), Some(10 + R));
        // An acknowledgement is progress: the deadline moves.
        assert_eq!(a.on_ack(50, 1), (true, false));
        assert_eq!(a.poll_timeout(), Some(50 + R));
        assert_eq!(a.handle_timeout(10 + R), 0);
        assert_eq!(a.handle_timeout(50 + R), 1);
        assert!(matches!(
            a.poll_transmit(50 + R),
            Some(Transmit::Batch {
                seq: 2,
                again: true,
                ..
            })
        ));
        assert_eq!(a.poll_timeout(), Some(50 + 2 * R));
        // A reconnection writes everything again from the first.
        a.push(3, &fact("z"), false).unwrap();
        assert!(matches!(
            a.poll_transmit(200),
            Some(Transmit::Batch {
                seq: 3,
                again: false,
                ..
            })
        ));
        a.on_disconnected();
        assert_eq!(a.poll_timeout(), None);
        assert_eq!(a.on_connected(300, 1), None, "the same incarnation");
        assert_eq!(seqs(&written(&mut a, 300)), vec![2, 3]);
    }

    #[test]
    fn reordered_and_duplicated_frames_are_ingested_and_removed_once() {
        let (mut a, mut b) = connected_pair();
        let mut core = receiver();
        for (seq, x) in [(1, "x"), (2, "y"), (3, "z")] {
            a.push(seq, &fact(x), false).unwrap();
        }
        let frames = written(&mut a, 0);
        let f = |k: usize| frames[k].clone();
        // 3 overtakes the others and arrives twice.
        let dups = deliver(&mut core, &mut b, 1, vec![f(2), f(0), f(2), f(1)]);
        assert_eq!(dups, 1);
        assert_eq!(got(&core).len(), 3);
        let acks = written(&mut b, 2);
        assert_eq!(acks.len(), 4, "a copy is acknowledged too");
        // Written as b ingested: 3, 1, 3 (the copy), 2. They arrive reversed, and 3 once more.
        let mut acks: Vec<Frame> = acks.into_iter().rev().collect();
        acks.push(Frame::Ack { seq: 3 });
        assert_eq!(acks_to(&mut a, 3, acks), vec![2, 3, 1]);
        assert_eq!(a.take_acked(), vec![2, 3, 1]);
        assert_eq!(a.unacked(), (0, 0));
    }

    #[test]
    fn an_incarnation_change_is_announced_and_drops_the_old_incarnations_acknowledgements() {
        let mut b = LinkState::new(config(), None);
        let first = b.on_connected(0, 5);
        assert_eq!(
            first,
            Some(PeerIncarnation {
                incarnation: 5,
                restarted: false
            })
        );
        b.ack(1);
        b.on_disconnected();
        // The same incarnation again (a restart from the store, or a new connection): nothing
        // to announce, and the acknowledgement is still owed.
        assert_eq!(b.on_connected(10, 5), None);
        assert!(matches!(written(&mut b, 10)[..], [Frame::Ack { seq: 1 }]));
        b.ack(2);
        b.on_disconnected();
        let again = b.on_connected(20, 6);
        assert_eq!(
            again,
            Some(PeerIncarnation {
                incarnation: 6,
                restarted: true
            })
        );
        assert!(
            written(&mut b, 20).is_empty(),
            "ack #2 was for incarnation 5"
        );
        assert_eq!(b.peer_incarnation(), Some(6));
        // What a store recorded counts as known.
        let mut c = LinkState::new(config(), Some(6));
        assert_eq!(c.on_connected(0, 6), None);
    }

    /// a sends batch 1 to b, b ingests it, and a restarts before b's acknowledgement is
    /// written: from its store (same incarnation, the batch still owed) or without its state
    /// (a new incarnation that numbers its batches from 1 again).
    #[test]
    fn a_restart_between_send_and_ack() {
        // From the store: the batch goes out again, b ingests it once, and the acknowledgement
        // b kept across the reconnection removes it.
        let (mut a, mut b) = connected_pair();
        let mut core = receiver();
        a.push(1, &fact("x"), false).unwrap();
        let frames = written(&mut a, 0);
        deliver(&mut core, &mut b, 1, frames);
        b.on_disconnected();
        let mut a = LinkState::new(config(), Some(1));
        a.push(1, &fact("x"), false).unwrap();
        assert_eq!(a.on_connected(50, 1), None);
        assert_eq!(b.on_connected(50, 1), None);
        let frames = written(&mut a, 50);
        assert_eq!(deliver(&mut core, &mut b, 51, frames), 1);
        let acks = written(&mut b, 52);
        assert_eq!(acks.len(), 2, "the old acknowledgement and the new one");
        assert_eq!(acks_to(&mut a, 53, acks), vec![1]);
        assert_eq!(got(&core).len(), 1);

        // Without its state: b announces the restart before the new incarnation's batch 1, which
        // is new, and does not write the old incarnation's acknowledgement of #1 to it (which
        // would remove the new #1 unread).
        let (mut a, mut b) = connected_pair();
        let mut core = receiver();
        a.push(1, &fact("x"), false).unwrap();
        let frames = written(&mut a, 0);
        deliver(&mut core, &mut b, 1, frames);
        b.on_disconnected();
        let mut a = LinkState::new(config(), None);
        a.push(1, &fact("y"), false).unwrap();
        let seen = b.on_connected(50, 2).expect("a new incarnation");
        assert!(seen.restarted);
        assert!(a.on_connected(50, 1).is_some());
        assert!(written(&mut b, 50).is_empty());
        let frames = written(&mut a, 50);
        core.step(vec![Input::PeerRestarted("a".into())]);
        assert_eq!(deliver(&mut core, &mut b, 51, frames), 0);
        assert_eq!(
            got(&core).len(),
            2,
            "y of the new incarnation's #1 is ingested"
        );
        let acks = written(&mut b, 52);
        assert_eq!(acks_to(&mut a, 53, acks), vec![1]);
    }

    #[test]
    fn keep_alives_follow_the_last_write_and_handshake_frames_are_refused() {
        let mut a = LinkState::new(
            LinkConfig {
                ping_after: Some(30),
                ..config()
            },
            None,
        );
        a.on_connected(0, 1);
        assert_eq!(a.poll_timeout(), Some(30));
        assert!(a.poll_transmit(29).is_none());
        assert!(matches!(a.poll_transmit(30), Some(Transmit::Ping { .. })));
        assert_eq!(a.poll_timeout(), Some(60));
        a.ack(4);
        assert!(matches!(a.poll_transmit(45), Some(Transmit::Acks { .. })));
        assert_eq!(a.poll_timeout(), Some(75));
        assert!(a.on_frame(80, Frame::Auth { proof: vec![] }).is_err());
        assert_eq!(a.on_frame(81, Frame::Ping).unwrap(), Received::Ping);
        assert_eq!(a.last_frame(), Some(81));
    }
}
