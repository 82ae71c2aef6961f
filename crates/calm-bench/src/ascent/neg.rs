//! Stratified negation (`programs/neg.dl`) in Ascent.
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
use ascent::ascent_run;

use super::{Figure, singles};
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

/// The `unreach` relation as `(s, y)` tuples.
pub fn unreachable(edges: Vec<(u32, u32)>, sources: Vec<u32>) -> Vec<(u32, u32)> {
    let sources = singles(sources);
    ascent_run! {
        relation edge(u32, u32) = edges;
        relation source(u32) = sources;
        relation node(u32);
        node(x) <-- edge(x, _y);
        node(y) <-- edge(_x, y);
        relation reach(u32, u32);
        reach(s, y) <-- source(s), edge(s, y);
        reach(s, z) <-- reach(s, y), edge(y, z);
        relation unreach(u32, u32);
        unreach(s, y) <-- source(s), node(y), !reach(s, y);
    }
    .unreach
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_pairs() {
        // 0 -> 1 -> 2, 3 -> 0; sources 0 and 3
        let mut unreach = unreachable(vec![(0, 1), (1, 2), (3, 0)], vec![0, 3]);
        unreach.sort_unstable();
        // 0 reaches 1, 2 (not 0 or 3); 3 reaches 0, 1, 2 (not 3)
        assert_eq!(unreach, vec![(0, 0), (0, 3), (3, 3)]);
    }
}
