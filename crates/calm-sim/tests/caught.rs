//! Order-dependent programs are caught disagreeing within a small seed budget, with a
//! counterexample: two seeds, the facts they differ on, and the trace of a schedule.

mod common;

use calm_sim::Options;
use common::{run, setup};

fn assert_caught(report: &calm_sim::Report, budget: u64) {
    assert!(report.diverged(), "not caught:\n{}", report.render());
    let after = report.caught_after.expect("caught");
    assert!(after <= budget, "caught only after {after} seeds");
    let c = report.counterexample.as_ref().expect("a counterexample");
    assert_ne!(c.first, c.second);
    assert!(!c.differences.is_empty());
    assert!(c.trace.iter().any(|l| l.contains(" tick ")));
    assert!(c.trace.last().unwrap().contains("quiescent"));
    assert!(report.nondeterministic.is_none());
    let text = report.render();
    assert!(text.contains("counterexample: seed"), "{text}");
    assert!(text.contains(&format!("--replay {}", c.second)), "{text}");
}

#[test]
fn a_last_writer_register_is_caught() {
    let s = setup(
        "register_naive.dl",
        Some("register"),
        Some("register/placement.tsv"),
        Options::default(),
    );
    assert!(!s.analyzer.coordination_free, "{}", s.analyzer.verdict);
    let report = run(&s, 40);
    assert_caught(&report, 10);
    assert!(!report.disagreement());
    // Every difference is about which value a node's register ended with.
    let c = report.counterexample.as_ref().unwrap();
    assert!(c.differences.iter().all(|d| d.relation == "reg"));
}

#[test]
fn a_last_writer_register_is_caught_even_without_faults() {
    let options = Options {
        faults: calm_sim::Faults::none(),
        ..Options::default()
    };
    let s = setup(
        "register_naive.dl",
        Some("register"),
        Some("register/placement.tsv"),
        options,
    );
    let report = run(&s, 40);
    assert_caught(&report, 20);
}

#[test]
fn the_naive_garbage_collector_is_caught() {
    let options = Options {
        all_relations: true,
        ..Options::default()
    };
    let s = setup(
        "programs/analyzer/gc_naive.dl",
        Some("gc"),
        Some("gc/placement.tsv"),
        options,
    );
    assert!(!s.analyzer.coordination_free);
    let report = run(&s, 100);
    assert_caught(&report, 50);
    // Some schedule collects an object another keeps: `object` differs at the node storing it.
    let c = report.counterexample.as_ref().unwrap();
    assert!(
        c.differences.iter().any(|d| d.relation == "object"),
        "{:?}",
        c.differences
    );
}

#[test]
fn the_naive_gc_only_compares_its_outputs_by_default() {
    // `garbage` holds only until the object is collected, so at quiescence it is always empty:
    // the outputs agree and the state (`object`) differs. The report says the analyzer's
    // warning was not borne out by the outputs.
    let s = setup(
        "programs/analyzer/gc_naive.dl",
        Some("gc"),
        Some("gc/placement.tsv"),
        Options::default(),
    );
    assert_eq!(s.relations, vec!["garbage".to_string()]);
    let report = run(&s, 30);
    assert!(report.confluent());
    assert!(
        report
            .render()
            .contains("note: the analyzer's warning was not borne out")
    );
}

#[test]
fn the_naive_cart_is_caught_when_a_second_device_adds_items() {
    let s = setup(
        "programs/analyzer/cart_naive.dl",
        Some("cart"),
        Some("cart/placement.tsv"),
        Options::default(),
    );
    let report = run(&s, 40);
    assert_caught(&report, 20);
    assert!(!report.disagreement());
}

#[test]
fn a_seal_broken_by_placement_is_flagged_as_a_disagreement() {
    // The analyzer recognises the manifest seal of the sealed cart and calls it
    // coordination-free; that holds when the node that checks out made every update. Here a
    // second device (n3) adds items the manifest cannot list, the count is order-dependent
    // again, and the simulator flags the disagreement loudly.
    let s = setup(
        "programs/analyzer/cart_sealed.dl",
        Some("cart"),
        Some("cart/placement.tsv"),
        Options::default(),
    );
    assert!(s.analyzer.coordination_free);
    let report = run(&s, 40);
    assert_caught(&report, 20);
    assert!(report.disagreement());
    assert!(
        report
            .render()
            .contains("error: BUG IN CALM: the analyzer says")
    );
    assert_eq!(report.to_json()["disagreement"], true);
}

#[test]
fn a_quorum_on_an_exact_count_is_caught() {
    let s = setup(
        "quorum_exact.dl",
        Some("quorum"),
        Some("quorum/placement.tsv"),
        Options::default(),
    );
    assert!(!s.analyzer.coordination_free, "{}", s.analyzer.verdict);
    let report = run(&s, 100);
    assert_caught(&report, 100);
    let c = report.counterexample.as_ref().unwrap();
    assert!(c.differences.iter().all(|d| d.relation == "decided"));
}
