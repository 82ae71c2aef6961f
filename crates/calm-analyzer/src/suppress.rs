//! In-file suppressions: `// calm: allow(CODE, ...) reason`.
//!
//! - `// calm: allow(CALM001) the checkout is sealed by the client's manifest` silences the
//!   listed lints on one item (rule, declaration or directive): the item the comment ends the
//!   line of, or the item inside which it is written, or else the next item.
//! - `// calm: allow-file(CALM006) reason` silences them in the whole file.
//! - Lints may be named by code (any case) or by name (`non-monotonic-negation`).
//! - The reason is required: a suppression without one suppresses nothing and is reported
//!   (CALM101). A suppression that silences nothing is reported (CALM100), and so is a
//!   `// calm:` comment that is malformed or names an unknown or unsuppressible lint (CALM102).
//!
//! Only line comments count, and only outside strings and block comments.

use crate::Finding;
use crate::lints::{self, INVALID_SUPPRESSION, SUPPRESSION_WITHOUT_REASON, UNUSED_SUPPRESSION};
use calm_syntax::{FileId, Span, ast};

/// Where a suppression applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The whole file (`allow-file`).
    File,
    /// One item.
    Item(Span),
    /// No item follows the comment: it applies to nothing.
    Nothing,
}

/// One parsed `// calm:` comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppression {
    /// The comment, from `//` to the end of the line.
    pub span: Span,
    /// The lints it names: the canonical code, or an error for one that is not valid.
    pub lints: Vec<Result<&'static str, String>>,
    /// The reason, if one was given.
    pub reason: Option<String>,
    /// Where it applies.
    pub scope: Scope,
    /// Why the comment is not a suppression at all, if it is malformed.
    pub malformed: Option<String>,
}

/// The line comments of a calm source text, as spans from `//` to the end of the line.
pub fn line_comments(text: &str) -> Vec<Span> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                out.push(Span::new(i, end));
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

/// Finds every `// calm:` comment of `text` and the item each applies to.
pub fn scan(text: &str, program: &ast::Program) -> Vec<Suppression> {
    let mut items: Vec<Span> = program
        .items
        .iter()
        .map(|item| match item {
            ast::Item::Decl(d) => d.span,
            ast::Item::Directive(d) => d.span,
            ast::Item::Rule(r) => r.span,
            ast::Item::Type(t) => t.span,
        })
        .collect();
    items.sort_unstable();
    let mut out = Vec::new();
    for c in line_comments(text) {
        let body = text[c.start + 2..c.end].trim();
        let Some(rest) = body.strip_prefix("calm:") else {
            continue;
        };
        out.push(parse(text, c, rest.trim(), &items));
    }
    out
}

fn parse(text: &str, span: Span, rest: &str, items: &[Span]) -> Suppression {
    let mut s = Suppression {
        span,
        lints: Vec::new(),
        reason: None,
        scope: Scope::Nothing,
        malformed: None,
    };
    let (file_wide, args) = if let Some(r) = rest.strip_prefix("allow-file") {
        (true, r.trim_start())
    } else if let Some(r) = rest.strip_prefix("allow") {
        (false, r.trim_start())
    } else {
        s.malformed = Some(format!(
            "`// calm: {rest}` is not a suppression: write `// calm: allow(CODE) reason`"
        ));
        return s;
    };
    let Some(inner) = args.strip_prefix('(') else {
        s.malformed = Some("the lints must be listed in parentheses: `allow(CODE, ...)`".into());
        return s;
    };
    let Some(close) = inner.find(')') else {
        s.malformed = Some("unclosed `(` in the suppression".into());
        return s;
    };
    for name in inner[..close].split(',').map(str::trim) {
        if name.is_empty() {
            continue;
        }
        s.lints.push(match lints::find(name) {
            Some(l) if l.suppressible => Ok(l.code),
            Some(l) => Err(format!("{} {} cannot be suppressed", l.code, l.name)),
            None => Err(format!("unknown lint `{name}`")),
        });
    }
    if s.lints.is_empty() {
        s.malformed = Some("the suppression names no lint".into());
        return s;
    }
    let reason = inner[close + 1..]
        .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '-' | '\u{2014}'))
        .trim_end();
    if reason.chars().any(char::is_alphanumeric) {
        s.reason = Some(reason.to_string());
    }
    s.scope = if file_wide {
        Scope::File
    } else {
        target(text, span, items)
    };
    s
}

/// The item a comment at `c` applies to.
fn target(text: &str, c: Span, items: &[Span]) -> Scope {
    if let Some(item) = items.iter().find(|i| i.start < c.start && c.start < i.end) {
        return Scope::Item(*item);
    }
    let line_start = text[..c.start].rfind('\n').map_or(0, |i| i + 1);
    if let Some(item) = items
        .iter()
        .rev()
        .find(|i| i.end <= c.start && i.end > line_start)
    {
        return Scope::Item(*item);
    }
    match items.iter().find(|i| i.start >= c.end) {
        Some(item) => Scope::Item(*item),
        None => Scope::Nothing,
    }
}

/// Applies the suppressions to `findings` (marking each silenced one with the reason) and
/// returns the findings about the suppressions themselves (at their default levels).
pub fn apply(file: FileId, suppressions: &[Suppression], findings: &mut [Finding]) -> Vec<Finding> {
    let mut problems = Vec::new();
    for s in suppressions {
        if let Some(why) = &s.malformed {
            problems.push(problem(
                &INVALID_SUPPRESSION,
                file,
                s.span,
                format!("invalid suppression: {why}"),
                "not a suppression".into(),
            ));
            continue;
        }
        for l in &s.lints {
            if let Err(why) = l {
                problems.push(problem(
                    &INVALID_SUPPRESSION,
                    file,
                    s.span,
                    format!("invalid suppression: {why}"),
                    "this names no suppressible lint".into(),
                ));
            }
        }
        let Some(reason) = &s.reason else {
            problems.push(problem(
                &SUPPRESSION_WITHOUT_REASON,
                file,
                s.span,
                "suppression without a reason: it suppresses nothing".into(),
                "write why the finding is acceptable after the list".into(),
            ));
            continue;
        };
        for code in s.lints.iter().filter_map(|l| l.as_ref().ok()) {
            let mut used = false;
            for f in findings.iter_mut() {
                let in_scope = match s.scope {
                    Scope::File => true,
                    Scope::Item(item) => item.start <= f.span.start && f.span.start < item.end,
                    Scope::Nothing => false,
                };
                if f.code == *code && f.file == file && in_scope {
                    used = true;
                    f.suppressed.get_or_insert_with(|| reason.clone());
                }
            }
            if !used {
                problems.push(problem(
                    &UNUSED_SUPPRESSION,
                    file,
                    s.span,
                    format!("unused suppression: no {code} finding here"),
                    format!("`allow({code})` suppresses nothing"),
                ));
            }
        }
    }
    problems
}

fn problem(
    lint: &lints::Lint,
    file: FileId,
    span: Span,
    message: String,
    label: String,
) -> Finding {
    let mut f = lints::finding(lint, file, span, label, message);
    f.help = Some(format!(
        "a suppression is `// calm: allow(CODE, ...) reason`, on or before the rule it is for; see `calm explain {}`",
        lint.code
    ));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_skip_strings_and_blocks() {
        let text = "p(\"a//b\"). /* // no */ q(1). // yes\n// two";
        let c = line_comments(text);
        assert_eq!(c.len(), 2);
        assert_eq!(&text[c[0].start..c[0].end], "// yes");
        assert_eq!(&text[c[1].start..c[1].end], "// two");
    }

    fn scan_text(text: &str) -> Vec<Suppression> {
        let parsed = calm_syntax::parse(FileId(0), text);
        scan(text, &parsed.program)
    }

    #[test]
    fn targets() {
        let text = "a(1).\n// calm: allow(CALM006) next item\nb(x) :- a(x), !c(x).\nd(1). // calm: allow(non-monotonic-negation): same line\n// calm: allow-file(calm001) everywhere\n";
        let s = scan_text(text);
        assert_eq!(s.len(), 3);
        let item = |s: &Suppression| match s.scope {
            Scope::Item(sp) => text[sp.start..sp.end].to_string(),
            other => format!("{other:?}"),
        };
        assert_eq!(item(&s[0]), "b(x) :- a(x), !c(x).");
        assert_eq!(s[0].reason.as_deref(), Some("next item"));
        assert_eq!(item(&s[1]), "d(1).");
        assert_eq!(s[1].lints, vec![Ok("CALM001")]);
        assert_eq!(s[1].reason.as_deref(), Some("same line"));
        assert_eq!(s[2].scope, Scope::File);
    }

    #[test]
    fn malformed_and_invalid() {
        let s = scan_text(
            "// calm: allow CALM001 x\n// calm: allow(CALM999, CALM005) x\n// calm: allow(CALM001)\np(1).\n",
        );
        assert!(s[0].malformed.is_some());
        assert_eq!(s[1].lints.len(), 2);
        assert!(s[1].lints.iter().all(Result::is_err));
        assert_eq!(s[2].reason, None);
    }
}
