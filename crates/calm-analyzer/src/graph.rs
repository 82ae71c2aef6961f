//! The precedence graph: one node per relation, one edge per body atom of every rule, labelled.
//!
//! Unlike the IR's stratification graph (same-tick rules only), this graph holds every rule:
//! an edge `b -> h` for each atom over `b` in the body of a rule with head `h`, labelled with
//!
//! - how `b` is read ([`EdgeKind`]): positively, under a negation, or inside an aggregate;
//! - when `h` holds ([`EdgeTime`]): in the same tick, at the next tick (`@next`), or at another
//!   node some later tick (`@async`);
//! - whether `b` is a built-in read: the cluster membership `$member` or the node identity
//!   `$self` (Ameloot: a program that must know all the members is one that needs
//!   coordination).
//!
//! `.persist p` adds the edge `p -> p` at `@next` (it is sugar for `p(..)@next :- p(..).`).

use calm_ir::{BodyItem, Builtin, Program, RelId, RuleId, Time};
use calm_syntax::{Span, ast};

/// How the body relation is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeKind {
    /// A positive atom: more facts in, more facts out.
    Positive,
    /// A negated atom (also inside an aggregate).
    Negated,
    /// A positive atom inside an aggregate (count, sum, min, max).
    Aggregated,
}

impl EdgeKind {
    /// `positive`, `negated` or `aggregated`.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Positive => "positive",
            EdgeKind::Negated => "negated",
            EdgeKind::Aggregated => "aggregated",
        }
    }

    /// Whether the read is non-monotonic.
    pub fn non_monotonic(self) -> bool {
        self != EdgeKind::Positive
    }
}

/// When the head of the edge's rule holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeTime {
    /// In the same tick.
    Now,
    /// At this node's next tick (`@next`, `.persist`).
    Next,
    /// At another node, some later tick (`@async`).
    Async,
}

impl EdgeTime {
    /// `now`, `@next` or `@async`.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeTime::Now => "now",
            EdgeTime::Next => "@next",
            EdgeTime::Async => "@async",
        }
    }

    fn of(t: Time) -> EdgeTime {
        match t {
            Time::Now => EdgeTime::Now,
            Time::Next => EdgeTime::Next,
            Time::Async { .. } => EdgeTime::Async,
        }
    }
}

/// One labelled dependency `from -> to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// The body relation.
    pub from: RelId,
    /// The head relation.
    pub to: RelId,
    /// How `from` is read.
    pub kind: EdgeKind,
    /// When `to` holds.
    pub time: EdgeTime,
    /// `Some(Member)` or `Some(SelfName)` when `from` is a built-in the runtime fills.
    pub builtin_read: Option<Builtin>,
    /// The rule, or `None` for the edge a `.persist` directive adds.
    pub rule: Option<RuleId>,
    /// The atom (or the `.persist` directive).
    pub span: Span,
}

/// The labelled precedence graph of a program.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// Every edge.
    pub edges: Vec<Edge>,
    /// Edge indexes by `from`.
    pub outgoing: Vec<Vec<usize>>,
    /// Edge indexes by `to`.
    pub incoming: Vec<Vec<usize>>,
    /// The span of each relation's `.persist` directive, if it has one.
    pub persist_span: Vec<Option<Span>>,
}

impl Graph {
    /// Builds the graph of a lowered program; `ast` gives the `.persist` directives' spans.
    pub fn new(prog: &Program, ast: &ast::Program) -> Graph {
        let n = prog.relations.len();
        let mut persist_span: Vec<Option<Span>> = vec![None; n];
        for item in &ast.items {
            if let ast::Item::Directive(d) = item
                && d.kind == ast::DirectiveKind::Persist
            {
                for t in &d.targets {
                    if let Some(r) = prog.relation(&t.name.name) {
                        persist_span[r].get_or_insert(d.span);
                    }
                }
            }
        }
        let mut edges = Vec::new();
        for (ri, rule) in prog.rules.iter().enumerate() {
            let mut push = |rel: RelId, kind: EdgeKind, span: Span| {
                let builtin_read = match prog.relations[rel].builtin {
                    Some(b @ (Builtin::Member | Builtin::SelfName)) => Some(b),
                    _ => None,
                };
                edges.push(Edge {
                    from: rel,
                    to: rule.head,
                    kind,
                    time: EdgeTime::of(rule.time),
                    builtin_read,
                    rule: Some(ri),
                    span,
                });
            };
            walk(&rule.body, false, &mut push);
        }
        for (rel, info) in prog.relations.iter().enumerate() {
            if info.persist {
                edges.push(Edge {
                    from: rel,
                    to: rel,
                    kind: EdgeKind::Positive,
                    time: EdgeTime::Next,
                    builtin_read: None,
                    rule: None,
                    span: persist_span[rel].unwrap_or(info.span),
                });
            }
        }
        let mut outgoing = vec![Vec::new(); n];
        let mut incoming = vec![Vec::new(); n];
        for (i, e) in edges.iter().enumerate() {
            outgoing[e.from].push(i);
            incoming[e.to].push(i);
        }
        Graph {
            edges,
            outgoing,
            incoming,
            persist_span,
        }
    }
}

fn walk(items: &[BodyItem], under_agg: bool, push: &mut impl FnMut(RelId, EdgeKind, Span)) {
    for item in items {
        match item {
            BodyItem::Atom(a) => push(
                a.rel,
                if under_agg {
                    EdgeKind::Aggregated
                } else {
                    EdgeKind::Positive
                },
                a.span,
            ),
            BodyItem::Negated(a) => push(a.rel, EdgeKind::Negated, a.span),
            BodyItem::Aggregate(g) => walk(&g.body, true, push),
            BodyItem::Compare { .. } | BodyItem::Assign { .. } | BodyItem::Range { .. } => {}
        }
    }
}

/// Whether `rule` is a Dedalus persistence rule `p(..)@next :- p(..), ...`: a hand-written
/// persistence whose negated conditions are deletions.
pub fn is_persistence_rule(prog: &Program, rule: RuleId) -> bool {
    let r = &prog.rules[rule];
    r.time == Time::Next
        && r.body
            .iter()
            .any(|b| matches!(b, BodyItem::Atom(a) if a.rel == r.head))
}

#[cfg(test)]
mod tests {
    use super::*;
    use calm_syntax::{FileId, parse};

    fn graph(text: &str) -> (Program, Graph) {
        let parsed = parse(FileId(0), text);
        let (prog, diags) = calm_ir::lower(&parsed.program, FileId(0));
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        let g = Graph::new(&prog, &parsed.program);
        (prog, g)
    }

    fn labels(prog: &Program, g: &Graph) -> Vec<String> {
        g.edges
            .iter()
            .map(|e| {
                format!(
                    "{} -> {} {} {}{}",
                    prog.relations[e.from].name,
                    prog.relations[e.to].name,
                    e.kind.as_str(),
                    e.time.as_str(),
                    if e.builtin_read.is_some() {
                        " builtin"
                    } else {
                        ""
                    }
                )
            })
            .collect()
    }

    #[test]
    fn every_label() {
        let (prog, g) = graph(
            ".input a\n.input b\n.persist s\n\
             c(x) :- a(x), !b(x).\n\
             d(n) :- n = count : { a(_) }.\n\
             s(@m, x)@async :- c(x), $member(m).\n\
             c(x)@next :- c(x), !$self(x).\n",
        );
        assert_eq!(
            labels(&prog, &g),
            vec![
                "a -> c positive now",
                "b -> c negated now",
                "a -> d aggregated now",
                "c -> s positive @async",
                "$member -> s positive @async builtin",
                "c -> c positive @next",
                "$self -> c negated @next builtin",
                "s -> s positive @next",
            ]
        );
        assert!(is_persistence_rule(&prog, 3));
        assert!(!is_persistence_rule(&prog, 2));
        assert!(g.persist_span[prog.relation("s").unwrap()].is_some());
    }
}
