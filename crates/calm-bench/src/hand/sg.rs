//! Same generation (`programs/sg.dl`).
//!
//! ```text
//! sg(x, y) :- edge(p, x), edge(p, y), x != y.
//! sg(x, y) :- edge(a, x), sg(a, b), edge(b, y).
//! ```

use std::path::Path;

use anyhow::Result;
use datafrog::{Iteration, Relation};

use super::Figure;
use crate::facts::read_pairs;

/// Runs the workload on `dir/edge.facts`.
pub fn run(dir: &Path) -> Result<Vec<Figure>> {
    let edges = read_pairs(&dir.join("edge.facts"))?;
    Ok(vec![Figure::new("sg", same_generation(edges).len())])
}

/// The `sg` relation as `(x, y)` tuples.
pub fn same_generation(edges: Vec<(u32, u32)>) -> Relation<(u32, u32)> {
    // edge(p, x), keyed by its source
    let edge: Relation<(u32, u32)> = edges.into();

    // sg(x, y) :- edge(p, x), edge(p, y), x != y.
    let mut siblings = Relation::from_join(&edge, &edge, |&_p, &x, &y| (x, y));
    siblings.elements.retain(|&(x, y)| x != y);

    let mut iteration = Iteration::new();
    // sg(a, b), keyed by a
    let sg = iteration.variable::<(u32, u32)>("sg");
    // edge(a, x), sg(a, b) as (b, x)
    let sg_step = iteration.variable::<(u32, u32)>("sg_step");
    sg.insert(siblings);

    while iteration.changed() {
        // sg(x, y) :- edge(a, x), sg(a, b), edge(b, y).
        sg_step.from_join(&sg, &edge, |&_a, &b, &x| (b, x));
        sg.from_join(&sg_step, &edge, |&_b, &x, &y| (x, y));
    }
    sg_step.complete();
    sg.complete()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_levels_of_a_tree() {
        // 0 -> {1, 2}; 1 -> 3; 2 -> {4, 5}
        let sg = same_generation(vec![(0, 1), (0, 2), (1, 3), (2, 4), (2, 5)]);
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
        assert_eq!(sg.elements, expected);
    }
}
