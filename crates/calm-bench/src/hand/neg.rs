//! Stratified negation (`programs/neg.dl`).
//!
//! ```text
//! node(x) :- edge(x, _).
//! node(y) :- edge(_, y).
//! reach(s, y) :- source(s), edge(s, y).
//! reach(s, z) :- reach(s, y), edge(y, z).
//! unreach(s, y) :- source(s), node(y), !reach(s, y).
//! ```

use std::path::Path;

use anyhow::Result;
use datafrog::{Iteration, Relation};

use super::Figure;
use crate::facts::{read_pairs, read_singles};

/// Runs the workload on `dir/edge.facts` and `dir/source.facts`.
pub fn run(dir: &Path) -> Result<Vec<Figure>> {
    let edges = read_pairs(&dir.join("edge.facts"))?;
    let sources = read_singles(&dir.join("source.facts"))?;
    Ok(vec![Figure::new(
        "unreach",
        unreachable(edges, sources).len(),
    )])
}

/// The `unreach` relation, as `(y, s)` tuples for each `unreach(s, y)`.
pub fn unreachable(edges: Vec<(u32, u32)>, sources: Vec<u32>) -> Relation<(u32, u32)> {
    let edge: Relation<(u32, u32)> = edges.into();
    let source: Relation<(u32, ())> = sources.into_iter().map(|s| (s, ())).collect();
    let node: Relation<u32> = edge.iter().flat_map(|&(x, y)| [x, y]).collect();

    let mut iteration = Iteration::new();
    // reach(s, y) as (y, s)
    let reach_by_y = iteration.variable::<(u32, u32)>("reach_by_y");
    // reach(s, y) :- source(s), edge(s, y).
    reach_by_y.insert(Relation::from_join(&source, &edge, |&s, &(), &y| (y, s)));

    while iteration.changed() {
        // reach(s, z) :- reach(s, y), edge(y, z).
        reach_by_y.from_join(&reach_by_y, &edge, |&_y, &s, &z| (z, s));
    }
    let reach_by_y = reach_by_y.complete();

    // source(s), node(y), built directly in (y, s) order
    let candidates: Relation<((u32, u32), ())> = Relation::from_vec(
        node.iter()
            .flat_map(|&y| source.iter().map(move |&(s, ())| ((y, s), ())))
            .collect(),
    );

    // unreach(s, y) :- source(s), node(y), !reach(s, y).
    //
    // `Relation::from_antijoin` always returns an empty relation in datafrog 2.0.1 (it only
    // looks at a relation's "recent" tuples, which a relation has none of; fixed upstream
    // after 2.0.1), so the antijoin runs as `Variable::from_antijoin` in a one-round
    // iteration.
    let mut iteration = Iteration::new();
    let candidates_var = iteration.variable::<((u32, u32), ())>("candidates");
    let unreach = iteration.variable::<(u32, u32)>("unreach");
    candidates_var.insert(candidates);
    while iteration.changed() {
        unreach.from_antijoin(&candidates_var, &reach_by_y, |&key, &()| key);
    }
    candidates_var.complete();
    unreach.complete()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_pairs() {
        // 0 -> 1 -> 2, 3 -> 0; sources 0 and 3
        let unreach = unreachable(vec![(0, 1), (1, 2), (3, 0)], vec![0, 3]);
        // 0 reaches 1, 2 (not 0 or 3); 3 reaches 0, 1, 2 (not 3)
        assert_eq!(unreach.elements, vec![(0, 0), (3, 0), (3, 3)]);
    }

    /// Documents why [`unreachable`] does not use `Relation::from_antijoin`: with datafrog
    /// 2.0.1 it drops every tuple. If this fails, datafrog was upgraded past the bug.
    #[test]
    fn relation_from_antijoin_is_empty_in_datafrog_2_0_1() {
        let input: Relation<(u32, u32)> = vec![(1, 10), (2, 20)].into();
        let remove: Relation<u32> = vec![2].into();
        let result = Relation::from_antijoin(&input, &remove, |&k, &v| (k, v));
        assert!(result.is_empty());
    }
}
