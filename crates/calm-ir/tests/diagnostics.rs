//! Snapshot tests of every diagnostic the IR layer reports, rendered as users see them.

use calm_syntax::{SourceMap, parse, render_all};

fn check(text: &str) -> String {
    let mut map = SourceMap::new();
    let file = map.add("prog.dl", text);
    let parsed = parse(file, text);
    assert!(
        parsed.diagnostics.is_empty(),
        "syntax errors: {:?}",
        parsed.diagnostics
    );
    let (_, diags) = calm_ir::lower(&parsed.program, file);
    assert!(!diags.is_empty(), "expected a diagnostic for:\n{text}");
    render_all(&diags, &map)
}

#[test]
fn e0100_unknown_type() {
    insta::assert_snapshot!(check(".decl p(x: real)\np(1).\n"));
}

#[test]
fn e0100_unknown_type_in_a_type_declaration() {
    insta::assert_snapshot!(check(".type Id <: numbr\n.decl p(x: Id)\np(1).\n"));
}

#[test]
fn e0100_cyclic_type_declarations() {
    insta::assert_snapshot!(check(".type A = B\n.type B = A\n.decl p(x: A)\n"));
}

#[test]
fn e0102_type_declared_twice() {
    insta::assert_snapshot!(check(
        ".type A <: number\n.type A <: symbol\n.type symbol <: number\n"
    ));
}

#[test]
fn e0102_column_declared_twice() {
    insta::assert_snapshot!(check(".decl r(a: number, b: symbol, a: number)\n"));
}

#[test]
fn e0110_printsize_given_twice() {
    insta::assert_snapshot!(check(
        ".decl a(x: number) printsize\n.decl b(x: number)\n.printsize b\n.printsize a, b\n"
    ));
}

#[test]
fn e0110_qualifier_given_twice() {
    insta::assert_snapshot!(check(".decl r(a: number) output output\nr(1).\n"));
}

#[test]
fn e0300_union_of_numbers_and_symbols() {
    insta::assert_snapshot!(check(
        ".type Name <: symbol\n.type Id <: number\n.type Key = Name | Id\n.decl p(x: Key)\n"
    ));
}

#[test]
fn e0300_subtype_is_its_base_type() {
    insta::assert_snapshot!(check(".type Name <: symbol\n.decl p(x: Name)\np(1).\n"));
}

#[test]
fn e0101_arity_mismatch_against_decl() {
    insta::assert_snapshot!(check(
        ".decl edge(x: number, y: number)\np(x) :- edge(x, y, z).\n"
    ));
}

#[test]
fn e0101_arity_mismatch_between_uses() {
    insta::assert_snapshot!(check("q(1, 2).\np(x) :- q(x).\n"));
}

#[test]
fn e0102_duplicate_decl() {
    insta::assert_snapshot!(check(".decl p(x: number)\n.decl p(x: number)\n"));
}

#[test]
fn e0103_unknown_relation_in_output() {
    insta::assert_snapshot!(check("p(1).\n.output q\n"));
}

#[test]
fn e0103_unknown_relation_in_input() {
    insta::assert_snapshot!(check(".input edges\n"));
}

#[test]
fn e0104_builtin_in_head() {
    insta::assert_snapshot!(check("$member(\"x\") :- p(1).\np(1).\n"));
}

#[test]
fn e0104_unknown_builtin() {
    insta::assert_snapshot!(check("p(x) :- $peers(x).\n"));
}

#[test]
fn e0105_async_without_location() {
    insta::assert_snapshot!(check("p(x)@async :- q(x).\nq(1).\n"));
}

#[test]
fn e0105_location_without_async() {
    insta::assert_snapshot!(check("p(@n, x) :- q(x), $member(n).\nq(1).\n"));
}

#[test]
fn e0106_witness_of_count() {
    insta::assert_snapshot!(check("p(x, n) :- n = count : { q(x) }.\nq(1).\n"));
}

#[test]
fn e0106_mutually_dependent_aggregates() {
    insta::assert_snapshot!(check(
        "r(i, j) :- s(i, j, h),\n  0 = count : { s(x, j, z), x < i, z > h },\n  0 = count : { s(i, y, z), y < j, z > h }.\ns(1, 2, 3).\n"
    ));
}

#[test]
fn e0112_subsumption_of_a_recursive_relation() {
    insta::assert_snapshot!(check(
        "e(1, 2).\nd(1, 0).\nd(y, n + 1) :- d(x, n), e(x, y).\nd(x, a) <= d(x, b) :- b < a.\n"
    ));
}

#[test]
fn e0104_range_as_a_value() {
    insta::assert_snapshot!(check("p(x) :- q(y), x = range(0, y) + 1.\nq(3).\n"));
}

#[test]
fn e0106_witness_of_two_aggregates() {
    insta::assert_snapshot!(check(
        "p(x, a, b) :- a = min y : { q(x, y) }, b = max y : { q(x, y) }.\nq(1, 2).\n"
    ));
}

#[test]
fn e0107_wildcard_in_head() {
    insta::assert_snapshot!(check("p(_) :- q(1).\nq(1).\n"));
}

#[test]
fn e0108_constant_fact_division_by_zero() {
    insta::assert_snapshot!(check("p(1 / 0).\n"));
}

#[test]
fn e0200_unbound_head_variable() {
    insta::assert_snapshot!(check("p(x, y) :- q(x).\nq(1).\n"));
}

#[test]
fn e0200_unbound_in_negation() {
    insta::assert_snapshot!(check("p(x) :- q(x), !r(y).\nq(1).\nr(2).\n"));
}

#[test]
fn e0200_unbound_in_comparison() {
    insta::assert_snapshot!(check("p(x) :- q(x), y < 3.\nq(1).\n"));
}

#[test]
fn e0300_type_clash_with_decl() {
    insta::assert_snapshot!(check(".decl p(x: number)\np(\"a\").\n"));
}

#[test]
fn e0300_type_clash_through_variable() {
    insta::assert_snapshot!(check(
        ".decl name(s: symbol)\n.decl age(n: number)\np(x) :- name(x), age(x).\n"
    ));
}

#[test]
fn e0400_negation_cycle() {
    insta::assert_snapshot!(check("p(x) :- q(x), !r(x).\nr(x) :- p(x).\nq(1).\n"));
}

#[test]
fn e0400_aggregation_cycle() {
    insta::assert_snapshot!(check("c(n) :- n = count : { c(_) }.\n"));
}

#[test]
fn w0100_never_defined() {
    insta::assert_snapshot!(check("p(x) :- q(x), r(x).\nq(1).\n"));
}

#[test]
fn negation_cycle_through_next_is_fine() {
    let text = "p(x)@next :- q(x), !p(x).\nq(1).\n";
    let mut map = SourceMap::new();
    let file = map.add("prog.dl", text);
    let parsed = parse(file, text);
    let (prog, diags) = calm_ir::lower(&parsed.program, file);
    assert!(diags.is_empty(), "{}", render_all(&diags, &map));
    assert_eq!(prog.temporal_rules.len(), 1);
}

#[test]
fn e0300_functor_argument_types() {
    insta::assert_snapshot!(check(
        "n(1).\ns(\"a\").\np(x) :- n(y), x = strlen(y).\nq(x) :- s(y), x = y band 1.\n"
    ));
}

#[test]
fn e0300_functor_result_type() {
    insta::assert_snapshot!(check(".decl p(x: number)\np(cat(\"a\", \"b\")).\n"));
}

#[test]
fn e0108_functor_in_a_fact_fails() {
    insta::assert_snapshot!(check("p(to_number(\"x1\")).\nq(substr(\"ab\", 3, 1)).\n"));
}

#[test]
fn e0104_souffle_functor_as_atom() {
    insta::assert_snapshot!(check("name(\"ab\").\nlen(s, n) :- name(s), ord(s, n).\n"));
}

#[test]
fn e0104_predicate_as_relation() {
    insta::assert_snapshot!(check(
        ".decl contains(x: symbol, y: symbol)\nmatch(x, y) :- q(x, y).\nq(\"a\", \"b\").\n"
    ));
}

#[test]
fn e0101_eqrel_arity() {
    insta::assert_snapshot!(check(".decl same(x: number) eqrel\nsame(1).\n"));
}

#[test]
fn e0109_invalid_constant_pattern() {
    insta::assert_snapshot!(check(
        "name(\"ab\").\np(s) :- name(s), match(\"a(b\", s).\n"
    ));
}

#[test]
fn e0110_unsupported_io_parameters() {
    insta::assert_snapshot!(check(
        ".decl e(x: number)\n.input e(rfc4180=yes, headers=true, format=object)\n\
         .output e(IO=sqlite, compress=true)\n.output e(filename=\"a\", filename=\"b\")\n"
    ));
}

#[test]
fn e0300_string_predicate_on_numbers() {
    insta::assert_snapshot!(check("n(1).\np(x) :- n(x), contains(\"1\", x).\n"));
}

#[test]
fn eqrel_gets_closure_rules() {
    let text = ".decl e(x: number, y: number) eqrel\ne(1, 2).\n";
    let parsed = parse(calm_syntax::FileId(0), text);
    let (prog, diags) = calm_ir::lower(&parsed.program, calm_syntax::FileId(0));
    assert!(diags.is_empty(), "{diags:?}");
    let e = prog.relation("e").unwrap();
    assert!(prog.relations[e].eqrel);
    assert_eq!(prog.rules.len(), 2);
    assert!(prog.rules.iter().all(|r| r.compiler_made && r.head == e));
    // Undefined but for the closure rules: still reported as never defined.
    let text = ".decl e(x: number, y: number) eqrel\np(x) :- e(x, _).\n";
    let parsed = parse(calm_syntax::FileId(0), text);
    let (_, diags) = calm_ir::lower(&parsed.program, calm_syntax::FileId(0));
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].code.as_deref(), Some("W0100"));
}

#[test]
fn several_io_directives_and_qualifiers() {
    let text = ".decl a(x: number) input output\n.input a(filename=\"b.facts\")\n.input a\n\
                .output a(IO=stdout)\n.printsize a\n";
    let parsed = parse(calm_syntax::FileId(0), text);
    let (prog, diags) = calm_ir::lower(&parsed.program, calm_syntax::FileId(0));
    assert!(diags.is_empty(), "{diags:?}");
    let a = &prog.relations[prog.relation("a").unwrap()];
    // The qualifier's `input` and the plain `.input a` are the same: kept once.
    assert_eq!(a.inputs.len(), 2);
    assert_eq!(a.outputs.len(), 2);
    assert!(a.printsize);
}

#[test]
fn e0120_record_literal_with_the_wrong_number_of_fields() {
    insta::assert_snapshot!(check(
        ".type P = [a: number, b: symbol]\n.decl p(x: P)\np([1, \"a\", 2]).\n"
    ));
}

#[test]
fn e0120_record_pattern_with_the_wrong_number_of_fields() {
    insta::assert_snapshot!(check(
        ".type P = [a: number, b: symbol]\n.decl p(x: P)\np(nil).\n.decl q(a: number)\n\
         q(a) :- p([a]).\n"
    ));
}

#[test]
fn e0120_unknown_constructor() {
    insta::assert_snapshot!(check(
        ".type T = A {x: number} | B {}\n.decl t(x: T)\nt($A(1)).\nt($C(2)).\n"
    ));
}

#[test]
fn e0120_constructor_with_the_wrong_number_of_arguments() {
    insta::assert_snapshot!(check(
        ".type T = A {x: number} | B {}\n.decl t(x: T)\nt($A(1, 2)).\n"
    ));
}

#[test]
fn e0120_duplicate_constructor() {
    insta::assert_snapshot!(check(
        ".type T = A {x: number} | B {}\n.type U = B {y: symbol}\n.decl t(x: T)\nt($A(1)).\n"
    ));
}

#[test]
fn e0120_record_literal_of_unknown_type() {
    // A record destructured, with nothing telling its type (`p` is not declared).
    insta::assert_snapshot!(check(".decl q(x: number)\nq(a) :- p(x), x = [a, _].\n"));
}

#[test]
fn e0120_record_literal_for_an_adt_and_nil_for_an_adt() {
    insta::assert_snapshot!(check(
        ".type T = A {x: number} | B {}\n.decl t(x: T)\nt([1]).\nt(nil).\n"
    ));
}

#[test]
fn e0120_record_where_a_number_is_expected() {
    insta::assert_snapshot!(check(".decl n(x: number)\nn([1, 2]).\n"));
}

#[test]
fn e0300_record_compared_with_number() {
    insta::assert_snapshot!(check(
        ".type P = [a: number, b: number]\n.decl p(x: P)\np([1, 2]).\n.decl q(x: P)\n\
         q(x) :- p(x), x < 3.\n"
    ));
}

#[test]
fn e0300_records_of_two_types() {
    insta::assert_snapshot!(check(
        ".type P = [a: number]\n.type Q = [a: number]\n.decl p(x: P)\n.decl q(x: Q)\n\
         p([1]).\nq(x) :- p(x).\n"
    ));
}

#[test]
fn e0100_unknown_field_type() {
    insta::assert_snapshot!(check(".type P = [a: numbr]\n.decl p(x: P)\np(nil).\n"));
}

#[test]
fn e0107_wildcard_in_a_record_under_negation() {
    insta::assert_snapshot!(check(
        ".type P = [a: number, b: number]\n.decl p(x: P)\np([1, 2]).\n.decl q(x: number)\n\
         q(1).\n.decl r(x: number)\nr(x) :- q(x), !p([x, _]).\n"
    ));
}

#[test]
fn e0120_subtype_of_a_record_type() {
    insta::assert_snapshot!(check(
        ".type L = [h: number, t: L]\n.type S <: L\n.decl s(x: S)\ns(nil).\n"
    ));
}

#[test]
fn e0300_integer_operator_on_floats() {
    insta::assert_snapshot!(check(
        ".decl q(x: float)\nq(1.5).\n.decl p(x: float)\np(x % 2) :- q(x).\np(bnot x) :- q(x).\n"
    ));
}

#[test]
fn e0300_cast_between_number_and_float() {
    insta::assert_snapshot!(check(
        ".decl q(x: number)\nq(1).\n.decl p(x: float)\np(as(x, float)) :- q(x).\n"
    ));
}

#[test]
fn e0300_unsigned_negated_and_mixed_with_a_number() {
    insta::assert_snapshot!(check(
        ".decl u(x: unsigned)\nu(1u).\n.decl n(x: number)\nn(-x) :- u(x).\nn(x + y) :- u(x), n(y).\n"
    ));
}

#[test]
fn e0108_negative_unsigned_literal() {
    insta::assert_snapshot!(check(".decl p(x: unsigned)\np(-1).\np(2 - 3).\n"));
}
