//! `ascent-hand WORKLOAD FACT_DIR`: runs one benchmark workload written in Ascent and prints
//! its result figures as `name\tvalue` lines, like calm's `.printsize`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use calm_bench::ascent as workloads;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [workload, dir] = args.as_slice() else {
        eprintln!(
            "usage: ascent-hand WORKLOAD FACT_DIR\n  WORKLOAD: {}",
            workloads::WORKLOADS.join(", ")
        );
        return ExitCode::from(2);
    };
    let start = Instant::now();
    match workloads::run(workload, &PathBuf::from(dir)) {
        Ok(figures) => {
            for figure in figures {
                println!("{figure}");
            }
            eprintln!(
                "ascent-hand {workload}: {:.3}s in process",
                start.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("ascent-hand: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
