//! `calm-bench`: runs the benchmark workloads with calm and the hand-written datafrog
//! baselines, and prints a markdown table. See the crate README.

use std::process::ExitCode;

fn main() -> ExitCode {
    calm_bench::driver::main_with_args(std::env::args_os().collect())
}
