//! Atoms, body literals, expressions and aggregates.
//!
//! Every function returns the height of the tree it built alongside it, so that no tree deeper
//! than [`MAX_HEIGHT`] is ever built (deep trees would overflow the stack when dropped or walked);
//! the recursion itself is bounded by [`MAX_DEPTH`].

use super::lexer::{Tok, Token, unescape};
use super::{PResult, Parser, codes};
use crate::ast::{
    AggFunc, Aggregate, Arg, Atom, BinOp, CmpOp, Construct, Expr, Functor, Ident, Literal,
};
use crate::{Diagnostic, Span};

/// Deepest nesting of parentheses, aggregates and unary minus.
pub(super) const MAX_DEPTH: u32 = 128;

/// Tallest expression tree (operators, unary minus and aggregates each add a level).
pub(super) const MAX_HEIGHT: u32 = 512;

/// A parsed expression, its span (parentheses included) and the height of its tree.
struct P {
    e: Expr,
    span: Span,
    h: u32,
}

/// What a parenthesis at the start of a literal turned out to hold.
enum ParenOut {
    /// `(a < b)`
    Cmp(Literal, u32),
    /// `(a + b)`, to be continued by arithmetic and a comparison.
    Expr(P),
}

fn cmp_op(k: Tok) -> Option<CmpOp> {
    Some(match k {
        Tok::Eq => CmpOp::Eq,
        Tok::Ne => CmpOp::Ne,
        Tok::Lt => CmpOp::Lt,
        Tok::Le => CmpOp::Le,
        Tok::Gt => CmpOp::Gt,
        Tok::Ge => CmpOp::Ge,
        _ => return None,
    })
}

/// A binary operator and its precedence (higher binds tighter), as in Souffle: `lor`, `lxor`,
/// `land`, `bor`, `bxor`, `band`, the shifts, `+ -`, then `* / %` (`^` is parsed by
/// `power`, above unary minus).
fn bin_op(k: Tok, text: &str) -> Option<(BinOp, u8)> {
    Some(match k {
        Tok::Plus => (BinOp::Add, 8),
        Tok::Minus => (BinOp::Sub, 8),
        Tok::Star => (BinOp::Mul, 9),
        Tok::Slash => (BinOp::Div, 9),
        Tok::Percent => (BinOp::Rem, 9),
        Tok::Ident => {
            let op = BinOp::word(text)?;
            let prec = match op {
                BinOp::Lor => 1,
                BinOp::Lxor => 2,
                BinOp::Land => 3,
                BinOp::Bor => 4,
                BinOp::Bxor => 5,
                BinOp::Band => 6,
                _ => 7,
            };
            (op, prec)
        }
        _ => return None,
    })
}

/// Souffle functors calm does not implement (a call is an error naming it).
const UNSUPPORTED_FUNCTORS: &[&str] = &["ord", "autoinc"];

fn agg_func(name: &str) -> Option<AggFunc> {
    Some(match name {
        "count" => AggFunc::Count,
        "sum" => AggFunc::Sum,
        "min" => AggFunc::Min,
        "max" => AggFunc::Max,
        "mean" => AggFunc::Mean,
        _ => return None,
    })
}

/// Tokens that can start the aggregated expression of a body aggregate (`sum y : ...`).
fn starts_operand(k: Tok) -> bool {
    matches!(
        k,
        Tok::Ident
            | Tok::Number
            | Tok::Float
            | Tok::Unsigned
            | Tok::Ipv4
            | Tok::Str
            | Tok::LParen
            | Tok::LBracket
    )
}

/// Tokens that can start an expression.
fn starts_expr(k: Tok) -> bool {
    matches!(
        k,
        Tok::Ident
            | Tok::Number
            | Tok::Float
            | Tok::Unsigned
            | Tok::Ipv4
            | Tok::Str
            | Tok::BadStr
            | Tok::Unknown
            | Tok::LParen
            | Tok::LBracket
            | Tok::Minus
    )
}

/// Whether an identifier is an ADT constructor (`$Name`) rather than a built-in relation.
fn is_constructor(text: &str) -> bool {
    text.starts_with('$') && !matches!(text, "$self" | "$member")
}

/// The value of an integer literal's text, if it fits in 64 unsigned bits.
/// The number Souffle reads for an IPv4 address `a.b.c.d`: the 32-bit word
/// `a·2²⁴ + b·2¹⁶ + c·2⁸ + d` as a signed 32-bit number (`255.255.255.255` is -1). `None`
/// when a part is above 255.
fn ipv4_value(text: &str) -> Option<i64> {
    let mut word: u32 = 0;
    for part in text.split('.') {
        let v: u8 = part.parse().ok()?;
        word = (word << 8) | u32::from(v);
    }
    Some(i64::from(word as i32))
}

fn number_value(text: &str) -> Option<u64> {
    let (digits, radix) = if let Some(d) = text.strip_prefix("0x").or(text.strip_prefix("0X")) {
        (d, 16)
    } else if let Some(d) = text.strip_prefix("0b").or(text.strip_prefix("0B")) {
        (d, 2)
    } else {
        (text, 10)
    };
    u64::from_str_radix(digits, radix).ok()
}

impl Parser<'_> {
    pub(super) fn enter(&mut self, t: Token) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let d = Diagnostic::error(format!(
                "nesting too deep: more than {MAX_DEPTH} levels of parentheses, aggregates or \
                 unary minus"
            ))
            .with_code(codes::TOO_DEEP)
            .with_primary(self.file, t.span, "too deep here")
            .with_help("simplify the expression");
            return Err(self.report(d));
        }
        Ok(())
    }

    pub(super) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn check_height(&mut self, h: u32, span: Span) -> PResult<()> {
        if h > MAX_HEIGHT {
            let d = Diagnostic::error(format!(
                "expression too large: more than {MAX_HEIGHT} nested operators"
            ))
            .with_code(codes::TOO_DEEP)
            .with_primary(
                self.file,
                Span::new(span.start, span.start),
                "in this expression",
            )
            .with_help("split the computation over several rules");
            return Err(self.report(d));
        }
        Ok(())
    }

    /// A body literal.
    pub(super) fn literal(&mut self) -> PResult<(Literal, u32)> {
        let t = self.peek();
        match t.kind {
            Tok::Bang => {
                self.bump();
                self.negated(t)
            }
            Tok::Ident if self.text(t) == "not" && self.nth(1).kind == Tok::Ident => {
                self.bump();
                self.negated(t)
            }
            Tok::Ident
                if self.nth(1).kind == Tok::LParen && Functor::by_name(self.text(t)).is_none() =>
            {
                let (a, h) = self.atom()?;
                if is_constructor(&a.name.name) && cmp_op(self.peek().kind).is_some() {
                    // `$A(1) != $B(2)`: a constructor, not an atom.
                    return self.constructor_from_atom(a, h);
                }
                match agg_func(&a.name.name) {
                    Some(func)
                        if self.at(Tok::Colon)
                            && a.args.len() == 1
                            && a.args.iter().all(|x| !x.location) =>
                    {
                        // `sum (y + 1) : { ... } = s`: an aggregate, not an atom.
                        let lhs = self.aggregate_from_atom(t, func, a, h)?;
                        let lhs = self.binary_rest(lhs, 0)?;
                        self.finish_compare(lhs)
                    }
                    _ => self.predicate_or_atom(a, h, None),
                }
            }
            Tok::LParen => self.paren_literal(),
            k if starts_expr(k) => {
                let lhs = self.expr()?;
                self.finish_compare(lhs)
            }
            _ => Err(self.expected(t, "a literal", "")),
        }
    }

    /// A body atom, unless it calls a built-in string predicate (`match(p, s)`,
    /// `contains(sub, s)`, negated when `negated` holds the span of the `!`/`not`), which is a
    /// comparison.
    fn predicate_or_atom(
        &mut self,
        a: Atom,
        h: u32,
        negated: Option<Span>,
    ) -> PResult<(Literal, u32)> {
        let Some(op) = CmpOp::predicate(&a.name.name, negated.is_some()) else {
            return Ok((Literal::Atom(a), h));
        };
        let name = a.name.name.as_str();
        if a.args.len() != 2 || a.args.iter().any(|x| x.location) {
            let example = if name == "match" {
                "match(\"a.*\", s)"
            } else {
                "contains(\"a\", s)"
            };
            let d = Diagnostic::error(format!(
                "`{name}` takes two arguments, found {}",
                a.args.len()
            ))
            .with_code(codes::UNEXPECTED)
            .with_primary(self.file, a.span, "built-in string predicate")
            .with_help(format!(
                "write `{example}`; `{name}` is built in and cannot name a relation"
            ));
            return Err(self.report(d));
        }
        let span = negated.map_or(a.span, |s| s.to(a.span));
        let mut args = a.args.into_iter().map(|x| x.expr);
        let (Some(lhs), Some(rhs)) = (args.next(), args.next()) else {
            let t = self.peek();
            return Err(self.expected(t, "two arguments", ""));
        };
        Ok((Literal::Compare { op, lhs, rhs, span }, h))
    }

    /// `sum(y)` read as an atom turned out to start a body aggregate `sum (y) : { ... }`.
    fn aggregate_from_atom(&mut self, f: Token, func: AggFunc, a: Atom, h: u32) -> PResult<P> {
        self.enter(f)?;
        let Some(arg) = a.args.into_iter().next() else {
            return Err(self.expected(f, "an aggregate", ""));
        };
        let target = P {
            e: arg.expr,
            span: arg.span,
            h,
        };
        self.finish_body_aggregate(f, func, Some(target))
    }

    /// The atom after `!` or `not` (`kw`, already consumed).
    fn negated(&mut self, kw: Token) -> PResult<(Literal, u32)> {
        let t = self.peek();
        if t.kind != Tok::Ident {
            let after = format!(" after `{}`", self.text(kw));
            return Err(self.expected(t, "a relation name", &after));
        }
        let (atom, h) = self.atom()?;
        if CmpOp::predicate(&atom.name.name, true).is_some() {
            return self.predicate_or_atom(atom, h, Some(kw.span));
        }
        Ok((
            Literal::Negated {
                span: kw.span.to(atom.span),
                atom,
            },
            h,
        ))
    }

    /// `lhs op rhs` with `lhs` already parsed.
    fn finish_compare(&mut self, lhs: P) -> PResult<(Literal, u32)> {
        let t = self.peek();
        let Some(op) = cmp_op(t.kind) else {
            let help = match &lhs.e {
                Expr::Var(v) if matches!(t.kind, Tok::Comma | Tok::Dot | Tok::RBrace) => {
                    Some(format!(
                        "a relation with no columns is written with parentheses: `{}()`",
                        v.name
                    ))
                }
                _ => None,
            };
            return Err(self.expected_with_help(
                t,
                "a comparison operator",
                " after an expression",
                help.as_deref(),
            ));
        };
        self.bump();
        let rhs = self.expr()?;
        Ok((
            Literal::Compare {
                op,
                span: lhs.span.to(rhs.span),
                lhs: lhs.e,
                rhs: rhs.e,
            },
            lhs.h.max(rhs.h),
        ))
    }

    /// A literal starting with `(`: `(a < b)` or `(a + 1) < b`.
    fn paren_literal(&mut self) -> PResult<(Literal, u32)> {
        match self.paren_cmp_or_expr()? {
            ParenOut::Cmp(lit, h) => Ok((lit, h)),
            ParenOut::Expr(p) => {
                let lhs = self.binary_rest(p, 0)?;
                self.finish_compare(lhs)
            }
        }
    }

    fn paren_cmp_or_expr(&mut self) -> PResult<ParenOut> {
        let open = self.bump();
        self.enter(open)?;
        let inner = if self.at(Tok::LParen) {
            match self.paren_cmp_or_expr()? {
                ParenOut::Cmp(lit, h) => {
                    let close = self.expect(Tok::RParen, "`)`", " after the comparison")?;
                    self.leave();
                    let lit = match lit {
                        Literal::Compare { op, lhs, rhs, .. } => Literal::Compare {
                            op,
                            lhs,
                            rhs,
                            span: open.span.to(close.span),
                        },
                        other => other,
                    };
                    return Ok(ParenOut::Cmp(lit, h));
                }
                ParenOut::Expr(p) => self.binary_rest(p, 0)?,
            }
        } else {
            self.expr()?
        };
        let t = self.peek();
        if let Some(op) = cmp_op(t.kind) {
            self.bump();
            let rhs = self.expr()?;
            let close = self.expect(Tok::RParen, "`)`", " after the comparison")?;
            self.leave();
            let h = inner.h.max(rhs.h);
            return Ok(ParenOut::Cmp(
                Literal::Compare {
                    op,
                    lhs: inner.e,
                    rhs: rhs.e,
                    span: open.span.to(close.span),
                },
                h,
            ));
        }
        let close = self.expect(Tok::RParen, "`)`", "")?;
        self.leave();
        Ok(ParenOut::Expr(P {
            e: inner.e,
            span: open.span.to(close.span),
            h: inner.h,
        }))
    }

    /// `name(arg, ...)`
    pub(super) fn atom(&mut self) -> PResult<(Atom, u32)> {
        let t = self.peek();
        if t.kind != Tok::Ident || self.text(t) == "_" {
            return Err(self.expected(t, "a relation name", ""));
        }
        self.bump();
        let name = Ident {
            name: self.text(t).to_string(),
            span: t.span,
        };
        let open = self.peek();
        if open.kind != Tok::LParen {
            let after = format!(" after `{}`", name.name);
            let help = format!(
                "a relation with no columns is written with parentheses: `{}()`",
                name.name
            );
            return Err(self.expected_with_help(open, "`(`", &after, Some(&help)));
        }
        self.bump();
        let mut args = Vec::new();
        let mut h = 0;
        let close = if self.at(Tok::RParen) {
            self.bump()
        } else {
            loop {
                let (arg, ah) = self.arg()?;
                h = h.max(ah);
                args.push(arg);
                let t = self.peek();
                match t.kind {
                    Tok::Comma => {
                        self.bump();
                    }
                    Tok::RParen => break self.bump(),
                    _ => {
                        let after = format!(" after an argument of `{}`", name.name);
                        return Err(self.expected(t, "`,` or `)`", &after));
                    }
                }
            }
        };
        Ok((
            Atom {
                name,
                args,
                span: t.span.to(close.span),
            },
            h,
        ))
    }

    /// One argument of an atom: `expr`, `@expr` or a head aggregate `sum(v)`.
    fn arg(&mut self) -> PResult<(Arg, u32)> {
        let t = self.peek();
        if t.kind == Tok::At {
            self.bump();
            let p = self.expr()?;
            return Ok((
                Arg {
                    expr: p.e,
                    location: true,
                    span: t.span.to(p.span),
                },
                p.h,
            ));
        }
        let p = if t.kind == Tok::Ident && self.nth(1).kind == Tok::LParen {
            match agg_func(self.text(t)) {
                Some(func) => {
                    let agg = self.head_aggregate(func)?;
                    self.binary_rest(agg, 0)?
                }
                None => self.expr()?,
            }
        } else {
            self.expr()?
        };
        Ok((
            Arg {
                expr: p.e,
                location: false,
                span: p.span,
            },
            p.h,
        ))
    }

    /// `sum(v)`, `count()`: the aggregate function name is next.
    fn head_aggregate(&mut self, func: AggFunc) -> PResult<P> {
        let f = self.bump();
        self.enter(f)?;
        let open = self.bump();
        let target = if self.at(Tok::RParen) {
            None
        } else {
            Some(self.expr()?)
        };
        if let (Some(first), true) = (&target, self.at(Tok::Comma)) {
            // `min(a, b, ...)`: the functor, not the head-form aggregate.
            let functor = match func {
                AggFunc::Min => Some(Functor::Min),
                AggFunc::Max => Some(Functor::Max),
                _ => None,
            };
            if let Some(functor) = functor {
                let mut h = first.h;
                let mut args = target.into_iter().collect::<Vec<_>>();
                let close = loop {
                    let t = self.peek();
                    match t.kind {
                        Tok::Comma => {
                            self.bump();
                            let a = self.expr()?;
                            h = h.max(a.h);
                            args.push(a);
                        }
                        Tok::RParen => break self.bump(),
                        _ => {
                            let after = format!(" after an argument of `{}`", func.as_str());
                            return Err(self.expected(t, "`,` or `)`", &after));
                        }
                    }
                };
                return self.finish_call(f, functor, args, close, h);
            }
        }
        let after = format!(" after the argument of `{}`", func.as_str());
        let close = self.expect(Tok::RParen, "`)`", &after)?;
        let target = match target {
            // Not the head form after all: the body form `sum (y + 1) : { ... }`.
            Some(t) if self.at(Tok::Colon) => {
                let t = P {
                    span: open.span.to(close.span),
                    ..t
                };
                return self.finish_body_aggregate(f, func, Some(t));
            }
            t => t,
        };
        if target.is_none() && func != AggFunc::Count {
            return Err(self.missing_target(f, func, format!("{}(v)", func.as_str())));
        }
        self.leave();
        let span = f.span.to(close.span);
        let h = 1 + target.as_ref().map_or(0, |t| t.h);
        self.check_height(h, span)?;
        Ok(P {
            e: Expr::Aggregate(Box::new(Aggregate {
                func,
                func_span: f.span,
                target: target.map(|t| t.e),
                body: Vec::new(),
                head_form: true,
                span,
            })),
            span,
            h,
        })
    }

    fn missing_target(&mut self, f: Token, func: AggFunc, example: String) -> super::Reported {
        let d = Diagnostic::error(format!(
            "`{}` needs an expression to aggregate",
            func.as_str()
        ))
        .with_code(codes::UNEXPECTED)
        .with_primary(self.file, f.span, "no expression to aggregate")
        .with_help(format!("write `{example}`"));
        self.report(d)
    }

    /// `count : { ... }`, `sum y : { ... }`, `count : p(x)`: the function name is next.
    fn body_aggregate(&mut self, func: AggFunc) -> PResult<P> {
        let f = self.bump();
        self.enter(f)?;
        let target = if self.at(Tok::Colon) {
            None
        } else {
            Some(self.expr()?)
        };
        self.finish_body_aggregate(f, func, target)
    }

    /// The rest of a body aggregate after its target: `: { ... }` or `: p(x)`.
    fn finish_body_aggregate(&mut self, f: Token, func: AggFunc, target: Option<P>) -> PResult<P> {
        if target.is_none() && func != AggFunc::Count {
            let example = format!("{} y : {{ p(y) }}", func.as_str());
            return Err(self.missing_target(f, func, example));
        }
        let after = format!(" in the `{}` aggregate", func.as_str());
        self.expect(Tok::Colon, "`:`", &after)?;
        let mut body = Vec::new();
        let mut h = target.as_ref().map_or(0, |t| t.h);
        let end = if self.at(Tok::LBrace) {
            self.bump();
            loop {
                let (lit, lh) = self.literal()?;
                h = h.max(lh);
                body.push(lit);
                let t = self.peek();
                match t.kind {
                    Tok::Comma => {
                        self.bump();
                    }
                    Tok::RBrace => break self.bump().span,
                    _ => return Err(self.expected(t, "`,` or `}`", " in the aggregate body")),
                }
            }
        } else {
            let t = self.peek();
            if t.kind == Tok::Ident && self.nth(1).kind == Tok::LParen {
                let (atom, ah) = self.atom()?;
                h = h.max(ah);
                let span = atom.span;
                body.push(Literal::Atom(atom));
                span
            } else {
                let after = format!(" after `{} :`", func.as_str());
                return Err(self.expected(t, "`{` or an atom", &after));
            }
        };
        self.leave();
        let span = f.span.to(end);
        let h = h + 1;
        self.check_height(h, span)?;
        Ok(P {
            e: Expr::Aggregate(Box::new(Aggregate {
                func,
                func_span: f.span,
                target: target.map(|t| t.e),
                body,
                head_form: false,
                span,
            })),
            span,
            h,
        })
    }

    /// An expression.
    fn expr(&mut self) -> PResult<P> {
        let lhs = self.unary()?;
        self.binary_rest(lhs, 0)
    }

    /// Binary operators of precedence `min_prec` or higher after `lhs`, left-associative.
    fn binary_rest(&mut self, mut lhs: P, min_prec: u8) -> PResult<P> {
        loop {
            let Some((op, prec)) = self.peek_bin_op() else {
                return Ok(lhs);
            };
            if prec < min_prec {
                return Ok(lhs);
            }
            self.bump();
            let mut rhs = self.unary()?;
            while let Some((_, next)) = self.peek_bin_op() {
                if next <= prec {
                    break;
                }
                rhs = self.binary_rest(rhs, next)?;
            }
            let span = lhs.span.to(rhs.span);
            let h = 1 + lhs.h.max(rhs.h);
            self.check_height(h, span)?;
            lhs = P {
                e: Expr::Binary {
                    op,
                    lhs: Box::new(lhs.e),
                    rhs: Box::new(rhs.e),
                    span,
                },
                span,
                h,
            };
        }
    }

    /// The binary operator at the next token, if any.
    fn peek_bin_op(&mut self) -> Option<(BinOp, u8)> {
        let t = self.peek();
        bin_op(t.kind, self.text(t))
    }

    /// `base ^ exponent` with `base` parsed and `^` next (right-associative; the exponent may
    /// be negated). Out of line, like [`Self::prefix_functor`]: the frames of `unary` and
    /// `primary` bound how deep an expression may nest in a small stack.
    #[inline(never)]
    fn power_rest(&mut self, base: P) -> PResult<P> {
        let caret = self.bump();
        self.enter(caret)?;
        let exp = self.unary()?;
        self.leave();
        let span = base.span.to(exp.span);
        let h = 1 + base.h.max(exp.h);
        self.check_height(h, span)?;
        Ok(P {
            e: Expr::Binary {
                op: BinOp::Pow,
                lhs: Box::new(base.e),
                rhs: Box::new(exp.e),
                span,
            },
            span,
            h,
        })
    }

    /// `bnot x` or `lnot x`, the operator next.
    #[inline(never)]
    fn prefix_functor(&mut self, t: Token) -> PResult<P> {
        let func = if self.text(t) == "bnot" {
            Functor::Bnot
        } else {
            Functor::Lnot
        };
        self.bump();
        self.enter(t)?;
        let inner = self.unary()?;
        self.leave();
        let span = t.span.to(inner.span);
        let h = inner.h + 1;
        self.check_height(h, span)?;
        Ok(P {
            e: Expr::Call {
                func,
                args: vec![inner.e],
                span,
            },
            span,
            h,
        })
    }

    /// Unary minus, `bnot`, `lnot`, or a primary with an optional `^ exponent`.
    fn unary(&mut self) -> PResult<P> {
        let t = self.peek();
        if t.kind == Tok::Ident
            && matches!(self.text(t), "bnot" | "lnot")
            && starts_expr(self.nth(1).kind)
        {
            return self.prefix_functor(t);
        }
        if t.kind != Tok::Minus {
            let base = self.primary()?;
            return if self.at(Tok::Caret) {
                self.power_rest(base)
            } else {
                Ok(base)
            };
        }
        self.bump();
        // `-9223372036854775808`: the magnitude only fits under the minus.
        let n = self.peek();
        if n.kind == Tok::Number && number_value(self.text(n)) == Some(1 << 63) {
            self.bump();
            let span = t.span.to(n.span);
            return Ok(P {
                e: Expr::Number(i64::MIN, span),
                span,
                h: 1,
            });
        }
        self.enter(t)?;
        let inner = self.unary()?;
        self.leave();
        let span = t.span.to(inner.span);
        let h = inner.h + 1;
        self.check_height(h, span)?;
        Ok(P {
            e: Expr::Neg(Box::new(inner.e), span),
            span,
            h,
        })
    }

    fn primary(&mut self) -> PResult<P> {
        let t = self.peek();
        let leaf = |e: Expr| P {
            e,
            span: t.span,
            h: 1,
        };
        match t.kind {
            Tok::Number => {
                self.bump();
                let text = self.text(t);
                match number_value(text).and_then(|v| i64::try_from(v).ok()) {
                    Some(v) => Ok(leaf(Expr::Number(v, t.span))),
                    None => {
                        let d = Diagnostic::error(format!("integer literal `{text}` is too large"))
                            .with_code(codes::INT_OVERFLOW)
                            .with_primary(self.file, t.span, "does not fit in 64 bits")
                            .with_note(format!("numbers range from {} to {}", i64::MIN, i64::MAX));
                        self.report(d);
                        self.item_error = true;
                        Ok(leaf(Expr::Number(0, t.span)))
                    }
                }
            }
            Tok::Float | Tok::Unsigned | Tok::Ipv4 => self.typed_literal(t),
            Tok::Str => {
                self.bump();
                Ok(leaf(Expr::String(unescape(self.text(t)), t.span)))
            }
            Tok::Ident if self.text(t) == "as" && self.nth(1).kind == Tok::LParen => self.cast(t),
            Tok::Ident => self.ident_expr(t),
            Tok::LParen => {
                self.bump();
                self.enter(t)?;
                let inner = self.expr()?;
                let close = self.expect(Tok::RParen, "`)`", "")?;
                self.leave();
                Ok(P {
                    e: inner.e,
                    span: t.span.to(close.span),
                    h: inner.h,
                })
            }
            Tok::LBracket => self.record_literal(t),
            _ => Err(self.expected(t, "an expression", "")),
        }
    }

    /// A float, unsigned or IPv4 literal (kept out of `primary`, whose stack frame every
    /// nesting level pays for).
    #[inline(never)]
    fn typed_literal(&mut self, t: Token) -> PResult<P> {
        let leaf = |e: Expr| P {
            e,
            span: t.span,
            h: 1,
        };
        match t.kind {
            Tok::Float => {
                self.bump();
                // The lexer only gives digits, a dot, digits and an optional exponent, which
                // always parse (a too large exponent gives an infinity, as `strtod` does).
                let v = self.text(t).parse::<f64>().unwrap_or(f64::NAN);
                Ok(leaf(Expr::Float(v, t.span)))
            }
            Tok::Unsigned => {
                self.bump();
                let text = self.text(t);
                match number_value(&text[..text.len() - 1]) {
                    Some(v) => Ok(leaf(Expr::Unsigned(v, t.span))),
                    None => {
                        let d = Diagnostic::error(format!("integer literal `{text}` is too large"))
                            .with_code(codes::INT_OVERFLOW)
                            .with_primary(self.file, t.span, "does not fit in 64 bits")
                            .with_note(format!("unsigned numbers range from 0 to {}", u64::MAX));
                        self.report(d);
                        self.item_error = true;
                        Ok(leaf(Expr::Unsigned(0, t.span)))
                    }
                }
            }
            Tok::Ipv4 => {
                self.bump();
                let text = self.text(t);
                match ipv4_value(text) {
                    Some(v) => Ok(leaf(Expr::Number(v, t.span))),
                    None => {
                        let d = Diagnostic::error(format!("IPv4 address `{text}` out of range"))
                            .with_code(codes::INT_OVERFLOW)
                            .with_primary(self.file, t.span, "a part is above 255")
                            .with_note(
                                "four numbers separated by dots are an IPv4 address, each \
                                 from 0 to 255",
                            );
                        self.report(d);
                        self.item_error = true;
                        Ok(leaf(Expr::Number(0, t.span)))
                    }
                }
            }
            _ => Err(self.expected(t, "a literal", "")),
        }
    }

    /// `as(e, Type)`, Souffle's cast (`as` is next).
    #[inline(never)]
    fn cast(&mut self, t: Token) -> PResult<P> {
        self.bump();
        self.enter(t)?;
        self.bump();
        let inner = self.expr()?;
        self.expect(Tok::Comma, "`,`", " after the value of `as`")?;
        let ty = self.expect(Tok::Ident, "a type name", " in `as(value, type)`")?;
        let close = self.expect(Tok::RParen, "`)`", " after the type of `as`")?;
        self.leave();
        let span = t.span.to(close.span);
        let h = inner.h + 1;
        self.check_height(h, span)?;
        Ok(P {
            e: Expr::As(
                Box::new(inner.e),
                Ident {
                    name: self.text(ty).to_string(),
                    span: ty.span,
                },
                span,
            ),
            span,
            h,
        })
    }

    /// `name(arg, ...)`, a built-in functor call (the name is next). `min(e) : { ... }` and
    /// `max(e) : { ... }` turn out to be body aggregates.
    fn call(&mut self, f: Token) -> PResult<P> {
        let name = self.text(f).to_string();
        self.bump();
        self.enter(f)?;
        let open = self.bump();
        let mut args = Vec::new();
        let mut h = 0;
        let close = if self.at(Tok::RParen) {
            self.bump()
        } else {
            loop {
                let a = self.expr()?;
                h = h.max(a.h);
                args.push(a);
                let t = self.peek();
                match t.kind {
                    Tok::Comma => {
                        self.bump();
                    }
                    Tok::RParen => break self.bump(),
                    _ => {
                        let after = format!(" after an argument of `{name}`");
                        return Err(self.expected(t, "`,` or `)`", &after));
                    }
                }
            }
        };
        if let Some(func) = agg_func(&name)
            && args.len() == 1
            && self.at(Tok::Colon)
        {
            let Some(a) = args.pop() else {
                return Err(self.expected(f, "an aggregate", ""));
            };
            let target = P {
                span: open.span.to(close.span),
                ..a
            };
            return self.finish_body_aggregate(f, func, Some(target));
        }
        let Some(func) = Functor::by_name(&name) else {
            return Err(self.expected(f, "a functor", ""));
        };
        self.finish_call(f, func, args, close, h)
    }

    /// A functor call whose arguments are parsed: checks their number.
    fn finish_call(
        &mut self,
        f: Token,
        func: Functor,
        args: Vec<P>,
        close: Token,
        h: u32,
    ) -> PResult<P> {
        let span = f.span.to(close.span);
        let (least, most) = func.arity();
        if args.len() < least || most.is_some_and(|m| args.len() > m) {
            let wanted = match most {
                Some(m) if m == least => format!("{least}"),
                Some(m) => format!("{least} to {m}"),
                None => format!("at least {least}"),
            };
            let d = Diagnostic::error(format!(
                "`{}` takes {wanted} argument{}, found {}",
                func.as_str(),
                if wanted == "1" { "" } else { "s" },
                args.len()
            ))
            .with_code(codes::UNEXPECTED)
            .with_primary(self.file, span, "wrong number of arguments");
            return Err(self.report(d));
        }
        self.leave();
        let h = h + 1;
        self.check_height(h, span)?;
        Ok(P {
            e: Expr::Call {
                func,
                args: args.into_iter().map(|a| a.e).collect(),
                span,
            },
            span,
            h,
        })
    }

    /// The comparison that starts with the constructor `$A(...)`, parsed as the atom `a`.
    #[inline(never)]
    fn constructor_from_atom(&mut self, a: Atom, h: u32) -> PResult<(Literal, u32)> {
        if let Some(arg) = a.args.iter().find(|x| x.location) {
            let d =
                Diagnostic::error("a location argument `@x` cannot be a constructor's argument")
                    .with_code(codes::UNEXPECTED)
                    .with_primary(self.file, arg.span, "location argument here");
            return Err(self.report(d));
        }
        let name = Ident {
            name: a.name.name.get(1..).unwrap_or("").to_string(),
            span: a.name.span,
        };
        let span = a.span;
        let e = Expr::Branch(Box::new(Construct {
            name,
            args: a.args.into_iter().map(|x| x.expr).collect(),
            span,
        }));
        self.finish_compare(P { e, span, h })
    }

    /// A record literal `[e, ...]` (the `[` is next), kept out of `primary`, whose stack frame
    /// bounds how deep an expression may nest.
    #[inline(never)]
    fn record_literal(&mut self, open: Token) -> PResult<P> {
        self.bump();
        self.enter(open)?;
        let (args, close, h) = self.expr_list(Tok::RBracket, "`,` or `]`", " in a record")?;
        self.leave();
        let span = open.span.to(close.span);
        let h = h + 1;
        self.check_height(h, span)?;
        Ok(P {
            e: Expr::Record(args, span),
            span,
            h,
        })
    }

    /// A constructor `$Name(e, ...)` or `$Name` (the name is next).
    #[inline(never)]
    fn branch(&mut self, t: Token) -> PResult<P> {
        let text = self.text(t);
        let name = Ident {
            name: text.get(1..).unwrap_or("").to_string(),
            span: t.span,
        };
        self.bump();
        // `$inst.Branch` names the constructor of a type of a component instance.
        if name.name.split('.').any(str::is_empty) {
            let d = Diagnostic::error(format!("`{text}` is not a valid constructor name"))
                .with_code(codes::UNEXPECTED)
                .with_primary(self.file, t.span, "not a constructor")
                .with_help("a constructor of an algebraic data type is written `$Name(...)`");
            return Err(self.report(d));
        }
        if !self.at(Tok::LParen) {
            return Ok(P {
                e: Expr::Branch(Box::new(Construct {
                    name,
                    args: Vec::new(),
                    span: t.span,
                })),
                span: t.span,
                h: 1,
            });
        }
        self.bump();
        self.enter(t)?;
        let after = format!(" after an argument of `${}`", name.name);
        let (args, close, h) = self.expr_list(Tok::RParen, "`,` or `)`", &after)?;
        self.leave();
        let span = t.span.to(close.span);
        let h = h + 1;
        self.check_height(h, span)?;
        Ok(P {
            e: Expr::Branch(Box::new(Construct { name, args, span })),
            span,
            h,
        })
    }

    /// Expressions separated by `,` up to `close` (the opening token is consumed); returns them,
    /// the closing token and the tallest height.
    fn expr_list(
        &mut self,
        close: Tok,
        what: &str,
        after: &str,
    ) -> PResult<(Vec<Expr>, Token, u32)> {
        let mut args = Vec::new();
        let mut h = 0;
        if self.at(close) {
            return Ok((args, self.bump(), h));
        }
        loop {
            let a = self.expr()?;
            h = h.max(a.h);
            args.push(a.e);
            let t = self.peek();
            match t.kind {
                Tok::Comma => {
                    self.bump();
                }
                k if k == close => return Ok((args, self.bump(), h)),
                _ => return Err(self.expected(t, what, after)),
            }
        }
    }

    /// A variable, `_`, `nil`, a constructor, a functor call or a body aggregate (kept out of
    /// `primary`, whose stack frame bounds how deep an expression may nest).
    #[inline(never)]
    fn ident_expr(&mut self, t: Token) -> PResult<P> {
        let text = self.text(t);
        if text == "_" {
            self.bump();
            return Ok(P {
                e: Expr::Wildcard(t.span),
                span: t.span,
                h: 1,
            });
        }
        if text == "nil" {
            self.bump();
            return Ok(P {
                e: Expr::Nil(t.span),
                span: t.span,
                h: 1,
            });
        }
        if is_constructor(text) {
            return self.branch(t);
        }
        let next = self.nth(1).kind;
        if next == Tok::LParen && Functor::by_name(text).is_some() {
            return self.call(t);
        }
        if let Some(func) = agg_func(text)
            && (next == Tok::Colon || starts_operand(next))
        {
            return self.body_aggregate(func);
        }
        if next == Tok::LParen && UNSUPPORTED_FUNCTORS.contains(&text) {
            let d = Diagnostic::error(format!("Souffle's functor `{text}` is not supported"))
                .with_code(codes::UNSUPPORTED)
                .with_primary(self.file, t.span, "not supported by calm")
                .with_help(
                    "calm implements `cat`, `strlen`, `substr`, `to_number`, `to_string`, \
                     `to_float`, `to_unsigned`, `min`, `max`, `bnot`, `lnot`, `range`, `as` and the operators `band bor bxor bshl bshr \
                     bshru land lor lxor ^`",
                );
            return Err(self.report(d));
        }
        if next == Tok::LParen {
            let d = Diagnostic::error(format!("`{text}(...)` cannot be used as an expression"))
                .with_code(codes::UNSUPPORTED)
                .with_primary(self.file, t.span, "functor calls are not supported")
                .with_help(
                    "expressions are numbers, strings, variables, `+ - * / %` and aggregates; \
                     relations appear as body literals",
                );
            return Err(self.report(d));
        }
        if text.contains('.') || text.starts_with('$') {
            let d = Diagnostic::error(format!("`{text}` is not a valid variable name"))
                .with_code(codes::UNEXPECTED)
                .with_primary(self.file, t.span, "not a variable")
                .with_help("variable names cannot contain `.` or start with `$`");
            return Err(self.report(d));
        }
        self.bump();
        Ok(P {
            e: Expr::Var(Ident {
                name: text.to_string(),
                span: t.span,
            }),
            span: t.span,
            h: 1,
        })
    }
}
