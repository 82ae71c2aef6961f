//! Benchmark harness for calm.
//!
//! Three parts:
//!
//! * [`hand`]: the benchmark workloads written by hand against datafrog, the way Polonius
//!   writes its computations. They are the baseline that calm is compared with, and they are
//!   run through the `datafrog-hand` binary.
//! * [`ascent`](mod@ascent): the same workloads in Ascent's `ascent_run!`, the second
//!   baseline, run through the `ascent-hand` binary.
//! * [`driver`]: the `calm-bench` driver, which generates the input data, runs every engine
//!   as a child process, measures wall time and peak memory, checks the printed result counts
//!   and prints a markdown table.

pub mod ascent;
pub mod driver;
pub mod facts;
pub mod hand;
