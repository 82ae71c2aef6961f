//! `range` generators, subsumption and Souffle's aggregate scoping (witnesses, nested and
//! inline aggregates) under incremental ticks: random arrivals, tick by tick, against an
//! engine that evaluates every tick from scratch (`Engine::set_full_ticks`). Both must hold
//! the same relations after every tick.
//!
//! `PROPTEST_CASES=n` changes the number of random cases (default 64).

use calm_engine::{Engine, Program, Value};
use proptest::prelude::*;
use proptest::test_runner::Config;

const PROGRAM: &str = r#"
.decl lim(lo: number, hi: number)
.decl pt(x: number, y: number)
.persist pt
.decl gen(lo: number, x: number)
gen(lo, x) :- lim(lo, hi), x = range(lo, hi).
.decl down(x: number)
down(x) :- lim(lo, hi), x = range(hi, lo, -2).
.decl hit(x: number)
hit(x) :- pt(x, _), lim(lo, hi), x = range(lo, hi, 2).
.decl cnt(lo: number, n: number)
cnt(lo, n) :- lim(lo, _), n = count : { lim(lo, hi), i = range(lo, hi) }.
.decl best(x: number, y: number)
best(x, y) <= best(x, z) :- y < z.
best(x, y) :- pt(x, y).
best(x, y) :- lim(x, y).
.decl top(x: number, m: number)
top(x, m) :- m = max y : { pt(x, y) }.
.decl above(x: number)
above(x) :- pt(x, y), y > min v : { pt(_, v) } + count : { lim(_, _) }.
.decl nested(s: number)
nested(s) :- s = sum y : { pt(x, y), y = max z : { pt(x, z) } }.
"#;

const RELATIONS: &[&str] = &[
    "lim", "pt", "gen", "down", "hit", "cnt", "best", "top", "above", "nested",
];

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

/// One tick's arrivals: (`lim` or `pt`, two numbers).
type Ticks = Vec<Vec<(bool, i64, i64)>>;

fn ticks() -> impl Strategy<Value = Ticks> {
    prop::collection::vec(
        prop::collection::vec((any::<bool>(), -2i64..6, -2i64..6), 0..5),
        1..8,
    )
}

fn run(ticks: &Ticks) -> Result<(), TestCaseError> {
    let compiled = Program::compile("scoping.dl", PROGRAM).expect("the program compiles");
    let mut inc = Engine::new(&compiled);
    let mut full = Engine::new(&compiled);
    full.set_full_ticks(true);
    for (t, tick) in ticks.iter().enumerate() {
        let arrivals: Vec<(String, Vec<Value>)> = tick
            .iter()
            .map(|&(lim, a, b)| {
                let rel = if lim { "lim" } else { "pt" };
                (rel.to_string(), vec![Value::Number(a), Value::Number(b)])
            })
            .collect();
        let a = inc.tick(&arrivals).map_err(|e| e.to_string());
        let b = full.tick(&arrivals).map_err(|e| e.to_string());
        prop_assert_eq!(&a, &b, "tick {}", t);
        for name in RELATIONS {
            prop_assert_eq!(
                inc.relation(name).unwrap(),
                full.relation(name).unwrap(),
                "`{}` after tick {}: {:?}",
                name,
                t,
                ticks
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: cases(), failure_persistence: None, ..Config::default() })]

    #[test]
    fn incremental_ticks_match_full_ticks(ticks in ticks()) {
        run(&ticks)?;
    }
}

/// The same program in one tick, checked against values worked out by hand.
#[test]
fn one_tick_by_hand() {
    let compiled = Program::compile("scoping.dl", PROGRAM).expect("the program compiles");
    let mut e = Engine::new(&compiled);
    let n = |v: i64| Value::Number(v);
    let arrivals = vec![
        ("lim".to_string(), vec![n(1), n(4)]),
        ("pt".to_string(), vec![n(1), n(2)]),
        ("pt".to_string(), vec![n(1), n(5)]),
        ("pt".to_string(), vec![n(3), n(3)]),
    ];
    e.tick(&arrivals).unwrap();
    let rows = |name: &str| e.relation(name).unwrap();
    let nums = |v: &[&[i64]]| -> Vec<Vec<Value>> {
        v.iter()
            .map(|r| r.iter().map(|&x| n(x)).collect())
            .collect()
    };
    assert_eq!(rows("gen"), nums(&[&[1, 1], &[1, 2], &[1, 3]]));
    assert_eq!(rows("down"), nums(&[&[2], &[4]]));
    assert_eq!(rows("hit"), nums(&[&[1], &[3]]));
    assert_eq!(rows("cnt"), nums(&[&[1, 3]]));
    // best: (1, 2) is dominated by (1, 5) and (1, 4); (1, 4) by (1, 5).
    assert_eq!(rows("best"), nums(&[&[1, 5], &[3, 3]]));
    assert_eq!(rows("top"), nums(&[&[1, 5]]));
    // min y = 2, one `lim` row: y > 3.
    assert_eq!(rows("above"), nums(&[&[1]]));
    assert_eq!(rows("nested"), nums(&[&[8]]));
}
