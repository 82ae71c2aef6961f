//! `calm-bench node`: real `calm node` processes beside Redis, on the same machine in the same
//! run, over loopback HTTP (calm) and RESP (Redis).
//!
//! Scenarios (each can be chosen with `--only`):
//!
//! 1. `graph`: a node holding a persisted graph of disjoint chains (200 chains of 100 nodes:
//!    19,800 edges, 990,000 paths); one new unrelated edge inserted at a time, each answered
//!    after its tick: insert latency, and the mean tick from `/metrics`.
//! 2. `kv`: `programs/kvs.dl` on one node, filled to each `--sizes` with large batches, then
//!    single puts (unique keys, 16-byte values) and gets by (k1, k2) from `--clients` threads;
//!    beside `redis-benchmark -c CLIENTS -d 16 -t set,get -r SIZE` on a server loaded with the
//!    same keys. The node's peak RSS (VmHWM) beside Redis's `used_memory` at the largest size.
//! 3. `durable`: the same puts on a node with `--data-dir`, beside Redis with `appendonly yes`,
//!    `appendfsync always`, at the first size.
//! 4. `cluster`: three nodes; single puts at n1, each until a get at n3 returns it, at the first
//!    size; beside Redis SET.
//!
//! Every phase is bounded in operations and in seconds; a phase that runs out of time reports
//! what it measured and says it was cut.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use serde_json::json;

pub mod client;
pub mod procs;
pub mod table;

use client::{Rate, TickCounters, agent, drive, get, post_facts, post_json, wait_size};
use procs::{CalmNode, NodeSpec, RedisFigure, RedisServer, RedisTools, redis_key, value};
use table::{Line, mib, ms, thousands};

/// The node's limit on facts in one request (`max_facts_per_request`, docs/node.md).
const MAX_FACTS_PER_REQUEST: usize = 100_000;
/// How long one HTTP request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a put may take to become readable at n3.
const READABLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest pause between two gets at n3 waiting for a put.
const POLL_MAX: Duration = Duration::from_millis(5);
/// The printed advice when Redis is missing.
const NO_REDIS: &str = "redis not installed: apt-get install redis-server redis-tools";

/// Options of `calm-bench node`.
#[derive(Debug, Parser)]
#[command(
    name = "calm-bench node",
    about = "Measures `calm node` processes (HTTP) beside Redis on the same machine",
    after_help = "Build first: cargo build --release -p calm-cli -p calm-bench\n\
                  Redis: apt-get install redis-server redis-tools (skipped if missing)"
)]
pub struct NodeOptions {
    /// Store sizes (versions) for the key-value scenario [default: 10000,1000000; --quick:
    /// 1000,5000]; the durable and cluster scenarios use the first.
    #[arg(long, value_delimiter = ',', value_name = "N")]
    pub sizes: Vec<usize>,
    /// Small sizes and budgets: a smoke run of a minute or two.
    #[arg(long)]
    pub quick: bool,
    /// Scenarios to run (graph, kv, durable, cluster); all by default.
    #[arg(long, value_delimiter = ',', value_name = "SCENARIO")]
    pub only: Vec<String>,
    /// Concurrent HTTP clients (and redis-benchmark connections).
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Single puts, and gets, measured per phase [default: 5000; --quick: 300].
    #[arg(long, value_name = "N")]
    pub ops: Option<usize>,
    /// Puts per request while filling a store (at most 100000, the node's limit).
    #[arg(long, default_value_t = 20_000, value_name = "N")]
    pub batch: usize,
    /// Seconds each measuring phase may take [default: 30; --quick: 10].
    #[arg(long, value_name = "SECS")]
    pub max_seconds: Option<u64>,
    /// Seconds each load phase may take (filling a store, a graph) [default: 900; --quick: 60].
    #[arg(long, value_name = "SECS")]
    pub load_seconds: Option<u64>,
    /// Disjoint chains in the graph [default: 200; --quick: 20].
    #[arg(long, value_name = "N")]
    pub graph_chains: Option<usize>,
    /// Nodes per chain [default: 100; --quick: 50].
    #[arg(long, value_name = "N")]
    pub graph_length: Option<usize>,
    /// One-edge inserts measured [default: 100; --quick: 20].
    #[arg(long, value_name = "N")]
    pub edge_inserts: Option<usize>,
    /// Requests per redis-benchmark test [default: 200000; --quick: 20000].
    #[arg(long, value_name = "N")]
    pub redis_ops: Option<usize>,
    /// Also write the table and notes (markdown) to this file.
    #[arg(long, value_name = "FILE")]
    pub markdown_out: Option<PathBuf>,
    /// Directory holding the `calm` binary [default: the directory of this executable, e.g.
    /// target/release].
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
}

/// The scenarios, in order.
pub const SCENARIOS: [&str; 4] = ["graph", "kv", "durable", "cluster"];

/// The options with every default filled in.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Store sizes.
    pub sizes: Vec<usize>,
    /// Scenarios to run.
    pub scenarios: Vec<&'static str>,
    /// Concurrent clients.
    pub clients: usize,
    /// Operations per measuring phase.
    pub ops: usize,
    /// Puts per load request.
    pub batch: usize,
    /// Budget of a measuring phase.
    pub max_time: Duration,
    /// Budget of a load phase.
    pub load_time: Duration,
    /// Chains in the graph.
    pub chains: usize,
    /// Nodes per chain.
    pub length: usize,
    /// One-edge inserts.
    pub edge_inserts: usize,
    /// Requests per redis-benchmark test.
    pub redis_ops: usize,
}

impl Settings {
    /// Fills in the defaults (`--quick` ones if asked) and checks the options.
    pub fn from_options(o: &NodeOptions) -> Result<Settings> {
        let q = o.quick;
        let pick =
            |v: Option<usize>, full: usize, quick: usize| v.unwrap_or(if q { quick } else { full });
        let secs = |v: Option<u64>, full: u64, quick: u64| {
            Duration::from_secs(v.unwrap_or(if q { quick } else { full }))
        };
        let sizes = match (&o.sizes[..], q) {
            ([], false) => vec![10_000, 1_000_000],
            ([], true) => vec![1_000, 5_000],
            (s, _) => s.to_vec(),
        };
        if sizes.contains(&0) {
            bail!("--sizes: every size must be at least 1");
        }
        let scenarios = if o.only.is_empty() {
            SCENARIOS.to_vec()
        } else {
            o.only
                .iter()
                .map(|name| {
                    SCENARIOS
                        .iter()
                        .copied()
                        .find(|s| s == name)
                        .with_context(|| {
                            format!(
                                "unknown scenario `{name}` (expected: {})",
                                SCENARIOS.join(", ")
                            )
                        })
                })
                .collect::<Result<_>>()?
        };
        let s = Settings {
            sizes,
            scenarios,
            clients: o.clients.max(1),
            ops: pick(o.ops, 5_000, 300).max(1),
            batch: o.batch.clamp(1, MAX_FACTS_PER_REQUEST),
            max_time: secs(o.max_seconds, 30, 10),
            load_time: secs(o.load_seconds, 900, 60),
            chains: pick(o.graph_chains, 200, 20).max(1),
            length: pick(o.graph_length, 100, 50).max(2),
            edge_inserts: pick(o.edge_inserts, 100, 20).max(1),
            redis_ops: pick(o.redis_ops, 200_000, 20_000).max(1),
        };
        Ok(s)
    }

    fn runs(&self, scenario: &str) -> bool {
        self.scenarios.contains(&scenario)
    }
}

/// Entry point of `calm-bench node ...`; `args` starts with the program name.
pub fn main_with_args(args: Vec<OsString>) -> ExitCode {
    let options = match NodeOptions::try_parse_from(args) {
        Ok(options) => options,
        Err(err) => err.exit(),
    };
    match run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("calm-bench node: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// The table and the notes under it.
#[derive(Default)]
struct Report {
    lines: Vec<Line>,
    notes: Vec<String>,
    failed: bool,
}

impl Report {
    fn note(&mut self, text: String) {
        eprintln!("calm-bench node: {text}");
        self.notes.push(text);
    }

    fn failure(&mut self, scenario: &str, err: &anyhow::Error) {
        self.failed = true;
        self.note(format!("scenario {scenario} failed: {err:#}"));
    }
}

/// Runs the benchmark; returns whether every scenario ran to the end.
pub fn run(options: &NodeOptions) -> Result<bool> {
    let s = Settings::from_options(options)?;
    let bin_dir = match &options.bin_dir {
        Some(dir) => dir.clone(),
        None => super::default_bin_dir()?,
    };
    let calm = bin_dir.join("calm");
    if !calm.is_file() {
        bail!(
            "{} is missing: build it first with `cargo build --release -p calm-cli -p calm-bench`",
            calm.display()
        );
    }
    if bin_dir.file_name().is_some_and(|n| n == "debug") {
        eprintln!(
            "calm-bench node: warning: measuring a debug build ({})",
            calm.display()
        );
    }
    let root = super::workspace_root();
    let kvs = root.join("programs/kvs.dl");
    let tmp = tempfile::Builder::new()
        .prefix("calm-node-bench-")
        .tempdir()
        .context("creating a temporary directory")?;
    let mut report = Report::default();
    let load_before = load_average();
    let redis = RedisTools::find();
    if redis.is_none() {
        report.note(format!("{NO_REDIS}; the Redis columns are empty"));
    }
    let ctx = Ctx {
        s: &s,
        calm: &calm,
        kvs: &kvs,
        tmp: tmp.path(),
        redis: redis.as_ref(),
    };

    if s.runs("graph")
        && let Err(e) = graph(&ctx, &mut report)
    {
        report.failure("1 (graph)", &e);
    }
    // Redis SET at the first size: the base of the durable and cluster targets.
    let mut redis_first: Option<RedisRun> = None;
    if s.runs("kv")
        && let Err(e) = kv(&ctx, &mut report, &mut redis_first)
    {
        report.failure("2 (kv)", &e);
    }
    if s.runs("durable")
        && let Err(e) = durable(&ctx, &mut report)
    {
        report.failure("3 (durable)", &e);
    }
    if s.runs("cluster") {
        if redis_first.is_none()
            && let Some(tools) = ctx.redis
        {
            match redis_run(&ctx, tools, s.sizes[0], &[], "set,get") {
                Ok(r) => redis_first = Some(r),
                Err(e) => report.note(format!("Redis at {} keys failed: {e:#}", s.sizes[0])),
            }
        }
        if let Err(e) = cluster(&ctx, &mut report, redis_first.as_ref()) {
            report.failure("4 (cluster)", &e);
        }
    }

    report.notes.push(format!(
        "load average (1, 5, 15 min) at the start: {load_before}; at the end: {}; the \
         clients, redis-benchmark and the servers share the machine's cores",
        load_average()
    ));
    let text = render(&s, &calm, &root, &report);
    println!("{text}");
    if let Some(path) = &options.markdown_out {
        std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(!report.failed)
}

/// What every scenario needs.
struct Ctx<'a> {
    s: &'a Settings,
    calm: &'a Path,
    kvs: &'a Path,
    tmp: &'a Path,
    redis: Option<&'a RedisTools>,
}

impl Ctx<'_> {
    /// Starts a single node (no peers) running `program`.
    fn node(&self, name: &str, program: &Path, data_dir: Option<&Path>) -> Result<CalmNode> {
        CalmNode::start(&NodeSpec {
            calm: self.calm,
            program,
            name,
            listen_port: 0,
            peers: Vec::new(),
            data_dir,
            log: self.tmp.join(format!("{name}.log")),
        })
    }
}

fn progress(text: &str) {
    eprintln!("calm-bench node: {text}");
}

/// `rate (p50 / p99)`, and `(cut)` if the budget stopped it.
fn rate_cell(r: &Rate) -> String {
    let mut cell = format!(
        "{} (p50 {} / p99 {})",
        thousands(r.per_sec()),
        r.percentile_ms(50.0).map_or_else(|| "—".into(), ms),
        r.percentile_ms(99.0).map_or_else(|| "—".into(), ms),
    );
    if r.cut {
        cell.push_str(" (cut)");
    }
    cell
}

fn redis_cell(f: &RedisFigure) -> String {
    format!(
        "{} (p50 {} / p99 {})",
        thousands(f.rps),
        ms(f.p50_ms),
        ms(f.p99_ms)
    )
}

/// Adds a note for a phase that was cut or failed; fails if it measured nothing.
fn check_rate(report: &mut Report, what: &str, r: &Rate, budget: Duration) -> Result<()> {
    if let Some(e) = &r.error {
        report.note(format!(
            "{what}: stopped at an error after {} ops: {e}",
            r.ops
        ));
    }
    if r.cut {
        report.note(format!(
            "{what}: cut by the {}s budget after {} ops ({:.1}s)",
            budget.as_secs(),
            r.ops,
            r.secs
        ));
    }
    if r.ops == 0 {
        bail!("{what}: nothing measured");
    }
    Ok(())
}

// ---- 1. One-edge insert into a graph of ~1M paths ----

const GRAPH_PROGRAM: &str = "\
// calm-bench node, scenario 1: a persisted graph and its paths (recomputed from the edges).
.decl edge(x: number, y: number)
.persist edge
.decl path(x: number, y: number)
path(x, y) :- edge(x, y).
path(x, z) :- path(x, y), edge(y, z).
";

fn graph(ctx: &Ctx<'_>, report: &mut Report) -> Result<()> {
    let s = ctx.s;
    let (chains, length) = (s.chains, s.length);
    let edges = chains * (length - 1);
    let paths = (chains * length * (length - 1) / 2) as u64;
    let program = ctx.tmp.join("graph.dl");
    std::fs::write(&program, GRAPH_PROGRAM)?;
    let scenario = format!(
        "1. one-edge insert, {} paths ({} edges, {chains} chains)",
        thousands(paths as f64),
        thousands(edges as f64)
    );
    progress(&format!("[graph] loading {edges} edges ({paths} paths)"));
    let node = ctx.node("graph", &program, None)?;
    let a = agent(REQUEST_TIMEOUT);
    let start = Instant::now();
    let all: Vec<[i64; 2]> = (0..chains)
        .flat_map(|c| {
            (0..length - 1).map(move |j| {
                let x = (c * length + j) as i64;
                [x, x + 1]
            })
        })
        .collect();
    for chunk in all.chunks(s.batch) {
        if start.elapsed() > s.load_time {
            bail!("loading the edges took over {}s", s.load_time.as_secs());
        }
        post_json(
            &a,
            &node.http,
            "/v1/relations/edge",
            &json!(chunk).to_string(),
        )?;
    }
    let left = s.load_time.saturating_sub(start.elapsed());
    if !wait_size(&a, &node.http, "path", paths, left)? {
        bail!(
            "the graph did not reach {paths} paths within {}s",
            s.load_time.as_secs()
        );
    }
    report.note(format!(
        "graph: {edges} edges loaded and {paths} paths derived in {:.1}s",
        start.elapsed().as_secs_f64()
    ));
    progress(&format!("[graph] {} one-edge inserts", s.edge_inserts));
    let before = TickCounters::read(&a, &node.http);
    let base: i64 = 1_000_000_000;
    let r = drive(1, s.edge_inserts, s.max_time, REQUEST_TIMEOUT, |a, i| {
        let x = base + 2 * i as i64;
        post_facts(a, &node.http, &format!("edge({x}, {}).", x + 1)).map(|_| ())
    });
    let after = TickCounters::read(&a, &node.http);
    check_rate(report, "graph inserts", &r, s.max_time)?;
    if !wait_size(&a, &node.http, "path", paths + r.ops as u64, s.max_time)? {
        report.note("graph: the new edges' paths did not all appear".into());
    }
    let insert_cell = format!(
        "{} / {}{}",
        r.percentile_ms(50.0).map_or_else(|| "—".into(), ms),
        r.percentile_ms(99.0).map_or_else(|| "—".into(), ms),
        if r.cut { " (cut)" } else { "" }
    );
    report.lines.push(Line {
        scenario: scenario.clone(),
        measure: format!(
            "insert p50 / p99 (answered after its tick; {} inserts)",
            r.ops
        ),
        calm: insert_cell,
        target: "tick ≤ 1 ms".into(),
        ..Line::default()
    });
    // An insert changes the `@next` state of `edge`, so the node ticks once more to confirm
    // quiescence: there are more ticks than inserts.
    let tick = before.zip(after).and_then(|(b, a)| b.mean_since(&a));
    let per_insert = before
        .zip(after)
        .filter(|_| r.ops > 0)
        .map(|(b, a)| (a.seconds - b.seconds) / r.ops as f64);
    report.lines.push(Line {
        scenario,
        measure: match tick {
            Some((_, n)) => format!(
                "mean tick (/metrics: {n} ticks for {} inserts); tick time per insert",
                r.ops
            ),
            None => "mean tick (/metrics)".into(),
        },
        calm: match (tick, per_insert) {
            (Some((t, _)), Some(p)) => format!("{}; {}", ms(t * 1e3), ms(p * 1e3)),
            _ => "—".into(),
        },
        target: "≤ 1 ms".into(),
        met: tick.map(|(t, _)| t <= 1e-3),
        ..Line::default()
    });
    Ok(())
}

// ---- 2. The key-value store on one node ----

/// One node's figures at one size.
struct KvRun {
    size: usize,
    reached: usize,
    puts: Rate,
    gets: Option<Rate>,
    put_tick: Option<(f64, u64)>,
    peak_kib: Option<u64>,
}

/// Redis's figures at one size.
struct RedisRun {
    set: Option<RedisFigure>,
    get: Option<RedisFigure>,
    used_memory: u64,
}

/// The JSON body of puts `range` (client `client`, key `redis_key(i)`, k2 `x`).
fn puts_body(client: &str, range: std::ops::Range<usize>) -> String {
    let rows: Vec<_> = range
        .map(|i| json!([client, i, redis_key(i), "x", value(i)]))
        .collect();
    json!({ "put": rows }).to_string()
}

/// Fills the store at `http` with versions `0..size` in batches, then waits until `at` (the
/// node itself, or another member) holds them; the number loaded (less than `size` if the
/// budget ran out).
fn fill(
    ctx: &Ctx<'_>,
    report: &mut Report,
    what: &str,
    http: &str,
    at: &str,
    size: usize,
) -> Result<usize> {
    let s = ctx.s;
    let a = agent(REQUEST_TIMEOUT);
    let start = Instant::now();
    let mut loaded = 0;
    while loaded < size {
        if start.elapsed() > s.load_time {
            report.note(format!(
                "{what}: load cut by the {}s budget at {loaded} of {size} versions",
                s.load_time.as_secs()
            ));
            break;
        }
        let end = (loaded + s.batch).min(size);
        post_json(&a, http, "/v1/facts", &puts_body("load", loaded..end))?;
        loaded = end;
        if loaded % (s.batch * 10) == 0 || loaded == size {
            progress(&format!(
                "[{what}] {loaded} of {size} versions sent ({:.1}s)",
                start.elapsed().as_secs_f64()
            ));
        }
    }
    let left = s.load_time.saturating_sub(start.elapsed()) + Duration::from_secs(30);
    if !wait_size(&a, at, "kv", loaded as u64, left)? {
        bail!("{what}: the store did not hold the {loaded} versions sent within the budget");
    }
    report.note(format!(
        "{what}: filled with {loaded} versions in {:.1}s ({} a request)",
        start.elapsed().as_secs_f64(),
        s.batch
    ));
    Ok(loaded)
}

/// Single puts of unique keys `from..` from the clients, to `http`.
fn single_puts(s: &Settings, http: &str, from: usize) -> Rate {
    drive(s.clients, s.ops, s.max_time, REQUEST_TIMEOUT, |a, i| {
        let k = from + i;
        post_json(a, http, "/v1/facts", &puts_body("bench", k..k + 1)).map(|_| ())
    })
}

/// Whether a `GET /v1/relations/visible?k1=..&k2=x` answer holds version `k`.
fn get_holds(a: &ureq::Agent, http: &str, k: usize) -> Result<bool> {
    let body = get(
        a,
        http,
        &format!("/v1/relations/visible?k1={}&k2=x", redis_key(k)),
    )?;
    Ok(body.contains(&format!("\"{}\"", value(k))))
}

fn kv_at(ctx: &Ctx<'_>, report: &mut Report, size: usize) -> Result<KvRun> {
    let s = ctx.s;
    let what = format!("kv {size}");
    let node = ctx.node(&format!("kv-{size}"), ctx.kvs, None)?;
    let reached = fill(ctx, report, &what, &node.http, &node.http, size)?;
    progress(&format!(
        "[{what}] {} single puts, {} clients",
        s.ops, s.clients
    ));
    let a = agent(REQUEST_TIMEOUT);
    let before = TickCounters::read(&a, &node.http);
    let puts = single_puts(s, &node.http, reached);
    let after = TickCounters::read(&a, &node.http);
    check_rate(report, &format!("{what} puts"), &puts, s.max_time)?;
    let put_tick = before.zip(after).and_then(|(b, a)| b.mean_since(&a));
    if !wait_size(
        &a,
        &node.http,
        "kv",
        (reached + puts.ops) as u64,
        s.max_time,
    )? {
        report.note(format!(
            "{what}: the measured puts were not all in the store"
        ));
    }
    progress(&format!("[{what}] {} gets, {} clients", s.ops, s.clients));
    let gets = drive(s.clients, s.ops, s.max_time, REQUEST_TIMEOUT, |a, i| {
        let k = (i * 7919 + 13) % reached;
        if get_holds(a, &node.http, k)? {
            Ok(())
        } else {
            bail!("get of version {k}: not found")
        }
    });
    let gets = match check_rate(report, &format!("{what} gets"), &gets, s.max_time) {
        Ok(()) => Some(gets),
        Err(e) => {
            report.note(format!("{e:#}"));
            None
        }
    };
    Ok(KvRun {
        size,
        reached,
        puts,
        gets,
        put_tick,
        peak_kib: procs::peak_rss_kib(node.pid()),
    })
}

/// Starts Redis with `extra` settings, loads `size` keys, and runs redis-benchmark `tests`.
fn redis_run(
    ctx: &Ctx<'_>,
    tools: &RedisTools,
    size: usize,
    extra: &[&str],
    tests: &str,
) -> Result<RedisRun> {
    let s = ctx.s;
    let dir = tempfile::Builder::new()
        .prefix("redis-")
        .tempdir_in(ctx.tmp)?;
    let server = RedisServer::start(tools, dir.path(), extra)?;
    progress(&format!(
        "[redis {size}{}] loading",
        if extra.is_empty() { "" } else { ", durable" }
    ));
    server.load(size, s.load_time)?;
    let used_memory = server.used_memory()?;
    // Durable SETs are slower: fewer of them.
    let n = if extra.is_empty() {
        s.redis_ops
    } else {
        (s.redis_ops / 10).max(1_000)
    };
    progress(&format!("[redis {size}] redis-benchmark -t {tests} -n {n}"));
    let figures = server.benchmark(tests, s.clients, n, size, s.load_time)?;
    let find = |t: &str| figures.iter().find(|f| f.test == t).cloned();
    Ok(RedisRun {
        set: find("SET"),
        get: find("GET"),
        used_memory,
    })
}

fn kv(ctx: &Ctx<'_>, report: &mut Report, redis_first: &mut Option<RedisRun>) -> Result<()> {
    let s = ctx.s;
    let mut runs: Vec<(KvRun, Option<RedisRun>)> = Vec::new();
    for (i, &size) in s.sizes.iter().enumerate() {
        let run = match kv_at(ctx, report, size) {
            Ok(run) => run,
            Err(e) => {
                report.failure(&format!("2 (kv at {size})"), &e);
                continue;
            }
        };
        let redis = ctx.redis.and_then(|tools| {
            redis_run(ctx, tools, size, &[], "set,get")
                .map_err(|e| report.note(format!("Redis at {size} keys failed: {e:#}")))
                .ok()
        });
        if i == 0 {
            *redis_first = redis.as_ref().map(|r| RedisRun {
                set: r.set.clone(),
                get: r.get.clone(),
                used_memory: r.used_memory,
            });
        }
        runs.push((run, redis));
    }
    let largest = runs.iter().map(|(run, _)| run.size).max();
    for (run, redis) in &runs {
        let scenario = if run.reached < run.size {
            format!(
                "2. kvs.dl, 1 node, {} versions (load cut at {})",
                thousands(run.size as f64),
                thousands(run.reached as f64)
            )
        } else {
            format!("2. kvs.dl, 1 node, {} versions", thousands(run.size as f64))
        };
        let set = redis.as_ref().and_then(|r| r.set.as_ref());
        let get = redis.as_ref().and_then(|r| r.get.as_ref());
        report.lines.push(Line::at_least(
            &scenario,
            &format!("puts/s, {} clients, single puts (Redis SET)", s.clients),
            (Some(run.puts.per_sec()), rate_cell(&run.puts)),
            (set.map(|f| f.rps), set.map(redis_cell).unwrap_or_default()),
            0.5,
            "≥ 0.5× Redis",
        ));
        if let Some((t, n)) = run.put_tick {
            report.lines.push(Line {
                scenario: scenario.clone(),
                measure: format!("mean tick during the puts (/metrics, {n} ticks)"),
                calm: ms(t * 1e3),
                ..Line::default()
            });
        }
        report.lines.push(Line::at_least(
            &scenario,
            &format!("gets/s by (k1, k2), {} clients (Redis GET)", s.clients),
            (
                run.gets.as_ref().map(Rate::per_sec),
                run.gets.as_ref().map_or_else(|| "—".into(), rate_cell),
            ),
            (get.map(|f| f.rps), get.map(redis_cell).unwrap_or_default()),
            0.5,
            "≥ 0.5× Redis",
        ));
        let rss = run.peak_kib.map(|k| k as f64 * 1024.0);
        let used = redis.as_ref().map(|r| r.used_memory as f64);
        let ratio = rss.zip(used).map(|(r, u)| r / u);
        // The target is about the largest store; at the others the figures are for reference.
        let judged = Some(run.size) == largest;
        report.lines.push(Line {
            scenario: format!("5. memory, {} versions", thousands(run.reached as f64)),
            measure: "node peak RSS (VmHWM) / Redis used_memory".into(),
            calm: rss.map_or_else(|| "—".into(), mib),
            redis: used.map(mib).unwrap_or_default(),
            ratio,
            target: if judged {
                "≤ 3× Redis".into()
            } else {
                String::new()
            },
            met: ratio.filter(|_| judged).map(|r| r <= 3.0),
        });
    }
    if let (Some((small, _)), Some((large, _))) = (runs.first(), runs.last())
        && runs.len() > 1
    {
        let scenario = format!(
            "2. kvs.dl, {} against {} versions",
            thousands(large.reached as f64),
            thousands(small.reached as f64)
        );
        report.lines.push(Line::at_least(
            &scenario,
            "puts/s at the larger size / at the smaller",
            (
                Some(large.puts.per_sec()),
                format!(
                    "{} / {}",
                    thousands(large.puts.per_sec()),
                    thousands(small.puts.per_sec())
                ),
            ),
            (Some(small.puts.per_sec()), String::new()),
            0.8,
            "≥ 0.8",
        ));
        let (lg, sg) = (
            large.gets.as_ref().map(Rate::per_sec),
            small.gets.as_ref().map(Rate::per_sec),
        );
        report.lines.push(Line::at_least(
            &scenario,
            "gets/s at the larger size / at the smaller",
            (
                lg,
                format!(
                    "{} / {}",
                    lg.map_or_else(|| "—".into(), thousands),
                    sg.map_or_else(|| "—".into(), thousands)
                ),
            ),
            (sg, String::new()),
            0.8,
            "≥ 0.8",
        ));
    }
    Ok(())
}

// ---- 3. Durable puts ----

fn durable(ctx: &Ctx<'_>, report: &mut Report) -> Result<()> {
    let s = ctx.s;
    let size = s.sizes[0];
    let what = format!("durable {size}");
    let data = ctx.tmp.join("durable-data");
    let redis = ctx.redis.and_then(|tools| {
        redis_run(
            ctx,
            tools,
            size,
            &["--appendonly", "yes", "--appendfsync", "always"],
            "set",
        )
        .map_err(|e| report.note(format!("Redis (appendfsync always) failed: {e:#}")))
        .ok()
    });
    let node = ctx.node("durable", ctx.kvs, Some(&data))?;
    let reached = fill(ctx, report, &what, &node.http, &node.http, size)?;
    progress(&format!(
        "[{what}] {} single puts, {} clients",
        s.ops, s.clients
    ));
    let puts = single_puts(s, &node.http, reached);
    check_rate(report, &format!("{what} puts"), &puts, s.max_time)?;
    let set = redis.as_ref().and_then(|r| r.set.as_ref());
    report.lines.push(Line::at_least(
        &format!(
            "3. durable: --data-dir / appendfsync always, {} versions",
            thousands(reached as f64)
        ),
        &format!("puts/s, {} clients (Redis SET)", s.clients),
        (Some(puts.per_sec()), rate_cell(&puts)),
        (set.map(|f| f.rps), set.map(redis_cell).unwrap_or_default()),
        1.0,
        "≥ 1× Redis",
    ));
    Ok(())
}

// ---- 4. Three nodes ----

fn cluster(ctx: &Ctx<'_>, report: &mut Report, redis: Option<&RedisRun>) -> Result<()> {
    let s = ctx.s;
    let size = s.sizes[0];
    let what = format!("cluster {size}");
    let ports = procs::free_ports(3)?;
    let names = ["n1", "n2", "n3"];
    let mut nodes = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let peers = (0..3)
            .filter(|&j| j != i)
            .map(|j| format!("{}=127.0.0.1:{}", names[j], ports[j]))
            .collect();
        nodes.push(CalmNode::start(&NodeSpec {
            calm: ctx.calm,
            program: ctx.kvs,
            name,
            listen_port: ports[i],
            peers,
            data_dir: None,
            log: ctx.tmp.join(format!("cluster-{name}.log")),
        })?);
    }
    let a = agent(REQUEST_TIMEOUT);
    let start = Instant::now();
    for node in &nodes {
        while !client::peers_connected(&a, &node.http)? {
            if start.elapsed() > Duration::from_secs(30) {
                bail!("the three nodes did not connect within 30s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let (n1, n3) = (&nodes[0].http, &nodes[2].http);
    let reached = fill(ctx, report, &what, n1, n3, size)?;
    progress(&format!(
        "[{what}] {} single puts at n1 until readable at n3, {} clients",
        s.ops, s.clients
    ));
    let acks = Mutex::new(Vec::new());
    let r = drive(s.clients, s.ops, s.max_time, REQUEST_TIMEOUT, |a, i| {
        let k = reached + i;
        let t0 = Instant::now();
        post_json(a, n1, "/v1/facts", &puts_body("bench", k..k + 1))?;
        acks.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(t0.elapsed().as_secs_f64());
        // Every get at n3 is a scan on its tick thread: the clients poll after 1, 2, 4, then
        // every 5 ms, so that their polls do not take all of n3's time.
        let mut pause = Duration::from_millis(1);
        loop {
            if get_holds(a, n3, k)? {
                return Ok(());
            }
            if t0.elapsed() > READABLE_TIMEOUT {
                bail!(
                    "put {k} not readable at n3 after {}s",
                    READABLE_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(POLL_MAX);
        }
    });
    for node in &mut nodes {
        node.check_alive()?;
    }
    check_rate(report, &format!("{what} puts"), &r, s.max_time)?;
    let mut acks = acks.into_inner().unwrap_or_else(|p| p.into_inner());
    acks.sort_by(f64::total_cmp);
    let scenario = format!("4. 3 nodes, {} versions", thousands(reached as f64));
    let set = redis.and_then(|r| r.set.as_ref());
    report.lines.push(Line::at_least(
        &scenario,
        &format!(
            "puts/s at n1 until readable at n3, {} clients (Redis SET, 1 server)",
            s.clients
        ),
        (Some(r.per_sec()), rate_cell(&r)),
        (set.map(|f| f.rps), set.map(redis_cell).unwrap_or_default()),
        0.3,
        "≥ 0.3× Redis",
    ));
    let pct = |v: &[f64], p| client::percentile(v, p).map_or_else(|| "—".into(), |x| ms(x * 1e3));
    report.lines.push(Line {
        scenario,
        measure: "n1 answers the put: p50 / p99".into(),
        calm: format!("{} / {}", pct(&acks, 50.0), pct(&acks, 99.0)),
        ..Line::default()
    });
    Ok(())
}

// ---- Output ----

/// The first three fields of `/proc/loadavg`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

fn render(s: &Settings, calm: &Path, root: &Path, report: &Report) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let commit = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "`calm-bench node`: {} (commit {commit}), {cores} core(s); {} clients, 16-byte values, \
         unique keys; per phase at most {} ops and {}s (loads {}s); Redis: {}.\n",
        calm.display(),
        s.clients,
        s.ops,
        s.max_time.as_secs(),
        s.load_time.as_secs(),
        if report.notes.iter().any(|n| n.contains(NO_REDIS)) {
            "not installed"
        } else {
            "redis-server and redis-benchmark on 127.0.0.1"
        }
    );
    out.push_str(&table::render(&report.lines));
    if !report.notes.is_empty() {
        out.push_str("\nNotes:\n\n");
        for n in &report.notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Settings {
        let mut all = vec!["calm-bench node"];
        all.extend_from_slice(args);
        Settings::from_options(&NodeOptions::try_parse_from(all).unwrap()).unwrap()
    }

    #[test]
    fn options_and_defaults() {
        let s = parse(&[]);
        assert_eq!(s.sizes, [10_000, 1_000_000]);
        assert_eq!(s.scenarios, SCENARIOS);
        assert_eq!(s.chains * (s.length - 1), 19_800);
        assert_eq!(s.chains * s.length * (s.length - 1) / 2, 990_000);
        let q = parse(&["--quick", "--only", "kv,graph", "--batch", "1000000"]);
        assert_eq!(q.sizes, [1_000, 5_000]);
        assert_eq!(q.scenarios, ["kv", "graph"]);
        assert_eq!(q.batch, MAX_FACTS_PER_REQUEST);
        let q = parse(&["--quick", "--sizes", "7,8", "--ops", "3"]);
        assert_eq!((q.sizes, q.ops), (vec![7, 8], 3));
        let bad = NodeOptions::try_parse_from(["x", "--only", "nope"]).unwrap();
        assert!(Settings::from_options(&bad).is_err());
    }

    #[test]
    fn put_bodies_are_what_calm_kv_put_sends() {
        let body: serde_json::Value = serde_json::from_str(&puts_body("c", 3..5)).unwrap();
        assert_eq!(
            body,
            json!({"put": [
                ["c", 3, "key:000000000003", "x", "0000000000000003"],
                ["c", 4, "key:000000000004", "x", "0000000000000004"],
            ]})
        );
    }
}
