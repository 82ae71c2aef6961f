//! The processes the node benchmark starts: `calm node`, `redis-server`, and the Redis tools,
//! each bounded in time and killed when dropped.
//!
//! Every child is tied to this process twice: it is killed when its guard is dropped (also when
//! a panic unwinds), and it stops by itself when its standard input, a pipe from this process,
//! closes (`calm node --stop-on-stdin-close`; `redis-server` runs under a shell that stops it
//! when `cat` sees the end of its input), which also covers this process being killed.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// How long a child has to print its ready line or accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Free TCP ports on 127.0.0.1, all distinct (bound, then released).
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("finding a free port on 127.0.0.1")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// The last `n` lines of a log file, for error messages.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A running `calm node`, killed when dropped.
pub struct CalmNode {
    child: Child,
    /// Closing it stops the node (`--stop-on-stdin-close`).
    stdin: Option<ChildStdin>,
    /// `http://127.0.0.1:PORT`, from its ready line.
    pub http: String,
    /// The RESP port, when started with `resp` (from its ready line's `resp=`).
    pub resp_port: Option<u16>,
    /// Its standard error.
    pub log: PathBuf,
    /// Keeps the node's standard output open.
    _stdout: Option<JoinHandle<()>>,
}

/// How to start one `calm node`.
pub struct NodeSpec<'a> {
    /// The `calm` binary.
    pub calm: &'a Path,
    /// The program.
    pub program: &'a Path,
    /// Its name (`--name`).
    pub name: &'a str,
    /// `--listen` port (0: any).
    pub listen_port: u16,
    /// The other members, `NAME=127.0.0.1:PORT`.
    pub peers: Vec<String>,
    /// `--data-dir`, if durable.
    pub data_dir: Option<&'a Path>,
    /// Also serve Redis clients (`--resp 127.0.0.1:0`).
    pub resp: bool,
    /// Where its standard error goes.
    pub log: PathBuf,
}

impl CalmNode {
    /// Starts the node and waits for its ready line.
    pub fn start(spec: &NodeSpec<'_>) -> Result<CalmNode> {
        let log =
            File::create(&spec.log).with_context(|| format!("creating {}", spec.log.display()))?;
        let mut cmd = Command::new(spec.calm);
        cmd.arg("node")
            .arg(spec.program)
            .args(["--name", spec.name])
            .args(["--listen", &format!("127.0.0.1:{}", spec.listen_port)])
            .args(["--http", "127.0.0.1:0"])
            .arg("--stop-on-stdin-close");
        for p in &spec.peers {
            cmd.args(["--peer", p]);
        }
        if let Some(d) = spec.data_dir {
            cmd.arg("--data-dir").arg(d);
        }
        if spec.resp {
            cmd.args(["--resp", "127.0.0.1:0"]);
        }
        cmd.env("CALM_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", spec.calm.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let _ = tx.send(line);
            // Drain (and so keep open) the rest until the node exits.
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        });
        let mut node = CalmNode {
            child,
            stdin,
            http: String::new(),
            resp_port: None,
            log: spec.log.clone(),
            _stdout: Some(reader),
        };
        let ready = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => bail!(
                "node {} printed no ready line within {}s; its log:\n{}",
                spec.name,
                START_TIMEOUT.as_secs(),
                log_tail(&spec.log, 20)
            ),
        };
        let Some(http) = ready_field(&ready, "http=") else {
            bail!(
                "node {} did not start (first line {ready:?}); its log:\n{}",
                spec.name,
                log_tail(&spec.log, 20)
            );
        };
        node.http = http.to_owned();
        node.resp_port = ready_field(&ready, "resp=")
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok());
        if spec.resp && node.resp_port.is_none() {
            bail!("node {} printed no resp= address: {ready:?}", spec.name);
        }
        Ok(node)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails, with the end of its log, if the node has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!(
                "the node exited ({status}); its log:\n{}",
                log_tail(&self.log, 20)
            );
        }
        Ok(())
    }
}

impl Drop for CalmNode {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `key` (e.g. `http=`) in a ready line
/// (`ready name=n1 peer=127.0.0.1:7001 http=http://127.0.0.1:8001`).
pub fn ready_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    if !line.starts_with("ready ") {
        return None;
    }
    line.split_whitespace().find_map(|w| w.strip_prefix(key))
}

/// A kibibyte figure of `/proc/PID/status` (`VmHWM`, `VmRSS`, ...).
pub fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let mut words = rest.split_whitespace();
        let n = words.next()?.parse().ok()?;
        (words.next() == Some("kB")).then_some(n)
    })
}

/// The peak resident set (VmHWM) of a process, KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_kib(&text, "VmHWM")
}

/// The Redis programs, when installed.
#[derive(Clone, Debug)]
pub struct RedisTools {
    /// `redis-server`.
    pub server: PathBuf,
    /// `redis-cli`.
    pub cli: PathBuf,
    /// `redis-benchmark`.
    pub benchmark: PathBuf,
}

impl RedisTools {
    /// Finds the three programs on `PATH`; `None` if any is missing.
    pub fn find() -> Option<RedisTools> {
        Some(RedisTools {
            server: which("redis-server")?,
            cli: which("redis-cli")?,
            benchmark: which("redis-benchmark")?,
        })
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A running `redis-server` on 127.0.0.1, stopped when dropped.
pub struct RedisServer {
    /// The shell that runs it and stops it when its standard input closes.
    child: Child,
    stdin: Option<ChildStdin>,
    /// Its port.
    pub port: u16,
    tools: RedisTools,
}

impl RedisServer {
    /// Starts `redis-server` in `dir` with `extra` configuration arguments (e.g.
    /// `["--appendonly", "yes"]`), and waits until it answers PING.
    pub fn start(tools: &RedisTools, dir: &Path, extra: &[&str]) -> Result<RedisServer> {
        let port = free_ports(1)?[0];
        let log = File::create(dir.join("redis.log")).context("creating redis.log")?;
        // The shell stops the server once its standard input (our pipe) closes.
        let script = "\"$0\" \"$@\" & pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid";
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .arg(&tools.server)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .args(extra)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log);
        let mut child = cmd.spawn().context("starting redis-server")?;
        let stdin = child.stdin.take();
        let mut server = RedisServer {
            child,
            stdin,
            port,
            tools: tools.clone(),
        };
        let start = Instant::now();
        loop {
            if let Ok(out) = server.cli(&["PING"])
                && out.trim() == "PONG"
            {
                return Ok(server);
            }
            if start.elapsed() > START_TIMEOUT {
                bail!(
                    "redis-server did not answer within {}s; its log:\n{}",
                    START_TIMEOUT.as_secs(),
                    log_tail(&dir.join("redis.log"), 20)
                );
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                bail!(
                    "redis-server exited ({status}); its log:\n{}",
                    log_tail(&dir.join("redis.log"), 20)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `redis-cli` with `args` against this server; its standard output.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new(&self.tools.cli);
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args);
        let out = run_bounded(cmd, None, Duration::from_secs(30))?;
        Ok(out)
    }

    /// Loads `keys` with `redis-cli --pipe` (SET `key(i)` `value(i)` for every i below `n`).
    pub fn load(&self, n: usize, timeout: Duration) -> Result<()> {
        let mut input = Vec::with_capacity(n * 64);
        for i in 0..n {
            let (k, v) = (redis_key(i), value(i));
            write!(
                input,
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
                k.len(),
                v.len()
            )?;
        }
        let mut cmd = Command::new(&self.tools.cli);
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "--pipe"]);
        let out = run_bounded(cmd, Some(input), timeout)?;
        if !out.contains("errors: 0") {
            bail!("redis-cli --pipe: {}", out.trim());
        }
        Ok(())
    }

    /// `used_memory` of INFO memory, bytes.
    pub fn used_memory(&self) -> Result<u64> {
        let info = self.cli(&["INFO", "memory"])?;
        info_field(&info, "used_memory").context("no used_memory in INFO memory")
    }

    /// Runs `redis-benchmark -c CLIENTS -d 16 -t TESTS -n N -r KEYSPACE --csv`.
    pub fn benchmark(
        &self,
        tests: &str,
        clients: usize,
        n: usize,
        keyspace: usize,
        timeout: Duration,
    ) -> Result<Vec<RedisFigure>> {
        benchmark_at(&self.tools, self.port, tests, clients, n, keyspace, timeout)
    }
}

/// Runs `redis-benchmark -c CLIENTS -d 16 -t TESTS -n N -r KEYSPACE --csv` against the server
/// on `port` (Redis, or a calm node's `--resp`).
pub fn benchmark_at(
    tools: &RedisTools,
    port: u16,
    tests: &str,
    clients: usize,
    n: usize,
    keyspace: usize,
    timeout: Duration,
) -> Result<Vec<RedisFigure>> {
    let mut cmd = Command::new(&tools.benchmark);
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-c", &clients.to_string(), "-d", "16", "-t", tests])
        .args(["-n", &n.to_string(), "-r", &keyspace.max(1).to_string()])
        .arg("--csv");
    let out = run_bounded(cmd, None, timeout)?;
    let figures = parse_benchmark_csv(&out);
    if figures.is_empty() {
        bail!("redis-benchmark printed no figures: {}", out.trim());
    }
    Ok(figures)
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.cli(&["SHUTDOWN", "NOSAVE"]);
        // Closing the shell's input makes it kill the server (if still running) and exit.
        self.stdin = None;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The key of version `i`, as `redis-benchmark -r` spells its keys (`key:` and 12 digits), so
/// that its GETs find what was loaded. The calm store uses the same keys.
pub fn redis_key(i: usize) -> String {
    format!("key:{i:012}")
}

/// The 16-byte value of version `i`.
pub fn value(i: usize) -> String {
    format!("{i:016}")
}

/// One line of `redis-benchmark --csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct RedisFigure {
    /// `SET`, `GET`, ...
    pub test: String,
    /// Requests per second.
    pub rps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
}

/// Parses the CSV of `redis-benchmark --csv` (7.x: a header line
/// `"test","rps","avg_latency_ms",...,"p50_latency_ms",...,"p99_latency_ms",...`, then one line
/// per test). Lines that do not parse are skipped.
pub fn parse_benchmark_csv(text: &str) -> Vec<RedisFigure> {
    let split = |line: &str| -> Vec<String> {
        line.split(',')
            .map(|f| f.trim().trim_matches('"').to_owned())
            .collect()
    };
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next().map(split) else {
        return Vec::new();
    };
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(test), Some(rps)) = (col("test"), col("rps")) else {
        return Vec::new();
    };
    let (p50, p99) = (col("p50_latency_ms"), col("p99_latency_ms"));
    lines
        .filter_map(|line| {
            let f = split(line);
            let num = |i: Option<usize>| i.and_then(|i| f.get(i)?.parse::<f64>().ok());
            Some(RedisFigure {
                test: f.get(test)?.clone(),
                rps: num(Some(rps))?,
                p50_ms: num(p50).unwrap_or(f64::NAN),
                p99_ms: num(p99).unwrap_or(f64::NAN),
            })
        })
        .collect()
}

/// A numeric field of Redis INFO output (`name:value` lines).
pub fn info_field(info: &str, name: &str) -> Option<u64> {
    info.lines().find_map(|line| {
        let (k, v) = line.trim().split_once(':')?;
        (k == name).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Runs `cmd` with `input` on its standard input, killing it after `timeout`; its standard
/// output, or an error with its standard error if it failed.
pub fn run_bounded(mut cmd: Command, input: Option<Vec<u8>>, timeout: Duration) -> Result<String> {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    let writer = match (input, child.stdin.take()) {
        (Some(bytes), Some(mut stdin)) => Some(std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        })),
        _ => None,
    };
    let reader = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = reader(Box::new(child.stdout.take().context("no stdout")?));
    let err = reader(Box::new(child.stderr.take().context("no stderr")?));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{:?} did not finish within {}s (killed)",
                cmd.get_program(),
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if !status.success() {
        bail!("{:?} failed ({status}): {}", cmd.get_program(), err.trim());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_benchmark_csv() {
        let text = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\
                    \"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
                    \"SET\",\"36900.37\",\"0.292\",\"0.056\",\"0.247\",\"0.447\",\"2.039\",\"6.175\"\n\
                    \"GET\",\"29673.59\",\"0.368\",\"0.048\",\"0.279\",\"0.575\",\"3.775\",\"5.967\"\n";
        let figures = parse_benchmark_csv(text);
        assert_eq!(figures.len(), 2);
        assert_eq!(
            figures[0],
            RedisFigure {
                test: "SET".into(),
                rps: 36900.37,
                p50_ms: 0.247,
                p99_ms: 2.039
            }
        );
        assert_eq!(figures[1].test, "GET");
        assert_eq!(figures[1].p99_ms, 3.775);
        assert!(parse_benchmark_csv("").is_empty());
        assert!(parse_benchmark_csv("no csv here\n").is_empty());
    }

    #[test]
    fn proc_status_and_info() {
        let status = "Name:\tcalm\nVmPeak:\t  123456 kB\nVmHWM:\t   65536 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(65536));
        assert_eq!(status_kib(status, "VmRSS"), Some(1024));
        assert_eq!(status_kib(status, "VmSwap"), None);
        let info = "# Memory\r\nused_memory:2218608\r\nused_memory_human:2.12M\r\n";
        assert_eq!(info_field(info, "used_memory"), Some(2_218_608));
        assert_eq!(info_field(info, "used_memory_rss"), None);
        let ready = "ready name=n1 peer=127.0.0.1:7001 http=http://127.0.0.1:8001\n";
        assert_eq!(ready_field(ready, "http="), Some("http://127.0.0.1:8001"));
        assert_eq!(ready_field("error: no\n", "http="), None);
        assert_eq!(redis_key(42), "key:000000000042");
        assert_eq!(value(7).len(), 16);
    }
}
