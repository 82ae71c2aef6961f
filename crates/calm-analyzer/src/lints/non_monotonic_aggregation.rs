//! CALM002 non-monotonic-aggregation
//!
//! Default level: deny when the result is persisted, sent or drives a deletion; warn when the
//! result is only read.
//!
//! ## What it finds
//!
//! An aggregate (`count`, `sum`, `min`, `max`, in body or head form) over a relation that
//! depends, through any chain of rules, on facts that arrive by `@async`. The finding shows the
//! chain from the `@async` rule to the aggregate.
//!
//! ## Why it matters
//!
//! An aggregate is a function of the *whole* set it ranges over. While messages are in flight
//! the set is incomplete: the count is too small, the minimum too large. Each new fact retracts
//! the previous result and asserts another, so the aggregate is not monotone, and a program
//! that acts on it is a *point of order* under CALM.
//!
//! If the result is persisted, sent or used to delete (deny), the premature value becomes
//! permanent and nodes that see messages in different orders disagree for ever. If it is only
//! read (warn), the value converges once all input has arrived.
//!
//! ## Example
//!
//! A shopping cart whose server counts the items when the checkout request arrives; an update
//! sent before the checkout may be delivered after it.
//!
//! ```text
//! update(@s, c, id, i)@async :- action(c, id, i), server(s).
//! checkout(@s, c)@async      :- request(c), server(s).
//! .persist order
//! order(c, n) :- checkout(_, c), n = count : { update(_, c, _, _) }.   // CALM002
//! ```
//!
//! ## Remedies
//!
//! - **Seal the input**: send a manifest (the ids of every update) with the checkout and count
//!   only once every listed update is present (see CALM007 for the pattern recognised).
//! - **Make deletions tombstones** when the aggregate counts live items: count additions and
//!   removals as two grow-only sets and only read the difference.
//! - **Move the decision to a background coordination step**: aggregate a snapshot the nodes
//!   agreed on.
//! - **Compensate**: act on the current value, and correct (refund, re-ship) when a late fact
//!   changes it.

use super::{Lint, REMEDIES, operation, point_of_order};
use crate::Finding;
use crate::analysis::{Analysis, Site};

/// The lint.
pub(crate) const LINT: Lint = Lint {
    code: "CALM002",
    name: "non-monotonic-aggregation",
    summary: "aggregation over asynchronous input (a point of order)",
    default: super::DefaultLevel::ByConsequence,
    suppressible: true,
    configurable: true,
    source: include_str!("non_monotonic_aggregation.rs"),
};

pub(crate) fn check(a: &Analysis<'_>, site: &Site) -> Finding {
    let op = operation(a, site);
    point_of_order(
        &LINT,
        a,
        site,
        format!("point of order: {op}, which depends on asynchronous input"),
        format!("{op}: changes with every late fact"),
        REMEDIES,
    )
}
