//! The node's logic without I/O: a relational transducer step. Inputs (client facts, peer
//! batches, timer rounds) go in; one engine tick runs; what to send to which peer and which
//! batches to acknowledge come out. The tokio runtime ([`crate::start`]) and a simulator drive
//! the same `NodeCore`, through the same [`crate::stepper::Stepper`] (which adds durability), so
//! they run the same code.

use crate::limits::{Limits, check_fact};
use crate::sent::SentFacts;
use crate::wire::{WireFact, WireValue, split_batches};
use calm_engine::{Engine, Program, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Something that happened since the last step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Facts from a client, already checked with [`NodeCore::check`].
    Insert(Vec<(String, Vec<Value>)>),
    /// A batch from a peer.
    Peer {
        /// The sender.
        from: String,
        /// The batch's sequence number (acknowledged after this step).
        seq: u64,
        /// The facts; invalid ones are refused and counted.
        facts: Vec<WireFact>,
    },
    /// The peer restarted (a new incarnation): everything sent to it before is sent again.
    PeerRestarted(String),
    /// A timer fired: `relation(round)` (or `relation()` for a zero-column relation).
    Timer {
        /// The timer's relation.
        relation: String,
        /// How many times it fired before.
        round: i64,
    },
}

/// What a step did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// `None` if no tick ran (nothing arrived and nothing was pending); otherwise the tick
    /// number after it, or the runtime error that abandoned it (the state is as before).
    pub tick: Option<Result<u64, String>>,
    /// Batches to send reliably, in order.
    pub sends: Vec<(String, Vec<WireFact>)>,
    /// Peer batches to acknowledge.
    pub acks: Vec<(String, u64)>,
    /// Facts taken from clients.
    pub inserted: u64,
    /// Facts taken from peers (valid or not).
    pub received: u64,
    /// Facts refused as invalid.
    pub rejected: Vec<(String, String)>,
    /// Facts for nodes that are not members, by destination.
    pub undeliverable: BTreeMap<String, u64>,
    /// New facts sent (not counting those sent again to a restarted peer).
    pub sent: u64,
    /// Peer batches delivered again and therefore not ingested.
    pub duplicates: u64,
}

/// A node's state between steps, as values: see [`NodeCore::snapshot`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreSnapshot {
    /// The engine's state between ticks.
    pub engine: calm_engine::EngineSnapshot,
    /// Everything sent to each peer.
    pub history: BTreeMap<String, Vec<WireFact>>,
    /// Whether the node ticks again without input.
    pub busy: bool,
    /// The batches processed from each peer's current incarnation: every sequence number
    /// below the first, and the listed ones above it.
    pub processed: BTreeMap<String, (u64, Vec<u64>)>,
}

/// The sequence numbers of the batches processed from one peer. A batch delivered again (the
/// links deliver at least once) is acknowledged but not ingested a second time: a program that
/// deletes (compaction, `@next` persistence with a negated condition) could otherwise bring back
/// a fact it removed in between.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Processed {
    /// Every sequence number below this was processed.
    below: u64,
    /// Processed sequence numbers at or above `below`.
    above: BTreeSet<u64>,
}

impl Processed {
    /// Records `seq`; `false` if it was processed before.
    fn insert(&mut self, seq: u64) -> bool {
        if seq < self.below || !self.above.insert(seq) {
            return false;
        }
        while self.above.remove(&self.below) {
            self.below += 1;
        }
        true
    }
}

/// Why `program` cannot run on a node, if it cannot: a node sends, stores and serves facts as
/// numbers and symbols (its wire format, store and HTTP API), so a program with record types
/// or algebraic data types, or with `unsigned` or `float` columns, is refused (`calm run` runs
/// it). The diagnostic points at the first such type or relation.
pub fn unsupported(program: &Program) -> Option<calm_syntax::Diagnostic> {
    let note = "a node sends, stores and serves facts of numbers and symbols; `calm run` \
                runs this program";
    if let Some(r) = program.ir().records.first() {
        let what = if r.adt {
            "algebraic data types are"
        } else {
            "record types are"
        };
        return Some(
            calm_syntax::Diagnostic::error(format!("{what} not supported by `calm node`"))
                .with_code("E0700")
                .with_primary(
                    program.file(),
                    r.span,
                    format!("`{}` declared here", r.name),
                )
                .with_note(note),
        );
    }
    let (rel, ty) = program.ir().relations.iter().find_map(|r| {
        r.types
            .iter()
            .find(|t| matches!(t, calm_ir::Type::Unsigned | calm_ir::Type::Float))
            .map(|t| (r, *t))
    })?;
    Some(
        calm_syntax::Diagnostic::error(format!(
            "{} columns are not supported by `calm node`",
            ty.as_str()
        ))
        .with_code("E0700")
        .with_primary(
            program.file(),
            rel.span,
            format!(
                "`{}` has {} {} column",
                rel.name,
                if ty == calm_ir::Type::Unsigned {
                    "an"
                } else {
                    "a"
                },
                ty.as_str()
            ),
        )
        .with_note(note),
    )
}

/// A node's state and logic.
pub struct NodeCore {
    engine: Engine,
    /// This node's name.
    name: String,
    limits: Limits,
    peers: BTreeSet<String>,
    /// Everything sent to each peer, to send again if it restarts and lost its state.
    history: BTreeMap<String, SentFacts>,
    /// The last tick did not reach a fixpoint over time: tick again even without input.
    busy: bool,
    /// Batches already processed, per peer (see [`Processed`]).
    processed: BTreeMap<String, Processed>,
}

impl NodeCore {
    /// A node called `name` whose cluster is itself and `peers`.
    pub fn new(program: &Program, name: &str, peers: &[String], limits: Limits) -> Self {
        let mut members = peers.to_vec();
        members.push(name.to_string());
        let mut engine = Engine::new(program);
        engine.set_node(name, &members);
        NodeCore {
            engine,
            name: name.to_string(),
            limits,
            peers: peers.iter().cloned().collect(),
            history: BTreeMap::new(),
            // Tick 0 runs without waiting for input: it derives from the program's own facts.
            busy: true,
            processed: BTreeMap::new(),
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The other members, in order.
    pub fn peers(&self) -> impl Iterator<Item = &str> {
        self.peers.iter().map(String::as_str)
    }

    /// Whether the node should tick again even if nothing arrives.
    pub fn busy(&self) -> bool {
        self.busy
    }

    /// The engine, for reading relations.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Keeps an index of `relation` on the columns `cols`, so that reads with equality filters
    /// on them are lookups (see [`Engine::index_on`]); changes nothing the node computes.
    pub fn index_on(&mut self, relation: &str, cols: &[usize]) {
        let _ = self.engine.index_on(relation, cols);
    }

    /// Adds facts as the node's own input, as `.input` files are read by `calm run` (see
    /// [`Engine::insert`]): before the first tick they hold at every tick, or are the initial
    /// state of a relation with state over time. The simulator places input facts this way.
    pub fn load(
        &mut self,
        relation: &str,
        tuples: Vec<Vec<Value>>,
    ) -> Result<(), calm_engine::EngineError> {
        self.engine.insert(relation, tuples)
    }

    /// The node's state between steps: the engine's carried state, the per-peer history of
    /// facts sent, and whether it is busy. With the inputs of the steps after it, a snapshot
    /// determines the node's state exactly (see [`NodeCore::restore`]).
    pub fn snapshot(&self) -> CoreSnapshot {
        CoreSnapshot {
            engine: self.engine.snapshot(),
            history: self
                .history
                .iter()
                .map(|(p, h)| (p.clone(), h.iter().collect()))
                .collect(),
            busy: self.busy,
            processed: self
                .processed
                .iter()
                .map(|(p, s)| (p.clone(), (s.below, s.above.iter().copied().collect())))
                .collect(),
        }
    }

    /// Puts the node back in the state of `snapshot` (of a node of the same program, name and
    /// members). Until the next tick, relations read empty.
    pub fn restore(&mut self, snapshot: &CoreSnapshot) -> Result<(), calm_engine::EngineError> {
        self.engine.restore(&snapshot.engine)?;
        self.history = snapshot
            .history
            .iter()
            .map(|(p, h)| {
                let mut sent = SentFacts::default();
                for f in h {
                    sent.insert(f);
                }
                (p.clone(), sent)
            })
            .collect();
        self.busy = snapshot.busy;
        self.processed = snapshot
            .processed
            .iter()
            .map(|(p, (below, above))| {
                (
                    p.clone(),
                    Processed {
                        below: *below,
                        above: above.iter().copied().collect(),
                    },
                )
            })
            .collect();
        Ok(())
    }

    /// Everything ever sent to `peer`, in batches (`crate::wire::split_batches`): what
    /// a peer that restarted without its state is sent again, and what the runtime sends again
    /// to a peer whose backlog went over its budget (see `Limits::peer_outbox_bytes`).
    pub fn history_batches(&self, peer: &str) -> Vec<Vec<WireFact>> {
        let Some(h) = self.history.get(peer) else {
            return Vec::new();
        };
        let all: Vec<WireFact> = h.iter().collect();
        split_batches(&all)
    }

    /// How many facts were sent to `peer`, and the bytes that record of them takes.
    pub fn history_size(&self, peer: &str) -> (usize, usize) {
        self.history
            .get(peer)
            .map_or((0, 0), |h| (h.len(), h.heap_bytes()))
    }

    /// Checks a client fact against the program and the limits.
    pub fn check(&self, relation: &str, tuple: &[Value]) -> Result<(), String> {
        check_fact(self.engine.program(), &self.limits, relation, tuple)
    }

    /// Ingests `inputs` as one unordered batch, runs a tick if there is anything to do, and
    /// says what to send.
    pub fn step(&mut self, inputs: Vec<Input>) -> Output {
        let mut out = Output::default();
        let mut arrivals: Vec<(String, Vec<Value>)> = Vec::new();
        for input in inputs {
            match input {
                Input::Insert(facts) => {
                    out.inserted += facts.len() as u64;
                    arrivals.extend(facts);
                }
                Input::Peer { from, seq, facts } => {
                    out.received += facts.len() as u64;
                    if !self.processed.entry(from.clone()).or_default().insert(seq) {
                        // Delivered again: acknowledged, not ingested twice.
                        out.duplicates += 1;
                        out.acks.push((from, seq));
                        continue;
                    }
                    for f in facts {
                        let tuple: Vec<Value> = f.tuple.into_iter().map(Value::from).collect();
                        match self.check(&f.relation, &tuple) {
                            Ok(()) => arrivals.push((f.relation, tuple)),
                            Err(e) => out.rejected.push((from.clone(), e)),
                        }
                    }
                    out.acks.push((from, seq));
                }
                Input::PeerRestarted(peer) => {
                    // Its new incarnation numbers its batches afresh.
                    self.processed.remove(&peer);
                    for batch in self.history_batches(&peer) {
                        out.sends.push((peer.clone(), batch));
                    }
                }
                Input::Timer { relation, round } => {
                    let ir = self.engine.program().ir();
                    let arity = ir.relation(&relation).map_or(0, |r| ir.relations[r].arity);
                    let tuple = if arity == 1 {
                        vec![Value::Number(round)]
                    } else {
                        Vec::new()
                    };
                    arrivals.push((relation, tuple));
                }
            }
        }
        if arrivals.is_empty() && !self.busy {
            return out;
        }
        let result = self.engine.tick(&arrivals);
        let ticked = match result {
            Ok(t) => t,
            Err(e) => {
                self.busy = false;
                out.tick = Some(Err(e.to_string()));
                return out;
            }
        };
        self.busy = !ticked.quiescent;
        // Send new facts only, one batch per destination.
        let mut per_dest: BTreeMap<String, Vec<WireFact>> = BTreeMap::new();
        for m in ticked.sent {
            if !self.peers.contains(&m.dest) {
                *out.undeliverable.entry(m.dest).or_default() += 1;
                continue;
            }
            let fact = WireFact {
                relation: m.relation,
                tuple: m.tuple.iter().map(WireValue::from).collect(),
            };
            if self
                .history
                .entry(m.dest.clone())
                .or_default()
                .insert(&fact)
            {
                per_dest.entry(m.dest).or_default().push(fact);
            }
        }
        for (dest, facts) in per_dest {
            out.sent += facts.len() as u64;
            for batch in split_batches(&facts) {
                out.sends.push((dest.clone(), batch));
            }
        }
        out.tick = Some(Ok(self.engine.ticks()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processed_sequence_numbers_compact_into_a_prefix() {
        let mut p = Processed::default();
        assert!(p.insert(1));
        assert!(p.insert(0));
        assert_eq!((p.below, p.above.len()), (2, 0));
        assert!(p.insert(5));
        assert!(!p.insert(5));
        assert!(!p.insert(1));
        assert_eq!((p.below, p.above.len()), (2, 1));
    }

    fn sym(s: &str) -> Value {
        Value::Symbol(s.into())
    }

    #[test]
    fn a_step_sends_new_facts_once_and_acknowledges_batches() {
        let p = Program::compile(
            "p.dl",
            ".decl src(x: symbol)\n.persist got\ngot(x) :- msg(_, x).\nmsg(@n, x)@async :- src(x), $member(n).\n",
        )
        .unwrap();
        let mut core = NodeCore::new(&p, "a", &["b".to_string()], Limits::default());
        let out = core.step(vec![Input::Insert(vec![("src".into(), vec![sym("x")])])]);
        assert_eq!(out.tick, Some(Ok(1)));
        assert_eq!(out.sends.len(), 1);
        assert_eq!(out.sends[0].0, "b");
        // Derived again later: not sent again.
        let out = core.step(vec![Input::Insert(vec![("src".into(), vec![sym("x")])])]);
        assert!(out.sends.is_empty());
        // A peer batch is ingested and acknowledged; a bad fact in it is refused, not fatal.
        let facts = vec![
            WireFact {
                relation: "msg".into(),
                tuple: vec![WireValue::Symbol("a".into()), WireValue::Symbol("y".into())],
            },
            WireFact {
                relation: "nope".into(),
                tuple: vec![],
            },
        ];
        let out = core.step(vec![Input::Peer {
            from: "b".into(),
            seq: 4,
            facts,
        }]);
        assert_eq!(out.acks, vec![("b".to_string(), 4)]);
        assert_eq!(out.rejected.len(), 1);
        while core.busy() {
            core.step(vec![]);
        }
        let got = core.engine().relation("got").unwrap();
        assert_eq!(got, vec![vec![sym("x")], vec![sym("y")]]);
        // The same batch delivered again is acknowledged, not ingested twice.
        let again = core.step(vec![Input::Peer {
            from: "b".into(),
            seq: 4,
            facts: vec![WireFact {
                relation: "msg".into(),
                tuple: vec![WireValue::Symbol("a".into()), WireValue::Symbol("z".into())],
            }],
        }]);
        assert_eq!(again.acks, vec![("b".to_string(), 4)]);
        assert_eq!(again.duplicates, 1);
        while core.busy() {
            core.step(vec![]);
        }
        assert_eq!(core.engine().relation("got").unwrap().len(), 2);
        // A restarted peer gets everything again.
        let out = core.step(vec![Input::PeerRestarted("b".into())]);
        assert_eq!(out.sends.len(), 1);
        assert_eq!(out.tick, None);
        // ... and numbers its batches afresh: seq 4 of the new incarnation is new.
        let out = core.step(vec![Input::Peer {
            from: "b".into(),
            seq: 4,
            facts: vec![],
        }]);
        assert_eq!(out.duplicates, 0);
    }
}
