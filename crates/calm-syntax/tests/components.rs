//! Souffle's components: the program `parse` returns with every instantiation expanded, and
//! each component error with its code and where it points.

mod common;

use calm_syntax::{FileId, Severity, line_col, parse};

const F: FileId = FileId(0);

/// The expanded program printed back, one item a line; panics on any diagnostic.
fn expanded(text: &str) -> String {
    let p = parse(F, text);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    common::program(&p.program)
}

/// Each diagnostic as `code line:col` of its primary label (1-based), in order.
fn located(text: &str) -> Vec<String> {
    parse(F, text)
        .diagnostics
        .iter()
        .map(|d| {
            let code = d.code.clone().unwrap_or_default();
            match &d.primary {
                Some(l) => {
                    let (line, col) = line_col(text, l.span.start, 1);
                    format!("{code} {line}:{col}")
                }
                None => code,
            }
        })
        .collect()
}

#[test]
fn an_instance_prefixes_what_its_component_declares() {
    let text = "\
.comp C {
  .type T <: number
  .decl r(x: T)
  .decl s(x: T)
  r(1).
  s(x) :- r(x), !out(x), n = count : { r(_) }, n > 0.
  .output s
}
.decl out(x: number)
.init a = C
.init b = C
a.r(2).
out(x) :- a.s(x), b.s(x).
";
    assert_eq!(
        expanded(text),
        "\
.decl out(x: number)
.type a.T <: number
.decl a.r(x: a.T)
.decl a.s(x: a.T)
a.r(1).
a.s(x) :- a.r(x), !out(x), n = count : { a.r(_) }, n > 0.
.output a.s
.type b.T <: number
.decl b.r(x: b.T)
.decl b.s(x: b.T)
b.r(1).
b.s(x) :- b.r(x), !out(x), n = count : { b.r(_) }, n > 0.
.output b.s
a.r(2).
out(x) :- a.s(x), b.s(x).
"
    );
}

#[test]
fn type_parameters_replace_type_names_not_relation_names() {
    let text = "\
.comp P<A, B> {
  .type K = A | B
  .type S <: A
  .decl r(x: K, y: B, z: S)
  A(1) :- r(_, _, _).
}
.init p = P<number, symbol>
";
    assert_eq!(
        expanded(text),
        "\
.type p.K = number | symbol
.type p.S <: number
.decl p.r(x: p.K, y: symbol, z: p.S)
A(1) :- p.r(_, _, _).
"
    );
}

#[test]
fn inheritance_copies_base_content_and_override_drops_its_clauses() {
    let text = "\
.comp Base<T> {
  .decl r(x: T) overridable
  .decl q(x: T)
  r(1).
  q(x) :- r(x).
}
.comp Mid<U> : Base<U> {
  r(2).
}
.comp Sub : Mid<number> {
  .override r
  r(3).
}
.init s = Sub
";
    // Base content first, then each level's own; `overridable` is dropped once expanded.
    assert_eq!(
        expanded(text),
        "\
.decl s.r(x: number)
.decl s.q(x: number)
s.q(x) :- s.r(x).
s.r(3).
"
    );
    // Without the override, every level's clauses are kept.
    let kept = text.replace(".override r\n", "");
    assert_eq!(
        expanded(&kept),
        "\
.decl s.r(x: number)
.decl s.q(x: number)
s.r(1).
s.q(x) :- s.r(x).
s.r(2).
s.r(3).
"
    );
}

#[test]
fn nested_instances_nest_names_and_orphans_find_their_relation() {
    let text = "\
.decl top(x: number)
.comp Outer {
  .decl r(x: number)
  .comp Inner {
    .decl i(x: number)
    i(1).
    r(x) :- i(x).
    top(x) :- i(x), r(x).
  }
  .init in = Inner
  .output in.i
}
.init o = Outer
";
    assert_eq!(
        expanded(text),
        "\
.decl top(x: number)
.decl o.in.i(x: number)
.decl o.r(x: number)
o.in.i(1).
o.r(x) :- o.in.i(x).
top(x) :- o.in.i(x), o.r(x).
.output o.in.i
"
    );
}

#[test]
fn components_are_found_in_bases_and_enclosing_scopes() {
    let text = "\
.comp Model {
  .comp Part {
    .decl p(x: number)
    p(1).
  }
}
.comp Concrete : Model {
  .init part = Part
}
.comp Wrapper<Impl> {
  .init inner = Impl
}
.init c = Concrete
.init w = Wrapper<Concrete>
";
    assert_eq!(
        expanded(text),
        "\
.decl c.part.p(x: number)
c.part.p(1).
.decl w.inner.part.p(x: number)
w.inner.part.p(1).
"
    );
}

#[test]
fn a_program_without_components_is_unchanged_and_overridable_is_dropped() {
    assert_eq!(
        expanded(".decl r(x: number) overridable eqrel\nr(1, 2).\n"),
        ".decl r(x: number) eqrel\nr(1, 2).\n"
    );
}

#[test]
fn e0020_unknown_component() {
    let text = ".comp A {}\n.init a = B\n.comp C : D {}\n.comp E<T> {\n  .init x = F\n}\n";
    assert_eq!(located(text), ["E0020 2:11", "E0020 3:11", "E0020 5:13"]);
}

#[test]
fn e0021_wrong_number_of_type_parameters() {
    let text = ".comp A<T> {}\n.init a = A\n.init b = A<number, symbol>\n.comp B : A {}\n";
    assert_eq!(located(text), ["E0021 2:11", "E0021 3:11", "E0021 4:11"]);
    let d = &parse(F, text).diagnostics[0];
    assert_eq!(d.message, "component `A` takes 1 type parameter, 0 given");
    assert_eq!(d.secondary.len(), 1, "points at the declaration too");
}

#[test]
fn e0022_inheritance_cycle() {
    let text = ".comp A : A {}\n.comp B : C {}\n.comp C : B {}\n.comp D {}\n.init d = D\n";
    assert_eq!(located(text), ["E0022 1:7", "E0022 2:7", "E0022 3:7"]);
    // Nothing is instantiated when a component is in error.
    assert!(parse(F, text).program.items.is_empty());
}

#[test]
fn e0023_override_errors() {
    let text = "\
.comp A {
  .decl r(x: number)
}
.comp B : A {
  .override r
}
.comp C {
  .decl r(x: number) overridable
  .override r
}
";
    // At the component, as Souffle does; the `.override` and the declaration are secondary.
    assert_eq!(located(text), ["E0023 4:7", "E0023 7:7"]);
    let diags = parse(F, text).diagnostics;
    assert!(
        diags[0].message.contains("not overridable"),
        "{}",
        diags[0].message
    );
    assert!(
        diags[1].message.contains("declares itself"),
        "{}",
        diags[1].message
    );
    assert_eq!(diags[0].secondary.len(), 2);
}

#[test]
fn e0024_name_clashes_and_redefinitions() {
    let clash = ".decl r(x: number)\n.comp r {}\n.comp K {}\n.init K = K\n";
    assert_eq!(located(clash), ["E0024 2:7", "E0024 4:7"]);
    let twice = "\
.comp A {
  .decl x(a: number)
}
.comp B : A {
  .decl x(a: number)
  .type T <: number
  .type T <: symbol
  .input x
  .input x
}
.init b = B
";
    assert_eq!(located(twice), ["E0024 5:9", "E0024 7:9", "E0024 9:3"]);
}

#[test]
fn e0025_instantiation_limits() {
    // A component that instantiates itself through its type parameter.
    let text = ".comp A<T> {\n  .init x = T\n}\n.init a = A<A>\n";
    assert_eq!(located(text), ["E0025 2:3"]);
    // Two instantiations per level: the work budget stops the doubling.
    let text = ".comp A<T> {\n  .init x = T\n  .init y = T\n}\n.init a = A<A>\n";
    let found = located(text);
    assert!(found.contains(&"E0025 2:3".to_string()), "{found:?}");
    // Inheriting from itself through a type parameter.
    let text = ".comp A<T> : T {}\n.init a = A<A>\n";
    assert_eq!(located(text), ["E0025 1:14"]);
}

#[test]
fn e0026_misplaced_component_syntax() {
    let text = ".override r\n.init a.b = C\n.comp C {}\n";
    assert_eq!(located(text), ["E0026 1:11", "E0026 2:7"]);
}

#[test]
fn pragmas_ignored_or_refused_by_what_they_change() {
    let text = "\
.pragma \"magic-transform\" \"*\"
.pragma \"legacy\"
.pragma \"fact-dir\" \"x\"
.pragma \"macro\" \"A=1\"
.pragma \"no-such-option\" \"1\"
p(1).
";
    assert_eq!(
        located(text),
        [
            "W0027 1:1",
            "W0027 2:1",
            "E0027 3:1",
            "E0027 4:1",
            "W0027 5:1"
        ]
    );
    let p = parse(F, text);
    let severities: Vec<Severity> = p.diagnostics.iter().map(|d| d.severity).collect();
    assert_eq!(
        severities,
        [
            Severity::Warning,
            Severity::Warning,
            Severity::Error,
            Severity::Error,
            Severity::Warning
        ]
    );
    assert_eq!(common::program(&p.program), "p(1).\n");
    assert_eq!(located(".pragma magic\n"), ["E0001 1:9"]);
}

#[test]
fn syntax_errors_in_components_are_recovered_from() {
    // An error in a body item does not swallow the component's `}` nor what follows.
    let text = "\
.comp A {
  .decl x(a number)
  .decl y(a: number)
  y(1) :- .
}
.init a = A
p(1).
";
    assert_eq!(located(text), ["E0001 2:13", "E0001 4:11"]);
    assert_eq!(
        common::program(&parse(F, text).program),
        ".decl a.y(a: number)\np(1).\n"
    );
    // A component never closed.
    assert_eq!(located(".comp A {\n  .decl x(a: number)\n"), ["E0001 1:9"]);
    // Bad headers.
    assert_eq!(located(".comp A<T {}\np(1).\n"), ["E0001 1:11"]);
    assert_eq!(located(".init a C\n"), ["E0001 1:9"]);
}

#[test]
fn e0006_components_nested_too_deep() {
    let mut text = String::new();
    for i in 0..70 {
        text.push_str(&format!(".comp C{i} {{\n"));
    }
    text.push_str(&"}\n".repeat(70));
    let found = located(&text);
    assert_eq!(
        found.first().map(String::as_str),
        Some("E0006 65:1"),
        "{found:?}"
    );
}
