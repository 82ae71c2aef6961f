//! `calm node`: run a program as one node of a cluster, with its client API over HTTP.

use anyhow::Context as _;
use calm_engine::Program;
use calm_node::config::{
    FileConfig, Overrides, Settings, check_exposure, exposure_warnings, resolve,
};
use calm_node::{NodeConfig, NodeError, NodeOptions, Secret, http};
use calm_syntax::render_all;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `calm node`. Every setting can also come from an environment variable
/// (`CALM_NAME`, `CALM_PEERS`, …, shown by `--help`), for containers; a flag wins over the
/// variable, the variable over the configuration file.
#[derive(clap::Args)]
pub struct NodeArgs {
    /// The program (`.dl`). Without one (and none in the configuration), runs the bundled
    /// deadlock-detection example.
    #[arg(env = "CALM_PROGRAM")]
    program: Option<PathBuf>,
    /// This node's name (the contents of `$self`).
    #[arg(long, value_name = "NAME", env = "CALM_NAME")]
    name: Option<String>,
    /// Where to listen for peers [default: 127.0.0.1:0, a free port].
    #[arg(long, value_name = "HOST:PORT", env = "CALM_LISTEN")]
    listen: Option<String>,
    /// Another member and its peer address (repeatable; in CALM_PEERS, comma-separated).
    #[arg(
        long = "peer",
        value_name = "NAME=HOST:PORT",
        env = "CALM_PEERS",
        value_delimiter = ','
    )]
    peers: Vec<String>,
    /// Where to serve the client API [default: 127.0.0.1:0, a free port].
    #[arg(long, value_name = "HOST:PORT", env = "CALM_HTTP")]
    http: Option<String>,
    /// Also serve the key-value store over Redis's protocol (RESP2) here, for programs shaped
    /// like programs/kvs.dl (see docs/node.md).
    #[arg(long, value_name = "HOST:PORT", env = "CALM_RESP")]
    resp: Option<String>,
    /// A cluster.toml (see docs/node.md); command-line options take precedence.
    #[arg(long, value_name = "FILE", env = "CALM_CONFIG")]
    config: Option<PathBuf>,
    /// Keep the node's state in DIR (created if missing): what it acknowledged survives a crash
    /// or restart.
    #[arg(long, value_name = "DIR", env = "CALM_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A file holding the cluster secret (at least 16 bytes): peers must prove they know it.
    #[arg(long, value_name = "PATH", env = "CALM_CLUSTER_SECRET_FILE")]
    cluster_secret_file: Option<PathBuf>,
    /// A file holding the bearer token clients must send (at least 16 bytes).
    #[arg(long, value_name = "PATH", env = "CALM_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Allow binding non-loopback addresses without authentication.
    #[arg(long, env = "CALM_INSECURE")]
    insecure: bool,
    /// Snapshot the state every N ticks (with --data-dir; for tests, default 1000).
    #[arg(long, hide = true, value_name = "N")]
    snapshot_every: Option<u64>,
    /// Stop when standard input closes (used by `calm up`, so that nodes never outlive it).
    #[arg(long, hide = true)]
    stop_on_stdin_close: bool,
}

/// Logs to standard error, filtered by `CALM_LOG`, else `RUST_LOG`, else `info`.
pub fn init_logging() {
    let spec = std::env::var("CALM_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        eprintln!("warning: log filter `{spec}`: {e}; using `info`");
        tracing_subscriber::EnvFilter::new("info")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Compiles the program at `path`, or the bundled default. Diagnostics are printed; a program
/// with errors gives `Err(exit code 1)`.
pub fn load_program(path: Option<&Path>) -> anyhow::Result<Result<Program, ExitCode>> {
    let (name, text) = match path {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read program `{}`", p.display()))?,
        ),
        None => (
            "programs/deadlock.dl".to_string(),
            crate::run::DEFAULT_PROGRAM.to_string(),
        ),
    };
    let options = calm_syntax::PreprocessOptions::default();
    match crate::source::compile(&name, text, &options) {
        Ok(p) => {
            if !p.warnings().is_empty() {
                eprint!("{}", render_all(p.warnings(), p.sources()));
            }
            if let Some(d) = calm_node::core::unsupported(&p) {
                eprint!("{}", render_all(&[d], p.sources()));
                return Ok(Err(ExitCode::from(1)));
            }
            Ok(Ok(p))
        }
        Err(e) => {
            eprint!("{}", render_all(&e.diagnostics, &e.sources));
            Ok(Err(ExitCode::from(1)))
        }
    }
}

pub fn run(args: NodeArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let file = args.config.as_deref().map(FileConfig::load).transpose()?;
    let settings = resolve(
        file,
        None,
        Overrides {
            name: args.name,
            program: args.program,
            listen: args.listen,
            http: args.http,
            resp: args.resp,
            peers: args.peers,
            insecure: args.insecure,
            data_dir: args.data_dir,
            cluster_secret_file: args.cluster_secret_file,
            token_file: args.token_file,
        },
    )?;
    check_exposure(&settings)?;
    let secret = read_secret(
        "--cluster-secret-file",
        settings.cluster_secret_file.as_deref(),
    )?;
    let token = read_secret("--token-file", settings.token_file.as_deref())?;
    let program = match load_program(settings.program.as_deref())? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    if settings.resp.is_some() {
        calm_node::resp::check_program(&program).map_err(anyhow::Error::msg)?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let r = rt.block_on(serve(
        settings,
        program,
        Auth {
            secret,
            token,
            snapshot_every: args.snapshot_every,
        },
        args.stop_on_stdin_close,
    ));
    rt.shutdown_timeout(Duration::from_secs(1));
    r
}

/// The secrets a node was given.
struct Auth {
    secret: Option<Secret>,
    token: Option<Secret>,
    snapshot_every: Option<u64>,
}

fn read_secret(what: &str, path: Option<&Path>) -> anyhow::Result<Option<Secret>> {
    let Some(path) = path else { return Ok(None) };
    let secret = if what == "--token-file" {
        Secret::token_from_file(what, path)
    } else {
        Secret::from_file(what, path)
    }
    .map_err(anyhow::Error::msg)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(m) = std::fs::metadata(path)
            && m.permissions().mode() & 0o007 != 0
        {
            // Group-readable is how Kubernetes hands secrets to a non-root pod (fsGroup).
            tracing::warn!(path = %path.display(), "{what}: the file is readable by other users; `chmod 600` it");
        }
    }
    Ok(Some(secret))
}

/// Reports a storage failure at start (a damaged or unusable data directory): exit 1.
fn storage_failure(name: &str, e: &NodeError) -> ExitCode {
    tracing::error!(node = %name, error = %e, "cannot start");
    eprintln!("error: node `{name}`: {e}");
    ExitCode::from(1)
}

/// Resolves when standard input reaches its end (or fails).
async fn stdin_closed() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        use std::io::Read as _;
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        let _ = tx.send(());
    });
    let _ = rx.await;
}

async fn serve(
    settings: Settings,
    program: Program,
    auth: Auth,
    watch_stdin: bool,
) -> anyhow::Result<ExitCode> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let listener = tokio::net::TcpListener::bind(settings.http)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", settings.http))?;
    let http_addr = listener.local_addr()?;
    let resp_listener = match settings.resp {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for RESP on {addr}"))?,
        ),
        None => None,
    };
    let resp_addr = resp_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let mut options = match &settings.data_dir {
        Some(dir) => match NodeOptions::data_dir(dir) {
            Ok(o) => o,
            Err(e) => return Ok(storage_failure(&settings.name, &e)),
        },
        None => NodeOptions::default(),
    };
    options.cluster_secret = auth.secret;
    if let Some(n) = auth.snapshot_every {
        options.snapshot.every_ticks = n.max(1);
    }
    let node = match calm_node::start_with(
        NodeConfig {
            name: settings.name.clone(),
            listen: settings.listen,
            peers: settings.peers.clone(),
            program,
            limits: settings.limits.clone(),
        },
        options,
    )
    .await
    {
        Ok(n) => n,
        Err(e @ NodeError::Storage(_)) => return Ok(storage_failure(&settings.name, &e)),
        Err(e) => return Err(e.into()),
    };
    let handle = node.handle.clone();
    // What --insecure let through: logged at WARN and in the status's warnings.
    for w in exposure_warnings(&settings) {
        handle.add_warning(w);
    }
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let token = auth.token.map(std::sync::Arc::new);
    let (stop_resp, resp_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(l) = resp_listener {
        tokio::spawn(calm_node::resp::serve(
            l,
            handle.clone(),
            token.clone(),
            async move {
                let _ = resp_stopped.await;
            },
        ));
    }
    let server = tokio::spawn(http::serve_with(
        listener,
        handle.clone(),
        http::HttpOptions {
            max_body: settings.max_body,
            token: token.as_deref().cloned(),
        },
        async move {
            let _ = http_stopped.await;
        },
    ));
    let resp_note = resp_addr.map_or(String::new(), |a| format!(" resp={a}"));
    println!(
        "ready name={} peer={} http=http://{http_addr}{resp_note}",
        settings.name, node.peer_addr
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    tracing::info!(node = %settings.name, http = %format!("http://{http_addr}"), "client API ready");
    let done = node.wait();
    tokio::pin!(done);
    let stdin = async {
        if watch_stdin {
            stdin_closed().await
        } else {
            std::future::pending().await
        }
    };
    let reason = tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = sigterm.recv() => "SIGTERM",
        _ = stdin => "standard input closed",
        _ = &mut done => {
            let _ = stop_http.send(());
            if let Some(why) = handle.failure() {
                // Fail-stop: the tick loop logged the failure; exit without acknowledging more.
                eprintln!("error: node `{}` stopped: {why}", settings.name);
                return Ok(ExitCode::from(1));
            }
            anyhow::bail!("node `{}` stopped unexpectedly", settings.name);
        }
    };
    tracing::info!(node = %settings.name, %reason, "shutting down");
    handle.shutdown();
    if tokio::time::timeout(Duration::from_secs(5), done)
        .await
        .is_err()
    {
        tracing::warn!("the node did not stop within 5 s");
    }
    let _ = stop_http.send(());
    let _ = stop_resp.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    Ok(ExitCode::SUCCESS)
}
