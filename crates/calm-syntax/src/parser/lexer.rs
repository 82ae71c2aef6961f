//! The lexer: turns the source text into tokens, one at a time, on demand.
//!
//! Each token is recognised with nom combinators over a [`LocatedSpan`], so every token knows its
//! byte offsets. Trivia (whitespace, comments, `#` preprocessor lines) is skipped between tokens.
//! Lexical problems (an unterminated string or comment, a stray character, an unknown escape) are
//! reported here, once; the parser then treats the offending token as already reported.

use nom::{
    IResult, Input as _, Parser as _,
    branch::alt,
    bytes::complete::{tag, tag_no_case, take_till, take_until, take_while, take_while1},
    character::complete::{bin_digit1, char, digit1, hex_digit1, multispace1, satisfy},
    combinator::recognize,
    multi::many0_count,
    sequence::{pair, preceded},
};
use nom_locate::LocatedSpan;

use super::codes;
use crate::{Diagnostic, FileId, Span};

/// The lexer's input: the rest of the text, with its offset into the whole text.
pub(crate) type Input<'a> = LocatedSpan<&'a str>;

type LexResult<'a, O> = IResult<Input<'a>, O>;

/// What kind of token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// An identifier, possibly qualified (`a.b`) or built-in (`$self`); `_` too.
    Ident,
    /// An integer literal as written (decimal, `0x` hex or `0b` binary).
    Number,
    /// A float literal: `1.5`, `2.0e-3`.
    Float,
    /// An unsigned literal: `1u`, `0xffu`, `0b101u`.
    Unsigned,
    /// Four dot-separated decimal numbers, `10.0.0.1`: Souffle reads an IPv4 address as a
    /// number.
    Ipv4,
    /// A terminated string literal, quotes included.
    Str,
    /// An unterminated string literal (already reported).
    BadStr,
    /// `.word` after whitespace or at the start: `.decl`, `.input`, ...
    Directive,
    /// Characters that start no token (already reported).
    Unknown,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Colon,
    ColonDash,
    Semi,
    Bang,
    At,
    Pipe,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    /// End of input.
    Eof,
}

/// One token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    /// What kind.
    pub kind: Tok,
    /// Where.
    pub span: Span,
    /// The token is the first on its line.
    pub line_start: bool,
    /// For [`Tok::Dot`]: followed by whitespace, a comment or the end of input, so it can end a
    /// clause during error recovery.
    pub terminal: bool,
}

/// A comment (or a `#` line) skipped as trivia, recorded only when asked for
/// ([`Lexer::with_comments`]): the formatter puts them back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Comment {
    /// What kind.
    pub kind: CommentKind,
    /// The comment's text: `//` to the end of the line (the newline excluded), `/*` to `*/`, `#`
    /// to the end of the line.
    pub span: Span,
}

/// The kinds of [`Comment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CommentKind {
    /// `// ...`
    Line,
    /// `/* ... */`
    Block,
    /// A `#` line (a preprocessor line marker, skipped).
    Hash,
}

/// The lexer.
pub(crate) struct Lexer<'a> {
    rest: Input<'a>,
    file: FileId,
    /// Problems found so far.
    pub diags: Vec<Diagnostic>,
    /// The comments skipped so far, when recording ([`Lexer::with_comments`]).
    pub comments: Option<Vec<Comment>>,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Characters that may start a token; anything else is reported as unexpected.
fn starts_token(c: char) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || "\"$.()[]{},:;!@|=<>+-*/%^".contains(c)
}

fn span_of(i: &Input<'_>) -> Span {
    let start = i.location_offset();
    Span::new(start, start + i.fragment().len())
}

/// `[A-Za-z_][A-Za-z0-9_]*`
fn word(i: Input<'_>) -> LexResult<'_, Input<'_>> {
    recognize(pair(satisfy(is_ident_start), take_while(is_ident_char))).parse(i)
}

/// An identifier with optional `.part`s, optionally after a `$`.
fn ident(i: Input<'_>) -> LexResult<'_, Input<'_>> {
    recognize((
        nom::combinator::opt(char('$')),
        word,
        many0_count(preceded(char('.'), word)),
    ))
    .parse(i)
}

fn number(i: Input<'_>) -> LexResult<'_, Input<'_>> {
    alt((
        recognize(preceded(tag_no_case("0x"), hex_digit1)),
        recognize(preceded(tag_no_case("0b"), bin_digit1)),
        digit1,
    ))
    .parse(i)
}

fn float(i: Input<'_>) -> LexResult<'_, Input<'_>> {
    recognize((
        digit1,
        char('.'),
        digit1,
        nom::combinator::opt((
            nom::character::complete::one_of("eE"),
            nom::combinator::opt(nom::character::complete::one_of("+-")),
            digit1,
        )),
    ))
    .parse(i)
}

fn ipv4(i: Input<'_>) -> LexResult<'_, Input<'_>> {
    recognize((
        digit1,
        char('.'),
        digit1,
        char('.'),
        digit1,
        char('.'),
        digit1,
    ))
    .parse(i)
}

/// Punctuation and operators, chosen by the first character (faster than trying each in turn).
fn punct(first: char, rest: &str) -> Option<(Tok, usize)> {
    let second = rest[first.len_utf8()..].chars().next();
    Some(match (first, second) {
        (':', Some('-')) => (Tok::ColonDash, 2),
        ('!', Some('=')) => (Tok::Ne, 2),
        ('<', Some('=')) => (Tok::Le, 2),
        ('>', Some('=')) => (Tok::Ge, 2),
        _ => (
            match first {
                ':' => Tok::Colon,
                '!' => Tok::Bang,
                '<' => Tok::Lt,
                '>' => Tok::Gt,
                '=' => Tok::Eq,
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                '{' => Tok::LBrace,
                '}' => Tok::RBrace,
                '[' => Tok::LBracket,
                ']' => Tok::RBracket,
                ',' => Tok::Comma,
                '.' => Tok::Dot,
                ';' => Tok::Semi,
                '@' => Tok::At,
                '|' => Tok::Pipe,
                '+' => Tok::Plus,
                '-' => Tok::Minus,
                '*' => Tok::Star,
                '/' => Tok::Slash,
                '%' => Tok::Percent,
                '^' => Tok::Caret,
                _ => return None,
            },
            1,
        ),
    })
}

/// The result of scanning a string literal.
struct StrScan<'a> {
    rest: Input<'a>,
    terminated: bool,
    /// Spans of unknown escapes (`\q`).
    bad_escapes: Vec<Span>,
}

/// Scans a string literal starting at `"`. Strings end at the closing quote; a newline or the end
/// of input first makes it unterminated (the newline is not part of the token).
fn string(i: Input<'_>) -> StrScan<'_> {
    let mut bad_escapes = Vec::new();
    let mut rest = match char::<_, nom::error::Error<_>>('"').parse(i) {
        Ok((r, _)) => r,
        Err(_) => {
            return StrScan {
                rest: i,
                terminated: false,
                bad_escapes,
            };
        }
    };
    loop {
        let chunk: LexResult<'_, Input<'_>> =
            take_till(|c| c == '"' || c == '\\' || c == '\n' || c == '\r').parse(rest);
        if let Ok((r, _)) = chunk {
            rest = r;
        }
        match rest.fragment().chars().next() {
            Some('"') => {
                let (r, _) = take1(rest);
                return StrScan {
                    rest: r,
                    terminated: true,
                    bad_escapes,
                };
            }
            Some('\\') => {
                let (after_backslash, _) = take1(rest);
                match after_backslash.fragment().chars().next() {
                    None | Some('\n' | '\r') => {
                        return StrScan {
                            rest: after_backslash,
                            terminated: false,
                            bad_escapes,
                        };
                    }
                    Some(c) => {
                        if unescape_char(c).is_none() {
                            let start = rest.location_offset();
                            bad_escapes.push(Span::new(start, start + 1 + c.len_utf8()));
                        }
                        let (r, _) = take1(after_backslash);
                        rest = r;
                    }
                }
            }
            _ => {
                return StrScan {
                    rest,
                    terminated: false,
                    bad_escapes,
                };
            }
        }
    }
}

/// Consumes one character (the input must not be empty).
fn take1(i: Input<'_>) -> (Input<'_>, char) {
    let r: LexResult<'_, char> = nom::character::complete::anychar(i);
    match r {
        Ok((rest, c)) => (rest, c),
        Err(_) => (i, '\0'),
    }
}

/// The character an escape `\c` stands for, if `c` is a known escape.
pub(crate) fn unescape_char(c: char) -> Option<char> {
    Some(match c {
        '"' => '"',
        '\\' => '\\',
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        '0' => '\0',
        '\'' => '\'',
        _ => return None,
    })
}

/// The value of a terminated string literal (quotes included). Unknown escapes (already reported
/// by the lexer) are kept as written.
pub(crate) fn unescape(lit: &str) -> String {
    let inner = lit
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(lit);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e) => match unescape_char(e) {
                Some(v) => out.push(v),
                None => {
                    out.push('\\');
                    out.push(e);
                }
            },
            None => out.push('\\'),
        }
    }
    out
}

impl<'a> Lexer<'a> {
    /// A lexer over the whole `text`.
    pub fn new(file: FileId, text: &'a str) -> Self {
        Lexer {
            rest: Input::new(text),
            file,
            diags: Vec::new(),
            comments: None,
        }
    }

    /// A lexer over the whole `text` that records the comments it skips in
    /// [`Lexer::comments`] (the tokens are the same).
    pub fn with_comments(file: FileId, text: &'a str) -> Self {
        Lexer {
            comments: Some(Vec::new()),
            ..Lexer::new(file, text)
        }
    }

    fn record(&mut self, kind: CommentKind, start: usize) {
        let end = self.offset();
        if let Some(comments) = &mut self.comments {
            comments.push(Comment {
                kind,
                span: Span::new(start, end),
            });
        }
    }

    fn offset(&self) -> usize {
        self.rest.location_offset()
    }

    /// Skips trivia; returns (a newline or the start of input was crossed, any trivia was skipped).
    fn skip_trivia(&mut self) -> (bool, bool) {
        let at_start = self.offset() == 0;
        let mut line_start = at_start;
        let mut skipped = at_start;
        loop {
            let ws: LexResult<'_, Input<'_>> = multispace1(self.rest);
            if let Ok((r, w)) = ws {
                line_start |= w.fragment().contains('\n');
                skipped = true;
                self.rest = r;
                continue;
            }
            let frag = *self.rest.fragment();
            if frag.starts_with("//") {
                let start = self.offset();
                let r: LexResult<'_, Input<'_>> = take_till(|c| c == '\n').parse(self.rest);
                if let Ok((r, _)) = r {
                    self.rest = r;
                }
                self.record(CommentKind::Line, start);
                skipped = true;
                continue;
            }
            if frag.starts_with("/*") {
                skipped = true;
                let body: LexResult<'_, Input<'_>> =
                    preceded(tag("/*"), take_until("*/")).parse(self.rest);
                match body {
                    Ok((r, inner)) => {
                        let start = self.offset();
                        line_start |= inner.fragment().contains('\n');
                        let (r, _) = take1(r);
                        let (r, _) = take1(r);
                        self.rest = r;
                        self.record(CommentKind::Block, start);
                    }
                    Err(_) => {
                        let start = self.offset();
                        self.diags.push(
                            Diagnostic::error("unterminated block comment")
                                .with_code(codes::UNTERMINATED_COMMENT)
                                .with_primary(
                                    self.file,
                                    Span::new(start, start + 2),
                                    "comment starts here and is never closed",
                                )
                                .with_help("close the comment with `*/`"),
                        );
                        self.rest = self.rest.take_from(frag.len());
                    }
                }
                continue;
            }
            if line_start && frag.starts_with('#') {
                let r: LexResult<'_, Input<'_>> = take_till(|c| c == '\n').parse(self.rest);
                if let Ok((r, line)) = r {
                    let sp = span_of(&line);
                    let sp = Span::new(sp.start, sp.start + line.fragment().trim_end().len());
                    self.diags
                        .push(preprocessor_line(self.file, line.fragment(), sp));
                    self.rest = r;
                    self.record(CommentKind::Hash, sp.start);
                }
                skipped = true;
                continue;
            }
            return (line_start, skipped);
        }
    }

    /// The next token; [`Tok::Eof`] forever at the end.
    pub fn next_token(&mut self) -> Token {
        let (line_start, after_trivia) = self.skip_trivia();
        let start = self.offset();
        let frag = *self.rest.fragment();
        let Some(first) = frag.chars().next() else {
            return Token {
                kind: Tok::Eof,
                span: Span::new(start, start),
                line_start,
                terminal: true,
            };
        };
        let (kind, rest) = self.token(first, after_trivia);
        self.rest = rest;
        let end = self.offset();
        let terminal = kind == Tok::Dot && {
            let after = *self.rest.fragment();
            after.is_empty()
                || after.starts_with(char::is_whitespace)
                || after.starts_with("//")
                || after.starts_with("/*")
        };
        Token {
            kind,
            span: Span::new(start, end),
            line_start,
            terminal,
        }
    }

    fn token(&mut self, first: char, after_trivia: bool) -> (Tok, Input<'a>) {
        let i = self.rest;
        if (is_ident_start(first) || first == '$')
            && let Ok((r, _)) = ident(i)
        {
            return (Tok::Ident, r);
        }
        if first.is_ascii_digit() {
            if let Ok((r, _)) = ipv4(i) {
                return (Tok::Ipv4, r);
            }
            if let Ok((r, _)) = float(i) {
                return (Tok::Float, r);
            }
            if let Ok((r, _)) = number(i) {
                // `1u`: an unsigned literal, unless the `u` starts a longer word.
                let mut after = r.fragment().chars();
                if after.next() == Some('u')
                    && !after
                        .next()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return (Tok::Unsigned, r.take_from(1));
                }
                return (Tok::Number, r);
            }
        }
        if first == '"' {
            return self.string_token(i);
        }
        if first == '.'
            && after_trivia
            && let Ok((r, _)) = preceded(char('.'), word).parse(i)
        {
            return (Tok::Directive, r);
        }
        if let Some((kind, len)) = punct(first, i.fragment()) {
            return (kind, i.take_from(len));
        }
        // Nothing matched: swallow the run of characters that start no token.
        let run: LexResult<'_, Input<'_>> =
            take_while1(|c: char| !starts_token(c) && !c.is_whitespace()).parse(i);
        let (r, bad) = match run {
            Ok(ok) => ok,
            Err(_) => {
                // A token-start character that formed no token (a lone `$`).
                let (r, _) = take1(i);
                let len = i.fragment().len() - r.fragment().len();
                (r, i.take(len))
            }
        };
        let text = *bad.fragment();
        let what = if text.chars().count() == 1 {
            format!("unexpected character `{text}`")
        } else {
            format!("unexpected characters `{text}`")
        };
        self.diags.push(
            Diagnostic::error(what)
                .with_code(codes::UNEXPECTED)
                .with_primary(self.file, span_of(&bad), "not part of any token"),
        );
        (Tok::Unknown, r)
    }

    fn string_token(&mut self, i: Input<'a>) -> (Tok, Input<'a>) {
        let scan = string(i);
        for sp in &scan.bad_escapes {
            self.diags.push(
                Diagnostic::error("unknown escape sequence in string literal")
                    .with_code(codes::BAD_ESCAPE)
                    .with_primary(self.file, *sp, "unknown escape")
                    .with_help(r#"the escapes are \" \\ \n \t \r \0 \'"#),
            );
        }
        if scan.terminated {
            return (Tok::Str, scan.rest);
        }
        let start = i.location_offset();
        self.diags.push(
            Diagnostic::error("unterminated string literal")
                .with_code(codes::UNTERMINATED_STRING)
                .with_primary(
                    self.file,
                    Span::new(start, start + 1),
                    "string starts here and is not closed on this line",
                )
                .with_help("close the string with `\"`; strings cannot span lines"),
        );
        (Tok::BadStr, scan.rest)
    }
}

/// The diagnostic for a `#` line: a line marker left by the C preprocessor (`# 12 "file.dl"`,
/// `#line 12`) changes nothing and is skipped with a warning; any other preprocessor directive
/// (`#include`, `#define`, `#ifdef`, ...) would change the program, so it is an error here: the
/// text reaching the parser has been through [`crate::preprocess`] when it came from a command
/// that preprocesses, and only the formatter reads a file unexpanded (and keeps these lines).
fn preprocessor_line(file: FileId, line: &str, sp: Span) -> Diagnostic {
    let rest = line.get(1..).unwrap_or("").trim_start();
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let marker = word == "line" || word.chars().next().is_some_and(|c| c.is_ascii_digit());
    if marker {
        return Diagnostic::warning("preprocessor line marker ignored")
            .with_code(codes::PREPROCESSOR_LINE)
            .with_primary(file, sp, "skipped");
    }
    let shown = if word.is_empty() {
        "#".to_string()
    } else {
        format!("#{word}")
    };
    Diagnostic::error(format!("preprocessor directive `{shown}` is not supported"))
        .with_code(codes::UNSUPPORTED)
        .with_primary(file, sp, "this text was not preprocessed")
        .with_help(
            "`calm run`, `check`, `node`, `sim` and `graph` run calm's preprocessor on the file \
             first; a program compiled from text by the library has no files to include",
        )
}
