//! `calm insert`: send facts, written in calm syntax, to a node.

use crate::client::{Client, ClientError, exit, json};
use anyhow::Context as _;
use serde_json::{Map, Value as Json};
use std::io::{Read as _, Write as _};
use std::process::ExitCode;

/// Arguments of `calm insert`.
#[derive(clap::Args)]
pub struct InsertArgs {
    /// The node's HTTP address, e.g. http://127.0.0.1:8001.
    #[arg(long, value_name = "URL")]
    node: String,
    /// A file holding the node's bearer token (default: the file named by `CALM_TOKEN_FILE`).
    #[arg(long, value_name = "PATH")]
    token_file: Option<std::path::PathBuf>,
    /// Facts in calm syntax, e.g. 'waits("t1", "t2"). waits("t2", "t1").'; `-` reads them from
    /// standard input.
    #[arg(value_name = "FACTS", required = true)]
    facts: Vec<String>,
}

pub fn run(args: InsertArgs) -> anyhow::Result<ExitCode> {
    let mut text = String::new();
    for f in &args.facts {
        if f == "-" {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read facts from standard input")?;
        } else {
            text.push_str(f);
        }
        text.push('\n');
    }
    let facts = match calm_node::http::facts_from_text("<facts>", &text) {
        Ok(f) => f,
        Err(rendered) => {
            eprint!("{rendered}");
            return Ok(ExitCode::from(1));
        }
    };
    let client = Client::new(&args.node)?.token_file(args.token_file.as_deref())?;
    let mut body: Map<String, Json> = Map::new();
    for (rel, tuple) in &facts {
        let row = Json::Array(tuple.iter().map(calm_node::http::value_to_json).collect());
        if let Json::Array(rows) = body
            .entry(rel.clone())
            .or_insert_with(|| Json::Array(vec![]))
        {
            rows.push(row);
        }
    }
    exit((|| -> Result<(), ClientError> {
        let answer = json(&client.post_json("/v1/facts", &Json::Object(body))?)?;
        let n = answer.get("inserted").and_then(Json::as_u64).unwrap_or(0);
        let tick = answer.get("tick").and_then(Json::as_u64).unwrap_or(0);
        let _ = writeln!(
            std::io::stdout(),
            "inserted {n} fact{} (tick {tick})",
            if n == 1 { "" } else { "s" }
        );
        Ok(())
    })())
}
