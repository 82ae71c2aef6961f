//! The public API: [`Program`] (compiled once) and [`Engine`] (a database plus the tick loop).

use crate::eval::{Db, RuleError, eval_stratum, eval_temporal};
use crate::incr::{FullTick, Incr, Row, TickError, builtin_rows};
use crate::index::Word;
use crate::plan::{StratumPlan, plan_stratum, plan_temporal};
use crate::value::{Interner, Value};
use calm_ir::{Builtin, Time, Type};
use calm_syntax::{Diagnostic, FileId, SourceMap};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A program that failed to compile: its diagnostics and the sources they point into.
#[derive(Debug)]
pub struct CompileError {
    /// Errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// The files the diagnostics point into.
    pub sources: SourceMap,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&calm_syntax::render_all(&self.diagnostics, &self.sources))
    }
}

impl std::error::Error for CompileError {}

/// Errors while loading facts or evaluating.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No relation of that name.
    #[error("unknown relation `{0}`")]
    UnknownRelation(String),
    /// A tuple with the wrong number of values.
    #[error("relation `{relation}` has {expected} columns, got a tuple with {got}")]
    Arity {
        /// The relation.
        relation: String,
        /// Its arity.
        expected: usize,
        /// The tuple's length.
        got: usize,
    },
    /// A value of the wrong type.
    #[error("column {column} of `{relation}` is a {expected}, got `{got}`")]
    Type {
        /// The relation.
        relation: String,
        /// 1-based column.
        column: usize,
        /// The column's type.
        expected: &'static str,
        /// The offending value.
        got: String,
    },
    /// A fact cannot be inserted into a built-in relation.
    #[error("`{0}` is built-in and cannot be inserted into")]
    Builtin(String),
    /// A rule failed at run time (division by zero, overflow); rendered with the rule's location.
    #[error("{}", .0.message)]
    Runtime(Box<Diagnostic>),
    /// The tick limit was reached before quiescence.
    #[error("no quiescence after {0} ticks")]
    NoQuiescence(u64),
    /// A problem reading or writing fact files, with its location when there is one.
    #[error("{}", .0.message)]
    Data(Box<Diagnostic>),
    /// An I/O failure.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl EngineError {
    /// The diagnostic form of the error, for rustc-style rendering.
    pub fn diagnostic(&self) -> Diagnostic {
        match self {
            EngineError::Runtime(d) | EngineError::Data(d) => (**d).clone(),
            other => Diagnostic::error(other.to_string()),
        }
    }
}

/// A compiled program: checked, stratified and planned. Cheap to clone.
///
/// ```
/// let err = calm_engine::Program::compile("bad.dl", "p(x) :- q(y).").unwrap_err();
/// assert!(err.to_string().contains("not bound"));
/// ```
#[derive(Clone)]
pub struct Program {
    inner: Arc<Compiled>,
}

struct Compiled {
    ir: calm_ir::Program,
    strata: Vec<StratumPlan>,
    temporal: StratumPlan,
    interner: Interner,
    /// Program facts, encoded, per relation.
    facts: Vec<Vec<Word>>,
    /// Relations whose facts are state that changes over time (`.persist`, or the head of an
    /// `@next` rule): their given facts are the initial state at tick 0. Facts of every other
    /// relation hold at every tick, as in Souffle.
    stateful: Vec<bool>,
    sources: SourceMap,
    file: FileId,
    warnings: Vec<Diagnostic>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("relations", &self.inner.ir.relations.len())
            .field("rules", &self.inner.ir.rules.len())
            .finish()
    }
}

fn width(arity: usize) -> usize {
    arity.max(1)
}

/// Sorts flat rows of `w` words and removes duplicates, without allocating per row.
fn sort_rows(rows: Vec<Word>, w: usize) -> Vec<Word> {
    let n = rows.len() / w;
    let row = |i: usize| &rows[i * w..(i + 1) * w];
    if (1..n).all(|i| row(i - 1) < row(i)) {
        return rows;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| row(a).cmp(row(b)));
    order.dedup_by(|a, b| row(*a) == row(*b));
    let mut out = Vec::with_capacity(order.len() * w);
    for i in order {
        out.extend_from_slice(row(i));
    }
    out
}

impl Program {
    /// Preprocesses (macros and conditionals; `#include` is an error, as the text has no file
    /// around it), parses, checks and plans a program. Warnings are kept in
    /// [`Program::warnings`].
    pub fn compile(name: &str, source: &str) -> Result<Program, CompileError> {
        let mut sources = SourceMap::new();
        let file = sources.add(name, source);
        let options = calm_syntax::PreprocessOptions::default();
        Self::compile_file(sources, file, &options, &mut calm_syntax::NoFiles)
    }

    /// Preprocesses file `file` of `sources` (its includes read through `loader`), then
    /// compiles it as [`Program::compile_in`] does.
    pub fn compile_file(
        mut sources: SourceMap,
        file: FileId,
        options: &calm_syntax::PreprocessOptions,
        loader: &mut dyn calm_syntax::FileLoader,
    ) -> Result<Program, CompileError> {
        let pre = calm_syntax::preprocess(&mut sources, file, options, loader);
        if pre.diagnostics.iter().any(Diagnostic::is_error) {
            return Err(CompileError {
                diagnostics: pre.diagnostics,
                sources,
            });
        }
        Self::compile_with(sources, pre.file, pre.diagnostics)
    }

    /// Compiles file `file` of `sources` as it is (not preprocessed).
    pub fn compile_in(sources: SourceMap, file: FileId) -> Result<Program, CompileError> {
        Self::compile_with(sources, file, Vec::new())
    }

    fn compile_with(
        sources: SourceMap,
        file: FileId,
        earlier: Vec<Diagnostic>,
    ) -> Result<Program, CompileError> {
        let parsed = calm_syntax::parse(file, &sources.get(file).text);
        let mut diagnostics = earlier;
        diagnostics.extend(parsed.diagnostics);
        let (ir, more) = calm_ir::lower(&parsed.program, file);
        diagnostics.extend(more);
        if diagnostics.iter().any(Diagnostic::is_error) {
            return Err(CompileError {
                diagnostics,
                sources,
            });
        }
        let mut interner = Interner::default();
        let strata = (0..ir.strata.len())
            .map(|i| plan_stratum(&ir, i, &mut interner))
            .collect();
        let temporal = plan_temporal(&ir, &mut interner);
        let mut facts = vec![Vec::new(); ir.relations.len()];
        for f in &ir.facts {
            let row = &mut facts[f.rel];
            if f.values.is_empty() {
                row.push(0);
            }
            for v in &f.values {
                row.push(interner.const_word(v));
            }
        }
        let mut stateful: Vec<bool> = ir.relations.iter().map(|r| r.persist).collect();
        for r in &ir.rules {
            if r.time == Time::Next {
                stateful[r.head] = true;
            }
        }
        Ok(Program {
            inner: Arc::new(Compiled {
                stateful,
                ir,
                strata,
                temporal,
                interner,
                facts,
                sources,
                file,
                warnings: diagnostics,
            }),
        })
    }

    /// Checks that `tuple` could be given to `relation` (it exists, is not built-in, and the
    /// arity and types match) without changing anything.
    pub fn check(&self, relation: &str, tuple: &[Value]) -> Result<(), EngineError> {
        let ir = &self.inner.ir;
        let rel = ir
            .relation(relation)
            .filter(|&r| ir.relations[r].builtin != Some(Builtin::Auxiliary))
            .ok_or_else(|| EngineError::UnknownRelation(relation.to_string()))?;
        let info = &ir.relations[rel];
        if info.builtin.is_some() {
            return Err(EngineError::Builtin(relation.to_string()));
        }
        if tuple.len() != info.arity {
            return Err(EngineError::Arity {
                relation: info.name.clone(),
                expected: info.arity,
                got: tuple.len(),
            });
        }
        for (i, (v, ty)) in tuple.iter().zip(&info.types).enumerate() {
            let ok = match (v, ty) {
                (Value::Number(_), Type::Number)
                | (Value::Symbol(_), Type::Symbol)
                | (Value::Unsigned(_), Type::Unsigned)
                | (Value::Float(_), Type::Float) => true,
                (Value::Symbol(s), Type::Record(_)) => {
                    crate::record::parse(ir, *ty, s, &mut crate::record::DryRun).is_ok()
                }
                _ => false,
            };
            if !ok {
                return Err(EngineError::Type {
                    relation: info.name.clone(),
                    column: i + 1,
                    expected: ty.as_str(),
                    got: v.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The checked IR.
    pub fn ir(&self) -> &calm_ir::Program {
        &self.inner.ir
    }

    /// Warnings found while compiling.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.inner.warnings
    }

    /// The program's file in [`Program::sources`].
    pub fn file(&self) -> FileId {
        self.inner.file
    }

    /// The sources diagnostics point into.
    pub fn sources(&self) -> &SourceMap {
        &self.inner.sources
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Ticks executed.
    pub ticks: u64,
    /// `@async` facts addressed to other nodes, which batch mode cannot deliver: per destination
    /// and relation, how many distinct facts.
    pub undeliverable: BTreeMap<(String, String), usize>,
}

/// An evaluation of a program over a database: facts go in, [`Engine::run`] executes ticks until
/// quiescence, relations come out.
pub struct Engine {
    program: Program,
    interner: Interner,
    /// Facts given to the engine (see `Compiled::stateful` for when they hold).
    base: Vec<Vec<Word>>,
    node: String,
    members: Vec<String>,
    max_ticks: u64,
    db: Db,
    /// Facts carried into the next tick, per relation, as sorted flat rows (`None` before the
    /// first tick).
    carry: Option<Vec<Vec<Word>>>,
    ticks: u64,
    /// The state between incremental ticks (from the second tick after a start or restore on).
    incr: Option<Incr>,
    /// What the last fully evaluated tick needs kept to start incremental ticks from it.
    last_full: Option<LastFull>,
    /// Evaluate every tick in full (for differential tests).
    full_ticks: bool,
}

/// The parts of a fully evaluated tick's input and output that its database does not hold.
struct LastFull {
    /// Facts that were input for that tick only (carried in, arrived), flat per relation.
    once: Vec<Vec<Word>>,
    /// The temporal rules' head rows.
    produced: Vec<(calm_ir::RuleId, Vec<Word>)>,
}

/// Splits flat rows of a relation of `arity` columns into rows (a zero-column row is empty).
fn split_rows(flat: &[Word], arity: usize) -> Vec<Row> {
    if arity == 0 {
        return if flat.is_empty() {
            Vec::new()
        } else {
            vec![Row::default()]
        };
    }
    flat.chunks_exact(arity).map(Row::from).collect()
}

/// Joins rows into flat rows (one marker word for a zero-column row).
fn join_rows(rows: &[Row], arity: usize) -> Vec<Word> {
    if arity == 0 {
        return if rows.is_empty() { Vec::new() } else { vec![0] };
    }
    let mut out = Vec::with_capacity(rows.len() * arity);
    for r in rows {
        out.extend_from_slice(r);
    }
    out
}

/// A fact addressed to another node by an `@async` rule.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Message {
    /// The destination node (the value of the location column).
    pub dest: String,
    /// The relation.
    pub relation: String,
    /// The whole tuple, location column included.
    pub tuple: Vec<Value>,
}

/// What one tick produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickOutput {
    /// Facts for other nodes that this tick derives and the previous tick did not (all of them
    /// at a tick evaluated in full: the first, or the first after a restore), sorted and without
    /// duplicates. A fact derived at every tick is therefore sent once; a node that must send
    /// a peer everything again (it restarted) keeps its own history of what it sent.
    pub sent: Vec<Message>,
    /// Nothing arrived and the next tick would start from the same facts as this one.
    pub quiescent: bool,
}

impl Engine {
    /// A new engine with the program's facts and an otherwise empty database. The node is called
    /// `local` and is the only member until [`Engine::set_node`].
    pub fn new(program: &Program) -> Engine {
        Engine {
            program: program.clone(),
            interner: program.inner.interner.clone(),
            base: program.inner.facts.clone(),
            node: "local".into(),
            members: vec!["local".into()],
            max_ticks: 10_000,
            db: Db::default(),
            carry: None,
            ticks: 0,
            incr: None,
            last_full: None,
            full_ticks: false,
        }
    }

    /// Evaluates every tick from scratch instead of incrementally (the reference that
    /// incremental ticks are tested against; results are the same either way).
    #[doc(hidden)]
    pub fn set_full_ticks(&mut self, full: bool) {
        self.full_ticks = full;
    }

    /// Sets this node's name and the cluster's members (the contents of `$self` and `$member`).
    pub fn set_node(&mut self, name: &str, members: &[String]) {
        if let Some(incr) = self.incr.take() {
            // The built-ins change: the next tick evaluates everything again from the carry.
            self.carry = Some(self.flat_carry(&incr));
        }
        self.last_full = None;
        self.node = name.to_string();
        self.members = members.to_vec();
        if !self.members.iter().any(|m| m == name) {
            self.members.push(name.to_string());
        }
    }

    /// Limits the number of ticks [`Engine::run`] executes.
    pub fn set_max_ticks(&mut self, n: u64) {
        self.max_ticks = n.max(1);
    }

    fn rel(&self, name: &str) -> Result<usize, EngineError> {
        self.program
            .ir()
            .relation(name)
            .filter(|&r| self.program.ir().relations[r].builtin != Some(Builtin::Auxiliary))
            .ok_or_else(|| EngineError::UnknownRelation(name.to_string()))
    }

    /// Adds facts to a relation. For a relation with state over time (`.persist`, or derived
    /// with `@next`) they are its state at the first tick; otherwise they hold at every tick.
    pub fn insert(&mut self, relation: &str, tuples: Vec<Vec<Value>>) -> Result<(), EngineError> {
        let rel = self.rel(relation)?;
        let info = &self.program.inner.ir.relations[rel];
        if info.builtin.is_some() {
            return Err(EngineError::Builtin(relation.to_string()));
        }
        let mut words = Vec::with_capacity(tuples.len() * width(info.arity));
        for t in &tuples {
            self.encode(rel, t, &mut words)?;
        }
        self.ensure_incr();
        if let Some(incr) = &mut self.incr {
            let arity = self.program.inner.ir.relations[rel].arity;
            let rows = split_rows(&words, arity);
            if self.program.inner.stateful[rel] {
                incr.insert_state(rel, rows);
            } else {
                incr.give(rel, rows);
                self.base[rel].extend(words);
            }
            return Ok(());
        }
        if let (Some(carry), true) = (&mut self.carry, self.program.inner.stateful[rel]) {
            // Ticks have started: the facts join the relation's state from the next tick on.
            let w = width(self.program.inner.ir.relations[rel].arity);
            let mut rows = std::mem::take(&mut carry[rel]);
            rows.extend(words);
            carry[rel] = sort_rows(rows, w);
        } else {
            self.base[rel].extend(words);
        }
        Ok(())
    }

    /// Runs ticks until quiescence: until the facts carried into the next tick (persisted,
    /// `@next`, and `@async` facts sent to this node) equal those carried into the current one.
    /// `@async` facts for other nodes are counted in the report as undeliverable.
    pub fn run(&mut self) -> Result<RunReport, EngineError> {
        let mut report = RunReport::default();
        loop {
            let out = self.tick(&[])?;
            report.ticks += 1;
            let mut away: BTreeMap<(String, String), usize> = BTreeMap::new();
            match &self.incr {
                // Incremental ticks report what is new; count everything addressed away.
                Some(incr) => {
                    for ((rel, dest), n) in incr.away_counts() {
                        let name = self.program.ir().relations[rel].name.clone();
                        let dest = self.interner.resolve(dest).to_string();
                        *away.entry((dest, name)).or_default() += n;
                    }
                }
                None => {
                    for m in out.sent {
                        *away.entry((m.dest, m.relation)).or_default() += 1;
                    }
                }
            }
            for (k, n) in away {
                let e = report.undeliverable.entry(k).or_default();
                *e = (*e).max(n);
            }
            if out.quiescent {
                return Ok(report);
            }
            if report.ticks >= self.max_ticks {
                return Err(EngineError::NoQuiescence(report.ticks));
            }
        }
    }

    /// Checks that `tuple` could be given to `relation`; see [`Program::check`].
    pub fn check(&self, relation: &str, tuple: &[Value]) -> Result<(), EngineError> {
        self.program.check(relation, tuple)
    }

    /// Checks and encodes one tuple of `rel`.
    fn encode(
        &mut self,
        rel: usize,
        tuple: &[Value],
        out: &mut Vec<Word>,
    ) -> Result<(), EngineError> {
        let info = &self.program.inner.ir.relations[rel];
        if tuple.len() != info.arity {
            return Err(EngineError::Arity {
                relation: info.name.clone(),
                expected: info.arity,
                got: tuple.len(),
            });
        }
        if tuple.is_empty() {
            out.push(0);
        }
        for (i, v) in tuple.iter().enumerate() {
            out.push(match (v, info.types[i]) {
                (Value::Number(n), Type::Number) => self.interner.encode(*n),
                (Value::Unsigned(u), Type::Unsigned) => self.interner.encode(*u as i64),
                (Value::Float(f), Type::Float) => {
                    self.interner.encode(calm_ir::number::float_bits(*f))
                }
                (Value::Symbol(s), Type::Symbol) => self.interner.intern(s),
                (Value::Symbol(s), ty @ Type::Record(_)) => {
                    let ir = &self.program.inner.ir;
                    match crate::record::parse(ir, ty, s, &mut self.interner) {
                        Ok(Some(w)) => w,
                        _ => {
                            return Err(EngineError::Type {
                                relation: info.name.clone(),
                                column: i + 1,
                                expected: ty.as_str(),
                                got: v.to_string(),
                            });
                        }
                    }
                }
                (v, ty) => {
                    return Err(EngineError::Type {
                        relation: info.name.clone(),
                        column: i + 1,
                        expected: ty.as_str(),
                        got: v.to_string(),
                    });
                }
            });
        }
        Ok(())
    }

    /// Runs one tick: this tick's facts are the engine's facts, what earlier ticks carried over,
    /// and `arrivals` (facts received from peers or clients, which hold for this tick only).
    /// Returns the `@async` facts newly addressed to other nodes (see [`TickOutput::sent`]).
    /// Those addressed to this node, `@next`
    /// facts and persisted relations are carried to the next tick.
    pub fn tick(&mut self, arrivals: &[(String, Vec<Value>)]) -> Result<TickOutput, EngineError> {
        let prog = self.program.clone();
        let ir = prog.ir();
        // Check and encode what arrived before touching any state, so a bad fact changes nothing.
        let mut arrived: Vec<(usize, Vec<Word>)> = Vec::with_capacity(arrivals.len());
        for (name, tuple) in arrivals {
            let rel = match self.rel(name) {
                Ok(r) if ir.relations[r].builtin.is_none() => r,
                Ok(_) => return Err(EngineError::Builtin(name.clone())),
                Err(e) => return Err(e),
            };
            let mut words = Vec::new();
            self.encode(rel, tuple, &mut words)?;
            arrived.push((rel, words));
        }
        self.ensure_incr();
        if self.incr.is_some() {
            return self.tick_incr(arrived, arrivals.is_empty());
        }
        self.tick_full(arrived, arrivals.is_empty())
    }

    /// One tick evaluated in full, from the engine's facts, the carry and `arrived`.
    fn tick_full(
        &mut self,
        arrived: Vec<(usize, Vec<Word>)>,
        none_arrived: bool,
    ) -> Result<TickOutput, EngineError> {
        let prog = self.program.clone();
        let ir = prog.ir();
        let nrel = ir.relations.len();
        let stateful = &prog.inner.stateful;
        let once_in: Vec<Vec<Word>> = match &self.carry {
            Some(c) => c.clone(),
            None => Vec::new(),
        };
        if self.carry.is_none() {
            // The first tick: given facts of stateful relations are their initial state.
            let mut carry: Vec<Vec<Word>> = vec![Vec::new(); nrel];
            for (rel, flat) in self.base.iter().enumerate() {
                if stateful[rel] {
                    carry[rel] = sort_rows(flat.clone(), width(ir.relations[rel].arity));
                }
            }
            self.carry = Some(carry);
        }
        let mut base: Vec<Vec<Word>> = self
            .base
            .iter()
            .enumerate()
            .map(|(rel, flat)| {
                if stateful[rel] {
                    Vec::new()
                } else {
                    flat.clone()
                }
            })
            .collect();
        let arrived_copy = arrived.clone();
        for (rel, words) in arrived {
            base[rel].extend(words);
        }
        for (rel, rows) in self.carry.iter().flatten().enumerate() {
            base[rel].extend_from_slice(rows);
        }
        let self_id = self.interner.intern(&self.node);
        if let Some(r) = ir.builtin(Builtin::SelfName) {
            base[r].push(self_id);
        }
        if let Some(r) = ir.builtin(Builtin::Member) {
            for m in self.members.clone() {
                let w = self.interner.intern(&m);
                base[r].push(w);
            }
        }
        let mut db = Db::default();
        for plan in &prog.inner.strata {
            eval_stratum(ir, plan, &mut db, &base, &mut self.interner)
                .map_err(|e| self.runtime_error(e))?;
        }
        let produced = eval_temporal(ir, &prog.inner.temporal, &mut db, &mut self.interner)
            .map_err(|e| self.runtime_error(e))?;
        let mut once = if once_in.is_empty() {
            self.carry.clone().unwrap_or_default()
        } else {
            once_in
        };
        once.resize(nrel, Vec::new());
        for (rel, words) in &arrived_copy {
            once[*rel].extend_from_slice(words);
        }
        let kept_produced = produced.clone();
        let mut next: Vec<Vec<Word>> = vec![Vec::new(); nrel];
        for (rel, info) in ir.relations.iter().enumerate() {
            if info.persist {
                next[rel] = db.flat_rows(rel, info.arity);
            }
        }
        let mut away: Vec<(usize, Vec<Word>)> = Vec::new();
        for (rule, flat) in produced {
            let r = &ir.rules[rule];
            let arity = ir.relations[r.head].arity;
            for row in flat.chunks_exact(width(arity)) {
                match r.time {
                    Time::Async { location } if row[location] != self_id => {
                        away.push((r.head, row.to_vec()))
                    }
                    _ => next[r.head].extend_from_slice(row),
                }
            }
        }
        let next: Vec<Vec<Word>> = next
            .into_iter()
            .enumerate()
            .map(|(rel, rows)| sort_rows(rows, width(ir.relations[rel].arity)))
            .collect();
        away.sort_unstable();
        away.dedup();
        let sent = self.messages(away);
        self.db = db;
        self.ticks += 1;
        let quiescent = none_arrived && self.carry.as_ref() == Some(&next);
        self.carry = Some(next);
        self.last_full = Some(LastFull {
            once,
            produced: kept_produced,
        });
        Ok(TickOutput { sent, quiescent })
    }

    /// Starts incremental ticks from the last fully evaluated one, if there is one.
    fn ensure_incr(&mut self) {
        if self.incr.is_some() || self.full_ticks {
            return;
        }
        let Some(last) = self.last_full.take() else {
            return;
        };
        let prog = self.program.clone();
        let ir = prog.ir();
        let nrel = ir.relations.len();
        let db = std::mem::take(&mut self.db);
        let relations: Vec<Vec<Row>> = (0..nrel)
            .map(|rel| {
                let arity = ir.relations[rel].arity;
                let mut rows = Vec::with_capacity(db.len(rel));
                db.for_each_row(rel, arity, &mut |r| rows.push(Row::from(r)));
                if arity == 0 && db.len(rel) > 0 {
                    rows = vec![Row::default()];
                }
                rows
            })
            .collect();
        drop(db);
        let stateful = &prog.inner.stateful;
        let given: Vec<Vec<Row>> = (0..nrel)
            .map(|rel| {
                if stateful[rel] {
                    Vec::new()
                } else {
                    split_rows(&self.base[rel], ir.relations[rel].arity)
                }
            })
            .collect();
        let once: Vec<Vec<Row>> = (0..nrel)
            .map(|rel| split_rows(&last.once[rel], ir.relations[rel].arity))
            .collect();
        let produced: Vec<(calm_ir::RuleId, Row)> = last
            .produced
            .iter()
            .flat_map(|(rule, flat)| {
                let arity = ir.relations[ir.rules[*rule].head].arity;
                split_rows(flat, arity).into_iter().map(move |r| (*rule, r))
            })
            .collect();
        let self_id = self.interner.intern(&self.node);
        let members: Vec<Word> = self
            .members
            .clone()
            .iter()
            .map(|m| self.interner.intern(m))
            .collect();
        let builtins = builtin_rows(ir, self_id, &members);
        let incr = Incr::build(
            ir,
            FullTick {
                relations,
                given,
                once,
                produced,
            },
            self_id,
            &builtins,
            &mut self.interner,
        );
        self.carry = None;
        self.incr = Some(incr);
    }

    /// The facts an incremental engine carries into the next tick, flat per relation.
    fn flat_carry(&self, incr: &Incr) -> Vec<Vec<Word>> {
        let ir = self.program.ir();
        incr.carry()
            .iter()
            .enumerate()
            .map(|(rel, rows)| join_rows(rows, ir.relations[rel].arity))
            .collect()
    }

    /// One incremental tick.
    fn tick_incr(
        &mut self,
        arrived: Vec<(usize, Vec<Word>)>,
        none_arrived: bool,
    ) -> Result<TickOutput, EngineError> {
        let prog = self.program.clone();
        let ir = prog.ir();
        let arrived_words = arrived.clone();
        let rows: Vec<(usize, Row)> = arrived
            .into_iter()
            .flat_map(|(rel, words)| {
                split_rows(&words, ir.relations[rel].arity)
                    .into_iter()
                    .map(move |r| (rel, r))
            })
            .collect();
        let incr = self.incr.as_mut().expect("incremental");
        let ticked = match incr.tick(rows, &mut self.interner) {
            Ok(t) => t,
            Err(TickError::Full) => {
                // A lattice value may have to go down: this tick is evaluated in full (the
                // incremental state, undone, gives its carry), and the next starts incremental
                // ticks again from it.
                let incr = self.incr.take().expect("incremental");
                self.carry = Some(self.flat_carry(&incr));
                self.last_full = None;
                drop(incr);
                return self.tick_full(arrived_words, none_arrived);
            }
            Err(TickError::Rule(f)) => {
                return Err(self.runtime_error(RuleError {
                    rule: f.rule,
                    message: f.message.to_string(),
                    span: f.span,
                }));
            }
        };
        let mut away = ticked.sent;
        away.sort_unstable();
        away.dedup();
        let sent = self.messages(away);
        self.ticks += 1;
        Ok(TickOutput {
            sent,
            quiescent: none_arrived && ticked.carry_same,
        })
    }

    /// Facts addressed to other nodes, as messages (in the order given).
    fn messages<R: AsRef<[Word]>>(&self, away: Vec<(usize, R)>) -> Vec<Message> {
        let ir = self.program.ir();
        away.into_iter()
            .map(|(rel, row)| {
                let info = &ir.relations[rel];
                let tuple = self.decode(row.as_ref(), &info.types);
                let location = ir
                    .rules
                    .iter()
                    .find_map(|r| match r.time {
                        Time::Async { location } if r.head == rel => Some(location),
                        _ => None,
                    })
                    .unwrap_or(0);
                Message {
                    dest: tuple[location].to_string(),
                    relation: info.name.clone(),
                    tuple,
                }
            })
            .collect()
    }

    /// Ticks executed so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    fn decode(&self, row: &[Word], types: &[Type]) -> Vec<Value> {
        self.decode_with(row, types, false)
    }

    /// [`Engine::decode`]; with `quote`, symbols inside records are written in quotes.
    fn decode_with(&self, row: &[Word], types: &[Type], quote: bool) -> Vec<Value> {
        row.iter()
            .zip(types)
            .map(|(&w, t)| match t {
                Type::Number => Value::Number(self.interner.decode(w)),
                Type::Unsigned => Value::Unsigned(self.interner.decode(w) as u64),
                Type::Float => Value::Float(calm_ir::number::float_of(self.interner.decode(w))),
                Type::Symbol => Value::Symbol(self.interner.resolve(w).to_string()),
                Type::Record(_) => {
                    let mut text = String::new();
                    let ir = &self.program.inner.ir;
                    crate::record::format_with(ir, &self.interner, *t, w, &mut text, quote);
                    Value::Symbol(text)
                }
            })
            .collect()
    }

    fn runtime_error(&self, e: RuleError) -> EngineError {
        const PATTERN_HELP: &str = "`match` patterns use the syntax of Rust's `regex` crate (no \
                                    backreferences or look-around), at most 4096 bytes";
        let prog = &self.program.inner;
        let rule = &prog.ir.rules[e.rule];
        let file = prog.file;
        let bad_pattern = e.message.contains("regular expression");
        let d = Diagnostic::error(format!("{} while evaluating a rule", e.message))
            .with_code("E0500")
            .with_primary(file, e.span.unwrap_or(rule.head_span), e.message)
            .with_secondary(file, rule.span, "in this rule");
        let d = if bad_pattern {
            d.with_help(PATTERN_HELP)
        } else {
            d
        };
        EngineError::Runtime(Box::new(d))
    }

    /// The relation's tuples after the last tick, sorted (numbers numerically, symbols
    /// lexicographically).
    pub fn relation(&self, name: &str) -> Result<Vec<Vec<Value>>, EngineError> {
        self.relation_with(name, false)
    }

    /// [`Engine::relation`], with the symbols inside record columns written in quotes (`\"`
    /// and `\\` escaped), as Souffle writes records in RFC 4180 files.
    pub fn relation_quoting_records(&self, name: &str) -> Result<Vec<Vec<Value>>, EngineError> {
        self.relation_with(name, true)
    }

    fn relation_with(&self, name: &str, quote: bool) -> Result<Vec<Vec<Value>>, EngineError> {
        let rel = self.rel(name)?;
        let info = &self.program.inner.ir.relations[rel];
        let mut rows: Vec<Vec<Value>> = match &self.incr {
            Some(incr) => incr
                .rows(rel)
                .map(|row| self.decode_with(row, &info.types, quote))
                .collect(),
            None => self
                .db
                .rows(rel, info.arity)
                .into_iter()
                .map(|row| self.decode_with(&row, &info.types, quote))
                .collect(),
        };
        rows.sort_unstable();
        Ok(rows)
    }

    /// The tuples whose columns equal the given values (column index, value), sorted. Cheaper
    /// than filtering [`Engine::relation`]: rows are compared as stored words and only matching
    /// ones are decoded.
    ///
    /// ```
    /// use calm_engine::{Engine, Program, Value};
    /// let p = Program::compile("p.dl", "kv(\"a\", 1). kv(\"b\", 2). kv(\"a\", 3).").unwrap();
    /// let mut e = Engine::new(&p);
    /// e.run().unwrap();
    /// let a = e.relation_where("kv", &[(0, Value::Symbol("a".into()))]).unwrap();
    /// assert_eq!(a.len(), 2);
    /// assert!(e.relation_where("kv", &[(0, Value::Symbol("zz".into()))]).unwrap().is_empty());
    /// ```
    pub fn relation_where(
        &self,
        name: &str,
        filter: &[(usize, Value)],
    ) -> Result<Vec<Vec<Value>>, EngineError> {
        let rel = self.rel(name)?;
        let info = &self.program.inner.ir.relations[rel];
        let mut want = Vec::with_capacity(filter.len());
        for (c, v) in filter {
            let w = match (v, info.types.get(*c)) {
                (Value::Number(n), Some(Type::Number)) => self.interner.encoded(*n),
                (Value::Unsigned(u), Some(Type::Unsigned)) => self.interner.encoded(*u as i64),
                (Value::Float(f), Some(Type::Float)) => {
                    self.interner.encoded(calm_ir::number::float_bits(*f))
                }
                (Value::Symbol(s), Some(Type::Symbol)) => self.interner.lookup(s),
                (Value::Symbol(s), Some(&ty @ Type::Record(_))) => {
                    let lookup = &mut crate::record::Lookup(&self.interner);
                    crate::record::parse(&self.program.inner.ir, ty, s, lookup)
                        .ok()
                        .flatten()
                }
                // Another type, or no such column: nothing matches.
                _ => None,
            };
            match w {
                Some(w) => want.push((*c, w)),
                None => return Ok(Vec::new()),
            }
        }
        let mut rows = Vec::new();
        match &self.incr {
            Some(incr) => incr.rows_where(rel, &want, &mut |row| {
                rows.push(self.decode(row, &info.types));
            }),
            None => self.db.for_each_row(rel, info.arity, &mut |row| {
                if want.iter().all(|&(c, w)| row[c] == w) {
                    rows.push(self.decode(row, &info.types));
                }
            }),
        }
        rows.sort_unstable();
        Ok(rows)
    }

    /// Number of tuples in the relation after the last tick.
    pub fn relation_len(&self, name: &str) -> Result<usize, EngineError> {
        let rel = self.rel(name)?;
        Ok(match &self.incr {
            Some(incr) => incr.len(rel),
            None => self.db.len(rel),
        })
    }

    /// Sizes of the incremental state, per relation: name, rows, indexes, input rows, rows
    /// carried to the next tick, rows sent away. Empty before incremental ticks start.
    pub fn state_sizes(&self) -> Vec<(String, usize, usize, usize, usize, usize)> {
        let Some(incr) = &self.incr else {
            return Vec::new();
        };
        let ir = self.program.ir();
        let nrel = ir.relations.len();
        let st = incr.stats();
        (0..nrel)
            .map(|r| {
                (
                    ir.relations[r].name.clone(),
                    st[r].1,
                    st[r].2,
                    st[r].3,
                    st[nrel + r].1,
                    st[2 * nrel + r].1,
                )
            })
            .collect()
    }

    /// About the bytes the incremental state holds, by structure: per relation with any, its
    /// row store (rows and per-row flags), its set of row ids, its indexes; and the symbols
    /// (relation `"<symbols>"`). Capacities, estimated from the structures' layout; empty
    /// before incremental ticks start.
    #[doc(hidden)]
    pub fn state_bytes(&self) -> Vec<(String, usize, usize, usize)> {
        let Some(incr) = &self.incr else {
            return Vec::new();
        };
        let ir = self.program.ir();
        let nrel = ir.relations.len();
        let mut out: Vec<(String, usize, usize, usize)> = incr
            .bytes()
            .into_iter()
            .enumerate()
            .filter(|(_, b)| b.0 + b.1 + b.2 > 0)
            .map(|(t, b)| {
                let kind = ["", " (carried)", " (sent)"][t / nrel];
                (
                    format!("{}{kind}", ir.relations[t % nrel].name),
                    b.0,
                    b.1,
                    b.2,
                )
            })
            .collect();
        out.push(("<symbols>".to_string(), self.interner.bytes(), 0, 0));
        out
    }

    /// The shapes of the incremental state's indexes: relation, key columns, keys, largest
    /// bucket (for diagnosing lookups that are not selective).
    #[doc(hidden)]
    pub fn index_shapes(&self) -> Vec<(String, Vec<usize>, usize, usize)> {
        let Some(incr) = &self.incr else {
            return Vec::new();
        };
        let ir = self.program.ir();
        let nrel = ir.relations.len();
        let mut out = Vec::new();
        for (t, ixs) in incr.index_shapes() {
            for (cols, keys, max) in ixs {
                out.push((ir.relations[t % nrel].name.clone(), cols, keys, max));
            }
        }
        out
    }

    /// Keeps an index of relation `name` on the columns `cols` from now on, so that
    /// [`Engine::relation_where`] with equality filters on (at least) those columns is a lookup
    /// rather than a scan. Takes effect once incremental ticks have started (from the second
    /// tick); before, filtered reads scan. Reads may add at most four indexes to a relation
    /// (besides those its rules use); past that, a filtered read uses the index that covers the
    /// most of its columns, or scans.
    pub fn index_on(&mut self, name: &str, cols: &[usize]) -> Result<(), EngineError> {
        let rel = self.rel(name)?;
        let arity = self.program.inner.ir.relations[rel].arity;
        let mut cols = cols.to_vec();
        cols.sort_unstable();
        cols.dedup();
        if cols.is_empty() || cols.iter().any(|&c| c >= arity) {
            return Ok(());
        }
        self.ensure_incr();
        if let Some(incr) = &mut self.incr {
            incr.ensure_index(rel, &cols);
        }
        Ok(())
    }

    /// The change the last tick made to relation `name`: the tuples it added and those it
    /// removed, each sorted. `None` when the last tick was evaluated in full (the first tick, or
    /// the first after [`Engine::restore`]); then compare with [`Engine::relation`].
    pub fn last_changes(&self, name: &str) -> Result<Option<Changes>, EngineError> {
        let rel = self.rel(name)?;
        let Some(incr) = &self.incr else {
            return Ok(None);
        };
        let info = &self.program.inner.ir.relations[rel];
        let (plus, minus) = incr.changes(rel);
        let mut added: Vec<Vec<Value>> = plus.iter().map(|r| self.decode(r, &info.types)).collect();
        let mut removed: Vec<Vec<Value>> =
            minus.iter().map(|r| self.decode(r, &info.types)).collect();
        added.sort_unstable();
        removed.sort_unstable();
        Ok(Some(Changes { added, removed }))
    }

    /// The program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The relation `name` by index, compiler-made relations included (a snapshot may carry
    /// them).
    fn any_rel(&self, name: &str) -> Result<usize, EngineError> {
        self.program
            .ir()
            .relation(name)
            .ok_or_else(|| EngineError::UnknownRelation(name.to_string()))
    }

    fn decode_rows(&self, rel: usize, flat: &[Word]) -> Vec<Vec<Value>> {
        let info = &self.program.inner.ir.relations[rel];
        flat.chunks_exact(width(info.arity))
            .map(|row| self.decode(row, &info.types))
            .collect()
    }

    /// The state this engine carries from one tick to the next, as values (so that it can be
    /// stored and given to [`Engine::restore`] in another process, whose interner differs).
    ///
    /// An engine restored from a snapshot and given the same arrivals ticks exactly as this one
    /// would: the state after tick *t* is a function of the program, the node's name and
    /// members, and the arrivals of the ticks before. The relations as of the last tick (what
    /// [`Engine::relation`] reads) are not part of it; they are there again after the next tick.
    pub fn snapshot(&self) -> EngineSnapshot {
        let ir = self.program.ir();
        let per_rel = |rows: &[Vec<Word>]| -> Vec<(String, Vec<Vec<Value>>)> {
            rows.iter()
                .enumerate()
                .filter(|(_, flat)| !flat.is_empty())
                .map(|(rel, flat)| (ir.relations[rel].name.clone(), self.decode_rows(rel, flat)))
                .collect()
        };
        if let Some(incr) = &self.incr {
            let carry = self.flat_carry(incr);
            return EngineSnapshot {
                ticks: self.ticks,
                started: true,
                carry: per_rel(&carry),
                given: per_rel(&self.base),
            };
        }
        EngineSnapshot {
            ticks: self.ticks,
            started: self.carry.is_some(),
            carry: self.carry.as_deref().map(per_rel).unwrap_or_default(),
            given: per_rel(&self.base),
        }
    }

    /// Replaces this engine's state between ticks with `snapshot` (taken by [`Engine::snapshot`]
    /// from an engine of the same program). The node name and members stay as set. Until the next
    /// tick, relations read empty.
    pub fn restore(&mut self, snapshot: &EngineSnapshot) -> Result<(), EngineError> {
        let nrel = self.program.ir().relations.len();
        let mut encode_all =
            |rows: &[(String, Vec<Vec<Value>>)]| -> Result<Vec<Vec<Word>>, EngineError> {
                let mut out: Vec<Vec<Word>> = vec![Vec::new(); nrel];
                for (name, tuples) in rows {
                    let rel = self.any_rel(name)?;
                    let mut words = Vec::new();
                    for t in tuples {
                        self.encode(rel, t, &mut words)?;
                    }
                    out[rel].extend(words);
                }
                Ok(out)
            };
        let given = encode_all(&snapshot.given)?;
        let carry = if snapshot.started {
            let rows = encode_all(&snapshot.carry)?;
            let ir = self.program.ir();
            Some(
                rows.into_iter()
                    .enumerate()
                    .map(|(rel, flat)| sort_rows(flat, width(ir.relations[rel].arity)))
                    .collect(),
            )
        } else {
            None
        };
        self.base = given;
        self.carry = carry;
        self.ticks = snapshot.ticks;
        self.db = Db::default();
        self.incr = None;
        self.last_full = None;
        Ok(())
    }
}

/// What a tick changed in a relation: see [`Engine::last_changes`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Tuples the tick added, sorted.
    pub added: Vec<Vec<Value>>,
    /// Tuples the tick removed, sorted.
    pub removed: Vec<Vec<Value>>,
}

/// What an engine carries between ticks, as values: see [`Engine::snapshot`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineSnapshot {
    /// Ticks executed.
    pub ticks: u64,
    /// Whether the first tick has run; before it, `carry` is empty and the given facts of
    /// relations with state over time are their initial state.
    pub started: bool,
    /// Facts carried into the next tick (persisted relations, `@next` facts, `@async` facts this
    /// node sent itself), per relation, in the program's order of relations; empty relations
    /// are left out.
    pub carry: Vec<(String, Vec<Vec<Value>>)>,
    /// Facts given to the engine (the program's own and those of [`Engine::insert`]), per
    /// relation.
    pub given: Vec<(String, Vec<Vec<Value>>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROGRAM: &str = r#"
.decl ev(x: number)
.decl tag(s: symbol)
.persist seen
seen(x) :- ev(x).
counter(0).
counter(n + 1)@next :- counter(n), n < 5.
echo(@me, x)@async :- ev(x), $self(me).
heard(x) :- echo(_, x).
total(n) :- n = count : seen(_).
named(s) :- tag(s).
"#;

    fn sym(s: &str) -> Value {
        Value::Symbol(s.into())
    }

    fn arrivals(t: u64) -> Vec<(String, Vec<Value>)> {
        let mut a = vec![("ev".to_string(), vec![Value::Number(t as i64 % 4)])];
        if t.is_multiple_of(3) {
            a.push(("tag".to_string(), vec![sym(&format!("s{t}"))]));
        }
        a
    }

    fn state(e: &Engine) -> Vec<Vec<Vec<Value>>> {
        ["seen", "counter", "heard", "total", "named"]
            .iter()
            .map(|r| e.relation(r).unwrap())
            .collect()
    }

    fn engine(p: &Program) -> Engine {
        let mut e = Engine::new(p);
        e.set_node("a", &["a".to_string(), "b".to_string()]);
        e
    }

    #[test]
    fn a_restored_engine_ticks_exactly_as_the_original() {
        let p = Program::compile("t.dl", PROGRAM).unwrap();
        for cut in 0..8u64 {
            let mut a = engine(&p);
            for t in 0..cut {
                a.tick(&arrivals(t)).unwrap();
            }
            let snap = a.snapshot();
            assert_eq!(snap.ticks, cut);
            assert_eq!(snap.started, cut > 0);
            let mut b = engine(&p);
            // Intern other symbols first, so that the words differ from the original's.
            b.tick(&[("tag".to_string(), vec![sym("zzz")])]).unwrap();
            b.restore(&snap).unwrap();
            assert_eq!(b.snapshot(), snap);
            for t in cut..cut + 8 {
                let oa = a.tick(&arrivals(t)).unwrap();
                let ob = b.tick(&arrivals(t)).unwrap();
                assert_eq!(oa, ob, "cut {cut}, tick {t}");
                assert_eq!(state(&a), state(&b), "cut {cut}, tick {t}");
            }
            assert_eq!(a.ticks(), b.ticks());
        }
    }

    #[test]
    fn deleted_facts_are_not_in_a_snapshot() {
        let p = Program::compile(
            "t.dl",
            ".decl add(x: number)\n.decl del(x: number)\n\
             live(x)@next :- live(x), !del(x).\nlive(x)@next :- add(x).\n",
        )
        .unwrap();
        let mut e = Engine::new(&p);
        let f = |r: &str, x: i64| (r.to_string(), vec![Value::Number(x)]);
        e.tick(&[f("add", 1), f("add", 2)]).unwrap();
        e.tick(&[f("del", 1)]).unwrap();
        let snap = e.snapshot();
        assert_eq!(
            snap.carry,
            vec![("live".to_string(), vec![vec![Value::Number(2)]])]
        );
    }

    fn kv_ops(t: u64) -> Vec<(String, Vec<Value>)> {
        let n = Value::Number;
        let key = |i: u64| sym(&format!("k{}", i % 5));
        let mut a = Vec::new();
        if t % 3 != 2 {
            a.push((
                "put".to_string(),
                vec![
                    sym("c"),
                    n(t as i64),
                    key(t),
                    sym("x"),
                    sym(&format!("v{t}")),
                ],
            ));
        }
        if t % 4 == 3 {
            a.push(("del".to_string(), vec![key(t + 1), sym("x")]));
        }
        if t % 5 == 4 {
            a.push(("compact".to_string(), vec![n(t as i64)]));
        }
        a
    }

    #[test]
    fn incremental_ticks_equal_full_ticks_on_the_kv_store() {
        let p = Program::compile("kvs.dl", include_str!("../../../programs/kvs.dl")).unwrap();
        let mut inc = Engine::new(&p);
        let mut full = Engine::new(&p);
        full.set_full_ticks(true);
        for e in [&mut inc, &mut full] {
            e.set_node("n1", &["n1".to_string()]);
        }
        let rels = [
            "kv", "tomb", "visible", "replaces", "unacked", "settled", "kv_in",
        ];
        for t in 0..40 {
            let a = kv_ops(t);
            let oi = inc.tick(&a).unwrap();
            let of = full.tick(&a).unwrap();
            assert_eq!(oi.quiescent, of.quiescent, "tick {t}");
            for r in rels {
                assert_eq!(
                    inc.relation(r).unwrap(),
                    full.relation(r).unwrap(),
                    "{r} at tick {t}"
                );
            }
            assert_eq!(inc.snapshot(), full.snapshot(), "tick {t}");
        }
        assert!(!inc.relation("visible").unwrap().is_empty());
        assert!(inc.incr.is_some() && full.incr.is_none());
    }

    #[test]
    fn incremental_ticks_equal_full_ticks() {
        let p = Program::compile("t.dl", PROGRAM).unwrap();
        let mut inc = engine(&p);
        let mut full = engine(&p);
        full.set_full_ticks(true);
        for t in 0..12 {
            let oi = inc.tick(&arrivals(t)).unwrap();
            let of = full.tick(&arrivals(t)).unwrap();
            assert_eq!(oi.quiescent, of.quiescent, "tick {t}");
            assert_eq!(state(&inc), state(&full), "tick {t}");
            assert_eq!(inc.snapshot(), full.snapshot(), "tick {t}");
        }
    }

    #[test]
    fn a_failed_incremental_tick_is_undone() {
        let p = Program::compile(
            "t.dl",
            ".decl p(x: number)\n.persist p\n.decl d(x: number)\n\
             r(x) :- p(x), !d(x).\ns(z) :- r(x), z = 12 / x.\n\
             p(x)@next :- p(x), !d(x).\n",
        )
        .unwrap();
        let n = |x: i64| vec![Value::Number(x)];
        let ticks: Vec<Vec<(String, Vec<Value>)>> = vec![
            vec![("p".into(), n(1)), ("p".into(), n(2))],
            vec![("p".into(), n(3)), ("d".into(), n(1))],
            // Division by zero: the tick fails, and nothing of it may stay.
            vec![("p".into(), n(4)), ("p".into(), n(0)), ("d".into(), n(2))],
            vec![("p".into(), n(6))],
            vec![("d".into(), n(3))],
        ];
        let mut inc = Engine::new(&p);
        let mut full = Engine::new(&p);
        full.set_full_ticks(true);
        let mut failed = 0;
        for (t, a) in ticks.iter().enumerate() {
            let (oi, of) = (inc.tick(a), full.tick(a));
            assert_eq!(oi.is_err(), of.is_err(), "tick {t}");
            failed += usize::from(oi.is_err());
            for r in ["p", "r", "s"] {
                if oi.is_ok() {
                    assert_eq!(
                        inc.relation(r).unwrap(),
                        full.relation(r).unwrap(),
                        "{r} {t}"
                    );
                }
            }
            assert_eq!(inc.snapshot(), full.snapshot(), "tick {t}");
        }
        assert_eq!(failed, 1);
        assert!(inc.incr.is_some());
        assert_eq!(inc.relation("s").unwrap(), vec![n(2), n(6), n(12)]);
    }

    #[test]
    fn arithmetic_fails_only_where_the_body_read_in_order_reaches_it() {
        // With `bad` empty the division is never reached, whichever atom a change starts from.
        let p = Program::compile(
            "t.dl",
            ".decl bad(x: number)
.decl e(x: number, y: number)
.persist e
             s(z) :- bad(x), e(x, y), z = y / (x - x).
             t(y) :- e(x, y), x = y * 1, bad(x).
",
        )
        .unwrap();
        let row = |x: i64, y: i64| vec![Value::Number(x), Value::Number(y)];
        let mut inc = Engine::new(&p);
        let mut full = Engine::new(&p);
        full.set_full_ticks(true);
        for t in 0..4i64 {
            let a = vec![("e".to_string(), row(t, t + 1))];
            let (oi, of) = (inc.tick(&a), full.tick(&a));
            assert!(of.is_ok(), "tick {t}: {of:?}");
            assert!(oi.is_ok(), "tick {t}: {oi:?}");
        }
        assert!(inc.incr.is_some());
        // Once `bad` holds a row that reaches the division, both fail alike.
        let a = vec![("bad".to_string(), vec![Value::Number(1)])];
        assert_eq!(inc.tick(&a).is_err(), full.tick(&a).is_err());
    }

    #[test]
    fn a_failed_tick_leaves_rows_ids_and_indexes_as_they_were() {
        let p = Program::compile(
            "t.dl",
            ".decl e(a: number, b: number)\n.decl d(a: number)\n.decl bad(x: number, k: number)\n\
             e(a, b)@next :- e(a, b), !d(a).\n\
             j(a, c) :- e(a, b), e(b, c).\n\
             s(z) :- bad(x, k), e(x, y), z = y / k.\n",
        )
        .unwrap();
        let n = |x: i64| Value::Number(x);
        let fact = |r: &str, v: Vec<i64>| (r.to_string(), v.into_iter().map(n).collect());
        let mut first: Vec<(String, Vec<Value>)> = Vec::new();
        for i in 0..60 {
            first.push(fact("e", vec![i, i + 1]));
            first.push(fact("e", vec![i, i + 2]));
        }
        let removal: Vec<_> = (0..40).map(|i| fact("d", vec![i])).collect();
        let mut failing: Vec<_> = (0..30).map(|i| fact("e", vec![100 + i, i])).collect();
        failing.push(fact("bad", vec![50, 0]));
        let refill: Vec<_> = (0..30).map(|i| fact("e", vec![200 + i, i + 100])).collect();
        let ticks = [first, vec![], removal, failing, refill, vec![]];
        let mut inc = Engine::new(&p);
        let mut full = Engine::new(&p);
        full.set_full_ticks(true);
        let mut failed = 0;
        for (t, a) in ticks.iter().enumerate() {
            let (oi, of) = (inc.tick(a), full.tick(a));
            assert_eq!(oi.is_err(), of.is_err(), "tick {t}");
            failed += usize::from(oi.is_err());
            assert_eq!(inc.snapshot(), full.snapshot(), "tick {t}");
            if oi.is_err() {
                continue;
            }
            inc.index_on("e", &[0]).unwrap();
            for r in ["e", "j"] {
                let rows = full.relation(r).unwrap();
                assert_eq!(inc.relation(r).unwrap(), rows, "{r} {t}");
                assert_eq!(inc.relation_len(r).unwrap(), rows.len(), "{r} {t}");
                // Keyed reads go through the indexes: they must agree with the rows.
                for k in 0..260 {
                    let want: Vec<Vec<Value>> =
                        rows.iter().filter(|row| row[0] == n(k)).cloned().collect();
                    assert_eq!(
                        inc.relation_where(r, &[(0, n(k))]).unwrap(),
                        want,
                        "{r} {t}"
                    );
                }
            }
        }
        assert_eq!(failed, 1);
        assert!(inc.incr.is_some());
        assert_eq!(inc.relation("e").unwrap().len(), 20 * 2 + 30);
    }

    #[test]
    fn reads_add_a_bounded_number_of_indexes_and_filter_right_without_them() {
        let p = Program::compile(
            "t.dl",
            ".decl e(a: number, b: number, c: number)\n.persist e\n",
        )
        .unwrap();
        let mut e = Engine::new(&p);
        let n = Value::Number;
        let rows: Vec<Vec<Value>> = (0..30).map(|i| vec![n(i % 3), n(i % 5), n(i)]).collect();
        e.insert("e", rows.clone()).unwrap();
        e.tick(&[]).unwrap();
        e.tick(&[]).unwrap();
        let shapes = |e: &Engine| e.index_shapes().len();
        let before = shapes(&e);
        let combos: [&[usize]; 7] = [&[0], &[1], &[2], &[0, 1], &[0, 2], &[1, 2], &[0, 1, 2]];
        for cols in combos {
            e.index_on("e", cols).unwrap();
            let filter: Vec<(usize, Value)> =
                cols.iter().map(|&c| (c, rows[7][c].clone())).collect();
            let want: Vec<Vec<Value>> = e
                .relation("e")
                .unwrap()
                .into_iter()
                .filter(|r| filter.iter().all(|(c, v)| r[*c] == *v))
                .collect();
            assert_eq!(e.relation_where("e", &filter).unwrap(), want, "{cols:?}");
            assert!(!want.is_empty());
        }
        assert_eq!(shapes(&e), before + 4);
    }

    #[test]
    fn a_snapshot_of_another_program_is_refused() {
        let p = Program::compile("t.dl", PROGRAM).unwrap();
        let q = Program::compile("q.dl", ".decl ev(x: symbol)\n").unwrap();
        let mut a = engine(&p);
        a.tick(&arrivals(1)).unwrap();
        let mut b = Engine::new(&q);
        assert!(b.restore(&a.snapshot()).is_err());
    }
}
