//! `calm graph`: the precedence graph of a program as Graphviz DOT, or rendered to SVG by `dot`.

use anyhow::{Context as _, bail};
use calm_syntax::SourceMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

/// Output formats of `calm graph`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// Graphviz DOT text.
    Dot,
    /// SVG, rendered by Graphviz's `dot` (which must be installed).
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

const INSTALL_DOT: &str = "Graphviz's `dot` is needed for --format svg: install Graphviz (Debian/Ubuntu: `apt-get install graphviz`; macOS: `brew install graphviz`; Windows: `winget install graphviz`), or print DOT with `--format dot` and render it elsewhere";

/// Renders DOT to SVG with the `dot` program.
fn svg(dot: &str) -> anyhow::Result<Vec<u8>> {
    let mut child = match Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("{INSTALL_DOT}"),
        Err(e) => return Err(e).context("cannot start `dot`"),
    };
    let mut stdin = child.stdin.take().context("no stdin for `dot`")?;
    let text = dot.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().context("waiting for `dot`")?;
    let _ = writer.join();
    if !out.status.success() {
        bail!(
            "`dot -Tsvg` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

pub fn run(args: GraphArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read `{}`", args.file.display()))?;
    let mut map = SourceMap::new();
    let file = map.add(args.file.display().to_string(), text);
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
        Format::Svg => svg(&dot)?,
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
