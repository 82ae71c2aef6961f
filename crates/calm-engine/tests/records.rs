//! Records through the engine's API: given and read as their text, checked, filtered on, and
//! updated tick by tick by the incremental engine as by full evaluation.

use calm_engine::{Engine, EngineError, Program, Value};

fn sym(s: &str) -> Value {
    Value::Symbol(s.into())
}

const LISTS: &str = "
.type L = [h: number, t: L]
.decl given(l: L)
.decl suffix(l: L)
suffix(l) :- given(l).
suffix(t) :- suffix([_, t]).
.decl len(l: L, n: number)
len(nil, 0).
len(l, n + 1) :- suffix(l), l = [_, t], len(t, n).
";

#[test]
fn records_are_given_and_read_as_their_text() {
    let p = Program::compile("l.dl", LISTS).unwrap();
    let mut e = Engine::new(&p);
    e.insert(
        "given",
        vec![vec![sym("[1, [2, nil]]")], vec![sym(" [7,nil] ")]],
    )
    .unwrap();
    e.run().unwrap();
    let rows = e.relation("len").unwrap();
    let want = [
        ("[1, [2, nil]]", 2),
        ("[2, nil]", 1),
        ("[7, nil]", 1),
        ("nil", 0),
    ];
    assert_eq!(rows.len(), want.len(), "{rows:?}");
    for (l, n) in want {
        assert!(
            rows.contains(&vec![sym(l), Value::Number(n)]),
            "{l}: {rows:?}"
        );
    }
    // A filter on a record column compares values, whatever the spacing.
    let one = e.relation_where("len", &[(0, sym("[2,nil]"))]).unwrap();
    assert_eq!(one, vec![vec![sym("[2, nil]"), Value::Number(1)]]);
    // A record that no fact holds, or text that is no record, matches nothing.
    assert!(
        e.relation_where("len", &[(0, sym("[3, nil]"))])
            .unwrap()
            .is_empty()
    );
    assert!(
        e.relation_where("len", &[(0, sym("[2"))])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn malformed_record_text_is_a_type_error_and_changes_nothing() {
    let p = Program::compile("l.dl", LISTS).unwrap();
    let mut e = Engine::new(&p);
    for bad in ["[1]", "[1, 2]", "[x, nil]", "$A(1)", "7", "[1, nil] extra"] {
        assert!(
            matches!(p.check("given", &[sym(bad)]), Err(EngineError::Type { .. })),
            "{bad}"
        );
        let err = e.insert("given", vec![vec![sym("[1, nil]")], vec![sym(bad)]]);
        assert!(
            matches!(err, Err(EngineError::Type { .. })),
            "{bad}: {err:?}"
        );
    }
    assert!(matches!(
        p.check("given", &[Value::Number(1)]),
        Err(EngineError::Type { .. })
    ));
    p.check("given", &[sym("[1, [2, nil]]")]).unwrap();
    e.run().unwrap();
    assert_eq!(
        e.relation("len").unwrap(),
        vec![vec![sym("nil"), Value::Number(0)]]
    );
}

/// A Dedalus program over records: a stack, pushed and popped by one operation per tick.
const STACK: &str = "
.type S = [top: number, rest: S]
.type Op = Push {x: number} | Pop {}
.decl op(o: Op)
.decl stack(s: S)
stack(nil).
.decl changed()
changed() :- op(_).
.decl new(s: S)
new([x, s]) :- stack(s), op($Push(x)).
new(r) :- stack([_, r]), op($Pop()).
new(s) :- stack(s), !changed().
stack(s)@next :- new(s).
.decl size(n: number)
size(n) :- n = count : { stack(_) }.
";

#[test]
fn incremental_ticks_agree_with_full_ticks_on_records() {
    let p = Program::compile("stack.dl", STACK).unwrap();
    let mut inc = Engine::new(&p);
    let mut full = Engine::new(&p);
    full.set_full_ticks(true);
    let ops = [
        "$Push(1)", "$Push(2)", "$Pop", "$Push(3)", "$Pop()", "$Pop", "$Push(4)",
    ];
    for (i, o) in ops.iter().enumerate() {
        let arrivals = vec![("op".to_string(), vec![sym(o)])];
        inc.tick(&arrivals).unwrap();
        full.tick(&arrivals).unwrap();
        for rel in ["stack", "new", "size"] {
            assert_eq!(
                inc.relation(rel).unwrap(),
                full.relation(rel).unwrap(),
                "tick {i} ({o}), {rel}"
            );
        }
    }
    // The stack after the last operation, unchanged by a tick without one.
    for _ in 0..2 {
        inc.tick(&[]).unwrap();
        assert_eq!(inc.relation("stack").unwrap(), vec![vec![sym("[4, nil]")]]);
        assert_eq!(inc.relation("size").unwrap(), vec![vec![Value::Number(1)]]);
    }
}
