//! The per-peer outbox between the tick loop and a link: the tick loop appends batches and
//! acknowledgements without ever waiting, the link drains them at the pace of its socket. Neither
//! holds the lock across an `.await` or a write; a lock is held for a map operation only.
//!
//! The outbox is bounded in bytes ([`crate::Limits::peer_outbox_bytes`]): when a new batch would
//! take a peer's backlog (batches queued and not acknowledged) over the budget, the batch is not
//! queued (with a data directory it is in the store all the same), the peer is marked, and no
//! new batch is queued for it until the backlog is acknowledged to the last batch. Then the tick
//! loop sends it, as new batches, everything ever sent to it (`Stepper::resend_history`), which
//! covers every batch that was not queued. Nothing is dropped silently: the batches not queued
//! are counted (`calm_outbox_overflows_total`) and the peer's status says `overflowed`.

use crate::metrics::Metrics;
use crate::node::PeerStatus;
use crate::wire::{self, Frame, WireFact};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Acknowledgements waiting to be written, at most; more are not queued (the peer sends those
/// batches again, which are acknowledged again).
const MAX_ACKS: usize = 1 << 16;

/// A write pending for longer than this makes the link count as not connected.
pub(crate) const STALL_AFTER: Duration = Duration::from_secs(1);

/// What the link writes next.
pub(crate) enum Next {
    /// Acknowledgements, as one buffer of frames.
    Acks(Vec<u8>),
    /// A batch: its sequence number and its frame.
    Batch(u64, Arc<Vec<u8>>),
}

#[derive(Default)]
struct Inner {
    /// Unacknowledged batches, as frames ready to write.
    batches: BTreeMap<u64, Arc<Vec<u8>>>,
    /// Their bytes.
    bytes: usize,
    /// Acknowledgements of the peer's batches, to write.
    acks: Vec<u64>,
    /// Over budget: batches not queued since; the history is sent again once the backlog is
    /// acknowledged.
    overflowed: bool,
    /// The batches not queued.
    dropped: Vec<u64>,
    /// The link is up (handshake done, connection open).
    connected: bool,
    /// The link has been up at least once since the node started.
    ever_connected: bool,
    /// Since when the current write waits.
    writing_since: Option<Instant>,
    /// When the last frame arrived from the peer.
    last_frame: Option<Instant>,
    /// When the peer last acknowledged a batch.
    last_ack: Option<Instant>,
}

/// One peer's outbox and link state, shared by the tick loop, the link and status readers.
pub(crate) struct LinkState {
    name: String,
    addr: String,
    budget: usize,
    inner: Mutex<Inner>,
    /// Wakes the link: something to write.
    pub wake: Notify,
    /// Facts sent to the peer over the node's life, and the bytes their record takes (set by
    /// the tick loop, for the status).
    history: (AtomicU64, AtomicU64),
}

impl LinkState {
    pub fn new(name: &str, addr: String, budget: usize) -> LinkState {
        LinkState {
            name: name.to_string(),
            addr,
            budget,
            inner: Mutex::new(Inner::default()),
            wake: Notify::new(),
            history: (AtomicU64::new(0), AtomicU64::new(0)),
        }
    }

    /// Records how many facts were sent to the peer over the node's life and the bytes that
    /// record takes (`NodeCore::history_size`), for the status.
    pub fn set_history(&self, facts: usize, bytes: usize) {
        self.history.0.store(facts as u64, Ordering::Relaxed);
        self.history.1.store(bytes as u64, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves consistent data (every change is one map
        // operation plus counters): go on with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a batch unless the peer's backlog is over its budget (see the module
    /// documentation); `force` queues it regardless. Never waits. Returns whether it was queued.
    pub fn push(&self, seq: u64, facts: &[WireFact], force: bool, metrics: &Metrics) -> bool {
        let frame = match wire::frame_bytes(&Frame::Batch {
            seq,
            facts: facts.to_vec(),
        }) {
            Ok(f) => f,
            Err(e) => {
                // Larger than a frame may be: the peer could never receive it.
                Metrics::add(&metrics.bad_frames, 1);
                tracing::error!(peer = %self.name, seq, error = %e, "a batch cannot be encoded; it is not sent");
                return false;
            }
        };
        let n = frame.len();
        {
            let mut g = self.lock();
            if !force && (g.overflowed || (!g.batches.is_empty() && g.bytes + n > self.budget)) {
                if !g.overflowed {
                    tracing::warn!(peer = %self.name, bytes = g.bytes, budget = self.budget, "the peer's backlog is over its budget: no new batch is queued for it until it caught up; then it is sent its history again");
                }
                g.overflowed = true;
                g.dropped.push(seq);
                Metrics::add(&metrics.outbox_overflows, 1);
                return false;
            }
            if g.batches.insert(seq, Arc::new(frame)).is_none() {
                g.bytes += n;
                Metrics::add(&metrics.unacked, 1);
            }
        }
        self.wake.notify_one();
        true
    }

    /// Queues an acknowledgement of the peer's batch `seq`. Never waits.
    pub fn ack(&self, seq: u64) {
        {
            let mut g = self.lock();
            if g.acks.len() >= MAX_ACKS {
                return;
            }
            g.acks.push(seq);
        }
        self.wake.notify_one();
    }

    /// The batches not queued, if the peer's backlog went over its budget and is now all
    /// acknowledged: the caller sends the peer its history again. Clears the mark.
    pub fn take_resync(&self) -> Option<Vec<u64>> {
        let mut g = self.lock();
        if g.overflowed && g.batches.is_empty() {
            g.overflowed = false;
            return Some(std::mem::take(&mut g.dropped));
        }
        None
    }

    /// The next thing to write: acknowledgements first, then the first batch after `cursor`.
    pub fn next(&self, cursor: u64) -> Option<Next> {
        let mut g = self.lock();
        if !g.acks.is_empty() {
            let acks = std::mem::take(&mut g.acks);
            drop(g);
            let mut out = Vec::with_capacity(acks.len() * 8);
            for seq in acks {
                if let Ok(b) = wire::frame_bytes(&Frame::Ack { seq }) {
                    out.extend(b);
                }
            }
            return Some(Next::Acks(out));
        }
        g.batches
            .range(cursor.saturating_add(1)..)
            .next()
            .map(|(s, f)| Next::Batch(*s, f.clone()))
    }

    /// The peer acknowledged `seq`; returns whether it was queued, and whether a resync is now
    /// due (the tick loop must be woken).
    pub fn acked(&self, seq: u64, metrics: &Metrics) -> (bool, bool) {
        let mut g = self.lock();
        g.last_ack = Some(Instant::now());
        let Some(f) = g.batches.remove(&seq) else {
            return (false, false);
        };
        g.bytes -= f.len();
        metrics.unacked.fetch_sub(1, Ordering::Relaxed);
        (true, g.overflowed && g.batches.is_empty())
    }

    /// Batches queued and not acknowledged, and the highest sequence number among them.
    pub fn unacked(&self) -> (usize, u64) {
        let g = self.lock();
        (
            g.batches.len(),
            g.batches.keys().next_back().copied().unwrap_or(0),
        )
    }

    /// When the peer last acknowledged a batch.
    pub fn last_ack(&self) -> Option<Instant> {
        self.lock().last_ack
    }

    pub fn set_connected(&self, connected: bool) {
        let mut g = self.lock();
        g.connected = connected;
        g.ever_connected |= connected;
        if !connected {
            g.writing_since = None;
        }
    }

    /// Whether the link has been up at least once since the node started.
    pub fn ever_connected(&self) -> bool {
        self.lock().ever_connected
    }

    pub fn set_writing(&self, since: Option<Instant>) {
        self.lock().writing_since = since;
    }

    pub fn frame_received(&self) {
        self.lock().last_frame = Some(Instant::now());
    }

    /// The link's state as `status` reports it.
    pub fn status(&self) -> PeerStatus {
        let g = self.lock();
        let now = Instant::now();
        let ms = |t: Instant| now.saturating_duration_since(t).as_millis() as u64;
        let stalled = g
            .writing_since
            .is_some_and(|t| now.saturating_duration_since(t) >= STALL_AFTER);
        PeerStatus {
            name: self.name.clone(),
            addr: self.addr.clone(),
            connected: g.connected && !stalled,
            unacked: g.batches.len(),
            outbox_bytes: g.bytes as u64,
            last_frame_ago_ms: g.last_frame.map(ms),
            write_pending_ms: g.writing_since.map(ms),
            overflowed: g.overflowed,
            history_facts: self.history.0.load(Ordering::Relaxed),
            history_bytes: self.history.1.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::WireValue;

    fn facts(n: usize) -> Vec<WireFact> {
        vec![WireFact {
            relation: "r".into(),
            tuple: vec![WireValue::Symbol("x".repeat(n))],
        }]
    }

    #[test]
    fn over_budget_batches_are_not_queued_and_a_resync_follows_the_last_ack() {
        let m = Metrics::default();
        let s = LinkState::new("b", "addr".into(), 1000);
        // The first batch is queued even over the budget: the outbox was empty.
        assert!(s.push(1, &facts(2000), false, &m));
        assert!(!s.push(2, &facts(10), false, &m));
        // Once over, nothing new is queued, however small.
        assert!(!s.push(3, &facts(1), false, &m));
        assert!(s.status().overflowed);
        assert_eq!(s.take_resync(), None, "batch 1 is not acknowledged yet");
        assert!(matches!(s.next(0), Some(Next::Batch(1, _))));
        assert!(s.next(1).is_none());
        assert_eq!(s.acked(1, &m), (true, true));
        assert_eq!(s.take_resync(), Some(vec![2, 3]));
        assert_eq!(s.take_resync(), None);
        // The history goes out regardless of the budget.
        assert!(s.push(4, &facts(5000), true, &m));
        assert!(s.push(5, &facts(5000), true, &m));
        assert_eq!(s.status().unacked, 2);
        assert_eq!(m.unacked.load(Ordering::Relaxed), 2);
        assert_eq!(m.outbox_overflows.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn acknowledgements_go_first_and_are_bounded() {
        let m = Metrics::default();
        let s = LinkState::new("b", "addr".into(), 1 << 20);
        s.push(1, &facts(1), false, &m);
        s.ack(7);
        s.ack(8);
        match s.next(0) {
            Some(Next::Acks(b)) => {
                let one = wire::frame_bytes(&Frame::Ack { seq: 7 }).unwrap().len();
                assert_eq!(b.len(), 2 * one);
            }
            _ => panic!("acknowledgements first"),
        }
        assert!(matches!(s.next(0), Some(Next::Batch(1, _))));
        for i in 0..(MAX_ACKS as u64 + 10) {
            s.ack(i);
        }
        assert_eq!(s.lock().acks.len(), MAX_ACKS);
    }
}
