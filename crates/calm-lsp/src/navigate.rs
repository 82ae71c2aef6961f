//! Go to definition, find references, rename and document symbols, all over the
//! [`Occurrences`](crate::occurrences::Occurrences) of a document.

use crate::document::Analysed;
use crate::occurrences::{Occurrences, Role, valid_name};
use calm_syntax::ast::{self, TimeSuffix, TypeDef};
use calm_syntax::{FileId, Span};

/// Where relation `name` is defined: its `.decl` (from the tree, or from a declaration that did
/// not parse), or else the heads of the rules and facts that derive it (those that parsed, or
/// else the names starting clauses that did not).
pub fn definition(doc: &Analysed, name: &str) -> Vec<Span> {
    let decls: Vec<Span> = doc
        .occurrences
        .of(name)
        .filter(|o| o.role == Role::Decl)
        .map(|o| o.span)
        .collect();
    if !decls.is_empty() {
        return decls;
    }
    let heads: Vec<Span> = doc
        .occurrences
        .of(name)
        .filter(|o| o.role == Role::Head)
        .map(|o| o.span)
        .collect();
    if !heads.is_empty() {
        return heads;
    }
    doc.occurrences
        .of(name)
        .filter(|o| o.role == Role::UnparsedHead)
        .map(|o| o.span)
        .collect()
}

/// Every place relation `name` is written; its declarations only with `with_decl`.
pub fn references(doc: &Analysed, name: &str, with_decl: bool) -> Vec<Span> {
    doc.occurrences
        .of(name)
        .filter(|o| with_decl || o.role != Role::Decl)
        .map(|o| o.span)
        .collect()
}

/// Why a rename cannot be done.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenameError {
    /// The cursor is on no relation.
    #[error("there is no relation here to rename")]
    NoRelation,
    /// A built-in relation.
    #[error("`{0}` is built in and cannot be renamed")]
    Builtin(String),
    /// The new name is not a relation name.
    #[error(
        "`{0}` is not a valid relation name (letters, digits and `_`, parts joined by `.`, not a reserved word)"
    )]
    InvalidName(String),
    /// Another relation already has the new name.
    #[error("a relation named `{0}` already exists: renaming would merge the two")]
    Taken(String),
    /// The relation is also used inside a component.
    #[error(
        "`{0}` is also used inside a component, where its name is written differently: rename it there by hand"
    )]
    InComponent(String),
    /// The renamed text would not be the same program with another name.
    #[error("renaming `{0}` would change what the text parses to: {1}")]
    Changes(String, String),
}

/// The edits renaming the relation under `offset` to `new_name`: the byte spans to replace by
/// the new name, checked by parsing the renamed text.
pub fn rename(
    doc: &Analysed,
    text: &str,
    offset: usize,
    new_name: &str,
) -> Result<Vec<Span>, RenameError> {
    let occ = doc.occurrences.at(offset).ok_or(RenameError::NoRelation)?;
    let old = occ.name.as_str();
    if old.starts_with('$') {
        return Err(RenameError::Builtin(old.to_string()));
    }
    if !valid_name(new_name) {
        return Err(RenameError::InvalidName(new_name.to_string()));
    }
    if new_name == old {
        return Ok(Vec::new());
    }
    if doc.occurrences.hidden.contains(old) {
        return Err(RenameError::InComponent(old.to_string()));
    }
    if doc.relations.contains_key(new_name)
        || doc.occurrences.of(new_name).next().is_some()
        || doc.occurrences.hidden.contains(new_name)
    {
        return Err(RenameError::Taken(new_name.to_string()));
    }
    let spans: Vec<Span> = doc.occurrences.of(old).map(|o| o.span).collect();
    // Check: the renamed text has the same occurrences, with the new name, and parses with the
    // same number of problems.
    let renamed = apply(text, &spans, new_name);
    let before = calm_syntax::parse(FileId(0), text);
    let after = calm_syntax::parse(FileId(0), &renamed);
    let after_occ = Occurrences::new(&renamed, &after.program);
    let roles = |o: &Occurrences, n: &str| o.of(n).map(|x| x.role).collect::<Vec<_>>();
    if roles(&after_occ, new_name) != roles(&doc.occurrences, old) {
        return Err(RenameError::Changes(
            old.to_string(),
            format!("`{new_name}` would not stand for `{old}` everywhere"),
        ));
    }
    if after.diagnostics.len() != before.diagnostics.len()
        || after.program.items.len() != before.program.items.len()
    {
        return Err(RenameError::Changes(
            old.to_string(),
            "the program would parse differently".to_string(),
        ));
    }
    Ok(spans)
}

/// `text` with every span replaced by `with` (spans sorted, not overlapping).
pub fn apply(text: &str, spans: &[Span], with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for s in spans {
        out.push_str(&text[at..s.start]);
        out.push_str(with);
        at = s.end;
    }
    out.push_str(&text[at..]);
    out
}

/// What kind of symbol an item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolKind {
    /// A `.decl`.
    Relation,
    /// A `.type`.
    Type,
    /// A directive.
    Directive,
    /// A rule.
    Rule,
    /// A fact.
    Fact,
}

/// One entry of the document's outline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// The name shown.
    pub name: String,
    /// More about it (columns, the time suffix).
    pub detail: Option<String>,
    /// What it is.
    pub kind: SymbolKind,
    /// The whole item.
    pub span: Span,
    /// The name's span.
    pub name_span: Span,
}

/// The most outline entries returned for one document.
pub const MAX_SYMBOLS: usize = 10_000;

/// The outline: every item that parsed, in order (at most [`MAX_SYMBOLS`]).
pub fn symbols(doc: &Analysed, text: &str) -> Vec<Symbol> {
    let mut out = Vec::new();
    for item in &doc.program.items {
        if out.len() >= MAX_SYMBOLS {
            break;
        }
        let sym = match item {
            ast::Item::Decl(d) => Symbol {
                name: d.name.name.clone(),
                detail: Some(format!(
                    "({})",
                    d.params
                        .iter()
                        .map(|p| format!("{}: {}", p.name.name, p.ty.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                kind: SymbolKind::Relation,
                span: d.span,
                name_span: d.name.span,
            },
            ast::Item::Type(t) => Symbol {
                name: t.name.name.clone(),
                detail: Some(
                    match &t.def {
                        TypeDef::Subtype(b) => format!("<: {}", b.name),
                        TypeDef::Union(_) => "union".to_string(),
                        TypeDef::Record(_) => "record".to_string(),
                        TypeDef::Adt(_) => "algebraic data type".to_string(),
                    }
                    .to_string(),
                ),
                kind: SymbolKind::Type,
                span: t.span,
                name_span: t.name.span,
            },
            ast::Item::Directive(d) => {
                let keyword = text.get(d.kind_span.start..d.kind_span.end).unwrap_or("");
                let names: Vec<&str> = d.targets.iter().map(|t| t.name.name.as_str()).collect();
                Symbol {
                    name: format!("{keyword} {}", names.join(", ")),
                    detail: None,
                    kind: SymbolKind::Directive,
                    span: d.span,
                    name_span: d.kind_span,
                }
            }
            ast::Item::Rule(r) => Symbol {
                name: r.head.name.name.clone(),
                detail: match r.time {
                    Some(TimeSuffix::Next(_)) => Some("@next".to_string()),
                    Some(TimeSuffix::Async(_)) => Some("@async".to_string()),
                    None if r.body.is_empty() => Some("fact".to_string()),
                    None => Some("rule".to_string()),
                },
                kind: if r.body.is_empty() {
                    SymbolKind::Fact
                } else {
                    SymbolKind::Rule
                },
                span: r.span,
                name_span: r.head.name.span,
            },
        };
        // Component copies point into the component's text under another name, and a clause
        // with a disjunction is several rules with one span: the outline lists what is written.
        let written = sym.kind == SymbolKind::Directive
            || text.get(sym.name_span.start..sym.name_span.end) == Some(sym.name.as_str());
        if !written || out.last().is_some_and(|s: &Symbol| s.span == sym.span) {
            continue;
        }
        out.push(sym);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use calm_analyzer::Config;

    fn doc(text: &str) -> Analysed {
        Analysed::new("t.dl", text, &Config::default())
    }

    #[test]
    fn rename_refusals() {
        let text =
            ".comp C { .decl r(x: number) r(1). }\n.init c = C\n.output c.r\np(x) :- c.r(x).\n";
        let d = doc(text);
        let at = text.find("c.r(x)").unwrap();
        assert_eq!(
            rename(&d, text, at, "s"),
            Err(RenameError::InComponent("c.r".into()))
        );
        assert_eq!(
            rename(&d, text, text.find("p(x)").unwrap(), "c.r"),
            Err(RenameError::Taken("c.r".into()))
        );
        assert_eq!(rename(&d, text, 0, "s"), Err(RenameError::NoRelation));
        let p = text.find("p(x)").unwrap();
        assert_eq!(rename(&d, text, p, "p"), Ok(Vec::new()));
        assert_eq!(rename(&d, text, p, "q.w"), Ok(vec![Span::new(p, p + 1)]));
    }

    #[test]
    fn symbols_skip_component_copies() {
        let text = ".comp C { .decl r(x: number) r(1). }\n.init c = C\n.decl e(a: number)\ne(1).\n";
        let d = doc(text);
        let names: Vec<(String, SymbolKind)> = symbols(&d, text)
            .into_iter()
            .map(|s| (s.name, s.kind))
            .collect();
        assert_eq!(
            names,
            vec![
                ("e".to_string(), SymbolKind::Relation),
                ("e".to_string(), SymbolKind::Fact)
            ]
        );
    }
}
