//! Top-level items: declarations, directives and clauses.

use super::lexer::{Tok, Token, unescape};
use super::{PResult, Parser, Reported, codes};
use crate::ast::{
    Branch, Decl, Directive, DirectiveKind, DirectiveTarget, Ident, IoParam, Item, Param, Rule,
    TimeSuffix, TypeDecl, TypeDef,
};
use crate::components::{self, CompType, Component, Init, Unit};
use crate::pragma;
use crate::{Diagnostic, Span};

/// Souffle directives that calm does not support.
const UNSUPPORTED_DIRECTIVES: &[&str] = &["functor", "plan", "limitsize", "lattice"];

/// Deepest nesting of component declarations.
const MAX_COMP_NESTING: u32 = 64;

/// Souffle relation qualifiers skipped (with a warning) after a declaration: they only choose
/// a data structure or an evaluation strategy, never what is computed.
const IGNORED_QUALIFIERS: &[&str] = &[
    "brie",
    "btree",
    "btree_delete",
    "inline",
    "no_inline",
    "magic",
    "no_magic",
];

/// Souffle relation qualifiers kept in [`Decl::qualifiers`]: they change what the relation holds
/// (`eqrel`) or do what a directive does (`input` is `.input`, ...). `overridable` matters to
/// components and is dropped when they are expanded.
const KEPT_QUALIFIERS: &[&str] = &["eqrel", "input", "output", "printsize", "overridable"];

/// How an item ended.
enum Outcome {
    /// Parsed without error.
    Item(Item),
    /// Several items from one (`.decl a, b(x: number)` declares `a` and `b`).
    Items(Vec<Item>),
    /// A component declaration, instantiation or override.
    Unit(Unit),
    /// Parsed, nothing to keep (an unsupported directive that was skipped).
    Nothing,
}

impl Parser<'_> {
    /// Parses every item up to the end of input.
    pub(super) fn program(&mut self) -> Vec<Unit> {
        self.units()
    }

    /// Parses items up to the end of input or, in a component body, up to its closing `}`
    /// (not consumed).
    fn units(&mut self) -> Vec<Unit> {
        let mut units = Vec::new();
        loop {
            let t = self.peek();
            if t.kind == Tok::Eof || (t.kind == Tok::RBrace && self.comp_depth > 0) {
                break;
            }
            self.depth = 0;
            self.item_error = false;
            let before = self.last_end;
            let line_item = t.kind == Tok::Directive;
            match self.item() {
                Ok(Outcome::Item(item)) if !self.item_error => units.push(Unit::Item(item)),
                Ok(Outcome::Items(more)) if !self.item_error => {
                    units.extend(more.into_iter().map(Unit::Item));
                }
                Ok(Outcome::Unit(unit)) if !self.item_error => units.push(unit),
                Ok(_) => {}
                Err(Reported) if line_item => self.recover_line_item(),
                Err(Reported) => self.recover_clause(),
            }
            // Always make progress, whatever went wrong.
            if self.last_end == before && self.peek().span.start == t.span.start {
                self.bump();
            }
        }
        units
    }

    fn item(&mut self) -> PResult<Outcome> {
        let t = self.peek();
        match t.kind {
            Tok::Directive => self.directive_item(),
            Tok::Ident => {
                let mut rules = self.clause()?;
                Ok(if rules.len() == 1 {
                    Outcome::Item(Item::Rule(rules.remove(0)))
                } else {
                    Outcome::Items(rules.into_iter().map(Item::Rule).collect())
                })
            }
            _ => Err(self.expected(t, "a declaration, a directive or a clause", "")),
        }
    }

    fn directive_item(&mut self) -> PResult<Outcome> {
        let kw = self.bump();
        let word = self.text(kw).get(1..).unwrap_or("");
        let kind = match word {
            "decl" => {
                let mut decls = self.decl(kw)?;
                return Ok(if decls.len() == 1 {
                    Outcome::Item(Item::Decl(decls.remove(0)))
                } else {
                    Outcome::Items(decls.into_iter().map(Item::Decl).collect())
                });
            }
            "type" | "number_type" | "symbol_type" => return self.type_decl(kw, word),
            "comp" => return self.component(kw),
            "init" => return self.init(kw),
            "override" => {
                let name = self.expect(Tok::Ident, "a relation name", " after `.override`")?;
                return Ok(Outcome::Unit(Unit::Override(self.ident(name))));
            }
            "pragma" => return self.pragma(kw),
            "input" => DirectiveKind::Input,
            "output" => DirectiveKind::Output,
            "printsize" => DirectiveKind::PrintSize,
            "persist" => DirectiveKind::Persist,
            _ if UNSUPPORTED_DIRECTIVES.contains(&word) => {
                let d = Diagnostic::error(format!("`.{word}` is not supported"))
                    .with_code(codes::UNSUPPORTED)
                    .with_primary(self.file, kw.span, "not supported by calm")
                    .with_note("this item is skipped");
                self.report(d);
                self.recover_line_item();
                return Ok(Outcome::Nothing);
            }
            _ => {
                let d = Diagnostic::error(format!("unknown directive `.{word}`"))
                    .with_code(codes::UNKNOWN_DIRECTIVE)
                    .with_primary(self.file, kw.span, "unknown directive")
                    .with_help(
                        "the directives are `.decl`, `.type`, `.input`, `.output`, `.printsize`, \
                         `.persist`, `.comp`, `.init`, `.override` and `.pragma`",
                    );
                self.report(d);
                self.recover_line_item();
                return Ok(Outcome::Nothing);
            }
        };
        Ok(Outcome::Item(Item::Directive(self.directive(kw, kind)?)))
    }

    /// `.type Name <: base`, `.type Name = A | B`, `.number_type Name`, `.symbol_type Name`
    /// (the keyword is consumed), records (`= [a: T, ...]`) and algebraic data types
    /// (`= A {x: T} | B {}`).
    fn type_decl(&mut self, kw: Token, word: &str) -> PResult<Outcome> {
        let name = self.expect(Tok::Ident, "a type name", &format!(" after `.{word}`"))?;
        let name = self.ident(name);
        if word != "type" {
            let base = if word == "number_type" {
                "number"
            } else {
                "symbol"
            };
            return Ok(Outcome::Item(Item::Type(TypeDecl {
                def: TypeDef::Subtype(Ident {
                    name: base.to_string(),
                    span: kw.span,
                }),
                span: kw.span.to(name.span),
                name,
            })));
        }
        let after_name = format!(" after `.type {}`", name.name);
        let t = self.peek();
        match t.kind {
            Tok::Lt if self.nth(1).kind == Tok::Colon => {
                self.bump();
                self.bump();
                let base = self.expect(Tok::Ident, "a type name", " after `<:`")?;
                let base = self.ident(base);
                Ok(Outcome::Item(Item::Type(TypeDecl {
                    span: kw.span.to(base.span),
                    def: TypeDef::Subtype(base),
                    name,
                })))
            }
            Tok::Eq => {
                self.bump();
                let first = self.peek();
                let adt = first.kind == Tok::Ident
                    && matches!(self.nth(1).kind, Tok::LBrace | Tok::LParen);
                if first.kind == Tok::LBracket {
                    let (fields, close) = self.record_fields(Tok::RBracket)?;
                    return Ok(Outcome::Item(Item::Type(TypeDecl {
                        span: kw.span.to(close.span),
                        def: TypeDef::Record(fields),
                        name,
                    })));
                }
                if adt {
                    return self.adt(kw, name);
                }
                let mut members = Vec::new();
                loop {
                    let m = self.expect(Tok::Ident, "a type name", " in a type definition")?;
                    members.push(self.ident(m));
                    if self.at(Tok::LBrace) {
                        // An algebraic data type with a branch written without `{}`.
                        let first = &members[0];
                        let d = Diagnostic::error(format!(
                            "the branch `{}` of an algebraic data type has no `{{...}}`",
                            first.name
                        ))
                        .with_code(codes::UNEXPECTED)
                        .with_primary(self.file, first.span, "expected `{` after this name")
                        .with_help(format!(
                            "write `{} {{}}` for a branch without fields",
                            first.name
                        ));
                        return Err(self.report(d));
                    }
                    if self.at(Tok::Pipe) {
                        self.bump();
                    } else {
                        break;
                    }
                }
                let end = members.last().map_or(name.span, |m| m.span);
                Ok(Outcome::Item(Item::Type(TypeDecl {
                    span: kw.span.to(end),
                    def: TypeDef::Union(members),
                    name,
                })))
            }
            _ => Err(self.expected_with_help(
                t,
                "`<:` or `=`",
                &after_name,
                Some("write `.type Name <: symbol` (a subtype) or `.type Name = A | B` (a union)"),
            )),
        }
    }

    /// The branches of an algebraic data type, `A {x: T} | B {}` (after `.type Name =`).
    fn adt(&mut self, kw: Token, name: Ident) -> PResult<Outcome> {
        let mut branches = Vec::new();
        loop {
            let b = self.expect(
                Tok::Ident,
                "a constructor name",
                " in an algebraic data type",
            )?;
            let b = self.ident(b);
            let t = self.peek();
            if t.kind != Tok::LBrace {
                return Err(self.expected_with_help(
                    t,
                    "`{`",
                    &format!(" after the constructor `{}`", b.name),
                    Some(
                        "write each branch as `Name {field: type, ...}` (`Name {}` without fields)",
                    ),
                ));
            }
            let (fields, close) = self.record_fields(Tok::RBrace)?;
            branches.push(Branch {
                span: b.span.to(close.span),
                name: b,
                fields,
            });
            if self.at(Tok::Pipe) {
                self.bump();
            } else {
                break;
            }
        }
        let end = branches.last().map_or(name.span, |b| b.span);
        Ok(Outcome::Item(Item::Type(TypeDecl {
            span: kw.span.to(end),
            def: TypeDef::Adt(branches),
            name,
        })))
    }

    /// `[name: type, ...]` or `{name: type, ...}` (the opening bracket is next); returns the fields and
    /// the closing token.
    fn record_fields(&mut self, close: Tok) -> PResult<(Vec<Param>, Token)> {
        self.bump();
        self.typed_names(close, "field")
    }

    /// `name: type, ...` up to `close` (the opening bracket is consumed), each name called a
    /// `noun` in errors; returns them and the closing token.
    fn typed_names(&mut self, close: Tok, noun: &str) -> PResult<(Vec<Param>, Token)> {
        let closing = match close {
            Tok::RBracket => "`]`",
            Tok::RParen => "`)`",
            _ => "`}`",
        };
        let mut names = Vec::new();
        if self.at(close) {
            return Ok((names, self.bump()));
        }
        loop {
            let col = self.expect(Tok::Ident, &format!("a {noun} name"), "")?;
            let col = self.ident(col);
            let after_col = format!(" after the {noun} name `{}`", col.name);
            let help = format!("write `{noun}: type`");
            self.expect_with_help(Tok::Colon, "`:`", &after_col, &help)?;
            let ty = self.expect(Tok::Ident, "a type name", "")?;
            names.push(Param {
                name: col,
                ty: self.ident(ty),
            });
            let t = self.peek();
            match t.kind {
                Tok::Comma => {
                    self.bump();
                }
                k if k == close => return Ok((names, self.bump())),
                _ => {
                    return Err(self.expected(
                        t,
                        &format!("`,` or {closing}"),
                        &format!(" after a {noun}"),
                    ));
                }
            }
        }
    }

    /// `.comp Name<T, U> : Base<T>, Other { ... }` (the keyword is consumed).
    fn component(&mut self, kw: Token) -> PResult<Outcome> {
        let ty = self.comp_type("a component name", " after `.comp`")?;
        let mut bases = Vec::new();
        if self.at(Tok::Colon) {
            self.bump();
            loop {
                bases.push(self.comp_type("a component name", " after `:` in `.comp`")?);
                if self.at(Tok::Comma) {
                    self.bump();
                } else {
                    break;
                }
            }
        }
        if self.comp_depth >= MAX_COMP_NESTING {
            let d = Diagnostic::error(format!(
                "components nested more than {MAX_COMP_NESTING} deep"
            ))
            .with_code(codes::TOO_DEEP)
            .with_primary(self.file, kw.span.to(ty.span), "nested too deep");
            return Err(self.report(d));
        }
        let open = self.expect_with_help(
            Tok::LBrace,
            "`{`",
            &format!(" after `.comp {}`", ty.name.name),
            "write `.comp Name { ... }`, with the component's declarations and rules in braces",
        )?;
        self.comp_depth += 1;
        let body = self.units();
        self.comp_depth -= 1;
        self.item_error = false;
        let t = self.peek();
        if t.kind != Tok::RBrace {
            let d = Diagnostic::error(format!(
                "unterminated component `{}`: `}}` missing",
                ty.name.name
            ))
            .with_code(codes::UNEXPECTED)
            .with_primary(self.file, open.span, "this `{` is never closed")
            .with_secondary(self.file, self.point_at(t), "end of input");
            return Err(self.report(d));
        }
        let close = self.bump();
        Ok(Outcome::Unit(Unit::Comp(Component {
            ty,
            bases,
            body,
            span: kw.span.to(close.span),
        })))
    }

    /// `.init inst = Comp<A, B>` (the keyword is consumed).
    fn init(&mut self, kw: Token) -> PResult<Outcome> {
        let t = self.expect(Tok::Ident, "an instance name", " after `.init`")?;
        let name = self.simple_name(t, "an instance")?;
        let after = format!(" after `.init {}`", name.name);
        self.expect_with_help(Tok::Eq, "`=`", &after, "write `.init name = Component`")?;
        let ty = self.comp_type("a component name", " after `=` in `.init`")?;
        let span = kw.span.to(ty.span);
        Ok(Outcome::Unit(Unit::Init(Init { name, ty, span })))
    }

    /// `Name` or `Name<A, B>`.
    fn comp_type(&mut self, what: &str, after: &str) -> PResult<CompType> {
        let t = self.expect(Tok::Ident, what, after)?;
        let name = self.simple_name(t, "a component")?;
        let mut params = Vec::new();
        let mut end = name.span;
        if self.at(Tok::Lt) {
            self.bump();
            loop {
                let p = self.expect(Tok::Ident, "a type parameter", " in `<...>`")?;
                params.push(self.ident(p));
                let t = self.peek();
                match t.kind {
                    Tok::Comma => {
                        self.bump();
                    }
                    Tok::Gt => {
                        end = self.bump().span;
                        break;
                    }
                    _ => return Err(self.expected(t, "`,` or `>`", " after a type parameter")),
                }
            }
        }
        Ok(CompType {
            span: name.span.to(end),
            name,
            params,
        })
    }

    /// An identifier that names a component or an instance: not qualified (`a.b`) nor built-in.
    fn simple_name(&mut self, t: Token, what: &str) -> PResult<Ident> {
        let name = self.ident(t);
        if name.name.contains('.') || name.name.starts_with('$') {
            let d = Diagnostic::error(format!(
                "`{}` cannot name {what}: the name must be a plain identifier",
                name.name
            ))
            .with_code(components::codes::MISPLACED)
            .with_primary(self.file, name.span, "not a plain identifier");
            return Err(self.report(d));
        }
        Ok(name)
    }

    /// `.pragma "key" "value"` or `.pragma "key"` (the keyword is consumed): one of Souffle's
    /// command-line options; see [`pragma`].
    fn pragma(&mut self, kw: Token) -> PResult<Outcome> {
        let key = self.expect_with_help(
            Tok::Str,
            "a string",
            " after `.pragma`",
            "write `.pragma \"option\" \"value\"`",
        )?;
        let value = if self.at(Tok::Str) {
            Some(self.bump())
        } else {
            None
        };
        let key_text = unescape(self.text(key));
        let value_text = value.map(|v| unescape(self.text(v)));
        let span = kw.span.to(value.unwrap_or(key).span);
        if let Some(d) = pragma::check(self.file, &key_text, value_text.as_deref(), span) {
            self.diags.push(d);
        }
        Ok(Outcome::Nothing)
    }

    /// An identifier token as an [`Ident`].
    fn ident(&self, t: Token) -> Ident {
        Ident {
            name: self.text(t).to_string(),
            span: t.span,
        }
    }

    /// `.decl name(col: type, ...)` with optional Souffle qualifiers after it; `.decl a, b(...)`
    /// declares each name with the same columns and qualifiers.
    fn decl(&mut self, kw: Token) -> PResult<Vec<Decl>> {
        let name = self.expect(Tok::Ident, "a relation name", " after `.decl`")?;
        let mut names = vec![self.ident(name)];
        while self.at(Tok::Comma) {
            self.bump();
            let more = self.expect(Tok::Ident, "a relation name", " after `,` in `.decl`")?;
            names.push(self.ident(more));
        }
        let Some(name) = names.last().cloned() else {
            return Err(self.expected(kw, "a relation name", ""));
        };
        let after_name = format!(" after `.decl {}`", name.name);
        self.expect(Tok::LParen, "`(`", &after_name)?;
        let (params, close) = self.typed_names(Tok::RParen, "column")?;
        let qualifiers = self.qualifiers(&name.name, &params)?;
        Ok(names
            .into_iter()
            .map(|name| Decl {
                name,
                params: params.clone(),
                qualifiers: qualifiers.clone(),
                span: kw.span.to(close.span),
            })
            .collect())
    }

    fn expect_with_help(
        &mut self,
        kind: Tok,
        what: &str,
        after: &str,
        help: &str,
    ) -> PResult<Token> {
        let t = self.peek();
        if t.kind == kind {
            Ok(self.bump())
        } else {
            Err(self.expected_with_help(t, what, after, Some(help)))
        }
    }

    /// The next token is a qualifier (`brie`, `eqrel`, ...) after a declaration.
    fn is_qualifier(&mut self) -> bool {
        let t = self.peek();
        t.kind == Tok::Ident
            && self.nth(1).kind != Tok::LParen
            && (IGNORED_QUALIFIERS.contains(&self.text(t))
                || KEPT_QUALIFIERS.contains(&self.text(t)))
    }

    fn is_choice_domain(&mut self) -> bool {
        let t = self.peek();
        let (minus, domain) = (self.nth(1), self.nth(2));
        t.kind == Tok::Ident
            && self.text(t) == "choice"
            && minus.kind == Tok::Minus
            && domain.kind == Tok::Ident
            && self.text(domain) == "domain"
    }

    /// Reads Souffle qualifiers after the declaration of `rel` with columns `params`: keeps
    /// `eqrel`, `input`, `output`, `printsize` and `overridable`; skips the data-structure ones
    /// (`brie`, ...) with one warning; reports a choice domain (`choice-domain x, (y, z)`), which
    /// calm does not implement, as an error (after any column it names that `rel` lacks).
    fn qualifiers(&mut self, rel: &str, params: &[Param]) -> PResult<Vec<Ident>> {
        let mut kept = Vec::new();
        let mut skipped: Option<Span> = None;
        let mut skipped_names = Vec::new();
        loop {
            if self.is_qualifier() {
                let t = self.bump();
                if KEPT_QUALIFIERS.contains(&self.text(t)) {
                    kept.push(self.ident(t));
                } else {
                    skipped_names.push(self.text(t));
                    skipped = Some(skipped.map_or(t.span, |s| s.to(t.span)));
                }
            } else if self.is_choice_domain() {
                let first = self.bump();
                self.bump();
                let domain = self.bump();
                self.choice_domain_columns(rel, params)?;
                let d = Diagnostic::error("choice domains are not supported")
                    .with_code(codes::UNSUPPORTED)
                    .with_primary(
                        self.file,
                        first.span.to(domain.span),
                        "not supported by calm",
                    )
                    .with_help(
                        "a choice domain keeps one arbitrary tuple per key, an order-dependent \
                         result; derive the tuple you want explicitly (for example with `min`)",
                    );
                return Err(self.report(d));
            } else {
                break;
            }
        }
        if let Some(span) = skipped {
            let text = skipped_names.join(" ");
            let d = Diagnostic::warning(format!("Souffle relation qualifier `{text}` ignored"))
                .with_code(codes::IGNORED_QUALIFIER)
                .with_primary(self.file, span, "ignored")
                .with_note("calm chooses the data structures of relations itself");
            self.diags.push(d);
        }
        Ok(kept)
    }

    /// The keys of a choice domain, `x, (y, z), ...`: each column must be one of `params`
    /// (an error with code `E0028` for each that is not).
    fn choice_domain_columns(&mut self, rel: &str, params: &[Param]) -> PResult<()> {
        loop {
            let mut names = Vec::new();
            if self.at(Tok::LParen) {
                self.bump();
                loop {
                    names.push(self.expect(Tok::Ident, "a column name", " in a choice domain")?);
                    let t = self.peek();
                    match t.kind {
                        Tok::Comma => {
                            self.bump();
                        }
                        Tok::RParen => {
                            self.bump();
                            break;
                        }
                        _ => return Err(self.expected(t, "`,` or `)`", " in a choice domain")),
                    }
                }
            } else {
                names.push(self.expect(Tok::Ident, "a column name", " in a choice domain")?);
            }
            for t in names {
                let name = self.text(t);
                if !params.iter().any(|p| p.name.name == name) {
                    let d = Diagnostic::error(format!(
                        "`{name}` in the choice domain is not a column of `{rel}`"
                    ))
                    .with_code(codes::UNKNOWN_COLUMN)
                    .with_primary(self.file, t.span, "no such column");
                    self.diags.push(d);
                }
            }
            // A `,` continues the domain unless a declaration or a clause follows it.
            if self.at(Tok::Comma) && matches!(self.nth(1).kind, Tok::Ident | Tok::LParen) {
                self.bump();
            } else {
                return Ok(());
            }
        }
    }

    /// `.input a(k=v, ...), b` (the keyword is consumed).
    fn directive(&mut self, kw: Token, kind: DirectiveKind) -> PResult<Directive> {
        let kw_text = self.text(kw);
        let after_kw = format!(" after `{kw_text}`");
        let mut targets = Vec::new();
        loop {
            let name = self.expect(Tok::Ident, "a relation name", &after_kw)?;
            let name = self.ident(name);
            let mut params = Vec::new();
            if self.at(Tok::LParen) {
                self.bump();
                if self.at(Tok::RParen) {
                    self.bump();
                } else {
                    loop {
                        params.push(self.io_param()?);
                        let t = self.peek();
                        match t.kind {
                            Tok::Comma => {
                                self.bump();
                            }
                            Tok::RParen => {
                                self.bump();
                                break;
                            }
                            _ => {
                                return Err(self.expected(t, "`,` or `)`", " after a parameter"));
                            }
                        }
                    }
                }
            }
            targets.push(DirectiveTarget { name, params });
            if self.at(Tok::Comma) {
                self.bump();
            } else {
                break;
            }
        }
        Ok(Directive {
            kind,
            kind_span: kw.span,
            targets,
            span: Span::new(kw.span.start, self.last_end),
        })
    }

    /// `key=value`
    fn io_param(&mut self) -> PResult<IoParam> {
        let key = self.expect(Tok::Ident, "a parameter name", "")?;
        let key = self.ident(key);
        let after_key = format!(" after `{}`", key.name);
        self.expect_with_help(Tok::Eq, "`=`", &after_key, "write `key=value`")?;
        let v = self.peek();
        let value = match v.kind {
            Tok::Str => unescape(self.text(v)),
            Tok::Ident | Tok::Number => self.text(v).to_string(),
            _ => {
                return Err(self.expected(v, "a value", &format!(" for `{}`", key.name)));
            }
        };
        self.bump();
        Ok(IoParam {
            key,
            value,
            value_span: v.span,
        })
    }

    /// `head.` or `head :- body.`, with an optional `@next`/`@async` after the head. Souffle's
    /// several heads, `a(x), b(x) :- body.`, give one rule per head, each with the whole body.
    fn clause(&mut self) -> PResult<Vec<Rule>> {
        let (head, _) = self.atom()?;
        if self.at(Tok::Le) {
            return self.subsumption(head);
        }
        let time = self.time_suffix()?;
        let mut heads = vec![(head, time)];
        while self.at(Tok::Comma) && heads.iter().all(|(_, t)| t.is_none()) {
            self.bump();
            let (more, _) = self.atom()?;
            let time = self.time_suffix()?;
            if let Some(t) = time {
                let d = Diagnostic::error("a rule with several heads cannot have a time suffix")
                    .with_code(codes::UNEXPECTED)
                    .with_primary(self.file, t.span(), "time suffix on one of several heads")
                    .with_help("write one rule per head");
                return Err(self.report(d));
            }
            heads.push((more, time));
        }
        if heads.len() > 1 && !self.at(Tok::ColonDash) {
            let t = self.peek();
            return Err(self.expected(t, "`:-`", " after several heads"));
        }
        let t = self.peek();
        let (disjuncts, end) = match t.kind {
            Tok::Dot => (vec![Vec::new()], self.bump()),
            Tok::ColonDash => {
                self.bump();
                self.body_disjuncts()?
            }
            _ => {
                let help = (t.line_start && t.kind == Tok::Ident)
                    .then_some("is a `.` missing at the end of the fact?");
                return Err(self.expected_with_help(t, "`:-` or `.`", " after the head", help));
            }
        };
        // One rule per head and per disjunct of the body.
        let mut rules = Vec::with_capacity(heads.len() * disjuncts.len());
        for (head, time) in heads {
            for body in &disjuncts {
                rules.push(Rule {
                    span: head.span.to(end.span),
                    head: head.clone(),
                    time,
                    body: body.clone(),
                    dominated_by: None,
                });
            }
        }
        Ok(rules)
    }

    /// Souffle's subsumption `head <= other :- body.` (after `head`), one clause per disjunct
    /// of the body.
    fn subsumption(&mut self, head: crate::ast::Atom) -> PResult<Vec<Rule>> {
        self.bump();
        let (other, _) = self.atom()?;
        let t = self.peek();
        if t.kind != Tok::ColonDash {
            return Err(self.expected(t, "`:-`", " after a subsumption's atoms"));
        }
        self.bump();
        let (disjuncts, end) = self.body_disjuncts()?;
        Ok(disjuncts
            .into_iter()
            .map(|body| Rule {
                span: head.span.to(end.span),
                head: head.clone(),
                time: None,
                body,
                dominated_by: Some(other.clone()),
            })
            .collect())
    }

    fn time_suffix(&mut self) -> PResult<Option<TimeSuffix>> {
        if !self.at(Tok::At) {
            return Ok(None);
        }
        let at = self.bump();
        let w = self.peek();
        if w.kind != Tok::Ident {
            return Err(self.expected(w, "`next` or `async`", " after `@`"));
        }
        let span = at.span.to(w.span);
        let suffix = match self.text(w) {
            "next" => TimeSuffix::Next(span),
            "async" => TimeSuffix::Async(span),
            other => {
                let d = Diagnostic::error(format!("unknown time suffix `@{other}`"))
                    .with_code(codes::UNEXPECTED)
                    .with_primary(self.file, span, "expected `@next` or `@async`")
                    .with_help(
                        "`@next` derives the head at the next tick, `@async` sends it to the \
                         node in the location argument",
                    );
                return Err(self.report(d));
            }
        };
        self.bump();
        Ok(Some(suffix))
    }
}
