//! `calm-chaos`: the chaos test. Runs real `calm node` processes (programs/kvs.dl) in network
//! namespaces it makes, drives a workload of puts, deletes and reads at every node, injects
//! partitions, freezes, kills and full disks on a schedule drawn from a seed, and checks the
//! history afterwards (see `calm_chaos::checker`). Exit code 0: no violation (or skipped: no
//! namespaces here); 1: a violation or a hang; 2: the harness itself failed.

mod cluster;
mod net;
mod workload;

use anyhow::{Context as _, bail};
use calm_chaos::checker::{self, Phase, Violation, ViolationKind};
use calm_chaos::history::{History, Outcome, Row, WriteKind};
use calm_chaos::report::{self, Summary};
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
    /// The size of the tmpfs holding the disk node's data directory, in MiB.
    #[arg(long, default_value_t = 128)]
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

/// The program the nodes run.
const KVS: &str = include_str!("../../../programs/kvs.dl");

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
    let program = work.join("kvs.dl");
    std::fs::write(&program, KVS)?;

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
            let w = workload::Worker {
                index,
                nodes: args.nodes,
                seed: args.seed,
                start,
                end,
                stop: stop.clone(),
                keys: 8,
            };
            let api = api.clone();
            std::thread::spawn(move || w.run(&api))
        })
        .collect();

    let mut chaos = Chaos {
        cluster: &mut cluster,
        net: &net,
        disk: disk.as_ref(),
        start,
        violations: Vec::new(),
        summary: Summary {
            seed: args.seed,
            nodes: args.nodes,
            run: run_for,
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
    let (finals, converged) =
        chaos.converge(&api, quiet, Duration::from_secs(args.converge_secs), &stop);
    if let Some(t) = converged {
        chaos.summary.convergence = Some(t.saturating_sub(quiet));
        chaos.summary.since_last_heal = Some(t.saturating_sub(last_heal));
    }

    let mut violations = std::mem::take(&mut chaos.violations);
    violations.extend(checker::check_final(&history, &finals));
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
    s.reads = (history.reads.len(), history.failed_reads);
    s.phases = stats;
    s.final_rows = finals.iter().flatten().next().map_or(0, Vec::len);
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
                        let n = d.fill();
                        println!("           filled the disk of n{} ({n} bytes)", i + 1);
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
                    d.free();
                }
                if self.disk_stopped {
                    self.summary.disk_stops += 1;
                }
                if !self.cluster.is_up(i) {
                    self.restart(i);
                }
            }
        }
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

    /// Notices nodes that exited; restarts those that should be running.
    fn monitor(&mut self) {
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
        quiet: Duration,
        bound: Duration,
        stop: &AtomicBool,
    ) -> (Vec<Option<Vec<Row>>>, Option<Duration>) {
        let n = self.cluster.len();
        let deadline = quiet + bound;
        let mut agreed_since: Option<Duration> = None;
        let mut finals: Vec<Option<Vec<Row>>> = vec![None; n];
        let mut owed = String::new();
        for _ in 0..100_000 {
            let t = self.now();
            finals = (0..n).map(|i| api.visible(i, &[]).ok()).collect();
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
