//! HTTP hardening and "say what is wrong" (issue 13) on live in-process nodes, 127.0.0.1 only:
//! slow request heads, connections per IP address, an oversized `Content-Length`, invalid
//! percent-escapes; and the status's `warnings` (peers that never connected, nodes not in the
//! peer list, member lists that differ, setup warnings).
//!
//! Every wait is a polling loop with a generous deadline; nothing asserts a duration.

use calm_engine::Program;
use calm_node::http::HttpOptions;
use calm_node::wire::{self, Frame, PROTOCOL_VERSION};
use calm_node::{Limits, Node, NodeConfig, NodeHandle, Peer};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const PROGRAM: &str = ".decl edge(a: number, b: symbol)\n.persist edge\n\
                       .decl msg(n: symbol, x: number)\n.persist got\n\
                       got(x) :- msg(_, x).\n\
                       msg(@n, a)@async :- edge(a, _), $member(n), $self(me), n != me.\n";

const DEADLINE: Duration = Duration::from_secs(30);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn start(name: &str, listen: SocketAddr, peers: Vec<Peer>, limits: Limits) -> Node {
    calm_node::start(NodeConfig {
        name: name.into(),
        listen,
        peers,
        program: Program::compile("p.dl", PROGRAM).unwrap(),
        limits,
    })
    .await
    .unwrap()
}

fn peer(name: &str, addr: SocketAddr) -> Peer {
    Peer {
        name: name.into(),
        addr,
        host: None,
    }
}

/// A node without peers and its HTTP API, with `limits` and a body limit of `max_body`.
fn http_node(rt: &tokio::runtime::Runtime, limits: Limits, max_body: usize) -> (Node, SocketAddr) {
    rt.block_on(async {
        let node = start("n1", "127.0.0.1:0".parse().unwrap(), vec![], limits).await;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(calm_node::http::serve_with(
            l,
            node.handle.clone(),
            HttpOptions {
                max_body,
                token: None,
            },
            std::future::pending(),
        ));
        (node, addr)
    })
}

/// Sends `request` on a new connection and reads until the server closes it or `wait` passes:
/// what arrived, and whether the server closed the connection.
fn exchange(addr: SocketAddr, request: &[u8], wait: Duration) -> (String, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    let _ = s.write_all(request);
    read_until_closed(&mut s, wait)
}

fn read_until_closed(s: &mut TcpStream, wait: Duration) -> (String, bool) {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                break true;
            }
            Err(_) if start.elapsed() < wait => {}
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

/// `GET /health` on a new connection: its status, or none if the connection was refused,
/// closed or did not answer within a few seconds.
fn health(addr: SocketAddr) -> Option<u16> {
    let (text, _) = exchange(
        addr,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(3),
    );
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

fn poll(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < DEADLINE, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A slowloris client: opens a connection and sends a request head one line at a time, every
/// `every`, never finishing it, until the server closes the connection or `stop` is set.
fn slowloris(addr: SocketAddr, every: Duration, stop: Arc<AtomicBool>) {
    let mut s = TcpStream::connect(addr).unwrap();
    std::thread::spawn(move || {
        if s.write_all(b"GET /health HTTP/1.1\r\n").is_err() {
            return;
        }
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(every);
            i += 1;
            if s.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .is_err()
            {
                return;
            }
        }
    });
}

#[test]
fn slow_request_heads_cannot_hold_the_api() {
    let rt = rt();
    let limits = Limits {
        max_http_connections: 4,
        http_header_timeout: Duration::from_millis(500),
        // Traffic keeps coming on every connection: the idle timeout never fires.
        http_idle_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let (node, addr) = http_node(&rt, limits, 1 << 20);
    let stop = Arc::new(AtomicBool::new(false));
    // Every connection slot taken by a client that sends one header line every 100 ms.
    for _ in 0..4 {
        slowloris(addr, Duration::from_millis(100), stop.clone());
    }
    // Their heads take too long: they are closed, and the API answers again (without the
    // header timeout, /health stays unreachable as long as they go on).
    poll("/health never became reachable", || {
        health(addr) == Some(200)
    });
    stop.store(true, Ordering::Relaxed);
    let m = node.handle.metrics();
    assert!(m.http_header_timeouts.load(Ordering::Relaxed) >= 1);
    assert!(
        node.handle
            .metrics_text()
            .contains("calm_http_header_timeouts_total")
    );
    node.handle.shutdown();
}

#[test]
fn connections_over_the_per_ip_limit_are_closed_at_once() {
    let rt = rt();
    let limits = Limits {
        max_http_connections_per_ip: 2,
        max_http_connections: 100,
        ..Limits::default()
    };
    let (node, addr) = http_node(&rt, limits, 1 << 20);
    let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // The server accepts in order: once it has seen a request on a later connection it has
    // counted the held ones.
    std::thread::sleep(Duration::from_millis(100));
    let (text, closed) = exchange(
        addr,
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(closed, "the third connection from 127.0.0.1 was kept open");
    assert!(text.is_empty(), "the third connection was served: {text}");
    let m = node.handle.metrics();
    assert_eq!(m.http_per_ip_rejections.load(Ordering::Relaxed), 1);
    assert!(m.closed_connections.load(Ordering::Relaxed) >= 1);
    assert!(
        node.handle
            .metrics_text()
            .contains("calm_http_per_ip_rejections_total{node=\"n1\"} 1")
    );
    // Once those close, the address may connect again.
    drop(held);
    poll(
        "/health not served after the held connections closed",
        || health(addr) == Some(200),
    );
    node.handle.shutdown();
}

#[test]
fn an_oversized_content_length_is_refused_before_the_body_is_read() {
    let rt = rt();
    let (node, addr) = http_node(&rt, Limits::default(), 1024);
    // A terabyte announced, nothing sent: the answer cannot wait for the body.
    for path in ["/v1/facts", "/v1/relations/edge", "/v1/status"] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 1000000000000\r\n\r\n"
        );
        let (text, closed) = exchange(addr, request.as_bytes(), Duration::from_secs(10));
        assert!(
            text.starts_with("HTTP/1.1 413"),
            "POST {path}: no 413 without the body: {text:?}"
        );
        let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        let msg = json["error"].as_str().unwrap();
        assert!(msg.contains("exceeds") && msg.contains("1024"), "{msg}");
        assert!(closed, "the connection with an unread body stays open");
    }
    // Within the limit: served as before.
    let body = "[[1, \"a\"]]";
    let request = format!(
        "POST /v1/relations/edge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (text, _) = exchange(addr, request.as_bytes(), Duration::from_secs(10));
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    node.handle.shutdown();
}

#[test]
fn invalid_percent_escapes_in_filters_are_400() {
    let rt = rt();
    let (node, addr) = http_node(&rt, Limits::default(), 1 << 20);
    rt.block_on(async {
        node.handle
            .insert(vec![(
                "edge".into(),
                vec![
                    calm_engine::Value::Number(1),
                    calm_engine::Value::Symbol("a b%".into()),
                ],
            )])
            .await
            .unwrap();
    });
    let get = |query: &str| {
        let request = format!(
            "GET /v1/relations/edge?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
        let (text, _) = exchange(addr, request.as_bytes(), Duration::from_secs(10));
        let status: u16 = text[9..12].parse().unwrap();
        let body = text[text.find("\r\n\r\n").unwrap() + 4..].to_string();
        (status, body)
    };
    for (query, part) in [
        ("b=%zz", "invalid percent-escape `%zz`"),
        ("b=a%2", "invalid percent-escape `%2`"),
        ("b=%", "invalid percent-escape"),
        ("b%g0=x", "invalid percent-escape `%g0`"),
        ("b=%ff", "UTF-8"),
        ("a=1&b=%C3", "UTF-8"),
    ] {
        let (status, body) = get(query);
        assert_eq!(status, 400, "?{query}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let msg = json["error"].as_str().unwrap();
        assert!(msg.contains(part), "?{query}: {msg}");
    }
    // Valid escapes still filter.
    let (status, body) = get("b=a+b%25&a=1");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("[1,\"a b%\"]"), "{body}");
    let (status, body) = get("b=a%20c");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"rows\":[]"), "{body}");
    node.handle.shutdown();
}

async fn warnings(h: &NodeHandle) -> Vec<String> {
    h.status().await.unwrap().warnings
}

async fn wait_for_warning(h: &NodeHandle, what: &str, f: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        if let Some(w) = warnings(h).await.into_iter().find(|w| f(w)) {
            return w;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{what}: warnings {:?}",
            warnings(h).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn grace(ms: u64) -> Limits {
    Limits {
        peer_connect_grace: Duration::from_millis(ms),
        ..Limits::default()
    }
}

#[test]
fn a_peer_that_never_connected_is_reported_until_it_does() {
    rt().block_on(async {
        let (a1, a2) = (free_addr(), free_addr());
        let n1 = start("n1", a1, vec![peer("n2", a2)], grace(300)).await;
        let w = wait_for_warning(&n1.handle, "n2 not reported", |w| {
            w.contains("`n2`") && w.contains("has not connected")
        })
        .await;
        assert!(w.contains(&a2.to_string()), "{w}");
        assert_eq!(n1.handle.warnings(), warnings(&n1.handle).await);
        // n2 comes up with the same members: the warning goes, and no other comes.
        let n2 = start("n2", a2, vec![peer("n1", a1)], grace(300)).await;
        let start = Instant::now();
        while !warnings(&n1.handle).await.is_empty() || !warnings(&n2.handle).await.is_empty() {
            assert!(
                start.elapsed() < DEADLINE,
                "{:?} {:?}",
                warnings(&n1.handle).await,
                warnings(&n2.handle).await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        n1.handle.shutdown();
        n2.handle.shutdown();
    });
}

fn framed(frame: &Frame) -> Vec<u8> {
    let payload = wire::encode(frame).unwrap();
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend(payload);
    out
}

#[test]
fn a_node_not_in_the_peer_list_is_refused_and_reported() {
    rt().block_on(async {
        let n1 = start(
            "n1",
            free_addr(),
            vec![peer("n2", "127.0.0.1:9".parse().unwrap())],
            Limits::default(),
        )
        .await;
        let mut s = tokio::net::TcpStream::connect(n1.peer_addr).await.unwrap();
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        s.write_all(&framed(&Frame::Hello {
            version: PROTOCOL_VERSION,
            node: "n9\u{7}".into(),
            incarnation: 1,
            nonce: vec![1; 32],
            proof: vec![],
        }))
        .await
        .unwrap();
        let local = s.local_addr().unwrap();
        // Refused: closed without an answer.
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut sink)).await;
        assert!(sink.is_empty());
        let w = wait_for_warning(&n1.handle, "the stranger was not reported", |w| {
            w.contains("not in this node's peer list")
        })
        .await;
        // Its name, escaped, and where it came from.
        assert!(w.contains("\"n9\\u{7}\""), "{w}");
        assert!(w.contains(&local.to_string()), "{w}");
        n1.handle.shutdown();
    });
}

#[test]
fn member_lists_that_differ_are_reported_on_both_sides() {
    rt().block_on(async {
        let (aa, ab) = (free_addr(), free_addr());
        // b also lists c (which is not running); a does not.
        let a = start("a", aa, vec![peer("b", ab)], Limits::default()).await;
        let b = start(
            "b",
            ab,
            vec![peer("a", aa), peer("c", "127.0.0.1:9".parse().unwrap())],
            Limits::default(),
        )
        .await;
        let wa = wait_for_warning(&a.handle, "a did not see the mismatch", |w| {
            w.contains("another member list")
        })
        .await;
        assert!(
            wa.contains("`b`") && wa.contains("only it lists: \"c\""),
            "{wa}"
        );
        let wb = wait_for_warning(&b.handle, "b did not see the mismatch", |w| {
            w.contains("another member list")
        })
        .await;
        assert!(
            wb.contains("`a`") && wb.contains("only this node lists: \"c\""),
            "{wb}"
        );
        // Facts still flow: the warning says what is wrong, it does not cut the link.
        a.handle
            .insert(vec![(
                "edge".into(),
                vec![
                    calm_engine::Value::Number(7),
                    calm_engine::Value::Symbol("x".into()),
                ],
            )])
            .await
            .unwrap();
        let start = Instant::now();
        while b.handle.query("got", vec![]).await.unwrap().is_empty() {
            assert!(start.elapsed() < DEADLINE, "b never got a's fact");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        a.handle.shutdown();
        b.handle.shutdown();
    });
}

#[test]
fn setup_warnings_are_in_the_status_over_http() {
    let rt = rt();
    let (node, addr) = http_node(&rt, Limits::default(), 1 << 20);
    node.handle
        .add_warning("--insecure: the client API 0.0.0.0:8001 is not a loopback address");
    let (text, _) = exchange(
        addr,
        b"GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        json["warnings"],
        serde_json::json!(["--insecure: the client API 0.0.0.0:8001 is not a loopback address"])
    );
    node.handle.shutdown();
}

/// An API with a bearer token.
fn http_node_with_token(rt: &tokio::runtime::Runtime, token: &str) -> (Node, SocketAddr) {
    rt.block_on(async {
        let node = start(
            "n1",
            "127.0.0.1:0".parse().unwrap(),
            vec![],
            Limits::default(),
        )
        .await;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(calm_node::http::serve_with(
            l,
            node.handle.clone(),
            HttpOptions {
                max_body: 1 << 20,
                token: Some(calm_node::auth::Secret::new(token).unwrap()),
            },
            std::future::pending(),
        ));
        (node, addr)
    })
}

/// `POST /v1/facts` with `body`, its length given (`Content-Length`: the short path of puts) or
/// not (chunked: the router): the status, the `Content-Type` and the body, its tick number
/// replaced by `T` (each insert is another tick).
fn post_facts(
    addr: SocketAddr,
    headers: &str,
    body: &str,
    with_length: bool,
) -> (u16, String, String) {
    let framing = if with_length {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    } else if body.is_empty() {
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_string()
    } else {
        format!(
            "Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        )
    };
    let request =
        format!("POST /v1/facts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}{framing}");
    let (text, _) = exchange(addr, request.as_bytes(), Duration::from_secs(10));
    let status: u16 = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {text:?}"));
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    // A chunked answer (none is expected): its chunks joined.
    let mut body = rest.to_string();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut joined = String::new();
        let mut r = rest;
        while let Some((size, after)) = r.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            joined.push_str(&after[..n]);
            r = &after[n + 2..];
        }
        body = joined;
    }
    let tick = body
        .find("\"tick\":")
        .map(|i| i + "\"tick\":".len())
        .map(|i| {
            let end = body[i..].find('}').map_or(body.len(), |e| i + e);
            format!("{}T{}", &body[..i], &body[end..])
        });
    (status, content_type, tick.unwrap_or(body))
}

/// Puts with a `Content-Length` are answered without the router's per-request layers; they
/// must be answered exactly as the router answers the same request (chunked, so it takes the
/// router's path): every body, error and content type alike, and the token is still required.
#[test]
fn puts_with_a_length_are_answered_as_the_router_answers_them() {
    let rt = rt();
    let (node, addr) = http_node(&rt, Limits::default(), 1 << 20);
    let json = "Content-Type: application/json\r\n";
    let text = "Content-Type: text/plain\r\n";
    let cases: [(&str, &str, u16); 11] = [
        (text, "edge(1, \"a\").", 200),
        (text, "edge(2, \"b\"). edge(3, \"c\").", 200),
        ("", "edge(4, \"d\").", 200),
        (text, "edge(-5, \"e\") // a comment\n.", 200),
        (text, "edge(1, 2).", 400),
        (text, "nope(1).", 404),
        (text, "edge(1, \"a\")", 400),
        (text, "", 200),
        (json, "{\"edge\": [[6, \"f\"]]}", 200),
        (json, "{\"edge\": [[6]]}", 400),
        (json, "[1", 400),
    ];
    for (headers, body, status) in cases {
        let short = post_facts(addr, headers, body, true);
        let routed = post_facts(addr, headers, body, false);
        assert_eq!(short.0, status, "{body:?}: {short:?}");
        assert_eq!(short, routed, "{body:?}");
    }
    let edges = rt.block_on(node.handle.query("edge", vec![])).unwrap();
    assert_eq!(edges.len(), 6, "{edges:?}");
    // Where the time of an insert goes: one observation per insert answered, per stage.
    let metrics = node.handle.metrics_text();
    for stage in ["parse", "queue", "step", "reply"] {
        let key = format!("calm_insert_{stage}_seconds_count{{node=\"n1\"}} ");
        let n: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&key))
            .unwrap_or_else(|| panic!("{key} missing"))
            .parse()
            .unwrap();
        // 6 inserts answered 200 on each path (the empty one included), each counted once.
        assert_eq!(n, 12, "{stage}");
    }
    node.handle.shutdown();

    // With a token: none or a wrong one is 401 on both paths, the right one is served.
    let (node, addr) = http_node_with_token(&rt, "0123456789abcdef");
    for (auth, status) in [
        ("", 401),
        ("Authorization: Bearer 0123456789abcdeF\r\n", 401),
        ("Authorization: Bearer 0123456789abcdef\r\n", 200),
    ] {
        let headers = format!("{auth}{text}");
        let short = post_facts(addr, &headers, "edge(7, \"g\").", true);
        let routed = post_facts(addr, &headers, "edge(7, \"g\").", false);
        assert_eq!(short.0, status, "{auth:?}: {short:?}");
        assert_eq!(short, routed, "{auth:?}");
    }
    node.handle.shutdown();
}
