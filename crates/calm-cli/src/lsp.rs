//! `calm lsp`: the language server, over standard input and output (see `docs/editors.md`).
//!
//! Exit codes: 0 after `shutdown` and `exit`, 1 after `exit` without `shutdown` or when the
//! client closed the connection without `exit`, 2 on an I/O failure.

use anyhow::Context as _;
use std::process::ExitCode;

/// Arguments of `calm lsp`.
#[derive(clap::Args)]
pub struct LspArgs {
    /// Talk over standard input and output (the only transport; accepted because editors'
    /// clients pass it).
    #[arg(long)]
    stdio: bool,
}

pub fn run(args: LspArgs) -> anyhow::Result<ExitCode> {
    let _ = args.stdio;
    let limits = calm_lsp::Limits::default();
    let (connection, threads) = calm_lsp::transport::stdio(limits.message_bytes);
    let exit = calm_lsp::server::run(&connection, limits).context("the language server stopped")?;
    drop(connection);
    threads
        .join()
        .context("the language server's input or output failed")?;
    Ok(if exit.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
