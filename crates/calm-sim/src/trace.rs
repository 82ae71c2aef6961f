//! The trace of a schedule: one readable line per event, and a hash of the whole run.
//!
//! Every line is hashed (FNV-1a, 64 bits) whether or not it is kept, and so are the complete
//! contents of every batch a tick ingests (lines show at most a few facts of a batch). Two runs of
//! one seed must have equal hashes; keeping the lines (for `--replay` or a counterexample) does
//! not change the hash.

use calm_engine::Value;
use calm_node::wire::{WireFact, WireValue};
use std::fmt::Write as _;

/// Facts shown per batch in a trace line.
const SHOWN_FACTS: usize = 4;

/// FNV-1a, 64 bits.
#[derive(Clone, Copy, Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Adds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// The events of one run.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    keep: bool,
    lines: Vec<String>,
    hash: Fnv,
}

impl Trace {
    /// A trace that keeps its lines only when `keep` (it hashes them either way).
    pub fn new(keep: bool) -> Trace {
        Trace {
            keep,
            ..Trace::default()
        }
    }

    /// Records an event at simulated time `time`.
    pub fn event(&mut self, time: u64, text: String) {
        let line = format!("t={time:<5} {text}");
        self.hash.write(line.as_bytes());
        self.hash.write(b"\n");
        if self.keep {
            self.lines.push(line);
        }
    }

    /// Hashes data that is not shown in full (a batch's complete contents).
    pub fn hash_facts(&mut self, facts: &[WireFact]) {
        for f in facts {
            self.hash.write(fact(f).as_bytes());
            self.hash.write(b";");
        }
    }

    /// The hash of everything recorded.
    pub fn hash(&self) -> u64 {
        self.hash.finish()
    }

    /// The kept lines.
    pub fn into_lines(self) -> Vec<String> {
        self.lines
    }
}

/// A value in calm syntax: numbers bare, symbols quoted.
pub fn value(v: &Value) -> String {
    match v {
        Value::Symbol(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn wire_value(v: &WireValue) -> String {
    match v {
        WireValue::Number(n) => n.to_string(),
        WireValue::Symbol(s) => format!("{s:?}"),
    }
}

/// A fact in calm syntax: `rel(1, "a")`.
pub fn tuple(relation: &str, values: &[Value]) -> String {
    let vals: Vec<String> = values.iter().map(value).collect();
    format!("{relation}({})", vals.join(", "))
}

/// A wire fact in calm syntax.
pub fn fact(f: &WireFact) -> String {
    let vals: Vec<String> = f.tuple.iter().map(wire_value).collect();
    format!("{}({})", f.relation, vals.join(", "))
}

/// The first few facts of a batch, and how many more there are.
pub fn facts(fs: &[WireFact]) -> String {
    let mut out = String::new();
    for (i, f) in fs.iter().take(SHOWN_FACTS).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&fact(f));
    }
    if fs.len() > SHOWN_FACTS {
        let _ = write!(out, ", … {} more", fs.len() - SHOWN_FACTS);
    }
    out
}

/// `1 fact`, `2 facts`.
pub fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_values() {
        let mut h = Fnv::default();
        assert_eq!(h.finish(), 0xcbf2_9ce4_8422_2325);
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn keeping_lines_does_not_change_the_hash() {
        let mut a = Trace::new(false);
        let mut b = Trace::new(true);
        for t in [&mut a, &mut b] {
            t.event(3, "n1 tick 1".into());
            t.hash_facts(&[WireFact {
                relation: "p".into(),
                tuple: vec![WireValue::Symbol("x".into()), WireValue::Number(2)],
            }]);
        }
        assert_eq!(a.hash(), b.hash());
        assert_eq!(b.into_lines(), vec!["t=3     n1 tick 1".to_string()]);
        assert!(a.into_lines().is_empty());
    }

    #[test]
    fn facts_are_written_in_calm_syntax_and_truncated() {
        let f = |n| WireFact {
            relation: "p".into(),
            tuple: vec![WireValue::Symbol("a".into()), WireValue::Number(n)],
        };
        let fs: Vec<WireFact> = (0..6).map(f).collect();
        assert_eq!(
            facts(&fs),
            "p(\"a\", 0), p(\"a\", 1), p(\"a\", 2), p(\"a\", 3), … 2 more"
        );
    }
}
