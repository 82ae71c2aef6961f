//! `calm fmt`: lays programs out in the canonical layout of `calm_syntax::format`.
//!
//! `calm fmt FILE...` rewrites each file that is not in the layout (a directory stands for the
//! `.dl` files under it); with no file, or `-`, it formats standard input to standard output.
//! `--check` writes nothing and lists the files that would change; `--diff` writes nothing and
//! prints a unified diff of what would change.
//!
//! Exit codes: 0 when every file is formatted (or was rewritten), 1 under `--check` or `--diff`
//! when a file would change, 2 on an error (an unreadable file, a program with errors: its
//! diagnostics are printed and the file is left as it is).

use anyhow::{Context as _, bail};
use calm_syntax::format::{FormatError, format_source};
use calm_syntax::{Diagnostic, SourceMap, render_all};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Largest file `calm fmt` reads, in bytes (the parser's limit).
const MAX_LEN: u64 = calm_syntax::MAX_SOURCE_LEN as u64;

/// Arguments of `calm fmt`.
#[derive(clap::Args)]
pub struct FmtArgs {
    /// The programs to format (a directory: the `.dl` files under it); standard input when none
    /// is given, or for `-`.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Write nothing; list the files that would change and exit 1 if any would.
    #[arg(long)]
    check: bool,
    /// Write nothing; print a unified diff of what would change and exit 1 if anything would.
    #[arg(long)]
    diff: bool,
}

/// What happened to one input.
enum Outcome {
    Unchanged,
    Changed,
    Failed,
}

pub fn run(args: FmtArgs) -> anyhow::Result<ExitCode> {
    let mut inputs = Vec::new();
    for f in &args.files {
        if f.as_os_str() != "-" && f.is_dir() {
            let mut found = Vec::new();
            dl_files(f, &mut found)
                .with_context(|| format!("cannot read the directory `{}`", f.display()))?;
            found.sort();
            inputs.extend(found);
        } else {
            inputs.push(f.clone());
        }
    }
    if args.files.is_empty() {
        inputs.push(PathBuf::from("-"));
    }
    let mut changed = false;
    let mut failed = false;
    for input in &inputs {
        let outcome = if input.as_os_str() == "-" {
            stdin(&args)
        } else {
            file(&args, input)
        };
        match outcome {
            Ok(Outcome::Unchanged) => {}
            Ok(Outcome::Changed) => changed = true,
            Ok(Outcome::Failed) => failed = true,
            Err(e) => {
                eprintln!("error: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(2)
    } else if changed && (args.check || args.diff) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The `.dl` files under `dir`, recursively (hidden directories and `target` skipped).
fn dl_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                dl_files(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "dl") {
            out.push(path);
        }
    }
    Ok(())
}

/// The text of a program read from `reader`, at most [`MAX_LEN`] bytes of UTF-8.
fn read_text(reader: impl std::io::Read, name: &str) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_LEN + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read `{name}`"))?;
    if bytes.len() as u64 > MAX_LEN {
        bail!("`{name}` is larger than {MAX_LEN} bytes");
    }
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("`{name}` is not UTF-8"))
}

/// `text` formatted, or `None` after printing why not.
fn format(name: &str, text: &str) -> Option<String> {
    match format_source(text) {
        Ok(out) => Some(out),
        Err(e) => {
            let mut map = SourceMap::new();
            let file = map.add(name, text);
            let diags = match e {
                FormatError::Syntax(diags) => diags,
                FormatError::Unformattable { message, span } => {
                    vec![Diagnostic::error(message).with_primary(file, span, "here")]
                }
            };
            eprint!("{}", render_all(&diags, &map));
            eprintln!("error: `{name}` is not formatted");
            None
        }
    }
}

fn diff(name: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(name, name)
        .to_string()
}

fn stdin(args: &FmtArgs) -> anyhow::Result<Outcome> {
    let name = "<stdin>";
    let text = read_text(std::io::stdin().lock(), name)?;
    let Some(out) = format(name, &text) else {
        return Ok(Outcome::Failed);
    };
    let changed = out != text;
    let mut stdout = std::io::stdout().lock();
    if args.diff {
        write!(stdout, "{}", diff(name, &text, &out))?;
    } else if args.check {
        if changed {
            writeln!(stdout, "would reformat: {name}")?;
        }
    } else {
        write!(stdout, "{out}")?;
    }
    stdout.flush()?;
    Ok(if changed {
        Outcome::Changed
    } else {
        Outcome::Unchanged
    })
}

fn file(args: &FmtArgs, path: &Path) -> anyhow::Result<Outcome> {
    let name = path.display().to_string();
    let f = std::fs::File::open(path).with_context(|| format!("cannot read `{name}`"))?;
    let text = read_text(f, &name)?;
    let Some(out) = format(&name, &text) else {
        return Ok(Outcome::Failed);
    };
    if out == text {
        return Ok(Outcome::Unchanged);
    }
    if args.diff {
        print!("{}", diff(&name, &text, &out));
    } else if args.check {
        println!("would reformat: {name}");
    } else {
        std::fs::write(path, &out).with_context(|| format!("cannot write `{name}`"))?;
    }
    Ok(Outcome::Changed)
}
