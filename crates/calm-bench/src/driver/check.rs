//! Reading an engine's stdout and checking it against the expected figures.
//!
//! Two kinds of lines are understood, the ones Souffle prints too:
//!
//! * `.printsize rel` prints `rel\tsize`;
//! * `.output rel(IO=stdout)` prints a block: a line of dashes, the relation name, a line of
//!   `=`, one tab-separated row per line, and a closing line of `=`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::workloads::{Expected, Kind};

/// What an engine printed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Printed {
    /// `name\tvalue` lines outside output blocks, in order.
    pub figures: Vec<(String, String)>,
    /// The rows of each `.output` block, by relation name.
    pub outputs: BTreeMap<String, Vec<String>>,
}

fn is_rule(line: &str, c: char) -> bool {
    line.len() >= 3 && line.chars().all(|x| x == c)
}

/// Parses an engine's stdout.
pub fn parse(stdout: &str) -> Printed {
    let mut printed = Printed::default();
    let mut lines = stdout.lines().map(|l| l.strip_suffix('\r').unwrap_or(l));
    while let Some(line) = lines.next() {
        if is_rule(line, '-') {
            let Some(name) = lines.next() else { break };
            let rows = printed.outputs.entry(name.trim().to_owned()).or_default();
            if lines.next().is_some_and(|l| is_rule(l, '=')) {
                for row in lines.by_ref() {
                    if is_rule(row, '=') {
                        break;
                    }
                    rows.push(row.to_owned());
                }
            }
        } else if let Some((name, value)) = line.split_once('\t') {
            printed
                .figures
                .push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    printed
}

impl Printed {
    /// The printed figure for `expected`, if any: for [`Kind::Size`] the `name\tsize` line;
    /// for [`Kind::Value`] the single row of the output block, or else a `name\tvalue` line.
    pub fn find(&self, expected: &Expected) -> Option<String> {
        let line = || {
            self.figures
                .iter()
                .rev()
                .find(|(name, _)| name == expected.relation)
                .map(|(_, value)| value.clone())
        };
        match expected.kind {
            Kind::Size => line(),
            Kind::Value => match self.outputs.get(expected.relation) {
                Some(rows) if rows.len() == 1 => Some(rows[0].trim().to_owned()),
                Some(rows) => Some(format!("{} rows", rows.len())),
                None => line(),
            },
        }
    }
}

/// Checks `stdout` against `expected`: `Ok` with a short summary (`path=3954133`) when every
/// figure matches, `Err` with the mismatches otherwise.
pub fn check(stdout: &str, expected: &[Expected]) -> Result<String, String> {
    let printed = parse(stdout);
    let mut summary = String::new();
    let mut mismatches = String::new();
    for e in expected {
        let found = printed.find(e);
        let ok = found.as_deref().and_then(|v| v.parse::<u64>().ok()) == Some(e.value);
        let (out, text) = if ok {
            (&mut summary, format!("{}={}", e.relation, e.value))
        } else {
            let got = found.unwrap_or_else(|| "missing".to_owned());
            (
                &mut mismatches,
                format!("{}={got} (want {})", e.relation, e.value),
            )
        };
        if !out.is_empty() {
            out.push_str(", ");
        }
        let _ = write!(out, "{text}");
    }
    if mismatches.is_empty() {
        Ok(summary)
    } else {
        Err(mismatches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::workloads::find;

    #[test]
    fn printsize_lines() {
        let tc = find("tc").unwrap().expected;
        assert_eq!(check("path\t3954133\n", tc), Ok("path=3954133".to_owned()));
        assert_eq!(
            check("path\t12\n", tc),
            Err("path=12 (want 3954133)".to_owned())
        );
        assert_eq!(check("", tc), Err("path=missing (want 3954133)".to_owned()));
    }

    #[test]
    fn output_block_gives_the_value() {
        let agg = find("agg").unwrap().expected;
        let calm = "reach_count\t1989\n---------------\nmax_reach\n===============\n1989\n===============\n";
        assert_eq!(
            check(calm, agg),
            Ok("reach_count=1989, max_reach=1989".to_owned())
        );
        let hand = "reach_count\t1989\nmax_reach\t1989\n";
        assert_eq!(check(hand, agg), check(calm, agg));
        let wrong =
            "reach_count\t1989\n---------------\nmax_reach\n===============\n7\n===============\n";
        assert_eq!(check(wrong, agg), Err("max_reach=7 (want 1989)".to_owned()));
    }

    #[test]
    fn rows_of_a_block_are_not_figures() {
        let printed =
            parse("---------------\nr\n===============\n1\t2\n3\t4\n===============\ns\t5\n");
        assert_eq!(printed.outputs["r"], vec!["1\t2", "3\t4"]);
        assert_eq!(printed.figures, vec![("s".to_owned(), "5".to_owned())]);
    }
}
