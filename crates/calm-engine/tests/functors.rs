//! Functors in both evaluators: a program that builds, measures, cuts and compares symbols
//! with Souffle's functors, in body assignments, filters, negations and heads, ticked with
//! arriving facts by the incremental engine and by one that evaluates every tick in full
//! (`Engine::set_full_ticks`). Both must hold the rows worked out by hand.

use calm_engine::{Engine, Program, Value};

const PROGRAM: &str = r#"
.decl word(w: symbol)
.decl stem(w: symbol, s: symbol)
.decl long(w: symbol, n: number)
.decl tagged(t: symbol)
.decl plain(w: symbol)
.decl chain(s: symbol, k: number)
.persist chain
stem(w, substr(w, 0, 2)) :- word(w), strlen(w) >= 2.
long(w, n) :- word(w), n = strlen(w) * 2 band 255, n > 6.
tagged(cat(s, "-", to_string(strlen(w)))) :- stem(w, s).
plain(w) :- word(w), !tagged(cat(substr(w, 0, 2), "-", to_string(strlen(w)))).
chain("x", 0).
chain(cat(s, "y"), max(k + 1, 1))@next :- chain(s, k), k < 2, to_number(to_string(k)) = k.
"#;

fn sym(s: &str) -> Value {
    Value::Symbol(s.to_string())
}

fn rows(e: &Engine, rel: &str) -> Vec<Vec<Value>> {
    let mut r = e.relation(rel).unwrap();
    r.sort();
    r
}

#[test]
fn functors_agree_between_incremental_and_full_ticks() {
    let program = Program::compile("functors.dl", PROGRAM).unwrap();
    let mut engines: Vec<Engine> = [false, true]
        .into_iter()
        .map(|full| {
            let mut e = Engine::new(&program);
            e.set_full_ticks(full);
            e
        })
        .collect();
    let ticks: [&[&str]; 3] = [&["abcd", "a"], &["hello"], &[]];
    for (t, words) in ticks.iter().enumerate() {
        let arrivals: Vec<(String, Vec<Value>)> = words
            .iter()
            .map(|w| ("word".to_string(), vec![sym(w)]))
            .collect();
        for e in &mut engines {
            e.tick(&arrivals).unwrap();
        }
        for rel in ["stem", "long", "tagged", "plain", "chain"] {
            assert_eq!(
                rows(&engines[0], rel),
                rows(&engines[1], rel),
                "{rel} after tick {t}"
            );
        }
    }
    // `word` holds only for the tick it arrives in; the last tick has none.
    let e = &engines[0];
    assert!(rows(e, "stem").is_empty());
    assert_eq!(
        rows(e, "chain"),
        vec![
            vec![sym("x"), Value::Number(0)],
            vec![sym("xy"), Value::Number(1)],
            vec![sym("xyy"), Value::Number(2)],
        ]
    );
}

#[test]
fn functor_rows_worked_out_by_hand() {
    let program = Program::compile("functors.dl", PROGRAM).unwrap();
    for full in [false, true] {
        let mut e = Engine::new(&program);
        e.set_full_ticks(full);
        e.tick(&[]).unwrap();
        let arrivals: Vec<(String, Vec<Value>)> = ["abcd", "a", "hello"]
            .iter()
            .map(|w| ("word".to_string(), vec![sym(w)]))
            .collect();
        e.tick(&arrivals).unwrap();
        assert_eq!(
            rows(&e, "stem"),
            vec![vec![sym("abcd"), sym("ab")], vec![sym("hello"), sym("he")]]
        );
        // strlen * 2 band 255 = (strlen * 2) band 255: 8 and 10 pass `> 6`, 2 does not.
        assert_eq!(
            rows(&e, "long"),
            vec![
                vec![sym("abcd"), Value::Number(8)],
                vec![sym("hello"), Value::Number(10)]
            ]
        );
        assert_eq!(
            rows(&e, "tagged"),
            vec![vec![sym("ab-4")], vec![sym("he-5")]]
        );
        // "a" is too short to have a stem, so nothing tags it.
        assert_eq!(rows(&e, "plain"), vec![vec![sym("a")]]);
    }
}
