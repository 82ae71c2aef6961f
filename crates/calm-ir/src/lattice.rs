//! Which reads of a lattice value are monotone.
//!
//! A positive atom over a lattice relation binds the value column to a variable `v`. The read is
//! *monotone* when every other use of `v` in the rule keeps the rule's result growing as `v`
//! grows in the lattice order:
//!
//! - a threshold: `e >= k` or `e > k` for `max`, `counter` and `bool` (`k <= e`, `k < e`),
//!   `e <= k` or `e < k` for `min`, where `e` grows with `v` and `k` does not mention `v`; for
//!   `bool` also `v = k` and `v != 0` with `k` a non-zero constant (`flag(x, 1)` in a body:
//!   "is true");
//! - the value column of a head whose relation has the same lattice, as an expression that
//!   grows with `v` (`v`, `v + w`, `v - w`, `max(v, w)`, `min(v, w)`, ... with `w` not
//!   mentioning `v`; for `bool`, `v` only).
//!
//! An assignment `z = e` with `e` growing with `v` passes the read on: `z` must be used
//! monotonically in turn.
//!
//! An `lww` value is three variables `(t, w, x)`: the read is monotone when `t` is used only in
//! thresholds `t >= k`, `t > k`, and the triple only as the `lww` value of the head, exactly
//! `(t, w, x)` in that order (a copy that merges), or not at all.
//!
//! An expression "grows with `v`" is built from `v`, expressions without `v`, `+`, `-` with `v`
//! only on its left, and the `max`/`min` functors. Any other use (a key column of the head, an
//! equality, `!=`, a threshold the wrong way, a join on the value, a negation, an aggregate) is
//! a *raw* read, recorded in [`Rule::raw_reads`] and treated like a negation by stratification:
//! the relation must be complete before the rule reads it. A variable used nowhere else (the
//! value is ignored: the key exists) is a monotone read.

use crate::ir::*;
use calm_syntax::ast::{BinOp, CmpOp, Functor};

/// Fills [`Rule::raw_reads`] of every rule.
pub(crate) fn classify(prog: &mut Program) {
    let lattices: Vec<Option<Lattice>> = prog.relations.iter().map(|r| r.lattice).collect();
    let head_lattice = |r: &Rule| lattices[r.head];
    for rule in &mut prog.rules {
        let mut raw = Vec::new();
        for (i, item) in rule.body.iter().enumerate() {
            let BodyItem::Atom(a) = item else {
                continue;
            };
            let Some(l) = lattices[a.rel] else {
                continue;
            };
            let vars: Option<Vec<VarId>> = a.args[a.args.len().saturating_sub(l.width())..]
                .iter()
                .map(|t| match t {
                    Term::Var(v) => Some(*v),
                    _ => None,
                })
                .collect();
            // Positive atoms have variable arguments; anything else is read raw.
            let monotone = match vars.as_deref() {
                Some(&[t, w, x]) if l == Lattice::Lww => {
                    lww_read(rule, i, [t, w, x], head_lattice(rule))
                }
                Some(&[v]) => monotone_read(rule, i, v, l, head_lattice(rule)),
                _ => false,
            };
            if !monotone {
                raw.push(i);
            }
        }
        rule.raw_reads = raw;
    }
}

/// How an expression depends on `v`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dep {
    /// It does not mention `v`.
    Free,
    /// It grows (not strictly) with `v`.
    Grows,
    /// Anything else.
    Other,
}

fn dep(e: &Expr, v: VarId) -> Dep {
    let mut mentions = false;
    e.for_each_var(&mut |x| mentions |= x == v);
    if !mentions {
        return Dep::Free;
    }
    let all_grow = |args: &[&Expr]| {
        if args.iter().all(|a| dep(a, v) != Dep::Other) {
            Dep::Grows
        } else {
            Dep::Other
        }
    };
    match e {
        Expr::Var(_) => Dep::Grows,
        Expr::Bin(BinOp::Add, a, b) => all_grow(&[a, b]),
        Expr::Bin(BinOp::Sub, a, b) if dep(b, v) == Dep::Free => all_grow(&[a]),
        Expr::Call(Functor::Max | Functor::Min, args) => all_grow(&args.iter().collect::<Vec<_>>()),
        _ => Dep::Other,
    }
}

/// Whether `cmp` is a threshold on `v` that stays true as `v` grows in lattice `l`.
fn threshold(op: CmpOp, lhs: &Expr, rhs: &Expr, v: VarId, l: Lattice) -> bool {
    let (grows, fixed, op) = match (dep(lhs, v), dep(rhs, v)) {
        (Dep::Grows, Dep::Free) => (true, true, op),
        // `k op e`: the same as `e op' k` with the operator turned around.
        (Dep::Free, Dep::Grows) => (
            true,
            true,
            match op {
                CmpOp::Lt => CmpOp::Gt,
                CmpOp::Le => CmpOp::Ge,
                CmpOp::Gt => CmpOp::Lt,
                CmpOp::Ge => CmpOp::Le,
                other => other,
            },
        ),
        _ => (false, false, op),
    };
    if grows && fixed && l == Lattice::Bool {
        // `v = k`, `v != 0`: "is true" (a value is 0 or 1).
        let nonzero = |e: &Expr| matches!(e, Expr::Const(Const::Number(k)) if *k != 0);
        let zero = |e: &Expr| matches!(e, Expr::Const(Const::Number(0)));
        let (var, k) = if dep(lhs, v) == Dep::Free {
            (rhs, lhs)
        } else {
            (lhs, rhs)
        };
        if matches!(var, Expr::Var(_))
            && ((op == CmpOp::Eq && nonzero(k)) || (op == CmpOp::Ne && zero(k)))
        {
            return true;
        }
    }
    grows
        && fixed
        && if l.grows_up() {
            matches!(op, CmpOp::Ge | CmpOp::Gt)
        } else {
            matches!(op, CmpOp::Le | CmpOp::Lt)
        }
}

/// Whether the read of the `lww` value `(t, w, x)` at body item `at` is monotone: `t` only in
/// thresholds that grow, `w` and `x` nowhere in the body, and the triple either unused by the
/// head or exactly the `lww` value of an `lww` head.
fn lww_read(rule: &Rule, at: usize, [t, w, x]: [VarId; 3], head: Option<Lattice>) -> bool {
    for (j, item) in rule.body.iter().enumerate() {
        if j == at {
            continue;
        }
        if mentions_item(item, w) || mentions_item(item, x) {
            return false;
        }
        if mentions_item(item, t) {
            match item {
                BodyItem::Compare { op, lhs, rhs, .. }
                    if threshold(*op, lhs, rhs, t, Lattice::Lww) => {}
                _ => return false,
            }
        }
    }
    let n = rule.head_args.len();
    let mentions = |e: &Expr| {
        let mut found = false;
        e.for_each_var(&mut |y| found |= y == t || y == w || y == x);
        found
    };
    let copied = head == Some(Lattice::Lww)
        && n >= 3
        && matches!(
            &rule.head_args[n - 3..],
            [Expr::Var(a), Expr::Var(b), Expr::Var(c)] if [*a, *b, *c] == [t, w, x]
        );
    let key = if copied { n - 3 } else { n };
    !rule.head_args[..key].iter().any(mentions)
}

fn mentions_item(item: &BodyItem, v: VarId) -> bool {
    let mut found = false;
    crate::lower::for_each_item_var(item, &mut |x| found |= x == v);
    found
}

fn monotone_read(rule: &Rule, at: usize, v: VarId, l: Lattice, head: Option<Lattice>) -> bool {
    monotone_uses(rule, &mut vec![at], v, l, head)
}

/// Whether every use of `v` outside the body items `skip` is monotone: a threshold, an
/// assignment `z = e` with `e` growing with `v` and `z` used monotonically in turn, or the value
/// column of a head with the same lattice.
fn monotone_uses(
    rule: &Rule,
    skip: &mut Vec<usize>,
    v: VarId,
    l: Lattice,
    head: Option<Lattice>,
) -> bool {
    // Each assignment is followed once, so this ends (its variable is bound once).
    if skip.len() > rule.body.len() {
        return false;
    }
    for (j, item) in rule.body.iter().enumerate() {
        if skip.contains(&j) || !mentions_item(item, v) {
            continue;
        }
        match item {
            BodyItem::Compare { op, lhs, rhs, .. } if threshold(*op, lhs, rhs, v, l) => {}
            BodyItem::Assign { var, expr, .. }
                if *var != v
                    && dep(expr, v) == Dep::Grows
                    && (l != Lattice::Bool || matches!(expr, Expr::Var(_))) =>
            {
                skip.push(j);
                let ok = monotone_uses(rule, skip, *var, l, head);
                skip.pop();
                if !ok {
                    return false;
                }
            }
            _ => return false,
        }
    }
    let n = rule.head_args.len();
    for (c, e) in rule.head_args.iter().enumerate() {
        match dep(e, v) {
            Dep::Free => {}
            Dep::Grows
                if c + 1 == n
                    && head == Some(l)
                    && (l != Lattice::Bool || matches!(e, Expr::Var(_))) => {}
            _ => return false,
        }
    }
    true
}
