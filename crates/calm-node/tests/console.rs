//! The web console on a live in-process node: the page and its files are served with their
//! content types and without the token, every data request needs the token, the overview
//! reports members, links and relation sizes, and the graph marks points of order.

use calm_engine::Program;
use calm_node::http::HttpOptions;
use calm_node::{Limits, Node, NodeConfig, Peer, Secret};
use serde_json::Value as Json;
use std::net::SocketAddr;
use std::time::Duration;

const TOKEN: &str = "console token of some length";

/// A program with one point of order: `fresh` negates `seen`, which arrives by `@async`.
const ORDERED: &str = "\
.decl local(x: number)
.decl seen(at: symbol, x: number)
.persist seen
seen(@n, x)@async :- local(x), $member(n).
.decl fresh(x: number)
.output fresh
fresh(x) :- local(x), !seen(_, x).
";

/// A monotone program: no point of order.
const MONOTONE: &str = "\
.decl edge(a: number, b: number)
.persist edge
.decl path(a: number, b: number)
.output path
path(a, b) :- edge(a, b).
path(a, c) :- path(a, b), edge(b, c).
";

/// Serves `src` as node `n1` (a peer `n2` that is never up) on a non-durable node, whose HTTP
/// server runs on the tick thread.
fn serve(rt: &tokio::runtime::Runtime, src: &str, token: Option<&str>) -> (Node, SocketAddr) {
    rt.block_on(async {
        let node = calm_node::start(NodeConfig {
            name: "n1".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            peers: vec![Peer {
                name: "n2".into(),
                addr: "127.0.0.1:9".parse().unwrap(),
                host: None,
            }],
            program: Program::compile("prog.dl", src).unwrap(),
            limits: Limits::default(),
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
                token: token.map(|t| Secret::new(t).unwrap()),
            },
            std::future::pending(),
        ));
        (node, addr)
    })
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

struct Answer {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn call(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: &str) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut b = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if let Some(t) = token {
        b = b.header("Authorization", format!("Bearer {t}"));
    }
    let mut r = if method == "POST" {
        agent.run(b.body(body.to_string()).unwrap()).unwrap()
    } else {
        agent.run(b.body(()).unwrap()).unwrap()
    };
    Answer {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Answer {
    call(addr, "GET", path, token, "")
}

#[test]
fn the_page_and_its_files_are_served_with_their_types_and_without_the_token() {
    let rt = rt();
    let (node, addr) = serve(&rt, MONOTONE, Some(TOKEN));
    for (path, content_type, file) in [
        (
            "/ui",
            "text/html; charset=utf-8",
            include_str!("../src/console/index.html"),
        ),
        (
            "/ui/",
            "text/html; charset=utf-8",
            include_str!("../src/console/index.html"),
        ),
        (
            "/ui/console.js",
            "text/javascript; charset=utf-8",
            include_str!("../src/console/console.js"),
        ),
        (
            "/ui/console.css",
            "text/css; charset=utf-8",
            include_str!("../src/console/console.css"),
        ),
    ] {
        let a = get(addr, path, None);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert_eq!(a.header("content-type"), content_type, "{path}");
        assert_eq!(a.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(a.body, file, "{path}");
    }
    let page = get(addr, "/ui", None);
    let csp = page.header("content-security-policy");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    // Only those paths are open: anything else under /ui is refused without the token, and
    // unknown with it.
    assert_eq!(get(addr, "/ui/other.js", None).status, 401);
    assert_eq!(get(addr, "/ui/other.js", Some(TOKEN)).status, 404);
    assert_eq!(call(addr, "POST", "/ui", None, "x").status, 401);
    node.handle.shutdown();
}

#[test]
fn every_data_request_of_the_console_needs_the_token() {
    let rt = rt();
    let (node, addr) = serve(&rt, MONOTONE, Some(TOKEN));
    for path in [
        "/v1/console",
        "/v1/graph.svg",
        "/v1/relations/path",
        "/v1/relations/path?a=1",
        "/v1/subscribe/path",
        "/v1/status",
    ] {
        for token in [None, Some("a wrong token of some length"), Some("")] {
            let a = get(addr, path, token);
            assert_eq!(a.status, 401, "{path} with {token:?}: {}", a.body);
            assert!(a.json()["error"].as_str().unwrap().contains("bearer token"));
            assert_eq!(a.header("www-authenticate"), "Bearer");
        }
    }
    for path in ["/v1/console", "/v1/graph.svg", "/v1/relations/path?a=1"] {
        let a = get(addr, path, Some(TOKEN));
        assert_eq!(a.status, 200, "{path}: {}", a.body);
    }
    node.handle.shutdown();
}

#[test]
fn the_overview_shows_members_links_ticks_and_relation_sizes() {
    let rt = rt();
    let (node, addr) = serve(&rt, MONOTONE, None);
    let before = get(addr, "/v1/console", None);
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(before.header("content-type"), "application/json");
    let o = before.json();
    assert_eq!(o["name"], "n1");
    assert_eq!(o["program"], "prog.dl");
    assert_eq!(o["members"], serde_json::json!(["n1", "n2"]));
    let peers = o["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0]["name"], "n2");
    assert_eq!(peers[0]["connected"], false);
    let size = |o: &Json, rel: &str| {
        o["relations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == rel)
            .unwrap_or_else(|| panic!("no {rel} in {o}"))["size"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(size(&o, "path"), 0);
    let edge = o["relations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "edge")
        .unwrap()
        .clone();
    assert_eq!(edge["columns"], serde_json::json!(["a", "b"]));
    assert_eq!(edge["types"], serde_json::json!(["number", "number"]));
    assert_eq!(edge["persist"], true);
    assert_eq!(edge["output"], false);
    let tick = o["tick"].as_u64().unwrap();

    let a = call(addr, "POST", "/v1/facts", None, "edge(1, 2). edge(2, 3).");
    assert_eq!(a.status, 200, "{}", a.body);
    let o = get(addr, "/v1/console", None).json();
    assert_eq!(size(&o, "edge"), 2);
    assert_eq!(size(&o, "path"), 3);
    assert!(o["tick"].as_u64().unwrap() > tick, "{o}");
    assert!(o["last_tick_ago_ms"].is_u64(), "{o}");
    assert!(o["uptime_ms"].is_u64(), "{o}");
    assert!(o["tick_seconds_total"].is_f64(), "{o}");
    // The graph is the same as `calm graph --format svg`'s: no point of order here.
    let g = get(addr, "/v1/graph.svg", None);
    assert_eq!(g.status, 200, "{}", g.body);
    assert!(!g.body.contains("point of order"), "{}", g.body);
    assert!(!g.body.contains("#ff0000"), "{}", g.body);
    assert!(g.body.contains(">path<") && g.body.contains(">edge<"));
    node.handle.shutdown();
}

#[test]
fn the_graph_marks_the_points_of_order() {
    let rt = rt();
    let (node, addr) = serve(&rt, ORDERED, Some(TOKEN));
    let g = get(addr, "/v1/graph.svg", Some(TOKEN));
    assert_eq!(g.status, 200, "{}", g.body);
    assert_eq!(g.header("content-type"), "image/svg+xml");
    assert!(g.header("content-security-policy").contains("sandbox"));
    assert!(g.body.starts_with("<?xml") || g.body.starts_with("<svg"));
    assert!(g.body.trim_end().ends_with("</svg>"));
    // The negation of `seen` is a bold red edge labelled with its lint code, `fresh` red.
    assert!(g.body.contains("not CALM001 point of order"), "{}", g.body);
    assert!(g.body.contains("stroke=\"#ff0000ff\""), "{}", g.body);
    assert!(g.body.contains("1 point of order"), "{}", g.body);
    // What `calm graph --format svg` draws for the same program.
    let mut map = calm_syntax::SourceMap::new();
    let file = map.add("prog.dl", ORDERED);
    let dot = calm_analyzer::dot(&map, file).unwrap();
    assert_eq!(
        g.body,
        calm_analyzer::output::svg::from_dot(&dot).unwrap(),
        "the console's graph differs from calm graph's"
    );
    // Laid out once: the second answer is the same.
    assert_eq!(get(addr, "/v1/graph.svg", Some(TOKEN)).body, g.body);
    node.handle.shutdown();
}
