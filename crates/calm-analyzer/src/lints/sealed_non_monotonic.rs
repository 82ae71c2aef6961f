//! CALM007 sealed-non-monotonic
//!
//! Default level: allow (shown as a note with `calm check --verbose`; the summary line names
//! every seal).
//!
//! ## What it finds
//!
//! A negation or an aggregate over asynchronous input that a *manifest seal* guards, so that it
//! converges. The seal recognised is the shopping cart's sealed checkout:
//!
//! ```text
//! manifest(@s, c, id)@async :- request(c), action(c, id, _), server(s).
//! checkout(@s, c)@async     :- request(c), server(s).
//! missing(c, id) :- manifest(_, c, id), !update(_, c, id, _).      // the gap
//! ready(c)       :- checkout(_, c), !missing(c, _).                // the guard
//! order(c, n)    :- ready(c), n = count : { update(_, c, _, _) }.  // guarded by `ready(c)`
//! ```
//!
//! Precisely: the *gap* (`missing`) is derived only by rules with one positive manifest atom
//! and one negation of the sealed relation (`update`) whose variables the manifest binds; the
//! *guard* (`ready`) only by rules with a positive trigger atom (`checkout`) and a negation of
//! the gap keyed by variables the trigger binds (the cart `c`), carried through the gap into
//! the manifest and the sealed relation. The manifest must be complete whenever the trigger is
//! present: it is local input, or it arrives in the same message as the trigger (every rule
//! sending it reads what a plain rule sending the trigger reads, so both are sent in the same
//! tick, and calm delivers what one node sends another in one tick together). Then the gap's
//! negation (if only guards read the gap), the guard's negation, and every negation or
//! aggregate over the sealed relation in a rule with a guard atom on the same key are sealed.
//!
//! ## Why it matters
//!
//! A seal turns a point of order into a monotone step: once the guard holds for a key, every
//! update the manifest lists is present, and by the client's contract (the manifest lists all
//! of its updates) no other will come. The count can no longer change, whatever the order of
//! arrival. CALM's coordination is replaced by a little more data in the message.
//!
//! ## Example
//!
//! See above; without the guard, the count is CALM002 at deny.
//!
//! ## Remedies
//!
//! None needed: the seal is the remedy (the other ones being tombstones, a background
//! coordination step, or compensation). The soundness rests on two assumptions the analyzer
//! cannot check: the manifest lists every update of its key, and nothing for that key is sent
//! after the checkout.

use super::{Lint, operation};
use crate::Finding;
use crate::analysis::{Analysis, Site};

/// The lint.
pub(crate) const LINT: Lint = Lint {
    code: "CALM007",
    name: "sealed-non-monotonic",
    summary: "negation or aggregation over asynchronous input guarded by a manifest seal (converges)",
    default: super::DefaultLevel::Fixed(crate::Level::Allow),
    suppressible: true,
    configurable: true,
    source: include_str!("sealed_non_monotonic.rs"),
};

pub(crate) fn check(a: &Analysis<'_>, site: &Site) -> Finding {
    let op = operation(a, site);
    let seal = a.seal_of(site).map(|s| {
        let n = |r| a.name(r);
        (
            n(s.guard),
            n(s.sealed),
            n(s.manifest),
            n(s.trigger),
            s.describe(a.prog()),
        )
    });
    let (message, label) = match &seal {
        Some((guard, sealed, manifest, trigger, _)) => (
            format!(
                "sealed: {op} depends on asynchronous input but converges: `{guard}` holds only once every `{sealed}` listed in the manifest `{manifest}` (which arrives with `{trigger}`) is present"
            ),
            format!("{op}: sealed by the manifest `{manifest}`"),
        ),
        None => (
            format!("sealed: {op} depends on asynchronous input but converges"),
            format!("{op}: sealed"),
        ),
    };
    let mut f = super::finding(&LINT, a.file(), site.span, label, message);
    if let Some(r) = site.culprit() {
        f.path = a.path(r.rel, false);
    }
    if let Some((.., described)) = seal {
        f.notes.push(format!(
            "{described}: once the guard holds for a key, the sealed input for that key is complete, so the answer never changes"
        ));
    }
    f.help = Some(format!(
        "nothing to do: the seal is the remedy (it relies on the manifest listing every update of its key); see `calm explain {}`",
        LINT.code
    ));
    f
}
