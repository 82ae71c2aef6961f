//! CALM100 unused-suppression
//!
//! Default level: warn.
//!
//! ## What it finds
//!
//! An in-file suppression `// calm: allow(CODE) reason` (or `allow-file`) that silences no
//! finding with that code: the lint does not fire on the item that follows it.
//!
//! ## Why it matters
//!
//! A suppression is a claim that a point of order is harmless, with the reason why. When the
//! program changes and the finding disappears, a stale claim stays behind; worse, it would
//! silently hide a new, different finding on the same rule later. Keeping suppressions exact
//! keeps the CALM analysis honest.
//!
//! ## Example
//!
//! ```text
//! // calm: allow(CALM001) the checkout is sealed by the client's manifest
//! total(c, n) :- cart(c), n = count : { item(c, _) }.    // no CALM001 here
//! ```
//!
//! ## Remedies
//!
//! Remove the suppression, or move it to the rule it was meant for (it applies to the item that
//! follows it, or to the item it ends the line of). The CALM remedies (seal the input,
//! tombstones, a background coordination step, compensation) are preferable to suppressions
//! wherever they apply.

use super::Lint;

/// The lint.
pub(crate) const LINT: Lint = Lint {
    code: "CALM100",
    name: "unused-suppression",
    summary: "a suppression comment that suppresses nothing",
    default: super::DefaultLevel::Fixed(crate::Level::Warn),
    suppressible: false,
    configurable: true,
    source: include_str!("unused_suppression.rs"),
};
