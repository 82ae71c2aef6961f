//! One step of a node, made durable: the part of the tick loop that does no I/O but storage.
//!
//! A [`Stepper`] owns a node's [`NodeCore`] and, with a data directory, its [`Storage`]. It is
//! the one implementation of what a node does between receiving events and making the step
//! visible, used by the tokio runtime (`node.rs`, the tick loop of `calm node`) and by the
//! simulator (`calm-sim`, whose nodes with a store run it on an in-memory redb file):
//!
//! - **Open** ([`Stepper::open`]): with a store, bring the core back to the state of the last
//!   commit (`crate::durable::recover`: snapshot, then the log replayed) and hand back what the
//!   links and timers need ([`Restored`]: the incarnation, the unacknowledged batches to send
//!   again, the peers' sequence numbers and incarnations, the timers' next rounds).
//! - **Step** ([`Stepper::step`]): prepare the log entry and, when the [`SnapshotPolicy`] says
//!   so, the snapshot of the state before the step; run [`NodeCore::step`]; number the batches
//!   to send, per peer; then commit atomically (one redb write transaction, durable when it
//!   returns): the log entry (if a tick ran or a peer restarted), the new batches into the
//!   outbox, the acknowledged ones out of it, the peers' records (next sequence number, incarnation), the snapshot
//!   (which deletes the log entries it covers), the next log key. Only after `step` returns
//!   may the caller acknowledge, send or answer anything of the step.
//!
//! The caller keeps everything else: events, links, clocks, metrics, logs. The stepper reads
//! no clock unless asked to time its steps ([`Stepper::set_timing`]), so a simulator that does
//! not ask stays deterministic.
//!
//! Storage errors are fail-stop: once a commit fails, every later step fails with the same
//! error, and nothing of the failed step may be made visible.

use crate::core::{Input, NodeCore, Output};
use crate::durable::{self, Restored, SnapshotPolicy};
use crate::store::{Commit, PeerRecord, Storage, StoreError};
use crate::wire::WireFact;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// What one step takes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// The inputs of the step, one unordered batch for [`NodeCore::step`].
    pub inputs: Vec<Input>,
    /// Peers seen with a new incarnation since the last step, to store (a peer that restarted
    /// without its state also needs an [`Input::PeerRestarted`] in `inputs`).
    pub incarnations: Vec<(String, u64)>,
    /// Batches the peers acknowledged since the last step, by peer and sequence number: they
    /// leave the outbox in this step's commit.
    pub acked: Vec<(String, u64)>,
}

/// What one step did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stepped {
    /// What [`NodeCore::step`] said; its `sends` are moved, numbered, to [`Stepped::sends`].
    pub output: Output,
    /// The batches to send: peer, sequence number (per peer, from 1, kept across restarts with
    /// a store), facts.
    pub sends: Vec<(String, u64, Vec<WireFact>)>,
    /// What was stored, if anything.
    pub committed: Option<Committed>,
    /// How long `NodeCore::step` took (with [`Stepper::set_timing`]).
    pub tick_time: Option<Duration>,
}

/// One commit of a step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Committed {
    /// Bytes of the log entry, if the step was logged (it ran a tick, or learned of a peer's
    /// restart).
    pub log_bytes: Option<u64>,
    /// Bytes of the snapshot taken before the step, if one was.
    pub snapshot_bytes: Option<u64>,
    /// How long the commit took, sync included (with [`Stepper::set_timing`]).
    pub time: Option<Duration>,
}

/// What a node with a store must write next, besides the core.
struct Durable {
    store: Box<dyn Storage>,
    policy: SnapshotPolicy,
    /// The key of the next log entry.
    log_next: u64,
    /// Per peer, its last incarnation.
    peer_incarnations: BTreeMap<String, u64>,
    /// Per timer relation, its next round.
    timers: BTreeMap<String, i64>,
    /// Log entries and their bytes since the last snapshot, and the snapshot's size.
    log_entries: u64,
    log_bytes: u64,
    snapshot_bytes: u64,
}

impl Durable {
    fn snapshot_due(&self) -> bool {
        self.log_entries >= self.policy.every_ticks.max(1)
            || self.log_bytes >= self.policy.log_bytes.max(self.snapshot_bytes)
    }
}

/// A node's core and store, stepped and committed together; see the module documentation.
pub struct Stepper {
    core: NodeCore,
    durable: Option<Durable>,
    /// Per peer, the sequence number of the next batch.
    next_seq: BTreeMap<String, u64>,
    timed: bool,
    /// The storage error that stopped the stepper.
    failed: Option<StoreError>,
}

impl Stepper {
    /// A stepper over `core` (new: of the node's program, name and members, with nothing but
    /// loaded input facts) and, if given, its store. A new store is initialised with
    /// `fresh_incarnation`; a store written before brings `core` to the state of its last
    /// commit, and the [`Restored`] says what else it held. Without a store the state lives in
    /// memory only, and the incarnation is `fresh_incarnation`.
    ///
    /// On error the store is dropped (closed) before this returns.
    pub fn open(
        mut core: NodeCore,
        storage: Option<Box<dyn Storage>>,
        policy: SnapshotPolicy,
        fresh_incarnation: u64,
    ) -> Result<(Stepper, Restored), StoreError> {
        let Some(mut store) = storage else {
            let stepper = Stepper {
                core,
                durable: None,
                next_seq: BTreeMap::new(),
                timed: false,
                failed: None,
            };
            let restored = Restored {
                incarnation: fresh_incarnation,
                ..Restored::default()
            };
            return Ok((stepper, restored));
        };
        let peers: Vec<String> = core.peers().map(str::to_string).collect();
        let fingerprint = durable::fingerprint(core.engine().program(), core.name(), &peers);
        let restored =
            durable::recover(store.as_mut(), &mut core, &fingerprint, fresh_incarnation)?;
        let durable = Durable {
            store,
            policy,
            log_next: restored.log_next,
            peer_incarnations: restored
                .peers
                .iter()
                .filter_map(|(p, r)| r.incarnation.map(|i| (p.clone(), i)))
                .collect(),
            timers: restored.timers.clone(),
            log_entries: restored.log_entries,
            log_bytes: restored.log_bytes,
            snapshot_bytes: restored.snapshot_bytes,
        };
        let stepper = Stepper {
            core,
            durable: Some(durable),
            next_seq: restored
                .peers
                .iter()
                .map(|(p, r)| (p.clone(), r.next_seq))
                .collect(),
            timed: false,
            failed: None,
        };
        Ok((stepper, restored))
    }

    /// Measure how long ticks and commits take (reads the clock; off by default).
    pub fn set_timing(&mut self, on: bool) {
        self.timed = on;
    }

    /// The node's core, for queries.
    pub fn core(&self) -> &NodeCore {
        &self.core
    }

    /// See [`NodeCore::index_on`].
    pub fn index_on(&mut self, relation: &str, cols: &[usize]) {
        self.core.index_on(relation, cols);
    }

    /// Whether the node ticks again even without input.
    pub fn busy(&self) -> bool {
        self.core.busy()
    }

    /// Whether the node has a store.
    pub fn durable(&self) -> bool {
        self.durable.is_some()
    }

    /// The sequence number the next batch to `peer` gets.
    pub fn next_seq(&self, peer: &str) -> u64 {
        self.next_seq.get(peer).copied().unwrap_or(1).max(1)
    }

    /// Runs one step: [`NodeCore::step`] on `step.inputs`, the batches numbered, and, with a
    /// store, everything of the step committed atomically and durably before this returns.
    /// An error is a storage failure: the node must stop without making anything of the step
    /// visible (every later step fails too).
    pub fn step(&mut self, step: Step) -> Result<Stepped, StoreError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let Step {
            inputs,
            incarnations,
            acked,
        } = step;
        // The log entry and (now and then) a snapshot of the state before this step, both
        // prepared before the step consumes the inputs.
        let mut log_entry = None;
        let mut snapshot = None;
        let mut timer_inputs = BTreeMap::new();
        // A step is logged if it runs a tick, or if it changes the core without one.
        let mut log_always = false;
        if let Some(d) = &self.durable {
            let will_tick =
                self.core.busy() || inputs.iter().any(|i| !matches!(i, Input::PeerRestarted(_)));
            log_always = durable::logged_without_tick(&inputs);
            if will_tick || log_always {
                log_entry = Some(durable::encode_inputs(&inputs));
            }
            if will_tick && d.snapshot_due() {
                snapshot = Some(durable::encode_snapshot(d.log_next, &self.core, &d.timers));
            }
            durable::note_timers(&inputs, &mut timer_inputs);
        }
        let started = self.timed.then(Instant::now);
        let mut output = self.core.step(inputs);
        let tick_time = started.map(|s| s.elapsed());
        // Number the batches to send.
        let mut sends = Vec::with_capacity(output.sends.len());
        for (dest, facts) in std::mem::take(&mut output.sends) {
            let next = self.next_seq.entry(dest.clone()).or_insert(1);
            let seq = (*next).max(1);
            *next = seq + 1;
            sends.push((dest, seq, facts));
        }
        let log_entry = log_entry.filter(|_| output.tick.is_some() || log_always);
        let committed = match self.commit(
            &output.tick,
            log_entry.as_deref(),
            snapshot.as_deref(),
            &sends,
            incarnations,
            acked,
            timer_inputs,
        ) {
            Ok(c) => c,
            Err(e) => {
                self.failed = Some(e.clone());
                return Err(e);
            }
        };
        Ok(Stepped {
            output,
            sends,
            committed,
            tick_time,
        })
    }

    /// Numbers everything ever sent to `peer` ([`NodeCore::history_batches`]) as new batches
    /// and returns them to send, for a peer whose backlog went over its budget: the runtime
    /// stopped queueing batches for it (`superseded`, which the history covers) and sends it the
    /// history instead once it caught up. With a store, the new batches go into the outbox and
    /// the superseded ones leave it, atomically and durably, before this returns. The core is
    /// not changed and nothing is logged (a replay drops sends: the outbox has what is owed).
    pub fn resend_history(
        &mut self,
        peer: &str,
        superseded: Vec<u64>,
    ) -> Result<Vec<(String, u64, Vec<WireFact>)>, StoreError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut sends = Vec::new();
        for facts in self.core.history_batches(peer) {
            let next = self.next_seq.entry(peer.to_string()).or_insert(1);
            let seq = (*next).max(1);
            *next = seq + 1;
            sends.push((peer.to_string(), seq, facts));
        }
        let Some(d) = self.durable.as_mut() else {
            return Ok(sends);
        };
        let commit = Commit {
            outbox_add: sends
                .iter()
                .map(|(p, s, f)| (p.as_str(), *s, f.as_slice()))
                .collect(),
            outbox_remove: superseded
                .into_iter()
                .map(|s| (peer.to_string(), s))
                .collect(),
            peers: vec![(
                peer.to_string(),
                PeerRecord {
                    next_seq: self.next_seq.get(peer).copied().unwrap_or(1),
                    incarnation: d.peer_incarnations.get(peer).copied(),
                },
            )],
            ..Commit::default()
        };
        if let Err(e) = d.store.commit(&commit) {
            self.failed = Some(e.clone());
            return Err(e);
        }
        Ok(sends)
    }

    /// With a store, stores one step atomically and durably: its log entry (if it is logged),
    /// the batches it sends, the batches acknowledged, the peers' new sequence numbers and
    /// incarnations, and a snapshot if one was taken. `None` if there was nothing to store.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        tick: &Option<Result<u64, String>>,
        log_entry: Option<&[u8]>,
        snapshot: Option<&[u8]>,
        sends: &[(String, u64, Vec<WireFact>)],
        incarnations: Vec<(String, u64)>,
        acked: Vec<(String, u64)>,
        timer_inputs: BTreeMap<String, i64>,
    ) -> Result<Option<Committed>, StoreError> {
        let Some(d) = self.durable.as_mut() else {
            // Without a store, acknowledgements need no bookkeeping.
            return Ok(None);
        };
        let mut changed: BTreeSet<String> = sends.iter().map(|(p, _, _)| p.clone()).collect();
        for (peer, inc) in incarnations {
            d.peer_incarnations.insert(peer.clone(), inc);
            changed.insert(peer);
        }
        let peers: Vec<(String, PeerRecord)> = changed
            .into_iter()
            .map(|p| {
                let rec = PeerRecord {
                    next_seq: self.next_seq.get(&p).copied().unwrap_or(1),
                    incarnation: d.peer_incarnations.get(&p).copied(),
                };
                (p, rec)
            })
            .collect();
        let ticked = tick.is_some();
        let key = d.log_next;
        let mut meta = Vec::new();
        let log = log_entry.map(|bytes| {
            meta.push(("log_next", crate::store::encode(&(key + 1))));
            (key, bytes)
        });
        // A snapshot is stored only before a tick that succeeded: so the log after it is never
        // empty, and the replay of its first entry fills the relations that queries read.
        let snapshot = match (tick, snapshot) {
            (Some(Ok(_)), Some(bytes)) if log.is_some() => Some((key, bytes)),
            _ => None,
        };
        let commit = Commit {
            meta,
            log,
            outbox_add: sends
                .iter()
                .map(|(p, s, f)| (p.as_str(), *s, f.as_slice()))
                .collect(),
            outbox_remove: acked,
            peers,
            snapshot,
        };
        if commit.is_empty() {
            return Ok(None);
        }
        let started = self.timed.then(Instant::now);
        d.store.commit(&commit)?;
        let mut done = Committed {
            time: started.map(|s| s.elapsed()),
            ..Committed::default()
        };
        if let Some((_, bytes)) = commit.log {
            d.log_next = key + 1;
            d.log_entries += 1;
            d.log_bytes += bytes.len() as u64;
            done.log_bytes = Some(bytes.len() as u64);
        }
        if let Some((_, bytes)) = commit.snapshot {
            d.snapshot_bytes = bytes.len() as u64;
            // The entry of this step is after the snapshot.
            d.log_entries = 1;
            d.log_bytes = log_entry.map_or(0, |b| b.len() as u64);
            done.snapshot_bytes = Some(bytes.len() as u64);
        }
        if ticked {
            for (t, next) in timer_inputs {
                let e = d.timers.entry(t).or_insert(0);
                *e = (*e).max(next);
            }
        }
        Ok(Some(done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;
    use crate::store::{MemoryDisk, RedbStorage};
    use calm_engine::{Program, Value};

    const PROGRAM: &str = ".decl src(x: symbol)\n.persist got\n.persist kept\n\
        kept(x) :- src(x).\ngot(x) :- msg(_, x).\nmsg(@n, x)@async :- src(x), $member(n).\n\
        .decl tick(n: number)\n.input tick(IO=timer, period=\"1s\")\nseen(n) :- tick(n).\n";

    fn program() -> Program {
        Program::compile("p.dl", PROGRAM).unwrap()
    }

    fn core(p: &Program) -> NodeCore {
        NodeCore::new(p, "a", &["b".to_string()], Limits::default())
    }

    fn insert(x: &str) -> Input {
        Input::Insert(vec![("src".into(), vec![Value::Symbol(x.into())])])
    }

    fn open(p: &Program, disk: &MemoryDisk, every: u64) -> Result<(Stepper, Restored), StoreError> {
        let store = RedbStorage::open_memory(disk, "a/calm.redb")?;
        let policy = SnapshotPolicy {
            every_ticks: every,
            log_bytes: 1 << 30,
        };
        Stepper::open(core(p), Some(Box::new(store)), policy, 7)
    }

    fn step(s: &mut Stepper, inputs: Vec<Input>) -> Stepped {
        s.step(Step {
            inputs,
            ..Step::default()
        })
        .unwrap()
    }

    fn kept(s: &Stepper) -> Vec<Vec<Value>> {
        s.core().engine().relation("kept").unwrap()
    }

    #[test]
    fn without_a_store_batches_are_numbered_and_nothing_is_committed() {
        let p = program();
        let (mut s, r) = Stepper::open(core(&p), None, SnapshotPolicy::default(), 3).unwrap();
        assert_eq!(r.incarnation, 3);
        assert!(!s.durable());
        let out = step(&mut s, vec![insert("x")]);
        assert_eq!(out.sends.len(), 1);
        assert_eq!((out.sends[0].0.as_str(), out.sends[0].1), ("b", 1));
        assert!(out.committed.is_none() && out.tick_time.is_none());
        let out = step(&mut s, vec![insert("y")]);
        assert_eq!(out.sends[0].1, 2);
        assert_eq!(s.next_seq("b"), 3);
    }

    #[test]
    fn a_node_on_a_memory_disk_comes_back_from_its_store_after_a_crash() {
        let p = program();
        let disk = MemoryDisk::new();
        let (mut s, r) = open(&p, &disk, 3).unwrap();
        assert_eq!(r.incarnation, 7);
        assert!(s.durable());
        let mut commits = 0;
        let mut snapshots = 0;
        let mut sent = Vec::new();
        for (k, x) in ["x1", "x2", "x3", "x4", "x5", "x6", "x7"]
            .iter()
            .enumerate()
        {
            let mut inputs = vec![insert(x)];
            if k == 2 {
                inputs.push(Input::Timer {
                    relation: "tick".into(),
                    round: 4,
                });
            }
            let acked = if k == 4 {
                vec![("b".to_string(), 1)]
            } else {
                vec![]
            };
            let out = s
                .step(Step {
                    inputs,
                    incarnations: vec![("b".into(), 11)],
                    acked,
                })
                .unwrap();
            let c = out.committed.expect("a tick is committed");
            commits += 1;
            snapshots += c.snapshot_bytes.is_some() as u64;
            sent.extend(out.sends.into_iter().map(|(_, seq, _)| seq));
        }
        assert_eq!((commits, snapshots), (7, 2));
        assert_eq!(sent, (1..=7).collect::<Vec<_>>());
        let before = kept(&s);
        let ticks = s.core().engine().ticks();
        assert_eq!(before.len(), 7);
        // A crash: the process dies; what the disk holds is what the last commit left.
        disk.cut_power();
        drop(s);
        let (mut s, r) = open(&p, &disk, 3).unwrap();
        assert_eq!(r.incarnation, 7, "the incarnation is kept");
        assert_eq!(kept(&s), before);
        assert_eq!(s.core().engine().ticks(), ticks);
        assert!(r.replayed >= 1 && r.replayed <= 3, "{}", r.replayed);
        // Batch 1 was acknowledged; the others are owed.
        let owed: Vec<u64> = r.outbox["b"].keys().copied().collect();
        assert_eq!(owed, (2..=7).collect::<Vec<_>>());
        assert_eq!(r.peers["b"].incarnation, Some(11));
        assert_eq!(r.timers["tick"], 5);
        // Numbering goes on; the history too (x1 is not sent again).
        let out = step(&mut s, vec![insert("x1"), insert("x8")]);
        assert_eq!(out.sends.len(), 1);
        assert_eq!(out.sends[0].1, 8);
        assert_eq!(out.sends[0].2.len(), 1);
    }

    fn from_b(seq: u64, x: &str) -> Input {
        Input::Peer {
            from: "b".into(),
            seq,
            facts: vec![WireFact {
                relation: "msg".into(),
                tuple: vec![
                    crate::wire::WireValue::Symbol("a".into()),
                    crate::wire::WireValue::Symbol(x.into()),
                ],
            }],
        }
    }

    fn got(s: &Stepper) -> Vec<Vec<Value>> {
        s.core().engine().relation("got").unwrap()
    }

    /// Found by the simulator: a peer's restart resets what the node remembers of its batches,
    /// in a step that may run no tick. Unlogged, the replay took the new incarnation's batch 1
    /// for the old one's, and the store was refused ("log entry 2: it does not replay as a
    /// tick"), or, with other inputs in the entry, the peer's facts were silently lost.
    #[test]
    fn a_peer_restart_is_replayed_from_the_log() {
        let p = program();
        let disk = MemoryDisk::new();
        let (mut s, _) = open(&p, &disk, 100).unwrap();
        step(&mut s, vec![from_b(1, "old")]);
        while s.busy() {
            step(&mut s, vec![]);
        }
        // b lost its state: a step without a tick (the node is idle), which must be logged.
        let out = s
            .step(Step {
                inputs: vec![Input::PeerRestarted("b".into())],
                incarnations: vec![("b".into(), 2)],
                ..Step::default()
            })
            .unwrap();
        assert_eq!(out.output.tick, None);
        assert!(out.committed.unwrap().log_bytes.is_some());
        // Its new incarnation numbers its batches from 1 again.
        step(&mut s, vec![from_b(1, "new")]);
        while s.busy() {
            step(&mut s, vec![]);
        }
        let before = got(&s);
        assert_eq!(before.len(), 2);
        disk.cut_power();
        drop(s);
        let (s, r) = open(&p, &disk, 100).unwrap();
        assert_eq!(got(&s), before);
        assert_eq!(r.peers["b"].incarnation, Some(2));
    }

    #[test]
    fn a_step_that_did_not_commit_is_not_recovered() {
        let p = program();
        let disk = MemoryDisk::new();
        let (mut s, _) = open(&p, &disk, 100).unwrap();
        step(&mut s, vec![insert("x1")]);
        let stored = disk.bytes();
        // The process is cut off before the second commit reaches the disk.
        disk.cut_power();
        step(&mut s, vec![insert("x2")]);
        assert_eq!(kept(&s).len(), 2);
        drop(s);
        assert_eq!(disk.bytes(), stored, "a cut-off database writes nothing");
        let (s, _) = open(&p, &disk, 100).unwrap();
        assert_eq!(kept(&s), vec![vec![Value::Symbol("x1".into())]]);
    }

    #[test]
    fn a_damaged_memory_disk_is_refused() {
        let p = program();
        let disk = MemoryDisk::new();
        let (mut s, _) = open(&p, &disk, 100).unwrap();
        for x in ["x1", "x2", "x3"] {
            step(&mut s, vec![insert(x)]);
        }
        disk.cut_power();
        drop(s);
        let good = disk.bytes();
        // Not a redb file.
        disk.set_bytes(&vec![0xAB; good.len()]);
        let e = open(&p, &disk, 100).err().expect("garbage is refused");
        assert!(e.message.contains("Not a redb database"), "{e}");
        assert!(e.to_string().starts_with("a/calm.redb: "), "{e}");
        // Truncated.
        disk.set_bytes(&good[..good.len() / 3]);
        assert!(open(&p, &disk, 100).is_err());
        // Every page after the header damaged: refused, never applied.
        let mut bad = good.clone();
        for b in bad.iter_mut().skip(4096) {
            *b ^= 0x5A;
        }
        disk.set_bytes(&bad);
        let e = open(&p, &disk, 100)
            .err()
            .expect("damaged pages are refused");
        assert!(!e.message.is_empty());
        // Another node's (or program's) store is refused too.
        disk.set_bytes(&good);
        let other = NodeCore::new(&p, "c", &["b".to_string()], Limits::default());
        let store = RedbStorage::open_memory(&disk, "a/calm.redb").unwrap();
        let e = Stepper::open(other, Some(Box::new(store)), SnapshotPolicy::default(), 1)
            .err()
            .expect("another node's store is refused");
        assert!(e.message.contains("another program"), "{e}");
        // And the intact file still opens.
        let (s, _) = open(&p, &disk, 100).unwrap();
        assert_eq!(kept(&s).len(), 3);
    }

    #[test]
    fn a_failed_commit_stops_the_stepper() {
        let p = program();
        let store = RedbStorage::open_memory(&MemoryDisk::new(), "m").unwrap();
        let faulty = crate::store::FaultyStorage::new(Box::new(store), 3);
        let (mut s, _) = Stepper::open(
            core(&p),
            Some(Box::new(faulty)),
            SnapshotPolicy::default(),
            1,
        )
        .unwrap();
        // The first commit initialised the store.
        step(&mut s, vec![insert("x1")]);
        let e = s
            .step(Step {
                inputs: vec![insert("x2")],
                ..Step::default()
            })
            .unwrap_err();
        assert!(e.message.contains("injected"), "{e}");
        let again = s.step(Step::default()).unwrap_err();
        assert_eq!(again.message, e.message);
    }
}
