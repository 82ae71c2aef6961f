//! Nodes with a data directory, in-process: a restart comes back to exactly the state of the
//! last commit; snapshots drop what the program deleted; a failing disk stops the node without
//! acknowledging; damaged files are refused, never applied; unacknowledged batches survive a
//! restart of their sender.

use calm_engine::{Program, Value};
use calm_node::core::NodeCore;
use calm_node::durable::{self, SnapshotPolicy};
use calm_node::store::{FaultyBackend, FaultyStorage, RedbStorage, Storage};
use calm_node::{Limits, NodeConfig, NodeError, NodeHandle, NodeOptions, Peer};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const PROGRAM: &str = r#"
.decl add(x: number, s: symbol)
.decl del(x: number)
.persist item
item(x, s) :- add(x, s).
live(x, s)@next :- add(x, s).
live(x, s)@next :- live(x, s), !del(x).
total(n) :- n = count : item(_, _).
round(0).
round(n + 1)@next :- round(n), n < 30.
"#;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn config(program: &Program, name: &str, peers: Vec<Peer>) -> NodeConfig {
    NodeConfig {
        name: name.into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        peers,
        program: program.clone(),
        limits: Limits::default(),
    }
}

fn options(dir: &Path, every: u64) -> NodeOptions {
    NodeOptions {
        storage: Some(Box::new(RedbStorage::open(dir).unwrap())),
        snapshot: SnapshotPolicy {
            every_ticks: every,
            log_bytes: 1 << 30,
        },
        ..NodeOptions::default()
    }
}

fn add(x: i64) -> Vec<(String, Vec<Value>)> {
    vec![(
        "add".into(),
        vec![Value::Number(x), Value::Symbol(format!("v{x}"))],
    )]
}

fn del(x: i64) -> Vec<(String, Vec<Value>)> {
    vec![("del".into(), vec![Value::Number(x)])]
}

type State = (u64, Vec<Vec<Vec<Value>>>);

async fn state(h: &NodeHandle) -> State {
    let mut rels = Vec::new();
    for r in ["item", "live", "total", "round"] {
        rels.push(h.query(r, vec![]).await.unwrap());
    }
    (h.status().await.unwrap().tick, rels)
}

/// Waits until the node has no tick left to run (the `round` counter is done).
async fn settle(h: &NodeHandle) {
    let start = Instant::now();
    loop {
        let a = state(h).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        if state(h).await == a {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "never settled");
    }
}

#[test]
fn a_restarted_node_is_exactly_where_it_left_off() {
    let program = Program::compile("p.dl", PROGRAM).unwrap();
    let rt = rt();
    for every in [1, 7, 1000] {
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            // The reference: a node without a data directory, fed the same requests.
            let reference = calm_node::start(config(&program, "n1", vec![]))
                .await
                .unwrap();
            let node =
                calm_node::start_with(config(&program, "n1", vec![]), options(dir.path(), every))
                    .await
                    .unwrap();
            for i in 0..60 {
                let req = if i % 3 == 2 { del(i - 1) } else { add(i) };
                reference.handle.insert(req.clone()).await.unwrap();
                node.handle.insert(req).await.unwrap();
            }
            settle(&node.handle).await;
            settle(&reference.handle).await;
            let before = state(&node.handle).await;
            // Tick numbers depend on how inserts and the timer-free `round` ticks interleave;
            // the relations do not.
            assert_eq!(before.1, state(&reference.handle).await.1);
            assert_eq!(before.1[0].len(), 40);
            node.handle.shutdown();
            node.wait().await;
            // Back from the disk: the same tick and relations, and it goes on the same way.
            let node =
                calm_node::start_with(config(&program, "n1", vec![]), options(dir.path(), every))
                    .await
                    .unwrap();
            assert_eq!(state(&node.handle).await, before, "snapshot every {every}");
            for i in 60..70 {
                reference.handle.insert(add(i)).await.unwrap();
                node.handle.insert(add(i)).await.unwrap();
            }
            settle(&node.handle).await;
            settle(&reference.handle).await;
            assert_eq!(
                state(&node.handle).await.1,
                state(&reference.handle).await.1
            );
            let snapshots = node.handle.metrics().snapshots.load(Ordering::Relaxed);
            if every == 1 {
                assert!(snapshots > 10, "{snapshots} snapshots");
            }
            node.handle.shutdown();
            node.wait().await;
            reference.handle.shutdown();
        });
    }
}

#[test]
fn another_program_or_membership_is_refused() {
    let program = Program::compile("p.dl", PROGRAM).unwrap();
    let other = Program::compile("p.dl", &format!("{PROGRAM}\nextra(1).\n")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    rt.block_on(async {
        let node = calm_node::start_with(config(&program, "n1", vec![]), options(dir.path(), 10))
            .await
            .unwrap();
        node.handle.insert(add(1)).await.unwrap();
        node.handle.shutdown();
        node.wait().await;
        for (p, name) in [(&other, "n1"), (&program, "n2")] {
            let e = calm_node::start_with(config(p, name, vec![]), options(dir.path(), 10))
                .await
                .err()
                .unwrap();
            assert!(
                matches!(&e, NodeError::Storage(m) if m.contains("another program")),
                "{e}"
            );
        }
    });
}

/// Sizes in the store after the node stopped.
fn stats(dir: &Path) -> calm_node::store::StoreStats {
    RedbStorage::open(dir).unwrap().stats().unwrap()
}

#[test]
fn snapshots_compact_the_log_and_drop_deleted_facts() {
    let program = Program::compile("p.dl", PROGRAM).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let long = "x".repeat(1000);
    rt.block_on(async {
        let node = calm_node::start_with(config(&program, "n1", vec![]), options(dir.path(), 10))
            .await
            .unwrap();
        // `live` facts of 1 KB each, every one deleted again.
        for i in 0..300 {
            let f = vec![(
                "add".to_string(),
                vec![Value::Number(i), Value::Symbol(format!("{long}{i}"))],
            )];
            let ins = vec![("del".to_string(), vec![Value::Number(i)])];
            node.handle.insert(f).await.unwrap();
            node.handle.insert(ins).await.unwrap();
        }
        settle(&node.handle).await;
        node.handle.shutdown();
        node.wait().await;
    });
    let s = stats(dir.path());
    assert!(s.log_entries <= 11, "{s:?}");
    // `item` keeps its 300 KB (it is persisted); `live` is empty, so not much more than that.
    assert!(s.snapshot_bytes > 280_000, "{s:?}");
    assert!(s.snapshot_bytes < 340_000, "{s:?}");
    let len = std::fs::metadata(dir.path().join("calm.redb"))
        .unwrap()
        .len();
    assert!(len < 8 << 20, "the file is {len} bytes");
}

#[test]
fn a_failing_commit_stops_the_node_and_acknowledges_nothing_unstored() {
    let program = Program::compile("p.dl", PROGRAM).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    rt.block_on(async {
        let store = RedbStorage::open(dir.path()).unwrap();
        // Commit 1 initialises the store, 2 is tick 0, then one or two per insert.
        let opts = NodeOptions {
            storage: Some(Box::new(FaultyStorage::new(Box::new(store), 12))),
            ..NodeOptions::default()
        };
        let node = calm_node::start_with(config(&program, "n1", vec![]), opts)
            .await
            .unwrap();
        let mut acked = Vec::new();
        let mut failed = None;
        for i in 0..20 {
            match node.handle.insert(add(i)).await {
                Ok(_) => acked.push(i),
                Err(e) => {
                    failed = Some((i, e));
                    break;
                }
            }
        }
        let (i, e) = failed.expect("the injected failure was never seen");
        // The failing commit is either this insert's tick (its client gets the storage error)
        // or a tick without a client (a busy or timer tick): then the node has stopped by the
        // time this insert arrives. Either way the cause is reported below.
        assert!(
            matches!(&e, NodeError::Storage(m) if m.contains("injected"))
                || matches!(e, NodeError::Stopped),
            "{e}"
        );
        let failure = node.handle.failure().unwrap();
        assert!(failure.contains("injected I/O error"), "{failure}");
        // The node is gone: nothing more is acknowledged.
        assert!(node.handle.insert(add(100)).await.is_err());
        tokio::time::timeout(Duration::from_secs(5), node.wait())
            .await
            .expect("the node did not stop");
        // What was acknowledged is on the disk; the failed insert may or may not be (it was
        // never acknowledged), nothing else is.
        let node = calm_node::start_with(config(&program, "n1", vec![]), options(dir.path(), 10))
            .await
            .unwrap();
        let items: Vec<i64> = node
            .handle
            .query("item", vec![])
            .await
            .unwrap()
            .iter()
            .map(|r| match r[0] {
                Value::Number(n) => n,
                _ => unreachable!(),
            })
            .collect();
        assert!(
            items == acked || items == [acked.clone(), vec![i]].concat(),
            "{items:?} vs {acked:?}"
        );
        node.handle.shutdown();
        node.wait().await;
    });
}

#[test]
fn an_eio_from_fsync_in_redb_stops_the_node() {
    let program = Program::compile("p.dl", PROGRAM).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calm.redb");
    let rt = rt();
    rt.block_on(async {
        let backend = FaultyBackend::open(&path).unwrap();
        let syncs = backend.syncs_left.clone();
        let store = RedbStorage::open_with_backend(backend, &path).unwrap();
        let opts = NodeOptions {
            storage: Some(Box::new(store)),
            ..NodeOptions::default()
        };
        let node = calm_node::start_with(config(&program, "n1", vec![]), opts)
            .await
            .unwrap();
        node.handle.insert(add(1)).await.unwrap();
        syncs.store(0, Ordering::SeqCst);
        // The failing commit is this insert's, or that of the tick the last one left pending
        // (then this insert finds the node stopped): never a success.
        let e = node.handle.insert(add(2)).await.unwrap_err();
        assert!(
            matches!(e, NodeError::Storage(_) | NodeError::Stopped),
            "{e}"
        );
        let failure = node.handle.failure().unwrap();
        assert!(failure.contains("commit failed"), "{failure}");
        tokio::time::timeout(Duration::from_secs(5), node.wait())
            .await
            .expect("the node did not stop");
    });
    // Writes failing instead.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calm.redb");
    rt.block_on(async {
        let backend = FaultyBackend::open(&path).unwrap();
        let writes = backend.fail_writes.clone();
        let store = RedbStorage::open_with_backend(backend, &path).unwrap();
        let opts = NodeOptions {
            storage: Some(Box::new(store)),
            ..NodeOptions::default()
        };
        let node = calm_node::start_with(config(&program, "n1", vec![]), opts)
            .await
            .unwrap();
        node.handle.insert(add(1)).await.unwrap();
        writes.store(true, Ordering::SeqCst);
        // redb may buffer a write in its cache: the failure shows at the latest in a few ticks.
        let mut saw = None;
        for i in 2..50 {
            if let Err(e) = node.handle.insert(add(i)).await {
                saw = Some(e);
                break;
            }
        }
        let e = saw.expect("failed writes never surfaced");
        assert!(
            matches!(e, NodeError::Storage(_) | NodeError::Stopped),
            "{e}"
        );
        assert!(node.handle.failure().is_some());
    });
}

/// Builds a data directory with facts 0..n inserted one request each, and returns the file.
fn build_store(dir: &Path, program: &Program, n: i64) -> Vec<u8> {
    let rt = rt();
    rt.block_on(async {
        let node = calm_node::start_with(config(program, "n1", vec![]), options(dir, 25))
            .await
            .unwrap();
        for i in 0..n {
            node.handle.insert(add(i)).await.unwrap();
        }
        node.handle.shutdown();
        node.wait().await;
    });
    std::fs::read(dir.join("calm.redb")).unwrap()
}

/// Loads a store the way a node does; `Ok((items, rolled back))` or the error.
fn load(dir: &Path, program: &Program) -> Result<(Vec<i64>, bool), String> {
    let mut store = RedbStorage::open(dir).map_err(|e| e.to_string())?;
    let rolled_back = store.rolled_back();
    let mut core = NodeCore::new(program, "n1", &[], Limits::default());
    let fp = durable::fingerprint(program, "n1", &[]);
    durable::recover(&mut store, &mut core, &fp, 0).map_err(|e| e.to_string())?;
    let items = core
        .engine()
        .relation("item")
        .unwrap()
        .iter()
        .map(|r| match r[0] {
            Value::Number(n) => n,
            _ => unreachable!(),
        })
        .collect();
    Ok((items, rolled_back))
}

#[test]
fn damaged_files_are_refused_never_applied() {
    let program = Program::compile("p.dl", PROGRAM).unwrap();
    let base = tempfile::tempdir().unwrap();
    let n = 60;
    let good = build_store(base.path(), &program, n);
    let all: Vec<i64> = (0..n).collect();
    assert_eq!(load(base.path(), &program).unwrap(), (all.clone(), false));
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut refused, mut intact, mut earlier) = (0, 0, 0);
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    // Torn or truncated tails, and garbage appended.
    for cut in [1usize, 100, 4096, 10_000] {
        cases.push((
            format!("truncated by {cut}"),
            good[..good.len().saturating_sub(cut)].to_vec(),
        ));
    }
    for _ in 0..6 {
        let at = (next() as usize) % good.len();
        cases.push((format!("truncated at {at}"), good[..at].to_vec()));
    }
    cases.push(("empty".into(), Vec::new()));
    let mut longer = good.clone();
    longer.extend(std::iter::repeat_n(0xab, 5000));
    cases.push(("garbage appended".into(), longer));
    // Flipped bytes anywhere, and in the header.
    for k in 0..40 {
        let mut bad = good.clone();
        let at = if k < 8 {
            (next() as usize) % 4096.min(bad.len())
        } else {
            (next() as usize) % bad.len()
        };
        bad[at] ^= 1 << (next() % 8);
        cases.push((format!("bit flipped at {at}"), bad));
    }
    for (what, bytes) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("calm.redb"), &bytes).unwrap();
        match load(dir.path(), &program) {
            Err(e) => {
                assert!(!e.is_empty());
                refused += 1;
            }
            Ok((items, false)) => {
                assert_eq!(items, all, "{what}: silently at an earlier state");
                intact += 1;
            }
            Ok((items, true)) => {
                // The last commit failed its checksums and redb fell back to the one before,
                // which is reported: an earlier commit, whole, never damaged facts.
                assert!(all.starts_with(&items), "{what}: {items:?}");
                eprintln!(
                    "{what}: at an earlier commit ({} of {} facts)",
                    items.len(),
                    all.len()
                );
                earlier += 1;
            }
        }
    }
    eprintln!(
        "damaged files: {refused} refused, {intact} unaffected, {earlier} at an earlier commit"
    );
    assert!(refused > 10, "{refused} refused");

    // Bytes of the last commit itself: found by comparing the file before and after it.
    let rt = rt();
    rt.block_on(async {
        let node = calm_node::start_with(config(&program, "n1", vec![]), options(base.path(), 25))
            .await
            .unwrap();
        node.handle.insert(add(n)).await.unwrap();
        node.handle.shutdown();
        node.wait().await;
    });
    let last = std::fs::read(base.path().join("calm.redb")).unwrap();
    let changed: Vec<usize> = (0..good.len().min(last.len()))
        .filter(|&i| good[i] != last[i])
        .collect();
    assert!(!changed.is_empty());
    let with_last: Vec<i64> = (0..=n).collect();
    let (mut refused, mut reported) = (0, 0);
    for k in 0..12 {
        let at = changed[k * changed.len() / 12];
        let mut bad = last.clone();
        bad[at] ^= 0x10;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("calm.redb"), &bad).unwrap();
        match load(dir.path(), &program) {
            Err(_) => refused += 1,
            Ok((items, false)) => assert_eq!(items, with_last, "byte {at}: silently wrong"),
            Ok((items, true)) => {
                assert!(with_last.starts_with(&items), "byte {at}: {items:?}");
                reported += 1;
            }
        }
    }
    eprintln!(
        "bytes of the last commit ({} changed): {refused} refused, {reported} rolled back and reported",
        changed.len()
    );
}

#[test]
fn unacknowledged_batches_survive_a_restart_of_their_sender() {
    let program = Program::compile(
        "p.dl",
        ".decl src(x: number)\n.decl msg(n: symbol, x: number)\n.persist got\n\
         got(x) :- msg(_, x).\nmsg(@n, x)@async :- src(x), $member(n), $self(me), n != me.\n",
    )
    .unwrap();
    let dir_a = tempfile::tempdir().unwrap();
    let rt = rt();
    // b's address, reserved now, used later.
    let b_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let peer_b = Peer {
        name: "b".into(),
        addr: b_addr,
        host: None,
    };
    rt.block_on(async {
        let a = calm_node::start_with(
            config(&program, "a", vec![peer_b.clone()]),
            options(dir_a.path(), 5),
        )
        .await
        .unwrap();
        for i in 0..20 {
            a.handle
                .insert(vec![("src".into(), vec![Value::Number(i)])])
                .await
                .unwrap();
        }
        // b is not there: everything is owed.
        assert!(a.handle.metrics().unacked.load(Ordering::Relaxed) > 0);
        a.handle.shutdown();
        a.wait().await;
    });
    assert!(stats(dir_a.path()).outbox_batches > 0);
    rt.block_on(async {
        let a = calm_node::start_with(
            config(&program, "a", vec![peer_b.clone()]),
            options(dir_a.path(), 5),
        )
        .await
        .unwrap();
        let peer_a = Peer {
            name: "a".into(),
            addr: a.peer_addr,
            host: None,
        };
        let mut cb = config(&program, "b", vec![peer_a]);
        cb.listen = b_addr;
        let b = calm_node::start(cb).await.unwrap();
        let start = Instant::now();
        while b.handle.query("got", vec![]).await.unwrap().len() < 20 {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "b never got everything"
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        // The acknowledgements are removed from a's store with its next commit.
        while a.handle.metrics().unacked.load(Ordering::Relaxed) > 0 {
            assert!(start.elapsed() < Duration::from_secs(20));
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        a.handle
            .insert(vec![("src".into(), vec![Value::Number(100)])])
            .await
            .unwrap();
        while b.handle.query("got", vec![]).await.unwrap().len() < 21 {
            assert!(start.elapsed() < Duration::from_secs(20));
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        a.handle
            .insert(vec![("src".into(), vec![Value::Number(100)])])
            .await
            .unwrap();
        a.handle.shutdown();
        a.wait().await;
        b.handle.shutdown();
        b.wait().await;
    });
    assert_eq!(stats(dir_a.path()).outbox_batches, 0);
}

/// Lattice columns in the store: `lww`, `bool` and `counter` values merged over many inserts
/// come back from the disk (log and snapshots) exactly, and keep merging the same way.
#[test]
fn lattice_values_survive_a_restart_and_keep_merging() {
    const LATTICES: &str = r#"
.decl put(k: symbol, t: number, v: symbol)
.decl reg(k: symbol, t: lww, w: symbol, v: symbol)
.persist reg
reg(k, t, me, v) :- put(k, t, v), $self(me).
.decl flag(k: symbol, on: bool)
.persist flag
flag(k, t % 3) :- put(k, t, _).
.decl hits(k: symbol, n: counter)
.persist hits
hits(k, t - 20) :- put(k, t, _).
.decl high(k: symbol)
high(k) :- hits(k, n), n >= 15.
"#;
    let program = Program::compile("l.dl", LATTICES).unwrap();
    let put = |i: i64| {
        // Timestamps go up and down: a later insert may lose to an earlier one.
        let t = (i * 37) % 41;
        vec![(
            "put".to_string(),
            vec![
                Value::Symbol(format!("k{}", i % 4)),
                Value::Number(t),
                Value::Symbol(format!("v{i}")),
            ],
        )]
    };
    let state = |h: &NodeHandle| {
        let h = h.clone();
        async move {
            let mut rels = Vec::new();
            for r in ["reg", "flag", "hits", "high"] {
                rels.push(h.query(r, vec![]).await.unwrap());
            }
            rels
        }
    };
    let rt = rt();
    for every in [1, 7, 1000] {
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let reference = calm_node::start(config(&program, "n1", vec![]))
                .await
                .unwrap();
            let node =
                calm_node::start_with(config(&program, "n1", vec![]), options(dir.path(), every))
                    .await
                    .unwrap();
            for i in 0..40 {
                reference.handle.insert(put(i)).await.unwrap();
                node.handle.insert(put(i)).await.unwrap();
            }
            let before = state(&node.handle).await;
            assert_eq!(before, state(&reference.handle).await);
            // Four keys, one row each: the largest timestamp's value, or'd flags, the largest
            // count (never below 0).
            assert_eq!(before[0].len(), 4);
            assert_eq!(before[1].len(), 4);
            assert_eq!(before[2].len(), 4);
            for row in &before[2] {
                assert!(matches!(row[1], Value::Number(n) if (0..=20).contains(&n)));
            }
            node.handle.shutdown();
            node.wait().await;
            let node =
                calm_node::start_with(config(&program, "n1", vec![]), options(dir.path(), every))
                    .await
                    .unwrap();
            assert_eq!(state(&node.handle).await, before, "snapshot every {every}");
            for i in 40..60 {
                reference.handle.insert(put(i)).await.unwrap();
                node.handle.insert(put(i)).await.unwrap();
            }
            assert_eq!(
                state(&node.handle).await,
                state(&reference.handle).await,
                "snapshot every {every}"
            );
            node.handle.shutdown();
            node.wait().await;
            reference.handle.shutdown();
        });
    }
}
