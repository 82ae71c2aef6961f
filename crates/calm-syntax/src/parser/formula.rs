//! Rule bodies with Souffle's disjunction: `a(x) ; b(x), c(x)` (`,` binds tighter than `;`),
//! parenthesised groups `(a(x) ; b(x)), c(x)` and negated groups `!(a(x) ; b(x))`.
//!
//! A body is read as a formula and put in disjunctive normal form: negations are pushed down to
//! the literals (De Morgan; a negated atom becomes positive, a comparison takes the opposite
//! operator, `!match` becomes `match`), and each disjunct becomes a rule of its own with the same
//! head, as Souffle does. The constants `true` and `false` are the empty conjunction and the
//! empty disjunction. The expansion is bounded by [`MAX_DISJUNCTS`].

use super::lexer::{Tok, Token};
use super::{PResult, Parser, codes};
use crate::Diagnostic;
use crate::ast::{CmpOp, Literal};

/// Most rules one clause's disjunctions may expand to.
pub const MAX_DISJUNCTS: usize = 1024;

/// Tokens looked at, at most, to tell a group `( ... )` from a parenthesised expression.
const MAX_LOOKAHEAD: usize = 100_000;

/// A body before normalisation.
enum Formula {
    Lit(Literal),
    And(Vec<Formula>),
    Or(Vec<Formula>),
}

impl Parser<'_> {
    /// The body after `:-`, up to and including the final `.`: its disjuncts, each a conjunction
    /// of literals (one for a body without `;`; none when there would be too many, an error).
    pub(super) fn body_disjuncts(&mut self) -> PResult<(Vec<Vec<Literal>>, Token)> {
        let start = self.peek();
        let formula = self.disjunction()?;
        let t = self.peek();
        if t.kind != Tok::Dot {
            let help = (t.line_start && t.kind == Tok::Ident)
                .then_some("is a `.` missing at the end of the rule?");
            return Err(self.expected_with_help(
                t,
                "`,`, `;` or `.`",
                " after a body literal",
                help,
            ));
        }
        let end = self.bump();
        match dnf(formula) {
            Some(disjuncts) => Ok((disjuncts, end)),
            None => {
                let d = Diagnostic::error(format!(
                    "the disjunctions of this rule expand to more than {MAX_DISJUNCTS} rules"
                ))
                .with_code(codes::TOO_DEEP)
                .with_primary(self.file, start.span.to(end.span), "in this body")
                .with_help("split the rule, or name a disjunction with a relation of its own");
                // The clause is complete (its `.` consumed): drop it without recovery.
                self.report(d);
                Ok((Vec::new(), end))
            }
        }
    }

    fn disjunction(&mut self) -> PResult<Formula> {
        let mut alternatives = vec![self.conjunction()?];
        while self.at(Tok::Semi) {
            self.bump();
            alternatives.push(self.conjunction()?);
        }
        Ok(if alternatives.len() == 1 {
            alternatives.remove(0)
        } else {
            Formula::Or(alternatives)
        })
    }

    fn conjunction(&mut self) -> PResult<Formula> {
        let mut terms = vec![self.term()?];
        while self.at(Tok::Comma) {
            self.bump();
            terms.push(self.term()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Formula::And(terms)
        })
    }

    /// A literal, `true`, `false`, a group `( ... )`, or a negation `!` of a group or of a
    /// negation.
    fn term(&mut self) -> PResult<Formula> {
        let t = self.peek();
        if t.kind == Tok::Bang
            && (self.nth(1).kind == Tok::Bang
                || self.is_constant(1)
                || (self.nth(1).kind == Tok::LParen && self.is_group(1)))
        {
            self.bump();
            self.enter(t)?;
            let inner = self.term()?;
            self.leave();
            return Ok(negate(inner));
        }
        if t.kind == Tok::LParen && self.is_group(0) {
            let open = self.bump();
            self.enter(open)?;
            let inner = self.disjunction()?;
            let close = self.expect(Tok::RParen, "`)`", " after a group of literals")?;
            self.leave();
            // `(n <= 25)`: the comparison spans its parentheses.
            return Ok(match inner {
                Formula::Lit(Literal::Compare { op, lhs, rhs, .. }) => {
                    Formula::Lit(Literal::Compare {
                        op,
                        lhs,
                        rhs,
                        span: open.span.to(close.span),
                    })
                }
                other => other,
            });
        }
        if self.is_constant(0) {
            // Souffle's constant literals: `true` is the empty conjunction, `false` the empty
            // disjunction (a rule with `false` in every disjunct is dropped).
            let t = self.bump();
            return Ok(if self.text(t) == "true" {
                Formula::And(Vec::new())
            } else {
                Formula::Or(Vec::new())
            });
        }
        let (lit, _) = self.literal()?;
        Ok(Formula::Lit(lit))
    }

    /// Whether the token `n` ahead is the literal `true` or `false` (not a relation `true()`).
    fn is_constant(&mut self, n: usize) -> bool {
        let t = self.nth(n);
        t.kind == Tok::Ident
            && matches!(self.text(t), "true" | "false")
            && matches!(
                self.nth(n + 1).kind,
                Tok::Comma | Tok::Semi | Tok::Dot | Tok::RParen
            )
    }

    /// Whether the `(` `n` tokens ahead opens a group of literals rather than an expression:
    /// it holds a `,` or a `;` at its own level (not in braces or brackets), or it is followed by
    /// what may follow a literal.
    /// (`(x < y)` is read as a group holding one comparison: the same literal.)
    fn is_group(&mut self, n: usize) -> bool {
        let mut depth = 0u32;
        // Braces and brackets (aggregate bodies, records) inside the parentheses.
        let mut inner = 0u32;
        let mut i = n;
        loop {
            if i - n > MAX_LOOKAHEAD {
                return false;
            }
            let t = self.nth(i);
            match t.kind {
                Tok::LParen => depth += 1,
                Tok::RParen => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
                Tok::LBrace | Tok::LBracket => inner += 1,
                Tok::RBrace | Tok::RBracket => inner = inner.saturating_sub(1),
                Tok::Comma | Tok::Semi if depth == 1 && inner == 0 => return true,
                Tok::Eof | Tok::Directive => return false,
                Tok::Dot if t.terminal => return false,
                _ => {}
            }
            i += 1;
        }
        matches!(
            self.nth(i + 1).kind,
            Tok::Comma | Tok::Semi | Tok::Dot | Tok::RParen | Tok::Eof
        )
    }
}

/// The formula with its negation pushed down to the literals.
fn negate(f: Formula) -> Formula {
    match f {
        Formula::Lit(l) => Formula::Lit(negate_literal(l)),
        Formula::And(fs) => Formula::Or(fs.into_iter().map(negate).collect()),
        Formula::Or(fs) => Formula::And(fs.into_iter().map(negate).collect()),
    }
}

fn negate_literal(l: Literal) -> Literal {
    match l {
        Literal::Atom(atom) => Literal::Negated {
            span: atom.span,
            atom,
        },
        Literal::Negated { atom, .. } => Literal::Atom(atom),
        Literal::Compare { op, lhs, rhs, span } => Literal::Compare {
            op: match op {
                CmpOp::Eq => CmpOp::Ne,
                CmpOp::Ne => CmpOp::Eq,
                CmpOp::Lt => CmpOp::Ge,
                CmpOp::Ge => CmpOp::Lt,
                CmpOp::Le => CmpOp::Gt,
                CmpOp::Gt => CmpOp::Le,
                CmpOp::Match => CmpOp::NotMatch,
                CmpOp::NotMatch => CmpOp::Match,
                CmpOp::Contains => CmpOp::NotContains,
                CmpOp::NotContains => CmpOp::Contains,
            },
            lhs,
            rhs,
            span,
        },
    }
}

/// The disjuncts of a formula (each a conjunction of literals, in source order), or `None` when
/// there would be more than [`MAX_DISJUNCTS`].
fn dnf(f: Formula) -> Option<Vec<Vec<Literal>>> {
    match f {
        Formula::Lit(l) => Some(vec![vec![l]]),
        Formula::Or(fs) => {
            let mut out = Vec::new();
            for f in fs {
                out.extend(dnf(f)?);
                if out.len() > MAX_DISJUNCTS {
                    return None;
                }
            }
            Some(out)
        }
        Formula::And(fs) => {
            let mut out: Vec<Vec<Literal>> = vec![Vec::new()];
            for f in fs {
                let d = dnf(f)?;
                if out.len().saturating_mul(d.len()) > MAX_DISJUNCTS {
                    return None;
                }
                out = out
                    .iter()
                    .flat_map(|prefix| {
                        d.iter().map(move |more| {
                            let mut conj = prefix.clone();
                            conj.extend(more.iter().cloned());
                            conj
                        })
                    })
                    .collect();
            }
            Some(out)
        }
    }
}
