//! GitHub Actions workflow commands: one `::error`, `::warning` or `::notice` line per finding,
//! which GitHub shows as an annotation on the line; the summary lines are printed as they are.

use super::{Input, Position};
use crate::Level;
use std::fmt::Write as _;

/// Escapes a workflow command's message.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Renders every visible finding as a workflow command, then the summary lines.
pub fn render(input: &Input<'_>) -> String {
    let mut out = String::new();
    for (_, f) in input.visible() {
        let command = match f.level {
            Level::Deny => "error",
            Level::Warn => "warning",
            Level::Allow => "notice",
        };
        let p = Position::of(input.map, f.file, f.span);
        let mut message = f.message.clone();
        for s in f.path.iter().chain(f.consequence.iter()) {
            let q = Position::of(input.map, s.file, s.span);
            let _ = write!(
                message,
                "\n  {}:{}:{}: {}",
                input.name(s.file),
                q.line,
                q.column,
                s.message
            );
        }
        if let Some(h) = &f.help {
            let _ = write!(message, "\nhelp: {h}");
        }
        let _ = writeln!(
            out,
            "::{command} file={},line={},col={},endLine={},endColumn={},title={}::{}",
            property(input.name(f.file)),
            p.line,
            p.column,
            p.end_line,
            p.end_column,
            property(&format!("{} {}", f.code, f.name)),
            data(&message)
        );
    }
    for r in input.reports {
        let _ = writeln!(out, "{}", r.summary.line(input.name(r.file)));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes() {
        assert_eq!(super::data("a%b\nc"), "a%25b%0Ac");
        assert_eq!(super::property("x:y,z"), "x%3Ay%2Cz");
    }
}
