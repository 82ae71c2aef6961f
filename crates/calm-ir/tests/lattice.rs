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
    for l in ["bool", "set", "map", "lww", "counter"] {
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
