//! `calm up`: a local cluster of N nodes on loopback, as child processes running `calm node`.

use anyhow::{Context as _, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The environment variables `calm node` reads its settings from (docs/deploy.md).
const NODE_ENV: [&str; 11] = [
    "CALM_PROGRAM",
    "CALM_NAME",
    "CALM_LISTEN",
    "CALM_PEERS",
    "CALM_HTTP",
    "CALM_RESP",
    "CALM_CONFIG",
    "CALM_DATA_DIR",
    "CALM_CLUSTER_SECRET_FILE",
    "CALM_TOKEN_FILE",
    "CALM_INSECURE",
];

/// Arguments of `calm up`.
#[derive(clap::Args)]
pub struct UpArgs {
    /// The program (`.dl`). Without one, runs the bundled deadlock-detection example.
    program: Option<PathBuf>,
    /// How many nodes (named n1, n2, ...).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    nodes: u16,
    /// Node i listens for peers on BASE+i-1 and serves HTTP on BASE+1000+i-1; 0 picks free
    /// ports.
    #[arg(long, value_name = "BASE", default_value_t = 7001)]
    base_port: u16,
    /// Keep each node's state in DIR/NAME (n1, n2, ...), so that it survives restarts.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The cluster secret every node is given (see `calm node --cluster-secret-file`).
    #[arg(long, value_name = "PATH")]
    cluster_secret_file: Option<PathBuf>,
    /// The bearer token every node's client API requires (see `calm node --token-file`).
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
}

struct Member {
    name: String,
    child: Child,
    /// Kept open: the child stops when it closes, so nodes never outlive `calm up`.
    stdin: Option<ChildStdin>,
}

/// How long the nodes have to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);

fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    // Hold every listener until all ports are known so that none is picked twice.
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .context("cannot find free ports on 127.0.0.1")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

fn stop_all(members: &mut [Member]) {
    for m in members.iter_mut() {
        m.stdin = None;
        if matches!(m.child.try_wait(), Ok(None))
            && let Ok(pid) = i32::try_from(m.child.id())
        {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(6);
    for m in members.iter_mut() {
        loop {
            match m.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    eprintln!("calm up: {} did not stop; killing it", m.name);
                    let _ = m.child.kill();
                    let _ = m.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

/// A command line to show the user: the binary's path relative to the working directory.
fn exe_for_display(exe: &std::path::Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|d| exe.strip_prefix(d).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| exe.display().to_string())
}

pub fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    if let Err(code) = crate::node::load_program(args.program.as_deref())? {
        return Ok(code);
    }
    let n = usize::from(args.nodes);
    let (peer_ports, http_ports): (Vec<u16>, Vec<u16>) = if args.base_port == 0 {
        let ports = free_ports(2 * n)?;
        (ports[..n].to_vec(), ports[n..].to_vec())
    } else {
        let base = u32::from(args.base_port);
        if base + 1000 + n as u32 > 65_535 {
            bail!(
                "--base-port {base}: ports up to {} are needed",
                base + 1000 + n as u32 - 1
            );
        }
        (
            (0..n).map(|i| (base + i as u32) as u16).collect(),
            (0..n).map(|i| (base + 1000 + i as u32) as u16).collect(),
        )
    };
    let names: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
    let exe = std::env::current_exe().context("cannot find the calm binary")?;
    let (ready_tx, ready_rx) = mpsc::channel::<(usize, String)>();
    let mut members: Vec<Member> = Vec::new();
    for i in 0..n {
        let mut cmd = Command::new(&exe);
        cmd.arg("node");
        // `calm up` says everything its nodes need: a node setting from the environment
        // (`CALM_PEERS`, `CALM_RESP`, …) must not reach them.
        for var in NODE_ENV {
            cmd.env_remove(var);
        }
        if let Some(p) = &args.program {
            cmd.arg(p);
        }
        cmd.args(["--name", &names[i]])
            .args(["--listen", &format!("127.0.0.1:{}", peer_ports[i])])
            .args(["--http", &format!("127.0.0.1:{}", http_ports[i])])
            .arg("--stop-on-stdin-close");
        if let Some(d) = &args.data_dir {
            cmd.arg("--data-dir").arg(d.join(&names[i]));
        }
        if let Some(f) = &args.cluster_secret_file {
            cmd.arg("--cluster-secret-file").arg(f);
        }
        if let Some(f) = &args.token_file {
            cmd.arg("--token-file").arg(f);
        }
        for j in (0..n).filter(|&j| j != i) {
            cmd.arg("--peer")
                .arg(format!("{}=127.0.0.1:{}", names[j], peer_ports[j]));
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                stop_all(&mut members);
                return Err(e).context("cannot start `calm node`");
            }
        };
        let stdout = child.stdout.take();
        let stdin = child.stdin.take();
        // The nodes' logs, each line prefixed with its node's name.
        if let Some(stderr) = child.stderr.take() {
            let name = names[i].clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { return };
                    eprintln!("[{name}] {line}");
                }
            });
        }
        let tx = ready_tx.clone();
        let name = names[i].clone();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if line.starts_with("ready ") {
                    let _ = tx.send((i, line));
                } else {
                    println!("[{name}] {line}");
                }
            }
        });
        members.push(Member {
            name: names[i].clone(),
            child,
            stdin,
        });
    }
    drop(ready_tx);
    // Wait for every node's ready line.
    let deadline = Instant::now() + START_TIMEOUT;
    let mut ready = vec![None; n];
    while ready.iter().any(Option::is_none) {
        match ready_rx.recv_timeout(Duration::from_millis(100)) {
            Ok((i, line)) => ready[i] = Some(line),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {}
        }
        for m in members.iter_mut() {
            if let Ok(Some(status)) = m.child.try_wait() {
                let name = m.name.clone();
                stop_all(&mut members);
                bail!("node {name} exited during start-up ({status})");
            }
        }
        if Instant::now() >= deadline {
            stop_all(&mut members);
            bail!(
                "the nodes did not start within {} s",
                START_TIMEOUT.as_secs()
            );
        }
    }
    let mut out = std::io::stdout().lock();
    for i in 0..n {
        let _ = writeln!(
            out,
            "node {}  http://127.0.0.1:{}  peer 127.0.0.1:{}",
            names[i], http_ports[i], peer_ports[i]
        );
    }
    let program = args
        .program
        .as_ref()
        .map_or("programs/deadlock.dl (bundled)".to_string(), |p| {
            p.display().to_string()
        });
    let calm = exe_for_display(&exe);
    let _ = writeln!(
        out,
        "ready: {n} node{} running {program}; Ctrl-C stops them\n\
         try:   {calm} insert --node http://127.0.0.1:{} 'waits(\"a\", \"b\"). waits(\"b\", \"a\").'\n\
         \x20      {calm} query --node http://127.0.0.1:{} deadlocked\n\
         \x20      {calm} status --node http://127.0.0.1:{}\n\
         console: http://127.0.0.1:{}/ui",
        if n == 1 { "" } else { "s" },
        http_ports[0],
        http_ports[n - 1],
        http_ports[n - 1],
        http_ports[0],
    );
    let _ = out.flush();
    drop(out);
    let outcome = wait_for_signal(&mut members)?;
    stop_all(&mut members);
    match outcome {
        None => {
            eprintln!("calm up: all nodes stopped");
            Ok(ExitCode::SUCCESS)
        }
        Some(msg) => {
            eprintln!("calm up: {msg}; stopped the others");
            Ok(ExitCode::from(1))
        }
    }
}

/// Waits for SIGINT or SIGTERM (`None`), or for a node to exit on its own (`Some(why)`).
fn wait_for_signal(members: &mut [Member]) -> anyhow::Result<Option<String>> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        loop {
            tokio::select! {
                _ = int.recv() => return Ok(None),
                _ = term.recv() => return Ok(None),
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            for m in members.iter_mut() {
                if let Ok(Some(status)) = m.child.try_wait() {
                    return Ok(Some(format!("node {} exited ({status})", m.name)));
                }
            }
        }
    })
}
