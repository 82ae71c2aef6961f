//! The seed examples classify as the CALM paper says, each remedy makes its lint go quiet, and
//! suppressions and levels behave as documented.

use calm_analyzer::{Config, Level, Report, check};
use calm_syntax::SourceMap;
use std::path::Path;

fn text(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn check_text(text: &str, config: &Config) -> Report {
    let mut map = SourceMap::new();
    let file = map.add("prog.dl", text);
    check(&map, file, config)
}

fn report(path: &str) -> Report {
    check_text(&text(path), &Config::default())
}

/// The codes of the unsuppressed findings at `level` or above.
fn codes(r: &Report, level: Level) -> Vec<&str> {
    r.findings
        .iter()
        .filter(|f| f.suppressed.is_none() && f.level >= level)
        .map(|f| f.code.as_str())
        .collect()
}

// ---- The seed examples (the CALM paper). ----

#[test]
fn deadlock_detection_is_coordination_free() {
    let r = report("../../programs/deadlock.dl");
    assert!(codes(&r, Level::Warn).is_empty(), "{:?}", r.findings);
    assert!(r.summary.coordination_free());
    assert_eq!(r.summary.points_of_order, 0);
    assert_eq!(r.summary.monotone_outputs, vec!["deadlocked"]);
}

#[test]
fn naive_garbage_collection_is_flagged_with_its_path() {
    let r = report("../../programs/analyzer/gc_naive.dl");
    assert_eq!(codes(&r, Level::Deny), vec!["CALM001", "CALM003"]);
    assert!(!r.summary.coordination_free());
    let f = &r.findings[0];
    // The path: the `@async` rule sending the edges, then the rule deriving `reachable`.
    assert_eq!(f.path.len(), 2, "{:?}", f.path);
    assert!(
        f.path[0]
            .message
            .contains("`edge` is sent by this `@async` rule")
    );
    assert!(
        f.path[1]
            .message
            .contains("`reachable` is derived from `edge`")
    );
    assert!(
        f.message
            .contains("`garbage` drives the deletion of `object`")
    );
    assert!(f.message.contains("depends on arrival order"));
    assert_eq!(r.summary.non_monotone_outputs, vec!["garbage"]);
}

#[test]
fn cart_with_counting_checkout_is_flagged() {
    let r = report("../../programs/analyzer/cart_naive.dl");
    assert_eq!(codes(&r, Level::Deny), vec!["CALM002"]);
    let f = &r.findings[0];
    assert!(
        f.path[0]
            .message
            .contains("`update` is sent by this `@async` rule")
    );
    assert!(!r.summary.coordination_free());
}

#[test]
fn cart_with_sealed_checkout_is_not_flagged_and_the_seal_is_named() {
    let r = report("../../programs/analyzer/cart_sealed.dl");
    assert!(codes(&r, Level::Warn).is_empty(), "{:?}", r.findings);
    assert!(r.summary.coordination_free());
    assert_eq!(r.summary.points_of_order, 0);
    assert_eq!(
        r.summary.seals,
        vec!["`ready` seals `update` (manifest `manifest`, trigger `checkout`)"]
    );
    assert_eq!(r.summary.monotone_outputs, vec!["order"]);
    // The sealed operations are reported as CALM007 (allowed), saying why they converge.
    let sealed: Vec<_> = r.findings.iter().filter(|f| f.code == "CALM007").collect();
    assert_eq!(sealed.len(), 3);
    for f in sealed {
        assert_eq!(f.level, Level::Allow);
        assert!(f.message.starts_with("sealed: "), "{}", f.message);
        assert!(f.message.contains("but converges: `ready` holds only once"));
    }
}

// ---- Converges anyway versus order-dependent. ----

#[test]
fn tombstones_converge_at_warn() {
    let r = report("tests/cases/calm001_kv_tombstones.dl");
    assert_eq!(codes(&r, Level::Warn), vec!["CALM001"]);
    assert!(codes(&r, Level::Deny).is_empty());
    assert!(r.findings[0].message.contains("but it converges"));
    assert!(r.summary.coordination_free());
    assert_eq!(r.summary.non_monotone_outputs, vec!["value"]);
}

#[test]
fn deletion_fed_by_async_input_is_denied() {
    let r = report("tests/cases/calm003_async_deletion.dl");
    assert_eq!(codes(&r, Level::Deny), vec!["CALM003"]);
}

#[test]
fn heard_from_every_member_is_calm004() {
    let r = report("tests/cases/calm004_barrier.dl");
    assert_eq!(codes(&r, Level::Deny), vec!["CALM001", "CALM004"]);
    let f = r.findings.iter().find(|f| f.code == "CALM004").unwrap();
    assert!(f.path[0].message.contains("enumerates the members"));
    let r = report("tests/cases/calm004_quorum.dl");
    assert_eq!(codes(&r, Level::Warn), vec!["CALM004"]);
}

#[test]
fn sending_to_members_and_reading_self_are_not_membership_reads() {
    let r = check_text(
        ".input a\n.persist s\n.output t\ns(@n, x)@async :- a(x), $member(n).\nt(x) :- a(x), $self(m), !s(m, x).\n",
        &Config::default(),
    );
    assert_eq!(codes(&r, Level::Warn), vec!["CALM001"]);
}

#[test]
fn local_non_monotonic_operations_are_only_notes() {
    let r = report("tests/cases/calm006_local.dl");
    assert!(codes(&r, Level::Warn).is_empty());
    assert_eq!(codes(&r, Level::Allow), vec!["CALM006", "CALM006"]);
    assert!(r.summary.coordination_free());
}

#[test]
fn unstratifiable_is_calm005_and_cannot_run() {
    let r = report("tests/cases/calm005_unstratifiable.dl");
    assert_eq!(codes(&r, Level::Deny), vec!["CALM005"]);
    assert!(!r.summary.coordination_free());
    assert!(r.denied());
}

#[test]
fn compile_errors_are_findings() {
    let r = report("tests/cases/syntax_error.dl");
    assert_eq!(codes(&r, Level::Deny), vec!["E0001"]);
    assert!(!r.summary.analysed);
    assert!(r.denied());
}

// ---- A test per remedy: the lint goes quiet. ----

#[test]
fn remedy_seal_the_input_quiets_calm001() {
    assert!(codes(&report("tests/cases/calm001_cart_ship.dl"), Level::Warn).contains(&"CALM001"));
    let r = report("tests/cases/calm001_cart_ship_sealed.dl");
    assert!(codes(&r, Level::Warn).is_empty(), "{:?}", r.findings);
    assert!(r.summary.coordination_free());
}

#[test]
fn remedy_seal_the_input_quiets_calm002() {
    assert!(
        codes(
            &report("../../programs/analyzer/cart_naive.dl"),
            Level::Warn
        )
        .contains(&"CALM002")
    );
    let r = report("../../programs/analyzer/cart_sealed.dl");
    assert!(!codes(&r, Level::Allow).contains(&"CALM002"));
}

#[test]
fn remedy_tombstone_quiets_calm003() {
    let r = report("tests/cases/calm003_tombstones.dl");
    assert!(!codes(&r, Level::Allow).contains(&"CALM003"));
    // What remains is a negation over tombstones that converges: warn, not deny.
    assert!(codes(&r, Level::Deny).is_empty());
}

#[test]
fn remedy_background_coordination_quiets_calm001() {
    let r = report("tests/cases/calm001_gc_snapshot.dl");
    assert!(codes(&r, Level::Warn).is_empty(), "{:?}", r.findings);
    assert!(r.summary.coordination_free());
}

#[test]
fn remedy_background_coordination_quiets_calm004() {
    let r = report("tests/cases/calm004_barrier_view.dl");
    assert!(!codes(&r, Level::Allow).contains(&"CALM004"));
}

#[test]
fn remedy_compensate_leaves_no_denial() {
    let r = report("tests/cases/calm001_gc_compensate.dl");
    assert!(codes(&r, Level::Deny).is_empty());
    assert_eq!(codes(&r, Level::Warn), vec!["CALM001"]);
    assert!(r.summary.coordination_free());
}

#[test]
fn remedy_next_quiets_calm005() {
    let r = report("tests/cases/calm005_next.dl");
    assert!(!codes(&r, Level::Allow).contains(&"CALM005"));
    assert!(!r.denied());
}

#[test]
fn remedies_quiet_the_suppression_lints() {
    // CALM100: remove the unused suppression; CALM101: give the reason; CALM102: fix the code.
    let fixed = text("tests/cases/calm100_unused_suppression.dl")
        .replace("// calm: allow(CALM001) the input is sealed upstream\n", "");
    assert!(codes(&check_text(&fixed, &Config::default()), Level::Allow).is_empty());
    let fixed = text("tests/cases/calm101_suppression_without_reason.dl").replace(
        "// calm: allow(CALM001)\n",
        "// calm: allow(CALM001) a progress report, staleness is fine\n",
    );
    assert!(codes(&check_text(&fixed, &Config::default()), Level::Allow).is_empty());
    let fixed = text("tests/cases/calm102_invalid_suppression.dl")
        .lines()
        .filter(|l| !l.starts_with("// calm:"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(codes(&check_text(&fixed, &Config::default()), Level::Allow).is_empty());
}

// ---- Suppressions. ----

#[test]
fn suppression_with_reason_silences_and_is_counted() {
    let r = report("tests/cases/suppressed_with_reason.dl");
    assert!(codes(&r, Level::Allow).is_empty(), "{:?}", r.findings);
    let f = r.findings.iter().find(|f| f.code == "CALM001").unwrap();
    assert_eq!(
        f.suppressed.as_deref(),
        Some("`fresh` is a progress report; staleness is fine")
    );
    assert_eq!(r.summary.suppressed, 1);
}

#[test]
fn suppression_without_reason_is_reported_and_suppresses_nothing() {
    let r = report("tests/cases/calm101_suppression_without_reason.dl");
    assert_eq!(codes(&r, Level::Warn), vec!["CALM101", "CALM001"]);
}

#[test]
fn unused_and_invalid_suppressions_are_reported() {
    assert_eq!(
        codes(
            &report("tests/cases/calm100_unused_suppression.dl"),
            Level::Warn
        ),
        vec!["CALM100"]
    );
    assert_eq!(
        codes(
            &report("tests/cases/calm102_invalid_suppression.dl"),
            Level::Warn
        ),
        vec!["CALM102", "CALM102", "CALM102"]
    );
}

#[test]
fn suppression_by_name_on_the_same_line_and_file_wide() {
    let base = ".decl seen(at: symbol, x: number)\n.persist seen\n.input local\n.output fresh\nseen(@n, x)@async :- local(x), $member(n).\n";
    let same_line = format!(
        "{base}fresh(x) :- local(x), !seen(_, x). // calm: allow(non-monotonic-negation) staleness is fine\n"
    );
    assert!(codes(&check_text(&same_line, &Config::default()), Level::Allow).is_empty());
    let file_wide = format!(
        "// calm: allow-file(calm001) staleness is fine\n{base}fresh(x) :- local(x), !seen(_, x).\n"
    );
    assert!(codes(&check_text(&file_wide, &Config::default()), Level::Allow).is_empty());
    // A suppression for another rule does not reach this one.
    let elsewhere = format!(
        "{base}// calm: allow(CALM001) not this one\nother(x) :- local(x).\nfresh(x) :- local(x), !seen(_, x).\n"
    );
    assert_eq!(
        codes(&check_text(&elsewhere, &Config::default()), Level::Warn),
        vec!["CALM100", "CALM001"]
    );
}

#[test]
fn unstratifiable_cannot_be_suppressed() {
    let t = format!(
        "// calm: allow-file(CALM005) please\n{}",
        text("tests/cases/calm005_unstratifiable.dl")
    );
    let r = check_text(&t, &Config::default());
    assert_eq!(codes(&r, Level::Warn), vec!["CALM102", "CALM005"]);
    assert!(r.denied());
}

// ---- Levels. ----

#[test]
fn levels_from_configuration() {
    let kv = text("tests/cases/calm001_kv_tombstones.dl");
    // Default: warn, the check passes.
    assert!(!check_text(&kv, &Config::default()).denied());
    // --deny CALM001
    let mut c = Config::default();
    c.set("CALM001", Level::Deny).unwrap();
    assert!(check_text(&kv, &c).denied());
    // --deny warnings
    let mut c = Config::default();
    c.set("warnings", Level::Deny).unwrap();
    assert!(check_text(&kv, &c).denied());
    // --allow CALM001 wins over --deny warnings
    c.set("non-monotonic-negation", Level::Allow).unwrap();
    let r = check_text(&kv, &c);
    assert!(!r.denied());
    assert!(codes(&r, Level::Warn).is_empty());
    // --allow on a denied finding.
    let gc = text("../../programs/analyzer/gc_naive.dl");
    let mut c = Config::default();
    c.set("CALM001", Level::Allow).unwrap();
    assert_eq!(codes(&check_text(&gc, &c), Level::Warn), vec!["CALM003"]);
    c.set("CALM003", Level::Warn).unwrap();
    assert!(!check_text(&gc, &c).denied());
    // calm.toml
    let c = Config::from_toml("[lints]\nlocal-non-monotonic = \"deny\"\n").unwrap();
    let r = check_text(&text("tests/cases/calm006_local.dl"), &c);
    assert_eq!(codes(&r, Level::Deny), vec!["CALM006", "CALM006"]);
    assert!(r.denied());
}

// ---- The seal recogniser: what is and is not a seal. ----

const CLIENT: &str = ".input server\n.input action\n.input request\n.persist update\nupdate(@s, c, id, i)@async :- action(c, id, i), server(s).\n.persist checkout\ncheckout(@s, c)@async :- request(c), server(s).\n.persist manifest\n";
const SERVER: &str = "missing(c, id) :- manifest(_, c, id), !update(_, c, id, _).\nready(c) :- checkout(_, c), !missing(c, _).\n.persist order\n.output order\n";

fn cart(manifest_rule: &str, order_rule: &str) -> Report {
    check_text(
        &format!("{CLIENT}{manifest_rule}\n{SERVER}{order_rule}\n"),
        &Config::default(),
    )
}

const WITH_CHECKOUT: &str = "manifest(@s, c, id)@async :- request(c), action(c, id, _), server(s).";

#[test]
fn seal_with_a_head_form_aggregate() {
    let r = cart(
        WITH_CHECKOUT,
        "order(c, count()) :- ready(c), update(_, c, _, _).",
    );
    assert!(codes(&r, Level::Warn).is_empty(), "{:?}", r.findings);
    assert_eq!(r.summary.seals.len(), 1);
}

#[test]
fn no_seal_when_the_manifest_does_not_travel_with_the_checkout() {
    // Sent whenever an action exists, not with the checkout request: it may arrive late.
    let r = cart(
        "manifest(@s, c, id)@async :- action(c, id, _), server(s).",
        "order(c, n) :- ready(c), n = count : { update(_, c, _, _) }.",
    );
    assert!(
        codes(&r, Level::Deny).contains(&"CALM002"),
        "{:?}",
        r.findings
    );
    assert!(r.summary.seals.is_empty());
}

#[test]
fn no_seal_when_the_guard_is_keyed_differently() {
    // The count is not restricted to the guarded cart.
    let r = cart(
        WITH_CHECKOUT,
        "order(c, n) :- ready(c), n = count : { update(_, _, _, _) }.",
    );
    assert!(
        codes(&r, Level::Deny).contains(&"CALM002"),
        "{:?}",
        r.findings
    );
}

#[test]
fn a_local_manifest_seals_too() {
    let t = ".input expected\n.persist update\nupdate(@s, c, id)@async :- sent(c, id), $member(s).\n.input sent\n.input open\nmissing(c, id) :- expected(c, id), !update(_, c, id).\nready(c) :- open(c), !missing(c, _).\n.persist done\n.output done\ndone(c, n) :- ready(c), n = count : { update(_, c, _) }.\n";
    let r = check_text(t, &Config::default());
    assert!(codes(&r, Level::Warn).is_empty(), "{:?}", r.findings);
    assert_eq!(r.summary.seals.len(), 1);
}

#[test]
fn a_gap_read_elsewhere_is_a_point_of_order_but_the_guard_still_seals() {
    let r = cart(
        &format!("{WITH_CHECKOUT}\n.output pending\npending(c) :- missing(c, _)."),
        "order(c, n) :- ready(c), n = count : { update(_, c, _, _) }.",
    );
    // `!update` in the gap now also feeds `pending`: a negation that converges (only read),
    // not one whose result reaches the persisted `order` (the guard is sealed).
    assert_eq!(codes(&r, Level::Warn), vec!["CALM001"], "{:?}", r.findings);
    assert!(codes(&r, Level::Deny).is_empty());
    assert_eq!(r.summary.monotone_outputs, vec!["order"]);
    assert_eq!(r.summary.non_monotone_outputs, vec!["pending"]);
}

// ---- Robustness. ----

#[test]
fn never_panics_on_the_golden_programs_and_their_prefixes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs");
    let mut texts: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("program.dl")).ok())
        .collect();
    assert!(texts.len() > 10);
    for p in [
        "../../programs/deadlock.dl",
        "../../programs/analyzer/gc_naive.dl",
        "../../programs/analyzer/cart_sealed.dl",
        "tests/cases/calm102_invalid_suppression.dl",
    ] {
        let t = text(p);
        for cut in (0..t.len()).step_by(7).filter(|&i| t.is_char_boundary(i)) {
            texts.push(t[..cut].to_string());
        }
    }
    for t in &texts {
        let r = check_text(t, &Config::default());
        let mut map = SourceMap::new();
        let file = map.add("prog.dl", t.as_str());
        let _ = calm_analyzer::dot(&map, file);
        let reports = [r];
        let input = calm_analyzer::output::Input {
            map: &map,
            reports: &reports,
            verbose: true,
        };
        let _ = calm_analyzer::output::sarif::render(&input);
        let _ = calm_analyzer::output::human::render(&input);
    }
}

#[test]
fn lattice_merges_and_thresholds_are_monotone_and_raw_reads_are_points_of_order() {
    let r = report("tests/cases/calm009_lattice_reads.dl");
    let found: Vec<(&str, Level, &str)> = r
        .findings
        .iter()
        .map(|f| (f.code.as_str(), f.level, f.message.as_str()))
        .collect();
    // Two raw reads: `winner` (persisted: deny) and `exactly` (only read: warn); the merges
    // into `best` and `raised` and the threshold of `reserve_met` are no finding.
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        (found[0].0, found[0].1),
        ("CALM009", Level::Deny),
        "{found:?}"
    );
    assert!(found[0].2.contains("`best`"), "{}", found[0].2);
    assert_eq!(
        (found[1].0, found[1].1),
        ("CALM009", Level::Warn),
        "{found:?}"
    );
    assert!(found[1].2.contains("`raised`"), "{}", found[1].2);
    // The path runs from the `@async` rule to the read.
    let path: Vec<&str> = r.findings[0]
        .path
        .iter()
        .map(|s| s.message.as_str())
        .collect();
    assert!(path.len() >= 2, "{path:?}");
    assert!(!r.summary.coordination_free());
    // Without the raw reads the program is coordination-free.
    let text = text("tests/cases/calm009_lattice_reads.dl");
    let monotone: String = text
        .lines()
        .filter(|l| !l.starts_with("winner(") && !l.starts_with("exactly("))
        .map(|l| format!("{l}\n"))
        .collect();
    let r = check_text(&monotone, &Config::default());
    assert!(codes(&r, Level::Warn).is_empty(), "{:?}", r.findings);
    assert!(r.summary.coordination_free());
}

// ---- Subsumption deletes rows: a point of order. ----

#[test]
fn subsumption_of_arriving_facts_is_a_point_of_order() {
    let program = |subsume: &str| {
        format!(
            ".decl offer(item: symbol, price: number)\n.input offer\n\
             .decl bid(to: symbol, item: symbol, price: number)\n\
             bid(@n, i, p)@async :- offer(i, p), $member(n).\n\
             .decl best(item: symbol, price: number)\n.output best\n\
             best(i, p) :- bid(_, i, p).\n{subsume}"
        )
    };
    let r = check_text(
        &program("best(i, p1) <= best(i, p2) :- p1 < p2.\n"),
        &Config::default(),
    );
    assert_eq!(codes(&r, Level::Warn), vec!["CALM001"], "{:?}", r.findings);
    assert!(r.summary.points_of_order > 0, "{:?}", r.findings);
    assert!(
        r.findings
            .iter()
            .any(|f| f.message.contains("negation of `best`")),
        "{:?}",
        r.findings
    );
    // Without the subsumption the same program is monotone.
    let plain = check_text(&program(""), &Config::default());
    assert!(
        codes(&plain, Level::Warn).is_empty(),
        "{:?}",
        plain.findings
    );
    assert_eq!(plain.summary.points_of_order, 0, "{:?}", plain.findings);
}
