//! A small document algebra for layout, in the style of Wadler's "prettier printer": text, line
//! breaks that are spaces when their group fits on the line, groups, indentation, and text that
//! ends its line (a trailing `//` comment).
//!
//! The printer walks the document with an explicit stack (documents may be deep), and decides
//! for each group whether it fits in what remains of the line (up to the next possible break
//! after the group).

/// A document to lay out.
#[derive(Clone, Debug)]
pub(crate) enum Doc {
    /// Text without line breaks (a block comment may hold some: it is printed as written).
    Text(String),
    /// A space, or a line break when the enclosing group is broken.
    Line,
    /// Nothing, or a line break when the enclosing group is broken.
    SoftLine,
    /// Always a line break; the enclosing groups are broken.
    HardLine,
    /// A line break unless nothing but indentation was printed on the current line.
    FreshLine,
    /// The parts, one after the other.
    Concat(Vec<Doc>),
    /// The inner document with its line breaks indented by this many more columns.
    Nest(isize, Box<Doc>),
    /// A group: printed flat when it fits, broken otherwise. The flag says that it holds a hard
    /// break, so it is always broken.
    Group(Box<Doc>, bool),
    /// Text that ends its line (a trailing comment): what follows goes on the next line.
    EndOfLine(String),
    /// Breaks every enclosing group.
    BreakParent,
}

impl Doc {
    /// Text.
    pub fn text(s: impl Into<String>) -> Doc {
        Doc::Text(s.into())
    }

    /// A group around `doc`.
    pub fn group(doc: Doc) -> Doc {
        let hard = doc.forces_break();
        Doc::Group(Box::new(doc), hard)
    }

    /// `doc` indented by `by` more columns.
    pub fn nest(by: isize, doc: Doc) -> Doc {
        Doc::Nest(by, Box::new(doc))
    }

    /// Whether printing `self` always breaks its enclosing groups. Groups record it when built,
    /// so this only walks down to the nearest groups.
    fn forces_break(&self) -> bool {
        let mut stack = vec![self];
        while let Some(d) = stack.pop() {
            match d {
                Doc::HardLine | Doc::BreakParent => return true,
                Doc::Group(_, hard) => {
                    if *hard {
                        return true;
                    }
                }
                Doc::Concat(parts) => stack.extend(parts),
                Doc::Nest(_, inner) => stack.push(inner),
                Doc::Text(_) | Doc::Line | Doc::SoftLine | Doc::FreshLine | Doc::EndOfLine(_) => {}
            }
        }
        false
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Flat,
    Break,
}

/// The printer's state.
struct Printer {
    out: String,
    /// Characters on the current line.
    column: usize,
    /// Nothing but indentation on the current line.
    line_start: bool,
    /// The current line must end before anything else is printed on it.
    eol: bool,
}

impl Printer {
    fn text(&mut self, s: &str, indent: isize) {
        if s.is_empty() || (self.eol && s.trim().is_empty()) {
            return;
        }
        if self.eol {
            self.newline(indent);
        }
        self.out.push_str(s);
        match s.rfind('\n') {
            Some(i) => self.column = s[i + 1..].chars().count(),
            None => self.column += s.chars().count(),
        }
        self.line_start = false;
    }

    fn newline(&mut self, indent: isize) {
        self.eol = false;
        let trimmed = self.out.trim_end_matches([' ', '\t']).len();
        self.out.truncate(trimmed);
        self.out.push('\n');
        let indent = usize::try_from(indent).unwrap_or(0);
        self.out.extend(std::iter::repeat_n(' ', indent));
        self.column = indent;
        self.line_start = true;
    }
}

/// Whether `first`, printed flat, and what follows it up to the next line break fit in `width`
/// more columns.
fn fits(first: &Doc, rest: &[(isize, Mode, &Doc)], width: usize) -> bool {
    let mut width = width as isize;
    let mut stack: Vec<(Mode, &Doc)> = vec![(Mode::Flat, first)];
    let mut rest_at = rest.len();
    loop {
        let (mode, doc) = match stack.pop() {
            Some(next) => next,
            None => {
                if rest_at == 0 {
                    return true;
                }
                rest_at -= 1;
                let (_, mode, doc) = rest[rest_at];
                (mode, doc)
            }
        };
        match doc {
            Doc::Text(s) => {
                width -= s.chars().count() as isize;
                if width < 0 {
                    return false;
                }
            }
            Doc::Line | Doc::SoftLine if mode == Mode::Flat => {
                if matches!(doc, Doc::Line) {
                    width -= 1;
                    if width < 0 {
                        return false;
                    }
                }
            }
            Doc::Line | Doc::SoftLine | Doc::HardLine | Doc::FreshLine => return true,
            Doc::Concat(parts) => stack.extend(parts.iter().rev().map(|p| (mode, p))),
            Doc::Nest(_, inner) => stack.push((mode, inner)),
            Doc::Group(inner, hard) => {
                stack.push((if *hard { Mode::Break } else { mode }, inner));
            }
            // A trailing comment counts, like any text (whether it ends its line or not, so
            // that formatting twice decides the same), and ends the line.
            Doc::EndOfLine(s) => return width >= s.chars().count() as isize,
            Doc::BreakParent => {}
        }
    }
}

/// Lays `doc` out in lines of at most `width` columns where it can.
pub(crate) fn print(doc: &Doc, width: usize) -> String {
    let mut p = Printer {
        out: String::new(),
        column: 0,
        line_start: true,
        eol: false,
    };
    let mut stack: Vec<(isize, Mode, &Doc)> = vec![(0, Mode::Break, doc)];
    while let Some((indent, mode, doc)) = stack.pop() {
        match doc {
            Doc::Text(s) => p.text(s, indent),
            Doc::Line | Doc::SoftLine if mode == Mode::Flat && !p.eol => {
                if matches!(doc, Doc::Line) {
                    p.text(" ", indent);
                }
            }
            Doc::Line | Doc::SoftLine | Doc::HardLine => p.newline(indent),
            Doc::FreshLine => {
                if !p.line_start || p.eol {
                    p.newline(indent);
                }
            }
            Doc::Concat(parts) => stack.extend(parts.iter().rev().map(|d| (indent, mode, d))),
            Doc::Nest(by, inner) => stack.push((indent + by, mode, inner)),
            Doc::Group(inner, hard) => {
                // After a comment that ends the line, the group starts on the next one.
                let column = if p.eol {
                    usize::try_from(indent).unwrap_or(0)
                } else {
                    p.column
                };
                let flat = !*hard
                    && (mode == Mode::Flat || fits(inner, &stack, width.saturating_sub(column)));
                stack.push((indent, if flat { Mode::Flat } else { Mode::Break }, inner));
            }
            Doc::EndOfLine(s) => {
                p.text(s, indent);
                p.eol = true;
            }
            Doc::BreakParent => {}
        }
    }
    let trimmed = p.out.trim_end().len();
    p.out.truncate(trimmed);
    p.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: &[&str]) -> Doc {
        let mut inner = vec![Doc::SoftLine];
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                inner.push(Doc::text(","));
                inner.push(Doc::Line);
            }
            inner.push(Doc::text(*a));
        }
        Doc::Concat(vec![
            Doc::group(Doc::Concat(vec![
                Doc::text(format!("{name}(")),
                Doc::nest(4, Doc::Concat(inner)),
                Doc::SoftLine,
            ])),
            Doc::text(")"),
        ])
    }

    #[test]
    fn groups_break_only_when_they_do_not_fit() {
        let d = call("p", &["aaa", "bbb"]);
        assert_eq!(print(&d, 20), "p(aaa, bbb)");
        assert_eq!(print(&d, 10), "p(\n    aaa,\n    bbb\n)");
    }

    #[test]
    fn hard_lines_break_groups_and_comments_end_lines() {
        let d = Doc::group(Doc::Concat(vec![
            Doc::text("a"),
            Doc::EndOfLine(" // c".into()),
            Doc::BreakParent,
            Doc::Line,
            Doc::text("b"),
        ]));
        assert_eq!(print(&d, 80), "a // c\nb");
        let d = Doc::Concat(vec![
            Doc::EndOfLine("a // c".into()),
            Doc::text(" "),
            Doc::text("b"),
        ]);
        assert_eq!(print(&d, 80), "a // c\nb");
        let d = Doc::Concat(vec![
            Doc::text("a"),
            Doc::FreshLine,
            Doc::FreshLine,
            Doc::text("b"),
        ]);
        assert_eq!(print(&d, 80), "a\nb");
    }
}
