//! Golden-file tests: every directory under `tests/programs/` (at the repository root) is a case,
//! run as `calm run program.dl -F <case dir> -D <temp dir>`; see `tests/programs/README.md`.
//!
//! `CALM_GOLDEN_FILTER=substring` runs only the cases whose name contains it.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one `calm run` may take before it is killed.
const TIMEOUT: Duration = Duration::from_secs(120);

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs")
}

struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs `calm run` for a case, with a time limit.
fn run_calm(case: &Path, out: &Path) -> Result<Run, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_calm"))
        .arg("run")
        .arg(case.join("program.dl"))
        .arg("-F")
        .arg(case)
        .arg("-D")
        .arg(out)
        .current_dir(out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start calm: {e}"))?;
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("calm run did not finish within {TIMEOUT:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for calm: {e}")),
        }
    };
    Ok(Run {
        code: status.code(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// A unified-style line diff (longest common subsequence; the files are small). Tabs and other
/// invisible characters are shown escaped.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let (n, m) = (a.len(), b.len());
    // lcs[i][j] = length of the LCS of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, sign: char, text: &str| {
        out.push(sign);
        out.push_str(&text.escape_debug().to_string());
        out.push('\n');
    };
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            line(&mut out, ' ', a[i]);
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            line(&mut out, '-', a[i]);
            i += 1;
        } else {
            line(&mut out, '+', b[j]);
            j += 1;
        }
    }
    for (text, name) in [(expected, "expected"), (actual, "actual")] {
        if !text.is_empty() && !text.ends_with('\n') {
            out += &format!("\\ No newline at end of {name} file\n");
        }
    }
    if expected.lines().eq(actual.lines()) {
        out += "(the files differ only in line endings)\n";
    }
    out
}

fn compare(label: &str, expected: &[u8], actual: &[u8], failures: &mut Vec<String>) {
    if expected != actual {
        let e = String::from_utf8_lossy(expected);
        let a = String::from_utf8_lossy(actual);
        failures.push(format!(
            "--- expected/{label}\n+++ produced {label}\n{}",
            diff(&e, &a)
        ));
    }
}

fn csv_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".csv"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Runs one case; returns the problems found (empty if it passed).
fn check_case(case: &Path, out: &Path) -> Vec<String> {
    let expected_dir = case.join("expected");
    let mut failures = Vec::new();
    let run = match run_calm(case, out) {
        Ok(run) => run,
        Err(e) => return vec![e],
    };
    let stderr = String::from_utf8_lossy(&run.stderr);
    if let Ok(needle) = fs::read_to_string(expected_dir.join("stderr_contains")) {
        let needle = needle.trim_end_matches(['\n', '\r']);
        if run.code != Some(1) {
            failures.push(format!(
                "expected exit code 1, got {:?}; stderr:\n{stderr}",
                run.code
            ));
        }
        if !stderr.contains(needle) {
            failures.push(format!(
                "stderr does not contain {needle:?}; stderr:\n{stderr}"
            ));
        }
        return failures;
    }
    if run.code != Some(0) {
        return vec![format!(
            "expected exit code 0, got {:?}; stderr:\n{stderr}",
            run.code
        )];
    }
    let expected = csv_files(&expected_dir);
    for name in &expected {
        let want = fs::read(expected_dir.join(name)).expect("readable expected file");
        match fs::read(out.join(name)) {
            Ok(got) => compare(name, &want, &got, &mut failures),
            Err(e) => failures.push(format!("{name} was not produced: {e}")),
        }
    }
    for name in csv_files(out) {
        if !expected.contains(&name) {
            failures.push(format!(
                "unexpected output {name} (add expected/{name} to the case)"
            ));
        }
    }
    if let Ok(want) = fs::read(expected_dir.join("stdout")) {
        compare("stdout", &want, &run.stdout, &mut failures);
    }
    failures
}

#[test]
fn golden_programs() {
    let root = cases_dir();
    let filter = std::env::var("CALM_GOLDEN_FILTER").unwrap_or_default();
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("program.dl").is_file())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 20,
        "expected at least 20 cases in {}",
        root.display()
    );
    let mut failed = Vec::new();
    let mut ran = 0;
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        if !name.contains(&filter) {
            continue;
        }
        ran += 1;
        let out = std::env::temp_dir().join(format!("calm-golden-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&out);
        fs::create_dir_all(&out).expect("create the output directory");
        let failures = check_case(case, &out);
        if failures.is_empty() {
            let _ = fs::remove_dir_all(&out);
        } else {
            eprintln!(
                "=== FAILED {name} (outputs kept in {}) ===\n{}",
                out.display(),
                failures.join("\n")
            );
            failed.push(name);
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {ran} golden cases failed: {}",
        failed.len(),
        failed.join(", ")
    );
}

#[test]
fn diff_shows_changes() {
    let d = diff("a\tb\nc\n", "a\tb\nd\n");
    assert_eq!(d, " a\\tb\n-c\n+d\n");
}
