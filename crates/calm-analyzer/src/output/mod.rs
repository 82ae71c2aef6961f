//! The output formats of `calm check` (and the DOT of `calm graph`).
//!
//! - [`human`]: rustc-style, with the path as secondary labels, and a summary line per file.
//! - [`json`]: one JSON object per line: every finding, then a summary per file.
//! - [`sarif`]: SARIF 2.1.0, as GitHub code scanning accepts it.
//! - [`github`]: GitHub Actions workflow commands (`::error file=..,line=..::message`).
//! - [`gitlab`]: GitLab's code-quality report (a JSON array of issues).
//! - [`dot`]: the precedence graph as Graphviz DOT.
//!
//! Every format shows the same findings: not suppressed, and at level allow only when
//! `verbose`.

pub mod dot;
pub mod github;
pub mod gitlab;
pub mod human;
pub mod json;
pub mod sarif;
pub mod svg;

use crate::{Finding, Report};
use calm_syntax::{FileId, SourceMap, Span};

/// What to render.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The files the reports point into.
    pub map: &'a SourceMap,
    /// One report per file.
    pub reports: &'a [Report],
    /// Show findings at level allow too (as notes).
    pub verbose: bool,
}

impl<'a> Input<'a> {
    /// The findings to show, with the report they belong to.
    pub fn visible(&self) -> impl Iterator<Item = (&'a Report, &'a Finding)> + '_ {
        let verbose = self.verbose;
        self.reports.iter().flat_map(move |r| {
            r.findings
                .iter()
                .filter(move |f| f.visible(verbose))
                .map(move |f| (r, f))
        })
    }

    /// A file's name as given.
    pub fn name(&self, file: FileId) -> &'a str {
        self.map.try_get(file).map_or("?", |f| f.name.as_str())
    }
}

/// A span as 1-based lines and columns (columns count characters; the end is exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// First line.
    pub line: usize,
    /// First column.
    pub column: usize,
    /// Last line.
    pub end_line: usize,
    /// The column after the last character.
    pub end_column: usize,
}

impl Position {
    /// The position of `span` in `file`.
    pub fn of(map: &SourceMap, file: FileId, span: Span) -> Position {
        let (line, column) = map.line_col(file, span.start);
        let (end_line, end_column) = map.line_col(file, span.end.max(span.start));
        Position {
            line,
            column,
            end_line,
            end_column,
        }
    }
}
