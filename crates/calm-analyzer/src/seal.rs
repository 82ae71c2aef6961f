//! The manifest seal: the pattern that makes a non-monotonic operation over asynchronous input
//! converge, recognised from the rules.
//!
//! A seal (a *punctuation* in the stream literature, a *manifest* in the CALM paper's shopping
//! cart) tells the receiver that a partition of its input is complete. The analyzer recognises
//! this shape:
//!
//! ```text
//! missing(c, id) :- manifest(_, c, id), !update(_, c, id, _).   // the gap
//! ready(c)       :- checkout(_, c), !missing(c, _).             // the guard
//! order(c, n)    :- ready(c), n = count : { update(_, c, _, _) }. // a guarded operation
//! ```
//!
//! - **The gap** `G` (`missing`): every rule deriving it is a same-tick rule with one positive
//!   *manifest* atom `M` and one negated atom over the asynchronous relation `U` it seals
//!   (`update`), every variable of the negated atom bound by the manifest atom. Its other atoms
//!   read only local (not asynchronous) relations. The gap is "what the manifest lists that has
//!   not arrived yet".
//! - **The guard** `S` (`ready`): every rule deriving it is a same-tick rule with a positive
//!   *trigger* atom `T` (`checkout`) and a negated atom over the gap whose variables (the *key*,
//!   here the cart `c`) the trigger binds; the gap rules' heads carry the key into `U` and `M`;
//!   the guard's head carries the key too. Its other negations read only local relations.
//! - **The manifest is complete when the trigger is present**: either `M` is local (not fed by
//!   `@async`), or `M` arrives *in the same message* as `T`: both are received only through
//!   `@async` rules, and every rule sending `M` reads (at least) every relation some body-only-
//!   positive rule sending `T` reads, so whenever a manifest fact is sent the trigger is sent in
//!   the same tick. calm's runtime delivers what one node sends to another in one tick as one
//!   message, so the receiver sees the trigger and the whole manifest together.
//!
//! Then, for one key, once the guard holds every fact of `U` listed in the manifest is present,
//! and — by the client's contract that the manifest lists *every* update of the key — no other
//! will come: `U` restricted to the key is final. So these operations converge, whatever the
//! order of arrival:
//!
//! - the gap's negation of `U` (when the gap is read only by guards, under negation);
//! - the guard's negation of the gap;
//! - any negation or aggregate over `U` in a rule with a positive guard atom, whose key columns
//!   are the guard's key (the count above).
//!
//! They are reported as `CALM007 sealed-non-monotonic` (allowed by default) instead of as points
//! of order, and the summary names the seal.

use calm_ir::{Atom, BodyItem, Expr, Program, RelId, Rule, RuleId, Term, Time, VarId};
use std::collections::BTreeSet;

/// A recognised manifest seal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seal {
    /// The guard relation (`ready`).
    pub guard: RelId,
    /// The guard's head columns holding the key, in key order.
    pub guard_key: Vec<usize>,
    /// The gap relation (`missing`).
    pub gap: RelId,
    /// The manifest relation (`manifest`).
    pub manifest: RelId,
    /// The trigger relation (`checkout`).
    pub trigger: RelId,
    /// The sealed relation (`update`).
    pub sealed: RelId,
    /// The sealed relation's columns holding the key, in key order.
    pub sealed_key: Vec<usize>,
    /// The rules deriving the guard.
    pub guard_rules: Vec<RuleId>,
    /// The rules deriving the gap.
    pub gap_rules: Vec<RuleId>,
    /// Whether the gap is read only by the guard rules, under negation (so the gap's own
    /// negation is part of the seal).
    pub gap_private: bool,
}

impl Seal {
    /// `` `ready` seals `update` (manifest `manifest`, trigger `checkout`) ``.
    pub fn describe(&self, prog: &Program) -> String {
        let n = |r: RelId| prog.relations[r].name.as_str();
        format!(
            "`{}` seals `{}` (manifest `{}`, trigger `{}`)",
            n(self.guard),
            n(self.sealed),
            n(self.manifest),
            n(self.trigger)
        )
    }
}

/// One gap rule: `G(..) :- M(..), !U(..), <local atoms>`.
struct GapRule<'r> {
    manifest: &'r Atom,
    sealed: &'r Atom,
}

fn gap_rule<'r>(rule: &'r Rule, tainted: &impl Fn(RelId) -> bool) -> Option<GapRule<'r>> {
    if rule.time != Time::Now {
        return None;
    }
    let mut sealed = None;
    for item in &rule.body {
        match item {
            BodyItem::Negated(a) if tainted(a.rel) && sealed.replace(a).is_some() => {
                return None;
            }
            BodyItem::Aggregate(_) => return None,
            _ => {}
        }
    }
    let sealed = sealed?;
    let vars: Vec<VarId> = sealed.vars().collect();
    let mut manifest = None;
    for item in &rule.body {
        if let BodyItem::Atom(a) = item {
            let binds_all = vars.iter().all(|v| a.args.contains(&Term::Var(*v)));
            if binds_all && manifest.is_none() {
                manifest = Some(a);
            } else if tainted(a.rel) {
                return None;
            }
        }
    }
    Some(GapRule {
        manifest: manifest?,
        sealed,
    })
}

fn rules_of(prog: &Program, rel: RelId) -> Vec<RuleId> {
    (0..prog.rules.len())
        .filter(|&i| prog.rules[i].head == rel)
        .collect()
}

/// Whether relation `rel` holds only what rules derive (no facts, no `.input`).
fn derived_only(prog: &Program, rel: RelId) -> bool {
    prog.relations[rel].inputs.is_empty()
        && prog.relations[rel].builtin.is_none()
        && !prog.facts.iter().any(|f| f.rel == rel)
}

fn column_of(args: &[Term], v: VarId) -> Option<usize> {
    args.iter().position(|t| *t == Term::Var(v))
}

fn positive_rels(rule: &Rule) -> BTreeSet<RelId> {
    rule.body
        .iter()
        .filter_map(|b| match b {
            BodyItem::Atom(a) => Some(a.rel),
            _ => None,
        })
        .collect()
}

/// Whether the manifest is complete whenever the trigger is present (see the module docs).
fn arrives_with(
    prog: &Program,
    manifest: RelId,
    trigger: RelId,
    tainted: &impl Fn(RelId) -> bool,
) -> bool {
    if !tainted(manifest) {
        return true;
    }
    let sent = |rel: RelId| {
        let rules = rules_of(prog, rel);
        (!rules.is_empty()
            && derived_only(prog, rel)
            && rules
                .iter()
                .all(|&r| matches!(prog.rules[r].time, Time::Async { .. })))
        .then_some(rules)
    };
    let (Some(m_rules), Some(t_rules)) = (sent(manifest), sent(trigger)) else {
        return false;
    };
    m_rules.iter().all(|&rm| {
        let m_rels = positive_rels(&prog.rules[rm]);
        t_rules.iter().any(|&rt| {
            let r = &prog.rules[rt];
            r.body
                .iter()
                .all(|b| matches!(b, BodyItem::Atom(_) | BodyItem::Assign { .. }))
                && positive_rels(r).is_subset(&m_rels)
        })
    })
}

/// The part of a seal one guard rule establishes.
#[derive(PartialEq, Eq)]
struct GuardShape {
    gap: RelId,
    manifest: RelId,
    trigger: RelId,
    sealed: RelId,
    sealed_key: Vec<usize>,
    guard_key: Vec<usize>,
}

fn guard_rule(
    prog: &Program,
    rule: &Rule,
    gap_rules: &dyn Fn(RelId) -> Option<Vec<RuleId>>,
    tainted: &impl Fn(RelId) -> bool,
) -> Option<GuardShape> {
    if rule.time != Time::Now {
        return None;
    }
    let mut found = None;
    for item in &rule.body {
        match item {
            BodyItem::Negated(a) => {
                if let Some(gr) = gap_rules(a.rel) {
                    if found.replace((a, gr)).is_some() {
                        return None;
                    }
                } else if tainted(a.rel) {
                    return None;
                }
            }
            BodyItem::Aggregate(_) => return None,
            _ => {}
        }
    }
    let (neg, gap_rule_ids) = found?;
    // The key: the variables of the negated gap atom, bound by one positive trigger atom.
    let key: Vec<(usize, VarId)> = neg
        .args
        .iter()
        .enumerate()
        .filter_map(|(c, t)| match t {
            Term::Var(v) => Some((c, *v)),
            _ => None,
        })
        .collect();
    if key.is_empty() {
        return None;
    }
    let trigger = rule.body.iter().find_map(|b| match b {
        BodyItem::Atom(a) if key.iter().all(|(_, v)| a.args.contains(&Term::Var(*v))) => Some(a),
        _ => None,
    })?;
    let guard_key: Vec<usize> = key
        .iter()
        .map(|(_, v)| {
            rule.head_args
                .iter()
                .position(|e| matches!(e, Expr::Var(x) if x == v))
        })
        .collect::<Option<_>>()?;
    // Every gap rule carries the key into the manifest and the sealed relation.
    let mut shape: Option<(RelId, RelId, Vec<usize>)> = None;
    for &gi in &gap_rule_ids {
        let g = &prog.rules[gi];
        let gr = gap_rule(g, tainted)?;
        let mut sealed_key = Vec::new();
        for (c, _) in &key {
            let Some(Expr::Var(k)) = g.head_args.get(*c) else {
                return None;
            };
            column_of(&gr.manifest.args, *k)?;
            sealed_key.push(column_of(&gr.sealed.args, *k)?);
        }
        let this = (gr.manifest.rel, gr.sealed.rel, sealed_key);
        match &shape {
            None => shape = Some(this),
            Some(s) if *s == this => {}
            Some(_) => return None,
        }
    }
    let (manifest, sealed, sealed_key) = shape?;
    if !arrives_with(prog, manifest, trigger.rel, tainted) {
        return None;
    }
    Some(GuardShape {
        gap: neg.rel,
        manifest,
        trigger: trigger.rel,
        sealed,
        sealed_key,
        guard_key,
    })
}

/// Finds every manifest seal of a program. `tainted(r)` tells whether relation `r` is fed by
/// asynchronous input.
pub fn find(prog: &Program, tainted: &impl Fn(RelId) -> bool) -> Vec<Seal> {
    // Gap relations: derived only by gap rules.
    let gap_rules = |rel: RelId| -> Option<Vec<RuleId>> {
        if !derived_only(prog, rel) || prog.relations[rel].persist {
            return None;
        }
        let rules = rules_of(prog, rel);
        let ok = !rules.is_empty()
            && rules
                .iter()
                .all(|&r| gap_rule(&prog.rules[r], tainted).is_some());
        ok.then_some(rules)
    };
    let mut seals = Vec::new();
    for guard in 0..prog.relations.len() {
        if !derived_only(prog, guard) {
            continue;
        }
        let rules = rules_of(prog, guard);
        if rules.is_empty() {
            continue;
        }
        let mut shape: Option<GuardShape> = None;
        let mut ok = true;
        for &r in &rules {
            match guard_rule(prog, &prog.rules[r], &gap_rules, tainted) {
                Some(s) if shape.as_ref().is_none_or(|x| *x == s) => shape = Some(s),
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        let Some(shape) = shape.filter(|_| ok) else {
            continue;
        };
        let gap_rule_ids = rules_of(prog, shape.gap);
        // The gap is private when every read of it is a negation in one of the guard rules.
        let gap_private = prog.rules.iter().enumerate().all(|(ri, r)| {
            r.body_relations()
                .iter()
                .all(|(rel, _, _)| *rel != shape.gap || rules.contains(&ri))
                && (!rules.contains(&ri)
                    || !r
                        .body
                        .iter()
                        .any(|b| matches!(b, BodyItem::Atom(a) if a.rel == shape.gap)))
        });
        seals.push(Seal {
            guard,
            guard_key: shape.guard_key,
            gap: shape.gap,
            manifest: shape.manifest,
            trigger: shape.trigger,
            sealed: shape.sealed,
            sealed_key: shape.sealed_key,
            guard_rules: rules,
            gap_rules: gap_rule_ids,
            gap_private,
        });
    }
    seals
}

/// The seal, if any, under which an atom over `read` with arguments `args`, in a rule whose
/// positive body atoms are `context`, is read with its key fixed by a positive guard atom.
pub fn guarding(seals: &[Seal], context: &[BodyItem], read: RelId, args: &[Term]) -> Option<usize> {
    seals.iter().position(|s| {
        s.sealed == read
            && context.iter().any(|b| match b {
                BodyItem::Atom(g) if g.rel == s.guard => {
                    s.guard_key.iter().zip(&s.sealed_key).all(|(&gc, &uc)| {
                        matches!(g.args.get(gc), Some(Term::Var(v)) if args.get(uc) == Some(&Term::Var(*v)))
                    })
                }
                _ => false,
            })
    })
}
