//! Comparing programs apart from their spans: what "formatting never changes meaning" checks.

use crate::Span;
use crate::ast::{
    Aggregate, Atom, Decl, Directive, Expr, Ident, Item, Literal, Param, Program, Rule, TimeSuffix,
    TypeDecl, TypeDef,
};

/// A copy of `program` with every span set to `0..0`, so that two programs that differ only in
/// where things were written compare equal.
///
/// ```
/// use calm_syntax::{FileId, format::without_spans, parse};
/// let a = parse(FileId(0), "p(x) :- q(x).").program;
/// let b = parse(FileId(0), "p(x)\n    :-   q(x).").program;
/// assert_ne!(a, b);
/// assert_eq!(without_spans(&a), without_spans(&b));
/// ```
pub fn without_spans(program: &Program) -> Program {
    let mut p = program.clone();
    for item in &mut p.items {
        item_(item);
    }
    p
}

const Z: Span = Span { start: 0, end: 0 };

fn ident(i: &mut Ident) {
    i.span = Z;
}

fn params(ps: &mut [Param]) {
    for p in ps {
        ident(&mut p.name);
        ident(&mut p.ty);
    }
}

fn item_(item: &mut Item) {
    match item {
        Item::Decl(Decl {
            name,
            params: ps,
            qualifiers,
            span,
        }) => {
            ident(name);
            params(ps);
            qualifiers.iter_mut().for_each(ident);
            *span = Z;
        }
        Item::Directive(Directive {
            kind_span,
            targets,
            span,
            ..
        }) => {
            *kind_span = Z;
            *span = Z;
            for t in targets {
                ident(&mut t.name);
                for p in &mut t.params {
                    ident(&mut p.key);
                    p.value_span = Z;
                }
            }
        }
        Item::Rule(r) => rule(r),
        Item::Type(TypeDecl { name, def, span }) => {
            ident(name);
            *span = Z;
            match def {
                TypeDef::Subtype(base) => ident(base),
                TypeDef::Union(members) => members.iter_mut().for_each(ident),
                TypeDef::Record(fields) => params(fields),
                TypeDef::Adt(branches) => {
                    for b in branches {
                        ident(&mut b.name);
                        params(&mut b.fields);
                        b.span = Z;
                    }
                }
            }
        }
    }
}

fn rule(r: &mut Rule) {
    atom(&mut r.head);
    if let Some(d) = &mut r.dominated_by {
        atom(d);
    }
    r.time = r.time.map(|t| match t {
        TimeSuffix::Next(_) => TimeSuffix::Next(Z),
        TimeSuffix::Async(_) => TimeSuffix::Async(Z),
    });
    r.body.iter_mut().for_each(literal);
    r.span = Z;
}

fn atom(a: &mut Atom) {
    ident(&mut a.name);
    for arg in &mut a.args {
        expr(&mut arg.expr);
        arg.span = Z;
    }
    a.span = Z;
}

fn literal(l: &mut Literal) {
    match l {
        Literal::Atom(a) => atom(a),
        Literal::Negated { atom: a, span } => {
            atom(a);
            *span = Z;
        }
        Literal::Compare { lhs, rhs, span, .. } => {
            expr(lhs);
            expr(rhs);
            *span = Z;
        }
    }
}

fn expr(e: &mut Expr) {
    match e {
        Expr::Var(i) => ident(i),
        Expr::Wildcard(s)
        | Expr::Number(_, s)
        | Expr::Float(_, s)
        | Expr::Unsigned(_, s)
        | Expr::String(_, s)
        | Expr::Nil(s) => *s = Z,
        Expr::As(inner, ty, s) => {
            expr(inner);
            ident(ty);
            *s = Z;
        }
        Expr::Neg(inner, s) => {
            expr(inner);
            *s = Z;
        }
        Expr::Binary { lhs, rhs, span, .. } => {
            expr(lhs);
            expr(rhs);
            *span = Z;
        }
        Expr::Call { args, span, .. } | Expr::Record(args, span) => {
            args.iter_mut().for_each(expr);
            *span = Z;
        }
        Expr::Aggregate(a) => aggregate(a),
        Expr::Branch(c) => {
            ident(&mut c.name);
            c.args.iter_mut().for_each(expr);
            c.span = Z;
        }
    }
}

fn aggregate(a: &mut Aggregate) {
    a.func_span = Z;
    if let Some(t) = &mut a.target {
        expr(t);
    }
    a.body.iter_mut().for_each(literal);
    a.span = Z;
}
