//! The tokens of a source text and its comments, each comment attached to a token: the comments
//! on lines of their own before a token lead it; a comment after a token on its line trails it.

use crate::FileId;
use crate::parser::lexer::{Comment, CommentKind, Lexer, Tok, Token};

/// Where a trailing comment goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trail {
    /// The line goes on after it (`p(x /* the key */, y)`): printed in place.
    Inline,
    /// It ends its line: printed at the end of the line its token ends up on.
    EndOfLine,
}

/// The tokens and comments of a text.
pub(crate) struct Source<'a> {
    /// The text.
    pub text: &'a str,
    /// Its tokens, without the end of input.
    pub toks: Vec<Token>,
    /// Its comments, in order.
    pub comments: Vec<Comment>,
    /// For each token, the comments on lines of their own just before it.
    pub leading: Vec<Vec<usize>>,
    /// For each token, the comments after it on its line.
    pub trailing: Vec<Vec<(usize, Trail)>>,
    /// The comments on lines of their own after the last token.
    pub end: Vec<usize>,
    /// For each token, whether a blank line separates it from what comes before it.
    pub tok_blank: Vec<bool>,
    /// For each comment, whether a blank line separates it from what comes before it.
    pub comment_blank: Vec<bool>,
}

/// The tokens of `text` and its comments (in order).
pub(crate) fn lex(text: &str) -> (Vec<Token>, Vec<Comment>) {
    let mut lexer = Lexer::with_comments(FileId(0), text);
    let mut toks = Vec::new();
    loop {
        let t = lexer.next_token();
        if t.kind == Tok::Eof {
            break;
        }
        toks.push(t);
    }
    (toks, lexer.comments.unwrap_or_default())
}

/// A comment's text as printed: line comments and `#` lines without trailing whitespace.
pub(crate) fn comment_text<'t>(text: &'t str, c: &Comment) -> &'t str {
    let s = text.get(c.span.start..c.span.end).unwrap_or("");
    match c.kind {
        CommentKind::Block => s,
        CommentKind::Line | CommentKind::Hash => s.trim_end(),
    }
}

fn newlines(text: &str, from: usize, to: usize) -> usize {
    text.get(from..to).map_or(0, |s| s.matches('\n').count())
}

impl<'a> Source<'a> {
    /// Lexes `text` (which must lex without errors) and attaches its comments.
    pub fn new(text: &'a str) -> Self {
        let (toks, comments) = lex(text);
        let mut src = Source {
            text,
            leading: vec![Vec::new(); toks.len()],
            trailing: vec![Vec::new(); toks.len()],
            tok_blank: vec![false; toks.len()],
            comment_blank: vec![false; comments.len()],
            end: Vec::new(),
            toks,
            comments,
        };
        src.attach();
        src.move_off_separators();
        src
    }

    /// Moves comments off `,` and `.` where they would print badly: a comment ending the line
    /// before a `,` or a `.` goes after it (`x, // c`), comments on lines of their own before one
    /// go before the token after it.
    fn move_off_separators(&mut self) {
        for i in 0..self.toks.len() {
            let sep = matches!(self.toks[i].kind, Tok::Comma | Tok::Dot);
            if !sep {
                continue;
            }
            if i > 0
                && self.trailing[i].is_empty()
                && self.leading[i].is_empty()
                && !self.trailing[i - 1].is_empty()
                && self.trailing[i - 1]
                    .iter()
                    .all(|&(_, how)| how == Trail::EndOfLine)
            {
                self.trailing[i] = std::mem::take(&mut self.trailing[i - 1]);
            }
            if !self.leading[i].is_empty() {
                let mut moved = std::mem::take(&mut self.leading[i]);
                match self.leading.get_mut(i + 1) {
                    Some(next) => {
                        moved.append(next);
                        *next = moved;
                    }
                    None => {
                        moved.append(&mut self.end);
                        self.end = moved;
                    }
                }
            }
        }
    }

    fn attach(&mut self) {
        let text = self.text;
        // Walk tokens and comments together, in order of position.
        let (mut t, mut c) = (0, 0);
        // End of the previous token or comment, and the previous token.
        let mut prev_end: Option<usize> = None;
        let mut prev_tok: Option<usize> = None;
        while t < self.toks.len() || c < self.comments.len() {
            let tok_first = match (self.toks.get(t), self.comments.get(c)) {
                (Some(tok), Some(com)) => tok.span.start < com.span.start,
                (Some(_), None) => true,
                _ => false,
            };
            if tok_first {
                let start = self.toks[t].span.start;
                self.tok_blank[t] = newlines(text, prev_end.unwrap_or(0), start) >= 2;
                prev_end = Some(self.toks[t].span.end);
                prev_tok = Some(t);
                t += 1;
                continue;
            }
            let com = self.comments[c];
            let before = prev_end.map_or(1, |e| newlines(text, e, com.span.start));
            self.comment_blank[c] = prev_end.is_some() && before >= 2;
            let next_start = match (self.toks.get(t), self.comments.get(c + 1)) {
                (Some(tok), Some(n)) => Some(tok.span.start.min(n.span.start)),
                (Some(tok), None) => Some(tok.span.start),
                (None, Some(n)) => Some(n.span.start),
                (None, None) => None,
            };
            let after = next_start.map_or(1, |s| newlines(text, com.span.end, s));
            match prev_tok {
                Some(p) if before == 0 && com.kind != CommentKind::Hash => {
                    let how = if after > 0 || com.kind == CommentKind::Line {
                        Trail::EndOfLine
                    } else {
                        Trail::Inline
                    };
                    self.trailing[p].push((c, how));
                }
                _ => match self.leading.get_mut(t) {
                    Some(lead) => lead.push(c),
                    None => self.end.push(c),
                },
            }
            prev_end = Some(com.span.end);
            c += 1;
        }
    }

    /// The text of token `i`.
    pub fn tok_text(&self, i: usize) -> &'a str {
        let text = self.text;
        self.toks
            .get(i)
            .and_then(|t| text.get(t.span.start..t.span.end))
            .unwrap_or("")
    }
}
