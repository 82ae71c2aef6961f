//! Safety (range restriction): every variable a rule needs must be bound by a positive atom, an
//! assignment `x = expr` over bound variables, or an aggregate. Equalities that bind a variable
//! are turned into [`BodyItem::Assign`] here, and equalities between a bound value and a record
//! pattern with unbound variables (`p([x, y])` is `p(r), r = [x, y]`) are destructured: a check
//! of the record's tag ([`Expr::Tag`]), then one equality per field ([`Expr::Field`]). An
//! equality between a positive atom's variable and a record built from bound variables is an
//! assignment to that variable: a check where the engine runs it after the atom, a join key
//! for the atom where it runs it before.

use crate::codes;
use crate::ir::*;
use calm_syntax::ast::CmpOp;
use calm_syntax::{Diagnostic, FileId};
use std::collections::HashSet;

/// Checks one rule, rewriting binding equalities into assignments. Returns `false` on error.
pub(crate) fn check_rule(file: FileId, rule: &mut Rule, diags: &mut Vec<Diagnostic>) -> bool {
    let mut bound = HashSet::new();
    let mut ok = resolve_items(file, &mut rule.body, &mut bound, &mut rule.vars, diags);
    let mut missing = Vec::new();
    for e in &rule.head_args {
        e.for_each_var(&mut |v| {
            if !bound.contains(&v) && !missing.contains(&v) {
                missing.push(v);
            }
        });
    }
    for v in missing {
        let var = &rule.vars[v];
        diags.push(
            Diagnostic::error(format!("variable `{}` in the head is not bound by the body", var.name))
                .with_code(codes::UNBOUND_VAR)
                .with_primary(file, var.span, "not bound")
                .with_help(format!(
                    "every head variable must occur in a positive body atom or be assigned (`{} = ...`)",
                    var.name
                )),
        );
        ok = false;
    }
    ok
}

/// Binds what can be bound among `items`, given `bound`; reports what cannot.
fn resolve_items(
    file: FileId,
    items: &mut Vec<BodyItem>,
    bound: &mut HashSet<VarId>,
    vars: &mut Vec<Var>,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    let mut atom_vars = HashSet::new();
    for item in items.iter() {
        if let BodyItem::Atom(a) = item {
            for t in &a.args {
                if let Term::Var(v) = t {
                    bound.insert(*v);
                    atom_vars.insert(*v);
                }
            }
        }
    }
    // Variables an aggregate binds: an equality with one of them is a filter once the
    // aggregate ran (`1 = count : ...`), never an assignment made before it.
    let agg_vars: HashSet<VarId> = items
        .iter()
        .filter_map(|item| match item {
            BodyItem::Aggregate(g) => Some(g.var),
            _ => None,
        })
        .collect();
    let mut ok = true;
    let mut done = vec![false; items.len()];
    loop {
        let mut progress = false;
        let mut i = 0;
        while i < items.len() {
            if done[i] {
                i += 1;
                continue;
            }
            if let Some(parts) = destructure(&items[i], bound, vars) {
                let n = parts.len();
                items.splice(i..=i, parts);
                done.splice(i..=i, std::iter::repeat_n(false, n));
                progress = true;
                continue;
            }
            let item = &mut items[i];
            match item {
                BodyItem::Atom(_) => done[i] = true,
                BodyItem::Compare {
                    op: CmpOp::Eq,
                    lhs,
                    rhs,
                    span,
                } => {
                    let lb = all_bound(lhs, bound);
                    let rb = all_bound(rhs, bound);
                    if lb && rb {
                        // `r = [x, y]` with `r` a positive atom's variable: an assignment that
                        // is a check where it runs after the atom, and gives the atom a join
                        // key where it runs before (the engine chooses).
                        let key = match (&*lhs, &*rhs) {
                            (Expr::Var(v), e @ Expr::Record(..))
                            | (e @ Expr::Record(..), Expr::Var(v))
                                if atom_vars.contains(v) && has_var(e) =>
                            {
                                Some((*v, e.clone()))
                            }
                            _ => None,
                        };
                        if let Some((var, expr)) = key {
                            let span = *span;
                            *item = BodyItem::Assign { var, expr, span };
                        }
                        done[i] = true;
                        progress = true;
                    } else if let (Expr::Var(v), true) = (&*lhs, rb)
                        && !agg_vars.contains(v)
                    {
                        let (v, expr, span) = (*v, rhs.clone(), *span);
                        *item = BodyItem::Assign { var: v, expr, span };
                        bound.insert(v);
                        done[i] = true;
                        progress = true;
                    } else if let (Expr::Var(v), true) = (&*rhs, lb)
                        && !agg_vars.contains(v)
                    {
                        let (v, expr, span) = (*v, lhs.clone(), *span);
                        *item = BodyItem::Assign { var: v, expr, span };
                        bound.insert(v);
                        done[i] = true;
                        progress = true;
                    }
                }
                BodyItem::Compare { lhs, rhs, .. } => {
                    if all_bound(lhs, bound) && all_bound(rhs, bound) {
                        done[i] = true;
                        progress = true;
                    }
                }
                BodyItem::Range { var, args, .. } => {
                    if args.iter().all(|a| all_bound(a, bound)) {
                        bound.insert(*var);
                        done[i] = true;
                        progress = true;
                    }
                }
                BodyItem::Assign { var, expr, .. } => {
                    if all_bound(expr, bound) {
                        bound.insert(*var);
                        done[i] = true;
                        progress = true;
                    }
                }
                BodyItem::Negated(a) => {
                    if a.args.iter().all(|t| match t {
                        Term::Var(v) => bound.contains(v),
                        _ => true,
                    }) {
                        done[i] = true;
                        progress = true;
                    }
                }
                BodyItem::Aggregate(g) => {
                    if g.outer.iter().all(|v| bound.contains(v)) {
                        let mut inner = bound.clone();
                        if !resolve_items(file, &mut g.body, &mut inner, vars, diags) {
                            ok = false;
                        }
                        if let Some(t) = &g.target
                            && !all_bound(t, &inner)
                        {
                            report_unbound(
                                file,
                                t_vars(t, &inner),
                                vars,
                                diags,
                                "the aggregated expression",
                            );
                            ok = false;
                        }
                        bound.insert(g.var);
                        done[i] = true;
                        progress = true;
                    }
                }
            }
            i += 1;
        }
        if !progress {
            break;
        }
    }
    for (i, item) in items.iter().enumerate() {
        if done[i] {
            continue;
        }
        ok = false;
        let mut unbound = Vec::new();
        let what = match item {
            BodyItem::Negated(_) => "a negated atom",
            BodyItem::Aggregate(_) => "an aggregate's grouping",
            BodyItem::Range { .. } => "`range`",
            _ => "a comparison",
        };
        match item {
            BodyItem::Aggregate(g) => unbound.extend(g.outer.iter().filter(|v| !bound.contains(v))),
            other => crate::lower::for_each_item_var(other, &mut |v| {
                if !bound.contains(&v) && !unbound.contains(&v) {
                    unbound.push(v);
                }
            }),
        }
        report_unbound(file, unbound, vars, diags, what);
    }
    ok
}

/// When `item` is `bound = record` (either way round) and the record pattern has unbound
/// variables: the items that destructure it (a tag check, then `field = Field(...)` per field;
/// the fields are resolved like any other equality, so a nested pattern is destructured in
/// turn). A bound side that is not a variable is first assigned to a fresh one.
fn destructure(
    item: &BodyItem,
    bound: &HashSet<VarId>,
    vars: &mut Vec<Var>,
) -> Option<Vec<BodyItem>> {
    let BodyItem::Compare {
        op: CmpOp::Eq,
        lhs,
        rhs,
        span,
    } = item
    else {
        return None;
    };
    let (value, ctor, fields) = match (lhs, rhs) {
        (v, Expr::Record(c, fs)) if all_bound(v, bound) && !all_bound(rhs, bound) => (v, c, fs),
        (Expr::Record(c, fs), v) if all_bound(v, bound) && !all_bound(lhs, bound) => (v, c, fs),
        _ => return None,
    };
    let span = *span;
    let mut out = Vec::with_capacity(fields.len() + 2);
    let base = match value {
        Expr::Var(v) => *v,
        other => {
            vars.push(Var {
                name: "_record".into(),
                span,
            });
            let v = vars.len() - 1;
            out.push(BodyItem::Assign {
                var: v,
                expr: other.clone(),
                span,
            });
            v
        }
    };
    out.push(BodyItem::Compare {
        op: CmpOp::Eq,
        lhs: Expr::Tag(Box::new(Expr::Var(base))),
        rhs: Expr::Const(Const::Number(ctor.tag())),
        span,
    });
    for (index, f) in fields.iter().enumerate() {
        out.push(BodyItem::Compare {
            op: CmpOp::Eq,
            lhs: f.clone(),
            rhs: Expr::Field {
                rec: Box::new(Expr::Var(base)),
                ctor: *ctor,
                index,
                of: fields.len(),
            },
            span,
        });
    }
    Some(out)
}

fn has_var(e: &Expr) -> bool {
    let mut any = false;
    e.for_each_var(&mut |_| any = true);
    any
}

fn t_vars(e: &Expr, bound: &HashSet<VarId>) -> Vec<VarId> {
    let mut out = Vec::new();
    e.for_each_var(&mut |v| {
        if !bound.contains(&v) && !out.contains(&v) {
            out.push(v);
        }
    });
    out
}

fn report_unbound(
    file: FileId,
    unbound: Vec<VarId>,
    vars: &[Var],
    diags: &mut Vec<Diagnostic>,
    what: &str,
) {
    for v in unbound {
        let var = &vars[v];
        diags.push(
            Diagnostic::error(format!("variable `{}` is not bound", var.name))
                .with_code(codes::UNBOUND_VAR)
                .with_primary(file, var.span, format!("used in {what} but never bound"))
                .with_help(format!(
                    "bind `{}` with a positive atom in the body, or assign it with `{} = ...`",
                    var.name, var.name
                )),
        );
    }
}

fn all_bound(e: &Expr, bound: &HashSet<VarId>) -> bool {
    let mut ok = true;
    e.for_each_var(&mut |v| ok &= bound.contains(&v));
    ok
}
