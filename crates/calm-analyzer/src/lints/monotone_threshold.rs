//! CALM008 monotone-threshold
//!
//! Default level: allow (shown as a note with `calm check --verbose`).
//!
//! ## What it finds
//!
//! An aggregate over asynchronous input whose result the rule only compares with a constant,
//! in the direction the aggregate moves as facts arrive:
//!
//! | aggregate | monotone thresholds |
//! |---|---|
//! | `count : { … }`, `max x : { … }` | `>= k`, `> k` |
//! | `min x : { … }` | `<= k`, `< k` |
//! | `sum k : { … }` with a constant `k >= 0` | `>= k`, `> k` |
//! | `sum n : { c(…, n) }`, `n` the value of a `counter` `c` (its total) | `>= k`, `> k` |
//!
//! The result must appear nowhere else: not in the head, not in arithmetic, not in another
//! comparison. `sum` of another column is not recognised (its values may be negative, and a
//! plain column's rows may be deleted); a counter's total is, when the counted value appears
//! nowhere else in the aggregate's body (a filter `n < 5` would drop a row as it grows).
//!
//! ## Why it matters
//!
//! The aggregate itself is not monotone: while messages are in flight the count is too small.
//! But the *threshold* is: over a set that only grows, `count >= 2` is false, then true, and
//! never false again. The rule derives its fact once enough input has arrived and never has to
//! take it back, so every order of arrival ends in the same state, without coordination. This
//! is a quorum, a vote tally, a "seen at least k times" alarm.
//!
//! ## Example
//!
//! ```text
//! vote(@n, me, k)@async :- ballot(k), $self(me), $member(n).
//! quorum(k) :- proposal(k), c = count : { vote(_, _, k) }, c >= 2.    // CALM008
//! ```
//!
//! With `c = 2`, `c < 2` or `quorum(k, c)` instead, it is CALM002: the answer changes as
//! votes arrive.
//!
//! ## Remedies
//!
//! None needed. The comparison must stay one-sided: reading the exact value, or comparing it
//! the other way, makes it a point of order again. A negation over the threshold's result
//! (`!quorum(k)`) is its own site and is judged on its own.

use super::{Lint, operation};
use crate::Finding;
use crate::analysis::{Analysis, Site};

/// The lint.
pub(crate) const LINT: Lint = Lint {
    code: "CALM008",
    name: "monotone-threshold",
    summary: "aggregation over asynchronous input used only as a monotone threshold (converges)",
    default: super::DefaultLevel::Fixed(crate::Level::Allow),
    suppressible: true,
    configurable: true,
    source: include_str!("monotone_threshold.rs"),
};

pub(crate) fn check(a: &Analysis<'_>, site: &Site) -> Finding {
    let op = operation(a, site);
    let mut f = super::finding(
        &LINT,
        a.file(),
        site.span,
        format!("{op}: only compared with a constant, in the direction it grows"),
        format!(
            "monotone threshold: {op} depends on asynchronous input, but the rule only tests it against a constant in the direction it moves as facts arrive, so once true it stays true"
        ),
    );
    if let Some(r) = site.culprit() {
        f.path = a.path(r.rel, false);
    }
    f.help = Some(format!(
        "nothing to do; comparing the value with `=`, `!=` or the other way, or using it in the head, would make it a point of order (see `calm explain {}`)",
        LINT.code
    ));
    f
}
