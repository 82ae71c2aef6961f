//! The simulated network: an event queue in simulated time and the faults it injects beneath the
//! node's own link protocol.
//!
//! The links are not modelled here: each node drives one `calm_node::link_state::LinkState` per
//! peer, the state machine `calm node`'s tokio links drive (see [`crate::sim`]). What it says to
//! write (batch frames, acknowledgements, as bytes) goes through [`Net::transmit`], where the
//! faults apply, and arrives as bytes, which the receiving node decodes and feeds to its own
//! state machine.

use crate::rng::Rng;
use crate::trace::{self, Trace};
use calm_engine::Value;
use calm_node::wire::WireFact;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Which faults a schedule may contain. Without any, schedules still differ in message delays,
/// in the order nodes step, and in where a tick cuts the stream of arrivals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Faults {
    /// Partitions that drop everything between two groups of nodes until they heal.
    pub partition: bool,
    /// Lost batches and acknowledgements (recovered by retransmission).
    pub drop: bool,
    /// Batches and acknowledgements delivered twice.
    pub dup: bool,
    /// Messages overtaking each other on a link, and ticks taking any subset of what arrived.
    pub reorder: bool,
    /// Nodes crashing (losing their state) and restarting.
    pub crash: bool,
    /// Nodes stopping abruptly and restarting from their store, as `calm node --data-dir` does:
    /// the state of their last step, unacknowledged batches kept, the same incarnation.
    pub restart: bool,
}

impl Faults {
    /// The names, in the order of [`Faults::parse`].
    pub const NAMES: [&'static str; 6] =
        ["partition", "drop", "dup", "reorder", "crash", "restart"];

    /// Every fault.
    pub fn all() -> Faults {
        Faults {
            partition: true,
            drop: true,
            dup: true,
            reorder: true,
            crash: true,
            restart: true,
        }
    }

    /// No fault.
    pub fn none() -> Faults {
        Faults {
            partition: false,
            drop: false,
            dup: false,
            reorder: false,
            crash: false,
            restart: false,
        }
    }

    /// `partition,drop,dup,reorder,crash,restart` (any subset), `all` or `none`.
    pub fn parse(s: &str) -> Result<Faults, String> {
        let mut f = Faults::none();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "all" => f = Faults::all(),
                "none" => {}
                "partition" => f.partition = true,
                "drop" => f.drop = true,
                "dup" => f.dup = true,
                "reorder" => f.reorder = true,
                "crash" => f.crash = true,
                "restart" => f.restart = true,
                other => {
                    return Err(format!(
                        "unknown fault `{other}` (expected {}, `all` or `none`)",
                        Faults::NAMES.join(", ")
                    ));
                }
            }
        }
        Ok(f)
    }

    /// The faults that are on, by name.
    pub fn names(&self) -> Vec<&'static str> {
        let on = [
            self.partition,
            self.drop,
            self.dup,
            self.reorder,
            self.crash,
            self.restart,
        ];
        Faults::NAMES
            .iter()
            .zip(on)
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect()
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.names();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

/// The numbers behind the faults, in units of simulated time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chaos {
    /// Delay of a message on a link that keeps order.
    pub latency: (u64, u64),
    /// Delay of a message when messages may overtake each other (`reorder`).
    pub reorder_latency: (u64, u64),
    /// Percentage of transmissions lost (`drop`).
    pub drop_percent: u64,
    /// Percentage of transmissions delivered twice (`dup`).
    pub dup_percent: u64,
    /// How long the oldest unacknowledged batch waits before the link sends all again.
    pub retransmit_after: u64,
    /// Delay between a node having something to do and its next tick.
    pub step_delay: (u64, u64),
    /// Delay before a node's first tick, at start and after a restart (nodes do not boot in
    /// step; messages that arrive meanwhile wait in its queue).
    pub start_delay: (u64, u64),
    /// Crashes and partitions start within this much time of the start.
    pub fault_window: u64,
    /// At most this many crashes per schedule (`crash`).
    pub max_crashes: u64,
    /// How long a crashed node stays down.
    pub down_time: (u64, u64),
    /// At most this many partitions per schedule (`partition`).
    pub max_partitions: u64,
    /// How long a partition lasts.
    pub partition_time: (u64, u64),
    /// Delay before a restarted node's connections come back (and between attempts across a
    /// partition).
    pub reconnect_delay: (u64, u64),
    /// A node with a store (`restart`) stores a snapshot every this many ticks (the node's
    /// `SnapshotPolicy`; `calm node` uses 1000), so that restarts replay a snapshot and a log.
    pub snapshot_every: u64,
}

impl Default for Chaos {
    fn default() -> Self {
        Chaos {
            latency: (1, 10),
            reorder_latency: (1, 60),
            drop_percent: 10,
            dup_percent: 10,
            retransmit_after: 50,
            step_delay: (1, 5),
            start_delay: (1, 40),
            fault_window: 200,
            max_crashes: 2,
            down_time: (5, 80),
            max_partitions: 2,
            partition_time: (10, 150),
            reconnect_delay: (1, 20),
            snapshot_every: 8,
        }
    }
}

/// Counts over one schedule (or summed over many).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Ticks run, all nodes together.
    pub ticks: u64,
    /// Batches sent for the first time.
    pub batches: u64,
    /// Facts in those batches.
    pub facts: u64,
    /// Batches written again by the links (timeout or reconnection).
    pub retransmitted: u64,
    /// Transmissions lost by the `drop` fault.
    pub dropped: u64,
    /// Transmissions delivered twice.
    pub duplicated: u64,
    /// Transmissions lost to a partition, a crash or a closed connection.
    pub lost: u64,
    /// Crashes.
    pub crashes: u64,
    /// Partitions.
    pub partitions: u64,
    /// Commits of nodes' stores (`restart`: one per step that changed anything).
    pub commits: u64,
    /// Nodes restarted from their store.
    pub recoveries: u64,
    /// Log entries (steps) replayed by those restarts.
    pub replayed: u64,
    /// Events processed.
    pub events: u64,
    /// Simulated time at the end.
    pub time: u64,
}

impl Stats {
    /// Adds another schedule's counts.
    pub fn add(&mut self, o: &Stats) {
        self.ticks += o.ticks;
        self.batches += o.batches;
        self.facts += o.facts;
        self.retransmitted += o.retransmitted;
        self.dropped += o.dropped;
        self.duplicated += o.duplicated;
        self.lost += o.lost;
        self.crashes += o.crashes;
        self.partitions += o.partitions;
        self.commits += o.commits;
        self.recoveries += o.recoveries;
        self.replayed += o.replayed;
        self.events += o.events;
        self.time += o.time;
    }
}

/// What a transmission holds, for the trace (the bytes say the same).
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// A batch frame.
    Batch { seq: u64 },
    /// Acknowledgement frames.
    Acks { seqs: Vec<u64> },
    /// A keep-alive.
    Ping,
}

/// A transmission on the connection between two incarnations of two nodes: frames as the link
/// protocol wrote them.
#[derive(Clone, Debug)]
pub(crate) struct Packet {
    pub from: usize,
    pub to: usize,
    pub from_inc: u64,
    pub to_inc: u64,
    pub kind: Kind,
    pub bytes: Arc<Vec<u8>>,
}

impl Packet {
    /// The transmission as `n1→n2 #3` or `ack n1→n2 #3, #4`.
    pub fn describe(&self, names: &[String]) -> String {
        let (a, b) = (&names[self.from], &names[self.to]);
        match &self.kind {
            Kind::Batch { seq } => format!("{a}→{b} #{seq}"),
            Kind::Acks { seqs } => {
                let s: Vec<String> = seqs.iter().map(|s| format!("#{s}")).collect();
                format!("ack {a}→{b} {}", s.join(", "))
            }
            Kind::Ping => format!("ping {a}→{b}"),
        }
    }
}

/// Something that happens at a point of simulated time.
#[derive(Clone, Debug)]
pub(crate) enum Ev {
    /// A transmission reaches its destination.
    Arrive(Packet),
    /// A node ticks (if it is still the incarnation `inc`).
    Step { node: usize, inc: u64 },
    /// The deadline `at` a link's state machine asked for (`LinkState::poll_timeout`), if it
    /// is still the one armed.
    LinkTimeout {
        from: usize,
        to: usize,
        inc: u64,
        at: u64,
    },
    /// A node crashes.
    Crash { node: usize },
    /// A crashed node starts again.
    Restart { node: usize },
    /// A node stops abruptly and will come back from its store (`restart`).
    Stop { node: usize },
    /// A stopped node comes back from its store.
    Resume { node: usize },
    /// The connection between a restarted node and a peer comes back.
    Reconnect { node: usize, inc: u64, peer: usize },
    /// A partition starts.
    Cut { partition: usize },
    /// A partition heals.
    Heal { partition: usize },
    /// A timer of a node fires (if it is still the incarnation `inc`).
    Timer { node: usize, inc: u64, timer: usize },
    /// A client inserts facts at a node (`--inputs inserts`).
    Insert {
        node: usize,
        inc: u64,
        facts: Vec<(String, Vec<Value>)>,
    },
}

/// A partition: `side[n]` says which group node `n` is in.
#[derive(Clone, Debug)]
pub(crate) struct Partition {
    pub side: Vec<bool>,
    pub active: bool,
}

/// Simulated time, the event queue and the faults.
pub(crate) struct Net {
    pub now: u64,
    queue: BTreeMap<(u64, u64), Ev>,
    next_id: u64,
    /// Events in the queue other than timers.
    others: u64,
    pub rng: Rng,
    pub faults: Faults,
    pub chaos: Chaos,
    /// Per directed pair, the latest arrival scheduled (links that keep order deliver after it).
    fifo: Vec<Vec<u64>>,
    pub partitions: Vec<Partition>,
    pub stats: Stats,
}

impl Net {
    pub fn new(nodes: usize, rng: Rng, faults: Faults, chaos: Chaos) -> Net {
        Net {
            now: 0,
            queue: BTreeMap::new(),
            next_id: 0,
            others: 0,
            rng,
            faults,
            chaos,
            fifo: vec![vec![0; nodes]; nodes],
            partitions: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Schedules `ev` at time `at` (events at the same time happen in the order scheduled).
    pub fn at(&mut self, at: u64, ev: Ev) {
        if !matches!(ev, Ev::Timer { .. }) {
            self.others += 1;
        }
        self.queue.insert((at, self.next_id), ev);
        self.next_id += 1;
    }

    /// Schedules `ev` after a delay drawn from `range`.
    pub fn after(&mut self, range: (u64, u64), ev: Ev) {
        let at = self.now + self.rng.range(range.0, range.1);
        self.at(at, ev);
    }

    /// The next event, advancing time to it.
    pub fn next(&mut self) -> Option<Ev> {
        let ((t, _), ev) = self.queue.pop_first()?;
        if !matches!(ev, Ev::Timer { .. }) {
            self.others -= 1;
        }
        self.now = t;
        self.stats.events += 1;
        Some(ev)
    }

    /// Whether only timers are left to happen.
    pub fn only_timers(&self) -> bool {
        self.others == 0
    }

    /// Whether an active partition separates `a` and `b`.
    pub fn cut(&self, a: usize, b: usize) -> bool {
        self.partitions
            .iter()
            .any(|p| p.active && p.side[a] != p.side[b])
    }

    /// Sends a packet through the faults: it may be lost, delayed, reordered or duplicated.
    pub fn transmit(&mut self, p: Packet, names: &[String], trace: &mut Trace) {
        let what = || p.describe(names);
        if self.faults.drop && self.rng.percent(self.chaos.drop_percent) {
            self.stats.dropped += 1;
            trace.event(self.now, format!("{} dropped", what()));
            return;
        }
        let copies = if self.faults.dup && self.rng.percent(self.chaos.dup_percent) {
            self.stats.duplicated += 1;
            trace.event(self.now, format!("{} duplicated", what()));
            2
        } else {
            1
        };
        for _ in 0..copies {
            let at = if self.faults.reorder {
                let (lo, hi) = self.chaos.reorder_latency;
                self.now + self.rng.range(lo, hi)
            } else {
                let (lo, hi) = self.chaos.latency;
                let at = (self.now + self.rng.range(lo, hi)).max(self.fifo[p.from][p.to]);
                self.fifo[p.from][p.to] = at;
                at
            };
            self.at(at, Ev::Arrive(p.clone()));
        }
    }

    /// Describes a partition: `{n1} | {n2, n3}`.
    pub fn describe(&self, partition: usize, names: &[String]) -> String {
        let side = &self.partitions[partition].side;
        let group = |s: bool| -> Vec<&str> {
            names
                .iter()
                .zip(side)
                .filter(|(_, x)| **x == s)
                .map(|(n, _)| n.as_str())
                .collect()
        };
        format!(
            "{{{}}} | {{{}}}",
            group(true).join(", "),
            group(false).join(", ")
        )
    }
}

/// A batch as `n1→n2 #3 [p(1), p(2)]`.
pub(crate) fn batch(from: &str, to: &str, seq: u64, facts: &[WireFact]) -> String {
    format!("{from}→{to} #{seq} [{}]", trace::facts(facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_and_print() {
        assert_eq!(Faults::parse("all").unwrap(), Faults::all());
        assert_eq!(Faults::parse("none").unwrap(), Faults::none());
        let f = Faults::parse("drop, crash").unwrap();
        assert!(f.drop && f.crash && !f.dup);
        assert_eq!(f.to_string(), "drop,crash");
        assert_eq!(
            Faults::all().to_string(),
            "partition,drop,dup,reorder,crash,restart"
        );
        assert!(
            Faults::parse("fire")
                .unwrap_err()
                .contains("unknown fault `fire`")
        );
    }

    #[test]
    fn links_that_keep_order_deliver_in_order() {
        let names: Vec<String> = vec!["a".into(), "b".into()];
        let mut net = Net::new(2, Rng::new(3, 0), Faults::none(), Chaos::default());
        let mut trace = Trace::new(false);
        for seq in 1..=20 {
            net.transmit(
                Packet {
                    from: 0,
                    to: 1,
                    from_inc: 0,
                    to_inc: 0,
                    kind: Kind::Acks { seqs: vec![seq] },
                    bytes: Arc::new(Vec::new()),
                },
                &names,
                &mut trace,
            );
        }
        let mut seqs = Vec::new();
        while let Some(Ev::Arrive(p)) = net.next() {
            if let Kind::Acks { seqs: s } = p.kind {
                seqs.extend(s);
            }
        }
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    }
}
