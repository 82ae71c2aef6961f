//! `action.yml`, the composite GitHub Action: its steps' commands run locally, as GitHub would
//! run them (inputs and step outputs substituted into each step's `env`, `GITHUB_OUTPUT` a
//! file), on a sample repository with one flagged and one clean program; the SARIF log they
//! write is checked for what SARIF 2.1.0 and GitHub code scanning require.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One step of the action, as far as the test needs it.
#[derive(Debug, Default)]
struct Step {
    id: Option<String>,
    uses: Option<String>,
    env: Vec<(String, String)>,
    with: Vec<(String, String)>,
    run: Option<String>,
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
        .to_string()
}

/// The inputs (names) and steps of `action.yml`, read line by line: the file keeps to a plain
/// subset of YAML (two-space indentation, `run: |` blocks), and this fails on anything else.
fn parse_action(text: &str) -> (BTreeSet<String>, Vec<Step>) {
    let mut inputs = BTreeSet::new();
    let mut steps: Vec<Step> = Vec::new();
    let mut section = "";
    let mut map: Option<&str> = None;
    let mut in_run = false;
    for line in text.lines() {
        if line.trim_start().starts_with('#') && !in_run {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if in_run {
            if line.trim().is_empty() || indent >= 8 {
                let step = steps.last_mut().unwrap();
                let run = step.run.get_or_insert_with(String::new);
                run.push_str(line.get(8..).unwrap_or(""));
                run.push('\n');
                continue;
            }
            in_run = false;
        }
        if line.trim().is_empty() {
            continue;
        }
        if indent == 0 {
            section = line.trim_end_matches(':');
            continue;
        }
        if section == "inputs" && indent == 2 {
            inputs.insert(line.trim().trim_end_matches(':').to_string());
            continue;
        }
        if section != "runs" {
            continue;
        }
        let body = line.trim();
        if indent == 4 && body.starts_with("- ") {
            steps.push(Step::default());
            map = None;
        }
        let body = body.trim_start_matches("- ");
        let Some(step) = steps.last_mut() else {
            continue;
        };
        let (key, value) = body.split_once(':').unwrap_or((body, ""));
        let value = value.trim();
        if (indent == 6 || (indent == 4 && line.trim().starts_with("- "))) && !key.is_empty() {
            map = None;
            match key {
                "id" => step.id = Some(value.to_string()),
                "uses" => step.uses = Some(value.to_string()),
                "env" => map = Some("env"),
                "with" => map = Some("with"),
                "run" => {
                    assert_eq!(value, "|", "a run step is a `|` block");
                    in_run = true;
                }
                "name" | "shell" | "if" => {}
                other => panic!("unexpected step key `{other}`"),
            }
            continue;
        }
        if indent == 8 {
            let pair = (key.trim().to_string(), unquote(value));
            match map {
                Some("env") => step.env.push(pair),
                Some("with") => step.with.push(pair),
                _ => panic!("unexpected line in a step: {line}"),
            }
        }
    }
    (inputs, steps)
}

/// `value` with its `${{ ... }}` expressions replaced.
fn substitute(value: &str, ctx: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closed expression") + start;
        let expr = rest[start + 3..end].trim();
        let v = ctx
            .get(expr)
            .unwrap_or_else(|| panic!("no value for `{expr}` in the test"));
        out.push_str(v);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Runs a `run` step with bash in `dir`; returns its exit code and the outputs it wrote.
fn run_step(
    step: &Step,
    dir: &Path,
    ctx: &BTreeMap<String, String>,
) -> (Option<i32>, BTreeMap<String, String>, String) {
    let script = step.run.as_ref().expect("a run step");
    assert!(
        !script.contains("${{"),
        "expressions belong in the step's env, not in its script"
    );
    let outputs = dir.join(format!(
        "github-output-{}",
        step.id.as_deref().unwrap_or("x")
    ));
    std::fs::write(&outputs, "").unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(script).current_dir(dir);
    cmd.env("GITHUB_OUTPUT", &outputs);
    for (k, v) in &step.env {
        cmd.env(k, substitute(v, ctx));
    }
    let o = cmd.output().expect("run bash");
    let mut out = BTreeMap::new();
    for line in std::fs::read_to_string(&outputs).unwrap().lines() {
        let (k, v) = line.split_once('=').expect("name=value");
        out.insert(k.to_string(), v.to_string());
    }
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code(), out, log)
}

/// A sample repository: one flagged program, one clean one, something else.
fn sample(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("action-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("rules/nested")).unwrap();
    let flagged = root().join("crates/calm-analyzer/tests/cases/calm004_barrier.dl");
    std::fs::copy(flagged, dir.join("rules/nested/barrier.dl")).unwrap();
    std::fs::copy(
        root().join("programs/deadlock.dl"),
        dir.join("rules/deadlock.dl"),
    )
    .unwrap();
    std::fs::write(dir.join("rules/README.md"), "not a program\n").unwrap();
    dir
}

struct Run {
    steps: Vec<Step>,
    ctx: BTreeMap<String, String>,
}

impl Run {
    fn new(files: &str, fail: &str) -> Run {
        let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
        let (inputs, steps) = parse_action(&text);
        // Every input the action refers to is declared.
        for part in text.split("${{ inputs.").skip(1) {
            let name = part.split([' ', '}']).next().unwrap();
            assert!(inputs.contains(name), "undeclared input `{name}`");
        }
        let mut ctx = BTreeMap::new();
        for (k, v) in [
            ("calm", env!("CARGO_BIN_EXE_calm")),
            ("files", files),
            ("args", ""),
            ("sarif-file", "calm.sarif"),
            ("fail-on-findings", fail),
            ("upload", "true"),
            ("category", "calm"),
        ] {
            assert!(inputs.contains(k), "the action has no input `{k}`");
            ctx.insert(format!("inputs.{k}"), v.to_string());
        }
        ctx.insert(
            "github.action_path".into(),
            root().to_string_lossy().into_owned(),
        );
        Run { steps, ctx }
    }

    fn step(&self, id: &str) -> &Step {
        self.steps
            .iter()
            .find(|s| s.id.as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no step `{id}`"))
    }

    /// Runs step `id`, recording its outputs as `steps.ID.outputs.NAME`.
    fn run(&mut self, id: &str, dir: &Path) -> (Option<i32>, String) {
        let (code, outputs, log) = run_step(self.step(id), dir, &self.ctx);
        for (k, v) in outputs {
            self.ctx.insert(format!("steps.{id}.outputs.{k}"), v);
        }
        (code, log)
    }
}

fn check_sarif(v: &Value) {
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "calm");
    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "rule ids are unique");
    let results = runs[0]["results"].as_array().unwrap();
    assert!(!results.is_empty(), "the flagged program has results");
    for r in results {
        let id = r["ruleId"].as_str().unwrap();
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(ids[index], id);
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "rules/nested/barrier.dl");
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        let region = &loc["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1);
        assert!(region["startColumn"].as_u64().unwrap() >= 1);
        assert!(region["endLine"].as_u64().unwrap() >= region["startLine"].as_u64().unwrap());
    }
    let files: BTreeSet<&str> = runs[0]["properties"]["summaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        BTreeSet::from(["rules/deadlock.dl", "rules/nested/barrier.dl"])
    );
}

#[test]
fn the_action_checks_a_repository_and_writes_sarif() {
    let dir = sample("flagged");
    let mut run = Run::new("rules/**/*.dl", "true");
    let (code, log) = run.run("build", &dir);
    assert_eq!(code, Some(0), "{log}");
    let (code, log) = run.run("check", &dir);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("checking 2 program(s)"), "{log}");
    assert_eq!(run.ctx["steps.check.outputs.findings"], "true");
    let sarif = run.ctx["steps.check.outputs.sarif-file"].clone();
    let v: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(sarif)).unwrap())
        .expect("SARIF is JSON");
    check_sarif(&v);
    // The upload step sends that file to code scanning.
    let upload = run
        .steps
        .iter()
        .find(|s| s.uses.is_some())
        .expect("an upload step");
    assert!(
        upload
            .uses
            .as_deref()
            .unwrap()
            .starts_with("github/codeql-action/upload-sarif@")
    );
    let with: BTreeMap<_, _> = upload.with.iter().cloned().collect();
    assert_eq!(
        substitute(&with["sarif_file"], &run.ctx),
        "calm.sarif",
        "the upload reads the check's log"
    );
    // Findings at deny fail the job, unless asked not to.
    let (code, log) = run.run("verdict", &dir);
    assert_eq!(code, Some(1), "{log}");
    run.ctx
        .insert("inputs.fail-on-findings".into(), "false".into());
    let (code, log) = run.run("verdict", &dir);
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn a_clean_repository_passes_and_no_match_is_an_error() {
    let dir = sample("clean");
    let mut run = Run::new("rules/*.dl", "true");
    run.run("build", &dir);
    let (code, log) = run.run("check", &dir);
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(run.ctx["steps.check.outputs.findings"], "false");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("calm.sarif")).unwrap()).unwrap();
    assert_eq!(v["runs"][0]["results"], Value::Array(Vec::new()));
    let (code, log) = run.run("verdict", &dir);
    assert_eq!(code, Some(0), "{log}");

    let mut run = Run::new("nothing/*.dl", "true");
    run.run("build", &dir);
    let (code, log) = run.run("check", &dir);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("no program matches"), "{log}");
}
