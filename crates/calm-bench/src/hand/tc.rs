//! Transitive closure (`programs/tc.dl`).
//!
//! ```text
//! path(x, y) :- edge(x, y).
//! path(x, z) :- path(x, y), edge(y, z).
//! ```

use std::path::Path;

use anyhow::Result;
use datafrog::{Iteration, Relation};

use super::Figure;
use crate::facts::read_pairs;

/// Runs the workload on `dir/edge.facts`.
pub fn run(dir: &Path) -> Result<Vec<Figure>> {
    let edges = read_pairs(&dir.join("edge.facts"))?;
    let path = closure_by_target(edges);
    Ok(vec![Figure::new("path", path.len())])
}

/// The transitive closure of `edges`, as `(y, x)` tuples for each `path(x, y)`.
///
/// `path` is kept indexed by its second column, the join key of the recursive rule.
pub fn closure_by_target(edges: Vec<(u32, u32)>) -> Relation<(u32, u32)> {
    let edge: Relation<(u32, u32)> = edges.into();

    let mut iteration = Iteration::new();
    // path(x, y) as (y, x)
    let path_by_y = iteration.variable::<(u32, u32)>("path_by_y");
    path_by_y.extend(edge.iter().map(|&(x, y)| (y, x)));

    while iteration.changed() {
        // path(x, z) :- path(x, y), edge(y, z).
        path_by_y.from_join(&path_by_y, &edge, |&_y, &x, &z| (z, x));
    }
    path_by_y.complete()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_a_cycle_and_a_tail() {
        // 0 -> 1 -> 2 -> 0, 2 -> 3
        let path = closure_by_target(vec![(0, 1), (1, 2), (2, 0), (2, 3)]);
        // every one of 0, 1, 2 reaches 0, 1, 2, 3; 3 reaches nothing
        assert_eq!(path.len(), 12);
        assert!(path.contains(&(3, 0)));
        assert!(!path.iter().any(|&(_, x)| x == 3));
    }
}
