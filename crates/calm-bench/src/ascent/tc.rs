//! Transitive closure (`programs/tc.dl`) in Ascent.
//!
//! ```text
//! path(x, y) :- edge(x, y).
//! path(x, z) :- path(x, y), edge(y, z).
//! ```

use std::path::Path;

use anyhow::Result;
use ascent::ascent_run;

use super::Figure;
use crate::facts::read_pairs;

/// Runs the workload on `dir/edge.facts`.
pub fn run(dir: &Path) -> Result<Vec<Figure>> {
    let edges = read_pairs(&dir.join("edge.facts"))?;
    Ok(vec![Figure::new("path", closure(edges).len())])
}

/// The `path` relation as `(x, y)` tuples.
pub fn closure(edges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ascent_run! {
        relation edge(u32, u32) = edges;
        relation path(u32, u32);
        path(x, y) <-- edge(x, y);
        path(x, z) <-- path(x, y), edge(y, z);
    }
    .path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_a_cycle_and_a_tail() {
        // 0 -> 1 -> 2 -> 0, 2 -> 3
        let mut path = closure(vec![(0, 1), (1, 2), (2, 0), (2, 3)]);
        path.sort_unstable();
        // every one of 0, 1, 2 reaches 0, 1, 2, 3; 3 reaches nothing
        assert_eq!(path.len(), 12);
        assert!(path.contains(&(0, 3)));
        assert!(!path.iter().any(|&(x, _)| x == 3));
    }
}
