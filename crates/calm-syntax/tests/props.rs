//! Property tests: the parser never panics, every span it produces is valid, and printing a parsed
//! program and parsing it again gives the same program.

mod common;

use calm_syntax::format::{format_source, without_spans};
use calm_syntax::{FileId, Parsed, Span, parse, parse_facts};
use proptest::prelude::*;

/// Every span of the tree and the diagnostics lies within `text`, on character boundaries.
fn check_spans(text: &str, parsed: &Parsed) -> Result<(), TestCaseError> {
    let ok = |s: Span| {
        s.start <= s.end
            && s.end <= text.len()
            && text.is_char_boundary(s.start)
            && text.is_char_boundary(s.end)
    };
    for s in common::spans(&parsed.program) {
        prop_assert!(ok(s), "bad span {s:?} in the tree of {text:?}");
    }
    for d in &parsed.diagnostics {
        for l in d.primary.iter().chain(&d.secondary) {
            prop_assert!(ok(l.span), "bad span {:?} in {d:?} for {text:?}", l.span);
        }
    }
    Ok(())
}

fn check(text: &str) -> Result<(), TestCaseError> {
    check_spans(text, &parse(FileId(0), text))?;
    check_spans(text, &parse_facts(FileId(0), text))
}

const TOKENS: &[&str] = &[
    "p",
    "q",
    "x",
    "Y",
    "_",
    "count",
    "sum",
    "min",
    "max",
    "not",
    "a.b",
    "$self",
    "number",
    "(",
    ")",
    ",",
    ".",
    ":-",
    "!",
    "1",
    "-5",
    "0x1F",
    "0b2",
    "1.5",
    "99999999999999999999",
    "9223372036854775808",
    "\"s\"",
    "\"a\\qb\"",
    "\"open",
    "+",
    "-",
    "*",
    "/",
    "%",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "{",
    "}",
    ":",
    ";",
    "@",
    "@next",
    "@async",
    "@later",
    "\n",
    ".decl",
    ".input",
    ".output",
    ".type",
    "[",
    "]",
    "nil",
    "$A",
    "$",
    ".comp",
    ".zzz",
    "IO=file",
    "/*",
    "*/",
    "//",
    "#",
    "é",
    "→",
    "brie",
    "choice-domain",
    "eqrel",
    "output",
    "match",
    "contains",
    "#include",
    "# 1",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(TOKENS),
            prop::sample::select(&["", " ", "\n"][..]),
        ),
        0..60,
    )
    .prop_map(|toks| toks.into_iter().flat_map(|(t, sep)| [t, sep]).collect())
}

/// Fragments of component programs (whole declarations and clauses, and the pieces of
/// component headers), so that soups of them are often well-formed and get expanded.
const COMPONENT_FRAGMENTS: &[&str] = &[
    ".comp A {",
    ".comp B<T> {",
    ".comp C<T, U> : A {",
    ".comp D : B<number>, T {",
    ".comp E<T> : T {",
    "}",
    "{",
    ".init a = A",
    ".init b = B<number>",
    ".init c = B<A>",
    ".init d = E<A>",
    ".init e = T",
    ".init f = C<A, B>",
    ".override r",
    ".override s",
    ".decl r(x: T) overridable",
    ".decl r(x: number)",
    ".decl s(x: number)",
    ".type T <: number",
    ".type K = T | number",
    "r(1).",
    "s(x) :- r(x), !a.r(x).",
    "a.r(2).",
    "b.s(x) :- c.r(x); r(x).",
    ".output r",
    ".input s",
    ".pragma \"magic-transform\" \"*\"",
    ".pragma \"fact-dir\"",
    "<",
    ">",
    ":",
    ",",
    "=",
    "\n",
];

fn component_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(COMPONENT_FRAGMENTS), 0..40)
        .prop_map(|parts| parts.join("\n"))
}

// --- Generators of valid programs, in the printer's canonical form. ---

const VARS: &[&str] = &["x", "y", "Z1", "_v", "not_a_keyword"];
const RELS: &[&str] = &["p", "edge", "q.r", "$self"];
const BINOPS: &[&str] = &["+", "-", "*", "/", "%"];
const CMPOPS: &[&str] = &["=", "!=", "<", "<=", ">", ">="];

fn string_lit() -> impl Strategy<Value = String> {
    "[a-z\"\\\\\n\té→.]{0,4}".prop_map(|s| common::quote(&s))
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(VARS).prop_map(str::to_string),
        (0..=i64::MAX).prop_map(|n| n.to_string()),
        Just(format!("({})", i64::MIN)),
        string_lit(),
        Just("_".to_string()),
        Just("nil".to_string()),
    ]
}

fn atom_with(arg: BoxedStrategy<String>) -> impl Strategy<Value = String> {
    (prop::sample::select(RELS), prop::collection::vec(arg, 0..3))
        .prop_map(|(r, args)| format!("{r}({})", args.join(", ")))
}

fn literal_with(e: BoxedStrategy<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        atom_with(e.clone()),
        atom_with(e.clone()).prop_map(|a| format!("!{a}")),
        (e.clone(), prop::sample::select(CMPOPS), e.clone())
            .prop_map(|(a, o, b)| format!("{a} {o} {b}")),
        (
            prop::sample::select(&["match", "!match", "contains", "!contains"][..]),
            e.clone(),
            e
        )
            .prop_map(|(p, a, b)| format!("{p}({a}, {b})")),
    ]
}

fn expr() -> BoxedStrategy<String> {
    leaf()
        .prop_recursive(4, 24, 3, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| format!("(-{e})")),
                prop::collection::vec(inner.clone(), 0..3)
                    .prop_map(|fs| format!("[{}]", fs.join(", "))),
                (
                    prop::sample::select(&["A", "Succ", "b_2"][..]),
                    prop::collection::vec(inner.clone(), 0..3)
                )
                    .prop_map(|(c, args)| format!("${c}({})", args.join(", "))),
                (inner.clone(), prop::sample::select(BINOPS), inner.clone())
                    .prop_map(|(a, o, b)| format!("({a} {o} {b})")),
                (
                    prop::sample::select(&["count", "sum", "min", "max"][..]),
                    inner.clone(),
                    prop::collection::vec(literal_with(inner.clone().boxed()), 1..3),
                )
                    .prop_map(|(f, t, body)| {
                        let target = if f == "count" {
                            String::new()
                        } else {
                            format!(" {t}")
                        };
                        format!("{f}{target} : {{ {} }}", body.join(", "))
                    }),
            ]
        })
        .boxed()
}

fn head_arg() -> BoxedStrategy<String> {
    prop_oneof![
        4 => expr(),
        1 => expr().prop_map(|e| format!("@{e}")),
        1 => (prop::sample::select(&["sum", "min", "max"][..]), expr())
            .prop_map(|(f, e)| format!("{f}({e})")),
        1 => Just("count()".to_string()),
    ]
    .boxed()
}

fn rule() -> impl Strategy<Value = String> {
    (
        atom_with(head_arg()),
        prop::sample::select(&["", "@next", "@async"][..]),
        prop::collection::vec(literal_with(expr()), 0..3),
    )
        .prop_map(|(head, time, body)| {
            if body.is_empty() {
                format!("{head}{time}.")
            } else {
                format!("{head}{time} :- {}.", body.join(", "))
            }
        })
}

fn decl() -> impl Strategy<Value = String> {
    (
        prop::sample::select(RELS[..3].to_vec()),
        prop::collection::vec(prop::sample::select(VARS), 0..3),
        prop::collection::vec(
            prop::sample::select(&["eqrel", "input", "output", "printsize"][..]),
            0..3,
        ),
    )
        .prop_map(|(r, cols, quals)| {
            let cols: Vec<String> = cols.iter().map(|c| format!("{c}: number")).collect();
            let quals: String = quals.iter().map(|q| format!(" {q}")).collect();
            format!(".decl {r}({}){quals}", cols.join(", "))
        })
}

fn directive() -> impl Strategy<Value = String> {
    (
        prop::sample::select(&[".input", ".output", ".printsize", ".persist"][..]),
        prop::sample::select(RELS[..3].to_vec()),
        prop::option::of(string_lit()),
    )
        .prop_map(|(kw, r, v)| match v {
            Some(v) => format!("{kw} {r}(IO={v})"),
            None => format!("{kw} {r}"),
        })
}

fn fields() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(VARS),
            prop::sample::select(&["number", "symbol", "R"][..]),
        ),
        0..3,
    )
    .prop_map(|fs| {
        let fs: Vec<String> = fs.iter().map(|(n, t)| format!("{n}: {t}")).collect();
        fs.join(", ")
    })
}

fn type_decl() -> impl Strategy<Value = String> {
    prop_oneof![
        fields().prop_map(|f| format!(".type R = [{f}]")),
        prop::collection::vec(
            (prop::sample::select(&["A", "Succ", "b_2"][..]), fields()),
            1..3
        )
        .prop_map(|bs| {
            let bs: Vec<String> = bs.iter().map(|(n, f)| format!("{n} {{{f}}}")).collect();
            format!(".type T = {}", bs.join(" | "))
        }),
    ]
}

fn program() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![4 => rule(), 1 => decl(), 1 => directive(), 1 => type_decl()],
        0..6,
    )
    .prop_map(|items| items.iter().map(|i| format!("{i}\n")).collect())
}

/// `text` with every space (strings hold none) replaced by other trivia.
fn with_trivia(text: &str, choices: &[usize]) -> String {
    const TRIVIA: &[&str] = &[" ", "\n", "\t", " /* c */ ", " // c\n", "\r\n  "];
    let mut out = String::new();
    let mut k = 0;
    for c in text.chars() {
        if c == ' ' {
            out.push_str(TRIVIA[choices.get(k).copied().unwrap_or(0) % TRIVIA.len()]);
            k += 1;
        } else {
            out.push(c);
        }
    }
    out
}

/// Formatting `text` (which parses without errors) gives a text that formats to itself and parses
/// to the same program apart from spans, with the same comments.
fn check_format(text: &str) -> Result<(), TestCaseError> {
    let out = format_source(text).map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
    let again = format_source(&out).map_err(|e| TestCaseError::fail(format!("{e:?}\n{out}")))?;
    prop_assert_eq!(&again, &out, "not idempotent; input:\n{}", text);
    let a = parse(FileId(0), text).program;
    let b = parse(FileId(0), &out).program;
    prop_assert_eq!(
        without_spans(&a),
        without_spans(&b),
        "changed:\n{}\n{}",
        text,
        out
    );
    prop_assert_eq!(
        text.matches("/* c */").count() + text.matches("// c").count(),
        out.matches("/* c */").count() + out.matches("// c").count()
    );
    Ok(())
}

proptest! {
    #[test]
    fn formatting_generated_programs_is_stable_and_keeps_meaning(
        items in prop::collection::vec(program(), 1..4),
        choices in prop::collection::vec(0usize..6, 0..400),
    ) {
        let text = with_trivia(&items.concat(), &choices);
        prop_assume!(!parse(FileId(0), &text).diagnostics.iter().any(|d| d.is_error()));
        check_format(&text)?;
    }

    #[test]
    fn formatting_component_soups_is_stable_and_keeps_meaning(text in component_soup()) {
        if !parse(FileId(0), &text).diagnostics.iter().any(|d| d.is_error()) {
            check_format(&text)?;
        }
    }

    #[test]
    fn formatting_never_panics(text in token_soup()) {
        match format_source(&text) {
            Ok(out) => check_format(&out)?,
            Err(calm_syntax::format::FormatError::Syntax(d)) => {
                prop_assert!(d.iter().any(|d| d.is_error()));
            }
            Err(e) => prop_assert!(false, "{e:?} for {text:?}"),
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn ascii_noise_never_panics(text in "[ -~\n\té→]{0,120}") {
        check(&text)?;
    }

    #[test]
    fn token_soup_never_panics(text in token_soup()) {
        check(&text)?;
    }

    #[test]
    fn component_soup_never_panics(text in component_soup()) {
        check(&text)?;
    }

    #[test]
    fn generated_programs_round_trip(
        text in program(),
        choices in prop::collection::vec(0usize..6, 0..200),
    ) {
        let p = parse(FileId(0), &text);
        prop_assert!(p.diagnostics.is_empty(), "{text}\n{:#?}", p.diagnostics);
        check_spans(&text, &p)?;
        prop_assert_eq!(common::program(&p.program), text.clone());
        let noisy = with_trivia(&text, &choices);
        let q = parse(FileId(0), &noisy);
        prop_assert!(q.diagnostics.is_empty(), "{noisy}\n{:#?}", q.diagnostics);
        check_spans(&noisy, &q)?;
        prop_assert_eq!(common::program(&q.program), text);
    }
}
