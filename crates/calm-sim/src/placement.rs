//! Which node holds which input fact.
//!
//! Input facts are read from a directory exactly as `calm run -F DIR` reads them (the program's
//! `.input` relations, Souffle's format). Each fact then goes to one or more nodes: by a
//! placement file, or else spread over the nodes by a seeded rule (the *placement seed*, the
//! same for every schedule, so that every schedule runs the same placement).
//!
//! A placement file has one rule per line, columns separated by tabs; empty lines and lines
//! starting with `#` are skipped:
//!
//! ```text
//! # NODES   RELATION   [VALUE ...]
//! *         root                    every root fact on every node
//! n1        ref                     every ref fact on n1
//! n2,n3     object     b            the fact object("b") on n2 and n3
//! ```
//!
//! `NODES` is a node name (`n1` .. `nN`), a comma-separated list of them, or `*` for all. A line
//! with values places that one fact (which must be among the input facts); a line without places
//! every fact of the relation that no fact line places. Facts no line places are spread.

use crate::rng::Rng;
use calm_engine::{Engine, EngineError, Program, Value, io};
use calm_ir::Type;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

/// Input facts by relation, each relation's tuples sorted and without duplicates.
pub type Facts = BTreeMap<String, Vec<Vec<Value>>>;

/// The random stream the default spread draws from.
const SPREAD_STREAM: u64 = 0x5eed_91ac;

/// Reads the `.input` relations' fact files from `dir`, as `calm run -F DIR` does.
pub fn read_facts(program: &Program, dir: &Path) -> Result<Facts, EngineError> {
    // First with the program itself, for its diagnostics (they point at its `.input` lines).
    io::load_inputs(&mut Engine::new(program), dir)?;
    // Then with a program holding only the input relations, to read the tuples back: one tick
    // of it holds exactly the facts read.
    let mut text = String::new();
    let mut names = Vec::new();
    for rel in &program.ir().relations {
        let files: Vec<_> = rel
            .inputs
            .iter()
            .filter(|s| s.params.get("io").is_none_or(|k| k == "file"))
            .collect();
        if files.is_empty() {
            continue;
        }
        let cols: Vec<String> = rel
            .types
            .iter()
            .enumerate()
            .map(|(i, t)| format!("c{i}: {}", t.as_str()))
            .collect();
        text.push_str(&format!(".decl {}({})\n", rel.name, cols.join(", ")));
        for spec in files {
            let params: Vec<String> = ["filename", "delimiter"]
                .iter()
                .filter_map(|k| spec.params.get(*k).map(|v| format!("{k}={}", quote(v))))
                .collect();
            if params.is_empty() {
                text.push_str(&format!(".input {}\n", rel.name));
            } else {
                text.push_str(&format!(".input {}({})\n", rel.name, params.join(", ")));
            }
        }
        names.push(rel.name.clone());
    }
    let mut facts = Facts::new();
    if names.is_empty() {
        return Ok(facts);
    }
    let loader = Program::compile("<inputs>", &text).map_err(|e| {
        EngineError::Data(Box::new(calm_syntax::Diagnostic::error(format!(
            "cannot read the input relations back: {e}"
        ))))
    })?;
    let mut engine = Engine::new(&loader);
    io::load_inputs(&mut engine, dir)?;
    engine.tick(&[])?;
    for name in names {
        facts.insert(name.clone(), engine.relation(&name)?);
    }
    Ok(facts)
}

/// A string literal in calm syntax.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A problem in a placement file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for PlacementError {}

/// The input facts of each node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// Per node, in the order of the node names.
    pub nodes: Vec<Facts>,
    /// How many facts were spread by the seed (placed by no line of a placement file).
    pub spread: usize,
}

impl Placement {
    /// Places `facts` on the nodes `names`: by the placement file's text, if any, and the rest
    /// spread by `seed`.
    pub fn new(
        program: &Program,
        names: &[String],
        facts: &Facts,
        file: Option<&str>,
        seed: u64,
    ) -> Result<Placement, PlacementError> {
        let rules = match file {
            Some(text) => parse(program, names, facts, text)?,
            None => Rules::default(),
        };
        let mut nodes = vec![Facts::new(); names.len()];
        let mut rng = Rng::new(seed, SPREAD_STREAM);
        let mut spread = 0;
        for (rel, tuples) in facts {
            for t in tuples {
                // Drawn for every fact, so that a new placement line does not move others.
                let drawn = rng.index(names.len().max(1));
                let key = (rel.clone(), t.clone());
                let to: Vec<usize> = if let Some(set) = rules.facts.get(&key) {
                    set.iter().copied().collect()
                } else if let Some(set) = rules.relations.get(rel) {
                    set.iter().copied().collect()
                } else {
                    spread += 1;
                    vec![drawn]
                };
                for n in to {
                    nodes[n].entry(rel.clone()).or_default().push(t.clone());
                }
            }
        }
        Ok(Placement { nodes, spread })
    }

    /// Facts per node.
    pub fn counts(&self) -> Vec<usize> {
        self.nodes
            .iter()
            .map(|f| f.values().map(Vec::len).sum())
            .collect()
    }
}

#[derive(Default)]
struct Rules {
    facts: BTreeMap<(String, Vec<Value>), BTreeSet<usize>>,
    relations: BTreeMap<String, BTreeSet<usize>>,
}

fn parse(
    program: &Program,
    names: &[String],
    facts: &Facts,
    text: &str,
) -> Result<Rules, PlacementError> {
    let mut rules = Rules::default();
    for (i, line) in text.lines().enumerate() {
        let err = |message: String| PlacementError {
            line: i + 1,
            message,
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 2 {
            return Err(err(
                "expected `NODES<TAB>RELATION[<TAB>VALUE...]`".to_string()
            ));
        }
        let mut to = BTreeSet::new();
        for n in fields[0].split(',').map(str::trim) {
            if n == "*" {
                to.extend(0..names.len());
            } else if let Some(k) = names.iter().position(|m| m == n) {
                to.insert(k);
            } else {
                return Err(err(format!(
                    "unknown node `{n}` (the nodes are {}, or `*` for all)",
                    names.join(", ")
                )));
            }
        }
        let relation = fields[1].trim();
        let Some(tuples) = facts.get(relation) else {
            return Err(err(format!(
                "`{relation}` is not an input relation of the program (one with `.input`)"
            )));
        };
        if fields.len() == 2 {
            rules
                .relations
                .entry(relation.to_string())
                .or_default()
                .extend(to);
            continue;
        }
        let ir = program.ir();
        let info = &ir.relations[ir.relation(relation).expect("an input relation exists")];
        let values = &fields[2..];
        if values.len() != info.arity {
            return Err(err(format!(
                "`{relation}` has {} columns, this line gives {}",
                info.arity,
                values.len()
            )));
        }
        let mut tuple = Vec::with_capacity(values.len());
        for (v, ty) in values.iter().zip(&info.types) {
            tuple.push(match ty {
                Type::Number => Value::Number(
                    v.trim()
                        .parse()
                        .map_err(|_| err(format!("expected a number, found `{v}`")))?,
                ),
                // A record is given as its text (calm-node refuses such programs anyway).
                Type::Symbol | Type::Record(_) => Value::Symbol((*v).to_string()),
                // calm-node refuses programs with these columns too.
                Type::Unsigned => Value::Unsigned(
                    calm_ir::number::parse_unsigned(v)
                        .ok_or_else(|| err(format!("expected an unsigned, found `{v}`")))?,
                ),
                Type::Float => Value::float(
                    calm_ir::number::parse_float(v)
                        .ok_or_else(|| err(format!("expected a float, found `{v}`")))?,
                ),
            });
        }
        if tuples.binary_search(&tuple).is_err() {
            return Err(err(format!(
                "{} is not among the input facts",
                crate::trace::tuple(relation, &tuple)
            )));
        }
        rules
            .facts
            .entry((relation.to_string(), tuple))
            .or_default()
            .extend(to);
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program() -> Program {
        Program::compile(
            "p.dl",
            ".decl e(a: symbol, b: number)\n.input e\n.decl r(x: symbol)\n.input r(delimiter=\",\")\n.decl z()\n.input z\nout(a) :- e(a, _), r(a), z().\n",
        )
        .unwrap()
    }

    /// A fresh directory per call: tests run in parallel and must not rewrite each other's files.
    fn dir() -> std::path::PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("calm-sim-placement-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("e.facts"), "a\t1\nb\t2\nc\t3\na\t1\n").unwrap();
        std::fs::write(d.join("r.facts"), "a\nb c\n").unwrap();
        std::fs::write(d.join("z.facts"), "\n").unwrap();
        d
    }

    fn names() -> Vec<String> {
        vec!["n1".into(), "n2".into(), "n3".into()]
    }

    #[test]
    fn reads_the_facts_calm_run_reads() {
        let facts = read_facts(&program(), &dir()).unwrap();
        assert_eq!(facts["e"].len(), 3);
        assert_eq!(facts["r"][1], vec![Value::Symbol("b c".into())]);
        assert_eq!(facts["z"], vec![Vec::<Value>::new()]);
    }

    #[test]
    fn spread_is_seeded_and_total() {
        let p = program();
        let facts = read_facts(&p, &dir()).unwrap();
        let a = Placement::new(&p, &names(), &facts, None, 1).unwrap();
        let b = Placement::new(&p, &names(), &facts, None, 1).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.counts().iter().sum::<usize>(), 6);
        assert_eq!(a.spread, 6);
    }

    #[test]
    fn a_file_places_facts_and_relations() {
        let p = program();
        let facts = read_facts(&p, &dir()).unwrap();
        let file = "# comment\n*\tr\nn2\te\tb\t2\nn1,n3\tz\n";
        let pl = Placement::new(&p, &names(), &facts, Some(file), 9).unwrap();
        assert_eq!(pl.spread, 2);
        for n in 0..3 {
            assert_eq!(pl.nodes[n]["r"].len(), 2);
        }
        assert!(pl.nodes[1]["e"].contains(&vec![Value::Symbol("b".into()), Value::Number(2)]));
        assert!(pl.nodes[0].contains_key("z") && !pl.nodes[1].contains_key("z"));
        let bad = |text: &str| {
            Placement::new(&p, &names(), &facts, Some(text), 0)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            bad("n4\tr\n"),
            "line 1: unknown node `n4` (the nodes are n1, n2, n3, or `*` for all)"
        );
        assert!(bad("\n\nn1\tout\n").starts_with("line 3: `out` is not an input relation"));
        assert!(bad("n1\te\ta\n").contains("has 2 columns"));
        assert!(bad("n1\te\ta\tx\n").contains("expected a number"));
        assert!(bad("n1\te\tq\t9\n").contains("e(\"q\", 9) is not among the input facts"));
    }
}
