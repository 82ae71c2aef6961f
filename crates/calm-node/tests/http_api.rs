//! The client API against a live node started in-process: inserts, queries, filters, status,
//! metrics, health, server-sent events, and bad requests answered with 4xx and a JSON message.

use calm_engine::Program;
use calm_node::{Limits, NodeConfig, NodeHandle};
use serde_json::{Value as Json, json};
use std::io::{BufRead as _, BufReader, Write as _};
use std::time::{Duration, Instant};

struct TestNode {
    rt: tokio::runtime::Runtime,
    handle: NodeHandle,
    base: String,
    agent: ureq::Agent,
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.handle.shutdown();
        // Let the tick loop see the stop before the runtime goes.
        let _ = self.rt.block_on(self.handle.status());
    }
}

fn start(src: &str, limits: Limits, max_body: usize) -> TestNode {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let program = Program::compile("test.dl", src).unwrap();
    let (handle, base) = rt.block_on(async {
        let node = calm_node::start(NodeConfig {
            name: "n1".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            peers: vec![],
            program,
            limits,
        })
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = node.handle.clone();
        tokio::spawn(calm_node::http::serve(
            listener,
            handle.clone(),
            max_body,
            std::future::pending(),
        ));
        (handle, base)
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    TestNode {
        rt,
        handle,
        base,
        agent,
    }
}

impl TestNode {
    fn finish(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, String) {
        let mut r = r.unwrap();
        let status = r.status().as_u16();
        (status, r.body_mut().read_to_string().unwrap())
    }

    fn get(&self, path: &str) -> (u16, String) {
        Self::finish(self.agent.get(format!("{}{path}", self.base)).call())
    }

    fn post(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) -> (u16, String) {
        let body: Vec<u8> = body.into();
        Self::finish(
            self.agent
                .post(format!("{}{path}", self.base))
                .content_type(content_type)
                .send(&body[..]),
        )
    }

    fn json(&self, path: &str) -> Json {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn rows(&self, path: &str) -> Json {
        self.json(path)["rows"].clone()
    }
}

// Inserted facts are events of one tick; `.persist` keeps them.
const PROGRAM: &str = r#"
.decl edge(a: number, b: symbol)
.persist edge
.decl out(a: number, b: symbol)
.output out
out(a, b) :- edge(a, b), $self(_).
.decl d(x: number)
.persist d
.decl q(y: number)
q(y) :- d(x), y = 10 / x.
"#;

#[test]
fn insert_then_query_with_filters() {
    let n = start(PROGRAM, Limits::default(), 1 << 20);
    let (status, body) = n.post(
        "/v1/relations/edge",
        "application/json",
        r#"[[1, "a"], [2, "b"], [-3, "c"]]"#,
    );
    assert_eq!(status, 200, "{body}");
    let answer: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["inserted"], 3);
    assert!(answer["tick"].as_u64().unwrap() >= 1);
    // The insert is answered after its tick: the derived facts are there.
    assert_eq!(
        n.rows("/v1/relations/out"),
        json!([[-3, "c"], [1, "a"], [2, "b"]])
    );
    let all = n.json("/v1/relations/out");
    assert_eq!(all["columns"], json!(["a", "b"]));
    assert_eq!(n.rows("/v1/relations/out?a=2"), json!([[2, "b"]]));
    assert_eq!(n.rows("/v1/relations/out?c1=c"), json!([[-3, "c"]]));
    assert_eq!(n.rows("/v1/relations/out?a=1&b=b"), json!([]));
    // Calm syntax, and a JSON object of several relations.
    let (status, body) = n.post("/v1/facts", "text/plain", r#"edge(4, "d"). d(5)."#);
    assert_eq!(status, 200, "{body}");
    let (status, body) = n.post(
        "/v1/facts",
        "application/json",
        r#"{"edge": [[5, "e"]], "d": [[2]]}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        n.json("/v1/relations/out")["rows"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(n.rows("/v1/relations/q"), json!([[2], [5]]));
}

#[test]
fn bad_requests_get_4xx_with_a_message_and_the_node_goes_on() {
    let limits = Limits {
        max_facts_per_request: 3,
        max_string_len: 16,
        ..Limits::default()
    };
    let n = start(PROGRAM, limits, 1024);
    let j = "application/json";
    // method, path, content type, body, expected status, part of the message
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        Vec<u8>,
        u16,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/v1/relations/edge",
            j,
            b"[[1, \"a\"".to_vec(),
            400,
            "malformed JSON",
        ),
        (
            "POST",
            "/v1/relations/edge",
            j,
            b"not json".to_vec(),
            400,
            "malformed JSON",
        ),
        (
            "POST",
            "/v1/relations/nope",
            j,
            b"[[1]]".to_vec(),
            404,
            "unknown relation `nope`",
        ),
        (
            "POST",
            "/v1/relations/edge",
            j,
            b"[[1]]".to_vec(),
            400,
            "columns",
        ),
        (
            "POST",
            "/v1/relations/edge",
            j,
            b"[[\"x\", \"y\"]]".to_vec(),
            400,
            "column 1",
        ),
        (
            "POST",
            "/v1/relations/edge",
            j,
            b"[[1.5, \"a\"]]".to_vec(),
            400,
            "integer",
        ),
        (
            "POST",
            "/v1/relations/edge",
            j,
            b"[[true, \"a\"]]".to_vec(),
            400,
            "not a value",
        ),
        (
            "POST",
            "/v1/relations/edge",
            j,
            b"[[null, \"a\"]]".to_vec(),
            400,
            "not a value",
        ),
        (
            "POST",
            "/v1/relations/edge",
            j,
            b"[[[1], \"a\"]]".to_vec(),
            400,
            "not a value",
        ),
        (
            "POST",
            "/v1/relations/edge",
            j,
            b"[[18446744073709551615, \"a\"]]".to_vec(),
            400,
            "64-bit",
        ),
        (
            "POST",
            "/v1/relations/edge",
            j,
            b"{\"a\": 1}".to_vec(),
            400,
            "array of tuples",
        ),
        (
            "POST",
            "/v1/relations/edge",
            j,
            b"[1, 2]".to_vec(),
            400,
            "tuple 1",
        ),
        (
            "POST",
            "/v1/relations/edge",
            j,
            b"[[1,\"a\"],[2,\"a\"],[3,\"a\"],[4,\"a\"]]".to_vec(),
            400,
            "limit is 3",
        ),
        (
            "POST",
            "/v1/relations/edge",
            j,
            b"[[1, \"a very long symbol indeed\"]]".to_vec(),
            400,
            "exceeds the limit",
        ),
        (
            "POST",
            "/v1/relations/edge",
            j,
            vec![b' '; 2000],
            413,
            "limit",
        ),
        (
            "POST",
            "/v1/relations/$self",
            j,
            b"[[\"x\"]]".to_vec(),
            400,
            "built-in",
        ),
        (
            "POST",
            "/v1/facts",
            "text/plain",
            b"edge(1, \"a\"".to_vec(),
            400,
            "error[",
        ),
        (
            "POST",
            "/v1/facts",
            "text/plain",
            b"out(x, y) :- edge(x, y).".to_vec(),
            400,
            "expected a fact",
        ),
        (
            "POST",
            "/v1/facts",
            "text/plain",
            b"nope(1).".to_vec(),
            404,
            "unknown relation",
        ),
        (
            "POST",
            "/v1/facts",
            "text/plain",
            vec![0xff, 0xfe],
            400,
            "UTF-8",
        ),
        ("POST", "/v1/facts", j, b"[[1]]".to_vec(), 400, "object"),
        (
            "POST",
            "/v1/facts",
            j,
            b"{\"edge\": [[1]], \"out\": [[1, \"a\"]]}".to_vec(),
            400,
            "columns",
        ),
        (
            "GET",
            "/v1/relations/nope",
            "",
            vec![],
            404,
            "unknown relation",
        ),
        (
            "GET",
            "/v1/relations/out?zz=1",
            "",
            vec![],
            400,
            "no column `zz`",
        ),
        (
            "GET",
            "/v1/relations/out?a=x",
            "",
            vec![],
            400,
            "is a number",
        ),
        (
            "GET",
            "/v1/relations/out?c7=x",
            "",
            vec![],
            400,
            "no column",
        ),
        (
            "GET",
            "/v1/subscribe/nope",
            "",
            vec![],
            404,
            "unknown relation",
        ),
        ("GET", "/v2/whatever", "", vec![], 404, "no endpoint"),
        (
            "DELETE",
            "/v1/relations/out",
            "",
            vec![],
            405,
            "does not accept",
        ),
    ];
    for (method, path, ct, body, want, text) in cases {
        let (status, answer) = match method {
            "GET" => n.get(path),
            "POST" => n.post(path, ct, body),
            _ => TestNode::finish(n.agent.delete(format!("{}{path}", n.base)).call()),
        };
        assert_eq!(status, want, "{method} {path}: {answer}");
        let answer: Json = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {answer}"));
        let msg = answer["error"].as_str().unwrap_or_default();
        assert!(
            msg.contains(text),
            "{method} {path}: {msg:?} lacks {text:?}"
        );
    }
    // Nothing of a refused request was ingested, and the node still works.
    assert_eq!(n.rows("/v1/relations/out"), json!([]));
    assert_eq!(n.json("/health")["status"], "ok");
    let (status, body) = n.post("/v1/relations/edge", j, "[[1, \"a\"]]");
    assert_eq!(status, 200, "{body}");
    assert_eq!(n.rows("/v1/relations/out"), json!([[1, "a"]]));
    let rejected = n
        .handle
        .metrics()
        .rejected_facts
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        rejected, 0,
        "client errors are refused before the tick loop"
    );
}

#[test]
fn a_runtime_error_in_a_rule_is_422_and_the_state_is_kept() {
    let n = start(PROGRAM, Limits::default(), 1 << 20);
    let (status, body) = n.post("/v1/relations/d", "application/json", "[[0]]");
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("division by zero"), "{body}");
    let (status, _) = n.post("/v1/relations/d", "application/json", "[[2]]");
    assert_eq!(status, 200);
    assert_eq!(n.rows("/v1/relations/q"), json!([[5]]));
    assert!(
        n.handle
            .metrics_text()
            .contains("calm_tick_errors_total{node=\"n1\"} 1\n")
    );
}

#[test]
fn status_metrics_and_health() {
    let n = start(PROGRAM, Limits::default(), 1 << 20);
    n.post("/v1/relations/edge", "application/json", "[[1, \"a\"]]");
    let s = n.json("/v1/status");
    assert_eq!(s["name"], "n1");
    assert!(s["tick"].as_u64().unwrap() >= 1);
    assert_eq!(s["relations"]["out"], 1);
    assert_eq!(s["peers"], json!([]));
    assert_eq!(s["outputs"], json!(["out"]));
    let (status, text) = n.get("/metrics");
    assert_eq!(status, 200);
    assert!(text.contains("# TYPE calm_ticks_total counter"));
    assert!(
        text.contains("calm_facts_inserted_total{node=\"n1\"} 1\n"),
        "{text}"
    );
    let h = n.json("/health");
    assert_eq!(h["status"], "ok");
    assert_eq!(h["node"], "n1");
}

#[test]
fn subscribers_receive_new_facts_as_server_sent_events() {
    let n = start(PROGRAM, Limits::default(), 1 << 20);
    n.post("/v1/relations/edge", "application/json", "[[1, \"old\"]]");
    let addr = n.base.trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /v1/subscribe/out HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    // The subscription exists once the headers are sent.
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
    }
    n.post("/v1/relations/edge", "application/json", "[[7, \"z\"]]");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no event");
        line.clear();
        r.read_line(&mut line).unwrap();
        if let Some(data) = line.trim_end().strip_prefix("data: ") {
            let ev: Json = serde_json::from_str(data).unwrap();
            assert_eq!(ev["relation"], "out");
            assert_eq!(ev["rows"], json!([[7, "z"]]), "only new facts are sent");
            break;
        }
    }
}
