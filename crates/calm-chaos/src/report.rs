//! The table the run ends with.

use crate::checker::{PhaseStats, Violation, ViolationKind};
use crate::schedule::FaultKind;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// How a cluster caught up after one heal, measured by probes: markers written just before the
/// heal at the nodes the fault did not hit (the end of the backlog the healed node must take)
/// and just after it at every node, polled every 100 ms at every node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatchUp {
    /// The fault healed.
    pub kind: FaultKind,
    /// When the heal began (from the start of the run).
    pub at: Duration,
    /// From the heal until every node's `/v1/status` showed every link connected.
    pub connected: Option<Duration>,
    /// From the heal until every marker acknowledged was visible at every node (none: not
    /// within the probe's bound).
    pub caught_up: Option<Duration>,
    /// Another fault began before it caught up (its time is then not the heal's alone).
    pub overlapped: bool,
}

/// The median and the largest of `times` (none if empty).
fn median_max(mut times: Vec<Duration>) -> Option<(Duration, Duration)> {
    times.sort();
    Some((*times.get(times.len() / 2)?, *times.last()?))
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// The seed.
    pub seed: u64,
    /// Nodes.
    pub nodes: usize,
    /// The workload's length.
    pub run: Duration,
    /// Faults injected, by kind.
    pub faults: BTreeMap<FaultKind, usize>,
    /// Disk faults after which the node had stopped with exit code 1 (it hit ENOSPC).
    pub disk_stops: usize,
    /// Restarts (after kills and disk faults).
    pub restarts: usize,
    /// Starts at which the store discarded a last commit that failed its checksums (logged as
    /// an error by the node).
    pub discarded_commits: usize,
    /// Puts sent and acknowledged.
    pub puts: (usize, usize),
    /// Deletes sent and acknowledged.
    pub dels: (usize, usize),
    /// Reads answered, and failed.
    pub reads: (usize, usize),
    /// Writes by phase.
    pub phases: BTreeMap<Option<FaultKind>, PhaseStats>,
    /// Rows of `visible` at the end (at the first node read).
    pub final_rows: usize,
    /// Seconds from the last heal (and the workload's end) until every node held the same
    /// state, or none if they did not converge.
    pub convergence: Option<Duration>,
    /// The same from the last heal alone.
    pub since_last_heal: Option<Duration>,
    /// The violations.
    pub violations: Vec<Violation>,
    /// The workload (`kvs` or `deadlock`).
    pub workload: String,
    /// Waits-for edges (the deadlock workload) sent and acknowledged.
    pub edges: (usize, usize),
    /// The catch-up after each heal.
    pub catch_ups: Vec<CatchUp>,
    /// Lines on the nodes' data files (sizes over the run).
    pub disk_notes: Vec<String>,
}

fn ratio(sent: usize, acked: usize) -> String {
    if sent == 0 {
        "-".into()
    } else {
        format!(
            "{acked}/{sent} ({:.0}%)",
            100.0 * acked as f64 / sent as f64
        )
    }
}

/// Renders the report.
pub fn render(s: &Summary) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "chaos: seed {}, {} nodes, {} s of the {} workload",
        s.seed,
        s.nodes,
        s.run.as_secs(),
        if s.workload.is_empty() {
            "kvs"
        } else {
            &s.workload
        }
    );
    let _ = writeln!(o);
    let _ = writeln!(o, "| what | count |");
    let _ = writeln!(o, "|---|---:|");
    for k in FaultKind::ALL {
        let n = s.faults.get(&k).copied().unwrap_or(0);
        let extra = if k == FaultKind::Disk && n > 0 {
            format!(" ({} hit ENOSPC and stopped)", s.disk_stops)
        } else {
            String::new()
        };
        let _ = writeln!(o, "| faults: {k} | {n}{extra} |");
    }
    let _ = writeln!(o, "| node restarts | {} |", s.restarts);
    let _ = writeln!(
        o,
        "| restarts that discarded a torn last commit | {} |",
        s.discarded_commits
    );
    let _ = writeln!(o, "| puts acked/sent | {} |", ratio(s.puts.0, s.puts.1));
    let _ = writeln!(o, "| deletes acked/sent | {} |", ratio(s.dels.0, s.dels.1));
    if s.edges.0 > 0 {
        let _ = writeln!(
            o,
            "| waits-for edges acked/sent | {} |",
            ratio(s.edges.0, s.edges.1)
        );
    }
    let _ = writeln!(o, "| reads (failed) | {} ({}) |", s.reads.0, s.reads.1);
    let _ = writeln!(
        o,
        "| final rows of {} | {} |",
        if s.workload == "deadlock" {
            "deadlocked"
        } else {
            "visible"
        },
        s.final_rows
    );
    let conv =
        |d: Option<Duration>| d.map_or("none".to_string(), |d| format!("{:.1} s", d.as_secs_f64()));
    let _ = writeln!(
        o,
        "| convergence after the workload and last heal | {} |",
        conv(s.convergence)
    );
    let _ = writeln!(
        o,
        "| convergence after the last heal | {} |",
        conv(s.since_last_heal)
    );
    for k in ViolationKind::ALL {
        let n = s.violations.iter().filter(|v| v.kind == k).count();
        let _ = writeln!(o, "| violations: {} | {n} |", k.name());
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "| phase | count | time | writes acked at other nodes | writes acked at the node hit |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---:|");
    for (k, p) in &s.phases {
        let name = k.map_or("healthy", FaultKind::name);
        let _ = writeln!(
            o,
            "| {name} | {} | {:.1} s | {} | {} |",
            p.phases,
            p.time.as_secs_f64(),
            ratio(p.other_sent, p.other_acked),
            ratio(p.hit_sent, p.hit_acked)
        );
    }
    if !s.catch_ups.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "| catch-up after a heal (markers, polled every 100 ms) | heals | links connected: median / max | caught up: median / max | not caught up | of which the next fault began before it caught up |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|");
        let secs = |d: Option<(Duration, Duration)>| {
            d.map_or("-".to_string(), |(m, x)| {
                format!("{:.1} / {:.1} s", m.as_secs_f64(), x.as_secs_f64())
            })
        };
        let kinds = FaultKind::ALL.iter().map(|k| Some(*k)).chain([None]);
        for k in kinds {
            let c: Vec<&CatchUp> = s
                .catch_ups
                .iter()
                .filter(|c| k.is_none_or(|k| c.kind == k))
                .collect();
            let overlapped = c.iter().filter(|c| c.overlapped).count();
            if c.is_empty() {
                continue;
            }
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                k.map_or("all", FaultKind::name),
                c.len(),
                secs(median_max(c.iter().filter_map(|c| c.connected).collect())),
                secs(median_max(c.iter().filter_map(|c| c.caught_up).collect())),
                c.iter().filter(|c| c.caught_up.is_none()).count(),
                overlapped
            );
        }
    }
    let mut slow: Vec<&CatchUp> = s
        .catch_ups
        .iter()
        .filter(|c| c.caught_up.is_none_or(|t| t > Duration::from_secs(2)))
        .collect();
    slow.sort_by_key(|c| std::cmp::Reverse(c.caught_up.unwrap_or(Duration::MAX)));
    if !slow.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "heals caught up after more than 2 s: {} of {}; the slowest:",
            slow.len(),
            s.catch_ups.len()
        );
        let secs = |d: Option<Duration>| {
            d.map_or("never".to_string(), |d| format!("{:.1} s", d.as_secs_f64()))
        };
        for c in slow.iter().take(10) {
            let _ = writeln!(
                o,
                "- {} healed at {:.1} s: links connected {}, caught up {}{}",
                c.kind,
                c.at.as_secs_f64(),
                secs(c.connected),
                secs(c.caught_up),
                if c.overlapped {
                    " (the next fault began before)"
                } else {
                    ""
                }
            );
        }
    }
    if !s.disk_notes.is_empty() {
        let _ = writeln!(o);
        for n in &s.disk_notes {
            let _ = writeln!(o, "{n}");
        }
    }
    if !s.violations.is_empty() {
        let _ = writeln!(o);
        for v in s.violations.iter().take(50) {
            let _ = writeln!(o, "violation: {v}");
        }
        if s.violations.len() > 50 {
            let _ = writeln!(o, "... and {} more", s.violations.len() - 50);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_violations() {
        let mut s = Summary {
            seed: 3,
            nodes: 3,
            run: Duration::from_secs(60),
            puts: (10, 9),
            convergence: Some(Duration::from_millis(1500)),
            ..Summary::default()
        };
        s.faults.insert(FaultKind::Kill, 2);
        s.violations.push(Violation {
            kind: ViolationKind::LostAck,
            detail: "x".into(),
        });
        let r = render(&s);
        assert!(r.contains("| faults: kill | 2 |"), "{r}");
        assert!(r.contains("| puts acked/sent | 9/10 (90%) |"), "{r}");
        assert!(r.contains("| violations: lost ack | 1 |"), "{r}");
        assert!(
            r.contains("after the workload and last heal | 1.5 s |"),
            "{r}"
        );
        assert!(r.contains("violation: lost ack: x"), "{r}");
        assert!(!r.contains("catch-up"), "{r}");
    }

    #[test]
    fn catch_up_medians_and_maxima_by_kind() {
        let c = |kind, ms: u64, overlapped| CatchUp {
            kind,
            at: Duration::from_secs(10),
            connected: Some(Duration::from_millis(ms / 2)),
            caught_up: Some(Duration::from_millis(ms)),
            overlapped,
        };
        let s = Summary {
            catch_ups: vec![
                c(FaultKind::Kill, 1000, false),
                c(FaultKind::Kill, 3000, false),
                c(FaultKind::Kill, 2000, false),
                c(FaultKind::Kill, 9000, true),
                c(FaultKind::Freeze, 400, false),
            ],
            ..Summary::default()
        };
        let r = render(&s);
        assert!(
            r.contains("| kill | 4 | 1.5 / 4.5 s | 3.0 / 9.0 s | 0 | 1 |"),
            "{r}"
        );
        assert!(
            r.contains("| freeze | 1 | 0.2 / 0.2 s | 0.4 / 0.4 s | 0 | 0 |"),
            "{r}"
        );
        assert!(r.contains("after more than 2 s: 2 of 5"), "{r}");
        assert!(
            r.contains(
                "- kill healed at 10.0 s: links connected 4.5 s, caught up 9.0 s (the next fault began before)"
            ),
            "{r}"
        );
        assert!(
            r.contains("| all | 5 | 1.0 / 4.5 s | 2.0 / 9.0 s | 0 | 1 |"),
            "{r}"
        );
    }
}
