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
