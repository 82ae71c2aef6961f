//! CALM004 membership-under-negation
//!
//! Default level: deny when the result is persisted, sent or drives a deletion; warn when the
//! result is only read.
//!
//! ## What it finds
//!
//! A negation or an aggregate over the cluster membership `$member`, directly
//! (`!$member(n)`, `count : { $member(_) }`) or through relations derived from it in the same
//! tick or at `@next` — the shape of "heard from every member":
//!
//! ```text
//! waiting(n) :- $member(n), !ack(_, n).
//! done()     :- !waiting(_).                      // CALM004: ranges over every member
//! ```
//!
//! Sending to members (`p(@n, x)@async :- q(x), $member(n).`) only addresses them and is not
//! reported; nor is `$self`, which is constant on a node.
//!
//! ## Why it matters
//!
//! Ameloot et al. sharpened the CALM theorem: the programs that need coordination are exactly
//! those that must know *all* the members of the cluster. Membership changes while the program
//! runs (nodes join, leave, are heard from late), so "for every member" is a question whose
//! answer depends on when it is asked: a point of order.
//!
//! ## Example
//!
//! A barrier that commits once every member has acknowledged:
//!
//! ```text
//! .persist committed
//! waiting(n)   :- $member(n), !ack(_, n).
//! committed(t) :- txn(t), !waiting(_).            // CALM004
//! ```
//!
//! ## Remedies
//!
//! - **Move the decision to a background coordination step**: fix the membership by a
//!   membership protocol (a configured view, an epoch agreed by consensus) and read that view
//!   as local input instead of `$member`.
//! - **Seal the input**: have each member send a punctuation ("I am done with epoch e") and a
//!   manifest of the members of the epoch.
//! - **Make deletions tombstones** when the decision removes state.
//! - **Compensate**: proceed with the members known now, reconcile when a late member appears.

use super::{Lint, point_of_order};
use crate::Finding;
use crate::analysis::{Analysis, Site, SiteKind};

/// The lint.
pub(crate) const LINT: Lint = Lint {
    code: "CALM004",
    name: "membership-under-negation",
    summary: "negation or aggregation over the cluster membership (\"heard from every member\")",
    default: super::DefaultLevel::ByConsequence,
    suppressible: true,
    configurable: true,
    source: include_str!("membership_under_negation.rs"),
};

pub(crate) fn check(a: &Analysis<'_>, site: &Site) -> Finding {
    let rel = site
        .culprit()
        .map(|r| a.name(r.rel))
        .unwrap_or_else(|| "?".into());
    let op = match site.kind {
        SiteKind::Negation => format!("negation of `{rel}`"),
        SiteKind::Aggregation(f) => format!("`{}` over `{rel}`", f.as_str()),
        SiteKind::LatticeRead => format!("raw read of the lattice value of `{rel}`"),
    };
    let what = if rel == "$member" {
        format!("point of order: {op} reads the whole cluster membership")
    } else {
        format!("point of order: {op}, which ranges over the cluster membership (`$member`)")
    };
    point_of_order(
        &LINT,
        a,
        site,
        what,
        format!("{op}: \"for every member\" changes when a member joins or is heard from late"),
        "move the decision to a background coordination step (fix the membership by a membership protocol and read the agreed view as local input), seal the input (a punctuation from each member and a manifest of the members), make deletions tombstones, or compensate (reconcile when a late member appears)",
    )
}
