//! The parser: a nom-based lexer ([`lexer`]) feeding a hand-written recursive-descent parser with
//! error recovery, in the style of rust-analyzer: parsing never fails.
//!
//! On a syntax error the parser reports a [`Diagnostic`], drops the item it was reading and skips
//! to the end of it (for a clause, the next `.` followed by whitespace, a comment or the end of
//! input; for a declaration or directive, the next directive or the next line starting with an
//! identifier), then goes on with the next item. The [`Program`](ast::Program) holds only the items
//! that parsed without error.
//!
//! Error codes:
//!
//! | code    | meaning |
//! |---------|---------|
//! | `E0001` | unexpected token / character, expected something else |
//! | `E0002` | unterminated string literal |
//! | `E0003` | unterminated block comment |
//! | `E0004` | integer literal out of the 64-bit range |
//! | `E0005` | unsupported Souffle construct (records, floats, choice domains, `;` in an aggregate, ...) |
//! | `E0006` | nesting too deep, expression too large, a clause whose disjunctions expand to too many rules |
//! | `E0007` | unknown directive `.xxx` |
//! | `E0008` | not a fact (only in [`parse_facts`]) |
//! | `E0009` | unknown escape sequence in a string literal |
//! | `E0010` | source text larger than [`MAX_SOURCE_LEN`] |
//! | `W0001` | warning: `#` line marker (`# 12 "file.dl"`) skipped; other `#` lines are `E0005` (they only reach the parser when the text was not preprocessed, see [`crate::preprocess`]) |
//! | `W0002` | warning: Souffle data-structure qualifiers (`brie`, `btree`, ...) ignored |
//! | `E0020`–`E0026` | components (see [`crate::components`]): unknown component, wrong number of type parameters, inheritance cycle, bad `.override`, redefinition or name clash, expansion limit, misplaced component syntax |
//! | `E0027` | a `.pragma` that would change what the program computes |
//! | `W0027` | warning: a `.pragma` that cannot change a result, ignored |
//! | `E0028` | a choice domain names a column its relation does not have (choice domains themselves are `E0005`) |

mod expr;
mod facts;
mod formula;
mod items;
pub(crate) mod lexer;

use std::collections::VecDeque;

use crate::{Diagnostic, FileId, Span, ast};
use lexer::{Lexer, Tok, Token};

/// Largest program text accepted, in bytes.
pub const MAX_SOURCE_LEN: usize = 64 << 20;

/// The diagnostic codes of the parser.
pub(crate) mod codes {
    /// Unexpected token or character.
    pub const UNEXPECTED: &str = "E0001";
    /// Unterminated string literal.
    pub const UNTERMINATED_STRING: &str = "E0002";
    /// Unterminated block comment.
    pub const UNTERMINATED_COMMENT: &str = "E0003";
    /// Integer literal out of range.
    pub const INT_OVERFLOW: &str = "E0004";
    /// Unsupported construct.
    pub const UNSUPPORTED: &str = "E0005";
    /// Nesting too deep.
    pub const TOO_DEEP: &str = "E0006";
    /// Unknown directive.
    pub const UNKNOWN_DIRECTIVE: &str = "E0007";
    /// Not a fact (`parse_facts`).
    pub const NOT_A_FACT: &str = "E0008";
    /// Unknown escape sequence.
    pub const BAD_ESCAPE: &str = "E0009";
    /// Source too large.
    pub const TOO_LARGE: &str = "E0010";
    /// Preprocessor line skipped (warning).
    pub const PREPROCESSOR_LINE: &str = "W0001";
    /// Souffle relation qualifier ignored (warning).
    pub const IGNORED_QUALIFIER: &str = "W0002";
    /// A choice domain names a column the relation does not have.
    pub const UNKNOWN_COLUMN: &str = "E0028";
}

/// The result of parsing: the tree and the problems found.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    /// Everything that could be parsed.
    pub program: ast::Program,
    /// Syntax errors, each with a span in `file`.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses a whole program.
///
/// Never fails and never panics: problems are reported in [`Parsed::diagnostics`] (sorted by
/// position) and the items that contain them are left out of the program.
pub fn parse(file: FileId, text: &str) -> Parsed {
    if text.len() > MAX_SOURCE_LEN {
        let mut d = Diagnostic::error(format!(
            "source text is too large: {} bytes, the limit is {} bytes",
            text.len(),
            MAX_SOURCE_LEN
        ))
        .with_code(codes::TOO_LARGE)
        .with_help("split the program or load large fact sets with `.input`");
        // Point at the file, unless its first line is too long to print.
        if text.find('\n').unwrap_or(text.len()) <= 200 {
            d = d.with_primary(file, Span::new(0, 0), "in this file");
        }
        return Parsed {
            program: ast::Program::default(),
            diagnostics: vec![d],
        };
    }
    let mut parser = Parser::new(file, text);
    let units = parser.program();
    let mut diagnostics = parser.finish();
    let (program, more) = crate::components::expand(file, units);
    if !more.is_empty() {
        diagnostics.extend(more);
        sort_diagnostics(&mut diagnostics);
    }
    Parsed {
        program,
        diagnostics,
    }
}

/// Parses text that must hold only facts (`p(1, "a"). q().`), as sent by clients.
///
/// Every item that is not a fact whose arguments are constants (numbers, strings, negated numbers)
/// is reported as "expected a fact" (`E0008`) and dropped.
pub fn parse_facts(file: FileId, text: &str) -> Parsed {
    let mut parsed = parse(file, text);
    facts::keep_only_facts(file, &mut parsed);
    parsed
}

/// Marker: an error was reported; the current item is abandoned.
#[derive(Debug)]
pub(crate) struct Reported;

/// The result of a parsing function.
pub(crate) type PResult<T> = Result<T, Reported>;

/// Parser state.
pub(crate) struct Parser<'a> {
    text: &'a str,
    file: FileId,
    lexer: Lexer<'a>,
    /// Tokens looked at but not consumed.
    ahead: VecDeque<Token>,
    /// End of the last consumed token.
    last_end: usize,
    diags: Vec<Diagnostic>,
    /// Current nesting of parentheses, aggregates and unary minus.
    depth: u32,
    /// A recoverable error (integer overflow) was reported in the current item: drop the item.
    item_error: bool,
    /// How many component bodies (`.comp X { ... }`) the parser is in.
    comp_depth: u32,
}

impl<'a> Parser<'a> {
    fn new(file: FileId, text: &'a str) -> Self {
        Parser {
            text,
            file,
            lexer: Lexer::new(file, text),
            ahead: VecDeque::new(),
            last_end: 0,
            diags: Vec::new(),
            depth: 0,
            item_error: false,
            comp_depth: 0,
        }
    }

    /// All diagnostics (lexer's and parser's), sorted by position.
    fn finish(self) -> Vec<Diagnostic> {
        let mut all = self.lexer.diags;
        all.extend(self.diags);
        sort_diagnostics(&mut all);
        all
    }

    /// The `n`th token ahead (0 = the next one).
    fn nth(&mut self, n: usize) -> Token {
        while self.ahead.len() <= n {
            let t = self.lexer.next_token();
            self.ahead.push_back(t);
        }
        self.ahead[n]
    }

    /// The next token.
    fn peek(&mut self) -> Token {
        self.nth(0)
    }

    /// Consumes the next token (never consumes the end of input).
    fn bump(&mut self) -> Token {
        let t = self.peek();
        if t.kind != Tok::Eof {
            self.ahead.pop_front();
            self.last_end = t.span.end;
        }
        t
    }

    fn at(&mut self, kind: Tok) -> bool {
        self.peek().kind == kind
    }

    /// The text of a token.
    fn text(&self, t: Token) -> &'a str {
        self.text.get(t.span.start..t.span.end).unwrap_or("")
    }

    /// How a token is named in "found ..." messages.
    fn describe(&self, t: Token) -> String {
        match t.kind {
            Tok::Eof => "end of input".to_string(),
            Tok::Str | Tok::BadStr => "a string literal".to_string(),
            _ => {
                let text = self.text(t);
                if text.chars().count() > 32 {
                    let short: String = text.chars().take(32).collect();
                    format!("`{short}...`")
                } else {
                    format!("`{text}`")
                }
            }
        }
    }

    /// Reports a diagnostic and returns the marker to abandon the item.
    fn report(&mut self, d: Diagnostic) -> Reported {
        self.diags.push(d);
        Reported
    }

    /// The span to point at for a token: for the end of input, just after the last token.
    fn point_at(&self, t: Token) -> Span {
        if t.kind == Tok::Eof {
            Span::new(self.last_end, self.last_end)
        } else {
            t.span
        }
    }

    /// Reports "expected {what}{after}, found {t}" unless `t` was already reported by the lexer.
    /// A `;` (outside a rule body, where it is disjunction) is reported as unsupported.
    fn expected(&mut self, t: Token, what: &str, after: &str) -> Reported {
        self.expected_with_help(t, what, after, None)
    }

    fn expected_with_help(
        &mut self,
        t: Token,
        what: &str,
        after: &str,
        help: Option<&str>,
    ) -> Reported {
        match t.kind {
            Tok::Unknown | Tok::BadStr => return Reported,
            Tok::Semi => {
                let d = Diagnostic::error("disjunction `;` is only supported in a rule body")
                    .with_code(codes::UNSUPPORTED)
                    .with_primary(self.file, t.span, "disjunction")
                    .with_help(
                        "in an aggregate, aggregate over a relation defined by one rule per \
                         alternative",
                    );
                return self.report(d);
            }
            _ => {}
        }
        let found = self.describe(t);
        let mut d = Diagnostic::error(format!("expected {what}{after}, found {found}"))
            .with_code(codes::UNEXPECTED)
            .with_primary(self.file, self.point_at(t), format!("expected {what}"));
        if let Some(help) = help {
            d = d.with_help(help);
        }
        self.report(d)
    }

    /// Consumes a token of `kind` or reports "expected {what}{after}".
    fn expect(&mut self, kind: Tok, what: &str, after: &str) -> PResult<Token> {
        let t = self.peek();
        if t.kind == kind {
            Ok(self.bump())
        } else {
            Err(self.expected(t, what, after))
        }
    }

    /// Skips the rest of a clause: up to and including the next `.` followed by whitespace, a
    /// comment or the end of input; stops before a directive.
    /// In a component body, also stops before a `}` that closes no `{` skipped here.
    fn recover_clause(&mut self) {
        let mut braces = 0u32;
        loop {
            let t = self.peek();
            match t.kind {
                Tok::Eof | Tok::Directive => return,
                Tok::Dot if t.terminal => {
                    self.bump();
                    return;
                }
                Tok::RBrace if braces == 0 && self.comp_depth > 0 => return,
                Tok::LBrace => braces += 1,
                Tok::RBrace => braces = braces.saturating_sub(1),
                _ => {}
            }
            self.bump();
        }
    }

    /// Skips the rest of a declaration or directive (which have no terminator): up to the next
    /// directive or the next line that starts with an identifier, outside braces. In a
    /// component body, also stops before a `}` that closes no `{` skipped here.
    fn recover_line_item(&mut self) {
        let mut braces = 0u32;
        loop {
            let t = self.peek();
            match t.kind {
                Tok::Eof => return,
                Tok::RBrace if braces == 0 && self.comp_depth > 0 => return,
                Tok::Directive | Tok::Ident if braces == 0 && t.line_start => return,
                Tok::Directive if braces == 0 => return,
                Tok::LBrace => braces += 1,
                Tok::RBrace => braces = braces.saturating_sub(1),
                _ => {}
            }
            self.bump();
        }
    }
}

/// Sorts diagnostics by the start of their primary label (stable, so same-position ones keep their
/// order; those without a label go first).
pub(crate) fn sort_diagnostics(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| d.primary.as_ref().map(|l| l.span.start));
}

#[cfg(test)]
mod tests {
    use super::lexer::{Lexer, Tok, unescape};
    use crate::FileId;

    fn kinds(text: &str) -> Vec<Tok> {
        let mut lx = Lexer::new(FileId(0), text);
        let mut out = Vec::new();
        loop {
            let t = lx.next_token();
            if t.kind == Tok::Eof {
                return out;
            }
            out.push(t.kind);
        }
    }

    #[test]
    fn lexes_qualified_names_directives_and_dots() {
        use Tok::*;
        assert_eq!(
            kinds(".decl a.b(x: number)"),
            [Directive, Ident, LParen, Ident, Colon, Ident, RParen]
        );
        assert_eq!(
            kinds("p(1).q(2)."),
            [
                Ident, LParen, Number, RParen, Dot, Ident, LParen, Number, RParen, Dot
            ]
        );
        assert_eq!(kinds("x = 1.5"), [Ident, Eq, Float]);
        assert_eq!(
            kinds("2.5e-3 1.0E7 1u 0xffu 0b1u 10.0.0.1 2.x 7units"),
            [
                Float, Float, Unsigned, Unsigned, Unsigned, Ipv4, Number, Dot, Ident, Number, Ident
            ]
        );
        assert_eq!(
            kinds("$self 0x1F 0b101 :- : != ! <= >= < >"),
            [
                Ident, Number, Number, ColonDash, Colon, Ne, Bang, Le, Ge, Lt, Gt
            ]
        );
    }

    #[test]
    fn terminal_dots() {
        let mut lx = Lexer::new(FileId(0), "a.\nb.c .//x\n.");
        let mut terminal = Vec::new();
        loop {
            let t = lx.next_token();
            if t.kind == Tok::Eof {
                break;
            }
            if t.kind == Tok::Dot {
                terminal.push(t.terminal);
            }
        }
        assert_eq!(terminal, [true, true, true]);
    }

    #[test]
    fn unescapes() {
        assert_eq!(unescape(r#""a\"b\\c\n\t\r\0\'""#), "a\"b\\c\n\t\r\0'");
        assert_eq!(unescape(r#""\q""#), "\\q");
    }
}
