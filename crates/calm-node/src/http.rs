//! The client API over HTTP, on a [`NodeHandle`].
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/relations/{rel}` | insert tuples: a JSON array of arrays, `[[1, "a"], [2, "b"]]` |
//! | `POST /v1/facts` | insert facts of several relations: calm syntax (`waits("a", "b").`), or with `Content-Type: application/json` an object `{"rel": [[...]], ...}` |
//! | `GET /v1/relations/{rel}?col=value` | a relation's tuples; optional equality filters by column name or `c0`, `c1`, ... |
//! | `GET /v1/status` | name, tick, peers and their links, relation sizes, warnings |
//! | `GET /v1/subscribe/{rel}` | server-sent events: the new tuples of a relation after each tick |
//! | `GET /metrics` | Prometheus text |
//! | `GET /health` | `{"status": "ok", ...}` while the tick loop answers |
//! | `GET /ui`, `GET /v1/console`, `GET /v1/graph.svg` | the web console (see [`crate::console`]) |
//!
//! Numbers are JSON integers (64-bit signed) and symbols JSON strings; nothing else is a value.
//! Inserts are answered once the tick that ingested the facts is complete (and, with a data
//! directory, stored durably). Every error is a 4xx or 5xx status with a body
//! `{"error": "..."}`; no request can stop the node.
//!
//! With a token ([`HttpOptions::token`]), every request but `GET /health` and the console's
//! page and its files (`/ui`, which hold no data) needs
//! `Authorization: Bearer TOKEN` (401 otherwise). Connections are limited in number, in all
//! ([`Limits::max_http_connections`](crate::Limits)) and per IP address
//! ([`Limits::max_http_connections_per_ip`](crate::Limits)); each is closed after
//! [`Limits::http_idle_timeout`](crate::Limits) without traffic, or when a request's head has not
//! arrived whole within [`Limits::http_header_timeout`](crate::Limits). A `Content-Length` over
//! the body limit is refused (413) before the body is read, and query strings are decoded strictly
//! ([`parse_query`]).

use crate::auth::Secret;
use crate::node::{NodeError, NodeHandle, Shared};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use calm_engine::Value;
use calm_ir::{Builtin, Relation, Type};
use calm_syntax::ast::{Expr, Item};
use calm_syntax::{SourceMap, parse_facts, render_all};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::{Map, Value as Json, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

pub use crate::config::DEFAULT_MAX_BODY;

/// An API error: a status and a message, sent as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The message.
    pub message: String,
    /// Seconds after which to retry (a `Retry-After` header), for a busy node.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(json!({ "error": self.message }))).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(s));
        }
        r
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let status = match &e {
            NodeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            NodeError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            NodeError::Runtime(_) => StatusCode::UNPROCESSABLE_ENTITY,
            NodeError::Setup(_) => StatusCode::INTERNAL_SERVER_ERROR,
            NodeError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            NodeError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut a = ApiError::new(status, e.to_string());
        if matches!(e, NodeError::Busy) {
            a.retry_after = Some(1);
        }
        a
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        let status = r.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "the request body exceeds the node's limit".to_string()
        } else {
            r.body_text()
        };
        ApiError::new(status, message)
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// How the client API is served.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Request bodies over this many bytes are refused with 413.
    pub max_body: usize,
    /// The bearer token clients must present (none: no authentication).
    pub token: Option<Secret>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_body: DEFAULT_MAX_BODY,
            token: None,
        }
    }
}

/// The API with the default body limit ([`DEFAULT_MAX_BODY`]).
pub fn router(handle: NodeHandle) -> Router {
    router_with(handle, HttpOptions::default())
}

/// The API, refusing request bodies over `max_body` bytes with 413.
pub fn router_with_limit(handle: NodeHandle, max_body: usize) -> Router {
    router_with(
        handle,
        HttpOptions {
            max_body,
            token: None,
        },
    )
}

/// The API with `options`.
pub fn router_with(handle: NodeHandle, options: HttpOptions) -> Router {
    let token = options.token.map(Arc::new);
    let shared = handle.shared().clone();
    let router = Router::new()
        .route("/v1/relations/{rel}", get(query).post(insert_relation))
        .route("/v1/facts", post(insert_facts))
        .route("/v1/status", get(status))
        .route("/v1/subscribe/{rel}", get(subscribe))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .merge(crate::console::routes(handle.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(options.max_body));
    // Without a token there is nothing to check: no layer (it would run on every request).
    let router = match token {
        Some(token) => router.layer(middleware::from_fn_with_state(
            (shared, token),
            require_token,
        )),
        None => router,
    };
    router
        .layer(middleware::from_fn_with_state(
            options.max_body,
            refuse_large_bodies,
        ))
        .with_state(handle)
}

/// Refuses a request whose `Content-Length` exceeds the body limit with 413 before anything of
/// the body is read (and closes the connection, whose unread body cannot be skipped cheaply). A
/// body without a length (chunked) is cut off at the limit as it is read.
async fn refuse_large_bodies(State(max): State<usize>, request: Request, next: Next) -> Response {
    // hyper has already refused a malformed Content-Length with 400.
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match length {
        Some(n) if n > max as u64 => {
            let mut r = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body ({n} bytes) exceeds the node's limit of {max} bytes \
                     (max_body_bytes)"
                ),
            )
            .into_response();
            r.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            r
        }
        _ => next.run(request).await,
    }
}

/// Lets a request through if it is `GET /health` or it carries `Authorization: Bearer TOKEN`.
async fn require_token(
    State((shared, token)): State<(Arc<Shared>, Arc<Secret>)>,
    request: Request,
    next: Next,
) -> Response {
    if (request.uri().path() == "/health" && request.method() == Method::GET)
        || crate::console::is_public(request.method(), request.uri().path())
    {
        return next.run(request).await;
    }
    if bearer_matches(&token, request.headers()) {
        next.run(request).await
    } else {
        {
            crate::Metrics::add(&shared.metrics.unauthorized_requests, 1);
            let mut r = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this node requires a bearer token (Authorization: Bearer TOKEN; `calm` commands \
                 take --token-file), and the request had none or a wrong one",
            )
            .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            r
        }
    }
}

/// Whether the request carries `Authorization: Bearer TOKEN` with the node's token.
fn bearer_matches(token: &Secret, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .map(<[u8]>::trim_ascii)
        .is_some_and(|p| token.matches(p))
}

/// The service of one HTTP connection. `POST /v1/facts` with a `Content-Length` within the body
/// limit, the request clients put with, and `GET /v1/relations/{rel}` of a relation whose name
/// needs no decoding, the request they read with (each with the token, if one is required),
/// are answered here by the same code as the router's routes, without the router's
/// per-request work (cloning the route's boxed service, its layers, matching, extensions).
/// Every other request, including those the checks above refuse, goes to the router, which
/// answers it as before.
#[derive(Clone)]
struct Api {
    router: TowerToHyperService<Router>,
    handle: NodeHandle,
    max_body: usize,
    token: Option<Arc<Secret>>,
}

type ApiFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl Api {
    fn is_plain_insert(&self, req: &hyper::Request<hyper::body::Incoming>) -> bool {
        let length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        req.method() == Method::POST
            && req.uri().path() == "/v1/facts"
            && length.is_some_and(|n| n <= self.max_body as u64)
            && self
                .token
                .as_ref()
                .is_none_or(|t| bearer_matches(t, req.headers()))
    }
}

impl Api {
    /// The relation of `GET /v1/relations/{rel}` (with the token, if one is required), if its
    /// name needs no decoding (letters, digits, `_`); the router answers any other.
    fn plain_query<'r>(&self, req: &'r hyper::Request<hyper::body::Incoming>) -> Option<&'r str> {
        if req.method() != Method::GET {
            return None;
        }
        let rel = req.uri().path().strip_prefix("/v1/relations/")?;
        let plain = !rel.is_empty() && rel.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let authorized = self
            .token
            .as_ref()
            .is_none_or(|t| bearer_matches(t, req.headers()));
        (plain && authorized).then_some(rel)
    }
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for Api {
    type Response = Response;
    type Error = Infallible;
    type Future = ApiFuture;

    fn call(&self, req: hyper::Request<hyper::body::Incoming>) -> ApiFuture {
        if let Some(rel) = self.plain_query(&req) {
            let (handle, rel) = (self.handle.clone(), rel.to_string());
            let query = req.uri().query().map(str::to_string);
            return Box::pin(async move {
                Ok(query_response(&handle, &rel, query.as_deref())
                    .await
                    .into_response())
            });
        }
        if !self.is_plain_insert(&req) {
            return Box::pin(self.router.call(req));
        }
        let handle = self.handle.clone();
        let max = self.max_body;
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = match axum::body::to_bytes(axum::body::Body::new(body), max).await {
                Ok(b) => b,
                Err(e) => {
                    return Ok(
                        ApiError::bad(format!("cannot read the request body: {e}")).into_response()
                    );
                }
            };
            Ok(
                insert_facts_body(&handle, &parts.headers, &body, Instant::now())
                    .await
                    .into_response(),
            )
        })
    }
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    handle: NodeHandle,
    max_body: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(
        listener,
        handle,
        HttpOptions {
            max_body,
            token: None,
        },
        shutdown,
    )
    .await
}

/// Serves the API with `options` on `listener` until `shutdown` resolves, within the node's
/// connection limits (in all and per IP address), header timeout and idle timeout. Once
/// `shutdown` resolves, no connection is accepted, idle ones are closed, and the call returns when
/// the requests in progress have been answered.
///
/// Without a data directory, the server runs on the node's tick thread (its own
/// single-threaded runtime, whatever runtime calls this): a request hands its facts to the tick
/// loop and gets its answer back without a thread switch, and reads are served from the engine
/// between two ticks. With one, it runs on the runtime that started the node. The returned
/// future only waits for it.
pub async fn serve_with(
    listener: TcpListener,
    handle: NodeHandle,
    options: HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    handle
        .serve_clients(listener, move |l, h| serve_here(l, h, options, shutdown))
        .await
}

/// [`serve_with`] on the current runtime.
async fn serve_here(
    listener: TcpListener,
    handle: NodeHandle,
    options: HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = handle.limits().clone();
    let mut limited = LimitedListener {
        slots: Arc::new(Semaphore::new(limits.max_http_connections.max(1))),
        per_ip: Arc::new(Mutex::new(HashMap::new())),
        max_per_ip: limits.max_http_connections_per_ip.max(1),
        idle: limits.http_idle_timeout,
        shared: handle.shared().clone(),
        inner: listener,
    };
    let shared = handle.shared().clone();
    let (max_body, token) = (options.max_body, options.token.clone().map(Arc::new));
    let api = Api {
        router: TowerToHyperService::new(router_with(handle.clone(), options)),
        handle,
        max_body,
        token,
    };
    // Tells the connections to finish (graceful shutdown); each holds a `done` sender, so that
    // the receiver ends once all have.
    let (closing_tx, closing_rx) = watch::channel(false);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, addr) = tokio::select! {
            c = limited.accept() => c,
            () = &mut shutdown => break,
        };
        let service = api.clone();
        let mut closing = closing_rx.clone();
        let done = done_tx.clone();
        let shared = shared.clone();
        let header_timeout = limits.http_header_timeout;
        tokio::spawn(async move {
            let _done = done;
            let mut builder = hyper::server::conn::http1::Builder::new();
            // Without a timer hyper applies no header timeout at all.
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let mut conn = std::pin::pin!(builder.serve_connection(TokioIo::new(io), service));
            let closed = async {
                let _ = closing.wait_for(|c| *c).await;
            };
            let r = tokio::select! {
                r = conn.as_mut() => r,
                () = closed => {
                    conn.as_mut().graceful_shutdown();
                    conn.as_mut().await
                }
            };
            if let Err(e) = r
                && e.is_timeout()
            {
                crate::Metrics::add(&shared.metrics.http_header_timeouts, 1);
                crate::Metrics::add(&shared.metrics.closed_connections, 1);
                tracing::debug!(%addr, ms = header_timeout.as_millis() as u64, "HTTP request head not received within the header timeout; connection closed");
            }
        });
    }
    let _ = closing_tx.send(true);
    drop(done_tx);
    let _ = done_rx.recv().await;
    Ok(())
}

/// Open HTTP connections per IP address.
type PerIp = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// A listener that closes connections over the limits at once: in all
/// ([`Limits::max_http_connections`](crate::Limits)) and from one IP address
/// ([`Limits::max_http_connections_per_ip`](crate::Limits)).
struct LimitedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    per_ip: PerIp,
    max_per_ip: usize,
    idle: Duration,
    shared: Arc<Shared>,
}

/// One connection counted against its IP address's limit, until dropped.
struct IpSlot {
    per_ip: PerIp,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

impl LimitedListener {
    /// A slot for one more connection from `ip`, if it has fewer than the limit open.
    fn ip_slot(&self, ip: IpAddr) -> Option<IpSlot> {
        let mut m = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            per_ip: self.per_ip.clone(),
            ip,
        })
    }

    async fn accept(&mut self) -> (IdleIo, SocketAddr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let metrics = &self.shared.metrics;
            let Some(ip_slot) = self.ip_slot(addr.ip()) else {
                crate::Metrics::add(&metrics.closed_connections, 1);
                crate::Metrics::add(&metrics.http_per_ip_rejections, 1);
                tracing::warn!(%addr, limit = self.max_per_ip, "too many HTTP connections from this address; closing this one");
                continue;
            };
            match self.slots.clone().try_acquire_owned() {
                Ok(permit) => {
                    let _ = stream.set_nodelay(true);
                    return (
                        IdleIo {
                            inner: stream,
                            _permit: permit,
                            _ip_slot: ip_slot,
                            idle: self.idle,
                            deadline: Box::pin(tokio::time::sleep(self.idle)),
                            shared: self.shared.clone(),
                        },
                        addr,
                    );
                }
                Err(_) => {
                    crate::Metrics::add(&metrics.closed_connections, 1);
                    tracing::warn!(%addr, "too many HTTP connections; closing this one");
                }
            }
        }
    }
}

/// A connection that fails with `TimedOut` once nothing was read or written for `idle`.
struct IdleIo {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
    _ip_slot: IpSlot,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    shared: Arc<Shared>,
}

impl IdleIo {
    fn touch(&mut self) {
        let at = tokio::time::Instant::now() + self.idle;
        self.deadline.as_mut().reset(at);
    }

    fn expired<T>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                crate::Metrics::add(&self.shared.metrics.closed_connections, 1);
                tracing::debug!("idle HTTP connection closed");
                Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "idle HTTP connection",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for IdleIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.touch();
                Poll::Ready(r)
            }
            Poll::Pending => this.expired(cx),
        }
    }
}

impl AsyncWrite for IdleIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.touch();
                Poll::Ready(r)
            }
            Poll::Pending => this.expired(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                this.touch();
                Poll::Ready(r)
            }
            Poll::Pending => this.expired(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no endpoint {method} {}; see docs/node.md", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not accept {method}", uri.path()),
    )
}

/// The relation a client may name: it exists and is not compiler-made.
fn relation<'h>(handle: &'h NodeHandle, name: &str) -> ApiResult<&'h Relation> {
    let ir = handle.program().ir();
    ir.relation(name)
        .map(|r| &ir.relations[r])
        .filter(|r| r.builtin != Some(Builtin::Auxiliary))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("unknown relation `{name}`")))
}

fn path_param(p: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    p.map(|Path(s)| s).map_err(|r| ApiError::bad(r.body_text()))
}

/// A JSON value as a calm value: integers are numbers, strings are symbols.
pub fn json_to_value(v: &Json) -> Result<Value, String> {
    match v {
        Json::String(s) => Ok(Value::Symbol(s.clone())),
        Json::Number(n) => n.as_i64().map(Value::Number).ok_or_else(|| {
            format!("`{n}` is not a 64-bit signed integer (calm numbers are integers)")
        }),
        other => Err(format!(
            "`{other}` is not a value: values are integers (numbers) or strings (symbols)"
        )),
    }
}

/// A calm value as JSON.
pub fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Number(n) => Json::from(*n),
        Value::Symbol(s) => Json::from(s.as_str()),
        Value::Unsigned(u) => Json::from(*u),
        Value::Float(f) if f.is_finite() => Json::from(*f),
        Value::Float(_) => Json::from(v.to_string()),
    }
}

/// Converts a JSON array of tuples of `rel` into facts.
fn tuples(rel: &str, body: &Json, out: &mut Vec<(String, Vec<Value>)>) -> Result<(), String> {
    let Json::Array(rows) = body else {
        return Err(format!(
            "`{rel}`: expected an array of tuples, e.g. [[1, \"a\"], [2, \"b\"]]"
        ));
    };
    for (i, row) in rows.iter().enumerate() {
        let Json::Array(cols) = row else {
            return Err(format!(
                "`{rel}`, tuple {}: expected an array of values, got `{row}`",
                i + 1
            ));
        };
        let mut tuple = Vec::with_capacity(cols.len());
        for (j, c) in cols.iter().enumerate() {
            tuple.push(
                json_to_value(c)
                    .map_err(|e| format!("`{rel}`, tuple {}, column {}: {e}", i + 1, j + 1))?,
            );
        }
        out.push((rel.to_string(), tuple));
    }
    Ok(())
}

fn parse_json(body: &[u8]) -> Result<Json, String> {
    serde_json::from_slice(body).map_err(|e| format!("malformed JSON: {e}"))
}

/// Parses the body of `POST /v1/relations/{rel}`: a JSON array of tuples of `rel`.
pub fn tuples_from_json(rel: &str, body: &[u8]) -> Result<Vec<(String, Vec<Value>)>, String> {
    let mut facts = Vec::new();
    tuples(rel, &parse_json(body)?, &mut facts)?;
    Ok(facts)
}

/// Parses a JSON body of `POST /v1/facts`: an object of relations and their tuples.
pub fn facts_from_json(body: &[u8]) -> Result<Vec<(String, Vec<Value>)>, String> {
    let Json::Object(map) = parse_json(body)? else {
        return Err(
            "expected an object of relations and their tuples, e.g. {\"edge\": [[1, 2]]}".into(),
        );
    };
    let mut facts = Vec::new();
    for (rel, rows) in &map {
        tuples(rel, rows, &mut facts)?;
    }
    Ok(facts)
}

/// The answer to an insert, `{"inserted": N, "tick": T}`, written directly (two numbers: no
/// JSON tree to build).
struct Inserted {
    inserted: usize,
    tick: u64,
}

impl IntoResponse for Inserted {
    fn into_response(self) -> Response {
        let body = format!("{{\"inserted\":{},\"tick\":{}}}", self.inserted, self.tick);
        (
            [(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    }
}

async fn do_insert(
    handle: &NodeHandle,
    facts: Vec<(String, Vec<Value>)>,
    started: Instant,
) -> ApiResult<Inserted> {
    for (rel, _) in &facts {
        relation(handle, rel)?;
    }
    let n = facts.len();
    let tick = handle.insert_since(facts, started).await?;
    handle.metrics().insert.total.observe(started.elapsed());
    Ok(Inserted { inserted: n, tick })
}

async fn insert_relation(
    State(handle): State<NodeHandle>,
    rel: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Inserted> {
    let started = Instant::now();
    let rel = path_param(rel)?;
    relation(&handle, &rel)?;
    let facts = tuples_from_json(&rel, &body?).map_err(ApiError::bad)?;
    do_insert(&handle, facts, started).await
}

async fn insert_facts(
    State(handle): State<NodeHandle>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Inserted> {
    let started = Instant::now();
    let body = body?;
    insert_facts_body(&handle, &headers, &body, started).await
}

/// `POST /v1/facts` once its body is read: calm syntax, or JSON by its `Content-Type`.
async fn insert_facts_body(
    handle: &NodeHandle,
    headers: &HeaderMap,
    body: &[u8],
    started: Instant,
) -> ApiResult<Inserted> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let facts = if json {
        facts_from_json(body).map_err(ApiError::bad)?
    } else {
        let text =
            std::str::from_utf8(body).map_err(|_| ApiError::bad("the body is not UTF-8 text"))?;
        facts_from_text("request", text).map_err(ApiError::bad)?
    };
    do_insert(handle, facts, started).await
}

/// Parses facts written in calm syntax (`edge(1, "a").`), as `calm insert` and
/// `POST /v1/facts` accept them. The error is the rendered diagnostics.
///
/// Plain facts (see [`simple_facts`]) take a short path; anything else, errors included, goes
/// through the language's parser, with the same result.
pub fn facts_from_text(name: &str, text: &str) -> Result<Vec<(String, Vec<Value>)>, String> {
    if let Some(facts) = simple_facts(text) {
        return Ok(facts);
    }
    parsed_facts(name, text)
}

/// [`facts_from_text`] by the language's parser alone.
fn parsed_facts(name: &str, text: &str) -> Result<Vec<(String, Vec<Value>)>, String> {
    let mut sources = SourceMap::new();
    let file = sources.add(name, text);
    let parsed = parse_facts(file, text);
    if parsed.diagnostics.iter().any(|d| d.is_error()) {
        return Err(render_all(&parsed.diagnostics, &sources));
    }
    let mut facts = Vec::new();
    for item in &parsed.program.items {
        let Item::Rule(rule) = item else { continue };
        let mut tuple = Vec::with_capacity(rule.head.args.len());
        for arg in &rule.head.args {
            let v =
                match &arg.expr {
                    Expr::Number(n, _) => Value::Number(*n),
                    Expr::String(s, _) => Value::Symbol(s.clone()),
                    Expr::Neg(inner, _) => match &**inner {
                        Expr::Number(n, _) => Value::Number(n.checked_neg().ok_or_else(|| {
                            format!("`-{n}` is out of the range of 64-bit numbers")
                        })?),
                        _ => return Err("expected a constant".into()),
                    },
                    _ => return Err("expected a constant".into()),
                };
            tuple.push(v);
        }
        facts.push((rule.head.name.name.clone(), tuple));
    }
    Ok(facts)
}

/// The facts of `text` if it is nothing but plain facts: `name(arg, ...).` separated by spaces,
/// tabs and line breaks, where a name is `[A-Za-z_][A-Za-z0-9_]*`, an argument is a string
/// without escapes or line breaks or a decimal integer (`-` directly before it, no leading zero,
/// within 64 bits; the name is not `_`), and a fact's final `.` is followed by a space, a line break or the end.
/// `None` for anything else (comments, escapes, qualified names, hexadecimal, errors...), which
/// [`facts_from_text`] hands to the language's parser. What this accepts, the parser accepts
/// with the same facts (a property test checks it), without building a syntax tree.
pub fn simple_facts(text: &str) -> Option<Vec<(String, Vec<Value>)>> {
    if text.len() > calm_syntax::MAX_SOURCE_LEN {
        return None;
    }
    let b = text.as_bytes();
    let mut i = 0;
    let ws = |i: &mut usize| {
        while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\n' | b'\r') {
            *i += 1;
        }
    };
    let mut facts = Vec::new();
    loop {
        ws(&mut i);
        if i == b.len() {
            return Some(facts);
        }
        // The relation's name.
        let start = i;
        if !(b[i].is_ascii_alphabetic() || b[i] == b'_') {
            return None;
        }
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let name = &text[start..i];
        if name == "_" {
            // The wildcard, not a name.
            return None;
        }
        ws(&mut i);
        if b.get(i) != Some(&b'(') {
            return None;
        }
        i += 1;
        let mut tuple = Vec::new();
        ws(&mut i);
        if b.get(i) == Some(&b')') {
            i += 1;
        } else {
            loop {
                match *b.get(i)? {
                    b'"' => {
                        let from = i + 1;
                        let len = b[from..]
                            .iter()
                            .position(|&c| matches!(c, b'"' | b'\\' | b'\n' | b'\r'))?;
                        if b[from + len] != b'"' {
                            return None;
                        }
                        tuple.push(Value::Symbol(text[from..from + len].to_string()));
                        i = from + len + 1;
                    }
                    c @ (b'-' | b'0'..=b'9') => {
                        let negative = c == b'-';
                        let from = i + negative as usize;
                        let len = b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
                        let digits = &b[from..from + len];
                        if len == 0 || (len > 1 && digits[0] == b'0') || len > 19 {
                            return None;
                        }
                        // Not the start of something longer: `0x1`, `1.5`, `12ab`.
                        let next = b.get(from + len).copied().unwrap_or(b' ');
                        if next.is_ascii_alphanumeric() || next == b'_' || next == b'.' {
                            return None;
                        }
                        let n = digits
                            .iter()
                            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
                        let n = i64::try_from(n).ok()?;
                        tuple.push(Value::Number(if negative { -n } else { n }));
                        i = from + len;
                    }
                    _ => return None,
                }
                ws(&mut i);
                match *b.get(i)? {
                    b',' => {
                        i += 1;
                        ws(&mut i);
                    }
                    b')' => {
                        i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        ws(&mut i);
        if b.get(i) != Some(&b'.') {
            return None;
        }
        i += 1;
        if i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
            return None;
        }
        facts.push((name.to_string(), tuple));
    }
}

/// Decodes a query string (`a=1&b=x%20y`) strictly: `+` is a space, `%` must start an escape of
/// two hexadecimal digits, and what the escapes give must be UTF-8. Empty pairs (`a=1&&b=2`) are
/// skipped; a pair without `=` has the empty value.
pub fn parse_query(query: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((decode_component(k)?, decode_component(v)?));
    }
    Ok(out)
}

fn decode_component(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                let byte = match (b.get(i + 1).copied(), b.get(i + 2).copied()) {
                    (Some(h), Some(l)) => hex(h).zip(hex(l)).map(|(h, l)| (h * 16 + l) as u8),
                    _ => None,
                };
                let Some(byte) = byte else {
                    let escape: String = s[i..].chars().take(3).collect();
                    return Err(format!(
                        "the query `{}` has an invalid percent-escape `{escape}`: `%` must be \
                         followed by two hexadecimal digits (write `%25` for `%` itself)",
                        s.chars().take(200).collect::<String>()
                    ));
                };
                out.push(byte);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| {
        format!(
            "the query `{}` does not decode to UTF-8 text (its percent-escapes give other bytes)",
            s.chars().take(200).collect::<String>()
        )
    })
}

fn column_index(rel: &Relation, key: &str) -> Option<usize> {
    if let Some(i) = rel.columns.iter().position(|c| c == key) {
        return Some(i);
    }
    key.strip_prefix('c')
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&i| i < rel.arity)
}

async fn query(
    State(handle): State<NodeHandle>,
    rel: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let rel = path_param(rel)?;
    query_response(&handle, &rel, query.as_deref()).await
}

/// `GET /v1/relations/{rel}?col=value...` once the relation's name is decoded: the rows, as
/// `{"columns": [...], "relation": "...", "rows": [[...], ...]}`, written directly (no JSON
/// tree; the keys in the order a JSON object of the `json!` macro would have).
async fn query_response(
    handle: &NodeHandle,
    rel: &str,
    query: Option<&str>,
) -> ApiResult<Response> {
    let info = relation(handle, rel)?;
    let params = parse_query(query.unwrap_or("")).map_err(ApiError::bad)?;
    let mut filter = Vec::with_capacity(params.len());
    for (k, v) in params {
        let Some(c) = column_index(info, &k) else {
            let cols = if info.columns.is_empty() {
                format!("c0..c{}", info.arity.saturating_sub(1))
            } else {
                info.columns.join(", ")
            };
            return Err(ApiError::bad(format!(
                "`{rel}` has no column `{k}` (its columns: {cols})"
            )));
        };
        let value = match info.types.get(c) {
            Some(Type::Number) => Value::Number(v.trim().parse().map_err(|_| {
                ApiError::bad(format!("column `{k}` of `{rel}` is a number, got `{v}`"))
            })?),
            _ => Value::Symbol(v),
        };
        filter.push((c, value));
    }
    let mut rows = handle.query(rel, filter).await?;
    rows.sort();
    let mut out: Vec<u8> = Vec::with_capacity(64 + 48 * rows.len());
    out.extend_from_slice(b"{\"columns\":[");
    if info.columns.len() == info.arity {
        for (i, c) in info.columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_string(&mut out, c);
        }
    } else {
        for i in 0..info.arity {
            if i > 0 {
                out.push(b',');
            }
            json_string(&mut out, &format!("c{i}"));
        }
    }
    out.extend_from_slice(b"],\"relation\":");
    json_string(&mut out, rel);
    out.extend_from_slice(b",\"rows\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        for (j, v) in row.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            match v {
                Value::Number(n) => {
                    use std::io::Write as _;
                    let _ = write!(out, "{n}");
                }
                Value::Symbol(s) => json_string(&mut out, s),
                other => {
                    use std::io::Write as _;
                    let _ = write!(out, "{}", value_to_json(other));
                }
            }
        }
        out.push(b']');
    }
    out.extend_from_slice(b"]}");
    Ok((
        [(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        )],
        out,
    )
        .into_response())
}

/// `s` as a JSON string, escaped as `serde_json` escapes it.
fn json_string(out: &mut Vec<u8>, s: &str) {
    // Writing into a vector cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

async fn status(State(handle): State<NodeHandle>) -> ApiResult<axum::Json<Json>> {
    let s = handle.status().await?;
    let mut v = serde_json::to_value(&s)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if let Json::Object(map) = &mut v {
        let ir = handle.program().ir();
        let names = |f: fn(&Relation) -> bool| -> Json {
            ir.relations
                .iter()
                .filter(|r| f(r))
                .map(|r| Json::from(r.name.as_str()))
                .collect()
        };
        map.insert("inputs".into(), names(|r| !r.inputs.is_empty()));
        map.insert("outputs".into(), names(|r| !r.outputs.is_empty()));
    }
    Ok(axum::Json(v))
}

async fn metrics(State(handle): State<NodeHandle>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.metrics_text(),
    )
}

async fn health(State(handle): State<NodeHandle>) -> ApiResult<axum::Json<Json>> {
    match tokio::time::timeout(Duration::from_secs(5), handle.status()).await {
        Ok(Ok(s)) => Ok(axum::Json(
            json!({ "status": "ok", "node": s.name, "tick": s.tick }),
        )),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the tick loop has not answered for 5 s",
        )),
    }
}

async fn subscribe(
    State(handle): State<NodeHandle>,
    rel: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let rel = path_param(rel)?;
    relation(&handle, &rel)?;
    let rx = handle.subscribe(&rel).await?;
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let u = rx.recv().await?;
        let rows: Vec<Json> = u
            .added
            .iter()
            .map(|r| Json::Array(r.iter().map(value_to_json).collect()))
            .collect();
        let mut m = Map::new();
        m.insert("tick".into(), Json::from(u.tick));
        m.insert("relation".into(), Json::from(u.relation));
        m.insert("rows".into(), Json::Array(rows));
        let ev = Event::default()
            .event("facts")
            .data(Json::Object(m).to_string());
        Some((Ok::<_, Infallible>(ev), rx))
    });
    // Keep-alives often enough that the idle timeout does not close a quiet subscription.
    let every = (handle.limits().http_idle_timeout / 3)
        .clamp(Duration::from_millis(100), Duration::from_secs(15));
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(every))
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fact_text_is_parsed_with_the_language_parser() {
        let f = facts_from_text("t", "waits(\"t1\", \"t2\"). n(-5). e().").unwrap();
        assert_eq!(
            f,
            vec![
                (
                    "waits".to_string(),
                    vec![Value::Symbol("t1".into()), Value::Symbol("t2".into())]
                ),
                ("n".to_string(), vec![Value::Number(-5)]),
                ("e".to_string(), vec![]),
            ]
        );
        let e = facts_from_text("t", "p(x) :- q(x).").unwrap_err();
        assert!(e.contains("expected a fact"), "{e}");
    }

    #[test]
    fn plain_facts_take_the_short_path_with_the_parsers_result() {
        for text in [
            r#"put("wrk1", 7, "wrk:1:000000000007", "x", "0123456789abcdef")."#,
            "e().\n n(-5).\tn(0). n(-0). n(9223372036854775807). n(-9223372036854775807).",
            "  a_b1 ( \"é x\" , 3 ) .\r\n_1(1).",
            "",
            " \n",
        ] {
            let short = simple_facts(text).unwrap_or_else(|| panic!("not plain: {text}"));
            assert_eq!(Ok(short), parsed_facts("t", text), "{text}");
        }
        for text in [
            "n(05).",
            "n(0x1f).",
            "n(1.5).",
            "n(- 5).",
            "n(-9223372036854775808).",
            "n(99999999999999999999).",
            "s(\"a\\\"b\").",
            "a.b(1).",
            "$self(1).",
            "n(1) // c",
            "n(1).m(2).",
            "n(1)",
            "n(1,).",
            "p(x) :- q(x).",
            "n(1)@next.",
            "_(1).",
        ] {
            assert_eq!(simple_facts(text), None, "{text}");
        }
    }

    /// Pieces of text, most of them what facts are made of, some of what else the language has.
    fn piece() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let names = prop::sample::select(vec![
            "put", "e", "_x", "_", "a1", "count", "min", "sum", "match", "contains", "true", "nil",
            "a.b", "$self", "decl", "input",
        ]);
        let values = prop::sample::select(vec![
            "0",
            "7",
            "-3",
            "- 3",
            "-0",
            "05",
            "00",
            "0x1f",
            "0b1",
            "1.5",
            "12ab",
            "1_000",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775807",
            "-9223372036854775808",
            "99999999999999999999",
            "\"a\"",
            "\"\"",
            "\"a b\"",
            "\"é€\"",
            "\"a\\\"b\"",
            "\"a\\qb\"",
            "\"a\nb\"",
            "\"a",
            "x",
            "_",
        ]);
        let other = prop::sample::select(vec![
            "(", ")", ",", ".", " ", "\n", "\t", "\r", "//c\n", "/*c*/", "@next", ":-", "-", "!",
            ".decl", "#", ";", "\u{a0}",
        ]);
        let seps = prop::sample::select(vec!["", " ", "\n", "\t", "\r\n", "  "]);
        let fact = (
            names.clone(),
            seps.clone(),
            prop::collection::vec((values.clone(), seps.clone()), 0..4),
            seps.clone(),
            seps.clone(),
        )
            .prop_map(|(n, s1, args, s2, s3)| {
                let args: Vec<String> = args
                    .into_iter()
                    .map(|(v, s)| format!("{s}{v}{s}"))
                    .collect();
                format!("{n}{s1}({}){s2}.{s3}", args.join(","))
            });
        prop_oneof![
            4 => fact,
            1 => names.prop_map(str::to_string),
            1 => values.prop_map(str::to_string),
            1 => other.prop_map(str::to_string),
            1 => seps.prop_map(str::to_string),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Whatever the short path accepts, the language's parser accepts with the same facts.
        #[test]
        fn the_short_path_agrees_with_the_parser(
            pieces in proptest::collection::vec(piece(), 0..6)
        ) {
            let text = pieces.concat();
            if let Some(short) = simple_facts(&text) {
                proptest::prop_assert_eq!(Ok(short), parsed_facts("t", &text), "{:?}", text);
            }
        }
    }

    #[test]
    fn query_strings_are_decoded_strictly() {
        let q = |s: &str| parse_query(s);
        assert_eq!(
            q("a=1&b=x%20y+z&&c").unwrap(),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y z".into()),
                ("c".into(), String::new())
            ]
        );
        assert_eq!(q("k=%C3%A9%2b").unwrap(), vec![("k".into(), "é+".into())]);
        assert!(q("").unwrap().is_empty());
        for bad in ["a=%zz", "a=%4", "a=%", "a%g1=1", "a=%e9"] {
            let e = q(bad).unwrap_err();
            assert!(
                e.contains("percent-escape") || e.contains("UTF-8"),
                "{bad}: {e}"
            );
        }
        assert!(q("a=%zz").unwrap_err().contains("`%zz`"));
        assert!(q("a=%e9").unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn json_values() {
        assert_eq!(json_to_value(&json!(3)).unwrap(), Value::Number(3));
        assert_eq!(
            json_to_value(&json!("a")).unwrap(),
            Value::Symbol("a".into())
        );
        for bad in [
            json!(1.5),
            json!(true),
            json!(null),
            json!([1]),
            json!({}),
            json!(u64::MAX),
        ] {
            assert!(json_to_value(&bad).is_err(), "{bad}");
        }
    }
}
