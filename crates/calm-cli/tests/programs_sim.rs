//! The programs of `programs/` under `calm sim`: many seeded schedules with every fault
//! (partitions, drops, duplicates, reordering, crashes), each program's facts placed on the
//! machines of its example. Monotone (and sealed, and coordinated) programs reach one outcome;
//! the naive ones are caught.

use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::Command;

const CALM: &str = env!("CARGO_BIN_EXE_calm");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh directory holding `files`.
fn dir_with(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("calm-programs-sim-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

fn source(program: &str) -> String {
    std::fs::read_to_string(root().join("programs").join(program)).unwrap()
}

/// `calm sim PROGRAM --json` over `seeds` seeds with every fault; the report and the exit code.
fn sim(program: &str, facts: &[(&str, &str)], placement: &str, seeds: u32) -> (Json, i32) {
    sim_text(program, &source(program), facts, placement, seeds, "all")
}

/// `calm sim` of a program's text, with the faults `faults`.
fn sim_text(
    program: &str,
    text: &str,
    facts: &[(&str, &str)],
    placement: &str,
    seeds: u32,
    faults: &str,
) -> (Json, i32) {
    let dir = dir_with(program, facts);
    std::fs::write(dir.join("placement.tsv"), placement).unwrap();
    std::fs::write(dir.join(program), text).unwrap();
    let out = Command::new(CALM)
        .arg("sim")
        .arg(dir.join(program))
        .arg("-F")
        .arg(&dir)
        .arg("--placement")
        .arg(dir.join("placement.tsv"))
        .args(["--seeds", &seeds.to_string(), "--faults", faults, "--json"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let report: Json = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "calm sim {program}: {e}\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out.status.code().unwrap_or(-1))
}

fn assert_confluent(program: &str, report: &Json, code: i32, reference: &str) {
    assert_eq!(report["verdict"], "confluent", "{program}: {report:#}");
    assert_eq!(code, 0, "{program}");
    assert_eq!(
        report["reference"]["status"], reference,
        "{program}: {report:#}"
    );
}

/// The heap of the seed's Figure 2 (see `gc.dl`), by machine.
const HEAP: &[(&str, &str)] = &[
    ("root.facts", "o1\n"),
    ("object.facts", "o1\no2\no3\no4\no5\n"),
    ("ref.facts", "o1\to2\no1\to3\no3\to4\no5\to4\n"),
    ("collect.facts", "1\n"),
];
const HEAP_PLACEMENT: &str = "\
*\troot
n1\tobject\to1
n1\tobject\to2
n1\tref\to1\to2
n1\tref\to1\to3
n2\tobject\to3
n2\tref\to3\to4
n3\tobject\to4
n3\tobject\to5
n3\tref\to5\to4
";

#[test]
fn deadlock_is_confluent() {
    let out = Command::new(CALM)
        .args(["sim", "--seeds", "100", "--json"])
        .output()
        .unwrap();
    let report: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_confluent(
        "deadlock.dl",
        &report,
        out.status.code().unwrap(),
        "every-node",
    );
}

#[test]
fn gc_naive_is_caught_freeing_live_objects() {
    let (report, code) = sim("gc.dl", &HEAP[..3], HEAP_PLACEMENT, 40);
    assert_eq!(code, 1);
    assert_eq!(report["verdict"], "diverged", "{report:#}");
    // Machine 3 frees o4, which `calm run` with the whole heap on one node keeps.
    let extra = report["reference"]["extra"].as_array().unwrap();
    assert!(extra.contains(&Json::from("garbage(\"o4\")")), "{report:#}");
}

#[test]
fn gc_coordinated_is_confluent() {
    let placement = format!("{HEAP_PLACEMENT}n1\tcollect\n");
    let (report, code) = sim("gc_coordinated.dl", HEAP, &placement, 40);
    assert_confluent("gc_coordinated.dl", &report, code, "union");
}

#[test]
fn cart_naive_checkout_diverges_and_the_sealed_one_does_not() {
    let facts = [
        (
            "action.facts",
            "c1\t1\tadd\tapple\t2\nc1\t2\tadd\tpear\t1\nc1\t3\tdel\tapple\t1\n",
        ),
        ("request.facts", "c1\n"),
        ("listed.facts", "c1\t1\nc1\t2\nc1\t3\n"),
    ];
    let placement = "\
n1\taction\tc1\t1\tadd\tapple\t2
n1\taction\tc1\t2\tadd\tpear\t1
n3\taction\tc1\t3\tdel\tapple\t1
n1\trequest
n1\tlisted
";
    let (report, code) = sim("cart.dl", &facts, placement, 60);
    assert_eq!(code, 1);
    assert_eq!(report["verdict"], "diverged", "{report:#}");
    // The schedules disagree on the naive order only.
    let diffs = report["counterexample"]["differences"].as_array().unwrap();
    assert!(!diffs.is_empty());
    for d in diffs {
        assert_eq!(d["relation"], "order_naive", "{report:#}");
    }
}

#[test]
fn multicast_is_confluent() {
    let facts = [("item.facts", "a\nb\nc\n"), ("begin.facts", "1\n")];
    let placement = "n1\titem\ta\nn1\titem\tb\nn2\titem\tc\nn1\tbegin\n";
    let (report, code) = sim("multicast.dl", &facts, placement, 40);
    assert_confluent("multicast.dl", &report, code, "every-node");
}

/// Puts on every node, a delete on n3 of a version put on n2. As files, requests hold at every
/// tick.
const KVS_FACTS: &[(&str, &str)] = &[
    (
        "put.facts",
        "a\t1\tk1\tx\tv1\nb\t1\tk2\tx\tv2\nc\t1\tk3\tx\tv3\na\t2\tk1\ty\tv4\n",
    ),
    ("del.facts", "k2\tx\n"),
];
const KVS_PLACEMENT: &str = "\
n1\tput\ta\t1\tk1\tx\tv1
n2\tput\tb\t1\tk2\tx\tv2
n3\tput\tc\t1\tk3\tx\tv3
n1\tput\ta\t2\tk1\ty\tv4
n3\tdel
";

#[test]
fn kvs_writes_and_reads_are_confluent_under_every_fault() {
    // The store without its compaction (versions and tombstones simply kept): what the analyzer
    // calls coordination-free.
    let text = source("kvs.dl");
    let writes = text[..text.find("// ---- Compaction").unwrap()].to_string()
        + ".persist kv\n.persist tomb\n";
    let (report, code) = sim_text("kvs.dl", &writes, KVS_FACTS, KVS_PLACEMENT, 60, "all");
    assert_confluent("kvs.dl without compaction", &report, code, "every-node");
}

#[test]
fn kvs_with_compaction_is_confluent_under_faults_that_keep_state() {
    // Compaction needs each batch ingested once; the links deliver at least once, so nodes
    // remember the batches they processed from each peer incarnation (a retransmitted put that
    // arrived after its version was compacted used to bring it back). Nodes restart from their
    // store (`restart`); a node that loses what it acknowledged (`crash`) would break the
    // premise of compaction, every member holding the tombstone.
    let (report, code) = sim_text(
        "kvs.dl",
        &source("kvs.dl"),
        KVS_FACTS,
        KVS_PLACEMENT,
        60,
        "partition,drop,dup,reorder,restart",
    );
    assert_confluent("kvs.dl", &report, code, "every-node");
}
