//! `calm-bench souffle-suite PATH`: runs the cases of a local checkout of Souffle's test suite
//! (`tests/{evaluation,example,semantic,syntactic}`) against `calm run`, the way Souffle's own
//! harness runs them, and prints how many pass per suite.
//!
//! Souffle's files are read from `PATH` only; nothing of them is kept. Each case is a directory
//! `tests/<suite>/<name>/` holding `<name>.dl`, an optional `facts/` directory and the expected
//! `.csv` outputs; the suite's `CMakeLists.txt` says which cases exist and whether each is
//! positive (must run and produce the expected outputs) or negative (must be rejected). A case is
//! run as `calm run <name>.dl -F <case>/facts -D <fresh dir>` in that fresh directory, and its
//! outputs are compared with the expected files as sets of rows.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;

/// The suites, in the order they are reported.
const SUITES: [&str; 4] = ["evaluation", "example", "semantic", "syntactic"];

/// Command-line options of `calm-bench souffle-suite`.
#[derive(Debug, Parser)]
#[command(
    name = "calm-bench souffle-suite",
    about = "Runs Souffle's test suite (from a local checkout) against `calm run`"
)]
pub struct SuiteOptions {
    /// The root of a Souffle checkout (the directory holding `tests/`).
    pub souffle: PathBuf,
    /// The `calm` binary [default: `calm` next to this executable].
    #[arg(long, value_name = "FILE")]
    pub calm: Option<PathBuf>,
    /// Suites to run (evaluation, example, semantic, syntactic); all by default.
    #[arg(long, value_delimiter = ',', value_name = "SUITE")]
    pub suites: Vec<String>,
    /// Only run the cases whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Seconds after which a case is killed and counted as a timeout.
    #[arg(long, default_value_t = 20)]
    pub timeout: u64,
    /// Print every case with its outcome, not only the wrong ones.
    #[arg(long)]
    pub verbose: bool,
    /// How many of the most frequent rejection reasons to list.
    #[arg(long, default_value_t = 25)]
    pub reasons: usize,
}

/// Entry point; `args` includes the program name.
pub fn main_with_args(args: Vec<OsString>) -> ExitCode {
    let options = match SuiteOptions::try_parse_from(args) {
        Ok(options) => options,
        Err(err) => err.exit(),
    };
    match run(&options) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("calm-bench souffle-suite: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether a case must run or must be rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    /// Must run and produce the expected outputs.
    Positive,
    /// Must be rejected.
    Negative,
}

/// One case: a program, its facts directory and the directory of its expected outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// `evaluation`, `example`, `semantic` or `syntactic`.
    pub suite: String,
    /// `name`, or `name/facts_dir` for Souffle's multi-tests.
    pub name: String,
    /// The `.dl` file.
    pub program: PathBuf,
    /// The directory given to `-F`.
    pub facts: PathBuf,
    /// The directory holding the expected `.csv` files and Souffle's `.err`.
    pub expected: PathBuf,
    /// Positive or negative.
    pub polarity: Polarity,
    /// Run with `-D -`: the expected output is standard output (`<name>.out`), not `.csv` files.
    pub stdout: bool,
    /// Include directories (`INCLUDE_DIRS` of `souffle_run_test`), given as `-I`.
    pub include_dirs: Vec<PathBuf>,
}

/// What happened to a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Positive: ran and produced exactly the expected rows. Negative: rejected, and a
    /// diagnostic points at a line Souffle's expected error output names too.
    Pass,
    /// Rejected with a diagnostic (the first line of the first error). For a negative case,
    /// rejected for some other reason than the one Souffle gives.
    Rejected(String),
    /// A positive case ran to completion with other rows than expected.
    Wrong(String),
    /// A negative case was accepted (calm is more permissive than Souffle there, or misses an
    /// error).
    Accepted,
    /// Killed after the timeout.
    Timeout,
    /// Killed by a signal, an exit code other than 0 and 1, or a panic.
    Crash(String),
}

impl Outcome {
    fn column(&self) -> usize {
        match self {
            Outcome::Pass => 0,
            Outcome::Rejected(_) => 1,
            Outcome::Wrong(_) => 2,
            Outcome::Accepted => 3,
            Outcome::Timeout => 4,
            Outcome::Crash(_) => 5,
        }
    }
}

/// Reads a suite's `CMakeLists.txt` and lists its cases.
pub fn discover(root: &Path, suite: &str) -> Result<Vec<Case>> {
    let dir = root.join("tests").join(suite);
    let cmake = dir.join("CMakeLists.txt");
    let text =
        std::fs::read_to_string(&cmake).with_context(|| format!("reading {}", cmake.display()))?;
    Ok(parse_cmake(&dir, suite, &text))
}

/// The cases a suite's `CMakeLists.txt` declares (commented-out lines are skipped; cases
/// inside `if (...)` blocks are kept, as they run on Linux with Souffle's default options).
pub fn parse_cmake(dir: &Path, suite: &str, text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut seen = BTreeSet::new();
    // A call may span lines: join them until its parentheses close.
    let mut calls = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if !pending.is_empty() {
            pending.push(' ');
        }
        pending.push_str(line);
        if pending.matches('(').count() <= pending.matches(')').count() {
            calls.push(std::mem::take(&mut pending));
        }
    }
    for line in &calls {
        let Some((function, args)) = line.split_once('(') else {
            continue;
        };
        let args: Vec<&str> = args
            .trim_end_matches(')')
            .split_whitespace()
            .filter(|a| !a.starts_with('$'))
            .collect();
        let function = function.trim().to_ascii_lowercase();
        let stdout = function == "positive_output_stdout_test";
        let (polarity, name, facts_dirs) = match function.as_str() {
            "positive_test" | "positive_output_stdout_test" => {
                (Polarity::Positive, args.first().copied(), Vec::new())
            }
            "souffle_positive_functor_test" => {
                (Polarity::Positive, args.first().copied(), Vec::new())
            }
            "negative_test" => (Polarity::Negative, args.first().copied(), Vec::new()),
            "souffle_run_test" => {
                let polarity = if args.contains(&"NEGATIVE") {
                    Polarity::Negative
                } else {
                    Polarity::Positive
                };
                (polarity, keyword(&args, "TEST_NAME"), Vec::new())
            }
            "souffle_positive_multi_test" => {
                let dirs = args
                    .iter()
                    .skip_while(|a| **a != "FACTS_DIR_NAMES")
                    .skip(1)
                    .copied()
                    .collect();
                (Polarity::Positive, keyword(&args, "TEST_NAME"), dirs)
            }
            _ => continue,
        };
        let Some(name) = name else { continue };
        let case_dir = dir.join(name);
        let include_dirs: Vec<PathBuf> = args
            .iter()
            .skip_while(|a| **a != "INCLUDE_DIRS")
            .skip(1)
            .take_while(|a| !a.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .map(|d| case_dir.join(d))
            .collect();
        let program = case_dir.join(format!("{name}.dl"));
        if facts_dirs.is_empty() {
            if seen.insert(name.to_owned()) {
                cases.push(Case {
                    suite: suite.to_owned(),
                    name: name.to_owned(),
                    program,
                    facts: case_dir.join("facts"),
                    expected: case_dir.clone(),
                    polarity,
                    stdout,
                    include_dirs: include_dirs.clone(),
                });
            }
        } else {
            for facts_dir in facts_dirs {
                let full = format!("{name}/{facts_dir}");
                if seen.insert(full.clone()) {
                    cases.push(Case {
                        suite: suite.to_owned(),
                        name: full,
                        program: program.clone(),
                        facts: case_dir.join(facts_dir),
                        expected: case_dir.join(facts_dir),
                        polarity,
                        stdout,
                        include_dirs: include_dirs.clone(),
                    });
                }
            }
        }
    }
    cases
}

fn keyword<'a>(args: &[&'a str], key: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| *a == key)
        .and_then(|i| args.get(i + 1).copied())
}

/// Runs the selected suites and returns the report text.
pub fn run(options: &SuiteOptions) -> Result<String> {
    let calm = match &options.calm {
        Some(calm) => calm.clone(),
        None => super::default_bin_dir()?.join("calm"),
    };
    if !calm.is_file() {
        bail!(
            "no calm binary at {} (build it: cargo build --release -p calm-cli, or pass --calm)",
            calm.display()
        );
    }
    // Cases run in a directory of their own: every path must be absolute.
    let calm =
        std::fs::canonicalize(&calm).with_context(|| format!("resolving {}", calm.display()))?;
    let root = std::fs::canonicalize(&options.souffle)
        .with_context(|| format!("resolving {}", options.souffle.display()))?;
    let suites: Vec<&str> = if options.suites.is_empty() {
        SUITES.to_vec()
    } else {
        for suite in &options.suites {
            if !SUITES.contains(&suite.as_str()) {
                bail!(
                    "unknown suite `{suite}` (expected one of {})",
                    SUITES.join(", ")
                );
            }
        }
        SUITES
            .iter()
            .copied()
            .filter(|s| options.suites.iter().any(|o| o == s))
            .collect()
    };
    let timeout = Duration::from_secs(options.timeout);
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let mut report = String::new();
    let mut table = String::new();
    let _ = writeln!(
        table,
        "| suite | polarity | cases | pass | rejected | wrong | accepted | timeout | crash |"
    );
    let _ = writeln!(table, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut notable = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for suite in suites {
        let cases = discover(&root, suite)?;
        let mut counts: BTreeMap<&'static str, [usize; 6]> = BTreeMap::new();
        for (i, case) in cases.iter().enumerate() {
            if options
                .filter
                .as_ref()
                .is_some_and(|f| !case.name.contains(f.as_str()))
            {
                continue;
            }
            let out = scratch.path().join(format!("{suite}-{i}"));
            let outcome = run_case(&calm, case, &out, timeout)?;
            let polarity = match case.polarity {
                Polarity::Positive => "positive",
                Polarity::Negative => "negative",
            };
            counts.entry(polarity).or_default()[outcome.column()] += 1;
            let label = format!("{suite}/{} ({polarity})", case.name);
            if let Outcome::Rejected(reason) = &outcome {
                *reasons.entry(reason.clone()).or_default() += 1;
            }
            match &outcome {
                Outcome::Wrong(why) => notable.push(format!("wrong    {label}: {why}")),
                Outcome::Accepted => notable.push(format!("accepted {label}")),
                Outcome::Crash(why) => notable.push(format!("crash    {label}: {why}")),
                Outcome::Timeout => notable.push(format!("timeout  {label}")),
                Outcome::Rejected(why) if options.verbose => {
                    notable.push(format!("rejected {label}: {why}"))
                }
                Outcome::Pass if options.verbose => notable.push(format!("pass     {label}")),
                _ => {}
            }
            let _ = std::fs::remove_dir_all(&out);
        }
        for (polarity, c) in counts {
            let total: usize = c.iter().sum();
            let _ = writeln!(
                table,
                "| {suite} | {polarity} | {total} | {} | {} | {} | {} | {} | {} |",
                c[0], c[1], c[2], c[3], c[4], c[5]
            );
        }
    }
    let _ = writeln!(report, "{table}");
    let _ = writeln!(
        report,
        "pass: positive cases with exactly the expected rows; negative cases rejected with a \
         diagnostic on a line Souffle's expected errors name.\nrejected: an error diagnostic \
         (for negative cases: on other lines than Souffle's). wrong: a positive case ran with \
         other outputs. accepted: a negative case ran.\n"
    );
    if !notable.is_empty() {
        let _ = writeln!(report, "Cases:");
        for line in &notable {
            let _ = writeln!(report, "  {line}");
        }
        let _ = writeln!(report);
    }
    let mut reasons: Vec<(String, usize)> = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if !reasons.is_empty() {
        let _ = writeln!(report, "Most frequent first errors of rejected cases:");
        for (reason, n) in reasons.iter().take(options.reasons) {
            let _ = writeln!(report, "  {n:4}  {reason}");
        }
    }
    Ok(report)
}

/// The bytes kept of a child's standard error.
const STDERR_LIMIT: usize = 1 << 20;

/// Runs one case in `out` (created fresh) and classifies the result.
pub fn run_case(calm: &Path, case: &Case, out: &Path, timeout: Duration) -> Result<Outcome> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let stderr_path = out.join(".calm-stderr");
    let stderr_file = std::fs::File::create(&stderr_path)
        .with_context(|| format!("creating {}", stderr_path.display()))?;
    let stdout_path = out.join(".calm-stdout");
    let stdout_file = std::fs::File::create(&stdout_path)
        .with_context(|| format!("creating {}", stdout_path.display()))?;
    let mut child = Command::new(calm)
        .arg("run")
        .arg(&case.program)
        .arg("-F")
        .arg(&case.facts)
        .arg("-D")
        .arg(if case.stdout { Path::new("-") } else { out })
        .args(
            case.include_dirs
                .iter()
                .flat_map(|d| [Path::new("-I"), d.as_path()]),
        )
        .current_dir(out)
        .stdin(Stdio::null())
        .stdout(stdout_file)
        .stderr(stderr_file)
        .spawn()
        .with_context(|| format!("starting {}", calm.display()))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait().context("waiting for calm")? {
            Some(status) => break status,
            None if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Outcome::Timeout);
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let mut stderr = Vec::new();
    if let Ok(file) = std::fs::File::open(&stderr_path) {
        let _ = file.take(STDERR_LIMIT as u64).read_to_end(&mut stderr);
    }
    let _ = std::fs::remove_file(&stderr_path);
    let stderr = String::from_utf8_lossy(&stderr);
    if stderr.contains("panicked at") {
        return Ok(Outcome::Crash(first_line_containing(
            &stderr,
            "panicked at",
        )));
    }
    match status.code() {
        Some(0) => Ok(match case.polarity {
            Polarity::Positive if case.stdout => {
                let want = case.expected.join(format!("{}.out", case_stem(case)));
                if rows(&want)? == rows(&stdout_path)? {
                    Outcome::Pass
                } else {
                    Outcome::Wrong("standard output differs".to_owned())
                }
            }
            Polarity::Positive => compare_outputs(&case.expected, out)?,
            Polarity::Negative => Outcome::Accepted,
        }),
        Some(1) => {
            let Some(reason) = first_error(&stderr) else {
                return Ok(Outcome::Crash(format!(
                    "exit 1 without a diagnostic: {}",
                    stderr.lines().next().unwrap_or("")
                )));
            };
            if case.polarity == Polarity::Negative {
                let souffle_err = case
                    .expected
                    .join(format!("{}.err", case_stem(case)))
                    .to_path_buf();
                let expected_lines = std::fs::read_to_string(&souffle_err)
                    .map(|t| souffle_error_lines(&t))
                    .unwrap_or_default();
                let ours = calm_error_lines(&stderr, &case.program);
                if expected_lines.is_empty() || !expected_lines.is_disjoint(&ours) {
                    return Ok(Outcome::Pass);
                }
            }
            Ok(Outcome::Rejected(reason))
        }
        Some(code) => Ok(Outcome::Crash(format!("exit code {code}"))),
        None => Ok(Outcome::Crash("killed by a signal".to_owned())),
    }
}

/// The file stem of a case's program.
fn case_stem(case: &Case) -> String {
    case.program
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn first_line_containing(text: &str, needle: &str) -> String {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// The first line of the first `error[...]` diagnostic, with quoted names elided so that the
/// same reason in different programs counts once (kept when the line says what is not
/// supported: they name the construct).
pub fn first_error(stderr: &str) -> Option<String> {
    let line = stderr.lines().find(|l| l.starts_with("error"))?;
    if line.contains("not supported") {
        return Some(line.to_owned());
    }
    let mut out = String::new();
    let mut in_quote = false;
    for c in line.chars() {
        if c == '`' {
            if in_quote {
                out.push_str("…`");
            } else {
                out.push('`');
            }
            in_quote = !in_quote;
        } else if !in_quote {
            out.push(c);
        }
    }
    Some(out)
}

/// The line numbers Souffle's expected error output names (`... at line N`).
pub fn souffle_error_lines(err: &str) -> BTreeSet<u64> {
    let mut lines = BTreeSet::new();
    for line in err.lines() {
        if !line.starts_with("Error") {
            continue;
        }
        if let Some((_, rest)) = line.rsplit_once(" at line ") {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse() {
                lines.insert(n);
            }
        }
    }
    lines
}

/// The line numbers of the program that calm's error diagnostics point at (`--> file:L:C`
/// lines that follow an `error` line).
pub fn calm_error_lines(stderr: &str, program: &Path) -> BTreeSet<u64> {
    let program = program.to_string_lossy();
    let mut lines = BTreeSet::new();
    let mut in_error = false;
    for line in stderr.lines() {
        if line.starts_with("error") {
            in_error = true;
        } else if line.starts_with("warning") {
            in_error = false;
        }
        let Some(location) = line.trim_start().strip_prefix("--> ") else {
            continue;
        };
        if !in_error {
            continue;
        }
        let Some(rest) = location.strip_prefix(program.as_ref()) else {
            continue;
        };
        let mut parts = rest.trim_start_matches(':').split(':');
        if let Some(Ok(n)) = parts.next().map(str::parse) {
            lines.insert(n);
        }
    }
    lines
}

/// Compares the `.csv` files of `expected` (Souffle's expected outputs) with those calm wrote
/// to `out`, each as a set of rows, and the two sets of file names.
pub fn compare_outputs(expected: &Path, out: &Path) -> Result<Outcome> {
    let want = csv_files(expected)?;
    let got = csv_files(out)?;
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    if !missing.is_empty() {
        return Ok(Outcome::Wrong(format!("no output {}", join(&missing))));
    }
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    if !extra.is_empty() {
        return Ok(Outcome::Wrong(format!(
            "unexpected output {}",
            join(&extra)
        )));
    }
    let mut differing = Vec::new();
    for (name, path) in &want {
        let want_rows = rows(path)?;
        let got_rows = rows(&got[name])?;
        if want_rows != got_rows {
            let missing = want_rows.difference(&got_rows).count();
            let extra = got_rows.difference(&want_rows).count();
            let example = want_rows
                .difference(&got_rows)
                .next()
                .map(|r| format!(", e.g. missing `{r}`"))
                .or_else(|| {
                    got_rows
                        .difference(&want_rows)
                        .next()
                        .map(|r| format!(", e.g. extra `{r}`"))
                })
                .unwrap_or_default();
            differing.push(format!("{name} (-{missing} +{extra}{example})"));
        }
    }
    if differing.is_empty() {
        Ok(Outcome::Pass)
    } else {
        Ok(Outcome::Wrong(differing.join(", ")))
    }
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `.csv` files directly in `dir`, by name.
fn csv_files(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut files = BTreeMap::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let path = entry.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "csv") {
            files.insert(entry.file_name().to_string_lossy().into_owned(), path);
        }
    }
    Ok(files)
}

/// A file's lines as a set (a trailing `\r` dropped; empty lines kept only if they are not
/// the end of the file).
fn rows(path: &Path) -> Result<BTreeSet<String>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_of_cmake_lists() {
        let text = "\
function(POSITIVE_TEST NAME)
    souffle_positive_test(${NAME} evaluation ${ARGN})
endfunction()
positive_test(alpha)
# positive_test(commented)
positive_output_stdout_test(eta)
negative_test(beta)
positive_test(gamma COMPILED_SPLITTED)
if (SOUFFLE_USE_ZLIB)
    souffle_run_test(TEST_NAME delta CATEGORY semantic EXTRA_DATA gzip)
endif()
souffle_positive_multi_test(TEST_NAME eps CATEGORY example FACTS_DIR_NAMES one two)
souffle_positive_functor_test(zeta CATEGORY evaluation)
positive_test(alpha)
souffle_run_test(
  TEST_NAME theta
  CATEGORY syntactic
  INCLUDE_DIRS q1 q2
  NO_PREPROCESSOR
  )
souffle_run_test(TEST_NAME iota CATEGORY syntactic NEGATIVE)
";
        let cases = parse_cmake(Path::new("/s/tests/x"), "x", text);
        let names: Vec<(&str, Polarity)> = cases
            .iter()
            .map(|c| (c.name.as_str(), c.polarity))
            .collect();
        assert_eq!(
            names,
            vec![
                ("alpha", Polarity::Positive),
                ("eta", Polarity::Positive),
                ("beta", Polarity::Negative),
                ("gamma", Polarity::Positive),
                ("delta", Polarity::Positive),
                ("eps/one", Polarity::Positive),
                ("eps/two", Polarity::Positive),
                ("zeta", Polarity::Positive),
                ("theta", Polarity::Positive),
                ("iota", Polarity::Negative),
            ]
        );
        assert_eq!(
            cases[8].include_dirs,
            vec![
                PathBuf::from("/s/tests/x/theta/q1"),
                PathBuf::from("/s/tests/x/theta/q2")
            ]
        );
        assert!(cases[0].include_dirs.is_empty());
        assert!(cases[1].stdout && !cases[0].stdout);
        let eps = &cases[5];
        assert_eq!(eps.program, Path::new("/s/tests/x/eps/eps.dl"));
        assert_eq!(eps.facts, Path::new("/s/tests/x/eps/one"));
        assert_eq!(cases[0].facts, Path::new("/s/tests/x/alpha/facts"));
    }

    #[test]
    fn reads_error_lines_of_both_sides() {
        let souffle = "Error: Ungrounded variable X in file a.dl at line 10\nr(X).\n\
                       Warning: Variable Y only occurs once in file a.dl at line 12\n\
                       Error: Unable to deduce type for variable Y in file a.dl at line 11\n";
        assert_eq!(souffle_error_lines(souffle), BTreeSet::from([10, 11]));
        let calm = "warning[W0100]: x\n  --> /p/a.dl:3:1\nerror[E0200]: variable `X` is \
                    not bound\n  --> /p/a.dl:10:20\n  --> /p/other.dl:11:1\n";
        assert_eq!(
            calm_error_lines(calm, Path::new("/p/a.dl")),
            BTreeSet::from([10])
        );
        assert_eq!(
            first_error(calm).as_deref(),
            Some("error[E0200]: variable `…` is not bound")
        );
    }

    #[test]
    fn compares_outputs_as_sets_of_rows() {
        let want = tempfile::tempdir().unwrap();
        let got = tempfile::tempdir().unwrap();
        std::fs::write(want.path().join("r.csv"), "1\ta\n2\tb\n").unwrap();
        std::fs::create_dir(want.path().join("facts")).unwrap();
        std::fs::write(got.path().join("r.csv"), "2\tb\n1\ta\n").unwrap();
        assert_eq!(
            compare_outputs(want.path(), got.path()).unwrap(),
            Outcome::Pass
        );
        std::fs::write(got.path().join("r.csv"), "2\tb\n").unwrap();
        assert!(matches!(
            compare_outputs(want.path(), got.path()).unwrap(),
            Outcome::Wrong(why) if why.contains("missing `1\ta`")
        ));
        std::fs::write(got.path().join("r.csv"), "1\ta\n2\tb\n").unwrap();
        std::fs::write(got.path().join("s.csv"), "").unwrap();
        assert!(matches!(
            compare_outputs(want.path(), got.path()).unwrap(),
            Outcome::Wrong(why) if why.contains("unexpected output s.csv")
        ));
    }
}
