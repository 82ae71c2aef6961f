//! Differential tests: the engine against a naive reference evaluator (`support::naive`), on
//! random stratified programs, random Dedalus programs, and a few fixed programs.
//!
//! `PROPTEST_CASES=n` changes the number of random cases (default 200 for the stratified
//! property, a quarter of that for the Dedalus one).

mod support;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use support::Checked;
use support::r#gen::{Mode, program as random_program};
use support::naive::{
    AggFunc, Atom, BinOp, CmpOp, Db, Expr, Lit, Outcome, Program, Rel, Rule, Term, Time, evaluate,
};

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        // Do not write regression files into the source tree; a failure prints the program.
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(cases(200)))]

    #[test]
    fn stratified_programs_agree(prog in random_program(Mode::Stratified)) {
        match support::check(&prog) {
            Ok(Checked::Agreed) => {}
            Ok(Checked::TooBig) => prop_assume!(false, "too big for the naive evaluator"),
            Err(e) => prop_assert!(false, "{}", e),
        }
    }
}

proptest! {
    #![proptest_config(config(cases(200).div_ceil(4)))]

    #[test]
    fn dedalus_programs_agree(prog in random_program(Mode::Dedalus)) {
        match support::check(&prog) {
            Ok(Checked::Agreed) => {}
            Ok(Checked::TooBig) => prop_assume!(false, "too big for the naive evaluator"),
            Err(e) => prop_assert!(false, "{}", e),
        }
    }
}

proptest! {
    #![proptest_config(config(cases(200).div_ceil(4)))]

    /// The same programs with every column a one-field record (`[x]`): records built in heads,
    /// destructured in atoms, given in facts and inserted as text, negated and aggregated.
    #[test]
    fn boxed_stratified_programs_agree(prog in random_program(Mode::Stratified)) {
        match support::check_as(&prog, true) {
            Ok(Checked::Agreed) => {}
            Ok(Checked::TooBig) => prop_assume!(false, "too big for the naive evaluator"),
            Err(e) => prop_assert!(false, "{}", e),
        }
    }
}

proptest! {
    #![proptest_config(config(cases(200).div_ceil(8)))]

    #[test]
    fn boxed_dedalus_programs_agree(prog in random_program(Mode::Dedalus)) {
        match support::check_as(&prog, true) {
            Ok(Checked::Agreed) => {}
            Ok(Checked::TooBig) => prop_assume!(false, "too big for the naive evaluator"),
            Err(e) => prop_assert!(false, "{}", e),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The generator and the naive evaluator on their own (independent of the engine).

/// Every generated program is valid for the naive evaluator: stratifiable, range-restricted
/// (it panics on an unbound variable), and, for Dedalus, quiescent within the tick budget. Few
/// are too expensive for it (those are skipped by the properties).
#[test]
fn generated_programs_are_valid() {
    for mode in [Mode::Stratified, Mode::Dedalus] {
        let mut runner = TestRunner::new(config(300));
        let too_big = std::cell::Cell::new(0);
        runner
            .run(&random_program(mode), |prog| {
                let outcome = evaluate(&prog, support::MAX_TICKS);
                prop_assert!(
                    outcome != Outcome::TooManyTicks,
                    "no quiescence: {:?}",
                    prog
                );
                if outcome == Outcome::TooBig {
                    too_big.set(too_big.get() + 1);
                }
                Ok(())
            })
            .unwrap();
        assert!(
            too_big.get() < 15,
            "{mode:?}: {} of 300 programs too big",
            too_big.get()
        );
    }
}

/// The generator does produce the interesting constructs.
#[test]
fn generated_programs_cover_the_language() {
    let mut runner = TestRunner::new(config(1));
    let strategy = random_program(Mode::Stratified);
    let mut text = String::new();
    let mut nonempty = 0;
    for _ in 0..300 {
        let prog = strategy.new_tree(&mut runner).unwrap().current();
        text += &prog.render();
        if let Outcome::Ok(db) = evaluate(&prog, support::MAX_TICKS) {
            nonempty += db[1..].iter().filter(|r| !r.is_empty()).count();
        }
    }
    for needle in [
        "count :", "sum ", "min ", "max ", "!r", " < ", " != ", " % ", " / ", " * ", "= -", ", _",
    ] {
        assert!(text.contains(needle), "never generated {needle:?}");
    }
    assert!(nonempty > 100, "derived relations are almost always empty");
}

// ---------------------------------------------------------------------------------------------
// Fixed programs. Each is checked against the engine (`fixed_*`) and the naive evaluator's
// result is asserted by hand (`naive_*`).

fn v(name: &str) -> Term {
    Term::Var(name.into())
}

fn k(c: i64) -> Term {
    Term::Const(c)
}

fn atom(rel: usize, args: Vec<Term>) -> Atom {
    Atom { rel, args }
}

fn pos(rel: usize, args: Vec<Term>) -> Lit {
    Lit::Pos(atom(rel, args))
}

fn neg(rel: usize, args: Vec<Term>) -> Lit {
    Lit::Neg(atom(rel, args))
}

fn cmp(op: CmpOp, a: Term, b: Term) -> Lit {
    Lit::Cmp(op, a, b)
}

fn rule(rel: usize, head: Vec<Term>, body: Vec<Lit>) -> Rule {
    Rule {
        head: atom(rel, head),
        time: Time::Now,
        body,
        rotate: 0,
    }
}

fn next(rel: usize, head: Vec<Term>, body: Vec<Lit>) -> Rule {
    Rule {
        time: Time::Next,
        ..rule(rel, head, body)
    }
}

fn agg(result: &str, func: AggFunc, target: Option<&str>, rel: usize, args: Vec<Term>) -> Lit {
    Lit::Agg {
        result: result.into(),
        func,
        target: target.map(Into::into),
        atom: atom(rel, args),
        filter: None,
    }
}

/// A program over the named relations (all `number` columns).
fn program(rels: &[(&str, usize)], rules: Vec<Rule>) -> Program {
    Program {
        arities: rels.iter().map(|r| r.1).collect(),
        names: rels.iter().map(|r| r.0.to_string()).collect(),
        persist: vec![false; rels.len()],
        lattice: vec![None; rels.len()],
        rules,
        program_facts: Vec::new(),
        inserted: Vec::new(),
    }
}

fn facts(rel: usize, rows: &[&[i64]]) -> Vec<(usize, Vec<i64>)> {
    rows.iter().map(|r| (rel, r.to_vec())).collect()
}

fn rel(rows: &[&[i64]]) -> Rel {
    rows.iter().map(|r| r.to_vec()).collect()
}

fn naive(prog: &Program) -> Db {
    match evaluate(prog, support::MAX_TICKS) {
        Outcome::Ok(db) => db,
        other => panic!("naive evaluation failed: {other:?}"),
    }
}

fn fixed(prog: &Program) {
    match support::check(prog) {
        Ok(Checked::Agreed) => {}
        Ok(Checked::TooBig) => panic!("too big for the naive evaluator"),
        Err(e) => panic!("{e}"),
    }
}

/// Transitive closure (left- and right-recursive) over a graph with a cycle.
fn transitive_closure() -> Program {
    let mut p = program(
        &[("edge", 2), ("path", 2), ("path2", 2)],
        vec![
            rule(1, vec![v("x"), v("y")], vec![pos(0, vec![v("x"), v("y")])]),
            rule(
                1,
                vec![v("x"), v("z")],
                vec![pos(1, vec![v("x"), v("y")]), pos(0, vec![v("y"), v("z")])],
            ),
            rule(2, vec![v("x"), v("y")], vec![pos(0, vec![v("x"), v("y")])]),
            Rule {
                rotate: 1,
                ..rule(
                    2,
                    vec![v("x"), v("z")],
                    vec![pos(0, vec![v("x"), v("y")]), pos(2, vec![v("y"), v("z")])],
                )
            },
        ],
    );
    p.inserted = facts(0, &[&[1, 2], &[2, 3], &[3, 1], &[3, 4], &[5, 5]]);
    p
}

#[test]
fn naive_transitive_closure() {
    let db = naive(&transitive_closure());
    let mut want = Rel::new();
    for x in 1..=3 {
        for y in 1..=4 {
            want.insert(vec![x, y]);
        }
    }
    want.insert(vec![5, 5]);
    assert_eq!(db[1], want);
    assert_eq!(db[2], want);
}

#[test]
fn fixed_transitive_closure() {
    fixed(&transitive_closure());
}

/// Mutual recursion with a fact in the program text: even/odd over a successor relation.
fn even_odd() -> Program {
    let mut p = program(
        &[("succ", 2), ("even", 1), ("odd", 1)],
        vec![
            rule(
                2,
                vec![v("y")],
                vec![pos(1, vec![v("x")]), pos(0, vec![v("x"), v("y")])],
            ),
            rule(
                1,
                vec![v("y")],
                vec![pos(2, vec![v("x")]), pos(0, vec![v("x"), v("y")])],
            ),
        ],
    );
    p.program_facts = facts(1, &[&[0]]);
    p.inserted = (0..6).map(|i| (0, vec![i, i + 1])).collect();
    p
}

#[test]
fn naive_even_odd() {
    let db = naive(&even_odd());
    assert_eq!(db[1], rel(&[&[0], &[2], &[4], &[6]]));
    assert_eq!(db[2], rel(&[&[1], &[3], &[5]]));
}

#[test]
fn fixed_even_odd() {
    fixed(&even_odd());
}

/// Negation over a recursive relation, wildcards, repeated variables, constants in atoms.
fn negation_and_patterns() -> Program {
    let mut p = program(
        &[
            ("edge", 2),
            ("node", 1),
            ("reach", 2),
            ("unreach", 2),
            ("loop", 1),
            ("from1", 1),
            ("sink", 1),
        ],
        vec![
            rule(1, vec![v("x")], vec![pos(0, vec![v("x"), Term::Wild])]),
            rule(1, vec![v("x")], vec![pos(0, vec![Term::Wild, v("x")])]),
            rule(2, vec![v("x"), v("y")], vec![pos(0, vec![v("x"), v("y")])]),
            rule(
                2,
                vec![v("x"), v("z")],
                vec![pos(2, vec![v("x"), v("y")]), pos(2, vec![v("y"), v("z")])],
            ),
            Rule {
                rotate: 2,
                ..rule(
                    3,
                    vec![v("x"), v("y")],
                    vec![
                        pos(1, vec![v("x")]),
                        pos(1, vec![v("y")]),
                        neg(2, vec![v("x"), v("y")]),
                    ],
                )
            },
            rule(4, vec![v("x")], vec![pos(2, vec![v("x"), v("x")])]),
            rule(5, vec![v("y")], vec![pos(2, vec![k(1), v("y")])]),
            rule(
                6,
                vec![v("x")],
                vec![pos(1, vec![v("x")]), neg(0, vec![v("x"), Term::Wild])],
            ),
        ],
    );
    p.inserted = facts(0, &[&[1, 2], &[2, 1], &[2, 3], &[4, 4], &[5, 4]]);
    p
}

#[test]
fn naive_negation_and_patterns() {
    let db = naive(&negation_and_patterns());
    assert_eq!(db[1], rel(&[&[1], &[2], &[3], &[4], &[5]]));
    assert_eq!(db[4], rel(&[&[1], &[2], &[4]]));
    assert_eq!(db[5], rel(&[&[1], &[2], &[3]]));
    assert_eq!(db[6], rel(&[&[3]]));
    assert_eq!(db[3].len(), 25 - db[2].len());
    assert!(db[3].contains(&vec![3, 1]) && !db[3].contains(&vec![1, 3]));
}

#[test]
fn fixed_negation_and_patterns() {
    fixed(&negation_and_patterns());
}

/// Correlated aggregates, including empty groups (count and sum give 0, min and max nothing).
fn aggregates() -> Program {
    let mut p = program(
        &[
            ("key", 1),
            ("val", 2),
            ("cnt", 2),
            ("total", 2),
            ("lo", 2),
            ("hi", 2),
            ("all", 1),
        ],
        vec![
            rule(
                2,
                vec![v("k"), v("n")],
                vec![
                    pos(0, vec![v("k")]),
                    agg("n", AggFunc::Count, None, 1, vec![v("k"), v("y")]),
                ],
            ),
            rule(
                3,
                vec![v("k"), v("n")],
                vec![
                    pos(0, vec![v("k")]),
                    agg("n", AggFunc::Sum, Some("y"), 1, vec![v("k"), v("y")]),
                ],
            ),
            rule(
                4,
                vec![v("k"), v("n")],
                vec![
                    pos(0, vec![v("k")]),
                    agg("n", AggFunc::Min, Some("y"), 1, vec![v("k"), v("y")]),
                ],
            ),
            Rule {
                rotate: 1,
                ..rule(
                    5,
                    vec![v("k"), v("n")],
                    vec![
                        pos(0, vec![v("k")]),
                        agg("n", AggFunc::Max, Some("y"), 1, vec![v("k"), v("y")]),
                    ],
                )
            },
            rule(
                6,
                vec![v("n")],
                vec![
                    pos(0, vec![k(1)]),
                    agg("n", AggFunc::Count, None, 1, vec![v("a"), v("b")]),
                ],
            ),
        ],
    );
    p.inserted = facts(0, &[&[1], &[2], &[3]]);
    p.inserted
        .extend(facts(1, &[&[1, 5], &[1, -2], &[1, 7], &[2, 4], &[4, 9]]));
    p
}

#[test]
fn naive_aggregates() {
    let db = naive(&aggregates());
    assert_eq!(db[2], rel(&[&[1, 3], &[2, 1], &[3, 0]]));
    assert_eq!(db[3], rel(&[&[1, 10], &[2, 4], &[3, 0]]));
    assert_eq!(db[4], rel(&[&[1, -2], &[2, 4]]));
    assert_eq!(db[5], rel(&[&[1, 7], &[2, 4]]));
    assert_eq!(db[6], rel(&[&[5]]));
}

#[test]
fn fixed_aggregates() {
    fixed(&aggregates());
}

/// Arithmetic with negative numbers: truncating division and remainder, unary minus.
fn arithmetic() -> Program {
    let mut p = program(
        &[("n", 1), ("calc", 5), ("small", 1)],
        vec![
            rule(
                1,
                vec![v("x"), v("a"), v("b"), v("c"), v("d")],
                vec![
                    pos(0, vec![v("x")]),
                    Lit::Assign("a".into(), Expr::Bin(BinOp::Div, v("x"), k(-2))),
                    Lit::Assign("b".into(), Expr::Bin(BinOp::Rem, v("x"), k(3))),
                    Lit::Assign("c".into(), Expr::Neg(v("x"))),
                    Lit::Assign("d".into(), Expr::Bin(BinOp::Sub, v("c"), v("b"))),
                ],
            ),
            Rule {
                rotate: 1,
                ..rule(
                    2,
                    vec![v("x")],
                    vec![
                        pos(0, vec![v("x")]),
                        cmp(CmpOp::Lt, v("x"), k(2)),
                        cmp(CmpOp::Ne, v("x"), k(-1)),
                    ],
                )
            },
        ],
    );
    p.inserted = [-7, -1, 0, 5].iter().map(|&x| (0, vec![x])).collect();
    p
}

#[test]
fn naive_arithmetic() {
    let db = naive(&arithmetic());
    assert_eq!(
        db[1],
        rel(&[
            &[-7, 3, -1, 7, 8],
            &[-1, 0, -1, 1, 2],
            &[0, 0, 0, 0, 0],
            &[5, -2, 2, -5, -7]
        ])
    );
    assert_eq!(db[2], rel(&[&[-7], &[0]]));
}

#[test]
fn fixed_arithmetic() {
    fixed(&arithmetic());
}

/// A bounded recursive counter with arithmetic and a stratum of negation on top.
fn bounded_counter() -> Program {
    let mut p = program(
        &[("start", 1), ("num", 1), ("gap", 1)],
        vec![
            rule(1, vec![v("x")], vec![pos(0, vec![v("x")])]),
            rule(
                1,
                vec![v("y")],
                vec![
                    pos(1, vec![v("x")]),
                    Lit::Assign("y".into(), Expr::Bin(BinOp::Add, v("x"), k(3))),
                    cmp(CmpOp::Le, v("y"), k(10)),
                ],
            ),
            rule(
                2,
                vec![v("y")],
                vec![
                    pos(1, vec![v("x")]),
                    Lit::Assign("y".into(), Expr::Bin(BinOp::Add, v("x"), k(1))),
                    neg(1, vec![v("y")]),
                ],
            ),
        ],
    );
    p.inserted = facts(0, &[&[0], &[1]]);
    p
}

#[test]
fn naive_bounded_counter() {
    let db = naive(&bounded_counter());
    assert_eq!(
        db[1],
        rel(&[&[0], &[1], &[3], &[4], &[6], &[7], &[9], &[10]])
    );
    assert_eq!(db[2], rel(&[&[2], &[5], &[8], &[11]]));
}

#[test]
fn fixed_bounded_counter() {
    fixed(&bounded_counter());
}

/// Dedalus: a persisted counter up to 5, a non-persisted one that dies out (so the final tick
/// sees it empty), and a persisted log of the latter.
fn dedalus_counters() -> Program {
    let mut p = program(
        &[("cnt", 1), ("cur", 1), ("log", 1), ("seen", 1)],
        vec![
            next(
                0,
                vec![v("y")],
                vec![
                    pos(0, vec![v("x")]),
                    Lit::Assign("y".into(), Expr::Bin(BinOp::Add, v("x"), k(1))),
                    cmp(CmpOp::Le, v("y"), k(5)),
                ],
            ),
            next(
                1,
                vec![v("y")],
                vec![
                    pos(1, vec![v("x")]),
                    Lit::Assign("y".into(), Expr::Bin(BinOp::Add, v("x"), k(1))),
                    cmp(CmpOp::Lt, v("y"), k(4)),
                ],
            ),
            rule(2, vec![v("x")], vec![pos(1, vec![v("x")])]),
            rule(3, vec![v("x")], vec![pos(1, vec![v("x")])]),
        ],
    );
    p.persist[0] = true;
    p.persist[2] = true;
    p.program_facts = vec![(0, vec![0]), (1, vec![0])];
    p
}

#[test]
fn naive_dedalus_counters() {
    let db = naive(&dedalus_counters());
    assert_eq!(db[0], rel(&[&[0], &[1], &[2], &[3], &[4], &[5]]));
    assert_eq!(db[2], rel(&[&[0], &[1], &[2], &[3]]));
    assert_eq!(db[1], Rel::new());
    assert_eq!(db[3], Rel::new());
}

#[test]
fn fixed_dedalus_counters() {
    fixed(&dedalus_counters());
}

/// Dedalus deletion: `p(x)@next :- p(x), !del(x).` with `del` a pure input (held every tick)
/// and a count of what is left.
fn dedalus_deletion() -> Program {
    let mut p = program(
        &[("p", 1), ("del", 1), ("size", 1)],
        vec![
            next(
                0,
                vec![v("x")],
                vec![pos(0, vec![v("x")]), neg(1, vec![v("x")])],
            ),
            rule(
                2,
                vec![v("n")],
                vec![agg("n", AggFunc::Count, None, 0, vec![v("x")])],
            ),
        ],
    );
    p.program_facts = facts(0, &[&[1], &[2], &[3], &[4]]);
    p.inserted = facts(1, &[&[2], &[4], &[9]]);
    p
}

#[test]
fn naive_dedalus_deletion() {
    let db = naive(&dedalus_deletion());
    assert_eq!(db[1], rel(&[&[2], &[4], &[9]]));
    assert_eq!(db[0], rel(&[&[1], &[3]]));
    assert_eq!(db[2], rel(&[&[2]]));
}

#[test]
fn fixed_dedalus_deletion() {
    fixed(&dedalus_deletion());
}

#[test]
fn rendering() {
    let text = aggregates().render();
    assert!(
        text.contains(".decl val(c0: number, c1: number)\n"),
        "{text}"
    );
    assert!(
        text.contains("hi(k, n) :- n = max y : { val(k, y) }, key(k).\n"),
        "{text}"
    );
    let text = dedalus_deletion().render();
    assert!(text.contains("p(x)@next :- p(x), !del(x).\n"), "{text}");
    assert!(text.contains("p(1).\n"), "{text}");
    assert!(
        text.contains("size(n) :- n = count : { p(x) }.\n"),
        "{text}"
    );
    let text = arithmetic().render();
    assert!(
        text.contains("a = x / -2, b = x % 3, c = -x, d = c - b"),
        "{text}"
    );
}

/// The generator's lattice block (see `gen::RawLattice`) is exercised: many programs have one
/// (of every lattice kind),
/// and in many of those a key's value is merged from more than one candidate (the lattice
/// relation holds fewer rows than its raw reader would without merging).
#[test]
fn generated_programs_exercise_lattices() {
    for mode in [Mode::Stratified, Mode::Dedalus] {
        let mut runner = TestRunner::new(config(300));
        let (with, merged) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
        let kinds = std::cell::RefCell::new(std::collections::BTreeSet::new());
        runner
            .run(&random_program(mode), |prog| {
                let Some(lat) = prog.names.iter().position(|n| n == "lat") else {
                    return Ok(());
                };
                with.set(with.get() + 1);
                kinds
                    .borrow_mut()
                    .insert(format!("{:?}", prog.lattice[lat]));
                // The merge is visible when the step rule or several seeds offer a key more
                // than one value: compare with the same program without the lattice.
                let mut plain = prog.clone();
                plain.lattice[lat] = None;
                plain.rules.retain(|r| {
                    !r.body
                        .iter()
                        .any(|l| matches!(l, Lit::Assign(z, _) if z == "z"))
                });
                if let (Outcome::Ok(a), Outcome::Ok(b)) = (
                    evaluate(&prog, support::MAX_TICKS),
                    evaluate(&plain, support::MAX_TICKS),
                ) && a[lat].len() < b[lat].len()
                {
                    merged.set(merged.get() + 1);
                }
                Ok(())
            })
            .unwrap();
        assert!(
            with.get() > 60,
            "{mode:?}: {} programs with a lattice",
            with.get()
        );
        assert!(merged.get() > 10, "{mode:?}: {} with merges", merged.get());
        // Every lattice kind: max, min, bool, counter, lww.
        assert_eq!(kinds.borrow().len(), 5, "{mode:?}: {:?}", kinds.borrow());
    }
}
