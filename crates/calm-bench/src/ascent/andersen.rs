//! Andersen-style points-to analysis (`programs/andersen.dl`) in Ascent.
//!
//! ```text
//! pointsTo(y, x) :- addressOf(y, x).
//! pointsTo(y, x) :- assign(y, z), pointsTo(z, x).
//! pointsTo(y, w) :- load(y, x), pointsTo(x, z), pointsTo(z, w).
//! pointsTo(z, w) :- store(y, x), pointsTo(y, z), pointsTo(x, w).
//! ```
//!
//! Ascent evaluates the three-way rules directly (one nested loop over indexed lookups per
//! semi-naive variant), with no intermediate relation.

use std::path::Path;

use anyhow::Result;
use ascent::ascent_run;

use super::Figure;
use crate::hand::andersen::Inputs;

/// Runs the workload on the facts in `dir`.
pub fn run(dir: &Path) -> Result<Vec<Figure>> {
    let inputs = Inputs::read(dir)?;
    Ok(vec![Figure::new("pointsTo", points_to(inputs).len())])
}

/// `pointsTo(y, x)` as `(y, x)` tuples.
pub fn points_to(inputs: Inputs) -> Vec<(u32, u32)> {
    let Inputs {
        address_of,
        assign,
        load,
        store,
    } = inputs;
    ascent_run! {
        relation address_of(u32, u32) = address_of;
        relation assign(u32, u32) = assign;
        relation load(u32, u32) = load;
        relation store(u32, u32) = store;
        relation points_to(u32, u32);
        points_to(y, x) <-- address_of(y, x);
        points_to(y, x) <-- assign(y, z), points_to(z, x);
        points_to(y, w) <-- load(y, x), points_to(x, z), points_to(z, w);
        points_to(z, w) <-- store(y, x), points_to(y, z), points_to(x, w);
    }
    .points_to
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hand::andersen::points_to as hand_points_to;

    fn inputs() -> Inputs {
        Inputs {
            address_of: vec![(0, 10), (1, 11), (2, 12), (10, 13), (11, 14)],
            assign: vec![(3, 0), (4, 3), (0, 4)],
            load: vec![(5, 3), (6, 1)],
            store: vec![(4, 1), (5, 2)],
        }
    }

    #[test]
    fn matches_the_datafrog_version() {
        let expected = hand_points_to(&inputs()).elements;
        let mut got = points_to(inputs());
        got.sort_unstable();
        assert!(expected.len() > 5);
        assert_eq!(got, expected);
    }
}
