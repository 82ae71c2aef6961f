//! Hover on a relation: its declaration, its columns and their types, what the program does with
//! it (input, output, persisted, sent with `@async`, carried with `@next`), and whether it is
//! monotone according to the CALM analyzer.

use crate::document::Analysed;
use calm_syntax::ast::TimeSuffix;
use std::fmt::Write as _;

/// The hover text (Markdown) of relation `name` in `doc`, whose text is `text`; `line_of` gives
/// the 1-based line of a byte offset.
pub fn relation(doc: &Analysed, text: &str, name: &str, line_of: impl Fn(usize) -> u32) -> String {
    let mut out = String::new();
    let facts = doc.relations.get(name);
    let decl = doc.decl(name);
    out.push_str("```calm\n");
    match decl {
        Some(d) => {
            let written = text.get(d.span.start..d.span.end).unwrap_or("");
            // One line per declaration: long or multi-line ones are shown collapsed.
            let one_line: String = written.split_whitespace().collect::<Vec<_>>().join(" ");
            out.push_str(&shorten(&one_line, 300));
        }
        None => {
            let _ = write!(out, "{name}");
            if let Some(f) = facts {
                let cols: Vec<String> = f.columns.iter().map(|(_, t)| t.to_string()).collect();
                let _ = write!(out, "({})", cols.join(", "));
            }
        }
    }
    out.push_str("\n```\n");
    if let Some(b) = facts.and_then(|f| f.builtin) {
        let what = if b == "$self" {
            "this node's own name (one fact)"
        } else {
            "every member of the cluster, this node included"
        };
        let _ = writeln!(out, "\nBuilt-in `{b}(name: symbol)`: {what}.");
    } else if decl.is_none() {
        out.push_str("\nNot declared (no `.decl`): its arity and types come from its uses.\n");
    }
    if let Some(f) = facts
        && !f.columns.is_empty()
    {
        out.push_str("\n| column | type |\n|---|---|\n");
        for (i, (col, ty)) in f.columns.iter().enumerate() {
            let col = if col.is_empty() {
                format!("#{}", i + 1)
            } else {
                col.clone()
            };
            let written = decl
                .and_then(|d| d.params.get(i))
                .map(|p| p.ty.name.as_str())
                .filter(|w| w != ty);
            match written {
                Some(w) => {
                    let _ = writeln!(out, "| `{col}` | `{w}` ({ty}) |");
                }
                None => {
                    let _ = writeln!(out, "| `{col}` | `{ty}` |");
                }
            }
        }
    }
    let mut props = Vec::new();
    if let Some(f) = facts {
        if f.input {
            props.push("read from files (`.input`)".to_string());
        }
        if f.output {
            props.push("an output (`.output`/`.printsize`)".to_string());
        }
        props.push(if f.persist {
            "persisted (`.persist`): its facts carry over to the next tick".to_string()
        } else {
            "not persisted".to_string()
        });
        if f.eqrel {
            props.push("an equivalence relation (`eqrel`)".to_string());
        }
        if let Some(l) = f.lattice {
            props.push(format!(
                "a lattice: its last column keeps the `{l}` per key"
            ));
        }
    }
    let (mut now, mut next, mut sent, mut facts_n) = (0, 0, 0, 0);
    for r in doc.rules_of(name) {
        match r.time {
            Some(TimeSuffix::Async(_)) => sent += 1,
            Some(TimeSuffix::Next(_)) => next += 1,
            None if r.body.is_empty() => facts_n += 1,
            None => now += 1,
        }
    }
    if sent > 0 {
        props.push(format!("sent with `@async` by {sent} rule{}", plural(sent)));
    }
    if next > 0 {
        props.push(format!(
            "carried to the next tick (`@next`) by {next} rule{}",
            plural(next)
        ));
    }
    if now > 0 {
        props.push(format!("derived by {now} rule{}", plural(now)));
    }
    if facts_n > 0 {
        props.push(format!("{facts_n} fact{} in the program", plural(facts_n)));
    }
    if !props.is_empty() {
        out.push('\n');
        for p in props {
            let _ = writeln!(out, "- {p}");
        }
    }
    out.push_str("\n**CALM:** ");
    match facts {
        _ if !doc.analysed => {
            out.push_str("not analysed: the program has errors.\n");
        }
        Some(f) => match &f.point_of_order {
            Some((span, what)) => {
                let _ = writeln!(
                    out,
                    "not monotone: the point of order at line {} ({what}) feeds it, so its facts may be retracted or depend on the order messages arrive in.",
                    line_of(span.start)
                );
            }
            None => {
                out.push_str("monotone: no point of order feeds it");
                if f.async_input {
                    out.push_str(" (it depends on facts that arrive with `@async`)");
                } else if f.membership {
                    out.push_str(" (it reads the cluster membership)");
                }
                out.push_str(".\n");
            }
        },
        None => out.push_str("not analysed.\n"),
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `s` cut to at most `max` characters, with an ellipsis when cut.
fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
