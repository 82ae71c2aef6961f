//! `calm check`'s findings (parser and IR errors, CALM lints) as LSP diagnostics.
//!
//! The code is the finding's code (`E0001`, `CALM001`); the level gives the severity (deny: error,
//! warn: warning, allow: hint); the path of a point of order and its consequence are the
//! related information, each step with its message. Suppressed findings are left out, as in
//! every output of `calm check`.

use crate::line_index::LineIndex;
use calm_analyzer::{Finding, Level};
use lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, DiagnosticTag, Location,
    NumberOrString, Uri,
};

/// The source every diagnostic is published under.
pub const SOURCE: &str = "calm";

/// The most diagnostics published for one document; past it, one more says how many were left
/// out.
pub const MAX_DIAGNOSTICS: usize = 1000;

/// The diagnostics of `findings` in the document `uri` whose text is `text` (at most
/// [`MAX_DIAGNOSTICS`], then one saying how many more there are).
pub fn to_lsp(uri: &Uri, text: &str, index: &LineIndex, findings: &[Finding]) -> Vec<Diagnostic> {
    let visible: Vec<&Finding> = findings.iter().filter(|f| f.suppressed.is_none()).collect();
    let mut out: Vec<Diagnostic> = visible
        .iter()
        .take(MAX_DIAGNOSTICS)
        .map(|f| {
            let mut message = f.message.clone();
            if !f.label.is_empty() && !f.message.contains(f.label.as_str()) {
                message.push('\n');
                message.push_str(&f.label);
            }
            for n in &f.notes {
                message.push_str("\nnote: ");
                message.push_str(n);
            }
            if let Some(h) = &f.help {
                message.push_str("\nhelp: ");
                message.push_str(h);
            }
            let related: Vec<DiagnosticRelatedInformation> = f
                .path
                .iter()
                .chain(f.consequence.iter())
                .map(|step| DiagnosticRelatedInformation {
                    location: Location {
                        uri: uri.clone(),
                        range: index.range(text, step.span),
                    },
                    message: step.message.clone(),
                })
                .collect();
            Diagnostic {
                range: index.range(text, f.span),
                severity: Some(match f.level {
                    Level::Deny => DiagnosticSeverity::ERROR,
                    Level::Warn => DiagnosticSeverity::WARNING,
                    Level::Allow => DiagnosticSeverity::HINT,
                }),
                code: Some(NumberOrString::String(f.code.clone())),
                code_description: None,
                source: Some(SOURCE.to_string()),
                message,
                related_information: (!related.is_empty()).then_some(related),
                tags: (f.code == "CALM100").then(|| vec![DiagnosticTag::UNNECESSARY]),
                data: None,
            }
        })
        .collect();
    if visible.len() > MAX_DIAGNOSTICS {
        out.push(Diagnostic {
            severity: Some(DiagnosticSeverity::INFORMATION),
            source: Some(SOURCE.to_string()),
            message: format!(
                "{} more problems are not shown (`calm check` lists them all)",
                visible.len() - MAX_DIAGNOSTICS
            ),
            ..Diagnostic::default()
        });
    }
    out
}

/// A diagnostic at the start of a document that is not analysed, saying why.
pub fn not_analysed(why: String) -> Diagnostic {
    Diagnostic {
        severity: Some(DiagnosticSeverity::ERROR),
        source: Some(SOURCE.to_string()),
        message: why,
        ..Diagnostic::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calm_analyzer::Config;

    #[test]
    fn at_most_max_diagnostics() {
        // One undefined relation read per rule: a warning each.
        let text: String = (0..MAX_DIAGNOSTICS + 5)
            .map(|i| format!("p{i}(x) :- q{i}(x).\n"))
            .collect();
        let doc = crate::document::Analysed::new("t.dl", &text, &Config::default());
        assert!(doc.findings.len() > MAX_DIAGNOSTICS);
        let uri: Uri = "untitled:t.dl".parse().unwrap();
        let d = to_lsp(&uri, &text, &LineIndex::new(&text), &doc.findings);
        assert_eq!(d.len(), MAX_DIAGNOSTICS + 1);
        let more = doc.findings.len() - MAX_DIAGNOSTICS;
        assert_eq!(
            d[MAX_DIAGNOSTICS].message,
            format!("{more} more problems are not shown (`calm check` lists them all)")
        );
    }
}
