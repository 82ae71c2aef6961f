//! A deliberately simple reference evaluator for the small programs of `gen` (and of the
//! incremental tests, which step it one tick at a time with [`tick`]).
//!
//! Nested loops over `BTreeSet`s, a binding map, naive iteration to a fixpoint, stratum by
//! stratum; Dedalus ticks are simulated literally. Nothing here is shared with the engine.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A tuple of numbers.
pub type Tuple = Vec<i64>;
/// A relation's contents.
pub type Rel = BTreeSet<Tuple>;
/// One relation per relation id.
pub type Db = Vec<Rel>;
type Env = BTreeMap<String, i64>;

/// An argument of an atom or an operand of a comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    /// A variable.
    Var(String),
    /// A number.
    Const(i64),
    /// `_` (only in positive and negated atoms).
    Wild,
}

/// `rel(args...)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Atom {
    /// Relation id.
    pub rel: usize,
    /// Arguments, as many as the relation's arity.
    pub args: Vec<Term>,
}

/// Arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
    Band,
    Bor,
    Bxor,
    Bshl,
    Bshr,
    Land,
    Lor,
    Lxor,
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// Aggregate functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    Count,
    Sum,
    Min,
    Max,
}

/// The right-hand side of an assignment `v = expr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// `-t`
    Neg(Term),
    /// `a op b`
    Bin(BinOp, Term, Term),
}

/// A body literal. The naive evaluator processes literals in the order given, so every variable a
/// literal needs must be bound by an earlier one (the generator guarantees it; the rendered text
/// may list literals in another order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lit {
    /// A positive atom: matches, binding its unbound variables.
    Pos(Atom),
    /// A negated atom over bound variables, constants and wildcards.
    Neg(Atom),
    /// A comparison between bound terms.
    Cmp(CmpOp, Term, Term),
    /// `var = expr` with `var` unbound: binds it.
    Assign(String, Expr),
    /// `result = func [target] : { atom [, filter] }`. Variables of `atom` already bound are
    /// correlated with the outer body; the others are local to the aggregate.
    Agg {
        /// The variable receiving the aggregate's value.
        result: String,
        /// Which aggregate.
        func: AggFunc,
        /// The aggregated (local) variable; `None` for count.
        target: Option<String>,
        /// The aggregate's atom.
        atom: Atom,
        /// An optional comparison inside the aggregate body (over local variables).
        filter: Option<(CmpOp, Term, Term)>,
    },
}

/// When a rule's head holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Time {
    /// In the same tick (a deductive rule).
    Now,
    /// At the next tick (`@next`).
    Next,
    /// Sent by `@async` to this node (`$self`), so holding at the next tick, like `@next`; but
    /// the head relation does not carry state (its given facts would hold at every tick). The
    /// rendered head relation has a leading location column `at: symbol` that the naive
    /// evaluator leaves out: the head is rendered `name(@me, args)@async` with `$self(me)`
    /// added to the body, and every body atom over it as `name(_, args)`. Such a relation gets
    /// no facts (they would need a symbol).
    Async,
}

/// A rule (a fact is given separately).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The head; its arguments are bound variables or constants.
    pub head: Atom,
    /// `@next` or not.
    pub time: Time,
    /// The body, in evaluation order.
    pub body: Vec<Lit>,
    /// The rendered body lists the literals rotated left by this much (evaluation order is
    /// unaffected; it exercises the engine's planner).
    pub rotate: usize,
}

/// The lattice of a relation's last column (the last three for `Lww`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lat {
    Max,
    Min,
    /// 0 or 1 (any other number is 1), or.
    Bool,
    /// At least 0 (anything below is 0), max.
    Counter,
    /// (timestamp, writer, value), lexicographic (all numbers here).
    Lww,
}

impl Lat {
    /// How many columns a value takes.
    pub fn width(self) -> usize {
        if self == Lat::Lww { 3 } else { 1 }
    }

    /// The value in normal form.
    fn normalize(self, v: &mut [i64]) {
        match self {
            Lat::Bool => v[0] = i64::from(v[0] != 0),
            Lat::Counter => v[0] = v[0].max(0),
            _ => {}
        }
    }

    /// Whether the value `a` is strictly above `b` (both normalized).
    fn above(self, a: &[i64], b: &[i64]) -> bool {
        match self {
            Lat::Min => a < b,
            // Slices compare lexicographically: one column, or the lww triple.
            _ => a > b,
        }
    }

    /// Its name as a column type.
    fn name(self) -> &'static str {
        match self {
            Lat::Max => "max",
            Lat::Min => "min",
            Lat::Bool => "bool",
            Lat::Counter => "counter",
            Lat::Lww => "lww",
        }
    }
}

/// A whole program with its facts.
#[derive(Clone, PartialEq, Eq)]
pub struct Program {
    /// Arity of each relation; relation `i` is named `r{i}` unless renamed in `names`.
    pub arities: Vec<usize>,
    /// Relation names (same length as `arities`).
    pub names: Vec<String>,
    /// Relations marked `.persist`.
    pub persist: Vec<bool>,
    /// Per relation, the lattice of its last column (the relation then holds the largest value
    /// per key, the other columns). Rules over lattice relations must read values monotonically
    /// (a threshold, or into the value of a head of the same lattice) except from another
    /// stratum: a non-lattice head reading a lattice relation is placed in a higher stratum.
    pub lattice: Vec<Option<Lat>>,
    /// The rules.
    pub rules: Vec<Rule>,
    /// Facts written in the program text.
    pub program_facts: Vec<(usize, Tuple)>,
    /// Facts given through `Engine::insert`.
    pub inserted: Vec<(usize, Tuple)>,
}

/// What the evaluation gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The final relations.
    Ok(Db),
    /// The evaluation did not finish within the tick budget.
    TooManyTicks,
    /// The evaluation would take too long for a test (its nested loops tried more than
    /// [`WORK_LIMIT`] matches).
    TooBig,
}

/// How many tuple matches the naive evaluator may try in one evaluation.
pub const WORK_LIMIT: u64 = 3_000_000;

/// The evaluation exceeded [`WORK_LIMIT`].
struct TooBig;

/// Counts the matches tried so far.
struct Work(u64);

impl Work {
    fn spend(&mut self, n: usize) -> Result<(), TooBig> {
        self.0 += n as u64;
        if self.0 > WORK_LIMIT {
            Err(TooBig)
        } else {
            Ok(())
        }
    }
}

/// Evaluates a program by simulating ticks (at most `max_ticks`).
///
/// A relation is *stateful* if it is `.persist`ed or the head of an `@next` rule: its given facts
/// (program text or inserted) are its initial state, present at tick 0 only. The given facts of
/// every other relation hold at every tick (a fact is a rule with an empty body; for a program
/// without time this is plain Souffle). Each tick's input is those facts plus what the previous
/// tick carried over: the persisted relations' content and the `@next` (and `@async`) heads. The
/// deductive rules run to a fixpoint, stratum by stratum (see [`tick`]). The run stops at the
/// first tick whose successor would get the same input; the result is that tick's relations.
pub fn evaluate(prog: &Program, max_ticks: usize) -> Outcome {
    let stateful = stateful(prog);
    let mut input = empty_db(prog);
    for (rel, t) in prog.program_facts.iter().chain(&prog.inserted) {
        input[*rel].insert(t.clone());
    }
    let always: Db = input
        .iter()
        .enumerate()
        .map(|(r, rel)| if stateful[r] { Rel::new() } else { rel.clone() })
        .collect();
    let mut work = Work(0);
    for _tick in 0..max_ticks {
        let Ok((db, carried)) = step(prog, &input, &mut work) else {
            return Outcome::TooBig;
        };
        let mut next = always.clone();
        for (r, rel) in carried.into_iter().enumerate() {
            next[r].extend(rel);
        }
        if next == input {
            return Outcome::Ok(db);
        }
        input = next;
    }
    Outcome::TooManyTicks
}

/// The relations with state over time: `.persist`ed ones and heads of `@next` rules. Their given
/// facts are their state at tick 0; the given facts of every other relation hold at every tick.
pub fn stateful(prog: &Program) -> Vec<bool> {
    let mut stateful = prog.persist.clone();
    for rule in prog.rules.iter().filter(|r| r.time == Time::Next) {
        stateful[rule.head.rel] = true;
    }
    stateful
}

/// Evaluates one tick from scratch. `input` is everything that holds at this tick: what the
/// previous tick carried over (or, at the first tick, the given facts of stateful relations),
/// the facts that arrived for this tick only, and the given facts that hold at every tick.
///
/// Returns the tick's relations (the deductive rules run to a fixpoint over `input`, stratum by
/// stratum) and what it carries into the next tick: the contents of the persisted relations and
/// the heads of the `@next` and `@async` rules. `None` if the tick is too expensive for the
/// naive evaluator (more than [`WORK_LIMIT`] matches).
#[allow(
    dead_code,
    reason = "used by tests/incremental.rs, not by tests/differential.rs"
)]
pub fn tick(prog: &Program, input: &Db) -> Option<(Db, Db)> {
    step(prog, input, &mut Work(0)).ok()
}

fn step(prog: &Program, input: &Db, work: &mut Work) -> Result<(Db, Db), TooBig> {
    let mut db = empty_db(prog);
    for (r, rel) in input.iter().enumerate() {
        for t in rel {
            add(prog, &mut db, r, t.clone());
        }
    }
    fixpoint(prog, &mut db, work)?;
    let mut next = empty_db(prog);
    for (r, rel) in db.iter().enumerate() {
        if prog.persist[r] {
            next[r].extend(rel.iter().cloned());
        }
    }
    for rule in prog.rules.iter().filter(|r| r.time != Time::Now) {
        next[rule.head.rel].extend(fire(rule, &db, work)?);
    }
    Ok((db, next))
}

fn empty_db(prog: &Program) -> Db {
    vec![Rel::new(); prog.arities.len()]
}

/// The stratum of each relation, over the deductive rules: a positive dependency may stay in the
/// same stratum, a negated or aggregated one must be strictly lower.
pub fn strata(prog: &Program) -> Vec<usize> {
    let n = prog.arities.len();
    let mut s = vec![0usize; n];
    loop {
        let mut changed = false;
        for rule in prog.rules.iter().filter(|r| r.time == Time::Now) {
            let h = rule.head.rel;
            for lit in &rule.body {
                let need = match lit {
                    // Only a head of the same lattice reads a lattice value as it grows.
                    Lit::Pos(a)
                        if prog.lattice[a.rel].is_some()
                            && prog.lattice[h] != prog.lattice[a.rel] =>
                    {
                        s[a.rel] + 1
                    }
                    Lit::Pos(a) => s[a.rel],
                    Lit::Neg(a) | Lit::Agg { atom: a, .. } => s[a.rel] + 1,
                    Lit::Cmp(..) | Lit::Assign(..) => 0,
                };
                if s[h] < need {
                    s[h] = need;
                    changed = true;
                }
            }
        }
        assert!(
            s.iter().all(|&x| x <= n),
            "naive: program is not stratifiable"
        );
        if !changed {
            return s;
        }
    }
}

/// Runs the deductive rules to a fixpoint, stratum by stratum.
fn fixpoint(prog: &Program, db: &mut Db, work: &mut Work) -> Result<(), TooBig> {
    let s = strata(prog);
    let top = s.iter().copied().max().unwrap_or(0);
    for stratum in 0..=top {
        loop {
            let mut changed = false;
            for rule in &prog.rules {
                if rule.time != Time::Now || s[rule.head.rel] != stratum {
                    continue;
                }
                for t in fire(rule, db, work)? {
                    changed |= add(prog, db, rule.head.rel, t);
                }
            }
            if !changed {
                break;
            }
        }
    }
    Ok(())
}

/// Adds a tuple to a relation: to a lattice relation, by replacing its key's tuple when the value
/// is larger. Whether the relation changed.
fn add(prog: &Program, db: &mut Db, rel: usize, t: Tuple) -> bool {
    let Some(lat) = prog.lattice[rel] else {
        return db[rel].insert(t);
    };
    let mut t = t;
    let n = t.len() - lat.width();
    lat.normalize(&mut t[n..]);
    let held = db[rel].iter().find(|u| u[..n] == t[..n]).cloned();
    match held {
        Some(u) if !lat.above(&t[n..], &u[n..]) => false,
        Some(u) => {
            db[rel].remove(&u);
            db[rel].insert(t)
        }
        None => db[rel].insert(t),
    }
}

/// All head tuples the rule derives from `db`.
fn fire(rule: &Rule, db: &Db, work: &mut Work) -> Result<Rel, TooBig> {
    let mut envs = vec![Env::new()];
    for lit in &rule.body {
        let scanned = match lit {
            Lit::Pos(a) | Lit::Neg(a) | Lit::Agg { atom: a, .. } => db[a.rel].len(),
            Lit::Cmp(..) | Lit::Assign(..) => 0,
        };
        work.spend(envs.len() * (scanned + 1))?;
        let mut out = Vec::new();
        for env in &envs {
            extend(lit, env, db, &mut out);
        }
        envs = out;
    }
    Ok(envs
        .iter()
        .map(|env| rule.head.args.iter().map(|t| value(t, env)).collect())
        .collect())
}

fn value(t: &Term, env: &Env) -> i64 {
    match t {
        Term::Var(v) => *env
            .get(v)
            .unwrap_or_else(|| panic!("naive: variable {v} used before it is bound")),
        Term::Const(c) => *c,
        Term::Wild => panic!("naive: wildcard used as a value"),
    }
}

/// Matches `tuple` against `atom` under `env`; returns the extended environment on success.
fn matches(atom: &Atom, tuple: &Tuple, env: &Env) -> Option<Env> {
    let mut env = env.clone();
    for (arg, &x) in atom.args.iter().zip(tuple) {
        match arg {
            Term::Wild => {}
            Term::Const(c) => {
                if *c != x {
                    return None;
                }
            }
            Term::Var(v) => match env.get(v) {
                Some(&bound) if bound != x => return None,
                Some(_) => {}
                None => {
                    env.insert(v.clone(), x);
                }
            },
        }
    }
    Some(env)
}

fn compare(op: CmpOp, a: i64, b: i64) -> bool {
    match op {
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
    }
}

fn arith(op: BinOp, a: i64, b: i64) -> i64 {
    let r = match op {
        BinOp::Add => a.checked_add(b),
        BinOp::Sub => a.checked_sub(b),
        BinOp::Mul => a.checked_mul(b),
        BinOp::Div => a.checked_div(b),
        BinOp::Rem => a.checked_rem(b),
        // The exponents and shift amounts the generator writes are small and non-negative.
        BinOp::Pow => (0..b).try_fold(1i64, |acc, _| acc.checked_mul(a)),
        BinOp::Band => Some(a & b),
        BinOp::Bor => Some(a | b),
        BinOp::Bxor => Some(a ^ b),
        BinOp::Bshl => a.checked_mul(1 << b).or(Some(a.wrapping_mul(1 << b))),
        BinOp::Bshr => Some(a.div_euclid(1 << b)),
        BinOp::Land => Some(((a != 0) && (b != 0)) as i64),
        BinOp::Lor => Some(((a != 0) || (b != 0)) as i64),
        BinOp::Lxor => Some(((a != 0) ^ (b != 0)) as i64),
    };
    r.unwrap_or_else(|| panic!("naive: arithmetic error in {a} {op:?} {b}"))
}

fn extend(lit: &Lit, env: &Env, db: &Db, out: &mut Vec<Env>) {
    match lit {
        Lit::Pos(atom) => {
            for t in &db[atom.rel] {
                if let Some(e) = matches(atom, t, env) {
                    out.push(e);
                }
            }
        }
        Lit::Neg(atom) => {
            if !db[atom.rel].iter().any(|t| matches(atom, t, env).is_some()) {
                out.push(env.clone());
            }
        }
        Lit::Cmp(op, a, b) => {
            if compare(*op, value(a, env), value(b, env)) {
                out.push(env.clone());
            }
        }
        Lit::Assign(v, expr) => {
            assert!(!env.contains_key(v), "naive: {v} assigned twice");
            let x = match expr {
                Expr::Neg(t) => arith(BinOp::Sub, 0, value(t, env)),
                Expr::Bin(op, a, b) => arith(*op, value(a, env), value(b, env)),
            };
            let mut e = env.clone();
            e.insert(v.clone(), x);
            out.push(e);
        }
        Lit::Agg {
            result,
            func,
            target,
            atom,
            filter,
        } => {
            // The local variables: those of the atom not bound outside, in order of appearance.
            let mut locals: Vec<&String> = Vec::new();
            for arg in &atom.args {
                if let Term::Var(v) = arg
                    && !env.contains_key(v)
                    && !locals.contains(&v)
                {
                    locals.push(v);
                }
            }
            // Distinct assignments of the local variables.
            let mut assignments: BTreeSet<Vec<i64>> = BTreeSet::new();
            let mut target_of: BTreeMap<Vec<i64>, i64> = BTreeMap::new();
            for t in &db[atom.rel] {
                let Some(e) = matches(atom, t, env) else {
                    continue;
                };
                if let Some((op, a, b)) = filter
                    && !compare(*op, value(a, &e), value(b, &e))
                {
                    continue;
                }
                let key: Vec<i64> = locals.iter().map(|v| e[*v]).collect();
                if let Some(tv) = target {
                    target_of.insert(key.clone(), e[tv]);
                }
                assignments.insert(key);
            }
            let targets = || assignments.iter().map(|k| target_of[k]);
            let x = match func {
                AggFunc::Count => Some(assignments.len() as i64),
                AggFunc::Sum => Some(targets().fold(0i64, |acc, v| arith(BinOp::Add, acc, v))),
                AggFunc::Min => targets().min(),
                AggFunc::Max => targets().max(),
            };
            if let Some(x) = x {
                assert!(!env.contains_key(result), "naive: {result} assigned twice");
                let mut e = env.clone();
                e.insert(result.clone(), x);
                out.push(e);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering to calm source text.

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Var(v) => f.write_str(v),
            Term::Const(c) => write!(f, "{c}"),
            Term::Wild => f.write_str("_"),
        }
    }
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
        }
    }
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Pow => "^",
            BinOp::Band => "band",
            BinOp::Bor => "bor",
            BinOp::Bxor => "bxor",
            BinOp::Bshl => "bshl",
            BinOp::Bshr => "bshr",
            BinOp::Land => "land",
            BinOp::Lor => "lor",
            BinOp::Lxor => "lxor",
        }
    }
}

impl AggFunc {
    /// The function's name.
    pub fn as_str(self) -> &'static str {
        match self {
            AggFunc::Count => "count",
            AggFunc::Sum => "sum",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
        }
    }
}

impl Program {
    /// `name(a, b)` (`name(_, a, b)` for the head relation of an `@async` rule); with `boxed`,
    /// every column holds a one-field record `[a]`.
    fn atom_as(&self, a: &Atom, boxed: bool) -> String {
        let mut args: Vec<String> = a
            .args
            .iter()
            .enumerate()
            .map(|(c, t)| boxed_term(t, self.boxed(a.rel, c, boxed)))
            .collect();
        if self.is_mailbox(a.rel) {
            args.insert(0, "_".into());
        }
        format!("{}({})", self.names[a.rel], args.join(", "))
    }

    /// Whether column `col` of relation `rel` holds a one-field record in the boxed rendering
    /// (every column but a lattice relation's value, a `min`/`max` number).
    pub fn boxed(&self, rel: usize, col: usize, boxed: bool) -> bool {
        let lattice_value = self
            .lattice
            .get(rel)
            .copied()
            .flatten()
            .is_some_and(|l| col + l.width() >= self.arities[rel]);
        boxed && !lattice_value
    }

    /// Whether the relation is the head of an `@async` rule (and so has a location column).
    pub fn is_mailbox(&self, rel: usize) -> bool {
        self.rules
            .iter()
            .any(|r| r.time == Time::Async && r.head.rel == rel)
    }

    fn lit(&self, l: &Lit, boxed: bool) -> String {
        match l {
            Lit::Pos(a) => self.atom_as(a, boxed),
            Lit::Neg(a) => format!("!{}", self.atom_as(a, boxed)),
            Lit::Cmp(op, a, b) => format!("{a} {} {b}", op.as_str()),
            Lit::Assign(v, Expr::Neg(t)) => format!("{v} = -{t}"),
            Lit::Assign(v, Expr::Bin(op, a, b)) => format!("{v} = {a} {} {b}", op.as_str()),
            Lit::Agg {
                result,
                func,
                target,
                atom,
                filter,
            } => {
                let target = target.as_ref().map(|t| format!(" {t}")).unwrap_or_default();
                let filter = filter
                    .as_ref()
                    .map(|(op, a, b)| format!(", {a} {} {b}", op.as_str()))
                    .unwrap_or_default();
                format!(
                    "{result} = {}{target} : {{ {}{filter} }}",
                    func.as_str(),
                    self.atom_as(atom, boxed)
                )
            }
        }
    }

    /// The program as calm source text.
    pub fn render(&self) -> String {
        self.render_as(false)
    }

    /// The same program with every number column of every relation holding a one-field
    /// record `[x]` of type `Box` instead (`_` stays a whole-column wildcard): the engine's
    /// records against the naive evaluator's plain numbers. Inserted facts are given as the
    /// records' text (`"[3]"`).
    pub fn render_boxed(&self) -> String {
        self.render_as(true)
    }

    fn render_as(&self, boxed: bool) -> String {
        let mut s = String::new();
        let col_ty = if boxed {
            s += ".type Box = [v: number]\n";
            "Box"
        } else {
            "number"
        };
        for (i, &arity) in self.arities.iter().enumerate() {
            let mut cols: Vec<String> = (0..arity)
                .map(|c| {
                    let ty = if self.boxed(i, c, boxed) {
                        col_ty
                    } else {
                        "number"
                    };
                    format!("c{c}: {ty}")
                })
                .collect();
            if let Some(l) = self.lattice.get(i).copied().flatten() {
                let c = arity - l.width();
                cols[c] = format!("c{c}: {}", l.name());
            }
            if self.is_mailbox(i) {
                cols.insert(0, "at: symbol".into());
            }
            s += &format!(".decl {}({})\n", self.names[i], cols.join(", "));
        }
        for (i, &p) in self.persist.iter().enumerate() {
            if p {
                s += &format!(".persist {}\n", self.names[i]);
            }
        }
        for (rel, t) in &self.program_facts {
            let args: Vec<String> = t
                .iter()
                .enumerate()
                .map(|(c, x)| boxed_term(&Term::Const(*x), self.boxed(*rel, c, boxed)))
                .collect();
            s += &format!("{}({}).\n", self.names[*rel], args.join(", "));
        }
        for rule in &self.rules {
            let mut body: Vec<String> = rule.body.iter().map(|l| self.lit(l, boxed)).collect();
            if !body.is_empty() {
                let k = rule.rotate % body.len();
                body.rotate_left(k);
            }
            let head = match rule.time {
                Time::Now => self.atom_as(&rule.head, boxed),
                Time::Next => format!("{}@next", self.atom_as(&rule.head, boxed)),
                Time::Async => {
                    body.push("$self(me)".into());
                    let args: Vec<String> = rule
                        .head
                        .args
                        .iter()
                        .map(|t| boxed_term(t, boxed))
                        .collect();
                    format!(
                        "{}(@me, {})@async",
                        self.names[rule.head.rel],
                        args.join(", ")
                    )
                }
            };
            s += &format!("{head} :- {}.\n", body.join(", "));
        }
        s
    }

    /// The inserted facts, one `name(args)` a line.
    pub fn render_inserted(&self) -> String {
        let mut s = String::new();
        for (rel, t) in &self.inserted {
            let args: Vec<String> = t.iter().map(|x| x.to_string()).collect();
            s += &format!("{}({})\n", self.names[*rel], args.join(", "));
        }
        s
    }
}

/// A term as written, inside a one-field record when `boxed` (a wildcard stays `_`).
fn boxed_term(t: &Term, boxed: bool) -> String {
    match t {
        Term::Wild => "_".into(),
        t if boxed => format!("[{t}]"),
        t => t.to_string(),
    }
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\n--- program ---\n{}--- inserted facts ---\n{}---------------\n",
            self.render(),
            self.render_inserted()
        )
    }
}
