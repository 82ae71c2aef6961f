//! Quick end-to-end checks of the engine on small programs.
use calm_engine::{Engine, Program, Value};

fn n(x: i64) -> Value {
    Value::Number(x)
}

fn run(src: &str, facts: &[(&str, Vec<Vec<Value>>)]) -> Engine {
    let p = match Program::compile("t.dl", src) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let mut e = Engine::new(&p);
    for (rel, rows) in facts {
        e.insert(rel, rows.clone()).unwrap();
    }
    if let Err(err) = e.run() {
        panic!("{err}");
    }
    e
}

#[test]
fn transitive_closure() {
    let e = run(
        "path(x, y) :- edge(x, y).\npath(x, z) :- path(x, y), edge(y, z).\n",
        &[(
            "edge",
            vec![vec![n(1), n(2)], vec![n(2), n(3)], vec![n(3), n(1)]],
        )],
    );
    assert_eq!(e.relation("path").unwrap().len(), 9);
}

#[test]
fn ticks_send_async_facts_to_other_nodes_and_carry_the_rest() {
    let p = Program::compile(
        "t.dl",
        ".persist got\ngot(n, x) :- msg(n, x).\nmsg(@m, x)@async :- src(x), $member(m).\n",
    )
    .unwrap();
    let mut e = Engine::new(&p);
    e.set_node("a", &["a".to_string(), "b".to_string()]);
    let out = e.tick(&[("src".to_string(), vec![n(7)])]).unwrap();
    assert!(!out.quiescent);
    assert_eq!(out.sent.len(), 1);
    assert_eq!(out.sent[0].dest, "b");
    assert_eq!(out.sent[0].tuple, vec![Value::Symbol("b".into()), n(7)]);
    // The copy for itself arrives at the next tick.
    assert!(e.relation("got").unwrap().is_empty());
    let out = e.tick(&[]).unwrap();
    assert!(out.sent.is_empty());
    assert_eq!(
        e.relation("got").unwrap(),
        vec![vec![Value::Symbol("a".into()), n(7)]]
    );
    // A fact from a peer is checked like any input.
    assert!(e.tick(&[("msg".to_string(), vec![n(1)])]).is_err());
    let out = e
        .tick(&[("msg".to_string(), vec![Value::Symbol("b".into()), n(8)])])
        .unwrap();
    assert!(!out.quiescent);
    assert_eq!(e.relation("got").unwrap().len(), 2);
    assert!(e.tick(&[]).unwrap().quiescent);
}

#[test]
fn inserting_into_state_after_ticks_started_is_not_lost() {
    let p = Program::compile("t.dl", ".persist s\ns(0).\n").unwrap();
    let mut e = Engine::new(&p);
    e.run().unwrap();
    e.insert("s", vec![vec![n(5)]]).unwrap();
    e.run().unwrap();
    assert_eq!(e.relation("s").unwrap(), vec![vec![n(0)], vec![n(5)]]);
}

#[test]
fn wide_relations_join_and_negate_like_narrow_ones() {
    // Keys and values wider than three words take the boxed path in the engine.
    let src = "
        w(a, b, c, d, e, f) :- base(a, b, c), base(d, e, f), a < d.
        k(a, b, c, d, x) :- w(a, b, c, d, x, _), w(a, b, c, d, _, x).
        pick(a, b, c, d, e, f) :- w(a, b, c, d, e, f), !k(a, b, c, d, e).
        cnt(n) :- n = count : { pick(_, _, _, _, _, _) }.
    ";
    let base: Vec<Vec<Value>> = (0..3)
        .flat_map(|i| (0..3).map(move |j| vec![n(i), n(j), n((j * 2) % 4)]))
        .collect();
    let e = run(src, &[("base", base.clone())]);
    // Reference by brute force.
    let rows: Vec<Vec<i64>> = base
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| match v {
                    Value::Number(x) => *x,
                    _ => 0,
                })
                .collect()
        })
        .collect();
    let mut w = Vec::new();
    for x in &rows {
        for y in &rows {
            if x[0] < y[0] {
                w.push([x[0], x[1], x[2], y[0], y[1], y[2]]);
            }
        }
    }
    let k = |t: &[i64; 6]| {
        w.iter().any(|u| u[..4] == t[..4] && u[4] == t[4])
            && w.iter().any(|u| u[..4] == t[..4] && u[5] == t[4])
    };
    let pick: Vec<_> = w.iter().filter(|t| !k(t)).collect();
    assert!(
        !pick.is_empty() && pick.len() < w.len(),
        "the data exercises both outcomes"
    );
    assert_eq!(e.relation("w").unwrap().len(), w.len());
    assert_eq!(e.relation("pick").unwrap().len(), pick.len());
    assert_eq!(e.relation("cnt").unwrap(), vec![vec![n(pick.len() as i64)]]);
}

/// Every `(x, y)` with `y` reachable from `x` in one or more steps, by breadth-first search.
fn reachable_pairs(nodes: usize, edges: &[(usize, usize)]) -> usize {
    let mut succ = vec![Vec::new(); nodes];
    for &(a, b) in edges {
        succ[a].push(b);
    }
    let mut total = 0;
    for x in 0..nodes {
        let mut seen = vec![false; nodes];
        let mut stack: Vec<usize> = succ[x].clone();
        while let Some(y) = stack.pop() {
            if !std::mem::replace(&mut seen[y], true) {
                total += 1;
                stack.extend(&succ[y]);
            }
        }
    }
    total
}

/// A graph whose closure is found in a few rounds that derive each path many times, so the
/// engine's duplicate filter comes on (batches of more than 65,536 rows with duplicates in
/// them): as a bitmap for two-word rows, as a hash table for three-word rows. A chain of nodes
/// reached only after many rounds checks what comes after the filter.
#[test]
fn closure_with_many_duplicate_derivations_is_exact() {
    let (random, nodes) = (400, 430);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut edges = Vec::new();
    for a in 0..random {
        for _ in 0..8 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            edges.push((a, (x % random as u64) as usize));
        }
    }
    // The chain.
    edges.push((7, random));
    for i in random..nodes - 1 {
        edges.push((i, i + 1));
    }
    edges.sort_unstable();
    edges.dedup();
    let expected = reachable_pairs(nodes, &edges);
    let edge_rows: Vec<Vec<Value>> = edges
        .iter()
        .map(|&(a, b)| vec![n(a as i64), n(b as i64)])
        .collect();
    let e = run(
        "path(x, y) :- edge(x, y).\npath(x, z) :- path(x, y), edge(y, z).\n\
         path3(x, y, c) :- edge(x, y), c = 1.\npath3(x, y, c) :- edge(x, y), c = 2.\n\
         path3(x, z, c) :- path3(x, y, c), edge(y, z).\n",
        &[("edge", edge_rows)],
    );
    assert!(
        expected > 150_000,
        "the workload is large enough: {expected}"
    );
    assert_eq!(e.relation_len("path").unwrap(), expected);
    assert_eq!(e.relation_len("path3").unwrap(), 2 * expected);
    let paths = e.relation("path").unwrap();
    assert!(paths.contains(&vec![n(7), n(429)]));
    assert!(paths.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
}

/// `match`/`contains` and an `eqrel` relation in incremental ticks (the first tick is full, the
/// later ones incremental), compared with full ticks of the same arrivals.
#[test]
fn string_predicates_and_eqrel_in_incremental_ticks() {
    let src = ".decl word(w: symbol)\n.decl pat(p: symbol)\n.decl link(a: number, b: number)\n\
               hit(p, w) :- pat(p), word(w), match(p, w).\n\
               plain(w) :- word(w), !contains(\"o\", w), !match(\"b.*\", w).\n\
               .decl e(x: number, y: number) eqrel\ne(x, y) :- link(x, y).\n";
    let p = Program::compile("t.dl", src).unwrap_or_else(|e| panic!("{e}"));
    let sym = |s: &str| Value::Symbol(s.into());
    let ticks: Vec<Vec<(String, Vec<Value>)>> = vec![
        vec![
            ("word".into(), vec![sym("foo")]),
            ("pat".into(), vec![sym("f.*")]),
            ("link".into(), vec![n(1), n(2)]),
        ],
        vec![
            ("word".into(), vec![sym("far")]),
            ("word".into(), vec![sym("bar")]),
            ("word".into(), vec![sym("cat")]),
            ("pat".into(), vec![sym("[a-z]a[a-z]")]),
            ("link".into(), vec![n(2), n(3)]),
        ],
        vec![("word".into(), vec![sym("fo")])],
    ];
    let mut incr = Engine::new(&p);
    let mut full = Engine::new(&p);
    full.set_full_ticks(true);
    let all =
        |e: &Engine| ["hit", "plain", "e"].map(|r| e.relation(r).unwrap_or_else(|e| panic!("{e}")));
    for arrivals in &ticks {
        incr.tick(arrivals).unwrap_or_else(|e| panic!("{e}"));
        full.tick(arrivals).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all(&incr), all(&full));
    }
    // Arrivals hold for their tick only: the last tick has the word `fo` and no pattern.
    assert!(incr.relation("hit").unwrap().is_empty());
    assert!(incr.relation("plain").unwrap().is_empty());
    let [_, _, e] = all(&incr);
    assert!(e.is_empty());
    // The second tick: eqrel closure over {1, 2, 3} and both patterns.
    let mut again = Engine::new(&p);
    again.tick(&ticks[0]).unwrap();
    again.tick(&ticks[1]).unwrap();
    assert_eq!(
        again.relation("e").unwrap().len(),
        4,
        "only 2 = 3 arrived this tick"
    );
    assert_eq!(
        again.relation("hit").unwrap(),
        vec![
            vec![sym("[a-z]a[a-z]"), sym("bar")],
            vec![sym("[a-z]a[a-z]"), sym("cat")],
            vec![sym("[a-z]a[a-z]"), sym("far")],
        ]
    );
    assert_eq!(
        again.relation("plain").unwrap(),
        vec![vec![sym("cat")], vec![sym("far")]]
    );
}
