//! Authentication and limits on live in-process nodes: the cluster secret (right, wrong, none,
//! a replayed handshake), the client token, idle timeouts and connection limits.

use calm_engine::{Program, Value};
use calm_node::http::HttpOptions;
use calm_node::wire::{self, Frame, PROTOCOL_VERSION};
use calm_node::{Limits, Node, NodeConfig, NodeOptions, Peer, Secret};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PROGRAM: &str = ".decl src(x: number)\n.decl msg(n: symbol, x: number)\n.persist got\n\
                       got(x) :- msg(_, x).\n\
                       msg(@n, x)@async :- src(x), $member(n), $self(me), n != me.\n";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn secret(s: &str) -> Option<Secret> {
    Some(Secret::new(s).unwrap())
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn node(name: &str, listen: SocketAddr, peers: Vec<Peer>, s: Option<Secret>) -> Node {
    calm_node::start_with(
        NodeConfig {
            name: name.into(),
            listen,
            peers,
            program: Program::compile("p.dl", PROGRAM).unwrap(),
            limits: Limits {
                handshake_timeout: Duration::from_millis(500),
                ..Limits::default()
            },
        },
        NodeOptions {
            cluster_secret: s,
            ..NodeOptions::default()
        },
    )
    .await
    .unwrap()
}

fn src(x: i64) -> Vec<(String, Vec<Value>)> {
    vec![("src".into(), vec![Value::Number(x)])]
}

async fn got(n: &Node) -> usize {
    n.handle.query("got", vec![]).await.unwrap().len()
}

async fn wait_until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < Duration::from_secs(15), "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two nodes a (dials) and b; returns how many facts b received from a, and the auth failures
/// counted on each side, after a has sent one.
fn pair(sa: Option<Secret>, sb: Option<Secret>) -> (usize, u64, u64) {
    rt().block_on(async {
        let (aa, ab) = (free_addr(), free_addr());
        let a = node(
            "a",
            aa,
            vec![Peer {
                name: "b".into(),
                addr: ab,
                host: None,
            }],
            sa,
        )
        .await;
        let b = node(
            "b",
            ab,
            vec![Peer {
                name: "a".into(),
                addr: aa,
                host: None,
            }],
            sb,
        )
        .await;
        a.handle.insert(src(1)).await.unwrap();
        let fails = |n: &Node| n.handle.metrics().auth_failures.load(Ordering::Relaxed);
        let start = Instant::now();
        loop {
            if got(&b).await > 0
                || (fails(&a) + fails(&b) > 1 && start.elapsed() > Duration::from_millis(800))
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "neither delivered nor refused"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let r = (got(&b).await, fails(&a), fails(&b));
        a.handle.shutdown();
        b.handle.shutdown();
        r
    })
}

#[test]
fn peers_need_the_cluster_secret() {
    let s = "the cluster secret, 32 bytes ok";
    let (n, fa, fb) = pair(secret(s), secret(s));
    assert_eq!((n, fa, fb), (1, 0, 0));
    // Another secret: a refuses b's proof (and b never sees a valid Auth).
    let (n, fa, _) = pair(secret(s), secret("another secret of some length"));
    assert_eq!(n, 0);
    assert!(fa > 0);
    // No secret at a: b refuses it.
    let (n, _, fb) = pair(None, secret(s));
    assert_eq!(n, 0);
    assert!(fb > 0);
    // No secret at b: a refuses it.
    let (n, fa, _) = pair(secret(s), None);
    assert_eq!(n, 0);
    assert!(fa > 0);
}

/// Forwards a → b, recording what a sends.
fn recording_proxy(to: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let record = Arc::new(Mutex::new(Vec::new()));
    let rec = record.clone();
    std::thread::spawn(move || {
        // The first connection only: a later one would mix its bytes in.
        let Ok((mut client, _)) = l.accept() else {
            return;
        };
        let Ok(mut server) = TcpStream::connect(to) else {
            return;
        };
        let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut s2, &mut c2);
        });
        let mut buf = [0u8; 4096];
        loop {
            match client.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    rec.lock().unwrap().extend_from_slice(&buf[..n]);
                    if server.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    });
    (addr, record)
}

#[test]
fn a_replayed_handshake_is_refused_before_any_fact() {
    let s = "the cluster secret, 32 bytes ok";
    rt().block_on(async {
        let (aa, ab) = (free_addr(), free_addr());
        let (proxy, record) = recording_proxy(ab);
        // b first: the proxy forwards a's first connection only.
        let b = node(
            "b",
            ab,
            vec![Peer {
                name: "a".into(),
                addr: aa,
                host: None,
            }],
            secret(s),
        )
        .await;
        let a = node(
            "a",
            aa,
            vec![Peer {
                name: "b".into(),
                addr: proxy,
                host: None,
            }],
            secret(s),
        )
        .await;
        for i in 0..3 {
            a.handle.insert(src(i)).await.unwrap();
        }
        wait_until("b never got a's facts", async || got(&b).await == 3).await;
        let recorded = record.lock().unwrap().clone();
        assert!(recorded.len() > 100);
        let facts_in = b.handle.metrics().facts_in.load(Ordering::Relaxed);
        let fails = b.handle.metrics().auth_failures.load(Ordering::Relaxed);
        // Replay a's whole conversation (handshake and batches) to b.
        let mut conn = tokio::net::TcpStream::connect(ab).await.unwrap();
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let _ = conn.write_all(&recorded).await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut sink)).await;
        wait_until("the replay was not counted", async || {
            b.handle.metrics().auth_failures.load(Ordering::Relaxed) == fails + 1
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            b.handle.metrics().facts_in.load(Ordering::Relaxed),
            facts_in,
            "facts of the replayed connection were ingested"
        );
        a.handle.shutdown();
        b.handle.shutdown();
    });
}

fn framed(frame: &Frame) -> Vec<u8> {
    let payload = wire::encode(frame).unwrap();
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend(payload);
    out
}

#[test]
fn a_peer_without_the_secret_is_closed_before_its_batch_is_read() {
    rt().block_on(async {
        let b = node(
            "b",
            free_addr(),
            vec![Peer {
                name: "a".into(),
                addr: "127.0.0.1:9".parse().unwrap(),
                host: None,
            }],
            secret("the cluster secret, 32 bytes ok"),
        )
        .await;
        let hello = Frame::Hello {
            version: PROTOCOL_VERSION,
            node: "a".into(),
            incarnation: 1,
            nonce: vec![7; 32],
            proof: vec![],
        };
        let mut bytes = framed(&hello);
        bytes.extend(framed(&Frame::Auth { proof: vec![0; 32] }));
        bytes.extend(framed(&Frame::Batch {
            seq: 1,
            facts: vec![wire::WireFact {
                relation: "msg".into(),
                tuple: vec![
                    wire::WireValue::Symbol("b".into()),
                    wire::WireValue::Number(9),
                ],
            }],
        }));
        let mut conn = tokio::net::TcpStream::connect(b.peer_addr).await.unwrap();
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let _ = conn.write_all(&bytes).await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut sink)).await;
        wait_until("not counted", async || {
            b.handle.metrics().auth_failures.load(Ordering::Relaxed) == 1
        })
        .await;
        assert_eq!(b.handle.metrics().facts_in.load(Ordering::Relaxed), 0);
        assert_eq!(got(&b).await, 0);
        b.handle.shutdown();
    });
}

/// A node with its HTTP API, with `limits` and `token`.
fn http_node(
    rt: &tokio::runtime::Runtime,
    limits: Limits,
    token: Option<Secret>,
) -> (Node, SocketAddr) {
    rt.block_on(async {
        let node = calm_node::start(NodeConfig {
            name: "n1".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            peers: vec![Peer {
                name: "n2".into(),
                addr: "127.0.0.1:9".parse().unwrap(),
                host: None,
            }],
            program: Program::compile("p.dl", PROGRAM).unwrap(),
            limits,
        })
        .await
        .unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(calm_node::http::serve_with(
            l,
            node.handle.clone(),
            HttpOptions {
                max_body: 1 << 20,
                token,
            },
            std::future::pending(),
        ));
        (node, addr)
    })
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut b = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if let Some(a) = auth {
        b = b.header("Authorization", a);
    }
    let mut r = if method == "POST" {
        agent.run(b.body(body.to_string()).unwrap()).unwrap()
    } else {
        agent.run(b.body(()).unwrap()).unwrap()
    };
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

#[test]
fn the_client_api_needs_the_token() {
    let rt = rt();
    let token = "client token of some length";
    let (node, addr) = http_node(&rt, Limits::default(), secret(token));
    let good = format!("Bearer {token}");
    for (method, path, body) in [
        ("POST", "/v1/facts", "src(1)."),
        ("GET", "/v1/relations/got", ""),
        ("GET", "/v1/status", ""),
        ("GET", "/metrics", ""),
        ("GET", "/v1/nothing", ""),
    ] {
        for bad in [
            None,
            Some("Bearer wrong token of some length"),
            Some(token),
            Some("Basic x"),
        ] {
            let (status, text) = request(addr, method, path, bad, body);
            assert_eq!(status, 401, "{method} {path} with {bad:?}: {text}");
            assert!(text.contains("bearer token"), "{text}");
        }
    }
    let (status, text) = request(addr, "POST", "/v1/facts", Some(&good), "src(1).");
    assert_eq!(status, 200, "{text}");
    let (status, _) = request(addr, "GET", "/v1/status", Some(&good), "");
    assert_eq!(status, 200);
    // /health stays open, for probes.
    let (status, _) = request(addr, "GET", "/health", None, "");
    assert_eq!(status, 200);
    assert_eq!(
        node.handle
            .metrics()
            .unauthorized_requests
            .load(Ordering::Relaxed),
        20
    );
    // The refused insert was not ingested: only the authorised one was.
    assert_eq!(
        node.handle.metrics().facts_inserted.load(Ordering::Relaxed),
        1
    );
    node.handle.shutdown();
}

/// Reads until the peer closes; the time it took.
fn time_to_close(s: &mut TcpStream) -> Duration {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                return start.elapsed();
            }
            Err(e) => panic!("not closed: {e}"),
        }
    }
}

#[test]
fn idle_and_excess_http_connections_are_closed() {
    let rt = rt();
    let limits = Limits {
        http_idle_timeout: Duration::from_millis(300),
        max_http_connections: 2,
        ..Limits::default()
    };
    let (node, addr) = http_node(&rt, limits, None);
    // Silent: closed after the idle timeout.
    let mut idle = TcpStream::connect(addr).unwrap();
    let t = time_to_close(&mut idle);
    assert!(
        t >= Duration::from_millis(250) && t < Duration::from_secs(5),
        "{t:?}"
    );
    // A request sent slowly, byte by byte, but never finished within the idle time: closed.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHo").unwrap();
    let t = time_to_close(&mut slow);
    assert!(t < Duration::from_secs(5), "{t:?}");
    // Two connections held open: a third is closed at once.
    let _a = TcpStream::connect(addr).unwrap();
    let _b = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut c = TcpStream::connect(addr).unwrap();
    let _ = c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    let t = time_to_close(&mut c);
    assert!(t < Duration::from_millis(250), "{t:?}");
    assert!(
        node.handle
            .metrics()
            .closed_connections
            .load(Ordering::Relaxed)
            >= 3
    );
    // Once they time out, requests are served again.
    std::thread::sleep(Duration::from_millis(500));
    let (status, _) = request(addr, "GET", "/health", None, "");
    assert_eq!(status, 200);
    node.handle.shutdown();
}

#[test]
fn an_idle_peer_connection_is_closed() {
    let rt = rt();
    let limits = Limits {
        peer_idle_timeout: Duration::from_millis(400),
        ..Limits::default()
    };
    let (node, _) = http_node(&rt, limits, None);
    // A member that completes the handshake, then says nothing.
    let mut s = TcpStream::connect(node.peer_addr).unwrap();
    s.write_all(&framed(&Frame::Hello {
        version: PROTOCOL_VERSION,
        node: "n2".into(),
        incarnation: 1,
        nonce: vec![1; 32],
        proof: vec![],
    }))
    .unwrap();
    s.write_all(&framed(&Frame::Auth { proof: vec![] }))
        .unwrap();
    let t = time_to_close(&mut s);
    assert!(
        t >= Duration::from_millis(300) && t < Duration::from_secs(5),
        "{t:?}"
    );
    rt.block_on(async {
        wait_until("not counted", async || {
            node.handle
                .metrics()
                .closed_connections
                .load(Ordering::Relaxed)
                >= 1
        })
        .await;
    });
    node.handle.shutdown();
}
