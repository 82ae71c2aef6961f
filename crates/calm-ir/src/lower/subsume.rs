//! Souffle's subsumption, `r(a..) <= r(b..) :- body.`: a row of `r` matching `r(a..)` is
//! removed when another row matching `r(b..)` exists with the body true.
//!
//! It is rewritten into ordinary rules over two compiler-made relations: every rule (and fact)
//! deriving `r` derives `$all.r` instead; each subsumption clause becomes one rule per column,
//! `$dom.r(a..) :- $all.r(a..), $all.r(b..), body, a_i != b_i` (the dominating row is another
//! row; an atom of `r` in the body reads `$all.r` too), and `r(x..) :- $all.r(x..),
//! !$dom.r(x..)` keeps what is not dominated. The relation
//! is thereby a negation over what its rules derive: stratified, evaluated by both engines like
//! any negation, and flagged by the analyzer as one. Souffle removes dominated rows *during*
//! the fixpoint of a recursive relation, which can change what is derived (and is what makes
//! some such programs terminate); calm rejects subsumption of a relation whose rules read it
//! (E0112) rather than compute something else.

use super::Lowerer;
use crate::codes;
use crate::ir::*;
use calm_syntax::ast::{self, CmpOp};
use calm_syntax::{Diagnostic, Span};
use std::collections::HashSet;

/// A relation with subsumption clauses.
#[derive(Clone, Debug)]
pub(crate) struct Subsumed {
    rel: RelId,
    all: RelId,
    dom: RelId,
    /// The first subsumption clause.
    span: Span,
}

impl Lowerer {
    /// Lowers the subsumption clause `rule` (its `dominated_by` is set).
    pub(super) fn lower_subsumption(&mut self, rule: &ast::Rule) {
        let Some(other) = &rule.dominated_by else {
            return;
        };
        let Some(rel) = self.resolve(&rule.head.name, rule.head.args.len(), true) else {
            return;
        };
        if other.name.name != rule.head.name.name || other.args.len() != rule.head.args.len() {
            self.error(
                codes::SUBSUMPTION,
                other.span,
                "both sides of a subsumption must be atoms of the same relation",
                format!("expected an atom of `{}`", rule.head.name.name),
            );
            return;
        }
        if let Some(a) = rule.head.args.iter().find(|a| a.location) {
            self.error(
                codes::LOCATION,
                a.span,
                "a location argument `@x` is only meaningful in an `@async` head",
                "in a subsumption",
            );
            return;
        }
        let name = self.prog.relations[rel].name.clone();
        let arity = self.prog.relations[rel].arity;
        let (all, dom) = match self.subsumed.iter().find(|s| s.rel == rel) {
            Some(s) => (s.all, s.dom),
            None => {
                let all = self.aux_relation(&format!("$all.{name}"), arity, rel, rule.span);
                let dom = self.aux_relation(&format!("$dom.{name}"), arity, rel, rule.span);
                self.subsumed.push(Subsumed {
                    rel,
                    all,
                    dom,
                    span: rule.span,
                });
                (all, dom)
            }
        };
        let atom = |rel: RelId, args: &[ast::Arg], prog: &Program, span: Span| ast::Atom {
            name: ast::Ident {
                name: prog.relations[rel].name.clone(),
                span,
            },
            args: args.to_vec(),
            span,
        };
        // The dominating row's `_` become variables, to compare them.
        let mut fresh = 0;
        let theirs: Vec<ast::Arg> = other
            .args
            .iter()
            .map(|a| match &a.expr {
                ast::Expr::Wildcard(s) => {
                    fresh += 1;
                    ast::Arg {
                        expr: ast::Expr::Var(ast::Ident {
                            name: format!("_sub{fresh}"),
                            span: *s,
                        }),
                        location: false,
                        span: a.span,
                    }
                }
                _ => a.clone(),
            })
            .collect();
        let ours = &rule.head.args;
        for col in 0..arity {
            let mut body = vec![
                ast::Literal::Atom(atom(all, ours, &self.prog, rule.head.span)),
                ast::Literal::Atom(atom(all, &theirs, &self.prog, other.span)),
            ];
            // The body's own atoms of the relation read every row, dominated or not.
            body.extend(rule.body.iter().map(|l| {
                let mut l = l.clone();
                if let ast::Literal::Atom(a) | ast::Literal::Negated { atom: a, .. } = &mut l
                    && a.name.name == name
                {
                    a.name.name = format!("$all.{name}");
                }
                l
            }));
            body.push(ast::Literal::Compare {
                op: CmpOp::Ne,
                lhs: ours[col].expr.clone(),
                rhs: theirs[col].expr.clone(),
                span: other.span,
            });
            let r = ast::Rule {
                head: atom(dom, ours, &self.prog, rule.head.span),
                time: None,
                body,
                dominated_by: None,
                span: rule.span,
            };
            let before = self.diags.len();
            self.lower_rule(&r);
            if self.diags.len() > before {
                return;
            }
        }
    }

    /// A compiler-made relation with the columns of `like`.
    fn aux_relation(&mut self, name: &str, arity: usize, like: RelId, span: Span) -> RelId {
        let id = self.add_relation(name, arity, span);
        let columns = self.prog.relations[like].columns.clone();
        let r = &mut self.prog.relations[id];
        r.builtin = Some(Builtin::Auxiliary);
        r.columns = columns;
        id
    }

    /// After all rules and directives: every rule and fact of a subsumed relation derives its
    /// `$all` relation instead, and the relation keeps the rows that are not dominated.
    pub(crate) fn finish_subsumptions(&mut self) {
        for s in std::mem::take(&mut self.subsumed) {
            let rel = &self.prog.relations[s.rel];
            if let Some(input) = rel.inputs.first() {
                let d = Diagnostic::error(format!(
                    "subsumption of the input relation `{}` is not supported",
                    rel.name
                ))
                .with_code(codes::SUBSUMPTION)
                .with_primary(self.file, s.span, "subsumption here")
                .with_secondary(self.file, input.span, "read from a file here")
                .with_help("copy the input into another relation and subsume that one");
                self.diags.push(d);
                continue;
            }
            if self.reaches(s.rel, s.rel) {
                let name = self.prog.relations[s.rel].name.clone();
                self.diags.push(
                    Diagnostic::error(format!(
                        "subsumption of the recursive relation `{name}` is not supported"
                    ))
                    .with_code(codes::SUBSUMPTION)
                    .with_primary(self.file, s.span, "subsumption here")
                    .with_note(
                        "Souffle removes dominated rows while the recursion runs, which can \
                         change what is derived; calm only removes them from a relation its own \
                         rules do not read",
                    )
                    .with_help(format!(
                        "derive the recursion into another relation and subsume a copy: \
                         `{name}_all(..) :- ...` then `{name}(x..) :- {name}_all(x..).`"
                    )),
                );
                continue;
            }
            for r in &mut self.prog.rules {
                if r.head == s.rel {
                    r.head = s.all;
                }
            }
            for f in &mut self.prog.facts {
                if f.rel == s.rel {
                    f.rel = s.all;
                }
            }
            self.prog.relations[s.all].edb = false;
            let arity = self.prog.relations[s.rel].arity;
            let vars: Vec<Var> = (0..arity)
                .map(|i| Var {
                    name: format!("c{i}"),
                    span: s.span,
                })
                .collect();
            let args: Vec<Term> = (0..arity).map(Term::Var).collect();
            self.push_rule(Rule {
                head: s.rel,
                head_args: (0..arity).map(Expr::Var).collect(),
                time: Time::Now,
                body: vec![
                    BodyItem::Atom(Atom {
                        rel: s.all,
                        args: args.clone(),
                        span: s.span,
                    }),
                    BodyItem::Negated(Atom {
                        rel: s.dom,
                        args,
                        span: s.span,
                    }),
                ],
                vars,
                var_types: Vec::new(),
                span: s.span,
                head_span: s.span,
                compiler_made: false,
                raw_reads: Vec::new(),
            });
        }
    }

    /// Whether the rules deriving `from` read `to`, directly or through other relations.
    fn reaches(&self, from: RelId, to: RelId) -> bool {
        let mut seen = HashSet::from([from]);
        let mut stack = vec![from];
        while let Some(r) = stack.pop() {
            for rule in self.prog.rules.iter().filter(|x| x.head == r) {
                for (read, _, _) in rule.body_relations() {
                    if read == to {
                        return true;
                    }
                    if seen.insert(read) {
                        stack.push(read);
                    }
                }
            }
        }
        false
    }
}
