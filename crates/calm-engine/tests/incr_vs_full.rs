//! Incremental ticks against full ticks: random stratified and Dedalus programs (the generator
//! of the differential tests) driven through random ticks, each with random facts arriving for
//! random relations; after every tick the incremental engine and one that evaluates every tick
//! from scratch (`Engine::set_full_ticks`) hold the same relations, send the same facts, agree
//! on quiescence and carry the same state.
//!
//! `PROPTEST_CASES=n` changes the number of random cases (default 96).

#[allow(dead_code)]
mod support;

use calm_engine::{Engine, Program as Compiled, Value};
use proptest::prelude::*;
use proptest::test_runner::Config;
use support::r#gen::{Mode, program as random_program};
use support::naive::Program;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(96)
}

/// One tick's arrivals: (relation index, tuple).
type Ticks = Vec<Vec<(usize, Vec<i64>)>>;

fn ticks() -> impl Strategy<Value = Ticks> {
    prop::collection::vec(
        prop::collection::vec((0usize..64, prop::collection::vec(0i64..4, 3)), 0..5),
        1..10,
    )
}

fn engine(compiled: &Compiled, prog: &Program, full: bool) -> Engine {
    let mut e = Engine::new(compiled);
    e.set_full_ticks(full);
    let mut by_rel: Vec<Vec<Vec<Value>>> = vec![Vec::new(); prog.arities.len()];
    for (rel, t) in &prog.inserted {
        by_rel[*rel].push(t.iter().map(|&x| Value::Number(x)).collect());
    }
    for (rel, tuples) in by_rel.into_iter().enumerate() {
        if !tuples.is_empty() {
            e.insert(&prog.names[rel], tuples).unwrap();
        }
    }
    e
}

fn compare(prog: Program, ticks: Ticks, mode: Mode) -> Result<(), TestCaseError> {
    let text = prog.render();
    let Ok(compiled) = Compiled::compile("incr.dl", &text) else {
        return Ok(());
    };
    let _ = mode;
    let mut inc = engine(&compiled, &prog, false);
    let mut full = engine(&compiled, &prog, true);
    let n = prog.names.len();
    for (t, tick) in ticks.iter().enumerate() {
        let arrivals: Vec<(String, Vec<Value>)> = tick
            .iter()
            .map(|(r, vals)| {
                let rel = r % n;
                let tuple = vals
                    .iter()
                    .cycle()
                    .take(prog.arities[rel])
                    .map(|&x| Value::Number(x))
                    .collect();
                (prog.names[rel].clone(), tuple)
            })
            .collect();
        let a = inc.tick(&arrivals);
        let b = full.tick(&arrivals);
        match (a, b) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a, b, "tick {} output\n{}", t, text);
            }
            (Err(a), Err(b)) => {
                prop_assert_eq!(a.to_string(), b.to_string(), "tick {}\n{}", t, text);
                continue;
            }
            (a, b) => prop_assert!(false, "tick {t}: {a:?} vs {b:?}\n{text}"),
        }
        for name in &prog.names {
            prop_assert_eq!(
                inc.relation(name).unwrap(),
                full.relation(name).unwrap(),
                "relation {} after tick {}\n{}\narrivals {:?}",
                name,
                t,
                text,
                ticks
            );
        }
        prop_assert_eq!(inc.snapshot(), full.snapshot(), "carry after tick {}", t);
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: cases(), failure_persistence: None, ..Config::default() })]

    #[test]
    fn dedalus_programs_tick_alike(prog in random_program(Mode::Dedalus), ticks in ticks()) {
        compare(prog, ticks, Mode::Dedalus)?;
    }

    #[test]
    fn stratified_programs_tick_alike(prog in random_program(Mode::Stratified), ticks in ticks()) {
        compare(prog, ticks, Mode::Stratified)?;
    }
}
