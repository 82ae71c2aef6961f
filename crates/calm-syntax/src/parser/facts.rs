//! [`parse_facts`](super::parse_facts): keep only facts with constant arguments.

use super::{Parsed, codes, sort_diagnostics};
use crate::ast::{Expr, Item};
use crate::{Diagnostic, FileId, Span};

/// Whether an expression is a constant a client may send: a number, a string or a negated number.
fn is_constant(e: &Expr) -> bool {
    match e {
        Expr::Number(..) | Expr::String(..) => true,
        Expr::Neg(inner, _) => matches!(**inner, Expr::Number(..)),
        _ => false,
    }
}

/// Why an item is not a plain fact: the span to point at and the label.
fn not_a_fact(item: &Item) -> Option<(Span, &'static str)> {
    match item {
        Item::Decl(d) => Some((d.span, "a declaration is not a fact")),
        Item::Directive(d) => Some((d.span, "a directive is not a fact")),
        Item::Type(t) => Some((t.span, "a type declaration is not a fact")),
        Item::Rule(r) => {
            if let (Some(first), Some(last)) = (r.body.first(), r.body.last()) {
                return Some((first.span().to(last.span()), "a fact has no body"));
            }
            if let Some(t) = r.time {
                return Some((t.span(), "a fact sent by a client has no time suffix"));
            }
            r.head
                .args
                .iter()
                .find(|a| a.location || !is_constant(&a.expr))
                .map(|a| (a.span, "not a constant"))
        }
    }
}

/// Moves every item that is not a fact with constant arguments out of the program and into a
/// diagnostic.
pub(super) fn keep_only_facts(file: FileId, parsed: &mut Parsed) {
    let items = std::mem::take(&mut parsed.program.items);
    let mut added = false;
    for item in items {
        match not_a_fact(&item) {
            None => parsed.program.items.push(item),
            Some((span, label)) => {
                added = true;
                parsed.diagnostics.push(
                    Diagnostic::error("expected a fact")
                        .with_code(codes::NOT_A_FACT)
                        .with_primary(file, span, label)
                        .with_help(
                            "only facts with constant arguments are accepted here, e.g. \
                             `edge(1, \"a\").`",
                        ),
                );
            }
        }
    }
    if added {
        sort_diagnostics(&mut parsed.diagnostics);
    }
}
