//! Transitive closure followed by `count` and `max` aggregates (`programs/agg.dl`) in Ascent.
//!
//! ```text
//! path(x, y) :- edge(x, y).
//! path(x, z) :- path(x, y), edge(y, z).
//! node(x) :- edge(x, _).
//! reach_count(x, n) :- node(x), n = count : { path(x, _) }.
//! max_reach(m) :- m = max n : { reach_count(_, n) }.
//! ```
//!
//! Both aggregates are Ascent `agg` clauses; Ascent stratifies them after the closure.

use std::path::Path;

use anyhow::Result;
use ascent::aggregators::{count, max};
use ascent::ascent_run;

use super::Figure;
use crate::facts::read_pairs;

/// Runs the workload on `dir/edge.facts`: prints the size of `reach_count` and the value of
/// `max_reach`.
pub fn run(dir: &Path) -> Result<Vec<Figure>> {
    let edges = read_pairs(&dir.join("edge.facts"))?;
    let (reach_count, max_reach) = reach_counts(edges);
    let mut figures = vec![Figure::new("reach_count", reach_count.len())];
    if let Some(max) = max_reach {
        figures.push(Figure::new("max_reach", max as usize));
    }
    Ok(figures)
}

/// The `reach_count` relation as `(x, n)` tuples, and the single value of `max_reach` (none
/// when `reach_count` is empty).
pub fn reach_counts(edges: Vec<(u32, u32)>) -> (Vec<(u32, u32)>, Option<u32>) {
    let result = ascent_run! {
        relation edge(u32, u32) = edges;
        relation path(u32, u32);
        path(x, y) <-- edge(x, y);
        path(x, z) <-- path(x, y), edge(y, z);
        relation node(u32);
        node(x) <-- edge(x, _y);
        relation reach_count(u32, u32);
        reach_count(x, n as u32) <-- node(x), agg n = count() in path(x, _);
        relation max_reach(u32);
        max_reach(m) <-- agg m = max(n) in reach_count(_, n);
    };
    let max_reach = result.max_reach.first().map(|&(m,)| m);
    (result.reach_count, max_reach)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_reachable_nodes() {
        // 0 -> 1 -> 2, 3 -> 0
        let (mut counts, max) = reach_counts(vec![(0, 1), (1, 2), (3, 0)]);
        counts.sort_unstable();
        // Ascent's `count` counts the empty group too: every node has at least one path here
        assert_eq!(counts, vec![(0, 2), (1, 1), (3, 3)]);
        assert_eq!(max, Some(3));
    }
}
