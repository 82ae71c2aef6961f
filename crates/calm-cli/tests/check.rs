//! `calm check`, `calm graph` and `calm explain` through the binary: exit codes, formats, levels
//! from flags and `calm.toml`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn program(name: &str) -> PathBuf {
    root().join("programs").join(name)
}

fn case(name: &str) -> PathBuf {
    root()
        .join("crates/calm-analyzer/tests/cases")
        .join(format!("{name}.dl"))
}

/// A fresh directory under the target's temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("check-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn calm_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_calm"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run calm")
}

/// Runs calm in an empty directory (so no `calm.toml` is found).
fn calm(args: &[&str]) -> Output {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("check-empty");
    std::fs::create_dir_all(&dir).unwrap();
    calm_in(&dir, args)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn exit_0_when_coordination_free() {
    let o = calm(&["check", path(&program("deadlock.dl"))]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).ends_with("deadlock.dl: coordination-free; monotone outputs: deadlocked\n"));
    let o = calm(&["check", path(&program("analyzer/cart_sealed.dl"))]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn exit_1_when_denied() {
    let o = calm(&["check", path(&program("analyzer/gc_naive.dl"))]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("error[CALM001]"), "{out}");
    assert!(out.contains("error[CALM003]"), "{out}");
    assert!(
        out.contains("needs coordination (2 points of order)"),
        "{out}"
    );
}

#[test]
fn exit_1_for_parse_errors_reported_as_diagnostics() {
    let o = calm(&["check", path(&case("syntax_error"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("error[E0001]"));
}

#[test]
fn exit_2_when_the_tool_fails() {
    let o = calm(&["check", "no/such/file.dl"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read `no/such/file.dl`"));
    let o = calm(&["check", "--deny", "CALM999", path(&program("deadlock.dl"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown lint `CALM999`"),
        "{}",
        stderr(&o)
    );
    let o = calm(&["check", "--allow", "CALM005", path(&program("deadlock.dl"))]);
    assert_eq!(o.status.code(), Some(2));
    let o = calm(&["check"]);
    assert_eq!(o.status.code(), Some(2), "usage error");
}

#[test]
fn warnings_pass_unless_denied() {
    let kv = case("calm001_kv_tombstones");
    let o = calm(&["check", path(&kv)]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("warning[CALM001]"));
    let o = calm(&["check", "--deny", "warnings", path(&kv)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("error[CALM001]"));
    let o = calm(&["check", "--deny", "CALM001", path(&kv)]);
    assert_eq!(o.status.code(), Some(1));
    let o = calm(&["check", "--allow", "non-monotonic-negation", path(&kv)]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!stdout(&o).contains("CALM001"));
}

#[test]
fn allow_makes_a_denied_lint_pass_and_verbose_shows_notes() {
    let cart = program("analyzer/cart_naive.dl");
    let o = calm(&["check", "-A", "CALM002", path(&cart)]);
    assert_eq!(o.status.code(), Some(0));
    let o = calm(&["check", "-A", "CALM002", "--verbose", path(&cart)]);
    assert!(stdout(&o).contains("note[CALM002]"), "{}", stdout(&o));
    let local = case("calm006_local");
    assert!(!stdout(&calm(&["check", path(&local)])).contains("CALM006"));
    assert!(stdout(&calm(&["check", "-v", path(&local)])).contains("note[CALM006]"));
    let o = calm(&["check", "--warn", "CALM006", path(&local)]);
    assert!(stdout(&o).contains("warning[CALM006]"));
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn calm_toml_lints_table() {
    let dir = temp_dir("toml");
    std::fs::copy(case("calm006_local"), dir.join("local.dl")).unwrap();
    std::fs::write(
        dir.join("calm.toml"),
        "[lints]\nlocal-non-monotonic = \"deny\"\n",
    )
    .unwrap();
    let o = calm_in(&dir, &["check", "local.dl"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("error[CALM006]"));
    // Found from a subdirectory too; the command line wins over the file.
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let o = calm_in(
        &dir.join("sub"),
        &["check", "../local.dl", "--allow", "CALM006"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // An explicit --config.
    std::fs::write(dir.join("other.toml"), "[lints]\nCALM006 = \"warn\"\n").unwrap();
    let o = calm_in(&dir, &["check", "--config", "other.toml", "local.dl"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("warning[CALM006]"));
    // A bad file is a tool failure.
    std::fs::write(dir.join("calm.toml"), "[lints]\nCALM001 = \"loud\"\n").unwrap();
    let o = calm_in(&dir, &["check", "local.dl"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("calm.toml"), "{}", stderr(&o));
}

#[test]
fn relative_names_and_several_files() {
    let dir = temp_dir("names");
    std::fs::copy(program("deadlock.dl"), dir.join("a.dl")).unwrap();
    std::fs::copy(program("analyzer/cart_naive.dl"), dir.join("b.dl")).unwrap();
    let abs = dir.join("b.dl");
    let o = calm_in(&dir, &["check", "a.dl", path(&abs)]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("a.dl: coordination-free"), "{out}");
    assert!(
        out.contains("--> b.dl:"),
        "absolute paths are made relative: {out}"
    );
    assert!(out.contains("\nb.dl: needs coordination"), "{out}");
}

#[test]
fn json_lines() {
    let o = calm(&[
        "check",
        "--format",
        "json",
        path(&program("analyzer/gc_naive.dl")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3);
    for f in &lines[..2] {
        for key in [
            "code",
            "name",
            "severity",
            "file",
            "line",
            "column",
            "end_line",
            "end_column",
            "message",
            "path",
        ] {
            assert!(!f[key].is_null(), "{key} missing in {f}");
        }
    }
    assert_eq!(lines[0]["code"], "CALM001");
    assert_eq!(lines[0]["name"], "non-monotonic-negation");
    assert_eq!(lines[0]["line"], 32);
    assert_eq!(lines[0]["path"].as_array().unwrap().len(), 2);
    assert_eq!(lines[2]["type"], "summary");
    assert_eq!(lines[2]["coordination_free"], false);
}

#[test]
fn sarif_and_github_formats() {
    let o = calm(&[
        "check",
        "--format",
        "sarif",
        path(&case("calm003_async_deletion")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["version"], "2.1.0");
    assert_eq!(v["runs"][0]["results"][0]["ruleId"], "CALM003");
    let o = calm(&[
        "check",
        "--format",
        "github",
        path(&case("calm003_async_deletion")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let first = stdout(&o).lines().next().unwrap().to_string();
    assert!(first.starts_with("::error file="), "{first}");
    assert!(first.contains(",line=13,col=29,"), "{first}");
    assert!(
        first.contains("title=CALM003 order-dependent-deletion::"),
        "{first}"
    );
}

#[test]
fn suppressions_through_the_binary() {
    let o = calm(&["check", path(&case("suppressed_with_reason"))]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("1 suppressed"));
    let o = calm(&[
        "check",
        "--deny",
        "warnings",
        path(&case("calm101_suppression_without_reason")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("error[CALM101]"));
}

#[test]
fn explain() {
    let o = calm(&["explain", "CALM001"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.starts_with("CALM001 non-monotonic-negation\n"), "{out}");
    assert!(out.contains("## Remedies"));
    assert!(out.contains("Seal the input"));
    // By name, any case for codes.
    let o = calm(&["explain", "order-dependent-deletion"]);
    assert!(stdout(&o).starts_with("CALM003"));
    let o = calm(&["explain", "calm007"]);
    assert!(stdout(&o).starts_with("CALM007"));
    // The list.
    let o = calm(&["explain"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o).lines().count(), 12);
    let o = calm(&["explain", "monotone-threshold"]);
    assert!(stdout(&o).starts_with("CALM008"));
    assert!(stdout(&o).contains("count >= 2"));
    let o = calm(&["explain", "calm009"]);
    assert!(stdout(&o).starts_with("CALM009 non-monotonic-lattice-read"));
    assert!(stdout(&o).contains("Read a threshold"));
    // Unknown.
    let o = calm(&["explain", "CALM999"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no lint `CALM999`"));
    assert!(stderr(&o).contains("CALM004 membership-under-negation"));
}

#[test]
fn graph_dot() {
    let o = calm(&["graph", path(&program("analyzer/gc_naive.dl"))]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.starts_with("digraph calm {"));
    assert!(out.contains("\"reachable\" -> \"garbage\" [arrowhead=tee, penwidth=2, color=red"));
    assert!(out.contains("style=dashed"));
    assert!(out.contains("style=dotted"));
    let o = calm(&["graph", path(&case("syntax_error"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("E0001"));
    let o = calm(&["graph", "no/such.dl"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn graph_svg_needs_no_graphviz() {
    // No `dot` on the PATH (an empty directory): the SVG is laid out by calm itself.
    let dir = temp_dir("svg");
    let out = dir.join("g.svg");
    let o = Command::new(env!("CARGO_BIN_EXE_calm"))
        .args(["graph", "--format", "svg", "-o"])
        .arg(&out)
        .arg(path(&program("analyzer/gc_naive.dl")))
        .env("PATH", &dir)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.contains("<svg "), "{svg}");
    for rel in ["reachable", "garbage", "object", "$member"] {
        assert!(svg.contains(&format!(">{rel}<")), "{rel} missing");
    }
    // The verdict is written under the graph.
    assert!(svg.contains("needs coordination"), "{svg}");
}

#[test]
fn gitlab_code_quality_report() {
    let o = calm(&[
        "check",
        "--format",
        "gitlab",
        path(&case("calm004_barrier")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    let issues = v.as_array().expect("an array of issues");
    assert!(!issues.is_empty());
    for i in issues {
        for key in ["description", "check_name", "fingerprint", "severity"] {
            assert!(i[key].is_string(), "{key} in {i}");
        }
        assert!(
            i["location"]["path"]
                .as_str()
                .unwrap()
                .ends_with("calm004_barrier.dl")
        );
        assert!(i["location"]["lines"]["begin"].as_u64().unwrap() >= 1);
    }
    let o = calm(&["check", "--format", "gitlab", path(&program("deadlock.dl"))]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), "[]\n".to_string()));
}
