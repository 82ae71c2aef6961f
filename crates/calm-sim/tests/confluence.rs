//! Monotone (and properly sealed) programs end the same under every schedule, with every fault
//! on, and agree with `calm run` of all the facts at one node.

mod common;

use calm_sim::{Faults, InputMode, Options, Reference};
use common::{deadlock_with_input, run, seeds, setup, setup_text};

fn assert_confluent(report: &calm_sim::Report, seeds: u64) {
    assert!(
        report.confluent(),
        "expected confluence:\n{}",
        report.render()
    );
    assert_eq!(report.schedules() as u64, seeds);
    assert!(report.nondeterministic.is_none());
    assert!(!report.disagreement());
    assert!(
        report.analyzer.coordination_free,
        "{}",
        report.analyzer.verdict
    );
}

#[test]
fn the_bundled_deadlock_detector_is_confluent_over_1000_seeds() {
    let s = setup("programs/deadlock.dl", None, None, Options::default());
    let n = seeds(1000, 1000);
    let report = run(&s, n);
    assert_confluent(&report, n);
    assert_eq!(report.reference, Reference::EveryNode);
    assert!(report.stats.crashes > 0 && report.stats.partitions > 0);
    assert!(report.stats.dropped > 0 && report.stats.duplicated > 0);
    assert!(report.stats.recoveries > 0 && report.stats.commits > 0);
    let deadlocked = &report.outcomes[0].outputs[0]["deadlocked"];
    // t1..t5 are on cycles; t6 only waits for one.
    assert_eq!(deadlocked.len(), 5);
}

#[test]
fn deadlock_detection_over_placed_edges_is_confluent_and_equals_calm_run() {
    let text = deadlock_with_input();
    let s = setup_text(
        "deadlock.dl",
        &text,
        Some("deadlock"),
        None,
        Options::default(),
    );
    assert_eq!(s.placement.spread, 11);
    assert!(s.placement.counts().iter().all(|&c| c > 0));
    let n = seeds(200, 2000);
    let report = run(&s, n);
    assert_confluent(&report, n);
    assert_eq!(report.reference, Reference::EveryNode);
}

#[test]
fn deadlock_detection_with_client_inserts_is_confluent() {
    let text = deadlock_with_input();
    let options = Options {
        inputs: InputMode::Inserts,
        nodes: 4,
        placement_seed: 7,
        ..Options::default()
    };
    let s = setup_text("deadlock.dl", &text, Some("deadlock"), None, options);
    let n = seeds(120, 1000);
    let report = run(&s, n);
    assert_confluent(&report, n);
    assert_eq!(report.reference, Reference::EveryNode);
}

#[test]
fn gossiped_transitive_closure_is_confluent() {
    let s = setup("tc_gossip.dl", Some("tc"), None, Options::default());
    let n = seeds(120, 1000);
    let report = run(&s, n);
    assert_confluent(&report, n);
    assert_eq!(report.reference, Reference::EveryNode);
}

#[test]
fn a_grow_only_set_is_confluent_with_files_and_with_inserts() {
    for inputs in [InputMode::Files, InputMode::Inserts] {
        let options = Options {
            inputs,
            nodes: 5,
            ..Options::default()
        };
        let s = setup("gset.dl", Some("gset"), None, options);
        let n = seeds(60, 1000);
        let report = run(&s, n);
        assert_confluent(&report, n);
        assert_eq!(report.reference, Reference::EveryNode);
    }
}

#[test]
fn the_sealed_cart_is_confluent_when_one_client_makes_every_update() {
    let s = setup(
        "programs/analyzer/cart_sealed.dl",
        Some("cart"),
        Some("cart/one_client.tsv"),
        Options::default(),
    );
    let n = seeds(200, 2000);
    let report = run(&s, n);
    assert_confluent(&report, n);
    // The server (n2) records the order with all three items.
    let order = &report.outcomes[0].outputs[1]["order"];
    assert_eq!(order.len(), 1);
    assert_eq!(order[0][1], calm_engine::Value::Number(3));
}

#[test]
fn without_faults_schedules_still_differ_but_end_the_same() {
    let options = Options {
        faults: Faults::none(),
        ..Options::default()
    };
    let s = setup("tc_gossip.dl", Some("tc"), None, options);
    let report = run(&s, 50);
    assert_confluent(&report, 50);
    let st = report.stats;
    assert_eq!(
        (
            st.dropped,
            st.duplicated,
            st.lost,
            st.crashes,
            st.partitions
        ),
        (0, 0, 0, 0, 0)
    );
}

#[test]
#[ignore = "soak: many seeds, run with --ignored in release"]
fn soak_monotone_programs_over_many_seeds() {
    let text = deadlock_with_input();
    for nodes in [2, 3, 5] {
        let options = Options {
            nodes,
            ..Options::default()
        };
        let s = setup_text(
            "deadlock.dl",
            &text,
            Some("deadlock"),
            None,
            options.clone(),
        );
        assert_confluent(&run(&s, 10_000), 10_000);
        let s = setup("tc_gossip.dl", Some("tc"), None, options);
        assert_confluent(&run(&s, 10_000), 10_000);
    }
}

#[test]
fn a_timer_driven_gossip_is_confluent_and_quiesces() {
    let s = setup("gossip_timer.dl", Some("gossip"), None, Options::default());
    assert_eq!(s.timers.len(), 1);
    assert_eq!(s.timers[0].period, 100);
    let n = seeds(50, 1000);
    let report = run(&s, n);
    assert_confluent(&report, n);
    // `calm run` fires no timers, so it hears of nothing.
    assert!(
        matches!(&report.reference, Reference::Differs { missing, .. } if missing.is_empty()),
        "{:?}",
        report.reference
    );
    let trace = calm_sim::run_seed(&s, 1, true).trace.join("\n");
    assert!(trace.contains("took timer round(0)"), "{trace}");
}

/// The replicated key-key-value store (`programs/kvs.dl`): puts on every node, a delete, the
/// compaction timer, under every fault but the loss of a node's state. This diverged (seed 12)
/// until nodes ingested each peer batch once: a retransmitted copy of a batch whose
/// acknowledgement was lost arrived after its version had been compacted and brought it back.
/// Nodes restart from their store (`restart`: the node's redb store, on an in-memory file); a
/// node that loses what it acknowledged (`crash`) breaks the premise of compaction (every member
/// holds the tombstone), which is why the runtime stores every tick before acknowledging
/// (`calm node --data-dir`).
#[test]
fn kv_store_is_confluent() {
    if !common::root().join("programs/kvs.dl").exists() {
        return;
    }
    let mut faults = Faults::all();
    faults.crash = false;
    let s = setup(
        "programs/kvs.dl",
        Some("kv"),
        Some("kv/placement.tsv"),
        Options {
            faults,
            ..Options::default()
        },
    );
    let n = seeds(100, 1000);
    let report = run(&s, n);
    assert!(report.confluent(), "{}", report.render());
    assert_eq!(report.schedules() as u64, n);
    assert!(report.stats.recoveries > 0 && report.stats.replayed > 0);
}

/// `restart` faults run the node's own storage code: every step of a node that the fault plan
/// stops is committed to its redb store (on an in-memory file), and a restart recovers the node
/// from it (snapshot plus log replayed), with the unacknowledged batches it resends.
#[test]
fn restarts_go_through_the_nodes_store() {
    let options = Options {
        faults: Faults::parse("restart").unwrap(),
        ..Options::default()
    };
    let s = setup("programs/deadlock.dl", None, None, options);
    let n = seeds(60, 500);
    let report = run(&s, n);
    assert_confluent(&report, n);
    let st = report.stats;
    assert!(st.commits > st.recoveries && st.recoveries > 0, "{st:?}");
    assert!(st.replayed > 0, "{st:?}");
    assert!(report.render().contains(" restarts from a store ("));
    let restarted = (1..=n)
        .map(|seed| calm_sim::run_seed(&s, seed, true))
        .find(|r| r.stats.recoveries > 0)
        .unwrap();
    let trace = restarted.trace.join("\n");
    assert!(trace.contains("STOPPED: its store is kept"), "{trace}");
    assert!(trace.contains("restarted from its store: "), "{trace}");
    // Without `restart`, no node has a store.
    let options = Options {
        faults: Faults::parse("partition,drop,dup,reorder,crash").unwrap(),
        ..Options::default()
    };
    let s = setup("programs/deadlock.dl", None, None, options);
    let report = run(&s, 20);
    assert_eq!((report.stats.commits, report.stats.recoveries), (0, 0));
    assert!(!report.render().contains("restarts from a store"));
}

/// The quorum (`programs/crdt/quorum.dl`): a count of votes that arrive in any order, kept once
/// it reaches two. The analyzer calls the count a monotone threshold (CALM008), not a point of
/// order, and every schedule agrees: `a`, with three votes, is decided everywhere; `b` and `c`,
/// with one each, nowhere.
#[test]
fn the_quorum_threshold_is_confluent() {
    let s = setup(
        "programs/crdt/quorum.dl",
        Some("quorum"),
        Some("quorum/placement.tsv"),
        Options::default(),
    );
    assert!(s.analyzer.coordination_free, "{}", s.analyzer.verdict);
    let n = seeds(300, 1000);
    let report = run(&s, n);
    assert_confluent(&report, n);
    for node in &report.outcomes[0].outputs {
        let decided = &node["decided"];
        assert_eq!(decided.len(), 1, "{decided:?}");
        assert_eq!(decided[0][0], calm_engine::Value::Symbol("a".into()));
    }
}

/// The lattice programs of `programs/crdt/`: values merged into `max`/`min` columns travel
/// between nodes, persist, survive crashes (stores, snapshots), and every schedule ends the same.
#[test]
fn the_lattice_crdts_are_confluent() {
    for (program, dir, equals_calm_run) in [
        ("programs/crdt/max_register.dl", "max_register", true),
        // Its slots are keyed by node name: `calm run` has one node, `local`.
        ("programs/crdt/gcounter.dl", "gcounter", false),
        ("programs/crdt/routing.dl", "routing", true),
    ] {
        let placement = format!("{dir}/placement.tsv");
        let s = setup(program, Some(dir), Some(&placement), Options::default());
        assert!(s.analyzer.coordination_free, "{}", s.analyzer.verdict);
        let n = seeds(40, 1000);
        let report = run(&s, n);
        assert_confluent(&report, n);
        if equals_calm_run {
            assert_eq!(report.reference, Reference::EveryNode, "{program}");
        }
        let out = &report.outcomes[0].outputs[0];
        match dir {
            "max_register" => assert_eq!(out["register"].len(), 3, "{out:?}"),
            "gcounter" => {
                // n1 counted 4, n2 5, n3 nothing: every node holds every slot.
                let slots: Vec<i64> = out["slot"]
                    .iter()
                    .map(|r| match r[1] {
                        calm_engine::Value::Number(x) => x,
                        _ => panic!("{r:?}"),
                    })
                    .collect();
                assert_eq!(slots, vec![4, 5, 0]);
            }
            _ => assert_eq!(out["route"].len(), 16, "{out:?}"),
        }
    }
}

/// The outputs of a node as rows of text (`a\t1`), for the lattice programs below.
fn text_rows(
    out: &std::collections::BTreeMap<String, Vec<Vec<calm_engine::Value>>>,
    rel: &str,
) -> Vec<String> {
    out[rel]
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect()
}

/// The CRDTs on `bool`, `counter` and `lww` lattices (`programs/crdt/`) and the last-writer-wins
/// store (`programs/kvs_lww.dl`): values merged on every node, through every fault (the
/// simulator's nodes merge with the node's own code, stores and restarts included), end the
/// same under every schedule, and the outcome is the one the program's comment promises.
#[test]
fn the_bool_counter_and_lww_crdts_are_confluent() {
    for (program, dir, rel, want) in [
        (
            "programs/crdt/pncounter.dl",
            "pncounter",
            "value",
            &["7"][..],
        ),
        (
            "programs/crdt/lww_register.dl",
            "lww_register",
            "register",
            &["x\t9\tn3\tamber", "y\t120\tn1\tgreen"][..],
        ),
        (
            "programs/crdt/twophase_set.dl",
            "twophase_set",
            "member",
            &["a", "c"][..],
        ),
        ("programs/crdt/orset.dl", "orset", "member", &["a", "c"][..]),
        (
            "programs/crdt/vector_clock.dl",
            "vector_clock",
            "clock",
            &["n1\t3", "n2\t1", "n3\t0"][..],
        ),
        (
            "programs/kvs_lww.dl",
            "kv_lww",
            "visible",
            &["a\tb\tv2\tc2\t12", "e\tf\tv4\tc3\t5"][..],
        ),
    ] {
        let placement = format!("{dir}/placement.tsv");
        let s = setup(program, Some(dir), Some(&placement), Options::default());
        assert!(s.analyzer.coordination_free, "{}", s.analyzer.verdict);
        let n = seeds(15, 1000);
        let report = run(&s, n);
        assert!(report.confluent(), "{program}:\n{}", report.render());
        assert_eq!(report.schedules() as u64, n);
        assert!(report.nondeterministic.is_none(), "{program}");
        for out in &report.outcomes[0].outputs {
            assert_eq!(text_rows(out, rel), want, "{program}");
        }
    }
}
