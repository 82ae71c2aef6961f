//! CALM101 suppression-without-reason
//!
//! Default level: warn.
//!
//! ## What it finds
//!
//! An in-file suppression with no reason after the lint list:
//! `// calm: allow(CALM001)`. Such a suppression does not suppress anything: the finding it
//! names is still reported.
//!
//! ## Why it matters
//!
//! Suppressing a point of order asserts that the program converges anyway — because the input
//! is sealed by some means the analyzer cannot see, because a background coordination step
//! already orders it, because the application compensates. That assertion is the important
//! part; without it, the next reader cannot check it.
//!
//! ## Example
//!
//! ```text
//! // calm: allow(CALM001)
//! garbage(o) :- object(o), !reachable(o).
//! ```
//!
//! ## Remedies
//!
//! Write the reason after the list:
//! `// calm: allow(CALM001) reachability is computed over the epoch snapshot`. Better still,
//! apply a CALM remedy so the finding goes away: seal the input, use tombstones, move the
//! decision to a background coordination step, or compensate.

use super::Lint;

/// The lint.
pub(crate) const LINT: Lint = Lint {
    code: "CALM101",
    name: "suppression-without-reason",
    summary: "a suppression comment without a reason (it suppresses nothing)",
    default: super::DefaultLevel::Fixed(crate::Level::Warn),
    suppressible: false,
    configurable: true,
    source: include_str!("suppression_without_reason.rs"),
};
