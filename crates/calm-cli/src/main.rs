//! `calm`: run, check and serve calm programs.
//!
//! Exit codes: 0 success, 1 a diagnostic error in the program or its data, 2 a usage or I/O
//! failure.

mod check;
mod client;
mod explain;
mod fmt;
mod graph;
mod insert;
mod kv;
mod lsp;
mod node;
mod query;
mod run;
mod sim;
mod status;
mod up;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// calm: distributed Datalog that runs without coordination wherever the CALM theorem allows.
#[derive(Parser)]
#[command(name = "calm", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate a program on one node until quiescence and write its outputs.
    Run(run::RunArgs),
    /// Start a local cluster of nodes on loopback (child processes); Ctrl-C stops them.
    Up(up::UpArgs),
    /// Run a program as one node of a cluster, with a client API over HTTP.
    Node(node::NodeArgs),
    /// Insert facts (in calm syntax) into a running node.
    Insert(insert::InsertArgs),
    /// Print a relation of a running node (TSV, or JSON with --json).
    Query(query::QueryArgs),
    /// Show a running node's tick, links and relation sizes.
    Status(status::StatusArgs),
    /// Put, get and delete in a node running the key-key-value store programs/kvs.dl.
    Kv(kv::KvArgs),
    /// Find the points of order: where a program needs coordination, and why (CALM analysis).
    Check(check::CheckArgs),
    /// Lay programs out in the canonical layout (in place, or standard input to standard output).
    Fmt(fmt::FmtArgs),
    /// Print the precedence graph of a program as Graphviz DOT (or SVG).
    Graph(graph::GraphArgs),
    /// Print the documentation of a `calm check` lint, or list them.
    Explain(explain::ExplainArgs),
    /// Simulate a cluster under many seeded schedules and faults: do they all end the same?
    Sim(sim::SimArgs),
    /// Run the language server (LSP over standard input and output) for editors.
    Lsp(lsp::LspArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Up(args) => up::run(args),
        Command::Node(args) => node::run(args),
        Command::Insert(args) => insert::run(args),
        Command::Query(args) => query::run(args),
        Command::Status(args) => status::run(args),
        Command::Kv(args) => kv::run(args),
        Command::Check(args) => check::run(args),
        Command::Fmt(args) => fmt::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Lsp(args) => lsp::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
