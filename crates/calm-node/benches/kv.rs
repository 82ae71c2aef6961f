//! Key-value store benchmark: `programs/kvs.dl` on three nodes linked over loopback TCP, started
//! in-process by `calm_node::start`. Puts and gets per second, and the time until a put at one
//! node is readable at another.
//!
//! ```sh
//! cargo bench -p calm-node --bench kv
//! KV_BENCH_VERSIONS=5000 KV_BENCH_OPS=500 cargo bench -p calm-node --bench kv
//! cargo bench -p calm-node --bench ingest --bench kv   # this and the ingest benchmark
//! cargo test -p calm-node --benches         # a check at small sizes, without --bench
//! ```
//!
//! A put is what `calm kv put K1 K2 VALUE` sends: the fact
//! `put(client, seq, K1, K2, VALUE)` (a new version with the id `(client, seq)`); a get is what
//! `calm kv get K1 K2` reads: the rows of `visible(k1, k2, value, client, seq)` whose first two
//! columns are the keys (an equality filter, `NodeHandle::query` or
//! `GET /v1/relations/visible?k1=K1&k2=K2`). Every put has its own keys (`key:N`, `x`) and a
//! 16-byte value, so nothing is tombstoned and the store grows by one version per put; each
//! scenario says the store's size before and after it.
//!
//! Scenarios, in order, on one cluster (the store grows along):
//! 1. `KV_BENCH_SAMPLES` (default 200) single puts at n1, one at a time, on the empty store: the
//!    time until n1 acknowledges the put and until a get at n3 and at n2 (polled in turn, about
//!    every 0.1 ms) returns it;
//! 2. `KV_BENCH_VERSIONS` (default 20000) puts at n1 through the handle, `KV_BENCH_BATCH`
//!    (default 100) to a request, one client;
//! 3. a quarter as many through HTTP (`POST /v1/facts`, JSON: `calm kv put`'s request, batched);
//! 4. `KV_BENCH_OPS` (default 300) single puts at n1 through the handle, one client, then four
//!    concurrent clients, then through HTTP (exactly `calm kv put`'s request);
//! 5. `KV_BENCH_GETS` (default 5000) gets by (k1, k2) at n3, through the handle and through HTTP
//!    (`calm kv get`'s request), one client and four;
//! 6. scenario 1 again, on the full store.
//!
//! For puts: puts per second acknowledged by n1 (an insert is answered once the tick that took
//! it is complete at n1) and until every node holds every version (`kv` and `visible` of the
//! expected size on n1, n2, n3), the request latency, and each node's tick times (p50/p99/max of
//! the tick loop's `tick` span, wall clock and the thread's CPU time; the compaction timer's
//! ticks included). Every get checks that it returned exactly the version put under its keys.

mod common;

use calm_engine::Value;
use calm_node::NodeHandle;
use common::{Cluster, dist, size, ticks_from_now};
use serde_json::Value as Json;
use std::time::{Duration, Instant};

const KVS: &str = include_str!("../../../programs/kvs.dl");

/// The client part of every put's id; the counter is the put's number.
const CLIENT: &str = "bench";

fn k1(i: usize) -> String {
    format!("key:{i}")
}

const K2: &str = "x";

fn value(i: usize) -> String {
    format!("{i:016}")
}

/// The fact of put number `i`.
fn put(i: usize) -> (String, Vec<Value>) {
    (
        "put".to_string(),
        vec![
            Value::Symbol(CLIENT.into()),
            Value::Number(i as i64),
            Value::Symbol(k1(i)),
            Value::Symbol(K2.into()),
            Value::Symbol(value(i)),
        ],
    )
}

/// The row of `visible` put number `i` gives.
fn visible_row(i: usize) -> Vec<Value> {
    vec![
        Value::Symbol(k1(i)),
        Value::Symbol(K2.into()),
        Value::Symbol(value(i)),
        Value::Symbol(CLIENT.into()),
        Value::Number(i as i64),
    ]
}

/// The body of `POST /v1/facts` for puts `ids`.
fn put_json(ids: std::ops::Range<usize>) -> String {
    let rows: Vec<Json> = ids
        .map(|i| serde_json::json!([CLIENT, i, k1(i), K2, value(i)]))
        .collect();
    serde_json::json!({ "put": rows }).to_string()
}

/// The filter of a get by (k1, k2).
fn by_keys(i: usize) -> Vec<(usize, Value)> {
    vec![(0, Value::Symbol(k1(i))), (1, Value::Symbol(K2.into()))]
}

#[derive(Clone, Copy, PartialEq)]
enum Via {
    Handle,
    Http,
}

struct Kv {
    cluster: Cluster,
    /// HTTP base URLs of n1 and n3.
    http1: String,
    http3: String,
    /// Versions put so far: ids 0..versions.
    versions: usize,
}

/// Waits until every node holds `n` versions, all visible.
async fn replicated(handles: &[NodeHandle], n: usize) {
    let started = Instant::now();
    for h in handles {
        loop {
            let s = h.status().await.unwrap();
            let (kv, vis) = (s.relations.get("kv"), s.relations.get("visible"));
            if kv == Some(&n) && vis == Some(&n) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{} holds {kv:?} versions ({vis:?} visible), not {n}",
                h.name()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// `n` puts at n1, `per_request` to a request, from `clients` concurrent clients.
async fn puts(kv: &mut Kv, title: &str, n: usize, per_request: usize, clients: usize, via: Via) {
    let handles = kv.cluster.handles.clone();
    let first = kv.versions;
    let before = ticks_from_now(&handles);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let ids = first + n * c / clients..first + n * (c + 1) / clients;
        let h = handles[0].clone();
        let url = format!("{}/v1/facts", kv.http1);
        tasks.push(tokio::spawn(async move {
            match via {
                Via::Handle => {
                    let mut lat = Vec::new();
                    let mut i = ids.start;
                    while i < ids.end {
                        let m = per_request.min(ids.end - i);
                        let facts = (i..i + m).map(put).collect();
                        let t = Instant::now();
                        h.insert(facts).await.unwrap();
                        lat.push(t.elapsed());
                        i += m;
                    }
                    lat
                }
                Via::Http => tokio::task::spawn_blocking(move || {
                    let agent = ureq::agent();
                    let mut lat = Vec::new();
                    let mut i = ids.start;
                    while i < ids.end {
                        let m = per_request.min(ids.end - i);
                        let body = put_json(i..i + m);
                        let t = Instant::now();
                        let mut r = agent
                            .post(&url)
                            .content_type("application/json")
                            .send(body)
                            .unwrap();
                        lat.push(t.elapsed());
                        let answer: Json =
                            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                        assert_eq!(answer["inserted"], m, "{answer}");
                        i += m;
                    }
                    lat
                })
                .await
                .unwrap(),
            }
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let acked = started.elapsed();
    kv.versions += n;
    replicated(&handles, kv.versions).await;
    let everywhere = started.elapsed();
    println!(
        "{title}  (store {first} -> {} versions)\n    \
         {:>8.0} puts/s acknowledged by n1  {:>8.0} puts/s on every node  request {}",
        kv.versions,
        n as f64 / acked.as_secs_f64(),
        n as f64 / everywhere.as_secs_f64(),
        dist(&mut lat),
    );
    print!("{}", common::tick_report(&handles, &before));
}

/// `n` gets by (k1, k2) at n3 from `clients` concurrent clients, each checked.
async fn gets(kv: &Kv, title: &str, n: usize, clients: usize, via: Via) {
    let versions = kv.versions;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let h = kv.cluster.handles[2].clone();
        let base = kv.http3.clone();
        // Spread over the store: a fixed stride through the ids.
        let key = move |j: usize| (j * clients + c) * 7919 % versions;
        let count = n * (c + 1) / clients - n * c / clients;
        tasks.push(tokio::spawn(async move {
            match via {
                Via::Handle => {
                    let mut lat = Vec::new();
                    for j in 0..count {
                        let i = key(j);
                        let t = Instant::now();
                        let rows = h.query("visible", by_keys(i)).await.unwrap();
                        lat.push(t.elapsed());
                        assert_eq!(rows, vec![visible_row(i)]);
                    }
                    lat
                }
                Via::Http => tokio::task::spawn_blocking(move || {
                    let agent = ureq::agent();
                    let mut lat = Vec::new();
                    for j in 0..count {
                        let i = key(j);
                        let url = format!("{base}/v1/relations/visible?k1={}&k2={K2}", k1(i));
                        let t = Instant::now();
                        let mut r = agent.get(&url).call().unwrap();
                        let body = r.body_mut().read_to_string().unwrap();
                        lat.push(t.elapsed());
                        let answer: Json = serde_json::from_str(&body).unwrap();
                        let want = serde_json::json!([[k1(i), K2, value(i), CLIENT, i]]);
                        assert_eq!(answer["rows"], want, "{body}");
                    }
                    lat
                })
                .await
                .unwrap(),
            }
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    assert_eq!(lat.len(), n);
    println!(
        "{title:<46} {:>8.0} gets/s  request {}  (store {versions} versions)",
        n as f64 / elapsed.as_secs_f64(),
        dist(&mut lat),
    );
}

/// Single puts at n1, one at a time, 2 ms apart: the time until n1 acknowledges each and until
/// a get at n3 and at n2 (polled in turn) returns it.
async fn put_to_visible(kv: &mut Kv, samples: usize) {
    let handles = kv.cluster.handles.clone();
    let first = kv.versions;
    let before = ticks_from_now(&handles);
    let rt = tokio::runtime::Handle::current();
    let hs = handles.clone();
    let (mut acked, mut at_n3, mut at_n2) = tokio::task::spawn_blocking(move || {
        let (mut acked, mut at_n3, mut at_n2) = (Vec::new(), Vec::new(), Vec::new());
        for i in first..first + samples {
            let t = Instant::now();
            rt.block_on(hs[0].insert(vec![put(i)])).unwrap();
            acked.push(t.elapsed());
            let seen = common::wait_for_rows(&rt, t, &[&hs[2], &hs[1]], "visible", &by_keys(i));
            for (_, rows) in &seen {
                assert_eq!(rows, &vec![visible_row(i)]);
            }
            at_n3.push(seen[0].0);
            at_n2.push(seen[1].0);
            std::thread::sleep(Duration::from_millis(2));
        }
        (acked, at_n3, at_n2)
    })
    .await
    .unwrap();
    kv.versions += samples;
    replicated(&handles, kv.versions).await;
    println!(
        "single puts at n1, one at a time ({samples} samples, 2 ms apart; \
         store {first} -> {} versions):\n    \
         until n1 acknowledges it:          {}\n    \
         until a get at n3 returns it:      {}\n    \
         until a get at n2 returns it:      {}",
        kv.versions,
        dist(&mut acked),
        dist(&mut at_n3),
        dist(&mut at_n2),
    );
    print!("{}", common::tick_report(&handles, &before));
}

fn main() {
    let versions = size("KV_BENCH_VERSIONS", 20_000, 400).max(4);
    let batch = size("KV_BENCH_BATCH", 100, 100).max(1);
    let ops = size("KV_BENCH_OPS", 300, 20).max(4);
    let get_n = size("KV_BENCH_GETS", 5000, 100).max(4);
    let samples = size("KV_BENCH_SAMPLES", 200, 10).max(1);
    common::record_ticks();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "calm-node kv: programs/kvs.dl on 3 nodes over loopback TCP; {versions} + {} batched puts \
         ({batch} a request), {ops} single puts, {get_n} gets, {samples} samples{}",
        versions / 4,
        if common::measuring() {
            ""
        } else {
            " (a check, not a measurement: run it with cargo bench)"
        }
    );
    rt.block_on(async {
        let cluster = Cluster::start(KVS).await;
        let http1 = common::serve_http(&cluster.handles[0]).await;
        let http3 = common::serve_http(&cluster.handles[2]).await;
        let mut kv = Kv {
            cluster,
            http1,
            http3,
            versions: 0,
        };
        put_to_visible(&mut kv, samples).await;
        let title = format!("batched puts ({batch} a request), handle, 1 client");
        puts(&mut kv, &title, versions, batch, 1, Via::Handle).await;
        let title = format!("batched puts ({batch} a request), HTTP, 1 client");
        puts(&mut kv, &title, versions / 4, batch, 1, Via::Http).await;
        let title = "single puts, handle, 1 client";
        puts(&mut kv, title, ops, 1, 1, Via::Handle).await;
        let title = "single puts, handle, 4 clients";
        puts(&mut kv, title, ops, 1, 4, Via::Handle).await;
        let title = "single puts, HTTP (calm kv put), 1 client";
        puts(&mut kv, title, ops, 1, 1, Via::Http).await;
        gets(
            &kv,
            "gets by (k1, k2) at n3, handle, 1 client",
            get_n,
            1,
            Via::Handle,
        )
        .await;
        gets(
            &kv,
            "gets by (k1, k2) at n3, handle, 4 clients",
            get_n,
            4,
            Via::Handle,
        )
        .await;
        gets(
            &kv,
            "gets at n3, HTTP (calm kv get), 1 client",
            get_n,
            1,
            Via::Http,
        )
        .await;
        gets(
            &kv,
            "gets at n3, HTTP (calm kv get), 4 clients",
            get_n,
            4,
            Via::Http,
        )
        .await;
        put_to_visible(&mut kv, samples).await;
        replicated(&kv.cluster.handles, kv.versions).await;
        kv.cluster.stop().await;
    });
}
