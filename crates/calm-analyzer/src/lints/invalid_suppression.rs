//! CALM102 invalid-suppression
//!
//! Default level: warn.
//!
//! ## What it finds
//!
//! A `// calm:` comment that is not a valid suppression: it names an unknown lint
//! (`allow(CALM999)`), a lint that cannot be suppressed (`CALM005`, whose program cannot run;
//! the suppression lints themselves), or it does not have the form
//! `// calm: allow(CODE, ...) reason` or `// calm: allow-file(CODE, ...) reason`.
//!
//! ## Why it matters
//!
//! A mistyped suppression silently does nothing, and the finding it meant to silence is still
//! reported (or, for a lint that is allowed, the intent is lost). Codes and names are stable
//! precisely so that suppressions can be checked.
//!
//! ## Example
//!
//! ```text
//! // calm: allow(CALM01) sealed by the manifest       (CALM01 is not a lint)
//! // calm: allow CALM001 sealed by the manifest       (missing parentheses)
//! ```
//!
//! ## Remedies
//!
//! Use a code or name `calm explain` lists: `calm explain` without an argument prints them
//! all. Prefer a CALM remedy over a suppression where one applies: seal the input, use
//! tombstones, move the decision to a background coordination step, or compensate.

use super::Lint;

/// The lint.
pub(crate) const LINT: Lint = Lint {
    code: "CALM102",
    name: "invalid-suppression",
    summary: "a `// calm:` comment that names an unknown or unsuppressible lint, or is malformed",
    default: super::DefaultLevel::Fixed(crate::Level::Warn),
    suppressible: false,
    configurable: true,
    source: include_str!("invalid_suppression.rs"),
};
