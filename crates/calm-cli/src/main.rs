//! `calm`: run, check and serve calm programs.
//!
//! Exit codes: 0 success, 1 a diagnostic error in the program or its data, 2 a usage or I/O
//! failure.

mod run;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
