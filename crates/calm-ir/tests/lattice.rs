//! Lattice columns: declarations, which reads are monotone, stratification of raw reads.

use calm_syntax::{Diagnostic, FileId, parse};

fn lower(text: &str) -> (calm_ir::Program, Vec<Diagnostic>) {
    let parsed = parse(FileId(0), text);
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    calm_ir::lower(&parsed.program, FileId(0))
}

/// The raw reads of each rule, as the names of the relations read raw.
fn raw_reads(text: &str) -> Vec<Vec<String>> {
    let (p, d) = lower(text);
    assert!(!d.iter().any(Diagnostic::is_error), "{d:?}");
    p.rules
        .iter()
        .map(|r| {
            r.raw_reads
                .iter()
                .map(|&i| match &r.body[i] {
                    calm_ir::BodyItem::Atom(a) => p.relations[a.rel].name.clone(),
                    other => panic!("a raw read that is not an atom: {other:?}"),
                })
                .collect()
        })
        .collect()
}

fn codes(text: &str) -> Vec<String> {
    let (_, d) = lower(text);
    d.iter()
        .filter(|d| d.is_error())
        .filter_map(|d| d.code.clone())
        .collect()
}

const DECLS: &str = "
.decl e(x: number, y: number, w: number)
.decl d(x: number, v: min)
.decl m(x: number, v: max)
.decl s(x: number)
.decl t(x: number, v: number)
.decl m2(x: number, v: max)
.decl d2(x: number, v: min)
";

#[test]
fn declared_lattices_are_recorded_on_the_last_column() {
    let (p, d) = lower(DECLS);
    assert!(d.is_empty(), "{d:?}");
    let lat = |n: &str| p.relations[p.relation(n).unwrap()].lattice;
    assert_eq!(lat("d"), Some(calm_ir::Lattice::Min));
    assert_eq!(lat("m"), Some(calm_ir::Lattice::Max));
    assert_eq!(lat("t"), None);
    assert_eq!(
        p.relations[p.relation("d").unwrap()].types[1],
        calm_ir::Type::Number
    );
}

#[test]
fn monotone_reads_are_not_raw() {
    let rules = [
        // A merge through a growing expression, in the head or through an assignment.
        "d(y, v + w) :- d(x, v), e(x, y, w).",
        "d(y, z) :- d(x, v), e(x, y, w), z = v + w.",
        "d(y, min(v, w)) :- d(x, v), e(x, y, w).",
        "m(y, v - w) :- m(x, v), e(x, y, w), v > 0.",
        // Thresholds the right way round.
        "s(x) :- d(x, v), v <= 5.",
        "s(x) :- d(x, v), 5 > v.",
        "s(x) :- m(x, v), v >= 5.",
        "s(x) :- m(x, v), 5 <= v + 1.",
        // The value ignored: only the key is read.
        "s(x) :- d(x, _).",
    ];
    for r in rules {
        let raw = raw_reads(&format!("{DECLS}{r}\n"));
        assert_eq!(raw, vec![Vec::<String>::new()], "{r}");
    }
}

#[test]
fn other_reads_are_raw() {
    let rules = [
        ("t(x, v) :- d(x, v).", "d"),
        ("s(x) :- d(x, v), v >= 5.", "d"),
        ("s(x) :- m(x, v), v <= 5.", "m"),
        ("s(x) :- m(x, v), v = 5.", "m"),
        ("s(x) :- m(x, v), v != 5.", "m"),
        ("m2(y, w - v) :- m(x, v), e(x, y, w).", "m"),
        ("m2(y, v * w) :- m(x, v), e(x, y, w).", "m"),
        // A different lattice in the head.
        ("d2(x, v) :- m(x, v).", "m"),
        // The value as a key, or joined with another column.
        ("t(v, x) :- m(x, v).", "m"),
        ("s(x) :- m(x, v), e(x, v, _).", "m"),
        ("s(x) :- d(x, v), z = v + 1, z >= 3.", "d"),
    ];
    for (r, rel) in rules {
        let raw = raw_reads(&format!("{DECLS}{r}\n"));
        assert_eq!(raw, vec![vec![rel.to_string()]], "{r}");
    }
}

#[test]
fn a_raw_read_inside_a_cycle_is_unstratifiable() {
    let text = format!("{DECLS}m(x, v + 1) :- m(x, v), v < 10.\n");
    assert_eq!(codes(&text), vec!["E0400".to_string()]);
    let (_, d) = lower(&text);
    assert!(
        d[0].message.contains("raw read of a lattice value"),
        "{}",
        d[0].message
    );
    // A monotone recursion through the same relation is fine.
    assert!(
        codes(&format!(
            "{DECLS}m(y, v - 1) :- m(x, v), e(x, y, _), v > 0.\n"
        ))
        .is_empty()
    );
}

#[test]
fn misdeclared_and_unimplemented_lattices_are_errors() {
    assert_eq!(codes(".decl p(v: max, x: number)\n"), vec!["E0111"]);
    assert_eq!(codes(".decl p(v: max, w: min)\n"), vec!["E0111"]);
    assert_eq!(
        codes(".decl p(x: number, y: number) eqrel\n.decl q(x: number, y: min) eqrel\n"),
        vec!["E0111"]
    );
    for l in ["set", "map"] {
        assert_eq!(
            codes(&format!(".decl p(x: number, v: {l})\n")),
            vec!["E0111"],
            "{l}"
        );
    }
    // A user type of that name is a type, not a lattice.
    let (p, d) = lower(".type max <: number\n.decl p(x: number, v: max)\n");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(p.relations[p.relation("p").unwrap()].lattice, None);
}

const MORE: &str = "
.decl b(x: number, v: bool)
.decl b2(x: number, v: bool)
.decl c(x: symbol, n: symbol, v: counter)
.decl c2(x: symbol, v: counter)
.decl r(k: symbol, t: lww, w: symbol, v: symbol)
.decl r2(k: symbol, t: lww, w: symbol, v: symbol)
.decl s(x: number)
.decl y(k: symbol, v: symbol)
";

#[test]
fn bool_counter_and_lww_are_declared() {
    let (p, d) = lower(MORE);
    assert!(d.is_empty(), "{d:?}");
    let lat = |n: &str| p.relations[p.relation(n).unwrap()].lattice;
    assert_eq!(lat("b"), Some(calm_ir::Lattice::Bool));
    assert_eq!(lat("c"), Some(calm_ir::Lattice::Counter));
    assert_eq!(lat("r"), Some(calm_ir::Lattice::Lww));
    let r = &p.relations[p.relation("r").unwrap()];
    assert_eq!(
        r.types,
        vec![
            calm_ir::Type::Symbol,
            calm_ir::Type::Number,
            calm_ir::Type::Symbol,
            calm_ir::Type::Symbol
        ]
    );
    // `lww` starts the last three columns; its writer and value are numbers or symbols.
    assert_eq!(
        codes(".decl p(k: symbol, t: lww, v: symbol)\n"),
        vec!["E0111"]
    );
    assert_eq!(
        codes(".decl p(t: lww, w: symbol, v: symbol, k: symbol)\n"),
        vec!["E0111"]
    );
    assert_eq!(
        codes(".type R = [a: number]\n.decl p(k: symbol, t: lww, w: symbol, v: R)\n"),
        vec!["E0111"]
    );
    assert_eq!(
        codes(".decl p(k: symbol, t: lww, w: symbol, v: max)\n"),
        vec!["E0111"]
    );
}

#[test]
fn monotone_reads_of_bool_counter_and_lww() {
    for r in [
        // "is true", in the forms a body writes it.
        "s(x) :- b(x, 1).",
        "s(x) :- b(x, v), v != 0.",
        "s(x) :- b(x, v), v >= 1.",
        // An or: copied into a bool head.
        "b2(x, v) :- b(x, v).",
        "b2(x, 1) :- s(x).",
        // A counter grows: thresholds and sums into another counter.
        "s(1) :- c(_, _, v), v >= 3.",
        "c2(x, v + 1) :- c(x, _, v).",
        // An lww value copied whole, a threshold on its timestamp, only its key.
        "r2(k, t, w, v) :- r(k, t, w, v).",
        "s(t) :- r(_, t0, _, _), t0 >= 5, t = 1.",
        "y(k, k) :- r(k, _, _, _).",
    ] {
        let raw = raw_reads(&format!("{MORE}{r}\n"));
        assert!(raw.iter().all(Vec::is_empty), "{r}: {raw:?}");
    }
}

#[test]
fn raw_reads_of_bool_counter_and_lww() {
    for (r, rel) in [
        // "is false" may stop holding.
        ("s(x) :- b(x, 0).", "b"),
        ("s(x) :- b(x, v), v < 1.", "b"),
        // A bool head takes the value itself only: `v - 1` is true when `v` is false.
        ("b2(x, v - 1) :- b(x, v).", "b"),
        ("s(v) :- c(_, _, v).", "c"),
        ("s(1) :- c(_, _, v), v = 3.", "c"),
        // The value of an lww register, its writer, a reordered copy, a timestamp the wrong way.
        ("y(k, v) :- r(k, _, _, v).", "r"),
        ("y(k, w) :- r(k, _, w, _).", "r"),
        ("r2(k, t, v, w) :- r(k, t, w, v).", "r"),
        ("s(1) :- r(_, t, _, _), t < 5.", "r"),
        ("y(k, k) :- r(k, _, _, v), v = \"a\".", "r"),
    ] {
        let raw = raw_reads(&format!("{MORE}{r}\n"));
        assert_eq!(raw, vec![vec![rel.to_string()]], "{r}");
    }
}
