//! `calm sim`: run a program on a simulated cluster under many seeded schedules and check that
//! they all end the same (the CALM theorem, tested), or show two that do not.
//!
//! Exit codes: 0 when every schedule quiesced with the same outcome (and for `--replay`), 1 when
//! schedules diverged or did not quiesce, or the program or its facts have errors, 2 for usage
//! and I/O failures (unreadable files, a bad placement file).

use anyhow::{Context as _, bail};
use calm_engine::EngineError;
use calm_sim::verdict::{outcome_json, render_outcome};
use calm_sim::{Faults, InputMode, Options, Setup, SetupError, check, read_facts, run_seed};
use calm_syntax::render_all;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;

/// How input facts reach the nodes.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Inputs {
    /// As `.input` files read at start, like `calm run -F` (read again after a crash).
    Files,
    /// As client inserts at random times (inserted again after a crash).
    Inserts,
}

/// Arguments of `calm sim`.
#[derive(clap::Args)]
pub struct SimArgs {
    /// The program (`.dl`). Without one, the bundled deadlock-detection example.
    program: Option<PathBuf>,
    /// Number of nodes (`n1` .. `nN`).
    #[arg(long, value_name = "N", default_value_t = 3)]
    nodes: usize,
    /// Directory of the `.input` fact files (as for `calm run`).
    #[arg(short = 'F', long = "facts", value_name = "DIR", default_value = ".")]
    facts: PathBuf,
    /// Which node holds which input facts (see docs/sim.md); the others are spread by
    /// `--placement-seed`.
    #[arg(long, value_name = "FILE")]
    placement: Option<PathBuf>,
    /// The seed that spreads input facts over the nodes (the same for every schedule).
    #[arg(long, value_name = "SEED", default_value_t = 0)]
    placement_seed: u64,
    /// How many schedules (seeds) to run.
    #[arg(long, value_name = "K", default_value_t = 1000)]
    seeds: u64,
    /// The first seed; seeds FIRST .. FIRST+K-1 run.
    #[arg(long, value_name = "FIRST", default_value_t = 1)]
    first_seed: u64,
    /// The faults schedules may contain: any of partition,drop,dup,reorder,crash,restart, or all, or
    /// none.
    #[arg(long, value_name = "LIST", default_value = "all")]
    faults: String,
    /// How input facts reach the nodes.
    #[arg(long, value_enum, default_value_t = Inputs::Files)]
    inputs: Inputs,
    /// Compare every relation, not only the outputs.
    #[arg(long)]
    all_relations: bool,
    /// Ticks (all nodes together) after which a schedule counts as not quiescing.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    max_ticks: u64,
    /// Run one seed and print its schedule, event by event, and its outcome.
    #[arg(long, value_name = "SEED")]
    replay: Option<u64>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Threads running seeds (default: the number of cores).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
}

pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let (name, text) = match &args.program {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read program `{}`", path.display()))?;
            (path.display().to_string(), text)
        }
        None => (
            "programs/deadlock.dl".to_string(),
            crate::run::DEFAULT_PROGRAM.to_string(),
        ),
    };
    if args.nodes == 0 || args.nodes > 1000 {
        bail!("--nodes must be between 1 and 1000");
    }
    let faults = Faults::parse(&args.faults).map_err(anyhow::Error::msg)?;
    let options = calm_syntax::PreprocessOptions::default();
    let program = match crate::source::compile(&name, text, &options) {
        Ok(p) if let Some(d) = calm_node::core::unsupported(&p) => {
            eprint!("{}", render_all(&[d], p.sources()));
            return Ok(ExitCode::from(1));
        }
        Ok(p) => p,
        Err(e) => {
            eprint!("{}", render_all(&e.diagnostics, &e.sources));
            return Ok(ExitCode::from(1));
        }
    };
    let facts = match read_facts(&program, &args.facts) {
        Ok(f) => f,
        Err(e @ EngineError::Io { .. }) => return Err(e.into()),
        Err(e) => {
            eprint!("{}", render_all(&[e.diagnostic()], program.sources()));
            return Ok(ExitCode::from(1));
        }
    };
    let placement = match &args.placement {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read placement file `{}`", p.display()))?,
        ),
        None => None,
    };
    let options = Options {
        nodes: args.nodes,
        faults,
        inputs: match args.inputs {
            Inputs::Files => InputMode::Files,
            Inputs::Inserts => InputMode::Inserts,
        },
        all_relations: args.all_relations,
        max_ticks: args.max_ticks,
        placement_seed: args.placement_seed,
        ..Options::default()
    };
    let setup =
        Setup::new(&name, program, facts, placement.as_deref(), options).map_err(|e| {
            match (e, &args.placement) {
                (SetupError::Placement(e), Some(file)) => {
                    anyhow::anyhow!("{}: {e}", file.display())
                }
                (e, _) => anyhow::anyhow!("{e}"),
            }
        })?;
    if let Some(seed) = args.replay {
        let run = run_seed(&setup, seed, true);
        if args.json {
            let j = serde_json::json!({
                "program": setup.name,
                "seed": seed,
                "trace": run.trace,
                "trace_hash": format!("{:016x}", run.trace_hash),
                "outcome": outcome_json(&setup.names, &run.outcome),
                "ticks": run.stats.ticks,
            });
            println!("{j}");
        } else {
            for line in &run.trace {
                println!("{line}");
            }
            println!("\noutcome of seed {seed}:");
            print!("{}", render_outcome(&setup.names, &run.outcome));
            println!("trace hash {:016x}", run.trace_hash);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let bar = ProgressBar::new(args.seeds);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} seeds ({per_sec}, {eta} left)",
        )
        .expect("a valid template"),
    );
    let report = check(&setup, args.first_seed, args.seeds, jobs, &|_| bar.inc(1));
    bar.finish_and_clear();
    if args.json {
        println!("{}", report.to_json());
        if report.disagreement() {
            eprintln!(
                "error: BUG IN CALM: the analyzer says `{}` is coordination-free, but schedules diverged",
                report.program
            );
        }
    } else {
        print!("{}", report.render());
    }
    Ok(if report.confluent() && report.nondeterministic.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
