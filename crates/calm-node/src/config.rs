//! Node settings: a `cluster.toml` file, command-line overrides, and the checks made before a
//! node binds anything.
//!
//! A file describes either one node and its peers:
//!
//! ```toml
//! name = "n1"
//! program = "deadlock.dl"     # relative to this file
//! listen = "127.0.0.1:7001"   # peer port
//! http = "127.0.0.1:8001"     # client API
//! resp = "127.0.0.1:6380"     # optional: the store over Redis's protocol (kvs.dl-shaped programs)
//!
//! [peers]
//! n2 = "127.0.0.1:7002"
//! n3 = "127.0.0.1:7003"
//! ```
//!
//! or the whole cluster, one table per node, shared by every member (each picks its own entry
//! with `--name`; the others are its peers):
//!
//! ```toml
//! program = "deadlock.dl"
//! [nodes.n1]
//! listen = "127.0.0.1:7001"
//! http = "127.0.0.1:8001"
//! [nodes.n2]
//! listen = "127.0.0.1:7002"
//! http = "127.0.0.1:8002"
//! ```
//!
//! ```
//! use calm_node::config::{FileConfig, Overrides, resolve};
//! let file = FileConfig::parse("[nodes.a]\nlisten = \"127.0.0.1:7001\"\n[nodes.b]\nlisten = \"127.0.0.1:7002\"\n").unwrap();
//! let s = resolve(Some(file), None, Overrides { name: Some("b".into()), ..Overrides::default() }).unwrap();
//! assert_eq!(s.listen.port(), 7002);
//! assert_eq!(s.peers[0].name, "a");
//! ```
//!
//! The format is documented in `docs/node.md`.

use crate::node::{Limits, Peer, parse_duration};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// The default HTTP body limit, bytes.
pub const DEFAULT_MAX_BODY: usize = 16 << 20;

/// A configuration problem, explained for a person.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// The contents of a `cluster.toml`, as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// This node's name.
    pub name: Option<String>,
    /// The program, relative to the file.
    pub program: Option<PathBuf>,
    /// Peer listen address.
    pub listen: Option<String>,
    /// Client API (HTTP) address.
    pub http: Option<String>,
    /// The key-value store over Redis's protocol (RESP), for kvs.dl-shaped programs.
    pub resp: Option<String>,
    /// Allow non-loopback addresses without authentication.
    pub insecure: Option<bool>,
    /// Where the node keeps its state across restarts, relative to the file.
    pub data_dir: Option<PathBuf>,
    /// A file holding the cluster secret, relative to the file.
    pub cluster_secret_file: Option<PathBuf>,
    /// A file holding the client API's bearer token, relative to the file.
    pub token_file: Option<PathBuf>,
    /// The other members: name = "host:port".
    #[serde(default)]
    pub peers: BTreeMap<String, String>,
    /// The whole cluster: name = { listen, http }.
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeEntry>,
    /// Limits on what clients and peers control.
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// One member in a whole-cluster file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// Its peer listen address.
    pub listen: String,
    /// Its client API address.
    pub http: Option<String>,
    /// Its RESP address.
    pub resp: Option<String>,
}

/// The `[limits]` table; every field is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Facts in one client request.
    pub max_facts_per_request: Option<usize>,
    /// Bytes in one symbol.
    pub max_string_len: Option<usize>,
    /// Simultaneous inbound peer connections.
    pub max_connections: Option<usize>,
    /// Simultaneous inbound peer connections in their handshake from one IP address.
    pub max_connections_per_ip: Option<usize>,
    /// Time a peer has to complete the handshake, e.g. `"5s"`.
    pub handshake_timeout: Option<String>,
    /// Events queued for the tick loop.
    pub queue_len: Option<usize>,
    /// Bytes in one HTTP request body.
    pub max_body_bytes: Option<usize>,
    /// Idle time after which a peer connection is closed, e.g. `"30s"`.
    pub peer_idle_timeout: Option<String>,
    /// Idle time after which an HTTP connection is closed, e.g. `"60s"`.
    pub http_idle_timeout: Option<String>,
    /// Simultaneous HTTP connections.
    pub max_http_connections: Option<usize>,
    /// Time a write to a peer may take before the connection is closed, e.g. `"10s"`.
    pub peer_write_timeout: Option<String>,
    /// Bytes owed to one peer (queued, unacknowledged) before new batches for it are not
    /// queued and its history is sent again once it caught up.
    pub peer_outbox_bytes: Option<usize>,
    /// Time an HTTP connection has to send a request's head, e.g. `"10s"`.
    pub http_header_timeout: Option<String>,
    /// Simultaneous HTTP connections from one IP address.
    pub max_http_connections_per_ip: Option<usize>,
    /// Time after the start after which a peer that never connected is reported, e.g. `"30s"`.
    pub peer_connect_grace: Option<String>,
    /// Estimated bytes of batches received from one peer and not yet ticked, at most.
    pub peer_inbound_bytes: Option<usize>,
    /// The same for all peers together.
    pub inbound_bytes: Option<usize>,
}

impl FileConfig {
    /// Parses the text of a `cluster.toml`.
    pub fn parse(text: &str) -> Result<FileConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(e.to_string()))
    }

    /// Reads and parses a `cluster.toml`; a relative `program` is made relative to the file.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read `{}`: {e}", path.display())))?;
        let mut c = FileConfig::parse(&text)
            .map_err(|e| ConfigError(format!("in `{}`: {e}", path.display())))?;
        for p in [
            &mut c.program,
            &mut c.data_dir,
            &mut c.cluster_secret_file,
            &mut c.token_file,
        ] {
            if let (Some(q), Some(dir)) = (p.as_ref(), path.parent())
                && q.is_relative()
            {
                *p = Some(dir.join(q));
            }
        }
        Ok(c)
    }
}

/// Settings given on the command line; they take precedence over the file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--name`.
    pub name: Option<String>,
    /// The program argument.
    pub program: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--http`.
    pub http: Option<String>,
    /// `--resp`.
    pub resp: Option<String>,
    /// `--peer NAME=ADDR`, in order.
    pub peers: Vec<String>,
    /// `--insecure`.
    pub insecure: bool,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--cluster-secret-file`.
    pub cluster_secret_file: Option<PathBuf>,
    /// `--token-file`.
    pub token_file: Option<PathBuf>,
}

/// Everything needed to start a node and its client API.
#[derive(Clone, Debug)]
pub struct Settings {
    /// This node's name.
    pub name: String,
    /// The program file, if one was named (otherwise the caller's default).
    pub program: Option<PathBuf>,
    /// Peer listen address.
    pub listen: SocketAddr,
    /// Client API address.
    pub http: SocketAddr,
    /// The RESP address, if the store is served over Redis's protocol.
    pub resp: Option<SocketAddr>,
    /// The other members.
    pub peers: Vec<Peer>,
    /// Non-loopback addresses allowed.
    pub insecure: bool,
    /// Limits.
    pub limits: Limits,
    /// HTTP body limit, bytes.
    pub max_body: usize,
    /// Where to keep state across restarts (none: in memory only).
    pub data_dir: Option<PathBuf>,
    /// The file holding the cluster secret.
    pub cluster_secret_file: Option<PathBuf>,
    /// The file holding the client API's bearer token.
    pub token_file: Option<PathBuf>,
}

/// Resolves `host:port` (an IP address or a name such as `localhost`).
pub fn parse_addr(what: &str, s: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    match s.to_socket_addrs() {
        Ok(mut it) => it
            .next()
            .ok_or_else(|| ConfigError(format!("{what} `{s}`: no address found"))),
        Err(e) => err(format!(
            "{what} `{s}`: not an address of the form host:port ({e})"
        )),
    }
}

fn check_name(what: &str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.len() > 255 || name.chars().any(|c| c.is_control()) {
        return err(format!(
            "{what} `{name}`: a node name is 1 to 255 printable characters"
        ));
    }
    Ok(())
}

/// Combines a file (if any), the default program, and command-line overrides; checks names and
/// addresses. Does not check exposure: see [`check_exposure`].
pub fn resolve(
    file: Option<FileConfig>,
    default_name: Option<&str>,
    cli: Overrides,
) -> Result<Settings, ConfigError> {
    let file = file.unwrap_or_default();
    if !file.nodes.is_empty() && !file.peers.is_empty() {
        return err("a configuration has either `[peers]` or `[nodes.NAME]` tables, not both");
    }
    let name = match cli.name.or(file.name) {
        Some(n) => n,
        None if !file.nodes.is_empty() => {
            return err("the configuration lists the whole cluster: choose this node with --name");
        }
        None if !file.peers.is_empty() || !cli.peers.is_empty() => {
            return err("a node with peers needs a name: pass --name");
        }
        None => default_name.unwrap_or("local").to_string(),
    };
    check_name("node name", &name)?;
    let mut listen = cli.listen;
    let mut http = cli.http;
    let mut resp = cli.resp;
    let mut peers: BTreeMap<String, String> = BTreeMap::new();
    if !file.nodes.is_empty() {
        let Some(me) = file.nodes.get(&name) else {
            let names: Vec<&str> = file.nodes.keys().map(String::as_str).collect();
            return err(format!(
                "node `{name}` is not in the configuration's nodes ({})",
                names.join(", ")
            ));
        };
        listen = listen.or_else(|| Some(me.listen.clone()));
        http = http.or_else(|| me.http.clone());
        resp = resp.or_else(|| me.resp.clone());
        for (n, e) in &file.nodes {
            if *n != name {
                peers.insert(n.clone(), e.listen.clone());
            }
        }
    } else {
        listen = listen.or(file.listen);
        http = http.or(file.http);
        resp = resp.or(file.resp);
        peers.extend(file.peers);
    }
    let mut from_cli = BTreeMap::new();
    for p in &cli.peers {
        let Some((n, a)) = p.split_once('=') else {
            return err(format!("--peer `{p}`: expected NAME=HOST:PORT"));
        };
        if from_cli.insert(n.to_string(), a.to_string()).is_some() {
            return err(format!("--peer: `{n}` is given twice"));
        }
    }
    // Peers on the command line replace or add to the file's.
    peers.extend(from_cli);
    let mut out = Vec::new();
    for (n, a) in &peers {
        check_name("peer name", n)?;
        if *n == name {
            return err(format!(
                "`{name}` is this node's name; it cannot be its own peer"
            ));
        }
        out.push(Peer {
            name: n.clone(),
            addr: parse_addr(&format!("peer `{n}`"), a)?,
            // A name is resolved again at every connection attempt (see `Peer::host`).
            host: a.parse::<SocketAddr>().is_err().then(|| a.clone()),
        });
    }
    let listen = parse_addr("--listen", listen.as_deref().unwrap_or("127.0.0.1:0"))?;
    let http = parse_addr("--http", http.as_deref().unwrap_or("127.0.0.1:0"))?;
    let resp = resp.map(|a| parse_addr("--resp", &a)).transpose()?;
    let l = &file.limits;
    let d = Limits::default();
    let duration = |key: &str, v: &Option<String>, default| match v {
        Some(s) => parse_duration(s).ok_or_else(|| {
            ConfigError(format!(
                "limits.{key} `{s}`: expected a duration such as 500ms or 5s"
            ))
        }),
        None => Ok(default),
    };
    let limits = Limits {
        max_facts_per_request: l.max_facts_per_request.unwrap_or(d.max_facts_per_request),
        max_string_len: l.max_string_len.unwrap_or(d.max_string_len),
        max_connections: l.max_connections.unwrap_or(d.max_connections).max(1),
        max_connections_per_ip: l
            .max_connections_per_ip
            .unwrap_or(d.max_connections_per_ip)
            .max(1),
        handshake_timeout: duration(
            "handshake_timeout",
            &l.handshake_timeout,
            d.handshake_timeout,
        )?,
        queue_len: l.queue_len.unwrap_or(d.queue_len).max(1),
        peer_idle_timeout: duration(
            "peer_idle_timeout",
            &l.peer_idle_timeout,
            d.peer_idle_timeout,
        )?,
        http_idle_timeout: duration(
            "http_idle_timeout",
            &l.http_idle_timeout,
            d.http_idle_timeout,
        )?,
        max_http_connections: l
            .max_http_connections
            .unwrap_or(d.max_http_connections)
            .max(1),
        peer_write_timeout: duration(
            "peer_write_timeout",
            &l.peer_write_timeout,
            d.peer_write_timeout,
        )?,
        peer_outbox_bytes: l.peer_outbox_bytes.unwrap_or(d.peer_outbox_bytes).max(1),
        peer_inbound_bytes: l.peer_inbound_bytes.unwrap_or(d.peer_inbound_bytes).max(1),
        inbound_bytes: l.inbound_bytes.unwrap_or(d.inbound_bytes).max(1),
        http_header_timeout: duration(
            "http_header_timeout",
            &l.http_header_timeout,
            d.http_header_timeout,
        )?,
        max_http_connections_per_ip: l
            .max_http_connections_per_ip
            .unwrap_or(d.max_http_connections_per_ip)
            .max(1),
        peer_connect_grace: duration(
            "peer_connect_grace",
            &l.peer_connect_grace,
            d.peer_connect_grace,
        )?,
    };
    Ok(Settings {
        name,
        program: cli.program.or(file.program),
        listen,
        http,
        resp,
        peers: out,
        insecure: cli.insecure || file.insecure.unwrap_or(false),
        limits,
        max_body: l.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY),
        data_dir: cli.data_dir.or(file.data_dir),
        cluster_secret_file: cli.cluster_secret_file.or(file.cluster_secret_file),
        token_file: cli.token_file.or(file.token_file),
    })
}

/// Refuses to bind a non-loopback address that nothing protects, unless `insecure`: the peer
/// port needs a cluster secret (`--cluster-secret-file`), the client API a bearer token
/// (`--token-file`); otherwise anyone who can reach it could pose as a peer or insert facts.
pub fn check_exposure(settings: &Settings) -> Result<(), ConfigError> {
    if settings.insecure {
        return Ok(());
    }
    let checks = [
        (
            "--listen",
            settings.listen,
            settings.cluster_secret_file.is_some(),
            "peers are not authenticated without a cluster secret (--cluster-secret-file), so \
             anyone who can reach it could pose as a member",
        ),
        (
            "--http",
            settings.http,
            settings.token_file.is_some(),
            "clients are not authenticated without a token (--token-file), so anyone who can \
             reach it could insert facts",
        ),
    ];
    let resp = settings.resp.map(|addr| {
        (
            "--resp",
            addr,
            settings.token_file.is_some(),
            "clients are not authenticated without a token (--token-file, sent with AUTH), so \
             anyone who can reach it could write to the store",
        )
    });
    for (what, addr, protected, why) in checks.into_iter().chain(resp) {
        if !addr.ip().is_loopback() && !protected {
            return err(format!(
                "refusing to bind {what} {addr}: it is not a loopback address, and {why}. Bind \
                 to 127.0.0.1, configure authentication, or pass --insecure (`insecure = true` \
                 in the configuration) on a network you trust"
            ));
        }
    }
    Ok(())
}

/// What `--insecure` lets through: one warning for each non-loopback address bound without the
/// authentication it would need (empty without `insecure`, since [`check_exposure`] refuses
/// those). The node logs them at WARN and lists them in its status.
pub fn exposure_warnings(settings: &Settings) -> Vec<String> {
    if !settings.insecure {
        return Vec::new();
    }
    let mut out = Vec::new();
    if !settings.listen.ip().is_loopback() && settings.cluster_secret_file.is_none() {
        out.push(format!(
            "--insecure: the peer port {} is not a loopback address and has no cluster secret \
             (--cluster-secret-file): anyone who can reach it can pose as a member",
            settings.listen
        ));
    }
    if !settings.http.ip().is_loopback() && settings.token_file.is_none() {
        out.push(format!(
            "--insecure: the client API {} is not a loopback address and has no token \
             (--token-file): anyone who can reach it can insert facts",
            settings.http
        ));
    }
    if let Some(resp) = settings.resp
        && !resp.ip().is_loopback()
        && settings.token_file.is_none()
    {
        out.push(format!(
            "--insecure: the RESP port {resp} is not a loopback address and has no token \
             (--token-file): anyone who can reach it can write to the store"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o() -> Overrides {
        Overrides::default()
    }

    #[test]
    fn single_node_file_with_peers() {
        let f = FileConfig::parse(
            "name = \"n1\"\nlisten = \"127.0.0.1:7001\"\nhttp = \"127.0.0.1:8001\"\n\
             [peers]\nn2 = \"127.0.0.1:7002\"\nn3 = \"localhost:7003\"\n\
             [limits]\nmax_facts_per_request = 10\nhandshake_timeout = \"250ms\"\n",
        )
        .unwrap();
        let s = resolve(Some(f), None, o()).unwrap();
        assert_eq!(s.name, "n1");
        assert_eq!(s.http.port(), 8001);
        assert_eq!(s.peers.len(), 2);
        // A name is kept, to resolve again at every connection attempt; an address is not.
        let host = |n: &str| s.peers.iter().find(|p| p.name == n).unwrap().host.clone();
        assert_eq!(host("n2"), None);
        assert_eq!(host("n3").as_deref(), Some("localhost:7003"));
        assert_eq!(s.limits.max_facts_per_request, 10);
        assert_eq!(s.limits.handshake_timeout.as_millis(), 250);
        check_exposure(&s).unwrap();
    }

    #[test]
    fn command_line_overrides_the_file() {
        let f = FileConfig::parse("name = \"n1\"\nlisten = \"127.0.0.1:7001\"\n").unwrap();
        let s = resolve(
            Some(f),
            None,
            Overrides {
                listen: Some("127.0.0.1:9000".into()),
                peers: vec!["n2=127.0.0.1:7002".into()],
                ..o()
            },
        )
        .unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.peers[0].name, "n2");
    }

    #[test]
    fn mistakes_are_explained() {
        let e = |f: Option<&str>, cli: Overrides| {
            resolve(f.map(|t| FileConfig::parse(t).unwrap()), None, cli)
                .unwrap_err()
                .to_string()
        };
        assert!(FileConfig::parse("nmae = \"x\"").is_err());
        assert!(
            e(
                None,
                Overrides {
                    peers: vec!["n2".into()],
                    name: Some("n1".into()),
                    ..o()
                }
            )
            .contains("NAME=HOST:PORT")
        );
        assert!(
            e(
                None,
                Overrides {
                    peers: vec!["n2=127.0.0.1:1".into()],
                    ..o()
                }
            )
            .contains("--name")
        );
        assert!(
            e(
                None,
                Overrides {
                    peers: vec!["n1=127.0.0.1:1".into()],
                    name: Some("n1".into()),
                    ..o()
                }
            )
            .contains("own peer")
        );
        assert!(e(Some("[nodes.a]\nlisten = \"127.0.0.1:1\"\n"), o()).contains("--name"));
        assert!(
            e(
                Some("[nodes.a]\nlisten = \"127.0.0.1:1\"\n"),
                Overrides {
                    name: Some("b".into()),
                    ..o()
                }
            )
            .contains("not in")
        );
        assert!(
            e(
                None,
                Overrides {
                    listen: Some("nowhere".into()),
                    ..o()
                }
            )
            .contains("host:port")
        );
    }

    #[test]
    fn non_loopback_is_refused_unless_insecure() {
        let mut s = resolve(
            None,
            None,
            Overrides {
                http: Some("0.0.0.0:0".into()),
                ..o()
            },
        )
        .unwrap();
        let msg = check_exposure(&s).unwrap_err().to_string();
        assert!(msg.contains("not a loopback address"), "{msg}");
        assert!(
            msg.contains("--token-file") && msg.contains("--insecure"),
            "{msg}"
        );
        // A cluster secret protects the peer port, not the client API.
        s.cluster_secret_file = Some("secret".into());
        assert!(check_exposure(&s).is_err());
        s.token_file = Some("token".into());
        check_exposure(&s).unwrap();
        s.listen = "0.0.0.0:0".parse().unwrap();
        check_exposure(&s).unwrap();
        s.cluster_secret_file = None;
        let msg = check_exposure(&s).unwrap_err().to_string();
        assert!(
            msg.contains("--listen") && msg.contains("--cluster-secret-file"),
            "{msg}"
        );
        assert!(exposure_warnings(&s).is_empty());
        s.insecure = true;
        check_exposure(&s).unwrap();
        // What --insecure let through is said: the peer port without a secret.
        let w = exposure_warnings(&s);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("peer port 0.0.0.0:0"), "{w:?}");
        s.token_file = None;
        assert_eq!(exposure_warnings(&s).len(), 2);
        s.listen = "127.0.0.1:0".parse().unwrap();
        s.http = "127.0.0.1:0".parse().unwrap();
        assert!(exposure_warnings(&s).is_empty());
    }

    #[test]
    fn the_resp_address_from_flags_files_and_cluster_tables_and_its_exposure() {
        let f = FileConfig::parse("name = \"n1\"\nresp = \"127.0.0.1:6380\"\n").unwrap();
        let s = resolve(Some(f), None, o()).unwrap();
        assert_eq!(s.resp.map(|a| a.port()), Some(6380));
        let f = FileConfig::parse(
            "[nodes.n1]\nlisten = \"127.0.0.1:7001\"\nresp = \"127.0.0.1:6381\"\n\
             [nodes.n2]\nlisten = \"127.0.0.1:7002\"\n",
        )
        .unwrap();
        let mut cli = o();
        cli.name = Some("n1".into());
        let s = resolve(Some(f), None, cli).unwrap();
        assert_eq!(s.resp.map(|a| a.port()), Some(6381));
        let mut cli = o();
        cli.resp = Some("127.0.0.1:6390".into());
        let mut s = resolve(None, None, cli).unwrap();
        assert_eq!(s.resp.map(|a| a.port()), Some(6390));
        assert_eq!(resolve(None, None, o()).unwrap().resp, None);
        let mut cli = o();
        cli.resp = Some("nowhere".into());
        assert!(
            resolve(None, None, cli)
                .unwrap_err()
                .0
                .contains("--resp `nowhere`")
        );
        // A public RESP port needs a token, as the HTTP API does.
        s.resp = Some("0.0.0.0:6380".parse().unwrap());
        let msg = check_exposure(&s).unwrap_err().0;
        assert!(msg.contains("--resp 0.0.0.0:6380"), "{msg}");
        s.token_file = Some("token".into());
        check_exposure(&s).unwrap();
        s.token_file = None;
        s.insecure = true;
        let w = exposure_warnings(&s);
        assert!(
            w.iter().any(|w| w.contains("RESP port 0.0.0.0:6380")),
            "{w:?}"
        );
    }

    #[test]
    fn files_and_limits_from_the_configuration() {
        let dir = std::env::temp_dir().join(format!("calm-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cluster.toml");
        std::fs::write(
            &path,
            "data_dir = \"data\"\ncluster_secret_file = \"/etc/calm/secret\"\n\
             token_file = \"token\"\n[limits]\npeer_idle_timeout = \"2s\"\n\
             http_idle_timeout = \"500ms\"\nmax_http_connections = 3\n\
             http_header_timeout = \"2s\"\nmax_http_connections_per_ip = 5\n\
             max_connections_per_ip = 3\n\
             peer_connect_grace = \"1m\"\n",
        )
        .unwrap();
        let f = FileConfig::load(&path).unwrap();
        let s = resolve(Some(f), None, o()).unwrap();
        assert_eq!(s.data_dir.as_deref(), Some(dir.join("data").as_path()));
        assert_eq!(
            s.cluster_secret_file.as_deref(),
            Some(Path::new("/etc/calm/secret"))
        );
        assert_eq!(s.token_file.as_deref(), Some(dir.join("token").as_path()));
        assert_eq!(s.limits.peer_idle_timeout.as_secs(), 2);
        assert_eq!(s.limits.http_idle_timeout.as_millis(), 500);
        assert_eq!(s.limits.max_http_connections, 3);
        assert_eq!(s.limits.http_header_timeout.as_secs(), 2);
        assert_eq!(s.limits.max_http_connections_per_ip, 5);
        assert_eq!(s.limits.max_connections_per_ip, 3);
        assert_eq!(s.limits.peer_connect_grace.as_secs(), 60);
        let d = Limits::default();
        let s = resolve(None, None, o()).unwrap();
        assert_eq!(s.limits.http_header_timeout, d.http_header_timeout);
        assert_eq!(s.limits.max_http_connections_per_ip, 64);
        assert_eq!(s.limits.max_connections_per_ip, d.max_connections_per_ip);
        let _ = std::fs::remove_dir_all(&dir);
        let e = resolve(
            Some(FileConfig::parse("[limits]\npeer_idle_timeout = \"soon\"\n").unwrap()),
            None,
            o(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("peer_idle_timeout"), "{e}");
    }
}
