//! Type inference: every column and variable is a `number`, a `symbol` or a record type.
//! Declared columns fix their type; undeclared ones are inferred from use; anything left open is
//! a number. A record literal `[...]` (and `nil`, and a field of a record pattern) takes its
//! type from where it is used: such constraints wait in [`Pending`] until that type is known,
//! then its fields are checked against the type's.

use crate::codes;
use crate::ir::*;
use calm_syntax::ast::{AggFunc, BinOp, CmpOp, Functor};
use calm_syntax::{Diagnostic, FileId, Span};

struct Uf {
    parent: Vec<usize>,
    ty: Vec<Option<(Type, Span)>>,
    /// The numeric types a class allows (a set of [`NUMBER`], [`UNSIGNED`], [`FLOAT`]), with
    /// where the restriction comes from; `None`: any type.
    allowed: Vec<Option<(u8, Span)>>,
}

/// `number` in a set of allowed numeric types.
const NUMBER: u8 = 1;
/// `unsigned` in a set of allowed numeric types.
const UNSIGNED: u8 = 2;
/// `float` in a set of allowed numeric types.
const FLOAT: u8 = 4;
/// `symbol` in a set of allowed types (`+` concatenates symbols).
const SYMBOL: u8 = 8;
/// Arithmetic, ordering, `min`/`max`, `sum`: any numeric type.
const NUMERIC: u8 = NUMBER | UNSIGNED | FLOAT;
/// `%`, bit and logical operators: integers.
const INTEGRAL: u8 = NUMBER | UNSIGNED;
/// Unary minus: signed types.
const SIGNED: u8 = NUMBER | FLOAT;

fn bit(t: Type) -> u8 {
    match t {
        Type::Number => NUMBER,
        Type::Unsigned => UNSIGNED,
        Type::Float => FLOAT,
        Type::Symbol => SYMBOL,
        _ => 0,
    }
}

/// What a set of allowed numeric types is called in a message.
fn allowed_name(a: u8) -> &'static str {
    match a {
        NUMERIC => "a number, an unsigned or a float",
        a if a == NUMERIC | SYMBOL => "a number, an unsigned, a float or a symbol",
        INTEGRAL => "a number or an unsigned",
        SIGNED => "a number or a float",
        NUMBER => "a number",
        UNSIGNED => "an unsigned",
        FLOAT => "a float",
        _ => "a value of no type",
    }
}

/// `name` with its indefinite article (`a number`, `an unsigned`).
fn article(name: &str) -> String {
    if name.starts_with('u') {
        format!("an {name}")
    } else {
        format!("a {name}")
    }
}

/// The type a class of values without a type of their own gets: `number` if it may be one.
fn default_type(allowed: Option<(u8, Span)>) -> Type {
    match allowed {
        Some((a, _)) if a & NUMBER == 0 && a & UNSIGNED != 0 => Type::Unsigned,
        Some((a, _)) if a & NUMBER == 0 && a & FLOAT != 0 => Type::Float,
        _ => Type::Number,
    }
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

/// A constraint that waits for a type to be known.
enum Pending {
    /// A record literal of type `slot` with fields of types `args`.
    Literal {
        slot: usize,
        args: Vec<Ty>,
        span: Span,
    },
    /// `nil` of type `slot`: a record type.
    Nil { slot: usize, span: Span },
    /// Field `index` (of `of`) of a record literal pattern over a value of type `rec`: its
    /// type is `slot`.
    Field {
        rec: Ty,
        index: usize,
        of: usize,
        slot: usize,
        span: Span,
    },
    /// The tag of a value of type `ty`: a record type or an ADT.
    Tagged { ty: Ty, span: Span },
}

struct Checker<'a> {
    uf: Uf,
    file: FileId,
    diags: &'a mut Vec<Diagnostic>,
    failed: bool,
    records: Vec<RecordType>,
    pending: Vec<Pending>,
}

impl Checker<'_> {
    /// A fresh type variable.
    fn fresh(&mut self) -> usize {
        let n = self.uf.parent.len();
        self.uf.parent.push(n);
        self.uf.ty.push(None);
        self.uf.allowed.push(None);
        n
    }

    /// Restricts `t` to the numeric types in `allowed`.
    fn constrain(&mut self, t: Ty, allowed: u8, at: Span, what: &str) {
        match t {
            Ty::Fixed(ty, s) => {
                if bit(ty) & allowed == 0 {
                    self.not_allowed(ty, s, allowed, at, what);
                }
            }
            Ty::Var(x) => {
                let r = self.uf.find(x);
                if let Some((ty, s)) = self.uf.ty[r] {
                    if bit(ty) & allowed == 0 {
                        self.not_allowed(ty, s, allowed, at, what);
                    }
                    return;
                }
                let merged = match self.uf.allowed[r] {
                    Some((a, s)) => (a & allowed, if a & allowed == a { s } else { at }),
                    None => (allowed, at),
                };
                if merged.0 == 0 {
                    self.failed = true;
                    let prev = self.uf.allowed[r].map_or(0, |p| p.0);
                    self.diags.push(
                        Diagnostic::error(format!(
                            "type mismatch in {what}: {} and {}",
                            allowed_name(prev),
                            allowed_name(allowed)
                        ))
                        .with_code(codes::TYPE_MISMATCH)
                        .with_primary(
                            self.file,
                            at,
                            "no numeric type is both",
                        ),
                    );
                    return;
                }
                self.uf.allowed[r] = Some(merged);
            }
        }
    }

    fn not_allowed(&mut self, ty: Type, s: Span, allowed: u8, at: Span, what: &str) {
        self.failed = true;
        let name = self.name(ty);
        let mut d = Diagnostic::error(format!(
            "type mismatch in {what}: {} where {} is needed",
            article(&name),
            allowed_name(allowed)
        ))
        .with_code(codes::TYPE_MISMATCH)
        .with_primary(
            self.file,
            at,
            format!("{what} needs {}", allowed_name(allowed)),
        );
        if s != at {
            d = d.with_secondary(self.file, s, format!("{name} because of this"));
        }
        self.diags.push(d);
    }

    /// A numeric literal of no type of its own (`1`): any numeric type.
    fn literal(&mut self, span: Span) -> Ty {
        let slot = self.fresh();
        self.uf.allowed[slot] = Some((NUMERIC, span));
        Ty::Var(slot)
    }

    /// The type a variable or column ends with.
    fn final_type(&mut self, x: usize) -> Type {
        let r = self.uf.find(x);
        match self.uf.ty[r] {
            Some((t, _)) => t,
            None => default_type(self.uf.allowed[r]),
        }
    }

    /// A type as users wrote it: `number`, `symbol`, or the record type's name.
    fn name(&self, t: Type) -> String {
        match t {
            Type::Record(id) => match self.records.get(id as usize) {
                Some(r) => format!("`{}`", r.name),
                None => "record".into(),
            },
            other => other.as_str().into(),
        }
    }

    fn error(&mut self, span: Span, msg: String, label: &str, help: Option<&str>) {
        self.failed = true;
        let mut d = Diagnostic::error(msg)
            .with_code(codes::RECORD)
            .with_primary(self.file, span, label);
        if let Some(h) = help {
            d = d.with_help(h);
        }
        self.diags.push(d);
    }

    /// The type of a constant.
    fn konst(&mut self, c: &Const, span: Span) -> Ty {
        match c {
            Const::Number(_) => self.literal(span),
            Const::Symbol(_) => Ty::Fixed(Type::Symbol, span),
            Const::Unsigned(_) => Ty::Fixed(Type::Unsigned, span),
            Const::Float(_) => Ty::Fixed(Type::Float, span),
            Const::Nil => {
                let slot = self.fresh();
                self.pending.push(Pending::Nil { slot, span });
                Ty::Var(slot)
            }
            Const::Record(ctor, fields) => {
                let args = fields.iter().map(|f| self.konst(f, span)).collect();
                self.record(*ctor, args, span)
            }
        }
    }

    /// The type of a record built by `ctor` from fields of types `args`.
    fn record(&mut self, ctor: Ctor, args: Vec<Ty>, span: Span) -> Ty {
        match ctor {
            Ctor::Branch { ty, branch } => {
                let fields: Vec<Type> = self
                    .records
                    .get(ty as usize)
                    .and_then(|r| r.branches.get(branch as usize))
                    .map(|b| b.fields.iter().map(|f| f.1).collect())
                    .unwrap_or_default();
                for (a, f) in args.into_iter().zip(fields) {
                    self.unify(a, Ty::Fixed(f, span), span, "this constructor");
                }
                Ty::Fixed(Type::Record(ty), span)
            }
            Ctor::Plain => {
                let slot = self.fresh();
                self.pending.push(Pending::Literal { slot, args, span });
                Ty::Var(slot)
            }
        }
    }

    /// The fields of the record type `t`, if it is one (not an ADT).
    fn plain_fields(&self, t: Type) -> Option<Vec<Type>> {
        let Type::Record(id) = t else { return None };
        let r = self.records.get(id as usize).filter(|r| !r.adt)?;
        Some(r.branches.first()?.fields.iter().map(|f| f.1).collect())
    }

    /// Gives the first record literal whose type nothing tells (one only compared and
    /// destructured within a rule, `r = [x, y], r = [a, b]`) a record type of its own, whose
    /// fields have the literal's fields' types (`number` where nothing tells). Returns whether
    /// there was one.
    fn anonymous(&mut self) -> bool {
        let Some((slot, args, span)) = self.pending.iter().find_map(|p| match p {
            Pending::Literal { slot, args, span } => Some((*slot, args.clone(), *span)),
            _ => None,
        }) else {
            return false;
        };
        let mut fields = Vec::with_capacity(args.len());
        for (i, a) in args.iter().enumerate() {
            let t = match self.resolve(*a) {
                Some((t, _)) => t,
                None => {
                    self.unify(*a, Ty::Fixed(Type::Number, span), span, "this record");
                    Type::Number
                }
            };
            fields.push((format!("f{i}"), t));
        }
        let id = self.records.len() as u32;
        self.records.push(RecordType {
            name: format!(
                "[{}]",
                fields
                    .iter()
                    .map(|f| f.1.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            span,
            branches: vec![RecordBranch {
                name: String::new(),
                fields,
            }],
            adt: false,
        });
        self.unify(
            Ty::Var(slot),
            Ty::Fixed(Type::Record(id), span),
            span,
            "this record",
        );
        true
    }

    /// Settles the pending constraints whose types became known, until none does; reports
    /// record literals whose type cannot be told.
    fn settle(&mut self) {
        loop {
            let mut progress = false;
            for p in std::mem::take(&mut self.pending) {
                let (ty, span) = match &p {
                    Pending::Literal { slot, span, .. } | Pending::Nil { slot, span } => {
                        (Ty::Var(*slot), *span)
                    }
                    Pending::Field { rec, span, .. } => (*rec, *span),
                    Pending::Tagged { ty, span } => (*ty, *span),
                };
                let Some((t, _)) = self.resolve(ty) else {
                    self.pending.push(p);
                    continue;
                };
                progress = true;
                let fields = self.plain_fields(t);
                let what = self.name(t);
                match (p, fields) {
                    (Pending::Literal { args, .. }, Some(fields)) => {
                        if args.len() != fields.len() {
                            self.error(
                                span,
                                format!(
                                    "a record literal with {} field{} where {what} has {}",
                                    args.len(),
                                    if args.len() == 1 { "" } else { "s" },
                                    fields.len()
                                ),
                                "wrong number of fields",
                                None,
                            );
                            continue;
                        }
                        for (a, f) in args.into_iter().zip(fields) {
                            self.unify(a, Ty::Fixed(f, span), span, "this record");
                        }
                    }
                    (
                        Pending::Field {
                            index, of, slot, ..
                        },
                        Some(fields),
                    ) => {
                        if of != fields.len() {
                            self.error(
                                span,
                                format!(
                                    "a record pattern with {of} field{} where {what} has {}",
                                    if of == 1 { "" } else { "s" },
                                    fields.len()
                                ),
                                "wrong number of fields",
                                None,
                            );
                            continue;
                        }
                        let f = fields.get(index).copied().unwrap_or(Type::Number);
                        self.unify(Ty::Var(slot), Ty::Fixed(f, span), span, "this record");
                    }
                    (Pending::Nil { .. }, Some(_)) => {}
                    (Pending::Tagged { .. }, _) if matches!(t, Type::Record(_)) => {}
                    (Pending::Literal { .. } | Pending::Field { .. }, None)
                        if matches!(t, Type::Record(_)) =>
                    {
                        self.error(
                            span,
                            format!("a record literal `[...]` where the ADT {what} is expected"),
                            "not a value of this type",
                            Some("build values of an algebraic data type with its constructors, `$Name(...)`"),
                        );
                    }
                    (Pending::Nil { .. }, None) if matches!(t, Type::Record(_)) => {
                        self.error(
                            span,
                            format!("`nil` where the ADT {what} is expected"),
                            "not a value of this type",
                            Some("`nil` is a value of record types only"),
                        );
                    }
                    _ => {
                        self.error(
                            span,
                            format!("a record where a {what} is expected"),
                            "type mismatch",
                            None,
                        );
                    }
                }
            }
            if !progress && !self.anonymous() {
                break;
            }
        }
        let mut reported = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            if let Pending::Literal { span, .. } | Pending::Field { span, .. } = p
                && !reported.contains(&span)
            {
                reported.push(span);
                self.error(
                    span,
                    "cannot tell the type of this record".into(),
                    "its record type is unknown",
                    Some("use the record in a column declared with a record type"),
                );
            }
        }
    }

    fn unify(&mut self, a: Ty, b: Ty, at: Span, what: &str) {
        let (ta, tb) = (self.resolve(a), self.resolve(b));
        match (a, b) {
            (Ty::Var(x), Ty::Var(y)) => {
                let (rx, ry) = (self.uf.find(x), self.uf.find(y));
                if rx == ry {
                    return;
                }
                let (ax, ay) = (self.uf.allowed[rx], self.uf.allowed[ry]);
                match (ta, tb) {
                    (Some(p), Some(q)) if p.0 != q.0 => self.mismatch(p, q, at, what),
                    (None, Some(q)) => match ax {
                        Some((a, cs)) if bit(q.0) & a == 0 => {
                            self.mismatch((default_type(ax), cs), q, at, what)
                        }
                        _ => {
                            self.uf.parent[rx] = ry;
                            self.uf.ty[ry] = Some(q);
                        }
                    },
                    (Some(p), None) => match ay {
                        Some((a, cs)) if bit(p.0) & a == 0 => {
                            self.mismatch(p, (default_type(ay), cs), at, what)
                        }
                        _ => self.uf.parent[ry] = rx,
                    },
                    _ => {
                        self.uf.parent[ry] = rx;
                        if let Some((a, _)) = ay {
                            self.constrain(Ty::Var(rx), a, at, what);
                        }
                    }
                }
            }
            (Ty::Var(x), Ty::Fixed(t, s)) | (Ty::Fixed(t, s), Ty::Var(x)) => {
                let r = self.uf.find(x);
                match self.uf.ty[r] {
                    Some(p) if p.0 != t => self.mismatch(p, (t, s), at, what),
                    Some(_) => {}
                    None => match self.uf.allowed[r] {
                        Some((a, cs)) if bit(t) & a == 0 => {
                            self.mismatch((default_type(Some((a, cs))), cs), (t, s), at, what)
                        }
                        _ => self.uf.ty[r] = Some((t, s)),
                    },
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
        let (na, nb) = (self.name(a.0), self.name(b.0));
        let mut d = Diagnostic::error(format!("type mismatch in {what}: {na} and {nb}"))
            .with_code(codes::TYPE_MISMATCH)
            .with_primary(
                self.file,
                at,
                format!("{what} mixes {} and {}", article(&na), article(&nb)),
            );
        for (t, s) in [(na, a.1), (nb, b.1)] {
            if s != at {
                d = d.with_secondary(self.file, s, format!("{t} because of this"));
            }
        }
        self.diags.push(d);
    }

    fn expr(&mut self, e: &Expr, base: usize, span: Span) -> Ty {
        match e {
            Expr::Var(v) => Ty::Var(base + v),
            Expr::Const(c) => self.konst(c, span),
            Expr::Neg(a) => {
                let t = self.expr(a, base, span);
                self.constrain(t, SIGNED, span, "a negation");
                t
            }
            Expr::Bin(op, a, b) => {
                let ta = self.expr(a, base, span);
                let tb = self.expr(b, base, span);
                let before = self.diags.len();
                self.unify(ta, tb, span, "arithmetic");
                if self.diags.len() > before {
                    return ta;
                }
                let allowed = match op {
                    // Souffle's `+` also concatenates symbols.
                    BinOp::Add => NUMERIC | SYMBOL,
                    BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Pow => NUMERIC,
                    _ => INTEGRAL,
                };
                let what = format!("`{}`", op.as_str());
                self.constrain(ta, allowed, span, &what);
                ta
            }
            Expr::Call(f, args) => {
                let what = format!("`{}`", f.as_str());
                let mut first: Option<Ty> = None;
                for (i, a) in args.iter().enumerate() {
                    let t = self.expr(a, base, span);
                    match crate::functor::arg_type(*f, i) {
                        Some(want) => self.unify(t, Ty::Fixed(want, span), span, &what),
                        None => match f {
                            Functor::Min | Functor::Max | Functor::Bnot | Functor::Lnot => {
                                let allowed = if matches!(f, Functor::Bnot | Functor::Lnot) {
                                    INTEGRAL
                                } else {
                                    NUMERIC
                                };
                                self.constrain(t, allowed, span, &what);
                                match first {
                                    Some(p) => self.unify(p, t, span, &what),
                                    None => first = Some(t),
                                }
                            }
                            // The conversions take a number, an unsigned, a float or a symbol.
                            _ => {
                                if let Some((Type::Record(_), _)) = self.resolve(t) {
                                    self.error(
                                        span,
                                        format!("{what} of a record"),
                                        "not a number or a symbol",
                                        None,
                                    );
                                }
                            }
                        },
                    }
                }
                match (f, first) {
                    (Functor::Min | Functor::Max | Functor::Bnot | Functor::Lnot, Some(t)) => t,
                    _ => Ty::Fixed(crate::functor::result_type(*f, &[]), span),
                }
            }
            Expr::As(t, e) => {
                let inner = self.expr(e, base, span);
                self.unify(inner, Ty::Fixed(*t, span), span, "this cast");
                Ty::Fixed(*t, span)
            }
            Expr::Record(ctor, args) => {
                let args = args.iter().map(|a| self.expr(a, base, span)).collect();
                self.record(*ctor, args, span)
            }
            Expr::Field {
                rec,
                ctor,
                index,
                of,
            } => {
                let rec = self.expr(rec, base, span);
                match *ctor {
                    Ctor::Branch { ty, branch } => {
                        self.unify(rec, Ty::Fixed(Type::Record(ty), span), span, "this pattern");
                        let f = self
                            .records
                            .get(ty as usize)
                            .and_then(|r| r.branches.get(branch as usize))
                            .and_then(|b| b.fields.get(*index))
                            .map_or(Type::Number, |f| f.1);
                        Ty::Fixed(f, span)
                    }
                    Ctor::Plain => {
                        let slot = self.fresh();
                        self.pending.push(Pending::Field {
                            rec,
                            index: *index,
                            of: *of,
                            slot,
                            span,
                        });
                        Ty::Var(slot)
                    }
                }
            }
            Expr::Tag(e) => {
                let ty = self.expr(e, base, span);
                self.pending.push(Pending::Tagged { ty, span });
                Ty::Fixed(Type::Number, span)
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
                                let t = self.konst(c, a.span);
                                self.unify(t, col, a.span, "this atom")
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
                        self.constrain(l, NUMERIC, *span, "an ordering comparison");
                    }
                }
                BodyItem::Assign { var, expr, span } => {
                    let t = self.expr(expr, base, *span);
                    self.unify(Ty::Var(base + var), t, *span, "this assignment");
                }
                BodyItem::Aggregate(g) => {
                    self.items(&g.body, base, cols);
                    let result = Ty::Var(base + g.var);
                    let target = g.target.as_ref().map(|t| self.expr(t, base, g.span));
                    if let Some(tt) = target {
                        self.constrain(tt, NUMERIC, g.span, "this aggregate");
                    }
                    match (g.func, target) {
                        (AggFunc::Sum | AggFunc::Min | AggFunc::Max, Some(tt)) => {
                            self.unify(result, tt, g.span, "this aggregate")
                        }
                        (AggFunc::Mean, _) => self.unify(
                            result,
                            Ty::Fixed(Type::Float, g.span),
                            g.span,
                            "this aggregate",
                        ),
                        _ => self.unify(
                            result,
                            Ty::Fixed(Type::Number, g.span),
                            g.span,
                            "this aggregate",
                        ),
                    }
                }
                BodyItem::Range { var, args, span } => {
                    let num = Ty::Fixed(Type::Number, *span);
                    for a in args {
                        let t = self.expr(a, base, *span);
                        self.unify(t, num, *span, "`range`");
                    }
                    self.unify(Ty::Var(base + var), num, *span, "`range`");
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
            allowed: vec![None; n],
        },
        file,
        diags,
        failed: false,
        records: prog.records.clone(),
        pending: Vec::new(),
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
            let t = c.konst(v, f.span);
            c.unify(Ty::Var(cols[f.rel] + i), t, f.span, "this fact");
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
    c.settle();
    prog.records = std::mem::take(&mut c.records);
    let failed = c.failed;
    for (id, r) in prog.relations.iter_mut().enumerate() {
        for i in 0..r.arity {
            r.types[i] = c.final_type(cols[id] + i);
        }
    }
    for (ri, rule) in prog.rules.iter_mut().enumerate() {
        let base = rule_base[ri];
        rule.var_types = (0..rule.vars.len())
            .map(|v| c.final_type(base + v))
            .collect();
    }
    !failed
}
