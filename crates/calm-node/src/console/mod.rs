//! The web console every node serves at `/ui`: one page of plain HTML, JavaScript and CSS
//! embedded in the binary (no build step, nothing fetched from elsewhere at run time), which
//! reads the node through its HTTP API.
//!
//! | route | what | token |
//! |---|---|---|
//! | `GET /ui` (and `/ui/`) | the page | not needed |
//! | `GET /ui/console.js`, `GET /ui/console.css` | its script and style | not needed |
//! | `GET /v1/console` | the overview the page polls: members, links, ticks, relations | needed |
//! | `GET /v1/graph.svg` | the program's precedence graph, as `calm graph --format svg` draws it | needed |
//!
//! The page's files hold no data, so they are served without the token; everything the page
//! shows comes from requests that carry it (the page asks for it and keeps it in the tab's
//! `sessionStorage`). The page builds its DOM with `textContent` only: relation values are
//! whatever clients inserted. It also reads `GET /v1/relations/{rel}` (the browser's column
//! filters) and `GET /v1/subscribe/{rel}` (the live view of an `.output` relation).
//!
//! The graph is laid out once per server, on the blocking pool: on a node without a data
//! directory the server runs on the tick thread, which the layout must not hold up.

use crate::http::ApiError;
use crate::node::NodeHandle;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use calm_ir::Builtin;
use serde_json::{Value as Json, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The page.
const INDEX_HTML: &str = include_str!("index.html");
/// Its script.
const CONSOLE_JS: &str = include_str!("console.js");
/// Its style.
const CONSOLE_CSS: &str = include_str!("console.css");

/// What the page may load and from where: its own files, requests to this node, and the graph
/// as a `blob:` image; no inline script or style, no frames, no forms sent anywhere.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The graph opened on its own: no script runs in it, whatever it held.
const SVG_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// The paths served without the token: the page's own files, which hold no data.
pub(crate) fn is_public(method: &Method, path: &str) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && matches!(path, "/ui" | "/ui/" | "/ui/console.js" | "/ui/console.css")
}

/// The console's state: the node, and the graph once laid out.
struct Console {
    handle: NodeHandle,
    graph: tokio::sync::OnceCell<Result<Arc<str>, String>>,
}

/// The console's routes, to be merged into the API's router (whose token check lets
/// [`is_public`] paths through).
pub(crate) fn routes(handle: NodeHandle) -> Router<NodeHandle> {
    let console = Arc::new(Console {
        handle,
        graph: tokio::sync::OnceCell::new(),
    });
    Router::new()
        .route("/ui", get(page))
        .route("/ui/", get(page))
        .route("/ui/console.js", get(script))
        .route("/ui/console.css", get(style))
        .route("/v1/console", get(overview))
        .route("/v1/graph.svg", get(graph))
        .with_state(console)
}

/// An embedded file with its content type, never sniffed, revalidated on each load (a new
/// binary brings new files).
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

async fn page() -> Response {
    let mut r = asset("text/html; charset=utf-8", INDEX_HTML);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", CONSOLE_JS)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", CONSOLE_CSS)
}

/// `GET /v1/console`: what the page shows of the cluster and the relations, in one request.
async fn overview(State(c): State<Arc<Console>>) -> Result<axum::Json<Json>, ApiError> {
    let status = c.handle.status().await?;
    let shared = c.handle.shared();
    let program = c.handle.program();
    let ir = program.ir();
    let relations: Vec<Json> = ir
        .relations
        .iter()
        .filter(|r| r.builtin != Some(Builtin::Auxiliary))
        .map(|r| {
            let columns: Vec<String> = if r.columns.len() == r.arity {
                r.columns.clone()
            } else {
                (0..r.arity).map(|i| format!("c{i}")).collect()
            };
            json!({
                "name": r.name,
                "size": status.relations.get(&r.name).copied().unwrap_or(0),
                "columns": columns,
                "types": r.types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                "input": !r.inputs.is_empty(),
                "output": !r.outputs.is_empty(),
                "persist": r.persist,
                "builtin": r.builtin.is_some(),
            })
        })
        .collect();
    let metrics = &shared.metrics;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let uptime = shared.started.elapsed();
    let last_tick = load(&metrics.last_tick_micros);
    let last_tick_ago_ms =
        (last_tick > 0).then(|| (uptime.as_micros() as u64).saturating_sub(last_tick) / 1000);
    let unacked: usize = status.peers.iter().map(|p| p.unacked).sum();
    Ok(axum::Json(json!({
        "name": status.name,
        "program": program.sources().get(program.file()).name,
        "members": shared.members,
        "tick": status.tick,
        "uptime_ms": uptime.as_millis() as u64,
        "last_tick_ago_ms": last_tick_ago_ms,
        "tick_seconds_total": load(&metrics.tick_micros) as f64 / 1e6,
        "queue_depth": load(&metrics.queue_depth),
        "facts_inserted": load(&metrics.facts_inserted),
        "facts_in": load(&metrics.facts_in),
        "facts_out": load(&metrics.facts_out),
        "unacked": unacked,
        "peers": status.peers,
        "relations": relations,
        "warnings": status.warnings,
    })))
}

/// `GET /v1/graph.svg`: the precedence graph with its points of order in red, laid out on the
/// blocking pool the first time.
async fn graph(State(c): State<Arc<Console>>) -> Result<Response, ApiError> {
    let svg = c
        .graph
        .get_or_init(|| {
            let handle = c.handle.clone();
            async move {
                tokio::task::spawn_blocking(move || draw(&handle))
                    .await
                    .unwrap_or_else(|e| Err(format!("the layout did not finish: {e}")))
            }
        })
        .await
        .clone()
        .map_err(|message| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message,
            retry_after: None,
        })?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(SVG_CSP),
            ),
        ],
        svg.to_string(),
    )
        .into_response())
}

/// The node's program drawn as `calm graph --format svg` draws it.
fn draw(handle: &NodeHandle) -> Result<Arc<str>, String> {
    let program = handle.program();
    let dot = calm_analyzer::dot(program.sources(), program.file()).map_err(|report| {
        format!(
            "the analyzer cannot draw this program ({})",
            report.summary.verdict()
        )
    })?;
    calm_analyzer::output::svg::from_dot(&dot)
        .map(Arc::from)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_pages_files_are_public() {
        for path in ["/ui", "/ui/", "/ui/console.js", "/ui/console.css"] {
            assert!(is_public(&Method::GET, path), "{path}");
            assert!(is_public(&Method::HEAD, path), "{path}");
            assert!(!is_public(&Method::POST, path), "{path}");
        }
        for path in [
            "/v1/console",
            "/v1/graph.svg",
            "/ui/../v1/status",
            "/ui/x",
            "/uix",
            "/v1/status",
        ] {
            assert!(!is_public(&Method::GET, path), "{path}");
        }
    }

    #[test]
    fn the_page_uses_no_inner_html_and_loads_nothing_from_elsewhere() {
        for (name, text) in [
            ("index.html", INDEX_HTML),
            ("console.js", CONSOLE_JS),
            ("console.css", CONSOLE_CSS),
        ] {
            for banned in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "http://",
                "https://",
                "//cdn",
            ] {
                assert!(!text.contains(banned), "{name} contains `{banned}`");
            }
        }
        assert!(INDEX_HTML.contains("src=\"/ui/console.js\""));
        assert!(INDEX_HTML.contains("href=\"/ui/console.css\""));
        // No inline script or style: the page's policy forbids them.
        assert!(!INDEX_HTML.contains("<script>") && !INDEX_HTML.contains("<style"));
        assert!(!INDEX_HTML.contains(" style=") && !INDEX_HTML.contains(" onclick="));
    }
}
