//! Helpers shared by the tests that start real `calm node` processes on loopback.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `calm` binary under test.
pub const CALM: &str = env!("CARGO_BIN_EXE_calm");

/// Free ports on 127.0.0.1, all distinct, for nodes to bind later. They are taken below Linux's
/// ephemeral range (32768 and up by default), where the source ports of outgoing connections
/// come from: a port the kernel handed out for `bind(0)` and then released could be taken by any
/// connection made before the node binds it (a test saw "Address already in use"). Each test
/// process walks the range from its own starting point, and a port is only returned after a
/// bind to it succeeded.
pub fn free_ports(n: usize) -> Vec<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let seed = std::process::id().wrapping_mul(2_654_435_761)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
    let _ = NEXT.compare_exchange(u32::MAX, seed % SPAN, Ordering::SeqCst, Ordering::SeqCst);
    let mut out = Vec::with_capacity(n);
    for _ in 0..SPAN {
        if out.len() == n {
            break;
        }
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            out.push(port);
        }
    }
    assert_eq!(
        out.len(),
        n,
        "no {n} free ports between {LOW} and {}",
        LOW + SPAN
    );
    out
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
