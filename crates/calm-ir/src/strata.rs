//! The same-tick dependency graph and its stratification.
//!
//! Nodes are relations; a rule `h :- ..., b, ...` without `@next`/`@async` adds an edge `b -> h`,
//! marked non-monotonic when `b` is negated or aggregated, or when its lattice value is read raw
//! (see `lattice.rs`). Strongly connected components are the
//! strata, in topological order. A non-monotonic edge inside a component makes the program
//! unstratifiable within a tick: an error naming the cycle. Edges through `@next` or `@async` are
//! not part of this graph (Dedalus temporal stratification).

use crate::codes;
use crate::ir::*;
use calm_syntax::{Diagnostic, FileId};
use std::collections::VecDeque;

/// One same-tick dependency.
#[derive(Clone, Copy, Debug)]
struct Edge {
    from: RelId,
    to: RelId,
    negative: bool,
    rule: RuleId,
}

/// Computes `prog.strata`. Returns `false` (after reporting) if the program is unstratifiable.
pub(crate) fn stratify(file: FileId, prog: &mut Program, diags: &mut Vec<Diagnostic>) -> bool {
    let n = prog.relations.len();
    let mut edges = Vec::new();
    for (ri, rule) in prog.rules.iter().enumerate() {
        if rule.time != Time::Now {
            continue;
        }
        for (rel, neg, _) in rule.body_relations() {
            edges.push(Edge {
                from: rel,
                to: rule.head,
                negative: neg,
                rule: ri,
            });
        }
    }
    let mut succ = vec![Vec::new(); n];
    let mut pred = vec![Vec::new(); n];
    for (i, e) in edges.iter().enumerate() {
        succ[e.from].push(i);
        pred[e.to].push(i);
    }
    // Kosaraju: finish order on the graph, then components on the transpose in reverse finish
    // order; components come out in topological order (dependencies first).
    let mut order = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    for start in 0..n {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        let mut stack = vec![(start, 0usize)];
        while let Some(&mut (v, ref mut i)) = stack.last_mut() {
            if *i < succ[v].len() {
                let w = edges[succ[v][*i]].to;
                *i += 1;
                if !seen[w] {
                    seen[w] = true;
                    stack.push((w, 0));
                }
            } else {
                order.push(v);
                stack.pop();
            }
        }
    }
    let mut comp = vec![usize::MAX; n];
    let mut comps: Vec<Vec<RelId>> = Vec::new();
    for &root in order.iter().rev() {
        if comp[root] != usize::MAX {
            continue;
        }
        let c = comps.len();
        let mut members = vec![root];
        comp[root] = c;
        let mut k = 0;
        while k < members.len() {
            let v = members[k];
            k += 1;
            for &ei in &pred[v] {
                let w = edges[ei].from;
                if comp[w] == usize::MAX {
                    comp[w] = c;
                    members.push(w);
                }
            }
        }
        members.sort_unstable();
        comps.push(members);
    }
    let mut ok = true;
    let mut reported = vec![false; comps.len()];
    for e in &edges {
        if e.negative && comp[e.from] == comp[e.to] && !reported[comp[e.to]] {
            reported[comp[e.to]] = true;
            ok = false;
            diags.push(cycle_error(file, prog, &edges, &succ, &comp, *e));
        }
    }
    prog.strata = comps
        .into_iter()
        .map(|relations| {
            let c = comp[relations[0]];
            let rules: Vec<RuleId> = prog
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.time == Time::Now && comp[r.head] == c)
                .map(|(i, _)| i)
                .collect();
            let recursive = rules.iter().any(|&ri| {
                prog.rules[ri]
                    .body_relations()
                    .iter()
                    .any(|(rel, _, _)| comp[*rel] == c)
            });
            Stratum {
                relations,
                rules,
                recursive,
            }
        })
        .collect();
    prog.temporal_rules = (0..prog.rules.len())
        .filter(|&i| prog.rules[i].time != Time::Now)
        .collect();
    ok
}

/// An error for the non-monotonic edge `e` inside a cycle: finds the way back from `e.to` to
/// `e.from` and names every rule on it.
fn cycle_error(
    file: FileId,
    prog: &Program,
    edges: &[Edge],
    succ: &[Vec<usize>],
    comp: &[usize],
    e: Edge,
) -> Diagnostic {
    let c = comp[e.to];
    // BFS from e.to back to e.from within the component.
    let mut back: Vec<Option<usize>> = vec![None; prog.relations.len()];
    let mut queue = VecDeque::from([e.to]);
    let mut visited = vec![false; prog.relations.len()];
    visited[e.to] = true;
    while let Some(v) = queue.pop_front() {
        if v == e.from {
            break;
        }
        for &ei in &succ[v] {
            let w = edges[ei].to;
            if comp[w] == c && !visited[w] {
                visited[w] = true;
                back[w] = Some(ei);
                queue.push_back(w);
            }
        }
    }
    let mut path = vec![e];
    let mut v = e.from;
    while v != e.to {
        match back[v] {
            Some(ei) => {
                path.push(edges[ei]);
                v = edges[ei].from;
            }
            None => break,
        }
    }
    let name = |r: RelId| prog.relations[r].name.as_str();
    let mut cycle: Vec<&str> = vec![name(e.from), name(e.to)];
    for pe in path.iter().skip(1).rev() {
        cycle.push(name(pe.to));
    }
    let head_rule = &prog.rules[e.rule];
    let how = if prog.relations[e.from].lattice.is_some() {
        "negation, aggregation or a raw read of a lattice value"
    } else {
        "negation or aggregation"
    };
    let mut d = Diagnostic::error(format!(
        "`{}` depends on itself through {how} within a tick: {}",
        name(e.to),
        cycle.join(" -> ")
    ))
    .with_code(codes::UNSTRATIFIABLE)
    .with_primary(
        file,
        head_rule.span,
        format!(
            "`{}` is {} here",
            name(e.from),
            if prog.relations[e.from].lattice.is_some() {
                "negated, aggregated or its lattice value read raw"
            } else {
                "negated or aggregated"
            }
        ),
    );
    for pe in path.iter().skip(1) {
        let r = &prog.rules[pe.rule];
        d = d.with_secondary(
            file,
            r.span,
            format!("`{}` depends on `{}` here", name(pe.to), name(pe.from)),
        );
    }
    d.with_help(
        "break the cycle across time: derive one of these relations with `@next`, or restructure the rules so the negated relation is complete before it is read",
    )
}
