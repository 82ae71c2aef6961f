//! Deletions across ticks, through the public API, with the rows worked out by hand: a fact
//! losing one of two derivations, recursive paths losing their support (chains and cycles),
//! aggregate groups shrinking and disappearing, negation flipping both ways, the key-value store
//! of `programs/kvs.dl`, and `relation_where` after deletions.
//!
//! State with deletion is written `p(x)@next :- p(x), !del(x).  p(x) :- add(x).`: `add(x)`
//! arriving at tick t puts `p(x)` in tick t and the ticks after; `del(x)` arriving at tick t
//! removes it from tick t + 1 on (it still holds at tick t).

use calm_engine::{Engine, Program, Value};

fn n(x: i64) -> Value {
    Value::Number(x)
}

fn s(x: &str) -> Value {
    Value::Symbol(x.into())
}

fn engine(src: &str) -> Engine {
    match Program::compile("t.dl", src) {
        Ok(p) => Engine::new(&p),
        Err(e) => panic!("{e}"),
    }
}

/// Runs one tick with the given arrivals (relation, numbers); nothing may be sent away.
fn tick(e: &mut Engine, arrivals: &[(&str, &[i64])]) {
    let arrivals: Vec<(String, Vec<Value>)> = arrivals
        .iter()
        .map(|(r, xs)| (r.to_string(), xs.iter().map(|&x| n(x)).collect()))
        .collect();
    match e.tick(&arrivals) {
        Ok(out) => assert!(out.sent.is_empty(), "sent {:?}", out.sent),
        Err(err) => panic!("{err}"),
    }
}

/// The relation's rows, all numbers.
fn rows(e: &Engine, rel: &str) -> Vec<Vec<i64>> {
    e.relation(rel)
        .unwrap()
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| match v {
                    Value::Number(x) => x,
                    other => panic!("{rel}: not a number: {other}"),
                })
                .collect()
        })
        .collect()
}

/// Sorted rows from a literal.
fn want(rs: &[&[i64]]) -> Vec<Vec<i64>> {
    let mut v: Vec<Vec<i64>> = rs.iter().map(|r| r.to_vec()).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// A fact derived two ways.

#[test]
fn a_fact_with_two_derivations_from_arrivals_loses_one_and_stays() {
    let mut e = engine(
        ".decl a(x: number)\n.decl b(x: number)\n\
         h(x) :- a(x).\nh(x) :- b(x).\n",
    );
    tick(&mut e, &[("a", &[1]), ("b", &[1]), ("a", &[2])]);
    assert_eq!(rows(&e, "h"), want(&[&[1], &[2]]));
    tick(&mut e, &[("b", &[1])]);
    assert_eq!(rows(&e, "h"), want(&[&[1]]));
    tick(&mut e, &[("a", &[1])]);
    assert_eq!(rows(&e, "h"), want(&[&[1]]));
    tick(&mut e, &[]);
    assert_eq!(rows(&e, "h"), want(&[]));
    assert_eq!(rows(&e, "a"), want(&[]));
}

#[test]
fn a_fact_with_two_derivations_from_state_loses_one_and_stays() {
    let mut e = engine(
        ".decl add_a(x: number)\n.decl del_a(x: number)\n\
         .decl add_b(x: number)\n.decl del_b(x: number)\n\
         sa(x)@next :- sa(x), !del_a(x).\nsa(x) :- add_a(x).\n\
         sb(x)@next :- sb(x), !del_b(x).\nsb(x) :- add_b(x).\n\
         h(x) :- sa(x).\nh(x) :- sb(x).\n\
         both(x) :- sa(x), sb(x).\n",
    );
    tick(&mut e, &[("add_a", &[1]), ("add_b", &[1]), ("add_a", &[2])]);
    assert_eq!(rows(&e, "h"), want(&[&[1], &[2]]));
    assert_eq!(rows(&e, "both"), want(&[&[1]]));
    // The deletion takes effect at the next tick.
    tick(&mut e, &[("del_a", &[1])]);
    assert_eq!(rows(&e, "sa"), want(&[&[1], &[2]]));
    assert_eq!(rows(&e, "h"), want(&[&[1], &[2]]));
    tick(&mut e, &[]);
    assert_eq!(rows(&e, "sa"), want(&[&[2]]));
    assert_eq!(rows(&e, "sb"), want(&[&[1]]));
    assert_eq!(rows(&e, "h"), want(&[&[1], &[2]]));
    assert_eq!(rows(&e, "both"), want(&[]));
    tick(&mut e, &[("del_b", &[1])]);
    assert_eq!(rows(&e, "h"), want(&[&[1], &[2]]));
    tick(&mut e, &[]);
    assert_eq!(rows(&e, "sb"), want(&[]));
    assert_eq!(rows(&e, "h"), want(&[&[2]]));
    // Deleted and added again in the same tick: it holds that tick, but the delete wins at the
    // next (the add derives `sa` in its own tick only; carrying it over is up to the rule that
    // the delete blocks).
    tick(&mut e, &[("del_a", &[2]), ("add_a", &[2])]);
    assert_eq!(rows(&e, "h"), want(&[&[2]]));
    tick(&mut e, &[]);
    assert_eq!(rows(&e, "sa"), want(&[]));
    assert_eq!(rows(&e, "h"), want(&[]));
}

// ---------------------------------------------------------------------------------------------
// Recursion.

const PATHS: &str = ".decl add(x: number, y: number)\n.decl cut(x: number, y: number)\n\
    edge(x, y)@next :- edge(x, y), !cut(x, y).\nedge(x, y) :- add(x, y).\n\
    path(x, y) :- edge(x, y).\npath(x, z) :- path(x, y), edge(y, z).\n";

#[test]
fn a_path_through_a_cut_edge_goes_and_one_with_another_support_stays() {
    let mut e = engine(PATHS);
    tick(
        &mut e,
        &[("add", &[1, 2]), ("add", &[2, 3]), ("add", &[3, 4])],
    );
    let chain = want(&[&[1, 2], &[1, 3], &[1, 4], &[2, 3], &[2, 4], &[3, 4]]);
    assert_eq!(rows(&e, "path"), chain);
    tick(&mut e, &[("cut", &[2, 3])]);
    assert_eq!(rows(&e, "path"), chain);
    tick(&mut e, &[]);
    assert_eq!(rows(&e, "edge"), want(&[&[1, 2], &[3, 4]]));
    assert_eq!(rows(&e, "path"), want(&[&[1, 2], &[3, 4]]));
    // Put it back, plus a shortcut 1 -> 3.
    tick(&mut e, &[("add", &[2, 3]), ("add", &[1, 3])]);
    assert_eq!(
        rows(&e, "path"),
        want(&[&[1, 2], &[1, 3], &[1, 4], &[2, 3], &[2, 4], &[3, 4]])
    );
    // Cutting 2 -> 3 again: 1 still reaches 3 and 4 through the shortcut; 2 does not.
    tick(&mut e, &[("cut", &[2, 3])]);
    tick(&mut e, &[]);
    assert_eq!(rows(&e, "edge"), want(&[&[1, 2], &[1, 3], &[3, 4]]));
    assert_eq!(
        rows(&e, "path"),
        want(&[&[1, 2], &[1, 3], &[1, 4], &[3, 4]])
    );
    // Cutting the first edge of the chain (1 -> 2) leaves the rest.
    tick(&mut e, &[("cut", &[1, 2])]);
    tick(&mut e, &[]);
    assert_eq!(rows(&e, "path"), want(&[&[1, 3], &[1, 4], &[3, 4]]));
}

#[test]
fn a_cycle_keeps_its_paths_until_it_is_cut() {
    let mut e = engine(PATHS);
    tick(
        &mut e,
        &[
            ("add", &[1, 2]),
            ("add", &[2, 3]),
            ("add", &[3, 1]),
            ("add", &[3, 4]),
        ],
    );
    let mut all = Vec::new();
    for x in 1..=3 {
        for y in 1..=4 {
            all.push(vec![x, y]);
        }
    }
    assert_eq!(rows(&e, "path"), all);
    tick(&mut e, &[]);
    assert_eq!(rows(&e, "path"), all);
    // Cut the edge closing the cycle: the paths from a node to itself (which supported each
    // other through the cycle) go, and so does every path back to 1.
    tick(&mut e, &[("cut", &[3, 1])]);
    assert_eq!(rows(&e, "path"), all);
    tick(&mut e, &[]);
    assert_eq!(
        rows(&e, "path"),
        want(&[&[1, 2], &[1, 3], &[1, 4], &[2, 3], &[2, 4], &[3, 4]])
    );
    tick(&mut e, &[("cut", &[1, 2])]);
    tick(&mut e, &[]);
    assert_eq!(rows(&e, "path"), want(&[&[2, 3], &[2, 4], &[3, 4]]));
    // Given back with `Engine::insert` between ticks: `edge` has state over time, so the fact
    // joins its state at the next tick (and the rule keeps it).
    e.insert("edge", vec![vec![n(3), n(1)]]).unwrap();
    tick(&mut e, &[]);
    assert_eq!(rows(&e, "edge"), want(&[&[2, 3], &[3, 1], &[3, 4]]));
    assert_eq!(
        rows(&e, "path"),
        want(&[&[2, 1], &[2, 3], &[2, 4], &[3, 1], &[3, 4]])
    );
    tick(&mut e, &[]);
    assert_eq!(
        rows(&e, "path"),
        want(&[&[2, 1], &[2, 3], &[2, 4], &[3, 1], &[3, 4]])
    );
}

// ---------------------------------------------------------------------------------------------
// Aggregates.

#[test]
fn aggregate_groups_shrink_change_value_and_disappear() {
    let mut e = engine(
        ".decl put(k: number, v: number)\n.decl drop(k: number, v: number)\n\
         item(k, v)@next :- item(k, v), !drop(k, v).\nitem(k, v) :- put(k, v).\n\
         c(k, n) :- item(k, _), n = count : item(k, _).\n\
         s(k, n) :- item(k, _), n = sum v : { item(k, v) }.\n\
         lo(k, n) :- item(k, _), n = min v : { item(k, v) }.\n\
         hi(k, n) :- item(k, _), n = max v : { item(k, v) }.\n\
         total(n) :- n = count : { item(k, v) }.\n\
         top(n) :- n = max v : { item(k, v) }.\n",
    );
    let check = |e: &Engine, c: &[&[i64]], s: &[&[i64]], lo: &[&[i64]], hi: &[&[i64]]| {
        assert_eq!(rows(e, "c"), want(c), "count");
        assert_eq!(rows(e, "s"), want(s), "sum");
        assert_eq!(rows(e, "lo"), want(lo), "min");
        assert_eq!(rows(e, "hi"), want(hi), "max");
    };
    tick(
        &mut e,
        &[
            ("put", &[1, 5]),
            ("put", &[1, 7]),
            ("put", &[1, 2]),
            ("put", &[2, 4]),
        ],
    );
    check(
        &e,
        &[&[1, 3], &[2, 1]],
        &[&[1, 14], &[2, 4]],
        &[&[1, 2], &[2, 4]],
        &[&[1, 7], &[2, 4]],
    );
    assert_eq!(rows(&e, "total"), want(&[&[4]]));
    assert_eq!(rows(&e, "top"), want(&[&[7]]));
    // Dropping the maximum of group 1.
    tick(&mut e, &[("drop", &[1, 7])]);
    tick(&mut e, &[]);
    check(
        &e,
        &[&[1, 2], &[2, 1]],
        &[&[1, 7], &[2, 4]],
        &[&[1, 2], &[2, 4]],
        &[&[1, 5], &[2, 4]],
    );
    assert_eq!(rows(&e, "total"), want(&[&[3]]));
    assert_eq!(rows(&e, "top"), want(&[&[5]]));
    // Dropping the minimum of group 1 and all of group 2, while adding to group 3.
    tick(
        &mut e,
        &[("drop", &[1, 2]), ("drop", &[2, 4]), ("put", &[3, 3])],
    );
    check(
        &e,
        &[&[1, 2], &[2, 1], &[3, 1]],
        &[&[1, 7], &[2, 4], &[3, 3]],
        &[&[1, 2], &[2, 4], &[3, 3]],
        &[&[1, 5], &[2, 4], &[3, 3]],
    );
    tick(&mut e, &[]);
    check(
        &e,
        &[&[1, 1], &[3, 1]],
        &[&[1, 5], &[3, 3]],
        &[&[1, 5], &[3, 3]],
        &[&[1, 5], &[3, 3]],
    );
    assert_eq!(rows(&e, "total"), want(&[&[2]]));
    // Everything goes: the groups disappear, the count of nothing is 0, the max of nothing is
    // no row.
    tick(&mut e, &[("drop", &[1, 5]), ("drop", &[3, 3])]);
    tick(&mut e, &[]);
    check(&e, &[], &[], &[], &[]);
    assert_eq!(rows(&e, "total"), want(&[&[0]]));
    assert_eq!(rows(&e, "top"), want(&[]));
    // And a group comes back with a new value.
    tick(&mut e, &[("put", &[2, 6])]);
    check(&e, &[&[2, 1]], &[&[2, 6]], &[&[2, 6]], &[&[2, 6]]);
    assert_eq!(rows(&e, "top"), want(&[&[6]]));
}

// ---------------------------------------------------------------------------------------------
// Negation.

#[test]
fn negation_flips_both_ways_across_ticks() {
    let mut e = engine(
        ".decl kv(x: number)\n.decl bury(x: number)\n.decl unbury(x: number)\n\
         tomb(x)@next :- tomb(x), !unbury(x).\ntomb(x) :- bury(x).\n\
         v(x) :- kv(x), !tomb(x).\n\
         was(x)@next :- kv(x), !tomb(x).\n",
    );
    // `kv` has no state over time: what is inserted holds at every tick.
    e.insert("kv", vec![vec![n(1)], vec![n(2)], vec![n(3)]])
        .unwrap();
    tick(&mut e, &[]);
    assert_eq!(rows(&e, "v"), want(&[&[1], &[2], &[3]]));
    assert_eq!(rows(&e, "was"), want(&[]));
    tick(&mut e, &[("bury", &[2])]);
    assert_eq!(rows(&e, "v"), want(&[&[1], &[3]]));
    assert_eq!(rows(&e, "was"), want(&[&[1], &[2], &[3]]));
    // 2 stays buried this tick (the unbury takes effect at the next), 3 is buried now.
    tick(&mut e, &[("bury", &[3]), ("unbury", &[2])]);
    assert_eq!(rows(&e, "tomb"), want(&[&[2], &[3]]));
    assert_eq!(rows(&e, "v"), want(&[&[1]]));
    assert_eq!(rows(&e, "was"), want(&[&[1], &[3]]));
    tick(&mut e, &[]);
    assert_eq!(rows(&e, "tomb"), want(&[&[3]]));
    assert_eq!(rows(&e, "v"), want(&[&[1], &[2]]));
    assert_eq!(rows(&e, "was"), want(&[&[1]]));
    tick(&mut e, &[("unbury", &[3])]);
    assert_eq!(rows(&e, "v"), want(&[&[1], &[2]]));
    tick(&mut e, &[]);
    assert_eq!(rows(&e, "tomb"), want(&[]));
    assert_eq!(rows(&e, "v"), want(&[&[1], &[2], &[3]]));
    assert_eq!(rows(&e, "was"), want(&[&[1], &[2]]));
    // Inserted after the first tick, a fact without state holds from the next tick on; it can
    // be buried like the others.
    e.insert("kv", vec![vec![n(4)]]).unwrap();
    tick(&mut e, &[("bury", &[1])]);
    assert_eq!(rows(&e, "v"), want(&[&[2], &[3], &[4]]));
    tick(&mut e, &[]);
    assert_eq!(rows(&e, "v"), want(&[&[2], &[3], &[4]]));
    assert_eq!(rows(&e, "was"), want(&[&[2], &[3], &[4]]));
}

// ---------------------------------------------------------------------------------------------
// The key-value store.

/// `visible` as (k1, k2, value, client, seq).
fn visible(e: &Engine) -> Vec<(String, String, String, String, i64)> {
    e.relation("visible")
        .unwrap()
        .into_iter()
        .map(|row| match row.as_slice() {
            [
                Value::Symbol(a),
                Value::Symbol(b),
                Value::Symbol(v),
                Value::Symbol(c),
                Value::Number(s),
            ] => (a.clone(), b.clone(), v.clone(), c.clone(), *s),
            other => panic!("visible: unexpected row {other:?}"),
        })
        .collect()
}

fn vis(rs: &[(&str, &str, &str, &str, i64)]) -> Vec<(String, String, String, String, i64)> {
    let mut v: Vec<_> = rs
        .iter()
        .map(|&(a, b, v, c, s)| (a.into(), b.into(), v.into(), c.into(), s))
        .collect();
    v.sort();
    v
}

fn put(client: &str, seq: i64, k1: &str, k2: &str, value: &str) -> (String, Vec<Value>) {
    (
        "put".into(),
        vec![s(client), n(seq), s(k1), s(k2), s(value)],
    )
}

fn del(k1: &str, k2: &str) -> (String, Vec<Value>) {
    ("del".into(), vec![s(k1), s(k2)])
}

fn kvs_tick(e: &mut Engine, arrivals: &[(String, Vec<Value>)]) {
    match e.tick(arrivals) {
        Ok(out) => assert!(out.sent.is_empty(), "sent {:?}", out.sent),
        Err(err) => panic!("{err}"),
    }
}

/// Versions held in `kv`, as (client, seq).
fn held(e: &Engine) -> Vec<(String, i64)> {
    e.relation("kv")
        .unwrap()
        .into_iter()
        .map(|row| match (&row[0], &row[1]) {
            (Value::Symbol(c), Value::Number(s)) => (c.clone(), *s),
            other => panic!("kv: unexpected row {other:?}"),
        })
        .collect()
}

#[test]
fn kvs_on_one_node_puts_supersedes_deletes_and_compacts() {
    let p = Program::compile("kvs.dl", include_str!("../../../programs/kvs.dl"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut e = Engine::new(&p);
    e.set_node("n1", &["n1".into()]);
    // A put is sent (@async) to every member, this node included: it is held from the next
    // tick on.
    kvs_tick(&mut e, &[put("c", 1, "a", "b", "x")]);
    assert_eq!(visible(&e), vis(&[]));
    kvs_tick(&mut e, &[]);
    assert_eq!(visible(&e), vis(&[("a", "b", "x", "c", 1)]));
    // A second put by the same client supersedes the first: its tombstone and the new version
    // both arrive at the next tick.
    kvs_tick(&mut e, &[put("c", 2, "a", "b", "y")]);
    assert_eq!(visible(&e), vis(&[("a", "b", "x", "c", 1)]));
    kvs_tick(&mut e, &[]);
    assert_eq!(visible(&e), vis(&[("a", "b", "y", "c", 2)]));
    // Another pair of keys.
    kvs_tick(&mut e, &[put("e", 1, "a", "z", "w")]);
    assert_eq!(visible(&e), vis(&[("a", "b", "y", "c", 2)]));
    // A delete of (a, b) tombstones both versions (c, 1) and (c, 2); (a, z) arrives meanwhile.
    kvs_tick(&mut e, &[del("a", "b")]);
    assert_eq!(
        visible(&e),
        vis(&[("a", "b", "y", "c", 2), ("a", "z", "w", "e", 1)])
    );
    kvs_tick(&mut e, &[]);
    assert_eq!(visible(&e), vis(&[("a", "z", "w", "e", 1)]));
    // Re-adding after a delete works: the new put has a new id.
    kvs_tick(&mut e, &[put("c", 3, "a", "b", "again")]);
    assert_eq!(visible(&e), vis(&[("a", "z", "w", "e", 1)]));
    kvs_tick(&mut e, &[]);
    assert_eq!(
        visible(&e),
        vis(&[("a", "b", "again", "c", 3), ("a", "z", "w", "e", 1)])
    );
    // Two puts in the same tick have not seen each other: both stay visible (siblings), and
    // both supersede (c, 3).
    kvs_tick(
        &mut e,
        &[put("f", 1, "a", "b", "sib"), put("g", 1, "a", "b", "sib2")],
    );
    assert_eq!(
        visible(&e),
        vis(&[("a", "b", "again", "c", 3), ("a", "z", "w", "e", 1)])
    );
    kvs_tick(&mut e, &[]);
    let siblings = [
        ("a", "b", "sib", "f", 1),
        ("a", "b", "sib2", "g", 1),
        ("a", "z", "w", "e", 1),
    ];
    assert_eq!(visible(&e), vis(&siblings));
    // Reads by k1, by (k1, k2) and by k2.
    assert_eq!(
        e.relation_where("visible", &[(0, s("a")), (1, s("b"))])
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        e.relation_where("visible", &[(1, s("z"))]).unwrap(),
        vec![vec![s("a"), s("z"), s("w"), s("e"), n(1)]]
    );
    kvs_tick(&mut e, &[del("a", "z")]);
    assert_eq!(visible(&e), vis(&siblings));
    kvs_tick(&mut e, &[]);
    assert_eq!(visible(&e), vis(&siblings[..2]));
    assert!(
        e.relation_where("visible", &[(1, s("z"))])
            .unwrap()
            .is_empty()
    );
    // Every tombstoned version is still held until a compaction.
    let all = [("c", 1), ("c", 2), ("c", 3), ("e", 1), ("f", 1), ("g", 1)];
    let all: Vec<(String, i64)> = all.iter().map(|&(c, s)| (c.into(), s)).collect();
    assert_eq!(held(&e), all);
    assert_eq!(e.relation("tomb").unwrap().len(), 4);
    // Compaction: the only member holds a tombstone for each of them, so they are settled and
    // dropped from the next tick on, with their tombstones.
    kvs_tick(&mut e, &[("compact".into(), vec![n(1)])]);
    assert_eq!(e.relation("settled").unwrap().len(), 4);
    assert_eq!(held(&e), all);
    kvs_tick(&mut e, &[]);
    assert_eq!(held(&e), vec![("f".into(), 1), ("g".into(), 1)]);
    assert!(e.relation("tomb").unwrap().is_empty());
    assert!(e.relation("settled").unwrap().is_empty());
    assert_eq!(visible(&e), vis(&siblings[..2]));
    // A put after compaction supersedes both siblings.
    kvs_tick(&mut e, &[put("h", 1, "a", "b", "last")]);
    kvs_tick(&mut e, &[]);
    assert_eq!(visible(&e), vis(&[("a", "b", "last", "h", 1)]));
    let out = e.run().unwrap();
    assert_eq!(out.ticks, 1, "quiescent at once");
    assert_eq!(visible(&e), vis(&[("a", "b", "last", "h", 1)]));
}

// ---------------------------------------------------------------------------------------------
// relation_where.

#[test]
fn relation_where_equals_filtering_relation_after_deletions() {
    let mut e = engine(PATHS);
    let script: [&[(&str, &[i64])]; 7] = [
        &[
            ("add", &[0, 1]),
            ("add", &[1, 2]),
            ("add", &[2, 0]),
            ("add", &[2, 3]),
        ],
        &[("add", &[3, 4]), ("cut", &[1, 2])],
        &[],
        &[("add", &[4, 4]), ("cut", &[2, 3])],
        &[("add", &[1, 2]), ("cut", &[4, 4])],
        &[("cut", &[0, 1]), ("cut", &[3, 4])],
        &[],
    ];
    let mut seen_both = false;
    for (t, arrivals) in script.iter().enumerate() {
        tick(&mut e, arrivals);
        for rel in ["edge", "path"] {
            let all = e.relation(rel).unwrap();
            for x in 0..6 {
                for col in 0..2 {
                    let got = e.relation_where(rel, &[(col, n(x))]).unwrap();
                    let expect: Vec<Vec<Value>> =
                        all.iter().filter(|r| r[col] == n(x)).cloned().collect();
                    assert_eq!(got, expect, "tick {t}: {rel} column {col} = {x}");
                }
                for y in 0..6 {
                    let got = e.relation_where(rel, &[(0, n(x)), (1, n(y))]).unwrap();
                    let expect: Vec<Vec<Value>> = all
                        .iter()
                        .filter(|r| r[0] == n(x) && r[1] == n(y))
                        .cloned()
                        .collect();
                    seen_both |= !got.is_empty();
                    assert_eq!(got, expect, "tick {t}: {rel} = ({x}, {y})");
                }
            }
            // A value of another type, or a column that does not exist, matches nothing.
            assert!(e.relation_where(rel, &[(0, s("a"))]).unwrap().is_empty());
            assert!(e.relation_where(rel, &[(5, n(1))]).unwrap().is_empty());
        }
    }
    assert!(seen_both);
    // After the script: edges 1 -> 2, 2 -> 0; 4 -> 4 was cut at tick 4 and 0 -> 1, 3 -> 4 at 5.
    assert_eq!(rows(&e, "edge"), want(&[&[1, 2], &[2, 0]]));
    assert_eq!(rows(&e, "path"), want(&[&[1, 0], &[1, 2], &[2, 0]]));
    assert_eq!(
        e.relation_where("path", &[(0, n(1))]).unwrap(),
        vec![vec![n(1), n(0)], vec![n(1), n(2)]]
    );
}
