//! The CALM analyzer: which parts of a calm program need coordination, and why.
//!
//! The CALM theorem says a program has a consistent, coordination-free distributed
//! implementation exactly when it is monotone. This crate finds the places where a calm program
//! is not: the **points of order**, non-monotonic operations (negation, aggregation, Dedalus
//! deletion, reads of the whole cluster membership) over input that arrives asynchronously, where
//! the answer can change when a late message arrives.
//!
//! The work is split into small steps, one module each:
//!
//! - [`graph`]: the precedence graph of relations, every edge labelled (positive, negated,
//!   aggregated; same tick, `@next`, `@async`; reads of `$member`/`$self`).
//! - [`analysis`]: which relations are fed by `@async` input or by the membership, where the
//!   non-monotonic operations are, and what happens to their results (only read, or persisted,
//!   sent, or used to delete).
//! - [`seal`]: the manifest seal, the one pattern recognised as making a non-monotonic operation
//!   over asynchronous input safe.
//! - [`lints`]: one file per lint; each file's documentation is what `calm explain` prints.
//! - [`suppress`]: in-file `// calm: allow(CODE) reason` comments.
//! - [`config`]: levels (allow, warn, deny) per lint, from flags and `calm.toml`.
//! - [`output`]: human (rustc-style), JSON lines, SARIF 2.1.0, GitHub workflow commands, and
//!   Graphviz DOT for the graph.
//!
//! ```
//! use calm_analyzer::{check, Config, Level};
//! use calm_syntax::SourceMap;
//! let mut map = SourceMap::new();
//! let text = "\
//! .decl seen(at: symbol, x: number)
//! .persist seen
//! seen(@n, x)@async :- local(x), $member(n).
//! .input local
//! .output fresh
//! fresh(x) :- local(x), !seen(_, x).
//! ";
//! let file = map.add("prog.dl", text);
//! let report = check(&map, file, &Config::default());
//! // `fresh` negates facts that arrive by `@async`: a point of order. It is only read, so it
//! // converges (warn); persisting or sending it would make it order-dependent (deny).
//! assert_eq!(report.findings[0].code, "CALM001");
//! assert_eq!(report.findings[0].level, Level::Warn);
//! assert!(report.summary.coordination_free());
//! ```

pub mod analysis;
pub mod config;
pub mod graph;
pub mod lints;
pub mod output;
pub mod seal;
pub mod suppress;
pub mod threshold;

pub use config::{Config, ConfigError};
pub use lints::Lint;

use calm_syntax::{Diagnostic, FileId, Severity, SourceMap, Span, ast};

/// How a lint is treated: not reported, reported, or reported and failing the check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Not reported (shown as a note with `--verbose`).
    Allow,
    /// Reported as a warning.
    Warn,
    /// Reported as an error: `calm check` exits with 1.
    Deny,
}

impl Level {
    /// `allow`, `warn` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Allow => "allow",
            Level::Warn => "warn",
            Level::Deny => "deny",
        }
    }

    /// Parses `allow`, `warn` or `deny`.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "allow" => Some(Level::Allow),
            "warn" => Some(Level::Warn),
            "deny" => Some(Level::Deny),
            _ => None,
        }
    }

    /// The severity a finding at this level is shown with.
    pub fn severity(self) -> Severity {
        match self {
            Level::Allow => Severity::Note,
            Level::Warn => Severity::Warning,
            Level::Deny => Severity::Error,
        }
    }
}

/// One location on the path of a finding, with what happens there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The file.
    pub file: FileId,
    /// The rule (or directive) this step is about.
    pub span: Span,
    /// What happens there.
    pub message: String,
}

/// One problem found by `calm check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The stable code: `CALM001`, or a compiler code (`E0001`) for a program that does not
    /// compile.
    pub code: String,
    /// The stable kebab-case name (`non-monotonic-negation`; `compile-error` for compiler codes).
    pub name: String,
    /// The level after configuration.
    pub level: Level,
    /// The level the lint has by default for this finding.
    pub default_level: Level,
    /// The file.
    pub file: FileId,
    /// The primary location.
    pub span: Span,
    /// The text under the primary location.
    pub label: String,
    /// The one-line message.
    pub message: String,
    /// For a point of order: the chain of rules from the asynchronous (or membership) source to
    /// the non-monotonic operator, in order.
    pub path: Vec<Step>,
    /// Where the result is persisted, sent or used to delete, if it is.
    pub consequence: Option<Step>,
    /// Further explanations.
    pub notes: Vec<String>,
    /// The remedies.
    pub help: Option<String>,
    /// The reason given by the in-file suppression that silenced this finding, if one did.
    pub suppressed: Option<String>,
}

impl Finding {
    /// Whether the finding is shown (not suppressed; allowed findings only when `verbose`).
    pub fn visible(&self, verbose: bool) -> bool {
        self.suppressed.is_none() && (self.level != Level::Allow || verbose)
    }

    /// This finding as a [`Diagnostic`]: the path and the consequence become secondary labels.
    pub fn to_diagnostic(&self) -> Diagnostic {
        let mut d = Diagnostic::new(self.level.severity(), self.message.clone())
            .with_code(self.code.clone())
            .with_primary(self.file, self.span, self.label.clone());
        for step in self.path.iter().chain(self.consequence.iter()) {
            d = d.with_secondary(step.file, step.span, step.message.clone());
        }
        for n in &self.notes {
            d = d.with_note(n.clone());
        }
        if let Some(h) = &self.help {
            d = d.with_help(h.clone());
        }
        d
    }
}

/// What a program needs, in one line: see [`Summary::line`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Whether the program compiled and was analysed.
    pub analysed: bool,
    /// Errors: compile errors (then the program is not analysed) or unstratifiable cycles.
    pub errors: usize,
    /// Points of order (negation, aggregation, deletion or membership reads over asynchronous
    /// input, not sealed), suppressed ones included.
    pub points_of_order: usize,
    /// Of those, the ones whose final state depends on arrival order.
    pub order_dependent: usize,
    /// Of those, the ones silenced by an in-file suppression.
    pub suppressed: usize,
    /// Recognised manifest seals, described.
    pub seals: Vec<String>,
    /// Output relations (`.output`, `.printsize`) no point of order feeds.
    pub monotone_outputs: Vec<String>,
    /// Output relations some point of order feeds.
    pub non_monotone_outputs: Vec<String>,
}

impl Summary {
    /// Whether the program runs without coordination: analysed, and no point of order makes its
    /// final state depend on the order messages arrive in.
    pub fn coordination_free(&self) -> bool {
        self.analysed && self.errors == 0 && self.order_dependent == 0
    }

    /// The verdict: `coordination-free`, `coordination-free, but ...` or `needs coordination`.
    pub fn verdict(&self) -> String {
        if !self.analysed {
            return format!(
                "not analysed ({} error{})",
                self.errors,
                plural(self.errors)
            );
        }
        if self.errors > 0 {
            return format!(
                "cannot run: {} unstratifiable cycle{}",
                self.errors,
                plural(self.errors)
            );
        }
        let suppressed = if self.suppressed > 0 {
            format!(", {} suppressed", self.suppressed)
        } else {
            String::new()
        };
        if self.order_dependent > 0 {
            format!(
                "needs coordination ({} point{} of order{suppressed})",
                self.points_of_order,
                plural(self.points_of_order)
            )
        } else if self.points_of_order > 0 {
            format!(
                "coordination-free, but {} point{} of order may retract answers until all input has arrived{suppressed}",
                self.points_of_order,
                plural(self.points_of_order)
            )
        } else {
            "coordination-free".to_string()
        }
    }

    /// `prog.dl: coordination-free; monotone outputs: a, b`, or
    /// `prog.dl: needs coordination (2 points of order); monotone outputs: none; non-monotone: c`.
    pub fn line(&self, name: &str) -> String {
        let mut out = format!("{name}: {}", self.verdict());
        if !self.analysed {
            return out;
        }
        for s in &self.seals {
            out.push_str("; sealed: ");
            out.push_str(s);
        }
        if self.monotone_outputs.is_empty() && self.non_monotone_outputs.is_empty() {
            out.push_str("; no outputs");
            return out;
        }
        out.push_str("; monotone outputs: ");
        out.push_str(&list_or_none(&self.monotone_outputs));
        if !self.non_monotone_outputs.is_empty() {
            out.push_str("; non-monotone: ");
            out.push_str(&list_or_none(&self.non_monotone_outputs));
        }
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// The result of checking one file.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The file.
    pub file: FileId,
    /// Every finding, in source order; suppressed and allowed ones included (see
    /// [`Finding::visible`]).
    pub findings: Vec<Finding>,
    /// The summary line's contents.
    pub summary: Summary,
}

impl Report {
    /// Whether a finding at level deny remains (the check fails).
    pub fn denied(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.suppressed.is_none() && f.level == Level::Deny)
    }
}

/// A parsed and lowered program, with the compiler's diagnostics.
#[derive(Debug)]
pub struct Compiled {
    /// The file.
    pub file: FileId,
    /// The syntax tree (for item spans and directive spans).
    pub ast: ast::Program,
    /// The checked program; complete only when [`Compiled::complete`].
    pub ir: calm_ir::Program,
    /// Syntax and IR diagnostics.
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    /// Parses and lowers file `file` of `map`.
    pub fn new(map: &SourceMap, file: FileId) -> Compiled {
        let parsed = calm_syntax::parse(file, &map.get(file).text);
        let mut diagnostics = parsed.diagnostics;
        let (ir, more) = calm_ir::lower(&parsed.program, file);
        diagnostics.extend(more);
        Compiled {
            file,
            ast: parsed.program,
            ir,
            diagnostics,
        }
    }

    /// Whether the IR can be analysed: no error other than an unstratifiable cycle (which the
    /// analyzer reports itself as `CALM005`; the rest of the IR is complete then).
    pub fn complete(&self) -> bool {
        !self
            .diagnostics
            .iter()
            .any(|d| d.is_error() && d.code.as_deref() != Some(calm_ir::codes::UNSTRATIFIABLE))
    }
}

/// Checks file `file` of `map`: compiles it, runs every lint, applies in-file suppressions and
/// the levels of `config`.
pub fn check(map: &SourceMap, file: FileId, config: &Config) -> Report {
    check_compiled(map, &Compiled::new(map, file), config)
}

/// [`check`] of a program already compiled from its file in `map` (which the suppressions are
/// read from): for callers that also use the [`Compiled`] program, so that it is parsed and
/// lowered once.
pub fn check_compiled(map: &SourceMap, compiled: &Compiled, config: &Config) -> Report {
    let file = compiled.file;
    let mut findings = Vec::new();
    let mut summary = Summary::default();
    for d in &compiled.diagnostics {
        if d.code.as_deref() == Some(calm_ir::codes::UNSTRATIFIABLE) {
            continue;
        }
        findings.push(compile_finding(file, d));
    }
    let mut analysis = None;
    if compiled.complete() {
        let a = analysis::Analysis::new(compiled);
        lints::run(&a, compiled, &mut findings);
        analysis = Some(a);
    } else {
        summary.errors = compiled.diagnostics.iter().filter(|d| d.is_error()).count();
    }
    for f in &mut findings {
        f.level = config.resolve(&f.code, f.default_level);
    }
    let suppressions = suppress::scan(&map.get(file).text, &compiled.ast);
    let problems = suppress::apply(file, &suppressions, &mut findings);
    for mut p in problems {
        p.level = config.resolve(&p.code, p.default_level);
        findings.push(p);
    }
    findings.sort_by(|a, b| (a.span.start, &a.code).cmp(&(b.span.start, &b.code)));
    if let Some(a) = &analysis {
        summary = a.summary(&findings);
        summary.errors = findings
            .iter()
            .filter(|f| f.code == lints::UNSTRATIFIABLE.code)
            .count();
    }
    Report {
        file,
        findings,
        summary,
    }
}

/// The precedence graph of file `file` of `map` as Graphviz DOT (see [`output::dot`]), or, when
/// the program does not compile, the report of its errors.
pub fn dot(map: &SourceMap, file: FileId) -> Result<String, Box<Report>> {
    let compiled = Compiled::new(map, file);
    if !compiled.complete() {
        return Err(Box::new(check(map, file, &Config::default())));
    }
    let a = analysis::Analysis::new(&compiled);
    Ok(output::dot::render(&a, &map.get(file).name))
}

/// A compiler diagnostic as a finding (errors deny, warnings warn).
fn compile_finding(file: FileId, d: &Diagnostic) -> Finding {
    let (level, name) = match d.severity {
        Severity::Error => (Level::Deny, "compile-error"),
        Severity::Warning => (Level::Warn, "compile-warning"),
        Severity::Note => (Level::Allow, "compile-note"),
    };
    let (span, label) = match &d.primary {
        Some(l) => (l.span, l.message.clone()),
        None => (Span::default(), String::new()),
    };
    Finding {
        code: d.code.clone().unwrap_or_else(|| "E0000".to_string()),
        name: name.to_string(),
        level,
        default_level: level,
        file,
        span,
        label,
        message: d.message.clone(),
        path: d
            .secondary
            .iter()
            .map(|l| Step {
                file: l.file,
                span: l.span,
                message: l.message.clone(),
            })
            .collect(),
        consequence: None,
        notes: d.notes.clone(),
        help: d.help.clone(),
        suppressed: None,
    }
}
