//! Type inference: every column and variable is a `number` or a `symbol`. Declared columns fix
//! their type; undeclared ones are inferred from use; anything left open is a number.

use crate::codes;
use crate::ir::*;
use calm_syntax::ast::{AggFunc, CmpOp};
use calm_syntax::{Diagnostic, FileId, Span};

struct Uf {
    parent: Vec<usize>,
    ty: Vec<Option<(Type, Span)>>,
}

impl Uf {
    fn find(&mut self, mut a: usize) -> usize {
        while self.parent[a] != a {
            self.parent[a] = self.parent[self.parent[a]];
            a = self.parent[a];
        }
        a
    }
}

#[derive(Clone, Copy)]
enum Ty {
    Var(usize),
    Fixed(Type, Span),
}

struct Checker<'a> {
    uf: Uf,
    file: FileId,
    diags: &'a mut Vec<Diagnostic>,
    failed: bool,
}

impl Checker<'_> {
    fn unify(&mut self, a: Ty, b: Ty, at: Span, what: &str) {
        let (ta, tb) = (self.resolve(a), self.resolve(b));
        match (a, b) {
            (Ty::Var(x), Ty::Var(y)) => {
                let (rx, ry) = (self.uf.find(x), self.uf.find(y));
                if rx == ry {
                    return;
                }
                match (ta, tb) {
                    (Some(p), Some(q)) if p.0 != q.0 => self.mismatch(p, q, at, what),
                    (None, Some(q)) => {
                        self.uf.parent[rx] = ry;
                        self.uf.ty[ry] = Some(q);
                    }
                    _ => self.uf.parent[ry] = rx,
                }
            }
            (Ty::Var(x), Ty::Fixed(t, s)) | (Ty::Fixed(t, s), Ty::Var(x)) => {
                let r = self.uf.find(x);
                match self.uf.ty[r] {
                    Some(p) if p.0 != t => self.mismatch(p, (t, s), at, what),
                    Some(_) => {}
                    None => self.uf.ty[r] = Some((t, s)),
                }
            }
            (Ty::Fixed(t, s), Ty::Fixed(u, v)) => {
                if t != u {
                    self.mismatch((t, s), (u, v), at, what)
                }
            }
        }
    }

    fn resolve(&mut self, t: Ty) -> Option<(Type, Span)> {
        match t {
            Ty::Var(x) => {
                let r = self.uf.find(x);
                self.uf.ty[r]
            }
            Ty::Fixed(t, s) => Some((t, s)),
        }
    }

    fn mismatch(&mut self, a: (Type, Span), b: (Type, Span), at: Span, what: &str) {
        self.failed = true;
        let mut d = Diagnostic::error(format!(
            "type mismatch in {what}: {} and {}",
            a.0.as_str(),
            b.0.as_str()
        ))
        .with_code(codes::TYPE_MISMATCH)
        .with_primary(
            self.file,
            at,
            format!("{what} mixes a {} and a {}", a.0.as_str(), b.0.as_str()),
        );
        for (t, s) in [a, b] {
            if s != at {
                d = d.with_secondary(self.file, s, format!("{} because of this", t.as_str()));
            }
        }
        self.diags.push(d);
    }

    fn expr(&mut self, e: &Expr, base: usize, span: Span) -> Ty {
        match e {
            Expr::Var(v) => Ty::Var(base + v),
            Expr::Const(c) => Ty::Fixed(c.ty(), span),
            Expr::Neg(a) => {
                let t = self.expr(a, base, span);
                self.unify(t, Ty::Fixed(Type::Number, span), span, "arithmetic");
                Ty::Fixed(Type::Number, span)
            }
            Expr::Bin(_, a, b) => {
                for x in [a, b] {
                    let t = self.expr(x, base, span);
                    self.unify(t, Ty::Fixed(Type::Number, span), span, "arithmetic");
                }
                Ty::Fixed(Type::Number, span)
            }
            Expr::Call(f, args) => {
                let what = format!("`{}`", f.as_str());
                for (i, a) in args.iter().enumerate() {
                    let t = self.expr(a, base, span);
                    let want = crate::functor::arg_type(*f, i);
                    self.unify(t, Ty::Fixed(want, span), span, &what);
                }
                Ty::Fixed(crate::functor::result_type(*f), span)
            }
        }
    }

    fn items(&mut self, items: &[BodyItem], base: usize, cols: &[usize]) {
        for item in items {
            match item {
                BodyItem::Atom(a) | BodyItem::Negated(a) => {
                    for (i, t) in a.args.iter().enumerate() {
                        let col = Ty::Var(cols[a.rel] + i);
                        match t {
                            Term::Var(v) => self.unify(Ty::Var(base + v), col, a.span, "this atom"),
                            Term::Const(c) => {
                                self.unify(Ty::Fixed(c.ty(), a.span), col, a.span, "this atom")
                            }
                            Term::Wildcard => {}
                        }
                    }
                }
                BodyItem::Compare { op, lhs, rhs, span } if op.is_predicate() => {
                    let l = self.expr(lhs, base, *span);
                    let r = self.expr(rhs, base, *span);
                    let what = if matches!(op, CmpOp::Match | CmpOp::NotMatch) {
                        "`match`"
                    } else {
                        "`contains`"
                    };
                    self.unify(l, Ty::Fixed(Type::Symbol, *span), *span, what);
                    self.unify(r, Ty::Fixed(Type::Symbol, *span), *span, what);
                }
                BodyItem::Compare { op, lhs, rhs, span } => {
                    let l = self.expr(lhs, base, *span);
                    let r = self.expr(rhs, base, *span);
                    self.unify(l, r, *span, "this comparison");
                    if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                        self.unify(
                            l,
                            Ty::Fixed(Type::Number, *span),
                            *span,
                            "an ordering comparison",
                        );
                    }
                }
                BodyItem::Assign { var, expr, span } => {
                    let t = self.expr(expr, base, *span);
                    self.unify(Ty::Var(base + var), t, *span, "this assignment");
                }
                BodyItem::Aggregate(g) => {
                    self.items(&g.body, base, cols);
                    let num = Ty::Fixed(Type::Number, g.span);
                    if let Some(t) = &g.target {
                        let tt = self.expr(t, base, g.span);
                        self.unify(tt, num, g.span, "this aggregate");
                    }
                    let _ = AggFunc::Count;
                    self.unify(Ty::Var(base + g.var), num, g.span, "this aggregate");
                }
            }
        }
    }
}

/// Infers and checks types, filling in `Relation::types`.
pub(crate) fn check(
    file: FileId,
    prog: &mut Program,
    declared: &[(RelId, usize, Type)],
    diags: &mut Vec<Diagnostic>,
) -> bool {
    let mut cols = Vec::with_capacity(prog.relations.len());
    let mut n = 0;
    for r in &prog.relations {
        cols.push(n);
        n += r.arity;
    }
    let mut rule_base = Vec::with_capacity(prog.rules.len());
    for r in &prog.rules {
        rule_base.push(n);
        n += r.vars.len();
    }
    let mut c = Checker {
        uf: Uf {
            parent: (0..n).collect(),
            ty: vec![None; n],
        },
        file,
        diags,
        failed: false,
    };
    for &(rel, col, ty) in declared {
        let span = prog.relations[rel].span;
        c.unify(
            Ty::Var(cols[rel] + col),
            Ty::Fixed(ty, span),
            span,
            "the declaration",
        );
    }
    for (id, r) in prog.relations.iter().enumerate() {
        if matches!(r.builtin, Some(Builtin::SelfName | Builtin::Member)) {
            c.unify(
                Ty::Var(cols[id]),
                Ty::Fixed(Type::Symbol, r.span),
                r.span,
                "a built-in",
            );
        }
    }
    for f in &prog.facts {
        for (i, v) in f.values.iter().enumerate() {
            c.unify(
                Ty::Var(cols[f.rel] + i),
                Ty::Fixed(v.ty(), f.span),
                f.span,
                "this fact",
            );
        }
    }
    for (ri, rule) in prog.rules.iter().enumerate() {
        let base = rule_base[ri];
        c.items(&rule.body, base, &cols);
        for (i, e) in rule.head_args.iter().enumerate() {
            let t = c.expr(e, base, rule.head_span);
            c.unify(Ty::Var(cols[rule.head] + i), t, rule.head_span, "this head");
        }
        if let Time::Async { location } = rule.time {
            c.unify(
                Ty::Var(cols[rule.head] + location),
                Ty::Fixed(Type::Symbol, rule.head_span),
                rule.head_span,
                "the location argument (a node name)",
            );
        }
    }
    let failed = c.failed;
    for (id, r) in prog.relations.iter_mut().enumerate() {
        for i in 0..r.arity {
            let root = c.uf.find(cols[id] + i);
            r.types[i] = c.uf.ty[root].map_or(Type::Number, |t| t.0);
        }
    }
    !failed
}
