//! Parser tests: the tree produced for every construct, error codes and recovery, limits.

mod common;

use calm_syntax::ast::{
    AggFunc, BinOp, CmpOp, DirectiveKind, Expr, Item, Literal, Program, Rule, TimeSuffix,
};
use calm_syntax::{FileId, MAX_SOURCE_LEN, Parsed, Severity, Span, parse, parse_facts};

const F: FileId = FileId(7);

fn sp(start: usize, end: usize) -> Span {
    Span::new(start, end)
}

/// Parses and asserts there are no diagnostics.
fn ok(text: &str) -> Program {
    let p = parse(F, text);
    assert!(p.diagnostics.is_empty(), "{text:?}: {:#?}", p.diagnostics);
    p.program
}

/// The only item, a rule.
fn rule(text: &str) -> Rule {
    let p = ok(text);
    assert_eq!(p.items.len(), 1, "{text}");
    match p.items.into_iter().next() {
        Some(Item::Rule(r)) => r,
        other => panic!("not a rule: {other:?}"),
    }
}

/// The program printed back (expressions fully parenthesised).
fn printed(text: &str) -> String {
    common::program(&ok(text))
}

/// The body of `h() :- {body}.` printed back.
fn body(body: &str) -> String {
    let r = rule(&format!("h() :- {body}."));
    r.body
        .iter()
        .map(common::literal)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The expression `e` printed back.
fn expr(e: &str) -> String {
    body(&format!("x = {e}"))
        .strip_prefix("x = ")
        .map(str::to_string)
        .unwrap_or_default()
}

/// The codes of the diagnostics.
fn codes(p: &Parsed) -> Vec<&str> {
    p.diagnostics
        .iter()
        .map(|d| d.code.as_deref().unwrap_or("-"))
        .collect()
}

fn errs(text: &str) -> Parsed {
    let p = parse(F, text);
    assert!(
        p.diagnostics.iter().any(|d| d.is_error()),
        "{text:?} should have errors"
    );
    for d in &p.diagnostics {
        let l = d
            .primary
            .as_ref()
            .expect("every parser diagnostic has a location");
        assert_eq!(l.file, F);
        assert!(l.span.end <= text.len());
    }
    p
}

#[test]
fn facts_and_rules_with_spans() {
    let text = "edge(1, 2).\npath(x, y) :- edge(x, y).\n";
    let p = ok(text);
    assert_eq!(p.items.len(), 2);
    let Item::Rule(fact) = &p.items[0] else {
        panic!()
    };
    assert_eq!(fact.span, sp(0, 11));
    assert_eq!(fact.head.name.name, "edge");
    assert_eq!(fact.head.name.span, sp(0, 4));
    assert_eq!(fact.head.span, sp(0, 10));
    assert!(fact.body.is_empty());
    assert_eq!(fact.time, None);
    assert_eq!(fact.head.args[0].expr, Expr::Number(1, sp(5, 6)));
    assert_eq!(fact.head.args[1].span, sp(8, 9));
    let Item::Rule(r) = &p.items[1] else { panic!() };
    assert_eq!(r.span, sp(12, 37));
    assert_eq!(r.body.len(), 1);
    assert_eq!(r.body[0].span(), sp(26, 36));
    let Literal::Atom(a) = &r.body[0] else {
        panic!()
    };
    assert_eq!(a.name.name, "edge");
    assert!(matches!(&a.args[0].expr, Expr::Var(v) if v.name == "x" && v.span == sp(31, 32)));
}

#[test]
fn zero_arity_atoms_and_all_argument_kinds() {
    assert_eq!(printed("ok()."), "ok().\n");
    assert_eq!(
        printed("p(x, 1, \"s\", _, X_1, _y) :- ok()."),
        "p(x, 1, \"s\", _, X_1, _y) :- ok().\n"
    );
    let r = rule("p(_).");
    assert_eq!(r.head.args[0].expr, Expr::Wildcard(sp(2, 3)));
}

#[test]
fn clause_ends_at_final_dot_and_names_may_be_qualified() {
    let r = rule("a.b.c(x) :- q.r(x), $self(x).");
    assert_eq!(r.head.name.name, "a.b.c");
    assert_eq!(r.head.name.span, sp(0, 5));
    assert_eq!(common::literal(&r.body[0]), "q.r(x)");
    assert_eq!(
        common::literal(&r.body[1]),
        "$member(x)".replace("member", "self")
    );
    assert_eq!(printed("p(x) :- q(x).r(1)."), "p(x) :- q(x).\nr(1).\n");
    assert_eq!(printed("p(1).q(2)."), "p(1).\nq(2).\n");
    assert_eq!(printed("p(x) :- x = 1."), "p(x) :- x = 1.\n");
    assert_eq!(printed("p(x):-q(x).\n"), "p(x) :- q(x).\n");
}

#[test]
fn declarations() {
    let p = ok(".decl edge(src: number, dst:symbol)\n.decl ok()\n.decl a.b(x: number)");
    let Item::Decl(d) = &p.items[0] else { panic!() };
    assert_eq!(d.name.name, "edge");
    assert_eq!(d.span, sp(0, 35));
    assert_eq!(d.params.len(), 2);
    assert_eq!(d.params[0].name.name, "src");
    assert_eq!(d.params[0].ty.name, "number");
    assert_eq!(d.params[1].name.span, sp(24, 27));
    assert_eq!(d.params[1].ty.name, "symbol");
    let Item::Decl(d) = &p.items[1] else { panic!() };
    assert!(d.params.is_empty());
    assert_eq!(d.name.name, "ok");
    let Item::Decl(d) = &p.items[2] else { panic!() };
    assert_eq!(d.name.name, "a.b");
}

#[test]
fn souffle_qualifiers() {
    let text = ".decl e(x: number) brie\n.decl f(x: number, y: number) eqrel btree\n\
                .decl o(x: number) output input printsize\ng(1, 2).\n";
    let p = parse(F, text);
    assert_eq!(codes(&p), ["W0002", "W0002"]);
    assert!(
        p.diagnostics
            .iter()
            .all(|d| d.severity == Severity::Warning)
    );
    assert_eq!(p.program.items.len(), 4);
    let quals = |i: usize| match &p.program.items[i] {
        Item::Decl(d) => d
            .qualifiers
            .iter()
            .map(|q| q.name.clone())
            .collect::<Vec<_>>(),
        _ => panic!("not a declaration"),
    };
    assert!(quals(0).is_empty());
    assert_eq!(quals(1), ["eqrel"]);
    assert_eq!(quals(2), ["output", "input", "printsize"]);
    assert_eq!(common::item(&p.program.items[3]), "g(1, 2).");
    // A choice domain is an error; the next item still parses.
    let p = errs(".decl g(x: number, y: number) choice-domain x, (x, y)\ng(1, 2).\n");
    assert_eq!(codes(&p), ["E0005"]);
    assert_eq!(common::program(&p.program), "g(1, 2).\n");
}

#[test]
fn string_predicates_are_comparisons() {
    let r = rule("p(x) :- q(x), match(\"a.*\", x), !contains(\"b\", x), not match(y, x).");
    let ops: Vec<CmpOp> = r
        .body
        .iter()
        .filter_map(|l| match l {
            Literal::Compare { op, .. } => Some(*op),
            _ => None,
        })
        .collect();
    assert_eq!(ops, [CmpOp::Match, CmpOp::NotContains, CmpOp::NotMatch]);
    let Literal::Compare { lhs, rhs, span, .. } = &r.body[2] else {
        panic!()
    };
    assert!(matches!(lhs, Expr::String(s, _) if s == "b"));
    assert!(matches!(rhs, Expr::Var(v) if v.name == "x"));
    assert_eq!(*span, sp(31, 48));
    // A head named `match` is still an atom (the IR rejects it).
    let r = rule("match(x, y) :- q(x, y).");
    assert_eq!(r.head.name.name, "match");
}

#[test]
fn directives() {
    let text = ".input edge(IO=file, filename=\"edge.facts\", delimiter=\"\\t\")\n\
                .output a, b(IO=stdout, headers=true, n=3)\n.printsize x\n.persist y.z\n";
    let p = ok(text);
    assert_eq!(p.items.len(), 4);
    let Item::Directive(d) = &p.items[0] else {
        panic!()
    };
    assert_eq!(d.kind, DirectiveKind::Input);
    assert_eq!(d.kind_span, sp(0, 6));
    assert_eq!(d.span, sp(0, 59));
    assert_eq!(d.targets.len(), 1);
    let ps = &d.targets[0].params;
    assert_eq!(ps.len(), 3);
    assert_eq!(
        (ps[0].key.name.as_str(), ps[0].value.as_str()),
        ("IO", "file")
    );
    assert_eq!(ps[1].value, "edge.facts");
    assert_eq!(ps[1].value_span, sp(30, 42));
    assert_eq!(ps[2].value, "\t");
    let Item::Directive(d) = &p.items[1] else {
        panic!()
    };
    assert_eq!(d.kind, DirectiveKind::Output);
    assert_eq!(d.targets.len(), 2);
    assert!(d.targets[0].params.is_empty());
    let vals: Vec<&str> = d.targets[1]
        .params
        .iter()
        .map(|p| p.value.as_str())
        .collect();
    assert_eq!(vals, ["stdout", "true", "3"]);
    let Item::Directive(d) = &p.items[2] else {
        panic!()
    };
    assert_eq!(d.kind, DirectiveKind::PrintSize);
    let Item::Directive(d) = &p.items[3] else {
        panic!()
    };
    assert_eq!(d.kind, DirectiveKind::Persist);
    assert_eq!(d.targets[0].name.name, "y.z");
}

#[test]
fn unsupported_and_unknown_directives_are_skipped() {
    let text = ".comp C {\n .decl x(a: number)\n x(1).\n}\n\
                .init c = C\n.functor f(number): number\n.pragma \"a\" \"b\"\n.frobnicate p\n\
                p(1).\n.plan 0: (1, 2)\nq(2).\n";
    let p = parse(F, text);
    assert_eq!(codes(&p), ["E0005", "W0027", "E0007", "E0005"]);
    assert_eq!(p.diagnostics[0].message, "`.functor` is not supported");
    assert_eq!(p.diagnostics[2].message, "unknown directive `.frobnicate`");
    // The component is expanded, the unknown pragma ignored.
    assert_eq!(
        common::program(&p.program),
        ".decl c.x(a: number)\nc.x(1).\np(1).\nq(2).\n"
    );
}

#[test]
fn functors_and_souffle_operators() {
    assert_eq!(
        printed("p(x) :- q(a, b), x = cat(a, \"-\", b), strlen(x) > 3."),
        "p(x) :- q(a, b), x = cat(a, \"-\", b), strlen(x) > 3.\n"
    );
    // Precedence, lowest first: lor lxor land bor bxor band shifts + * (unary) ^.
    assert_eq!(
        printed("p(a lor b land c bor d band e bshl 1 + 2 * f)."),
        "p((a lor (b land (c bor (d band (e bshl (1 + (2 * f)))))))).\n"
    );
    assert_eq!(printed("p(-2^3^2)."), "p((-(2 ^ (3 ^ 2)))).\n");
    assert_eq!(
        printed("p(bnot x band lnot y)."),
        "p((bnot(x) band lnot(y))).\n"
    );
    assert_eq!(
        printed("p(max(a, b, 3), min(a, b)) :- q(a, b)."),
        "p(max(a, b, 3), min(a, b)) :- q(a, b).\n"
    );
    // Head-form and body-form aggregates keep their meaning.
    assert_eq!(
        printed("p(k, min(v)) :- q(k, v)."),
        "p(k, min(v)) :- q(k, v).\n"
    );
    assert_eq!(
        printed("p(m) :- m = max(v + 1) : { q(v) }."),
        "p(m) :- m = max (v + 1) : { q(v) }.\n"
    );
    assert_eq!(
        printed("p(s) :- q(x), s = substr(to_string(x), 0, 1), to_number(s) < 5."),
        "p(s) :- q(x), s = substr(to_string(x), 0, 1), to_number(s) < 5.\n"
    );
    let p = errs("p(x) :- q(x), y = strlen(x, x).\nr(x) :- q(x), y = ord(x).\n");
    assert_eq!(codes(&p), ["E0001", "E0005"]);
    assert_eq!(
        p.diagnostics[0].message,
        "`strlen` takes 1 argument, found 2"
    );
    assert_eq!(
        p.diagnostics[1].message,
        "Souffle's functor `ord` is not supported"
    );
}

#[test]
fn several_heads_and_record_literals() {
    let p = parse(F, "b(x), c(x, 1) :- a(x), x > 2.\nd(1).\n");
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    assert_eq!(
        common::program(&p.program),
        "b(x) :- a(x), x > 2.\nc(x, 1) :- a(x), x > 2.\nd(1).\n"
    );
    let p = errs("b(x), c(x).\nb(x)@next, c(x) :- a(x).\nd(1).\n");
    assert_eq!(codes(&p), ["E0001", "E0001"]);
    assert_eq!(common::program(&p.program), "d(1).\n");
    let p = parse(
        F,
        "p([1, [x, nil]], $A, $B(1, \"s\")) :- [x, _] = y, q(y).\n",
    );
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    assert_eq!(
        common::program(&p.program),
        "p([1, [x, nil]], $A(), $B(1, \"s\")) :- [x, _] = y, q(y).\n"
    );
    // A constructor at the start of a literal is an expression, not an atom.
    let r = rule("p() :- $A(1) != $B(2).");
    assert!(matches!(r.body[0], Literal::Compare { op: CmpOp::Ne, .. }));
    let p = errs("p([1, 2).\nq(1).\n");
    assert_eq!(codes(&p), ["E0001"]);
    assert_eq!(common::program(&p.program), "q(1).\n");
    let p = errs("p($).\nq(1).\n");
    assert_eq!(codes(&p), ["E0001"]);
}

#[test]
fn one_declaration_of_several_relations() {
    let p = parse(F, ".decl a, b,c(x: number, y: symbol) output\n");
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    assert_eq!(
        common::program(&p.program),
        ".decl a(x: number, y: symbol) output\n.decl b(x: number, y: symbol) output\n\
         .decl c(x: number, y: symbol) output\n"
    );
    let p = errs(".decl a, (x: number)\np(1).\n");
    assert_eq!(codes(&p), ["E0001"]);
}

#[test]
fn type_declarations() {
    let text = ".type T <: number\n.type U = A | B\n.type V = T\n.number_type N\n\
                .symbol_type S\n.type Q <: symbol\np(1).\n";
    let p = parse(F, text);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    assert_eq!(
        common::program(&p.program),
        ".type T <: number\n.type U = A | B\n.type V = T\n.type N <: number\n\
         .type S <: symbol\n.type Q <: symbol\np(1).\n"
    );
    let Item::Type(t) = &p.program.items[1] else {
        panic!()
    };
    assert_eq!(t.span, sp(18, 33));
    // Records and algebraic data types.
    let p = parse(
        F,
        ".type R = [a: number, b: symbol]\n.type L = Nil {} | Cons {x: number, t: L}\n\
         .type E = []\np(1).\n",
    );
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    assert_eq!(
        common::program(&p.program),
        ".type R = [a: number, b: symbol]\n.type L = Nil {} | Cons {x: number, t: L}\n\
         .type E = []\np(1).\n"
    );
    let p = parse(F, ".type R = [a number]\n.type L = Nil | Cons {}\np(1).\n");
    assert_eq!(codes(&p), ["E0001", "E0001"]);
    assert_eq!(common::program(&p.program), "p(1).\n");
    let p = parse(F, ".type T\np(1).\n.type = A\nq(1).\n");
    assert_eq!(codes(&p), ["E0001", "E0001"]);
    assert_eq!(common::program(&p.program), "p(1).\nq(1).\n");
}

#[test]
fn time_suffixes_and_location_arguments() {
    let r = rule("p(x)@next :- p(x).");
    assert_eq!(r.time, Some(TimeSuffix::Next(sp(4, 9))));
    let r = rule("p(@n, x)@async :- q(n, x).");
    assert_eq!(r.time, Some(TimeSuffix::Async(sp(8, 14))));
    assert!(r.head.args[0].location);
    assert_eq!(r.head.args[0].span, sp(2, 4));
    assert!(matches!(&r.head.args[0].expr, Expr::Var(v) if v.span == sp(3, 4)));
    assert!(!r.head.args[1].location);
    assert_eq!(printed("p(@(n + 1))@next."), "p(@(n + 1))@next.\n");
    let p = errs("p(x)@later :- q(x).\nok().");
    assert_eq!(codes(&p), ["E0001"]);
    assert_eq!(p.diagnostics[0].message, "unknown time suffix `@later`");
    assert_eq!(p.program.items.len(), 1);
}

#[test]
fn head_aggregates() {
    let r = rule("total(sum(v), min(v), max(v + 1), count(), count(v)) :- q(v).");
    let aggs: Vec<(AggFunc, bool, bool)> = r
        .head
        .args
        .iter()
        .map(|a| match &a.expr {
            Expr::Aggregate(g) => (g.func, g.target.is_some(), g.head_form && g.body.is_empty()),
            e => panic!("not an aggregate: {e:?}"),
        })
        .collect();
    use AggFunc::*;
    assert_eq!(
        aggs,
        [
            (Sum, true, true),
            (Min, true, true),
            (Max, true, true),
            (Count, false, true),
            (Count, true, true)
        ]
    );
    let Expr::Aggregate(g) = &r.head.args[0].expr else {
        panic!()
    };
    assert_eq!(g.func_span, sp(6, 9));
    assert_eq!(g.span, sp(6, 12));
    // `count` not followed by `(` is a variable.
    let r = rule("p(count, sum) :- q(count, sum), count = sum + 1.");
    assert!(matches!(&r.head.args[0].expr, Expr::Var(v) if v.name == "count"));
    assert_eq!(common::literal(&r.body[1]), "count = (sum + 1)");
    let p = errs("p(sum()) :- q(x).");
    assert_eq!(
        p.diagnostics[0].message,
        "`sum` needs an expression to aggregate"
    );
}

#[test]
fn negation() {
    let r = rule("p(x) :- q(x), !r(x), not s(x, _).");
    assert_eq!(r.body.len(), 3);
    let Literal::Negated { atom, span } = &r.body[1] else {
        panic!()
    };
    assert_eq!(atom.name.name, "r");
    assert_eq!(*span, sp(14, 19));
    assert_eq!(atom.span, sp(15, 19));
    let Literal::Negated { atom, span } = &r.body[2] else {
        panic!()
    };
    assert_eq!(atom.name.name, "s");
    assert_eq!(*span, sp(21, 32));
    // `not` is a variable when no relation name follows.
    assert_eq!(body("not = 1"), "not = 1");
}

#[test]
fn comparisons() {
    assert_eq!(
        body("a = b, a != b, a < b, a <= b, a > b, a >= b"),
        "a = b, a != b, a < b, a <= b, a > b, a >= b"
    );
    let r = rule("h() :- a = b, c >= 1.");
    let ops: Vec<CmpOp> = r
        .body
        .iter()
        .map(|l| match l {
            Literal::Compare { op, .. } => *op,
            _ => panic!(),
        })
        .collect();
    assert_eq!(ops, [CmpOp::Eq, CmpOp::Ge]);
    assert_eq!(r.body[1].span(), sp(14, 20));
}

#[test]
fn parenthesised_comparisons() {
    let r = rule("h() :- p(n), (n <= 25).");
    assert_eq!(common::literal(&r.body[1]), "n <= 25");
    assert_eq!(r.body[1].span(), sp(13, 22));
    assert_eq!(body("(x + 1) < y"), "(x + 1) < y");
    assert_eq!(body("(x) * 2 = y"), "(x * 2) = y");
    assert_eq!(body("((a < b))"), "a < b");
    assert_eq!(body("((x + 1) * 2 >= y)"), "((x + 1) * 2) >= y");
    assert_eq!(body("-(x) < y"), "(-x) < y");
}

#[test]
fn disjunction_gives_one_rule_per_disjunct() {
    // `,` binds tighter than `;`; each disjunct is a rule with the same head.
    assert_eq!(
        printed("p(x) :- q(x); r(x), s(x).\nok()."),
        "p(x) :- q(x).\np(x) :- r(x), s(x).\nok().\n"
    );
    // Groups distribute over the literals around them, in order.
    assert_eq!(
        printed("p(x) :- a(x), (b(x); c(x)), (d(x); e(x))."),
        "p(x) :- a(x), b(x), d(x).\np(x) :- a(x), b(x), e(x).\n\
         p(x) :- a(x), c(x), d(x).\np(x) :- a(x), c(x), e(x).\n"
    );
    // Negated groups by De Morgan; double negations cancel; comparisons flip.
    assert_eq!(
        printed("p(x) :- u(x), !(b(x); x < 3)."),
        "p(x) :- u(x), !b(x), x >= 3.\n"
    );
    assert_eq!(
        printed("p(x) :- u(x), !(b(x), !c(x))."),
        "p(x) :- u(x), !b(x).\np(x) :- u(x), c(x).\n"
    );
    assert_eq!(
        printed("p(x) :- u(x), !!!(b(x); !match(\"a\", x))."),
        "p(x) :- u(x), !b(x), match(\"a\", x).\n"
    );
    // Several heads times several disjuncts.
    assert_eq!(
        printed("a(x), b(x) :- c(x); d(x)."),
        "a(x) :- c(x).\na(x) :- d(x).\nb(x) :- c(x).\nb(x) :- d(x).\n"
    );
    // `true` is the empty conjunction, `false` the empty disjunction.
    assert_eq!(
        printed("p(x) :- q(x), true.\np(x) :- q(x), false.\np(x) :- false ; r(x), !(false)."),
        "p(x) :- q(x).\np(x) :- r(x).\n"
    );
    assert_eq!(printed("ok() :- true.\nno() :- !true."), "ok().\n");
    // Parenthesised expressions are still expressions.
    assert_eq!(
        printed("p(y) :- q(x), (x + 1) * 2 = y ; r(y)."),
        "p(y) :- q(x), ((x + 1) * 2) = y.\np(y) :- r(y).\n"
    );
}

#[test]
fn disjunction_errors() {
    // Too many disjuncts: 2^11 > 1024.
    let body: Vec<String> = (0..11).map(|i| format!("(a{i}(x); b{i}(x))")).collect();
    let p = errs(&format!("p(x) :- {}.\nok().", body.join(", ")));
    assert_eq!(codes(&p), ["E0006"]);
    assert_eq!(common::program(&p.program), "ok().\n");
    // Not in an aggregate body.
    let p = errs("p(n) :- n = count : { q(x) ; r(x) }.");
    assert_eq!(codes(&p), ["E0005"]);
    assert_eq!(
        p.diagnostics[0].primary.as_ref().map(|l| l.span),
        Some(sp(27, 28))
    );
    // An unclosed group.
    let p = errs("p(x) :- (q(x) ; r(x).\nok().");
    assert_eq!(codes(&p), ["E0001"]);
}

#[test]
fn arithmetic_precedence_and_associativity() {
    assert_eq!(expr("1 + 2 * 3"), "(1 + (2 * 3))");
    assert_eq!(expr("1 * 2 + 3"), "((1 * 2) + 3)");
    assert_eq!(expr("a - b - c"), "((a - b) - c)");
    assert_eq!(expr("a / b % c * d"), "(((a / b) % c) * d)");
    assert_eq!(expr("a - b * c + d"), "((a - (b * c)) + d)");
    assert_eq!(expr("(a - b) * c"), "((a - b) * c)");
    assert_eq!(expr("-a * b"), "((-a) * b)");
    assert_eq!(expr("- - a"), "(-(-a))");
    assert_eq!(expr("a - -1"), "(a - (-1))");
    let r = rule("h() :- x = (a + b) * c.");
    let Literal::Compare { rhs, .. } = &r.body[0] else {
        panic!()
    };
    assert_eq!(rhs.span(), sp(11, 22));
    let Expr::Binary { op, lhs, .. } = rhs else {
        panic!()
    };
    assert_eq!(*op, BinOp::Mul);
    assert_eq!(lhs.span(), sp(12, 17));
}

#[test]
fn integer_literals() {
    let lit = |e: &str| {
        let r = rule(&format!("h() :- x = {e}."));
        let Literal::Compare { rhs, .. } = &r.body[0] else {
            panic!()
        };
        rhs.clone()
    };
    assert!(matches!(lit("42"), Expr::Number(42, _)));
    assert!(matches!(lit("0x1F"), Expr::Number(31, _)));
    assert!(matches!(lit("0XfF"), Expr::Number(255, _)));
    assert!(matches!(lit("0b101"), Expr::Number(5, _)));
    assert!(matches!(
        lit("9223372036854775807"),
        Expr::Number(i64::MAX, _)
    ));
    assert_eq!(
        lit("-9223372036854775808"),
        Expr::Number(i64::MIN, sp(11, 31))
    );
    assert_eq!(
        lit("- 9223372036854775808"),
        Expr::Number(i64::MIN, sp(11, 32))
    );
    let Expr::Neg(inner, s) = lit("-5") else {
        panic!()
    };
    assert_eq!(*inner, Expr::Number(5, sp(12, 13)));
    assert_eq!(s, sp(11, 13));
    for bad in [
        "9223372036854775808",
        "x - 9223372036854775808",
        "99999999999999999999999",
        "0xFFFFFFFFFFFFFFFF",
        "-9223372036854775809",
    ] {
        let p = errs(&format!("h() :- x = {bad}.\nok()."));
        assert_eq!(codes(&p), ["E0004"], "{bad}");
        // The clause with the bad literal is dropped, the next one kept.
        assert_eq!(common::program(&p.program), "ok().\n");
    }
}

#[test]
fn floats_unsigned_ipv4_and_casts() {
    let r = rule("p(1.5, 2.0e-3, 7u, 0xffu, 10.0.0.1, 255.255.255.255, as(x, T)) :- q(x).");
    let args: Vec<&Expr> = r.head.args.iter().map(|a| &a.expr).collect();
    assert!(matches!(args[0], Expr::Float(f, _) if *f == 1.5));
    assert!(matches!(args[1], Expr::Float(f, _) if *f == 0.002));
    assert!(matches!(args[2], Expr::Unsigned(7, _)));
    assert!(matches!(args[3], Expr::Unsigned(255, _)));
    assert!(matches!(args[4], Expr::Number(167_772_161, _)));
    assert!(matches!(args[5], Expr::Number(-1, _)));
    assert!(matches!(args[6], Expr::As(inner, ty, _)
        if ty.name == "T" && matches!(&**inner, Expr::Var(v) if v.name == "x")));
    let r = rule("m(x) :- x = mean y : { q(y) }.");
    let Literal::Compare {
        rhs: Expr::Aggregate(a),
        ..
    } = &r.body[0]
    else {
        panic!("{:?}", r.body)
    };
    assert_eq!(a.func, AggFunc::Mean);
}

#[test]
fn strings_and_escapes() {
    let r = rule(r#"p("a\"b\\c\n\t\r\0\'", "", "héllo ✓")."#);
    let vals: Vec<&str> = r
        .head
        .args
        .iter()
        .map(|a| match &a.expr {
            Expr::String(s, _) => s.as_str(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(vals, ["a\"b\\c\n\t\r\0'", "", "héllo ✓"]);
    assert_eq!(r.head.args[2].span, sp(27, 39));
    // A `.` or `//` inside a string is not special.
    assert_eq!(
        printed("p(\"a. b // c /* d\")."),
        "p(\"a. b // c /* d\").\n"
    );
    let p = errs(r#"p("a\qb"). ok()."#);
    assert_eq!(codes(&p), ["E0009"]);
    assert_eq!(
        p.diagnostics[0].primary.as_ref().map(|l| l.span),
        Some(sp(4, 6))
    );
    let p = errs("p(\"abc).\nok().");
    assert_eq!(codes(&p), ["E0002"]);
    assert_eq!(
        p.diagnostics[0].primary.as_ref().map(|l| l.span),
        Some(sp(2, 3))
    );
}

#[test]
fn comments_and_preprocessor_lines() {
    let text = "// line comment\np(1). /* block\n comment */ q(2). // trailing\n\
                # 3 \"x.dl\"\n  #line 4\nr(3).";
    let p = parse(F, text);
    assert_eq!(codes(&p), ["W0001", "W0001"]);
    assert!(p.diagnostics.iter().all(|d| !d.is_error()));
    assert_eq!(common::program(&p.program), "p(1).\nq(2).\nr(3).\n");
    let p = errs("p(1). /* never closed\nq(2).");
    assert_eq!(codes(&p), ["E0003"]);
    assert_eq!(
        p.diagnostics[0].primary.as_ref().map(|l| l.span),
        Some(sp(6, 8))
    );
    assert_eq!(common::program(&p.program), "p(1).\n");
    // Other preprocessor directives would change the program: errors.
    let p = errs("#include \"x.dl\"\n#ifdef X\np(1).\n#endif\n");
    assert_eq!(codes(&p), ["E0005", "E0005", "E0005"]);
    assert_eq!(common::program(&p.program), "p(1).\n");
    // `#` elsewhere is an error.
    let p = errs("p(1) :- q(1) # x.");
    assert_eq!(codes(&p), ["E0001"]);
}

#[test]
fn body_aggregates() {
    assert_eq!(body("n = count : { p(x, _) }"), "n = count : { p(x, _) }");
    assert_eq!(body("s = sum y : { p(x, y) }"), "s = sum y : { p(x, y) }");
    assert_eq!(
        body("m = min y : { p(y), !q(y), y > 0 }"),
        "m = min y : { p(y), !q(y), y > 0 }"
    );
    assert_eq!(
        body("m = max y + 1 : { p(y) }"),
        "m = max (y + 1) : { p(y) }"
    );
    assert_eq!(body("n = count : p(x)"), "n = count : { p(x) }");
    assert_eq!(body("count : { p(x) } = n"), "count : { p(x) } = n");
    assert_eq!(
        body("n = count : { p(x), m = max y : { q(x, y) } }"),
        "n = count : { p(x), m = max y : { q(x, y) } }"
    );
    let r = rule("h(n) :- n = sum y : { p(y) }.");
    let Literal::Compare { op, rhs, span, .. } = &r.body[0] else {
        panic!()
    };
    assert_eq!(*op, CmpOp::Eq);
    assert_eq!(*span, sp(8, 28));
    let Expr::Aggregate(a) = rhs else { panic!() };
    assert_eq!(a.func, AggFunc::Sum);
    assert_eq!(a.func_span, sp(12, 15));
    assert_eq!(a.span, sp(12, 28));
    assert!(!a.head_form);
    assert!(matches!(&a.target, Some(Expr::Var(v)) if v.name == "y"));
    assert_eq!(a.body.len(), 1);
    let p = errs("h(n) :- n = sum : { p(y) }.");
    assert_eq!(
        p.diagnostics[0].message,
        "`sum` needs an expression to aggregate"
    );
    let p = errs("h(n) :- n = count : { p(y); q(y) }.");
    assert_eq!(codes(&p), ["E0005"]);
    let p = errs("h(n) :- n = count : { }.");
    assert_eq!(codes(&p), ["E0001"]);
}

#[test]
fn multibyte_characters_keep_spans_on_boundaries() {
    let text = "p(\"é\"). é(x). q(1) :- r(x), x = \"→\".";
    let p = errs(text);
    assert_eq!(codes(&p), ["E0001"]);
    let l = p.diagnostics[0].primary.as_ref().map(|l| l.span);
    assert_eq!(l, Some(sp(9, 11)));
    assert_eq!(
        common::program(&p.program),
        "p(\"é\").\nq(1) :- r(x), x = \"→\".\n"
    );
}

#[test]
fn several_errors_are_reported_and_recovered_from() {
    let text = "\
.decl edge(x: number, y number)
edge(1, 2).
path(x, y) :- edge(x, y)
path(x, z) :- path(x, y), edge(y, z).
bad(x) :- , q(x).
good(1).
p(x) q(x).
last(2).
";
    let p = errs(text);
    assert_eq!(codes(&p), ["E0001", "E0001", "E0001", "E0001"]);
    assert_eq!(
        p.diagnostics[1].message,
        "expected `,`, `;` or `.` after a body literal, found `path`"
    );
    assert_eq!(p.diagnostics[2].message, "expected a literal, found `,`");
    assert_eq!(
        p.diagnostics[3].message,
        "expected `:-` or `.` after the head, found `q`"
    );
    assert_eq!(
        common::program(&p.program),
        "edge(1, 2).\ngood(1).\nlast(2).\n"
    );
}

#[test]
fn errors_at_item_level_and_end_of_input() {
    let p = errs(") p(1).\nq(2).");
    assert_eq!(codes(&p), ["E0001"]);
    assert_eq!(common::program(&p.program), "q(2).\n");
    let p = errs("p(x) :- q(x)");
    assert_eq!(
        p.diagnostics[0].message,
        "expected `,`, `;` or `.` after a body literal, found end of input"
    );
    assert_eq!(
        p.diagnostics[0].primary.as_ref().map(|l| l.span),
        Some(sp(12, 12))
    );
    let p = errs("p :- q().");
    assert_eq!(
        p.diagnostics[0].message,
        "expected `(` after `p`, found `:-`"
    );
    let p = errs("h() :- q, r().");
    assert!(
        p.diagnostics[0]
            .help
            .as_deref()
            .unwrap_or("")
            .contains("`q()`")
    );
    let p = errs("h() :- x = autoinc(a, b).");
    assert_eq!(codes(&p), ["E0005"]);
    // A missing `.` before a directive does not swallow the directive.
    let p = errs("p(x) :- q(x)\n.decl r(x: number)\n");
    assert_eq!(common::program(&p.program), ".decl r(x: number)\n");
}

#[test]
fn parse_facts_keeps_only_constant_facts() {
    let p = parse_facts(
        F,
        "waits(\"t1\",\"t2\"). waits(\"t2\",\"t1\"). n(-5, 0x10). ok().",
    );
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    assert_eq!(
        common::program(&p.program),
        "waits(\"t1\", \"t2\").\nwaits(\"t2\", \"t1\").\nn((-5), 16).\nok().\n"
    );
    let text = "a(1). b(x). c(1) :- d(1). .decl e(x: number)\n.output e\nf(1)@next. g(1 + 2). h(@1). i(2).";
    let p = parse_facts(F, text);
    assert_eq!(codes(&p), ["E0008"; 7]);
    assert!(p.diagnostics.iter().all(|d| d.message == "expected a fact"));
    assert_eq!(common::program(&p.program), "a(1).\ni(2).\n");
    // Syntax errors are still syntax errors.
    let p = parse_facts(F, "a(1. b(2).");
    assert_eq!(codes(&p), ["E0001"]);
}

const AGG_DL: &str = r#"// stratified aggregation over a recursive relation: how many nodes each node reaches
.decl edge(x:number, y:number)
.input edge(IO=file, filename="edge.facts", delimiter="\t")
.decl path(x:number, y:number)
path(x, y) :- edge(x, y).
path(x, z) :- path(x, y), edge(y, z).
.decl node(x:number)
node(x) :- edge(x, _).
.decl reach_count(x:number, n:number)
.printsize reach_count
reach_count(x, n) :- node(x), n = count : { path(x, _) }.
.decl max_reach(n:number)
.output max_reach(IO=stdout)
max_reach(m) :- m = max n : { reach_count(_, n) }.
"#;

const ANDERSEN_DL: &str = r#".decl addressOf(y:number, x:number)
.input addressOf(IO=file, filename="addressOf.facts", delimiter="\t")
.decl assign(y:number, x:number)
.input assign(IO=file, filename="assign.facts", delimiter="\t")
.decl load(y:number, x:number)
.input load(IO=file, filename="load.facts", delimiter="\t")
.decl store(y:number, x:number)
.input store(IO=file, filename="store.facts", delimiter="\t")
.decl pointsTo(y:number, x:number)
.printsize pointsTo
pointsTo(y, x) :- addressOf(y, x).
pointsTo(y, x) :- assign(y, z), pointsTo(z, x).
pointsTo(y, w) :- load(y, x), pointsTo(x, z), pointsTo(z, w).
pointsTo(z, w) :- store(y, x), pointsTo(y, z), pointsTo(x, w).
"#;

const NEG_DL: &str = r#"// stratified negation: nodes NOT reachable from each of the first K sources
.decl edge(x:number, y:number)
.input edge(IO=file, filename="edge.facts", delimiter="\t")
.decl source(x:number)
.input source(IO=file, filename="source.facts", delimiter="\t")
.decl node(x:number)
node(x) :- edge(x, _).
node(y) :- edge(_, y).
.decl reach(s:number, y:number)
reach(s, y) :- source(s), edge(s, y).
reach(s, z) :- reach(s, y), edge(y, z).
.decl unreach(s:number, y:number)
.printsize unreach
unreach(s, y) :- source(s), node(y), !reach(s, y).
"#;

const SG_DL: &str = r#".decl edge(x:number, y:number)
.input edge(IO=file, filename="edge.facts", delimiter="\t")
.decl sg(x:number, y:number)
.printsize sg
sg(x, y) :- edge(p, x), edge(p, y), x != y.
sg(x, y) :- edge(a, x), sg(a, b), edge(b, y).
"#;

const TC_DL: &str = r#".decl edge(x:number, y:number)
.input edge(IO=file, filename="edge.facts", delimiter="\t")
.decl path(x:number, y:number)
.printsize path
path(x, y) :- edge(x, y).
path(x, z) :- path(x, y), edge(y, z).
"#;

#[test]
fn benchmark_programs_parse_cleanly() {
    for (name, text, items) in [
        ("agg", AGG_DL, 13),
        ("andersen", ANDERSEN_DL, 14),
        ("neg", NEG_DL, 13),
        ("sg", SG_DL, 6),
        ("tc", TC_DL, 6),
    ] {
        let p = parse(F, text);
        assert!(p.diagnostics.is_empty(), "{name}: {:#?}", p.diagnostics);
        assert_eq!(p.program.items.len(), items, "{name}");
        // Printing and re-parsing gives the same program.
        let again = common::program(&ok(&common::program(&p.program)));
        assert_eq!(again, common::program(&p.program), "{name}");
    }
    assert_eq!(
        common::item(&parse(F, AGG_DL).program.items[12]),
        "max_reach(m) :- m = max n : { reach_count(_, n) }."
    );
}

#[test]
fn deep_nesting_is_a_diagnostic_not_a_crash() {
    let deep = "(".repeat(100_000);
    for text in [
        format!("p(x) :- x = {deep}."),
        format!("p(x) :- {deep}"),
        format!("p({deep}"),
        deep.clone(),
        format!("p(x) :- x = {}1.", "-".repeat(100_000)),
        format!("p(x) :- x = {}1.", "- ".repeat(100_000)),
        format!("p(n) :- n = {}.", "count : { q(m), m = ".repeat(10_000)),
    ] {
        let p = parse(F, &text);
        assert!(p.diagnostics.iter().any(|d| d.is_error()));
        assert!(p.program.items.is_empty());
    }
    let p = parse(F, &format!("p(x) :- x = {}.", "(".repeat(200)));
    assert_eq!(codes(&p), ["E0006"]);
    // 128 levels are fine.
    let text = format!("p(x) :- x = {}1{}.", "(".repeat(128), ")".repeat(128));
    ok(&text);
    // Each construct up to the limit, in a test thread's small stack.
    let aggs = format!(
        "p(n) :- n = {}count : {{ q(1) }}{}.",
        "count : { q(m), m = ".repeat(127),
        " }".repeat(127)
    );
    ok(&aggs);
    ok(&format!(
        "p(n) :- {}n < 1{}.",
        "(".repeat(128),
        ")".repeat(128)
    ));
    ok(&format!("p(n) :- n = {}1.", "-".repeat(128)));
    ok(&format!("p(sum({}1{})).", "(".repeat(127), ")".repeat(127)));
    let p = parse(
        F,
        &format!("p(sum({}1{})).", "(".repeat(128), ")".repeat(128)),
    );
    assert_eq!(codes(&p), ["E0006"]);
    // Long flat chains are bounded too (their trees would be deep).
    let p = parse(F, &format!("p(x) :- x = 1{}.", " + 1".repeat(100_000)));
    assert_eq!(codes(&p), ["E0006"]);
    ok(&format!("p(x) :- x = 1{}.", " + 1".repeat(500)));
}

#[test]
fn two_megabytes_of_facts() {
    let mut text = String::new();
    let mut n = 0;
    while text.len() < 2 << 20 {
        text.push_str(&format!("edge({n}, {}, \"node{n}\").\n", n + 1));
        n += 1;
    }
    let p = parse_facts(F, &text);
    assert!(p.diagnostics.is_empty());
    assert_eq!(p.program.items.len(), n);
}

#[test]
fn oversized_source_is_one_diagnostic() {
    let text = " ".repeat(MAX_SOURCE_LEN + 1);
    let p = parse(F, &text);
    assert_eq!(codes(&p), ["E0010"]);
    assert!(p.program.items.is_empty());
}
