//! Load from `wrk` (an HTTP load generator: a C event loop, like `redis-benchmark`), with Lua
//! scripts that make each put unique, read keys that exist, and check every answer.
//!
//! The benchmark's own client (ureq, one thread per connection) tops out well below what a node
//! answers; wrk is the fair counterpart of `redis-benchmark`. Each script counts answers whose
//! status is not 2xx (and, for gets, answers that do not hold the key's value) in every thread,
//! and `done` prints the totals on one line, `calm-bench wrk: sent=N bad_status=N bad_body=N`,
//! which [`parse`] reads with wrk's own summary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::procs::run_bounded;

/// The printed advice when wrk is missing.
pub const NO_WRK: &str = "wrk not installed: apt-get install wrk";

/// wrk threads (`-t`).
pub const THREADS: usize = 2;

/// How long wrk waits for one answer before counting a timeout (`--timeout`).
const ANSWER_TIMEOUT_SECS: u64 = 10;

/// Shared by both scripts: each thread gets an id, and `done` sums the threads' counters.
const COMMON_LUA: &str = r#"
local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local sent, bad_status, bad_body = 0, 0, 0
  for _, t in ipairs(threads) do
    sent = sent + (t:get("sent") or 0)
    bad_status = bad_status + (t:get("bad_status") or 0)
    bad_body = bad_body + (t:get("bad_body") or 0)
  end
  io.write(string.format("calm-bench wrk: sent=%d bad_status=%d bad_body=%d\n",
    sent, bad_status, bad_body))
end
"#;

/// Single puts of unique keys: `put("wrkT", SEQ, "wrk:T:SEQ", "x", "0123456789abcdef").` as
/// `POST /v1/facts`, text/plain (client `wrkT` per wrk thread T, so every (client, seq) and
/// every key is new). Argument: none.
const PUT_LUA: &str = r#"
function init(args)
  sent, bad_status, bad_body = 0, 0, 0
end

function request()
  sent = sent + 1
  local body = string.format('put("wrk%d", %d, "wrk:%d:%012d", "x", "0123456789abcdef").',
    id, sent, id, sent)
  return wrk.format("POST", "/v1/facts", { ["Content-Type"] = "text/plain" }, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad_status = bad_status + 1
  end
end
"#;

/// Gets by (k1, k2) of loaded keys: `GET /v1/relations/visible?k1=key:NNNNNNNNNNNN&k2=x` for
/// versions spread over `0..N` (argument: N). An answer must be 2xx and hold a row of the key
/// it names with that key's value (`"0000"` and the key's 12 digits); anything else is counted
/// in `bad_status` or `bad_body`.
const GET_LUA: &str = r#"
function init(args)
  sent, bad_status, bad_body = 0, 0, 0
  n = tonumber(args[1])
end

function request()
  local i = sent * 2 + id
  sent = sent + 1
  local k = (i * 7919 + 13) % n
  return wrk.format("GET", string.format("/v1/relations/visible?k1=key:%012d&k2=x", k))
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad_status = bad_status + 1
    return
  end
  local digits = body:match('"key:(%d%d%d%d%d%d%d%d%d%d%d%d)"')
  if digits == nil or not body:find('"0000' .. digits .. '"', 1, true) then
    bad_body = bad_body + 1
  end
end
"#;

/// What to load a node with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Load {
    /// Unique single puts.
    Puts,
    /// Gets of versions `0..n`.
    Gets {
        /// The versions loaded.
        n: usize,
    },
}

/// `wrk` on `PATH`, if installed.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("wrk"))
        .find(|p| p.is_file())
}

/// Writes the script for `load` into `dir`; its path.
pub fn write_script(dir: &Path, load: Load) -> Result<PathBuf> {
    let (name, body) = match load {
        Load::Puts => ("puts.lua", PUT_LUA),
        Load::Gets { .. } => ("gets.lua", GET_LUA),
    };
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("-- calm-bench node: {name}\n{COMMON_LUA}{body}"),
    )
    .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Runs `wrk -t2 -c CLIENTS -d SECS --latency` with the script for `load` against `base`
/// (`http://127.0.0.1:PORT`); its parsed summary. Killed if it runs a minute past `secs`.
pub fn run(
    wrk: &Path,
    dir: &Path,
    base: &str,
    load: Load,
    clients: usize,
    secs: u64,
) -> Result<WrkSummary> {
    let script = write_script(dir, load)?;
    let mut cmd = Command::new(wrk);
    cmd.arg(format!("-t{}", THREADS.min(clients.max(1))))
        .arg(format!("-c{}", clients.max(1)))
        .arg(format!("-d{secs}s"))
        .arg(format!("--timeout={ANSWER_TIMEOUT_SECS}s"))
        .arg("--latency")
        .arg("-s")
        .arg(&script)
        .arg(format!("{base}/"));
    if let Load::Gets { n } = load {
        cmd.arg("--").arg(n.max(1).to_string());
    }
    let out = run_bounded(cmd, None, Duration::from_secs(secs + 60))?;
    let summary = parse(&out).with_context(|| {
        let short: String = out.chars().take(600).collect();
        format!("could not read wrk's output:\n{short}")
    })?;
    if summary.lua.is_none() {
        bail!("wrk's output lacks the script's counts (did the Lua script fail?):\n{out}");
    }
    Ok(summary)
}

/// The counts the scripts print.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LuaCounts {
    /// Requests made (including those in flight at the end).
    pub sent: u64,
    /// Answers that were not 2xx.
    pub bad_status: u64,
    /// 2xx answers whose body was wrong (gets: no row of the key with its value).
    pub bad_body: u64,
}

/// What wrk printed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WrkSummary {
    /// Answers received (`N requests in ...`), good or bad.
    pub requests: u64,
    /// The run's length, seconds.
    pub secs: f64,
    /// `Requests/sec`.
    pub rps: f64,
    /// The latency distribution (`--latency`): (percentile, ms), e.g. (50, 0.25).
    pub latency_ms: Vec<(f64, f64)>,
    /// `Socket errors: connect A, read B, write C, timeout D`: A + B + C + D.
    pub socket_errors: u64,
    /// `Non-2xx or 3xx responses: N`.
    pub non_2xx_3xx: u64,
    /// The script's counts.
    pub lua: Option<LuaCounts>,
}

impl WrkSummary {
    /// The latency percentile `p` (50, 75, 90, 99), ms.
    pub fn percentile_ms(&self, p: f64) -> Option<f64> {
        self.latency_ms
            .iter()
            .find(|(q, _)| (q - p).abs() < 1e-9)
            .map(|&(_, ms)| ms)
    }

    /// Answers that failed: bad statuses or bodies (the script's counts, else wrk's), and
    /// socket errors.
    pub fn errors(&self) -> u64 {
        let answers = match self.lua {
            Some(l) => (l.bad_status + l.bad_body).max(self.non_2xx_3xx),
            None => self.non_2xx_3xx,
        };
        answers + self.socket_errors
    }

    /// Answers that were right.
    pub fn ok(&self) -> u64 {
        let bad = match self.lua {
            Some(l) => (l.bad_status + l.bad_body).max(self.non_2xx_3xx),
            None => self.non_2xx_3xx,
        };
        self.requests.saturating_sub(bad)
    }

    /// Right answers per second.
    pub fn ok_per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.ok() as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// A wrk duration or latency (`250.00us`, `1.10ms`, `10.01s`, `1.00m`, `2.00h`), in ms.
pub fn time_ms(text: &str) -> Option<f64> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = t.split_at(split);
    let x: f64 = num.parse().ok()?;
    let scale = match unit {
        "us" => 1e-3,
        "ms" => 1.0,
        "s" => 1e3,
        "m" => 60e3,
        "h" => 3600e3,
        _ => return None,
    };
    Some(x * scale)
}

/// Parses wrk 4's output (with `--latency`, and the scripts' count line); `None` without the
/// `N requests in T` line.
pub fn parse(text: &str) -> Option<WrkSummary> {
    let mut s = WrkSummary::default();
    let mut found_requests = false;
    let mut in_distribution = false;
    for line in text.lines() {
        let l = line.trim();
        if l == "Latency Distribution" {
            in_distribution = true;
            continue;
        }
        if in_distribution {
            if let Some((p, t)) = l.split_once('%')
                && let (Ok(p), Some(ms)) = (p.trim().parse::<f64>(), time_ms(t))
            {
                s.latency_ms.push((p, ms));
                continue;
            }
            in_distribution = false;
        }
        if let Some((n, rest)) = l.split_once(" requests in ") {
            s.requests = n.trim().parse().ok()?;
            s.secs = time_ms(rest.split(',').next()?)? / 1e3;
            found_requests = true;
        } else if let Some(rest) = l.strip_prefix("Requests/sec:") {
            s.rps = rest.trim().parse().ok()?;
        } else if let Some(rest) = l.strip_prefix("Socket errors:") {
            s.socket_errors = rest
                .split(',')
                .filter_map(|f| f.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        } else if let Some(rest) = l.strip_prefix("Non-2xx or 3xx responses:") {
            s.non_2xx_3xx = rest.trim().parse().ok()?;
        } else if let Some(rest) = l.strip_prefix("calm-bench wrk:") {
            let field = |name: &str| {
                rest.split_whitespace()
                    .find_map(|f| f.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            };
            s.lua = Some(LuaCounts {
                sent: field("sent")?,
                bad_status: field("bad_status")?,
                bad_body: field("bad_body")?,
            });
        }
    }
    found_requests.then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "\
Running 10s test @ http://127.0.0.1:40123/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.91ms  452.33us  12.92ms   93.69%
    Req/Sec     8.96k   512.07     9.90k    71.00%
  Latency Distribution
     50%  842.00us
     75%    1.02ms
     90%    1.31ms
     99%    2.47ms
  178342 requests in 10.01s, 21.09MB read
Requests/sec:  17816.38
Transfer/sec:      2.11MB
calm-bench wrk: sent=178358 bad_status=0 bad_body=0
";

    #[test]
    fn a_clean_run() {
        let s = parse(CLEAN).unwrap();
        assert_eq!(s.requests, 178_342);
        assert!((s.secs - 10.01).abs() < 1e-9);
        assert!((s.rps - 17_816.38).abs() < 1e-9);
        assert_eq!(s.percentile_ms(50.0), Some(0.842));
        assert_eq!(s.percentile_ms(75.0), Some(1.02));
        assert_eq!(s.percentile_ms(99.0), Some(2.47));
        assert_eq!(s.percentile_ms(99.9), None);
        assert_eq!((s.socket_errors, s.non_2xx_3xx), (0, 0));
        assert_eq!(
            s.lua,
            Some(LuaCounts {
                sent: 178_358,
                bad_status: 0,
                bad_body: 0
            })
        );
        assert_eq!((s.errors(), s.ok()), (0, 178_342));
        assert!((s.ok_per_sec() - 178_342.0 / 10.01).abs() < 1e-6);
    }

    #[test]
    fn errors_are_counted() {
        let text = "\
Running 1m test @ http://127.0.0.1:40123/
  2 threads and 16 connections
  Latency Distribution
     50%  250.00us
     99%    1.50s
  1000 requests in 1.00m, 1.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:     16.66
Transfer/sec:     17.00KB
calm-bench wrk: sent=1010 bad_status=7 bad_body=4
";
        let s = parse(text).unwrap();
        assert_eq!(s.requests, 1000);
        assert!((s.secs - 60.0).abs() < 1e-9);
        assert_eq!(s.percentile_ms(50.0), Some(0.25));
        assert_eq!(s.percentile_ms(99.0), Some(1500.0));
        assert_eq!((s.socket_errors, s.non_2xx_3xx), (5, 7));
        assert_eq!(s.errors(), 7 + 4 + 5);
        assert_eq!(s.ok(), 1000 - 11);
        // Without the script's line, wrk's own count of bad statuses.
        let s =
            parse(&text.replace("calm-bench wrk: sent=1010 bad_status=7 bad_body=4", "")).unwrap();
        assert_eq!(s.lua, None);
        assert_eq!((s.errors(), s.ok()), (12, 993));
    }

    #[test]
    fn times_and_bad_output() {
        assert_eq!(time_ms("250.00us"), Some(0.25));
        assert_eq!(time_ms(" 1.10ms"), Some(1.1));
        assert_eq!(time_ms("2.00s"), Some(2000.0));
        assert_eq!(time_ms("1.50m"), Some(90_000.0));
        assert_eq!(time_ms("1.00h"), Some(3_600_000.0));
        assert_eq!(time_ms("3.0xs"), None);
        assert_eq!(time_ms("12"), None);
        assert_eq!(parse(""), None);
        assert_eq!(
            parse("unable to connect to 127.0.0.1:1 Connection refused\n"),
            None
        );
    }

    #[test]
    fn scripts_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let put = std::fs::read_to_string(write_script(dir.path(), Load::Puts).unwrap()).unwrap();
        assert!(put.contains("function setup") && put.contains("/v1/facts"));
        assert!(put.contains("text/plain") && put.contains("0123456789abcdef"));
        let get = std::fs::read_to_string(write_script(dir.path(), Load::Gets { n: 5 }).unwrap())
            .unwrap();
        assert!(get.contains("/v1/relations/visible?k1=key:%012d&k2=x"));
        assert!(get.contains("calm-bench wrk: sent=%d bad_status=%d bad_body=%d"));
    }
}
