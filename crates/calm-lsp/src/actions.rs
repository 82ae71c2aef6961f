//! The quick fix on a CALM lint: insert a suppression comment, `// calm: allow(CODE) ???`.
//!
//! The reason is left as `???`, a placeholder the analyzer does not take for a reason (it has no
//! letter or digit): until the user writes why the finding is acceptable, the suppression
//! suppresses nothing and is itself reported (CALM101), so a placeholder never silences a lint.
//!
//! The comment goes on its own line above the item holding the finding (indented like it); where
//! that would apply to another item (two items on one line), at the end of the item's last line
//! instead. Each placement is checked by scanning the edited text with the analyzer's own
//! suppression scanner: an action is offered only if the comment applies to the finding's item.

use crate::document::Analysed;
use calm_analyzer::Finding;
use calm_analyzer::suppress::{self, Scope};
use calm_syntax::{FileId, Span, ast};

/// The reason placeholder.
pub const PLACEHOLDER: &str = "???";

/// A suppression to insert: `text` at byte `at`, for `finding`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Insertion {
    /// Where to insert.
    pub at: usize,
    /// What to insert.
    pub text: String,
    /// The finding's code.
    pub code: String,
    /// The finding's lint name.
    pub name: String,
    /// The finding's span (to match it with the client's diagnostics).
    pub finding: Span,
}

/// The suppressions that can be inserted for the visible, suppressible findings overlapping
/// `range`, one per finding.
pub fn suppressions(doc: &Analysed, text: &str, range: Span) -> Vec<Insertion> {
    doc.findings
        .iter()
        .filter(|f| f.suppressed.is_none())
        .filter(|f| f.span.start <= range.end && range.start <= f.span.end)
        .filter(|f| calm_analyzer::lints::find(&f.code).is_some_and(|l| l.suppressible))
        .filter_map(|f| insertion(doc, text, f))
        .collect()
}

fn insertion(doc: &Analysed, text: &str, f: &Finding) -> Option<Insertion> {
    let item = doc
        .program
        .items
        .iter()
        .map(item_span)
        .find(|s| s.start <= f.span.start && f.span.start < s.end)?;
    let comment = format!("// calm: allow({}) {PLACEHOLDER}", f.code);
    // Above the item, indented like its first line.
    let line_start = text[..item.start].rfind('\n').map_or(0, |i| i + 1);
    let indent: String = text[line_start..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    let above = (line_start, format!("{indent}{comment}\n"));
    // At the end of the item's last line.
    let line_end = text[item.end..]
        .find(['\n', '\r'])
        .map_or(text.len(), |i| item.end + i);
    let after = (line_end, format!(" {comment}"));
    [above, after]
        .into_iter()
        .find(|(at, ins)| applies(text, *at, ins, f.span.start))
        .map(|(at, text)| Insertion {
            at,
            text,
            code: f.code.clone(),
            name: f.name.clone(),
            finding: f.span,
        })
}

/// Whether inserting `ins` at `at` gives a suppression that applies to the item holding the
/// byte at `target` (an offset of the text before the insertion).
fn applies(text: &str, at: usize, ins: &str, target: usize) -> bool {
    let mut edited = String::with_capacity(text.len() + ins.len());
    edited.push_str(&text[..at]);
    edited.push_str(ins);
    edited.push_str(&text[at..]);
    let target = if target >= at {
        target + ins.len()
    } else {
        target
    };
    let parsed = calm_syntax::parse(FileId(0), &edited);
    let comment_start = at + ins.find("//").unwrap_or(0);
    suppress::scan(&edited, &parsed.program)
        .iter()
        .find(|s| s.span.start == comment_start)
        .is_some_and(|s| match s.scope {
            Scope::Item(item) => item.start <= target && target < item.end,
            Scope::File | Scope::Nothing => false,
        })
}

fn item_span(item: &ast::Item) -> Span {
    match item {
        ast::Item::Decl(d) => d.span,
        ast::Item::Directive(d) => d.span,
        ast::Item::Rule(r) => r.span,
        ast::Item::Type(t) => t.span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calm_analyzer::Config;

    const PROGRAM: &str = "\
.decl seen(at: symbol, x: number)
.persist seen
seen(@n, x)@async :- local(x), $member(n).
.input local
.output fresh
";

    fn insertions(text: &str) -> Vec<Insertion> {
        let doc = Analysed::new("t.dl", text, &Config::default());
        suppressions(&doc, text, Span::new(0, text.len()))
    }

    #[test]
    fn above_the_rule_indented() {
        let text = format!("{PROGRAM}  fresh(x) :- local(x),\n    !seen(_, x).\n");
        let ins = insertions(&text);
        assert_eq!(ins.len(), 1, "{ins:?}");
        assert_eq!(ins[0].code, "CALM001");
        assert_eq!(ins[0].at, PROGRAM.len());
        assert_eq!(ins[0].text, "  // calm: allow(CALM001) ???\n");
    }

    #[test]
    fn at_the_end_of_the_line_when_an_item_shares_it() {
        // Above the line, the comment would apply to `ok(1).`.
        let text = format!("{PROGRAM}ok(1). fresh(x) :- local(x), !seen(_, x).\nok(2).\n");
        let ins = insertions(&text);
        assert_eq!(ins.len(), 1, "{ins:?}");
        assert_eq!(ins[0].at, text.find("\nok(2)").unwrap());
        assert_eq!(ins[0].text, " // calm: allow(CALM001) ???");
    }

    #[test]
    fn none_for_unsuppressible_or_suppressed_findings() {
        // A compile error is no lint: nothing to offer (and no analysis, so no CALM001).
        let text = format!("{PROGRAM}fresh(x) :- local(x), !seen(_, x).\np(\n");
        let doc = Analysed::new("t.dl", &text, &Config::default());
        assert!(doc.findings.iter().any(|f| f.code == "E0001"));
        assert_eq!(insertions(&text), Vec::new());
        // Suppressed with a reason: nothing either.
        let text =
            format!("{PROGRAM}fresh(x) :- local(x), !seen(_, x). // calm: allow(CALM001) ok\n");
        assert_eq!(insertions(&text), Vec::new());
    }
}
