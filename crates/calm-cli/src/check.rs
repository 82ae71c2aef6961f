//! `calm check`: the CALM analyzer — which points of order a program has, and whether it needs
//! coordination.
//!
//! Exit codes: 0 when no finding is at level deny, 1 when one is (a program that does not
//! compile is reported as findings and exits 1), 2 when the tool itself failed (unreadable file,
//! bad `calm.toml` or level flag).

use anyhow::{Context as _, bail};
use calm_analyzer::output::{self, Input};
use calm_analyzer::{Config, Level};
use calm_syntax::SourceMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Output formats of `calm check`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// rustc-style diagnostics with the path as secondary labels.
    Human,
    /// One JSON object per line: the findings, then a summary per file.
    Json,
    /// SARIF 2.1.0 (GitHub code scanning).
    Sarif,
    /// GitHub Actions workflow commands (annotations).
    Github,
    /// GitLab's code-quality report (JSON).
    Gitlab,
}

/// Arguments of `calm check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The programs (`.dl`) to check.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Report a lint (code or name) at level deny; `--deny warnings` denies every warning.
    #[arg(long = "deny", short = 'D', value_name = "LINT")]
    deny: Vec<String>,
    /// Report a lint (code or name) at level warn.
    #[arg(long = "warn", short = 'W', value_name = "LINT")]
    warn: Vec<String>,
    /// Do not report a lint (code or name).
    #[arg(long = "allow", short = 'A', value_name = "LINT")]
    allow: Vec<String>,
    /// The configuration file (default: `calm.toml` in the current directory or the nearest
    /// ancestor that has one).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Also show findings at level allow (local and sealed non-monotonic operations) as notes.
    #[arg(long, short)]
    verbose: bool,
}

/// `calm.toml` in `dir` or its nearest ancestor that has one.
fn find_config(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join("calm.toml"))
        .find(|p| p.is_file())
}

fn config(args: &CheckArgs, cwd: &Path) -> anyhow::Result<Config> {
    let mut config = Config::default();
    let path = match &args.config {
        Some(p) => Some(p.clone()),
        None => find_config(cwd),
    };
    if let Some(path) = path {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        config
            .merge_toml(&text)
            .with_context(|| format!("in `{}`", path.display()))?;
    }
    for (names, level) in [
        (&args.warn, Level::Warn),
        (&args.allow, Level::Allow),
        (&args.deny, Level::Deny),
    ] {
        for name in names {
            config.set(name, level)?;
        }
    }
    Ok(config)
}

/// The name a file is reported under: relative to the current directory when it is inside it.
fn display_name(path: &Path, cwd: &Path) -> String {
    let rel = path.strip_prefix(cwd).unwrap_or(path);
    rel.display().to_string()
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let config = config(&args, &cwd)?;
    let mut map = SourceMap::new();
    let mut files = Vec::new();
    for path in &args.files {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        let Ok(text) = String::from_utf8(bytes) else {
            bail!("`{}` is not UTF-8", path.display());
        };
        files.push(map.add(display_name(path, &cwd), text));
    }
    let reports: Vec<_> = files
        .iter()
        .map(|&f| calm_analyzer::check(&map, f, &config))
        .collect();
    let input = Input {
        map: &map,
        reports: &reports,
        verbose: args.verbose,
    };
    let text = match args.format {
        Format::Human => output::human::render(&input),
        Format::Json => output::json::render(&input),
        Format::Sarif => output::sarif::render(&input),
        Format::Github => output::github::render(&input),
        Format::Gitlab => output::gitlab::render(&input),
    };
    print!("{text}");
    Ok(if reports.iter().any(|r| r.denied()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
