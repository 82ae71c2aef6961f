//! `calm-bench node`: real `calm node` processes beside Redis, on the same machine in the same
//! run, over loopback HTTP (calm) and RESP (Redis).
//!
//! Scenarios (each can be chosen with `--only`):
//!
//! 1. `graph`: a node holding a persisted graph of disjoint chains (200 chains of 100 nodes:
//!    19,800 edges, 990,000 paths); one new unrelated edge inserted at a time, each answered
//!    after its tick: insert latency, and the mean tick from `/metrics`.
//! 2. `kv`: `programs/kvs.dl` on one node, filled to each `--sizes` with large batches, then
//!    gets by (k1, k2) of loaded keys and single puts (unique keys, 16-byte values) from
//!    `--clients` connections of `wrk` (see [`wrk`]; without it, from as many threads of the
//!    benchmark's own client); beside `redis-benchmark -c CLIENTS -d 16 -t set,get -r SIZE` on
//!    a server loaded with the same keys. The node's peak RSS (VmHWM) beside Redis's
//!    `used_memory` at the largest size.
//! 3. `durable`: the same puts on a node with `--data-dir`, beside Redis with `appendonly yes`,
//!    `appendfsync always`, at the first size.
//! 4. `cluster`: three nodes at the first size; single puts at n1 from wrk, and the time until
//!    n3 holds them all; then one client's puts at n1, each until a get at n3 returns it (the
//!    latency); beside Redis SET.
//! 5. `resp`: the same client for both: `redis-benchmark -t hset` against a kvs.dl node's
//!    `--resp` and against Redis, alternately, three pairs; the median ratio (each calm HSET is
//!    answered once the node can read it back).
//!
//! Every phase is bounded in operations or in seconds; a phase that runs out of time reports
//! what it measured and says it was cut. Every answer is checked, and after the puts the node
//! must hold every put that was answered: a node that answers fast and wrong fails.

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
pub mod wrk;

use client::{Rate, TickCounters, agent, drive, get, post_facts, post_json, wait_size};
use procs::{CalmNode, NodeSpec, RedisFigure, RedisServer, RedisTools, redis_key, value};
use table::{Line, mib, ms, thousands};
use wrk::{Load, NO_WRK, WrkSummary};

/// The node's limit on facts in one request (`max_facts_per_request`, docs/node.md).
const MAX_FACTS_PER_REQUEST: usize = 100_000;
/// How long one HTTP request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a put may take to become readable at n3.
const READABLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest pause between two gets at n3 waiting for a put.
const POLL_MAX: Duration = Duration::from_millis(5);
/// Single puts at n1 of the cluster, one client, each until readable at n3: the latency probe
/// beside wrk's throughput (at most `--ops`).
const PROBE_PUTS: usize = 200;
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
    /// Scenarios to run (graph, kv, durable, cluster, resp); all by default.
    #[arg(long, value_delimiter = ',', value_name = "SCENARIO")]
    pub only: Vec<String>,
    /// Concurrent HTTP connections (wrk -c, or client threads; and redis-benchmark -c).
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// The HTTP load generator of the throughput phases: `wrk` (falls back to `threads` if
    /// wrk is not installed) or `threads` (the benchmark's own client, one thread each).
    #[arg(long, default_value = "wrk", value_name = "CLIENT")]
    pub client: String,
    /// Seconds of each wrk phase (wrk -d) [default: 10; --quick: 3].
    #[arg(long, value_name = "SECS")]
    pub wrk_seconds: Option<u64>,
    /// Single puts, and gets, per phase of the threads client [default: 5000; --quick: 300].
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
pub const SCENARIOS: [&str; 5] = ["graph", "kv", "durable", "cluster", "resp"];

/// The options with every default filled in.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Store sizes.
    pub sizes: Vec<usize>,
    /// Scenarios to run.
    pub scenarios: Vec<&'static str>,
    /// Concurrent clients.
    pub clients: usize,
    /// Whether the throughput phases use wrk (if installed).
    pub use_wrk: bool,
    /// Seconds of each wrk phase.
    pub wrk_secs: u64,
    /// Operations per measuring phase of the threads client.
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
        let use_wrk = match o.client.as_str() {
            "wrk" => true,
            "threads" => false,
            other => bail!("--client: unknown client `{other}` (expected: wrk, threads)"),
        };
        let s = Settings {
            sizes,
            scenarios,
            clients: o.clients.max(1),
            use_wrk,
            wrk_secs: o.wrk_seconds.unwrap_or(if q { 3 } else { 10 }).max(1),
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
    let wrk = if s.use_wrk { wrk::find() } else { None };
    if s.use_wrk && wrk.is_none() {
        report.note(format!(
            "{NO_WRK}; the throughput figures are from the benchmark's own client (one thread \
             per connection), marked `threads`: a lower bound"
        ));
    }
    let ctx = Ctx {
        s: &s,
        calm: &calm,
        kvs: &kvs,
        tmp: tmp.path(),
        redis: redis.as_ref(),
        wrk: wrk.as_deref(),
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
    if s.runs("resp")
        && let Err(e) = resp(&ctx, &mut report)
    {
        report.failure("5 (resp)", &e);
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
    /// `wrk`, when the throughput phases use it.
    wrk: Option<&'a Path>,
}

impl Ctx<'_> {
    /// Starts a single node (no peers) running `program`.
    /// The throughput phases' client: `wrk -t2 -c16` or `16 client threads`.
    fn load_desc(&self) -> String {
        if self.wrk.is_some() {
            format!(
                "wrk -t{} -c{}",
                wrk::THREADS.min(self.s.clients),
                self.s.clients
            )
        } else {
            format!("{} client threads", self.s.clients)
        }
    }

    fn node(&self, name: &str, program: &Path, data_dir: Option<&Path>) -> Result<CalmNode> {
        CalmNode::start(&NodeSpec {
            calm: self.calm,
            program,
            name,
            listen_port: 0,
            peers: Vec::new(),
            data_dir,
            resp: false,
            log: self.tmp.join(format!("{name}.log")),
        })
    }
}

fn progress(text: &str) {
    eprintln!("calm-bench node: {text}");
}

/// A throughput phase's figures, from wrk or from the threads client.
#[derive(Clone, Debug, Default, PartialEq)]
struct Throughput {
    /// `wrk` or `threads`.
    client: &'static str,
    /// Right answers.
    ok: u64,
    /// The phase's length, seconds.
    secs: f64,
    /// Latency percentiles, ms.
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    /// Wrong answers and failed requests (the threads client stops at the first).
    errors: u64,
    /// What the first error was, when known.
    error: Option<String>,
    /// Whether the budget stopped it (threads client).
    cut: bool,
}

impl Throughput {
    fn from_wrk(w: &WrkSummary) -> Throughput {
        let l = w.lua.unwrap_or_default();
        let errors = w.errors();
        Throughput {
            client: "wrk",
            ok: w.ok(),
            secs: w.secs,
            p50_ms: w.percentile_ms(50.0),
            p99_ms: w.percentile_ms(99.0),
            errors,
            error: (errors > 0).then(|| {
                format!(
                    "{} answers not 2xx, {} 2xx answers without the key's value, {} socket \
                     errors (wrk: {} non-2xx/3xx)",
                    l.bad_status, l.bad_body, w.socket_errors, w.non_2xx_3xx
                )
            }),
            cut: false,
        }
    }

    fn from_rate(r: &Rate) -> Throughput {
        Throughput {
            client: "threads",
            ok: r.ops as u64,
            secs: r.secs,
            p50_ms: r.percentile_ms(50.0),
            p99_ms: r.percentile_ms(99.0),
            errors: u64::from(r.error.is_some()),
            error: r.error.clone(),
            cut: r.cut,
        }
    }

    fn per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.ok as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// `rate (p50 / p99)`, then `threads` if not from wrk, `(cut)`, and the errors.
fn throughput_cell(t: &Throughput) -> String {
    let mut cell = format!(
        "{} (p50 {} / p99 {})",
        thousands(t.per_sec()),
        t.p50_ms.map_or_else(|| "—".into(), ms),
        t.p99_ms.map_or_else(|| "—".into(), ms),
    );
    if t.client != "wrk" {
        let _ = write!(cell, " ({})", t.client);
    }
    if t.cut {
        cell.push_str(" (cut)");
    }
    if t.errors > 0 {
        let _ = write!(cell, " (**{} errors**)", t.errors);
    }
    cell
}

/// A throughput line: as [`Line::at_least`], never met if the phase had errors.
fn throughput_line(
    scenario: &str,
    measure: &str,
    t: Option<&Throughput>,
    base: (Option<f64>, String),
    min_ratio: f64,
    target: &str,
) -> Line {
    let mut line = Line::at_least(
        scenario,
        measure,
        (
            t.map(Throughput::per_sec),
            t.map_or_else(|| "—".into(), throughput_cell),
        ),
        base,
        min_ratio,
        target,
    );
    if t.is_some_and(|t| t.errors > 0) {
        line.met = Some(false);
    }
    line
}

/// Adds notes for a phase that had errors or was cut; fails if nothing was answered right.
fn check_throughput(
    report: &mut Report,
    what: &str,
    t: &Throughput,
    budget: Duration,
) -> Result<()> {
    if t.errors > 0 {
        report.note(format!(
            "{what}: **{} errors** ({}); {} right answers",
            t.errors,
            t.error.as_deref().unwrap_or("unknown"),
            t.ok
        ));
    }
    if t.cut {
        report.note(format!(
            "{what}: cut by the {}s budget after {} ops ({:.1}s)",
            budget.as_secs(),
            t.ok,
            t.secs
        ));
    }
    if t.ok == 0 {
        bail!("{what}: nothing measured");
    }
    Ok(())
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
    /// Versions held after the puts.
    after_puts: u64,
    puts: Throughput,
    gets: Option<Throughput>,
    put_tick: Option<(f64, u64)>,
    /// The first get after the load, seconds.
    first_get: f64,
    /// Peak RSS before the puts (the store at `reached` versions, as Redis's), KiB.
    peak_kib: Option<u64>,
    /// Peak RSS after the puts, KiB.
    peak_after_kib: Option<u64>,
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

/// Single puts of unique keys `from..` from the threads client, to `http`.
fn single_puts(s: &Settings, http: &str, from: usize) -> Rate {
    drive(s.clients, s.ops, s.max_time, REQUEST_TIMEOUT, |a, i| {
        let k = from + i;
        post_json(a, http, "/v1/facts", &puts_body("bench", k..k + 1)).map(|_| ())
    })
}

/// Single puts of new keys to the node at `http`, which holds `held` versions: from wrk for
/// `--wrk-seconds`, or from the threads client. Then checks that the node holds every put that
/// was answered (fails if not within `--max-seconds`); the figures and the versions held.
fn put_phase(ctx: &Ctx<'_>, what: &str, http: &str, held: usize) -> Result<(Throughput, u64)> {
    let s = ctx.s;
    let t = match ctx.wrk {
        Some(wrk) => {
            progress(&format!(
                "[{what}] single puts for {}s, wrk -t{} -c{}",
                s.wrk_secs,
                wrk::THREADS,
                s.clients
            ));
            let w = wrk::run(wrk, ctx.tmp, http, Load::Puts, s.clients, s.wrk_secs)?;
            Throughput::from_wrk(&w)
        }
        None => {
            progress(&format!(
                "[{what}] {} single puts, {} client threads",
                s.ops, s.clients
            ));
            Throughput::from_rate(&single_puts(s, http, held))
        }
    };
    let want = held as u64 + t.ok;
    let a = agent(REQUEST_TIMEOUT);
    if !wait_size(&a, http, "kv", want, s.max_time)? {
        bail!(
            "{what}: the node holds {} versions, fewer than the {held} loaded and the {} puts \
             answered",
            client::relation_size(&a, http, "kv")?,
            t.ok
        );
    }
    Ok((t, client::relation_size(&a, http, "kv")?))
}

/// Gets by (k1, k2) of versions `0..held` from the node at `http`, each checked to return
/// the version's value: from wrk for `--wrk-seconds`, or from the threads client.
fn get_phase(ctx: &Ctx<'_>, what: &str, http: &str, held: usize) -> Result<Throughput> {
    let s = ctx.s;
    Ok(match ctx.wrk {
        Some(wrk) => {
            progress(&format!(
                "[{what}] gets for {}s, wrk -t{} -c{}",
                s.wrk_secs,
                wrk::THREADS,
                s.clients
            ));
            let w = wrk::run(
                wrk,
                ctx.tmp,
                http,
                Load::Gets { n: held },
                s.clients,
                s.wrk_secs,
            )?;
            Throughput::from_wrk(&w)
        }
        None => {
            progress(&format!(
                "[{what}] {} gets, {} client threads",
                s.ops, s.clients
            ));
            let r = drive(s.clients, s.ops, s.max_time, REQUEST_TIMEOUT, |a, i| {
                let k = (i * 7919 + 13) % held;
                if get_holds(a, http, k)? {
                    Ok(())
                } else {
                    bail!("get of version {k}: not found")
                }
            });
            Throughput::from_rate(&r)
        }
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
    // The first get after the load can pay a one-off cost (at 1,000,000 versions it took
    // over a second): timed apart, so that wrk's latency correction does not spread that one
    // stall over the measured gets' p99.
    let a = agent(REQUEST_TIMEOUT);
    let t0 = Instant::now();
    if !get_holds(&a, &node.http, reached / 2)? {
        bail!(
            "{what}: the first get, of version {}, found nothing",
            reached / 2
        );
    }
    let first_get = t0.elapsed().as_secs_f64();
    // Gets first, at the size loaded; the puts then add versions.
    let gets = get_phase(ctx, &what, &node.http, reached)?;
    let gets = match check_throughput(report, &format!("{what} gets"), &gets, s.max_time) {
        Ok(()) => Some(gets),
        Err(e) => {
            report.note(format!("{e:#}"));
            None
        }
    };
    // The memory figure is taken before the puts: the store then holds what Redis holds.
    let peak_kib = procs::peak_rss_kib(node.pid());
    let before = TickCounters::read(&a, &node.http);
    let (puts, after_puts) = put_phase(ctx, &what, &node.http, reached)?;
    let after = TickCounters::read(&a, &node.http);
    check_throughput(report, &format!("{what} puts"), &puts, s.max_time)?;
    let put_tick = before.zip(after).and_then(|(b, a)| b.mean_since(&a));
    Ok(KvRun {
        size,
        reached,
        after_puts,
        puts,
        gets,
        put_tick,
        first_get,
        peak_kib,
        peak_after_kib: procs::peak_rss_kib(node.pid()),
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
        report.lines.push(throughput_line(
            &scenario,
            &format!(
                "puts/s, {}, single puts ({} versions after) (Redis SET)",
                ctx.load_desc(),
                thousands(run.after_puts as f64)
            ),
            Some(&run.puts),
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
        report.lines.push(Line {
            scenario: scenario.clone(),
            measure: "the first get after the load (one client, before the gets/s)".into(),
            calm: ms(run.first_get * 1e3),
            ..Line::default()
        });
        report.lines.push(throughput_line(
            &scenario,
            &format!("gets/s by (k1, k2), {} (Redis GET)", ctx.load_desc()),
            run.gets.as_ref(),
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
            measure: "node peak RSS (VmHWM, before the puts) / Redis used_memory".into(),
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
        if let Some(kib) = run.peak_after_kib {
            report.note(format!(
                "kv {}: node peak RSS {} before the puts ({} versions), {} after them ({} \
                 versions)",
                run.size,
                run.peak_kib
                    .map_or_else(|| "—".into(), |k| mib(k as f64 * 1024.0)),
                thousands(run.reached as f64),
                mib(kib as f64 * 1024.0),
                thousands(run.after_puts as f64)
            ));
        }
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
            large.gets.as_ref().map(Throughput::per_sec),
            small.gets.as_ref().map(Throughput::per_sec),
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
    let (puts, _) = put_phase(ctx, &what, &node.http, reached)?;
    check_throughput(report, &format!("{what} puts"), &puts, s.max_time)?;
    let set = redis.as_ref().and_then(|r| r.set.as_ref());
    report.lines.push(throughput_line(
        &format!(
            "3. durable: --data-dir / appendfsync always, {} versions",
            thousands(reached as f64)
        ),
        &format!("puts/s, {} (Redis SET)", ctx.load_desc()),
        Some(&puts),
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
            resp: false,
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
    let (n1_url, n3_url) = (nodes[0].http.clone(), nodes[2].http.clone());
    let (n1, n3) = (n1_url.as_str(), n3_url.as_str());
    let reached = fill(ctx, report, &what, n1, n3, size)?;
    let scenario = format!("4. 3 nodes, {} versions", thousands(reached as f64));
    let set = redis.and_then(|r| r.set.as_ref());
    let redis_set = || (set.map(|f| f.rps), set.map(redis_cell).unwrap_or_default());
    let pct = |v: &[f64], p| client::percentile(v, p).map_or_else(|| "—".into(), |x| ms(x * 1e3));
    let mut held = reached;
    if let Some(wrk) = ctx.wrk {
        // Throughput: wrk's puts at n1, then the time until n3 holds every one answered.
        progress(&format!(
            "[{what}] single puts at n1 for {}s ({}), then until n3 holds them",
            s.wrk_secs,
            ctx.load_desc()
        ));
        let w = wrk::run(wrk, ctx.tmp, n1, Load::Puts, s.clients, s.wrk_secs)?;
        let ended = Instant::now();
        let mut t = Throughput::from_wrk(&w);
        let want = (reached as u64) + t.ok;
        let a = agent(REQUEST_TIMEOUT);
        loop {
            if client::relation_size(&a, n3, "kv")? >= want {
                break;
            }
            if ended.elapsed() > READABLE_TIMEOUT {
                bail!(
                    "{what}: n3 holds {} versions {}s after wrk's puts, fewer than the {want} \
                     answered at n1",
                    client::relation_size(&a, n3, "kv")?,
                    READABLE_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let lag = ended.elapsed().as_secs_f64();
        for node in &mut nodes {
            node.check_alive()?;
        }
        let acked = t.clone();
        t.secs += lag;
        check_throughput(report, &format!("{what} puts"), &t, s.max_time)?;
        report.note(format!(
            "{what}: {} puts answered at n1 in {:.2}s ({}/s); n3 held them all {:.3}s after \
             wrk ended",
            t.ok,
            acked.secs,
            thousands(acked.per_sec()),
            lag
        ));
        report.lines.push(throughput_line(
            &scenario,
            &format!(
                "puts/s at n1 until all are readable at n3, {} (Redis SET, 1 server)",
                ctx.load_desc()
            ),
            Some(&t),
            redis_set(),
            0.3,
            "≥ 0.3× Redis",
        ));
        report.lines.push(Line {
            scenario: scenario.clone(),
            measure: "n1 answers the put (wrk): p50 / p99".into(),
            calm: format!(
                "{} / {}",
                acked.p50_ms.map_or_else(|| "—".into(), ms),
                acked.p99_ms.map_or_else(|| "—".into(), ms)
            ),
            ..Line::default()
        });
        held += t.ok as usize;
    }
    // Latency (and, without wrk, throughput): single puts at n1, each until readable at n3.
    let (clients, ops) = if ctx.wrk.is_some() {
        (1, PROBE_PUTS.min(s.ops))
    } else {
        (s.clients, s.ops)
    };
    progress(&format!(
        "[{what}] {ops} single puts at n1 until readable at n3, {clients} client(s)"
    ));
    let acks = Mutex::new(Vec::new());
    let r = drive(clients, ops, s.max_time, REQUEST_TIMEOUT, |a, i| {
        let k = held + i;
        let t0 = Instant::now();
        post_json(a, n1, "/v1/facts", &puts_body("bench", k..k + 1))?;
        acks.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(t0.elapsed().as_secs_f64());
        // Every get at n3 is a lookup on its tick thread: the clients poll after 1, 2, 4, then
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
    let mut acks = acks.into_inner().unwrap_or_else(|p| p.into_inner());
    acks.sort_by(f64::total_cmp);
    if ctx.wrk.is_some() {
        check_rate(report, &format!("{what} probe"), &r, s.max_time)?;
        report.lines.push(Line {
            scenario: scenario.clone(),
            measure: format!(
                "one client, {} puts: put at n1 until readable at n3, p50 / p99; n1 answers, \
                 p50 / p99",
                r.ops
            ),
            calm: format!(
                "{} / {}; {} / {}",
                r.percentile_ms(50.0).map_or_else(|| "—".into(), ms),
                r.percentile_ms(99.0).map_or_else(|| "—".into(), ms),
                pct(&acks, 50.0),
                pct(&acks, 99.0)
            ),
            met: r.error.as_ref().map(|_| false),
            ..Line::default()
        });
    } else {
        let t = Throughput::from_rate(&r);
        check_throughput(report, &format!("{what} puts"), &t, s.max_time)?;
        report.lines.push(throughput_line(
            &scenario,
            &format!(
                "puts/s at n1 until readable at n3, {} (Redis SET, 1 server)",
                ctx.load_desc()
            ),
            Some(&t),
            redis_set(),
            0.3,
            "≥ 0.3× Redis",
        ));
        report.lines.push(Line {
            scenario,
            measure: "n1 answers the put: p50 / p99".into(),
            calm: format!("{} / {}", pct(&acks, 50.0), pct(&acks, 99.0)),
            ..Line::default()
        });
    }
    Ok(())
}

// ---- 5. The same client: redis-benchmark against --resp and Redis ----

/// Pairs of runs, each side once per pair, alternating.
const RESP_PAIRS: usize = 3;

fn resp(ctx: &Ctx<'_>, report: &mut Report) -> Result<()> {
    let s = ctx.s;
    let Some(tools) = ctx.redis else {
        report.note(format!("scenario 5 (resp) skipped: {NO_REDIS}"));
        return Ok(());
    };
    let node = CalmNode::start(&NodeSpec {
        calm: ctx.calm,
        program: ctx.kvs,
        name: "resp",
        listen_port: 0,
        peers: Vec::new(),
        data_dir: None,
        resp: true,
        log: ctx.tmp.join("resp.log"),
    })?;
    let calm_port = node.resp_port.context("no RESP port")?;
    let dir = tempfile::Builder::new()
        .prefix("redis-resp-")
        .tempdir_in(ctx.tmp)?;
    let redis = RedisServer::start(tools, dir.path(), &[])?;
    let n = (s.redis_ops / 4).max(1_000);
    let keyspace = 1_000_000;
    let hset = |port: u16| -> Result<RedisFigure> {
        procs::benchmark_at(tools, port, "hset", s.clients, n, keyspace, s.load_time)?
            .into_iter()
            .find(|f| f.test == "HSET")
            .context("redis-benchmark printed no HSET figure")
    };
    let mut pairs = Vec::new();
    for k in 0..RESP_PAIRS {
        progress(&format!(
            "[resp] pair {}: redis-benchmark -t hset -n {n}",
            k + 1
        ));
        let r = hset(redis.port)?;
        let c = hset(calm_port)?;
        pairs.push((c, r));
    }
    // The node must hold what it acknowledged: redis-benchmark writes fields of `myhash`.
    let a = agent(REQUEST_TIMEOUT);
    let held = client::relation_size(&a, &node.http, "visible")?;
    if held == 0 {
        bail!("the node acknowledged HSETs but holds no version");
    }
    let mut ratios: Vec<f64> = pairs.iter().map(|(c, r)| c.rps / r.rps).collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    let mid = |side: fn(&(RedisFigure, RedisFigure)) -> &RedisFigure| {
        let mut v: Vec<RedisFigure> = pairs.iter().map(|p| side(p).clone()).collect();
        v.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        v[v.len() / 2].clone()
    };
    let (calm_mid, redis_mid) = (mid(|p| &p.0), mid(|p| &p.1));
    let mut line = Line::at_least(
        "5. kvs over RESP, 1 node: the same client",
        &format!(
            "HSET/s, redis-benchmark -t hset -c {} -n {n}, median of {RESP_PAIRS} alternating pairs (ratio: median of the pairs' ratios)",
            s.clients
        ),
        (Some(calm_mid.rps), redis_cell(&calm_mid)),
        (Some(redis_mid.rps), redis_cell(&redis_mid)),
        0.5,
        "≥ 0.5× Redis",
    );
    line.ratio = Some(median);
    line.met = Some(median >= 0.5);
    report.lines.push(line);
    report.note(format!(
        "resp: calm/Redis HSET ratios per pair {}; the node held {held} versions after",
        ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
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
