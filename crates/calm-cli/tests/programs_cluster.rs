//! The programs of `programs/` on real three-node clusters: `calm node` processes on loopback,
//! driven over their HTTP API and through `calm kv`.
//!
//! Partitions are made by TCP proxies the test puts between the nodes (a node dials the peers
//! whose names sort after its own, so every connection to n3 goes through a proxy when n3 is to
//! be cut off); a cut closes the proxy's connections and refuses new ones, and both sides keep
//! their state and keep taking writes. Slow members are frozen with SIGSTOP.
//!
//! `kv_load` (ignored; run it with `--release -- --ignored kv_load --nocapture`) measures puts
//! and gets per second on one node and on three.

use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::{CALM, NodeProc, agent, free_ports, start_node};

const DEADLINE: Duration = Duration::from_secs(20);

fn program(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../programs")
        .join(name)
}

// ---- A TCP proxy that can cut a link ----

#[derive(Default)]
struct ProxyState {
    cut: AtomicBool,
    closed: AtomicBool,
    conns: Mutex<Vec<TcpStream>>,
}

/// Forwards connections from its own port to `target`; `cut` drops them and refuses new ones.
struct Proxy {
    port: u16,
    state: Arc<ProxyState>,
}

impl Proxy {
    fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(ProxyState::default());
        let st = state.clone();
        std::thread::spawn(move || {
            while !st.closed.load(Ordering::SeqCst) {
                let Ok((inbound, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                if st.cut.load(Ordering::SeqCst) {
                    continue; // dropped: the dialer sees the connection close
                }
                let _ = inbound.set_nonblocking(false);
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let mut conns = st.conns.lock().unwrap();
                for s in [&inbound, &outbound] {
                    let _ = s.set_nodelay(true);
                    conns.push(s.try_clone().unwrap());
                }
                drop(conns);
                for (mut from, mut to) in [
                    (inbound.try_clone().unwrap(), outbound.try_clone().unwrap()),
                    (outbound, inbound),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, state }
    }

    fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        for c in self.state.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    fn heal(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.closed.store(true, Ordering::SeqCst);
        self.cut();
    }
}

// ---- Node processes ----

/// A cluster of `calm node` processes named n1, n2, ...; connections to the nodes in `proxied`
/// go through a proxy.
struct Cluster {
    program: PathBuf,
    names: Vec<String>,
    ports: Vec<u16>,
    proxies: Vec<Option<Proxy>>,
    nodes: Vec<Option<NodeProc>>,
}

impl Cluster {
    fn new(program: PathBuf, n: usize, proxied: &[usize]) -> Cluster {
        let ports = free_ports(n);
        let proxies = (0..n)
            .map(|i| proxied.contains(&i).then(|| Proxy::start(ports[i])))
            .collect();
        Cluster {
            program,
            names: (1..=n).map(|i| format!("n{i}")).collect(),
            ports,
            proxies,
            nodes: (0..n).map(|_| None).collect(),
        }
    }

    /// Starts every node.
    fn up(program: PathBuf, proxied: &[usize]) -> Cluster {
        let mut c = Cluster::new(program, 3, proxied);
        for i in 0..3 {
            c.start(i);
        }
        c
    }

    /// Starts node `i` and waits for its ready line.
    fn start(&mut self, i: usize) {
        let mut cmd = Command::new(CALM);
        cmd.arg("node")
            .arg(&self.program)
            .args(["--name", &self.names[i]])
            .args(["--listen", &format!("127.0.0.1:{}", self.ports[i])])
            .args(["--http", "127.0.0.1:0"])
            .env("CALM_LOG", "error")
            .stderr(Stdio::inherit());
        for j in 0..self.names.len() {
            if j == i {
                continue;
            }
            // The node whose name sorts first dials: through the proxy, if `j` has one.
            let port = match &self.proxies[j] {
                Some(p) if i < j => p.port,
                _ => self.ports[j],
            };
            cmd.arg("--peer")
                .arg(format!("{}=127.0.0.1:{port}", self.names[j]));
        }
        self.nodes[i] = Some(start_node(cmd, DEADLINE));
    }

    fn http(&self, i: usize) -> &str {
        &self.nodes[i].as_ref().expect("node is running").http
    }

    fn signal(&self, i: usize, sig: nix::sys::signal::Signal) {
        let pid = self.nodes[i].as_ref().unwrap().child.id();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).unwrap();
    }

    /// Freezes node `i` (SIGSTOP): it neither ticks nor answers.
    fn freeze(&self, i: usize) {
        self.signal(i, nix::sys::signal::Signal::SIGSTOP);
    }

    fn thaw(&self, i: usize) {
        self.signal(i, nix::sys::signal::Signal::SIGCONT);
    }

    fn proxy(&self, i: usize) -> &Proxy {
        self.proxies[i].as_ref().expect("node has a proxy")
    }
}

// ---- HTTP and CLI helpers ----

fn get_json(url: &str) -> Json {
    let mut r = agent().get(url).call().unwrap();
    let body = r.body_mut().read_to_string().unwrap();
    assert_eq!(r.status(), 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Inserts facts given as `{"rel": [[...], ...]}`.
fn insert(http: &str, facts: Json) {
    let mut r = agent()
        .post(format!("{http}/v1/facts"))
        .content_type("application/json")
        .send(facts.to_string())
        .unwrap();
    let body = r.body_mut().read_to_string().unwrap();
    assert_eq!(r.status(), 200, "{body}");
}

/// A relation's rows, each as tab-separated text.
fn rows(http: &str, rel: &str) -> BTreeSet<String> {
    get_json(&format!("{http}/v1/relations/{rel}"))["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| match v {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Relation sizes from `/v1/status`.
fn sizes(http: &str) -> BTreeMap<String, u64> {
    get_json(&format!("{http}/v1/status"))["relations"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

/// Polls `check` until it returns `Ok`; panics with its last error after the deadline.
fn eventually(what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let start = Instant::now();
    loop {
        match check() {
            Ok(()) => return,
            Err(e) if start.elapsed() > DEADLINE => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Waits until relation `rel` of node `i` equals `want`.
fn await_rows(c: &Cluster, i: usize, rel: &str, want: &BTreeSet<String>) {
    eventually(&format!("n{} {rel}", i + 1), || {
        let got = rows(c.http(i), rel);
        if got == *want {
            Ok(())
        } else {
            Err(format!("{got:?}, expected {want:?}"))
        }
    });
}

fn calm(args: &[&str]) -> String {
    let out = Command::new(CALM).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "calm {args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn kv(c: &Cluster, i: usize, args: &[&str]) -> String {
    let mut all = vec!["kv", "--node", c.http(i)];
    all.extend_from_slice(args);
    calm(&all)
}

// ---- kvs.dl ----

#[test]
fn kvs_puts_gets_deletes_and_re_adds_through_calm_kv() {
    let c = Cluster::up(program("kvs.dl"), &[]);
    let out = kv(
        &c,
        0,
        &["put", "alice", "home", "x", "--client", "t", "--seq", "1"],
    );
    assert!(out.starts_with("put t/1 (tick "), "{out}");
    eventually("n3 reads the put", || {
        match kv(&c, 2, &["get", "alice", "home", "--ids"]).as_str() {
            "x\tt/1\n" => Ok(()),
            other => Err(other.to_string()),
        }
    });
    // A put with the default id (host, pid, time), and the three ways to read.
    let out = kv(&c, 1, &["put", "bob", "home", "y"]);
    assert!(out.starts_with("put ") && out.contains('/'), "{out}");
    eventually("n1 reads by k2", || {
        match kv(&c, 0, &["get", "--k2", "home"]).as_str() {
            "alice\tx\nbob\ty\n" => Ok(()),
            other => Err(other.to_string()),
        }
    });
    assert_eq!(kv(&c, 0, &["get", "alice"]), "home\tx\n");
    // Delete at n3; nothing visible anywhere.
    let out = kv(&c, 2, &["del", "alice", "home"]);
    assert!(out.starts_with("deleted (tick "), "{out}");
    for i in 0..3 {
        eventually("the delete spreads", || {
            match kv(&c, i, &["get", "alice", "home"]).as_str() {
                "" => Ok(()),
                other => Err(other.to_string()),
            }
        });
    }
    // Re-added after the delete: a new id, visible everywhere; the old value stays deleted.
    kv(
        &c,
        1,
        &["put", "alice", "home", "z", "--client", "t", "--seq", "2"],
    );
    for i in 0..3 {
        eventually("the re-add spreads", || {
            match kv(&c, i, &["get", "alice", "home", "--ids"]).as_str() {
                "z\tt/2\n" => Ok(()),
                other => Err(other.to_string()),
            }
        });
    }
    // A put at a node that has seen z replaces it.
    kv(
        &c,
        0,
        &["put", "alice", "home", "w", "--client", "t", "--seq", "3"],
    );
    for i in 0..3 {
        eventually("the replacement spreads", || {
            match kv(&c, i, &["get", "alice", "home", "--ids"]).as_str() {
                "w\tt/3\n" => Ok(()),
                other => Err(other.to_string()),
            }
        });
    }
    // Compaction removes the replaced and deleted versions (x, z) and their tombstones.
    for i in 0..3 {
        eventually("compaction", || {
            let s = sizes(c.http(i));
            if s["kv"] == 2 && s["tomb"] == 0 {
                Ok(())
            } else {
                Err(format!("{s:?}"))
            }
        });
    }
}

/// `put(client, seq, k1, k2, value)` facts as JSON rows.
fn puts(rows: &[(&str, i64, &str, &str, &str)]) -> Json {
    json!({ "put": rows.iter().map(|(c, s, a, b, v)| json!([c, s, a, b, v])).collect::<Vec<_>>() })
}

fn dels(rows: &[(&str, &str)]) -> Json {
    json!({ "del": rows.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>() })
}

/// `visible` rows without the ids: `k1<TAB>k2<TAB>value`.
fn values(http: &str) -> BTreeSet<String> {
    rows(http, "visible")
        .into_iter()
        .map(|r| r.splitn(4, '\t').take(3).collect::<Vec<_>>().join("\t"))
        .collect()
}

fn await_values(c: &Cluster, i: usize, want: &BTreeSet<String>) {
    eventually(&format!("n{} visible", i + 1), || {
        let got = values(c.http(i));
        if got == *want {
            Ok(())
        } else {
            Err(format!("{got:?}, expected {want:?}"))
        }
    });
}

fn await_sizes(c: &Cluster, i: usize, kv: u64, tomb: u64) {
    eventually(&format!("n{} sizes", i + 1), || {
        let s = sizes(c.http(i));
        if s["kv"] == kv && s["tomb"] == tomb {
            Ok(())
        } else {
            Err(format!(
                "kv {}, tomb {}; expected {kv}, {tomb}",
                s["kv"], s["tomb"]
            ))
        }
    });
}

#[test]
fn kvs_converges_after_a_partition_with_writes_on_both_sides() {
    // Every connection to n3 goes through a proxy: cutting it partitions {n1, n2} | {n3}.
    let c = Cluster::up(program("kvs.dl"), &[2]);
    insert(c.http(0), puts(&[("a", 1, "k", "a", "v0")]));
    insert(c.http(2), puts(&[("b", 1, "m", "n", "m0")]));
    let base = set(&["k\ta\tv0", "m\tn\tm0"]);
    for i in 0..3 {
        await_values(&c, i, &base);
    }
    c.proxy(2).cut();
    // Side {n1, n2}: delete one of the old values, put two new ones.
    insert(c.http(0), dels(&[("k", "a")]));
    insert(c.http(1), puts(&[("a", 2, "x", "y", "A")]));
    insert(c.http(0), puts(&[("a", 3, "s", "t", "left")]));
    // Side {n3}: delete the other old value, put to the same keys as the other side (neither
    // side has seen the other's put: they are siblings) and to new ones.
    insert(c.http(2), dels(&[("m", "n")]));
    insert(
        c.http(2),
        puts(&[("b", 2, "x", "y", "B"), ("b", 3, "u", "v", "right")]),
    );
    let left = set(&["m\tn\tm0", "x\ty\tA", "s\tt\tleft"]);
    let right = set(&["k\ta\tv0", "x\ty\tB", "u\tv\tright"]);
    await_values(&c, 0, &left);
    await_values(&c, 1, &left);
    await_values(&c, 2, &right);
    // While n3 is cut off, nothing it has not acknowledged is compacted.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(values(c.http(0)), left);
    assert_eq!(values(c.http(2)), right);
    assert!(sizes(c.http(0))["tomb"] > 0);
    // Heal: everyone agrees, both puts to (x, y) are visible, no delete is undone.
    c.proxy(2).heal();
    let all = set(&["x\ty\tA", "x\ty\tB", "s\tt\tleft", "u\tv\tright"]);
    for i in 0..3 {
        await_values(&c, i, &all);
    }
    // And the deleted versions are compacted away everywhere (4 versions left, no tombstone).
    for i in 0..3 {
        await_sizes(&c, i, 4, 0);
        assert_eq!(values(c.http(i)), all, "n{}", i + 1);
    }
}

#[test]
fn kvs_compaction_shrinks_storage_once_every_member_acknowledged() {
    let mut c = Cluster::new(program("kvs.dl"), 3, &[]);
    // n3 is a member but down.
    c.start(0);
    c.start(1);
    let versions: Vec<(String, String)> = (0..20)
        .map(|i| (format!("key{i}"), format!("value{i}")))
        .collect();
    let rows: Vec<(&str, i64, &str, &str, &str)> = versions
        .iter()
        .enumerate()
        .map(|(i, (k, v))| ("load", i as i64, k.as_str(), "x", v.as_str()))
        .collect();
    insert(c.http(0), puts(&rows));
    let gone: Vec<(&str, &str)> = versions[..10]
        .iter()
        .map(|(k, _)| (k.as_str(), "x"))
        .collect();
    eventually("n2 holds the versions", || {
        let n = sizes(c.http(1))["kv"];
        if n == 20 { Ok(()) } else { Err(format!("{n}")) }
    });
    insert(c.http(1), dels(&gone));
    let kept: BTreeSet<String> = versions[10..]
        .iter()
        .map(|(k, v)| format!("{k}\tx\t{v}"))
        .collect();
    for i in 0..2 {
        await_values(&c, i, &kept);
    }
    // Four compaction rounds later, the tombstoned versions are still stored: n3 has not
    // acknowledged them.
    std::thread::sleep(Duration::from_millis(1000));
    for i in 0..2 {
        let s = sizes(c.http(i));
        assert_eq!(s["kv"], 20, "n{}: {s:?}", i + 1);
        assert!(s["tomb"] >= 10, "n{}: {s:?}", i + 1);
    }
    // n3 starts, receives everything, acknowledges: storage shrinks on every node.
    c.start(2);
    for i in 0..3 {
        await_sizes(&c, i, 10, 0);
        assert_eq!(values(c.http(i)), kept);
    }
    // With every member up, a delete is compacted as soon as it is acknowledged.
    insert(c.http(2), dels(&[("key10", "x"), ("key11", "x")]));
    for i in 0..3 {
        await_sizes(&c, i, 8, 0);
    }
}

// ---- deadlock.dl ----

#[test]
fn deadlock_finds_the_figure_1_cycles_on_every_node() {
    // The program without its example facts: here the edges live on the machines of Figure 1.
    let text = std::fs::read_to_string(program("deadlock.dl")).unwrap();
    let rules: String = text
        .lines()
        .filter(|l| !l.starts_with("waits("))
        .map(|l| format!("{l}\n"))
        .chain([".input waits\n".to_string()])
        .collect();
    let dir = std::env::temp_dir().join(format!("calm-programs-deadlock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("deadlock.dl");
    std::fs::write(&file, rules).unwrap();
    let c = Cluster::up(file, &[]);
    // Machine 1: the local cycle t1 -> t2 -> t1, half of the other one, and t6 waiting on t1.
    insert(
        c.http(0),
        json!({"waits": [["t1", "t2"], ["t2", "t1"], ["t3", "t4"], ["t6", "t1"]]}),
    );
    // Machine 2: the rest of the cycle t3 -> t4 -> t5 -> t3.
    insert(c.http(1), json!({"waits": [["t4", "t5"], ["t5", "t3"]]}));
    // What `calm run` finds from the same edges on one node (the bundled example).
    let out = calm(&["run"]);
    let single: BTreeSet<String> = out
        .lines()
        .skip_while(|l| *l != "deadlocked")
        .skip(3) // the name, the column names, the `=====` line
        .take_while(|l| !l.starts_with("====="))
        .map(str::to_string)
        .collect();
    assert_eq!(single, set(&["t1", "t2", "t3", "t4", "t5"]));
    for i in 0..3 {
        await_rows(&c, i, "deadlocked", &single);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- gc.dl and gc_coordinated.dl ----

/// The heap of Figure 2, by machine: roots everywhere; machine 1 stores o1 and o2 and holds
/// o1 -> o2 and o1 -> o3; machine 2 stores o3 and holds o3 -> o4; machine 3 stores o4 and o5 and
/// holds o5 -> o4.
fn heap(machine: usize) -> Json {
    match machine {
        0 => {
            json!({"root": [["o1"]], "object": [["o1"], ["o2"]], "ref": [["o1", "o2"], ["o1", "o3"]]})
        }
        1 => json!({"root": [["o1"]], "object": [["o3"]], "ref": [["o3", "o4"]]}),
        _ => json!({"root": [["o1"]], "object": [["o4"], ["o5"]], "ref": [["o5", "o4"]]}),
    }
}

#[test]
fn gc_naive_frees_a_live_object_when_a_reference_is_late() {
    let mut c = Cluster::new(program("gc.dl"), 3, &[]);
    // Machine 2 is down: its reference o3 -> o4 has not been heard of.
    c.start(0);
    c.start(2);
    insert(c.http(0), heap(0));
    insert(c.http(2), heap(2));
    await_rows(&c, 2, "garbage", &set(&["o4", "o5"]));
    // Machine 2 comes back: o4 is reachable after all, but it has been freed.
    c.start(1);
    insert(c.http(1), heap(1));
    eventually("n3 hears of o3 -> o4", || {
        if rows(c.http(2), "reachable").contains("o4") {
            Ok(())
        } else {
            Err(format!("{:?}", rows(c.http(2), "reachable")))
        }
    });
    let garbage = rows(c.http(2), "garbage");
    assert!(garbage.contains("o4"), "{garbage:?}");
    assert!(!rows(c.http(2), "object").contains("o4"));
}

#[test]
fn gc_coordinated_waits_for_every_member_then_frees_only_garbage() {
    let c = Cluster::up(program("gc_coordinated.dl"), &[]);
    for i in 0..3 {
        insert(c.http(i), heap(i));
    }
    // Machine 2 is frozen while the epoch runs: nobody may decide.
    c.freeze(1);
    insert(c.http(0), json!({"collect": [[1]]}));
    std::thread::sleep(Duration::from_millis(600));
    for i in [0, 2] {
        assert_eq!(rows(c.http(i), "garbage"), set(&[]), "n{}", i + 1);
        assert_eq!(rows(c.http(i), "ready"), set(&[]), "n{}", i + 1);
    }
    assert_eq!(rows(c.http(2), "object"), set(&["o4", "o5"]));
    c.thaw(1);
    for i in 0..3 {
        await_rows(&c, i, "ready", &set(&["1"]));
    }
    assert_eq!(rows(c.http(2), "garbage"), set(&["o5"]));
    assert_eq!(rows(c.http(2), "object"), set(&["o4"]));
    for i in [0, 1] {
        assert_eq!(rows(c.http(i), "garbage"), set(&[]), "n{}", i + 1);
    }
}

// ---- cart.dl ----

#[test]
fn cart_naive_checkout_loses_a_late_update_and_the_sealed_one_waits() {
    let c = Cluster::up(program("cart.dl"), &[2]);
    insert(
        c.http(0),
        json!({"action": [["c1", 1, "add", "apple", 2], ["c1", 2, "add", "pear", 1]]}),
    );
    for i in 0..3 {
        eventually("the adds spread", || {
            let n = sizes(c.http(i))["update"];
            if n == 2 { Ok(()) } else { Err(format!("{n}")) }
        });
    }
    // The client's last update (one apple less) goes to n3, which is cut off: it is late.
    c.proxy(2).cut();
    insert(c.http(2), json!({"action": [["c1", 3, "del", "apple", 1]]}));
    // The checkout, with the manifest of all three updates, goes to n1.
    insert(
        c.http(0),
        json!({"request": [["c1"]], "listed": [["c1", 1], ["c1", 2], ["c1", 3]]}),
    );
    let naive_early = set(&["c1\tapple\t2", "c1\tpear\t1"]);
    let right = set(&["c1\tapple\t1", "c1\tpear\t1"]);
    for i in 0..2 {
        await_rows(&c, i, "order_naive", &naive_early);
    }
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..3 {
        assert_eq!(
            rows(c.http(i), "order"),
            set(&[]),
            "n{}: the sealed order waits",
            i + 1
        );
    }
    c.proxy(2).heal();
    // Every replica ships the same sealed order; the naive orders differ between replicas.
    for i in 0..3 {
        await_rows(&c, i, "order", &right);
    }
    await_rows(&c, 2, "order_naive", &right);
    for i in 0..2 {
        assert_eq!(rows(c.http(i), "order_naive"), naive_early, "n{}", i + 1);
    }
}

// ---- multicast.dl ----

#[test]
fn multicast_is_ready_once_every_member_is_done() {
    let c = Cluster::up(program("multicast.dl"), &[]);
    insert(c.http(0), json!({"item": [["a"], ["b"]]}));
    insert(c.http(1), json!({"item": [["c"]]}));
    c.freeze(2);
    insert(c.http(0), json!({"begin": [[1]]}));
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(rows(c.http(0), "ready"), set(&[]), "n3 has not said done");
    c.thaw(2);
    for i in 0..3 {
        await_rows(&c, i, "ready", &set(&["1"]));
        assert_eq!(rows(c.http(i), "delivered"), set(&["1\ta", "1\tb", "1\tc"]));
        assert_eq!(rows(c.http(i), "total"), set(&["1\t3"]));
    }
}

// ---- Load: puts and gets per second ----

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `total` operations split over `clients` threads, client `t` talking to node
/// `t % nodes`; `op(http, t, i)` does operation `i` of thread `t`. Returns the seconds taken.
fn drive(
    c: &Cluster,
    nodes: usize,
    clients: usize,
    total: usize,
    op: impl Fn(&ureq::Agent, &str, usize, usize) + Sync,
) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..clients {
            let http = c.http(t % nodes).to_string();
            let op = &op;
            s.spawn(move || {
                let agent = agent();
                let mine = total / clients + usize::from(t < total % clients);
                for i in 0..mine {
                    op(&agent, &http, t, i);
                }
            });
        }
    });
    start.elapsed().as_secs_f64()
}

/// Puts and gets per second, on one node and on three; the client pipelines puts (BATCH per
/// request) and runs CLIENTS connections. Environment: KV_LOAD_PUTS (50000), KV_LOAD_GETS
/// (20000), KV_LOAD_BATCH (100), KV_LOAD_CLIENTS (4), KV_LOAD_VALUE (value bytes, 16). Build
/// with --release for meaningful figures.
#[test]
#[ignore = "a benchmark: cargo test --release -p calm-cli --test programs_cluster -- --ignored kv_load --nocapture"]
fn kv_load() {
    let puts_n = env_or("KV_LOAD_PUTS", 50_000);
    let gets_n = env_or("KV_LOAD_GETS", 20_000);
    let batch = env_or("KV_LOAD_BATCH", 100).max(1);
    let clients = env_or("KV_LOAD_CLIENTS", 4).max(1);
    let value = "v".repeat(env_or("KV_LOAD_VALUE", 16));
    println!(
        "kv_load: {puts_n} puts in batches of {batch}, {gets_n} gets, {clients} clients, {}-byte values",
        value.len()
    );
    for nodes in [1usize, 3] {
        let mut c = Cluster::new(program("kvs.dl"), nodes, &[]);
        for i in 0..nodes {
            c.start(i);
        }
        let requests = puts_n.div_ceil(batch);
        let put_secs = drive(&c, nodes, clients, requests, |agent, http, t, i| {
            let first = (i * clients + t) * batch;
            let rows: Vec<Json> = (first..(first + batch).min(puts_n))
                .map(|k| json!(["load", k, format!("key:{k}"), "x", value]))
                .collect();
            let mut r = agent
                .post(format!("{http}/v1/facts"))
                .content_type("application/json")
                .send(json!({ "put": rows }).to_string())
                .unwrap();
            assert_eq!(
                r.status(),
                200,
                "{}",
                r.body_mut().read_to_string().unwrap()
            );
        });
        // Until every node holds every version.
        let start = Instant::now();
        for i in 0..nodes {
            while sizes(c.http(i))["kv"] < puts_n as u64 {
                assert!(start.elapsed() < Duration::from_secs(600), "not replicated");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let replicated_secs = put_secs + start.elapsed().as_secs_f64();
        let get_secs = drive(&c, nodes, clients, gets_n, |agent, http, t, i| {
            let k = (i * clients + t) * 7919 % puts_n;
            let mut r = agent
                .get(format!("{http}/v1/relations/visible?k1=key:{k}&k2=x"))
                .call()
                .unwrap();
            let body = r.body_mut().read_to_string().unwrap();
            assert!(body.contains(&value), "{body}");
        });
        println!(
            "{nodes} node{}: puts {:>9.0}/s acknowledged, {:>9.0}/s on every node; gets {:>9.0}/s",
            if nodes == 1 { " " } else { "s" },
            puts_n as f64 / put_secs,
            puts_n as f64 / replicated_secs,
            gets_n as f64 / get_secs,
        );
    }
}

// ---- crdt/max_register.dl and crdt/routing.dl (lattice columns) ----

#[test]
fn max_register_merges_writes_from_every_node() {
    let c = Cluster::up(program("crdt/max_register.dl"), &[]);
    insert(c.http(0), json!({"write": [["x", 5], ["y", 120]]}));
    insert(c.http(2), json!({"write": [["x", 7], ["y", 3]]}));
    let want = set(&["x\t7", "y\t120"]);
    for i in 0..3 {
        await_rows(&c, i, "register", &want);
        await_rows(&c, i, "high", &set(&["y"]));
    }
    // A smaller value changes nothing; a larger one replaces the key's value everywhere.
    insert(c.http(1), json!({"write": [["x", 6], ["y", 200]]}));
    let want = set(&["x\t7", "y\t200"]);
    for i in 0..3 {
        await_rows(&c, i, "register", &want);
    }
}

#[test]
fn routing_finds_shortest_paths_across_nodes() {
    let c = Cluster::up(program("crdt/routing.dl"), &[]);
    // A path a -> b -> c -> d whose links live on three different nodes, and a longer shortcut.
    insert(c.http(0), json!({"link": [["a", "b", 4], ["a", "d", 20]]}));
    insert(c.http(1), json!({"link": [["b", "c", 1]]}));
    insert(c.http(2), json!({"link": [["c", "d", 2]]}));
    let want = set(&[
        "a\tb\t4", "a\tc\t5", "a\td\t7", "b\tc\t1", "b\td\t3", "c\td\t2",
    ]);
    for i in 0..3 {
        await_rows(&c, i, "route", &want);
    }
}

// ---- crdt/ on bool, counter and lww lattices, and kvs_lww.dl ----

#[test]
fn pncounter_counts_up_and_down_across_nodes() {
    let c = Cluster::up(program("crdt/pncounter.dl"), &[]);
    insert(c.http(0), json!({"change": [["c1", 5], ["c2", -2]]}));
    insert(c.http(1), json!({"change": [["c3", 7]]}));
    insert(c.http(2), json!({"change": [["c4", -4], ["c5", 1]]}));
    for i in 0..3 {
        await_rows(&c, i, "value", &set(&["7"]));
        await_rows(&c, i, "busy", &set(&["10"]));
    }
    // A decrement lowers the value everywhere; the increments' threshold stays reached.
    insert(c.http(1), json!({"change": [["c6", -9]]}));
    for i in 0..3 {
        await_rows(&c, i, "value", &set(&["-2"]));
        assert_eq!(rows(c.http(i), "busy"), set(&["10"]));
    }
}

#[test]
fn lww_register_converges_on_the_latest_write_after_a_partition() {
    // Connections to n3 go through a proxy: cutting it partitions {n1, n2} | {n3}.
    let c = Cluster::up(program("crdt/lww_register.dl"), &[2]);
    insert(c.http(0), json!({"set": [["x", 5, "red"]]}));
    for i in 0..3 {
        await_rows(&c, i, "register", &set(&["x\t5\tn1\tred"]));
    }
    c.proxy(2).cut();
    // Concurrent writes on both sides: the later timestamp wins, and at equal timestamps the
    // writer whose name sorts last (n3).
    insert(
        c.http(1),
        json!({"set": [["x", 9, "blue"], ["y", 120, "green"]]}),
    );
    insert(
        c.http(2),
        json!({"set": [["x", 9, "amber"], ["y", 3, "grey"]]}),
    );
    await_rows(
        &c,
        0,
        "register",
        &set(&["x\t9\tn2\tblue", "y\t120\tn2\tgreen"]),
    );
    await_rows(
        &c,
        2,
        "register",
        &set(&["x\t9\tn3\tamber", "y\t3\tn3\tgrey"]),
    );
    c.proxy(2).heal();
    let want = set(&["x\t9\tn3\tamber", "y\t120\tn2\tgreen"]);
    for i in 0..3 {
        await_rows(&c, i, "register", &want);
        await_rows(&c, i, "fresh", &set(&["y"]));
    }
}

#[test]
fn twophase_and_or_sets_agree_on_every_node() {
    let c = Cluster::up(program("crdt/twophase_set.dl"), &[]);
    insert(c.http(0), json!({"add": [["a"], ["b"]]}));
    insert(c.http(1), json!({"add": [["c"]], "remove": [["b"]]}));
    insert(c.http(2), json!({"remove": [["d"]]}));
    insert(c.http(2), json!({"add": [["d"]]}));
    for i in 0..3 {
        await_rows(&c, i, "member", &set(&["a", "c"]));
        await_rows(&c, i, "gone", &set(&["b", "d"]));
    }
    drop(c);
    let c = Cluster::up(program("crdt/orset.dl"), &[]);
    insert(c.http(0), json!({"add": [["a", "t1"]]}));
    for i in 0..3 {
        await_rows(&c, i, "tags", &set(&["a\tt1"]));
    }
    // n3 removes the `a` it observed (t1) while n2 adds `a` again (t2): the add wins.
    insert(c.http(2), json!({"remove": [["a", "t1"]]}));
    insert(c.http(1), json!({"add": [["a", "t2"], ["b", "t3"]]}));
    insert(c.http(0), json!({"remove": [["b", "t3"]]}));
    for i in 0..3 {
        await_rows(&c, i, "member", &set(&["a"]));
        await_rows(&c, i, "removed", &set(&["a\tt1", "b\tt3"]));
    }
}

#[test]
fn vector_clocks_gossip_every_nodes_count() {
    let c = Cluster::up(program("crdt/vector_clock.dl"), &[]);
    insert(c.http(0), json!({"event": [["e1"], ["e2"]]}));
    insert(c.http(0), json!({"event": [["e3"]]}));
    insert(c.http(1), json!({"event": [["e4"]]}));
    let want = set(&["n1\t3", "n2\t1", "n3\t0"]);
    for i in 0..3 {
        await_rows(&c, i, "clock", &want);
        await_rows(&c, i, "seen", &set(&["n1"]));
    }
}

#[test]
fn kvs_lww_keeps_the_latest_write_per_key_through_calm_kv() {
    let c = Cluster::up(program("kvs_lww.dl"), &[]);
    let lww_puts = |rows: &[(&str, i64, &str, &str, &str)]| json!({"put": rows.iter().map(|r| json!([r.0, r.1, r.2, r.3, r.4])).collect::<Vec<_>>()});
    insert(c.http(0), lww_puts(&[("c1", 10, "a", "b", "v1")]));
    insert(c.http(1), lww_puts(&[("c2", 12, "a", "b", "v2")]));
    insert(c.http(2), json!({"del": [["c3", 11, "a", "b"]]}));
    insert(c.http(0), lww_puts(&[("c1", 20, "c", "d", "v3")]));
    for i in 0..3 {
        await_rows(
            &c,
            i,
            "visible",
            &set(&["a\tb\tv2\tc2\t12", "c\td\tv3\tc1\t20"]),
        );
    }
    // A later delete removes c/d everywhere; one cell per key pair, nothing to compact.
    insert(c.http(1), json!({"del": [["c2", 25, "c", "d"]]}));
    for i in 0..3 {
        await_rows(&c, i, "visible", &set(&["a\tb\tv2\tc2\t12"]));
        assert_eq!(sizes(c.http(i))["cell"], 2);
    }
    // `calm kv put` (a timestamp in nanoseconds: later than every write above) and `get`.
    kv(&c, 2, &["put", "a", "b", "v9"]);
    eventually("n1 sees the put", || {
        let out = kv(&c, 0, &["get", "a", "b"]);
        if out.contains("v9") && !out.contains("v2") {
            Ok(())
        } else {
            Err(out)
        }
    });
}
