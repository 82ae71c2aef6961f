//! Tick cost of a node's engine as its state grows: what incremental ticks are for.
//!
//! ```sh
//! cargo bench -p calm-engine --bench ticks                  # default sizes
//! TICKS_BENCH_VERSIONS=10000,100000,1000000 cargo bench -p calm-engine --bench ticks
//! ```
//!
//! 1. `programs/kvs.dl` on one node: the store is filled with N versions (unique keys,
//!    16-byte values, loaded in ticks of 5,000 puts), then single puts, each one tick, and
//!    gets by (k1, k2) (`relation_where` on `visible`); per-tick p50/p99 and puts/s, gets/s.
//! 2. A persisted graph of disjoint chains with ~1M paths (`.persist edge`, `path` derived
//!    and persisted): one new unrelated edge per tick; tick p50/p99.
//!
//! Every scenario checks its result (the store holds every version; the new edges' paths are
//! there), so a fast wrong engine does not pass as fast.

use calm_engine::{Engine, Program, Value};
use std::time::{Duration, Instant};

const KVS: &str = include_str!("../../../programs/kvs.dl");

fn sym(s: &str) -> Value {
    Value::Symbol(s.to_string())
}

fn put(i: usize) -> (String, Vec<Value>) {
    (
        "put".to_string(),
        vec![
            sym("bench"),
            Value::Number(i as i64),
            sym(&format!("key:{i}")),
            sym("x"),
            sym(&format!("{i:016}")),
        ],
    )
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// The process's resident set size now, from /proc (Linux), in MiB.
fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn kvs(n: usize) {
    let program = Program::compile("kvs.dl", KVS).expect("kvs.dl compiles");
    let mut e = Engine::new(&program);
    e.set_node("n1", &["n1".to_string()]);
    let t0 = Instant::now();
    let mut i = 0;
    while i < n {
        let batch: Vec<_> = (i..(i + 5000).min(n)).map(put).collect();
        i += batch.len();
        e.tick(&batch).expect("tick");
    }
    // Two more ticks: the last puts arrive as versions and are carried.
    e.tick(&[]).expect("tick");
    e.tick(&[]).expect("tick");
    let load = t0.elapsed();
    if std::env::var("TICKS_BENCH_SIZES").is_ok() {
        for s in e.index_shapes() {
            println!("  index {s:?}");
        }
        for s in e.state_sizes() {
            if s.1 + s.3 + s.4 + s.5 > 0 {
                println!("  {s:?}");
            }
        }
        let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
        let mut total = 0;
        for (name, store, ids, ixs) in e.state_bytes() {
            total += store + ids + ixs;
            println!(
                "  bytes {name}: rows {:.1} MiB, row set {:.1} MiB, indexes {:.1} MiB",
                mib(store),
                mib(ids),
                mib(ixs)
            );
        }
        println!("  bytes in all: {:.1} MiB", mib(total));
    }
    let rss = rss_mib().map_or("?".to_string(), |m| format!("{m:.0} MiB"));
    assert_eq!(
        e.relation_len("visible").unwrap(),
        n,
        "every version visible"
    );
    // The first filtered read after the load builds the index it reads by.
    let t = Instant::now();
    e.index_on("visible", &[0, 1]).unwrap();
    let first_read = t.elapsed();
    let samples = 300;
    let mut ticks = Vec::with_capacity(samples);
    let t1 = Instant::now();
    for k in 0..samples {
        let t = Instant::now();
        e.tick(&[put(n + k)]).expect("tick");
        ticks.push(t.elapsed());
    }
    let puts = samples as f64 / t1.elapsed().as_secs_f64();
    e.tick(&[]).expect("tick");
    e.tick(&[]).expect("tick");
    assert_eq!(e.relation_len("visible").unwrap(), n + samples);
    let gets = 20_000;
    let t2 = Instant::now();
    for k in 0..gets {
        let j = (k * 7919) % (n + samples);
        let rows = e
            .relation_where("visible", &[(0, sym(&format!("key:{j}"))), (1, sym("x"))])
            .unwrap();
        assert_eq!(rows.len(), 1);
    }
    let gets_s = gets as f64 / t2.elapsed().as_secs_f64();
    println!(
        "kvs {n:>9} versions: load {:>8.2} s, RSS {rss}; index for reads {:.3} s; put tick p50 {} p99 {}; {:>9.0} puts/s (1 per tick); {:>9.0} gets/s",
        load.as_secs_f64(),
        first_read.as_secs_f64(),
        ms(pct(ticks.clone(), 0.5)),
        ms(pct(ticks, 0.99)),
        puts,
        gets_s
    );
}

fn graph(chains: usize, len: usize) {
    let program = Program::compile(
        "tc.dl",
        ".decl edge(x: number, y: number)\n.persist edge\n.persist path\n\
         path(x, y) :- edge(x, y).\npath(x, z) :- path(x, y), edge(y, z).\n",
    )
    .expect("compiles");
    let mut e = Engine::new(&program);
    let mut edges = Vec::new();
    for c in 0..chains {
        for k in 0..len - 1 {
            let a = (c * len + k) as i64;
            edges.push(vec![Value::Number(a), Value::Number(a + 1)]);
        }
    }
    let nedges = edges.len();
    e.insert("edge", edges).unwrap();
    let t0 = Instant::now();
    e.tick(&[]).expect("tick");
    let first = t0.elapsed();
    let paths = e.relation_len("path").unwrap();
    let samples = 200;
    let mut ticks = Vec::with_capacity(samples);
    let base = (chains * len) as i64 + 10;
    for k in 0..samples {
        let a = base + 2 * k as i64;
        e.insert("edge", vec![vec![Value::Number(a), Value::Number(a + 1)]])
            .unwrap();
        let t = Instant::now();
        e.tick(&[]).expect("tick");
        ticks.push(t.elapsed());
    }
    assert_eq!(e.relation_len("path").unwrap(), paths + samples);
    println!(
        "graph {nedges} edges, {paths} paths: first tick {:.2} s; one-edge tick p50 {} p99 {}",
        first.as_secs_f64(),
        ms(pct(ticks.clone(), 0.5)),
        ms(pct(ticks, 0.99))
    );
}

fn main() {
    // `cargo test --benches` runs this too: keep that run small.
    let quick = !std::env::args().any(|a| a == "--bench");
    let sizes: Vec<usize> = match std::env::var("TICKS_BENCH_VERSIONS") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) if quick => vec![1000],
        Err(_) => vec![10_000, 100_000],
    };
    for n in sizes {
        kvs(n);
    }
    if quick {
        graph(20, 20);
    } else {
        // 198 chains of 100 nodes: 19,602 edges, 980,100 paths.
        graph(198, 100);
    }
}
