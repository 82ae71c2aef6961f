//! Real `calm node` processes on loopback running `programs/deadlock.dl`: they converge on the
//! single-node result, shut down cleanly on SIGTERM, and a node killed with SIGKILL catches up
//! after a restart.

use serde_json::{Value as Json, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{CALM, NodeProc, agent, free_ports, start_node};

const DEADLINE: Duration = Duration::from_secs(20);

fn program() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../programs/deadlock.dl")
}

/// Starts `calm node NAME` listening on `ports[index]`, with the others as peers, and waits for
/// its ready line.
fn spawn(names: &[&str], ports: &[u16], index: usize) -> NodeProc {
    let mut cmd = Command::new(CALM);
    cmd.arg("node")
        .arg(program())
        .args(["--name", names[index]])
        .args(["--listen", &format!("127.0.0.1:{}", ports[index])])
        .args(["--http", "127.0.0.1:0"])
        .env("CALM_LOG", "warn")
        .stderr(Stdio::inherit());
    for (i, n) in names.iter().enumerate() {
        if i != index {
            cmd.arg("--peer").arg(format!("{n}=127.0.0.1:{}", ports[i]));
        }
    }
    let node = start_node(cmd, DEADLINE);
    assert_eq!(node.name, names[index], "{}", node.ready);
    assert!(
        node.ready
            .contains(&format!("peer=127.0.0.1:{}", ports[index])),
        "{}",
        node.ready
    );
    node
}

fn get(node: &NodeProc, path: &str) -> Json {
    let mut r = agent().get(format!("{}{path}", node.http)).call().unwrap();
    assert_eq!(r.status(), 200);
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

fn set(node: &NodeProc, rel: &str) -> BTreeSet<String> {
    get(node, &format!("/v1/relations/{rel}"))["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect()
}

/// Polls until `node`'s `deadlocked` equals `want`.
fn await_deadlocked(node: &NodeProc, want: &BTreeSet<String>) {
    let start = Instant::now();
    loop {
        let got = set(node, "deadlocked");
        if got == *want {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{}: deadlocked is {got:?}, expected {want:?}",
            node.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn calm(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(CALM).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn insert_cli(node: &NodeProc, facts: &str) {
    let (ok, out, err) = calm(&["insert", "--node", &node.http, facts]);
    assert!(ok, "calm insert: {err}");
    assert!(out.starts_with("inserted "), "{out}");
}

fn insert_http(node: &NodeProc, rel: &str, rows: Json) {
    let mut r = agent()
        .post(format!("{}/v1/relations/{rel}", node.http))
        .content_type("application/json")
        .send(rows.to_string())
        .unwrap();
    let body = r.body_mut().read_to_string().unwrap();
    assert_eq!(r.status(), 200, "{body}");
}

/// What one node computes from the program plus `facts`, through the library and `calm run`.
fn single_node(facts: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(program()).unwrap() + facts;
    let p = calm_engine::Program::compile("deadlock.dl", &text).unwrap();
    let mut e = calm_engine::Engine::new(&p);
    e.run().unwrap();
    let lib: BTreeSet<String> = e
        .relation("deadlocked")
        .unwrap()
        .iter()
        .map(|r| r[0].to_string())
        .collect();
    // Tests run in parallel in one process: each call gets its own directory.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("calm-node-cluster-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("all.dl");
    std::fs::write(&file, &text).unwrap();
    let (ok, out, err) = calm(&["run", file.to_str().unwrap(), "-D", "-"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok, "{err}");
    // ---------------\ndeadlocked\nt\n===============\nt1\n...=============== (the column
    // names under the relation's name, as Souffle prints them under `-D -`)
    let cli: BTreeSet<String> = out
        .lines()
        .skip_while(|l| *l != "deadlocked")
        .skip(3)
        .take_while(|l| !l.starts_with("====="))
        .map(str::to_string)
        .collect();
    assert_eq!(lib, cli, "the library and `calm run` disagree");
    lib
}

#[test]
fn three_nodes_converge_on_the_single_node_result() {
    let names = ["n1", "n2", "n3"];
    let ports = free_ports(3);
    let nodes: Vec<NodeProc> = (0..3).map(|i| spawn(&names, &ports, i)).collect();
    // A cycle a1 -> a2 -> a3 -> a1 whose edges are known at three different nodes, a cycle
    // local to one node, and a chain that is no cycle.
    insert_cli(&nodes[0], r#"waits("a1", "a2"). waits("c1", "c2")."#);
    insert_http(
        &nodes[1],
        "waits",
        json!([["a2", "a3"], ["b1", "b2"], ["b2", "b1"]]),
    );
    insert_cli(&nodes[2], r#"waits("a3", "a1"). waits("c2", "c3")."#);
    let want = single_node(
        r#"waits("a1", "a2"). waits("c1", "c2"). waits("a2", "a3"). waits("b1", "b2").
           waits("b2", "b1"). waits("a3", "a1"). waits("c2", "c3")."#,
    );
    for t in ["a1", "a2", "a3", "b1", "b2", "t1", "t5"] {
        assert!(want.contains(t), "{t} in {want:?}");
    }
    assert!(!want.contains("c1"));
    for n in &nodes {
        await_deadlocked(n, &want);
    }
    // The CLI reads the same, as TSV and as JSON.
    let (ok, out, err) = calm(&["query", "--node", &nodes[1].http, "deadlocked"]);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().map(str::to_string).collect::<BTreeSet<_>>(),
        want
    );
    let (ok, out, _) = calm(&[
        "query",
        "--node",
        &nodes[2].http,
        "--json",
        "known",
        "waiter=a1",
    ]);
    assert!(ok);
    let j: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(j["rows"], json!([["a1", "a2"]]));
    // Every link is up.
    let start = Instant::now();
    while !get(&nodes[0], "/v1/status")["peers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["connected"] == true)
    {
        assert!(start.elapsed() < DEADLINE, "links not up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ok, out, _) = calm(&["status", "--node", &nodes[0].http]);
    assert!(ok);
    assert!(out.starts_with("node n1  tick "), "{out}");
    assert!(out.contains("  n2 ") && out.contains(" up "), "{out}");
    // SIGTERM: each node finishes and exits 0.
    for n in &nodes {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(n.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
    }
    for mut n in nodes {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = n.child.try_wait().unwrap() {
                break s;
            }
            assert!(start.elapsed() < DEADLINE, "{} did not stop", n.name);
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{}: {status}", n.name);
    }
}

#[test]
fn a_node_killed_and_restarted_catches_up() {
    let names = ["n1", "n2", "n3"];
    let ports = free_ports(3);
    let mut nodes: Vec<NodeProc> = (0..3).map(|i| spawn(&names, &ports, i)).collect();
    insert_cli(&nodes[0], r#"waits("k1", "k2")."#);
    // n3 has the edge (it acknowledged it) before it crashes.
    let start = Instant::now();
    while get(&nodes[2], "/v1/relations/known?waiter=k1")["rows"] != json!([["k1", "k2"]]) {
        assert!(start.elapsed() < DEADLINE, "n3 never heard of k1 -> k2");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut n3 = nodes.pop().unwrap();
    n3.child.kill().unwrap();
    n3.child.wait().unwrap();
    drop(n3);
    // Sent while n3 is down: its peers' links keep them until it acknowledges.
    insert_cli(&nodes[0], r#"waits("k2", "k1")."#);
    insert_cli(&nodes[1], r#"waits("k3", "k4"). waits("k4", "k3")."#);
    let want = single_node(
        r#"waits("k1", "k2"). waits("k2", "k1"). waits("k3", "k4"). waits("k4", "k3")."#,
    );
    await_deadlocked(&nodes[0], &want);
    let n3 = spawn(&names, &ports, 2);
    // k1 -> k2 was acknowledged by the old n3: only the new incarnation makes n1 send it again.
    await_deadlocked(&n3, &want);
    await_deadlocked(&nodes[1], &want);
}
