//! Andersen-style points-to analysis (`programs/andersen.dl`).
//!
//! ```text
//! pointsTo(y, x) :- addressOf(y, x).
//! pointsTo(y, x) :- assign(y, z), pointsTo(z, x).
//! pointsTo(y, w) :- load(y, x), pointsTo(x, z), pointsTo(z, w).
//! pointsTo(z, w) :- store(y, x), pointsTo(y, z), pointsTo(x, w).
//! ```
//!
//! Two versions: [`points_to`] uses binary joins only, with an intermediate variable for each
//! three-way rule, the way Polonius writes such rules; [`points_to_leap`] does the joins of
//! `pointsTo` with a static relation as leapjoins (the joins of `pointsTo` with itself stay
//! binary joins: leapers can only be static relations).

use std::path::Path;

use anyhow::Result;
use datafrog::{Iteration, Relation, RelationLeaper};

use super::Figure;
use crate::facts::read_pairs;

/// The four input relations.
pub struct Inputs {
    /// `addressOf(y, x)`.
    pub address_of: Vec<(u32, u32)>,
    /// `assign(y, x)`.
    pub assign: Vec<(u32, u32)>,
    /// `load(y, x)`.
    pub load: Vec<(u32, u32)>,
    /// `store(y, x)`.
    pub store: Vec<(u32, u32)>,
}

impl Inputs {
    /// Reads `addressOf.facts`, `assign.facts`, `load.facts` and `store.facts` from `dir`.
    pub fn read(dir: &Path) -> Result<Self> {
        Ok(Inputs {
            address_of: read_pairs(&dir.join("addressOf.facts"))?,
            assign: read_pairs(&dir.join("assign.facts"))?,
            load: read_pairs(&dir.join("load.facts"))?,
            store: read_pairs(&dir.join("store.facts"))?,
        })
    }
}

/// Runs the binary-join version on the facts in `dir`.
pub fn run(dir: &Path) -> Result<Vec<Figure>> {
    let inputs = Inputs::read(dir)?;
    Ok(vec![Figure::new("pointsTo", points_to(&inputs).len())])
}

/// Runs the leapjoin version on the facts in `dir`.
pub fn run_leap(dir: &Path) -> Result<Vec<Figure>> {
    let inputs = Inputs::read(dir)?;
    Ok(vec![Figure::new("pointsTo", points_to_leap(&inputs).len())])
}

/// Static relations indexed by the column each rule joins on.
struct Indexed {
    /// `assign(y, z)` as `(z, y)`.
    assign_by_z: Relation<(u32, u32)>,
    /// `load(y, x)` as `(x, y)`.
    load_by_x: Relation<(u32, u32)>,
    /// `store(y, x)`, already keyed by `y`.
    store_by_y: Relation<(u32, u32)>,
}

impl Indexed {
    fn new(inputs: &Inputs) -> Self {
        Indexed {
            assign_by_z: inputs.assign.iter().map(|&(y, z)| (z, y)).collect(),
            load_by_x: inputs.load.iter().map(|&(y, x)| (x, y)).collect(),
            store_by_y: inputs.store.iter().copied().collect(),
        }
    }
}

/// `pointsTo(y, x)` as `(y, x)` tuples, with binary joins only.
pub fn points_to(inputs: &Inputs) -> Relation<(u32, u32)> {
    let Indexed {
        assign_by_z,
        load_by_x,
        store_by_y,
    } = Indexed::new(inputs);

    let mut iteration = Iteration::new();
    // pointsTo(a, b), keyed by a
    let points_to = iteration.variable::<(u32, u32)>("pointsTo");
    // load(y, x), pointsTo(x, z) as (z, y)
    let load_step = iteration.variable::<(u32, u32)>("load_step");
    // store(y, x), pointsTo(y, z) as (x, z)
    let store_step = iteration.variable::<(u32, u32)>("store_step");

    // pointsTo(y, x) :- addressOf(y, x).
    points_to.extend(inputs.address_of.iter().copied());

    while iteration.changed() {
        // pointsTo(y, x) :- assign(y, z), pointsTo(z, x).
        points_to.from_join(&points_to, &assign_by_z, |&_z, &x, &y| (y, x));

        // pointsTo(y, w) :- load(y, x), pointsTo(x, z), pointsTo(z, w).
        load_step.from_join(&points_to, &load_by_x, |&_x, &z, &y| (z, y));
        points_to.from_join(&load_step, &points_to, |&_z, &y, &w| (y, w));

        // pointsTo(z, w) :- store(y, x), pointsTo(y, z), pointsTo(x, w).
        store_step.from_join(&points_to, &store_by_y, |&_y, &z, &x| (x, z));
        points_to.from_join(&store_step, &points_to, |&_x, &z, &w| (z, w));
    }
    load_step.complete();
    store_step.complete();
    points_to.complete()
}

/// `pointsTo(y, x)` as `(y, x)` tuples, with leapjoins for the joins with static relations.
pub fn points_to_leap(inputs: &Inputs) -> Relation<(u32, u32)> {
    let Indexed {
        assign_by_z,
        load_by_x,
        store_by_y,
    } = Indexed::new(inputs);

    let mut iteration = Iteration::new();
    let points_to = iteration.variable::<(u32, u32)>("pointsTo");
    let load_step = iteration.variable::<(u32, u32)>("load_step");
    let store_step = iteration.variable::<(u32, u32)>("store_step");

    points_to.extend(inputs.address_of.iter().copied());

    while iteration.changed() {
        // pointsTo(y, x) :- assign(y, z), pointsTo(z, x).
        points_to.from_leapjoin(
            &points_to,
            assign_by_z.extend_with(|&(z, _x)| z),
            |&(_z, x), &y| (y, x),
        );

        // pointsTo(y, w) :- load(y, x), pointsTo(x, z), pointsTo(z, w).
        load_step.from_leapjoin(
            &points_to,
            load_by_x.extend_with(|&(x, _z)| x),
            |&(_x, z), &y| (z, y),
        );
        points_to.from_join(&load_step, &points_to, |&_z, &y, &w| (y, w));

        // pointsTo(z, w) :- store(y, x), pointsTo(y, z), pointsTo(x, w).
        store_step.from_leapjoin(
            &points_to,
            store_by_y.extend_with(|&(y, _z)| y),
            |&(_y, z), &x| (x, z),
        );
        points_to.from_join(&store_step, &points_to, |&_x, &z, &w| (z, w));
    }
    load_step.complete();
    store_step.complete();
    points_to.complete()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A naive fixpoint over the four rules, to compare the datafrog versions with.
    fn naive(inputs: &Inputs) -> Vec<(u32, u32)> {
        use std::collections::BTreeSet;
        let mut pt: BTreeSet<(u32, u32)> = inputs.address_of.iter().copied().collect();
        loop {
            let mut new = pt.clone();
            for &(y, z) in &inputs.assign {
                new.extend(pt.iter().filter(|p| p.0 == z).map(|&(_, x)| (y, x)));
            }
            for &(y, x) in &inputs.load {
                for &(_, z) in pt.iter().filter(|p| p.0 == x) {
                    new.extend(pt.iter().filter(|p| p.0 == z).map(|&(_, w)| (y, w)));
                }
            }
            for &(y, x) in &inputs.store {
                for &(_, z) in pt.iter().filter(|p| p.0 == y) {
                    new.extend(pt.iter().filter(|p| p.0 == x).map(|&(_, w)| (z, w)));
                }
            }
            if new.len() == pt.len() {
                return pt.into_iter().collect();
            }
            pt = new;
        }
    }

    #[test]
    fn both_versions_match_a_naive_fixpoint() {
        let inputs = Inputs {
            address_of: vec![(0, 10), (1, 11), (2, 12), (10, 13), (11, 14)],
            assign: vec![(3, 0), (4, 3), (0, 4)],
            load: vec![(5, 3), (6, 1)],
            store: vec![(4, 1), (5, 2)],
        };
        let expected = naive(&inputs);
        assert!(expected.len() > inputs.address_of.len());
        assert_eq!(points_to(&inputs).elements, expected);
        assert_eq!(points_to_leap(&inputs).elements, expected);
    }
}
