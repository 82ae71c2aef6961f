//! Embedding the calm engine as a library: parse a program, add facts, run, read a relation.
//!
//! Run it with `cargo run -p calm-engine --example embed`.

use calm_engine::{Engine, Program, Value};

/// The program: who can reach whom, and who cannot be reached from `"a"`.
const SOURCE: &str = r#"
    .decl link(from: symbol, to: symbol)
    .decl reach(from: symbol, to: symbol)
    reach(x, y) :- link(x, y).
    reach(x, z) :- reach(x, y), link(y, z).

    .decl node(n: symbol)
    node(x) :- link(x, _).
    node(y) :- link(_, y).

    .decl unreachable_from_a(n: symbol)
    unreachable_from_a(n) :- node(n), !reach("a", n), n != "a".
"#;

/// Runs the example and returns the nodes not reachable from `"a"`.
pub fn run() -> Result<Vec<String>, Box<dyn std::error::Error>> {
    // Compiling parses, checks, stratifies and plans the program once.
    let program = Program::compile("example.dl", SOURCE)?;
    let mut engine = Engine::new(&program);
    let sym = |s: &str| Value::Symbol(s.to_string());
    engine.insert(
        "link",
        vec![
            vec![sym("a"), sym("b")],
            vec![sym("b"), sym("c")],
            vec![sym("d"), sym("a")],
        ],
    )?;
    engine.run()?;
    let rows = engine.relation("unreachable_from_a")?;
    Ok(rows.into_iter().map(|row| row[0].to_string()).collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for name in run()? {
        println!("{name}");
    }
    Ok(())
}
