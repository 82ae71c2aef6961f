//! CALM003 order-dependent-deletion
//!
//! Default level: deny.
//!
//! ## What it finds
//!
//! A Dedalus deletion — a persistence rule `p(..)@next :- p(..), !del(..).` that carries `p`
//! into the next tick except what its negated condition names — whose condition depends on
//! facts that arrive by `@async`. The finding shows the chain from the `@async` rule to the
//! negated condition.
//!
//! ## Why it matters
//!
//! Deletion makes state mutable, and mutable state fed by messages depends on the order they
//! arrive in: if the deletion arrives before the insertion it was meant to undo, the insertion
//! wins; after, the deletion wins. Different nodes end in different states, and no amount of
//! waiting fixes it. Under CALM this is the archetypal point of order.
//!
//! ## Example
//!
//! ```text
//! put(@n, k)@async :- write(k), $member(n).
//! del(@n, k)@async :- erase(k), $member(n).
//! store(k)@next :- put(_, k).
//! store(k)@next :- store(k), !del(_, k).          // CALM003
//! ```
//!
//! ## Remedies
//!
//! - **Make the deletion a tombstone**: persist the deletions as a grow-only set and filter on
//!   read instead of deleting state:
//!
//!   ```text
//!   .persist put
//!   .persist del
//!   store(k) :- put(_, k), !del(_, k).            // converges (CALM001 at warn)
//!   ```
//!
//! - **Seal the input**: delete only once a manifest says every insertion the deletion refers
//!   to has arrived.
//! - **Move the deletion to a background coordination step** (garbage-collect tombstones once
//!   all nodes agree they are obsolete).
//! - **Compensate**: let the deletion race, and repair (re-insert, notify) when a late insertion
//!   shows it was premature.

use super::{Lint, point_of_order};
use crate::Finding;
use crate::analysis::{Analysis, Site};

/// The lint.
pub(crate) const LINT: Lint = Lint {
    code: "CALM003",
    name: "order-dependent-deletion",
    summary: "deletion (a persistence rule with a negated condition) fed by asynchronous input",
    default: super::DefaultLevel::Fixed(crate::Level::Deny),
    suppressible: true,
    configurable: true,
    source: include_str!("order_dependent_deletion.rs"),
};

pub(crate) fn check(a: &Analysis<'_>, site: &Site) -> Finding {
    let rule = &a.prog().rules[site.rule];
    let state = a.name(rule.head);
    let cond = site
        .culprit()
        .map(|r| a.name(r.rel))
        .unwrap_or_else(|| "?".into());
    let mut f = point_of_order(
        &LINT,
        a,
        site,
        String::new(),
        format!("deletes `{state}` when `{cond}` arrives"),
        "make the deletion a tombstone (persist a grow-only set of deletions and filter on read: `live(k) :- p(k), !deleted(k).`), seal the input (delete only once a manifest says every insertion has arrived), move the deletion to a background coordination step, or compensate (repair when a late insertion shows the deletion was premature)",
    );
    f.message = format!(
        "order-dependent deletion: `{state}` facts are deleted where `{cond}` holds, and `{cond}` depends on asynchronous input: what remains of `{state}` depends on the order messages arrive in"
    );
    f
}
