//! The GitLab code-quality report: a JSON array of issues, each with the fields GitLab requires
//! (description, check_name, fingerprint, severity, location.path, location.lines.begin), valid
//! values, and fingerprints unique within the report.

use calm_analyzer::output::{Input, gitlab};
use calm_analyzer::{Config, check};
use calm_syntax::SourceMap;
use serde_json::Value;
use std::collections::BTreeSet;

fn report(files: &[(&str, &str)], verbose: bool) -> Value {
    let mut map = SourceMap::new();
    let mut reports = Vec::new();
    for (name, text) in files {
        let file = map.add(*name, *text);
        reports.push(check(&map, file, &Config::default()));
    }
    let input = Input {
        map: &map,
        reports: &reports,
        verbose,
    };
    serde_json::from_str(&gitlab::render(&input)).expect("the report is JSON")
}

fn case(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(format!("{name}.dl"));
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn issues_have_the_required_fields() {
    let barrier = case("calm004_barrier");
    let syntax = case("syntax_error");
    let v = report(
        &[
            ("./rules/barrier.dl", barrier.as_str()),
            ("rules\\syntax.dl", syntax.as_str()),
        ],
        true,
    );
    let issues = v.as_array().expect("an array");
    assert!(issues.len() >= 2, "{v:#}");
    let mut fingerprints = BTreeSet::new();
    let mut paths = BTreeSet::new();
    let mut severities = BTreeSet::new();
    for i in issues {
        assert!(!i["description"].as_str().unwrap().is_empty(), "{i}");
        let code = i["check_name"].as_str().unwrap();
        assert!(code.starts_with("CALM") || code.starts_with('E'), "{code}");
        assert!(fingerprints.insert(i["fingerprint"].as_str().unwrap().to_string()));
        let sev = i["severity"].as_str().unwrap();
        assert!(
            ["info", "minor", "major", "critical", "blocker"].contains(&sev),
            "{sev}"
        );
        severities.insert(sev.to_string());
        paths.insert(i["location"]["path"].as_str().unwrap().to_string());
        let begin = i["location"]["lines"]["begin"].as_u64().unwrap();
        assert!(begin >= 1);
    }
    assert_eq!(
        paths,
        BTreeSet::from([
            "rules/barrier.dl".to_string(),
            "rules/syntax.dl".to_string()
        ])
    );
    assert!(severities.contains("major"), "{severities:?}");
}

#[test]
fn a_clean_program_has_an_empty_report() {
    let v = report(
        &[("ok.dl", "edge(1, 2).\npath(x, y) :- edge(x, y).\n")],
        false,
    );
    assert_eq!(v, Value::Array(Vec::new()));
}

#[test]
fn identical_findings_get_distinct_fingerprints() {
    let barrier = case("calm004_barrier");
    // The same program twice under one name: every finding has a twin.
    let v = report(
        &[("a.dl", barrier.as_str()), ("a.dl", barrier.as_str())],
        false,
    );
    let issues = v.as_array().unwrap();
    assert!(issues.len() >= 2 && issues.len().is_multiple_of(2), "{v:#}");
    let fps: BTreeSet<&str> = issues
        .iter()
        .map(|i| i["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(fps.len(), issues.len());
}

#[test]
fn lines_are_those_of_the_finding() {
    let text = "\n\n.decl r(x: number)\n.decl s(x: number)\nr(1).\ns(x) :- r(x, x).\n";
    let v = report(&[("x.dl", text)], false);
    let issues = v.as_array().unwrap();
    assert!(!issues.is_empty(), "{v:#}");
    // `r` is used with two columns: an error on line 6.
    assert!(
        issues
            .iter()
            .any(|i| i["location"]["lines"]["begin"] == 6 && i["severity"] == "major"),
        "{v:#}"
    );
}
