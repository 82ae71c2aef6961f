//! The benchmark workloads written in [Ascent](https://docs.rs/ascent/0.8.1).
//!
//! Each workload reads the same `.facts` files as [`crate::hand`], states the rules of the
//! shared program in an `ascent_run!` block (same rules, same clause order, `u32` columns;
//! Ascent picks the indices and does the semi-naive evaluation) and returns the figures calm
//! would print. Ascent is built without its `par` feature: this is the single-threaded
//! `ascent_run!`, as calm and datafrog are single-threaded.

use std::path::Path;

use anyhow::{Result, bail};

pub use crate::hand::Figure;

pub mod agg;
pub mod andersen;
pub mod neg;
pub mod paths;
pub mod sg;
pub mod tc;

/// Workload names accepted by [`run`].
pub const WORKLOADS: &[&str] = &["tc", "sg", "agg", "neg", "andersen", "sssp", "apsp"];

/// Runs `workload` on the facts in `dir`.
pub fn run(workload: &str, dir: &Path) -> Result<Vec<Figure>> {
    match workload {
        "tc" => tc::run(dir),
        "sg" => sg::run(dir),
        "agg" => agg::run(dir),
        "neg" => neg::run(dir),
        "andersen" => andersen::run(dir),
        "sssp" => paths::run_sssp(dir),
        "apsp" => paths::run_apsp(dir),
        _ => bail!(
            "unknown workload `{workload}` (expected one of: {})",
            WORKLOADS.join(", ")
        ),
    }
}

/// One-column rows as the one-element tuples of an Ascent unary relation.
fn singles(rows: Vec<u32>) -> Vec<(u32,)> {
    rows.into_iter().map(|x| (x,)).collect()
}
