//! The programs of `programs/`: what the CALM analyzer says about each (through the library and
//! `calm check --format json`), their golden cases kept in step with them, and single-node runs
//! that show what one machine decides alone.

use calm_analyzer::{Config, Finding, Level, Report};
use calm_syntax::SourceMap;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::Command;

const CALM: &str = env!("CARGO_BIN_EXE_calm");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn source(name: &str) -> String {
    std::fs::read_to_string(root().join("programs").join(name)).unwrap()
}

/// A program's text and the analyzer's report on it.
struct Checked {
    text: String,
    report: Report,
}

impl Checked {
    fn new(name: &str, text: String) -> Checked {
        let mut map = SourceMap::new();
        let file = map.add(name, text.clone());
        let report = calm_analyzer::check(&map, file, &Config::default());
        Checked { text, report }
    }

    fn program(name: &str) -> Checked {
        Checked::new(name, source(name))
    }

    /// The findings shown by default (warn and deny).
    fn shown(&self) -> Vec<&Finding> {
        self.report
            .findings
            .iter()
            .filter(|f| f.visible(false))
            .collect()
    }

    /// The 1-based line a finding points at.
    fn line(&self, f: &Finding) -> usize {
        self.text[..f.span.start].lines().count().max(1)
    }

    /// The text of the line a finding points at.
    fn line_text(&self, f: &Finding) -> &str {
        self.text.lines().nth(self.line(f) - 1).unwrap_or("")
    }

    /// The text the finding underlines.
    fn under(&self, f: &Finding) -> &str {
        &self.text[f.span.start..f.span.end]
    }

    /// The 1-based line of the first line starting with `prefix`.
    fn line_of(&self, prefix: &str) -> usize {
        self.text
            .lines()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?}"))
            + 1
    }

    fn describe(&self) -> String {
        self.shown()
            .iter()
            .map(|f| {
                format!(
                    "{} {:?} line {}: {}",
                    f.code,
                    f.level,
                    self.line(f),
                    self.under(f)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[test]
fn deadlock_is_coordination_free() {
    let c = Checked::program("deadlock.dl");
    assert!(c.shown().is_empty(), "{}", c.describe());
    assert_eq!(c.report.summary.verdict(), "coordination-free");
    assert_eq!(c.report.summary.monotone_outputs, ["deadlocked"]);
}

#[test]
fn kvs_writes_are_coordination_free_and_compaction_is_the_coordination() {
    let c = Checked::program("kvs.dl");
    let reads = c.line_of("// ---- Reads");
    let compaction = c.line_of("// ---- Compaction");
    // No finding in the requests and the replication: writes are monotone.
    for f in c.shown() {
        assert!(
            c.line(f) > reads,
            "a finding on the write path:\n{}",
            c.describe()
        );
    }
    // Reads negate the tombstones: they converge (warn), they are not order-dependent.
    let read: Vec<_> = c
        .shown()
        .into_iter()
        .filter(|f| c.line(f) < compaction)
        .collect();
    assert_eq!(read.len(), 1, "{}", c.describe());
    assert_eq!(read[0].level, Level::Warn);
    assert!(c.line_text(read[0]).starts_with("visible("));
    assert_eq!(c.under(read[0]), "tomb(_, c, s)");
    // Compaction needs every member's acknowledgement: CALM004, at deny, the order-dependent
    // points of order, and all of them in the compaction section.
    let deny: Vec<_> = c
        .shown()
        .into_iter()
        .filter(|f| f.level == Level::Deny)
        .collect();
    assert!(!deny.is_empty());
    for f in &deny {
        assert!(c.line(f) > compaction, "{}", c.describe());
    }
    assert!(
        deny.iter().any(|f| f.code == "CALM004"
            && c.line_text(f).starts_with("unacked(")
            && c.under(f) == "tomb(m, c, s)"),
        "{}",
        c.describe()
    );
    assert!(!c.report.summary.coordination_free());
    assert!(c.report.summary.verdict().starts_with("needs coordination"));
    // Without the compaction (versions and tombstones simply kept), the analyzer calls the store
    // coordination-free.
    let writes = c.text[..c.text.find("// ---- Compaction").unwrap()].to_string()
        + ".persist kv\n.persist tomb\n";
    let w = Checked::new("kvs_writes.dl", writes);
    assert!(w.report.summary.coordination_free(), "{}", w.describe());
    assert_eq!(
        w.report.summary.verdict(),
        "coordination-free, but 1 point of order may retract answers until all input has arrived"
    );
    let shown = w.shown();
    assert_eq!(shown.len(), 1);
    assert_eq!(
        (shown[0].code.as_str(), shown[0].level),
        ("CALM001", Level::Warn)
    );
}

#[test]
fn kvs_verdict_through_calm_check_json() {
    let out = Command::new(CALM)
        .args(["check", "--format", "json"])
        .arg(root().join("programs/kvs.dl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "deny findings fail the check");
    let lines: Vec<Json> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.iter().find(|j| j["type"] == "summary").unwrap();
    assert_eq!(summary["coordination_free"], false);
    assert_eq!(
        summary["non_monotone_outputs"],
        serde_json::json!(["visible"])
    );
    let codes: Vec<&str> = lines
        .iter()
        .filter(|j| j["type"] == "finding")
        .map(|j| j["code"].as_str().unwrap())
        .collect();
    assert!(codes.iter().all(|c| *c == "CALM004"), "{codes:?}");
}

#[test]
fn gc_naive_is_flagged_with_its_path() {
    let c = Checked::program("gc.dl");
    let shown = c.shown();
    let neg = shown
        .iter()
        .find(|f| f.code == "CALM001")
        .unwrap_or_else(|| panic!("{}", c.describe()));
    assert_eq!(neg.level, Level::Deny);
    assert_eq!(c.under(neg), "reachable(o)");
    // The path starts at the `@async` rule that sends the references.
    let first = &neg.path[0];
    assert!(
        c.text[first.span.start..first.span.end].starts_with("edge(@n, a, b)@async"),
        "{:?}",
        neg.path
    );
    let del = shown.iter().find(|f| f.code == "CALM003").unwrap();
    assert!(c.line_text(del).starts_with("object(o)@next"));
    assert!(!c.report.summary.coordination_free());
    assert_eq!(c.report.summary.non_monotone_outputs, ["garbage"]);
}

#[test]
fn gc_coordinated_names_waiting_for_every_member_as_the_coordination() {
    let c = Checked::program("gc_coordinated.dl");
    let ready = c
        .shown()
        .into_iter()
        .find(|f| f.code == "CALM004" && c.line_text(f).starts_with("ready(e) :-"))
        .unwrap_or_else(|| panic!("{}", c.describe()));
    assert_eq!(ready.level, Level::Deny);
    assert_eq!(c.under(ready), "waiting(e, _)");
    assert!(
        c.shown()
            .iter()
            .any(|f| f.code == "CALM004" && c.line_text(f).starts_with("done_in(")),
        "{}",
        c.describe()
    );
    assert!(c.report.summary.verdict().starts_with("needs coordination"));
}

#[test]
fn cart_naive_checkout_is_flagged_and_the_sealed_one_is_not() {
    let c = Checked::program("cart.dl");
    let naive = c.line_of("order_naive(c, i, n) :-");
    let shown = c.shown();
    assert_eq!(shown.len(), 2, "{}", c.describe());
    for f in &shown {
        assert_eq!((f.code.as_str(), f.level), ("CALM002", Level::Deny));
        assert!((naive..naive + 5).contains(&c.line(f)), "{}", c.describe());
    }
    let s = &c.report.summary;
    assert_eq!(
        s.seals,
        ["`ready` seals `update` (manifest `manifest`, trigger `checkout`)"]
    );
    assert_eq!(s.monotone_outputs, ["order"]);
    assert_eq!(s.non_monotone_outputs, ["order_naive"]);
    let sealed = c
        .report
        .findings
        .iter()
        .filter(|f| f.code == "CALM007")
        .count();
    assert_eq!(
        sealed, 4,
        "the gap, the guard and the two sums of the order"
    );
}

#[test]
fn multicast_waits_for_every_member() {
    let c = Checked::program("multicast.dl");
    let shown = c.shown();
    let at = |prefix: &str| {
        shown
            .iter()
            .find(|f| f.code == "CALM004" && c.line_text(f).starts_with(prefix))
            .unwrap_or_else(|| panic!("no CALM004 at {prefix}:\n{}", c.describe()))
    };
    assert_eq!(at("done_in(").level, Level::Deny, "done is sent");
    assert_eq!(at("ready(r) :-").level, Level::Warn, "ready is only read");
    assert!(!c.report.summary.coordination_free());
}

/// The lattice programs of `programs/crdt/` are coordination-free: merges into `max`/`min`
/// columns and thresholds on them are monotone.
#[test]
fn the_lattice_crdts_are_coordination_free() {
    for name in [
        "crdt/max_register.dl",
        "crdt/gcounter.dl",
        "crdt/routing.dl",
        "crdt/lww_register.dl",
        "crdt/vector_clock.dl",
    ] {
        let c = Checked::program(name);
        assert!(
            c.report.summary.coordination_free(),
            "{name}: {}",
            c.describe()
        );
        assert_eq!(c.report.summary.points_of_order, 0, "{name}");
    }
}

/// The CRDTs whose state converges but whose reading is not monotone (a counter that goes down,
/// set membership under removes): coordination-free, with one warning per non-monotone read of
/// the converging state and nothing on the way the state is built.
#[test]
fn the_converging_crdts_warn_only_where_they_read_the_state() {
    for (name, reads) in [
        ("crdt/pncounter.dl", &["value(p - d)", "value(p - d)"][..]),
        ("crdt/twophase_set.dl", &["member(e)"][..]),
        ("crdt/orset.dl", &["member(e)"][..]),
    ] {
        let c = Checked::program(name);
        assert!(
            c.report.summary.coordination_free(),
            "{name}: {}",
            c.describe()
        );
        let shown = c.shown();
        assert_eq!(shown.len(), reads.len(), "{name}: {}", c.describe());
        for (f, read) in shown.iter().zip(reads) {
            assert_eq!(f.level, Level::Warn, "{name}: {}", c.describe());
            assert!(c.line_text(f).starts_with(read), "{name}: {}", c.describe());
        }
        let code = if name.contains("counter") {
            "CALM002"
        } else {
            "CALM009"
        };
        assert!(
            shown.iter().all(|f| f.code == code),
            "{name}: {}",
            c.describe()
        );
    }
    // The total of the increments, compared upwards, is a monotone threshold (CALM008).
    let c = Checked::program("crdt/pncounter.dl");
    let t: Vec<_> = c
        .report
        .findings
        .iter()
        .filter(|f| f.code == "CALM008")
        .collect();
    assert_eq!(t.len(), 1, "{}", c.describe());
    assert!(c.line_text(t[0]).starts_with("busy(10)"));
}

/// The golden cases under `tests/programs/prog_*` run the programs verbatim, plus a scenario.
#[test]
fn golden_cases_start_with_the_programs() {
    for name in [
        "kvs",
        "deadlock",
        "gc",
        "gc_coordinated",
        "cart",
        "multicast",
        "crdt/max_register",
        "crdt/gcounter",
        "crdt/routing",
        "crdt/pncounter",
        "crdt/lww_register",
        "crdt/twophase_set",
        "crdt/orset",
        "crdt/vector_clock",
    ] {
        let program = source(&format!("{name}.dl"));
        let case = root().join(format!(
            "tests/programs/prog_{}/program.dl",
            name.replace('/', "_")
        ));
        let text = std::fs::read_to_string(&case).unwrap();
        assert!(
            text.starts_with(&program),
            "{} does not start with programs/{name}.dl: copy it again",
            case.display()
        );
    }
}

/// `calm run` as one machine of the cluster, with that machine's facts only.
fn run_as(program: &str, node: &str, facts: &[(&str, &str)]) -> (String, String) {
    let dir = std::env::temp_dir().join(format!(
        "calm-programs-check-{}-{program}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in facts {
        std::fs::write(dir.join(file), text).unwrap();
    }
    let out = Command::new(CALM)
        .arg("run")
        .arg(root().join("programs").join(program))
        .arg("-F")
        .arg(&dir)
        .args(["-D", "-", "--node-name", node])
        .args(["--member", "n1", "--member", "n2", "--member", "n3"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Machine 3 of Figure 2 alone: o5 -> o4, and nothing heard from machines 1 and 2.
const MACHINE_3: &[(&str, &str)] = &[
    ("root.facts", "o1\n"),
    ("object.facts", "o4\no5\n"),
    ("ref.facts", "o5\to4\n"),
    ("collect.facts", "1\n"),
];

#[test]
fn machine_3_alone_frees_the_live_o4_naively_and_nothing_with_coordination() {
    let (out, err) = run_as("gc.dl", "n3", MACHINE_3);
    assert!(
        out.contains("garbage\no\n===============\no4\no5\n"),
        "{out}"
    );
    assert!(
        err.contains("`edge` fact addressed to node `n1` not delivered"),
        "{err}"
    );
    let (out, _) = run_as("gc_coordinated.dl", "n3", MACHINE_3);
    assert!(
        out.contains("garbage\no\n===============\n==============="),
        "{out}"
    );
}
