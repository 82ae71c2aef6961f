//! A seed names one schedule: two runs of a seed have the same trace (hash and lines), whether
//! or not the lines are kept, on any number of threads.

mod common;

use calm_sim::{InputMode, Options, check, run_seed};
use common::{deadlock_with_input, setup, setup_text};

#[test]
fn the_same_seed_gives_the_same_trace_and_outcome() {
    let options = Options {
        inputs: InputMode::Inserts,
        ..Options::default()
    };
    let setups = [
        setup_text(
            "deadlock.dl",
            &deadlock_with_input(),
            Some("deadlock"),
            None,
            options,
        ),
        setup(
            "register_naive.dl",
            Some("register"),
            Some("register/placement.tsv"),
            Options::default(),
        ),
    ];
    for s in &setups {
        let mut hashes = Vec::new();
        for seed in [1, 2, 99, u64::MAX] {
            let a = run_seed(s, seed, true);
            let b = run_seed(s, seed, true);
            let c = run_seed(s, seed, false);
            assert_eq!(a.trace_hash, b.trace_hash);
            assert_eq!(a.trace_hash, c.trace_hash, "keeping lines changes nothing");
            assert_eq!(a.trace, b.trace);
            assert!(c.trace.is_empty());
            assert_eq!(a.outcome, b.outcome);
            assert_eq!(a.outcome, c.outcome);
            assert_eq!(a.stats, c.stats);
            hashes.push(a.trace_hash);
        }
        hashes.dedup();
        assert_eq!(hashes.len(), 4, "different seeds, different schedules");
    }
}

#[test]
fn reports_do_not_depend_on_the_number_of_threads() {
    let s = setup(
        "register_naive.dl",
        Some("register"),
        Some("register/placement.tsv"),
        Options::default(),
    );
    let one = check(&s, 5, 30, 1, &|_| {});
    let two = check(&s, 5, 30, 2, &|_| {});
    assert!(one.nondeterministic.is_none() && two.nondeterministic.is_none());
    let groups = |r: &calm_sim::Report| -> Vec<Vec<u64>> {
        r.outcomes.iter().map(|g| g.seeds.clone()).collect()
    };
    assert_eq!(groups(&one), groups(&two));
    let (c1, c2) = (
        one.counterexample.as_ref().unwrap(),
        two.counterexample.as_ref().unwrap(),
    );
    assert_eq!((c1.first, c1.second), (c2.first, c2.second));
    assert_eq!(c1.trace, c2.trace);
    assert_eq!(one.stats, two.stats);
    // Seeds 5..=34 ran, in order of seed in each group.
    let mut all: Vec<u64> = groups(&one).concat();
    all.sort_unstable();
    assert_eq!(all, (5..35).collect::<Vec<u64>>());
}

#[test]
fn a_replayed_trace_shows_the_schedule_event_by_event() {
    let s = setup(
        "register_naive.dl",
        Some("register"),
        Some("register/placement.tsv"),
        Options::default(),
    );
    let run = run_seed(&s, 3, true);
    let trace = run.trace.join("\n");
    assert!(trace.starts_with("t=0     seed 3: 3 nodes, faults partition,drop,dup,reorder,crash"));
    assert!(trace.contains("n1 tick 1: "), "{trace}");
    assert!(trace.contains("sent n1→n2 #1 [set(\"n2\", 1)]"), "{trace}");
    assert!(trace.contains("took n"), "{trace}");
    assert!(run.trace.last().unwrap().contains("quiescent after"));
    // Simulated time never goes backwards.
    let times: Vec<u64> = run
        .trace
        .iter()
        .map(|l| l[2..].split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn a_program_that_never_quiesces_is_reported_not_crashed() {
    let text = ".decl count(n: number)\n.output count\ncount(0).\ncount(n + 1)@next :- count(n).\n";
    let options = Options {
        max_ticks: 300,
        ..Options::default()
    };
    let s = setup_text("counter.dl", text, None, None, options);
    let report = check(&s, 1, 3, 1, &|_| {});
    assert_eq!(report.not_quiesced.len(), 3);
    assert!(report.outcomes.is_empty());
    assert!(!report.confluent());
    assert!(
        report.not_quiesced[0]
            .1
            .starts_with("no quiescence after 300 ticks")
    );
    assert!(report.render().contains("simulator: no schedule quiesced"));
    assert_eq!(report.to_json()["verdict"], "no-quiescence");
}

#[test]
fn a_timer_round_that_always_changes_the_state_never_quiesces() {
    // Every round adds its number to a persisted relation.
    let text = ".decl t(r: number)\n.input t(IO=timer, period=\"50ms\")\n.decl rounds(r: number)\n.persist rounds\n.output rounds\nrounds(r) :- t(r).\n";
    let options = Options {
        max_ticks: 200,
        ..Options::default()
    };
    let s = setup_text("rounds.dl", text, None, None, options);
    let report = check(&s, 1, 2, 1, &|_| {});
    assert_eq!(report.not_quiesced.len(), 2, "{}", report.render());
}

#[test]
fn bad_timers_are_refused_as_the_node_refuses_them() {
    let program = calm_engine::Program::compile(
        "t.dl",
        ".decl t(r: number)\n.input t(IO=timer, period=\"soon\")\nout(r) :- t(r).\n",
    )
    .unwrap();
    let e = calm_sim::Setup::new(
        "t.dl",
        program,
        Default::default(),
        None,
        Options::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "`.input t`: bad period `soon` (e.g. 500ms, 2s)"
    );
}

#[test]
fn seeds_may_wrap_around() {
    let s = setup(
        "register_naive.dl",
        Some("register"),
        Some("register/placement.tsv"),
        Options::default(),
    );
    let report = check(&s, u64::MAX - 4, 10, 2, &|_| {});
    assert_eq!(report.schedules(), 10);
    assert!(report.render().contains("seeds 18446744073709551611..=4"));
    let after = report.caught_after.expect("caught");
    assert!((2..=10).contains(&after));
}
