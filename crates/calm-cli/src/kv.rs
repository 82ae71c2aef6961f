//! `calm kv`: the client of the key-key-value store `programs/kvs.dl`, on a node's HTTP API.
//!
//! - `put K1 K2 VALUE` inserts `put(client, seq, K1, K2, VALUE)`: a new version with a unique id,
//!   the client's name and counter (by default the host name and process id, and the time in
//!   nanoseconds).
//! - `get K1 [K2]` and `get --k2 K2` read the relation `visible` with equality filters.
//! - `del K1 K2` inserts `del(K1, K2)`: the node tombstones the versions of the keys it holds.

use crate::client::{Client, ClientError, encode, exit, json};
use serde_json::{Value as Json, json};
use std::io::Write as _;
use std::process::ExitCode;

/// Arguments of `calm kv`.
#[derive(clap::Args)]
pub struct KvArgs {
    /// The node's HTTP address, e.g. http://127.0.0.1:8001 (a node running programs/kvs.dl).
    #[arg(long, value_name = "URL")]
    node: String,
    /// A file holding the node's bearer token (default: the file named by `CALM_TOKEN_FILE`).
    #[arg(long, value_name = "PATH")]
    token_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    op: KvOp,
}

#[derive(clap::Subcommand)]
enum KvOp {
    /// Store VALUE under the keys K1 and K2, as a new version (siblings stay until replaced).
    Put {
        /// The first key.
        #[arg(value_name = "K1")]
        key1: String,
        /// The second key.
        #[arg(value_name = "K2")]
        key2: String,
        /// The value.
        #[arg(value_name = "VALUE")]
        value: String,
        /// The client part of the version's id (default: host name and process id).
        #[arg(long, value_name = "NAME")]
        client: Option<String>,
        /// The counter part of the version's id (default: the time in nanoseconds).
        #[arg(long, value_name = "N")]
        seq: Option<i64>,
    },
    /// Print the visible values: of (K1, K2); `K2<TAB>VALUE` lines for K1 alone;
    /// `K1<TAB>VALUE` lines with --k2.
    Get {
        /// The first key.
        #[arg(value_name = "K1", required_unless_present = "by_k2")]
        key1: Option<String>,
        /// The second key.
        #[arg(value_name = "K2")]
        key2: Option<String>,
        /// Look up by the second key only.
        #[arg(long = "k2", value_name = "K2", conflicts_with_all = ["key1", "key2"])]
        by_k2: Option<String>,
        /// Also print each version's id (client and counter).
        #[arg(long)]
        ids: bool,
    },
    /// Delete the values under K1 and K2 (the versions the node holds are tombstoned).
    Del {
        /// The first key.
        #[arg(value_name = "K1")]
        key1: String,
        /// The second key.
        #[arg(value_name = "K2")]
        key2: String,
    },
}

/// The default client name: the host name and the process id.
fn default_client() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "client".to_string());
    format!("{host}-{}", std::process::id())
}

/// The default counter: nanoseconds since the Unix epoch (fits in 64 bits until 2262).
fn default_seq() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn cell(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn tick_of(answer: &Json) -> u64 {
    answer.get("tick").and_then(Json::as_u64).unwrap_or(0)
}

pub fn run(args: KvArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.node)?.token_file(args.token_file.as_deref())?;
    let mut out = std::io::stdout().lock();
    exit(hint((|| -> Result<(), ClientError> {
        match args.op {
            KvOp::Put {
                key1,
                key2,
                value,
                client: name,
                seq,
            } => {
                let name = name.unwrap_or_else(default_client);
                let seq = seq.unwrap_or_else(default_seq);
                let body = json!({ "put": [[name, seq, key1, key2, value]] });
                let answer = json(&client.post_json("/v1/facts", &body)?)?;
                let _ = writeln!(out, "put {name}/{seq} (tick {})", tick_of(&answer));
            }
            KvOp::Del { key1, key2 } => {
                let body = json!({ "del": [[key1, key2]] });
                let answer = json(&client.post_json("/v1/facts", &body)?)?;
                let _ = writeln!(out, "deleted (tick {})", tick_of(&answer));
            }
            KvOp::Get {
                key1,
                key2,
                by_k2,
                ids,
            } => {
                // visible(k1, k2, value, client, seq): which columns to print.
                let (filter, shown): (String, &[usize]) = match (&key1, &key2, &by_k2) {
                    (Some(a), Some(b), _) => (format!("k1={}&k2={}", encode(a), encode(b)), &[2]),
                    (Some(a), None, _) => (format!("k1={}", encode(a)), &[1, 2]),
                    (None, _, Some(b)) => (format!("k2={}", encode(b)), &[0, 2]),
                    (None, _, None) => unreachable!("clap requires K1 or --k2"),
                };
                let answer = json(&client.get(&format!("/v1/relations/visible?{filter}"))?)?;
                let rows = answer
                    .get("rows")
                    .and_then(Json::as_array)
                    .cloned()
                    .unwrap_or_default();
                for row in rows {
                    let Some(row) = row.as_array() else { continue };
                    let mut cells: Vec<String> =
                        shown.iter().filter_map(|&i| row.get(i).map(cell)).collect();
                    if ids && let (Some(c), Some(s)) = (row.get(3), row.get(4)) {
                        cells.push(format!("{}/{}", cell(c), cell(s)));
                    }
                    let _ = writeln!(out, "{}", cells.join("\t"));
                }
            }
        }
        Ok(())
    })()))
}

/// Says which program `calm kv` expects when the node does not know its relations.
fn hint(r: Result<(), ClientError>) -> Result<(), ClientError> {
    match r {
        Err(ClientError::Refused(msg)) if msg.contains("unknown relation") => Err(
            ClientError::Refused(format!("{msg} (is the node running programs/kvs.dl?)")),
        ),
        other => other,
    }
}
