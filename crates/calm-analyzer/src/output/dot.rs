//! The precedence graph as Graphviz DOT (`calm graph`).
//!
//! - Nodes are relations: boxes; `.output` relations have a double border; built-ins (`$member`,
//!   `$self`) are grey ellipses; relations whose result is a point of order are red.
//! - Edges go from a body relation to the head: positive edges plain; negated edges end in a
//!   bar (`arrowhead=tee`, label `not`); aggregated edges end in a diamond (label: the
//!   function). `@async` edges are dashed, `@next` (and `.persist`) dotted. Reads of
//!   `$member`/`$self` are blue.
//! - A point of order is a bold red edge labelled with its lint code; a sealed one is green,
//!   labelled `sealed`.
//! - Lattice edges are drawn as monotone: a positive edge into a lattice relation is a merge
//!   (labelled `merge max`, `merge lww`, ...), a monotone read of a lattice value (a threshold,
//!   or the key only) is labelled `monotone`; a raw read is labelled `raw` (and marked as a
//!   point of order when it is one). Lattice relations have rounded corners.
//!
//! The rows of a head-form aggregate (compiler-made `$aggN` relations) are not drawn: their
//! inputs are drawn as aggregated edges into the aggregate's head.

use crate::analysis::{Analysis, Class, SiteKind};
use crate::graph::{EdgeKind, EdgeTime};
use calm_ir::{Builtin, RelId, RuleId, Time};
use calm_syntax::Span;
use std::collections::BTreeSet;
use std::fmt::Write as _;

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// How one site is marked: the lint code of a point of order, or `sealed`.
fn mark(a: &Analysis<'_>, rule: RuleId, span: Span) -> Option<(String, Option<&'static str>)> {
    for site in &a.sites {
        if !site
            .reads
            .iter()
            .any(|r| r.context == rule && r.span == span)
        {
            continue;
        }
        let func = match site.kind {
            SiteKind::Aggregation(f) => Some(f.as_str()),
            SiteKind::Negation | SiteKind::LatticeRead => None,
        };
        let m = match site.class {
            Class::Local => String::new(),
            Class::Sealed(_) => "sealed".to_string(),
            Class::Threshold(_) => "threshold".to_string(),
            Class::Membership(_) => "CALM004".to_string(),
            Class::Async(_) if site.deletion => "CALM003".to_string(),
            Class::Async(_) => match site.kind {
                SiteKind::Negation => "CALM001".to_string(),
                SiteKind::Aggregation(_) => "CALM002".to_string(),
                SiteKind::LatticeRead => "CALM009".to_string(),
            },
        };
        return Some((m, func));
    }
    None
}

/// Whether the atom at `span` in rule `rule` is a raw read of a lattice value.
fn raw_read(prog: &calm_ir::Program, rule: RuleId, span: Span) -> bool {
    let r = &prog.rules[rule];
    r.raw_reads
        .iter()
        .any(|&i| matches!(&r.body[i], calm_ir::BodyItem::Atom(a) if a.span == span))
}

/// Renders the graph of an analysed program; `name` is the file's name.
pub fn render(a: &Analysis<'_>, name: &str) -> String {
    let prog = a.prog();
    let aux = |r: RelId| prog.relations[r].builtin == Some(Builtin::Auxiliary);
    let mut edges: BTreeSet<String> = BTreeSet::new();
    let mut used = vec![false; prog.relations.len()];
    let mut red = vec![false; prog.relations.len()];
    for e in &a.graph.edges {
        if aux(e.from) {
            continue;
        }
        // (target, kind, time) after skipping the rows of head-form aggregates.
        let mut targets: Vec<(RelId, EdgeKind, EdgeTime)> = Vec::new();
        if aux(e.to) {
            for r in &prog.rules {
                if r.head != e.to && r.body_relations().iter().any(|(b, _, _)| *b == e.to) {
                    let kind = if e.kind == EdgeKind::Negated {
                        EdgeKind::Negated
                    } else {
                        EdgeKind::Aggregated
                    };
                    let time = match r.time {
                        Time::Now => EdgeTime::Now,
                        Time::Next => EdgeTime::Next,
                        Time::Async { .. } => EdgeTime::Async,
                    };
                    targets.push((r.head, kind, time));
                }
            }
        } else {
            targets.push((e.to, e.kind, e.time));
        }
        let marked = e.rule.and_then(|r| mark(a, r, e.span));
        for (to, kind, time) in targets {
            used[e.from] = true;
            used[to] = true;
            let mut attrs: Vec<String> = Vec::new();
            let mut label: Vec<String> = Vec::new();
            match kind {
                EdgeKind::Positive => {
                    if let Some(l) = prog.relations[to].lattice {
                        label.push(format!("merge {}", l.as_str()));
                    } else if prog.relations[e.from].lattice.is_some() {
                        let raw = e.rule.is_some_and(|r| raw_read(prog, r, e.span));
                        label.push(if raw { "raw" } else { "monotone" }.into());
                    }
                }
                EdgeKind::Negated => {
                    attrs.push("arrowhead=tee".into());
                    label.push("not".into());
                }
                EdgeKind::Aggregated => {
                    attrs.push("arrowhead=diamond".into());
                    let func = marked.as_ref().and_then(|(_, f)| *f).unwrap_or("aggregate");
                    label.push(func.into());
                }
            }
            match time {
                EdgeTime::Now => {}
                EdgeTime::Next => {
                    attrs.push("style=dotted".into());
                    label.push(if e.rule.is_none() {
                        ".persist".into()
                    } else {
                        "@next".into()
                    });
                }
                EdgeTime::Async => {
                    attrs.push("style=dashed".into());
                    label.push("@async".into());
                }
            }
            let mut color = None;
            if e.builtin_read.is_some() {
                color = Some("blue");
            }
            match marked.as_ref().map(|(m, _)| m.as_str()) {
                Some("sealed") => {
                    color = Some("darkgreen");
                    label.push("sealed".into());
                }
                Some(code) if !code.is_empty() => {
                    color = Some("red");
                    attrs.push("penwidth=2".into());
                    label.push(format!("{code} point of order"));
                    red[to] = true;
                }
                _ => {}
            }
            if let Some(c) = color {
                attrs.push(format!("color={c}"));
                attrs.push(format!("fontcolor={c}"));
            }
            if !label.is_empty() {
                attrs.push(format!("label={}", quote(&label.join(" "))));
            }
            let attrs = if attrs.is_empty() {
                String::new()
            } else {
                format!(" [{}]", attrs.join(", "))
            };
            edges.insert(format!(
                "  {} -> {}{attrs};",
                quote(&prog.relations[e.from].name),
                quote(&prog.relations[to].name)
            ));
        }
    }
    let summary = a.summary(&[]);
    let mut out = String::new();
    let _ = writeln!(out, "digraph calm {{");
    let _ = writeln!(
        out,
        "  label={};\n  labelloc=t;\n  fontname=\"Helvetica\";\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];",
        quote(&format!("{name}: {}", summary.verdict()))
    );
    for (i, r) in prog.relations.iter().enumerate() {
        if aux(i) || (r.builtin.is_some() && !used[i]) {
            continue;
        }
        let mut attrs: Vec<String> = Vec::new();
        match r.builtin {
            Some(Builtin::Member) => attrs.extend([
                "shape=ellipse".into(),
                "style=filled".into(),
                "fillcolor=lightgrey".into(),
                "tooltip=\"the cluster membership\"".into(),
            ]),
            Some(Builtin::SelfName) => attrs.extend([
                "shape=ellipse".into(),
                "style=filled".into(),
                "fillcolor=lightgrey".into(),
                "tooltip=\"this node's name\"".into(),
            ]),
            _ => {}
        }
        if let Some(l) = r.lattice {
            attrs.push("style=rounded".into());
            attrs.push(format!(
                "tooltip={}",
                quote(&format!("a {} lattice", l.as_str()))
            ));
        }
        if !r.outputs.is_empty() || r.printsize {
            attrs.push("peripheries=2".into());
        }
        if red[i] {
            attrs.push("color=red".into());
            attrs.push("fontcolor=red".into());
        }
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attrs.join(", "))
        };
        let _ = writeln!(out, "  {}{attrs};", quote(&r.name));
    }
    for e in edges {
        out.push_str(&e);
        out.push('\n');
    }
    out.push_str("}\n");
    out
}
