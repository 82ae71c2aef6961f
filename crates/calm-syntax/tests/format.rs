//! `format_source`: snapshots of every program in `programs/` and `tests/programs/`, each
//! checked idempotent and meaning-preserving, and the layout of each construct.

use std::path::{Path, PathBuf};

use calm_syntax::format::{FormatError, format_source, without_spans};
use calm_syntax::{FileId, parse};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn dl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            dl_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "dl") {
            out.push(p);
        }
    }
}

/// Formats `text`, checking that the result is stable and means the same.
fn fmt_checked(name: &str, text: &str) -> Result<String, FormatError> {
    let out = format_source(text)?;
    let again = format_source(&out)
        .unwrap_or_else(|e| panic!("{name}: output not formattable: {e:?}\n{out}"));
    assert_eq!(again, out, "{name}: formatting is not idempotent");
    let a = parse(FileId(0), text).program;
    let b = parse(FileId(0), &out).program;
    assert_eq!(
        without_spans(&a),
        without_spans(&b),
        "{name}: the program changed"
    );
    Ok(out)
}

#[test]
fn every_program_formats_stably() {
    let root = root();
    let mut files = Vec::new();
    dl_files(&root.join("programs"), &mut files);
    dl_files(&root.join("tests/programs"), &mut files);
    files.sort();
    assert!(files.len() > 20, "found only {} programs", files.len());
    let mut formatted = 0;
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap_or(f).display().to_string();
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let shown = match fmt_checked(&rel, &text) {
            Ok(out) => {
                formatted += 1;
                out
            }
            Err(FormatError::Syntax(diags)) => {
                let codes: Vec<_> = diags.iter().filter_map(|d| d.code.clone()).collect();
                format!("not formatted: {}\n", codes.join(", "))
            }
            Err(e) => panic!("{rel}: {e}"),
        };
        let name = rel.replace(['/', '.'], "_");
        insta::with_settings!({ snapshot_suffix => "", description => rel.clone(), omit_expression => true }, {
            insta::assert_snapshot!(name, shown);
        });
    }
    assert!(formatted > 20, "only {formatted} programs formatted");
}

/// Formats `text` (checked stable and meaning-preserving).
fn fmt(text: &str) -> String {
    fmt_checked("test", text).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn spacing_is_canonical() {
    assert_eq!(
        fmt("path(x,z):-path(x,y),edge(y,z)."),
        "path(x, z) :- path(x, y), edge(y, z).\n"
    );
    assert_eq!(
        fmt("p(x):-q(x,y),x=-y*2+ 3,y!=0,!r(x),not s(x),x<=y^2."),
        "p(x) :- q(x, y), x = -y * 2 + 3, y != 0, !r(x), not s(x), x <= y ^ 2.\n"
    );
    assert_eq!(
        fmt("p(x):-q(y),x=y band 3 bshl 1,z=bnot y,w=y- -1."),
        "p(x) :- q(y), x = y band 3 bshl 1, z = bnot y, w = y - -1.\n"
    );
    assert_eq!(
        fmt("p(\"a\\\"b\\n\",0x1F,0b101,-9223372036854775808)."),
        "p(\"a\\\"b\\n\", 0x1F, 0b101, -9223372036854775808).\n"
    );
}

#[test]
fn dedalus_and_built_ins() {
    assert_eq!(
        fmt("ping( @n ,x ) @async:-tick(x),$member(n),!$self(n).\ncount(x+1) @next :- count(x)."),
        "ping(@n, x)@async :- tick(x), $member(n), !$self(n).\ncount(x + 1)@next :- count(x).\n"
    );
}

#[test]
fn long_rules_put_one_literal_per_line() {
    let text = "reachable_from_somewhere(source, target) :- edge_relation(source, middle), \
                reachable_from_somewhere(middle, target), source != target, !blocked(target).";
    assert_eq!(
        fmt(text),
        "reachable_from_somewhere(source, target) :-\n    edge_relation(source, middle),\n    \
         reachable_from_somewhere(middle, target),\n    source != target,\n    !blocked(target).\n"
    );
    // Within the limit: one line of exactly 100 characters.
    let hundred = format!("p({}) :- q(x).", "x".repeat(100 - 12));
    assert_eq!(hundred.len(), 100);
    assert_eq!(fmt(&hundred), format!("{hundred}\n"));
    let over = format!("p({}) :- q(x).", "x".repeat(100 - 11));
    assert!(fmt(&over).contains(":-\n    q(x)."));
}

#[test]
fn long_arguments_and_aggregates_break_inside() {
    let args: Vec<String> = (0..12).map(|i| format!("\"value number {i}\"")).collect();
    let fact = format!("fact({}).", args.join(", "));
    let out = fmt(&fact);
    assert!(out.starts_with("fact(\n    \"value number 0\",\n"), "{out}");
    assert!(out.ends_with("    \"value number 11\"\n).\n"), "{out}");
    let agg = "total(d, t) :- department(d), t = sum salary : { employee(name, d, salary), \
               salary > 100000, !retired(name), !on_leave(name) }.";
    assert_eq!(
        fmt(agg),
        "total(d, t) :-\n    department(d),\n    t = sum salary : {\n        employee(name, d, salary),\n        \
         salary > 100000,\n        !retired(name),\n        !on_leave(name)\n    }.\n"
    );
    assert_eq!(
        fmt("n(c):-c=count:p(_).\nm(x):-x=min(y):{q(y)}.\nh(d,sum(v)):-q(d,v)."),
        "n(c) :- c = count : p(_).\nm(x) :- x = min(y) : { q(y) }.\nh(d, sum(v)) :- q(d, v).\n"
    );
}

#[test]
fn disjunction_and_groups() {
    assert_eq!(
        fmt("p(x):-a(x),b(x);c(x),!(d(x);e(x))."),
        "p(x) :- a(x), b(x); c(x), !(d(x); e(x)).\n"
    );
    let long = "some_result(x) :- first_relation(x), second_relation(x) ; third_relation(x), \
                (fourth_relation(x) ; fifth_relation(x)), x > 100000.";
    assert_eq!(
        fmt(long),
        "some_result(x) :-\n    first_relation(x),\n    second_relation(x)\n  ; third_relation(x),\n    \
         (fourth_relation(x); fifth_relation(x)),\n    x > 100000.\n"
    );
    assert_eq!(
        fmt("a(x), b(x) :- c(x) ; true."),
        "a(x), b(x) :- c(x); true.\n"
    );
}

#[test]
fn declarations_and_directives() {
    assert_eq!(
        fmt(".decl  a , b( x:number,y : symbol )eqrel  brie\n.decl d(x: number, m: min)"),
        ".decl a, b(x: number, y: symbol) eqrel brie\n.decl d(x: number, m: min)\n"
    );
    assert_eq!(
        fmt(
            ".decl e(x:number)\n.input e( IO = file , filename = \"e.facts\" , delimiter=\"\\t\")\n.output e,e\n.persist e\n.printsize e"
        ),
        ".decl e(x: number)\n.input e(IO=file, filename=\"e.facts\", delimiter=\"\\t\")\n.output e, e\n\
         .persist e\n.printsize e\n"
    );
    assert_eq!(
        fmt(
            ".type Id<:symbol\n.type U=Id|number\n.type P=[x:number,y:number]\n.number_type N\n\
             .type T=Leaf{}|Node{l:T,r:T}"
        ),
        ".type Id <: symbol\n.type U = Id | number\n.type P = [x: number, y: number]\n.number_type N\n\
         .type T = Leaf {} | Node {l: T, r: T}\n"
    );
    assert_eq!(
        fmt(
            "p([x,y],$Node($Leaf,nil)) :- q(x, y).\n.pragma \"legacy\"\n.pragma  \"magic-transform\"   \"*\""
        ),
        "p([x, y], $Node($Leaf, nil)) :- q(x, y).\n.pragma \"legacy\"\n.pragma \"magic-transform\" \"*\"\n"
    );
    let cols: Vec<String> = (0..10)
        .map(|i| format!("column_number_{i}: symbol"))
        .collect();
    let out = fmt(&format!(".decl wide({}) eqrel", cols.join(",")));
    assert!(
        out.starts_with(".decl wide(\n    column_number_0: symbol,\n"),
        "{out}"
    );
    assert!(
        out.ends_with("    column_number_9: symbol\n) eqrel\n"),
        "{out}"
    );
}

#[test]
fn components() {
    let text = ".comp Graph<N>:Base<N>,Other{\n.decl edge(x:N,y:N)\n\n\n.comp Inner{}\npath(x,y):-edge(x,y).\n// last\n}\n\
                .comp Base<N>{ .decl b(x: N) overridable }\n.comp Other {}\n.init g=Graph<number>\n.override x";
    // `.override` outside a component is an error: check the component part alone.
    let text = text.trim_end_matches("\n.override x");
    assert_eq!(
        fmt(text),
        ".comp Graph<N> : Base<N>, Other {\n    .decl edge(x: N, y: N)\n\n    .comp Inner {}\n    \
         path(x, y) :- edge(x, y).\n    // last\n}\n.comp Base<N> {\n    .decl b(x: N) overridable\n}\n\
         .comp Other {}\n.init g = Graph<number>\n"
    );
    assert_eq!(
        fmt(
            ".comp A { .decl r(x: number) overridable }\n.comp B : A { .override r\n r(1). }\n.init b = B"
        ),
        ".comp A {\n    .decl r(x: number) overridable\n}\n.comp B : A {\n    .override r\n    r(1).\n}\n.init b = B\n"
    );
}

#[test]
fn comments_stay_where_they_were() {
    let text = "/* header */\n\n\n// about p\np(x) :- q(x), // why q\n  // before r\n  r(x), s(x /* the key */). // done\n\
                q(1).   /* one */  \n# 1 \"file.dl\"\nr(1). s(1).\n\n// the end\n";
    assert_eq!(
        fmt(text),
        "/* header */\n\n// about p\np(x) :-\n    q(x), // why q\n    // before r\n    r(x),\n    \
         s(x /* the key */). // done\nq(1). /* one */\n# 1 \"file.dl\"\nr(1).\ns(1).\n\n// the end\n"
    );
    // A comment before a `,` moves after it, and stays there.
    assert_eq!(
        fmt("p(x) :- q(x) // c\n , r(x)."),
        "p(x) :-\n    q(x), // c\n    r(x).\n"
    );
    assert_eq!(fmt("// only a comment"), "// only a comment\n");
    assert_eq!(fmt(""), "");
    assert_eq!(fmt(" \n\n"), "");
    assert_eq!(fmt("p(1).\r\n// c\r\nq(2).\r\n"), "p(1).\n// c\nq(2).\n");
}

#[test]
fn programs_with_errors_are_refused() {
    match format_source("p(x) :- q(x)\nr(1).") {
        Err(FormatError::Syntax(d)) => assert_eq!(d[0].code.as_deref(), Some("E0001")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        format_source("p(\"open).\n"),
        Err(FormatError::Syntax(_))
    ));
    // Warnings do not stop formatting.
    assert_eq!(
        fmt(".decl r(x: number) btree\n.pragma \"legacy\""),
        ".decl r(x: number) btree\n.pragma \"legacy\"\n"
    );
}
