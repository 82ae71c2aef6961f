//! One schedule: N nodes, each the real node logic (a `calm_node::Stepper` around a `NodeCore`,
//! as `calm node` runs it, and with `restart` faults the node's own redb store on an in-memory
//! file) with the real link protocol (one `calm_node::link_state::LinkState` per peer, the state
//! machine `calm node`'s links drive), driven by a single-threaded discrete-event loop over the
//! simulated network of [`crate::net`], until quiescence.
//!
//! Everything random is drawn from the seed's generators, in an order fixed by the event queue
//! (ordered by simulated time, then by the order events were scheduled), so a seed names one run.

use crate::net::{Ev, Kind, Net, Packet, Partition, Stats};
use crate::rng::Rng;
use crate::trace::{self, Trace};
use crate::{InputMode, Setup};
use calm_engine::Value;
use calm_node::core::{Input, NodeCore};
use calm_node::durable::Restored;
use calm_node::link_state::{
    LinkConfig, LinkState, MAX_ACKS, PeerIncarnation, Pushed, Received, Transmit,
};
use calm_node::store::{MemoryDisk, RedbStorage, Storage};
use calm_node::wire::{self, WireFact};
use calm_node::{Limits, SnapshotPolicy, Step, Stepper};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The random stream of the network and the scheduler.
const NET_STREAM: u64 = 1;
/// The random stream of the fault plan (crashes, partitions).
const FAULT_STREAM: u64 = 2;

/// A node's outputs: relation name to sorted tuples.
pub type NodeOutputs = BTreeMap<String, Vec<Vec<Value>>>;

/// How a schedule ended.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Nothing left to do: no message in flight or unacknowledged, every partition healed, every
    /// node up and not busy. The outputs of each node, in node order.
    Quiesced(Vec<NodeOutputs>),
    /// The step budget ran out first (or the run got stuck: the reason says which).
    NoQuiescence(String),
}

/// One seed's run.
#[derive(Clone, Debug)]
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// The hash of the trace (equal for two runs of the same seed).
    pub trace_hash: u64,
    /// The trace's lines, if they were kept.
    pub trace: Vec<String>,
    /// Counts.
    pub stats: Stats,
}

/// Something waiting in a node's queue for a tick to take it.
enum Pending {
    Batch {
        from: usize,
        seq: u64,
        facts: Vec<WireFact>,
    },
    /// A peer restarted without its state (a new incarnation, stored with the step).
    Restarted {
        peer: usize,
        identity: u64,
    },
    Insert(Vec<(String, Vec<Value>)>),
    Timer {
        timer: usize,
        round: i64,
    },
}

struct Node {
    /// The node's logic and store, as `calm node` runs them; `None` while the node is down.
    stepper: Option<Stepper>,
    /// Changes at every restart: events and connections of an older one are void.
    inc: u64,
    /// The incarnation peers see: changes only when the node lost its state.
    identity: u64,
    /// The file of the node's redb store (`calm node --data-dir`), when `restart` faults are on:
    /// it outlives the node's stops.
    disk: Option<MemoryDisk>,
    /// Client inserts that reached the node while it was stopped (the client retries them).
    held: Vec<Vec<(String, Vec<Value>)>>,
    /// Incarnations of peers the links learned on a first connection since the node (re)started,
    /// stored by its next step (as `calm node` stores a `PeerIncarnation` event). A peer seen
    /// with another incarnation than the known one is a [`Pending::Restarted`] instead.
    learned: Vec<(usize, u64)>,
    inbox: Vec<Pending>,
    step_scheduled: bool,
    /// The link protocol to each peer (the node's own `LinkState`; the entry for the node itself
    /// is never connected). It knows each peer's last incarnation (`None`: never connected, as
    /// after a crash; after a restart from the store, what the store says), and the node's
    /// batches that peers acknowledged since its last step, which leave its store's outbox with
    /// the next commit (until then, a restart sends them again).
    links: Vec<LinkState>,
    /// Per link, the deadline of the [`Ev::LinkTimeout`] armed, if one is.
    timer_at: Vec<Option<u64>>,
    ticks: u64,
    /// The next round of each timer.
    rounds: Vec<i64>,
    /// The fingerprint of the state before the timer round under way, if one is.
    round_start: Option<u64>,
    /// A timer round (a tick taking timers, and the ticks it made busy) started and ended in the
    /// same state, sending nothing, and nothing else happened anywhere since.
    quiet: bool,
}

struct Sim<'a> {
    setup: &'a Setup,
    names: &'a [String],
    nodes: Vec<Node>,
    net: Net,
    trace: Trace,
    /// A storage failure that ends the run (a bug in calm or in the simulator).
    failure: Option<String>,
    /// Tests: damage the store of every node that stops.
    damage_stores: bool,
    /// Tests: drive the links with a bug, to show that the simulator finds it.
    bug: Option<Bug>,
}

/// Bugs a link layer could have, injected around the node's own `LinkState` by tests (never
/// otherwise) to show that schedules find them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
enum Bug {
    /// Acknowledgements queued for a peer's old incarnation are written to its new one (which
    /// numbers its batches afresh, so they remove batches it never delivered): `calm node`'s
    /// links did this until the protocol became one state machine that the simulator drives.
    StaleAcks,
    /// A peer's new incarnation is stored but not treated as a restart: it is not sent its
    /// history again.
    NoRestart,
    /// An acknowledgement is taken to cover every earlier batch too (as TCP's are): a batch lost
    /// before a later one was acknowledged is never sent again.
    CumulativeAcks,
}

/// Runs the schedule of `seed`; keeps the trace's lines when `keep_trace`.
pub fn run_seed(setup: &Setup, seed: u64, keep_trace: bool) -> SeedRun {
    simulate(setup, seed, keep_trace, false, None)
}

fn simulate(
    setup: &Setup,
    seed: u64,
    keep_trace: bool,
    damage_stores: bool,
    bug: Option<Bug>,
) -> SeedRun {
    let names = &setup.names[..];
    let n = names.len();
    let opts = &setup.options;
    let net = Net::new(
        n,
        Rng::new(seed, NET_STREAM),
        opts.faults,
        opts.chaos.clone(),
    );
    let mut sim = Sim {
        setup,
        names,
        nodes: Vec::with_capacity(n),
        net,
        trace: Trace::new(keep_trace),
        failure: None,
        damage_stores,
        bug,
    };
    let counts = setup.placement.counts();
    let placed: Vec<String> = names
        .iter()
        .zip(&counts)
        .map(|(name, c)| format!("{name} {}", trace::count(*c, "fact")))
        .collect();
    sim.trace.event(
        0,
        format!(
            "seed {seed}: {} nodes, faults {}, input facts as {}: {}",
            n,
            opts.faults,
            opts.inputs.as_str(),
            placed.join(", ")
        ),
    );
    let faults = sim.plan_faults(seed);
    for i in 0..n {
        // The nodes the plan stops keep a store (a node that never restarts from its store
        // does the same with or without one).
        let stops = faults
            .iter()
            .any(|(_, ev)| matches!(ev, Ev::Stop { node } if *node == i));
        let disk = stops.then(MemoryDisk::new);
        let links = sim.fresh_links(|_| None);
        sim.nodes.push(Node {
            stepper: None,
            inc: 0,
            identity: 0,
            disk,
            held: Vec::new(),
            learned: Vec::new(),
            inbox: Vec::new(),
            step_scheduled: false,
            links,
            timer_at: vec![None; n],
            ticks: 0,
            rounds: vec![0; setup.timers.len()],
            round_start: None,
            quiet: false,
        });
    }
    // Every node starts connected to every other (incarnation 0); a node with a store stores
    // their incarnations with its first step.
    for i in 0..n {
        for k in 0..n {
            if k != i
                && sim.nodes[i].links[k].on_connected(0, 0).is_some()
                && sim.nodes[i].disk.is_some()
            {
                sim.nodes[i].learned.push((k, 0));
            }
        }
    }
    for i in 0..n {
        sim.open(i);
    }
    for i in 0..n {
        sim.schedule_first_step(i);
        sim.schedule_inserts(i);
        sim.schedule_timers(i);
    }
    sim.schedule_faults(faults);
    let outcome = sim.run();
    let mut stats = sim.net.stats;
    stats.time = sim.net.now;
    stats.ticks = sim.nodes.iter().map(|n| n.ticks).sum();
    let trace_hash = sim.trace.hash();
    SeedRun {
        seed,
        outcome,
        trace_hash,
        trace: sim.trace.into_lines(),
        stats,
    }
}

impl Sim<'_> {
    /// The link protocol's numbers: the node's, with the retransmission timeout in simulated
    /// time and no keep-alives (a ping every few units would keep a schedule from ending; a
    /// connection here never goes idle and dies).
    fn link_config(&self) -> LinkConfig {
        LinkConfig {
            retransmit_after: self.net.chaos.retransmit_after,
            ping_after: None,
            outbox_bytes: Limits::default().peer_outbox_bytes,
            max_acks: MAX_ACKS,
        }
    }

    /// A node's links, none connected, knowing each peer's incarnation as `known` says.
    fn fresh_links(&self, known: impl Fn(usize) -> Option<u64>) -> Vec<LinkState> {
        (0..self.names.len())
            .map(|j| LinkState::new(self.link_config(), known(j)))
            .collect()
    }

    /// Whether the connection between `i` and `j` is up (both ends see it the same way).
    fn connected(&self, i: usize, j: usize) -> bool {
        self.nodes[i].links[j].connected()
    }

    fn new_core(&self, i: usize) -> NodeCore {
        let peers: Vec<String> = self
            .names
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != i)
            .map(|(_, n)| n.clone())
            .collect();
        let mut core = NodeCore::new(
            &self.setup.program,
            &self.names[i],
            &peers,
            Limits::default(),
        );
        if self.setup.options.inputs == InputMode::Files {
            for (rel, tuples) in &self.setup.placement.nodes[i] {
                core.load(rel, tuples.clone())
                    .expect("input facts were read with the program's own types");
            }
        }
        core
    }

    /// Starts node `i`: a new core (its input facts loaded), and with a disk the node's own
    /// recovery from its store (a new store on an empty disk, otherwise the state of the last
    /// commit: snapshot plus log replayed). `None` if the store failed (the run ends).
    fn open(&mut self, i: usize) -> Option<Restored> {
        let core = self.new_core(i);
        let node = &self.nodes[i];
        let location = format!("{}/calm.redb", self.names[i]);
        let storage: Option<Box<dyn Storage>> = match &node.disk {
            None => None,
            Some(disk) => match RedbStorage::open_memory(disk, &location) {
                Ok(store) => Some(Box::new(store)),
                Err(e) => {
                    self.fail(i, &e.to_string());
                    return None;
                }
            },
        };
        let policy = SnapshotPolicy {
            every_ticks: self.net.chaos.snapshot_every,
            ..SnapshotPolicy::default()
        };
        match Stepper::open(core, storage, policy, node.identity) {
            Ok((stepper, restored)) => {
                self.nodes[i].stepper = Some(stepper);
                Some(restored)
            }
            Err(e) => {
                self.fail(i, &e.to_string());
                None
            }
        }
    }

    /// Ends the run: node `i`'s store failed.
    fn fail(&mut self, i: usize, error: &str) {
        let why = format!("{}'s store failed: {error}", self.names[i]);
        self.trace.event(self.net.now, why.clone());
        self.failure.get_or_insert(why);
    }

    /// Node `i`'s core, if it is up.
    fn core(&self, i: usize) -> Option<&NodeCore> {
        self.nodes[i].stepper.as_ref().map(Stepper::core)
    }

    /// Whether node `i` is up and busy.
    fn busy(&self, i: usize) -> bool {
        self.core(i).is_some_and(NodeCore::busy)
    }

    /// In `--inputs inserts` mode, the node's facts arrive as one to three client inserts at
    /// random times (again after each restart: acknowledged inserts are durable).
    fn schedule_inserts(&mut self, i: usize) {
        if self.setup.options.inputs != InputMode::Inserts {
            return;
        }
        let facts: Vec<(String, Vec<Value>)> = self.setup.placement.nodes[i]
            .iter()
            .flat_map(|(rel, ts)| ts.iter().map(move |t| (rel.clone(), t.clone())))
            .collect();
        if facts.is_empty() {
            return;
        }
        let parts = self.net.rng.range(1, 3.min(facts.len() as u64)) as usize;
        let mut cuts: Vec<usize> = (1..parts)
            .map(|_| 1 + self.net.rng.index(facts.len() - 1))
            .collect();
        cuts.push(0);
        cuts.push(facts.len());
        cuts.sort_unstable();
        cuts.dedup();
        let window = (0, self.net.chaos.fault_window / 2);
        for w in cuts.windows(2) {
            let ev = Ev::Insert {
                node: i,
                inc: self.nodes[i].identity,
                facts: facts[w[0]..w[1]].to_vec(),
            };
            self.net.after(window, ev);
        }
    }

    /// Starts the node's timers: each fires first within one period, then every period.
    fn schedule_timers(&mut self, i: usize) {
        let inc = self.nodes[i].inc;
        for (timer, t) in self.setup.timers.iter().enumerate() {
            let at = self.net.now + self.net.rng.range(1, t.period);
            self.net.at(
                at,
                Ev::Timer {
                    node: i,
                    inc,
                    timer,
                },
            );
        }
    }

    /// Something other than a timer round happened: every node must show a quiet round again.
    fn unquiet(&mut self) {
        for n in &mut self.nodes {
            n.quiet = false;
            n.round_start = None;
        }
    }

    /// A hash of every relation of node `i`.
    fn fingerprint(&self, i: usize) -> u64 {
        let mut h = crate::trace::Fnv::default();
        let Some(core) = self.core(i) else {
            return 0;
        };
        let engine = core.engine();
        for rel in &engine.program().ir().relations {
            if rel.builtin.is_some() {
                continue;
            }
            for t in engine.relation(&rel.name).unwrap_or_default() {
                h.write(trace::tuple(&rel.name, &t).as_bytes());
            }
        }
        h.finish()
    }

    /// The seed's crashes, stops and partitions (the partitions are registered with the
    /// network), to schedule with [`Sim::schedule_faults`].
    fn plan_faults(&mut self, seed: u64) -> Vec<(u64, Ev)> {
        let mut plan = Vec::new();
        let mut rng = Rng::new(seed, FAULT_STREAM);
        let n = self.names.len();
        let chaos = self.net.chaos.clone();
        let faults = self.net.faults;
        if faults.crash {
            for _ in 0..rng.below(chaos.max_crashes + 1) {
                let node = rng.index(n);
                let at = rng.below(chaos.fault_window);
                plan.push((at, Ev::Crash { node }));
            }
        }
        if faults.restart {
            for _ in 0..rng.below(chaos.max_crashes + 1) {
                let node = rng.index(n);
                let at = rng.below(chaos.fault_window);
                plan.push((at, Ev::Stop { node }));
            }
        }
        if faults.partition && n > 1 {
            for _ in 0..rng.below(chaos.max_partitions + 1) {
                let mut side: Vec<bool> = (0..n).map(|_| rng.percent(50)).collect();
                if side.iter().all(|&s| s == side[0]) {
                    let k = rng.index(n);
                    side[k] = !side[k];
                }
                let at = rng.below(chaos.fault_window);
                let len = rng.range(chaos.partition_time.0, chaos.partition_time.1);
                let partition = self.net.partitions.len();
                self.net.partitions.push(Partition {
                    side,
                    active: false,
                });
                plan.push((at, Ev::Cut { partition }));
                plan.push((at + len, Ev::Heal { partition }));
            }
        }
        plan
    }

    fn schedule_faults(&mut self, plan: Vec<(u64, Ev)>) {
        for (at, ev) in plan {
            self.net.at(at, ev);
        }
    }

    fn run(&mut self) -> Outcome {
        let max_ticks = self.setup.options.max_ticks;
        let max_events = max_ticks.saturating_mul(50).max(10_000);
        let timers = !self.setup.timers.is_empty();
        while let Some(ev) = self.net.next() {
            let ticks: u64 = self.nodes.iter().map(|n| n.ticks).sum();
            if ticks >= max_ticks || self.net.stats.events >= max_events {
                let why = format!(
                    "no quiescence after {ticks} ticks ({} events)",
                    self.net.stats.events
                );
                self.trace.event(self.net.now, why.clone());
                return Outcome::NoQuiescence(why);
            }
            self.handle(ev);
            if let Some(why) = self.failure.take() {
                return Outcome::NoQuiescence(why);
            }
            // With timers, the queue never empties: stop once only timers are left and a timer
            // round at every node has changed nothing.
            if timers && self.net.only_timers() && self.nodes.iter().all(|n| n.quiet) {
                break;
            }
        }
        // Nothing but timers can happen any more. Check that this is quiescence.
        for (i, node) in self.nodes.iter().enumerate() {
            let name = &self.names[i];
            let stuck = match node.stepper.as_ref().map(Stepper::core) {
                None => Some(format!("{name} is down")),
                Some(c) if c.busy() => Some(format!("{name} is busy")),
                Some(_) if !node.inbox.is_empty() => Some(format!("{name} has queued input")),
                Some(_) => node
                    .links
                    .iter()
                    .position(|l| l.unacked().0 > 0)
                    .map(|j| format!("{name}→{} has unacknowledged batches", self.names[j])),
            };
            if let Some(why) = stuck {
                let why = format!("stuck: {why} with nothing scheduled (a simulator bug)");
                self.trace.event(self.net.now, why.clone());
                return Outcome::NoQuiescence(why);
            }
        }
        let ticks: u64 = self.nodes.iter().map(|n| n.ticks).sum();
        self.trace
            .event(self.net.now, format!("quiescent after {ticks} ticks"));
        let outputs = self
            .nodes
            .iter()
            .map(|node| {
                let engine = node
                    .stepper
                    .as_ref()
                    .expect("every node is up")
                    .core()
                    .engine();
                self.setup
                    .relations
                    .iter()
                    .map(|r| (r.clone(), engine.relation(r).unwrap_or_default()))
                    .collect()
            })
            .collect();
        Outcome::Quiesced(outputs)
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Arrive(p) => self.arrive(p),
            Ev::Step { node, inc } => {
                if self.nodes[node].inc == inc && self.nodes[node].stepper.is_some() {
                    self.nodes[node].step_scheduled = false;
                    self.step(node);
                }
            }
            Ev::LinkTimeout { from, to, inc, at } => self.link_timeout(from, to, inc, at),
            Ev::Crash { node } => self.crash(node),
            Ev::Restart { node } => self.restart(node),
            Ev::Stop { node } => self.stop(node),
            Ev::Resume { node } => self.resume(node),
            Ev::Reconnect { node, inc, peer } => self.reconnect(node, inc, peer),
            Ev::Cut { partition } => {
                self.net.partitions[partition].active = true;
                self.net.stats.partitions += 1;
                let d = self.net.describe(partition, self.names);
                self.trace.event(self.net.now, format!("partition {d}"));
            }
            Ev::Heal { partition } => {
                self.net.partitions[partition].active = false;
                let d = self.net.describe(partition, self.names);
                self.trace
                    .event(self.net.now, format!("partition {d} healed"));
            }
            Ev::Timer { node, inc, timer } => {
                let n = &mut self.nodes[node];
                if n.inc == inc && n.stepper.is_some() {
                    let round = n.rounds[timer];
                    n.rounds[timer] += 1;
                    n.inbox.push(Pending::Timer { timer, round });
                    let next = self.net.now + self.setup.timers[timer].period;
                    self.net.at(next, Ev::Timer { node, inc, timer });
                    self.schedule_step(node);
                }
            }
            Ev::Insert { node, inc, facts } => {
                let n = &mut self.nodes[node];
                if n.identity == inc && n.stepper.is_some() {
                    n.inbox.push(Pending::Insert(facts));
                    self.schedule_step(node);
                } else if n.identity == inc {
                    // Stopped, state kept: the client retries once the node is back.
                    n.held.push(facts);
                }
            }
        }
    }

    fn schedule_step(&mut self, i: usize) {
        self.schedule_step_after(i, self.net.chaos.step_delay);
    }

    /// A node's first tick, at start or after a restart.
    fn schedule_first_step(&mut self, i: usize) {
        self.schedule_step_after(i, self.net.chaos.start_delay);
    }

    fn schedule_step_after(&mut self, i: usize, delay: (u64, u64)) {
        let node = &mut self.nodes[i];
        if node.step_scheduled || node.stepper.is_none() {
            return;
        }
        node.step_scheduled = true;
        let ev = Ev::Step {
            node: i,
            inc: node.inc,
        };
        self.net.after(delay, ev);
    }

    /// Which of the queued inputs the next tick takes: all of them, a prefix (the tick started
    /// while more was arriving), or, with `reorder`, any subset.
    fn cut_batch(&mut self, i: usize) -> Vec<Pending> {
        let inbox = std::mem::take(&mut self.nodes[i].inbox);
        let n = inbox.len();
        if n <= 1 || self.net.rng.percent(50) {
            return inbox;
        }
        let mut take = Vec::new();
        let mut keep = Vec::new();
        if self.net.faults.reorder {
            let first = self.net.rng.index(n);
            // A peer's restart stays ahead of the batches that came after it (its new
            // incarnation's, numbered afresh), as in `calm node`'s queue, where the link announces
            // the incarnation before it reads any batch of the connection.
            let mut blocked = BTreeSet::new();
            for (k, p) in inbox.into_iter().enumerate() {
                let after_restart =
                    matches!(&p, Pending::Batch { from, .. } if blocked.contains(from));
                if !after_restart && (k == first || self.net.rng.percent(50)) {
                    take.push(p);
                } else {
                    if let Pending::Restarted { peer, .. } = &p {
                        blocked.insert(*peer);
                    }
                    keep.push(p);
                }
            }
        } else {
            let len = self.net.rng.range(1, n as u64 - 1) as usize;
            let mut it = inbox.into_iter();
            take.extend(it.by_ref().take(len));
            keep.extend(it);
        }
        self.nodes[i].inbox = keep;
        take
    }

    fn step(&mut self, i: usize) {
        self.resyncs(i);
        let busy = self.busy(i);
        let node = &self.nodes[i];
        if node.inbox.is_empty() && !busy && node.learned.is_empty() {
            return;
        }
        let taken = self.cut_batch(i);
        let only_timers = taken.iter().all(|p| matches!(p, Pending::Timer { .. }));
        if only_timers && !taken.is_empty() && self.nodes[i].round_start.is_none() {
            self.nodes[i].round_start = Some(self.fingerprint(i));
        }
        let mut inputs = Vec::with_capacity(taken.len());
        let mut took: Vec<String> = Vec::new();
        // Incarnations learned on first connections, then those of restarted peers.
        let learned = std::mem::take(&mut self.nodes[i].learned);
        let mut incarnations: Vec<(String, u64)> = learned
            .iter()
            .map(|&(k, inc)| (self.names[k].clone(), inc))
            .collect();
        for p in taken {
            match p {
                Pending::Batch { from, seq, facts } => {
                    self.trace.hash_facts(&facts);
                    took.push(crate::net::batch(
                        &self.names[from],
                        &self.names[i],
                        seq,
                        &facts,
                    ));
                    inputs.push(Input::Peer {
                        from: self.names[from].clone(),
                        seq,
                        facts,
                    });
                }
                Pending::Restarted { peer, identity } => {
                    took.push(format!("{} restarted", self.names[peer]));
                    inputs.push(Input::PeerRestarted(self.names[peer].clone()));
                    incarnations.push((self.names[peer].clone(), identity));
                }
                Pending::Insert(facts) => {
                    let shown: Vec<String> =
                        facts.iter().map(|(r, t)| trace::tuple(r, t)).collect();
                    took.push(format!("client insert [{}]", shown.join(", ")));
                    inputs.push(Input::Insert(facts));
                }
                Pending::Timer { timer, round } => {
                    let relation = self.setup.timers[timer].relation.clone();
                    took.push(format!("timer {relation}({round})"));
                    inputs.push(Input::Timer { relation, round });
                }
            }
        }
        // This node's batches its links saw acknowledged: they leave the store's outbox.
        let mut acked: Vec<(String, u64)> = Vec::new();
        for (k, link) in self.nodes[i].links.iter_mut().enumerate() {
            acked.extend(
                link.take_acked()
                    .into_iter()
                    .map(|s| (self.names[k].clone(), s)),
            );
        }
        let step = Step {
            inputs,
            incarnations,
            acked,
        };
        let node = &mut self.nodes[i];
        let Some(stepper) = node.stepper.as_mut() else {
            return;
        };
        let stepped = match stepper.step(step) {
            Ok(s) => s,
            Err(e) => {
                self.fail(i, &e.to_string());
                return;
            }
        };
        let out = stepped.output;
        let left = node.inbox.len();
        if out.tick.is_some() {
            node.ticks += 1;
        }
        if stepped.committed.is_some() {
            self.net.stats.commits += 1;
        }
        let mut line = match &out.tick {
            Some(Ok(t)) => format!("{} tick {t}", self.names[i]),
            Some(Err(e)) => format!("{} tick FAILED ({e})", self.names[i]),
            None => format!("{} step without a tick", self.names[i]),
        };
        if !took.is_empty() {
            line.push_str(&format!(": took {}", took.join("; ")));
        } else if out.tick.is_none() && !learned.is_empty() {
            let peers: Vec<&str> = learned
                .iter()
                .map(|&(k, _)| self.names[k].as_str())
                .collect();
            line.push_str(&format!(
                ": stored the incarnations of {}",
                peers.join(", ")
            ));
        } else {
            line.push_str(": no input");
        }
        if left > 0 {
            line.push_str(&format!(" ({left} left queued)"));
        }
        for (from, err) in &out.rejected {
            line.push_str(&format!("; refused a fact from {from}: {err}"));
        }
        for (dest, k) in &out.undeliverable {
            line.push_str(&format!(
                "; {} for non-member {dest}",
                trace::count(*k as usize, "fact")
            ));
        }
        let mut sends = Vec::new();
        for (dest, seq, facts) in stepped.sends {
            let Some(j) = self.names.iter().position(|n| *n == dest) else {
                continue;
            };
            line.push_str(&format!(
                "; sent {}",
                crate::net::batch(&self.names[i], &dest, seq, &facts)
            ));
            self.trace.hash_facts(&facts);
            sends.push((j, seq, facts));
        }
        self.trace.event(self.net.now, line);
        let sent_any = !sends.is_empty();
        let mut touched = BTreeSet::new();
        for (j, seq, facts) in sends {
            self.send(i, j, seq, facts);
            touched.insert(j);
        }
        for (peer, seq) in out.acks {
            let Some(j) = self.names.iter().position(|n| *n == peer) else {
                continue;
            };
            self.nodes[i].links[j].ack(seq);
            touched.insert(j);
        }
        for j in touched {
            self.pump(i, j, "");
        }
        let busy = self.busy(i);
        if !self.setup.timers.is_empty() {
            if !only_timers || sent_any {
                self.unquiet();
            } else if !busy && let Some(before) = self.nodes[i].round_start.take() {
                self.nodes[i].quiet = self.fingerprint(i) == before;
            }
        }
        if busy || !self.nodes[i].inbox.is_empty() {
            self.schedule_step(i);
        }
    }

    /// A new batch for `j`, numbered `seq` by node `i`, into the link's queue (written by the
    /// next [`Sim::pump`]).
    fn send(&mut self, i: usize, j: usize, seq: u64, facts: Vec<WireFact>) {
        self.net.stats.batches += 1;
        self.net.stats.facts += facts.len() as u64;
        match self.nodes[i].links[j].push(seq, &facts, false) {
            Ok(Pushed::Queued) => {}
            Ok(Pushed::Held { .. }) => {
                let line = format!(
                    "{}→{} #{seq} held back: over budget",
                    self.names[i], self.names[j]
                );
                self.trace.event(self.net.now, line);
            }
            Err(e) => {
                let why = format!(
                    "{}→{} #{seq} cannot be encoded: {e}",
                    self.names[i], self.names[j]
                );
                self.trace.event(self.net.now, why.clone());
                self.failure.get_or_insert(why);
            }
        }
    }

    /// Writes what the link `i → j` says to write (through the network's faults) and arms its
    /// timer. Batches written again are traced as resent, for `why` (a reconnection, a timeout).
    fn pump(&mut self, i: usize, j: usize, why: &str) {
        let now = self.net.now;
        let mut out = Vec::new();
        let mut again = Vec::new();
        while let Some(t) = self.nodes[i].links[j].poll_transmit(now) {
            let (kind, bytes) = match t {
                Transmit::Batch {
                    seq,
                    again: a,
                    frame,
                } => {
                    if a {
                        again.push(format!("#{seq}"));
                    }
                    (Kind::Batch { seq }, frame)
                }
                Transmit::Acks { seqs, bytes } => (Kind::Acks { seqs }, Arc::new(bytes)),
                Transmit::Ping { bytes } => (Kind::Ping, Arc::new(bytes)),
            };
            out.push((kind, bytes));
        }
        if !again.is_empty() {
            self.net.stats.retransmitted += again.len() as u64;
            let why = if why.is_empty() { "resent" } else { why };
            self.trace.event(
                now,
                format!(
                    "{}→{} resends {} ({why})",
                    self.names[i],
                    self.names[j],
                    again.join(", ")
                ),
            );
        }
        for (kind, bytes) in out {
            self.transmit(i, j, kind, bytes);
        }
        self.arm(i, j);
    }

    /// Puts a transmission from `i` to `j` on the connection between their current incarnations.
    fn transmit(&mut self, i: usize, j: usize, kind: Kind, bytes: Arc<Vec<u8>>) {
        let p = Packet {
            from: i,
            to: j,
            from_inc: self.nodes[i].inc,
            to_inc: self.nodes[j].inc,
            kind,
            bytes,
        };
        self.net.transmit(p, self.names, &mut self.trace);
    }

    /// Arms the timer of the link `i → j` at the deadline its state machine asks for, unless
    /// one is armed as early.
    fn arm(&mut self, i: usize, j: usize) {
        let node = &mut self.nodes[i];
        let Some(at) = node.links[j].poll_timeout() else {
            return;
        };
        if node.timer_at[j].is_some_and(|armed| armed <= at) {
            return;
        }
        node.timer_at[j] = Some(at);
        let ev = Ev::LinkTimeout {
            from: i,
            to: j,
            inc: node.inc,
            at,
        };
        let at = at.max(self.net.now);
        self.net.at(at, ev);
    }

    /// The timer of the link `i → j` armed for `at`: the state machine sees the time, and
    /// writes the queue again if no acknowledgement came in time.
    fn link_timeout(&mut self, i: usize, j: usize, inc: u64, at: u64) {
        let node = &mut self.nodes[i];
        if node.inc != inc || node.stepper.is_none() || node.timer_at[j] != Some(at) {
            return;
        }
        node.timer_at[j] = None;
        node.links[j].handle_timeout(self.net.now);
        self.pump(i, j, "timeout");
    }

    fn arrive(&mut self, p: Packet) {
        let (i, j) = (p.from, p.to);
        let stale = !self.connected(j, i)
            || self.nodes[j].stepper.is_none()
            || self.nodes[i].inc != p.from_inc
            || self.nodes[j].inc != p.to_inc;
        if stale {
            self.net.stats.lost += 1;
            let line = format!("{} lost with its connection", p.describe(self.names));
            self.trace.event(self.net.now, line);
            return;
        }
        if self.net.cut(i, j) {
            self.net.stats.lost += 1;
            let line = format!("{} lost in the partition", p.describe(self.names));
            self.trace.event(self.net.now, line);
            return;
        }
        // The bytes the sender's link wrote, read as the receiver's link reads a connection.
        let frames = match wire::decode_frames(&p.bytes) {
            Ok(f) => f,
            Err(e) => {
                let why = format!("{} does not decode: {e}", p.describe(self.names));
                self.trace.event(self.net.now, why.clone());
                self.failure.get_or_insert(why);
                return;
            }
        };
        let now = self.net.now;
        for frame in frames {
            if let (Some(Bug::CumulativeAcks), wire::Frame::Ack { seq }) = (self.bug, &frame) {
                let link = &mut self.nodes[j].links[i];
                let earlier: Vec<u64> = link.unacked_seqs().filter(|s| s < seq).collect();
                for s in earlier {
                    link.on_ack(now, s);
                }
            }
            match self.nodes[j].links[i].on_frame(now, frame) {
                Ok(Received::Batch { seq, facts }) => {
                    self.nodes[j].inbox.push(Pending::Batch {
                        from: i,
                        seq,
                        facts,
                    });
                    self.schedule_step(j);
                }
                // With a store, an acknowledged batch leaves the outbox at the next commit.
                Ok(Received::Acked { resync: true, .. }) => self.schedule_step(j),
                Ok(Received::Acked { .. } | Received::Ping | Received::Members(_)) => {}
                Err(e) => {
                    let why = format!("{}: {e}", p.describe(self.names));
                    self.trace.event(self.net.now, why.clone());
                    self.failure.get_or_insert(why);
                    return;
                }
            }
        }
        // Acknowledgements may have changed the link's retransmission deadline.
        self.arm(j, i);
    }

    /// Peers whose backlog went over its budget and is now acknowledged are sent their history
    /// again (stored first, with a store), as `calm node`'s tick loop does at every turn.
    fn resyncs(&mut self, i: usize) {
        for j in 0..self.names.len() {
            let Some(held) = self.nodes[i].links[j].take_resync() else {
                continue;
            };
            let Some(stepper) = self.nodes[i].stepper.as_mut() else {
                return;
            };
            let sends = match stepper.resend_history(&self.names[j], held) {
                Ok(s) => s,
                Err(e) => {
                    self.fail(i, &e.to_string());
                    return;
                }
            };
            let line = format!(
                "{}→{} caught up after its backlog went over budget: its history again in {}",
                self.names[i],
                self.names[j],
                trace::count(sends.len(), "batch")
            );
            self.trace.event(self.net.now, line);
            for (_, seq, facts) in sends {
                self.trace.hash_facts(&facts);
                if let Err(e) = self.nodes[i].links[j].push(seq, &facts, true) {
                    self.fail(i, &e.to_string());
                    return;
                }
            }
            self.pump(i, j, "");
        }
    }

    /// Takes a node down for a random time: it stops stepping, its connections close (what is
    /// in flight on them is lost) and everything it held in memory is gone: its stepper is
    /// dropped after its disk cut it off (a process that dies writes nothing more), its links'
    /// state, what it knew of its peers. Returns when it comes back and the inputs it had queued.
    fn take_down(&mut self, i: usize) -> (u64, Vec<Pending>) {
        self.net.stats.crashes += 1;
        self.unquiet();
        let down = self
            .net
            .rng
            .range(self.net.chaos.down_time.0, self.net.chaos.down_time.1);
        let n = self.names.len();
        let node = &mut self.nodes[i];
        let queued = std::mem::take(&mut node.inbox);
        if let Some(disk) = &node.disk {
            disk.cut_power();
        }
        node.stepper = None;
        node.step_scheduled = false;
        node.learned.clear();
        node.timer_at = vec![None; n];
        // Its links go with its memory (and with them what it knew of its peers).
        let links = self.fresh_links(|_| None);
        self.nodes[i].links = links;
        for k in 0..n {
            self.nodes[k].links[i].on_disconnected();
        }
        (self.net.now + down, queued)
    }

    fn crash(&mut self, i: usize) {
        if self.nodes[i].stepper.is_none() {
            return;
        }
        let (back, queued) = self.take_down(i);
        let line = format!(
            "{} CRASHED: state lost, {} unprocessed; restarts at t={back}",
            self.names[i],
            trace::count(queued.len(), "queued input"),
        );
        self.trace.event(self.net.now, line);
        self.net.at(back, Ev::Restart { node: i });
    }

    /// A crashed node starts again with nothing: a new incarnation and, with `restart` faults,
    /// a new store (the old one went with the state).
    fn restart(&mut self, i: usize) {
        let n = self.names.len();
        let node = &mut self.nodes[i];
        node.inc += 1;
        node.identity += 1;
        node.held.clear();
        if node.disk.is_some() {
            node.disk = Some(MemoryDisk::new());
        }
        node.rounds = vec![0; self.setup.timers.len()];
        let inc = node.inc;
        if self.open(i).is_none() {
            return;
        }
        let line = format!(
            "{} restarted (incarnation {inc}), its input facts {}",
            self.names[i],
            match self.setup.options.inputs {
                InputMode::Files => "loaded again",
                InputMode::Inserts => "to be inserted again",
            }
        );
        self.trace.event(self.net.now, line);
        self.schedule_first_step(i);
        self.schedule_inserts(i);
        self.schedule_timers(i);
        self.unquiet();
        for peer in 0..n {
            if peer != i {
                let ev = Ev::Reconnect { node: i, inc, peer };
                self.net.after(self.net.chaos.reconnect_delay, ev);
            }
        }
    }

    /// Stops a node abruptly (`restart` faults): what is in flight to it, its queued inputs and
    /// everything in its memory are lost; its store (the disk) is kept.
    fn stop(&mut self, i: usize) {
        if self.nodes[i].stepper.is_none() || self.nodes[i].disk.is_none() {
            return;
        }
        let (back, queued) = self.take_down(i);
        let node = &mut self.nodes[i];
        let lost = queued.len();
        for p in queued {
            if let Pending::Insert(facts) = p {
                node.held.push(facts);
            }
        }
        // Events of this run of the node are void from now on.
        node.inc += 1;
        if self.damage_stores
            && let Some(disk) = &node.disk
        {
            let mut bytes = disk.bytes();
            for b in bytes.iter_mut().skip(4096) {
                *b ^= 0x5A;
            }
            disk.set_bytes(&bytes);
        }
        let line = format!(
            "{} STOPPED: its store is kept, {} lost; restarts at t={back}",
            self.names[i],
            trace::count(lost, "queued input"),
        );
        self.trace.event(self.net.now, line);
        self.net.at(back, Ev::Resume { node: i });
    }

    /// Brings a stopped node back from its store, through the node's own recovery: the
    /// snapshot, then the logged steps replayed (their sends dropped), the same incarnation;
    /// its links resume with the batches the store holds as unacknowledged, and know the peers'
    /// incarnations the store recorded; its timers go on from the stored rounds.
    fn resume(&mut self, i: usize) {
        let Some(restored) = self.open(i) else {
            return;
        };
        self.net.stats.recoveries += 1;
        self.net.stats.replayed += restored.replayed;
        let n = self.names.len();
        let names = self.names;
        let timers = &self.setup.timers;
        // The links know the peers' incarnations the store recorded and owe what its outbox
        // holds, as `calm node`'s links after a restart.
        let mut links =
            self.fresh_links(|j| restored.peers.get(&names[j]).and_then(|r| r.incarnation));
        let mut owed = 0;
        for (j, link) in links.iter_mut().enumerate() {
            if let Some(batches) = restored.outbox.get(&names[j]) {
                owed += batches.len();
                for (seq, facts) in batches {
                    if let Err(e) = link.push(*seq, facts, false) {
                        self.fail(i, &e.to_string());
                        return;
                    }
                }
            }
        }
        let node = &mut self.nodes[i];
        node.identity = restored.incarnation;
        node.links = links;
        node.rounds = timers
            .iter()
            .map(|t| restored.timers.get(&t.relation).copied().unwrap_or(0))
            .collect();
        let held = std::mem::take(&mut node.held);
        for facts in held {
            node.inbox.push(Pending::Insert(facts));
        }
        let inc = node.inc;
        self.trace.event(
            self.net.now,
            format!(
                "{} restarted from its store: {} replayed, {owed} unacknowledged {}",
                self.names[i],
                trace::count(restored.replayed as usize, "step"),
                if owed == 1 { "batch" } else { "batches" },
            ),
        );
        self.schedule_first_step(i);
        self.schedule_timers(i);
        self.unquiet();
        for peer in 0..n {
            if peer != i {
                let ev = Ev::Reconnect { node: i, inc, peer };
                self.net.after(self.net.chaos.reconnect_delay, ev);
            }
        }
    }

    fn reconnect(&mut self, i: usize, inc: u64, j: usize) {
        if self.nodes[i].inc != inc
            || self.nodes[i].stepper.is_none()
            || self.nodes[j].stepper.is_none()
            || self.connected(i, j)
        {
            return;
        }
        if self.net.cut(i, j) {
            let ev = Ev::Reconnect {
                node: i,
                inc,
                peer: j,
            };
            self.net.after(self.net.chaos.reconnect_delay, ev);
            return;
        }
        self.trace.event(
            self.net.now,
            format!("{} and {} connected", self.names[i], self.names[j]),
        );
        let now = self.net.now;
        for (a, b) in [(i, j), (j, i)] {
            // As `calm node`'s links: a peer seen with another incarnation than the one known
            // restarted without its state (announced before any batch of the connection); one
            // seen for the first time is only stored.
            let inc_b = self.nodes[b].identity;
            let owed = self.nodes[a].links[b].pending_acks().to_vec();
            let mut seen = self.nodes[a].links[b].on_connected(now, inc_b);
            match (self.bug, &mut seen) {
                (Some(Bug::StaleAcks), _) => {
                    for seq in owed {
                        if !self.nodes[a].links[b].pending_acks().contains(&seq) {
                            self.nodes[a].links[b].ack(seq);
                        }
                    }
                }
                (Some(Bug::NoRestart), Some(s)) => s.restarted = false,
                _ => {}
            }
            match seen {
                None => {}
                Some(PeerIncarnation {
                    incarnation,
                    restarted: true,
                }) => {
                    let restarted = Pending::Restarted {
                        peer: b,
                        identity: incarnation,
                    };
                    self.nodes[a].inbox.push(restarted);
                    self.schedule_step(a);
                }
                Some(PeerIncarnation { incarnation, .. }) if self.nodes[a].disk.is_some() => {
                    self.nodes[a].learned.push((b, incarnation));
                    self.schedule_step(a);
                }
                Some(_) => {}
            }
        }
        for (a, b) in [(i, j), (j, i)] {
            self.pump(a, b, "reconnected");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Faults, Options};

    fn gset(faults: Faults) -> Setup {
        let program = calm_engine::Program::compile(
            "gset.dl",
            ".decl add(x: number)\n.decl set(at: symbol, x: number)\n.persist set\n.output set\n\
             set(@n, x)@async :- add(x), $member(n).\nadd(1). add(2). add(3).\n",
        )
        .unwrap();
        let options = Options {
            faults,
            ..Options::default()
        };
        Setup::new("gset.dl", program, Default::default(), None, options).unwrap()
    }

    /// A stopped node comes back through redb: damage the bytes of its store while it is down
    /// and its restart fails, with the store's error.
    #[test]
    fn a_restart_reads_the_stored_bytes() {
        let setup = gset(Faults::parse("restart").unwrap());
        let mut failed = 0;
        for seed in 1..=12 {
            let good = simulate(&setup, seed, false, false, None);
            let bad = simulate(&setup, seed, true, true, None);
            if good.stats.recoveries == 0 {
                assert_eq!(bad.outcome, good.outcome);
                continue;
            }
            assert!(good.stats.commits > 0);
            assert!(matches!(good.outcome, Outcome::Quiesced(_)));
            let Outcome::NoQuiescence(why) = &bad.outcome else {
                panic!("seed {seed}: a damaged store restarted: {:?}", bad.outcome);
            };
            assert!(why.contains("'s store failed: n"), "{why}");
            assert!(why.contains("/calm.redb: the data is damaged"), "{why}");
            let last = bad.trace.last().unwrap();
            assert!(last.contains("store failed"), "{last}");
            failed += 1;
        }
        assert!(failed >= 3, "{failed}");
    }

    /// A grow-only set whose elements reach the nodes as client inserts (again after a crash):
    /// a node that crashed sends facts its old incarnation never sent.
    fn inserted_gset(faults: &str) -> Setup {
        let program = calm_engine::Program::compile(
            "gset.dl",
            ".decl add(x: number)\n.input add\n.decl set(at: symbol, x: number)\n.persist set\n\
             .output set\nset(@n, x)@async :- add(x), $member(n).\n",
        )
        .unwrap();
        let adds = (1..=8).map(|x| vec![Value::Number(x)]).collect();
        let facts = BTreeMap::from([("add".to_string(), adds)]);
        let options = Options {
            faults: Faults::parse(faults).unwrap(),
            inputs: InputMode::Inserts,
            ..Options::default()
        };
        Setup::new("gset.dl", program, facts, None, options).unwrap()
    }

    /// Runs seeds 1..=`n` with `bug` until one ends otherwise than seed 1 with the node's links
    /// (which end so on that seed too: the program is confluent). Returns that seed, if any.
    fn first_caught(setup: &Setup, n: u64, bug: Bug) -> Option<u64> {
        let expected = simulate(setup, 1, false, false, None).outcome;
        assert!(matches!(expected, Outcome::Quiesced(_)));
        let seed = (1..=n)
            .find(|&seed| simulate(setup, seed, false, false, Some(bug)).outcome != expected)?;
        let good = simulate(setup, seed, false, false, None);
        assert_eq!(
            good.outcome, expected,
            "seed {seed}: the node's links diverge"
        );
        Some(seed)
    }

    /// The bundled deadlock detector on 4 nodes, its `waits` edges inserted by clients.
    fn inserted_deadlock(faults: &str) -> Setup {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("../../programs/deadlock.dl")).unwrap();
        let mut text: String = text
            .lines()
            .filter(|l| !l.starts_with("waits("))
            .map(|l| format!("{l}\n"))
            .collect();
        text.push_str(".input waits\n");
        let program = calm_engine::Program::compile("deadlock.dl", &text).unwrap();
        let facts = crate::read_facts(&program, &root.join("tests/programs/deadlock")).unwrap();
        let options = Options {
            faults: Faults::parse(faults).unwrap(),
            inputs: InputMode::Inserts,
            nodes: 4,
            placement_seed: 7,
            ..Options::default()
        };
        Setup::new("deadlock.dl", program, facts, None, options).unwrap()
    }

    #[test]
    fn acknowledgements_written_to_a_peers_new_incarnation_are_caught() {
        // A node crashes while a peer owes it an acknowledgement, comes back numbering its
        // batches from 1, and the old acknowledgement removes a new batch that the network lost.
        let setup = inserted_deadlock("crash,drop");
        let seed = first_caught(&setup, 1000, Bug::StaleAcks);
        assert!(seed.is_some(), "not caught in 1000 seeds");
    }

    #[test]
    fn a_restart_not_treated_as_one_is_caught() {
        let setup = inserted_gset("crash");
        let seed = first_caught(&setup, 100, Bug::NoRestart);
        assert!(seed.is_some(), "not caught in 100 seeds");
    }

    #[test]
    fn cumulative_acknowledgements_are_caught() {
        let setup = inserted_gset("drop,reorder");
        let seed = first_caught(&setup, 100, Bug::CumulativeAcks);
        assert!(seed.is_some(), "not caught in 100 seeds");
    }
}
