//! Transitive closure followed by `count` and `max` aggregates (`programs/agg.dl`).
//!
//! ```text
//! path(x, y) :- edge(x, y).
//! path(x, z) :- path(x, y), edge(y, z).
//! node(x) :- edge(x, _).
//! reach_count(x, n) :- node(x), n = count : { path(x, _) }.
//! max_reach(m) :- m = max n : { reach_count(_, n) }.
//! ```
//!
//! datafrog has no aggregates; like Polonius would, the counts are a plain loop over the
//! completed relation.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;
use datafrog::Relation;

use super::Figure;
use super::tc::closure_by_target;
use crate::facts::read_pairs;

/// Node ids up to this bound are counted in a dense vector, larger ones in a hash map.
const DENSE_LIMIT: u32 = 1 << 24;

/// Runs the workload on `dir/edge.facts`: prints the size of `reach_count` and the value of
/// `max_reach`.
pub fn run(dir: &Path) -> Result<Vec<Figure>> {
    let edges = read_pairs(&dir.join("edge.facts"))?;
    let reach_count = reach_counts(edges);
    let mut figures = vec![Figure::new("reach_count", reach_count.len())];
    if let Some(max) = reach_count.iter().map(|&(_, n)| n).max() {
        figures.push(Figure::new("max_reach", max as usize));
    }
    Ok(figures)
}

/// The `reach_count` relation as `(x, n)` tuples.
pub fn reach_counts(edges: Vec<(u32, u32)>) -> Relation<(u32, u32)> {
    // node(x) :- edge(x, _).
    let node: Relation<u32> = edges.iter().map(|&(x, _)| x).collect();
    let path_by_y = closure_by_target(edges);

    // n = count : { path(x, _) }, for every node x (every node has at least one path)
    let max_node = node.last().copied().unwrap_or(0);
    if max_node < DENSE_LIMIT {
        let mut counts = vec![0u32; max_node as usize + 1];
        for &(_, x) in path_by_y.iter() {
            counts[x as usize] += 1;
        }
        Relation::from_map(&node, |&x| (x, counts[x as usize]))
    } else {
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for &(_, x) in path_by_y.iter() {
            *counts.entry(x).or_default() += 1;
        }
        Relation::from_map(&node, |x| (*x, counts.get(x).copied().unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_reachable_nodes() {
        // 0 -> 1 -> 2, 3 -> 0
        let counts = reach_counts(vec![(0, 1), (1, 2), (3, 0)]);
        assert_eq!(counts.elements, vec![(0, 2), (1, 1), (3, 3)]);
    }
}
