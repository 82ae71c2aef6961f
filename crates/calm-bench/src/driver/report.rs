//! The markdown result table.

use std::fmt::Write as _;
use std::time::Duration;

use super::engines::Engine;

/// The result of one engine on one workload.
#[derive(Clone, Debug)]
pub struct Row {
    /// Workload name.
    pub workload: &'static str,
    /// Engine.
    pub engine: Engine,
    /// Wall time of every completed run.
    pub walls: Vec<Duration>,
    /// Largest peak RSS over the runs, KiB.
    pub peak_kib: u64,
    /// `Ok(summary)` when the figures matched; `Err("FAIL: ...")` or `Err("ERROR: ...")`.
    pub result: Result<String, String>,
}

impl Row {
    /// Median wall time, if any run completed.
    pub fn median(&self) -> Option<Duration> {
        let mut walls = self.walls.clone();
        walls.sort();
        let n = walls.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(walls[n / 2]),
            _ => Some((walls[n / 2 - 1] + walls[n / 2]) / 2),
        }
    }

    /// Fastest wall time, if any run completed.
    pub fn min(&self) -> Option<Duration> {
        self.walls.iter().min().copied()
    }
}

/// The table of `rows` in markdown, with the ratio of each successful row's median to the
/// median of the successful `datafrog-hand` row of the same workload.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| workload | engine | median s | min s | peak MiB | result | ratio to datafrog-hand |\n\
         |---|---|---:|---:|---:|---|---:|\n",
    );
    for row in rows {
        let baseline = rows
            .iter()
            .find(|r| {
                r.workload == row.workload && r.engine == Engine::DatafrogHand && r.result.is_ok()
            })
            .and_then(Row::median);
        let ratio = match (row.result.is_ok(), row.median(), baseline) {
            (true, Some(m), Some(b)) if !b.is_zero() => {
                format!("{:.2}×", m.as_secs_f64() / b.as_secs_f64())
            }
            _ => "–".to_owned(),
        };
        let secs =
            |d: Option<Duration>| d.map_or("–".to_owned(), |d| format!("{:.3}", d.as_secs_f64()));
        let peak = if row.walls.is_empty() {
            "–".to_owned()
        } else {
            format!("{:.1}", row.peak_kib as f64 / 1024.0)
        };
        let result = match &row.result {
            Ok(summary) => format!("ok ({summary})"),
            Err(message) => message.clone(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.workload,
            row.engine.name(),
            secs(row.median()),
            secs(row.min()),
            peak,
            result.replace('|', "\\|"),
            ratio
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(engine: Engine, walls: &[u64], result: Result<&str, &str>) -> Row {
        Row {
            workload: "tc",
            engine,
            walls: walls.iter().map(|&ms| Duration::from_millis(ms)).collect(),
            peak_kib: 2048,
            result: result.map(str::to_owned).map_err(str::to_owned),
        }
    }

    #[test]
    fn medians_and_ratios() {
        let hand = row(Engine::DatafrogHand, &[300, 100, 200], Ok("path=1"));
        let calm = row(Engine::Calm, &[400, 500], Ok("path=1"));
        assert_eq!(hand.median(), Some(Duration::from_millis(200)));
        assert_eq!(calm.median(), Some(Duration::from_millis(450)));
        let text = table(&[calm, hand]);
        assert!(
            text.contains("| tc | calm | 0.450 | 0.400 | 2.0 | ok (path=1) | 2.25× |"),
            "{text}"
        );
        assert!(
            text.contains("| tc | datafrog-hand | 0.200 | 0.100 | 2.0 | ok (path=1) | 1.00× |"),
            "{text}"
        );
    }

    #[test]
    fn error_rows_have_no_figures() {
        let broken = row(Engine::Calm, &[], Err("ERROR: exit 1: a | b"));
        let text = table(&[broken]);
        assert!(
            text.contains("| tc | calm | – | – | – | ERROR: exit 1: a \\| b | – |"),
            "{text}"
        );
    }
}
