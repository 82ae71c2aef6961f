//! Where each relation is written: the index behind hover, definition, references and rename.
//!
//! The parser drops a clause it could not read, so the tree alone would lose every relation
//! named in a half-typed rule. Occurrences therefore come from two places:
//!
//! - the syntax tree, for every item that parsed (declarations, directive targets, heads, body
//!   atoms, negated atoms, atoms inside aggregates);
//! - a lexical scan of the text *between* the parsed items (the clauses the parser dropped), where
//!   a relation is a name followed by `(` (not a functor, an aggregate or a constructor), a name
//!   after `.decl`, or a name listed by `.input`/`.output`/`.printsize`/`.persist`. Comments,
//!   strings and component bodies (`.comp ... { ... }`) are skipped.
//!
//! Occurrences whose text is not the relation's name (copies made by expanding a component
//! instantiation, named `inst.rel` but written `rel` inside the component) are not listed: the
//! relation is marked [`Occurrences::hidden`] instead, so that a rename can refuse it.

use calm_syntax::ast::{self, DirectiveKind, Expr, Literal};
use calm_syntax::{Span, ast::AggFunc};
use std::collections::BTreeSet;

/// What an occurrence does with its relation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The name in a `.decl`.
    Decl,
    /// A target of a directive.
    Directive(DirectiveKind),
    /// The head of a rule or a fact.
    Head,
    /// A positive body atom.
    Body,
    /// A negated body atom.
    Negated,
    /// An atom inside an aggregate's body.
    Aggregated,
    /// Found by the lexical scan of a clause that did not parse: a name followed by `(` that
    /// starts the clause (probably its head).
    UnparsedHead,
    /// Found by the lexical scan of a clause that did not parse: any other name followed by `(`.
    Unparsed,
}

/// One place a relation is named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occurrence {
    /// The relation's name as written.
    pub name: String,
    /// The name's bytes.
    pub span: Span,
    /// What the occurrence does.
    pub role: Role,
}

/// Every occurrence of every relation in one text, sorted by position.
#[derive(Clone, Debug, Default)]
pub struct Occurrences {
    list: Vec<Occurrence>,
    /// Relations named somewhere the text does not spell their name (component copies).
    pub hidden: BTreeSet<String>,
}

impl Occurrences {
    /// Collects the occurrences of `text`, whose parsed program is `program`.
    pub fn new(text: &str, program: &ast::Program) -> Occurrences {
        let mut out = Occurrences::default();
        let mut covered = Vec::new();
        for item in &program.items {
            match item {
                ast::Item::Decl(d) => {
                    out.add(text, &d.name, Role::Decl);
                    covered.push(d.span);
                }
                ast::Item::Directive(d) => {
                    for t in &d.targets {
                        out.add(text, &t.name, Role::Directive(d.kind));
                    }
                    covered.push(d.span);
                }
                ast::Item::Rule(r) => {
                    out.add(text, &r.head.name, Role::Head);
                    for a in &r.head.args {
                        out.expr(text, &a.expr);
                    }
                    out.literals(text, &r.body, false);
                    covered.push(r.span);
                }
                ast::Item::Type(t) => covered.push(t.span),
            }
        }
        covered.sort_unstable();
        let mut at = 0;
        for span in covered {
            if span.start > at {
                scan_gap(text, Span::new(at, span.start), &mut out.list);
            }
            at = at.max(span.end);
        }
        if at < text.len() {
            scan_gap(text, Span::new(at, text.len()), &mut out.list);
        }
        out.list.sort_by_key(|o| (o.span.start, o.span.end));
        // A clause with a disjunction is several rules sharing their atoms' spans.
        out.list
            .dedup_by(|b, a| a.span == b.span && a.name == b.name);
        out
    }

    fn add(&mut self, text: &str, name: &ast::Ident, role: Role) {
        if text.get(name.span.start..name.span.end) == Some(name.name.as_str()) {
            self.list.push(Occurrence {
                name: name.name.clone(),
                span: name.span,
                role,
            });
        } else {
            self.hidden.insert(name.name.clone());
        }
    }

    fn literals(&mut self, text: &str, body: &[Literal], aggregated: bool) {
        for lit in body {
            match lit {
                Literal::Atom(a) => {
                    let role = if aggregated {
                        Role::Aggregated
                    } else {
                        Role::Body
                    };
                    self.add(text, &a.name, role);
                    for arg in &a.args {
                        self.expr(text, &arg.expr);
                    }
                }
                Literal::Negated { atom, .. } => {
                    self.add(text, &atom.name, Role::Negated);
                    for arg in &atom.args {
                        self.expr(text, &arg.expr);
                    }
                }
                Literal::Compare { lhs, rhs, .. } => {
                    self.expr(text, lhs);
                    self.expr(text, rhs);
                }
            }
        }
    }

    /// The atoms inside aggregates of an expression. The parser bounds expression depth, so the
    /// recursion is bounded too.
    fn expr(&mut self, text: &str, e: &Expr) {
        match e {
            Expr::Aggregate(a) => {
                if let Some(t) = &a.target {
                    self.expr(text, t);
                }
                self.literals(text, &a.body, true);
            }
            Expr::Neg(x, _) | Expr::As(x, _, _) => self.expr(text, x),
            Expr::Binary { lhs, rhs, .. } => {
                self.expr(text, lhs);
                self.expr(text, rhs);
            }
            Expr::Call { args, .. } | Expr::Record(args, _) => {
                for a in args {
                    self.expr(text, a);
                }
            }
            Expr::Branch(c) => {
                for a in &c.args {
                    self.expr(text, a);
                }
            }
            Expr::Var(_)
            | Expr::Wildcard(_)
            | Expr::Number(..)
            | Expr::Float(..)
            | Expr::Unsigned(..)
            | Expr::String(..)
            | Expr::Nil(_) => {}
        }
    }

    /// Every occurrence, by position.
    pub fn all(&self) -> &[Occurrence] {
        &self.list
    }

    /// The occurrence under byte `offset` (a cursor just after a name is on it).
    pub fn at(&self, offset: usize) -> Option<&Occurrence> {
        let i = self.list.partition_point(|o| o.span.end < offset);
        self.list[i..]
            .iter()
            .take_while(|o| o.span.start <= offset)
            .find(|o| o.span.start <= offset && offset <= o.span.end)
    }

    /// The occurrences of relation `name`, by position.
    pub fn of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Occurrence> + 'a {
        self.list.iter().filter(move |o| o.name == name)
    }

    /// The relations named, each once, in order of first occurrence.
    pub fn names(&self) -> Vec<&str> {
        let mut seen = BTreeSet::new();
        self.list
            .iter()
            .filter(|o| seen.insert(o.name.as_str()))
            .map(|o| o.name.as_str())
            .collect()
    }
}

/// Whether `name` is a valid relation name to write: `word(.word)*`, where a word is
/// `[A-Za-z_][A-Za-z0-9_]*` and not a word the language reserves.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        && name != "_"
        && !reserved(name)
}

/// Words that are not relations when followed by `(`: functors, aggregates, string predicates,
/// and the words the parser gives a meaning of its own.
fn reserved(word: &str) -> bool {
    ast::Functor::by_name(word).is_some()
        || ast::BinOp::word(word).is_some()
        || [AggFunc::Count, AggFunc::Sum, AggFunc::Min, AggFunc::Max]
            .iter()
            .any(|f| f.as_str() == word)
        || matches!(
            word,
            "match" | "contains" | "not" | "nil" | "mean" | "range" | "as" | "autoinc"
        )
}

/// A token of the lexical scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Ident,
    Directive,
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Dot,
    Newline,
    Other,
}

/// Scans the text of `gap` (which holds no parsed item) for relation names.
fn scan_gap(text: &str, gap: Span, out: &mut Vec<Occurrence>) {
    let toks = tokens(text, gap);
    // For each token, the kind of the last token before it that is not a line break.
    let mut before = Vec::with_capacity(toks.len());
    let mut last = None;
    for t in &toks {
        before.push(last);
        if t.0 != Tok::Newline {
            last = Some(t.0);
        }
    }
    let mut i = 0;
    while i < toks.len() {
        let (kind, span) = toks[i];
        let word = &text[span.start..span.end];
        match kind {
            Tok::Directive if word == ".comp" => {
                // Skip the component: up to its body's matching `}`.
                let mut depth = 0usize;
                i += 1;
                while i < toks.len() {
                    match toks[i].0 {
                        Tok::LBrace => depth += 1,
                        Tok::RBrace if depth <= 1 => break,
                        Tok::RBrace => depth -= 1,
                        _ => {}
                    }
                    i += 1;
                }
            }
            Tok::Directive => {
                let role = match word {
                    ".decl" => Some(Role::Decl),
                    ".input" => Some(Role::Directive(DirectiveKind::Input)),
                    ".output" => Some(Role::Directive(DirectiveKind::Output)),
                    ".printsize" => Some(Role::Directive(DirectiveKind::PrintSize)),
                    ".persist" => Some(Role::Directive(DirectiveKind::Persist)),
                    _ => None,
                };
                match role {
                    Some(Role::Decl) => {
                        if let Some(&(Tok::Ident, s)) = toks.get(i + 1) {
                            push(text, s, Role::Decl, out);
                            i += 1;
                        }
                    }
                    Some(role) => {
                        // Targets: names on the rest of the line, outside parentheses.
                        let mut depth = 0usize;
                        while let Some(&(k, s)) = toks.get(i + 1) {
                            match k {
                                Tok::Newline | Tok::Directive => break,
                                Tok::LParen => depth += 1,
                                Tok::RParen => depth = depth.saturating_sub(1),
                                Tok::Ident if depth == 0 => push(text, s, role, out),
                                _ => {}
                            }
                            i += 1;
                        }
                    }
                    None => {}
                }
            }
            Tok::Ident => {
                let next = toks[i + 1..].iter().find(|t| t.0 != Tok::Newline);
                if next.is_some_and(|t| t.0 == Tok::LParen) {
                    let builtin_or_word = if let Some(rest) = word.strip_prefix('$') {
                        matches!(rest, "self" | "member")
                    } else {
                        !reserved(word)
                    };
                    let starts_clause = before[i].is_none_or(|k| k == Tok::Dot);
                    let role = if starts_clause {
                        Role::UnparsedHead
                    } else {
                        Role::Unparsed
                    };
                    if builtin_or_word {
                        push(text, span, role, out);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
}

fn push(text: &str, span: Span, role: Role, out: &mut Vec<Occurrence>) {
    out.push(Occurrence {
        name: text[span.start..span.end].to_string(),
        span,
        role,
    });
}

/// The tokens of `text[gap]` the scan looks at; comments, strings, numbers and `#` lines are
/// skipped.
fn tokens(text: &str, gap: Span) -> Vec<(Tok, Span)> {
    let bytes = text.as_bytes();
    let end = gap.end;
    let mut out = Vec::new();
    let mut i = gap.start;
    let is_word_start = |b: u8| b.is_ascii_alphabetic() || b == b'_';
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let word_end = |mut j: usize| {
        while j < end && is_word(bytes[j]) {
            j += 1;
        }
        j
    };
    while i < end {
        let b = bytes[i];
        let start = i;
        match b {
            b'\n' => {
                out.push((Tok::Newline, Span::new(i, i + 1)));
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < end && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < end && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(end);
            }
            b'#' if text[..i].trim_end_matches([' ', '\t']).ends_with('\n') || i == 0 => {
                while i < end && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while i < end && bytes[i] != b'"' && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i = (i + 1).min(end);
            }
            b'.' if i + 1 < end && is_word_start(bytes[i + 1]) => {
                i = word_end(i + 1);
                out.push((Tok::Directive, Span::new(start, i)));
            }
            b'$' if i + 1 < end && is_word_start(bytes[i + 1]) => {
                i = qualified_end(bytes, word_end(i + 1), end);
                out.push((Tok::Ident, Span::new(start, i)));
            }
            _ if is_word_start(b) => {
                i = qualified_end(bytes, word_end(i), end);
                out.push((Tok::Ident, Span::new(start, i)));
            }
            _ if b.is_ascii_digit() => {
                i = word_end(i);
            }
            _ => {
                let kind = match b {
                    b'(' => Tok::LParen,
                    b')' => Tok::RParen,
                    b'{' => Tok::LBrace,
                    b'}' => Tok::RBrace,
                    b',' => Tok::Comma,
                    b'.' => Tok::Dot,
                    _ => Tok::Other,
                };
                // One whole character.
                let len = text[i..].chars().next().map_or(1, char::len_utf8);
                if kind != Tok::Other || !b.is_ascii_whitespace() {
                    out.push((kind, Span::new(i, i + len)));
                }
                i += len;
            }
        }
    }
    out
}

/// The end of a qualified name whose first word ends at `j`: `.word` parts follow directly.
fn qualified_end(bytes: &[u8], mut j: usize, end: usize) -> usize {
    while j + 1 < end
        && bytes[j] == b'.'
        && (bytes[j + 1].is_ascii_alphabetic() || bytes[j + 1] == b'_')
    {
        j += 1;
        while j < end && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
            j += 1;
        }
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;
    use calm_syntax::{FileId, parse};

    fn occ(text: &str) -> Occurrences {
        Occurrences::new(text, &parse(FileId(0), text).program)
    }

    fn listed(o: &Occurrences, text: &str) -> Vec<(String, Role)> {
        o.all()
            .iter()
            .map(|x| (text[x.span.start..x.span.end].to_string(), x.role))
            .collect()
    }

    #[test]
    fn from_the_tree() {
        let text = ".decl e(x: number, y: number)\n.output p\np(x, n) :- e(x, _), !q(x), n = count : { e(x, _) }.\n";
        let o = occ(text);
        let l = listed(&o, text);
        assert_eq!(
            l,
            vec![
                ("e".into(), Role::Decl),
                ("p".into(), Role::Directive(DirectiveKind::Output)),
                ("p".into(), Role::Head),
                ("e".into(), Role::Body),
                ("q".into(), Role::Negated),
                ("e".into(), Role::Aggregated),
            ]
        );
        assert_eq!(o.of("e").count(), 3);
        assert_eq!(o.names(), vec!["e", "p", "q"]);
        let head = text.find("p(x, n)").unwrap();
        assert_eq!(o.at(head).map(|x| x.role), Some(Role::Head));
        assert_eq!(o.at(head + 1).map(|x| x.role), Some(Role::Head));
        assert_eq!(o.at(head + 2), None);
    }

    #[test]
    fn broken_clauses_are_scanned() {
        // The second clause does not parse: its relations are still found, but not the
        // functor, the aggregate, the string or the comment.
        let text = ".decl e(x: number)\np(x) :- e(x), q(x, cat(\"r(\", \"s\")), n = count : r(_) /* t(1) */\n.output p, e\n.decl broken(x: \n";
        let parsed = parse(FileId(0), text);
        assert!(!parsed.diagnostics.is_empty());
        let o = occ(text);
        let l = listed(&o, text);
        let names: Vec<&str> = l.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["e", "p", "e", "q", "r", "p", "e", "broken"]);
        assert_eq!(l[1].1, Role::UnparsedHead);
        assert_eq!(l[3].1, Role::Unparsed);
        assert_eq!(l[7].1, Role::Decl);
    }

    #[test]
    fn stray_non_ascii_characters() {
        // Characters that start no token, outside strings and comments, in a broken clause.
        let text = "😀 p(x) :- é q(x).";
        let o = occ(text);
        let names: Vec<&str> = o.all().iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, vec!["p", "q"]);
    }

    #[test]
    fn components_are_hidden() {
        let text = ".comp C { .decl r(x: number) r(1). }\n.init c = C\n.output c.r\n";
        let o = occ(text);
        assert!(o.hidden.contains("c.r"));
        assert_eq!(
            listed(&o, text),
            vec![("c.r".into(), Role::Directive(DirectiveKind::Output))]
        );
    }

    #[test]
    fn names() {
        assert!(valid_name("edge"));
        assert!(valid_name("a.b_2"));
        assert!(!valid_name("2a"));
        assert!(!valid_name("a..b"));
        assert!(!valid_name("$self"));
        assert!(!valid_name("count"));
        assert!(!valid_name("_"));
        assert!(!valid_name("a b"));
    }
}
