//! The `calm node` processes, one in each namespace, and the HTTP client that talks to them.

use crate::net;
use anyhow::{Context as _, bail};
use calm_chaos::history::{Outcome, Row};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The peer port in every namespace.
const PEER_PORT: u16 = 7000;
/// The HTTP port in every namespace.
const HTTP_PORT: u16 = 8000;

/// How node `i` is started.
pub struct NodeSpec {
    /// `n1`, ...
    pub name: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its log (standard error, appended across restarts).
    pub log: PathBuf,
}

struct Running {
    child: Child,
    /// Kept open: the node stops when it closes (`--stop-on-stdin-close`), so that no node
    /// outlives the harness.
    _stdin: ChildStdin,
}

/// The nodes; every process still running is killed when dropped.
pub struct Cluster {
    bin: PathBuf,
    program: PathBuf,
    secret: PathBuf,
    token_file: PathBuf,
    specs: Vec<NodeSpec>,
    running: Vec<Option<Running>>,
}

impl Cluster {
    /// A cluster of `specs`, none started.
    pub fn new(
        bin: &Path,
        program: &Path,
        secret: &Path,
        token_file: &Path,
        specs: Vec<NodeSpec>,
    ) -> Self {
        let running = specs.iter().map(|_| None).collect();
        Cluster {
            bin: bin.into(),
            program: program.into(),
            secret: secret.into(),
            token_file: token_file.into(),
            specs,
            running,
        }
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Starts node `i` in its namespace and waits up to `deadline` for its ready line.
    pub fn start(&mut self, i: usize, deadline: Duration) -> anyhow::Result<()> {
        if self.running[i].is_some() {
            bail!("{} is already running", self.specs[i].name);
        }
        let spec = &self.specs[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log)
            .with_context(|| format!("cannot open {}", spec.log.display()))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &net::ns_name(i)])
            .arg(&self.bin)
            .arg("node")
            .arg(&self.program)
            .args(["--name", &spec.name])
            .arg("--listen")
            .arg(format!("{}:{PEER_PORT}", net::node_ip(i)))
            .arg("--http")
            .arg(format!("{}:{HTTP_PORT}", net::node_ip(i)));
        for (j, peer) in self.specs.iter().enumerate() {
            if j != i {
                cmd.arg("--peer")
                    .arg(format!("{}={}:{PEER_PORT}", peer.name, net::node_ip(j)));
            }
        }
        cmd.arg("--data-dir")
            .arg(&spec.data_dir)
            .arg("--cluster-secret-file")
            .arg(&self.secret)
            .arg("--token-file")
            .arg(&self.token_file)
            .arg("--stop-on-stdin-close")
            .env("CALM_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            // Its own process group: a Ctrl-C at the terminal reaches the harness only, which
            // then stops the nodes itself.
            .process_group(0);
        // `ip netns exec` execs the command: the child is the node itself.
        let mut child = cmd
            .spawn()
            .context("cannot start `ip netns exec calm node`")?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let _ = tx.send(line);
            // Drain until the node exits, so that it never writes to a full pipe.
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        });
        let ready = rx.recv_timeout(deadline);
        match ready {
            Ok(line) if line.starts_with("ready ") => {
                self.running[i] = Some(Running {
                    child,
                    _stdin: stdin,
                });
                Ok(())
            }
            other => {
                let _ = child.kill();
                let status = child.wait().ok();
                bail!(
                    "{} did not start within {deadline:?} ({}; exit status {status:?}); its log: {}",
                    spec.name,
                    match other {
                        Ok(l) if l.is_empty() => "no ready line".to_string(),
                        Ok(l) => format!("first line {l:?}"),
                        Err(_) => "no ready line".to_string(),
                    },
                    spec.log.display()
                )
            }
        }
    }

    /// Node `i`'s data directory.
    pub fn data_dir(&self, i: usize) -> &Path {
        &self.specs[i].data_dir
    }

    /// Whether node `i` has a process (running or stopped).
    pub fn is_up(&self, i: usize) -> bool {
        self.running[i].is_some()
    }

    /// Sends `signal` to node `i`.
    pub fn signal(&self, i: usize, signal: Signal) -> anyhow::Result<()> {
        let Some(r) = &self.running[i] else {
            bail!("{} is not running", self.specs[i].name);
        };
        kill(Pid::from_raw(r.child.id() as i32), signal)
            .with_context(|| format!("cannot send {signal} to {}", self.specs[i].name))
    }

    /// Kills node `i` with SIGKILL and waits for it.
    pub fn kill(&mut self, i: usize) -> Option<ExitStatus> {
        let mut r = self.running[i].take()?;
        let _ = r.child.kill();
        r.child.wait().ok()
    }

    /// Node `i`'s exit status if it has exited (then it is no longer up).
    pub fn try_wait(&mut self, i: usize) -> Option<ExitStatus> {
        let r = self.running[i].as_mut()?;
        match r.child.try_wait() {
            Ok(Some(status)) => {
                self.running[i] = None;
                Some(status)
            }
            Ok(None) => None,
            Err(_) => None,
        }
    }

    /// The last `n` lines of node `i`'s log.
    pub fn log_tail(&self, i: usize, n: usize) -> String {
        let text = std::fs::read_to_string(&self.specs[i].log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for r in self.running.iter_mut() {
            if let Some(mut r) = r.take() {
                let _ = kill(Pid::from_raw(r.child.id() as i32), Signal::SIGCONT);
                let _ = r.child.kill();
                let _ = r.child.wait();
            }
        }
    }
}

/// The client of every node's HTTP API.
pub struct Api {
    agent: ureq::Agent,
    token: String,
    bases: Vec<String>,
}

/// A response: status, whether it had `Retry-After`, body.
type Answer = (u16, bool, String);

impl Api {
    /// A client of `nodes` nodes with the bearer `token` and a `timeout` per request.
    pub fn new(nodes: usize, token: &str, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(Duration::from_secs(1)))
            // A new connection per request: a connection error then means that the request
            // was not sent, and a restarted node is never asked on a dead connection.
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .build()
            .into();
        Api {
            agent,
            token: token.into(),
            bases: (0..nodes)
                .map(|i| format!("http://{}:{HTTP_PORT}", net::node_ip(i)))
                .collect(),
        }
    }

    fn answer(
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer, ureq::Error> {
        let mut r = r?;
        let status = r.status().as_u16();
        let retry = r.headers().contains_key("retry-after");
        let body = r.body_mut().read_to_string()?;
        Ok((status, retry, body))
    }

    fn get(&self, node: usize, path: &str) -> Result<Answer, ureq::Error> {
        Self::answer(
            self.agent
                .get(format!("{}{path}", self.bases[node]))
                .header("authorization", format!("Bearer {}", self.token))
                .call(),
        )
    }

    /// `GET /health` answers 200.
    pub fn healthy(&self, node: usize) -> bool {
        matches!(self.get(node, "/health"), Ok((200, _, _)))
    }

    /// `GET /v1/status`.
    pub fn status(&self, node: usize) -> Option<serde_json::Value> {
        match self.get(node, "/v1/status") {
            Ok((200, _, body)) => serde_json::from_str(&body).ok(),
            _ => None,
        }
    }

    /// Reads relation `rel` at `node` with equality filters (values are plain words): its rows
    /// as JSON arrays.
    pub fn rows_where(
        &self,
        node: usize,
        rel: &str,
        filters: &[(&str, &str)],
    ) -> Result<Vec<serde_json::Value>, String> {
        let query: Vec<String> = filters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let path = if query.is_empty() {
            format!("/v1/relations/{rel}")
        } else {
            format!("/v1/relations/{rel}?{}", query.join("&"))
        };
        let (status, _, body) = self.get(node, &path).map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("HTTP {status}: {body}"));
        }
        let mut json: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("bad JSON: {e}"))?;
        match json["rows"].take() {
            serde_json::Value::Array(rows) => Ok(rows),
            _ => Err("no rows".into()),
        }
    }

    /// Every row of relation `rel` at `node`.
    pub fn rows(&self, node: usize, rel: &str) -> Result<Vec<serde_json::Value>, String> {
        self.rows_where(node, rel, &[])
    }

    /// Reads `visible` at `node` with equality filters (keys and values are plain words).
    pub fn visible(&self, node: usize, filters: &[(&str, &str)]) -> Result<Vec<Row>, String> {
        self.rows_where(node, "visible", filters)?
            .iter()
            .map(|r| Row::from_json(r).ok_or_else(|| format!("bad row {r}")))
            .collect()
    }

    /// Inserts `tuples` (a JSON array of arrays) into `rel` at `node`.
    pub fn insert(&self, node: usize, rel: &str, tuples: &serde_json::Value) -> Outcome {
        let r = Self::answer(
            self.agent
                .post(format!("{}/v1/relations/{rel}", self.bases[node]))
                .header("authorization", format!("Bearer {}", self.token))
                .header("content-type", "application/json")
                .send(tuples.to_string()),
        );
        classify(r)
    }
}

/// What an insert's answer says about whether it was applied.
fn classify(r: Result<Answer, ureq::Error>) -> Outcome {
    match r {
        Ok((200, _, _)) => Outcome::Ok,
        // Refused before ingestion: a bad request, a missing token, a failing rule (the tick is
        // abandoned), a full queue (503 with Retry-After).
        Ok((400 | 401 | 404 | 413 | 422, _, _)) | Ok((503, true, _)) => Outcome::Failed,
        // A 503 without Retry-After is a storage failure or a stopping node: the tick may have
        // been stored or not.
        Ok(_) => Outcome::Unknown,
        Err(
            ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve),
        ) => Outcome::Failed,
        Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Outcome::Failed
        }
        Err(_) => Outcome::Unknown,
    }
}
