//! CALM005 unstratifiable
//!
//! Default level: deny (always; it cannot be allowed or suppressed).
//!
//! ## What it finds
//!
//! A relation that depends on itself through a negation or an aggregate within one tick. This
//! is the compiler's error E0400, found by the same code in `calm-ir` that `calm run` uses; the
//! analyzer reports it under its own code so that one tool lists every problem.
//!
//! ## Why it matters
//!
//! Within a tick, calm evaluates relations stratum by stratum: a negated or aggregated relation
//! must be complete before it is read. A cycle through a negation has no such order (and in
//! general no unique meaning: `p :- !q. q :- !p.`), so the program cannot run at all. Under
//! CALM this is the limit case of a point of order: an order is needed even on one node.
//!
//! ## Example
//!
//! ```text
//! p(x) :- q(x), !r(x).
//! r(x) :- p(x).                                   // CALM005: p -> r -> p through `!r`
//! ```
//!
//! ## Remedies
//!
//! - **Break the cycle across time** (Dedalus temporal stratification): derive one relation of
//!   the cycle at `@next`, `r(x)@next :- p(x).`, so the negation reads the previous tick's
//!   complete state.
//! - Restructure the rules so the negated relation is complete before it is read.
//! - If the cycle is a fixpoint over a lattice (a max, a min), compute it monotonically and
//!   aggregate once at the end; the usual CALM remedies (seal the input, tombstones, a
//!   background coordination step, compensation) apply to the result.

use super::Lint;
use crate::{Compiled, Finding, Step};

/// The lint.
pub(crate) const LINT: Lint = Lint {
    code: "CALM005",
    name: "unstratifiable",
    summary: "negation or aggregation inside a recursive cycle within a tick (E0400)",
    default: super::DefaultLevel::Fixed(crate::Level::Deny),
    suppressible: false,
    configurable: false,
    source: include_str!("unstratifiable.rs"),
};

pub(crate) fn check(compiled: &Compiled, out: &mut Vec<Finding>) {
    for d in &compiled.diagnostics {
        if d.code.as_deref() != Some(calm_ir::codes::UNSTRATIFIABLE) {
            continue;
        }
        let Some(primary) = &d.primary else { continue };
        let mut f = super::finding(
            &LINT,
            primary.file,
            primary.span,
            primary.message.clone(),
            d.message.clone(),
        );
        f.path = d
            .secondary
            .iter()
            .map(|l| Step {
                file: l.file,
                span: l.span,
                message: l.message.clone(),
            })
            .collect();
        f.notes.push(format!(
            "`calm run` refuses this program with {}",
            calm_ir::codes::UNSTRATIFIABLE
        ));
        f.help = Some(format!(
            "break the cycle across time: derive one of these relations with `@next` (or restructure the rules so the negated relation is complete before it is read); then the CALM remedies apply: seal the input, tombstones, a background coordination step, or compensation; see `calm explain {}`",
            LINT.code
        ));
        out.push(f);
    }
}
