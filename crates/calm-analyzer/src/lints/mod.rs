//! The lints, one file each. A lint file's `//!` documentation is exactly what
//! `calm explain CODE` prints: what the lint finds, why it matters under CALM, an example, and
//! the remedies.

mod invalid_suppression;
mod local_non_monotonic;
mod membership_under_negation;
mod monotone_threshold;
mod non_monotonic_aggregation;
mod non_monotonic_lattice_read;
mod non_monotonic_negation;
mod order_dependent_deletion;
mod sealed_non_monotonic;
mod suppression_without_reason;
mod unstratifiable;
mod unused_suppression;

use crate::analysis::{Analysis, Class, ConsequenceKind, Site, SiteKind};
use crate::{Compiled, Finding, Level, Step};

/// A lint's level when no configuration says otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultLevel {
    /// Always this level.
    Fixed(Level),
    /// `deny` when the finding makes the final state depend on arrival order, `warn` when it
    /// converges anyway.
    ByConsequence,
}

/// A lint: its stable code and name, its default level and its documentation.
#[derive(Debug)]
pub struct Lint {
    /// `CALM001`.
    pub code: &'static str,
    /// `non-monotonic-negation`.
    pub name: &'static str,
    /// One line.
    pub summary: &'static str,
    /// The default level.
    pub default: DefaultLevel,
    /// Whether an in-file `// calm: allow(..)` may silence it.
    pub suppressible: bool,
    /// Whether configuration may change its level.
    pub configurable: bool,
    /// The lint's source file, whose `//!` lines are its documentation.
    source: &'static str,
}

impl Lint {
    /// The documentation `calm explain` prints: the lint file's `//!` comment.
    pub fn doc(&self) -> String {
        let mut out = String::new();
        for line in self.source.lines() {
            let Some(rest) = line.strip_prefix("//!") else {
                break;
            };
            out.push_str(rest.strip_prefix(' ').unwrap_or(rest));
            out.push('\n');
        }
        out.trim_end().to_string() + "\n"
    }

    /// The default level written out: `deny`, or `deny or warn` for lints whose level depends on
    /// the consequence.
    pub fn default_str(&self) -> &'static str {
        match self.default {
            DefaultLevel::Fixed(l) => l.as_str(),
            DefaultLevel::ByConsequence => "deny (order-dependent) or warn (converges)",
        }
    }
}

/// Every lint, in code order.
pub const ALL: &[&Lint] = &[
    &non_monotonic_negation::LINT,
    &non_monotonic_aggregation::LINT,
    &order_dependent_deletion::LINT,
    &membership_under_negation::LINT,
    &unstratifiable::LINT,
    &local_non_monotonic::LINT,
    &sealed_non_monotonic::LINT,
    &monotone_threshold::LINT,
    &non_monotonic_lattice_read::LINT,
    &unused_suppression::LINT,
    &suppression_without_reason::LINT,
    &invalid_suppression::LINT,
];

/// The lint with this code (any case) or name.
pub fn find(code_or_name: &str) -> Option<&'static Lint> {
    ALL.iter()
        .copied()
        .find(|l| l.code.eq_ignore_ascii_case(code_or_name) || l.name == code_or_name)
}

/// Whether findings with this code are points of order.
pub fn is_point_of_order(code: &str) -> bool {
    [
        non_monotonic_negation::LINT.code,
        non_monotonic_aggregation::LINT.code,
        order_dependent_deletion::LINT.code,
        membership_under_negation::LINT.code,
        non_monotonic_lattice_read::LINT.code,
    ]
    .contains(&code)
}

pub(crate) use invalid_suppression::LINT as INVALID_SUPPRESSION;
pub(crate) use suppression_without_reason::LINT as SUPPRESSION_WITHOUT_REASON;
pub(crate) use unstratifiable::LINT as UNSTRATIFIABLE;
pub(crate) use unused_suppression::LINT as UNUSED_SUPPRESSION;

/// Runs every program lint.
pub(crate) fn run(a: &Analysis<'_>, compiled: &Compiled, out: &mut Vec<Finding>) {
    unstratifiable::check(compiled, out);
    for site in &a.sites {
        let finding = match site.class {
            Class::Local => local_non_monotonic::check(a, site),
            Class::Sealed(_) => sealed_non_monotonic::check(a, site),
            Class::Threshold(_) => monotone_threshold::check(a, site),
            Class::Membership(_) => membership_under_negation::check(a, site),
            Class::Async(_) if site.deletion => order_dependent_deletion::check(a, site),
            Class::Async(_) => match site.kind {
                SiteKind::Negation => non_monotonic_negation::check(a, site),
                SiteKind::Aggregation(_) => non_monotonic_aggregation::check(a, site),
                SiteKind::LatticeRead => non_monotonic_lattice_read::check(a, site),
            },
        };
        out.push(finding);
    }
}

/// A finding with no path, at the lint's default level.
pub(crate) fn finding(
    lint: &Lint,
    file: calm_syntax::FileId,
    span: calm_syntax::Span,
    label: String,
    message: String,
) -> Finding {
    let level = match lint.default {
        DefaultLevel::Fixed(l) => l,
        DefaultLevel::ByConsequence => Level::Deny,
    };
    Finding {
        code: lint.code.to_string(),
        name: lint.name.to_string(),
        level,
        default_level: level,
        file,
        span,
        label,
        message,
        path: Vec::new(),
        consequence: None,
        notes: Vec::new(),
        help: Some(format!("see `calm explain {}`", lint.code)),
        suppressed: None,
    }
}

/// What a site does, for messages: `negation of `r`` or `count over `r``.
pub(crate) fn operation(a: &Analysis<'_>, site: &Site) -> String {
    let rel = site
        .culprit()
        .map(|r| a.name(r.rel))
        .unwrap_or_else(|| "?".into());
    match site.kind {
        SiteKind::Negation => format!("negation of `{rel}`"),
        SiteKind::Aggregation(f) => format!("`{}` over `{rel}`", f.as_str()),
        SiteKind::LatticeRead => format!("raw read of the lattice value of `{rel}`"),
    }
}

/// A point of order: the path from its source, the consequence, and the level that follows
/// from it. `what` is the message's first clause.
pub(crate) fn point_of_order(
    lint: &Lint,
    a: &Analysis<'_>,
    site: &Site,
    what: String,
    label: String,
    help: &str,
) -> Finding {
    let member = matches!(site.class, Class::Membership(_));
    let culprit = site.culprit().map(|r| r.rel);
    let c = &site.consequence;
    let order_dependent = c.order_dependent();
    let message = if order_dependent {
        format!(
            "{what}: the final state depends on arrival order ({})",
            c.what
        )
    } else {
        format!(
            "{what}, but it converges: {}, so an answer may be retracted when a late fact arrives while the final state is deterministic",
            c.what
        )
    };
    let mut f = finding(lint, a.file(), site.span, label, message);
    f.path = culprit.map(|r| a.path(r, member)).unwrap_or_default();
    if let Some(at) = c.at {
        let msg = match c.kind {
            ConsequenceKind::Persisted => "the result is persisted here",
            ConsequenceKind::Sent => "the result is sent here",
            ConsequenceKind::Deletion => "the result deletes state here",
            ConsequenceKind::OnlyRead => "the result is read here",
        };
        if !(c.kind == ConsequenceKind::Deletion && site.deletion) {
            f.consequence = Some(Step {
                file: a.file(),
                span: at,
                message: msg.to_string(),
            });
        }
    }
    let level = match lint.default {
        DefaultLevel::Fixed(l) => l,
        DefaultLevel::ByConsequence if order_dependent => Level::Deny,
        DefaultLevel::ByConsequence => Level::Warn,
    };
    f.level = level;
    f.default_level = level;
    f.notes.push(if order_dependent {
        "a premature answer is made permanent: it is persisted, sent, or used to delete, so nodes that see messages in different orders end in different states".to_string()
    } else {
        "the result is recomputed every tick and only read: once all input has arrived every node computes the same answer".to_string()
    });
    f.help = Some(format!("{help}; see `calm explain {}`", lint.code));
    f
}

/// The remedies of the CALM literature, in the order that fits a negation or an aggregate.
pub(crate) const REMEDIES: &str = "seal the input (act only once a manifest or a punctuation says it is complete), make deletions tombstones (a grow-only set that is read under negation but never drives a deletion), move the decision to a background coordination step (decide over an agreed snapshot), or compensate (act now, apologise when a late fact contradicts the decision)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_documented() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(
                a.code.starts_with("CALM") && a.code.len() == 7,
                "{}",
                a.code
            );
            assert!(
                a.name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                a.name
            );
            let doc = a.doc();
            assert!(
                doc.starts_with(&format!("{} {}", a.code, a.name)),
                "{}: {doc}",
                a.code
            );
            for section in ["Why it matters", "Example", "Remed"] {
                assert!(doc.contains(section), "{} lacks `{section}`", a.code);
            }
            for b in &ALL[i + 1..] {
                assert_ne!(a.code, b.code);
                assert_ne!(a.name, b.name);
            }
        }
    }

    #[test]
    fn find_by_code_or_name() {
        assert_eq!(
            find("calm001").map(|l| l.name),
            Some("non-monotonic-negation")
        );
        assert_eq!(
            find("order-dependent-deletion").map(|l| l.code),
            Some("CALM003")
        );
        assert!(find("CALM999").is_none());
    }
}
