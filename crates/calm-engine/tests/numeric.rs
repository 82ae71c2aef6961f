//! `float` and `unsigned` values in both evaluators and through the engine's API: a program
//! that computes, compares and aggregates them, ticked with arriving facts by the incremental
//! engine and by one that evaluates every tick in full; both must hold the rows worked out by
//! hand. Floats are stored canonically: `-0.0` and `0.0` are one value, NaN equals itself.

use calm_engine::{Engine, Program, Value};

const PROGRAM: &str = r#"
.decl reading(sensor: symbol, v: float)
.decl count(sensor: symbol, n: unsigned)
.decl hot(sensor: symbol, v: float)
.decl scaled(sensor: symbol, v: float)
.decl avg(sensor: symbol, v: float)
.decl top(sensor: symbol, v: float)
.decl total(n: unsigned)
.decl wide(sensor: symbol, n: unsigned)
hot(s, v) :- reading(s, v), v > 20.5.
scaled(s, v / 2 + 0.25) :- reading(s, v), !hot(s, v).
avg(s, m) :- reading(s, _), m = mean v : { reading(s, v) }.
top(s, m) :- reading(s, _), m = max v : { reading(s, v) }.
total(t) :- t = sum n : { count(_, n) }.
wide(s, n bshr 1) :- count(s, n), n > 9223372036854775807u.
"#;

fn rows(e: &Engine, rel: &str) -> Vec<Vec<Value>> {
    let mut r = e.relation(rel).unwrap();
    r.sort();
    r
}

fn s(x: &str) -> Value {
    Value::Symbol(x.into())
}

#[test]
fn floats_and_unsigned_agree_between_incremental_and_full_ticks() {
    let program = Program::compile("numeric.dl", PROGRAM).unwrap();
    let mut engines: Vec<Engine> = [false, true]
        .into_iter()
        .map(|full| {
            let mut e = Engine::new(&program);
            e.set_full_ticks(full);
            e
        })
        .collect();
    let ticks: Vec<Vec<(String, Vec<Value>)>> = vec![
        vec![
            ("reading".into(), vec![s("a"), Value::float(21.0)]),
            ("reading".into(), vec![s("a"), Value::float(-0.0)]),
            ("count".into(), vec![s("a"), Value::Unsigned(u64::MAX - 1)]),
        ],
        vec![
            ("reading".into(), vec![s("b"), Value::float(1.5)]),
            ("reading".into(), vec![s("a"), Value::float(0.0)]),
            ("count".into(), vec![s("b"), Value::Unsigned(1)]),
        ],
    ];
    for (t, arrivals) in ticks.iter().enumerate() {
        for e in &mut engines {
            e.tick(arrivals).unwrap();
        }
        for rel in ["hot", "scaled", "avg", "top", "total", "wide"] {
            assert_eq!(
                rows(&engines[0], rel),
                rows(&engines[1], rel),
                "{rel} after tick {t}"
            );
        }
    }
    // The second tick's arrivals only (arriving facts hold for their tick).
    let e = &engines[0];
    assert_eq!(rows(e, "hot"), Vec::<Vec<Value>>::new());
    assert_eq!(
        rows(e, "scaled"),
        vec![
            vec![s("a"), Value::float(0.25)],
            vec![s("b"), Value::float(1.0)]
        ]
    );
    assert_eq!(
        rows(e, "avg"),
        vec![
            vec![s("a"), Value::float(0.0)],
            vec![s("b"), Value::float(1.5)]
        ]
    );
    assert_eq!(rows(e, "total"), vec![vec![Value::Unsigned(1)]]);
    assert_eq!(rows(e, "wide"), Vec::<Vec<Value>>::new());
}

#[test]
fn one_tick_with_both_zeros_and_a_large_unsigned() {
    let program = Program::compile("numeric.dl", PROGRAM).unwrap();
    let mut e = Engine::new(&program);
    e.insert(
        "reading",
        vec![
            vec![s("a"), Value::float(21.0)],
            vec![s("a"), Value::Float(-0.0)],
            vec![s("a"), Value::float(0.0)],
            vec![s("n"), Value::Float(f64::NAN)],
            vec![s("n"), Value::float(-f64::NAN)],
        ],
    )
    .unwrap();
    e.insert(
        "count",
        vec![
            vec![s("a"), Value::Unsigned(u64::MAX - 1)],
            vec![s("b"), Value::Unsigned(1)],
        ],
    )
    .unwrap();
    e.run().unwrap();
    // -0.0 and 0.0 are one reading; both NaNs are one.
    assert_eq!(e.relation("reading").unwrap().len(), 3);
    assert_eq!(
        rows(&e, "hot"),
        vec![
            vec![s("a"), Value::float(21.0)],
            vec![s("n"), Value::float(f64::NAN)]
        ]
    );
    assert_eq!(rows(&e, "avg")[0], vec![s("a"), Value::float(10.5)]);
    assert_eq!(rows(&e, "top")[0], vec![s("a"), Value::float(21.0)]);
    assert_eq!(rows(&e, "total"), vec![vec![Value::Unsigned(u64::MAX)]]);
    assert_eq!(
        rows(&e, "wide"),
        vec![vec![s("a"), Value::Unsigned((u64::MAX - 1) >> 1)]]
    );
    // Looking a float up finds it whichever zero is asked for.
    let found = e
        .relation_where("reading", &[(1, Value::Float(-0.0))])
        .unwrap();
    assert_eq!(found, vec![vec![s("a"), Value::float(0.0)]]);
    // A value of another type is refused.
    assert!(
        e.insert("count", vec![vec![s("c"), Value::Number(1)]])
            .is_err()
    );
    assert!(
        e.insert("reading", vec![vec![s("c"), Value::Unsigned(1)]])
            .is_err()
    );
}

#[test]
fn an_unsigned_sum_that_overflows_is_an_error() {
    let program = Program::compile("numeric.dl", PROGRAM).unwrap();
    let mut e = Engine::new(&program);
    e.insert(
        "count",
        vec![
            vec![s("a"), Value::Unsigned(u64::MAX)],
            vec![s("b"), Value::Unsigned(1)],
        ],
    )
    .unwrap();
    let err = e.run().unwrap_err().to_string();
    assert!(err.contains("overflow"), "{err}");
}
