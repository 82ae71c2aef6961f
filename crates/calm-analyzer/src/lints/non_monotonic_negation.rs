//! CALM001 non-monotonic-negation
//!
//! Default level: deny when the result is persisted, sent or drives a deletion; warn when the
//! result is only read.
//!
//! ## What it finds
//!
//! A negated atom `!r(..)` where `r` depends, through any chain of rules, on facts that arrive
//! by `@async`. The finding shows that chain: the `@async` rule that sends the input, each rule
//! that derives the next relation from it, and the negation.
//!
//! ## Why it matters
//!
//! Under CALM, only monotone programs are coordination-free: with more input they derive more,
//! never less. A negation over asynchronous input is a *point of order*: `!r(x)` is true until
//! the message that makes `r(x)` true arrives, so the answer depends on when the node looks.
//!
//! What follows depends on what the program does with the answer:
//!
//! - **persisted, sent, or used to delete** (deny): the premature answer becomes permanent.
//!   Nodes that receive the same messages in different orders end in different states.
//! - **only read** (warn): the result is recomputed every tick; a late fact retracts an answer,
//!   but once all input has arrived every node computes the same one. This is the tombstone
//!   pattern, and it converges.
//!
//! ## Example
//!
//! Naive distributed garbage collection: references held by other nodes arrive late, so an
//! object that looks unreachable now may be referenced by an edge still in flight.
//!
//! ```text
//! edge(@n, a, b)@async :- ref(a, b), $member(n).
//! reachable(o) :- root(o).
//! reachable(b) :- reachable(a), edge(_, a, b).
//! garbage(o)   :- object(o), !reachable(o).        // CALM001: a point of order
//! object(o)@next :- object(o), !garbage(o).        // collecting it makes it permanent
//! ```
//!
//! ## Remedies
//!
//! - **Seal the input**: act only once a manifest or a punctuation says the input is complete
//!   (the guard `ready(k) :- trigger(k), !missing(k, _).` with
//!   `missing(k, id) :- manifest(k, id), !input(k, id).` is recognised; see CALM007).
//! - **Make deletions tombstones**: keep a grow-only set of deleted ids and only read the
//!   negation (`live(k) :- put(k), !deleted(k).`); the answer converges.
//! - **Move the decision to a background coordination step**: decide over a snapshot the nodes
//!   agreed on (a barrier or consensus outside the hot path), read as local input.
//! - **Compensate**: decide now, keep the decision revocable (recomputed, not persisted), and
//!   issue an apology when a late fact contradicts it.
//!
//! If the input is in fact sealed in a way the analyzer cannot see, suppress the finding with
//! the reason: `// calm: allow(CALM001) the client's manifest seals checkout`.

use super::{Lint, REMEDIES, operation, point_of_order};
use crate::Finding;
use crate::analysis::{Analysis, Site};

/// The lint.
pub(crate) const LINT: Lint = Lint {
    code: "CALM001",
    name: "non-monotonic-negation",
    summary: "negation over asynchronous input (a point of order)",
    default: super::DefaultLevel::ByConsequence,
    suppressible: true,
    configurable: true,
    source: include_str!("non_monotonic_negation.rs"),
};

pub(crate) fn check(a: &Analysis<'_>, site: &Site) -> Finding {
    let op = operation(a, site);
    point_of_order(
        &LINT,
        a,
        site,
        format!("point of order: {op}, which depends on asynchronous input"),
        format!("{op}: true until a late fact arrives"),
        REMEDIES,
    )
}
