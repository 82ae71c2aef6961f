//! Many seeds: run them (on several threads; each seed alone is single-threaded and
//! deterministic), group them by outcome, compare with `calm run`, and say what was found.

use crate::net::Stats;
use crate::sim::{NodeOutputs, Outcome, SeedRun, run_seed};
use crate::trace;
use crate::{AnalyzerVerdict, Setup};
use calm_engine::{Engine, Value};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Facts shown per relation in a difference.
const SHOWN_DIFF: usize = 12;
/// Outcome groups listed.
const SHOWN_OUTCOMES: usize = 5;

/// Seeds that reached one outcome.
#[derive(Clone, Debug)]
pub struct OutcomeGroup {
    /// The seeds, ascending.
    pub seeds: Vec<u64>,
    /// Every node's outputs.
    pub outputs: Vec<NodeOutputs>,
}

/// Facts of one relation at one node that two seeds disagree on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The node.
    pub node: String,
    /// The relation.
    pub relation: String,
    /// Facts only the first (majority) seed has.
    pub only_first: Vec<String>,
    /// Facts only the second (minority) seed has.
    pub only_second: Vec<String>,
}

/// Two seeds with different outcomes, and the trace of the second.
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// A seed of the most common outcome.
    pub first: u64,
    /// How many seeds share its outcome.
    pub first_count: usize,
    /// The seed with the shortest schedule among those that end otherwise.
    pub second: u64,
    /// How many seeds share its outcome.
    pub second_count: usize,
    /// The facts they disagree on.
    pub differences: Vec<Difference>,
    /// The schedule of `second`, event by event.
    pub trace: Vec<String>,
    /// Its hash.
    pub trace_hash: u64,
}

/// How the common outcome compares with `calm run` of all the facts at one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    /// Every node's outputs equal `calm run`'s.
    EveryNode,
    /// Not every node's, but the union of the nodes' outputs does.
    Union,
    /// Neither: the facts `calm run` has and no node has, and the other way round.
    Differs {
        /// In `calm run`'s outputs, at no node.
        missing: Vec<String>,
        /// At some node, not in `calm run`'s outputs.
        extra: Vec<String>,
    },
    /// `calm run` failed (a runtime error, no quiescence).
    Failed(String),
    /// No schedule quiesced, so there is nothing to compare.
    NotCompared,
}

/// What many seeds showed.
#[derive(Clone, Debug)]
pub struct Report {
    /// The program's file name.
    pub program: String,
    /// The node names.
    pub nodes: Vec<String>,
    /// The first seed.
    pub first_seed: u64,
    /// How many seeds ran.
    pub seeds: u64,
    /// The options' faults, inputs and so on, in words.
    pub setup_line: String,
    /// Input facts per node.
    pub placement: Vec<usize>,
    /// How many input facts were spread by the placement seed.
    pub spread: usize,
    /// The placement seed.
    pub placement_seed: u64,
    /// What the analyzer says.
    pub analyzer: AnalyzerVerdict,
    /// The outcomes of the schedules that quiesced, the most common first.
    pub outcomes: Vec<OutcomeGroup>,
    /// The seeds that did not quiesce, and why.
    pub not_quiesced: Vec<(u64, String)>,
    /// When outcomes differ: seeds run, in order, until the first that disagreed with the
    /// first seed.
    pub caught_after: Option<u64>,
    /// When outcomes differ: two seeds and the trace of the less common outcome.
    pub counterexample: Option<Counterexample>,
    /// `calm run` against the most common outcome.
    pub reference: Reference,
    /// A seed whose rerun gave a different trace hash (a determinism bug in the simulator),
    /// with the two hashes.
    pub nondeterministic: Option<(u64, u64, u64)>,
    /// Counts, summed over the seeds.
    pub stats: Stats,
    /// Wall-clock time of the runs.
    pub elapsed: Duration,
}

/// Runs seeds `first_seed ..` (`seeds` of them) on `jobs` threads, calling `progress` after each
/// (on the calling thread), and reports.
pub fn check(
    setup: &Setup,
    first_seed: u64,
    seeds: u64,
    jobs: usize,
    progress: &dyn Fn(&SeedRun),
) -> Report {
    let started = Instant::now();
    let jobs = jobs.clamp(1, seeds.clamp(1, 64) as usize);
    let next = AtomicU64::new(0);
    let mut groups: BTreeMap<Outcome, Vec<u64>> = BTreeMap::new();
    let mut not_quiesced = Vec::new();
    // Per seed: the trace hash and the number of events (to pick a short counterexample).
    let mut hashes: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut stats = Stats::default();
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<SeedRun>();
        for _ in 0..jobs {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= seeds {
                        return;
                    }
                    let run = run_seed(setup, first_seed.wrapping_add(k), false);
                    if tx.send(run).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        for run in rx {
            progress(&run);
            stats.add(&run.stats);
            hashes.insert(run.seed, (run.trace_hash, run.stats.events));
            match run.outcome {
                Outcome::NoQuiescence(why) => not_quiesced.push((run.seed, why)),
                o => groups.entry(o).or_default().push(run.seed),
            }
        }
    });
    let elapsed = started.elapsed();
    not_quiesced.sort();
    let mut outcomes: Vec<OutcomeGroup> = groups
        .into_iter()
        .map(|(o, mut seeds)| {
            seeds.sort_unstable();
            let Outcome::Quiesced(outputs) = o else {
                unreachable!("only quiesced outcomes are grouped")
            };
            OutcomeGroup { seeds, outputs }
        })
        .collect();
    outcomes.sort_by_key(|g| (std::cmp::Reverse(g.seeds.len()), g.seeds[0]));
    // Determinism: the first seed again, with its trace kept, must hash the same.
    let mut nondeterministic = None;
    if seeds > 0 {
        let again = run_seed(setup, first_seed, true);
        let before = hashes[&first_seed].0;
        if again.trace_hash != before {
            nondeterministic = Some((first_seed, before, again.trace_hash));
        }
    }
    let mut caught_after = None;
    let mut counterexample = None;
    if outcomes.len() > 1 {
        // In the order seeds ran: by offset from the first (seeds may wrap around).
        let offset = |s: u64| s.wrapping_sub(first_seed);
        let firsts: Vec<u64> = outcomes
            .iter()
            .map(|g| g.seeds.iter().map(|&s| offset(s)).min().unwrap_or(0))
            .collect();
        let baseline = firsts.iter().copied().min().unwrap_or(0);
        let other = firsts
            .iter()
            .copied()
            .filter(|&f| f != baseline)
            .min()
            .unwrap_or(baseline);
        caught_after = Some(other + 1);
        // The most common outcome against the shortest schedule that ends otherwise.
        let a = &outcomes[0];
        let (b, second) = outcomes[1..]
            .iter()
            .flat_map(|g| g.seeds.iter().map(move |s| (g, *s)))
            .min_by_key(|(_, s)| (hashes[s].1, *s))
            .expect("a second outcome");
        let replay = run_seed(setup, second, true);
        if replay.trace_hash != hashes[&second].0 && nondeterministic.is_none() {
            nondeterministic = Some((second, hashes[&second].0, replay.trace_hash));
        }
        counterexample = Some(Counterexample {
            first: a.seeds[0],
            first_count: a.seeds.len(),
            second,
            second_count: b.seeds.len(),
            differences: differences(&setup.names, &a.outputs, &b.outputs),
            trace: replay.trace,
            trace_hash: replay.trace_hash,
        });
    }
    let reference = match outcomes.first() {
        None => Reference::NotCompared,
        Some(g) => match reference_outputs(setup) {
            Ok(r) => compare_reference(&g.outputs, &r),
            Err(e) => Reference::Failed(e),
        },
    };
    let o = &setup.options;
    Report {
        program: setup.name.clone(),
        nodes: setup.names.clone(),
        first_seed,
        seeds,
        setup_line: format!(
            "{} nodes, faults {}, input facts as {}",
            setup.names.len(),
            o.faults,
            o.inputs.as_str()
        ),
        placement: setup.placement.counts(),
        spread: setup.placement.spread,
        placement_seed: o.placement_seed,
        analyzer: setup.analyzer.clone(),
        outcomes,
        not_quiesced,
        caught_after,
        counterexample,
        reference,
        nondeterministic,
        stats,
        elapsed,
    }
}

/// The outputs of `calm run` with all the input facts at one node.
pub fn reference_outputs(setup: &Setup) -> Result<NodeOutputs, String> {
    let render = |e: calm_engine::EngineError| {
        calm_syntax::render_all(&[e.diagnostic()], setup.program.sources())
            .trim_end()
            .to_string()
    };
    let mut engine = Engine::new(&setup.program);
    for (rel, tuples) in &setup.facts {
        engine.insert(rel, tuples.clone()).map_err(render)?;
    }
    engine.run().map_err(render)?;
    setup
        .relations
        .iter()
        .map(|r| Ok((r.clone(), engine.relation(r).map_err(render)?)))
        .collect()
}

fn facts_of(outputs: &NodeOutputs) -> BTreeSet<(String, Vec<Value>)> {
    outputs
        .iter()
        .flat_map(|(r, ts)| ts.iter().map(move |t| (r.clone(), t.clone())))
        .collect()
}

fn compare_reference(nodes: &[NodeOutputs], reference: &NodeOutputs) -> Reference {
    if nodes.iter().all(|n| n == reference) {
        return Reference::EveryNode;
    }
    let union: BTreeSet<(String, Vec<Value>)> = nodes.iter().flat_map(facts_of).collect();
    let want = facts_of(reference);
    if union == want {
        return Reference::Union;
    }
    let show = |s: Vec<&(String, Vec<Value>)>| -> Vec<String> {
        s.into_iter().map(|(r, t)| trace::tuple(r, t)).collect()
    };
    Reference::Differs {
        missing: show(want.difference(&union).collect()),
        extra: show(union.difference(&want).collect()),
    }
}

fn differences(names: &[String], a: &[NodeOutputs], b: &[NodeOutputs]) -> Vec<Difference> {
    let mut out = Vec::new();
    for (k, (na, nb)) in a.iter().zip(b).enumerate() {
        for (rel, ta) in na {
            let tb = nb.get(rel).map(Vec::as_slice).unwrap_or_default();
            if ta.as_slice() == tb {
                continue;
            }
            let sa: BTreeSet<&Vec<Value>> = ta.iter().collect();
            let sb: BTreeSet<&Vec<Value>> = tb.iter().collect();
            out.push(Difference {
                node: names[k].clone(),
                relation: rel.clone(),
                only_first: sa.difference(&sb).map(|t| trace::tuple(rel, t)).collect(),
                only_second: sb.difference(&sa).map(|t| trace::tuple(rel, t)).collect(),
            });
        }
    }
    out
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "nothing".to_string();
    }
    let mut s = items
        .iter()
        .take(SHOWN_DIFF)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN_DIFF {
        let _ = write!(s, ", … {} more", items.len() - SHOWN_DIFF);
    }
    s
}

fn seed_list(seeds: &[u64]) -> String {
    let shown: Vec<String> = seeds.iter().take(8).map(u64::to_string).collect();
    if seeds.len() > 8 {
        format!("{}, …", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// `1,234,567`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Report {
    /// Every schedule quiesced, all with the same outcome.
    pub fn confluent(&self) -> bool {
        self.outcomes.len() == 1 && self.not_quiesced.is_empty()
    }

    /// Two schedules that quiesced reached different outcomes.
    pub fn diverged(&self) -> bool {
        self.outcomes.len() > 1
    }

    /// The analyzer calls the program coordination-free but schedules diverged: a bug in calm.
    pub fn disagreement(&self) -> bool {
        self.analyzer.coordination_free && self.diverged()
    }

    /// Schedules that quiesced.
    pub fn schedules(&self) -> usize {
        self.outcomes.iter().map(|g| g.seeds.len()).sum()
    }

    /// Seeds per second of wall-clock time.
    pub fn seeds_per_second(&self) -> f64 {
        self.seeds as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The simulator's verdict in words.
    pub fn verdict(&self) -> String {
        let k = self.schedules();
        let mut v = if self.outcomes.is_empty() {
            "no schedule quiesced".to_string()
        } else if self.diverged() {
            format!(
                "DIVERGED: {} different outcomes over {} schedules",
                self.outcomes.len(),
                thousands(k as u64)
            )
        } else {
            format!("confluent across {} schedules", thousands(k as u64))
        };
        if !self.not_quiesced.is_empty() && !self.outcomes.is_empty() {
            let _ = write!(
                v,
                "; {} did not quiesce",
                thousands(self.not_quiesced.len() as u64)
            );
        }
        v
    }

    /// The report for people.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let last = self.first_seed.wrapping_add(self.seeds.saturating_sub(1));
        let _ = writeln!(
            s,
            "calm sim {}: {}, seeds {}..={last}",
            self.program, self.setup_line, self.first_seed
        );
        let placed: Vec<String> = self
            .nodes
            .iter()
            .zip(&self.placement)
            .map(|(n, c)| format!("{n} {}", trace::count(*c, "fact")))
            .collect();
        let _ = writeln!(
            s,
            "placement: {} ({} spread by placement seed {})",
            placed.join(", "),
            self.spread,
            self.placement_seed
        );
        let _ = writeln!(s, "analyzer:  {}", self.analyzer.verdict);
        let _ = writeln!(s, "simulator: {}", self.verdict());
        if self.diverged() {
            for (i, g) in self.outcomes.iter().enumerate().take(SHOWN_OUTCOMES) {
                let _ = writeln!(
                    s,
                    "  outcome {}: {} (seeds {})",
                    i + 1,
                    trace::count(g.seeds.len(), "schedule"),
                    seed_list(&g.seeds)
                );
            }
            if self.outcomes.len() > SHOWN_OUTCOMES {
                let rest = &self.outcomes[SHOWN_OUTCOMES..];
                let _ = writeln!(
                    s,
                    "  … {} more outcomes, {}",
                    rest.len(),
                    trace::count(rest.iter().map(|g| g.seeds.len()).sum(), "schedule")
                );
            }
            if let Some(n) = self.caught_after {
                let _ = writeln!(
                    s,
                    "  caught after {}: the first seed that disagrees with seed {} is seed {}",
                    trace::count(n as usize, "seed"),
                    self.first_seed,
                    self.first_seed.wrapping_add(n - 1)
                );
            }
        }
        if let Some((seed, why)) = self.not_quiesced.first() {
            let seeds: Vec<u64> = self.not_quiesced.iter().map(|(s, _)| *s).collect();
            let _ = writeln!(
                s,
                "  did not quiesce: seeds {} (seed {seed}: {why})",
                seed_list(&seeds)
            );
        }
        let _ = match &self.reference {
            Reference::EveryNode => writeln!(
                s,
                "calm run:  every node's outputs equal `calm run` with all the facts at one node"
            ),
            Reference::Union => writeln!(
                s,
                "calm run:  the nodes' outputs together equal `calm run` with all the facts at one node"
            ),
            Reference::Differs { missing, extra } => writeln!(
                s,
                "calm run:  differs from `calm run` with all the facts at one node (a placement- or $self-dependent program?)\n  only in calm run: {}\n  only in the cluster: {}",
                list(missing),
                list(extra)
            ),
            Reference::Failed(e) => writeln!(s, "calm run:  failed: {e}"),
            Reference::NotCompared => writeln!(s, "calm run:  not compared (no schedule quiesced)"),
        };
        let st = &self.stats;
        let stores = if st.commits > 0 || st.recoveries > 0 {
            format!(
                "; {} commits to stores, {} restarts from a store ({} steps replayed)",
                thousands(st.commits),
                thousands(st.recoveries),
                thousands(st.replayed)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "{} seeds in {:.2} s: {:.0} seeds/s; {} ticks, {} batches ({} dropped, {} duplicated, {} resent, {} lost), {} crashes, {} partitions{stores}",
            thousands(self.seeds),
            self.elapsed.as_secs_f64(),
            self.seeds_per_second(),
            thousands(st.ticks),
            thousands(st.batches),
            thousands(st.dropped),
            thousands(st.duplicated),
            thousands(st.retransmitted),
            thousands(st.lost),
            thousands(st.crashes),
            thousands(st.partitions)
        );
        if let Some(c) = &self.counterexample {
            let _ = writeln!(
                s,
                "\ncounterexample: seed {} ({}) and seed {} ({}) end differently:",
                c.first,
                trace::count(c.first_count, "schedule"),
                c.second,
                trace::count(c.second_count, "schedule")
            );
            for d in &c.differences {
                let _ = writeln!(
                    s,
                    "  {} {}: with seed {} only {}; with seed {} only {}",
                    d.node,
                    d.relation,
                    c.first,
                    list(&d.only_first),
                    c.second,
                    list(&d.only_second)
                );
            }
            let _ = writeln!(
                s,
                "\nschedule of seed {} (the shortest that ends otherwise than seed {}; trace hash {:016x}; rerun it with --replay {}):",
                c.second, c.first, c.trace_hash, c.second
            );
            for line in &c.trace {
                let _ = writeln!(s, "  {line}");
            }
        }
        if let Some((seed, a, b)) = self.nondeterministic {
            let _ = writeln!(
                s,
                "\nerror: BUG IN CALM SIM: seed {seed} ran twice with different traces ({a:016x}, {b:016x}); a seed must name one schedule"
            );
        }
        if self.disagreement() {
            let c = self.counterexample.as_ref();
            let _ = writeln!(
                s,
                "\nerror: BUG IN CALM: the analyzer says `{}` is coordination-free, but the simulator found schedules that end differently (seeds {} and {}). A coordination-free program must reach the same outcome under every schedule: the analyzer or the node code is wrong. Please report this with the trace above.",
                self.program,
                c.map_or(0, |c| c.first),
                c.map_or(0, |c| c.second)
            );
        } else if !self.analyzer.coordination_free && self.confluent() {
            let _ = writeln!(
                s,
                "note: the analyzer's warning was not borne out in {} schedules: the program may be order-dependent only under schedules not tried, or the analysis conservative here",
                thousands(self.schedules() as u64)
            );
        }
        s
    }

    /// The report for tools.
    pub fn to_json(&self) -> Json {
        let reference = match &self.reference {
            Reference::EveryNode => json!({"status": "every-node"}),
            Reference::Union => json!({"status": "union"}),
            Reference::Differs { missing, extra } => {
                json!({"status": "differs", "missing": missing, "extra": extra})
            }
            Reference::Failed(e) => json!({"status": "failed", "error": e}),
            Reference::NotCompared => json!({"status": "not-compared"}),
        };
        let verdict = if self.outcomes.is_empty() {
            "no-quiescence"
        } else if self.diverged() {
            "diverged"
        } else {
            "confluent"
        };
        let counterexample = self.counterexample.as_ref().map(|c| {
            json!({
                "seeds": [c.first, c.second],
                "counts": [c.first_count, c.second_count],
                "differences": c.differences.iter().map(|d| json!({
                    "node": d.node,
                    "relation": d.relation,
                    "only_first": d.only_first,
                    "only_second": d.only_second,
                })).collect::<Vec<_>>(),
                "trace": c.trace,
                "trace_hash": format!("{:016x}", c.trace_hash),
            })
        });
        let st = &self.stats;
        json!({
            "program": self.program,
            "nodes": self.nodes,
            "first_seed": self.first_seed,
            "seeds": self.seeds,
            "setup": self.setup_line,
            "placement": self.nodes.iter().zip(&self.placement)
                .map(|(n, c)| (n.clone(), json!(c))).collect::<serde_json::Map<_, _>>(),
            "analyzer": {
                "coordination_free": self.analyzer.coordination_free,
                "verdict": self.analyzer.verdict,
            },
            "verdict": verdict,
            "summary": self.verdict(),
            "schedules": self.schedules(),
            "outcomes": self.outcomes.iter().map(|g| json!({
                "count": g.seeds.len(),
                "seeds": g.seeds,
            })).collect::<Vec<_>>(),
            "not_quiesced": self.not_quiesced.iter()
                .map(|(s, why)| json!({"seed": s, "reason": why})).collect::<Vec<_>>(),
            "caught_after": self.caught_after,
            "counterexample": counterexample,
            "reference": reference,
            "disagreement": self.disagreement(),
            "deterministic": self.nondeterministic.is_none(),
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "seeds_per_second": self.seeds_per_second(),
            "stats": {
                "ticks": st.ticks,
                "batches": st.batches,
                "facts": st.facts,
                "dropped": st.dropped,
                "duplicated": st.duplicated,
                "retransmitted": st.retransmitted,
                "lost": st.lost,
                "crashes": st.crashes,
                "partitions": st.partitions,
                "commits": st.commits,
                "recoveries": st.recoveries,
                "replayed": st.replayed,
                "events": st.events,
            },
        })
    }
}

/// One seed's outcome in words: each node's relations.
pub fn render_outcome(names: &[String], outcome: &Outcome) -> String {
    match outcome {
        Outcome::NoQuiescence(why) => format!("did not quiesce: {why}\n"),
        Outcome::Quiesced(nodes) => {
            let mut s = String::new();
            for (name, outputs) in names.iter().zip(nodes) {
                for (rel, tuples) in outputs {
                    let shown: Vec<String> = tuples.iter().map(|t| trace::tuple(rel, t)).collect();
                    let _ = writeln!(s, "{name} {rel}: {}", list(&shown));
                }
            }
            s
        }
    }
}

/// One seed's outcome for tools.
pub fn outcome_json(names: &[String], outcome: &Outcome) -> Json {
    match outcome {
        Outcome::NoQuiescence(why) => json!({"quiesced": false, "reason": why}),
        Outcome::Quiesced(nodes) => {
            let per: serde_json::Map<String, Json> = names
                .iter()
                .zip(nodes)
                .map(|(name, outputs)| {
                    let rels: serde_json::Map<String, Json> = outputs
                        .iter()
                        .map(|(r, ts)| {
                            let rows: Vec<Json> = ts
                                .iter()
                                .map(|t| {
                                    Json::Array(
                                        t.iter()
                                            .map(|v| match v {
                                                Value::Number(n) => json!(n),
                                                Value::Symbol(s) => json!(s),
                                                other => json!(other.to_string()),
                                            })
                                            .collect(),
                                    )
                                })
                                .collect();
                            (r.clone(), Json::Array(rows))
                        })
                        .collect();
                    (name.clone(), Json::Object(rels))
                })
                .collect();
            json!({"quiesced": true, "nodes": per})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
