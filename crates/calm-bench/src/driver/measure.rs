//! Running one engine invocation and measuring its wall time and peak resident memory.
//!
//! The workspace forbids `unsafe`, so there is no `wait4`. Instead the driver runs itself as a
//! small wrapper (`calm-bench __measure TIMEOUT PROGRAM ARGS...`) whose only child is the
//! measured program: after waiting for it, `getrusage(RUSAGE_CHILDREN)` in the wrapper gives
//! exactly that child's peak RSS. The wrapper lets the child write straight to the pipes the
//! driver reads, and appends one marker line with the figures to stderr.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::resource::{UsageWho, getrusage};

/// First argument that switches a driver binary into wrapper mode.
pub const MEASURE_ARG: &str = "__measure";

const MARKER: &str = "@@calm-bench-measure";

/// How a measured run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
    /// Killed by the wrapper after the timeout.
    TimedOut,
    /// Could not be started.
    SpawnFailed(String),
}

/// One measured run.
#[derive(Clone, Debug)]
pub struct Run {
    /// How it ended.
    pub status: Status,
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// Peak resident set size, KiB.
    pub max_rss_kib: u64,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr (without the wrapper's marker line).
    pub stderr: String,
}

/// Runs `program args` under the wrapper (`wrapper` is the path of a binary whose `main`
/// handles [`MEASURE_ARG`], normally the current executable).
pub fn measure(
    wrapper: &Path,
    program: &Path,
    args: &[OsString],
    timeout: Duration,
) -> Result<Run> {
    let output = Command::new(wrapper)
        .arg(MEASURE_ARG)
        .arg(timeout.as_secs().to_string())
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting {}", wrapper.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (stderr, marker) = match stderr.rfind(MARKER) {
        Some(at) => (stderr[..at].to_owned(), &stderr[at + MARKER.len()..]),
        None => anyhow::bail!(
            "measuring wrapper failed ({}): {}",
            output.status,
            stderr.trim()
        ),
    };
    let mut run = Run {
        status: Status::SpawnFailed("no status reported".to_owned()),
        wall: Duration::ZERO,
        max_rss_kib: 0,
        stdout,
        stderr,
    };
    for field in marker.split_whitespace() {
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        match key {
            "wall_ns" => run.wall = Duration::from_nanos(value.parse().unwrap_or(0)),
            "maxrss_kib" => run.max_rss_kib = value.parse().unwrap_or(0),
            "exit" => run.status = Status::Exited(value.parse().unwrap_or(-1)),
            "signal" => run.status = Status::Signaled(value.parse().unwrap_or(-1)),
            "timeout" => run.status = Status::TimedOut,
            "spawn_error" => run.status = Status::SpawnFailed(value.replace('\u{1f}', " ")),
            _ => {}
        }
    }
    Ok(run)
}

/// The wrapper's `main`: `args` are `TIMEOUT_SECS PROGRAM ARGS...` (after [`MEASURE_ARG`]).
pub fn wrapper_main(args: &[OsString]) -> ExitCode {
    let [timeout, program, rest @ ..] = args else {
        eprintln!("usage: {MEASURE_ARG} TIMEOUT_SECS PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    let timeout = timeout
        .to_str()
        .and_then(|t| t.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(600));

    let start = Instant::now();
    let outcome = match Command::new(program).args(rest).spawn() {
        Ok(mut child) => loop {
            match child.try_wait() {
                Ok(Some(status)) => break describe(status),
                Ok(None) if start.elapsed() > timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break "timeout=1".to_owned();
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                Err(err) => break spawn_error(&err.to_string()),
            }
        },
        Err(err) => spawn_error(&err.to_string()),
    };
    let wall = start.elapsed();
    // Our only child has been waited for, so this is its peak RSS (KiB on Linux).
    let max_rss = getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0, |u| u.max_rss());
    eprintln!(
        "\n{MARKER} wall_ns={} maxrss_kib={max_rss} {outcome}",
        wall.as_nanos()
    );
    ExitCode::SUCCESS
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit={code}"),
        (None, Some(signal)) => format!("signal={signal}"),
        (None, None) => "exit=-1".to_owned(),
    }
}

fn spawn_error(message: &str) -> String {
    // one whitespace-free field
    format!(
        "spawn_error={}",
        message.replace(char::is_whitespace, "\u{1f}")
    )
}
