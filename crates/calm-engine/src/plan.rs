//! Planning: each rule becomes a pipeline of steps over indexes.
//!
//! A rule with positive atoms `A1, ..., An` (in a connected order) becomes a scan of `A1`
//! (n = 1) or a chain of binary joins `A1 ⋈ A2 → I1`, `I1 ⋈ A3 → I2`, ..., the last one writing
//! the head. Every join input is an index keyed by the variables the two sides share, in one
//! agreed order; intermediates carry only the variables still needed. Filters, assignments,
//! negations and aggregates run in the step where their variables are first all bound.
//!
//! Two kinds of input are computed on their own first, into an intermediate that the chain
//! then joins (see [`inputs`]): an atom selected by a constant (`s(0)`, which calm-ir writes
//! as `s(v), v = 0`), so the selection runs at its scan instead of after a join, and a group of
//! atoms sharing no variable with the atoms before it, so it is joined once instead of inside
//! a cross product (in a recursive stratum, once per round at most, on its new rows).

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
    /// The type of the aggregated values.
    pub ty: calm_ir::Type,
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
    /// The variables the positive atoms of the rule being planned bind.
    atom_vars: HashSet<VarId>,
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
            atom_vars: HashSet::new(),
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
        self.interner.const_word(c)
    }

    fn expr(&mut self, e: &Expr) -> CExpr {
        let prog = self.prog;
        let vars = &prog.rules[self.current.0].var_types;
        crate::emit::compile(prog, vars, e, self.interner)
    }

    /// The type of the values a comparison or an aggregate of the current rule works on.
    fn ty(&self, lhs: &Expr, rhs: Option<&Expr>) -> calm_ir::Type {
        let vars = &self.prog.rules[self.current.0].var_types;
        crate::emit::compare_type(self.prog, vars, lhs, rhs.unwrap_or(lhs))
    }

    fn rule(&mut self, rid: RuleId, collect: bool) -> RulePlan {
        let prog = self.prog;
        let rule = &prog.rules[rid];
        self.current = (rid, rule.vars.len());
        self.atom_vars.clear();
        for item in &rule.body {
            if let BodyItem::Atom(a) = item {
                self.atom_vars.extend(a.vars());
            }
        }
        let mut atoms: Vec<&Atom> = Vec::new();
        let mut pending: Vec<&BodyItem> = Vec::new();
        for item in &rule.body {
            match item {
                BodyItem::Atom(a) => atoms.push(a),
                other => pending.push(other),
            }
        }
        let exprs: Vec<CExpr> = rule.head_args.iter().map(|e| self.expr(e)).collect();
        let out = Out {
            sink: Sink {
                exprs,
                perms: if collect {
                    vec![(0..rule.head_args.len()).collect()]
                } else {
                    Vec::new()
                },
            },
            dest: if collect {
                Dest::Collect
            } else {
                Dest::Head(rule.head, Vec::new())
            },
        };
        let mut head_vars = HashSet::new();
        for e in &rule.head_args {
            e.for_each_var(&mut |v| {
                head_vars.insert(v);
            });
        }
        let inputs = inputs(atoms, &mut pending);
        let mut steps = Vec::new();
        self.chain(inputs, &mut pending, &head_vars, out, &mut steps);
        RulePlan {
            rule: rid,
            nregs: rule.vars.len(),
            steps,
        }
    }

    /// Plans a chain of joins over `inputs` (in order) into `out`: a scan when there is one,
    /// else `I1 ⋈ I2 → T1`, `T1 ⋈ I3 → T2`, ..., the last join writing `out`. An input that is a
    /// group of atoms is computed first, on its own, into an intermediate keyed by the
    /// variables it shares with what precedes it. `needed_out` are the variables `out` reads.
    fn chain<'x>(
        &mut self,
        inputs: Vec<Input<'x>>,
        pending: &mut Vec<&'x BodyItem>,
        needed_out: &HashSet<VarId>,
        out: Out,
        steps: &mut Vec<Step>,
    ) {
        let prog = self.prog;
        let mut bound: HashSet<VarId> = HashSet::new();
        let mut out = Some(out);
        let Some(first) = inputs.first() else {
            let (ops, spans) = self.ready_ops(pending, &mut bound).into_iter().unzip();
            let out = out.take().unwrap_or_else(Out::none);
            steps.push(Step {
                kind: StepKind::Unit,
                ops,
                spans,
                sink: out.sink,
                dest: out.dest,
            });
            return;
        };
        if inputs.len() == 1 {
            // One input is always an atom (`inputs` makes groups only beside other inputs).
            let first = match first {
                Input::Atom(a) => *a,
                Input::Group(atoms, _) => atoms[0],
            };
            bound.extend(first.vars());
            let arity = prog.relations[first.rel].arity;
            let spec = IndexSpec::new(first.rel, arity, Vec::new());
            let map = spec.cols().map(|c| var_at(first, c)).collect();
            let src = self.slot(first.rel, spec);
            let (ops, spans) = self.ready_ops(pending, &mut bound).into_iter().unzip();
            let out = out.take().unwrap_or_else(Out::none);
            steps.push(Step {
                kind: StepKind::Scan { src, map },
                ops,
                spans,
                sink: out.sink,
                dest: out.dest,
            });
            return;
        }
        // Every variable that something after input `i` reads.
        let needed_after = |i: usize, pending: &[&BodyItem]| {
            let mut needed: HashSet<VarId> = needed_out.clone();
            for inp in &inputs[i + 1..] {
                needed.extend(inp.vars());
            }
            for item in pending {
                calm_ir::for_each_item_var(item, &mut |v| {
                    needed.insert(v);
                });
            }
            needed
        };
        // Left side of the next join: an atom or an intermediate with its value variables.
        enum Left<'y> {
            Atom(&'y Atom),
            Inter(usize, Vec<usize>),
        }
        let mut left = match first {
            Input::Atom(a) => Left::Atom(a),
            Input::Group(atoms, locals) => {
                let vars = inputs[0].vars();
                let after: HashSet<VarId> = vars.iter().copied().collect();
                let key = inputs[1].shared(&after);
                let needed = needed_after(0, pending);
                let (slot, vals) = self.group(atoms, locals, key, &vars, &needed, steps);
                Left::Inter(slot, vals)
            }
        };
        bound.extend(inputs[0].vars());
        // Filters over the first input alone run in the first join's step.
        let mut early_ops = self.ready_ops(pending, &mut bound);
        // A key of the next atom computed by an assignment from the first atom's variables
        // (`r = [x, y]`): the first atom is scanned, with those operations, into an
        // intermediate keyed by it.
        if let Left::Atom(a) = left {
            let key = inputs[1].shared(&bound);
            if key.iter().any(|v| !a.args.contains(&Term::Var(*v))) {
                let needed = needed_after(0, pending);
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
                let spec = IndexSpec::new(a.rel, a.args.len(), Vec::new());
                let map = spec.cols().map(|c| var_at(a, c)).collect();
                let src = self.slot(a.rel, spec);
                let (ops, spans) = std::mem::take(&mut early_ops).into_iter().unzip();
                steps.push(Step {
                    kind: StepKind::Scan { src, map },
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
        }
        for i in 1..inputs.len() {
            let shared = inputs[i].shared(&bound);
            let (a_slot, amap) = match &left {
                Left::Atom(a) => {
                    let key: Vec<usize> = shared.iter().map(|v| col_of(a, *v)).collect();
                    let spec = IndexSpec::new(a.rel, a.args.len(), key);
                    let amap = spec.val.iter().map(|&c| var_at(a, c)).collect();
                    (self.slot(a.rel, spec), amap)
                }
                Left::Inter(slot, vals) => (Slot::Inter(*slot), vals.clone()),
            };
            let (b_slot, bmap) = match &inputs[i] {
                Input::Atom(b) => {
                    let bkey: Vec<usize> = shared.iter().map(|v| col_of(b, *v)).collect();
                    let bspec = IndexSpec::new(b.rel, b.args.len(), bkey);
                    let bmap = bspec.val.iter().map(|&c| var_at(b, c)).collect();
                    (self.slot(b.rel, bspec), bmap)
                }
                Input::Group(atoms, locals) => {
                    let needed = needed_after(i, pending);
                    let vars = inputs[i].vars();
                    let (slot, vals) =
                        self.group(atoms, locals, shared.clone(), &vars, &needed, steps);
                    (Slot::Inter(slot), vals)
                }
            };
            bound.extend(inputs[i].vars());
            let mut ops = std::mem::take(&mut early_ops);
            ops.extend(self.ready_ops(pending, &mut bound));
            let (ops, spans): (Vec<Op>, Vec<Span>) = ops.into_iter().unzip();
            let kind = StepKind::Join {
                a: a_slot,
                b: b_slot,
                kmap: shared.clone(),
                amap,
                bmap,
            };
            if i + 1 == inputs.len() {
                let out = out.take().unwrap_or_else(Out::none);
                steps.push(Step {
                    kind,
                    ops,
                    spans,
                    sink: out.sink,
                    dest: out.dest,
                });
                break;
            }
            // Carry what later inputs, pending operations and the output need.
            let key = inputs[i + 1].shared(&bound);
            let needed = needed_after(i, pending);
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
    }

    /// Plans a group of atoms (with the operations over their variables alone) on its own into a
    /// new intermediate keyed by `key`, carrying the group's variables in `needed`; returns
    /// the intermediate and its value variables.
    fn group<'x>(
        &mut self,
        atoms: &[&'x Atom],
        locals: &[&'x BodyItem],
        key: Vec<VarId>,
        vars: &[VarId],
        needed: &HashSet<VarId>,
        steps: &mut Vec<Step>,
    ) -> (usize, Vec<VarId>) {
        let mut vals: Vec<VarId> = vars
            .iter()
            .copied()
            .filter(|v| needed.contains(v) && !key.contains(v))
            .collect();
        vals.sort_unstable();
        vals.dedup();
        let slot = self.plan.inters.len();
        self.plan.inters.push((key.len(), vals.len()));
        let cols: Vec<VarId> = key.iter().chain(&vals).copied().collect();
        let exprs: Vec<CExpr> = cols.iter().map(|&v| CExpr::Reg(v)).collect();
        let out = Out {
            sink: Sink {
                exprs,
                perms: vec![(0..cols.len()).collect()],
            },
            dest: Dest::Inter(slot),
        };
        let mut pend = locals.to_vec();
        let inputs = inputs(atoms.to_vec(), &mut pend);
        let needed_out = cols.into_iter().collect();
        self.chain(inputs, &mut pend, &needed_out, out, steps);
        (slot, vals)
    }

    /// Compiles and removes the pending items whose variables are bound, repeatedly (an
    /// assignment can make others ready).
    fn ready_ops(
        &mut self,
        pending: &mut Vec<&BodyItem>,
        bound: &mut HashSet<VarId>,
    ) -> Vec<(Op, Span)> {
        let mut ops = Vec::new();
        // A generator whose variable an atom binds runs after that atom, as a check: the
        // joins never take a key from a generated variable.
        let atom_vars = std::mem::take(&mut self.atom_vars);
        while let Some(pos) = pending.iter().position(|it| {
            ready(it, bound)
                && !matches!(it, BodyItem::Range { var, .. }
                    if !bound.contains(var) && atom_vars.contains(var))
        }) {
            let item = pending.remove(pos);
            let span = match item {
                BodyItem::Compare { span, .. } | BodyItem::Assign { span, .. } => *span,
                BodyItem::Negated(a) | BodyItem::Atom(a) => a.span,
                BodyItem::Aggregate(g) => g.span,
                BodyItem::Range { span, .. } => *span,
            };
            ops.push((self.op(item, bound), span));
        }
        self.atom_vars = atom_vars;
        ops
    }

    fn op(&mut self, item: &BodyItem, bound: &mut HashSet<VarId>) -> Op {
        match item {
            BodyItem::Compare { op, lhs, rhs, .. } => Op::Filter {
                op: *op,
                ty: self.ty(lhs, Some(rhs)),
                lhs: self.expr(lhs),
                rhs: self.expr(rhs),
            },
            // A variable an atom bound already (calm-ir writes `r = [x, y]` over an atom's
            // `r` this way): a check.
            BodyItem::Assign { var, expr, .. } if bound.contains(var) => Op::Filter {
                op: calm_syntax::ast::CmpOp::Eq,
                ty: self.ty(expr, None),
                lhs: CExpr::Reg(*var),
                rhs: self.expr(expr),
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
                let links = assign_links(&pend);
                let atoms = connected_order(atoms, &inner, &links);
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
                    ty: g
                        .target
                        .as_ref()
                        .map_or(calm_ir::Type::Number, |t| self.ty(t, None)),
                    target: g.target.as_ref().map(|t| self.expr(t)),
                    steps,
                    grouped: None,
                })
            }
            BodyItem::Range { var, args, .. } => {
                let check = !bound.insert(*var);
                Op::Range {
                    reg: *var,
                    check,
                    args: args.iter().map(|a| self.expr(a)).collect(),
                }
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
        let ty = g
            .target
            .as_ref()
            .map_or(calm_ir::Type::Number, |t| self.ty(t, None));
        self.plan.grouped.push(GroupedAgg {
            ty,
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
            ty,
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

/// Where a chain writes: the head's sink and destination, or an intermediate's.
struct Out {
    sink: Sink,
    dest: Dest,
}

impl Out {
    /// Never used: every chain is given its output once and writes it once.
    fn none() -> Out {
        Out {
            sink: Sink {
                exprs: Vec::new(),
                perms: Vec::new(),
            },
            dest: Dest::Collect,
        }
    }
}

/// One input of a chain of joins.
enum Input<'x> {
    /// An atom, read through an index of its relation.
    Atom(&'x Atom),
    /// Atoms (connected among themselves) and the operations over their variables alone,
    /// computed first into an intermediate.
    Group(Vec<&'x Atom>, Vec<&'x BodyItem>),
}

impl Input<'_> {
    /// The variables the input binds, in order of first occurrence.
    fn vars(&self) -> Vec<VarId> {
        let atoms: &[&Atom] = match self {
            Input::Atom(a) => std::slice::from_ref(a),
            Input::Group(atoms, _) => atoms,
        };
        let mut out: Vec<VarId> = Vec::new();
        for a in atoms {
            for v in a.vars() {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        out
    }

    /// The variables of the input that are already bound: the key it is joined on. For an
    /// atom, one per column in column order (as the index on them is keyed).
    fn shared(&self, bound: &HashSet<VarId>) -> Vec<VarId> {
        match self {
            Input::Atom(a) => a.vars().filter(|v| bound.contains(v)).collect(),
            Input::Group(..) => self
                .vars()
                .into_iter()
                .filter(|v| bound.contains(v))
                .collect(),
        }
    }
}

/// Splits a rule's positive atoms into the inputs of its chain of joins, taking the operations
/// that move with them out of `pending`:
/// - the atoms connected (through shared variables) to the first one, in a connected order;
/// - each other group of connected atoms, as one input computed on its own, with the filters
///   over its variables alone, so that it is joined (or found empty) once, before the cross
///   product with the rest instead of inside it;
/// - an atom that an equality with a constant selects from (`s(0)`: calm-ir writes it as
///   `s(v), v = 0`), also on its own with its filters, so the selection runs at the scan.
/// - when an assignment computes a variable of an atom (`r = [x, y]` over an atom's `r`), no
///   input on its own: every atom in one chain, in a connected order where a variable counts
///   as bound once an assignment can compute it, so that the atom is looked up by it.
fn inputs<'x>(atoms: Vec<&'x Atom>, pending: &mut Vec<&'x BodyItem>) -> Vec<Input<'x>> {
    if atoms.len() < 2 {
        return atoms.into_iter().map(Input::Atom).collect();
    }
    let links = assign_links(pending);
    if links
        .iter()
        .any(|(v, _)| atoms.iter().any(|a| a.args.contains(&Term::Var(*v))))
    {
        let order = connected_order(atoms, &HashSet::new(), &links);
        return order.into_iter().map(Input::Atom).collect();
    }
    // Connected components, in the order of their first atom.
    let mut groups: Vec<Vec<&Atom>> = Vec::new();
    let mut group_vars: Vec<HashSet<VarId>> = Vec::new();
    for a in atoms {
        let vars: HashSet<VarId> = a.vars().collect();
        let touching: Vec<usize> = (0..groups.len())
            .filter(|&g| !group_vars[g].is_disjoint(&vars))
            .collect();
        match touching.split_first() {
            None => {
                groups.push(vec![a]);
                group_vars.push(vars);
            }
            Some((&g, rest)) => {
                // Merge the later groups this atom connects into the first one.
                for &r in rest.iter().rev() {
                    let atoms = groups.remove(r);
                    let vs = group_vars.remove(r);
                    groups[g].extend(atoms);
                    group_vars[g].extend(vs);
                }
                groups[g].push(a);
                group_vars[g].extend(vars);
            }
        }
    }
    // The operations whose variables all belong to `vars` (filters only: an assignment or an
    // aggregate binds a variable the rest may need; a comparison with arithmetic, which can
    // fail, stays where the body puts it, after the atoms written before it).
    let take = |pending: &mut Vec<&'x BodyItem>, vars: &HashSet<VarId>| {
        let mut taken = Vec::new();
        pending.retain(|item| {
            let plain = |e: &Expr| matches!(e, Expr::Var(_) | Expr::Const(_));
            match item {
                BodyItem::Compare { lhs, rhs, .. } if plain(lhs) && plain(rhs) => {}
                BodyItem::Negated(_) => {}
                _ => return true,
            }
            let mut inside = true;
            let mut any = false;
            calm_ir::for_each_item_var(item, &mut |v| {
                any = true;
                inside &= vars.contains(&v);
            });
            if any && inside {
                taken.push(*item);
                false
            } else {
                true
            }
        });
        taken
    };
    let selects = |a: &Atom, pending: &[&BodyItem]| {
        pending.iter().any(|item| match item {
            BodyItem::Compare {
                op: calm_syntax::ast::CmpOp::Eq,
                lhs,
                rhs,
                ..
            } => matches!(
                (lhs, rhs),
                (Expr::Var(v), Expr::Const(_)) | (Expr::Const(_), Expr::Var(v))
                    if a.args.contains(&Term::Var(*v))
            ),
            _ => false,
        })
    };
    let mut out = Vec::new();
    for (g, group) in groups.into_iter().enumerate() {
        let group = connected_order(group, &HashSet::new(), &[]);
        if g == 0 {
            for a in group {
                if selects(a, pending) {
                    let vars = a.vars().collect();
                    let locals = take(pending, &vars);
                    out.push(Input::Group(vec![a], locals));
                } else {
                    out.push(Input::Atom(a));
                }
            }
            continue;
        }
        let locals = take(pending, &group_vars[g]);
        if group.len() == 1 && locals.is_empty() {
            out.push(Input::Atom(group[0]));
        } else {
            out.push(Input::Group(group, locals));
        }
    }
    out
}

/// Positive atoms never reach `op`: they are split off before.
fn unreachable_atom() -> Op {
    Op::Filter {
        op: calm_syntax::ast::CmpOp::Ne,
        ty: calm_ir::Type::Number,
        lhs: CExpr::Const(0, 0),
        rhs: CExpr::Const(0, 0),
    }
}

fn ready(item: &BodyItem, bound: &HashSet<VarId>) -> bool {
    let mut ok = true;
    match item {
        BodyItem::Assign { expr, .. } => expr.for_each_var(&mut |v| ok &= bound.contains(&v)),
        BodyItem::Aggregate(g) => ok = g.outer.iter().all(|v| bound.contains(v)),
        BodyItem::Range { args, .. } => args
            .iter()
            .for_each(|a| a.for_each_var(&mut |v| ok &= bound.contains(&v))),
        other => calm_ir::for_each_item_var(other, &mut |v| ok &= bound.contains(&v)),
    }
    ok
}

/// The assignments among `items`: the variable each binds and the variables it reads.
fn assign_links(items: &[&BodyItem]) -> Vec<(VarId, Vec<VarId>)> {
    items
        .iter()
        .filter_map(|item| match item {
            BodyItem::Assign { var, expr, .. } => {
                let mut reads = Vec::new();
                expr.for_each_var(&mut |v| reads.push(v));
                Some((*var, reads))
            }
            _ => None,
        })
        .collect()
}

/// Orders atoms so that each one after the first shares a variable with those before it when
/// possible (source order otherwise), avoiding needless cross products. A variable that one of
/// the assignments `links` computes from variables already bound counts as bound.
fn connected_order<'x>(
    mut atoms: Vec<&'x Atom>,
    bound: &HashSet<VarId>,
    links: &[(VarId, Vec<VarId>)],
) -> Vec<&'x Atom> {
    let mut out = Vec::with_capacity(atoms.len());
    let mut seen = bound.clone();
    let close = |seen: &mut HashSet<VarId>| {
        while let Some((v, _)) = links
            .iter()
            .find(|(v, reads)| !seen.contains(v) && reads.iter().all(|r| seen.contains(r)))
        {
            seen.insert(*v);
        }
    };
    close(&mut seen);
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
        close(&mut seen);
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
