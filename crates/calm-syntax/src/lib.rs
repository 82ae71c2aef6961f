//! The calm language's syntax: the AST, the parser and diagnostics.
//!
//! Parsing never fails: [`parse`] returns a tree of everything it could read plus diagnostics for
//! what it could not, so that later layers can report as many problems as possible in one run.
//!
//! ```
//! use calm_syntax::{parse, FileId};
//! let parsed = parse(FileId(0), "edge(1, 2).\npath(x, y) :- edge(x, y).\n");
//! assert!(parsed.diagnostics.is_empty());
//! assert_eq!(parsed.program.items.len(), 2);
//! ```

pub mod ast;
mod components;
mod diagnostic;
pub mod format;
mod parser;
mod pragma;

pub use diagnostic::{
    Diagnostic, FileId, Label, Severity, SourceFile, SourceMap, Span, line_col, render_all,
};
pub use parser::{MAX_SOURCE_LEN, Parsed, parse, parse_facts};
