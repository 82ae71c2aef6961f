//! Typed numbers after type checking: an integer literal such as `1` has no type of its own
//! (Souffle reads it as a `number`, an `unsigned` or a `float` depending on where it is used),
//! so once the checker has typed every column and variable, this pass gives each literal the
//! type of its context (`x + 1` with `x` a float adds `1.0`), evaluates the facts whose
//! arguments compute in a `float` or `unsigned` column (`7 / 2` there is 3.5), and reports
//! literals that do not fit their type (a negative `unsigned`).
//!
//! [`expr_type`] gives the type an expression computes in; both evaluators of `calm-engine`
//! choose their operations with it.

use crate::codes;
use crate::functor::{self, FVal};
use crate::ir::*;
use calm_syntax::ast::{AggFunc, BinOp, Functor};
use calm_syntax::{Diagnostic, FileId, Span};

/// The type of the field `index` of a record built by `ctor`, whose own type is `rec`.
fn field_type(prog: &Program, rec: Option<Type>, ctor: Ctor, index: usize) -> Option<Type> {
    let ty = match ctor {
        Ctor::Branch { ty, .. } => Type::Record(ty),
        Ctor::Plain => rec?,
    };
    prog.fields(ty, ctor)?.get(index).map(|f| f.1)
}

/// The type an expression has of its own: `None` for an integer literal (and expressions
/// of integer literals only), whose type comes from its context.
fn own(prog: &Program, vars: &[Type], e: &Expr) -> Option<Type> {
    match e {
        Expr::Var(v) => vars.get(*v).copied(),
        Expr::Const(Const::Number(_)) => None,
        Expr::Const(c) => c.ty(),
        Expr::Neg(a) => own(prog, vars, a),
        Expr::Bin(_, a, b) => own(prog, vars, a).or_else(|| own(prog, vars, b)),
        Expr::Call(f, args) => match f {
            Functor::Min | Functor::Max | Functor::Bnot | Functor::Lnot => {
                args.iter().find_map(|a| own(prog, vars, a))
            }
            _ => Some(functor::result_type(*f, &[])),
        },
        Expr::Record(Ctor::Branch { ty, .. }, _) => Some(Type::Record(*ty)),
        Expr::Record(Ctor::Plain, _) => None,
        Expr::Field {
            rec, ctor, index, ..
        } => field_type(prog, own(prog, vars, rec), *ctor, *index),
        Expr::Tag(_) => Some(Type::Number),
        Expr::As(t, _) => Some(*t),
    }
}

/// The type expression `e` computes in, in a rule whose variables have types `vars` (an
/// integer literal left without a context is a `number`).
pub fn expr_type(prog: &Program, vars: &[Type], e: &Expr) -> Type {
    own(prog, vars, e).unwrap_or(Type::Number)
}

/// The type in which functor `f` takes its arguments `args` (each argument's own type for
/// the conversions).
pub fn call_arg_types(prog: &Program, vars: &[Type], f: Functor, args: &[Expr]) -> Vec<Type> {
    let shared = match f {
        Functor::Min | Functor::Max | Functor::Bnot | Functor::Lnot => Some(
            args.iter()
                .find_map(|a| own(prog, vars, a))
                .unwrap_or(Type::Number),
        ),
        _ => None,
    };
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            functor::arg_type(f, i)
                .or(shared)
                .unwrap_or_else(|| expr_type(prog, vars, a))
        })
        .collect()
}

/// Constant `c` as a value of type `ty`: an integer literal becomes an `unsigned` or a
/// `float`; a record's fields are converted to their types.
pub fn convert(prog: &Program, c: Const, ty: Type) -> Result<Const, String> {
    Ok(match (c, ty) {
        (Const::Number(n), Type::Float) => Const::Float(crate::number::float_bits(n as f64)),
        (Const::Number(n), Type::Unsigned) => Const::Unsigned(
            u64::try_from(n).map_err(|_| format!("`{n}` is negative: not an unsigned"))?,
        ),
        (Const::Record(ctor, fields), ty @ Type::Record(_)) => {
            let types: Vec<Type> = prog
                .fields(ty, ctor)
                .map(|fs| fs.iter().map(|f| f.1).collect())
                .unwrap_or_default();
            let mut out = Vec::with_capacity(fields.len());
            for (i, f) in fields.into_iter().enumerate() {
                out.push(match types.get(i) {
                    Some(&t) => convert(prog, f, t)?,
                    None => f,
                });
            }
            Const::Record(ctor, out)
        }
        (c, _) => c,
    })
}

/// Evaluates a constant expression whose value must have type `want` (`None`: its own
/// type, a `number` for integer literals).
pub fn fold(e: &Expr, want: Option<Type>) -> Result<Const, String> {
    let empty = Program::default();
    fold_in(&empty, e, want)
}

fn fold_in(prog: &Program, e: &Expr, want: Option<Type>) -> Result<Const, String> {
    let own_ty = |e: &Expr| own(prog, &[], e);
    let val = |c: &Const| -> Result<FVal<'static>, String> {
        Ok(match c {
            Const::Number(n) => FVal::Num(*n),
            Const::Unsigned(u) => FVal::Unsigned(*u),
            Const::Float(b) => FVal::Float(crate::number::float_of(*b)),
            Const::Symbol(s) => FVal::Str(s.clone().into()),
            Const::Nil | Const::Record(..) => {
                return Err("a record where a number or a symbol is needed".into());
            }
        })
    };
    let konst = |v: FVal<'_>| match v {
        FVal::Num(n) => Const::Number(n),
        FVal::Unsigned(u) => Const::Unsigned(u),
        FVal::Float(f) => Const::Float(crate::number::float_bits(f)),
        FVal::Str(s) => Const::Symbol(s.into_owned()),
    };
    match e {
        Expr::Const(c) => match want {
            Some(t) => convert(prog, c.clone(), t),
            None => Ok(c.clone()),
        },
        Expr::Var(_) => Err("a fact cannot contain variables".into()),
        Expr::Neg(a) => {
            let t = want.or_else(|| own_ty(a));
            let c = fold_in(prog, a, t)?;
            let ty = c.ty().unwrap_or(Type::Number);
            let bits = val(&c)?.bits().ok_or("only a number can be negated")?;
            if ty == Type::Unsigned {
                return Err("an unsigned number cannot be negated".into());
            }
            let r = functor::negate(ty, bits)?;
            Ok(konst(FVal::from_bits(ty, r)))
        }
        Expr::Bin(op, a, b) => {
            let t = want.or_else(|| own_ty(a)).or_else(|| own_ty(b));
            let (x, y) = (fold_in(prog, a, t)?, fold_in(prog, b, t)?);
            if let (Const::Symbol(p), Const::Symbol(q), BinOp::Add) = (&x, &y, op) {
                return Ok(konst(functor::call(
                    Functor::Cat,
                    &[FVal::Str(p.as_str().into()), FVal::Str(q.as_str().into())],
                )?));
            }
            let ty = x.ty().unwrap_or(Type::Number);
            let (Some(xb), Some(yb)) = (val(&x)?.bits(), val(&y)?.bits()) else {
                return Err(format!("`{}` needs numbers", op.as_str()));
            };
            if y.ty() != Some(ty) {
                return Err(format!("`{}` needs two values of one type", op.as_str()));
            }
            let r = functor::arith_typed(ty, *op, xb, yb)?;
            Ok(konst(FVal::from_bits(ty, r)))
        }
        Expr::Call(f, args) => {
            let shared = match f {
                Functor::Min | Functor::Max | Functor::Bnot | Functor::Lnot => {
                    want.or_else(|| args.iter().find_map(own_ty))
                }
                _ => None,
            };
            let mut vals = Vec::with_capacity(args.len());
            for (i, a) in args.iter().enumerate() {
                let t = functor::arg_type(*f, i).or(shared);
                vals.push(val(&fold_in(prog, a, t)?)?);
            }
            for (i, v) in vals.iter().enumerate() {
                if let Some(want) = functor::arg_type(*f, i)
                    && matches!(v, FVal::Str(_)) != (want == Type::Symbol)
                {
                    return Err(format!(
                        "argument {} of `{}` must be a {}",
                        i + 1,
                        f.as_str(),
                        want.as_str()
                    ));
                }
            }
            let out = konst(functor::call(*f, &vals)?);
            match want {
                Some(t) => convert(prog, out, t),
                None => Ok(out),
            }
        }
        Expr::Record(c, args) => {
            let types: Vec<Option<Type>> = (0..args.len())
                .map(|i| want.and_then(|w| prog.fields(w, *c)?.get(i).map(|f| f.1)))
                .collect();
            let mut fields = Vec::with_capacity(args.len());
            for (a, t) in args.iter().zip(types) {
                fields.push(fold_in(prog, a, t)?);
            }
            Ok(Const::Record(*c, fields))
        }
        Expr::As(t, a) => fold_in(prog, a, Some(*t)),
        Expr::Field { .. } | Expr::Tag(_) => Err("not a constant".into()),
    }
}

struct Pass<'a> {
    prog: &'a Program,
    file: FileId,
    diags: &'a mut Vec<Diagnostic>,
    ok: bool,
}

impl Pass<'_> {
    fn report(&mut self, span: Span, msg: String) {
        self.ok = false;
        self.diags.push(
            Diagnostic::error(msg)
                .with_code(codes::TYPE_MISMATCH)
                .with_primary(self.file, span, "in this rule"),
        );
    }

    fn konst(&mut self, c: &mut Const, ty: Type, span: Span) {
        match convert(self.prog, c.clone(), ty) {
            Ok(v) => *c = v,
            Err(m) => self.report(span, m),
        }
    }

    fn expr(&mut self, e: &mut Expr, want: Option<Type>, vars: &[Type], span: Span) {
        let prog = self.prog;
        match e {
            Expr::Var(_) => {}
            Expr::Const(c) => {
                if let Some(t) = want {
                    self.konst(c, t, span);
                }
            }
            Expr::Neg(a) => {
                let t = want.or_else(|| own(prog, vars, a));
                self.expr(a, t, vars, span);
            }
            Expr::Bin(_, a, b) => {
                let t = want
                    .or_else(|| own(prog, vars, a))
                    .or_else(|| own(prog, vars, b));
                self.expr(a, t, vars, span);
                self.expr(b, t, vars, span);
            }
            Expr::Call(f, args) => {
                let shared = match f {
                    Functor::Min | Functor::Max | Functor::Bnot | Functor::Lnot => {
                        want.or_else(|| args.iter().find_map(|a| own(prog, vars, a)))
                    }
                    _ => None,
                };
                for (i, a) in args.iter_mut().enumerate() {
                    let t = functor::arg_type(*f, i).or(shared);
                    self.expr(a, t, vars, span);
                }
            }
            Expr::Record(ctor, args) => {
                let rec = want.or_else(|| own(prog, vars, &Expr::Record(*ctor, Vec::new())));
                for (i, a) in args.iter_mut().enumerate() {
                    let t = field_type(prog, rec, *ctor, i);
                    self.expr(a, t, vars, span);
                }
            }
            Expr::Field { rec, .. } => {
                let t = own(prog, vars, rec);
                self.expr(rec, t, vars, span);
            }
            Expr::Tag(a) => {
                let t = own(prog, vars, a);
                self.expr(a, t, vars, span);
            }
            Expr::As(t, a) => {
                let t = Some(*t);
                self.expr(a, t, vars, span);
            }
        }
    }

    fn items(&mut self, items: &mut [BodyItem], vars: &[Type]) {
        let prog = self.prog;
        for item in items {
            match item {
                BodyItem::Atom(a) | BodyItem::Negated(a) => {
                    let types = prog.relations[a.rel].types.clone();
                    for (t, ty) in a.args.iter_mut().zip(types) {
                        if let Term::Const(c) = t {
                            self.konst(c, ty, a.span);
                        }
                    }
                }
                BodyItem::Compare { op, lhs, rhs, span } => {
                    if op.is_predicate() {
                        continue;
                    }
                    let t = own(prog, vars, lhs).or_else(|| own(prog, vars, rhs));
                    self.expr(lhs, t, vars, *span);
                    self.expr(rhs, t, vars, *span);
                }
                BodyItem::Assign { var, expr, span } => {
                    let t = vars.get(*var).copied();
                    self.expr(expr, t, vars, *span);
                }
                BodyItem::Range { args, span, .. } => {
                    for a in args {
                        self.expr(a, Some(Type::Number), vars, *span);
                    }
                }
                BodyItem::Aggregate(g) => {
                    self.items(&mut g.body, vars);
                    if let Some(t) = &mut g.target {
                        let want = match g.func {
                            AggFunc::Sum | AggFunc::Min | AggFunc::Max => vars.get(g.var).copied(),
                            _ => own(prog, vars, t),
                        };
                        self.expr(t, want, vars, g.span);
                    }
                }
            }
        }
    }
}

/// Gives every integer literal the type of its context and evaluates the facts of `float` and
/// `unsigned` columns in their type. Returns whether no error was found.
pub(crate) fn apply(file: FileId, prog: &mut Program, diags: &mut Vec<Diagnostic>) -> bool {
    let mut rules = std::mem::take(&mut prog.rules);
    let mut facts = std::mem::take(&mut prog.facts);
    let mut pass = Pass {
        prog,
        file,
        diags,
        ok: true,
    };
    for f in &mut facts {
        let types = pass.prog.relations[f.rel].types.clone();
        for (i, ty) in types.into_iter().enumerate() {
            // Anything computed is evaluated again in the column's type (a record's fields
            // in theirs: `[7 / 2]` with a float field is `[3.5]`).
            let computed = f.exprs.get(i).is_some_and(|e| !matches!(e, Expr::Const(_)));
            let value = if computed {
                fold_in(pass.prog, &f.exprs[i], Some(ty))
            } else {
                convert(pass.prog, f.values[i].clone(), ty)
            };
            match value {
                Ok(v) => f.values[i] = v,
                Err(m) => {
                    pass.ok = false;
                    let span = f.span;
                    pass.diags.push(
                        Diagnostic::error(m)
                            .with_code(codes::CONST_EVAL)
                            .with_primary(file, span, "in this fact"),
                    );
                }
            }
        }
    }
    for r in &mut rules {
        let vars = std::mem::take(&mut r.var_types);
        pass.items(&mut r.body, &vars);
        let types = pass.prog.relations[r.head].types.clone();
        for (e, ty) in r.head_args.iter_mut().zip(types) {
            pass.expr(e, Some(ty), &vars, r.head_span);
        }
        r.var_types = vars;
    }
    let ok = pass.ok;
    prog.rules = rules;
    prog.facts = facts;
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: i64) -> Box<Expr> {
        Box::new(Expr::Const(Const::Number(v)))
    }

    #[test]
    fn literals_take_the_type_they_are_folded_in() {
        let half = Expr::Bin(BinOp::Div, n(7), n(2));
        assert_eq!(fold(&half, None), Ok(Const::Number(3)));
        assert_eq!(
            fold(&half, Some(Type::Float)),
            Ok(Const::Float(crate::number::float_bits(3.5)))
        );
        assert_eq!(fold(&half, Some(Type::Unsigned)), Ok(Const::Unsigned(3)));
        assert_eq!(fold(&half, Some(Type::Number)), Ok(Const::Number(3)));
        assert!(fold(&Expr::Neg(n(1)), Some(Type::Unsigned)).is_err());
        let neg_zero = Expr::Neg(Box::new(Expr::Const(Const::Float(0))));
        assert_eq!(fold(&neg_zero, None), Ok(Const::Float(0)));
        let cast = Expr::Call(
            Functor::ToNumber,
            vec![Expr::Const(Const::Float(crate::number::float_bits(-3.7)))],
        );
        assert_eq!(fold(&cast, None), Ok(Const::Number(-3)));
    }
}
