//! The fault schedule: which fault, at which node, when and for how long, as a function of the
//! seed alone (and the run's length, its node count and the fault kinds allowed).
//!
//! Faults do not overlap: each starts after the previous one has healed, with a healthy gap
//! between them, after a warm-up and before a healthy tail at the end of the run, so that every
//! fault's effect can be attributed and the convergence after the last heal measured.

use crate::rng::Rng;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// The node's network link is set down (`ip link set eth0 down` in its namespace): it is cut
    /// off from its peers and from the clients; both sides keep their state.
    Partition,
    /// The node is stopped with SIGSTOP and resumed with SIGCONT.
    Freeze,
    /// The node is killed with SIGKILL, and restarted on the same data directory once the fault
    /// ends.
    Kill,
    /// The node's data directory (a small tmpfs) is filled up; a node that hits ENOSPC must stop
    /// with exit code 1, and is restarted once the space is freed.
    Disk,
}

impl FaultKind {
    /// Every kind, in the order of the table.
    pub const ALL: [FaultKind; 4] = [
        FaultKind::Partition,
        FaultKind::Freeze,
        FaultKind::Kill,
        FaultKind::Disk,
    ];

    /// The name used by `--faults` and the report.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Freeze => "freeze",
            FaultKind::Kill => "kill",
            FaultKind::Disk => "disk",
        }
    }

    /// The range of its duration in milliseconds (for a kill, the time the node stays down).
    fn duration_ms(self) -> (u64, u64) {
        match self {
            FaultKind::Partition => (2_000, 8_000),
            FaultKind::Freeze => (1_000, 4_000),
            FaultKind::Kill => (300, 3_000),
            FaultKind::Disk => (2_000, 5_000),
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A schedule that cannot be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    /// An unknown name in `--faults`.
    #[error("unknown fault `{0}` (the faults: partition, freeze, kill, disk)")]
    UnknownFault(String),
    /// No fault kind at all.
    #[error("no fault kinds given")]
    NoFaults,
    /// Too few or too many nodes.
    #[error("{0} nodes: the chaos test runs 2 to 20")]
    Nodes(usize),
    /// Too short a run.
    #[error("a run of {0:?} is too short: at least 10 s")]
    TooShort(Duration),
}

impl FromStr for FaultKind {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| ScheduleError::UnknownFault(s.trim().to_string()))
    }
}

/// Parses `--faults`: names separated by commas; duplicates are ignored.
pub fn parse_faults(s: &str) -> Result<Vec<FaultKind>, ScheduleError> {
    let mut kinds = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let k: FaultKind = part.parse()?;
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    if kinds.is_empty() {
        return Err(ScheduleError::NoFaults);
    }
    Ok(kinds)
}

/// One fault: `kind` at node `node` (0-based) from `start` (after the run's start) for
/// `duration`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// When it starts, from the start of the run.
    pub start: Duration,
    /// How long it lasts.
    pub duration: Duration,
    /// What it is.
    pub kind: FaultKind,
    /// The node it hits (0-based).
    pub node: usize,
}

impl Fault {
    /// When it heals.
    pub fn end(&self) -> Duration {
        self.start + self.duration
    }
}

/// What a schedule is made from.
#[derive(Clone, Debug)]
pub struct ScheduleConfig {
    /// The seed.
    pub seed: u64,
    /// The length of the run (the workload's time).
    pub run: Duration,
    /// The number of nodes.
    pub nodes: usize,
    /// The kinds of fault allowed.
    pub kinds: Vec<FaultKind>,
}

/// A schedule of faults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The node whose data directory is a small tmpfs (the only target of disk faults).
    pub disk_node: usize,
    /// The faults, in order, not overlapping.
    pub faults: Vec<Fault>,
}

impl Schedule {
    /// The time of the last heal (zero when there is no fault).
    pub fn last_heal(&self) -> Duration {
        self.faults.last().map_or(Duration::ZERO, Fault::end)
    }

    /// How many faults of `kind` it has.
    pub fn count(&self, kind: FaultKind) -> usize {
        self.faults.iter().filter(|f| f.kind == kind).count()
    }
}

/// The healthy time before the first fault.
pub fn warmup(run: Duration) -> Duration {
    (run / 10).clamp(Duration::from_secs(2), Duration::from_secs(5))
}

/// The healthy time after the last heal, before the workload stops.
pub fn tail(run: Duration) -> Duration {
    (run / 8).clamp(Duration::from_secs(3), Duration::from_secs(10))
}

/// Makes the schedule of `config`: a function of its fields alone.
pub fn generate(config: &ScheduleConfig) -> Result<Schedule, ScheduleError> {
    if !(2..=20).contains(&config.nodes) {
        return Err(ScheduleError::Nodes(config.nodes));
    }
    if config.kinds.is_empty() {
        return Err(ScheduleError::NoFaults);
    }
    if config.run < Duration::from_secs(10) {
        return Err(ScheduleError::TooShort(config.run));
    }
    let mut rng = Rng::new(config.seed);
    let disk_node = rng.below(config.nodes as u64) as usize;
    let end = config.run - tail(config.run);
    let mut t = warmup(config.run);
    let mut faults = Vec::new();
    // Every fault and gap is at least 0.8 s long, so this bounds the loop.
    let max_faults = (config.run.as_millis() / 800) as usize + 1;
    while faults.len() < max_faults {
        let gap = rng.millis(800, 3_000);
        let kind = config.kinds[rng.below(config.kinds.len() as u64) as usize];
        let node = match kind {
            FaultKind::Disk => disk_node,
            _ => rng.below(config.nodes as u64) as usize,
        };
        let (lo, hi) = kind.duration_ms();
        let duration = rng.millis(lo, hi);
        let start = t + gap;
        if start + duration > end {
            break;
        }
        faults.push(Fault {
            start,
            duration,
            kind,
            node,
        });
        t = start + duration;
    }
    Ok(Schedule { disk_node, faults })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64, secs: u64) -> ScheduleConfig {
        ScheduleConfig {
            seed,
            run: Duration::from_secs(secs),
            nodes: 3,
            kinds: FaultKind::ALL.to_vec(),
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        for seed in 0..50 {
            assert_eq!(
                generate(&config(seed, 60)).unwrap(),
                generate(&config(seed, 60)).unwrap()
            );
        }
    }

    #[test]
    fn the_schedule_of_seed_1_is_pinned() {
        // A change here changes every seed's schedule: reproductions reported with a seed would
        // no longer reproduce. Change it only on purpose.
        let s = generate(&config(1, 60)).unwrap();
        let first: Vec<_> = s
            .faults
            .iter()
            .take(3)
            .map(|f| (f.start.as_millis(), f.duration.as_millis(), f.kind, f.node))
            .collect();
        assert_eq!(first, PINNED_SEED_1, "{s:#?}");
    }

    const PINNED_SEED_1: [(u128, u128, FaultKind, usize); 3] = [
        (6095, 1652, FaultKind::Freeze, 0),
        (9837, 1472, FaultKind::Kill, 1),
        (13437, 4814, FaultKind::Disk, 2),
    ];

    #[test]
    fn different_seeds_give_different_schedules() {
        let schedules: std::collections::HashSet<_> = (0..20)
            .map(|seed| format!("{:?}", generate(&config(seed, 60)).unwrap()))
            .collect();
        assert!(schedules.len() >= 19, "{}", schedules.len());
    }

    #[test]
    fn faults_do_not_overlap_and_stay_inside_the_run() {
        for seed in 0..200 {
            for secs in [10, 60, 1800] {
                let c = config(seed, secs);
                let s = generate(&c).unwrap();
                let mut t = warmup(c.run);
                for f in &s.faults {
                    assert!(f.start > t, "seed {seed}: {f:?} starts before {t:?}");
                    assert!(f.duration >= Duration::from_millis(300));
                    assert!(f.node < c.nodes);
                    if f.kind == FaultKind::Disk {
                        assert_eq!(f.node, s.disk_node);
                    }
                    t = f.end();
                }
                assert!(s.last_heal() + tail(c.run) <= c.run, "seed {seed}");
            }
        }
    }

    #[test]
    fn only_the_kinds_asked_for() {
        for seed in 0..50 {
            let mut c = config(seed, 120);
            c.kinds = vec![FaultKind::Freeze, FaultKind::Kill];
            let s = generate(&c).unwrap();
            assert!(!s.faults.is_empty());
            assert!(
                s.faults
                    .iter()
                    .all(|f| matches!(f.kind, FaultKind::Freeze | FaultKind::Kill))
            );
        }
    }

    #[test]
    fn a_long_run_has_every_kind_at_every_node() {
        let s = generate(&config(7, 1800)).unwrap();
        for k in FaultKind::ALL {
            assert!(s.count(k) > 10, "{k}: {}", s.count(k));
        }
        for n in 0..3 {
            assert!(
                s.faults
                    .iter()
                    .any(|f| f.node == n && f.kind == FaultKind::Kill)
            );
        }
    }

    #[test]
    fn a_minute_has_several_faults() {
        for seed in 0..50 {
            let n = generate(&config(seed, 60)).unwrap().faults.len();
            assert!((5..=25).contains(&n), "seed {seed}: {n} faults");
        }
    }

    #[test]
    fn parsing_faults() {
        assert_eq!(
            parse_faults("kill, freeze,kill").unwrap(),
            vec![FaultKind::Kill, FaultKind::Freeze]
        );
        assert_eq!(
            parse_faults("kill,flood"),
            Err(ScheduleError::UnknownFault("flood".into()))
        );
        assert_eq!(parse_faults(""), Err(ScheduleError::NoFaults));
        let mut c = config(1, 60);
        c.nodes = 1;
        assert_eq!(generate(&c), Err(ScheduleError::Nodes(1)));
        assert_eq!(
            generate(&config(1, 5)),
            Err(ScheduleError::TooShort(Duration::from_secs(5)))
        );
    }
}
