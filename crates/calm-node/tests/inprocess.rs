//! Nodes in one process on loopback: three find the deadlocks one finds; a peer given by
//! name is found by resolving the name when dialing.

use calm_engine::{Engine, Program, Value};
use calm_node::{Limits, NodeConfig, Peer, start};
use std::time::{Duration, Instant};

const PROGRAM: &str = include_str!("../../../programs/deadlock.dl");

fn sym(s: &str) -> Value {
    Value::Symbol(s.to_string())
}

/// A free port on 127.0.0.1 for a node to bind later, never the same twice in this process and
/// below Linux's ephemeral range: a port from `bind(0)`, released, can be handed out again to
/// the next test or taken by an outgoing connection before the node binds it (seen as
/// "Address already in use" with the tests running in parallel).
fn free_port() -> std::net::SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let seed = std::process::id().wrapping_mul(2_654_435_761);
    let _ = NEXT.compare_exchange(u32::MAX, seed % SPAN, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return l.local_addr().unwrap();
        }
    }
    panic!("no free port between {LOW} and {}", LOW + SPAN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_find_the_same_deadlocks_as_one() {
    // Program facts would be on every node; use only inserted edges.
    let text: String = PROGRAM
        .lines()
        .filter(|l| !l.starts_with("waits(\""))
        .collect::<Vec<_>>()
        .join("\n");
    let program = Program::compile("deadlock.dl", &text).unwrap();
    let names = ["n1", "n2", "n3"];
    let addrs: Vec<_> = names.iter().map(|_| free_port()).collect();
    let mut nodes = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let peers = names
            .iter()
            .zip(&addrs)
            .filter(|(n, _)| *n != name)
            .map(|(n, a)| Peer {
                name: n.to_string(),
                addr: *a,
                host: None,
            })
            .collect();
        let node = start(NodeConfig {
            name: name.to_string(),
            listen: addrs[i],
            peers,
            program: program.clone(),
            limits: Limits::default(),
        })
        .await
        .unwrap();
        nodes.push(node);
    }
    let edges = [
        ("t1", "t2", 0),
        ("t2", "t1", 0),
        ("t3", "t4", 0),
        ("t4", "t5", 1),
        ("t5", "t3", 2),
        ("t6", "t1", 2),
    ];
    for (a, b, at) in edges {
        nodes[at]
            .handle
            .insert(vec![("waits".into(), vec![sym(a), sym(b)])])
            .await
            .unwrap();
    }
    // The same facts on one engine.
    let mut engine = Engine::new(&program);
    engine
        .insert(
            "waits",
            edges.iter().map(|(a, b, _)| vec![sym(a), sym(b)]).collect(),
        )
        .unwrap();
    engine.run().unwrap();
    let expected = engine.relation("deadlocked").unwrap();
    assert_eq!(expected.len(), 5);
    let deadline = Instant::now() + Duration::from_secs(20);
    for node in &nodes {
        loop {
            let got = node.handle.query("deadlocked", vec![]).await.unwrap();
            if got == expected {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} has {got:?}, expected {expected:?}",
                node.handle.name()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let status = nodes[0].handle.status().await.unwrap();
    assert!(status.peers.iter().all(|p| p.connected), "{status:?}");
    // n1 sent each peer at least its own two edges, and records them (to send again to a peer
    // that restarts without its state).
    for p in &status.peers {
        assert!(p.history_facts >= 2 && p.history_bytes > 0, "{p:?}");
    }
    let metrics = nodes[0].handle.metrics_text();
    assert!(
        metrics.contains("calm_peer_history_facts{node=\"n1\",peer=\"n2\"}"),
        "{metrics}"
    );
    for node in nodes {
        node.handle.shutdown();
        node.wait().await;
    }
}

/// A peer given by name is resolved at every connection attempt, not only at start: here the
/// address resolved at start is wrong (nothing listens there) and the name is right, so the
/// link comes up only if dialing resolves the name again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_name_is_resolved_again_when_dialing() {
    let program = Program::compile(
        "p.dl",
        ".decl src(x: symbol)\n.persist got\ngot(x) :- msg(_, x).\nmsg(@n, x)@async :- src(x), $member(n).\n",
    )
    .unwrap();
    let (a1, a2) = (free_port(), free_port());
    let stale = free_port();
    // n1 < n2: n1 dials.
    let n1 = start(NodeConfig {
        name: "n1".into(),
        listen: a1,
        peers: vec![Peer {
            name: "n2".into(),
            addr: stale,
            host: Some(format!("localhost:{}", a2.port())),
        }],
        program: program.clone(),
        limits: Limits::default(),
    })
    .await
    .unwrap();
    let n2 = start(NodeConfig {
        name: "n2".into(),
        listen: a2,
        peers: vec![Peer {
            name: "n1".into(),
            addr: a1,
            host: None,
        }],
        program,
        limits: Limits::default(),
    })
    .await
    .unwrap();
    n1.handle
        .insert(vec![("src".into(), vec![sym("x")])])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = n2.handle.query("got", vec![]).await.unwrap();
        if got == vec![vec![sym("x")]] {
            break;
        }
        assert!(Instant::now() < deadline, "n2 has {got:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The status shows the peer as configured.
    let status = n1.handle.status().await.unwrap();
    assert_eq!(status.peers[0].addr, format!("localhost:{}", a2.port()));
    for node in [n1, n2] {
        node.handle.shutdown();
        node.wait().await;
    }
}
