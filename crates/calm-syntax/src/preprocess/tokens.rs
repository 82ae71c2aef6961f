//! The preprocessor's tokens: identifiers, numbers, strings, punctuation and blanks (white space,
//! comments and line continuations), as byte ranges of a text or as owned text.

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// `[A-Za-z_][A-Za-z0-9_]*`.
    Ident,
    /// A digit followed by letters, digits, `_` and `.` (a C "preprocessing number").
    Number,
    /// A string literal, quotes included (possibly unterminated at the end of its line).
    Str,
    /// One punctuation character, or one of `## == != <= >= && || << >>`.
    Punct,
    /// White space, comments and line continuations.
    Space,
}

/// A token as a byte range of the text it was read from.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tok {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// A token with its own text (macro bodies, arguments, expansions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PTok {
    pub kind: Kind,
    pub text: String,
}

impl PTok {
    pub fn new(kind: Kind, text: impl Into<String>) -> PTok {
        PTok {
            kind,
            text: text.into(),
        }
    }

    pub fn space() -> PTok {
        PTok::new(Kind::Space, " ")
    }

    pub fn is(&self, kind: Kind, text: &str) -> bool {
        self.kind == kind && self.text == text
    }
}

const TWO_CHAR: [&str; 9] = ["##", "==", "!=", "<=", ">=", "&&", "||", "<<", ">>"];

pub(super) fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

pub(super) fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits `text[start..end]` into tokens. A block comment that does not end before `end`
/// runs to `end`; a string that does not end on its line runs to the end of the line.
pub(super) fn tokenize(text: &str, start: usize, end: usize) -> Vec<Tok> {
    let bytes = text.as_bytes();
    let mut toks = Vec::new();
    let mut i = start;
    while i < end {
        let c = bytes[i];
        let from = i;
        let kind = if c == b'/' && bytes.get(i + 1) == Some(&b'/') && i + 1 < end {
            while i < end && bytes[i] != b'\n' {
                i += 1;
            }
            Kind::Space
        } else if c == b'/' && bytes.get(i + 1) == Some(&b'*') && i + 1 < end {
            i += 2;
            while i < end && !(bytes[i] == b'*' && i + 1 < end && bytes[i + 1] == b'/') {
                i += 1;
            }
            i = (i + 2).min(end);
            Kind::Space
        } else if c == b'\\'
            && (text[i + 1..end].starts_with('\n') || text[i + 1..end].starts_with("\r\n"))
        {
            i += if bytes[i + 1] == b'\r' { 3 } else { 2 };
            Kind::Space
        } else if c.is_ascii_whitespace() {
            while i < end && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            Kind::Space
        } else if c == b'"' {
            i += 1;
            while i < end && bytes[i] != b'"' && bytes[i] != b'\n' {
                if bytes[i] == b'\\' && i + 1 < end && bytes[i + 1] != b'\n' {
                    i += 1;
                }
                i += 1;
            }
            if i < end && bytes[i] == b'"' {
                i += 1;
            }
            Kind::Str
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < end && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            Kind::Ident
        } else if c.is_ascii_digit() {
            while i < end
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
            {
                i += 1;
            }
            Kind::Number
        } else {
            let two = text.get(i..(i + 2).min(end)).unwrap_or("");
            if TWO_CHAR.contains(&two) {
                i += 2;
            } else {
                // One character (a whole UTF-8 sequence).
                i += text[i..].chars().next().map_or(1, char::len_utf8);
            }
            Kind::Punct
        };
        toks.push(Tok {
            kind,
            start: from,
            end: i.min(end),
        });
    }
    toks
}

/// The tokens of `text[start..end]` with their own text; blanks become one space.
pub(super) fn owned(text: &str, toks: &[Tok]) -> Vec<PTok> {
    toks.iter()
        .map(|t| match t.kind {
            Kind::Space => PTok::space(),
            k => PTok::new(k, &text[t.start..t.end]),
        })
        .collect()
}

/// The text of tokens, with a space wherever two words would otherwise run together.
pub(super) fn render(toks: &[PTok]) -> String {
    let mut out = String::new();
    for t in toks {
        if t.kind == Kind::Space {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
            continue;
        }
        if let (Some(a), Some(b)) = (out.chars().last(), t.text.chars().next())
            && is_ident_char(a)
            && is_ident_char(b)
        {
            out.push(' ');
        }
        out.push_str(&t.text);
    }
    out
}

/// Whether a line (without its newline) ends inside a block comment, given whether it starts in
/// one. Strings and `//` comments are skipped.
pub(super) fn ends_in_comment(line: &str, mut in_comment: bool) -> bool {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if in_comment {
            if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                in_comment = false;
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => return false,
            b'/' if b.get(i + 1) == Some(&b'*') => {
                in_comment = true;
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    in_comment
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        tokenize(text, 0, text.len())
            .iter()
            .map(|t| (t.kind, &text[t.start..t.end]))
            .collect()
    }

    #[test]
    fn splits_words_strings_comments_and_continuations() {
        assert_eq!(
            kinds("a_1 \"x\\\"y\"/*c*/##7u\\\n."),
            vec![
                (Kind::Ident, "a_1"),
                (Kind::Space, " "),
                (Kind::Str, "\"x\\\"y\""),
                (Kind::Space, "/*c*/"),
                (Kind::Punct, "##"),
                (Kind::Number, "7u"),
                (Kind::Space, "\\\n"),
                (Kind::Punct, "."),
            ]
        );
        // Unterminated strings and comments end at the line and at the text's end.
        assert_eq!(
            kinds("\"ab\nc"),
            vec![(Kind::Str, "\"ab"), (Kind::Space, "\n"), (Kind::Ident, "c")]
        );
        assert_eq!(kinds("/* x"), vec![(Kind::Space, "/* x")]);
        assert_eq!(kinds("é"), vec![(Kind::Punct, "é")]);
    }

    #[test]
    fn renders_with_spaces_only_where_words_meet() {
        let toks = vec![
            PTok::new(Kind::Ident, "a"),
            PTok::new(Kind::Ident, "b"),
            PTok::new(Kind::Punct, "("),
            PTok::space(),
            PTok::space(),
            PTok::new(Kind::Number, "1"),
        ];
        assert_eq!(render(&toks), "a b( 1");
    }

    #[test]
    fn tracks_block_comments_across_lines() {
        assert!(ends_in_comment("p(1). /* start", false));
        assert!(!ends_in_comment("end */ q(2).", true));
        assert!(!ends_in_comment("\"/*\" // /*", false));
        assert!(ends_in_comment("still inside", true));
    }
}
