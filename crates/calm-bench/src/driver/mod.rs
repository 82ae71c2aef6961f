//! The `calm-bench` driver: generate the data, run every engine on every workload as a child
//! process, check the results and print a markdown table, followed by whether calm meets its
//! performance targets on each workload.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;

pub mod check;
pub mod data;
pub mod engines;
pub mod measure;
pub mod node;
pub mod report;
pub mod souffle;
pub mod workloads;

use engines::Engine;
use measure::{MEASURE_ARG, Status};
use report::Row;
use workloads::{WORKLOADS, Workload};

/// The workspace root, as known at build time.
const WORKSPACE_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Command-line options of the driver.
#[derive(Debug, Parser)]
#[command(
    name = "calm-bench",
    about = "Runs the benchmark workloads with calm and the datafrog and Ascent baselines",
    after_help = "Build first: cargo build --release -p calm-cli -p calm-bench\n\
                  `calm-bench node --help`: the node benchmark (calm node processes beside Redis)\n\
                  `calm-bench souffle-suite --help`: Souffle's test suite against `calm run`"
)]
pub struct Options {
    /// Workloads to run (tc, sg, agg, neg, andersen); all by default.
    #[arg(long, value_delimiter = ',', value_name = "WORKLOAD")]
    pub only: Vec<String>,
    /// Engines to run (calm, datafrog-hand, datafrog-leap, ascent); datafrog-leap only
    /// applies to andersen.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "ENGINE",
        default_value = "calm,datafrog-hand,datafrog-leap,ascent"
    )]
    pub engines: Vec<String>,
    /// Runs per engine and workload.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Also write the markdown table to this file.
    #[arg(long, value_name = "FILE")]
    pub markdown_out: Option<PathBuf>,
    /// The shared bench directory (programs/, gen/) [default: $CALM_BENCH_SHARED, or
    /// ../shared/bench next to the workspace root].
    #[arg(long, value_name = "PATH")]
    pub shared: Option<PathBuf>,
    /// Where the generated data lives [default: bench-data/ at the workspace root].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Directory holding the `calm`, `datafrog-hand` and `ascent-hand` binaries [default: the
    /// directory of this executable, e.g. target/release].
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Seconds after which a run is killed and reported as an error.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

/// Entry point shared by the `calm-bench` binary and the `workloads` bench target; `args`
/// includes the program name.
pub fn main_with_args(args: Vec<OsString>) -> ExitCode {
    if args.get(1).is_some_and(|a| a == MEASURE_ARG) {
        return measure::wrapper_main(&args[2..]);
    }
    if args.get(1).is_some_and(|a| a == "node") {
        let mut rest = vec![OsString::from("calm-bench node")];
        rest.extend(args.into_iter().skip(2));
        return node::main_with_args(rest);
    }
    if args.get(1).is_some_and(|a| a == "souffle-suite") {
        let mut rest = vec![OsString::from("calm-bench souffle-suite")];
        rest.extend(args.into_iter().skip(2));
        return souffle::main_with_args(rest);
    }
    let options = match Options::try_parse_from(args) {
        Ok(options) => options,
        Err(err) => err.exit(),
    };
    match run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("calm-bench: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the benchmark; returns whether every row was ok.
pub fn run(options: &Options) -> Result<bool> {
    if options.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let workloads = select_workloads(&options.only)?;
    let engines = select_engines(&options.engines)?;
    let root = workspace_root();
    let shared = shared_dir(options, &root)?;
    let data_dir = options
        .data
        .clone()
        .unwrap_or_else(|| root.join("bench-data"));
    let bin_dir = bin_dir(options)?;
    let wrapper = std::env::current_exe().context("locating the current executable")?;
    if bin_dir.file_name().is_some_and(|n| n == "debug") {
        eprintln!(
            "calm-bench: warning: measuring debug binaries in {}",
            bin_dir.display()
        );
    }

    // Generate all data first, so that no generation happens between timed runs.
    let mut dirs = Vec::new();
    for w in &workloads {
        dirs.push(data::ensure(w.data, &data_dir, &shared)?);
    }

    let timeout = Duration::from_secs(options.timeout);
    let mut rows = Vec::new();
    for (w, dir) in workloads.iter().zip(&dirs) {
        let program = match w.dir {
            workloads::ProgramDir::Shared => shared.join("programs").join(w.program),
            workloads::ProgramDir::Bench => root.join("crates/calm-bench/programs").join(w.program),
        };
        for &engine in &engines {
            let Some(args) = engine.args(w, &program, dir) else {
                continue;
            };
            let binary = bin_dir.join(engine.binary());
            let row = run_row(w, engine, &binary, &args, options.runs, &wrapper, timeout);
            rows.push(row);
        }
    }

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let text = format!(
        "{} run(s) per workload and engine on {cores} core(s); wall seconds of the whole \
         process (fact loading included), peak RSS of the process.\n\n{}\n{}",
        options.runs,
        report::table(&rows),
        report::targets(&rows)
    );
    println!("{text}");
    if let Some(path) = &options.markdown_out {
        std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(rows.iter().all(|r| r.result.is_ok()))
}

/// Runs one engine on one workload `runs` times (stopping at the first failing run).
fn run_row(
    workload: &Workload,
    engine: Engine,
    binary: &Path,
    args: &[OsString],
    runs: usize,
    wrapper: &Path,
    timeout: Duration,
) -> Row {
    let mut row = Row {
        workload: workload.name,
        engine,
        walls: Vec::new(),
        peak_kib: 0,
        result: Err("ERROR: not run".to_owned()),
    };
    if !binary.is_file() {
        let message = format!("ERROR: not built: {}", binary.display());
        eprintln!("[{}] {}: {message}", workload.name, engine.name());
        row.result = Err(message);
        return row;
    }
    for i in 1..=runs {
        let run = match measure::measure(wrapper, binary, args, timeout) {
            Ok(run) => run,
            Err(err) => {
                row.result = Err(format!("ERROR: {err:#}"));
                break;
            }
        };
        if let Some(message) = failure(&run.status, &run.stderr, timeout) {
            eprintln!(
                "[{}] {} run {i}/{runs}: {message}",
                workload.name,
                engine.name()
            );
            row.result = Err(message);
            break;
        }
        row.walls.push(run.wall);
        row.peak_kib = row.peak_kib.max(run.max_rss_kib);
        eprintln!(
            "[{}] {} run {i}/{runs}: {:.3}s, {:.1} MiB",
            workload.name,
            engine.name(),
            run.wall.as_secs_f64(),
            run.max_rss_kib as f64 / 1024.0
        );
        row.result = check::check(&run.stdout, workload.expected).map_err(|m| format!("FAIL: {m}"));
        if let Err(message) = &row.result {
            eprintln!("[{}] {}: {message}", workload.name, engine.name());
            break;
        }
    }
    row
}

/// The error message for a run that did not exit with 0.
fn failure(status: &Status, stderr: &str, timeout: Duration) -> Option<String> {
    let last_line = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(|l| {
            let short: String = l.chars().take(160).collect();
            format!(": {short}")
        })
        .unwrap_or_default();
    match status {
        Status::Exited(0) => None,
        Status::Exited(code) => Some(format!("ERROR: exit {code}{last_line}")),
        Status::Signaled(signal) => Some(format!("ERROR: killed by signal {signal}{last_line}")),
        Status::TimedOut => Some(format!("ERROR: timed out after {}s", timeout.as_secs())),
        Status::SpawnFailed(message) => Some(format!("ERROR: cannot start: {message}")),
    }
}

fn select_workloads(only: &[String]) -> Result<Vec<&'static Workload>> {
    if only.is_empty() {
        return Ok(WORKLOADS.iter().collect());
    }
    only.iter()
        .map(|name| {
            workloads::find(name).with_context(|| {
                let names: Vec<_> = WORKLOADS.iter().map(|w| w.name).collect();
                format!("unknown workload `{name}` (expected: {})", names.join(", "))
            })
        })
        .collect()
}

fn select_engines(names: &[String]) -> Result<Vec<Engine>> {
    names
        .iter()
        .map(|name| {
            Engine::parse(name).with_context(|| {
                let names: Vec<_> = Engine::ALL.iter().map(|e| e.name()).collect();
                format!("unknown engine `{name}` (expected: {})", names.join(", "))
            })
        })
        .collect()
}

fn workspace_root() -> PathBuf {
    let root = PathBuf::from(WORKSPACE_ROOT);
    root.canonicalize().unwrap_or(root)
}

fn shared_dir(options: &Options, root: &Path) -> Result<PathBuf> {
    let dir = match (&options.shared, std::env::var_os("CALM_BENCH_SHARED")) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) if !dir.is_empty() => PathBuf::from(dir),
        _ => root.join("../shared/bench"),
    };
    if !dir.join("programs").is_dir() || !dir.join("gen").is_dir() {
        bail!(
            "{} is not the shared bench directory (no programs/ and gen/); \
             use --shared PATH or CALM_BENCH_SHARED",
            dir.display()
        );
    }
    Ok(dir.canonicalize().unwrap_or(dir))
}

fn bin_dir(options: &Options) -> Result<PathBuf> {
    match &options.bin_dir {
        Some(dir) => Ok(dir.clone()),
        None => default_bin_dir(),
    }
}

/// The directory of this executable (e.g. target/release), or its parent for bench and test
/// executables in target/<profile>/deps.
fn default_bin_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the current executable")?;
    let mut dir = exe.parent().context("executable has no directory")?;
    // bench and test executables live in target/<profile>/deps
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().unwrap_or(dir);
    }
    Ok(dir.to_path_buf())
}
