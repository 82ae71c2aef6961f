//! Hostile bytes on the peer port of a live node: each connection is closed, counted in
//! `calm_bad_frames_total`, and the node goes on answering `/health`.

use calm_engine::Program;
use calm_node::wire::{self, Frame, PROTOCOL_VERSION};
use calm_node::{Limits, NodeConfig, Peer};
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn framed(frame: &Frame) -> Vec<u8> {
    let payload = wire::encode(frame).unwrap();
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend(payload);
    out
}

/// Sends `bytes` and waits for the node to close the connection.
fn assert_closed(addr: SocketAddr, bytes: &[u8], what: &str) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The node may close before reading everything; a failed write is fine.
    let _ = s.write_all(bytes);
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            // A reply to a valid Hello, or anything the node sent before closing.
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return;
            }
            Err(e) => panic!("{what}: the connection was not closed: {e}"),
        }
    }
}

#[test]
fn garbage_oversized_frames_and_bad_handshakes_are_refused() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let program = Program::compile("t.dl", ".decl p(x: number)\n").unwrap();
    let limits = Limits {
        handshake_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (node, http) = rt.block_on(async {
        let node = calm_node::start(NodeConfig {
            name: "n1".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            // A member that never comes: its link keeps dialing, harmlessly.
            peers: vec![Peer {
                name: "n2".into(),
                addr: "127.0.0.1:9".parse().unwrap(),
                host: None,
            }],
            program,
            limits,
        })
        .await
        .unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = l.local_addr().unwrap();
        tokio::spawn(calm_node::http::serve(
            l,
            node.handle.clone(),
            1 << 20,
            std::future::pending(),
        ));
        (node, http)
    });
    let addr = node.peer_addr;
    let hello = |version, name: &str| Frame::Hello {
        version,
        node: name.into(),
        incarnation: 1,
        nonce: vec![0; 32],
        proof: vec![],
    };
    let mut huge_vec = vec![0, 0, 0, 11];
    // Batch, seq 0, then a vector length of 2^40.
    huge_vec.extend([1u8, 0, 253, 0, 0, 0, 0, 0, 1, 0, 0]);
    let attacks: Vec<(&str, Vec<u8>)> = vec![
        (
            "an HTTP request",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "an oversized length prefix",
            vec![0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        ),
        (
            "garbage in a frame",
            vec![0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef],
        ),
        ("a frame claiming a huge vector", huge_vec),
        (
            "a wrong protocol version",
            framed(&hello(PROTOCOL_VERSION + 1, "n2")),
        ),
        (
            "a batch instead of a handshake",
            framed(&Frame::Ack { seq: 1 }),
        ),
        (
            "a node that is not a member",
            framed(&hello(PROTOCOL_VERSION, "mallory")),
        ),
        ("silence past the handshake timeout", vec![]),
        ("a truncated frame", vec![0, 0, 0, 100, 1, 2]),
    ];
    let bad = || node.handle.metrics().bad_frames.load(Ordering::Relaxed);
    for (i, (what, bytes)) in attacks.iter().enumerate() {
        assert_closed(addr, bytes, what);
        let deadline = Instant::now() + Duration::from_secs(5);
        while bad() < i as u64 + 1 {
            assert!(
                Instant::now() < deadline,
                "{what}: calm_bad_frames_total not counted"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // The node still answers its clients.
    let agent = ureq::agent();
    let health = agent
        .get(format!("http://{http}/health"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(health.contains("\"ok\""), "{health}");
    let metrics = agent
        .get(format!("http://{http}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("calm_bad_frames_total{"))
        .unwrap();
    let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= attacks.len() as u64, "{line}");
    node.handle.shutdown();
}

/// Whether the node answers a member's Hello on a new connection (it took the connection into
/// its handshake) rather than closing it unanswered.
fn answers_hello(addr: SocketAddr) -> bool {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let hello = Frame::Hello {
        version: PROTOCOL_VERSION,
        node: "n2".into(),
        incarnation: 1,
        nonce: vec![0; 32],
        proof: vec![],
    };
    let _ = s.write_all(&framed(&hello));
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(n) => n > 0,
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => false,
        Err(e) => panic!("neither answered nor closed: {e}"),
    }
}

#[test]
fn handshakes_from_one_address_are_limited() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let program = Program::compile("t.dl", ".decl p(x: number)\n").unwrap();
    let limits = Limits {
        max_connections_per_ip: 2,
        // Long: the silent connections below hold their slots for the whole test.
        handshake_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let node = rt.block_on(async {
        calm_node::start(NodeConfig {
            name: "n1".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            peers: vec![Peer {
                name: "n2".into(),
                addr: "127.0.0.1:9".parse().unwrap(),
                host: None,
            }],
            program,
            limits,
        })
        .await
        .unwrap()
    });
    let addr = node.peer_addr;
    let rejected = || {
        node.handle
            .metrics()
            .peer_per_ip_rejections
            .load(Ordering::Relaxed)
    };
    // Two silent connections take this address's two handshake slots ...
    let first = TcpStream::connect(addr).unwrap();
    let _second = TcpStream::connect(addr).unwrap();
    // ... so a third is closed unanswered, and counted (the global limit, 64, is far).
    assert_closed(addr, &[], "a third handshake from the same address");
    assert_eq!(rejected(), 1);
    // A slot given back (the connection closed) takes a new connection, which is answered.
    drop(first);
    let mut answered = false;
    for _ in 0..200 {
        if answers_hello(addr) {
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(
        answered,
        "no handshake slot came back after a connection closed"
    );
    node.handle.shutdown();
}
