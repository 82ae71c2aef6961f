//! `calm graph`: the precedence graph of a program as Graphviz DOT, or as SVG (laid out by calm
//! itself: Graphviz is not needed).

use anyhow::Context as _;
use calm_syntax::SourceMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Output formats of `calm graph`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// Graphviz DOT text.
    Dot,
    /// SVG, laid out by calm (no Graphviz needed).
    Svg,
}

/// Arguments of `calm graph`.
#[derive(clap::Args)]
pub struct GraphArgs {
    /// The program (`.dl`).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Dot)]
    format: Format,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(args: GraphArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read `{}`", args.file.display()))?;
    let mut map = SourceMap::new();
    let file = map.add(args.file.display().to_string(), text);
    let options = calm_syntax::PreprocessOptions::default();
    let pre = calm_syntax::preprocess(&mut map, file, &options, &mut crate::source::FsLoader);
    if pre
        .diagnostics
        .iter()
        .any(calm_syntax::Diagnostic::is_error)
    {
        eprint!("{}", calm_syntax::render_all(&pre.diagnostics, &map));
        return Ok(ExitCode::from(1));
    }
    let file = pre.file;
    let dot = match calm_analyzer::dot(&map, file) {
        Ok(d) => d,
        Err(report) => {
            let reports = [*report];
            let input = calm_analyzer::output::Input {
                map: &map,
                reports: &reports,
                verbose: false,
            };
            eprint!("{}", calm_analyzer::output::human::render(&input));
            return Ok(ExitCode::from(1));
        }
    };
    let bytes = match args.format {
        Format::Dot => dot.into_bytes(),
        Format::Svg => calm_analyzer::output::svg::from_dot(&dot)?.into_bytes(),
    };
    match &args.output {
        Some(path) => std::fs::write(path, bytes)
            .with_context(|| format!("cannot write `{}`", path.display()))?,
        None => std::io::stdout()
            .write_all(&bytes)
            .context("cannot write to standard output")?,
    }
    Ok(ExitCode::SUCCESS)
}
