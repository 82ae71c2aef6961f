//! Property: random monotone programs (no negation or aggregation over asynchronous input) are
//! confluent on random seeds with every fault on, and the analyzer agrees they need no
//! coordination. And a seed is deterministic on any such program.

use calm_engine::{Program, Value};
use calm_sim::{Facts, Options, Setup, check, run_seed};
use proptest::prelude::*;

/// A rule body template over binary relations of numbers.
#[derive(Clone, Debug)]
enum Body {
    /// `h(a, b) :- x(a, b).`
    Copy(usize),
    /// `h(b, a) :- x(a, b).`
    Swap(usize),
    /// `h(a, c) :- x(a, b), y(b, c).`
    Join(usize, usize),
    /// `h(a, b) :- x(a, b), a < b.`
    Less(usize),
    /// `h(a, b) :- x(a, b), !e(a, b).` with `e` a local input relation.
    NotInput(usize, usize),
    /// `h(a, b) :- x(a, b), b = a + 1.` (stays finite: values are bounded by the facts)
    Succ(usize),
}

/// A program: `inputs` input relations `e0..`, then derived relations `r0..` (one rule each,
/// reading any relation before it or itself), and `shared` relations `s0..` that gossip a
/// relation to every member and are read back.
#[derive(Clone, Debug)]
struct Spec {
    inputs: usize,
    rules: Vec<Body>,
    /// (relation gossiped as an index into all relations, rule reading it back into `r`).
    gossip: Vec<(usize, usize)>,
    facts: Vec<(usize, i64, i64)>,
}

fn rel_name(inputs: usize, k: usize) -> String {
    if k < inputs {
        format!("e{k}")
    } else {
        format!("r{}", k - inputs)
    }
}

impl Spec {
    fn text(&self) -> String {
        let mut t = String::new();
        let total = self.inputs + self.rules.len();
        for k in 0..total {
            t.push_str(&format!(
                ".decl {}(a: number, b: number)\n",
                rel_name(self.inputs, k)
            ));
        }
        for k in 0..self.inputs {
            t.push_str(&format!(".input e{k}\n"));
        }
        for (g, &(src, dst)) in self.gossip.iter().enumerate() {
            let src = rel_name(self.inputs, src % total);
            t.push_str(&format!(
                ".decl s{g}(at: symbol, a: number, b: number)\n.persist s{g}\n\
                 s{g}(@n, a, b)@async :- {src}(a, b), $member(n).\n"
            ));
            let dst = self.inputs + dst % self.rules.len();
            t.push_str(&format!(
                "{}(a, b) :- s{g}(_, a, b).\n",
                rel_name(self.inputs, dst)
            ));
        }
        for (i, body) in self.rules.iter().enumerate() {
            let k = self.inputs + i;
            let h = rel_name(self.inputs, k);
            // Bodies read relations up to and including the head (recursion is fine).
            let r = |x: usize| rel_name(self.inputs, x % (k + 1));
            let e = |x: usize| rel_name(self.inputs, x % self.inputs);
            let rule = match body {
                Body::Copy(x) => format!("{h}(a, b) :- {}(a, b).", r(*x)),
                Body::Swap(x) => format!("{h}(b, a) :- {}(a, b).", r(*x)),
                Body::Join(x, y) => format!("{h}(a, c) :- {}(a, b), {}(b, c).", r(*x), r(*y)),
                Body::Less(x) => format!("{h}(a, b) :- {}(a, b), a < b.", r(*x)),
                Body::NotInput(x, y) => {
                    format!("{h}(a, b) :- {}(a, b), !{}(a, b).", r(*x), e(*y))
                }
                Body::Succ(x) => format!("{h}(a, b) :- {}(a, b0), b = b0 + 1, b < 6.", r(*x)),
            };
            t.push_str(&rule);
            t.push('\n');
        }
        t
    }

    fn facts(&self) -> Facts {
        let mut f = Facts::new();
        for k in 0..self.inputs {
            f.insert(format!("e{k}"), Vec::new());
        }
        for &(k, a, b) in &self.facts {
            f.get_mut(&format!("e{}", k % self.inputs))
                .unwrap()
                .push(vec![Value::Number(a), Value::Number(b)]);
        }
        for tuples in f.values_mut() {
            tuples.sort();
            tuples.dedup();
        }
        f
    }
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (0..8usize).prop_map(Body::Copy),
        (0..8usize).prop_map(Body::Swap),
        (0..8usize, 0..8usize).prop_map(|(x, y)| Body::Join(x, y)),
        (0..8usize).prop_map(Body::Less),
        (0..8usize, 0..4usize).prop_map(|(x, y)| Body::NotInput(x, y)),
        (0..8usize).prop_map(Body::Succ),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        1..3usize,
        prop::collection::vec(body(), 1..5),
        prop::collection::vec((0..8usize, 0..8usize), 1..3),
        prop::collection::vec((0..3usize, 0..5i64, 0..5i64), 1..8),
    )
        .prop_map(|(inputs, rules, gossip, facts)| Spec {
            inputs,
            rules,
            gossip,
            facts,
        })
}

fn setup(spec: &Spec, nodes: usize, placement_seed: u64) -> Setup {
    let text = spec.text();
    let program = Program::compile("random.dl", &text).unwrap_or_else(|e| panic!("{text}\n{e}"));
    let options = Options {
        nodes,
        placement_seed,
        ..Options::default()
    };
    Setup::new("random.dl", program, spec.facts(), None, options).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(debug_assertions) { 24 } else { 200 },
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_monotone_programs_are_confluent(
        spec in spec(),
        nodes in 2..5usize,
        placement_seed in any::<u64>(),
        first_seed in any::<u64>(),
    ) {
        let s = setup(&spec, nodes, placement_seed);
        prop_assert!(s.analyzer.coordination_free, "{}\n{}", spec.text(), s.analyzer.verdict);
        let seeds = if cfg!(debug_assertions) { 6 } else { 30 };
        let report = check(&s, first_seed / 2, seeds, 1, &|_| {});
        prop_assert!(
            report.confluent(),
            "{}\n{}",
            spec.text(),
            report.render()
        );
        prop_assert!(report.nondeterministic.is_none());
    }

    #[test]
    fn a_seed_is_deterministic(spec in spec(), seed in any::<u64>()) {
        let s = setup(&spec, 3, 0);
        let a = run_seed(&s, seed, false);
        let b = run_seed(&s, seed, true);
        prop_assert_eq!(a.trace_hash, b.trace_hash);
        prop_assert_eq!(a.outcome, b.outcome);
    }
}
