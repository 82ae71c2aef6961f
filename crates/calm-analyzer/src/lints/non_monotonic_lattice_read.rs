//! CALM009 non-monotonic-lattice-read
//!
//! Default level: deny when the result is persisted, sent or drives a deletion; warn when the
//! result is only read.
//!
//! ## What it finds
//!
//! A read of a lattice value (a relation whose last column is declared `max`, `min`, `bool` or
//! `counter`, or whose last three are an `lww` value) other than a monotone one, over a
//! relation that depends, through any chain of rules, on facts that arrive by `@async`.
//! Monotone reads are not findings:
//!
//! | lattice | monotone reads |
//! |---|---|
//! | `max`, `counter` | `v >= k`, `v > k`; `v`, `v + e`, `max(v, e)` into a head of the same lattice |
//! | `min` | `v <= k`, `v < k`; `v`, `v + e`, `min(v, e)` into a head of the same lattice |
//! | `bool` | "is true": `flag(x, 1)`, `v != 0`, `v >= 1`; `v` itself into a `bool` head |
//! | `lww` | a threshold on the timestamp `t >= k`; the triple `(t, w, v)` copied whole, in order, into an `lww` head |
//!
//! and ignoring the value (`flag(x, _)`: the key exists). Everything else is a raw read: the
//! value copied into a plain column or a key, compared with `=`, `!=` or a threshold the wrong
//! way ("is false" on a `bool`), joined with another column, the value or writer of an `lww`
//! register read on its own. The finding shows the chain from the `@async` rule to the read.
//! (A `counter`'s total, `sum n : { c(k, _, n) }`, is an aggregate: compared upwards with a
//! constant it is a monotone threshold, CALM008.)
//!
//! ## Why it matters
//!
//! A lattice value only grows, and a merge or a threshold on it is monotone: once true, true for
//! ever, so they are no point of order. The exact value is not: while messages are in flight it
//! is too small (a `max`), too large (a `min`), still false (a `bool`) or an older write (an
//! `lww` register), and each late fact replaces it. A program that
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
        "read a threshold in the direction the value grows (`>=` on `max` and `counter`, `<=` on `min`, \"is true\" on `bool`, `>=` on an `lww` timestamp) if the decision only needs a bound, seal the input (read the value once a manifest says every contribution arrived), move the decision to a background coordination step, or compensate",
    )
}
