//! Benchmark harness for calm.
//!
//! Two halves:
//!
//! * [`hand`]: the benchmark workloads written by hand against datafrog, the way Polonius
//!   writes its computations. They are the baseline that calm is compared with, and they are
//!   run through the `datafrog-hand` binary.
//! * [`driver`]: the `calm-bench` driver, which generates the input data, runs every engine
//!   as a child process, measures wall time and peak memory, checks the printed result counts
//!   and prints a markdown table.

pub mod driver;
pub mod facts;
pub mod hand;
