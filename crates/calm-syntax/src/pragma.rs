//! Souffle's `.pragma "option" "value"`: a command-line option of Souffle written in the program.
//!
//! calm has its own command line, so it takes a pragma as a statement about how Souffle would run
//! the program. An option that cannot change what the program computes (how Souffle evaluates,
//! profiles or reports) is ignored with a warning (`W0027`), as calm ignores `inline`; an option
//! that would change it (where facts are read or outputs written, macros for the C
//! preprocessor, generating C++ instead of running) is an error (`E0027`). A key that is not one
//! of Souffle's options does nothing in Souffle either: it is ignored with a warning.

use crate::components::codes;
use crate::{Diagnostic, FileId, Span};

/// What a Souffle option does to a run, for calm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Cannot change the outputs: ignored, with the reason.
    Ignored(&'static str),
    /// Would change the outputs, or stop Souffle from running the program: an error, with a
    /// help line.
    Refused(&'static str),
    /// Not an option of Souffle.
    Unknown,
}

/// The effect of Souffle's option `key` (the options of Souffle 2.x's command line).
pub(crate) fn effect(key: &str) -> Effect {
    const STRATEGY: &str = "it chooses how Souffle evaluates the program, not what it computes";
    const REPORT: &str = "it only makes Souffle report on the run";
    const WARNINGS: &str = "it only changes which warnings Souffle prints";
    match key {
        "magic-transform"
        | "magic-transform-exclude"
        | "inline-exclude"
        | "disable-transformers"
        | "RamSIPS"
        | "auto-schedule"
        | "jobs"
        | "compile"
        | "compile-many"
        | "generate-namespace" => Effect::Ignored(STRATEGY),
        "profile" | "profile-frequency" | "live-profile" | "emit-statistics" | "debug-report"
        | "verbose" | "name" => Effect::Ignored(REPORT),
        "provenance" => Effect::Ignored(
            "it instruments the program for Souffle's explain tools; the outputs are the same",
        ),
        "no-warn" | "warn" | "wno" | "suppress-warnings" => Effect::Ignored(WARNINGS),
        "legacy" => Effect::Ignored("it only lets Souffle accept deprecated syntax quietly"),
        "libraries" | "library-dir" => Effect::Ignored(
            "it names libraries of user-defined functors, and `.functor` is an error in calm",
        ),
        "include-dir" => Effect::Ignored(
            "files are included before pragmas are read; give include directories with \
             `calm run -I DIR`",
        ),
        "no-preprocessor" => Effect::Ignored("the program is preprocessed before pragmas are read"),
        "fact-dir" => {
            Effect::Refused("give the directory of the fact files with `calm run -F DIR`")
        }
        "output-dir" => {
            Effect::Refused("give the directory of the output files with `calm run -D DIR`")
        }
        "macro" | "preprocessor" => Effect::Refused(
            "the program is preprocessed before pragmas are read: give macros with `calm run -M`",
        ),
        "generate" | "generate-many" | "dl-program" | "swig" => Effect::Refused(
            "with this option Souffle writes C++ code instead of running the program",
        ),
        "show" | "parse-errors" | "help" | "version" => Effect::Refused(
            "with this option Souffle prints information instead of (or besides) running the \
             program",
        ),
        "pragma" => Effect::Refused("write each option as a `.pragma` of its own"),
        _ => Effect::Unknown,
    }
}

/// The diagnostic for `.pragma "key" "value"` at `span`, if any (every pragma gets one).
pub(crate) fn check(
    file: FileId,
    key: &str,
    value: Option<&str>,
    span: Span,
) -> Option<Diagnostic> {
    let shown = match value {
        Some(v) if !v.is_empty() => format!("`{key}` = `{v}`"),
        _ => format!("`{key}`"),
    };
    Some(match effect(key) {
        Effect::Ignored(why) => Diagnostic::warning(format!("Souffle option {shown} ignored"))
            .with_code(codes::PRAGMA_IGNORED)
            .with_primary(file, span, "ignored")
            .with_note(format!("it cannot change the result: {why}")),
        Effect::Refused(help) => {
            Diagnostic::error(format!("Souffle option {shown} is not supported"))
                .with_code(codes::PRAGMA)
                .with_primary(
                    file,
                    span,
                    "would change what the program computes or writes",
                )
                .with_help(help)
        }
        Effect::Unknown => Diagnostic::warning(format!("unknown option {shown} ignored"))
            .with_code(codes::PRAGMA_IGNORED)
            .with_primary(file, span, "not an option of Souffle")
            .with_note("Souffle keeps options it does not know without using them"),
    })
}
