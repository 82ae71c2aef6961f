//! rustc-style output: each finding with its source lines, the path from the asynchronous source
//! as secondary labels, and a summary line per file.

use super::Input;
use std::fmt::Write as _;

/// Renders every visible finding, then each file's summary line.
pub fn render(input: &Input<'_>) -> String {
    let mut out = String::new();
    for report in input.reports {
        for f in report.findings.iter().filter(|f| f.visible(input.verbose)) {
            let mut d = f.to_diagnostic();
            if crate::lints::find(&f.code).is_some() {
                let how = if f.level == f.default_level {
                    "by default"
                } else {
                    "by configuration"
                };
                d.notes.insert(
                    0,
                    format!("{} {} is {} {how}", f.code, f.name, f.level.as_str()),
                );
            }
            out.push_str(&d.render(input.map));
            out.push('\n');
        }
        let _ = writeln!(out, "{}", report.summary.line(input.name(report.file)));
    }
    out
}
