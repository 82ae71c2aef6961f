//! `format_source`: snapshots of every program in `programs/` and `tests/programs/`, each
//! checked idempotent and meaning-preserving, and the layout of each construct.

use std::path::{Path, PathBuf};

use calm_syntax::format::{FormatError, format_source, without_spans};
use calm_syntax::{FileId, parse};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn dl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            dl_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "dl") {
            out.push(p);
        }
    }
}

/// Formats `text`, checking that the result is stable and means the same.
fn fmt_checked(name: &str, text: &str) -> Result<String, FormatError> {
    let out = format_source(text)?;
    let again = format_source(&out)
        .unwrap_or_else(|e| panic!("{name}: output not formattable: {e:?}\n{out}"));
    assert_eq!(again, out, "{name}: formatting is not idempotent");
    let a = parse(FileId(0), text).program;
    let b = parse(FileId(0), &out).program;
    assert_eq!(
        without_spans(&a),
        without_spans(&b),
        "{name}: the program changed"
    );
    Ok(out)
}

#[test]
fn every_program_formats_stably() {
    let root = root();
    let mut files = Vec::new();
    dl_files(&root.join("programs"), &mut files);
    dl_files(&root.join("tests/programs"), &mut files);
    files.sort();
    assert!(files.len() > 20, "found only {} programs", files.len());
    let mut formatted = 0;
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap_or(f).display().to_string();
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let shown = match fmt_checked(&rel, &text) {
            Ok(out) => {
                formatted += 1;
                out
            }
            Err(FormatError::Syntax(diags)) => {
                let codes: Vec<_> = diags.iter().filter_map(|d| d.code.clone()).collect();
                format!("not formatted: {}\n", codes.join(", "))
            }
            Err(e) => panic!("{rel}: {e}"),
        };
        let name = rel.replace(['/', '.'], "_");
        insta::with_settings!({ snapshot_suffix => "", description => rel.clone(), omit_expression => true }, {
            insta::assert_snapshot!(name, shown);
        });
    }
    assert!(formatted > 20, "only {formatted} programs formatted");
}
