//! `calm status`: a running node's name, tick, links and relation sizes.

use crate::client::{Client, ClientError, exit, json};
use serde_json::Value as Json;
use std::io::Write as _;
use std::process::ExitCode;

/// Arguments of `calm status`.
#[derive(clap::Args)]
pub struct StatusArgs {
    /// The node's HTTP address, e.g. http://127.0.0.1:8001.
    #[arg(long, value_name = "URL")]
    node: String,
    /// A file holding the node's bearer token (default: the file named by `CALM_TOKEN_FILE`).
    #[arg(long, value_name = "PATH")]
    token_file: Option<std::path::PathBuf>,
    /// Print the node's JSON answer.
    #[arg(long)]
    json: bool,
}

pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.node)?.token_file(args.token_file.as_deref())?;
    exit((|| -> Result<(), ClientError> {
        let text = client.get("/v1/status")?;
        if args.json {
            let _ = writeln!(std::io::stdout(), "{}", text.trim_end());
            return Ok(());
        }
        let s = json(&text)?;
        let mut out = std::io::stdout().lock();
        let str_of = |v: &Json, k: &str| v.get(k).and_then(Json::as_str).unwrap_or("?").to_string();
        let num_of = |v: &Json, k: &str| v.get(k).and_then(Json::as_u64).unwrap_or(0);
        let _ = writeln!(
            out,
            "node {}  tick {}",
            str_of(&s, "name"),
            num_of(&s, "tick")
        );
        let peers = s
            .get("peers")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        if peers.is_empty() {
            let _ = writeln!(out, "peers: none");
        } else {
            let _ = writeln!(out, "peers:");
            for p in &peers {
                let up = p.get("connected").and_then(Json::as_bool).unwrap_or(false);
                let _ = writeln!(
                    out,
                    "  {:<12} {:<22} {:<6} unacked batches {}",
                    str_of(p, "name"),
                    str_of(p, "addr"),
                    if up { "up" } else { "down" },
                    num_of(p, "unacked")
                );
            }
        }
        // What the node says is wrong (nothing printed when nothing is).
        let warnings = s
            .get("warnings")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        if !warnings.is_empty() {
            let _ = writeln!(out, "warnings:");
            for w in &warnings {
                let _ = writeln!(out, "  - {}", w.as_str().unwrap_or("?"));
            }
        }
        let _ = writeln!(out, "relations:");
        if let Some(rels) = s.get("relations").and_then(Json::as_object) {
            for (name, n) in rels {
                let _ = writeln!(out, "  {name:<24} {}", n.as_u64().unwrap_or(0));
            }
        }
        Ok(())
    })())
}
