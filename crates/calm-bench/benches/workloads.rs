//! `cargo bench -p calm-bench`: runs the `calm-bench` driver.
//!
//! Cargo builds `datafrog-hand` and `ascent-hand` for this target but not `calm`; build that
//! first with `cargo build --release -p calm-cli`, or its rows are reported as errors.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if args
        .get(1)
        .is_some_and(|a| a == calm_bench::driver::measure::MEASURE_ARG)
    {
        return calm_bench::driver::main_with_args(args);
    }
    // libtest's flag, which a harness-less bench receives
    args.retain(|a| a != "--bench");
    if !args.iter().any(|a| a == "--bin-dir") {
        let hand = Path::new(env!("CARGO_BIN_EXE_datafrog-hand"));
        if let Some(dir) = hand.parent() {
            args.push("--bin-dir".into());
            args.push(dir.into());
        }
    }
    eprintln!(
        "calm-bench: running the driver; `calm` must be built already \
         (cargo build --release -p calm-cli). Same as: cargo run --release -p calm-bench"
    );
    calm_bench::driver::main_with_args(args)
}
