//! Rule shapes whose cost depends on how the planner takes a rule's atoms apart (one full
//! evaluation each, as `calm run` does):
//!
//! ```sh
//! cargo bench -p calm-engine --bench planner
//! ```
//!
//! 1. `selection`: `r(x+1) :- r(x), s(0), x < 8000.` with 10,000 rows in `s` — a constant in a
//!    later atom; 8,000 rounds.
//! 2. `group`: `a(x+1) :- a(x), c(y), d(y), x < 20000.` with 1,000 rows in `c` and 1,011 in
//!    `d` — atoms that share no variable with the recursive one; 20,000 rounds.
//! 3. `two_selections`: `both(a, d) :- loop(0, a, _), loop(1, _, d).` over 20,000 rows —
//!    two selections sharing nothing.
//!
//! Every scenario checks its result.

use calm_engine::{Engine, Program, Value};
use std::time::Instant;

fn num(n: i64) -> Value {
    Value::Number(n)
}

fn run(name: &str, src: &str, facts: Vec<(&str, Vec<Vec<Value>>)>, out: &str, want: usize) {
    let program = Program::compile(name, src).expect("compiles");
    let mut e = Engine::new(&program);
    for (rel, rows) in facts {
        e.insert(rel, rows).expect("insert");
    }
    let t = Instant::now();
    e.tick(&[]).expect("tick");
    let took = t.elapsed();
    assert_eq!(e.relation_len(out).unwrap(), want, "{name}: rows of {out}");
    println!(
        "{name:<15} {:>9.3} ms  ({want} rows of {out})",
        took.as_secs_f64() * 1e3
    );
}

fn main() {
    run(
        "selection",
        ".decl r(x: number)\n.decl s(x: number)\n.input s\nr(0).\n\
         r(x + 1) :- r(x), s(0), x < 8000.\n",
        vec![("s", (0..10_000).map(|i| vec![num(i)]).collect())],
        "r",
        8001,
    );
    run(
        "group",
        ".decl a(x: number)\n.decl c(x: number)\n.decl d(x: number)\n.input c\n.input d\n\
         a(0).\na(x + 1) :- a(x), c(y), d(y), x < 20000.\n",
        vec![
            ("c", (1..=1000).map(|i| vec![num(i)]).collect()),
            ("d", (990..=2000).map(|i| vec![num(i)]).collect()),
        ],
        "a",
        20_001,
    );
    let rows: Vec<Vec<Value>> = (0..20_000)
        .map(|i| vec![num(i % 4), num(i), num(i + 1)])
        .collect();
    run(
        "two_selections",
        ".decl loop(k: number, a: number, b: number)\n.input loop\n\
         .decl both(a: number, b: number)\n\
         both(a, d) :- loop(0, a, _), loop(1, _, d), a < 400, d < 400.\n",
        vec![("loop", rows)],
        "both",
        100 * 100,
    );
}
