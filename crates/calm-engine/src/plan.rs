//! Planning: each rule becomes a pipeline of steps over indexes.
//!
//! A rule with positive atoms `A1, ..., An` (in a connected order) becomes a scan of `A1`
//! (n = 1) or a chain of binary joins `A1 ⋈ A2 → I1`, `I1 ⋈ A3 → I2`, ..., the last one writing
//! the head. Every join input is an index keyed by the variables the two sides share, in one
//! agreed order; intermediates carry only the variables still needed. Filters, assignments,
//! negations and aggregates run in the step where their variables are first all bound.

use crate::emit::{AggOp, AggStep, CExpr, CTerm, Op, Sink};
use crate::index::Word;
use crate::value::Interner;
use calm_ir::{Atom, BodyItem, Const, Expr, Program, RelId, RuleId, Term, VarId};
use calm_syntax::Span;
use std::collections::{HashMap, HashSet};

/// Which columns of a relation an index is keyed by (in order); the value is the other
/// columns, ascending.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct IndexSpec {
    pub rel: RelId,
    pub key: Vec<usize>,
    pub val: Vec<usize>,
}

impl IndexSpec {
    pub fn new(rel: RelId, arity: usize, key: Vec<usize>) -> Self {
        let val = (0..arity).filter(|c| !key.contains(c)).collect();
        IndexSpec { rel, key, val }
    }

    /// The relation's columns in the order the index stores them.
    pub fn cols(&self) -> impl Iterator<Item = usize> + '_ {
        self.key.iter().chain(&self.val).copied()
    }
}

/// Where a step reads from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// An index of a relation computed in this stratum.
    Dyn(usize),
    /// An index of a relation completed before this stratum.
    Static(usize),
    /// An intermediate result of a rule.
    Inter(usize),
}

#[derive(Clone, Debug)]
pub(crate) enum StepKind {
    /// No positive atom: runs once.
    Unit,
    /// Every tuple of one index.
    Scan { src: Slot, map: Vec<usize> },
    /// Two indexes joined on their keys.
    Join {
        a: Slot,
        b: Slot,
        kmap: Vec<usize>,
        amap: Vec<usize>,
        bmap: Vec<usize>,
    },
}

#[derive(Clone, Debug)]
pub(crate) enum Dest {
    /// The head relation's dynamic indexes (filled in after all rules are planned).
    Head(RelId, Vec<usize>),
    /// An intermediate.
    Inter(usize),
    /// Rows handed back to the caller (`@next`/`@async` heads).
    Collect,
}

#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub kind: StepKind,
    pub ops: Vec<Op>,
    /// Where each operation was written, for runtime errors.
    pub spans: Vec<Span>,
    pub sink: Sink,
    pub dest: Dest,
}

#[derive(Clone, Debug)]
pub(crate) struct RulePlan {
    pub rule: RuleId,
    pub nregs: usize,
    pub steps: Vec<Step>,
}

/// An aggregate over a single atom of a complete relation, grouped by the atom's bound
/// columns: computed for every group in one pass before the stratum runs, then looked up.
#[derive(Clone, Debug)]
pub(crate) struct GroupedAgg {
    pub rel: RelId,
    /// The columns whose values are given from outside (the group key), in key order.
    pub key_cols: Vec<usize>,
    /// The register of each column of the atom.
    pub col_regs: Vec<usize>,
    pub target: Option<CExpr>,
    pub func: calm_syntax::ast::AggFunc,
    pub nregs: usize,
    pub rule: RuleId,
    pub span: Span,
}

/// The plan of one stratum (or of the end-of-tick temporal rules).
#[derive(Clone, Debug, Default)]
pub(crate) struct StratumPlan {
    pub relations: Vec<RelId>,
    pub dyn_specs: Vec<IndexSpec>,
    pub static_specs: Vec<IndexSpec>,
    /// (key width, value width) of each intermediate.
    pub inters: Vec<(usize, usize)>,
    /// Aggregates computed for all groups up front.
    pub grouped: Vec<GroupedAgg>,
    /// Whether a rule reads a relation computed here: then the stratum iterates to a fixpoint;
    /// otherwise one pass over the steps, in order, computes it.
    pub recursive: bool,
    pub rules: Vec<RulePlan>,
}

struct Planner<'a> {
    prog: &'a Program,
    interner: &'a mut Interner,
    local: HashSet<RelId>,
    plan: StratumPlan,
    dyn_ids: HashMap<IndexSpec, usize>,
    static_ids: HashMap<IndexSpec, usize>,
    /// The rule being planned and its number of registers.
    current: (RuleId, usize),
}

/// Plans the same-tick rules of a stratum.
pub(crate) fn plan_stratum(prog: &Program, stratum: usize, interner: &mut Interner) -> StratumPlan {
    let s = &prog.strata[stratum];
    let mut p = Planner::new(prog, interner, s.relations.iter().copied().collect());
    p.plan.relations = s.relations.clone();
    p.plan.recursive = s.recursive;
    for &r in &s.rules {
        let rp = p.rule(r, false);
        p.plan.rules.push(rp);
    }
    // Every relation gets at least one index to hold its result.
    for &rel in &s.relations {
        if !p.plan.dyn_specs.iter().any(|sp| sp.rel == rel) {
            let arity = prog.relations[rel].arity;
            p.slot(rel, IndexSpec::new(rel, arity, Vec::new()));
        }
    }
    // Heads write to every index of their relation.
    let specs = p.plan.dyn_specs.clone();
    for rp in &mut p.plan.rules {
        for step in &mut rp.steps {
            if let Dest::Head(rel, slots) = &mut step.dest {
                for (i, sp) in specs.iter().enumerate() {
                    if sp.rel == *rel {
                        slots.push(i);
                        step.sink.perms.push(sp.cols().collect());
                    }
                }
            }
        }
    }
    p.plan
}

/// Plans the `@next` and `@async` rules, run once at the end of a tick over complete relations.
pub(crate) fn plan_temporal(prog: &Program, interner: &mut Interner) -> StratumPlan {
    let mut p = Planner::new(prog, interner, HashSet::new());
    for &r in &prog.temporal_rules {
        let rp = p.rule(r, true);
        p.plan.rules.push(rp);
    }
    p.plan
}

impl<'a> Planner<'a> {
    fn new(prog: &'a Program, interner: &'a mut Interner, local: HashSet<RelId>) -> Self {
        Planner {
            prog,
            interner,
            local,
            plan: StratumPlan::default(),
            dyn_ids: HashMap::new(),
            static_ids: HashMap::new(),
            current: (0, 0),
        }
    }

    fn slot(&mut self, rel: RelId, spec: IndexSpec) -> Slot {
        if self.local.contains(&rel) {
            let n = self.dyn_ids.len();
            let id = *self.dyn_ids.entry(spec.clone()).or_insert(n);
            if id == n {
                self.plan.dyn_specs.push(spec);
            }
            Slot::Dyn(id)
        } else {
            Slot::Static(self.static_index(spec))
        }
    }

    fn static_index(&mut self, spec: IndexSpec) -> usize {
        let n = self.static_ids.len();
        let id = *self.static_ids.entry(spec.clone()).or_insert(n);
        if id == n {
            self.plan.static_specs.push(spec);
        }
        id
    }

    fn word(&mut self, c: &Const) -> Word {
        match c {
            Const::Number(n) => self.interner.encode(*n),
            Const::Symbol(s) => self.interner.intern(s),
        }
    }

    fn expr(&mut self, e: &Expr) -> CExpr {
        match e {
            Expr::Var(v) => CExpr::Reg(*v),
            Expr::Const(c) => {
                let n = match c {
                    Const::Number(n) => *n,
                    Const::Symbol(_) => 0,
                };
                CExpr::Const(self.word(c), n)
            }
            Expr::Neg(a) => CExpr::Neg(Box::new(self.expr(a))),
            Expr::Bin(op, a, b) => CExpr::Bin(*op, Box::new(self.expr(a)), Box::new(self.expr(b))),
            Expr::Call(f, args) => CExpr::Call(*f, args.iter().map(|a| self.expr(a)).collect()),
        }
    }

    fn rule(&mut self, rid: RuleId, collect: bool) -> RulePlan {
        let prog = self.prog;
        let rule = &prog.rules[rid];
        self.current = (rid, rule.vars.len());
        let mut atoms: Vec<&Atom> = Vec::new();
        let mut pending: Vec<&BodyItem> = Vec::new();
        for item in &rule.body {
            match item {
                BodyItem::Atom(a) => atoms.push(a),
                other => pending.push(other),
            }
        }
        let atoms = connected_order(atoms, &HashSet::new());
        let head_exprs: Vec<CExpr> = rule.head_args.iter().map(|e| self.expr(e)).collect();
        let head_sink = || Sink {
            exprs: head_exprs.clone(),
            perms: if collect {
                vec![(0..rule.head_args.len()).collect()]
            } else {
                Vec::new()
            },
        };
        let head_dest = || {
            if collect {
                Dest::Collect
            } else {
                Dest::Head(rule.head, Vec::new())
            }
        };
        let mut head_vars = HashSet::new();
        for e in &rule.head_args {
            e.for_each_var(&mut |v| {
                head_vars.insert(v);
            });
        }
        let mut bound: HashSet<VarId> = HashSet::new();
        let mut steps = Vec::new();
        let vars_of = |a: &Atom| -> Vec<VarId> { a.vars().collect() };
        if atoms.is_empty() {
            let (ops, spans) = self.ready_ops(&mut pending, &mut bound).into_iter().unzip();
            steps.push(Step {
                kind: StepKind::Unit,
                ops,
                spans,
                sink: head_sink(),
                dest: head_dest(),
            });
            return RulePlan {
                rule: rid,
                nregs: rule.vars.len(),
                steps,
            };
        }
        let first = atoms[0];
        bound.extend(vars_of(first));
        if atoms.len() == 1 {
            let arity = prog.relations[first.rel].arity;
            let spec = IndexSpec::new(first.rel, arity, Vec::new());
            let map = spec.cols().map(|c| var_at(first, c)).collect();
            let src = self.slot(first.rel, spec);
            let (ops, spans) = self.ready_ops(&mut pending, &mut bound).into_iter().unzip();
            steps.push(Step {
                kind: StepKind::Scan { src, map },
                ops,
                spans,
                sink: head_sink(),
                dest: head_dest(),
            });
            return RulePlan {
                rule: rid,
                nregs: rule.vars.len(),
                steps,
            };
        }
        // Left side of the next join: an atom or an intermediate with its key and value regs.
        enum Left<'x> {
            Atom(&'x Atom),
            Inter(usize, Vec<usize>),
        }
        let mut left = Left::Atom(first);
        // Filters over the first atom alone run before the first join.
        let mut early_ops = self.ready_ops(&mut pending, &mut bound);
        for i in 1..atoms.len() {
            let b = atoms[i];
            let shared: Vec<VarId> = vars_of(b)
                .into_iter()
                .filter(|v| bound.contains(v))
                .collect();
            let (a_slot, amap) = match &left {
                Left::Atom(a) => {
                    let key: Vec<usize> = shared.iter().map(|v| col_of(a, *v)).collect();
                    let spec = IndexSpec::new(a.rel, a.args.len(), key);
                    let amap = spec.val.iter().map(|&c| var_at(a, c)).collect();
                    (self.slot(a.rel, spec), amap)
                }
                Left::Inter(slot, vals) => (Slot::Inter(*slot), vals.clone()),
            };
            let bkey: Vec<usize> = shared.iter().map(|v| col_of(b, *v)).collect();
            let bspec = IndexSpec::new(b.rel, b.args.len(), bkey);
            let bmap = bspec.val.iter().map(|&c| var_at(b, c)).collect();
            let b_slot = self.slot(b.rel, bspec);
            bound.extend(vars_of(b));
            let mut ops = std::mem::take(&mut early_ops);
            ops.extend(self.ready_ops(&mut pending, &mut bound));
            let (ops, spans): (Vec<Op>, Vec<Span>) = ops.into_iter().unzip();
            let kind = StepKind::Join {
                a: a_slot,
                b: b_slot,
                kmap: shared.clone(),
                amap,
                bmap,
            };
            if i + 1 == atoms.len() {
                steps.push(Step {
                    kind,
                    ops,
                    spans,
                    sink: head_sink(),
                    dest: head_dest(),
                });
                break;
            }
            // Carry what later atoms, pending operations and the head need.
            let next = atoms[i + 1];
            let key: Vec<VarId> = vars_of(next)
                .into_iter()
                .filter(|v| bound.contains(v))
                .collect();
            let mut needed: HashSet<VarId> = head_vars.clone();
            for a in &atoms[i + 1..] {
                needed.extend(vars_of(a));
            }
            for item in &pending {
                calm_ir::for_each_item_var(item, &mut |v| {
                    needed.insert(v);
                });
            }
            let mut vals: Vec<VarId> = bound
                .iter()
                .copied()
                .filter(|v| needed.contains(v) && !key.contains(v))
                .collect();
            vals.sort_unstable();
            let slot = self.plan.inters.len();
            self.plan.inters.push((key.len(), vals.len()));
            let exprs: Vec<CExpr> = key.iter().chain(&vals).map(|&v| CExpr::Reg(v)).collect();
            let n = exprs.len();
            steps.push(Step {
                kind,
                ops,
                spans,
                sink: Sink {
                    exprs,
                    perms: vec![(0..n).collect()],
                },
                dest: Dest::Inter(slot),
            });
            left = Left::Inter(slot, vals);
        }
        RulePlan {
            rule: rid,
            nregs: rule.vars.len(),
            steps,
        }
    }

    /// Compiles and removes the pending items whose variables are bound, repeatedly (an
    /// assignment can make others ready).
    fn ready_ops(
        &mut self,
        pending: &mut Vec<&BodyItem>,
        bound: &mut HashSet<VarId>,
    ) -> Vec<(Op, Span)> {
        let mut ops = Vec::new();
        while let Some(pos) = pending.iter().position(|it| ready(it, bound)) {
            let item = pending.remove(pos);
            let span = match item {
                BodyItem::Compare { span, .. } | BodyItem::Assign { span, .. } => *span,
                BodyItem::Negated(a) | BodyItem::Atom(a) => a.span,
                BodyItem::Aggregate(g) => g.span,
            };
            ops.push((self.op(item, bound), span));
        }
        ops
    }

    fn op(&mut self, item: &BodyItem, bound: &mut HashSet<VarId>) -> Op {
        match item {
            BodyItem::Compare { op, lhs, rhs, .. } => Op::Filter {
                op: *op,
                lhs: self.expr(lhs),
                rhs: self.expr(rhs),
            },
            BodyItem::Assign { var, expr, .. } => {
                bound.insert(*var);
                Op::Assign {
                    reg: *var,
                    expr: self.expr(expr),
                }
            }
            BodyItem::Negated(a) => {
                let key_cols: Vec<usize> = (0..a.args.len())
                    .filter(|&c| !matches!(a.args[c], Term::Wildcard))
                    .collect();
                let key = key_cols.iter().map(|&c| self.term(&a.args[c])).collect();
                let index = self.static_index(IndexSpec::new(a.rel, a.args.len(), key_cols));
                Op::NotExists { index, key }
            }
            BodyItem::Aggregate(g) => {
                if let Some(op) = self.grouped(g, bound) {
                    bound.insert(g.var);
                    return op;
                }
                let mut inner = bound.clone();
                let mut atoms = Vec::new();
                let mut pend: Vec<&BodyItem> = Vec::new();
                for it in &g.body {
                    match it {
                        BodyItem::Atom(a) => atoms.push(a),
                        other => pend.push(other),
                    }
                }
                let atoms = connected_order(atoms, &inner);
                let mut steps: Vec<AggStep> = self
                    .ready_ops(&mut pend, &mut inner)
                    .into_iter()
                    .map(|(op, _)| AggStep::Op(op))
                    .collect();
                for a in atoms {
                    let key_cols: Vec<usize> = (0..a.args.len())
                        .filter(|&c| matches!(&a.args[c], Term::Var(v) if inner.contains(v)))
                        .collect();
                    let key = key_cols.iter().map(|&c| self.term(&a.args[c])).collect();
                    let spec = IndexSpec::new(a.rel, a.args.len(), key_cols);
                    let bind = spec.val.iter().map(|&c| var_at(a, c)).collect();
                    let index = self.static_index(spec);
                    steps.push(AggStep::Lookup { index, key, bind });
                    for t in &a.args {
                        if let Term::Var(v) = t {
                            inner.insert(*v);
                        }
                    }
                    steps.extend(
                        self.ready_ops(&mut pend, &mut inner)
                            .into_iter()
                            .map(|(op, _)| AggStep::Op(op)),
                    );
                }
                bound.insert(g.var);
                Op::Aggregate(AggOp {
                    reg: g.var,
                    func: g.func,
                    target: g.target.as_ref().map(|t| self.expr(t)),
                    steps,
                    grouped: None,
                })
            }
            BodyItem::Atom(_) => unreachable_atom(),
        }
    }

    /// An aggregate over one atom whose target only uses the atom's variables can be computed
    /// for all groups in one pass over the relation, without an index keyed by the group.
    fn grouped(&mut self, g: &calm_ir::Aggregate, bound: &HashSet<VarId>) -> Option<Op> {
        let [BodyItem::Atom(a)] = g.body.as_slice() else {
            return None;
        };
        let atom_vars: HashSet<VarId> = a.vars().collect();
        let mut target_ok = true;
        if let Some(t) = &g.target {
            t.for_each_var(&mut |v| target_ok &= atom_vars.contains(&v) && !bound.contains(&v));
        }
        if !target_ok {
            return None;
        }
        let key_cols: Vec<usize> = (0..a.args.len())
            .filter(|&c| matches!(&a.args[c], Term::Var(v) if bound.contains(v)))
            .collect();
        let key = key_cols.iter().map(|&c| self.term(&a.args[c])).collect();
        let id = self.plan.grouped.len();
        let target = g.target.as_ref().map(|t| self.expr(t));
        self.plan.grouped.push(GroupedAgg {
            rel: a.rel,
            col_regs: (0..a.args.len()).map(|c| var_at(a, c)).collect(),
            key_cols,
            target,
            func: g.func,
            nregs: self.current.1,
            rule: self.current.0,
            span: g.span,
        });
        Some(Op::Aggregate(AggOp {
            reg: g.var,
            func: g.func,
            target: None,
            steps: Vec::new(),
            grouped: Some((id, key)),
        }))
    }

    fn term(&mut self, t: &Term) -> CTerm {
        match t {
            Term::Var(v) => CTerm::Reg(*v),
            Term::Const(c) => CTerm::Const(self.word(c)),
            Term::Wildcard => CTerm::Const(0),
        }
    }
}

/// Positive atoms never reach `op`: they are split off before.
fn unreachable_atom() -> Op {
    Op::Filter {
        op: calm_syntax::ast::CmpOp::Ne,
        lhs: CExpr::Const(0, 0),
        rhs: CExpr::Const(0, 0),
    }
}

fn ready(item: &BodyItem, bound: &HashSet<VarId>) -> bool {
    let mut ok = true;
    match item {
        BodyItem::Assign { expr, .. } => expr.for_each_var(&mut |v| ok &= bound.contains(&v)),
        BodyItem::Aggregate(g) => ok = g.outer.iter().all(|v| bound.contains(v)),
        other => calm_ir::for_each_item_var(other, &mut |v| ok &= bound.contains(&v)),
    }
    ok
}

/// Orders atoms so that each one after the first shares a variable with those before it when
/// possible (source order otherwise), avoiding needless cross products.
fn connected_order<'x>(mut atoms: Vec<&'x Atom>, bound: &HashSet<VarId>) -> Vec<&'x Atom> {
    let mut out = Vec::with_capacity(atoms.len());
    let mut seen = bound.clone();
    while !atoms.is_empty() {
        let shares = |a: &Atom| {
            a.args
                .iter()
                .filter(|t| matches!(t, Term::Var(v) if seen.contains(v)))
                .count()
        };
        let pos = if out.is_empty() && seen.is_empty() {
            0
        } else {
            let best = atoms.iter().map(|a| shares(a)).max().unwrap_or(0);
            atoms.iter().position(|a| shares(a) == best).unwrap_or(0)
        };
        let a = atoms.remove(pos);
        for t in &a.args {
            if let Term::Var(v) = t {
                seen.insert(*v);
            }
        }
        out.push(a);
    }
    out
}

fn var_at(a: &Atom, c: usize) -> VarId {
    match &a.args[c] {
        Term::Var(v) => *v,
        // Positive atoms are normalised to variables by calm-ir.
        _ => usize::MAX,
    }
}

fn col_of(a: &Atom, v: VarId) -> usize {
    a.args.iter().position(|t| *t == Term::Var(v)).unwrap_or(0)
}
