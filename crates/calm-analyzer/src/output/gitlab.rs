//! GitLab's code-quality report: a JSON array with one issue per finding, as a merge request's
//! code-quality widget reads it (`artifacts: reports: codequality:`).
//!
//! Each issue has a `description` (the message, with the help), a `check_name` (the lint or
//! compiler code), a `fingerprint` that does not depend on line numbers (the SARIF output's,
//! made unique within the report), a `severity` (`major` for a finding at level deny, `minor` at
//! warn, `info` at allow) and a `location` with the file's `path` as given (forward slashes, no
//! leading `./`) and the first line, `lines.begin`.

use super::{Input, Position};
use crate::Level;
use serde_json::{Value, json};
use std::collections::HashSet;

fn severity(l: Level) -> &'static str {
    match l {
        Level::Deny => "major",
        Level::Warn => "minor",
        Level::Allow => "info",
    }
}

/// A file name as a path relative to the repository: forward slashes, no leading `./`.
fn path(name: &str) -> String {
    let name = name.replace('\\', "/");
    name.trim_start_matches("./").to_string()
}

/// Renders the report, pretty-printed.
pub fn render(input: &Input<'_>) -> String {
    let mut seen = HashSet::new();
    let mut issues = Vec::new();
    for (_, f) in input.visible() {
        let base = super::sarif::fingerprint(input, f);
        // Two findings alike in everything but their lines get distinct fingerprints.
        let mut fingerprint = base.clone();
        let mut n = 1;
        while !seen.insert(fingerprint.clone()) {
            n += 1;
            fingerprint = format!("{base}-{n}");
        }
        let mut description = f.message.clone();
        if let Some(h) = &f.help {
            description.push_str(" (help: ");
            description.push_str(h);
            description.push(')');
        }
        let p = Position::of(input.map, f.file, f.span);
        issues.push(json!({
            "type": "issue",
            "description": description,
            "check_name": f.code,
            "fingerprint": fingerprint,
            "severity": severity(f.level),
            "categories": ["Bug Risk"],
            "location": {
                "path": path(input.name(f.file)),
                "lines": { "begin": p.line, "end": p.end_line },
            },
        }));
    }
    let mut out = serde_json::to_string_pretty(&Value::Array(issues)).unwrap_or_default();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_are_relative_with_forward_slashes() {
        assert_eq!(super::path("./a b/c.dl"), "a b/c.dl");
        assert_eq!(super::path("dir\\x.dl"), "dir/x.dl");
    }
}
