//! Diagnostics: errors, warnings and notes with source locations, rendered rustc-style.
//!
//! Every layer of calm reports problems as [`Diagnostic`]s rather than panicking or returning bare
//! strings. A diagnostic points into a file registered in a [`SourceMap`]; [`Diagnostic::render`]
//! prints it as
//!
//! ```text
//! error[E0003]: arity mismatch for `edge`: used with 3 arguments, declared with 2
//!  --> prog.dl:4:9
//!   |
//! 4 | p(x) :- edge(x, y, z).
//!   |         ^^^^^^^^^^^^^ 3 arguments here
//!   |
//!   = help: ...
//! ```

use std::fmt::Write as _;

/// A half-open byte range `start..end` into one source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    ///
    /// ```
    /// let s = calm_syntax::Span::new(2, 5);
    /// assert_eq!(s.len(), 3);
    /// ```
    pub fn new(start: usize, end: usize) -> Self {
        Span {
            start,
            end: end.max(start),
        }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span is empty.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Identifies a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// One source file (or an excerpt of one: `first_line` tells which line the text starts at).
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The name printed in diagnostics (a path as the user gave it).
    pub name: String,
    /// The text.
    pub text: String,
    /// The 1-based line number of the first line of `text` (1 for a whole file; larger when only an
    /// excerpt of a large data file is kept).
    pub first_line: usize,
}

/// The files diagnostics may point into.
///
/// A file may be the output of the preprocessor ([`crate::preprocess`]): then it carries an
/// [`Expansion`] that maps its text back to the files it came from, and every location in it is
/// shown at its origin (see [`SourceMap::resolve`]).
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
    /// Per file: how an expanded text maps back (`None` for a file as written).
    expansions: Vec<Option<std::sync::Arc<Expansion>>>,
    /// Per file: where it was included from (`None` for a file given by the user).
    included_from: Vec<Option<(FileId, Span)>>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a whole file and returns its id.
    ///
    /// ```
    /// let mut map = calm_syntax::SourceMap::new();
    /// let id = map.add("a.dl", "p(1).");
    /// assert_eq!(map.get(id).name, "a.dl");
    /// ```
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.add_excerpt(name, text, 1)
    }

    /// Registers an excerpt of a file whose first line is line `first_line` of the real file.
    pub fn add_excerpt(
        &mut self,
        name: impl Into<String>,
        text: impl Into<String>,
        first_line: usize,
    ) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push(SourceFile {
            name: name.into(),
            text: text.into(),
            first_line,
        });
        self.expansions.push(None);
        self.included_from.push(None);
        id
    }

    /// Registers the output of the preprocessor: `text`, whose pieces come from the files of
    /// `expansion`. Locations in it are shown where they came from.
    pub fn add_expanded(
        &mut self,
        name: impl Into<String>,
        text: impl Into<String>,
        expansion: Expansion,
    ) -> FileId {
        let id = self.add(name, text);
        if let Some(slot) = self.expansions.last_mut() {
            *slot = Some(std::sync::Arc::new(expansion));
        }
        id
    }

    /// Records that `file` was included by the directive at `span` of file `from`.
    pub fn set_included_from(&mut self, file: FileId, from: FileId, span: Span) {
        if let Some(slot) = self.included_from.get_mut(file.0 as usize) {
            *slot = Some((from, span));
        }
    }

    /// Where `file` was included from, if it was.
    pub fn included_from(&self, file: FileId) -> Option<(FileId, Span)> {
        self.included_from.get(file.0 as usize).copied().flatten()
    }

    /// Where `span` of `file` was written: for a preprocessed file, the file and span its text
    /// came from (the invocation, for text a macro produced), with notes naming the macro and
    /// the chain of `#include`s; for any other file, `span` itself.
    ///
    /// ```
    /// use calm_syntax::{Expansion, SourceMap, Span};
    /// let mut map = SourceMap::new();
    /// let a = map.add("a.dl", "#define N 1\np(N).\n");
    /// let mut e = Expansion::default();
    /// e.copy(0, a, 12); // "p(" comes from offset 12 of a.dl
    /// e.macro_text(2, a, Span::new(14, 15), "N"); // "1" is the expansion of `N`
    /// e.copy(3, a, 15); // ").\n"
    /// let x = map.add_expanded("a.dl", "p(1).\n", e);
    /// let r = map.resolve(x, Span::new(2, 3));
    /// assert_eq!((r.file, r.span), (a, Span::new(14, 15)));
    /// assert_eq!(r.notes, vec!["in the expansion of macro `N`".to_string()]);
    /// ```
    pub fn resolve(&self, file: FileId, span: Span) -> Resolved {
        let mut resolved = Resolved {
            file,
            span,
            notes: Vec::new(),
        };
        if let Some(Some(expansion)) = self.expansions.get(file.0 as usize)
            && let Some((f, sp, name)) = expansion.resolve(span)
        {
            resolved.file = f;
            resolved.span = sp;
            if let Some(name) = name {
                resolved
                    .notes
                    .push(format!("in the expansion of macro `{name}`"));
            }
        }
        let mut at = resolved.file;
        let mut guard = 0;
        while let Some((from, sp)) = self.included_from(at) {
            let name = self.try_get(from).map_or("?", |f| f.name.as_str());
            let (line, _) = self.line_col(from, sp.start);
            resolved
                .notes
                .push(format!("in the file included from {name}:{line}"));
            at = from;
            guard += 1;
            if guard > 1024 {
                break;
            }
        }
        resolved
    }

    /// The file with this id.
    ///
    /// # Panics
    /// If the id did not come from this map.
    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// The file with this id, if it came from this map.
    pub fn try_get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// 1-based (line, column) of a byte offset; the column counts characters.
    pub fn line_col(&self, id: FileId, offset: usize) -> (usize, usize) {
        match self.try_get(id) {
            Some(f) => line_col(&f.text, offset, f.first_line),
            None => (1, 1),
        }
    }
}

/// Where a span of a preprocessed file was written ([`SourceMap::resolve`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The file as written.
    pub file: FileId,
    /// The span in it.
    pub span: Span,
    /// `in the expansion of macro ...`, `in the file included from ...` notes.
    pub notes: Vec<String>,
}

/// How the text of a preprocessed file maps back to the files it came from: a list of pieces,
/// each a run of the output copied from one file, or produced by one macro invocation.
#[derive(Clone, Debug, Default)]
pub struct Expansion {
    /// Sorted by `at`; a piece runs to the next one's `at`.
    pieces: Vec<Piece>,
}

#[derive(Clone, Debug)]
struct Piece {
    /// Where the piece starts in the output.
    at: usize,
    origin: Origin,
}

#[derive(Clone, Debug)]
enum Origin {
    /// Copied from `file`, starting at byte `offset`.
    Copy { file: FileId, offset: usize },
    /// Produced by the invocation of macro `name` at `span` of `file`.
    Macro {
        file: FileId,
        span: Span,
        name: std::sync::Arc<str>,
    },
}

impl Expansion {
    /// Output from byte `at` on is copied from `file` at byte `offset` (until the next piece).
    /// Pieces must be added in increasing `at`.
    pub fn copy(&mut self, at: usize, file: FileId, offset: usize) {
        if let Some(last) = self.pieces.last()
            && let Origin::Copy { file: f, offset: o } = last.origin
            && f == file
            && o + (at - last.at.min(at)) == offset
        {
            return; // continues the previous piece
        }
        self.push(at, Origin::Copy { file, offset });
    }

    /// Output from byte `at` on is the expansion of macro `name` invoked at `span` of `file`.
    pub fn macro_text(&mut self, at: usize, file: FileId, span: Span, name: &str) {
        self.push(
            at,
            Origin::Macro {
                file,
                span,
                name: name.into(),
            },
        );
    }

    fn push(&mut self, at: usize, origin: Origin) {
        if let Some(last) = self.pieces.last_mut()
            && last.at == at
        {
            last.origin = origin;
            return;
        }
        self.pieces.push(Piece { at, origin });
    }

    /// The piece holding output byte `at` (the last one starting at or before it).
    fn piece(&self, at: usize) -> Option<usize> {
        let i = self.pieces.partition_point(|p| p.at <= at);
        i.checked_sub(1)
    }

    /// The file, span and macro (if any) an output span came from.
    fn resolve(&self, span: Span) -> Option<(FileId, Span, Option<&str>)> {
        let i = self.piece(span.start)?;
        let piece = &self.pieces[i];
        Some(match &piece.origin {
            Origin::Macro { file, span, name } => (*file, *span, Some(name)),
            Origin::Copy { file, offset } => {
                let start = offset + (span.start - piece.at);
                // The end stays in the same piece (a span never runs into another file).
                let piece_end = self.pieces.get(i + 1).map_or(usize::MAX, |p| p.at);
                let end = if span.end <= piece_end {
                    offset + (span.end - piece.at)
                } else {
                    match self
                        .piece(span.end.saturating_sub(1))
                        .map(|j| &self.pieces[j])
                    {
                        Some(Piece {
                            at,
                            origin: Origin::Copy { file: f, offset: o },
                        }) if f == file && o + (span.end - at) >= start => o + (span.end - at),
                        _ => offset + (piece_end - piece.at),
                    }
                };
                (*file, Span::new(start, end), None)
            }
        })
    }
}

/// 1-based (line, column) of `offset` in `text`, where the text's first line is `first_line`.
pub fn line_col(text: &str, offset: usize, first_line: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + first_line;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = text[line_start..offset].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Informational.
    Note,
    /// Something is probably wrong but evaluation can go on.
    Warning,
    /// The program or its data is wrong; evaluation cannot go on.
    Error,
}

impl Severity {
    /// `error`, `warning` or `note`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A location plus a message, drawn under the source line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// The file.
    pub file: FileId,
    /// The bytes to underline.
    pub span: Span,
    /// Text printed after the underline (may be empty).
    pub message: String,
}

/// A problem found in a program, its data, or at run time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// How serious.
    pub severity: Severity,
    /// A stable code such as `E0003`, if the diagnostic has one.
    pub code: Option<String>,
    /// The one-line summary.
    pub message: String,
    /// The main location (underlined with `^`), if there is one.
    pub primary: Option<Label>,
    /// Further locations (underlined with `-`).
    pub secondary: Vec<Label>,
    /// `= note: ...` lines.
    pub notes: Vec<String>,
    /// `= help: ...` line.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A new diagnostic with no location.
    pub fn new(severity: Severity, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code: None,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    /// A new error.
    ///
    /// ```
    /// use calm_syntax::{Diagnostic, FileId, SourceMap, Span};
    /// let mut map = SourceMap::new();
    /// let f = map.add("a.dl", "p(x) :- q(y).");
    /// let d = Diagnostic::error("variable `x` is not bound")
    ///     .with_code("E0200")
    ///     .with_primary(f, Span::new(2, 3), "not bound by a positive atom");
    /// let text = d.render(&map);
    /// assert!(text.starts_with("error[E0200]: variable `x` is not bound\n --> a.dl:1:3"));
    /// ```
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Severity::Error, message)
    }

    /// A new warning.
    pub fn warning(message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, message)
    }

    /// A new note.
    pub fn note(message: impl Into<String>) -> Self {
        Self::new(Severity::Note, message)
    }

    /// Sets the code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets the primary label.
    pub fn with_primary(mut self, file: FileId, span: Span, message: impl Into<String>) -> Self {
        self.primary = Some(Label {
            file,
            span,
            message: message.into(),
        });
        self
    }

    /// Adds a secondary label.
    pub fn with_secondary(mut self, file: FileId, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label {
            file,
            span,
            message: message.into(),
        });
        self
    }

    /// Adds a note line.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Sets the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders rustc-style, with the source lines of every label.
    pub fn render(&self, map: &SourceMap) -> String {
        let mut out = String::new();
        let _ = write!(out, "{}", self.severity.as_str());
        if let Some(code) = &self.code {
            let _ = write!(out, "[{code}]");
        }
        let _ = writeln!(out, ": {}", self.message);
        // Labels in preprocessed text are shown where the text was written.
        let mut origin_notes = Vec::new();
        let resolved: Vec<(Label, char)> = self
            .primary
            .iter()
            .map(|l| (l, '^'))
            .chain(self.secondary.iter().map(|l| (l, '-')))
            .filter(|(l, _)| map.try_get(l.file).is_some())
            .map(|(l, mark)| {
                let r = map.resolve(l.file, l.span);
                if mark == '^' {
                    origin_notes = r.notes;
                }
                let label = Label {
                    file: r.file,
                    span: r.span,
                    message: l.message.clone(),
                };
                (label, mark)
            })
            .collect();
        let labels: Vec<(&Label, char)> = resolved.iter().map(|(l, m)| (l, *m)).collect();
        // The gutter is as wide as the largest line number shown.
        let width = labels
            .iter()
            .map(|(l, _)| map.line_col(l.file, l.span.start).0.to_string().len())
            .max()
            .unwrap_or(1);
        let pad = " ".repeat(width);
        let mut last_file = None;
        let mut last_line = None;
        for (label, mark) in &labels {
            let file = map.get(label.file);
            let (line, col) = map.line_col(label.file, label.span.start);
            if last_file != Some(label.file) {
                let _ = writeln!(out, "{pad}--> {}:{line}:{col}", file.name);
                last_file = Some(label.file);
            }
            let text = &file.text;
            let start = floor_char_boundary(text, label.span.start.min(text.len()));
            let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
            let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
            let src_line = text[line_start..line_end].trim_end_matches('\r');
            let end = floor_char_boundary(text, label.span.end.min(line_end).max(start));
            let caret_col = text[line_start..start].chars().count();
            let caret_len = text[start..end].chars().count().max(1);
            // Labels on the line just shown share it: only the underline is repeated.
            if last_line != Some((label.file, line)) {
                let _ = writeln!(out, "{pad} |");
                let _ = writeln!(out, "{line:>width$} | {}", src_line.replace('\t', " "));
                last_line = Some((label.file, line));
            }
            let _ = write!(
                out,
                "{pad} | {}{}",
                " ".repeat(caret_col),
                mark.to_string().repeat(caret_len)
            );
            if label.message.is_empty() {
                out.push('\n');
            } else {
                let _ = writeln!(out, " {}", label.message);
            }
        }
        if !self.notes.is_empty() || !origin_notes.is_empty() || self.help.is_some() {
            let _ = writeln!(out, "{pad} |");
        }
        for note in origin_notes.iter().chain(&self.notes) {
            let _ = writeln!(out, "{pad} = note: {note}");
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{pad} = help: {help}");
        }
        out
    }

    /// `file:line:col` of the primary label, if any.
    pub fn location(&self, map: &SourceMap) -> Option<String> {
        let label = self.primary.as_ref()?;
        map.try_get(label.file)?;
        let r = map.resolve(label.file, label.span);
        let file = map.try_get(r.file)?;
        let (line, col) = map.line_col(r.file, r.span.start);
        Some(format!("{}:{line}:{col}", file.name))
    }
}

/// Renders every diagnostic, separated by blank lines.
pub fn render_all(diagnostics: &[Diagnostic], map: &SourceMap) -> String {
    diagnostics
        .iter()
        .map(|d| d.render(map))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_chars() {
        assert_eq!(line_col("ab\ncd", 0, 1), (1, 1));
        assert_eq!(line_col("ab\ncd", 4, 1), (2, 2));
        assert_eq!(line_col("ab\ncd", 4, 10), (11, 2));
        assert_eq!(line_col("é\nx", 3, 1), (2, 1));
        // Offsets past the end or inside a character do not panic.
        assert_eq!(line_col("é", 1, 1), (1, 1));
        assert_eq!(line_col("ab", 99, 1), (1, 3));
    }

    #[test]
    fn render_error_with_secondary_and_help() {
        let mut map = SourceMap::new();
        let f = map.add("p.dl", ".decl e(x: number)\np(x) :- e(x, y).\n");
        let d = Diagnostic::error("arity mismatch for `e`")
            .with_code("E0101")
            .with_primary(f, Span::new(27, 34), "2 arguments here")
            .with_secondary(f, Span::new(6, 18), "declared with 1 column here")
            .with_help("use `e` with 1 argument");
        insta::assert_snapshot!(d.render(&map));
    }

    #[test]
    fn render_without_location() {
        let map = SourceMap::new();
        let d = Diagnostic::warning("nothing to do").with_note("the program is empty");
        assert_eq!(
            d.render(&map),
            "warning: nothing to do\n  |\n  = note: the program is empty\n"
        );
    }
}
