//! JSON lines: one object per finding, then one summary object per file.
//!
//! A finding: `{"type": "finding", "code", "name", "level" (allow|warn|deny), "severity"
//! (note|warning|error), "file", "line", "column", "end_line", "end_column", "message", "label",
//! "path": [{"file", "line", "column", "end_line", "end_column", "message"}], "consequence"
//! (a path step or null), "notes", "help"}`. Lines and columns are 1-based, columns count
//! characters, `end_column` is exclusive.
//!
//! A summary: `{"type": "summary", "file", "analysed", "coordination_free", "verdict",
//! "points_of_order", "order_dependent", "suppressed", "seals", "monotone_outputs",
//! "non_monotone_outputs"}`.

use super::{Input, Position};
use crate::{Finding, Step};
use serde_json::{Value, json};

fn step(input: &Input<'_>, s: &Step) -> Value {
    let p = Position::of(input.map, s.file, s.span);
    json!({
        "file": input.name(s.file),
        "line": p.line,
        "column": p.column,
        "end_line": p.end_line,
        "end_column": p.end_column,
        "message": s.message,
    })
}

/// One finding as a JSON object.
pub fn finding(input: &Input<'_>, f: &Finding) -> Value {
    let p = Position::of(input.map, f.file, f.span);
    json!({
        "type": "finding",
        "code": f.code,
        "name": f.name,
        "level": f.level.as_str(),
        "severity": f.level.severity().as_str(),
        "file": input.name(f.file),
        "line": p.line,
        "column": p.column,
        "end_line": p.end_line,
        "end_column": p.end_column,
        "message": f.message,
        "label": f.label,
        "path": f.path.iter().map(|s| step(input, s)).collect::<Vec<_>>(),
        "consequence": f.consequence.as_ref().map(|s| step(input, s)),
        "notes": f.notes,
        "help": f.help,
    })
}

/// Renders the findings and summaries, one JSON object per line.
pub fn render(input: &Input<'_>) -> String {
    let mut out = String::new();
    for (_, f) in input.visible() {
        out.push_str(&finding(input, f).to_string());
        out.push('\n');
    }
    for r in input.reports {
        let s = &r.summary;
        let v = json!({
            "type": "summary",
            "file": input.name(r.file),
            "analysed": s.analysed,
            "coordination_free": s.coordination_free(),
            "verdict": s.verdict(),
            "points_of_order": s.points_of_order,
            "order_dependent": s.order_dependent,
            "suppressed": s.suppressed,
            "seals": s.seals,
            "monotone_outputs": s.monotone_outputs,
            "non_monotone_outputs": s.non_monotone_outputs,
        });
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}
