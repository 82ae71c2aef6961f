//! The C-preprocessor subset Souffle programs use, run on a program's text before it is parsed.
//!
//! - `#include "file"` (searched next to the including file, then in the include directories,
//!   as Souffle's `-I`), `#include <file>` (the include directories only), and Souffle's own
//!   `.include "file"` and `.once` (a file holding `.once`, or `#pragma once`, is read once);
//! - `#define NAME text`, `#define F(a, b) text` (with `#`, `##` and `...`), `#undef`; macros
//!   given on the command line (Souffle's `-M "NAME=value OTHER"`); `RAM_DOMAIN_SIZE` is 64,
//!   calm's word size;
//! - `#if`, `#ifdef`, `#ifndef`, `#elif`, `#else`, `#endif` (conditions are C's integer
//!   expressions with `defined`);
//! - `__LINE__` and `__FILE__`, line continuations (`\` at the end of a directive line),
//!   `#error`, `#warning`; `#pragma` is ignored with a warning, a line marker (`# 12 "f.dl"`,
//!   `#line`) is left for the parser (which skips it with a warning).
//!
//! The library does no I/O: files are read through a [`FileLoader`] the caller provides. The
//! output is registered in the [`SourceMap`] as an expanded file whose every location maps back
//! to the file and line it was written at ([`SourceMap::resolve`]): an error in an included file
//! names that file, one in a macro's expansion names the invocation and the macro. A program
//! without any of the above is returned as it is.
//!
//! Everything is bounded: include depth ([`MAX_INCLUDE_DEPTH`]), the number of files read
//! ([`MAX_INCLUDED_FILES`]), the output ([`MAX_SOURCE_LEN`]), what one macro invocation
//! produces ([`MAX_EXPANSION_TOKENS`]) and macro expansion depth; an
//! include cycle is an error that names the chain.
//!
//! Codes: `E0040` an included file that cannot be found or read, `E0041` an include cycle or
//! limit, `E0042` a malformed or unsupported directive, an unterminated `#if`, `#error`, `E0043`
//! a macro invocation that cannot be expanded, `W0040` `#warning`, `#pragma`, a macro redefined.
//!
//! ```
//! use calm_syntax::{NoFiles, PreprocessOptions, SourceMap, preprocess};
//! let mut map = SourceMap::new();
//! let f = map.add("a.dl", "#define TWICE(x) x, x\np(TWICE(1)).\n");
//! let out = preprocess(&mut map, f, &PreprocessOptions::default(), &mut NoFiles);
//! assert!(out.diagnostics.is_empty());
//! assert_eq!(map.get(out.file).text.trim(), "p(1, 1).");
//! ```

mod cond;
mod macros;
mod tokens;

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use crate::{Diagnostic, Expansion, FileId, MAX_SOURCE_LEN, SourceMap, Span};
use macros::{Here, Macro, Macros};
use tokens::{Kind, PTok, Tok};

/// Deepest nesting of included files.
pub const MAX_INCLUDE_DEPTH: usize = 64;
/// Most files one program may include (counting repeated inclusions).
pub const MAX_INCLUDED_FILES: usize = 4096;

/// Most tokens one macro invocation may expand to.
pub const MAX_EXPANSION_TOKENS: usize = 1 << 20;

/// The preprocessor's diagnostic codes.
pub mod codes {
    /// An included file that cannot be found or read.
    pub const INCLUDE_NOT_FOUND: &str = "E0040";
    /// An include cycle, or an include limit reached.
    pub const INCLUDE_CYCLE: &str = "E0041";
    /// A malformed or unsupported directive, an unterminated `#if`, `#error`.
    pub const BAD_DIRECTIVE: &str = "E0042";
    /// A macro invocation that cannot be expanded.
    pub const BAD_EXPANSION: &str = "E0043";
    /// `#warning`, an ignored `#pragma`, a macro redefined (warnings).
    pub const PREPROCESSOR_WARNING: &str = "W0040";
}

/// Reads the files a program includes. The preprocessor decides which paths to try.
pub trait FileLoader {
    /// The text of the file at `path`: `Ok(None)` when there is no such file, `Err` with the
    /// reason when it exists but cannot be read (not UTF-8, too large, ...).
    fn load(&mut self, path: &Path) -> Result<Option<String>, String>;
}

/// A loader for text that has no files around it: every `#include` is an error.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFiles;

impl FileLoader for NoFiles {
    fn load(&mut self, _path: &Path) -> Result<Option<String>, String> {
        Err("this program was not read from a file, so it cannot include files".to_string())
    }
}

/// What the command line adds: include directories (`-I`) and macros (`-M`).
#[derive(Clone, Debug, Default)]
pub struct PreprocessOptions {
    /// Searched, in order, after the including file's directory.
    pub include_dirs: Vec<PathBuf>,
    /// Macros defined before the program is read: a name and its text.
    pub macros: Vec<(String, String)>,
}

impl PreprocessOptions {
    /// Adds the macros of one Souffle `-M` value: names or `NAME=value`s separated by blanks
    /// (a name alone is defined as `1`, as `cpp -D` does).
    ///
    /// ```
    /// let mut o = calm_syntax::PreprocessOptions::default();
    /// o.add_macros("N=10 DEBUG").unwrap();
    /// assert_eq!(o.macros, vec![("N".into(), "10".into()), ("DEBUG".into(), "1".into())]);
    /// assert!(o.add_macros("1X=2").is_err());
    /// ```
    pub fn add_macros(&mut self, flag: &str) -> Result<(), String> {
        for word in flag.split_whitespace() {
            let (name, value) = word.split_once('=').unwrap_or((word, "1"));
            let ok = name.chars().next().is_some_and(tokens::is_ident_start)
                && name.chars().all(tokens::is_ident_char);
            if !ok {
                return Err(format!("`{name}` is not a macro name (in `-M {flag}`)"));
            }
            self.macros.push((name.to_string(), value.to_string()));
        }
        Ok(())
    }
}

/// The result of [`preprocess`].
#[derive(Clone, Debug)]
pub struct Preprocessed {
    /// The file to parse: the expanded text, or the input file itself when it needed nothing.
    pub file: FileId,
    /// Errors and warnings; with an error the expanded text is incomplete.
    pub diagnostics: Vec<Diagnostic>,
}

/// Preprocesses file `file` of `map`: registers the files it includes and the expanded text in
/// `map`, and returns the file to parse.
pub fn preprocess(
    map: &mut SourceMap,
    file: FileId,
    options: &PreprocessOptions,
    loader: &mut dyn FileLoader,
) -> Preprocessed {
    if !needs_preprocessing(&map.get(file).text) && options.macros.is_empty() {
        return Preprocessed {
            file,
            diagnostics: Vec::new(),
        };
    }
    let mut macros = Macros::default();
    let mut predefined = vec![("RAM_DOMAIN_SIZE".to_string(), "64".to_string())];
    predefined.extend(options.macros.iter().cloned());
    for (name, value) in &predefined {
        let body = tokens::owned(value, &tokens::tokenize(value, 0, value.len()));
        macros.define(name, Macro { params: None, body });
    }
    let name = map.get(file).name.clone();
    let mut pp = Pp {
        map,
        loader,
        options,
        macros,
        out: String::new(),
        expansion: Expansion::default(),
        diags: Vec::new(),
        stack: vec![normalize(Path::new(&name))],
        once: HashSet::new(),
        files: 0,
        stopped: false,
    };
    pp.file(file);
    let Pp {
        out,
        expansion,
        diags,
        ..
    } = pp;
    let expanded = map.add_expanded(name, out, expansion);
    Preprocessed {
        file: expanded,
        diagnostics: diags,
    }
}

/// Whether a text uses anything the preprocessor handles.
fn needs_preprocessing(text: &str) -> bool {
    text.lines().any(|l| l.trim_start().starts_with('#'))
        || [
            ".include",
            ".once",
            "__LINE__",
            "__FILE__",
            "RAM_DOMAIN_SIZE",
        ]
        .iter()
        .any(|w| text.contains(w))
}

/// A path with `.` and `..` resolved without looking at the file system.
fn normalize(path: &Path) -> String {
    let mut parts: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if parts
                    .last()
                    .is_some_and(|p| matches!(p, Component::Normal(_))) =>
            {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts
        .iter()
        .collect::<PathBuf>()
        .to_string_lossy()
        .into_owned()
}

/// One `#if` group being read.
struct Cond {
    /// Whether the text around the group is read.
    outer: bool,
    /// Whether the current branch is read.
    on: bool,
    /// Whether some branch was taken already.
    taken: bool,
    /// Whether `#else` was seen.
    in_else: bool,
    /// The `#if` line.
    span: Span,
}

struct Pp<'a> {
    map: &'a mut SourceMap,
    loader: &'a mut dyn FileLoader,
    options: &'a PreprocessOptions,
    macros: Macros,
    out: String,
    expansion: Expansion,
    diags: Vec<Diagnostic>,
    /// The normalized paths of the files being read, outermost first.
    stack: Vec<String>,
    /// Files that asked to be read once (`.once`, `#pragma once`).
    once: HashSet<String>,
    /// Files included so far.
    files: usize,
    /// Set when the output grew too large: nothing more is read.
    stopped: bool,
}

impl Pp<'_> {
    fn error(
        &mut self,
        code: &str,
        file: FileId,
        span: Span,
        msg: String,
        label: &str,
    ) -> &mut Diagnostic {
        self.diags.push(
            Diagnostic::error(msg)
                .with_code(code)
                .with_primary(file, span, label),
        );
        let last = self.diags.len() - 1;
        &mut self.diags[last]
    }

    fn warning(&mut self, file: FileId, span: Span, msg: String, label: &str) {
        self.diags.push(
            Diagnostic::warning(msg)
                .with_code(codes::PREPROCESSOR_WARNING)
                .with_primary(file, span, label),
        );
    }

    /// Appends `text[range]` of `file`.
    fn copy(&mut self, file: FileId, text: &str, start: usize, end: usize) {
        if start >= end || self.stopped {
            return;
        }
        self.expansion.copy(self.out.len(), file, start);
        self.out.push_str(&text[start..end]);
        self.check_size(file, Span::new(start, end));
    }

    fn check_size(&mut self, file: FileId, span: Span) {
        if self.out.len() > MAX_SOURCE_LEN && !self.stopped {
            self.stopped = true;
            self.error(
                codes::INCLUDE_CYCLE,
                file,
                span,
                format!("the preprocessed program is larger than {MAX_SOURCE_LEN} bytes"),
                "the limit is reached here",
            );
        }
    }

    /// Reads one file: its directives and its text.
    fn file(&mut self, file: FileId) {
        let text = self.map.get(file).text.clone();
        let mut conds: Vec<Cond> = Vec::new();
        let mut in_comment = false;
        let mut chunk = 0; // start of the text not yet written
        let mut pos = 0;
        while pos < text.len() && !self.stopped {
            let mut end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
            let line = &text[pos..end];
            let active = conds.last().is_none_or(|c| c.on);
            let trimmed = line.trim_start();
            if in_comment || !trimmed.starts_with('#') {
                in_comment = tokens::ends_in_comment(line, in_comment);
                if !active {
                    chunk = (end + 1).min(text.len());
                }
                pos = end + 1;
                continue;
            }
            // A directive: the line and its continuations.
            while text[..end].trim_end_matches('\r').ends_with('\\') && end < text.len() {
                end = text[end + 1..]
                    .find('\n')
                    .map_or(text.len(), |i| end + 1 + i);
            }
            if active {
                self.text(file, &text, chunk, pos);
            }
            let hash = pos + (line.len() - trimmed.len());
            in_comment = tokens::ends_in_comment(&text[hash..end], false);
            let next = (end + 1).min(text.len());
            chunk = next;
            let passed = self.directive(file, &text, hash, end, &mut conds, active);
            if passed {
                // Left for the parser (a line marker): written as it is.
                self.copy(file, &text, pos, next);
            } else if end < text.len() {
                // Keep the line break, so that the text on either side stays apart.
                self.copy(file, &text, end, end + 1);
            }
            pos = next;
        }
        if conds.last().is_none_or(|c| c.on) {
            self.text(file, &text, chunk, text.len());
        }
        for c in conds {
            self.error(
                codes::BAD_DIRECTIVE,
                file,
                c.span,
                "`#if` without `#endif`".to_string(),
                "this group is never closed",
            )
            .help = Some("close it with `#endif` before the end of the file".to_string());
        }
    }

    /// Handles the directive at `text[hash..end]` (`hash` is the `#`). Returns whether the line
    /// is left in the output for the parser.
    fn directive(
        &mut self,
        file: FileId,
        text: &str,
        hash: usize,
        end: usize,
        conds: &mut Vec<Cond>,
        active: bool,
    ) -> bool {
        let span = Span::new(hash, hash + text[hash..end].trim_end().len());
        let toks = tokens::tokenize(text, hash + 1, end);
        let words: Vec<&Tok> = toks.iter().filter(|t| t.kind != Kind::Space).collect();
        let Some(first) = words.first() else {
            return false; // `#` alone does nothing
        };
        let word = &text[first.start..first.end];
        let first_end = first.end;
        let word_span = Span::new(hash, first.end);
        let args: Vec<Tok> = toks
            .iter()
            .copied()
            .skip_while(|t| t.start < first_end)
            .collect();
        match word {
            "if" | "ifdef" | "ifndef" => {
                let on = active && self.condition(file, text, word, &args, word_span);
                conds.push(Cond {
                    outer: active,
                    on,
                    taken: on,
                    in_else: false,
                    span,
                });
            }
            "elif" | "else" => {
                let Some(c) = conds.last_mut() else {
                    self.error(
                        codes::BAD_DIRECTIVE,
                        file,
                        word_span,
                        format!("`#{word}` without `#if`"),
                        "no `#if` is open here",
                    );
                    return false;
                };
                if c.in_else {
                    self.error(
                        codes::BAD_DIRECTIVE,
                        file,
                        word_span,
                        format!("`#{word}` after `#else`"),
                        "the group already had its `#else`",
                    );
                    return false;
                }
                let (outer, taken) = (c.outer, c.taken);
                let on = if word == "else" {
                    outer && !taken
                } else {
                    outer && !taken && self.condition(file, text, "if", &args, word_span)
                };
                let Some(c) = conds.last_mut() else {
                    return false;
                };
                c.on = on;
                c.taken |= on;
                c.in_else = word == "else";
            }
            "endif" => {
                if conds.pop().is_none() {
                    self.error(
                        codes::BAD_DIRECTIVE,
                        file,
                        word_span,
                        "`#endif` without `#if`".to_string(),
                        "no `#if` is open here",
                    );
                }
            }
            _ if !active => {}
            "define" => self.define(file, text, &args, word_span),
            "undef" => match ident_arg(text, &args) {
                Some((name, _)) => self.macros.undefine(name),
                None => {
                    self.error(
                        codes::BAD_DIRECTIVE,
                        file,
                        word_span,
                        "`#undef` needs a macro name".to_string(),
                        "no name follows",
                    );
                }
            },
            "include" => self.include_directive(file, text, &args, span),
            "error" => {
                let msg = text[first_end..end].trim().to_string();
                self.error(
                    codes::BAD_DIRECTIVE,
                    file,
                    span,
                    format!("#error {msg}"),
                    "`#error` reached",
                );
            }
            "warning" => {
                let msg = text[first_end..end].trim().to_string();
                self.warning(file, span, format!("#warning {msg}"), "`#warning` reached");
            }
            "pragma" => {
                if ident_arg(text, &args).is_some_and(|(n, _)| n == "once") {
                    if let Some(top) = self.stack.last() {
                        self.once.insert(top.clone());
                    }
                } else {
                    self.warning(
                        file,
                        span,
                        "`#pragma` ignored".to_string(),
                        "calm's preprocessor knows only `#pragma once`",
                    );
                }
            }
            "line" => return true,
            _ if first.kind == Kind::Number => return true,
            _ => {
                self.error(
                    codes::BAD_DIRECTIVE,
                    file,
                    word_span,
                    format!("unknown preprocessor directive `#{word}`"),
                    "not a directive calm's preprocessor knows",
                )
                .help = Some(
                    "the directives are #include, #define, #undef, #if, #ifdef, #ifndef, #elif, \
                     #else, #endif, #error, #warning and #pragma once"
                        .to_string(),
                );
            }
        }
        false
    }

    /// The value of the condition of `#if`/`#ifdef`/`#ifndef` (errors count as false).
    fn condition(&mut self, file: FileId, text: &str, word: &str, args: &[Tok], at: Span) -> bool {
        if word != "if" {
            return match ident_arg(text, args) {
                Some((name, _)) => self.macros.is_defined(name) == (word == "ifdef"),
                None => {
                    self.error(
                        codes::BAD_DIRECTIVE,
                        file,
                        at,
                        format!("`#{word}` needs a macro name"),
                        "no name follows",
                    );
                    false
                }
            };
        }
        // `defined X` and `defined(X)` first, then the macros.
        let toks = tokens::owned(text, args);
        let mut replaced = Vec::with_capacity(toks.len());
        let mut i = 0;
        while i < toks.len() {
            if toks[i].is(Kind::Ident, "defined") {
                let mut j = macros::skip_blanks(&toks, i + 1);
                let paren = toks.get(j).is_some_and(|t| t.is(Kind::Punct, "("));
                if paren {
                    j = macros::skip_blanks(&toks, j + 1);
                }
                let name = toks.get(j).filter(|t| t.kind == Kind::Ident);
                let close = if paren {
                    let k = macros::skip_blanks(&toks, j + 1);
                    toks.get(k)
                        .is_some_and(|t| t.is(Kind::Punct, ")"))
                        .then_some(k)
                } else {
                    Some(j)
                };
                match (name, close) {
                    (Some(n), Some(k)) => {
                        let v = if self.macros.is_defined(&n.text) {
                            "1"
                        } else {
                            "0"
                        };
                        replaced.push(PTok::new(Kind::Number, v));
                        i = k + 1;
                        continue;
                    }
                    _ => {
                        self.error(
                            codes::BAD_DIRECTIVE,
                            file,
                            at,
                            "`defined` needs a macro name".to_string(),
                            "in this condition",
                        );
                        return false;
                    }
                }
            }
            replaced.push(toks[i].clone());
            i += 1;
        }
        let line = self.map.line_col(file, at.start).0;
        let name = self.map.get(file).name.clone();
        let expanded = self
            .macros
            .expander(Here { line, file: &name }, MAX_EXPANSION_TOKENS)
            .expand(&replaced);
        let result = expanded
            .map_err(|e| e.message)
            .and_then(|t| cond::evaluate(&t));
        match result {
            Ok(v) => v != 0,
            Err(msg) => {
                self.error(
                    codes::BAD_DIRECTIVE,
                    file,
                    at,
                    format!("bad `#if` condition: {msg}"),
                    "in this condition",
                );
                false
            }
        }
    }

    fn define(&mut self, file: FileId, text: &str, args: &[Tok], at: Span) {
        let Some((name, k)) = ident_arg(text, args) else {
            self.error(
                codes::BAD_DIRECTIVE,
                file,
                at,
                "`#define` needs a macro name".to_string(),
                "no name follows",
            );
            return;
        };
        if name == "defined" {
            self.error(
                codes::BAD_DIRECTIVE,
                file,
                Span::new(args[k].start, args[k].end),
                "`defined` cannot be a macro".to_string(),
                "reserved",
            );
            return;
        }
        let mut rest = k + 1;
        let mut params = None;
        // `F(` with no blank between the name and `(` makes a function-like macro.
        if args.get(rest).is_some_and(|t| &text[t.start..t.end] == "(") {
            let toks = tokens::owned(text, &args[rest..]);
            let Some(close) = macros::closing_paren(&toks, 0, |p| macros::paren(p.kind, &p.text))
            else {
                self.error(
                    codes::BAD_DIRECTIVE,
                    file,
                    at,
                    format!("the parameters of macro `{name}` are not closed with `)`"),
                    "in this definition",
                );
                return;
            };
            let inside: String = tokens::render(&toks[1..close]);
            let mut names = Vec::new();
            if !inside.trim().is_empty() {
                for p in inside.split(',') {
                    let p = p.trim();
                    let ok = p == "..."
                        || (p.chars().next().is_some_and(tokens::is_ident_start)
                            && p.chars().all(tokens::is_ident_char));
                    if !ok || names.contains(&p.to_string()) {
                        self.error(
                            codes::BAD_DIRECTIVE,
                            file,
                            at,
                            format!("bad parameter `{p}` of macro `{name}`"),
                            "in this definition",
                        );
                        return;
                    }
                    names.push(p.to_string());
                }
            }
            if names.iter().rev().skip(1).any(|p| p == "...") {
                self.error(
                    codes::BAD_DIRECTIVE,
                    file,
                    at,
                    format!("`...` must be the last parameter of macro `{name}`"),
                    "in this definition",
                );
                return;
            }
            params = Some(names);
            rest += close + 1;
        }
        let body = tokens::owned(text, &args[rest.min(args.len())..]);
        let start = macros::skip_blanks(&body, 0);
        let mut end = body.len();
        while end > start && body[end - 1].kind == Kind::Space {
            end -= 1;
        }
        let m = Macro {
            params,
            body: body[start..end].to_vec(),
        };
        if let Some(old) = self.macros.define(name, m.clone())
            && old != m
        {
            self.warning(
                file,
                at,
                format!("macro `{name}` redefined"),
                "defined again here",
            );
        }
    }

    fn include_directive(&mut self, file: FileId, text: &str, args: &[Tok], span: Span) {
        let words: Vec<&Tok> = args.iter().filter(|t| t.kind != Kind::Space).collect();
        let quoted = words
            .first()
            .filter(|t| t.kind == Kind::Str)
            .and_then(|t| unquote(&text[t.start..t.end]));
        if let Some(name) = quoted {
            self.include(file, span, &name, false);
            return;
        }
        let raw = text[args.first().map_or(span.end, |t| t.start)..span.end].trim();
        if let Some(name) = raw.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
            self.include(file, span, name, true);
            return;
        }
        self.error(
            codes::BAD_DIRECTIVE,
            file,
            span,
            "`#include` expects \"FILE\" or <FILE>".to_string(),
            "no file name here",
        );
    }

    /// Includes file `name` at `span` of `from`.
    fn include(&mut self, from: FileId, span: Span, name: &str, angled: bool) {
        let mut candidates = Vec::new();
        let path = Path::new(name);
        if path.is_absolute() {
            candidates.push(path.to_path_buf());
        } else {
            if !angled {
                let here = Path::new(&self.map.get(from).name)
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                candidates.push(here.join(path));
            }
            for dir in &self.options.include_dirs {
                candidates.push(dir.join(path));
            }
        }
        let mut found = None;
        for c in &candidates {
            match self.loader.load(c) {
                Ok(Some(text)) => {
                    found = Some((c.clone(), text));
                    break;
                }
                Ok(None) => {}
                Err(why) => {
                    self.error(
                        codes::INCLUDE_NOT_FOUND,
                        from,
                        span,
                        format!("cannot read included file `{}`: {why}", c.display()),
                        "included here",
                    );
                    return;
                }
            }
        }
        let Some((path, text)) = found else {
            let searched: Vec<String> = candidates
                .iter()
                .filter_map(|c| c.parent())
                .map(|d| {
                    let d = d.display().to_string();
                    if d.is_empty() { ".".to_string() } else { d }
                })
                .collect();
            let d = self.error(
                codes::INCLUDE_NOT_FOUND,
                from,
                span,
                format!("cannot find included file `{name}`"),
                "included here",
            );
            d.notes
                .push(format!("searched in: {}", searched.join(", ")));
            d.help = Some("give the directories to search with `-I DIR`".to_string());
            return;
        };
        let key = normalize(&path);
        if self.once.contains(&key) {
            return;
        }
        if self.stack.iter().filter(|k| **k == key).count() >= 2 {
            let mut chain = self.stack.clone();
            chain.push(key);
            self.error(
                codes::INCLUDE_CYCLE,
                from,
                span,
                format!("include cycle: {}", chain.join(" includes ")),
                "included again here",
            )
            .help = Some(
                "guard the file with `#ifndef NAME` / `#define NAME` / `#endif`, or write `.once` \
                 in it"
                    .to_string(),
            );
            return;
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH || self.files >= MAX_INCLUDED_FILES {
            self.error(
                codes::INCLUDE_CYCLE,
                from,
                span,
                format!(
                    "too many included files (at most {MAX_INCLUDED_FILES}, nested at most \
                     {MAX_INCLUDE_DEPTH} deep)"
                ),
                "one too many",
            );
            return;
        }
        if text.len() > MAX_SOURCE_LEN {
            self.error(
                codes::INCLUDE_NOT_FOUND,
                from,
                span,
                format!(
                    "included file `{}` is larger than {MAX_SOURCE_LEN} bytes",
                    path.display()
                ),
                "included here",
            );
            return;
        }
        self.files += 1;
        let id = self.map.add(path.display().to_string(), text);
        self.map.set_included_from(id, from, span);
        self.stack.push(key);
        self.file(id);
        self.stack.pop();
    }

    /// Writes `text[start..end]` of `file` with its macros expanded and its `.include`s read.
    fn text(&mut self, file: FileId, text: &str, start: usize, end: usize) {
        if start >= end || self.stopped {
            return;
        }
        let toks = tokens::tokenize(text, start, end);
        let mut i = 0;
        let mut copied = start; // text before this is written
        while i < toks.len() && !self.stopped {
            let t = toks[i];
            let word = &text[t.start..t.end];
            // `.include "file"` and `.once`, where a directive can start.
            if t.kind == Kind::Punct
                && word == "."
                && (i == 0 || toks[i - 1].kind == Kind::Space)
                && let Some(next) = toks.get(i + 1).filter(|n| n.kind == Kind::Ident)
            {
                let directive = &text[next.start..next.end];
                if directive == "once" {
                    self.copy(file, text, copied, t.start);
                    if let Some(top) = self.stack.last() {
                        self.once.insert(top.clone());
                    }
                    copied = next.end;
                    i += 2;
                    continue;
                }
                if directive == "include" {
                    self.copy(file, text, copied, t.start);
                    let mut j = i + 2;
                    while toks.get(j).is_some_and(|s| {
                        s.kind == Kind::Space && !text[s.start..s.end].contains('\n')
                    }) {
                        j += 1;
                    }
                    let at = Span::new(t.start, next.end);
                    match toks.get(j).filter(|s| s.kind == Kind::Str) {
                        Some(s) => {
                            let span = Span::new(t.start, s.end);
                            match unquote(&text[s.start..s.end]) {
                                Some(name) => self.include(file, span, &name, false),
                                None => {
                                    self.error(
                                        codes::BAD_DIRECTIVE,
                                        file,
                                        span,
                                        "`.include`: the file name is not a valid string"
                                            .to_string(),
                                        "here",
                                    );
                                }
                            }
                            copied = s.end;
                            i = j + 1;
                        }
                        None => {
                            self.error(
                                codes::BAD_DIRECTIVE,
                                file,
                                at,
                                "`.include` expects a file name in quotes".to_string(),
                                "no file name follows",
                            );
                            copied = next.end;
                            i += 2;
                        }
                    }
                    continue;
                }
            }
            if t.kind != Kind::Ident || !self.macros.expands(word) {
                i += 1;
                continue;
            }
            // A macro invocation: the name, and the arguments of a function-like macro.
            let mut last = i;
            if self.macros.get(word).is_some_and(|m| m.params.is_some()) {
                let mut open = i + 1;
                while toks.get(open).is_some_and(|s| s.kind == Kind::Space) {
                    open += 1;
                }
                if toks.get(open).is_none_or(|s| &text[s.start..s.end] != "(") {
                    i += 1;
                    continue; // the name alone is not an invocation
                }
                match macros::closing_paren(&toks, open, |s| {
                    macros::paren(s.kind, &text[s.start..s.end])
                }) {
                    Some(close) => last = close,
                    None => {
                        self.error(
                            codes::BAD_EXPANSION,
                            file,
                            Span::new(t.start, t.end),
                            format!("the arguments of macro `{word}` are not closed with `)`"),
                            "invoked here",
                        );
                        last = toks.len() - 1;
                        self.copy(file, text, copied, t.start);
                        copied = toks[last].end;
                        i = last + 1;
                        continue;
                    }
                }
            }
            let span = Span::new(t.start, toks[last].end);
            self.copy(file, text, copied, t.start);
            copied = span.end;
            let invocation = tokens::owned(text, &toks[i..=last]);
            let line = self.map.line_col(file, t.start).0;
            let name = self.map.get(file).name.clone();
            let budget = MAX_EXPANSION_TOKENS;
            let result = self
                .macros
                .expander(Here { line, file: &name }, budget)
                .expand(&invocation);
            match result {
                Ok(expanded) => {
                    let rendered = tokens::render(&expanded);
                    // Keep words apart from the text around the invocation.
                    let glue_before = self.out.chars().last().is_some_and(tokens::is_ident_char)
                        && rendered.chars().next().is_some_and(tokens::is_ident_char);
                    let glue_after = rendered.chars().last().is_some_and(tokens::is_ident_char)
                        && text[span.end..]
                            .chars()
                            .next()
                            .is_some_and(tokens::is_ident_char);
                    self.expansion.macro_text(self.out.len(), file, span, word);
                    if glue_before {
                        self.out.push(' ');
                    }
                    self.out.push_str(&rendered);
                    if glue_after {
                        self.out.push(' ');
                    }
                    self.check_size(file, span);
                }
                Err(e) => {
                    let d = self.error(
                        codes::BAD_EXPANSION,
                        file,
                        span,
                        e.message,
                        "in this macro invocation",
                    );
                    if e.chain.len() > 1 {
                        d.notes
                            .push(format!("while expanding {}", e.chain.join(" → ")));
                    }
                }
            }
            i = last + 1;
        }
        self.copy(file, text, copied, end);
    }
}

/// The first word of a directive's arguments, if it is an identifier, with its index.
fn ident_arg<'t>(text: &'t str, args: &[Tok]) -> Option<(&'t str, usize)> {
    let k = args.iter().position(|t| t.kind != Kind::Space)?;
    let t = args[k];
    (t.kind == Kind::Ident).then(|| (&text[t.start..t.end], k))
}

/// The contents of a string literal (`"dir/a.dl"`), with `\"` and `\\` unescaped.
fn unquote(lit: &str) -> Option<String> {
    let inner = lit.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(chars.next()?);
        } else {
            out.push(c);
        }
    }
    Some(out)
}
