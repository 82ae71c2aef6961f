//! SARIF 2.1.0, as GitHub code scanning accepts it.
//!
//! One run whose driver `calm` lists every lint as a rule (stable `id`s: the lint codes; the
//! compiler codes found are appended), and one result per finding with its `ruleId`,
//! `ruleIndex`, `level`, `message.text`, a physical location (the file name as given, made a
//! relative URI, against `%SRCROOT%`; a region with 1-based lines and character columns), the
//! path as `relatedLocations` and as a `codeFlow`, and a `partialFingerprints` entry that does
//! not depend on line numbers. The per-file summaries are in the run's `properties`.

use super::{Input, Position};
use crate::lints::{self, DefaultLevel};
use crate::{Finding, Level, Step};
use calm_syntax::{FileId, Span};
use serde_json::{Value, json};

/// The schema GitHub and the SARIF tooling resolve.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(l: Level) -> &'static str {
    match l {
        Level::Deny => "error",
        Level::Warn => "warning",
        Level::Allow => "note",
    }
}

/// A file name as a relative URI: forward slashes, no leading `./`, reserved characters
/// percent-encoded.
pub fn uri(name: &str) -> String {
    let name = name.replace('\\', "/");
    let name = name.trim_start_matches("./");
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn physical(input: &Input<'_>, file: FileId, span: Span) -> Value {
    let p = Position::of(input.map, file, span);
    json!({
        "artifactLocation": { "uri": uri(input.name(file)), "uriBaseId": "%SRCROOT%" },
        "region": {
            "startLine": p.line,
            "startColumn": p.column,
            "endLine": p.end_line,
            "endColumn": p.end_column,
        },
    })
}

fn rule(l: &lints::Lint) -> Value {
    let default = match l.default {
        DefaultLevel::Fixed(x) => level(x),
        DefaultLevel::ByConsequence => "error",
    };
    let doc = l.doc();
    json!({
        "id": l.code,
        "name": l.name,
        "shortDescription": { "text": l.summary },
        "fullDescription": { "text": format!("{} {}: {}", l.code, l.name, l.summary) },
        "help": { "text": doc, "markdown": doc },
        "defaultConfiguration": { "level": default },
        "properties": {
            "tags": ["calm", "coordination"],
            "precision": "high",
            "problem.severity": match default { "error" => "error", "warning" => "warning", _ => "recommendation" },
        },
    })
}

/// A fingerprint of a finding that survives moving it to other lines: FNV-1a over the code,
/// the file, the message and the source text under the primary span.
pub(crate) fn fingerprint(input: &Input<'_>, f: &Finding) -> String {
    let text = input
        .map
        .try_get(f.file)
        .and_then(|s| s.text.get(f.span.start..f.span.end))
        .unwrap_or("");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [f.code.as_str(), input.name(f.file), &f.message, text] {
        for b in part.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn step_location(input: &Input<'_>, s: &Step, id: usize) -> Value {
    json!({
        "id": id,
        "physicalLocation": physical(input, s.file, s.span),
        "message": { "text": s.message },
    })
}

/// Renders the whole log, pretty-printed.
pub fn render(input: &Input<'_>) -> String {
    let mut rules: Vec<Value> = lints::ALL.iter().map(|l| rule(l)).collect();
    let mut ids: Vec<String> = lints::ALL.iter().map(|l| l.code.to_string()).collect();
    let mut results = Vec::new();
    for (_, f) in input.visible() {
        let index = match ids.iter().position(|id| *id == f.code) {
            Some(i) => i,
            None => {
                ids.push(f.code.clone());
                rules.push(json!({
                    "id": f.code,
                    "name": f.name,
                    "shortDescription": { "text": format!("calm compiler diagnostic {}", f.code) },
                    "defaultConfiguration": { "level": level(f.default_level) },
                    "properties": { "tags": ["calm", "compiler"] },
                }));
                ids.len() - 1
            }
        };
        let steps: Vec<&Step> = f.path.iter().chain(f.consequence.iter()).collect();
        let mut text = f.message.clone();
        if let Some(h) = &f.help {
            text.push_str("\nhelp: ");
            text.push_str(h);
        }
        let mut result = json!({
            "ruleId": f.code,
            "ruleIndex": index,
            "level": level(f.level),
            "message": { "text": text },
            "locations": [{
                "physicalLocation": physical(input, f.file, f.span),
                "message": { "text": f.label },
            }],
            "partialFingerprints": { "calmFinding/v1": fingerprint(input, f) },
        });
        if !steps.is_empty() {
            let related: Vec<Value> = steps
                .iter()
                .enumerate()
                .map(|(i, s)| step_location(input, s, i + 1))
                .collect();
            let mut flow: Vec<Value> = f
                .path
                .iter()
                .map(|s| {
                    json!({ "location": {
                        "physicalLocation": physical(input, s.file, s.span),
                        "message": { "text": s.message },
                    }})
                })
                .collect();
            flow.push(json!({ "location": {
                "physicalLocation": physical(input, f.file, f.span),
                "message": { "text": f.label },
            }}));
            if let Some(c) = &f.consequence {
                flow.push(json!({ "location": {
                    "physicalLocation": physical(input, c.file, c.span),
                    "message": { "text": c.message },
                }}));
            }
            result["relatedLocations"] = Value::Array(related);
            result["codeFlows"] = json!([{ "threadFlows": [{ "locations": flow }] }]);
        }
        results.push(result);
    }
    let summaries: Vec<Value> = input
        .reports
        .iter()
        .map(|r| {
            json!({
                "file": uri(input.name(r.file)),
                "line": r.summary.line(input.name(r.file)),
                "coordinationFree": r.summary.coordination_free(),
            })
        })
        .collect();
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "calm",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": { "summaries": summaries },
        }],
    });
    let mut out = serde_json::to_string_pretty(&log).unwrap_or_default();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn uris_are_relative_and_encoded() {
        assert_eq!(super::uri("./a b/c.dl"), "a%20b/c.dl");
        assert_eq!(super::uri("dir\\x.dl"), "dir/x.dl");
    }
}
