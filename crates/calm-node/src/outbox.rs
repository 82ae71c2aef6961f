//! The per-peer outbox between the tick loop and a link: the peer's [`LinkState`] (the link
//! protocol, without I/O) behind a mutex, shared by the tick loop (which queues batches and
//! acknowledgements without ever waiting), the link's tasks (which write what it says at the pace
//! of the socket and feed it the frames they read) and status readers. Nobody holds the lock
//! across an `.await` or a write: a lock is held for one call of the state machine. The clock is
//! read here, and passed to the state machine as milliseconds since the outbox was made.
//!
//! The outbox is bounded in bytes ([`crate::Limits::peer_outbox_bytes`], see
//! [`LinkState::push`]): when a new batch would take a peer's backlog (batches queued and not
//! acknowledged) over the budget, the batch is not queued (with a data directory it is in the
//! store all the same), the peer is marked, and no new batch is queued for it until the backlog
//! is acknowledged to the last batch. Then the tick loop sends it, as new batches, everything
//! ever sent to it (`Stepper::resend_history`), which covers every batch that was not queued.
//! Nothing is dropped silently: the batches not queued are counted
//! (`calm_outbox_overflows_total`) and the peer's status says `overflowed`.

use crate::link_state::{LinkConfig, LinkState, PeerIncarnation, Pushed, Received, Transmit};
use crate::metrics::Metrics;
use crate::node::PeerStatus;
use crate::wire::{Frame, WireError, WireFact};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A write pending for longer than this makes the link count as not connected.
pub(crate) const STALL_AFTER: Duration = Duration::from_secs(1);

struct Inner {
    link: LinkState,
    /// Since when the current write waits.
    writing_since: Option<Instant>,
}

/// One peer's outbox and link state, shared by the tick loop, the link and status readers.
pub(crate) struct Outbox {
    name: String,
    addr: String,
    /// The budget of queued bytes (for the log).
    budget: usize,
    /// Time zero of the state machine.
    epoch: Instant,
    inner: Mutex<Inner>,
    /// Wakes the link: something to write.
    pub wake: Notify,
    /// Facts sent to the peer over the node's life, and the bytes their record takes (set by
    /// the tick loop, for the status).
    history: (AtomicU64, AtomicU64),
}

impl Outbox {
    pub fn new(name: &str, addr: String, config: LinkConfig) -> Outbox {
        Outbox {
            name: name.to_string(),
            addr,
            budget: config.outbox_bytes,
            epoch: Instant::now(),
            inner: Mutex::new(Inner {
                link: LinkState::new(config, None),
                writing_since: None,
            }),
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
        // A panic while holding this lock leaves consistent data (every change is one call of
        // the state machine): go on with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Milliseconds since the outbox was made: the state machine's time.
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The instant `ms` milliseconds of the state machine's time stand for.
    fn instant(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    /// Sets the peer's incarnation as the store recorded it.
    pub fn set_peer_incarnation(&self, incarnation: Option<u64>) {
        self.lock().link.set_peer_incarnation(incarnation);
    }

    /// Queues a batch unless the peer's backlog is over its budget (see the module
    /// documentation); `force` queues it regardless. Never waits. Returns whether it was queued.
    pub fn push(&self, seq: u64, facts: &[WireFact], force: bool, metrics: &Metrics) -> bool {
        let pushed = {
            let mut g = self.lock();
            let before = g.link.unacked();
            let r = g.link.push(seq, facts, force);
            if matches!(r, Ok(Pushed::Queued)) && g.link.unacked().0 > before.0 {
                Metrics::add(&metrics.unacked, 1);
            }
            (r, before.1)
        };
        match pushed {
            (Ok(Pushed::Queued), _) => {
                self.wake.notify_one();
                true
            }
            (Ok(Pushed::Held { first }), bytes) => {
                if first {
                    tracing::warn!(peer = %self.name, bytes, budget = self.budget, "the peer's backlog is over its budget: no new batch is queued for it until it caught up; then it is sent its history again");
                }
                Metrics::add(&metrics.outbox_overflows, 1);
                false
            }
            (Err(e), _) => {
                // Larger than a frame may be: the peer could never receive it.
                Metrics::add(&metrics.bad_frames, 1);
                tracing::error!(peer = %self.name, seq, error = %e, "a batch cannot be encoded; it is not sent");
                false
            }
        }
    }

    /// Queues an acknowledgement of the peer's batch `seq`. Never waits.
    pub fn ack(&self, seq: u64) {
        if self.lock().link.ack(seq) {
            self.wake.notify_one();
        }
    }

    /// See [`LinkState::take_resync`].
    pub fn take_resync(&self) -> Option<Vec<u64>> {
        self.lock().link.take_resync()
    }

    /// See [`LinkState::take_acked`].
    pub fn take_acked(&self) -> Vec<u64> {
        self.lock().link.take_acked()
    }

    /// The next frames to write, if any (see [`LinkState::poll_transmit`]).
    pub fn poll_transmit(&self) -> Option<Transmit> {
        let now = self.now();
        self.lock().link.poll_transmit(now)
    }

    /// When the link must call [`Outbox::handle_timeout`] next, if it must.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let at = self.lock().link.poll_timeout()?;
        Some(self.instant(at))
    }

    /// Lets the state machine see the time; returns how many batches go out again.
    pub fn handle_timeout(&self) -> usize {
        let now = self.now();
        self.lock().link.handle_timeout(now)
    }

    /// A frame from the peer (see [`LinkState::on_frame`]).
    pub fn on_frame(&self, frame: Frame, metrics: &Metrics) -> Result<Received, WireError> {
        let now = self.now();
        let r = self.lock().link.on_frame(now, frame)?;
        if let Received::Acked { removed: true, .. } = r {
            metrics.unacked.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(r)
    }

    /// A connection came up (see [`LinkState::on_connected`]).
    pub fn on_connected(&self, incarnation: u64) -> Option<PeerIncarnation> {
        let now = self.now();
        let mut g = self.lock();
        g.writing_since = None;
        g.link.on_connected(now, incarnation)
    }

    /// The connection went down.
    pub fn on_disconnected(&self) {
        let mut g = self.lock();
        g.link.on_disconnected();
        g.writing_since = None;
    }

    /// Batches queued and not acknowledged.
    pub fn unacked(&self) -> usize {
        self.lock().link.unacked().0
    }

    /// Whether the link has been up at least once since the node started.
    pub fn ever_connected(&self) -> bool {
        self.lock().link.ever_connected()
    }

    pub fn set_writing(&self, since: Option<Instant>) {
        self.lock().writing_since = since;
    }

    /// The link's state as `status` reports it.
    pub fn status(&self) -> PeerStatus {
        let now = Instant::now();
        let g = self.lock();
        let ms = |t: Instant| now.saturating_duration_since(t).as_millis() as u64;
        let stalled = g
            .writing_since
            .is_some_and(|t| now.saturating_duration_since(t) >= STALL_AFTER);
        let (unacked, bytes) = g.link.unacked();
        PeerStatus {
            name: self.name.clone(),
            addr: self.addr.clone(),
            connected: g.link.connected() && !stalled,
            unacked,
            outbox_bytes: bytes as u64,
            last_frame_ago_ms: g.link.last_frame().map(|t| ms(self.instant(t))),
            write_pending_ms: g.writing_since.map(ms),
            overflowed: g.link.overflowed(),
            history_facts: self.history.0.load(Ordering::Relaxed),
            history_bytes: self.history.1.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link_state::MAX_ACKS;
    use crate::wire::{self, WireValue};

    fn facts(n: usize) -> Vec<WireFact> {
        vec![WireFact {
            relation: "r".into(),
            tuple: vec![WireValue::Symbol("x".repeat(n))],
        }]
    }

    fn outbox(budget: usize) -> Outbox {
        let config = LinkConfig {
            retransmit_after: 2000,
            ping_after: None,
            outbox_bytes: budget,
            max_acks: MAX_ACKS,
        };
        let o = Outbox::new("b", "addr".into(), config);
        o.on_connected(1);
        o
    }

    #[test]
    fn over_budget_batches_are_not_queued_and_a_resync_follows_the_last_ack() {
        let m = Metrics::default();
        let s = outbox(1000);
        // The first batch is queued even over the budget: the outbox was empty.
        assert!(s.push(1, &facts(2000), false, &m));
        assert!(!s.push(2, &facts(10), false, &m));
        // Once over, nothing new is queued, however small.
        assert!(!s.push(3, &facts(1), false, &m));
        assert!(s.status().overflowed);
        assert_eq!(s.take_resync(), None, "batch 1 is not acknowledged yet");
        assert!(matches!(
            s.poll_transmit(),
            Some(Transmit::Batch { seq: 1, .. })
        ));
        assert!(s.poll_transmit().is_none());
        let acked = s.on_frame(Frame::Ack { seq: 1 }, &m).unwrap();
        assert_eq!(
            acked,
            Received::Acked {
                seq: 1,
                removed: true,
                resync: true
            }
        );
        assert_eq!(s.take_acked(), vec![1]);
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
        let s = outbox(1 << 20);
        s.push(1, &facts(1), false, &m);
        s.ack(7);
        s.ack(8);
        match s.poll_transmit() {
            Some(Transmit::Acks { seqs, bytes }) => {
                assert_eq!(seqs, vec![7, 8]);
                let one = wire::frame_bytes(&Frame::Ack { seq: 7 }).unwrap().len();
                assert_eq!(bytes.len(), 2 * one);
            }
            _ => panic!("acknowledgements first"),
        }
        assert!(matches!(
            s.poll_transmit(),
            Some(Transmit::Batch { seq: 1, .. })
        ));
        for i in 0..(MAX_ACKS as u64 + 10) {
            s.ack(i);
        }
        match s.poll_transmit() {
            Some(Transmit::Acks { seqs, .. }) => assert_eq!(seqs.len(), MAX_ACKS),
            _ => panic!("acknowledgements"),
        }
    }
}
