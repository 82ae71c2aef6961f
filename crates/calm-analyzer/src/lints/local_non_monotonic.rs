//! CALM006 local-non-monotonic
//!
//! Default level: allow (shown as a note with `calm check --verbose`).
//!
//! ## What it finds
//!
//! A negation or an aggregate over relations that depend on no asynchronous input and not on
//! the cluster membership: only local facts (`.input`, facts in the program, `$self`), or
//! relations derived from them on this node.
//!
//! ## Why it matters
//!
//! CALM is about distributed input. A non-monotonic operation over input that does not change
//! while the program runs — or changes only by the node's own deterministic steps — gives the
//! same answer whatever the order messages arrive in. It is *not* a point of order, and
//! reporting it would drown the real ones: the lint is allowed by default so that `calm check`
//! stays precise rather than noisy. Turn it on (`--warn CALM006`) to list every
//! non-monotonic operation of a program, for instance when reviewing one that will later read
//! remote data.
//!
//! ## Example
//!
//! ```text
//! .input order
//! .input cancelled
//! open(o) :- order(o), !cancelled(o).             // CALM006: local only
//! ```
//!
//! ## Remedies
//!
//! None needed. If the negated input later comes from other nodes (`@async`), the operation
//! becomes a point of order (CALM001/CALM002) and the remedies there apply: seal the input, use
//! tombstones, move the decision to a background coordination step, or compensate.

use super::{Lint, operation};
use crate::Finding;
use crate::analysis::{Analysis, Site};

/// The lint.
pub(crate) const LINT: Lint = Lint {
    code: "CALM006",
    name: "local-non-monotonic",
    summary: "negation or aggregation over local data only (not a point of order)",
    default: super::DefaultLevel::Fixed(crate::Level::Allow),
    suppressible: true,
    configurable: true,
    source: include_str!("local_non_monotonic.rs"),
};

pub(crate) fn check(a: &Analysis<'_>, site: &Site) -> Finding {
    let op = operation(a, site);
    let mut f = super::finding(
        &LINT,
        a.file(),
        site.span,
        format!("{op}: local input only"),
        format!("{op} reads only local data: not a point of order"),
    );
    f.notes
        .push("no input of this operation arrives by `@async` or enumerates `$member`, so every order of arrival gives the same answer".to_string());
    f.help = Some(format!(
        "nothing to do; if this input ever comes from other nodes, seal it, use tombstones, move the decision to a background coordination step, or compensate; see `calm explain {}`",
        LINT.code
    ));
    f
}
