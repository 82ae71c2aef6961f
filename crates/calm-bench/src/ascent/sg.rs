//! Same generation (`programs/sg.dl`) in Ascent.
//!
//! ```text
//! sg(x, y) :- edge(p, x), edge(p, y), x != y.
//! sg(x, y) :- edge(a, x), sg(a, b), edge(b, y).
//! ```

use std::path::Path;

use anyhow::Result;
use ascent::ascent_run;

use super::Figure;
use crate::facts::read_pairs;

/// Runs the workload on `dir/edge.facts`.
pub fn run(dir: &Path) -> Result<Vec<Figure>> {
    let edges = read_pairs(&dir.join("edge.facts"))?;
    Ok(vec![Figure::new("sg", same_generation(edges).len())])
}

/// The `sg` relation as `(x, y)` tuples.
pub fn same_generation(edges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ascent_run! {
        relation edge(u32, u32) = edges;
        relation sg(u32, u32);
        sg(x, y) <-- edge(p, x), edge(p, y), if x != y;
        sg(x, y) <-- edge(a, x), sg(a, b), edge(b, y);
    }
    .sg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_levels_of_a_tree() {
        // 0 -> {1, 2}; 1 -> 3; 2 -> {4, 5}
        let mut sg = same_generation(vec![(0, 1), (0, 2), (1, 3), (2, 4), (2, 5)]);
        sg.sort_unstable();
        let expected = vec![
            (1, 2),
            (2, 1),
            (3, 4),
            (3, 5),
            (4, 3),
            (4, 5),
            (5, 3),
            (5, 4),
        ];
        assert_eq!(sg, expected);
    }
}
