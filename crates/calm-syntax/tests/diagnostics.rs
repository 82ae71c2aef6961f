//! Snapshots of the rendered diagnostics of every kind of syntax error, as a user sees them.

use calm_syntax::{MAX_SOURCE_LEN, SourceMap, parse, parse_facts, render_all};

/// Parses `text` as file `prog.dl` and renders every diagnostic.
fn render(text: &str) -> String {
    let mut map = SourceMap::new();
    let file = map.add("prog.dl", text);
    render_all(&parse(file, text).diagnostics, &map)
}

fn render_facts(text: &str) -> String {
    let mut map = SourceMap::new();
    let file = map.add("insert", text);
    render_all(&parse_facts(file, text).diagnostics, &map)
}

#[test]
fn e0001_missing_dot_after_rule() {
    insta::assert_snapshot!(render(
        "path(x, y) :- edge(x, y)\npath(x, z) :- path(x, y), edge(y, z).\n"
    ));
}

#[test]
fn e0001_missing_neck_after_head() {
    insta::assert_snapshot!(render("p(x) q(x).\n"));
}

#[test]
fn e0001_missing_dot_at_end_of_input() {
    insta::assert_snapshot!(render("p(x) :- q(x)\n"));
}

#[test]
fn e0001_unexpected_character() {
    insta::assert_snapshot!(render("p(x) :- q(x) && r(x).\n"));
}

#[test]
fn e0001_atom_without_parentheses() {
    insta::assert_snapshot!(render("p(x) :- q(x), ready.\n"));
}

#[test]
fn e0001_bad_declaration() {
    insta::assert_snapshot!(render(".decl edge(x: number, y number)\nedge(1, 2).\n"));
}

#[test]
fn e0001_unknown_time_suffix() {
    insta::assert_snapshot!(render("p(x)@later :- q(x).\n"));
}

#[test]
fn e0002_unterminated_string() {
    insta::assert_snapshot!(render("name(1, \"alice).\nname(2, \"bob\").\n"));
}

#[test]
fn e0003_unterminated_comment() {
    insta::assert_snapshot!(render("p(1).\n/* TODO: more facts\nq(2).\n"));
}

#[test]
fn e0004_integer_overflow() {
    insta::assert_snapshot!(render("big(99999999999999999999).\n"));
}

#[test]
fn e0001_record_type_field_without_a_type() {
    insta::assert_snapshot!(render(".type Pair = [a: number, b]\n"));
}

#[test]
fn e0001_algebraic_data_type_branch_without_braces() {
    insta::assert_snapshot!(render(".type Tree = Leaf | Node {l: Tree, r: Tree}\n"));
}

#[test]
fn e0005_disjunction_in_aggregate() {
    insta::assert_snapshot!(render("p(n) :- n = count : { q(x) ; r(x) }.\n"));
}

#[test]
fn e0005_unsupported_functor() {
    insta::assert_snapshot!(render(
        "weight(1, 0.5).\nid(s, n) :- name(s), n = ord(s).\n"
    ));
}

#[test]
fn e0004_unsigned_and_ipv4_out_of_range() {
    insta::assert_snapshot!(render(
        "big(18446744073709551616u).\nip(10.0.0.256).\nok(18446744073709551615u, 255.255.255.255, 2.5e-3).\n"
    ));
}

#[test]
fn e0006_nesting_too_deep() {
    let text = format!("p(x) :- x = {}1{}.\n", "(".repeat(130), ")".repeat(130));
    insta::assert_snapshot!(render(&text));
}

#[test]
fn e0007_unknown_directive() {
    insta::assert_snapshot!(render(".outptu edge\n"));
}

#[test]
fn e0008_not_a_fact() {
    insta::assert_snapshot!(render_facts(
        "waits(\"t1\", \"t2\"). waits(x, \"t1\"). done() :- waits(_, _).\n"
    ));
}

#[test]
fn e0009_unknown_escape() {
    insta::assert_snapshot!(render("path(\"C:\\temp\\data\").\n"));
}

#[test]
fn e0010_source_too_large() {
    let text = "edge(1, 2).\n".repeat(MAX_SOURCE_LEN / 12 + 1);
    insta::assert_snapshot!(render(&text));
}

#[test]
fn w0001_preprocessor_line() {
    insta::assert_snapshot!(render("# 1 \"prog.dl\"\np(1).\n"));
}

#[test]
fn e0005_include() {
    insta::assert_snapshot!(render("#include \"types.dl\"\n#define N 3\np(1).\n"));
}

#[test]
fn e0005_choice_domain() {
    insta::assert_snapshot!(render(
        ".decl pick(x: number, y: number) choice-domain x\npick(1, 2).\n"
    ));
}

#[test]
fn e0001_string_predicate_arity() {
    insta::assert_snapshot!(render(
        "p(x) :- q(x), match(\"a.*\").\nr(x) :- q(x), !contains(\"a\", x, x).\n"
    ));
}

#[test]
fn w0002_ignored_qualifier() {
    insta::assert_snapshot!(render(
        ".decl same(x: number, y: number) brie eqrel btree\n"
    ));
}

#[test]
fn several_errors_in_one_file() {
    insta::assert_snapshot!(render(
        "\
.decl edge(x: number, y: number)
edge(1, 2).
edge(2, \"é\" 3).
path(x, y) :- edge(x, y)
path(x, z) :- path(x, y), edge(y, z).
reach(x) :- path(x, _), !, x > 1.
ok().
"
    ));
}

#[test]
fn e0023_override_of_a_relation_that_is_not_overridable() {
    insta::assert_snapshot!(render(
        ".comp Base {\n  .decl r(x: number)\n}\n.comp Sub : Base {\n  .override r\n  r(1).\n}\n.init s = Sub\n"
    ));
}

#[test]
fn e0027_w0027_pragmas() {
    insta::assert_snapshot!(render(
        ".pragma \"magic-transform\" \"*\"\n.pragma \"fact-dir\" \"facts\"\n"
    ));
}

#[test]
fn e0028_choice_domain_unknown_column() {
    insta::assert_snapshot!(render(
        ".decl pick(x: number, y: number) choice-domain x, (y, z), w\npick(1, 2).\n"
    ));
}
