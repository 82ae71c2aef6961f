//! What the node benchmarks share: nodes and three-node clusters on loopback started through the
//! public API, an HTTP front for a node, the time of every tick (read from the tick loop's
//! `tick` tracing span), and percentiles.

use calm_engine::{Program, Value};
use calm_node::{Limits, Node, NodeConfig, NodeHandle, Peer};
use nix::time::{ClockId, clock_gettime};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// Whether this is a measurement: `cargo bench` passes `--bench`. Without it (`cargo test
/// --benches`, or the binary run by hand) the benchmarks run a quick check at small sizes.
pub fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// A size: the number in the environment variable `name`, or else `full` when measuring and
/// `check` otherwise.
pub fn size(name: &str, full: usize, check: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) if measuring() => full,
        Err(_) => check,
    }
}

/// Free ports on 127.0.0.1, all distinct.
pub fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// Starts one node (in memory, no authentication) running `src`.
pub async fn start(src: &str, name: &str, port: u16, peers: Vec<Peer>) -> Node {
    calm_node::start(NodeConfig {
        name: name.into(),
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        peers,
        program: Program::compile("bench.dl", src).unwrap(),
        limits: Limits::default(),
    })
    .await
    .unwrap()
}

/// Nodes n1, n2, n3 running one program, linked over loopback TCP.
pub struct Cluster {
    /// The nodes' handles, n1 first.
    pub handles: Vec<NodeHandle>,
    nodes: Vec<Node>,
}

impl Cluster {
    /// Starts three nodes and waits until every link is up.
    pub async fn start(src: &str) -> Cluster {
        let names = ["n1", "n2", "n3"];
        let ports = free_ports(3);
        let mut nodes = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let peers = (0..3)
                .filter(|&j| j != i)
                .map(|j| Peer {
                    name: names[j].into(),
                    addr: format!("127.0.0.1:{}", ports[j]).parse().unwrap(),
                    host: None,
                })
                .collect();
            nodes.push(start(src, name, ports[i], peers).await);
        }
        let handles: Vec<NodeHandle> = nodes.iter().map(|n| n.handle.clone()).collect();
        let started = Instant::now();
        for h in &handles {
            while !h.status().await.unwrap().peers.iter().all(|p| p.connected) {
                assert!(started.elapsed() < Duration::from_secs(10), "links not up");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        Cluster { handles, nodes }
    }

    /// Stops every node and waits until each has stopped (so none ticks afterwards).
    pub async fn stop(self) {
        for h in &self.handles {
            h.shutdown();
        }
        for n in self.nodes {
            n.wait().await;
        }
    }
}

/// Serves the HTTP API of `h` on a free port; returns `http://127.0.0.1:PORT`.
pub async fn serve_http(h: &NodeHandle) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(calm_node::http::serve(
        l,
        h.clone(),
        64 << 20,
        std::future::pending(),
    ));
    base
}

/// Polls each of `nodes` in turn with `query(relation, filter)` until every one has returned a
/// row, sleeping [`POLL`] after each round; returns, per node, the time from `since` until its
/// first answer with rows, and those rows. Panics after 30 s. Call it from a thread that is not a
/// runtime worker (a probe thread, which can sleep without stalling the runtime).
pub fn wait_for_rows(
    rt: &tokio::runtime::Handle,
    since: Instant,
    nodes: &[&NodeHandle],
    relation: &str,
    filter: &[(usize, Value)],
) -> Vec<(Duration, Vec<Vec<Value>>)> {
    let mut seen: Vec<Option<(Duration, Vec<Vec<Value>>)>> = vec![None; nodes.len()];
    while seen.iter().any(Option::is_none) {
        for (h, s) in nodes.iter().zip(seen.iter_mut()) {
            if s.is_none() {
                let rows = rt.block_on(h.query(relation, filter.to_vec())).unwrap();
                if !rows.is_empty() {
                    *s = Some((since.elapsed(), rows));
                }
            }
        }
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "{relation} {filter:?} never became visible everywhere"
        );
        std::thread::sleep(POLL);
    }
    seen.into_iter().flatten().collect()
}

/// The pause between two polls of a latency probe (the OS sleeps a little longer).
pub const POLL: Duration = Duration::from_micros(50);

/// `ticks` and `tick_micros` of a node's metrics.
pub fn tick_counters(h: &NodeHandle) -> (u64, u64) {
    let m = h.metrics();
    (
        m.ticks.load(Ordering::Relaxed),
        m.tick_micros.load(Ordering::Relaxed),
    )
}

/// The value at quantile `q` (nearest rank) of sorted samples.
pub fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `p50 X ms  p99 Y ms  max Z ms` of the samples (sorted here).
pub fn dist(samples: &mut [Duration]) -> String {
    samples.sort();
    format!(
        "p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        ms(pct(samples, 0.5)),
        ms(pct(samples, 0.99)),
        ms(samples.last().copied().unwrap_or_default()),
    )
}

// ---- Tick times ----
//
// The tick loop wraps each step in a `debug_span!("tick", node = NAME, ...)`: `NodeCore::step`
// (the engine tick; what the `calm_tick_seconds_total` metric adds up), the numbering of the
// batches to send, and with a data directory the commit. The metrics only give sums, so the
// benchmarks install this subscriber, which listens to that span alone and, while recording,
// records per node how long each was entered: wall time, and the tick thread's CPU time
// (`CLOCK_THREAD_CPUTIME_ID`). On a loaded machine the two differ by the time the thread waited
// for a core.

/// One tick: wall time and CPU time.
type Tick = (Duration, Duration);

/// An open span: its id, its node, and when it was entered (wall clock, thread CPU clock).
type OpenSpan = (u64, String, Option<(Instant, Duration)>);

/// Spans named `tick` (open and finished), per node name.
struct TickSpans {
    next_id: AtomicU64,
    open: Mutex<Vec<OpenSpan>>,
    /// Finished spans: node and tick.
    done: Mutex<Vec<(String, Tick)>>,
}

static TICKS: TickSpans = TickSpans {
    next_id: AtomicU64::new(1),
    open: Mutex::new(Vec::new()),
    done: Mutex::new(Vec::new()),
};

/// The CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).expect("thread CPU clock");
    Duration::from(t)
}

/// Whether ticks are being recorded (between [`ticks_from_now`] and [`tick_report`]); otherwise
/// a tick costs the tick loop one atomic load more than without the subscriber.
static RECORDING: AtomicBool = AtomicBool::new(false);

/// The subscriber recording [`TICKS`].
struct TickTap;

fn is_tick(m: &Metadata<'_>) -> bool {
    m.is_span() && m.name() == "tick"
}

/// Reads the `node` field of a span.
struct NodeField(String);

impl tracing::field::Visit for NodeField {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "node" {
            self.0 = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "node" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for TickTap {
    fn register_callsite(&self, m: &'static Metadata<'static>) -> Interest {
        if is_tick(m) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, m: &Metadata<'_>) -> bool {
        is_tick(m) && RECORDING.load(Ordering::Relaxed)
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut node = NodeField(String::new());
        attrs.record(&mut node);
        let id = TICKS.next_id.fetch_add(1, Ordering::Relaxed);
        TICKS.open.lock().unwrap().push((id, node.0, None));
        Id::from_u64(id)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, id: &Id) {
        let mut open = TICKS.open.lock().unwrap();
        if let Some(s) = open.iter_mut().find(|s| s.0 == id.into_u64()) {
            s.2 = Some((Instant::now(), thread_cpu()));
        }
    }

    fn exit(&self, id: &Id) {
        let (cpu, now) = (thread_cpu(), Instant::now());
        let open = TICKS.open.lock().unwrap();
        if let Some((_, node, Some((wall0, cpu0)))) = open.iter().find(|s| s.0 == id.into_u64()) {
            let tick = (now - *wall0, cpu.saturating_sub(*cpu0));
            TICKS.done.lock().unwrap().push((node.clone(), tick));
        }
    }

    fn try_close(&self, id: Id) -> bool {
        TICKS.open.lock().unwrap().retain(|s| s.0 != id.into_u64());
        true
    }
}

/// Installs the tick recorder as the global tracing subscriber (before any node starts).
pub fn record_ticks() {
    tracing::subscriber::set_global_default(TickTap).expect("no other tracing subscriber");
}

/// The ticks recorded since the last call, per node name.
fn take_ticks() -> BTreeMap<String, Vec<Tick>> {
    let mut by_node: BTreeMap<String, Vec<Tick>> = BTreeMap::new();
    for (node, t) in std::mem::take(&mut *TICKS.done.lock().unwrap()) {
        by_node.entry(node).or_default().push(t);
    }
    by_node
}

/// The tick times of each node of `handles`, one line each, from the spans recorded since
/// [`ticks_from_now`] (which gave `before`); checks that every tick the nodes counted since then
/// was seen. Stops recording.
pub fn tick_report(handles: &[NodeHandle], before: &[(u64, u64)]) -> String {
    // Counters first: a tick's span ends before the counter counts it.
    let after: Vec<(u64, u64)> = handles.iter().map(tick_counters).collect();
    let mut ticks = take_ticks();
    RECORDING.store(false, Ordering::Relaxed);
    let mut out = String::new();
    for ((h, &(t0, _)), &(t1, _)) in handles.iter().zip(before).zip(&after) {
        let spans = ticks.remove(h.name()).unwrap_or_default();
        // A tick under way when recording started may be counted without its span.
        assert!(
            spans.len() as u64 + 1 >= t1 - t0,
            "{}: {} ticks counted but {} `tick` spans seen (did the tick loop's span change?)",
            h.name(),
            t1 - t0,
            spans.len()
        );
        let (mut wall, mut cpu): (Vec<Duration>, Vec<Duration>) = spans.into_iter().unzip();
        wall.sort();
        cpu.sort();
        let short = |v: &[Duration]| {
            format!(
                "p50 {:>6.2}  p99 {:>6.2}  max {:>6.2} ms",
                ms(pct(v, 0.5)),
                ms(pct(v, 0.99)),
                ms(v.last().copied().unwrap_or_default()),
            )
        };
        out += &format!(
            "    {}: {:>5} ticks, tick time {}; on CPU {}\n",
            h.name(),
            wall.len(),
            short(&wall),
            short(&cpu),
        );
    }
    out
}

/// Starts recording ticks; returns the tick counters of every node, to pass to [`tick_report`].
pub fn ticks_from_now(handles: &[NodeHandle]) -> Vec<(u64, u64)> {
    RECORDING.store(true, Ordering::Relaxed);
    take_ticks();
    handles.iter().map(tick_counters).collect()
}
