//! Helpers shared by the tests that start real `calm node` processes on loopback.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `calm` binary under test.
pub const CALM: &str = env!("CARGO_BIN_EXE_calm");

/// Free ports on 127.0.0.1, all distinct.
pub fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// An HTTP client that returns error statuses as responses and gives up after 10 s.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// A running `calm node` process, killed when dropped.
pub struct NodeProc {
    pub child: Child,
    /// Its name and HTTP address, from its ready line.
    pub name: String,
    pub http: String,
    /// The ready line (`ready name=n1 peer=127.0.0.1:7001 http=http://127.0.0.1:8001`).
    pub ready: String,
    /// Kept open so that the node never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns a `calm node` command (its stdin and stdout are set here) and waits up to `deadline`
/// for its ready line.
pub fn start_node(mut cmd: Command, deadline: Duration) -> NodeProc {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        let _ = r.read_line(&mut line);
        let _ = tx.send((line, r));
    });
    let (ready, reader) = rx.recv_timeout(deadline).expect("no ready line");
    assert!(
        ready.starts_with("ready "),
        "unexpected first line: {ready:?}"
    );
    let field = |key: &str| {
        ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {ready:?}"))
            .to_string()
    };
    let (name, http) = (field("name="), field("http="));
    NodeProc {
        child,
        name,
        http,
        ready: ready.trim_end().to_string(),
        _stdout: reader,
    }
}
