//! Lattice columns in the engine: shortest paths against Dijkstra, merges across ticks on the
//! incremental path (a value that grows replaces its row), and the full tick taken when a value
//! may have to go down.

use calm_engine::{Engine, Program, Value};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

fn n(x: i64) -> Value {
    Value::Number(x)
}

fn rows(e: &Engine, rel: &str) -> BTreeSet<Vec<i64>> {
    e.relation(rel)
        .unwrap()
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| match v {
                    Value::Number(x) => x,
                    other => panic!("not a number: {other}"),
                })
                .collect()
        })
        .collect()
}

/// Single-source shortest distances from node 0, by Dijkstra.
fn dijkstra(nodes: i64, edges: &[(i64, i64, i64)]) -> BTreeSet<Vec<i64>> {
    let mut adj: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
    for &(a, b, w) in edges {
        adj.entry(a).or_default().push((b, w));
    }
    let mut dist: BTreeMap<i64, i64> = BTreeMap::new();
    let mut heap = BinaryHeap::from([std::cmp::Reverse((0i64, 0i64))]);
    while let Some(std::cmp::Reverse((d, x))) = heap.pop() {
        if dist.contains_key(&x) {
            continue;
        }
        dist.insert(x, d);
        for &(y, w) in adj.get(&x).map(Vec::as_slice).unwrap_or(&[]) {
            if !dist.contains_key(&y) {
                heap.push(std::cmp::Reverse((d + w, y)));
            }
        }
    }
    assert!(dist.keys().all(|&k| k < nodes));
    dist.into_iter().map(|(k, d)| vec![k, d]).collect()
}

const SSSP: &str = "
.decl edge(x: number, y: number, w: number)
.decl dist(x: number, d: min)
.decl near(x: number)
.decl exact(x: number, d: number)
dist(0, 0).
dist(y, d + w) :- dist(x, d), edge(x, y, w).
near(x) :- dist(x, d), d <= 4.
exact(x, d) :- dist(x, d).
";

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// The `min` lattice gives Dijkstra's distances, in one tick (batch) and when the edges
    /// arrive over several ticks into a persisted relation (incremental merges).
    #[test]
    fn shortest_paths_match_dijkstra(
        edges in prop::collection::vec((0i64..12, 0i64..12, 0i64..9), 0..40),
        split in 1usize..5,
    ) {
        let want = dijkstra(12, &edges);
        let near: BTreeSet<Vec<i64>> =
            want.iter().filter(|r| r[1] <= 4).map(|r| vec![r[0]]).collect();
        let p = Program::compile("sssp.dl", SSSP).unwrap();
        let mut e = Engine::new(&p);
        e.insert("edge", edges.iter().map(|&(a, b, w)| vec![n(a), n(b), n(w)]).collect()).unwrap();
        e.run().unwrap();
        prop_assert_eq!(rows(&e, "dist"), want.clone());
        prop_assert_eq!(rows(&e, "exact"), want.clone());
        prop_assert_eq!(rows(&e, "near"), near.clone());

        let p = Program::compile("sssp.dl", &format!("{SSSP}.persist edge\n.persist dist\n")).unwrap();
        let mut e = Engine::new(&p);
        e.tick(&[]).unwrap();
        for chunk in edges.chunks(edges.len().div_ceil(split).max(1)) {
            let arrivals: Vec<(String, Vec<Value>)> = chunk
                .iter()
                .map(|&(a, b, w)| ("edge".to_string(), vec![n(a), n(b), n(w)]))
                .collect();
            e.tick(&arrivals).unwrap();
            // Edges only arrive: every tick after the first is incremental.
            prop_assert!(e.last_changes("dist").unwrap().is_some());
        }
        e.run().unwrap();
        prop_assert_eq!(rows(&e, "dist"), want);
        prop_assert_eq!(rows(&e, "near"), near);
    }
}

const REGISTER: &str = "
.decl put(k: symbol, v: number)
.decl reg(k: symbol, v: max)
.decl big(k: symbol)
.persist reg
reg(k, v) :- put(k, v).
big(k) :- reg(k, v), v >= 10.
";

const SEEN: &str = "
.decl put(k: symbol, v: number)
.decl seen(k: symbol, v: max)
seen(k, v) :- put(k, v).
";

fn put(k: &str, v: i64) -> (String, Vec<Value>) {
    ("put".into(), vec![Value::Symbol(k.into()), n(v)])
}

fn sym_rows(e: &Engine, rel: &str) -> Vec<Vec<Value>> {
    e.relation(rel).unwrap()
}

#[test]
fn a_value_that_grows_replaces_its_row_incrementally() {
    let p = Program::compile("reg.dl", REGISTER).unwrap();
    let mut e = Engine::new(&p);
    e.tick(&[put("a", 5), put("a", 3), put("b", 1)]).unwrap();
    let a = |v| vec![Value::Symbol("a".into()), n(v)];
    let b = |v| vec![Value::Symbol("b".into()), n(v)];
    assert_eq!(sym_rows(&e, "reg"), vec![a(5), b(1)]);
    // A larger value: the row is replaced, and the change says so.
    e.tick(&[put("a", 12)]).unwrap();
    assert_eq!(sym_rows(&e, "reg"), vec![a(12), b(1)]);
    let c = e.last_changes("reg").unwrap().expect("an incremental tick");
    assert_eq!(c.added, vec![a(12)]);
    assert_eq!(c.removed, vec![a(5)]);
    assert_eq!(sym_rows(&e, "big"), vec![vec![Value::Symbol("a".into())]]);
    // A smaller value changes nothing.
    e.tick(&[put("a", 7), put("b", 0)]).unwrap();
    assert_eq!(sym_rows(&e, "reg"), vec![a(12), b(1)]);
    // The next tick carries the persisted value that grew: still incremental.
    e.tick(&[]).unwrap();
    assert!(e.last_changes("reg").unwrap().is_some());
    assert_eq!(sym_rows(&e, "reg"), vec![a(12), b(1)]);
}

#[test]
fn a_value_that_may_go_down_is_evaluated_in_full() {
    // `seen` is not persisted: it holds the largest value that arrived at this tick, so when an
    // arrival stops its value may go down (a full tick); growth is incremental.
    let p = Program::compile("seen.dl", SEEN).unwrap();
    let mut e = Engine::new(&p);
    let a = |v| vec![vec![Value::Symbol("a".into()), n(v)]];
    e.tick(&[put("a", 5)]).unwrap();
    e.tick(&[put("a", 5), put("a", 9)]).unwrap();
    assert!(
        e.last_changes("seen").unwrap().is_some(),
        "growth is incremental"
    );
    assert_eq!(sym_rows(&e, "seen"), a(9));
    e.tick(&[put("a", 2)]).unwrap();
    assert!(e.last_changes("seen").unwrap().is_none(), "a full tick");
    assert_eq!(sym_rows(&e, "seen"), a(2));
    e.tick(&[put("a", 2), put("a", 3)]).unwrap();
    assert!(
        e.last_changes("seen").unwrap().is_some(),
        "incremental again"
    );
    assert_eq!(sym_rows(&e, "seen"), a(3));
    e.tick(&[]).unwrap();
    assert!(sym_rows(&e, "seen").is_empty());
}

#[test]
fn raw_reads_see_only_the_merged_value() {
    // `exact` copies the value into a plain column: it is evaluated after `dist` is complete,
    // so it never holds a value that was overtaken.
    let p = Program::compile("sssp.dl", SSSP).unwrap();
    let mut e = Engine::new(&p);
    e.insert(
        "edge",
        vec![
            vec![n(0), n(1), n(10)],
            vec![n(0), n(2), n(1)],
            vec![n(2), n(1), n(1)],
        ],
    )
    .unwrap();
    e.run().unwrap();
    assert_eq!(
        rows(&e, "exact"),
        BTreeSet::from([vec![0, 0], vec![1, 2], vec![2, 1]])
    );
}

fn sym(s: &str) -> Value {
    Value::Symbol(s.into())
}

const LWW: &str = "
.decl write(k: symbol, t: number, w: symbol, v: symbol)
.decl reg(k: symbol, t: lww, w: symbol, v: symbol)
.decl value(k: symbol, v: symbol)
.decl late(k: symbol)
.persist reg
reg(k, t, w, v) :- write(k, t, w, v).
value(k, v) :- reg(k, _, _, v).
late(k) :- reg(k, t, _, _), t >= 10.
";

fn write(k: &str, t: i64, w: &str, v: &str) -> (String, Vec<Value>) {
    ("write".into(), vec![sym(k), n(t), sym(w), sym(v)])
}

/// The largest (timestamp, writer, value) wins, writers and values compared by their text
/// (not by the order in which they were interned), in one run and across incremental ticks.
#[test]
fn lww_keeps_the_dominating_triple() {
    let p = Program::compile("lww.dl", LWW).unwrap();
    let reg = |k: &str, t: i64, w: &str, v: &str| vec![sym(k), n(t), sym(w), sym(v)];
    // Batch: all writes in one run. "zz" is interned before "aa" and still sorts after it.
    let mut e = Engine::new(&p);
    e.insert(
        "write",
        vec![
            vec![sym("x"), n(3), sym("zz"), sym("old")],
            vec![sym("x"), n(5), sym("n2"), sym("b")],
            vec![sym("x"), n(5), sym("n1"), sym("c")],
            vec![sym("y"), n(1), sym("aa"), sym("q")],
            vec![sym("y"), n(1), sym("aa"), sym("p")],
        ],
    )
    .unwrap();
    e.run().unwrap();
    assert_eq!(
        sym_rows(&e, "reg"),
        vec![reg("x", 5, "n2", "b"), reg("y", 1, "aa", "q")]
    );
    assert_eq!(
        sym_rows(&e, "value"),
        vec![vec![sym("x"), sym("b")], vec![sym("y"), sym("q")]]
    );
    // Incremental: a write with a later timestamp replaces the row, an earlier one does not.
    let mut e = Engine::new(&p);
    e.tick(&[write("x", 5, "n2", "b"), write("x", 3, "n9", "a")])
        .unwrap();
    assert_eq!(sym_rows(&e, "reg"), vec![reg("x", 5, "n2", "b")]);
    e.tick(&[write("x", 4, "n9", "z")]).unwrap();
    assert_eq!(sym_rows(&e, "reg"), vec![reg("x", 5, "n2", "b")]);
    e.tick(&[write("x", 5, "n3", "a")]).unwrap();
    assert_eq!(sym_rows(&e, "reg"), vec![reg("x", 5, "n3", "a")]);
    assert!(sym_rows(&e, "late").is_empty());
    e.tick(&[write("x", 12, "n1", "d")]).unwrap();
    let c = e.last_changes("reg").unwrap().expect("an incremental tick");
    assert_eq!(c.added, vec![reg("x", 12, "n1", "d")]);
    assert_eq!(c.removed, vec![reg("x", 5, "n3", "a")]);
    assert_eq!(sym_rows(&e, "value"), vec![vec![sym("x"), sym("d")]]);
    assert_eq!(sym_rows(&e, "late"), vec![vec![sym("x")]]);
}

const FLAGS: &str = "
.decl set(k: symbol, v: number)
.decl flag(k: symbol, v: bool)
.decl on(k: symbol)
.decl count(k: symbol, n: counter)
.persist flag
.persist count
flag(k, v) :- set(k, v).
count(k, v) :- set(k, v).
on(k) :- flag(k, 1).
";

/// `bool` merges by or and holds 0 or 1; `counter` holds the largest value, at least 0.
#[test]
fn bool_ors_and_counter_never_goes_below_zero() {
    let p = Program::compile("flags.dl", FLAGS).unwrap();
    let set = |k: &str, v: i64| ("set".to_string(), vec![sym(k), n(v)]);
    let row = |k: &str, v: i64| vec![sym(k), n(v)];
    for incremental in [false, true] {
        let mut e = Engine::new(&p);
        if incremental {
            e.tick(&[set("a", 0), set("b", -4)]).unwrap();
            assert_eq!(sym_rows(&e, "flag"), vec![row("a", 0), row("b", 1)]);
            assert_eq!(sym_rows(&e, "count"), vec![row("a", 0), row("b", 0)]);
            e.tick(&[set("a", 7), set("b", 0), set("b", 3)]).unwrap();
        } else {
            e.insert(
                "set",
                vec![
                    row("a", 0),
                    row("b", -4),
                    row("a", 7),
                    row("b", 0),
                    row("b", 3),
                ],
            )
            .unwrap();
            e.run().unwrap();
        }
        assert_eq!(sym_rows(&e, "flag"), vec![row("a", 1), row("b", 1)]);
        assert_eq!(sym_rows(&e, "count"), vec![row("a", 7), row("b", 3)]);
        assert_eq!(sym_rows(&e, "on"), vec![vec![sym("a")], vec![sym("b")]]);
    }
}
