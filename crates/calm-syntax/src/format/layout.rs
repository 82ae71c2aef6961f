//! The canonical layout: a [`Doc`] for the tokens and comments of a program.
//!
//! The layout works on the token stream of a program that parsed without errors, grouped by
//! brackets, and reads the structure the parser reads (items, heads, bodies, literals,
//! directives) only to choose where spaces and line breaks go: every token is printed as written,
//! once, in order.

use super::FormatError;
use super::doc::Doc;
use super::trivia::{Source, Trail, comment_text};
use crate::Span;
use crate::ast::BinOp;
use crate::parser::lexer::Tok;

/// Indentation of a rule's body, a declaration's broken columns and a component's items.
const INDENT: isize = 4;

/// The Souffle qualifiers the parser reads after a declaration's columns.
const QUALIFIERS: &[&str] = &[
    "eqrel",
    "input",
    "output",
    "printsize",
    "overridable",
    "brie",
    "btree",
    "btree_delete",
    "inline",
    "no_inline",
    "magic",
    "no_magic",
];

type R<T> = Result<T, FormatError>;

/// What an element of an expression does to the spacing around it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A value: a variable, a literal, a bracket, a call.
    Operand,
    /// An infix operator (spaces on both sides).
    Infix,
    /// `-x`, `!p`, `@n`: no space after.
    Prefix,
    /// `bnot x`, `lnot x`.
    WordPrefix,
}

pub(crate) struct Layout<'a> {
    src: Source<'a>,
    /// For each opening bracket, the index of its closing bracket.
    close: Vec<usize>,
}

fn concat(parts: Vec<Doc>) -> Doc {
    Doc::Concat(parts)
}

fn sp() -> Doc {
    Doc::text(" ")
}

impl<'a> Layout<'a> {
    /// The layout of `src`, whose brackets must balance.
    pub fn new(src: Source<'a>) -> R<Self> {
        let mut close = vec![usize::MAX; src.toks.len()];
        let mut open: Vec<usize> = Vec::new();
        for (i, t) in src.toks.iter().enumerate() {
            match t.kind {
                Tok::LParen | Tok::LBracket | Tok::LBrace => open.push(i),
                Tok::RParen | Tok::RBracket | Tok::RBrace => {
                    let Some(o) = open.pop() else {
                        return Err(unformattable(t.span, "unbalanced brackets"));
                    };
                    close[o] = i;
                }
                _ => {}
            }
        }
        if let Some(&o) = open.last() {
            return Err(unformattable(src.toks[o].span, "unbalanced brackets"));
        }
        Ok(Layout { src, close })
    }

    /// The whole program.
    pub fn program(&mut self) -> R<Doc> {
        let end = std::mem::take(&mut self.src.end);
        self.block(0, self.src.toks.len(), end)
    }

    fn kind(&self, i: usize) -> Option<Tok> {
        self.src.toks.get(i).map(|t| t.kind)
    }

    fn text(&self, i: usize) -> &'a str {
        self.src.tok_text(i)
    }

    fn span(&self, i: usize) -> Span {
        self.src
            .toks
            .get(i)
            .or(self.src.toks.last())
            .map_or(Span::new(0, 0), |t| t.span)
    }

    fn comment(&self, c: usize) -> String {
        self.src.comments.get(c).map_or_else(String::new, |com| {
            comment_text(self.src.text, com).to_string()
        })
    }

    /// Token `i` with its comments.
    fn tok(&mut self, i: usize) -> Doc {
        if self.src.leading[i].is_empty() && self.src.trailing[i].is_empty() {
            return Doc::text(self.text(i));
        }
        let mut parts = Vec::new();
        for c in std::mem::take(&mut self.src.leading[i]) {
            parts.push(Doc::FreshLine);
            parts.push(Doc::text(self.comment(c)));
            parts.push(Doc::HardLine);
        }
        parts.push(Doc::text(self.text(i)));
        for (c, how) in std::mem::take(&mut self.src.trailing[i]) {
            let text = self.comment(c);
            let multiline = text.contains('\n');
            match how {
                Trail::Inline => parts.push(Doc::text(format!(" {text}"))),
                Trail::EndOfLine => parts.push(Doc::EndOfLine(format!(" {text}"))),
            }
            if how == Trail::EndOfLine || multiline {
                parts.push(Doc::BreakParent);
            }
        }
        concat(parts)
    }

    /// Checks that token `i` (before `end`) is a `kind`.
    fn expect(&self, i: usize, end: usize, kind: Tok, what: &str) -> R<()> {
        if i < end && self.kind(i) == Some(kind) {
            Ok(())
        } else {
            Err(unformattable(self.span(i), &format!("expected {what}")))
        }
    }

    /// The index after the element starting at `i`: a token or a bracketed group.
    fn next(&self, i: usize) -> usize {
        match self.close.get(i) {
            Some(&c) if c != usize::MAX => c + 1,
            _ => i + 1,
        }
    }

    fn is_open(&self, i: usize) -> bool {
        self.close.get(i).is_some_and(|&c| c != usize::MAX)
    }

    /// The elements (tokens and bracketed groups) from `a` to `b`.
    fn elems(&self, a: usize, b: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut i = a;
        while i < b {
            out.push(i);
            i = self.next(i);
        }
        out
    }

    /// The first top-level `kind` token in `a..b`.
    fn find(&self, a: usize, b: usize, kind: Tok) -> Option<usize> {
        let mut i = a;
        while i < b {
            if self.kind(i) == Some(kind) {
                return Some(i);
            }
            i = self.next(i);
        }
        None
    }

    /// The parts of `a..b` between top-level `sep` tokens, and the separators.
    fn split(&self, a: usize, b: usize, sep: Tok) -> (Vec<(usize, usize)>, Vec<usize>) {
        let mut parts = Vec::new();
        let mut seps = Vec::new();
        let mut start = a;
        for e in self.elems(a, b) {
            if self.kind(e) == Some(sep) {
                parts.push((start, e));
                seps.push(e);
                start = e + 1;
            }
        }
        parts.push((start, b));
        (parts, seps)
    }

    /// Items from `a` to `b` (a program or a component's body) on lines of their own, then the
    /// comments `end` after the last one. Blank lines between items are kept (one at most).
    fn block(&mut self, a: usize, b: usize, end: Vec<usize>) -> R<Doc> {
        let mut parts = Vec::new();
        let mut started = false;
        let mut line = |parts: &mut Vec<Doc>, blank: bool| {
            if started {
                parts.push(Doc::HardLine);
                if blank {
                    parts.push(Doc::HardLine);
                }
            }
            started = true;
        };
        let mut i = a;
        while i < b {
            for c in std::mem::take(&mut self.src.leading[i]) {
                line(&mut parts, self.src.comment_blank[c]);
                parts.push(Doc::text(self.comment(c)));
            }
            line(&mut parts, self.src.tok_blank[i]);
            let (doc, next) = self.item(i, b)?;
            parts.push(doc);
            i = next;
        }
        for c in end {
            line(&mut parts, self.src.comment_blank[c]);
            parts.push(Doc::text(self.comment(c)));
        }
        Ok(concat(parts))
    }

    /// The item starting at `i` (before `b`) and the index after it.
    fn item(&mut self, i: usize, b: usize) -> R<(Doc, usize)> {
        match self.kind(i) {
            Some(Tok::Directive) => self.directive(i, b),
            Some(Tok::Ident) => {
                let Some(dot) = self.find(i, b, Tok::Dot) else {
                    return Err(unformattable(
                        self.span(i),
                        "a clause without its final `.`",
                    ));
                };
                Ok((self.clause(i, dot)?, dot + 1))
            }
            _ => Err(unformattable(self.span(i), "expected an item")),
        }
    }

    // --- Clauses ---

    /// A fact or a rule from `a` to its final `.` at `dot`.
    fn clause(&mut self, a: usize, dot: usize) -> R<Doc> {
        let neck = self.find(a, dot, Tok::ColonDash);
        let (heads, commas) = self.split(a, neck.unwrap_or(dot), Tok::Comma);
        let mut hs = Vec::new();
        for (k, &(x, y)) in heads.iter().enumerate() {
            if k > 0 {
                hs.push(self.tok(commas[k - 1]));
                hs.push(Doc::Line);
            }
            hs.push(self.expr(x, y)?);
        }
        let heads = Doc::group(concat(hs));
        let Some(neck) = neck else {
            return Ok(concat(vec![heads, self.tok(dot)]));
        };
        let neck_doc = self.tok(neck);
        let body = self.formula(neck + 1, dot)?;
        Ok(concat(vec![
            Doc::group(concat(vec![
                heads,
                sp(),
                neck_doc,
                Doc::nest(INDENT, concat(vec![Doc::Line, body])),
            ])),
            self.tok(dot),
        ]))
    }

    /// A body: conjunctions (`,`) of literals, alternatives (`;`) of conjunctions.
    fn formula(&mut self, a: usize, b: usize) -> R<Doc> {
        let (alts, semis) = self.split(a, b, Tok::Semi);
        let mut parts = Vec::new();
        for (k, &(x, y)) in alts.iter().enumerate() {
            if k > 0 {
                let semi = self.tok(semis[k - 1]);
                parts.push(Doc::nest(-2, concat(vec![Doc::SoftLine, semi, sp()])));
            }
            let (lits, commas) = self.split(x, y, Tok::Comma);
            for (j, &(p, q)) in lits.iter().enumerate() {
                if j > 0 {
                    parts.push(self.tok(commas[j - 1]));
                    parts.push(Doc::Line);
                }
                parts.push(self.literal(p, q)?);
            }
        }
        Ok(concat(parts))
    }

    /// A body literal: an atom, a negation, a comparison, a group `( ... )`.
    fn literal(&mut self, a: usize, b: usize) -> R<Doc> {
        if a >= b {
            return Err(unformattable(self.span(a), "expected a literal"));
        }
        let mut parts = Vec::new();
        let mut k = a;
        while k < b && self.kind(k) == Some(Tok::Bang) {
            parts.push(self.tok(k));
            k += 1;
        }
        if k + 1 < b
            && self.kind(k) == Some(Tok::Ident)
            && self.text(k) == "not"
            && self.kind(k + 1) == Some(Tok::Ident)
        {
            parts.push(self.tok(k));
            parts.push(sp());
            k += 1;
        }
        if k < b && self.kind(k) == Some(Tok::LParen) && self.next(k) == b {
            parts.push(self.group_formula(k)?);
        } else {
            parts.push(self.expr(k, b)?);
        }
        Ok(concat(parts))
    }

    /// `( formula )` with the `(` at `open`.
    fn group_formula(&mut self, open: usize) -> R<Doc> {
        let close = self.close[open];
        if open + 1 == close {
            return Ok(concat(vec![self.tok(open), self.tok(close)]));
        }
        let o = self.tok(open);
        let inner = self.formula(open + 1, close)?;
        Ok(concat(vec![
            Doc::group(concat(vec![
                o,
                Doc::nest(INDENT, concat(vec![Doc::SoftLine, inner])),
                Doc::SoftLine,
            ])),
            self.tok(close),
        ]))
    }

    fn role(&self, e: usize, prev: Option<Role>, last: bool) -> Role {
        let after_operand = prev == Some(Role::Operand);
        match self.kind(e) {
            Some(Tok::Minus) if after_operand => Role::Infix,
            Some(Tok::Minus | Tok::Bang | Tok::At) => Role::Prefix,
            Some(
                Tok::Plus
                | Tok::Star
                | Tok::Slash
                | Tok::Percent
                | Tok::Caret
                | Tok::Eq
                | Tok::Ne
                | Tok::Lt
                | Tok::Le
                | Tok::Gt
                | Tok::Ge
                | Tok::Colon,
            ) => Role::Infix,
            Some(Tok::Ident) => {
                let t = self.text(e);
                if after_operand && BinOp::word(t).is_some() {
                    Role::Infix
                } else if matches!(t, "bnot" | "lnot") && !after_operand && !last {
                    Role::WordPrefix
                } else {
                    Role::Operand
                }
            }
            _ => Role::Operand,
        }
    }

    /// An expression, an atom or a comparison: the elements of `a..b` with canonical spaces.
    fn expr(&mut self, a: usize, b: usize) -> R<Doc> {
        let elems = self.elems(a, b);
        if elems.is_empty() {
            return Err(unformattable(self.span(a), "expected an expression"));
        }
        let mut parts = Vec::new();
        let mut prev: Option<(usize, Role)> = None;
        for (n, &e) in elems.iter().enumerate() {
            let role = self.role(e, prev.map(|p| p.1), n + 1 == elems.len());
            if let Some((p, prole)) = prev {
                let call = self.kind(e) == Some(Tok::LParen) && self.kind(p) == Some(Tok::Ident);
                let tight = prole == Role::Prefix || self.kind(e) == Some(Tok::At) || call;
                if !tight {
                    parts.push(sp());
                }
            }
            parts.push(if self.is_open(e) {
                self.bracket(e)?
            } else {
                self.tok(e)
            });
            prev = Some((e, role));
        }
        Ok(concat(parts))
    }

    /// A bracketed group in an expression: arguments, a record, an aggregate's body.
    fn bracket(&mut self, open: usize) -> R<Doc> {
        let close = self.close[open];
        if open + 1 == close {
            return Ok(concat(vec![self.tok(open), self.tok(close)]));
        }
        let o = self.tok(open);
        let (inner, edge) = if self.kind(open) == Some(Tok::LBrace) {
            (self.formula(open + 1, close)?, Doc::Line)
        } else {
            let (items, commas) = self.split(open + 1, close, Tok::Comma);
            let mut parts = Vec::new();
            for (k, &(x, y)) in items.iter().enumerate() {
                if k > 0 {
                    parts.push(self.tok(commas[k - 1]));
                    parts.push(Doc::Line);
                }
                parts.push(self.expr(x, y)?);
            }
            (concat(parts), Doc::SoftLine)
        };
        Ok(self.wrap(o, inner, edge, close))
    }

    /// `open inner close` as a group: broken, `inner` goes on lines of its own, indented.
    fn wrap(&mut self, open: Doc, inner: Doc, edge: Doc, close: usize) -> Doc {
        concat(vec![
            Doc::group(concat(vec![
                open,
                Doc::nest(INDENT, concat(vec![edge.clone(), inner])),
                edge,
            ])),
            self.tok(close),
        ])
    }

    /// A bracketed list whose parts are printed with `part`'s spacing: `(x: number, y: T)`,
    /// `(IO=file, filename="x")`.
    fn list(&mut self, open: usize, tight: bool) -> R<Doc> {
        let close = self.close[open];
        if open + 1 == close {
            return Ok(concat(vec![self.tok(open), self.tok(close)]));
        }
        let o = self.tok(open);
        let (items, commas) = self.split(open + 1, close, Tok::Comma);
        let mut parts = Vec::new();
        for (k, &(x, y)) in items.iter().enumerate() {
            if k > 0 {
                parts.push(self.tok(commas[k - 1]));
                parts.push(Doc::Line);
            }
            if x >= y {
                return Err(unformattable(self.span(x), "an empty list element"));
            }
            for e in x..y {
                if e > x && !tight && self.kind(e) != Some(Tok::Colon) {
                    parts.push(sp());
                }
                parts.push(self.tok(e));
            }
        }
        Ok(self.wrap(o, concat(parts), Doc::SoftLine, close))
    }

    // --- Directives ---

    /// The directive at `i` (before `b`) and the index after it.
    fn directive(&mut self, i: usize, b: usize) -> R<(Doc, usize)> {
        let word = self.text(i).get(1..).unwrap_or("");
        let mut parts = vec![self.tok(i)];
        let mut k = i + 1;
        match word {
            "decl" => {
                self.expect(k, b, Tok::Ident, "a relation name")?;
                parts.extend([sp(), self.tok(k)]);
                k += 1;
                while k < b && self.kind(k) == Some(Tok::Comma) {
                    self.expect(k + 1, b, Tok::Ident, "a relation name")?;
                    parts.extend([self.tok(k), sp(), self.tok(k + 1)]);
                    k += 2;
                }
                self.expect(k, b, Tok::LParen, "`(`")?;
                parts.push(self.list(k, false)?);
                k = self.next(k);
                while k < b
                    && self.kind(k) == Some(Tok::Ident)
                    && QUALIFIERS.contains(&self.text(k))
                    && !(k + 1 < b && self.kind(k + 1) == Some(Tok::LParen))
                {
                    parts.extend([sp(), self.tok(k)]);
                    k += 1;
                }
            }
            "type" => return self.type_decl(i, b, parts),
            "number_type" | "symbol_type" | "override" => {
                self.expect(k, b, Tok::Ident, "a name")?;
                parts.extend([sp(), self.tok(k)]);
                k += 1;
            }
            "input" | "output" | "printsize" | "persist" => {
                parts.push(sp());
                loop {
                    self.expect(k, b, Tok::Ident, "a relation name")?;
                    parts.push(self.tok(k));
                    k += 1;
                    if k < b && self.kind(k) == Some(Tok::LParen) {
                        parts.push(self.list(k, true)?);
                        k = self.next(k);
                    }
                    if k < b && self.kind(k) == Some(Tok::Comma) {
                        parts.extend([self.tok(k), sp()]);
                        k += 1;
                    } else {
                        break;
                    }
                }
            }
            "comp" => return self.component(i, b, parts),
            "init" => {
                self.expect(k, b, Tok::Ident, "an instance name")?;
                self.expect(k + 1, b, Tok::Eq, "`=`")?;
                parts.extend([sp(), self.tok(k), sp(), self.tok(k + 1), sp()]);
                k = self.comp_type(k + 2, b, &mut parts)?;
            }
            "pragma" => {
                self.expect(k, b, Tok::Str, "a string")?;
                parts.extend([sp(), self.tok(k)]);
                k += 1;
                if k < b && self.kind(k) == Some(Tok::Str) {
                    parts.extend([sp(), self.tok(k)]);
                    k += 1;
                }
            }
            _ => {
                return Err(unformattable(
                    self.span(i),
                    &format!("the directive `.{word}` cannot be formatted"),
                ));
            }
        }
        Ok((concat(parts), k))
    }

    /// `.type Name <: base`, `= A | B`, `= [fields]`, `= A {fields} | B {}`.
    fn type_decl(&mut self, i: usize, b: usize, mut parts: Vec<Doc>) -> R<(Doc, usize)> {
        let mut k = i + 1;
        self.expect(k, b, Tok::Ident, "a type name")?;
        parts.extend([sp(), self.tok(k)]);
        k += 1;
        if k + 1 < b && self.kind(k) == Some(Tok::Lt) && self.kind(k + 1) == Some(Tok::Colon) {
            self.expect(k + 2, b, Tok::Ident, "a type name")?;
            parts.extend([sp(), self.tok(k), self.tok(k + 1), sp(), self.tok(k + 2)]);
            return Ok((concat(parts), k + 3));
        }
        self.expect(k, b, Tok::Eq, "`=` or `<:`")?;
        parts.extend([sp(), self.tok(k)]);
        k += 1;
        if k < b && self.kind(k) == Some(Tok::LBracket) {
            parts.extend([sp(), self.list(k, false)?]);
            return Ok((concat(parts), self.next(k)));
        }
        // A union of names or the branches of an algebraic data type, separated by `|`.
        let mut alts = vec![Doc::Line];
        loop {
            self.expect(k, b, Tok::Ident, "a type name")?;
            alts.push(self.tok(k));
            k += 1;
            if k < b && self.kind(k) == Some(Tok::LBrace) {
                alts.extend([sp(), self.list(k, false)?]);
                k = self.next(k);
            }
            if k < b && self.kind(k) == Some(Tok::Pipe) {
                alts.extend([Doc::Line, self.tok(k), sp()]);
                k += 1;
            } else {
                break;
            }
        }
        parts.push(Doc::nest(INDENT, concat(alts)));
        Ok((Doc::group(concat(parts)), k))
    }

    /// `Name` or `Name<A, B>` at `k`; returns the index after it.
    fn comp_type(&mut self, mut k: usize, b: usize, parts: &mut Vec<Doc>) -> R<usize> {
        self.expect(k, b, Tok::Ident, "a component name")?;
        parts.push(self.tok(k));
        k += 1;
        if k < b && self.kind(k) == Some(Tok::Lt) {
            parts.push(self.tok(k));
            k += 1;
            loop {
                self.expect(k, b, Tok::Ident, "a type parameter")?;
                parts.push(self.tok(k));
                k += 1;
                match self.kind(k) {
                    Some(Tok::Comma) if k < b => {
                        parts.extend([self.tok(k), sp()]);
                        k += 1;
                    }
                    Some(Tok::Gt) if k < b => {
                        parts.push(self.tok(k));
                        return Ok(k + 1);
                    }
                    _ => return Err(unformattable(self.span(k), "expected `,` or `>`")),
                }
            }
        }
        Ok(k)
    }

    /// `.comp Name<T> : Base<T>, Other { items }`.
    fn component(&mut self, i: usize, b: usize, mut parts: Vec<Doc>) -> R<(Doc, usize)> {
        parts.push(sp());
        let mut k = self.comp_type(i + 1, b, &mut parts)?;
        if k < b && self.kind(k) == Some(Tok::Colon) {
            parts.extend([sp(), self.tok(k), sp()]);
            k = self.comp_type(k + 1, b, &mut parts)?;
            while k < b && self.kind(k) == Some(Tok::Comma) {
                parts.extend([self.tok(k), sp()]);
                k = self.comp_type(k + 1, b, &mut parts)?;
            }
        }
        self.expect(k, b, Tok::LBrace, "`{`")?;
        let close = self.close[k];
        parts.push(sp());
        let end = std::mem::take(&mut self.src.leading[close]);
        if k + 1 == close && end.is_empty() {
            parts.extend([self.tok(k), self.tok(close)]);
        } else {
            parts.push(self.tok(k));
            let body = self.block(k + 1, close, end)?;
            parts.push(Doc::nest(INDENT, concat(vec![Doc::HardLine, body])));
            parts.push(Doc::HardLine);
            parts.push(self.tok(close));
        }
        Ok((concat(parts), close + 1))
    }
}

/// The error for a program the layout does not recognise.
pub(crate) fn unformattable(span: Span, what: &str) -> FormatError {
    FormatError::Unformattable {
        message: format!("cannot format this program: {what}"),
        span,
    }
}
