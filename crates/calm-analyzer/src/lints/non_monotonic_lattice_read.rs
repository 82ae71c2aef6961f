//! CALM009 non-monotonic-lattice-read
//!
//! Default level: deny when the result is persisted, sent or drives a deletion; warn when the
//! result is only read.
//!
//! ## What it finds
//!
//! A read of a lattice value (a relation whose last column is declared `max` or `min`) other
//! than a monotone one, over a relation that depends, through any chain of rules, on facts that
//! arrive by `@async`. Monotone reads are not findings: a threshold in the direction the value
//! grows (`v >= k` on `max`, `v <= k` on `min`) and a merge into the value of a head of the
//! same lattice through an expression that grows with it (`d + w`, `max(v, w)`). Everything else
//! is a raw read: the value copied into a plain column or a key, compared with `=`, `!=` or a
//! threshold the wrong way, joined with another column. The finding shows the chain from the
//! `@async` rule to the read.
//!
//! ## Why it matters
//!
//! A lattice value only grows, and a merge or a threshold on it is monotone: once true, true for
//! ever, so they are no point of order. The exact value is not: while messages are in flight it
//! is too small (a `max`) or too large (a `min`), and each late fact replaces it. A program that
//! acts on the exact value is a *point of order* under CALM, as with an aggregate.
//!
//! If the result is persisted, sent or used to delete (deny), the premature value becomes
//! permanent and nodes that see messages in different orders disagree for ever. If it is only
//! read (warn), it converges once all input has arrived.
//!
//! ## Example
//!
//! A bid register merged from every node; announcing the current highest bid as the winner is
//! a point of order, announcing that the bids reached the reserve price is not.
//!
//! ```text
//! .decl best(item: symbol, amount: max)
//! best(i, a) :- bid(_, i, a).
//! reached(i)@async ... :- best(i, a), a >= 100.     // monotone: no finding
//! .persist winner
//! winner(i, a) :- best(i, a), closed(i).            // CALM009
//! ```
//!
//! ## Remedies
//!
//! - **Read a threshold** instead of the value when the decision only needs a bound.
//! - **Seal the input**: read the value only once a manifest says every contribution arrived.
//! - **Move the decision to a background coordination step**: read the value of an agreed
//!   snapshot.
//! - **Compensate**: act on the current value, and correct when a late fact raises it.

use super::{Lint, operation, point_of_order};
use crate::Finding;
use crate::analysis::{Analysis, Site};

/// The lint.
pub(crate) const LINT: Lint = Lint {
    code: "CALM009",
    name: "non-monotonic-lattice-read",
    summary: "a raw read of a lattice value over asynchronous input (a point of order)",
    default: super::DefaultLevel::ByConsequence,
    suppressible: true,
    configurable: true,
    source: include_str!("non_monotonic_lattice_read.rs"),
};

pub(crate) fn check(a: &Analysis<'_>, site: &Site) -> Finding {
    let op = operation(a, site);
    point_of_order(
        &LINT,
        a,
        site,
        format!("point of order: {op}, which depends on asynchronous input"),
        format!("{op}: changes with every late fact"),
        "read a threshold in the direction the value grows (`>=` on `max`, `<=` on `min`) if the decision only needs a bound, seal the input (read the value once a manifest says every contribution arrived), move the decision to a background coordination step, or compensate",
    )
}
