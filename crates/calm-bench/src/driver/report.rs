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

/// calm's wall-time target against Ascent: its median at most this many times Ascent's.
pub const TARGET_VS_ASCENT: f64 = 1.0;
/// calm's wall-time target against the best hand-written datafrog row (the faster median of
/// `datafrog-hand` and `datafrog-leap`).
pub const TARGET_VS_DATAFROG: f64 = 1.2;
/// calm's peak-memory target against the hand-written datafrog (the smaller peak of
/// `datafrog-hand` and `datafrog-leap`).
pub const TARGET_MEMORY_VS_DATAFROG: f64 = 1.5;

/// The first successful row of `workload` run by an engine that `engine` accepts.
fn ok_row<'a>(rows: &'a [Row], workload: &str, engine: impl Fn(Engine) -> bool) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.workload == workload && engine(r.engine) && r.result.is_ok())
}

/// `row`'s median divided by `baseline`'s, when both succeeded.
fn ratio(row: &Row, baseline: Option<&Row>) -> Option<f64> {
    let (m, b) = (row.median()?, baseline?.median()?);
    (row.result.is_ok() && !b.is_zero()).then(|| m.as_secs_f64() / b.as_secs_f64())
}

/// The table of `rows` in markdown, with the ratio of each successful row's median to the
/// medians of the successful `datafrog-hand` and `ascent` rows of the same workload.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| workload | engine | median s | min s | peak MiB | result | ratio to datafrog-hand \
         | ratio to ascent |\n\
         |---|---|---:|---:|---:|---|---:|---:|\n",
    );
    for row in rows {
        let ratio_to = |engine: Engine| {
            ratio(row, ok_row(rows, row.workload, |e| e == engine))
                .map_or("–".to_owned(), |r| format!("{r:.2}×"))
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
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            row.workload,
            row.engine.name(),
            secs(row.median()),
            secs(row.min()),
            peak,
            result.replace('|', "\\|"),
            ratio_to(Engine::DatafrogHand),
            ratio_to(Engine::Ascent),
        );
    }
    out
}

/// One target's verdict: `vs ascent 0.912× (≤ 1.0×): met`.
fn verdict(what: &str, ratio: Option<f64>, target: f64, missing: &str) -> (String, Option<bool>) {
    match ratio {
        Some(r) => {
            let met = r <= target;
            let word = if met { "met" } else { "MISSED" };
            (
                format!("{what} {r:.3}× (≤ {target:.1}×): {word}"),
                Some(met),
            )
        }
        None => (format!("{what}: n/a ({missing})"), None),
    }
}

/// One line per workload saying whether calm meets its targets there: median wall time
/// ≤ [`TARGET_VS_ASCENT`] × Ascent's and ≤ [`TARGET_VS_DATAFROG`] × the best hand-written
/// datafrog's, peak memory ≤ [`TARGET_MEMORY_VS_DATAFROG`] × the hand-written datafrog's.
pub fn targets(rows: &[Row]) -> String {
    let mut out = format!(
        "Targets for calm: median ≤ {TARGET_VS_ASCENT:.1}× Ascent's; median ≤ \
         {TARGET_VS_DATAFROG:.1}× the best hand-written datafrog's (the faster of datafrog-hand \
         and datafrog-leap); peak memory ≤ {TARGET_MEMORY_VS_DATAFROG:.1}× the hand-written \
         datafrog's (the smaller peak of the two).\n\n"
    );
    let mut workloads: Vec<&str> = Vec::new();
    for row in rows {
        if !workloads.contains(&row.workload) {
            workloads.push(row.workload);
        }
    }
    for workload in workloads {
        let Some(calm) = rows
            .iter()
            .find(|r| r.workload == workload && r.engine == Engine::Calm)
        else {
            continue;
        };
        if calm.result.is_err() {
            let _ = writeln!(
                out,
                "- **{workload}**: calm did not succeed, targets not evaluated"
            );
            continue;
        }
        let ascent = ok_row(rows, workload, |e| e == Engine::Ascent);
        let datafrog = || {
            rows.iter()
                .filter(|r| r.workload == workload && r.engine.is_datafrog() && r.result.is_ok())
        };
        let fastest = datafrog()
            .filter(|r| r.median().is_some())
            .min_by_key(|r| r.median());
        let leanest = datafrog()
            .filter(|r| !r.walls.is_empty())
            .min_by_key(|r| r.peak_kib);
        let memory = leanest
            .filter(|r| r.peak_kib > 0)
            .map(|r| calm.peak_kib as f64 / r.peak_kib as f64);
        let verdicts = [
            verdict(
                "vs ascent",
                ratio(calm, ascent),
                TARGET_VS_ASCENT,
                "no ascent result",
            ),
            verdict(
                &format!("vs {}", fastest.map_or("datafrog", |r| r.engine.name())),
                ratio(calm, fastest),
                TARGET_VS_DATAFROG,
                "no datafrog result",
            ),
            verdict(
                &format!(
                    "peak memory vs {}",
                    leanest.map_or("datafrog", |r| r.engine.name())
                ),
                memory,
                TARGET_MEMORY_VS_DATAFROG,
                "no datafrog result",
            ),
        ];
        let evaluated = verdicts.iter().filter(|(_, v)| v.is_some()).count();
        let met = verdicts.iter().filter(|(_, v)| *v == Some(true)).count();
        let texts: Vec<&str> = verdicts.iter().map(|(t, _)| t.as_str()).collect();
        let _ = writeln!(
            out,
            "- **{workload}**: {}. {met} of {evaluated} target(s) met.",
            texts.join("; ")
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
        let ascent = row(Engine::Ascent, &[900], Ok("path=1"));
        assert_eq!(hand.median(), Some(Duration::from_millis(200)));
        assert_eq!(calm.median(), Some(Duration::from_millis(450)));
        let text = table(&[calm, hand, ascent]);
        assert!(
            text.contains("| tc | calm | 0.450 | 0.400 | 2.0 | ok (path=1) | 2.25× | 0.50× |"),
            "{text}"
        );
        assert!(
            text.contains(
                "| tc | datafrog-hand | 0.200 | 0.100 | 2.0 | ok (path=1) | 1.00× | 0.22× |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| tc | ascent | 0.900 | 0.900 | 2.0 | ok (path=1) | 4.50× | 1.00× |"),
            "{text}"
        );
    }

    #[test]
    fn error_rows_have_no_figures() {
        let broken = row(Engine::Calm, &[], Err("ERROR: exit 1: a | b"));
        let text = table(&[broken]);
        assert!(
            text.contains("| tc | calm | – | – | – | ERROR: exit 1: a \\| b | – | – |"),
            "{text}"
        );
        assert!(
            targets(&[row(Engine::Calm, &[], Err("ERROR: x"))])
                .contains("- **tc**: calm did not succeed, targets not evaluated"),
        );
    }

    #[test]
    fn targets_use_the_best_datafrog_row() {
        let mut calm = row(Engine::Calm, &[110], Ok("path=1"));
        calm.peak_kib = 3000;
        let hand = row(Engine::DatafrogHand, &[100], Ok("path=1"));
        let mut leap = row(Engine::DatafrogLeap, &[50], Ok("path=1"));
        leap.peak_kib = 4096;
        let ascent = row(Engine::Ascent, &[120], Ok("path=1"));
        let text = targets(&[calm, hand, leap, ascent]);
        assert!(
            text.contains(
                "- **tc**: vs ascent 0.917× (≤ 1.0×): met; vs datafrog-leap 2.200× (≤ 1.2×): \
                 MISSED; peak memory vs datafrog-hand 1.465× (≤ 1.5×): met. 2 of 3 target(s) met."
            ),
            "{text}"
        );
    }

    #[test]
    fn missing_baselines_are_not_evaluated() {
        let calm = row(Engine::Calm, &[110], Ok("path=1"));
        let text = targets(&[calm]);
        assert!(
            text.contains(
                "- **tc**: vs ascent: n/a (no ascent result); vs datafrog: n/a (no datafrog \
                 result); peak memory vs datafrog: n/a (no datafrog result). 0 of 0 target(s) met."
            ),
            "{text}"
        );
    }
}
