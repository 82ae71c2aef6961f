//! `calm query`: print a relation of a running node.

use crate::client::{Client, ClientError, encode, exit, json};
use serde_json::Value as Json;
use std::io::Write as _;
use std::process::ExitCode;

/// Arguments of `calm query`.
#[derive(clap::Args)]
pub struct QueryArgs {
    /// The node's HTTP address, e.g. http://127.0.0.1:8001.
    #[arg(long, value_name = "URL")]
    node: String,
    /// A file holding the node's bearer token (default: the file named by `CALM_TOKEN_FILE`).
    #[arg(long, value_name = "PATH")]
    token_file: Option<std::path::PathBuf>,
    /// The relation.
    relation: String,
    /// Equality filters, by column name or position: `waiter=t1`, `c0=t1`.
    #[arg(value_name = "COLUMN=VALUE")]
    filters: Vec<String>,
    /// Print the node's JSON answer (`{"relation", "columns", "rows"}`) instead of TSV.
    #[arg(long)]
    json: bool,
}

pub fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let mut query = Vec::new();
    for f in &args.filters {
        let Some((k, v)) = f.split_once('=') else {
            anyhow::bail!("filter `{f}`: expected COLUMN=VALUE");
        };
        query.push(format!("{}={}", encode(k), encode(v)));
    }
    let path = if query.is_empty() {
        format!("/v1/relations/{}", encode(&args.relation))
    } else {
        format!(
            "/v1/relations/{}?{}",
            encode(&args.relation),
            query.join("&")
        )
    };
    let client = Client::new(&args.node)?.token_file(args.token_file.as_deref())?;
    exit((|| -> Result<(), ClientError> {
        let text = client.get(&path)?;
        let mut out = std::io::stdout().lock();
        if args.json {
            let _ = writeln!(out, "{}", text.trim_end());
            return Ok(());
        }
        let answer = json(&text)?;
        let rows = answer
            .get("rows")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        for row in rows {
            let cells: Vec<String> = row
                .as_array()
                .map(|r| {
                    r.iter()
                        .map(|v| match v {
                            Json::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let _ = writeln!(out, "{}", cells.join("\t"));
        }
        Ok(())
    })())
}
