//! Ingest benchmark: facts per second taken in by a node, and the latency of a tick, on
//! loopback, with nodes started in-process by `calm_node::start`.
//!
//! ```sh
//! cargo bench -p calm-node --bench ingest            # defaults: 200000 facts, batches of 1000
//! cargo bench -p calm-node --bench ingest -- 50000 500
//! INGEST_SAMPLES=500 cargo bench -p calm-node --bench ingest
//! ```
//!
//! Scenarios:
//! 1. one node, events (nothing persisted): one client inserting batches through the handle;
//! 2. the same with 4 concurrent clients (requests arriving together share a tick);
//! 3. the same through the HTTP API (JSON bodies);
//! 4. one node, persisted facts (the state grows with every batch);
//! 5. three nodes on loopback TCP: batches inserted at n1, broadcast by `@async` to every
//!    member; the time until all three hold every fact, and the time of each tick on each node
//!    (p50/p99/max of the tick loop's `tick` span, wall clock and the thread's CPU time);
//! 6. three nodes, one fact at a time (`INGEST_SAMPLES`, default 200): the time from the insert
//!    at n1 until a query at n3 returns the fact, and each node's tick times.
//!
//! `cargo bench -p calm-node --bench ingest --bench kv` runs this and the key-value store
//! benchmark (`kv.rs`). Without `--bench` (`cargo test -p calm-node --benches`) it checks every
//! scenario at small sizes (4,000 facts, 20 samples) instead of measuring. Every scenario checks
//! its result (every fact accepted, held or delivered), so a broken run fails.

mod common;

use calm_engine::Value;
use calm_node::NodeHandle;
use common::{Cluster, dist, tick_counters, ticks_from_now};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const EVENTS: &str = "
.decl ev(id: number, v: symbol)
.decl seen(id: number)
seen(x) :- ev(x, _).
";

const PERSISTED: &str = "
.decl ev(id: number, v: symbol)
.persist ev
.decl seen(id: number)
seen(x) :- ev(x, _).
";

const BROADCAST: &str = "
.decl ev(id: number, v: symbol)
.decl got(node: symbol, id: number)
.persist got
got(@n, x)@async :- ev(x, _), $member(n).
";

fn batch(from: usize, n: usize) -> Vec<(String, Vec<Value>)> {
    (from..from + n)
        .map(|i| {
            (
                "ev".to_string(),
                vec![
                    Value::Number(i as i64),
                    Value::Symbol(format!("v{}", i % 1000)),
                ],
            )
        })
        .collect()
}

async fn start(src: &str) -> NodeHandle {
    common::start(src, "n1", 0, vec![]).await.handle
}

struct Stats {
    facts: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    ticks: u64,
    tick_micros: u64,
    /// Printed after the figures.
    detail: String,
}

impl Stats {
    fn print(&mut self, title: &str) {
        self.latencies.sort();
        let pct = |q: f64| common::pct(&self.latencies, q);
        let per_tick = if self.ticks == 0 {
            0.0
        } else {
            self.tick_micros as f64 / self.ticks as f64 / 1000.0
        };
        println!(
            "{title:<44} {:>10.0} facts/s  insert latency p50 {:>7.2} ms  p99 {:>7.2} ms  \
             ticks {:>5}  mean tick {:>6.2} ms",
            self.facts as f64 / self.elapsed.as_secs_f64(),
            pct(0.5).as_secs_f64() * 1000.0,
            pct(0.99).as_secs_f64() * 1000.0,
            self.ticks,
            per_tick,
        );
        print!("{}", self.detail);
    }
}

/// Checks that the node took every fact: `facts` accepted, and with `.persist` all in `seen`.
async fn check_ingested(h: &NodeHandle, facts: usize) {
    let inserted = h.metrics().facts_inserted.load(Ordering::Relaxed);
    assert_eq!(inserted, facts as u64, "facts accepted");
    if h.program()
        .ir()
        .relations
        .iter()
        .any(|r| r.name == "ev" && r.persist)
    {
        let seen = h.status().await.unwrap().relations.get("seen").copied();
        assert_eq!(seen, Some(facts), "facts held");
    }
}

async fn via_handle(src: &str, total: usize, size: usize, clients: usize) -> Stats {
    let h = start(src).await;
    let (t0, m0) = tick_counters(&h);
    let started = Instant::now();
    let per_client = total / clients;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = c * per_client;
            while i < (c + 1) * per_client {
                let n = size.min((c + 1) * per_client - i);
                let t = Instant::now();
                h.insert(batch(i, n)).await.unwrap();
                lat.push(t.elapsed());
                i += n;
            }
            lat
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    let (t1, m1) = tick_counters(&h);
    let facts = per_client * clients;
    check_ingested(&h, facts).await;
    h.shutdown();
    Stats {
        facts,
        elapsed,
        latencies,
        ticks: t1 - t0,
        tick_micros: m1 - m0,
        detail: String::new(),
    }
}

async fn via_http(total: usize, size: usize) -> Stats {
    let h = start(EVENTS).await;
    let url = format!("{}/v1/relations/ev", common::serve_http(&h).await);
    let (t0, m0) = tick_counters(&h);
    let started = Instant::now();
    let latencies = tokio::task::spawn_blocking(move || {
        let agent = ureq::agent();
        let mut lat = Vec::new();
        let mut i = 0;
        while i < total {
            let n = size.min(total - i);
            let body: Vec<String> = (i..i + n)
                .map(|k| format!("[{k},\"v{}\"]", k % 1000))
                .collect();
            let body = format!("[{}]", body.join(","));
            let t = Instant::now();
            agent
                .post(&url)
                .content_type("application/json")
                .send(body)
                .unwrap();
            lat.push(t.elapsed());
            i += n;
        }
        lat
    })
    .await
    .unwrap();
    let elapsed = started.elapsed();
    let (t1, m1) = tick_counters(&h);
    check_ingested(&h, total).await;
    h.shutdown();
    Stats {
        facts: total,
        elapsed,
        latencies,
        ticks: t1 - t0,
        tick_micros: m1 - m0,
        detail: String::new(),
    }
}

async fn cluster(total: usize, size: usize) -> Stats {
    let c = Cluster::start(BROADCAST).await;
    let handles = &c.handles;
    let (t0, m0) = tick_counters(&handles[0]);
    let before = ticks_from_now(handles);
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut i = 0;
    while i < total {
        let n = size.min(total - i);
        let t = Instant::now();
        handles[0].insert(batch(i, n)).await.unwrap();
        latencies.push(t.elapsed());
        i += n;
    }
    // Until every node holds every fact.
    for h in handles {
        loop {
            let s = h.status().await.unwrap();
            if s.relations.get("got").copied() == Some(total) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "no convergence"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let elapsed = started.elapsed();
    let (t1, m1) = tick_counters(&handles[0]);
    let detail = common::tick_report(handles, &before);
    c.stop().await;
    Stats {
        facts: total,
        elapsed,
        latencies,
        ticks: t1 - t0,
        tick_micros: m1 - m0,
        detail,
    }
}

/// One fact at a time inserted at n1 (`samples` of them, 2 ms apart): the time until n1
/// acknowledges it (its tick is complete), and until a query at n3 returns it.
async fn cluster_latency(samples: usize) {
    let c = Cluster::start(BROADCAST).await;
    let before = ticks_from_now(&c.handles);
    let (n1, n3) = (c.handles[0].clone(), c.handles[2].clone());
    let rt = tokio::runtime::Handle::current();
    let (mut acked, mut visible) = tokio::task::spawn_blocking(move || {
        let (mut acked, mut visible) = (Vec::new(), Vec::new());
        for i in 0..samples {
            let t = Instant::now();
            rt.block_on(n1.insert(batch(i, 1))).unwrap();
            acked.push(t.elapsed());
            let filter = [(1, Value::Number(i as i64))];
            let seen = common::wait_for_rows(&rt, t, &[&n3], "got", &filter);
            let (after, rows) = &seen[0];
            visible.push(*after);
            assert_eq!(
                rows,
                &vec![vec![Value::Symbol("n3".into()), Value::Number(i as i64)]]
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        (acked, visible)
    })
    .await
    .unwrap();
    println!(
        "3 nodes, one fact at a time inserted at n1 ({samples} samples, 2 ms apart):\n    \
         until n1 acknowledges it:          {}\n    \
         until a query at n3 returns it:    {}",
        dist(&mut acked),
        dist(&mut visible),
    );
    print!("{}", common::tick_report(&c.handles, &before));
    c.stop().await;
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let total = args
        .first()
        .copied()
        .unwrap_or(if common::measuring() { 200_000 } else { 4_000 });
    let size = args.get(1).copied().unwrap_or(1000).max(1);
    let samples = common::size("INGEST_SAMPLES", 200, 20).max(1);
    common::record_ticks();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "calm-node ingest: {total} facts, batches of {size}{}",
        if common::measuring() {
            ""
        } else {
            " (a check, not a measurement: run it with cargo bench)"
        }
    );
    rt.block_on(async {
        via_handle(EVENTS, total, size, 1)
            .await
            .print("1 node, events, 1 client");
        via_handle(EVENTS, total, size, 4)
            .await
            .print("1 node, events, 4 clients");
        via_http(total, size)
            .await
            .print("1 node, events, HTTP JSON, 1 client");
        via_handle(PERSISTED, total / 4, size, 1)
            .await
            .print("1 node, persisted (1/4 of the facts)");
        cluster(total / 4, size)
            .await
            .print("3 nodes, broadcast to all (1/4 of the facts)");
        cluster_latency(samples).await;
    });
}
