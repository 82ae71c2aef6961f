//! `calm explain`: a lint's documentation (what it finds, why it matters under CALM, an example,
//! the remedies), or the list of lints.

use calm_analyzer::lints;
use std::process::ExitCode;

/// Arguments of `calm explain`.
#[derive(clap::Args)]
pub struct ExplainArgs {
    /// A lint code (`CALM001`) or name (`non-monotonic-negation`); without one, lists the lints.
    #[arg(value_name = "CODE")]
    code: Option<String>,
}

fn list() -> String {
    let mut out = String::new();
    for l in lints::ALL {
        out.push_str(&format!(
            "{} {:<28} {} [{}]\n",
            l.code,
            l.name,
            l.summary,
            l.default_str()
        ));
    }
    out
}

pub fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let Some(code) = args.code else {
        print!("{}", list());
        return Ok(ExitCode::SUCCESS);
    };
    match lints::find(&code) {
        Some(l) => {
            print!("{}", l.doc());
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprint!("error: no lint `{code}`; the lints are:\n{}", list());
            Ok(ExitCode::from(2))
        }
    }
}
