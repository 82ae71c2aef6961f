//! Snapshot tests of every lint in every format (human, JSON lines, SARIF, GitHub), one small
//! program per case: `tests/cases/*.dl`, and the seed examples in `programs/` at the repository
//! root. Each case is checked with `--verbose`, so that allowed lints (CALM006, CALM007) show
//! too. The SARIF snapshots list the rules by id only; one test snapshots the rules in full.

use calm_analyzer::output::{self, Input};
use calm_analyzer::{Config, Report, check};
use calm_syntax::SourceMap;
use std::path::Path;

fn source(path: &str) -> (String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let full = root.join(path);
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{path}: {e}"));
    let name = full.file_name().unwrap().to_string_lossy().to_string();
    (name, text)
}

fn run(path: &str, config: &Config) -> (SourceMap, Report) {
    let (name, text) = source(path);
    let mut map = SourceMap::new();
    let file = map.add(name, text);
    let report = check(&map, file, config);
    (map, report)
}

fn sarif_without_rule_docs(text: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
    let rules = &mut v["runs"][0]["tool"]["driver"]["rules"];
    let ids: Vec<serde_json::Value> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    *rules = serde_json::Value::Array(ids);
    serde_json::to_string_pretty(&v).unwrap()
}

/// The four formats of one case.
fn formats(path: &str) -> [String; 4] {
    let (map, report) = run(path, &Config::default());
    let reports = [report];
    let input = Input {
        map: &map,
        reports: &reports,
        verbose: true,
    };
    [
        output::human::render(&input),
        output::json::render(&input),
        sarif_without_rule_docs(&output::sarif::render(&input)),
        output::github::render(&input),
    ]
}

macro_rules! case {
    ($test:ident, $path:expr) => {
        #[test]
        fn $test() {
            let [human, json, sarif, github] = formats($path);
            insta::assert_snapshot!(concat!(stringify!($test), "__human"), human);
            insta::assert_snapshot!(concat!(stringify!($test), "__json"), json);
            insta::assert_snapshot!(concat!(stringify!($test), "__sarif"), sarif);
            insta::assert_snapshot!(concat!(stringify!($test), "__github"), github);
        }
    };
}

// The seed examples.
case!(seed_deadlock, "../../programs/deadlock.dl");
case!(seed_gc_naive, "../../programs/analyzer/gc_naive.dl");
case!(seed_cart_naive, "../../programs/analyzer/cart_naive.dl");
case!(seed_cart_sealed, "../../programs/analyzer/cart_sealed.dl");

// One program per lint and case.
case!(
    calm001_kv_tombstones,
    "tests/cases/calm001_kv_tombstones.dl"
);
case!(calm001_cart_ship, "tests/cases/calm001_cart_ship.dl");
case!(
    calm001_cart_ship_sealed,
    "tests/cases/calm001_cart_ship_sealed.dl"
);
case!(calm001_gc_snapshot, "tests/cases/calm001_gc_snapshot.dl");
case!(
    calm001_gc_compensate,
    "tests/cases/calm001_gc_compensate.dl"
);
case!(
    calm003_async_deletion,
    "tests/cases/calm003_async_deletion.dl"
);
case!(calm003_tombstones, "tests/cases/calm003_tombstones.dl");
case!(calm004_barrier, "tests/cases/calm004_barrier.dl");
case!(calm004_barrier_view, "tests/cases/calm004_barrier_view.dl");
case!(calm004_quorum, "tests/cases/calm004_quorum.dl");
case!(
    calm005_unstratifiable,
    "tests/cases/calm005_unstratifiable.dl"
);
case!(calm005_next, "tests/cases/calm005_next.dl");
case!(calm006_local, "tests/cases/calm006_local.dl");
case!(
    calm100_unused_suppression,
    "tests/cases/calm100_unused_suppression.dl"
);
case!(
    calm101_suppression_without_reason,
    "tests/cases/calm101_suppression_without_reason.dl"
);
case!(
    calm102_invalid_suppression,
    "tests/cases/calm102_invalid_suppression.dl"
);
case!(
    suppressed_with_reason,
    "tests/cases/suppressed_with_reason.dl"
);
case!(calm008_thresholds, "tests/cases/calm008_thresholds.dl");
case!(
    calm009_lattice_reads,
    "tests/cases/calm009_lattice_reads.dl"
);
case!(
    calm008_counter_total,
    "tests/cases/calm008_counter_total.dl"
);
case!(calm009_bool_lww, "tests/cases/calm009_bool_lww.dl");
case!(syntax_error, "tests/cases/syntax_error.dl");

#[test]
fn sarif_rules_in_full() {
    let (map, report) = run("tests/cases/calm006_local.dl", &Config::default());
    let reports = [report];
    let input = Input {
        map: &map,
        reports: &reports,
        verbose: false,
    };
    let v: serde_json::Value = serde_json::from_str(&output::sarif::render(&input)).unwrap();
    insta::assert_snapshot!(
        serde_json::to_string_pretty(&v["runs"][0]["tool"]["driver"]["rules"]).unwrap()
    );
}

#[test]
fn graphs() {
    for (name, path) in [
        ("deadlock", "../../programs/deadlock.dl"),
        ("gc_naive", "../../programs/analyzer/gc_naive.dl"),
        ("cart_sealed", "../../programs/analyzer/cart_sealed.dl"),
        ("barrier", "tests/cases/calm004_barrier.dl"),
        ("local", "tests/cases/calm006_local.dl"),
        ("lattices", "tests/cases/calm009_bool_lww.dl"),
    ] {
        let (file_name, text) = source(path);
        let mut map = SourceMap::new();
        let file = map.add(file_name, text);
        let dot = calm_analyzer::dot(&map, file).expect("compiles");
        insta::assert_snapshot!(format!("graph_{name}"), dot);
    }
}
