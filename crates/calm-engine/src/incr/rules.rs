//! Rules compiled for incremental evaluation: a rule's body is searched from a partial binding
//! of its variables (a *seed*: a changed row of one relation it reads, or a head row to derive
//! again), by index lookups in the order a greedy planner chose for that seed, reading every
//! relation either as it is now or as it was before the tick (a [`View`]).

use super::table::{Delta, KeyBuf, Table};
use crate::emit::{Acc, CExpr, compare};
use crate::index::Word;
use crate::value::Interner;
use calm_ir::{BodyItem, Const, RelId, Term, Type, VarId};
use calm_syntax::Span;
use calm_syntax::ast::{AggFunc, CmpOp};
use std::collections::HashSet;

/// An argument of a negated atom.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Var(VarId),
    Const(Word),
    Wild,
}

/// A body item, compiled.
#[derive(Clone, Debug)]
pub(crate) enum Item {
    /// A positive atom: distinct variables, one per column.
    Atom {
        rel: RelId,
        vars: Vec<VarId>,
    },
    Neg {
        rel: RelId,
        args: Vec<Arg>,
    },
    Filter {
        op: CmpOp,
        /// The type its sides are ordered in.
        ty: Type,
        lhs: CExpr,
        rhs: CExpr,
    },
    Assign {
        var: VarId,
        expr: CExpr,
    },
    Agg(Box<Agg>),
    /// `var = range(args)`: a generator (a check when `var` is bound).
    Range {
        var: VarId,
        args: Vec<CExpr>,
    },
}

/// A body-form aggregate: its own items, searched with the grouping variables bound.
#[derive(Clone, Debug)]
pub(crate) struct Agg {
    pub var: VarId,
    pub func: AggFunc,
    /// The type of the aggregated values.
    pub ty: Type,
    pub target: Option<CExpr>,
    pub items: Vec<Item>,
    pub outer: Vec<VarId>,
    pub steps: Vec<Step>,
    /// How each negated item is looked up.
    pub negs: Vec<Option<NegLookup>>,
}

/// One step of a search.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// The rows of a positive atom's relation whose key columns equal the bound variables;
    /// binds the other columns. `ix` is the index used (none: every row).
    Lookup {
        rel: RelId,
        ix: Option<usize>,
        key: Vec<VarId>,
        /// Bound columns the index does not cover: the row must hold these values.
        check: Vec<(usize, VarId)>,
        bind: Vec<(usize, VarId)>,
    },
    /// All columns of a positive atom bound: the row must be there.
    Member { rel: RelId, vars: Vec<VarId> },
    /// An item other than a positive atom (by position in the item list).
    Op(usize),
    /// An assignment or aggregate whose variable is already bound (by the seed): its value
    /// must equal the bound one.
    Check(usize),
}

/// Where a negated atom's key comes from.
#[derive(Clone, Debug)]
pub(crate) enum NegLookup {
    /// No wildcard: a membership test of the whole row.
    Row,
    /// Some wildcards: the index on the other columns.
    Index(Option<usize>),
}

/// A rule, compiled.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    pub head: RelId,
    pub head_args: Vec<CExpr>,
    pub items: Vec<Item>,
    pub spans: Vec<Option<Span>>,
    pub nvars: usize,
    /// For each negated item (by position), how it is looked up.
    pub negs: Vec<Option<NegLookup>>,
    /// The seeds: one per relation read (positive, negated, or inside an aggregate).
    pub seeds: Vec<Seed>,
    /// The search for a given head row: head variables bound.
    pub rederive: Seed,
}

/// How a changed row of `rel` starts a search of the rule.
#[derive(Clone, Debug)]
pub(crate) struct Seed {
    pub rel: RelId,
    pub kind: SeedKind,
    /// Columns of the row bound to variables.
    pub bind: Vec<(usize, VarId)>,
    /// Columns that must equal a constant, or an earlier column (a repeated variable).
    pub consts: Vec<(usize, Word)>,
    pub same: Vec<(usize, usize)>,
    pub steps: Vec<Step>,
}

/// How a seed's relation is read by the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SeedKind {
    /// A positive atom: added rows add derivations, removed rows remove them.
    Pos,
    /// A negated atom: the other way around.
    Neg,
    /// Inside an aggregate: any change may change its value.
    Agg,
    /// A head row (to derive again).
    Head,
}

/// A failed operation: the message and the item's span (none: the head).
#[derive(Debug)]
pub(crate) struct Fail {
    pub message: &'static str,
    pub span: Option<Span>,
}

fn word(c: &Const, it: &mut Interner) -> Word {
    it.const_word(c)
}

fn expr_vars(e: &CExpr, out: &mut Vec<VarId>) {
    match e {
        CExpr::Reg(r) => out.push(*r),
        CExpr::Const(..) => {}
        CExpr::Neg(a) | CExpr::FNeg(a) => expr_vars(a, out),
        CExpr::Bin(_, a, b) | CExpr::TBin(_, _, a, b) => {
            expr_vars(a, out);
            expr_vars(b, out);
        }
        CExpr::Call(_, args, _) => args.iter().for_each(|a| expr_vars(a, out)),
        CExpr::Record(_, args) => args.iter().for_each(|a| expr_vars(a, out)),
        CExpr::Field(a, _) | CExpr::Tag(a) => expr_vars(a, out),
    }
}

/// Index requests made while planning: (relation, key columns) → filled with positions later.
pub(crate) type Wants = Vec<(RelId, Vec<usize>)>;

fn want(wants: &mut Wants, rel: RelId, cols: Vec<usize>) -> usize {
    if let Some(i) = wants.iter().position(|w| w.0 == rel && w.1 == cols) {
        return i;
    }
    wants.push((rel, cols));
    wants.len() - 1
}

/// What compiling a rule's expressions needs: the program and the types of its variables.
struct Ctx<'a> {
    prog: &'a calm_ir::Program,
    vars: &'a [Type],
}

impl Ctx<'_> {
    fn cexpr(&self, e: &calm_ir::Expr, it: &mut Interner) -> CExpr {
        crate::emit::compile(self.prog, self.vars, e, it)
    }

    fn ty(&self, lhs: &calm_ir::Expr, rhs: &calm_ir::Expr) -> Type {
        crate::emit::compare_type(self.prog, self.vars, lhs, rhs)
    }
}

fn compile_items(
    items: &[BodyItem],
    cx: &Ctx<'_>,
    it: &mut Interner,
    wants: &mut Wants,
) -> Vec<Item> {
    items
        .iter()
        .map(|b| match b {
            BodyItem::Atom(a) => Item::Atom {
                rel: a.rel,
                vars: a.vars().collect(),
            },
            BodyItem::Negated(a) => Item::Neg {
                rel: a.rel,
                args: a
                    .args
                    .iter()
                    .map(|t| match t {
                        Term::Var(v) => Arg::Var(*v),
                        Term::Const(c) => Arg::Const(word(c, it)),
                        Term::Wildcard => Arg::Wild,
                    })
                    .collect(),
            },
            BodyItem::Compare { op, lhs, rhs, .. } => Item::Filter {
                op: *op,
                ty: cx.ty(lhs, rhs),
                lhs: cx.cexpr(lhs, it),
                rhs: cx.cexpr(rhs, it),
            },
            BodyItem::Assign { var, expr, .. } => Item::Assign {
                var: *var,
                expr: cx.cexpr(expr, it),
            },
            BodyItem::Range { var, args, .. } => Item::Range {
                var: *var,
                args: args.iter().map(|a| cx.cexpr(a, it)).collect(),
            },
            BodyItem::Aggregate(g) => {
                let items = compile_items(&g.body, cx, it, wants);
                let bound: HashSet<VarId> = g.outer.iter().copied().collect();
                let steps = plan(&items, bound, None, wants);
                let negs = items
                    .iter()
                    .map(|item| match item {
                        Item::Neg { rel, args } => Some(neg_lookup(*rel, args, wants)),
                        _ => None,
                    })
                    .collect();
                Item::Agg(Box::new(Agg {
                    negs,
                    var: g.var,
                    func: g.func,
                    ty: g.target.as_ref().map_or(Type::Number, |t| cx.ty(t, t)),
                    target: g.target.as_ref().map(|t| cx.cexpr(t, it)),
                    items,
                    outer: g.outer.clone(),
                    steps,
                }))
            }
        })
        .collect()
}

fn span(b: &BodyItem) -> Option<Span> {
    match b {
        BodyItem::Atom(a) | BodyItem::Negated(a) => Some(a.span),
        BodyItem::Compare { span, .. }
        | BodyItem::Assign { span, .. }
        | BodyItem::Range { span, .. } => Some(*span),
        BodyItem::Aggregate(g) => Some(g.span),
    }
}

/// The variables an item needs bound before it can run, and the one it binds.
fn needs(item: &Item) -> (Vec<VarId>, Option<VarId>) {
    let mut v = Vec::new();
    match item {
        Item::Atom { .. } => return (v, None),
        Item::Neg { args, .. } => v.extend(args.iter().filter_map(|a| match a {
            Arg::Var(x) => Some(*x),
            _ => None,
        })),
        Item::Filter { lhs, rhs, .. } => {
            expr_vars(lhs, &mut v);
            expr_vars(rhs, &mut v);
        }
        Item::Assign { var, expr } => {
            expr_vars(expr, &mut v);
            return (v, Some(*var));
        }
        Item::Agg(g) => return (g.outer.clone(), Some(g.var)),
        Item::Range { var, args } => {
            args.iter().for_each(|a| expr_vars(a, &mut v));
            return (v, Some(*var));
        }
    }
    (v, None)
}

/// Whether an operation can fail at run time: arithmetic (overflow, division by zero) or an
/// aggregate (a sum may overflow). Comparisons of plain variables and constants cannot.
fn fallible(item: &Item) -> bool {
    // Building a record, reading its fields or its tag cannot fail.
    fn arith(e: &CExpr) -> bool {
        match e {
            CExpr::Reg(_) | CExpr::Const(..) => false,
            CExpr::Record(_, args) => args.iter().any(arith),
            CExpr::Field(a, _) | CExpr::Tag(a) => arith(a),
            _ => true,
        }
    }
    match item {
        Item::Filter { lhs, rhs, .. } => arith(lhs) || arith(rhs),
        Item::Assign { expr, .. } => arith(expr),
        Item::Range { args, .. } => args.iter().any(arith),
        Item::Agg(_) => true,
        Item::Atom { .. } | Item::Neg { .. } => false,
    }
}

/// The step for operation `i`, which binds `binds`: a check when that is bound already.
fn op_step(i: usize, binds: Option<VarId>, bound: &HashSet<VarId>) -> Step {
    match binds {
        Some(v) if bound.contains(&v) => Step::Check(i),
        _ => Step::Op(i),
    }
}

/// Plans a search of `items` with the variables `bound` given: operations in source order as
/// soon as their variables are bound (a later one never runs before an earlier one that can,
/// so a guard written before a division still guards it), and positive atoms, the one with
/// the most bound columns first. `skip` is a positive atom the seed already stands for.
fn plan(
    items: &[Item],
    mut bound: HashSet<VarId>,
    skip: Option<usize>,
    wants: &mut Wants,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut atoms: Vec<usize> = (0..items.len())
        .filter(|&i| matches!(items[i], Item::Atom { .. }) && Some(i) != skip)
        .collect();
    let mut ops: Vec<usize> = (0..items.len())
        .filter(|&i| !matches!(items[i], Item::Atom { .. }))
        .collect();
    loop {
        // Operations in order while the first one left can run. One that can fail (arithmetic
        // that may overflow or divide by zero, an aggregate) also waits for every atom written
        // before it, so that it fails only where a rule's body, read left to right, reaches it:
        // `bad(x), e(x, y), z = y / (x - x)` with `bad` empty fails in no engine.
        while let Some(&i) = ops.first() {
            let (need, binds) = needs(&items[i]);
            if !need.iter().all(|v| bound.contains(v)) {
                break;
            }
            if fallible(&items[i]) && atoms.iter().any(|&j| j < i) {
                break;
            }
            steps.push(op_step(i, binds, &bound));
            bound.extend(binds);
            ops.remove(0);
        }
        if atoms.is_empty() {
            if ops.is_empty() {
                return steps;
            }
            // Out of order only when nothing else can bind what the first one needs.
            let pick = ops.iter().position(|&i| {
                let (need, _) = needs(&items[i]);
                need.iter().all(|v| bound.contains(v))
            });
            let Some(p) = pick else {
                // Unsafe by the IR's checks; run the rest where they fail to match nothing.
                steps.extend(ops.drain(..).map(Step::Op));
                return steps;
            };
            let i = ops.remove(p);
            let binds = needs(&items[i]).1;
            steps.push(op_step(i, binds, &bound));
            bound.extend(binds);
            continue;
        }
        let score = |i: usize| match &items[i] {
            Item::Atom { vars, .. } => vars.iter().filter(|v| bound.contains(v)).count(),
            _ => 0,
        };
        let best = (0..atoms.len())
            .max_by_key(|&k| (score(atoms[k]), std::cmp::Reverse(k)))
            .expect("atoms left");
        let i = atoms.remove(best);
        let Item::Atom { rel, vars } = &items[i] else {
            unreachable!("atoms are atoms")
        };
        let key_cols: Vec<usize> = (0..vars.len())
            .filter(|&c| bound.contains(&vars[c]))
            .collect();
        if key_cols.len() == vars.len() && !vars.is_empty() {
            steps.push(Step::Member {
                rel: *rel,
                vars: vars.clone(),
            });
            continue;
        }
        // An index already asked for on some of the bound columns serves (the others are
        // checked): fewer indexes, less memory, and the keys are selective enough in practice.
        let reuse = wants
            .iter()
            .enumerate()
            .filter(|(_, w)| w.0 == *rel && w.1.iter().all(|c| key_cols.contains(c)))
            .max_by_key(|(_, w)| w.1.len())
            .map(|(i, w)| (i, w.1.clone()));
        let (ix, ix_cols) = match reuse {
            Some((i, cols)) => (Some(i), cols),
            None if key_cols.is_empty() => (None, Vec::new()),
            None => (Some(want(wants, *rel, key_cols.clone())), key_cols.clone()),
        };
        let bind = (0..vars.len())
            .filter(|c| !key_cols.contains(c))
            .map(|c| (c, vars[c]))
            .collect();
        let check = key_cols
            .iter()
            .filter(|c| !ix_cols.contains(c))
            .map(|&c| (c, vars[c]))
            .collect();
        steps.push(Step::Lookup {
            rel: *rel,
            ix,
            key: ix_cols.iter().map(|&c| vars[c]).collect(),
            check,
            bind,
        });
        bound.extend(vars.iter().copied());
    }
}

impl Rule {
    /// Compiles rule `r` of the program; index requests go to `wants` (positions into it
    /// stand in `Step::Lookup::ix` and `NegLookup::Index` until [`Rule::resolve`]).
    pub fn compile(
        prog: &calm_ir::Program,
        r: usize,
        it: &mut Interner,
        wants: &mut Wants,
    ) -> Rule {
        let rule = &prog.rules[r];
        let cx = Ctx {
            prog,
            vars: &rule.var_types,
        };
        let items = compile_items(&rule.body, &cx, it, wants);
        let spans = rule.body.iter().map(span).collect();
        let head_args: Vec<CExpr> = rule.head_args.iter().map(|e| cx.cexpr(e, it)).collect();
        let mut negs = vec![None; items.len()];
        let mut seeds = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item {
                Item::Atom { rel, vars } => {
                    let bound: HashSet<VarId> = vars.iter().copied().collect();
                    seeds.push(Seed {
                        rel: *rel,
                        kind: SeedKind::Pos,
                        bind: vars.iter().copied().enumerate().collect(),
                        consts: Vec::new(),
                        same: Vec::new(),
                        steps: plan(&items, bound, Some(i), wants),
                    });
                }
                Item::Neg { rel, args } => {
                    negs[i] = Some(neg_lookup(*rel, args, wants));
                    let (bind, consts, same) = neg_binding(args);
                    let bound: HashSet<VarId> = bind.iter().map(|b| b.1).collect();
                    seeds.push(Seed {
                        rel: *rel,
                        kind: SeedKind::Neg,
                        bind,
                        consts,
                        same,
                        steps: plan(&items, bound, None, wants),
                    });
                }
                Item::Agg(g) => {
                    for inner in &g.items {
                        let (rel, cols): (RelId, Vec<Option<VarId>>) = match inner {
                            Item::Atom { rel, vars } => {
                                (*rel, vars.iter().map(|&v| Some(v)).collect())
                            }
                            Item::Neg { rel, args } => (
                                *rel,
                                args.iter()
                                    .map(|a| match a {
                                        Arg::Var(v) => Some(*v),
                                        _ => None,
                                    })
                                    .collect(),
                            ),
                            _ => continue,
                        };
                        let mut bind = Vec::new();
                        for (c, v) in cols.iter().enumerate() {
                            if let Some(v) = v
                                && g.outer.contains(v)
                                && !bind.iter().any(|b: &(usize, VarId)| b.1 == *v)
                            {
                                bind.push((c, *v));
                            }
                        }
                        let bound: HashSet<VarId> = bind.iter().map(|b| b.1).collect();
                        seeds.push(Seed {
                            rel,
                            kind: SeedKind::Agg,
                            bind,
                            consts: Vec::new(),
                            same: Vec::new(),
                            steps: plan(&items, bound, None, wants),
                        });
                    }
                }
                _ => {}
            }
        }
        // Derive again: bind the head's plain variables (first occurrence).
        let mut bind: Vec<(usize, VarId)> = Vec::new();
        for (c, e) in head_args.iter().enumerate() {
            if let CExpr::Reg(v) = e
                && !bind.iter().any(|b| b.1 == *v)
            {
                bind.push((c, *v));
            }
        }
        let bound: HashSet<VarId> = bind.iter().map(|b| b.1).collect();
        let rederive = Seed {
            rel: rule.head,
            kind: SeedKind::Head,
            bind,
            consts: Vec::new(),
            same: Vec::new(),
            steps: plan(&items, bound, None, wants),
        };
        Rule {
            head: rule.head,
            head_args,
            items,
            spans,
            nvars: rule.vars.len(),
            negs,
            seeds,
            rederive,
        }
    }

    /// Replaces index requests by index positions in the tables.
    pub fn resolve(&mut self, pos: &[usize]) {
        fn steps(s: &mut [Step], pos: &[usize]) {
            for st in s {
                if let Step::Lookup { ix: Some(i), .. } = st {
                    *i = pos[*i];
                }
            }
        }
        fn negs(n: &mut [Option<NegLookup>], pos: &[usize]) {
            for n in n.iter_mut().flatten() {
                if let NegLookup::Index(Some(i)) = n {
                    *i = pos[*i];
                }
            }
        }
        fn items(its: &mut [Item], pos: &[usize]) {
            for item in its {
                if let Item::Agg(g) = item {
                    steps(&mut g.steps, pos);
                    negs(&mut g.negs, pos);
                    items(&mut g.items, pos);
                }
            }
        }
        for s in &mut self.seeds {
            steps(&mut s.steps, pos);
        }
        steps(&mut self.rederive.steps, pos);
        negs(&mut self.negs, pos);
        items(&mut self.items, pos);
    }
}

fn neg_key_cols(args: &[Arg]) -> Vec<usize> {
    (0..args.len())
        .filter(|&c| !matches!(args[c], Arg::Wild))
        .collect()
}

fn neg_lookup(rel: RelId, args: &[Arg], wants: &mut Wants) -> NegLookup {
    if args.iter().all(|a| !matches!(a, Arg::Wild)) {
        return NegLookup::Row;
    }
    let cols = neg_key_cols(args);
    if cols.is_empty() {
        NegLookup::Index(None)
    } else {
        NegLookup::Index(Some(want(wants, rel, cols)))
    }
}

type Binding = (Vec<(usize, VarId)>, Vec<(usize, Word)>, Vec<(usize, usize)>);

fn neg_binding(args: &[Arg]) -> Binding {
    let mut bind: Vec<(usize, VarId)> = Vec::new();
    let mut consts = Vec::new();
    let mut same = Vec::new();
    for (c, a) in args.iter().enumerate() {
        match a {
            Arg::Var(v) => match bind.iter().find(|b| b.1 == *v) {
                Some(&(first, _)) => same.push((c, first)),
                None => bind.push((c, *v)),
            },
            Arg::Const(w) => consts.push((c, *w)),
            Arg::Wild => {}
        }
    }
    (bind, consts, same)
}

/// What a search calls with each full binding (and the interner); false stops the search.
pub(crate) type Found<'a> = dyn FnMut(&[Word], &mut Interner) -> Result<bool, Fail> + 'a;

/// Which state of the relations a search reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum View {
    /// As they are now.
    New,
    /// As they were before this tick: now, less the rows the tick added, plus those it removed.
    Old,
}

/// The tables as one view reads them.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    pub tables: &'a [Table],
    pub deltas: &'a [Delta],
    pub view: View,
}

/// A search over the tables.
pub(crate) struct Search<'a> {
    pub r: Reader<'a>,
    pub it: &'a mut Interner,
}

impl Reader<'_> {
    fn old(&self) -> bool {
        self.view == View::Old
    }

    fn contains(&self, rel: RelId, row: &[Word]) -> bool {
        let here = self.tables[rel].contains(row);
        if self.old() {
            let d = &self.deltas[rel];
            (here && !d.plus.contains(row)) || d.minus.contains(row)
        } else {
            here
        }
    }

    /// Calls `f` with each row of `rel` (in the view) whose index `ix` key is `key` (every
    /// row without an index), until it returns false; false if it did.
    fn each(
        &self,
        rel: RelId,
        ix: Option<usize>,
        key: &[Word],
        f: &mut dyn FnMut(&[Word]) -> Result<bool, Fail>,
    ) -> Result<bool, Fail> {
        let t = &self.tables[rel];
        let d = &self.deltas[rel];
        let old = self.old();
        let rows: Box<dyn Iterator<Item = &[Word]>> = match ix {
            Some(i) => Box::new(t.lookup(i, key)),
            None => Box::new(t.iter()),
        };
        for row in rows {
            if old && d.plus.contains(row) {
                continue;
            }
            if !f(row)? {
                return Ok(false);
            }
        }
        if old && !d.minus.is_empty() {
            match ix {
                Some(i) => {
                    let mut res = Ok(true);
                    d.minus_matching(t, i, key, &mut |row| match f(row) {
                        Ok(go) => go,
                        Err(e) => {
                            res = Err(e);
                            false
                        }
                    });
                    if !res.as_ref().is_ok_and(|&go| go) {
                        return res;
                    }
                }
                None => {
                    for row in &d.minus {
                        if !f(row)? {
                            return Ok(false);
                        }
                    }
                }
            }
        }
        Ok(true)
    }

    /// Whether some row of `rel` matches the negated atom's pattern under `env`.
    fn neg_exists(
        &self,
        rel: RelId,
        args: &[Arg],
        how: &NegLookup,
        env: &[Word],
    ) -> Result<bool, Fail> {
        let value = |a: &Arg| match a {
            Arg::Var(v) => env[*v],
            Arg::Const(w) => *w,
            Arg::Wild => 0,
        };
        match how {
            NegLookup::Row => {
                let mut buf = KeyBuf::new();
                let row = buf.fill(args.iter().map(value), args.len());
                Ok(self.contains(rel, row))
            }
            NegLookup::Index(ix) => {
                let n = args.iter().filter(|a| !matches!(a, Arg::Wild)).count();
                let mut buf = KeyBuf::new();
                let key = buf.fill(
                    args.iter().filter(|a| !matches!(a, Arg::Wild)).map(value),
                    n,
                );
                let mut found = false;
                self.each(rel, *ix, key, &mut |_| {
                    found = true;
                    Ok(false)
                })?;
                Ok(found)
            }
        }
    }
}

impl Search<'_> {
    /// Runs `steps` over `items` from `env`; calls `out` with each full binding until it
    /// returns false. Returns false if it did.
    pub fn run(
        &mut self,
        items: &[Item],
        negs: &[Option<NegLookup>],
        spans: &[Option<Span>],
        steps: &[Step],
        env: &mut Vec<Word>,
        out: &mut Found<'_>,
    ) -> Result<bool, Fail> {
        let Some((first, rest)) = steps.split_first() else {
            return out(env, self.it);
        };
        match first {
            Step::Member { rel, vars } => {
                let mut buf = KeyBuf::new();
                let row = buf.fill(vars.iter().map(|&v| env[v]), vars.len());
                if self.r.contains(*rel, row) {
                    return self.run(items, negs, spans, rest, env, out);
                }
                Ok(true)
            }
            Step::Lookup {
                rel,
                ix,
                key,
                check,
                bind,
            } => {
                let mut buf = KeyBuf::new();
                let key = buf.fill(key.iter().map(|&v| env[v]), key.len());
                let r = self.r;
                r.each(*rel, *ix, key, &mut |row| {
                    if check.iter().any(|&(c, v)| row[c] != env[v]) {
                        return Ok(true);
                    }
                    for &(c, v) in bind {
                        env[v] = row[c];
                    }
                    self.run(items, negs, spans, rest, env, out)
                })
            }
            Step::Op(i) | Step::Check(i) => {
                let check = matches!(first, Step::Check(_));
                let fail = |message| Fail {
                    message,
                    span: spans.get(*i).copied().flatten(),
                };
                if let Item::Range { var, args } = &items[*i] {
                    let num = |k: usize| match args.get(k) {
                        Some(a) => a.num(env, self.it).map(Some).map_err(fail),
                        None => Ok(None),
                    };
                    let (Some(from), Some(to), step) = (num(0)?, num(1)?, num(2)?) else {
                        return Err(fail("`range` needs two numbers"));
                    };
                    if check {
                        let x = self.it.decode(env[*var]);
                        if !calm_ir::functor::in_range(from, to, step, x) {
                            return Ok(true);
                        }
                        return self.run(items, negs, spans, rest, env, out);
                    }
                    let mut result = Ok(true);
                    calm_ir::functor::range(from, to, step, &mut |x| {
                        env[*var] = self.it.encode(x);
                        result = self.run(items, negs, spans, rest, env, out);
                        matches!(result, Ok(true))
                    });
                    return result;
                }
                let pass = match &items[*i] {
                    Item::Atom { .. } | Item::Range { .. } => {
                        unreachable!("atoms are lookups, ranges run above")
                    }
                    Item::Filter { op, ty, lhs, rhs } => {
                        compare(*op, *ty, lhs, rhs, env, self.it).map_err(fail)?
                    }
                    Item::Assign { var, expr } => {
                        let w = expr.word(env, self.it).map_err(fail)?;
                        if check {
                            env[*var] == w
                        } else {
                            env[*var] = w;
                            true
                        }
                    }
                    Item::Neg { rel, args } => {
                        let how = negs[*i].as_ref().expect("negations are planned");
                        !self.r.neg_exists(*rel, args, how, env)?
                    }
                    Item::Agg(g) => {
                        let mut acc = Acc::new(g.func, g.ty);
                        let no_spans = vec![spans.get(*i).copied().flatten(); g.items.len()];
                        let target = g.target.clone();
                        self.run(
                            &g.items,
                            &g.negs,
                            &no_spans,
                            &g.steps,
                            env,
                            &mut |env, it| {
                                let v = match &target {
                                    Some(t) => Some(t.num(env, it).map_err(fail)?),
                                    None => None,
                                };
                                acc.add(v);
                                Ok(acc.error.is_none())
                            },
                        )?;
                        if let Some(e) = acc.error {
                            return Err(fail(e));
                        }
                        match acc.result() {
                            Some(v) => {
                                let w = self.it.encode(v);
                                if check {
                                    env[g.var] == w
                                } else {
                                    env[g.var] = w;
                                    true
                                }
                            }
                            None => false,
                        }
                    }
                };
                if pass {
                    self.run(items, negs, spans, rest, env, out)
                } else {
                    Ok(true)
                }
            }
        }
    }
}
