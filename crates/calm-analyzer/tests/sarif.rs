//! The SARIF output has what SARIF 2.1.0 requires and what GitHub code scanning reads: the
//! schema and version, one run with a named driver whose rules have unique ids, and results
//! with a known rule id and index, a level, a message, and a physical location with a relative
//! URI and a valid region. (The full schema is not vendored; these are its required properties
//! and GitHub's documented requirements.)

use calm_analyzer::output::{Input, sarif};
use calm_analyzer::{Config, check};
use calm_syntax::SourceMap;
use serde_json::Value;
use std::collections::BTreeSet;

fn log(paths: &[&str], verbose: bool) -> Value {
    let mut map = SourceMap::new();
    let mut reports = Vec::new();
    for p in paths {
        let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(p);
        let text = std::fs::read_to_string(&full).unwrap();
        let file = map.add(
            format!(
                "dir with space/{}",
                full.file_name().unwrap().to_string_lossy()
            ),
            text,
        );
        reports.push(check(&map, file, &Config::default()));
    }
    let input = Input {
        map: &map,
        reports: &reports,
        verbose,
    };
    serde_json::from_str(&sarif::render(&input)).expect("SARIF is JSON")
}

fn str_of<'v>(v: &'v Value, what: &str) -> &'v str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} must be a string: {v}"))
}

fn positive(v: &Value, what: &str) -> u64 {
    let n = v
        .as_u64()
        .unwrap_or_else(|| panic!("{what} must be an integer: {v}"));
    assert!(n >= 1, "{what} must be >= 1");
    n
}

fn check_location(loc: &Value) {
    let phys = &loc["physicalLocation"];
    let uri = str_of(&phys["artifactLocation"]["uri"], "artifactLocation.uri");
    assert!(
        !uri.contains("://") && !uri.starts_with('/'),
        "relative URI: {uri}"
    );
    assert!(!uri.contains(' '), "URI is encoded: {uri}");
    let region = &phys["region"];
    let start = positive(&region["startLine"], "startLine");
    positive(&region["startColumn"], "startColumn");
    let end = positive(&region["endLine"], "endLine");
    positive(&region["endColumn"], "endColumn");
    assert!(end >= start);
}

#[test]
fn required_fields() {
    let v = log(
        &[
            "../../programs/analyzer/gc_naive.dl",
            "../../programs/analyzer/cart_sealed.dl",
            "tests/cases/calm004_barrier.dl",
            "tests/cases/calm101_suppression_without_reason.dl",
            "tests/cases/syntax_error.dl",
        ],
        true,
    );
    assert_eq!(v["$schema"], sarif::SCHEMA);
    assert_eq!(v["version"], "2.1.0");
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "calm");
    let rules = driver["rules"].as_array().expect("rules");
    let mut ids = BTreeSet::new();
    for r in rules {
        let id = str_of(&r["id"], "rule id");
        assert!(ids.insert(id.to_string()), "duplicate rule id {id}");
        str_of(&r["shortDescription"]["text"], "shortDescription.text");
        let level = str_of(
            &r["defaultConfiguration"]["level"],
            "defaultConfiguration.level",
        );
        assert!(["none", "note", "warning", "error"].contains(&level));
    }
    // Stable rule ids: the lint codes, in order, first.
    let first: Vec<&str> = rules
        .iter()
        .take(12)
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        first,
        [
            "CALM001", "CALM002", "CALM003", "CALM004", "CALM005", "CALM006", "CALM007", "CALM008",
            "CALM009", "CALM100", "CALM101", "CALM102"
        ]
    );
    let results = run["results"].as_array().expect("results");
    assert!(results.len() >= 6, "{}", results.len());
    let mut seen = BTreeSet::new();
    for r in results {
        let id = str_of(&r["ruleId"], "ruleId");
        seen.insert(id.to_string());
        let index = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], id, "ruleIndex points at ruleId");
        let level = str_of(&r["level"], "level");
        assert!(["none", "note", "warning", "error"].contains(&level));
        assert!(!str_of(&r["message"]["text"], "message.text").is_empty());
        let locations = r["locations"].as_array().expect("locations");
        assert_eq!(locations.len(), 1);
        check_location(&locations[0]);
        assert!(r["partialFingerprints"].is_object());
        if let Some(related) = r["relatedLocations"].as_array() {
            let mut ids = BTreeSet::new();
            for l in related {
                assert!(ids.insert(l["id"].as_u64().expect("related id")));
                check_location(l);
                assert!(l["message"]["text"].is_string());
            }
            for flow in r["codeFlows"].as_array().expect("codeFlows with the path") {
                for tf in flow["threadFlows"].as_array().unwrap() {
                    for l in tf["locations"].as_array().unwrap() {
                        check_location(&l["location"]);
                    }
                }
            }
        }
    }
    for code in [
        "CALM001", "CALM003", "CALM004", "CALM007", "CALM101", "E0001",
    ] {
        assert!(seen.contains(code), "{code} missing from {seen:?}");
    }
}

#[test]
fn without_verbose_allowed_findings_are_left_out() {
    let v = log(&["../../programs/analyzer/cart_sealed.dl"], false);
    assert_eq!(v["runs"][0]["results"].as_array().unwrap().len(), 0);
}
