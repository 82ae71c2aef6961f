//! Souffle's scoping of body-form aggregates, read from the AST before a rule is lowered.
//!
//! A variable written inside an aggregate is the enclosing rule's (or enclosing aggregate's)
//! variable when its name also occurs outside the aggregate, except for the variable the
//! aggregate's result is bound to (`Y = min Z + Y : { ... }`: the inner `Y` is local). A name
//! that occurs only inside aggregates is local to each of them. A variable shared with the rule
//! that no body literal outside the aggregate can bind (it occurs only in the head) is a
//! *witness*: `s = min e : { body }` then also gives every assignment of it for which `e`
//! reaches the minimum (only `min` and `max` have witnesses, as in Souffle).

use calm_syntax::Span;
use calm_syntax::ast::{self, Expr, Literal};
use std::collections::HashSet;

/// Adds the variable names of `e` to `out`; the contents of body-form aggregates only when
/// `into_aggs` (the argument of a head-form aggregate always: it names the body's variables).
pub(crate) fn expr_names(e: &Expr, into_aggs: bool, out: &mut HashSet<String>) {
    match e {
        Expr::Var(id) => {
            out.insert(id.name.clone());
        }
        Expr::Neg(a, _) => expr_names(a, into_aggs, out),
        Expr::Binary { lhs, rhs, .. } => {
            expr_names(lhs, into_aggs, out);
            expr_names(rhs, into_aggs, out);
        }
        Expr::Call { args, .. } | Expr::Record(args, _) => {
            args.iter().for_each(|a| expr_names(a, into_aggs, out))
        }
        Expr::Branch(c) => c.args.iter().for_each(|a| expr_names(a, into_aggs, out)),
        Expr::Aggregate(g) => {
            if (g.head_form || into_aggs)
                && let Some(t) = &g.target
            {
                expr_names(t, into_aggs, out);
            }
            if into_aggs {
                g.body.iter().for_each(|l| lit_names(l, true, out));
            }
        }
        Expr::As(inner, ..) => expr_names(inner, into_aggs, out),
        Expr::Wildcard(_)
        | Expr::Number(..)
        | Expr::Unsigned(..)
        | Expr::Float(..)
        | Expr::String(..)
        | Expr::Nil(_) => {}
    }
}

/// Adds the variable names of a literal to `out` (see [`expr_names`]).
pub(crate) fn lit_names(l: &Literal, into_aggs: bool, out: &mut HashSet<String>) {
    match l {
        Literal::Atom(a) | Literal::Negated { atom: a, .. } => a
            .args
            .iter()
            .for_each(|x| expr_names(&x.expr, into_aggs, out)),
        Literal::Compare { lhs, rhs, .. } => {
            expr_names(lhs, into_aggs, out);
            expr_names(rhs, into_aggs, out);
        }
    }
}

/// Every variable name written in an aggregate: its target and its body, nested aggregates
/// included.
pub(crate) fn agg_names(g: &ast::Aggregate) -> HashSet<String> {
    let mut out = HashSet::new();
    if let Some(t) = &g.target {
        expr_names(t, true, &mut out);
    }
    g.body.iter().for_each(|l| lit_names(l, true, &mut out));
    out
}

/// The names an aggregate's own body grounds (without help from outside): the variables of
/// its positive atoms (records included), then those equated to grounded expressions.
fn grounded(g: &ast::Aggregate) -> HashSet<String> {
    let mut out = HashSet::new();
    for l in &g.body {
        if let Literal::Atom(a) = l {
            a.args
                .iter()
                .for_each(|x| expr_names(&x.expr, false, &mut out));
        }
    }
    loop {
        let before = out.len();
        for l in &g.body {
            let Literal::Compare {
                op: ast::CmpOp::Eq,
                lhs,
                rhs,
                ..
            } = l
            else {
                continue;
            };
            for (v, e) in [(lhs, rhs), (rhs, lhs)] {
                if let Expr::Var(id) = v {
                    let mut names = HashSet::new();
                    expr_names(e, false, &mut names);
                    if !matches!(e, Expr::Aggregate(_)) && names.is_subset(&out) {
                        out.insert(id.name.clone());
                    }
                }
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// The aggregates written directly in the body literals (not nested in another aggregate),
/// each with the name its result is bound to (`n = count : ...`), if any.
fn top_aggregates(body: &[Literal]) -> Vec<(&ast::Aggregate, Option<&str>)> {
    fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a ast::Aggregate>) {
        match e {
            Expr::Aggregate(g) if !g.head_form => out.push(g),
            Expr::Neg(a, _) => walk(a, out),
            Expr::Binary { lhs, rhs, .. } => {
                walk(lhs, out);
                walk(rhs, out);
            }
            Expr::Call { args, .. } | Expr::Record(args, _) => {
                args.iter().for_each(|a| walk(a, out))
            }
            Expr::Branch(c) => c.args.iter().for_each(|a| walk(a, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for l in body {
        let mut found = Vec::new();
        let result = match l {
            Literal::Atom(a) | Literal::Negated { atom: a, .. } => {
                a.args.iter().for_each(|x| walk(&x.expr, &mut found));
                None
            }
            Literal::Compare { op, lhs, rhs, .. } => {
                walk(lhs, &mut found);
                walk(rhs, &mut found);
                match (op, lhs, rhs) {
                    (ast::CmpOp::Eq, Expr::Var(id), Expr::Aggregate(_))
                    | (ast::CmpOp::Eq, Expr::Aggregate(_), Expr::Var(id)) => Some(id.name.as_str()),
                    _ => None,
                }
            }
        };
        let single = found.len() == 1;
        out.extend(found.into_iter().map(|g| (g, result.filter(|_| single))));
    }
    out
}

/// Souffle's "mutually dependent aggregates": two aggregates of one body where each uses,
/// ungrounded, a variable that the other's body grounds. Which one would bind it is
/// ambiguous, so the rule is rejected. Returns the spans of the aggregates concerned.
pub(crate) fn mutually_dependent(body: &[Literal]) -> Vec<Span> {
    let aggs: Vec<(HashSet<String>, HashSet<String>, Span)> = top_aggregates(body)
        .into_iter()
        .map(|(g, result)| {
            let mut all = agg_names(g);
            let mut gr = grounded(g);
            if let Some(r) = result {
                all.insert(r.to_string());
                gr.insert(r.to_string());
            }
            (all, gr, g.span)
        })
        .collect();
    let depends = |a: usize, b: usize| {
        aggs[a]
            .0
            .iter()
            .any(|n| !aggs[a].1.contains(n) && aggs[b].1.contains(n))
    };
    let mut out = Vec::new();
    for a in 0..aggs.len() {
        if (0..aggs.len()).any(|b| b != a && depends(a, b) && depends(b, a)) {
            out.push(aggs[a].2);
        }
    }
    out
}
