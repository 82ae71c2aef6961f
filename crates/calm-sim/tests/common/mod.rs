//! Helpers shared by the simulator's tests.
#![allow(dead_code)]

use calm_engine::Program;
use calm_sim::{Facts, Options, Report, Setup, check, read_facts};
use std::path::{Path, PathBuf};

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file or directory under `crates/calm-sim/tests/programs`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(name)
}

/// The bundled deadlock detector with its `waits` facts taken out of the program and read from
/// `deadlock/waits.facts` instead (so that they can be placed on nodes).
pub fn deadlock_with_input() -> String {
    let text = std::fs::read_to_string(root().join("programs/deadlock.dl")).unwrap();
    let mut out: String = text
        .lines()
        .filter(|l| !l.starts_with("waits("))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(".input waits\n");
    out
}

/// Seeds for a test: `release` in release builds, `debug` in debug builds.
pub fn seeds(debug: u64, release: u64) -> u64 {
    if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}

/// A setup from program text, a facts directory under `tests/programs` and a placement file.
pub fn setup_text(
    name: &str,
    text: &str,
    facts: Option<&str>,
    placement: Option<&str>,
    options: Options,
) -> Setup {
    let program = Program::compile(name, text).unwrap_or_else(|e| panic!("{e}"));
    let facts: Facts = match facts {
        Some(dir) => read_facts(&program, &data(dir)).unwrap(),
        None => Facts::new(),
    };
    let placement = placement.map(|p| std::fs::read_to_string(data(p)).unwrap());
    Setup::new(name, program, facts, placement.as_deref(), options).unwrap()
}

/// A setup from a program file (relative to the repository root, or under `tests/programs`).
pub fn setup(
    program: &str,
    facts: Option<&str>,
    placement: Option<&str>,
    options: Options,
) -> Setup {
    let path = if program.starts_with("programs/") {
        root().join(program)
    } else {
        data(program)
    };
    let text = std::fs::read_to_string(&path).unwrap();
    setup_text(program, &text, facts, placement, options)
}

/// Runs `seeds` seeds from 1 on two threads and prints the report (the test's output shows it
/// with `--nocapture`, and on failure).
pub fn run(setup: &Setup, seeds: u64) -> Report {
    let report = check(setup, 1, seeds, 2, &|_| {});
    println!("{}", report.render());
    report
}
