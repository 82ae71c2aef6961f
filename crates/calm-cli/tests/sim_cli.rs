//! `calm sim` through the binary: verdicts, counterexamples, replay, JSON and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file under `crates/calm-sim/tests/programs`.
fn data(name: &str) -> String {
    root()
        .join("crates/calm-sim/tests/programs")
        .join(name)
        .display()
        .to_string()
}

fn program(name: &str) -> String {
    root().join("programs").join(name).display().to_string()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sim-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn calm(args: &[&str]) -> Output {
    // Tests run in parallel: the working directory is shared and never removed.
    let cwd = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sim-cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    Command::new(env!("CARGO_BIN_EXE_calm"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run calm")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_bundled_deadlock_detector_is_confluent() {
    let o = calm(&["sim", "--seeds", "40"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("calm sim programs/deadlock.dl: 3 nodes, faults partition,drop,dup,reorder,crash,restart, input facts as files, seeds 1..=40\n"), "{out}");
    assert!(out.contains("\nanalyzer:  coordination-free\n"), "{out}");
    assert!(
        out.contains("\nsimulator: confluent across 40 schedules\n"),
        "{out}"
    );
    assert!(
        out.contains("every node's outputs equal `calm run`"),
        "{out}"
    );
    assert!(out.contains(" seeds/s; "), "{out}");
}

#[test]
fn an_order_dependent_program_is_caught_with_a_counterexample() {
    let o = calm(&[
        "sim",
        &data("register_naive.dl"),
        "--facts",
        &data("register"),
        "--placement",
        &data("register/placement.tsv"),
        "--seeds",
        "20",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("analyzer:  needs coordination"), "{out}");
    assert!(out.contains("simulator: DIVERGED: "), "{out}");
    assert!(out.contains("\ncounterexample: seed "), "{out}");
    assert!(out.contains(" reg: with seed "), "{out}");
    assert!(out.contains("rerun it with --replay "), "{out}");
    assert!(out.contains(" tick 1: "), "{out}");
    assert!(!out.contains("BUG IN CALM"), "{out}");
}

#[test]
fn replay_prints_the_same_schedule_in_every_process() {
    let args = [
        "sim",
        &data("tc_gossip.dl"),
        "-F",
        &data("tc"),
        "--replay",
        "17",
    ];
    let a = calm(&args);
    let b = calm(&args);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    let out = stdout(&a);
    assert_eq!(out, stdout(&b), "two processes, one schedule");
    assert!(out.starts_with("t=0     seed 17: 3 nodes"), "{out}");
    assert!(
        out.contains("\noutcome of seed 17:\nn1 path: path(1, 1), "),
        "{out}"
    );
    assert!(out.contains("\ntrace hash "), "{out}");
    let j = calm(&[
        "sim",
        &data("tc_gossip.dl"),
        "-F",
        &data("tc"),
        "--replay",
        "17",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(v["seed"], 17);
    assert_eq!(v["outcome"]["quiesced"], true);
    assert!(
        v["outcome"]["nodes"]["n3"]["path"]
            .as_array()
            .unwrap()
            .len()
            > 10
    );
    let hash = out
        .lines()
        .last()
        .unwrap()
        .strip_prefix("trace hash ")
        .unwrap();
    assert_eq!(v["trace_hash"], hash);
}

#[test]
fn json_output_for_tools() {
    let o = calm(&[
        "sim",
        &program("analyzer/cart_naive.dl"),
        "-F",
        &data("cart"),
        "--placement",
        &data("cart/placement.tsv"),
        "--seeds",
        "30",
        "--json",
        "-j",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "diverged");
    assert_eq!(v["seeds"], 30);
    assert_eq!(v["analyzer"]["coordination_free"], false);
    assert_eq!(v["disagreement"], false);
    assert_eq!(v["deterministic"], true);
    assert_eq!(v["placement"]["n1"], 3);
    let c = &v["counterexample"];
    assert_eq!(c["seeds"].as_array().unwrap().len(), 2);
    assert_eq!(c["differences"][0]["node"], "n2");
    assert_eq!(c["differences"][0]["relation"], "order");
    assert!(!c["trace"].as_array().unwrap().is_empty());
    assert!(v["seeds_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn client_inserts_and_fault_selection() {
    let o = calm(&[
        "sim",
        &data("gset.dl"),
        "-F",
        &data("gset"),
        "--inputs",
        "inserts",
        "--faults",
        "drop,dup",
        "--nodes",
        "4",
        "--seeds",
        "20",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("4 nodes, faults drop,dup, input facts as inserts"),
        "{out}"
    );
    assert!(out.contains(", 0 crashes, 0 partitions\n"), "{out}");
}

#[test]
fn usage_and_data_errors() {
    let o = calm(&["sim", "--faults", "fire"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown fault `fire`"),
        "{}",
        stderr(&o)
    );

    let dir = scratch("bad-placement");
    let placement = dir.join("p.tsv");
    std::fs::write(&placement, "n9\treg\t1\n").unwrap();
    let o = calm(&[
        "sim",
        &data("register_naive.dl"),
        "-F",
        &data("register"),
        "--placement",
        placement.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("p.tsv: line 1: unknown node `n9`"),
        "{}",
        stderr(&o)
    );

    let bad = dir.join("bad.dl");
    std::fs::write(&bad, "p(x) :- q(y).\n").unwrap();
    let o = calm(&["sim", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("E0200"), "{}", stderr(&o));

    // Missing fact files: like `calm run`, an error at the `.input` (E0600).
    let o = calm(&["sim", &data("tc_gossip.dl"), "-F", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("E0600"), "{}", stderr(&o));
    assert!(stderr(&o).contains("edge.facts"), "{}", stderr(&o));
}
