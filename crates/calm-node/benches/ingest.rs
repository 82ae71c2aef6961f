//! Ingest benchmark: facts per second taken in by a node, and the latency of a tick, on
//! loopback, with nodes started in-process by `calm_node::start`.
//!
//! ```sh
//! cargo bench -p calm-node --bench ingest            # defaults: 200000 facts, batches of 1000
//! cargo bench -p calm-node --bench ingest -- 50000 500
//! ```
//!
//! Scenarios:
//! 1. one node, events (nothing persisted): one client inserting batches through the handle;
//! 2. the same with 4 concurrent clients (requests arriving together share a tick);
//! 3. the same through the HTTP API (JSON bodies);
//! 4. one node, persisted facts (the state grows with every batch);
//! 5. three nodes: batches inserted at n1, broadcast by `@async` to every member; the time
//!    until all three hold every fact.

use calm_engine::{Program, Value};
use calm_node::{Limits, NodeConfig, NodeHandle, Peer};
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

fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

async fn start(src: &str, name: &str, port: u16, peers: Vec<Peer>) -> NodeHandle {
    let node = calm_node::start(NodeConfig {
        name: name.into(),
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        peers,
        program: Program::compile("bench.dl", src).unwrap(),
        limits: Limits::default(),
    })
    .await
    .unwrap();
    node.handle
}

struct Stats {
    facts: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    ticks: u64,
    tick_micros: u64,
}

impl Stats {
    fn print(&mut self, title: &str) {
        self.latencies.sort();
        let pct = |p: f64| {
            let l = &self.latencies;
            if l.is_empty() {
                Duration::ZERO
            } else {
                l[((l.len() - 1) as f64 * p) as usize]
            }
        };
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
    }
}

fn tick_counters(h: &NodeHandle) -> (u64, u64) {
    let m = h.metrics();
    (
        m.ticks.load(Ordering::Relaxed),
        m.tick_micros.load(Ordering::Relaxed),
    )
}

async fn via_handle(src: &str, total: usize, size: usize, clients: usize) -> Stats {
    let h = start(src, "n1", 0, vec![]).await;
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
    h.shutdown();
    Stats {
        facts: per_client * clients,
        elapsed,
        latencies,
        ticks: t1 - t0,
        tick_micros: m1 - m0,
    }
}

async fn via_http(total: usize, size: usize) -> Stats {
    let h = start(EVENTS, "n1", 0, vec![]).await;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/relations/ev", l.local_addr().unwrap());
    tokio::spawn(calm_node::http::serve(
        l,
        h.clone(),
        64 << 20,
        std::future::pending(),
    ));
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
    h.shutdown();
    Stats {
        facts: total,
        elapsed,
        latencies,
        ticks: t1 - t0,
        tick_micros: m1 - m0,
    }
}

async fn cluster(total: usize, size: usize) -> Stats {
    let names = ["n1", "n2", "n3"];
    let ports = free_ports(3);
    let mut handles = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let peers = (0..3)
            .filter(|&j| j != i)
            .map(|j| Peer {
                name: names[j].into(),
                addr: format!("127.0.0.1:{}", ports[j]).parse().unwrap(),
            })
            .collect();
        handles.push(start(BROADCAST, name, ports[i], peers).await);
    }
    let (t0, m0) = tick_counters(&handles[0]);
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
    for h in &handles {
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
    for h in &handles {
        h.shutdown();
    }
    Stats {
        facts: total,
        elapsed,
        latencies,
        ticks: t1 - t0,
        tick_micros: m1 - m0,
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let total = args.first().copied().unwrap_or(200_000);
    let size = args.get(1).copied().unwrap_or(1000).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("calm-node ingest: {total} facts, batches of {size}");
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
    });
}
