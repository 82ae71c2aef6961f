//! `calm run`: evaluate a program on one node until quiescence.

use anyhow::Context as _;
use calm_engine::io::{self, OutputTarget};
use calm_engine::{Engine, EngineError, Program};
use calm_syntax::{Diagnostic, render_all};
use std::path::PathBuf;
use std::process::ExitCode;

/// The program `calm run` evaluates when no file is given: the deadlock detector.
pub const DEFAULT_PROGRAM: &str = include_str!("../../../programs/deadlock.dl");

/// Arguments of `calm run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The program (`.dl`). Without one, runs the bundled deadlock-detection example.
    program: Option<PathBuf>,
    /// Directory of the `.input` fact files.
    #[arg(short = 'F', long = "facts", value_name = "DIR", default_value = ".")]
    facts: PathBuf,
    /// Directory for `.output` files, or `-` for standard output.
    #[arg(short = 'D', long = "output", value_name = "DIR|-")]
    output: Option<String>,
    /// Stop with an error if the program has not quiesced after this many ticks.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_ticks: u64,
    /// This node's name (the contents of `$self`).
    #[arg(long, value_name = "NAME", default_value = "local")]
    node_name: String,
    /// Another cluster member (repeatable; the contents of `$member`, with this node).
    #[arg(long = "member", value_name = "NAME")]
    members: Vec<String>,
    #[command(flatten)]
    preprocess: crate::source::PreprocessArgs,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let (name, text, default) = match &args.program {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read program `{}`", path.display()))?;
            (path.display().to_string(), text, false)
        }
        None => (
            "programs/deadlock.dl".to_string(),
            DEFAULT_PROGRAM.to_string(),
            true,
        ),
    };
    let options = args.preprocess.options()?;
    let program = match crate::source::compile(&name, text, &options) {
        Ok(p) => p,
        Err(e) => {
            eprint!("{}", render_all(&e.diagnostics, &e.sources));
            return Ok(ExitCode::from(1));
        }
    };
    if !program.warnings().is_empty() {
        eprint!("{}", render_all(program.warnings(), program.sources()));
    }
    let mut engine = Engine::new(&program);
    let mut members = args.members.clone();
    members.push(args.node_name.clone());
    engine.set_node(&args.node_name, &members);
    engine.set_max_ticks(args.max_ticks);
    if let Err(e) = io::load_inputs(&mut engine, &args.facts) {
        return report(&program, e);
    }
    let result = engine.run();
    let target = match args.output.as_deref() {
        Some("-") => OutputTarget::Stdout,
        Some(dir) => OutputTarget::Dir(PathBuf::from(dir)),
        None if default => OutputTarget::Stdout,
        None => OutputTarget::Dir(PathBuf::from(".")),
    };
    if let OutputTarget::Dir(dir) = &target {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output directory `{}`", dir.display()))?;
    }
    let report_run = match result {
        Ok(r) => r,
        Err(e @ EngineError::NoQuiescence(_)) => {
            // Still show the state reached, then fail.
            let mut stdout = std::io::stdout().lock();
            let _ = io::write_outputs(&engine, &target, &mut stdout);
            let d = e
                .diagnostic()
                .with_help("raise --max-ticks, or check for rules that derive new facts at every tick (e.g. an unbounded counter)");
            eprint!("{}", render_all(&[d], program.sources()));
            return Ok(ExitCode::from(1));
        }
        Err(e) => return report(&program, e),
    };
    for ((dest, rel), n) in &report_run.undeliverable {
        eprintln!(
            "note: {n} `{rel}` fact{} addressed to node `{dest}` not delivered (calm run executes a single node)",
            if *n == 1 { "" } else { "s" }
        );
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = io::write_outputs(&engine, &target, &mut stdout) {
        return report(&program, e);
    }
    Ok(ExitCode::SUCCESS)
}

fn report(program: &Program, e: EngineError) -> anyhow::Result<ExitCode> {
    match e {
        EngineError::Io { .. } => Err(anyhow::Error::new(e)),
        other => {
            let d: Diagnostic = other.diagnostic();
            eprint!("{}", render_all(&[d], program.sources()));
            Ok(ExitCode::from(1))
        }
    }
}
