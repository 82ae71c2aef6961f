//! Support for the differential tests: a naive reference evaluator, a program generator, and the
//! glue that runs a program through the real engine and compares.

pub mod r#gen;
pub mod naive;

use calm_engine::{Engine, Program as Compiled, Value};
use naive::{Db, Outcome, Program, Rel};

/// Tick budget of the naive evaluator; generated programs need far fewer.
pub const MAX_TICKS: usize = 1000;

/// Compiles the program's text (as rendered by [`Program::render_boxed`] when `boxed`) with the
/// engine, inserts the facts, runs, and reads back every relation.
pub fn run_engine_as(prog: &Program, boxed: bool) -> Result<Db, String> {
    let text = if boxed {
        prog.render_boxed()
    } else {
        prog.render()
    };
    let compiled =
        Compiled::compile("differential.dl", &text).map_err(|e| format!("compile error:\n{e}"))?;
    let mut engine = Engine::new(&compiled);
    let mut by_rel: Vec<Vec<Vec<Value>>> = vec![Vec::new(); prog.arities.len()];
    for (rel, t) in &prog.inserted {
        by_rel[*rel].push(
            t.iter()
                .enumerate()
                .map(|(c, &x)| {
                    if prog.boxed(*rel, c, boxed) {
                        Value::Symbol(format!("[{x}]"))
                    } else {
                        Value::Number(x)
                    }
                })
                .collect(),
        );
    }
    for (rel, tuples) in by_rel.into_iter().enumerate() {
        if !tuples.is_empty() {
            engine
                .insert(&prog.names[rel], tuples)
                .map_err(|e| format!("insert into {}: {e}", prog.names[rel]))?;
        }
    }
    engine.run().map_err(|e| format!("run error: {e}"))?;
    let mut db = Db::new();
    for (r, name) in prog.names.iter().enumerate() {
        let rows = engine
            .relation(name)
            .map_err(|e| format!("reading {name}: {e}"))?;
        let mut rel = Rel::new();
        for row in rows {
            let t = row
                .iter()
                .enumerate()
                .map(|(c, v)| match v {
                    Value::Number(n) if !prog.boxed(r, c, boxed) => Ok(*n),
                    Value::Symbol(s) if prog.boxed(r, c, boxed) => s
                        .strip_prefix('[')
                        .and_then(|s| s.strip_suffix(']'))
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| format!("{name}: not a boxed number: {s:?}")),
                    other => Err(format!("{name}: unexpected value {other:?}")),
                })
                .collect::<Result<Vec<i64>, String>>()?;
            rel.insert(t);
        }
        db.push(rel);
    }
    Ok(db)
}

fn show(rel: &Rel) -> String {
    let rows: Vec<String> = rel
        .iter()
        .map(|t| {
            let xs: Vec<String> = t.iter().map(|x| x.to_string()).collect();
            format!("({})", xs.join(", "))
        })
        .collect();
    format!("{{{}}}", rows.join(" "))
}

/// What [`check`] found, when the engine did not disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checked {
    /// The engine and the naive evaluator agree on every relation.
    Agreed,
    /// The program is too expensive for the naive evaluator; nothing was compared.
    TooBig,
}

/// Runs the program through the naive evaluator and the engine; `Err` describes the difference
/// (with the program text and facts).
pub fn check(prog: &Program) -> Result<Checked, String> {
    check_as(prog, false)
}

/// [`check`], with the program's columns boxed in records when `boxed`
/// ([`Program::render_boxed`]).
pub fn check_as(prog: &Program, boxed: bool) -> Result<Checked, String> {
    let context = || {
        if boxed {
            format!("{prog:?}--- as run (boxed) ---\n{}", prog.render_boxed())
        } else {
            format!("{prog:?}")
        }
    };
    let expected = match naive::evaluate(prog, MAX_TICKS) {
        Outcome::Ok(db) => db,
        Outcome::TooBig => return Ok(Checked::TooBig),
        Outcome::TooManyTicks => {
            return Err(format!(
                "the naive evaluator did not reach quiescence in {MAX_TICKS} ticks (generator bug){}",
                context()
            ));
        }
    };
    let got = run_engine_as(prog, boxed).map_err(|e| format!("{e}{}", context()))?;
    let mut report = String::new();
    for (r, (want, have)) in expected.iter().zip(&got).enumerate() {
        if want != have {
            let missing: Rel = want.difference(have).cloned().collect();
            let extra: Rel = have.difference(want).cloned().collect();
            report += &format!(
                "relation {}: expected {}\n    engine gave {}\n    missing {}\n    extra {}\n",
                prog.names[r],
                show(want),
                show(have),
                show(&missing),
                show(&extra)
            );
        }
    }
    if report.is_empty() {
        Ok(Checked::Agreed)
    } else {
        Err(format!(
            "engine and naive evaluator disagree:\n{report}{}",
            context()
        ))
    }
}
