//! Tick by tick: the engine against a from-scratch evaluation of every tick.
//!
//! Random stratified Dedalus programs (persisted relations, `@next` rules among which the
//! persistence-with-deletion shape `p(x)@next :- p(x), !d(x).`, negation in the same tick and in
//! `@next` rules, aggregates, recursion, `@async` to `$self`, and sometimes `@next` rules that
//! feed derived facts back into earlier relations) are driven through a random sequence of
//! ticks: each tick gets random arrivals (facts that hold for that tick only), and between ticks
//! there are sometimes `Engine::insert`s and a snapshot restored into a new engine. After every
//! tick, every relation of the engine must equal what the naive evaluator
//! (`support::naive::tick`, which knows nothing of the previous tick but its carry) computes for
//! that tick, and `TickOutput` must agree (nothing sent; `quiescent` as the reference says). At
//! the end, `Engine::run` must reach the same quiescent state as the naive evaluator stepped
//! until quiescence (or both must not quiesce within the budget).
//!
//! `PROPTEST_CASES=n` changes the number of random cases (default 768).

#[allow(dead_code)]
mod support;

use calm_engine::{Engine, Program as Compiled, Value};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::fmt;
use support::naive::{
    self, AggFunc, Atom, BinOp, CmpOp, Db, Expr, Lit, Program, Rel, Rule, Term, Time,
};

/// Values are `0..DOMAIN`; arithmetic results are kept below it.
const DOMAIN: i64 = 6;

/// The node the engine runs as.
const NODE: &str = "n1";

/// Tick budget of the final `Engine::run` (most generated programs quiesce much sooner; those
/// with feedback may oscillate forever).
const RUN_TICKS: u64 = 40;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        // Do not write regression files into the source tree; a failure prints the case.
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Generation. As in `support::gen`, proptest produces a raw case of small integers and enums
// (which shrink well), and `build` turns any raw case into a valid one. Each block adds a new
// relation defined from relations made by earlier blocks only, so the program is stratified by
// construction; `@next` and `@async` rules need no stratification.

/// One block of rules, defining a new relation `H` from earlier relations `A`, `B`, `D`
/// (`u8`s pick among them).
#[derive(Clone, Debug)]
enum RawBlock {
    /// `H(xs)[@next] :- A(xs)[, x0 op c].`
    Copy {
        src: u8,
        next: bool,
        filter: Option<(u8, i64)>,
    },
    /// `H(x0, y) :- A(x0, x1), B(x1, y).` (or narrower, by arity).
    Join { a: u8, b: u8, rotate: u8 },
    /// `H(xs) :- A(xs). H(xs) :- B(..).`: a fact may have two derivations.
    Union { a: u8, b: u8, shift: u8 },
    /// `H(xs)[@next] :- A(xs), !B(..).`
    Neg {
        a: u8,
        b: u8,
        shift: u8,
        next: bool,
        rotate: u8,
    },
    /// `H(k, n) :- A(k, _), n = f y : { A(k, y) }.` or `H(n) :- n = f y : { A(y) }.`
    Agg { src: u8, func: u8, shift: u8 },
    /// Transitive closure `H(x, z) :- H(x, y), A(y, z).`, or for a unary `A`, a bounded chain
    /// `H(y) :- H(x), y = x + 2, y < 6.`
    Closure { src: u8, rotate: u8 },
    /// `.persist H  H(xs)[@next] :- A(xs)[, x0 op c].`
    Persist {
        src: u8,
        next: bool,
        filter: Option<(u8, i64)>,
    },
    /// `H(xs)@next :- H(xs), !D(..).` and `H(xs)[@next] :- A(xs).`
    StateDel {
        add: u8,
        del: u8,
        shift: u8,
        same_tick: bool,
        rotate: u8,
    },
    /// `H(y) :- A(x0..), y = x0 + by, y < 6.`, or with `next` a counter:
    /// `H(x0)@next :- A(x0..). H(y)@next :- H(x), y = x + by, y < 6.`
    Shift { src: u8, by: i64, next: bool },
    /// `M(@me, xs)@async :- A(xs)[, !B(..)], $self(me).  H(xs) :- M(_, xs).`
    Async { src: u8, neg: Option<(u8, u8)> },
}

/// An `@next` rule from any relation into any relation, added after the blocks, so that state
/// can depend on what is derived from it (time breaks the cycle):
/// `T(..)@next :- S(xs)[, !N(..)], x0 < 6, ...` (the comparisons keep fed-back values small).
#[derive(Clone, Debug)]
struct RawFeedback {
    target: u8,
    src: u8,
    shift: u8,
    neg: Option<(u8, u8)>,
}

/// A fact: a relation (among the inputs, or with `any` among all relations) and values.
#[derive(Clone, Debug)]
struct RawFact {
    any: bool,
    rel: u8,
    vals: [i64; 2],
}

#[derive(Clone, Debug)]
struct RawTick {
    inserts: Option<Vec<RawFact>>,
    arrivals: Vec<RawFact>,
    restore: bool,
}

#[derive(Clone, Debug)]
struct RawCase {
    inputs: Vec<u8>,
    blocks: Vec<RawBlock>,
    feedback: Vec<RawFeedback>,
    text_facts: Vec<RawFact>,
    given: Vec<RawFact>,
    ticks: Vec<RawTick>,
}

fn small() -> impl Strategy<Value = u8> {
    0u8..16
}

fn filter() -> impl Strategy<Value = Option<(u8, i64)>> {
    proptest::option::weighted(0.3, (0u8..6, 0..DOMAIN))
}

fn raw_block() -> impl Strategy<Value = RawBlock> {
    prop_oneof![
        1 => (small(), any::<bool>(), filter()).prop_map(|(src, next, filter)| RawBlock::Copy {
            src,
            next,
            filter
        }),
        1 => (small(), small(), 0u8..3).prop_map(|(a, b, rotate)| RawBlock::Join { a, b, rotate }),
        1 => (small(), small(), 0u8..2).prop_map(|(a, b, shift)| RawBlock::Union { a, b, shift }),
        2 => (small(), small(), 0u8..2, any::<bool>(), 0u8..2).prop_map(
            |(a, b, shift, next, rotate)| RawBlock::Neg {
                a,
                b,
                shift,
                next,
                rotate
            }
        ),
        2 => (small(), 0u8..4, 0u8..2).prop_map(|(src, func, shift)| RawBlock::Agg {
            src,
            func,
            shift
        }),
        1 => (small(), 0u8..2).prop_map(|(src, rotate)| RawBlock::Closure { src, rotate }),
        1 => (small(), any::<bool>(), filter()).prop_map(|(src, next, filter)| RawBlock::Persist {
            src,
            next,
            filter
        }),
        3 => (small(), small(), 0u8..2, any::<bool>(), 0u8..2).prop_map(
            |(add, del, shift, same_tick, rotate)| RawBlock::StateDel {
                add,
                del,
                shift,
                same_tick,
                rotate
            }
        ),
        1 => (small(), 1i64..=2, any::<bool>()).prop_map(|(src, by, next)| RawBlock::Shift {
            src,
            by,
            next
        }),
        1 => (small(), proptest::option::weighted(0.5, (small(), 0u8..2)))
            .prop_map(|(src, neg)| RawBlock::Async { src, neg }),
    ]
}

fn raw_fact() -> impl Strategy<Value = RawFact> {
    (
        proptest::bool::weighted(0.2),
        small(),
        proptest::array::uniform2(0..DOMAIN),
    )
        .prop_map(|(any, rel, vals)| RawFact { any, rel, vals })
}

fn raw_tick() -> impl Strategy<Value = RawTick> {
    (
        proptest::option::weighted(0.2, vec(raw_fact(), 1..=2)),
        vec(raw_fact(), 0..=5),
        proptest::bool::weighted(0.15),
    )
        .prop_map(|(inserts, arrivals, restore)| RawTick {
            inserts,
            arrivals,
            restore,
        })
}

fn raw_feedback() -> impl Strategy<Value = RawFeedback> {
    (
        small(),
        small(),
        0u8..2,
        proptest::option::weighted(0.5, (small(), 0u8..2)),
    )
        .prop_map(|(target, src, shift, neg)| RawFeedback {
            target,
            src,
            shift,
            neg,
        })
}

fn raw_case() -> impl Strategy<Value = RawCase> {
    (
        vec(1u8..=2, 1..=3),
        vec(raw_block(), 1..=8),
        proptest::option::weighted(0.3, vec(raw_feedback(), 1..=2)),
        vec(raw_fact(), 0..=3),
        vec(raw_fact(), 0..=4),
        vec(raw_tick(), 3..=12),
    )
        .prop_map(
            |(inputs, blocks, feedback, text_facts, given, ticks)| RawCase {
                inputs,
                blocks,
                feedback: feedback.unwrap_or_default(),
                text_facts,
                given,
                ticks,
            },
        )
}

/// One tick of a case: facts inserted before it, facts arriving for it, and whether the engine
/// is first replaced by a new one restored from its snapshot.
#[derive(Clone)]
struct Tick {
    inserts: Vec<(usize, Vec<i64>)>,
    arrivals: Vec<(usize, Vec<i64>)>,
    restore: bool,
}

/// A program (its `inserted` facts are inserted before the first tick) and its ticks.
#[derive(Clone)]
struct Case {
    prog: Program,
    ticks: Vec<Tick>,
}

fn var(name: &str) -> Term {
    Term::Var(name.into())
}

/// `x0, .., x{n-1}`.
fn xs(n: usize) -> Vec<Term> {
    (0..n).map(|i| var(&format!("x{i}"))).collect()
}

/// Arguments for an atom of arity `to` over the bound variables `x0..x{from-1}`, with wildcards
/// for the columns left over.
fn fit(from: usize, to: usize, shift: u8) -> Vec<Term> {
    let shift = usize::from(shift);
    (0..to)
        .map(|j| {
            if to <= from {
                var(&format!("x{}", (j + shift) % from))
            } else if j == shift % to {
                var("x0")
            } else {
                Term::Wild
            }
        })
        .collect()
}

fn cmp_op(k: u8) -> CmpOp {
    [
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
        CmpOp::Eq,
        CmpOp::Ne,
    ][usize::from(k) % 6]
}

fn pos(rel: usize, args: Vec<Term>) -> Lit {
    Lit::Pos(Atom { rel, args })
}

fn neg(rel: usize, args: Vec<Term>) -> Lit {
    Lit::Neg(Atom { rel, args })
}

#[derive(Default)]
struct Builder {
    arities: Vec<usize>,
    names: Vec<String>,
    persist: Vec<bool>,
    rules: Vec<Rule>,
    /// Relations later blocks and facts may use (all but the `@async` mailboxes).
    usable: Vec<usize>,
    inputs: Vec<usize>,
}

impl Builder {
    fn relation(&mut self, name: String, arity: usize, persist: bool, usable: bool) -> usize {
        let rel = self.arities.len();
        self.arities.push(arity);
        self.names.push(name);
        self.persist.push(persist);
        if usable {
            self.usable.push(rel);
        }
        rel
    }

    fn pick(&self, k: u8) -> usize {
        self.usable[usize::from(k) % self.usable.len()]
    }

    fn rule(&mut self, rel: usize, head: Vec<Term>, time: Time, body: Vec<Lit>, rotate: u8) {
        self.rules.push(Rule {
            head: Atom { rel, args: head },
            time,
            body,
            rotate: usize::from(rotate),
        });
    }

    fn fact(&self, f: &RawFact) -> (usize, Vec<i64>) {
        let rel = if f.any {
            self.pick(f.rel)
        } else {
            self.inputs[usize::from(f.rel) % self.inputs.len()]
        };
        (rel, f.vals[..self.arities[rel]].to_vec())
    }

    fn block(&mut self, i: usize, b: &RawBlock) {
        let name = format!("r{i}");
        let next = |n: bool| if n { Time::Next } else { Time::Now };
        match *b {
            RawBlock::Copy {
                src,
                next: n,
                filter,
            } => {
                let a = self.pick(src);
                let ar = self.arities[a];
                let h = self.relation(name, ar, false, true);
                let mut body = vec![pos(a, xs(ar))];
                if let Some((op, c)) = filter {
                    body.push(Lit::Cmp(cmp_op(op), var("x0"), Term::Const(c)));
                }
                self.rule(h, xs(ar), next(n), body, 0);
            }
            RawBlock::Join { a, b, rotate } => {
                let (a, b) = (self.pick(a), self.pick(b));
                let (ar, br) = (self.arities[a], self.arities[b]);
                let mut bargs = vec![var(&format!("x{}", ar - 1))];
                let head = if br == 2 {
                    bargs.push(var("y"));
                    vec![var("x0"), var("y")]
                } else {
                    xs(ar)
                };
                let h = self.relation(name, head.len(), false, true);
                self.rule(
                    h,
                    head,
                    Time::Now,
                    vec![pos(a, xs(ar)), pos(b, bargs)],
                    rotate,
                );
            }
            RawBlock::Union { a, b, shift } => {
                let (a, b) = (self.pick(a), self.pick(b));
                let (ar, br) = (self.arities[a], self.arities[b]);
                let h = self.relation(name, ar, false, true);
                self.rule(h, xs(ar), Time::Now, vec![pos(a, xs(ar))], 0);
                let head = (0..ar)
                    .map(|j| var(&format!("x{}", (j + usize::from(shift)) % br)))
                    .collect();
                self.rule(h, head, Time::Now, vec![pos(b, xs(br))], 0);
            }
            RawBlock::Neg {
                a,
                b,
                shift,
                next: n,
                rotate,
            } => {
                let (a, b) = (self.pick(a), self.pick(b));
                let (ar, br) = (self.arities[a], self.arities[b]);
                let h = self.relation(name, ar, false, true);
                let body = vec![pos(a, xs(ar)), neg(b, fit(ar, br, shift))];
                self.rule(h, xs(ar), next(n), body, rotate);
            }
            RawBlock::Agg { src, func, shift } => {
                let a = self.pick(src);
                let func = [AggFunc::Count, AggFunc::Sum, AggFunc::Min, AggFunc::Max]
                    [usize::from(func) % 4];
                let target = (func != AggFunc::Count).then(|| "y".to_string());
                if self.arities[a] == 2 {
                    // Grouped by column `shift`.
                    let (outer, inner) = if shift == 0 {
                        (vec![var("k"), Term::Wild], vec![var("k"), var("y")])
                    } else {
                        (vec![Term::Wild, var("k")], vec![var("y"), var("k")])
                    };
                    let h = self.relation(name, 2, false, true);
                    let agg = Lit::Agg {
                        result: "n".into(),
                        func,
                        target,
                        atom: Atom {
                            rel: a,
                            args: inner,
                        },
                        filter: None,
                    };
                    self.rule(
                        h,
                        vec![var("k"), var("n")],
                        Time::Now,
                        vec![pos(a, outer), agg],
                        shift,
                    );
                } else {
                    let h = self.relation(name, 1, false, true);
                    let agg = Lit::Agg {
                        result: "n".into(),
                        func,
                        target,
                        atom: Atom {
                            rel: a,
                            args: vec![var("y")],
                        },
                        filter: None,
                    };
                    self.rule(h, vec![var("n")], Time::Now, vec![agg], 0);
                }
            }
            RawBlock::Closure { src, rotate } => {
                let a = self.pick(src);
                if self.arities[a] == 2 {
                    let h = self.relation(name, 2, false, true);
                    self.rule(h, xs(2), Time::Now, vec![pos(a, xs(2))], 0);
                    self.rule(
                        h,
                        vec![var("x"), var("z")],
                        Time::Now,
                        vec![
                            pos(h, vec![var("x"), var("y")]),
                            pos(a, vec![var("y"), var("z")]),
                        ],
                        rotate,
                    );
                } else {
                    let h = self.relation(name, 1, false, true);
                    self.rule(h, xs(1), Time::Now, vec![pos(a, xs(1))], 0);
                    self.rule(h, vec![var("y")], Time::Now, shift_body(h, 2), rotate);
                }
            }
            RawBlock::Persist {
                src,
                next: n,
                filter,
            } => {
                let a = self.pick(src);
                let ar = self.arities[a];
                let h = self.relation(name, ar, true, true);
                let mut body = vec![pos(a, xs(ar))];
                if let Some((op, c)) = filter {
                    body.push(Lit::Cmp(cmp_op(op), var("x0"), Term::Const(c)));
                }
                self.rule(h, xs(ar), next(n), body, 0);
            }
            RawBlock::StateDel {
                add,
                del,
                shift,
                same_tick,
                rotate,
            } => {
                let (a, d) = (self.pick(add), self.pick(del));
                let (ar, dr) = (self.arities[a], self.arities[d]);
                let h = self.relation(name, ar, false, true);
                self.rule(
                    h,
                    xs(ar),
                    Time::Next,
                    vec![pos(h, xs(ar)), neg(d, fit(ar, dr, shift))],
                    rotate,
                );
                self.rule(h, xs(ar), next(!same_tick), vec![pos(a, xs(ar))], 0);
            }
            RawBlock::Shift { src, by, next: n } => {
                let a = self.pick(src);
                let ar = self.arities[a];
                let h = self.relation(name, 1, false, true);
                if n {
                    self.rule(h, xs(1), Time::Next, vec![pos(a, xs(ar))], 0);
                    self.rule(h, vec![var("y")], Time::Next, shift_body(h, by), 0);
                } else {
                    let mut body = vec![pos(a, xs(ar))];
                    body.extend(shift_body(a, by).into_iter().skip(1));
                    self.rule(h, vec![var("y")], Time::Now, body, 0);
                }
            }
            RawBlock::Async { src, neg: n } => {
                let a = self.pick(src);
                let ar = self.arities[a];
                let mut body = vec![pos(a, xs(ar))];
                if let Some((b, shift)) = n {
                    let b = self.pick(b);
                    body.push(neg(b, fit(ar, self.arities[b], shift)));
                }
                let m = self.relation(format!("m{i}"), ar, false, false);
                let h = self.relation(name, ar, false, true);
                self.rule(m, xs(ar), Time::Async, body, 0);
                self.rule(h, xs(ar), Time::Now, vec![pos(m, xs(ar))], 0);
            }
        }
    }
}

impl Builder {
    fn feedback(&mut self, f: &RawFeedback) {
        let (t, src) = (self.pick(f.target), self.pick(f.src));
        let (tr, sr) = (self.arities[t], self.arities[src]);
        let head: Vec<Term> = (0..tr)
            .map(|j| var(&format!("x{}", (j + usize::from(f.shift)) % sr)))
            .collect();
        let mut body = vec![pos(src, xs(sr))];
        if let Some((b, shift)) = f.neg {
            let b = self.pick(b);
            body.push(neg(b, fit(sr, self.arities[b], shift)));
        }
        for x in xs(sr) {
            body.push(Lit::Cmp(CmpOp::Lt, x, Term::Const(DOMAIN)));
        }
        self.rule(t, head, Time::Next, body, f.shift);
    }
}

/// `rel(x0), y = x0 + by, y < DOMAIN` (over the first column of `rel`).
fn shift_body(rel: usize, by: i64) -> Vec<Lit> {
    vec![
        pos(rel, vec![var("x0")]),
        Lit::Assign(
            "y".into(),
            Expr::Bin(BinOp::Add, var("x0"), Term::Const(by)),
        ),
        Lit::Cmp(CmpOp::Lt, var("y"), Term::Const(DOMAIN)),
    ]
}

fn build(raw: &RawCase) -> Case {
    let mut b = Builder::default();
    for (i, &ar) in raw.inputs.iter().enumerate() {
        let rel = b.relation(format!("ev{i}"), usize::from(ar), false, true);
        b.inputs.push(rel);
    }
    for (i, block) in raw.blocks.iter().enumerate() {
        b.block(i, block);
    }
    for f in &raw.feedback {
        b.feedback(f);
    }
    let program_facts = raw.text_facts.iter().map(|f| b.fact(f)).collect();
    let inserted = raw.given.iter().map(|f| b.fact(f)).collect();
    let ticks = raw
        .ticks
        .iter()
        .map(|t| Tick {
            inserts: t.inserts.iter().flatten().map(|f| b.fact(f)).collect(),
            arrivals: t.arrivals.iter().map(|f| b.fact(f)).collect(),
            restore: t.restore,
        })
        .collect();
    Case {
        prog: Program {
            arities: b.arities,
            names: b.names,
            lattice: vec![None; b.persist.len()],
            persist: b.persist,
            rules: b.rules,
            program_facts,
            inserted,
        },
        ticks,
    }
}

fn random_case() -> impl Strategy<Value = Case> {
    raw_case().prop_map(|raw| build(&raw))
}

impl Case {
    fn fact(&self, (rel, t): &(usize, Vec<i64>)) -> String {
        let args: Vec<String> = t.iter().map(|x| x.to_string()).collect();
        format!("{}({})", self.prog.names[*rel], args.join(", "))
    }

    fn facts(&self, fs: &[(usize, Vec<i64>)]) -> String {
        let fs: Vec<String> = fs.iter().map(|f| self.fact(f)).collect();
        fs.join(" ")
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\n--- program ---\n{}", self.prog.render())?;
        writeln!(
            f,
            "--- inserted before tick 0 ---\n{}",
            self.facts(&self.prog.inserted)
        )?;
        writeln!(f, "--- ticks ---")?;
        for (t, tick) in self.ticks.iter().enumerate() {
            write!(f, "tick {t}:")?;
            if tick.restore {
                write!(f, " [snapshot, restore into a new engine]")?;
            }
            if !tick.inserts.is_empty() {
                write!(f, " [insert {}]", self.facts(&tick.inserts))?;
            }
            writeln!(f, " arrivals: {}", self.facts(&tick.arrivals))?;
        }
        writeln!(f, "---------------")
    }
}

// ---------------------------------------------------------------------------------------------
// Running a case.

fn values(t: &[i64]) -> Vec<Value> {
    t.iter().map(|&x| Value::Number(x)).collect()
}

fn show(rel: &Rel) -> String {
    let rows: Vec<String> = rel
        .iter()
        .map(|t| {
            let xs: Vec<String> = t.iter().map(|x| x.to_string()).collect();
            format!("({})", xs.join(", "))
        })
        .collect();
    format!("{{{}}}", rows.join(" "))
}

/// The engine's rows of a relation as numbers (a mailbox's location column, which must be this
/// node, left out).
fn numbers(prog: &Program, rel: usize, rows: Vec<Vec<Value>>) -> Result<Rel, String> {
    let name = &prog.names[rel];
    let mailbox = prog.is_mailbox(rel);
    rows.into_iter()
        .map(|row| {
            let mut row = row.into_iter();
            if mailbox && row.next() != Some(Value::Symbol(NODE.into())) {
                return Err(format!("{name}: a row not addressed to {NODE}"));
            }
            row.map(|v| match v {
                Value::Number(n) => Ok(n),
                other => Err(format!("{name}: not a number: {other}")),
            })
            .collect()
        })
        .collect()
}

/// Compares every relation of the engine with the reference; `at` says when.
fn compare(engine: &Engine, prog: &Program, want: &Db, at: &str) -> Result<(), String> {
    let mut report = String::new();
    for (rel, want) in want.iter().enumerate() {
        let name = &prog.names[rel];
        let rows = engine.relation(name).map_err(|e| format!("{name}: {e}"))?;
        let have = numbers(prog, rel, rows)?;
        if &have != want {
            let missing: Rel = want.difference(&have).cloned().collect();
            let extra: Rel = have.difference(want).cloned().collect();
            report += &format!(
                "relation {name}: expected {}\n    engine gave {}\n    missing {}\n    extra {}\n",
                show(want),
                show(&have),
                show(&missing),
                show(&extra)
            );
            continue;
        }
        let len = engine.relation_len(name).map_err(|e| e.to_string())?;
        if len != want.len() {
            report += &format!(
                "relation {name}: relation_len {len}, expected {}\n",
                want.len()
            );
        }
        // An equality filter on the first number column.
        if prog.arities[rel] > 0 && !prog.is_mailbox(rel) {
            let x = want.iter().next().map_or(0, |t| t[0]);
            let rows = engine
                .relation_where(name, &[(0, Value::Number(x))])
                .map_err(|e| e.to_string())?;
            let filtered: Rel = want.iter().filter(|t| t[0] == x).cloned().collect();
            if numbers(prog, rel, rows)? != filtered {
                report += &format!("relation {name}: relation_where column 0 = {x} disagrees\n");
            }
        }
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(format!("{at}: engine and reference disagree:\n{report}"))
    }
}

/// What [`run_case`] found when nothing disagreed.
#[derive(Debug, PartialEq, Eq)]
enum Ran {
    Agreed,
    /// A tick was too expensive for the naive evaluator; compared up to there.
    TooBig,
}

fn union(dbs: &[&Db]) -> Db {
    let mut out = dbs[0].clone();
    for db in &dbs[1..] {
        for (r, rel) in db.iter().enumerate() {
            out[r].extend(rel.iter().cloned());
        }
    }
    out
}

fn new_engine(compiled: &Compiled) -> Engine {
    let mut e = Engine::new(compiled);
    e.set_node(NODE, &[NODE.to_string()]);
    e
}

/// Drives the engine and the reference through the case's ticks side by side.
fn run_case(case: &Case) -> Result<Ran, String> {
    let prog = &case.prog;
    let text = prog.render();
    let compiled =
        Compiled::compile("incremental.dl", &text).map_err(|e| format!("compile error:\n{e}"))?;
    let mut engine = new_engine(&compiled);
    let nrel = prog.arities.len();
    let stateful = naive::stateful(prog);
    // The reference's state: facts that hold at every tick, and what is carried into the next.
    let mut always: Db = vec![Rel::new(); nrel];
    let mut carry: Db = vec![Rel::new(); nrel];
    let give = |rel: usize, t: &[i64], always: &mut Db, carry: &mut Db| {
        let to = if stateful[rel] { carry } else { always };
        to[rel].insert(t.to_vec());
    };
    for (rel, t) in &prog.program_facts {
        give(*rel, t, &mut always, &mut carry);
    }
    let insert = |engine: &mut Engine, facts: &[(usize, Vec<i64>)]| -> Result<(), String> {
        for (rel, t) in facts {
            let name = &prog.names[*rel];
            engine
                .insert(name, vec![values(t)])
                .map_err(|e| format!("insert into {name}: {e}"))?;
        }
        Ok(())
    };
    insert(&mut engine, &prog.inserted)?;
    for (rel, t) in &prog.inserted {
        give(*rel, t, &mut always, &mut carry);
    }
    for (i, tick) in case.ticks.iter().enumerate() {
        if tick.restore {
            let snap = engine.snapshot();
            engine = new_engine(&compiled);
            engine
                .restore(&snap)
                .map_err(|e| format!("tick {i}: restore: {e}"))?;
        }
        insert(&mut engine, &tick.inserts)?;
        for (rel, t) in &tick.inserts {
            give(*rel, t, &mut always, &mut carry);
        }
        let mut arrived: Db = vec![Rel::new(); nrel];
        for (rel, t) in &tick.arrivals {
            arrived[*rel].insert(t.clone());
        }
        let Some((want, next)) = naive::tick(prog, &union(&[&carry, &always, &arrived])) else {
            return Ok(Ran::TooBig);
        };
        let arrivals: Vec<(String, Vec<Value>)> = tick
            .arrivals
            .iter()
            .map(|(rel, t)| (prog.names[*rel].clone(), values(t)))
            .collect();
        let out = engine
            .tick(&arrivals)
            .map_err(|e| format!("tick {i}: {e}"))?;
        compare(&engine, prog, &want, &format!("after tick {i}"))?;
        if !out.sent.is_empty() {
            return Err(format!(
                "tick {i}: sent {:?} (all @async go to $self)",
                out.sent
            ));
        }
        let quiescent = arrivals.is_empty() && next == carry;
        if out.quiescent != quiescent {
            return Err(format!(
                "tick {i}: engine says quiescent = {}, reference {quiescent}",
                out.quiescent
            ));
        }
        carry = next;
    }
    // Then without arrivals until quiescence.
    engine.set_max_ticks(RUN_TICKS);
    let mut ticks = 0;
    let mut last = None;
    let mut quiesced = false;
    while !quiesced && ticks < RUN_TICKS {
        let Some((db, next)) = naive::tick(prog, &union(&[&carry, &always])) else {
            return Ok(Ran::TooBig);
        };
        ticks += 1;
        quiesced = next == carry;
        carry = next;
        last = Some(db);
    }
    match (engine.run(), last) {
        (Ok(report), Some(db)) if quiesced && report.ticks == ticks => {
            compare(&engine, prog, &db, &format!("after run ({ticks} ticks)"))?;
        }
        (Err(calm_engine::EngineError::NoQuiescence(n)), _) if !quiesced && n == ticks => {}
        (got, _) => {
            return Err(format!(
                "run: engine gave {got:?}, reference quiesced after {ticks} ticks"
            ));
        }
    }
    Ok(Ran::Agreed)
}

proptest! {
    #![proptest_config(config(cases(768)))]

    #[test]
    fn every_tick_equals_a_from_scratch_evaluation(case in random_case()) {
        match run_case(&case) {
            Ok(Ran::Agreed) => {}
            Ok(Ran::TooBig) => prop_assume!(false, "too big for the naive evaluator"),
            Err(e) => prop_assert!(false, "{}", e),
        }
    }
}

/// The generator produces the constructs the property is about, and the ticks do delete facts
/// from derived relations (checked with the reference alone).
#[test]
fn generated_cases_cover_the_constructs_and_delete() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::new(config(1));
    let strategy = random_case();
    let mut text = String::new();
    let (mut deletions, mut nonempty, mut restores, mut inserts) = (0, 0, 0, 0);
    for _ in 0..300 {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        text += &case.prog.render();
        let prog = &case.prog;
        let stateful = naive::stateful(prog);
        let nrel = prog.arities.len();
        let (mut always, mut carry) = (vec![Rel::new(); nrel], vec![Rel::new(); nrel]);
        for (rel, t) in prog.program_facts.iter().chain(&prog.inserted) {
            let to = if stateful[*rel] {
                &mut carry
            } else {
                &mut always
            };
            to[*rel].insert(t.clone());
        }
        let derived: Vec<usize> = (0..nrel)
            .filter(|&r| !prog.names[r].starts_with("ev"))
            .collect();
        let mut last: Option<Db> = None;
        for tick in &case.ticks {
            restores += usize::from(tick.restore);
            inserts += tick.inserts.len();
            for (rel, t) in &tick.inserts {
                let to = if stateful[*rel] {
                    &mut carry
                } else {
                    &mut always
                };
                to[*rel].insert(t.clone());
            }
            let mut arrived: Db = vec![Rel::new(); nrel];
            for (rel, t) in &tick.arrivals {
                arrived[*rel].insert(t.clone());
            }
            let (db, next) = naive::tick(prog, &union(&[&carry, &always, &arrived])).unwrap();
            for &r in &derived {
                nonempty += usize::from(!db[r].is_empty());
                if let Some(prev) = &last {
                    deletions += prev[r].difference(&db[r]).count();
                }
            }
            last = Some(db);
            carry = next;
        }
    }
    for needle in [
        ".persist ",
        ")@next :- ",
        ")@async :- ",
        "$self(me)",
        "count :",
        "sum y :",
        "min y :",
        "max y :",
        ", !",
        "y = x0 + ",
    ] {
        assert!(text.contains(needle), "never generated {needle:?}");
    }
    assert!(
        text.lines().any(|l| {
            // The persistence-with-deletion shape: `p(xs)@next :- p(xs), !d(..).`
            l.split_once("@next :- ").is_some_and(|(head, body)| {
                body.contains(&format!("{head}, !")) || body.ends_with(&format!(", {head}."))
            })
        }),
        "never generated p(x)@next :- p(x), !d(x)"
    );
    assert!(restores > 150, "only {restores} restores");
    assert!(inserts > 300, "only {inserts} inserts between ticks");
    assert!(nonempty > 4000, "derived relations are almost always empty");
    assert!(
        deletions > 2000,
        "facts of derived relations are rarely deleted"
    );
}
