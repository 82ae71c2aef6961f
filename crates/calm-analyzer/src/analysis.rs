//! What the lints need to know about a program: which relations depend on asynchronous input or
//! on the cluster membership, where the non-monotonic operations are, and what happens to their
//! results.
//!
//! - **Asynchronous taint.** The head of every `@async` rule is fed by asynchronous input: its
//!   facts arrive at some later tick, in any order. Every relation reachable from one in the
//!   [`Graph`] (through positive, negated and aggregated edges, in the same tick, at `@next` or
//!   at `@async`) depends on that input too.
//! - **Membership taint.** `$member` is the cluster membership, which a node can only know all
//!   of by coordinating (Ameloot). A relation derived from it in the same tick or at `@next`
//!   enumerates members; an `@async` rule reading `$member` only addresses members (the facts
//!   that arrive do not list them), so membership taint does not cross `@async` edges. `$self`
//!   is constant on a node: reading it is local.
//! - **Sites.** Every negated atom, every aggregate and every raw read of a lattice value (see
//!   `calm_ir::Rule::raw_reads`; a merge or a threshold on a lattice value is monotone and no
//!   site) of every rule. A site whose inputs carry
//!   no taint is local ([`Class::Local`]): deterministic on each node, not a point of order. A
//!   site over membership-derived input ranges over "every member" ([`Class::Membership`]); a
//!   site over asynchronous input is a point of order ([`Class::Async`]) unless a manifest seal
//!   guards it ([`Class::Sealed`], see [`crate::seal`]), or it is an aggregate only compared with a
//!   constant in the direction it grows ([`Class::Threshold`], see [`crate::threshold`]).
//! - **Consequences.** Following the graph forward from a site's head: if the result is
//!   persisted (`.persist` or an `@next` rule), sent (`@async`), or drives a deletion (negated in
//!   a persistence rule), a premature answer becomes permanent and the final state depends on
//!   the order of arrival. Otherwise the result is only read: an answer may be retracted when a
//!   late fact arrives, but once all input has arrived the answer is deterministic.

use crate::graph::{EdgeKind, EdgeTime, Graph, is_persistence_rule};
use crate::seal::{self, Seal};
use crate::threshold;
use crate::{Compiled, Finding, Step, Summary};
use calm_ir::{BodyItem, Builtin, Program, RelId, RuleId, Term, Time, VarId};
use calm_syntax::ast::AggFunc;
use calm_syntax::{FileId, Span};
use std::collections::{HashSet, VecDeque};

/// Why a relation is tainted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The head of this `@async` rule.
    Sent(RuleId),
    /// The built-in `$member` itself.
    Membership,
    /// Derived through this edge from a tainted relation.
    Edge(usize),
}

/// What kind of non-monotonic operation a site is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiteKind {
    /// A negated atom.
    Negation,
    /// A body-form aggregate (head-form aggregates are desugared into body form).
    Aggregation(AggFunc),
    /// A raw read of a lattice value (`calm_ir::Rule::raw_reads`): anything but a threshold or
    /// a merge into a head of the same lattice. Merges and monotone reads are no site.
    LatticeRead,
}

/// A relation read by a site, with the atom's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    /// The relation.
    pub rel: RelId,
    /// The atom's arguments.
    pub args: Vec<Term>,
    /// The atom.
    pub span: Span,
    /// The rule whose body holds the atom (the site's rule, or the compiler-made rule of a
    /// head-form aggregate).
    pub context: RuleId,
    /// Whether the atom is negated.
    pub negated: bool,
}

/// How a site's input changes over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Only local input: not a point of order.
    Local,
    /// This read depends on asynchronous input: a point of order.
    Async(usize),
    /// This read ranges over the cluster membership: a point of order.
    Membership(usize),
    /// Over asynchronous input, but guarded by this seal: converges.
    Sealed(usize),
    /// An aggregate over asynchronous input whose result is only compared with a constant in
    /// the direction it grows (`count … >= k`): once true, true for ever, so monotone.
    Threshold(usize),
}

/// What happens to a site's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsequenceKind {
    /// Only read (output or scratch relations recomputed every tick).
    OnlyRead,
    /// Kept across ticks (`.persist`, or an `@next` rule).
    Persisted,
    /// Sent to other nodes (`@async`).
    Sent,
    /// Negated in a persistence rule: it deletes state (or the site is that deletion).
    Deletion,
}

/// What happens to a site's result, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consequence {
    /// What.
    pub kind: ConsequenceKind,
    /// Where (the rule or `.persist` directive), when not only read.
    pub at: Option<Span>,
    /// In words, e.g. "`garbage` drives the deletion of `object`".
    pub what: String,
}

impl Consequence {
    /// Whether a premature answer becomes permanent: the final state depends on arrival order.
    pub fn order_dependent(&self) -> bool {
        self.kind != ConsequenceKind::OnlyRead
    }
}

/// A non-monotonic operation in a rule.
#[derive(Clone, Debug)]
pub struct Site {
    /// The rule.
    pub rule: RuleId,
    /// Negation or aggregation.
    pub kind: SiteKind,
    /// The negated atom or the aggregate.
    pub span: Span,
    /// The relations it reads non-monotonically.
    pub reads: Vec<Read>,
    /// How its input changes.
    pub class: Class,
    /// What happens to its result.
    pub consequence: Consequence,
    /// Whether the site is a negated condition of a persistence rule (a Dedalus deletion).
    pub deletion: bool,
}

impl Site {
    /// Whether the site is a point of order.
    pub fn point_of_order(&self) -> bool {
        matches!(self.class, Class::Async(_) | Class::Membership(_))
    }

    /// The read that makes it one (or that is sealed), if any.
    pub fn culprit(&self) -> Option<&Read> {
        match self.class {
            Class::Async(i) | Class::Membership(i) | Class::Sealed(i) | Class::Threshold(i) => {
                self.reads.get(i)
            }
            Class::Local => self.reads.first(),
        }
    }
}

/// The analysis of one program.
#[derive(Debug)]
pub struct Analysis<'c> {
    /// The compiled program.
    pub compiled: &'c Compiled,
    /// Its precedence graph.
    pub graph: Graph,
    /// Per relation: why it depends on asynchronous input, if it does.
    pub async_taint: Vec<Option<Origin>>,
    /// Per relation: why it enumerates members, if it does.
    pub member_taint: Vec<Option<Origin>>,
    /// Every non-monotonic operation.
    pub sites: Vec<Site>,
    /// The manifest seals recognised.
    pub seals: Vec<Seal>,
}

impl<'c> Analysis<'c> {
    /// Analyses a compiled program (which must be [`Compiled::complete`]).
    pub fn new(compiled: &'c Compiled) -> Analysis<'c> {
        let prog = &compiled.ir;
        let graph = Graph::new(prog, &compiled.ast);
        let n = prog.relations.len();
        let mut async_taint = vec![None; n];
        let mut sources = Vec::new();
        for (ri, r) in prog.rules.iter().enumerate() {
            if matches!(r.time, Time::Async { .. }) && async_taint[r.head].is_none() {
                async_taint[r.head] = Some(Origin::Sent(ri));
                sources.push(r.head);
            }
        }
        spread(&graph, &mut async_taint, sources, |_| true);
        let mut member_taint = vec![None; n];
        if let Some(m) = prog.builtin(Builtin::Member) {
            member_taint[m] = Some(Origin::Membership);
            spread(&graph, &mut member_taint, vec![m], |e| {
                e.time != EdgeTime::Async
            });
        }
        let seals = seal::find(prog, &|r| async_taint[r].is_some());
        let mut a = Analysis {
            compiled,
            graph,
            async_taint,
            member_taint,
            sites: Vec::new(),
            seals,
        };
        a.sites = a.find_sites();
        a
    }

    /// The program.
    pub fn prog(&self) -> &Program {
        &self.compiled.ir
    }

    /// The file.
    pub fn file(&self) -> FileId {
        self.compiled.file
    }

    /// A relation's name as users know it (compiler-made relations are named by their rule).
    pub fn name(&self, rel: RelId) -> String {
        let info = &self.prog().relations[rel];
        if info.builtin == Some(Builtin::Auxiliary) {
            // The rows of a head-form aggregate: name the relation the aggregate computes.
            if let Some(r) = self
                .prog()
                .rules
                .iter()
                .find(|r| r.head != rel && r.body_relations().iter().any(|(b, _, _)| *b == rel))
            {
                return self.prog().relations[r.head].name.clone();
            }
        }
        info.name.clone()
    }

    fn find_sites(&self) -> Vec<Site> {
        let prog = self.prog();
        let mut sites = Vec::new();
        for (ri, rule) in prog.rules.iter().enumerate() {
            let deletion = is_persistence_rule(prog, ri);
            for item in &rule.body {
                let (kind, span, reads) = match item {
                    BodyItem::Negated(a) => (
                        SiteKind::Negation,
                        a.span,
                        vec![Read {
                            rel: a.rel,
                            args: a.args.clone(),
                            span: a.span,
                            context: ri,
                            negated: true,
                        }],
                    ),
                    BodyItem::Aggregate(g) => {
                        let mut reads = Vec::new();
                        self.aggregate_reads(ri, &g.body, None, &mut reads);
                        (SiteKind::Aggregation(g.func), g.span, reads)
                    }
                    BodyItem::Atom(a)
                        if rule
                            .raw_reads
                            .iter()
                            .any(|&i| std::ptr::eq(&rule.body[i], item)) =>
                    {
                        (
                            SiteKind::LatticeRead,
                            a.span,
                            vec![Read {
                                rel: a.rel,
                                args: a.args.clone(),
                                span: a.span,
                                context: ri,
                                negated: false,
                            }],
                        )
                    }
                    _ => continue,
                };
                let mut class = self.classify(&reads, ri);
                if let (Class::Async(i), BodyItem::Aggregate(g)) = (class, item)
                    && threshold::is_threshold(prog, rule, g)
                {
                    class = Class::Threshold(i);
                }
                sites.push(Site {
                    rule: ri,
                    kind,
                    span,
                    reads,
                    class,
                    consequence: Consequence {
                        kind: ConsequenceKind::OnlyRead,
                        at: None,
                        what: String::new(),
                    },
                    deletion: deletion && kind == SiteKind::Negation,
                });
            }
        }
        // A sealed operation's result does not change once derived: what it feeds is not fed by
        // a premature answer, so the consequences are followed around it.
        let sealed = sealed_reads(&sites);
        for site in &mut sites {
            site.consequence = self.consequence(site.rule, site.deletion, &sealed);
        }
        sites
    }

    /// The atoms an aggregate ranges over; the rows of a head-form aggregate are replaced by the
    /// atoms of the rule that makes them. There, a positive atom whose variables all group the
    /// aggregate only decides whether a group exists (head-form groups without rows do not
    /// exist): it is not read non-monotonically, and is left out.
    fn aggregate_reads(
        &self,
        context: RuleId,
        body: &[BodyItem],
        group: Option<&[VarId]>,
        out: &mut Vec<Read>,
    ) {
        let prog = self.prog();
        for item in body {
            let (a, negated) = match item {
                BodyItem::Atom(a) => (a, false),
                BodyItem::Negated(a) => (a, true),
                BodyItem::Aggregate(g) => {
                    self.aggregate_reads(context, &g.body, None, out);
                    continue;
                }
                _ => continue,
            };
            if !negated && prog.relations[a.rel].builtin == Some(Builtin::Auxiliary) {
                if let Some(BodyItem::Aggregate(g)) = body_aggregate_of(&prog.rules[context], a) {
                    for (ri, r) in prog.rules.iter().enumerate() {
                        if r.head == a.rel && ri != context {
                            self.aggregate_reads(ri, &r.body, Some(&g.outer), out);
                        }
                    }
                }
                continue;
            }
            let grouping_only = !negated
                && group.is_some_and(|g| {
                    a.args
                        .iter()
                        .all(|t| matches!(t, Term::Var(v) if g.contains(v)))
                });
            if grouping_only {
                continue;
            }
            out.push(Read {
                rel: a.rel,
                args: a.args.clone(),
                span: a.span,
                context,
                negated,
            });
        }
    }

    fn classify(&self, reads: &[Read], rule: RuleId) -> Class {
        if let Some(i) = reads
            .iter()
            .position(|r| self.member_taint[r.rel].is_some())
        {
            return Class::Membership(i);
        }
        let tainted: Vec<usize> = (0..reads.len())
            .filter(|&i| self.async_taint[reads[i].rel].is_some())
            .collect();
        let Some(&first) = tainted.first() else {
            return Class::Local;
        };
        // Sealed when every asynchronous read is covered by a seal.
        match tainted
            .iter()
            .find(|&&i| self.sealed_read(&reads[i], rule).is_none())
        {
            Some(&i) => Class::Async(i),
            None => Class::Sealed(first),
        }
    }

    /// The seal covering one asynchronous read, if any.
    pub fn sealed_read(&self, read: &Read, site_rule: RuleId) -> Option<usize> {
        let prog = self.prog();
        for (si, s) in self.seals.iter().enumerate() {
            // The guard's own negation of the gap.
            if read.negated && read.rel == s.gap && s.guard_rules.contains(&site_rule) {
                return Some(si);
            }
            // The gap's negation of the sealed relation, when only guards read the gap.
            if read.negated
                && read.rel == s.sealed
                && s.gap_private
                && s.gap_rules.contains(&site_rule)
            {
                return Some(si);
            }
        }
        // An operation over the sealed relation, keyed by a guard atom.
        let mut context: Vec<BodyItem> = prog.rules[read.context].body.clone();
        if read.context != site_rule {
            context.extend(prog.rules[site_rule].body.iter().cloned());
        }
        seal::guarding(&self.seals, &context, read.rel, &read.args)
    }

    /// The seal guarding a sealed site.
    pub fn seal_of(&self, site: &Site) -> Option<&Seal> {
        let read = site.culprit()?;
        self.sealed_read(read, site.rule).map(|i| &self.seals[i])
    }

    /// What happens to the result of a site in rule `rule`.
    fn consequence(
        &self,
        rule: RuleId,
        deletion: bool,
        sealed: &HashSet<(RuleId, Span)>,
    ) -> Consequence {
        let prog = self.prog();
        let r = &prog.rules[rule];
        let head = self.name(r.head);
        match r.time {
            Time::Async { .. } => {
                return Consequence {
                    kind: ConsequenceKind::Sent,
                    at: Some(r.span),
                    what: format!("the result is sent to other nodes as `{head}`"),
                };
            }
            Time::Next if deletion => {
                return Consequence {
                    kind: ConsequenceKind::Deletion,
                    at: Some(r.span),
                    what: format!("it deletes `{head}` facts"),
                };
            }
            Time::Next => {
                return Consequence {
                    kind: ConsequenceKind::Persisted,
                    at: Some(r.span),
                    what: format!("the result is carried into the next tick as `{head}`"),
                };
            }
            Time::Now => {}
        }
        let n = prog.relations.len();
        let mut seen = vec![false; n];
        let mut queue = VecDeque::from([r.head]);
        seen[r.head] = true;
        while let Some(x) = queue.pop_front() {
            let name = self.name(x);
            if let Some(span) = self.graph.persist_span[x] {
                return Consequence {
                    kind: ConsequenceKind::Persisted,
                    at: Some(span),
                    what: format!("`{name}` is persisted"),
                };
            }
            for &ei in &self.graph.outgoing[x] {
                let e = &self.graph.edges[ei];
                let Some(ri) = e.rule else { continue };
                if sealed.contains(&(ri, e.span)) {
                    continue;
                }
                let to = self.name(e.to);
                let rule_span = prog.rules[ri].span;
                match e.time {
                    EdgeTime::Async => {
                        return Consequence {
                            kind: ConsequenceKind::Sent,
                            at: Some(rule_span),
                            what: format!("`{name}` is sent to other nodes as `{to}`"),
                        };
                    }
                    EdgeTime::Next
                        if e.kind == EdgeKind::Negated && is_persistence_rule(prog, ri) =>
                    {
                        return Consequence {
                            kind: ConsequenceKind::Deletion,
                            at: Some(rule_span),
                            what: format!("`{name}` drives the deletion of `{to}`"),
                        };
                    }
                    EdgeTime::Next => {
                        return Consequence {
                            kind: ConsequenceKind::Persisted,
                            at: Some(rule_span),
                            what: format!("`{name}` is carried into the next tick as `{to}`"),
                        };
                    }
                    EdgeTime::Now => {
                        if !seen[e.to] {
                            seen[e.to] = true;
                            queue.push_back(e.to);
                        }
                    }
                }
            }
        }
        Consequence {
            kind: ConsequenceKind::OnlyRead,
            at: None,
            what: format!("`{head}` is only read (never persisted, sent or used to delete)"),
        }
    }

    /// The chain of rules by which `rel` depends on its taint's source, as steps in order from
    /// the source; `member` picks the membership taint instead of the asynchronous one.
    pub fn path(&self, rel: RelId, member: bool) -> Vec<Step> {
        let prog = self.prog();
        let taint = if member {
            &self.member_taint
        } else {
            &self.async_taint
        };
        let mut steps = Vec::new();
        let mut at = rel;
        let mut guard = 0;
        while let Some(origin) = taint[at] {
            guard += 1;
            if guard > prog.relations.len() + 1 {
                break;
            }
            match origin {
                Origin::Sent(ri) => {
                    let r = &prog.rules[ri];
                    steps.push(Step {
                        file: self.file(),
                        span: r.span,
                        message: format!(
                            "`{}` is sent by this `@async` rule: it arrives at some later tick, in any order",
                            self.name(r.head)
                        ),
                    });
                    break;
                }
                Origin::Membership => break,
                Origin::Edge(ei) => {
                    let e = &self.graph.edges[ei];
                    let Some(ri) = e.rule else { break };
                    let r = &prog.rules[ri];
                    let (from, to) = (self.name(e.from), self.name(e.to));
                    let how = match (e.kind, e.time) {
                        (_, EdgeTime::Async) => format!("`{to}` is sent from `{from}` here"),
                        (EdgeKind::Positive, EdgeTime::Next) => {
                            format!("`{to}` is carried to the next tick from `{from}` here")
                        }
                        (EdgeKind::Positive, _) if e.builtin_read == Some(Builtin::Member) => {
                            format!("`{to}` enumerates the members (`$member`) here")
                        }
                        (EdgeKind::Positive, _) => format!("`{to}` is derived from `{from}` here"),
                        (EdgeKind::Negated, _) => {
                            format!("`{to}` is derived from the negation of `{from}` here")
                        }
                        (EdgeKind::Aggregated, _) => {
                            format!("`{to}` aggregates `{from}` here")
                        }
                    };
                    steps.push(Step {
                        file: self.file(),
                        span: r.span,
                        message: how,
                    });
                    at = e.from;
                }
            }
        }
        steps.reverse();
        // A head-form aggregate's rows and its result share a rule: keep one step per rule.
        steps.dedup_by(|b, a| a.span == b.span);
        steps
    }

    /// Per relation: the index in [`Analysis::sites`] of a point of order that feeds it (the
    /// relation holding the site's result, or one derived from it through edges that are not
    /// sealed), if one does. A relation no point of order feeds is monotone in the CALM sense: its
    /// facts, once derived, stay whatever order messages arrive in.
    pub fn fed_by_point_of_order(&self) -> Vec<Option<usize>> {
        let prog = self.prog();
        let n = prog.relations.len();
        let mut fed = vec![None; n];
        let mut queue = VecDeque::new();
        for (si, s) in self.sites.iter().enumerate() {
            if !s.point_of_order() {
                continue;
            }
            let h = prog.rules[s.rule].head;
            if fed[h].is_none() {
                fed[h] = Some(si);
                queue.push_back(h);
            }
        }
        let sealed = sealed_reads(&self.sites);
        while let Some(x) = queue.pop_front() {
            for &ei in &self.graph.outgoing[x] {
                let e = &self.graph.edges[ei];
                if e.rule.is_some_and(|r| sealed.contains(&(r, e.span))) {
                    continue;
                }
                let to = e.to;
                if fed[to].is_none() {
                    fed[to] = fed[x];
                    queue.push_back(to);
                }
            }
        }
        fed
    }

    /// The output relations (`.output`, `.printsize`), and whether some point of order feeds
    /// each.
    pub fn outputs(&self) -> Vec<(String, bool)> {
        let fed = self.fed_by_point_of_order();
        self.prog()
            .relations
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.outputs.is_empty() || r.printsize)
            .map(|(i, r)| (r.name.clone(), fed[i].is_some()))
            .collect()
    }

    /// The summary, given the findings (for the suppressed count).
    pub fn summary(&self, findings: &[Finding]) -> Summary {
        let points: Vec<&Site> = self.sites.iter().filter(|s| s.point_of_order()).collect();
        let suppressed = findings
            .iter()
            .filter(|f| f.suppressed.is_some() && crate::lints::is_point_of_order(&f.code))
            .count();
        let mut seals: Vec<String> = Vec::new();
        for s in &self.seals {
            let used = self.sites.iter().any(|site| {
                matches!(site.class, Class::Sealed(_)) && self.seal_of(site) == Some(s)
            });
            if used {
                seals.push(s.describe(self.prog()));
            }
        }
        let outputs = self.outputs();
        Summary {
            analysed: true,
            errors: 0,
            points_of_order: points.len(),
            order_dependent: points
                .iter()
                .filter(|s| s.consequence.order_dependent())
                .count(),
            suppressed,
            seals,
            monotone_outputs: outputs
                .iter()
                .filter(|(_, t)| !t)
                .map(|(n, _)| n.clone())
                .collect(),
            non_monotone_outputs: outputs
                .iter()
                .filter(|(_, t)| *t)
                .map(|(n, _)| n.clone())
                .collect(),
        }
    }
}

/// The atoms read by sealed operations and by thresholds (whose results, once derived, stay),
/// by rule and span.
fn sealed_reads(sites: &[Site]) -> HashSet<(RuleId, Span)> {
    sites
        .iter()
        .filter(|s| matches!(s.class, Class::Sealed(_) | Class::Threshold(_)))
        .flat_map(|s| s.reads.iter().map(|r| (r.context, r.span)))
        .collect()
}

/// The aggregate of `rule` whose body holds `atom`.
fn body_aggregate_of<'r>(rule: &'r calm_ir::Rule, atom: &calm_ir::Atom) -> Option<&'r BodyItem> {
    rule.body.iter().find(|b| match b {
        BodyItem::Aggregate(g) => g
            .body
            .iter()
            .any(|i| matches!(i, BodyItem::Atom(x) if x == atom)),
        _ => false,
    })
}

/// Breadth-first spread of a taint from `sources` along the edges `follow` accepts.
fn spread(
    graph: &Graph,
    taint: &mut [Option<Origin>],
    sources: Vec<RelId>,
    follow: impl Fn(&crate::graph::Edge) -> bool,
) {
    let mut queue = VecDeque::from(sources);
    while let Some(x) = queue.pop_front() {
        for &ei in &graph.outgoing[x] {
            let e = &graph.edges[ei];
            if follow(e) && taint[e.to].is_none() {
                taint[e.to] = Some(Origin::Edge(ei));
                queue.push_back(e.to);
            }
        }
    }
}
