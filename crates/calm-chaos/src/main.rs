//! `calm-chaos`: the chaos test. Runs real `calm node` processes (programs/kvs.dl, or
//! programs/deadlock.dl) in network namespaces it makes, drives a workload of puts, deletes and
//! reads (or waits-for edges) at every node, injects partitions, freezes, kills and full disks on
//! a schedule drawn from a seed, times how the cluster catches up after each heal, and checks the
//! history afterwards (see `calm_chaos::checker`). Exit code 0: no violation (or skipped: no
//! namespaces here); 1: a violation or a hang; 2: the harness itself failed.

mod cluster;
mod net;
mod workload;

use anyhow::{Context as _, bail};
use calm_chaos::checker::{self, Phase, Violation, ViolationKind};
use calm_chaos::history::{History, Outcome, Row, WriteKind};
use calm_chaos::report::{self, CatchUp, Summary};
use calm_chaos::schedule::{self, Fault, FaultKind, ScheduleConfig};
use clap::Parser;
use cluster::{Api, Cluster, NodeSpec};
use nix::sys::signal::Signal;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The chaos test: real calm nodes in network namespaces, faults on a seeded schedule,
/// Jepsen-style checks of a key-value workload.
#[derive(Parser)]
#[command(name = "calm-chaos")]
struct Args {
    /// The `calm` binary.
    #[arg(long, default_value = "target/release/calm")]
    bin: PathBuf,
    /// The seed of the fault schedule (and of the workload's choices).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The workload's length in seconds.
    #[arg(long, default_value_t = 60, conflicts_with = "minutes")]
    seconds: u64,
    /// The workload's length in minutes (e.g. 30 for the nightly run).
    #[arg(long)]
    minutes: Option<u64>,
    /// The number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// The faults to inject, separated by commas.
    #[arg(long, default_value = "partition,freeze,kill,disk")]
    faults: String,
    /// Client threads (default: two per node).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Where the nodes' data directories and logs go (emptied at start, kept at the end).
    #[arg(long, default_value = "/tmp/calm-chaos")]
    work_dir: PathBuf,
    /// The workload: `kvs` (programs/kvs.dl: puts, deletes, reads) or `deadlock`
    /// (programs/deadlock.dl: waits-for edges).
    #[arg(long, default_value = "kvs", value_parser = ["kvs", "deadlock"])]
    workload: String,
    /// The size of the tmpfs holding the disk node's data directory, in MiB. A disk fault
    /// shrinks it to what is in use and gives the space back at the heal, so it only needs to
    /// hold what the node writes over the run.
    #[arg(long, default_value_t = 1024)]
    disk_mb: u64,
    /// Fail if the nodes do not converge within this many seconds after the last heal and the
    /// workload's end.
    #[arg(long, default_value_t = 30)]
    converge_secs: u64,
    /// A node whose /health does not answer 200 within this many seconds after the last heal
    /// is a hang.
    #[arg(long, default_value_t = 20)]
    hang_secs: u64,
    /// Print the schedule and exit.
    #[arg(long)]
    dry_run: bool,
}

/// The programs the nodes run.
const KVS: &str = include_str!("../../../programs/kvs.dl");
const DEADLOCK: &str = include_str!("../../../programs/deadlock.dl");

/// What the nodes run and the clients do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    Kvs,
    Deadlock,
}

impl Workload {
    fn program(self) -> (&'static str, &'static str) {
        match self {
            Workload::Kvs => ("kvs.dl", KVS),
            Workload::Deadlock => ("deadlock.dl", DEADLOCK),
        }
    }

    /// The relation read at the end (and compared across nodes).
    fn output(self) -> &'static str {
        match self {
            Workload::Kvs => "visible",
            Workload::Deadlock => "deadlocked",
        }
    }
}

/// The program's own `waits("a", "b").` facts.
fn program_edges(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let args = l.trim().strip_prefix("waits(\"")?.strip_suffix("\").")?;
            let (a, b) = args.split_once("\", \"")?;
            Some((a.to_string(), b.to_string()))
        })
        .collect()
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("chaos: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let run_for = Duration::from_secs(args.minutes.map_or(args.seconds, |m| m * 60));
    let kinds = schedule::parse_faults(&args.faults)?;
    let sched = schedule::generate(&ScheduleConfig {
        seed: args.seed,
        run: run_for,
        nodes: args.nodes,
        kinds: kinds.clone(),
    })?;
    println!(
        "chaos: seed {}, {} nodes, {} s, faults {}; {} faults scheduled, the last healed at {:.1} s",
        args.seed,
        args.nodes,
        run_for.as_secs(),
        args.faults,
        sched.faults.len(),
        sched.last_heal().as_secs_f64()
    );
    if args.dry_run {
        for f in &sched.faults {
            println!("{}", describe(f));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Err(reason) = net::probe() {
        println!("chaos: skipped: {reason}");
        return Ok(ExitCode::SUCCESS);
    }
    let bin = std::fs::canonicalize(&args.bin).with_context(|| {
        format!(
            "no calm binary at {} (build it: cargo build --release -p calm-cli)",
            args.bin.display()
        )
    })?;

    net::claim().map_err(anyhow::Error::msg)?;
    let result = run_claimed(&args, run_for, &kinds, &sched, &bin);
    net::release();
    result
}

fn run_claimed(
    args: &Args,
    run_for: Duration,
    kinds: &[FaultKind],
    sched: &schedule::Schedule,
    bin: &Path,
) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    watch_signals(stop.clone());

    // Leftovers of a crashed run, then a fresh work directory.
    let work = &args.work_dir;
    net::cleanup_leftovers(work);
    for attempt in 0..5 {
        match std::fs::remove_dir_all(work) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) if attempt == 4 => {
                return Err(e).with_context(|| format!("cannot empty {}", work.display()));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
    std::fs::create_dir_all(work).with_context(|| format!("cannot create {}", work.display()))?;
    let work = std::fs::canonicalize(work)?;
    let secret = work.join("cluster.secret");
    let token_file = work.join("client.token");
    let token = random_hex(32)?;
    write_private(&secret, &random_hex(32)?)?;
    write_private(&token_file, &token)?;
    let workload = if args.workload == "deadlock" {
        Workload::Deadlock
    } else {
        Workload::Kvs
    };
    let (file, text) = workload.program();
    let program = work.join(file);
    std::fs::write(&program, text)?;

    // The environment, torn down in reverse order when these are dropped (on success, error or
    // panic): processes first, then mounts, then namespaces.
    let net = net::Net::create(args.nodes)?;
    let disk = if kinds.contains(&FaultKind::Disk) {
        Some(Disk::mount(
            &work.join(format!("n{}-disk", sched.disk_node + 1)),
            args.disk_mb,
        )?)
    } else {
        None
    };
    let specs = (0..args.nodes)
        .map(|i| {
            let name = format!("n{}", i + 1);
            let data_dir = match &disk {
                Some(d) if i == sched.disk_node => d.dir.join("data"),
                _ => work.join(&name).join("data"),
            };
            NodeSpec {
                log: work.join(format!("{name}.log")),
                name,
                data_dir,
            }
        })
        .collect();
    let mut cluster = Cluster::new(bin, &program, &secret, &token_file, specs);
    for i in 0..args.nodes {
        cluster.start(i, Duration::from_secs(20))?;
    }
    println!(
        "chaos: {} nodes ready; logs in {}",
        args.nodes,
        work.display()
    );

    let api = Arc::new(Api::new(args.nodes, &token, Duration::from_secs(5)));
    let start = Instant::now();
    let end = start + run_for;
    let workers: Vec<_> = (0..if args.workers == 0 {
        2 * args.nodes
    } else {
        args.workers
    })
        .map(|index| {
            let api = api.clone();
            let stop = stop.clone();
            let (nodes, seed) = (args.nodes, args.seed);
            match workload {
                Workload::Kvs => std::thread::spawn(move || {
                    workload::Worker {
                        index,
                        nodes,
                        seed,
                        start,
                        end,
                        stop,
                        keys: 8,
                    }
                    .run(&api)
                }),
                Workload::Deadlock => std::thread::spawn(move || {
                    workload::DeadlockWorker {
                        index,
                        nodes,
                        seed,
                        start,
                        end,
                        stop,
                    }
                    .run(&api)
                }),
            }
        })
        .collect();

    let data_files = (0..args.nodes)
        .map(|i| cluster.data_dir(i).join("calm.redb"))
        .collect();
    let mut chaos = Chaos {
        api: api.clone(),
        workload,
        probes: Vec::new(),
        heals: 0,
        data_files,
        largest_files: vec![0; args.nodes],
        next_size_sample: Duration::from_secs(60),
        cluster: &mut cluster,
        net: &net,
        disk: disk.as_ref(),
        start,
        violations: Vec::new(),
        summary: Summary {
            seed: args.seed,
            nodes: args.nodes,
            run: run_for,
            workload: args.workload.clone(),
            ..Summary::default()
        },
        phases: Vec::new(),
        last_heal: Duration::ZERO,
        active: None,
        disk_stopped: false,
        restart_attempts: vec![0; args.nodes],
        last_start: vec![None; args.nodes],
    };
    chaos.drive(&sched.faults, run_for, &stop);

    let mut history = History::default();
    for w in workers {
        match w.join() {
            Ok(h) => history.merge(h),
            Err(_) => bail!("a workload thread panicked"),
        }
    }
    if stop.load(Ordering::Relaxed) {
        println!("chaos: interrupted; cleaning up");
        return Ok(ExitCode::from(130));
    }
    chaos.heal_all();
    let quiet = start.elapsed();
    let last_heal = chaos.last_heal;
    chaos.hang_check(&api, quiet, Duration::from_secs(args.hang_secs), &stop);
    let (finals, converged) = chaos.converge(
        &api,
        workload.output(),
        quiet,
        Duration::from_secs(args.converge_secs),
        &stop,
    );
    if let Some(t) = converged {
        chaos.summary.convergence = Some(t.saturating_sub(quiet));
        chaos.summary.since_last_heal = Some(t.saturating_sub(last_heal));
    }
    for p in std::mem::take(&mut chaos.probes) {
        match p.join() {
            Ok((writes, mut c)) => {
                history.probes.extend(writes);
                let done = c.at + c.caught_up.unwrap_or(Duration::MAX / 4);
                c.overlapped = chaos
                    .phases
                    .iter()
                    .any(|ph| ph.fault.is_some() && ph.start > c.at && ph.start < done);
                chaos.summary.catch_ups.push(c);
            }
            Err(_) => bail!("a probe thread panicked"),
        }
    }
    chaos.sample_sizes(true);

    let mut violations = std::mem::take(&mut chaos.violations);
    match workload {
        Workload::Kvs => {
            let rows: Vec<Option<Vec<Row>>> = finals
                .iter()
                .map(|f| {
                    f.as_ref()
                        .map(|rows| rows.iter().filter_map(Row::from_json).collect())
                })
                .collect();
            violations.extend(checker::check_final(&history, &rows));
        }
        Workload::Deadlock => {
            let sets: Vec<Option<std::collections::BTreeSet<String>>> = finals
                .iter()
                .map(|f| {
                    f.as_ref().map(|rows| {
                        rows.iter()
                            .filter_map(|r| r[0].as_str().map(str::to_string))
                            .collect()
                    })
                })
                .collect();
            violations.extend(checker::check_deadlock(
                &history,
                &program_edges(DEADLOCK),
                &sets,
            ));
        }
    }
    let phases = std::mem::take(&mut chaos.phases);
    let (stats, unavailable) =
        checker::availability(&history, &phases, Duration::from_millis(500), 5);
    violations.extend(unavailable);
    violations.sort_by_key(|v| v.kind);

    let mut s = chaos.summary;
    let count = |kind: fn(&WriteKind) -> bool| {
        let w: Vec<_> = history.writes.iter().filter(|w| kind(&w.kind)).collect();
        (
            w.len(),
            w.iter().filter(|w| w.outcome == Outcome::Ok).count(),
        )
    };
    s.puts = count(|k| matches!(k, WriteKind::Put { .. }));
    s.dels = count(|k| matches!(k, WriteKind::Del));
    s.edges = count(|k| matches!(k, WriteKind::Edge));
    s.reads = (history.reads.len(), history.failed_reads);
    s.phases = stats;
    s.final_rows = finals.iter().flatten().next().map_or(0, Vec::len);
    s.catch_ups.sort_by_key(|c| c.at);
    s.violations = violations;
    s.discarded_commits = (0..args.nodes)
        .map(|i| {
            std::fs::read_to_string(work.join(format!("n{}.log", i + 1)))
                .unwrap_or_default()
                .matches("failed its checksums and was discarded")
                .count()
        })
        .sum();
    println!();
    print!("{}", report::render(&s));
    if s.violations.is_empty() {
        println!("\nchaos: no violations (seed {})", args.seed);
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "\nchaos: FAILED with {} violations (seed {}; reproduce with --seed {} {}; logs in {})",
            s.violations.len(),
            args.seed,
            args.seed,
            match args.minutes {
                Some(m) => format!("--minutes {m}"),
                None => format!("--seconds {}", args.seconds),
            },
            work.display()
        );
        Ok(ExitCode::from(1))
    }
}

fn describe(f: &Fault) -> String {
    format!(
        "{:7.1} s  {:<9} n{}  for {:.1} s",
        f.start.as_secs_f64(),
        f.kind.name(),
        f.node + 1,
        f.duration.as_secs_f64()
    )
}

/// Sets `stop` on SIGINT or SIGTERM.
fn watch_signals(stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        });
        eprintln!("chaos: signal received; stopping");
        stop.store(true, Ordering::Relaxed);
    });
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// A small tmpfs for one node's data directory; unmounted when dropped.
struct Disk {
    /// The mount point; the data directory is `dir/data`.
    dir: PathBuf,
    mb: u64,
}

impl Disk {
    fn mount(dir: &Path, mb: u64) -> anyhow::Result<Disk> {
        std::fs::create_dir_all(dir)?;
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mb}m,mode=0700"),
                "calm-chaos",
            ])
            .arg(dir)
            .status()
            .context("cannot run `mount`")?;
        if !status.success() {
            bail!("cannot mount a tmpfs on {}", dir.display());
        }
        Ok(Disk {
            dir: dir.into(),
            mb,
        })
    }

    fn filler(&self) -> PathBuf {
        self.dir.join("filler")
    }

    /// Bytes in use on the file system.
    fn used(&self) -> u64 {
        nix::sys::statvfs::statvfs(&self.dir)
            .map(|s| (s.blocks() - s.blocks_free()) * s.fragment_size())
            .unwrap_or(0)
    }

    fn remount(&self, bytes: u64) -> bool {
        Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}")])
            .arg(&self.dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The fault: shrinks the file system to what is in use (a write that needs a new page
    /// then fails with ENOSPC) and fills what is left; returns the size it was given.
    fn shrink(&self) -> u64 {
        let page = 4096;
        let mut size = self.used().div_ceil(page) * page;
        // The usage may grow meanwhile: a few tries, a page more each time.
        for _ in 0..16 {
            if self.remount(size.max(page)) {
                break;
            }
            size = self.used().div_ceil(page) * page + page;
        }
        self.fill();
        size
    }

    /// The heal: the space back.
    fn grow(&self) {
        self.free();
        if !self.remount(self.mb << 20) {
            eprintln!(
                "chaos: cannot give the disk's space back ({})",
                self.dir.display()
            );
        }
    }

    /// Fills the file system up (to ENOSPC); returns the bytes written.
    fn fill(&self) -> u64 {
        let Ok(mut f) = std::fs::File::create(self.filler()) else {
            return 0;
        };
        let chunk = vec![0u8; 1 << 20];
        let mut written = 0;
        for _ in 0..=self.mb + 1 {
            match f.write(&chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n as u64,
            }
        }
        // The last partial page.
        for _ in 0..4096 {
            match f.write(&chunk[..1024]) {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n as u64,
            }
        }
        written
    }

    fn free(&self) {
        let _ = std::fs::remove_file(self.filler());
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// The fault injector and process monitor.
struct Chaos<'a> {
    api: Arc<Api>,
    workload: Workload,
    /// The catch-up probe of each heal, running.
    probes: Vec<JoinHandle<(Vec<calm_chaos::history::Write>, CatchUp)>>,
    /// Heals so far (markers are named after them).
    heals: usize,
    /// Each node's data file.
    data_files: Vec<PathBuf>,
    /// The largest size of each seen.
    largest_files: Vec<u64>,
    /// When the data files' sizes are next printed.
    next_size_sample: Duration,
    cluster: &'a mut Cluster,
    net: &'a net::Net,
    disk: Option<&'a Disk>,
    start: Instant,
    violations: Vec<Violation>,
    summary: Summary,
    phases: Vec<Phase>,
    last_heal: Duration,
    /// The fault in progress, and when it actually started.
    active: Option<(Fault, Duration)>,
    /// The disk node stopped during the current disk fault.
    disk_stopped: bool,
    /// Restarts of nodes that stopped on their own (crashes).
    restart_attempts: Vec<usize>,
    /// When each node was last (re)started or tried to be.
    last_start: Vec<Option<Instant>>,
}

impl Chaos<'_> {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn violation(&mut self, kind: ViolationKind, detail: String) {
        println!(
            "{:7.1} s  VIOLATION {}: {detail}",
            self.now().as_secs_f64(),
            kind.name()
        );
        self.violations.push(Violation { kind, detail });
    }

    /// Runs the schedule until `run` has passed (or `stop`), watching the processes.
    fn drive(&mut self, faults: &[Fault], run: Duration, stop: &AtomicBool) {
        let mut next = 0;
        let mut healthy_since = Duration::ZERO;
        // Bounded: one iteration per 50 ms of the run, plus the time faults take to inject.
        let max_iterations = run.as_millis() / 50 + 10_000;
        for _ in 0..max_iterations {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let t = self.now();
            if t >= run {
                break;
            }
            if let Some((f, _)) = &self.active {
                if t >= f.end() {
                    self.heal();
                    healthy_since = self.now();
                }
            } else if next < faults.len() && t >= faults[next].start {
                let f = faults[next].clone();
                next += 1;
                self.phases.push(Phase {
                    fault: None,
                    start: healthy_since,
                    end: t,
                });
                self.inject(f);
            }
            self.monitor();
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.active.is_some() {
            self.heal();
            healthy_since = self.now();
        }
        self.phases.push(Phase {
            fault: None,
            start: healthy_since,
            end: self.now().min(run),
        });
    }

    fn inject(&mut self, f: Fault) {
        let t = self.now();
        println!(
            "{:7.1} s  {} n{} for {:.1} s",
            t.as_secs_f64(),
            f.kind,
            f.node + 1,
            f.duration.as_secs_f64()
        );
        *self.summary.faults.entry(f.kind).or_default() += 1;
        let i = f.node;
        let result = match f.kind {
            FaultKind::Partition => self.net.set_link(i, false),
            FaultKind::Freeze => self.cluster.signal(i, Signal::SIGSTOP),
            FaultKind::Kill => {
                self.cluster.kill(i);
                Ok(())
            }
            FaultKind::Disk => {
                self.disk_stopped = false;
                match self.disk {
                    Some(d) => {
                        let n = d.shrink();
                        println!(
                            "           shrank the disk of n{} to what it uses ({:.1} MiB) and filled it",
                            i + 1,
                            n as f64 / (1 << 20) as f64
                        );
                        Ok(())
                    }
                    None => Ok(()),
                }
            }
        };
        if let Err(e) = result {
            println!("           could not inject: {e:#}");
        }
        self.active = Some((f, t));
    }

    fn heal(&mut self) {
        let Some((f, started)) = self.active.take() else {
            return;
        };
        let i = f.node;
        // The catch-up probe: markers at the nodes not hit, just before the heal.
        self.heals += 1;
        let h = self.heals;
        let healing = Instant::now();
        let at = self.now();
        let mut pre = Vec::new();
        for j in (0..self.cluster.len()).filter(|&j| j != i) {
            if self.cluster.is_up(j) {
                pre.push(write_marker(
                    &self.api,
                    self.workload,
                    j,
                    h,
                    &format!("pre-n{}", j + 1),
                    self.start,
                ));
            }
        }
        match f.kind {
            FaultKind::Partition => {
                if let Err(e) = self.net.set_link(i, true) {
                    self.violation(
                        ViolationKind::RestartFailed,
                        format!("link of n{} not restored: {e:#}", i + 1),
                    );
                }
            }
            FaultKind::Freeze => {
                let _ = self.cluster.signal(i, Signal::SIGCONT);
            }
            FaultKind::Kill => self.restart(i),
            FaultKind::Disk => {
                // Did it stop meanwhile?
                self.monitor_disk(i);
                if let Some(d) = self.disk {
                    d.grow();
                }
                if self.disk_stopped {
                    self.summary.disk_stops += 1;
                }
                if !self.cluster.is_up(i) {
                    self.restart(i);
                }
            }
        }
        let (api, workload, n, start) = (
            self.api.clone(),
            self.workload,
            self.cluster.len(),
            self.start,
        );
        let kind = f.kind;
        self.probes.push(std::thread::spawn(move || {
            probe(&api, workload, n, h, kind, at, healing, pre, start)
        }));
        let t = self.now();
        println!("{:7.1} s  healed {} of n{}", t.as_secs_f64(), f.kind, i + 1);
        self.phases.push(Phase {
            fault: Some((f.kind, i)),
            start: started,
            end: t,
        });
        self.last_heal = t;
    }

    fn restart(&mut self, i: usize) {
        if self.cluster.is_up(i) {
            return;
        }
        self.last_start[i] = Some(Instant::now());
        match self.cluster.start(i, Duration::from_secs(20)) {
            Ok(()) => {
                self.summary.restarts += 1;
                println!("{:7.1} s  restarted n{}", self.now().as_secs_f64(), i + 1);
            }
            Err(e) => {
                let tail = self.cluster.log_tail(i, 5);
                self.violation(ViolationKind::RestartFailed, format!("{e:#}\n{tail}"));
            }
        }
    }

    /// During a disk fault at node `i`: an exit with code 1 is the expected fail-stop.
    fn monitor_disk(&mut self, i: usize) {
        if let Some(status) = self.cluster.try_wait(i) {
            let t = self.now().as_secs_f64();
            if status.code() == Some(1) {
                self.disk_stopped = true;
                let tail = self.cluster.log_tail(i, 10);
                let clean = tail.contains("storage failure");
                println!(
                    "{t:7.1} s  n{} stopped with exit code 1 on the full disk{}",
                    i + 1,
                    if clean {
                        ""
                    } else {
                        " (no `storage failure` line in its log)"
                    }
                );
            } else {
                let tail = self.cluster.log_tail(i, 5);
                self.violation(
                    ViolationKind::Crash,
                    format!(
                        "n{} exited with {status} on a full disk (expected exit code 1)\n{tail}",
                        i + 1
                    ),
                );
            }
        }
    }

    /// Prints the sizes of the nodes' data files every minute (and at the end, with `last`).
    fn sample_sizes(&mut self, last: bool) {
        let t = self.now();
        if !last && t < self.next_size_sample {
            return;
        }
        self.next_size_sample = t + Duration::from_secs(60);
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        let mut line = Vec::new();
        for (k, f) in self.data_files.iter().enumerate() {
            // Allocated, not the length: redb's file has unwritten (sparse) regions.
            let (size, len) = std::fs::metadata(f).map_or((0, 0), |m| {
                (std::os::unix::fs::MetadataExt::blocks(&m) * 512, m.len())
            });
            self.largest_files[k] = self.largest_files[k].max(size);
            line.push(format!(
                "n{} {:.1} MiB ({:.1} MiB long)",
                k + 1,
                mib(size),
                mib(len)
            ));
        }
        let disk = self
            .disk
            .map(|d| format!("; the disk node's tmpfs holds {:.1} MiB", mib(d.used())))
            .unwrap_or_default();
        let text = format!(
            "calm.redb allocated sizes{}: {}{disk}",
            if last { " at the end" } else { "" },
            line.join(", ")
        );
        println!("{:7.1} s  {text}", t.as_secs_f64());
        if last {
            self.summary.disk_notes.push(text);
            let largest: Vec<String> = self
                .largest_files
                .iter()
                .enumerate()
                .map(|(k, b)| format!("n{} {:.1} MiB", k + 1, mib(*b)))
                .collect();
            self.summary.disk_notes.push(format!(
                "calm.redb largest allocated size seen (sampled every minute): {}",
                largest.join(", ")
            ));
        }
    }

    /// Notices nodes that exited; restarts those that should be running.
    fn monitor(&mut self) {
        self.sample_sizes(false);
        for i in 0..self.cluster.len() {
            let hit = self
                .active
                .as_ref()
                .filter(|(f, _)| f.node == i)
                .map(|(f, _)| f.kind);
            match hit {
                Some(FaultKind::Kill) => continue,
                Some(FaultKind::Disk) => {
                    self.monitor_disk(i);
                    continue;
                }
                _ => {}
            }
            if let Some(status) = self.cluster.try_wait(i) {
                let tail = self.cluster.log_tail(i, 5);
                self.violation(
                    ViolationKind::Crash,
                    format!(
                        "n{} exited with {status} outside any fault that stops it\n{tail}",
                        i + 1
                    ),
                );
            }
            // A node that should be up and is not: try again, at most every 2 s and 20 times.
            let waited = self.last_start[i].is_none_or(|t| t.elapsed() >= Duration::from_secs(2));
            if !self.cluster.is_up(i) && waited && self.restart_attempts[i] < 20 {
                self.restart_attempts[i] += 1;
                self.restart(i);
            }
        }
    }

    /// Ends any fault in progress.
    fn heal_all(&mut self) {
        self.heal();
        for i in 0..self.cluster.len() {
            let _ = self.net.set_link(i, true);
            if self.cluster.is_up(i) {
                let _ = self.cluster.signal(i, Signal::SIGCONT);
            } else {
                self.restart(i);
            }
        }
    }

    /// Every node's /health must answer 200 within `bound` of `quiet`.
    fn hang_check(&mut self, api: &Api, quiet: Duration, bound: Duration, stop: &AtomicBool) {
        for i in 0..self.cluster.len() {
            let deadline = quiet + bound;
            let mut ok = false;
            for _ in 0..10_000 {
                if api.healthy(i) {
                    ok = true;
                    break;
                }
                if self.now() >= deadline || stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            if !ok {
                let tail = self.cluster.log_tail(i, 5);
                self.violation(
                    ViolationKind::Hang,
                    format!(
                        "n{}'s /health did not answer 200 within {} s after the last heal\n{tail}",
                        i + 1,
                        bound.as_secs()
                    ),
                );
            }
        }
    }

    /// Polls every node's `visible` and links until they agree and owe nothing, twice in a
    /// row, or until `bound` after `quiet`. Returns the last states read and when they agreed.
    fn converge(
        &mut self,
        api: &Api,
        relation: &str,
        quiet: Duration,
        bound: Duration,
        stop: &AtomicBool,
    ) -> (Vec<Option<Vec<serde_json::Value>>>, Option<Duration>) {
        let n = self.cluster.len();
        let deadline = quiet + bound;
        let mut agreed_since: Option<Duration> = None;
        let mut finals: Vec<Option<Vec<serde_json::Value>>> = vec![None; n];
        let mut owed = String::new();
        for _ in 0..100_000 {
            let t = self.now();
            finals = (0..n)
                .map(|i| {
                    api.rows(i, relation).ok().map(|mut rows| {
                        rows.sort_by_cached_key(|r| r.to_string());
                        rows
                    })
                })
                .collect();
            let same = finals.iter().all(|f| f.is_some() && *f == finals[0]);
            owed.clear();
            for i in 0..n {
                match api.status(i) {
                    Some(s) => {
                        for p in s["peers"].as_array().into_iter().flatten() {
                            let unacked = p["unacked"].as_u64().unwrap_or(u64::MAX);
                            let connected = p["connected"].as_bool().unwrap_or(false);
                            if unacked > 0 || !connected {
                                owed.push_str(&format!(
                                    " n{}->{}: connected {connected}, unacked {unacked};",
                                    i + 1,
                                    p["name"].as_str().unwrap_or("?")
                                ));
                            }
                        }
                    }
                    None => owed.push_str(&format!(" n{}: no status;", i + 1)),
                }
            }
            if same && owed.is_empty() {
                match agreed_since {
                    Some(since) => return (finals, Some(since)),
                    None => agreed_since = Some(t),
                }
            } else {
                agreed_since = None;
            }
            if self.now() >= deadline || stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let sizes: Vec<String> = finals
            .iter()
            .enumerate()
            .map(|(i, f)| {
                format!(
                    "n{}: {}",
                    i + 1,
                    f.as_ref()
                        .map_or("unreadable".into(), |f| f.len().to_string())
                )
            })
            .collect();
        self.violation(
            ViolationKind::NoConvergence,
            format!(
                "no agreement within {} s of the last heal (rows {}; links:{})",
                bound.as_secs(),
                sizes.join(", "),
                if owed.is_empty() {
                    " settled".to_string()
                } else {
                    owed.clone()
                }
            ),
        );
        (finals, None)
    }
}

/// A probe's marker write at `node` for heal `h`: a put of (`mark{h}`, `{tag}`) (kvs) or a
/// waits-for self-loop of `m{h}{tag}`, a deadlock (deadlock). Each attempt has a fresh id.
fn write_marker(
    api: &Api,
    workload: Workload,
    node: usize,
    h: usize,
    tag: &str,
    start: Instant,
) -> calm_chaos::history::Write {
    use calm_chaos::history::VersionId;
    static SEQ: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed) + 1;
    let invoked = start.elapsed();
    let (k1, k2, kind, outcome) = match workload {
        Workload::Kvs => {
            let (k1, k2) = (format!("mark{h}"), format!("{tag}-{seq}"));
            let tuple = serde_json::json!([["chaos", seq, k1, k2, "m"]]);
            let outcome = api.insert(node, "put", &tuple);
            let id = VersionId {
                client: "chaos".into(),
                seq,
            };
            let kind = WriteKind::Put {
                id,
                value: "m".into(),
            };
            (k1, k2, kind, outcome)
        }
        Workload::Deadlock => {
            let t = format!("m{h}{tag}-{seq}");
            let outcome = api.insert(node, "waits", &serde_json::json!([[t, t]]));
            (t.clone(), t, WriteKind::Edge, outcome)
        }
    };
    calm_chaos::history::Write {
        node,
        k1,
        k2,
        kind,
        pre_read: Vec::new(),
        invoked,
        completed: start.elapsed(),
        outcome,
    }
}

/// Whether the marker `m` is visible at `node`.
fn marker_visible(
    api: &Api,
    workload: Workload,
    node: usize,
    m: &calm_chaos::history::Write,
) -> bool {
    match workload {
        Workload::Kvs => api
            .rows_where(node, "visible", &[("k1", &m.k1), ("k2", &m.k2)])
            .is_ok_and(|rows| !rows.is_empty()),
        Workload::Deadlock => api
            .rows_where(node, "deadlocked", &[("t", &m.k1)])
            .is_ok_and(|rows| !rows.is_empty()),
    }
}

/// The catch-up after heal `h` (of a `kind` fault, begun at `at` = `healing`): writes a marker
/// at every node (retrying one that certainly failed, for up to 10 s), then polls every 100 ms
/// until every node's links are connected and every acknowledged marker (these and `pre`, the
/// ones written just before the heal) is visible at every node, for at most 30 s.
#[allow(clippy::too_many_arguments)]
fn probe(
    api: &Api,
    workload: Workload,
    n: usize,
    h: usize,
    kind: FaultKind,
    at: Duration,
    healing: Instant,
    pre: Vec<calm_chaos::history::Write>,
    start: Instant,
) -> (Vec<calm_chaos::history::Write>, CatchUp) {
    let mut writes = pre;
    let bound = Duration::from_secs(30);
    for node in 0..n {
        for _ in 0..100 {
            let w = write_marker(
                api,
                workload,
                node,
                h,
                &format!("post-n{}", node + 1),
                start,
            );
            let outcome = w.outcome;
            writes.push(w);
            if outcome == Outcome::Ok || healing.elapsed() >= Duration::from_secs(10) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let mut waiting: Vec<(usize, usize)> = (0..n)
        .flat_map(|node| {
            writes
                .iter()
                .enumerate()
                .filter(|(_, w)| w.outcome == Outcome::Ok)
                .map(move |(m, _)| (node, m))
        })
        .collect();
    let mut connected = None;
    let mut caught_up = None;
    for _ in 0..1_000 {
        if connected.is_none() {
            let all = (0..n).all(|i| {
                api.status(i).is_some_and(|s| {
                    s["peers"]
                        .as_array()
                        .is_some_and(|ps| ps.iter().all(|p| p["connected"].as_bool() == Some(true)))
                })
            });
            if all {
                connected = Some(healing.elapsed());
            }
        }
        waiting.retain(|&(node, m)| !marker_visible(api, workload, node, &writes[m]));
        if waiting.is_empty() && caught_up.is_none() {
            caught_up = Some(healing.elapsed());
        }
        if (caught_up.is_some() && connected.is_some()) || healing.elapsed() >= bound {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (
        writes,
        CatchUp {
            kind,
            at,
            connected,
            caught_up,
            overlapped: false,
        },
    )
}
