//! The benchmark workloads hand-written against datafrog.
//!
//! Each workload reads its `.facts` files, runs the computation with datafrog's
//! `Iteration`/`Variable`/`Relation` and returns the figures calm would print for the same
//! program (`.printsize` counts, and for `agg` the value of `max_reach`). Tuples are
//! `(u32, u32)`: this is meant to be the fastest reasonable baseline.

use std::fmt;
use std::path::Path;

use anyhow::{Result, bail};

pub mod agg;
pub mod andersen;
pub mod neg;
pub mod sg;
pub mod tc;

/// Workload names accepted by [`run`].
pub const WORKLOADS: &[&str] = &["tc", "sg", "agg", "neg", "andersen", "andersen-leap"];

/// One printed figure: a relation name and its size (or, for `max_reach`, its value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figure {
    /// Relation name.
    pub name: &'static str,
    /// Its size, or the aggregated value.
    pub value: u64,
}

impl Figure {
    /// A figure for `name`.
    pub fn new(name: &'static str, value: usize) -> Self {
        Figure {
            name,
            value: value as u64,
        }
    }
}

impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\t{}", self.name, self.value)
    }
}

/// Runs `workload` on the facts in `dir`.
pub fn run(workload: &str, dir: &Path) -> Result<Vec<Figure>> {
    match workload {
        "tc" => tc::run(dir),
        "sg" => sg::run(dir),
        "agg" => agg::run(dir),
        "neg" => neg::run(dir),
        "andersen" => andersen::run(dir),
        "andersen-leap" => andersen::run_leap(dir),
        _ => bail!(
            "unknown workload `{workload}` (expected one of: {})",
            WORKLOADS.join(", ")
        ),
    }
}
