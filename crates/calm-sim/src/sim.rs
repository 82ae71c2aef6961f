//! One schedule: N `NodeCore`s, the real node logic, driven by a single-threaded discrete-event
//! loop over the simulated network of [`crate::net`], until quiescence.
//!
//! Everything random is drawn from the seed's generators, in an order fixed by the event queue
//! (ordered by simulated time, then by the order events were scheduled), so a seed names one run.

use crate::net::{Ev, Kind, Link, Net, Packet, Partition, Stats};
use crate::rng::Rng;
use crate::trace::{self, Trace};
use crate::{InputMode, Setup};
use calm_engine::Value;
use calm_node::Limits;
use calm_node::core::{CoreSnapshot, Input, NodeCore};
use calm_node::wire::WireFact;
use std::collections::BTreeMap;
use std::rc::Rc;

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
        facts: Rc<Vec<WireFact>>,
    },
    Restarted(usize),
    Insert(Vec<(String, Vec<Value>)>),
    Timer {
        timer: usize,
        round: i64,
    },
}

/// What a node with a data directory has stored: a snapshot and the inputs of every step
/// since (the runtime stores the same, see `calm_node::durable`).
struct Journal {
    base: CoreSnapshot,
    log: Vec<Vec<Input>>,
}

/// Steps logged before the journal takes a new snapshot.
const JOURNAL_STEPS: usize = 32;

struct Node {
    core: Option<NodeCore>,
    /// Changes at every restart: events and connections of an older one are void.
    inc: u64,
    /// The incarnation peers see: changes only when the node lost its state.
    identity: u64,
    /// The node's store, when `restart` faults are on.
    journal: Option<Journal>,
    /// Client inserts that reached the node while it was stopped (the client retries them).
    held: Vec<Vec<(String, Vec<Value>)>>,
    /// Peers seen restarted whose news the node had not processed when it stopped: its store
    /// still has their old incarnation, so it notices again when it is back.
    held_restarts: Vec<usize>,
    inbox: Vec<Pending>,
    step_scheduled: bool,
    links: Vec<Link>,
    /// The incarnation of each peer this node last connected to (`None`: never, as after a
    /// restart).
    known: Vec<Option<u64>>,
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
    connected: Vec<Vec<bool>>,
    net: Net,
    trace: Trace,
}

/// Runs the schedule of `seed`; keeps the trace's lines when `keep_trace`.
pub fn run_seed(setup: &Setup, seed: u64, keep_trace: bool) -> SeedRun {
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
        connected: vec![vec![true; n]; n],
        net,
        trace: Trace::new(keep_trace),
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
    for i in 0..n {
        let core = sim.new_core(i);
        let journal = opts.faults.restart.then(|| Journal {
            base: core.snapshot(),
            log: Vec::new(),
        });
        sim.nodes.push(Node {
            core: Some(core),
            inc: 0,
            identity: 0,
            journal,
            held: Vec::new(),
            held_restarts: Vec::new(),
            inbox: Vec::new(),
            step_scheduled: false,
            links: vec![Link::default(); n],
            known: vec![Some(0); n],
            ticks: 0,
            rounds: vec![0; setup.timers.len()],
            round_start: None,
            quiet: false,
        });
    }
    for i in 0..n {
        sim.schedule_first_step(i);
        sim.schedule_inserts(i);
        sim.schedule_timers(i);
    }
    sim.plan_faults(seed);
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
        let Some(core) = &self.nodes[i].core else {
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

    fn plan_faults(&mut self, seed: u64) {
        let mut rng = Rng::new(seed, FAULT_STREAM);
        let n = self.names.len();
        let chaos = self.net.chaos.clone();
        let faults = self.net.faults;
        if faults.crash {
            for _ in 0..rng.below(chaos.max_crashes + 1) {
                let node = rng.index(n);
                let at = rng.below(chaos.fault_window);
                self.net.at(at, Ev::Crash { node });
            }
        }
        if faults.restart {
            for _ in 0..rng.below(chaos.max_crashes + 1) {
                let node = rng.index(n);
                let at = rng.below(chaos.fault_window);
                self.net.at(at, Ev::Stop { node });
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
                self.net.at(at, Ev::Cut { partition });
                self.net.at(at + len, Ev::Heal { partition });
            }
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
            // With timers, the queue never empties: stop once only timers are left and a timer
            // round at every node has changed nothing.
            if timers && self.net.only_timers() && self.nodes.iter().all(|n| n.quiet) {
                break;
            }
        }
        // Nothing but timers can happen any more. Check that this is quiescence.
        for (i, node) in self.nodes.iter().enumerate() {
            let name = &self.names[i];
            let stuck = match &node.core {
                None => Some(format!("{name} is down")),
                Some(c) if c.busy() => Some(format!("{name} is busy")),
                Some(_) if !node.inbox.is_empty() => Some(format!("{name} has queued input")),
                Some(_) => node
                    .links
                    .iter()
                    .position(|l| !l.unacked.is_empty())
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
                let engine = node.core.as_ref().expect("every node is up").engine();
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
                if self.nodes[node].inc == inc && self.nodes[node].core.is_some() {
                    self.nodes[node].step_scheduled = false;
                    self.step(node);
                }
            }
            Ev::Retransmit { from, to, inc } => self.retransmit(from, to, inc),
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
                if n.inc == inc && n.core.is_some() {
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
                if n.identity == inc && n.core.is_some() {
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
        if node.step_scheduled || node.core.is_none() {
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
            for (k, p) in inbox.into_iter().enumerate() {
                if k == first || self.net.rng.percent(50) {
                    take.push(p);
                } else {
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
        let busy = self.nodes[i].core.as_ref().is_some_and(NodeCore::busy);
        if self.nodes[i].inbox.is_empty() && !busy {
            return;
        }
        let taken = self.cut_batch(i);
        let only_timers = taken.iter().all(|p| matches!(p, Pending::Timer { .. }));
        if only_timers && !taken.is_empty() && self.nodes[i].round_start.is_none() {
            self.nodes[i].round_start = Some(self.fingerprint(i));
        }
        let mut inputs = Vec::with_capacity(taken.len());
        let mut took: Vec<String> = Vec::new();
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
                        facts: (*facts).clone(),
                    });
                }
                Pending::Restarted(peer) => {
                    took.push(format!("{} restarted", self.names[peer]));
                    inputs.push(Input::PeerRestarted(self.names[peer].clone()));
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
        let node = &mut self.nodes[i];
        let core = node.core.as_mut().expect("a stepping node is up");
        if let Some(j) = &mut node.journal {
            j.log.push(inputs.clone());
        }
        let out = core.step(inputs);
        if let Some(j) = &mut node.journal
            && j.log.len() >= JOURNAL_STEPS
        {
            j.base = core.snapshot();
            j.log.clear();
        }
        let left = node.inbox.len();
        if out.tick.is_some() {
            node.ticks += 1;
        }
        let mut line = match &out.tick {
            Some(Ok(t)) => format!("{} tick {t}", self.names[i]),
            Some(Err(e)) => format!("{} tick FAILED ({e})", self.names[i]),
            None => format!("{} step without a tick", self.names[i]),
        };
        if took.is_empty() {
            line.push_str(": no input");
        } else {
            line.push_str(&format!(": took {}", took.join("; ")));
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
        for (dest, facts) in out.sends {
            let Some(j) = self.names.iter().position(|n| *n == dest) else {
                continue;
            };
            let seq = self.nodes[i].links[j].next_seq;
            line.push_str(&format!(
                "; sent {}",
                crate::net::batch(&self.names[i], &dest, seq, &facts)
            ));
            self.trace.hash_facts(&facts);
            sends.push((j, facts));
        }
        self.trace.event(self.net.now, line);
        let sent_any = !sends.is_empty();
        for (j, facts) in sends {
            self.send(i, j, facts);
        }
        for (peer, seq) in out.acks {
            let Some(j) = self.names.iter().position(|n| *n == peer) else {
                continue;
            };
            if self.connected[i][j] {
                self.transmit(i, j, Kind::Ack { seq });
            }
        }
        let busy = self.nodes[i].core.as_ref().is_some_and(NodeCore::busy);
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

    /// A new batch on the link `i → j`.
    fn send(&mut self, i: usize, j: usize, facts: Vec<WireFact>) {
        self.net.stats.batches += 1;
        self.net.stats.facts += facts.len() as u64;
        let now = self.net.now;
        let link = &mut self.nodes[i].links[j];
        let seq = link.next_seq;
        link.next_seq += 1;
        let facts = Rc::new(facts);
        link.unacked.insert(seq, facts.clone());
        if link.unacked.len() == 1 {
            link.last_send = now;
        }
        if self.connected[i][j] {
            self.transmit(i, j, Kind::Batch { seq, facts });
            self.arm(i, j);
        }
    }

    /// Puts a transmission from `i` to `j` on the connection between their current incarnations.
    fn transmit(&mut self, i: usize, j: usize, kind: Kind) {
        let p = Packet {
            from: i,
            to: j,
            from_inc: self.nodes[i].inc,
            to_inc: self.nodes[j].inc,
            kind,
        };
        self.net.transmit(p, self.names, &mut self.trace);
    }

    /// Arms the retransmission timer of `i → j` if it has unacknowledged batches.
    fn arm(&mut self, i: usize, j: usize) {
        let inc = self.nodes[i].inc;
        let after = self.net.chaos.retransmit_after;
        let link = &mut self.nodes[i].links[j];
        if link.timer_armed || link.unacked.is_empty() {
            return;
        }
        link.timer_armed = true;
        let at = link.last_send + after;
        self.net.at(
            at,
            Ev::Retransmit {
                from: i,
                to: j,
                inc,
            },
        );
    }

    fn retransmit(&mut self, i: usize, j: usize, inc: u64) {
        if self.nodes[i].inc != inc || self.nodes[i].core.is_none() {
            return;
        }
        self.nodes[i].links[j].timer_armed = false;
        if !self.connected[i][j] || self.nodes[i].links[j].unacked.is_empty() {
            return;
        }
        let now = self.net.now;
        if now >= self.nodes[i].links[j].last_send + self.net.chaos.retransmit_after {
            self.resend_all(i, j, "timeout");
        }
        self.arm(i, j);
    }

    /// Sends every unacknowledged batch of `i → j` again.
    fn resend_all(&mut self, i: usize, j: usize, why: &str) {
        let link = &mut self.nodes[i].links[j];
        link.last_send = self.net.now;
        let batches: Vec<(u64, Rc<Vec<WireFact>>)> =
            link.unacked.iter().map(|(s, f)| (*s, f.clone())).collect();
        if batches.is_empty() {
            return;
        }
        let seqs: Vec<String> = batches.iter().map(|(s, _)| format!("#{s}")).collect();
        self.trace.event(
            self.net.now,
            format!(
                "{}→{} resends {} ({why})",
                self.names[i],
                self.names[j],
                seqs.join(", ")
            ),
        );
        self.net.stats.retransmitted += batches.len() as u64;
        for (seq, facts) in batches {
            self.transmit(i, j, Kind::Batch { seq, facts });
        }
    }

    fn arrive(&mut self, p: Packet) {
        let (i, j) = (p.from, p.to);
        let what = || match &p.kind {
            Kind::Batch { seq, .. } => format!("{}→{} #{seq}", self.names[i], self.names[j]),
            Kind::Ack { seq } => format!("ack {}→{} #{seq}", self.names[i], self.names[j]),
        };
        let stale = !self.connected[i][j]
            || self.nodes[j].core.is_none()
            || self.nodes[i].inc != p.from_inc
            || self.nodes[j].inc != p.to_inc;
        if stale {
            self.net.stats.lost += 1;
            let line = format!("{} lost with its connection", what());
            self.trace.event(self.net.now, line);
            return;
        }
        if self.net.cut(i, j) {
            self.net.stats.lost += 1;
            let line = format!("{} lost in the partition", what());
            self.trace.event(self.net.now, line);
            return;
        }
        match p.kind {
            Kind::Batch { seq, facts } => {
                self.nodes[j].inbox.push(Pending::Batch {
                    from: i,
                    seq,
                    facts,
                });
                self.schedule_step(j);
            }
            Kind::Ack { seq } => {
                // The acknowledgement of `j → i`'s batch `seq`.
                self.nodes[j].links[i].unacked.remove(&seq);
            }
        }
    }

    /// Takes a node down for a random time: it stops stepping and its connections close (what
    /// is in flight on them is lost). Returns when it comes back and the inputs it had queued.
    fn take_down(&mut self, i: usize) -> (u64, Vec<Pending>) {
        self.net.stats.crashes += 1;
        self.unquiet();
        let down = self
            .net
            .rng
            .range(self.net.chaos.down_time.0, self.net.chaos.down_time.1);
        let node = &mut self.nodes[i];
        let queued = std::mem::take(&mut node.inbox);
        node.core = None;
        node.step_scheduled = false;
        for k in 0..self.names.len() {
            self.connected[i][k] = false;
            self.connected[k][i] = false;
        }
        (self.net.now + down, queued)
    }

    fn crash(&mut self, i: usize) {
        if self.nodes[i].core.is_none() {
            return;
        }
        let (back, queued) = self.take_down(i);
        for l in &mut self.nodes[i].links {
            *l = Link::default();
        }
        let line = format!(
            "{} CRASHED: state lost, {} unprocessed; restarts at t={back}",
            self.names[i],
            trace::count(queued.len(), "queued input"),
        );
        self.trace.event(self.net.now, line);
        self.net.at(back, Ev::Restart { node: i });
    }

    fn restart(&mut self, i: usize) {
        let core = self.new_core(i);
        let n = self.names.len();
        let node = &mut self.nodes[i];
        node.inc += 1;
        node.identity += 1;
        node.core = Some(core);
        node.known = vec![None; n];
        node.held.clear();
        node.held_restarts.clear();
        if let Some(j) = &mut node.journal {
            // A node that lost its state starts a new store.
            j.base = node.core.as_ref().expect("just set").snapshot();
            j.log.clear();
        }
        node.rounds = vec![0; self.setup.timers.len()];
        let inc = node.inc;
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

    /// Stops a node abruptly (`restart` faults): what is in flight to it and its queued inputs
    /// are lost, its store (journal, unacknowledged batches, timer rounds) is kept.
    fn stop(&mut self, i: usize) {
        if self.nodes[i].core.is_none() || self.nodes[i].journal.is_none() {
            return;
        }
        let (back, queued) = self.take_down(i);
        let node = &mut self.nodes[i];
        let lost = queued.len();
        for p in queued {
            match p {
                Pending::Insert(facts) => node.held.push(facts),
                Pending::Restarted(peer) => node.held_restarts.push(peer),
                _ => {}
            }
        }
        // Events of this run of the node are void from now on; its links keep their state.
        node.inc += 1;
        for l in &mut node.links {
            l.timer_armed = false;
        }
        let line = format!(
            "{} STOPPED: its store is kept, {} lost; restarts at t={back}",
            self.names[i],
            trace::count(lost, "queued input"),
        );
        self.trace.event(self.net.now, line);
        self.net.at(back, Ev::Resume { node: i });
    }

    /// Brings a stopped node back from its store: the snapshot, then the logged steps replayed
    /// (their sends dropped: what is unacknowledged is still in the links), same incarnation.
    fn resume(&mut self, i: usize) {
        let mut core = self.new_core(i);
        let journal = self.nodes[i]
            .journal
            .as_ref()
            .expect("stopped nodes have a store");
        core.restore(&journal.base)
            .expect("a snapshot of the same node restores");
        for inputs in &journal.log {
            core.step(inputs.clone());
        }
        let n = self.names.len();
        let node = &mut self.nodes[i];
        node.core = Some(core);
        let held = std::mem::take(&mut node.held);
        for facts in held {
            node.inbox.push(Pending::Insert(facts));
        }
        for peer in std::mem::take(&mut node.held_restarts) {
            node.inbox.push(Pending::Restarted(peer));
        }
        let inc = node.inc;
        self.trace.event(
            self.net.now,
            format!("{} restarted from its store", self.names[i]),
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
            || self.nodes[i].core.is_none()
            || self.nodes[j].core.is_none()
            || self.connected[i][j]
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
        self.connected[i][j] = true;
        self.connected[j][i] = true;
        self.trace.event(
            self.net.now,
            format!("{} and {} connected", self.names[i], self.names[j]),
        );
        for (a, b) in [(i, j), (j, i)] {
            let inc_b = self.nodes[b].identity;
            if let Some(old) = self.nodes[a].known[b]
                && old != inc_b
            {
                self.nodes[a].inbox.push(Pending::Restarted(b));
                self.schedule_step(a);
            }
            self.nodes[a].known[b] = Some(inc_b);
            self.resend_all(a, b, "reconnected");
            self.arm(a, b);
        }
    }
}
