//! The preprocessor: includes, macros, conditionals, their limits, and where diagnostics in
//! preprocessed text point.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use calm_syntax::preprocess::{MAX_INCLUDE_DEPTH, codes};
use calm_syntax::{
    Diagnostic, FileLoader, NoFiles, PreprocessOptions, SourceMap, Span, parse, preprocess,
    render_all,
};
use proptest::prelude::*;

/// Files in memory.
#[derive(Default)]
struct Files(HashMap<PathBuf, String>);

impl Files {
    fn with(files: &[(&str, &str)]) -> Files {
        Files(
            files
                .iter()
                .map(|(p, t)| (PathBuf::from(p), t.to_string()))
                .collect(),
        )
    }
}

impl FileLoader for Files {
    fn load(&mut self, path: &Path) -> Result<Option<String>, String> {
        if path.ends_with("unreadable.dl") {
            return Err("permission denied".to_string());
        }
        Ok(self.0.get(path).cloned())
    }
}

struct Run {
    map: SourceMap,
    text: String,
    diagnostics: Vec<Diagnostic>,
    file: calm_syntax::FileId,
}

impl Run {
    fn rendered(&self) -> String {
        render_all(&self.diagnostics, &self.map)
    }

    fn codes(&self) -> Vec<&str> {
        self.diagnostics
            .iter()
            .filter_map(|d| d.code.as_deref())
            .collect()
    }

    /// Parses the output and renders the parser's diagnostics.
    fn parse_errors(&self) -> String {
        render_all(&parse(self.file, &self.text).diagnostics, &self.map)
    }
}

fn run_with(main: &str, files: &[(&str, &str)], options: &PreprocessOptions) -> Run {
    let mut map = SourceMap::new();
    let file = map.add("dir/main.dl", main);
    let mut loader = Files::with(files);
    let out = preprocess(&mut map, file, options, &mut loader);
    Run {
        text: map.get(out.file).text.clone(),
        map,
        diagnostics: out.diagnostics,
        file: out.file,
    }
}

fn run(main: &str, files: &[(&str, &str)]) -> Run {
    run_with(main, files, &PreprocessOptions::default())
}

/// The output without blank lines and surrounding blanks, for comparisons.
fn lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn text_without_directives_is_parsed_as_it_is() {
    let mut map = SourceMap::new();
    let file = map.add("a.dl", "p(1).\nq(x) :- p(x). // #define X\n");
    let out = preprocess(&mut map, file, &PreprocessOptions::default(), &mut NoFiles);
    assert_eq!(out.file, file);
    assert!(out.diagnostics.is_empty());
}

#[test]
fn includes_search_the_including_files_directory_then_the_include_directories() {
    let options = PreprocessOptions {
        include_dirs: vec![PathBuf::from("lib"), PathBuf::from("other")],
        macros: Vec::new(),
    };
    let r = run_with(
        "#include \"a.dl\"\n#include <b.dl>\n.include \"sub/c.dl\"\nmain().\n",
        &[
            ("dir/a.dl", "a().\n"),
            ("lib/a.dl", "wrong().\n"),
            ("other/b.dl", "b().\n"),
            ("dir/b.dl", "wrong().\n"),
            ("dir/sub/c.dl", "#include \"d.dl\"\nc().\n"),
            ("dir/sub/d.dl", "d().\n"),
        ],
        &options,
    );
    assert!(r.diagnostics.is_empty(), "{}", r.rendered());
    assert_eq!(lines(&r.text), ["a().", "b().", "d().", "c().", "main()."]);
}

#[test]
fn macros_conditionals_and_command_line_definitions() {
    let mut options = PreprocessOptions::default();
    options.add_macros("FAST SIZE=3").unwrap();
    let r = run_with(
        "#define ADD(a, b) ((a) + (b))\n\
         #define NAME(op) rel_##op\n\
         #define STR(x) #x\n\
         #ifdef FAST\nfast().\n#else\nslow().\n#endif\n\
         #if defined(SIZE) && SIZE > 2 && RAM_DOMAIN_SIZE == 64\nbig().\n#elif 1\nno().\n#endif\n\
         #ifndef FAST\nno().\n#elif SIZE == 3\nthree().\n#endif\n\
         #if 0\n#include \"missing.dl\"\n#error not read\n#endif\n\
         NAME(max)(ADD(1, SIZE), STR(a b), __LINE__).\n\
         #undef SIZE\n\
         #ifdef SIZE\nno().\n#endif\n",
        &[],
        &options,
    );
    assert!(r.diagnostics.is_empty(), "{}", r.rendered());
    assert_eq!(
        lines(&r.text),
        [
            "fast().",
            "big().",
            "three().",
            "rel_max(((1) + (3)), \"a b\", 23)."
        ]
    );
}

#[test]
fn continuation_lines_and_comments() {
    let r = run(
        "#define DECL(r)          \\\n  .decl r(x: number)  \\\n  .output r\n\
         /* #define HIDDEN 1\n#include \"no.dl\" */\n\
         DECL(p) // a comment\n\
         #ifdef HIDDEN\nno().\n#endif\n",
        &[],
    );
    assert!(r.diagnostics.is_empty(), "{}", r.rendered());
    assert!(
        r.text.contains(".decl p(x: number) .output p"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("no()"));
}

#[test]
fn an_error_in_an_included_file_names_that_file_and_the_include() {
    let r = run(
        "p(1).\n#include \"lib/rules.dl\"\nq(2).\n",
        &[("dir/lib/rules.dl", "// rules\nr(x) :- p(x) q(x).\n")],
    );
    assert!(r.diagnostics.is_empty(), "{}", r.rendered());
    insta::assert_snapshot!(r.parse_errors());
}

#[test]
fn an_error_in_a_macro_expansion_names_the_invocation() {
    let r = run("#define BAD(x) x :- :-\np(1).\nBAD(q(1)).\n", &[]);
    assert!(r.diagnostics.is_empty(), "{}", r.rendered());
    insta::assert_snapshot!(r.parse_errors());
}

#[test]
fn missing_and_unreadable_includes_are_errors() {
    let r = run("#include \"nope.dl\"\n.include \"unreadable.dl\"\n", &[]);
    assert_eq!(
        r.codes(),
        [codes::INCLUDE_NOT_FOUND, codes::INCLUDE_NOT_FOUND]
    );
    insta::assert_snapshot!(r.rendered());
    // Text with no file around it cannot include.
    let mut map = SourceMap::new();
    let f = map.add("<text>", "#include \"a.dl\"\n");
    let out = preprocess(&mut map, f, &PreprocessOptions::default(), &mut NoFiles);
    assert!(render_all(&out.diagnostics, &map).contains("cannot include files"));
}

#[test]
fn an_include_cycle_is_an_error_with_its_chain() {
    let r = run(
        "#include \"a.dl\"\n",
        &[
            ("dir/a.dl", "#include \"b.dl\"\n"),
            ("dir/b.dl", "#include \"a.dl\"\n"),
        ],
    );
    assert_eq!(r.codes(), [codes::INCLUDE_CYCLE]);
    insta::assert_snapshot!(r.rendered());
}

#[test]
fn guarded_and_once_files_are_read_once() {
    let r = run(
        "#include \"g.dl\"\n#include \"g.dl\"\n.include \"o.dl\"\n.include \"o.dl\"\n",
        &[
            (
                "dir/g.dl",
                "#ifndef G\n#define G\n#include \"g.dl\"\ng().\n#endif\n",
            ),
            ("dir/o.dl", ".once\n.include \"o.dl\"\no().\n"),
        ],
    );
    assert!(r.diagnostics.is_empty(), "{}", r.rendered());
    assert_eq!(lines(&r.text), ["g().", "o()."]);
}

#[test]
fn include_depth_is_bounded() {
    let names: Vec<String> = (0..=MAX_INCLUDE_DEPTH + 1)
        .map(|i| format!("dir/f{i}.dl"))
        .collect();
    let texts: Vec<String> = (0..=MAX_INCLUDE_DEPTH + 1)
        .map(|i| format!("#include \"f{}.dl\"\n", i + 1))
        .collect();
    let files: Vec<(&str, &str)> = names
        .iter()
        .zip(&texts)
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let r = run("#include \"f0.dl\"\n", &files);
    assert_eq!(r.codes(), [codes::INCLUDE_CYCLE]);
    assert!(r.rendered().contains("too many included files"));
}

#[test]
fn malformed_directives_are_errors_with_locations() {
    let r = run(
        "#if\n#endif\n#else\n#endif\n#define\n#frobnicate x\n#ifdef A\n#else\n#else\n#endif\n\
         #define F(a, a) a\n#define G(a b\n#include nothing\n#error stop here\n#if 1 / 0\n#endif\n\
         #ifdef B\n",
        &[],
    );
    insta::assert_snapshot!(r.rendered());
    assert!(r.diagnostics.iter().all(Diagnostic::is_error));
    assert_eq!(r.diagnostics.len(), 12, "{}", r.rendered());
}

#[test]
fn runaway_and_bad_macro_invocations_are_errors() {
    let mut text = String::new();
    for k in 0..40 {
        text.push_str(&format!("#define X{k} X{} X{}\n", k + 1, k + 1));
    }
    text.push_str("p(X0).\n#define F(a) a\nq(F(1, 2)).\nr(F((1).\n");
    let r = run(&text, &[]);
    assert_eq!(
        r.codes(),
        [
            codes::BAD_EXPANSION,
            codes::BAD_EXPANSION,
            codes::BAD_EXPANSION
        ]
    );
    let rendered = r.rendered();
    assert!(rendered.contains("too much text"), "{rendered}");
    assert!(rendered.contains("while expanding X0 → X1"), "{rendered}");
    assert!(rendered.contains("takes 1 argument, 2 given"), "{rendered}");
    assert!(rendered.contains("not closed"), "{rendered}");
}

#[test]
fn line_markers_are_left_to_the_parser() {
    let r = run("# 3 \"orig.dl\"\n#line 4\np(1).\n", &[]);
    assert!(r.diagnostics.is_empty());
    assert!(
        r.text.starts_with("# 3 \"orig.dl\"\n#line 4\n"),
        "{}",
        r.text
    );
    assert!(r.parse_errors().contains("line marker ignored"));
}

#[test]
fn pragma_and_warning_are_warnings() {
    let r = run(
        "#pragma something\n#warning careful\n#define A 1\n#define A 2\np(A).\n",
        &[],
    );
    assert_eq!(r.codes(), [codes::PREPROCESSOR_WARNING; 3]);
    assert!(r.diagnostics.iter().all(|d| !d.is_error()));
    assert!(r.text.contains("p(2)."));
}

#[test]
fn bad_command_line_macros_are_refused() {
    let mut o = PreprocessOptions::default();
    assert!(o.add_macros("A=1 B").is_ok());
    assert!(o.add_macros("A-B=2").is_err());
    assert!(o.add_macros("=2").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any text, with directive-like lines mixed in, is preprocessed without a panic, and every
    /// location in the output resolves to a span inside a registered file.
    #[test]
    fn never_panics_and_locations_resolve(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("#define A(x) x ## x\n".to_string()),
                Just("#define B A(B)\n".to_string()),
                Just("#if A(1)\n".to_string()),
                Just("#else\n".to_string()),
                Just("#endif\n".to_string()),
                Just("#include \"inc.dl\"\n".to_string()),
                Just(".include \"main.dl\"\n".to_string()),
                Just("/*".to_string()),
                Just("*/".to_string()),
                Just("\\\n".to_string()),
                "[ -~\n]{0,20}",
                "[a-zA-Z_(),#\" ]{0,20}",
            ],
            0..12,
        )
    ) {
        let text: String = parts.concat();
        let r = run(&text, &[("dir/inc.dl", &text)]);
        let len = r.text.len();
        for start in (0..len).step_by(7) {
            let res = r.map.resolve(r.file, Span::new(start, (start + 3).min(len)));
            let f = r.map.try_get(res.file).expect("a registered file");
            prop_assert!(res.span.start <= res.span.end && res.span.end <= f.text.len(),
                "{:?} outside {} bytes", res.span, f.text.len());
        }
        let _ = r.rendered();
        let _ = r.parse_errors();
    }
}
