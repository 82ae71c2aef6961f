//! Shortest paths with a `min` lattice (`crates/calm-bench/programs/sssp.dl`, `apsp.dl`) in
//! Ascent, with its `lattice` declaration over `Dual<u32>` (the smaller length is the larger
//! lattice value).
//!
//! ```text
//! w(a, b, 1 + (7 * a + 13 * b) % 100) :- edge(a, b).
//! dist(0, 0).
//! dist(y, d + c) :- dist(x, d), w(x, y, c).            // sssp: dist(x: number, d: min)
//! sp(x, y, c) :- w(x, y, c).
//! sp(x, z, d + c) :- sp(x, y, d), w(y, z, c).           // apsp: sp(x, y, d: min)
//! ```
//!
//! Edges have no weight in the shared data set; the weight of edge `(a, b)` is computed from
//! its two ids, the same way in every engine.

use std::path::Path;

use anyhow::Result;
use ascent::Dual;
use ascent::ascent_run;

use super::Figure;
use crate::facts::read_pairs;

/// The weight of edge `(a, b)`: `1 + (7a + 13b) mod 100`.
pub fn weight(a: u32, b: u32) -> u32 {
    1 + (7 * a + 13 * b) % 100
}

fn weighted(edges: Vec<(u32, u32)>) -> Vec<(u32, u32, u32)> {
    edges
        .into_iter()
        .map(|(a, b)| (a, b, weight(a, b)))
        .collect()
}

/// Runs single-source shortest paths from node 0 on `dir/edge.facts`: the size of `dist` and
/// the sum of its lengths (a check that the values, not only the keys, agree).
pub fn run_sssp(dir: &Path) -> Result<Vec<Figure>> {
    let dist = sssp(read_pairs(&dir.join("edge.facts"))?);
    let total: u64 = dist.iter().map(|&(_, d)| u64::from(d)).sum();
    Ok(vec![
        Figure::new("dist", dist.len()),
        Figure::new("dist_total", total as usize),
    ])
}

/// Runs all-pairs shortest paths on `dir/edge.facts`: the size of `sp` and the sum of its
/// lengths.
pub fn run_apsp(dir: &Path) -> Result<Vec<Figure>> {
    let sp = apsp(read_pairs(&dir.join("edge.facts"))?);
    let total: u64 = sp.iter().map(|&(_, _, d)| u64::from(d)).sum();
    Ok(vec![
        Figure::new("sp", sp.len()),
        Figure::new("sp_total", total as usize),
    ])
}

/// Shortest distances from node 0: `(node, length)`.
pub fn sssp(edges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    let w = weighted(edges);
    ascent_run! {
        relation w(u32, u32, u32) = w;
        lattice dist(u32, Dual<u32>);
        dist(0, Dual(0));
        dist(y, Dual(d + c)) <-- dist(x, ?Dual(d)), w(x, y, c);
    }
    .dist
    .into_iter()
    .map(|(x, Dual(d))| (x, d))
    .collect()
}

/// Shortest distances between every two nodes: `(from, to, length)`.
pub fn apsp(edges: Vec<(u32, u32)>) -> Vec<(u32, u32, u32)> {
    let w = weighted(edges);
    ascent_run! {
        relation w(u32, u32, u32) = w;
        lattice sp(u32, u32, Dual<u32>);
        sp(x, y, Dual(*c)) <-- w(x, y, c);
        sp(x, z, Dual(d + c)) <-- sp(x, y, ?Dual(d)), w(y, z, c);
    }
    .sp
    .into_iter()
    .map(|(x, y, Dual(d))| (x, y, d))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_paths_take_the_cheaper_route() {
        // weight(0, 1) = 14, weight(1, 2) = 34, weight(0, 2) = 27, weight(2, 0) = 15
        assert_eq!(
            (weight(0, 1), weight(1, 2), weight(0, 2), weight(2, 0)),
            (14, 34, 27, 15)
        );
        let edges = vec![(0, 1), (1, 2), (0, 2), (2, 0)];
        let mut dist = sssp(edges.clone());
        dist.sort_unstable();
        assert_eq!(dist, vec![(0, 0), (1, 14), (2, 27)]);
        let mut sp = apsp(edges);
        sp.sort_unstable();
        // 1 -> 2 -> 0 -> 1 = 34 + 15 + 14; 2 -> 0 -> 2 = 15 + 27
        assert!(sp.contains(&(1, 1, 63)));
        assert!(sp.contains(&(2, 2, 42)));
        assert!(sp.contains(&(1, 0, 49)));
        assert_eq!(sp.len(), 9);
    }
}
