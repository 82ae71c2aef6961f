//! Three nodes in one process on loopback: the deadlock detector converges.

use calm_engine::{Engine, Program, Value};
use calm_node::{Limits, NodeConfig, Peer, start};
use std::time::{Duration, Instant};

const PROGRAM: &str = include_str!("../../../programs/deadlock.dl");

fn sym(s: &str) -> Value {
    Value::Symbol(s.to_string())
}

fn free_port() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
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
