//! The canonical layout of calm programs: what `calm fmt` prints.
//!
//! [`format_source`] lays a program out with one canonical layout: one item per line (blank lines
//! between items kept, at most one), spaces around `:-`, after `,` and around operators; a rule
//! that does not fit in [`WIDTH`] columns gets one body literal per line, indented by four; long
//! argument lists, records, aggregate bodies and declarations break the same way. Comments (`//`,
//! `/* */`) stay with the token they precede (on lines of their own) or follow (on its line).
//!
//! Formatting never changes meaning: the formatter prints every token as written (strings keep
//! their escapes, numbers their base), only spaces and line breaks change, and before returning it
//! checks that its output has the same tokens and comments and parses to the same program apart
//! from spans ([`without_spans`]). A program with errors is not formatted: its diagnostics are
//! returned instead. Formatting is idempotent: formatting the output again gives the output.
//!
//! ```
//! let text = "path(x,z):-path(x,y),edge(y,z). // transitive\n";
//! let formatted = calm_syntax::format::format_source(text).unwrap();
//! assert_eq!(formatted, "path(x, z) :- path(x, y), edge(y, z). // transitive\n");
//! ```

mod doc;
mod layout;
mod spans;
mod trivia;

use crate::{Diagnostic, FileId, Span, parse};

pub use spans::without_spans;

/// The width of a line that the layout aims for, in characters.
pub const WIDTH: usize = 100;

/// Why a program was not formatted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FormatError {
    /// The program has errors (parsed as [`FileId`]`(0)`): it is left as it is.
    #[error("the program has errors, so it is not formatted")]
    Syntax(Vec<Diagnostic>),
    /// The formatter could not lay the program out without changing it (a limitation or a bug
    /// of the formatter, never of the program).
    #[error("{message}")]
    Unformattable {
        /// What went wrong.
        message: String,
        /// Where, in the source text.
        span: Span,
    },
}

/// `text` in the canonical layout, ending with one newline (empty for a program without tokens
/// or comments).
///
/// # Errors
///
/// [`FormatError::Syntax`] with the parser's diagnostics when the program has an error;
/// [`FormatError::Unformattable`] when the layout would change the program (never expected).
pub fn format_source(text: &str) -> Result<String, FormatError> {
    let parsed = parse(FileId(0), text);
    if parsed.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(FormatError::Syntax(parsed.diagnostics));
    }
    let src = trivia::Source::new(text);
    let doc = layout::Layout::new(src)?.program()?;
    let mut out = doc::print(&doc, WIDTH);
    if !out.is_empty() {
        out.push('\n');
    }
    verify(text, &parsed.program, &out)?;
    Ok(out)
}

/// Checks that `out` has the tokens and comments of `text` and parses to `program` apart from
/// spans.
fn verify(text: &str, program: &crate::ast::Program, out: &str) -> Result<(), FormatError> {
    let (toks, comments) = trivia::lex(text);
    let (out_toks, out_comments) = trivia::lex(out);
    let tok_text = |s: &str, t: &crate::parser::lexer::Token| {
        (
            t.kind,
            s.get(t.span.start..t.span.end).unwrap_or("").to_string(),
        )
    };
    for (k, t) in toks.iter().enumerate() {
        if out_toks.get(k).map(|o| tok_text(out, o)) != Some(tok_text(text, t)) {
            return Err(layout::unformattable(
                t.span,
                "the layout would change this token (a bug in the formatter)",
            ));
        }
    }
    let texts = |s: &str, cs: &[crate::parser::lexer::Comment]| -> Vec<String> {
        cs.iter()
            .map(|c| trivia::comment_text(s, c).to_string())
            .collect()
    };
    let at_end = Span::new(text.len(), text.len());
    if out_toks.len() != toks.len() || texts(text, &comments) != texts(out, &out_comments) {
        return Err(layout::unformattable(
            at_end,
            "the layout would lose or move a comment (a bug in the formatter)",
        ));
    }
    let again = parse(FileId(0), out);
    if again.diagnostics.iter().any(Diagnostic::is_error)
        || without_spans(&again.program) != without_spans(program)
    {
        return Err(layout::unformattable(
            at_end,
            "the layout would change what the program means (a bug in the formatter)",
        ));
    }
    Ok(())
}
