//! Monotone thresholds: an aggregate whose result the rule only compares with a constant in the
//! direction the aggregate moves as facts arrive.
//!
//! Facts only ever arrive (within a tick's input set), so over a growing set `count` and `max`
//! only grow, `min` only shrinks, and `sum` grows when every summed value is non-negative and
//! only grows: the analyzer knows that of a non-negative constant (`sum 1 : { … }`) and of a
//! `counter` lattice value (`sum n : { hits(p, _, n) }`, the counter's total: a counter holds
//! one value per key, never below 0, and a merge only raises it). A comparison in the
//! direction of growth (`count … >= k`, `max … > k`, `min … <= k`) is false, then true, and
//! never false again: the rule derives a fact once its input is big enough and never retracts
//! it, which is monotone. Any other use of the result (in the head, in `=`, `!=`, `<` the other
//! way, in arithmetic, against a variable) can change as facts arrive, and stays a point of
//! order.

use calm_ir::{BodyItem, Const, Expr, Lattice, Program, Rule, Term, VarId};
use calm_syntax::ast::{AggFunc, CmpOp};

/// Which way an aggregate's result moves as its input grows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// Whether `g`, an aggregate of `rule`, is a monotone threshold: its result (or a copy of it,
/// `c = <aggregate>` being an assignment of the result variable) is used only in comparisons
/// with constants in the direction it moves, at least once.
pub fn is_threshold(prog: &Program, rule: &Rule, g: &calm_ir::Aggregate) -> bool {
    let Some(dir) = direction(prog, g) else {
        return false;
    };
    // The result and its copies.
    let mut names: Vec<VarId> = vec![g.var];
    loop {
        let before = names.len();
        for item in &rule.body {
            if let BodyItem::Assign {
                var,
                expr: Expr::Var(from),
                ..
            } = item
                && names.contains(from)
                && !names.contains(var)
            {
                names.push(*var);
            }
        }
        if names.len() == before {
            break;
        }
    }
    let mentions_any = |e: &Expr| names.iter().any(|&v| mentions(e, v));
    let mut thresholds = 0;
    for item in &rule.body {
        match item {
            BodyItem::Aggregate(other) if std::ptr::eq(other, g) => {
                // The aggregate's own body is evaluated with the result unbound.
                if names.iter().any(|&v| uses(item, v, true)) {
                    return false;
                }
            }
            BodyItem::Assign {
                var,
                expr: Expr::Var(from),
                ..
            } if names.contains(var) && names.contains(from) => {}
            BodyItem::Compare { op, lhs, rhs, .. } if mentions_any(lhs) || mentions_any(rhs) => {
                if !names.iter().any(|&v| is_bound_check(*op, lhs, rhs, v, dir)) {
                    return false;
                }
                thresholds += 1;
            }
            other => {
                if names.iter().any(|&v| uses(other, v, false)) {
                    return false;
                }
            }
        }
    }
    thresholds > 0 && !rule.head_args.iter().any(mentions_any)
}

/// The direction of the aggregate, if it has one.
fn direction(prog: &Program, g: &calm_ir::Aggregate) -> Option<Direction> {
    match g.func {
        AggFunc::Count | AggFunc::Max => Some(Direction::Up),
        AggFunc::Min => Some(Direction::Down),
        AggFunc::Sum => match &g.target {
            Some(Expr::Const(Const::Number(n))) if *n >= 0 => Some(Direction::Up),
            Some(Expr::Var(v)) if counter_total(prog, g, *v) => Some(Direction::Up),
            _ => None,
        },
        // The mean of a growing set can move either way.
        AggFunc::Mean => None,
    }
}

/// Whether `v`, the summed variable of `g`, is the value of a `counter` atom of its body and
/// appears nowhere else in it (a filter on it could drop a row as the value grows).
fn counter_total(prog: &Program, g: &calm_ir::Aggregate, v: VarId) -> bool {
    let mut from_counter = false;
    for item in &g.body {
        match item {
            BodyItem::Atom(a)
                if prog.relations[a.rel].lattice == Some(Lattice::Counter)
                    && a.args.last() == Some(&Term::Var(v)) =>
            {
                if from_counter || a.args[..a.args.len() - 1].contains(&Term::Var(v)) {
                    return false;
                }
                from_counter = true;
            }
            other => {
                if uses(other, v, false) {
                    return false;
                }
            }
        }
    }
    from_counter
}

/// `var OP k` or `k OP var` with a constant `k`, where the comparison stays true as `var` moves
/// in `dir`.
fn is_bound_check(op: CmpOp, lhs: &Expr, rhs: &Expr, var: VarId, dir: Direction) -> bool {
    let (op, k) = match (lhs, rhs) {
        (Expr::Var(v), k) if *v == var => (Some(op), k),
        (k, Expr::Var(v)) if *v == var => (flip(op), k),
        _ => return false,
    };
    if !is_constant(k) {
        return false;
    }
    match dir {
        Direction::Up => matches!(op, Some(CmpOp::Ge | CmpOp::Gt)),
        Direction::Down => matches!(op, Some(CmpOp::Le | CmpOp::Lt)),
    }
}

/// The comparison with its sides swapped (`k <= v` is `v >= k`); `None` for those that are not
/// orderings.
fn flip(op: CmpOp) -> Option<CmpOp> {
    match op {
        CmpOp::Lt => Some(CmpOp::Gt),
        CmpOp::Le => Some(CmpOp::Ge),
        CmpOp::Gt => Some(CmpOp::Lt),
        CmpOp::Ge => Some(CmpOp::Le),
        _ => None,
    }
}

fn is_constant(e: &Expr) -> bool {
    let mut vars = false;
    e.for_each_var(&mut |_| vars = true);
    !vars
}

fn mentions(e: &Expr, var: VarId) -> bool {
    let mut found = false;
    e.for_each_var(&mut |v| found |= v == var);
    found
}

/// Whether an item mentions `var` (for the aggregate itself, `inner` skips its result variable
/// and looks at its body and target only).
fn uses(item: &BodyItem, var: VarId, inner: bool) -> bool {
    let mut found = false;
    match item {
        BodyItem::Aggregate(g) if inner => {
            for b in &g.body {
                calm_ir::for_each_item_var(b, &mut |v| found |= v == var);
            }
            if let Some(t) = &g.target {
                found |= mentions(t, var);
            }
        }
        other => calm_ir::for_each_item_var(other, &mut |v| found |= v == var),
    }
    found
}
