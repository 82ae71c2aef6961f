//! The checker: given the workload's [`History`] and every node's final `visible`, finds the
//! violations, Jepsen-style.
//!
//! The store's semantics (`programs/kvs.dl`, an observed-remove store with siblings) decide what
//! can be required:
//!
//! - **Lost ack.** A put acknowledged (HTTP 200), after which nothing else was written to its
//!   keys, and before which every write to its keys had been acknowledged or certainly failed,
//!   must be visible on every node at the end. (Any later write, or an earlier one whose outcome
//!   is unknown and which a node may still apply, can legitimately replace it.)
//! - **Resurrected.** A write (put or delete) acknowledged by a node tombstones the versions of
//!   its keys that this node held. The workload reads the keys at that node just before each
//!   write, so every version that read showed must be invisible everywhere at the end. (A
//!   delete does not remove versions its node had not seen: those are siblings, not
//!   resurrections.)
//! - **Phantom.** Every row read, during the run or at the end, is a version some put sent,
//!   with that put's keys and value.
//! - **Divergence.** Every node's final `visible` is the same.
//! - **Unavailable.** During a fault, the nodes it does not hit keep acknowledging writes (the
//!   store's writes are coordination-free): see [`availability`].

use crate::history::{History, Outcome, Row, VersionId, Write, WriteKind};
use crate::schedule::FaultKind;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::Duration;

/// A kind of violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ViolationKind {
    /// An acknowledged put that must survive is missing at some node.
    LostAck,
    /// A version that an acknowledged write tombstoned is visible at the end.
    Resurrected,
    /// A row no put wrote.
    Phantom,
    /// The nodes' final states differ (or a node could not be read).
    Divergence,
    /// The nodes did not converge within the bound.
    NoConvergence,
    /// During a fault, nodes it did not hit acknowledged no write.
    Unavailable,
    /// A node's `/health` did not answer 200 in time after the last heal.
    Hang,
    /// A node exited when it should not have, or with the wrong code.
    Crash,
    /// A node did not come back after a restart.
    RestartFailed,
}

impl ViolationKind {
    /// Every kind, in the order of the table.
    pub const ALL: [ViolationKind; 9] = [
        ViolationKind::LostAck,
        ViolationKind::Resurrected,
        ViolationKind::Phantom,
        ViolationKind::Divergence,
        ViolationKind::NoConvergence,
        ViolationKind::Unavailable,
        ViolationKind::Hang,
        ViolationKind::Crash,
        ViolationKind::RestartFailed,
    ];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            ViolationKind::LostAck => "lost ack",
            ViolationKind::Resurrected => "resurrected",
            ViolationKind::Phantom => "phantom",
            ViolationKind::Divergence => "divergence",
            ViolationKind::NoConvergence => "no convergence",
            ViolationKind::Unavailable => "unavailable",
            ViolationKind::Hang => "hang",
            ViolationKind::Crash => "crash",
            ViolationKind::RestartFailed => "restart failed",
        }
    }
}

/// A violation and what shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Its kind.
    pub kind: ViolationKind,
    /// A description (nodes are named n1, n2, ...).
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.detail)
    }
}

fn v(kind: ViolationKind, detail: String) -> Violation {
    Violation { kind, detail }
}

fn node_name(i: usize) -> String {
    format!("n{}", i + 1)
}

/// Checks the history against the final states, one per node (`None`: the node could not be
/// read). Violations are sorted by kind.
pub fn check_final(history: &History, finals: &[Option<Vec<Row>>]) -> Vec<Violation> {
    let mut out = Vec::new();
    // The workload's writes and the harness's probes alike.
    let all: Vec<&Write> = history.writes.iter().chain(&history.probes).collect();
    let puts: HashMap<&VersionId, (&str, &str, &str)> = all
        .iter()
        .filter_map(|w| match &w.kind {
            WriteKind::Put { id, value } => Some((id, (w.k1.as_str(), w.k2.as_str(), &**value))),
            WriteKind::Del | WriteKind::Edge => None,
        })
        .collect();

    // Phantoms: in any read or final state.
    let mut phantoms = BTreeSet::new();
    let all_rows = history
        .reads
        .iter()
        .flat_map(|r| r.rows.iter())
        .chain(finals.iter().flatten().flatten());
    for row in all_rows {
        let ok = puts
            .get(&row.id)
            .is_some_and(|&(k1, k2, value)| (k1, k2, value) == (&*row.k1, &*row.k2, &*row.value));
        if !ok && phantoms.insert(row.clone()) {
            out.push(v(
                ViolationKind::Phantom,
                format!(
                    "({}, {}) = {:?} as version {}, which no put wrote",
                    row.k1, row.k2, row.value, row.id
                ),
            ));
        }
    }

    // Divergence.
    let sets: Vec<Option<BTreeSet<&Row>>> = finals
        .iter()
        .map(|f| f.as_ref().map(|rows| rows.iter().collect()))
        .collect();
    let reference = sets.iter().position(Option::is_some);
    for (i, s) in sets.iter().enumerate() {
        match (s, reference) {
            (None, _) => out.push(v(
                ViolationKind::Divergence,
                format!("{} could not be read at the end", node_name(i)),
            )),
            (Some(s), Some(r)) if r != i => {
                let base = sets[r].as_ref().expect("the reference was read");
                if s != base {
                    let only_here: Vec<_> = s.difference(base).take(3).collect();
                    let only_there: Vec<_> = base.difference(s).take(3).collect();
                    out.push(v(
                        ViolationKind::Divergence,
                        format!(
                            "{} and {} differ: {} rows only at {} (e.g. {:?}), {} only at {} (e.g. {:?})",
                            node_name(i),
                            node_name(r),
                            s.difference(base).count(),
                            node_name(i),
                            only_here,
                            base.difference(s).count(),
                            node_name(r),
                            only_there
                        ),
                    ));
                }
            }
            _ => {}
        }
    }

    // Visible ids per node.
    let visible: Vec<Option<BTreeSet<&VersionId>>> = finals
        .iter()
        .map(|f| f.as_ref().map(|rows| rows.iter().map(|r| &r.id).collect()))
        .collect();

    // Lost acks.
    let mut by_key: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (i, w) in all.iter().enumerate() {
        by_key.entry((&w.k1, &w.k2)).or_default().push(i);
    }
    for ((k1, k2), writes) in &by_key {
        for &p in writes {
            let put = all[p];
            let WriteKind::Put { id, .. } = &put.kind else {
                continue;
            };
            if put.outcome != Outcome::Ok {
                continue;
            }
            let must_survive = writes.iter().all(|&q| {
                let w = all[q];
                q == p
                    || w.outcome == Outcome::Failed
                    || (w.outcome == Outcome::Ok && w.completed <= put.invoked)
            });
            if !must_survive {
                continue;
            }
            for (n, vis) in visible.iter().enumerate() {
                if let Some(vis) = vis
                    && !vis.contains(id)
                {
                    out.push(v(
                        ViolationKind::LostAck,
                        format!(
                            "put ({k1}, {k2}) version {id}, acknowledged by {} at {:.1} s and the \
                             last write to its keys, is not visible at {}",
                            node_name(put.node),
                            put.completed.as_secs_f64(),
                            node_name(n)
                        ),
                    ));
                }
            }
        }
    }

    // Resurrections.
    let mut reported = BTreeSet::new();
    for w in &all {
        if w.outcome != Outcome::Ok {
            continue;
        }
        for id in &w.pre_read {
            let at: Vec<String> = visible
                .iter()
                .enumerate()
                .filter(|(_, vis)| vis.as_ref().is_some_and(|vis| vis.contains(id)))
                .map(|(n, _)| node_name(n))
                .collect();
            if !at.is_empty() && reported.insert(id) {
                let what = match w.kind {
                    WriteKind::Put { .. } => "put",
                    WriteKind::Del => "delete",
                    WriteKind::Edge => "waits-for edge",
                };
                out.push(v(
                    ViolationKind::Resurrected,
                    format!(
                        "version {id} of ({}, {}), which {} held when it acknowledged a {what} of \
                         those keys at {:.1} s, is visible at {}",
                        w.k1,
                        w.k2,
                        node_name(w.node),
                        w.completed.as_secs_f64(),
                        at.join(", ")
                    ),
                ));
            }
        }
    }
    out.sort_by_key(|x| x.kind);
    out
}

/// The transactions on a cycle of the waits-for graph `edges` (a self-loop is one): what
/// `programs/deadlock.dl` derives as `deadlocked` on a node that holds all of them. Computed
/// here independently of calm (strongly connected components, Kosaraju, without recursion).
pub fn deadlocked<'a>(edges: impl IntoIterator<Item = (&'a str, &'a str)>) -> BTreeSet<String> {
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut names: Vec<&str> = Vec::new();
    let mut id = |t: &'a str, names: &mut Vec<&'a str>| {
        *ids.entry(t).or_insert_with(|| {
            names.push(t);
            names.len() - 1
        })
    };
    let mut fwd: Vec<Vec<usize>> = Vec::new();
    let mut out = BTreeSet::new();
    let mut pairs = Vec::new();
    for (a, b) in edges {
        let (a, b) = (id(a, &mut names), id(b, &mut names));
        pairs.push((a, b));
    }
    let n = names.len();
    fwd.resize(n, Vec::new());
    let mut back: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in &pairs {
        if a == b {
            out.insert(names[a].to_string());
        }
        fwd[a].push(b);
        back[b].push(a);
    }
    // First pass: the order in which depth-first searches finish.
    let mut order = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    for root in 0..n {
        if seen[root] {
            continue;
        }
        seen[root] = true;
        let mut stack = vec![(root, 0usize)];
        while let Some((v, i)) = stack.pop() {
            if let Some(&w) = fwd[v].get(i) {
                stack.push((v, i + 1));
                if !seen[w] {
                    seen[w] = true;
                    stack.push((w, 0));
                }
            } else {
                order.push(v);
            }
        }
    }
    // Second pass, on the reversed graph in reverse finishing order: one component per tree.
    let mut comp = vec![usize::MAX; n];
    for (c, &root) in order.iter().rev().enumerate() {
        if comp[root] != usize::MAX {
            continue;
        }
        comp[root] = c;
        let mut members = vec![root];
        let mut stack = vec![root];
        while let Some(v) = stack.pop() {
            for &w in &back[v] {
                if comp[w] == usize::MAX {
                    comp[w] = c;
                    members.push(w);
                    stack.push(w);
                }
            }
        }
        if members.len() > 1 {
            out.extend(members.iter().map(|&m| names[m].to_string()));
        }
    }
    out
}

/// Checks a run of `programs/deadlock.dl`: `base` are the program's own `waits` facts, the
/// history's [`WriteKind::Edge`] writes (and probes) the edges clients inserted, `finals` every
/// node's `deadlocked` at the end (`None`: unreadable). Every node must report every deadlock
/// that the acknowledged edges (with `base`) make (else **lost ack**), nothing that all edges
/// whose outcome is not "certainly not applied" could not make (else **phantom**), and the same
/// set as the others (else **divergence**).
pub fn check_deadlock(
    history: &History,
    base: &[(String, String)],
    finals: &[Option<BTreeSet<String>>],
) -> Vec<Violation> {
    let edges: Vec<&Write> = history
        .writes
        .iter()
        .chain(&history.probes)
        .filter(|w| w.kind == WriteKind::Edge)
        .collect();
    let base = base.iter().map(|(a, b)| (a.as_str(), b.as_str()));
    let must = deadlocked(
        base.clone().chain(
            edges
                .iter()
                .filter(|w| w.outcome == Outcome::Ok)
                .map(|w| (w.k1.as_str(), w.k2.as_str())),
        ),
    );
    let may = deadlocked(
        base.chain(
            edges
                .iter()
                .filter(|w| w.outcome != Outcome::Failed)
                .map(|w| (w.k1.as_str(), w.k2.as_str())),
        ),
    );
    let mut out = Vec::new();
    let examples = |set: Vec<&String>| {
        let n = set.len();
        let some: Vec<&str> = set.into_iter().take(5).map(String::as_str).collect();
        format!("{n} (e.g. {})", some.join(", "))
    };
    for (i, f) in finals.iter().enumerate() {
        let Some(f) = f else {
            out.push(v(
                ViolationKind::Divergence,
                format!("{} could not be read at the end", node_name(i)),
            ));
            continue;
        };
        let missing: Vec<&String> = must.difference(f).collect();
        if !missing.is_empty() {
            out.push(v(
                ViolationKind::LostAck,
                format!(
                    "{}: deadlocks that acknowledged edges make are not reported: {}",
                    node_name(i),
                    examples(missing)
                ),
            ));
        }
        let extra: Vec<&String> = f.difference(&may).collect();
        if !extra.is_empty() {
            out.push(v(
                ViolationKind::Phantom,
                format!(
                    "{}: deadlocks that no edge sent makes are reported: {}",
                    node_name(i),
                    examples(extra)
                ),
            ));
        }
    }
    let read: Vec<(usize, &BTreeSet<String>)> = finals
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.as_ref().map(|f| (i, f)))
        .collect();
    if let Some(&(r, base)) = read.first() {
        for &(i, f) in &read[1..] {
            if f != base {
                out.push(v(
                    ViolationKind::Divergence,
                    format!(
                        "{} and {} differ: {} only at {}, {} only at {}",
                        node_name(i),
                        node_name(r),
                        examples(f.difference(base).collect()),
                        node_name(i),
                        examples(base.difference(f).collect()),
                        node_name(r)
                    ),
                ));
            }
        }
    }
    out.sort_by_key(|x| x.kind);
    out
}

/// A span of the run: healthy (`fault` none) or one fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    /// The fault and the node it hit, if any.
    pub fault: Option<(FaultKind, usize)>,
    /// When it started, from the start of the run.
    pub start: Duration,
    /// When it ended.
    pub end: Duration,
}

/// The writes of one kind of phase, at the nodes a fault hit and at the others.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PhaseStats {
    /// Phases of this kind.
    pub phases: usize,
    /// Their total length.
    pub time: Duration,
    /// Writes sent to nodes the fault did not hit (every node when healthy), and those
    /// acknowledged.
    pub other_sent: usize,
    /// Acknowledged among them.
    pub other_acked: usize,
    /// Writes sent to the node the fault hit, and those acknowledged.
    pub hit_sent: usize,
    /// Acknowledged among them.
    pub hit_acked: usize,
}

/// Counts writes by phase (keyed by the fault kind, `None` for healthy), and reports a fault
/// during which the nodes it did not hit acknowledged none of at least `min_sent` writes sent
/// to them. A write counts in the phase in which it was sent; the first `grace` of a phase is
/// not counted (requests sent just before it may still be answered in it).
pub fn availability(
    history: &History,
    phases: &[Phase],
    grace: Duration,
    min_sent: usize,
) -> (BTreeMap<Option<FaultKind>, PhaseStats>, Vec<Violation>) {
    let mut stats: BTreeMap<Option<FaultKind>, PhaseStats> = BTreeMap::new();
    let mut out = Vec::new();
    for p in phases {
        let s = stats.entry(p.fault.map(|(k, _)| k)).or_default();
        s.phases += 1;
        s.time += p.end.saturating_sub(p.start);
        let (mut sent, mut acked) = (0, 0);
        for w in &history.writes {
            if w.invoked < p.start + grace || w.invoked >= p.end {
                continue;
            }
            let ok = w.outcome == Outcome::Ok;
            if p.fault.is_some_and(|(_, n)| n == w.node) {
                s.hit_sent += 1;
                s.hit_acked += usize::from(ok);
            } else {
                s.other_sent += 1;
                s.other_acked += usize::from(ok);
                sent += 1;
                acked += usize::from(ok);
            }
        }
        if sent >= min_sent && acked == 0 {
            let what = match p.fault {
                Some((k, n)) => format!("during the {k} of {}", node_name(n)),
                None => "while healthy".to_string(),
            };
            out.push(v(
                ViolationKind::Unavailable,
                format!(
                    "{what} ({:.1}–{:.1} s) the other nodes acknowledged none of {sent} writes",
                    p.start.as_secs_f64(),
                    p.end.as_secs_f64()
                ),
            ));
        }
    }
    (stats, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Read;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn put(node: usize, key: &str, seq: i64, t: u64, outcome: Outcome, pre: &[i64]) -> Write {
        Write {
            node,
            k1: key.into(),
            k2: "x".into(),
            kind: WriteKind::Put {
                id: id(seq),
                value: format!("v{seq}"),
            },
            pre_read: pre.iter().map(|&s| id(s)).collect(),
            invoked: ms(t),
            completed: ms(t + 5),
            outcome,
        }
    }

    fn del(node: usize, key: &str, t: u64, outcome: Outcome, pre: &[i64]) -> Write {
        Write {
            node,
            k1: key.into(),
            k2: "x".into(),
            kind: WriteKind::Del,
            pre_read: pre.iter().map(|&s| id(s)).collect(),
            invoked: ms(t),
            completed: ms(t + 5),
            outcome,
        }
    }

    fn id(seq: i64) -> VersionId {
        VersionId {
            client: "w0".into(),
            seq,
        }
    }

    fn row(key: &str, seq: i64) -> Row {
        Row::new(key, "x", &format!("v{seq}"), "w0", seq)
    }

    fn everywhere(rows: &[Row]) -> Vec<Option<Vec<Row>>> {
        vec![Some(rows.to_vec()); 3]
    }

    fn kinds(v: &[Violation]) -> Vec<ViolationKind> {
        v.iter().map(|x| x.kind).collect()
    }

    #[test]
    fn a_clean_history_has_no_violation() {
        let h = History {
            writes: vec![
                put(0, "a", 1, 0, Outcome::Ok, &[]),
                put(1, "a", 2, 10, Outcome::Ok, &[1]),
                put(2, "b", 3, 20, Outcome::Ok, &[]),
                del(2, "b", 30, Outcome::Ok, &[3]),
                put(0, "c", 4, 40, Outcome::Ok, &[]),
            ],
            reads: vec![Read {
                node: 1,
                at: ms(50),
                rows: vec![row("a", 2)],
            }],
            failed_reads: 0,
            probes: Vec::new(),
        };
        let v = check_final(&h, &everywhere(&[row("a", 2), row("c", 4)]));
        assert!(v.is_empty(), "{v:#?}");
    }

    #[test]
    fn finds_a_lost_ack() {
        let h = History {
            writes: vec![
                put(0, "a", 1, 0, Outcome::Ok, &[]),
                put(1, "a", 2, 10, Outcome::Ok, &[1]),
            ],
            ..History::default()
        };
        let mut finals = everywhere(&[row("a", 2)]);
        finals[2] = Some(vec![]);
        let v = check_final(&h, &finals);
        // n3 lacks the last acknowledged put (and so differs from n1).
        assert_eq!(
            kinds(&v),
            vec![ViolationKind::LostAck, ViolationKind::Divergence],
            "{v:#?}"
        );
        let lost: Vec<_> = v
            .iter()
            .filter(|x| x.kind == ViolationKind::LostAck)
            .collect();
        assert_eq!(lost.len(), 1);
        assert!(lost[0].detail.contains("w0/2") && lost[0].detail.contains("at n3"));
        // Missing everywhere: one violation per node, no divergence.
        let v = check_final(&h, &everywhere(&[]));
        assert_eq!(kinds(&v), vec![ViolationKind::LostAck; 3], "{v:#?}");
    }

    #[test]
    fn a_put_that_may_be_replaced_need_not_survive() {
        // A later write, acknowledged or not, or an earlier one of unknown outcome (a node may
        // still apply it) may replace the put; a certainly failed one cannot.
        for other in [
            put(1, "a", 2, 10, Outcome::Ok, &[]),
            del(1, "a", 10, Outcome::Unknown, &[]),
            put(1, "a", 2, 0, Outcome::Unknown, &[]),
        ] {
            let mut first = put(0, "a", 1, 5, Outcome::Ok, &[]);
            if other.invoked > first.invoked {
                first.invoked = ms(0);
                first.completed = ms(5);
            }
            // An acknowledged later put must itself survive.
            let last = match &other.kind {
                WriteKind::Put { .. } if other.outcome == Outcome::Ok => vec![row("a", 2)],
                _ => vec![],
            };
            let h = History {
                writes: vec![first, other],
                ..History::default()
            };
            let v = check_final(&h, &everywhere(&last));
            assert!(v.is_empty(), "{v:#?}");
        }
        let h = History {
            writes: vec![
                put(1, "a", 2, 0, Outcome::Failed, &[]),
                put(0, "a", 1, 10, Outcome::Ok, &[]),
            ],
            ..History::default()
        };
        assert_eq!(
            kinds(&check_final(&h, &everywhere(&[]))),
            vec![ViolationKind::LostAck; 3]
        );
        // Concurrent acknowledged puts (the other completed after this one was sent).
        let mut a = put(0, "a", 1, 0, Outcome::Ok, &[]);
        a.completed = ms(20);
        let h = History {
            writes: vec![a, put(1, "a", 2, 10, Outcome::Ok, &[])],
            ..History::default()
        };
        let v = check_final(&h, &everywhere(&[row("a", 1)]));
        assert!(v.is_empty(), "{v:#?}");
    }

    #[test]
    fn finds_a_resurrected_delete() {
        let h = History {
            writes: vec![
                put(0, "a", 1, 0, Outcome::Ok, &[]),
                del(1, "a", 10, Outcome::Ok, &[1]),
            ],
            ..History::default()
        };
        let v = check_final(&h, &everywhere(&[row("a", 1)]));
        assert_eq!(kinds(&v), vec![ViolationKind::Resurrected], "{v:#?}");
        assert!(v[0].detail.contains("w0/1") && v[0].detail.contains("n1, n2, n3"));
        // Gone everywhere: fine.
        assert!(check_final(&h, &everywhere(&[])).is_empty());
        // A delete whose node had not seen the version (no pre-read) leaves a sibling: fine.
        let h = History {
            writes: vec![
                put(0, "a", 1, 0, Outcome::Ok, &[]),
                del(1, "a", 10, Outcome::Ok, &[]),
            ],
            ..History::default()
        };
        assert!(check_final(&h, &everywhere(&[row("a", 1)])).is_empty());
        // An unacknowledged delete proves nothing.
        let h = History {
            writes: vec![
                put(0, "a", 1, 0, Outcome::Ok, &[]),
                del(1, "a", 10, Outcome::Unknown, &[1]),
            ],
            ..History::default()
        };
        assert!(check_final(&h, &everywhere(&[row("a", 1)])).is_empty());
    }

    #[test]
    fn finds_a_superseded_version_back() {
        let h = History {
            writes: vec![
                put(0, "a", 1, 0, Outcome::Ok, &[]),
                put(0, "a", 2, 10, Outcome::Ok, &[1]),
            ],
            ..History::default()
        };
        let mut finals = everywhere(&[row("a", 2)]);
        finals[1] = Some(vec![row("a", 1), row("a", 2)]);
        let v = check_final(&h, &finals);
        assert_eq!(
            kinds(&v),
            vec![ViolationKind::Resurrected, ViolationKind::Divergence]
        );
        assert!(v[0].detail.contains("visible at n2"), "{}", v[0].detail);
    }

    #[test]
    fn finds_a_divergence() {
        let h = History {
            writes: vec![
                put(0, "a", 1, 0, Outcome::Unknown, &[]),
                put(0, "b", 2, 0, Outcome::Ok, &[]),
            ],
            ..History::default()
        };
        let finals = vec![
            Some(vec![row("a", 1), row("b", 2)]),
            Some(vec![row("a", 1), row("b", 2)]),
            Some(vec![row("b", 2)]),
        ];
        let v = check_final(&h, &finals);
        assert_eq!(kinds(&v), vec![ViolationKind::Divergence], "{v:#?}");
        assert!(v[0].detail.contains("n3 and n1 differ"), "{}", v[0].detail);
        // A node that cannot be read.
        let finals = vec![Some(vec![row("b", 2)]), None, Some(vec![row("b", 2)])];
        let v = check_final(&h, &finals);
        assert_eq!(kinds(&v), vec![ViolationKind::Divergence], "{v:#?}");
        assert!(v[0].detail.contains("n2 could not be read"));
    }

    #[test]
    fn finds_phantoms() {
        let h = History {
            writes: vec![put(0, "a", 1, 0, Outcome::Ok, &[])],
            reads: vec![Read {
                node: 0,
                at: ms(3),
                rows: vec![Row::new("a", "x", "v1", "w0", 9)],
            }],
            failed_reads: 0,
            probes: Vec::new(),
        };
        // A read of an id never written, and a final value that is not the put's.
        let mut finals = everywhere(&[row("a", 1)]);
        for f in finals.iter_mut().flatten() {
            f[0].value = "other".into();
        }
        let v = check_final(&h, &finals);
        assert_eq!(kinds(&v), vec![ViolationKind::Phantom; 2], "{v:#?}");
    }

    #[test]
    fn availability_by_phase() {
        let phases = vec![
            Phase {
                fault: None,
                start: ms(0),
                end: ms(1000),
            },
            Phase {
                fault: Some((FaultKind::Partition, 2)),
                start: ms(1000),
                end: ms(3000),
            },
        ];
        let mut writes = Vec::new();
        for i in 0..10 {
            writes.push(put(0, "a", i, 100 * i as u64, Outcome::Ok, &[]));
            writes.push(put(
                1,
                "b",
                100 + i,
                1200 + 100 * i as u64,
                Outcome::Ok,
                &[],
            ));
            writes.push(put(
                2,
                "c",
                200 + i,
                1200 + 100 * i as u64,
                Outcome::Unknown,
                &[],
            ));
        }
        let h = History {
            writes,
            ..History::default()
        };
        let (stats, v) = availability(&h, &phases, ms(100), 3);
        assert!(v.is_empty(), "{v:#?}");
        let p = &stats[&Some(FaultKind::Partition)];
        assert_eq!(
            (p.other_sent, p.other_acked, p.hit_sent, p.hit_acked),
            (10, 10, 10, 0)
        );
        // The write at 0 ms falls in the grace period.
        assert_eq!(stats[&None].other_acked, 9);
        // The majority side stops acknowledging: a violation.
        let mut h = h;
        for w in &mut h.writes {
            if w.node == 1 {
                w.outcome = Outcome::Unknown;
            }
        }
        let (_, v) = availability(&h, &phases, ms(100), 3);
        assert_eq!(kinds(&v), vec![ViolationKind::Unavailable], "{v:#?}");
        assert!(v[0].detail.contains("partition of n3"));
    }

    fn edge(node: usize, a: &str, b: &str, outcome: Outcome) -> Write {
        Write {
            node,
            k1: a.into(),
            k2: b.into(),
            kind: WriteKind::Edge,
            pre_read: Vec::new(),
            invoked: ms(0),
            completed: ms(5),
            outcome,
        }
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn deadlocked_is_the_transactions_on_cycles() {
        // The paper's example: a local cycle, one across machines, and t6 waiting on a cycle.
        let edges = [
            ("t1", "t2"),
            ("t2", "t1"),
            ("t3", "t4"),
            ("t4", "t5"),
            ("t5", "t3"),
            ("t6", "t1"),
            ("t7", "t7"),
            ("a", "b"),
            ("b", "c"),
        ];
        assert_eq!(
            deadlocked(edges),
            set(&["t1", "t2", "t3", "t4", "t5", "t7"])
        );
        // A long chain closed at its end: every link of it (and no stack overflow).
        let names: Vec<String> = (0..100_000).map(|i| format!("x{i}")).collect();
        let mut chain: Vec<(&str, &str)> = names.windows(2).map(|w| (&*w[0], &*w[1])).collect();
        assert!(deadlocked(chain.iter().copied()).is_empty());
        chain.push((&names[99_999], &names[0]));
        assert_eq!(deadlocked(chain).len(), 100_000);
    }

    #[test]
    fn deadlock_checks() {
        let base = vec![("t1".to_string(), "t2".to_string())];
        let h = History {
            writes: vec![
                edge(0, "t2", "t1", Outcome::Ok),
                edge(1, "a", "b", Outcome::Ok),
                edge(2, "b", "a", Outcome::Unknown),
                edge(2, "c", "c", Outcome::Failed),
            ],
            ..History::default()
        };
        let ok = set(&["t1", "t2"]);
        assert!(check_deadlock(&h, &base, &[Some(ok.clone()), Some(ok.clone())]).is_empty());
        // The unknown edge may have been applied everywhere.
        let with = set(&["t1", "t2", "a", "b"]);
        assert!(check_deadlock(&h, &base, &[Some(with.clone()), Some(with.clone())]).is_empty());
        // Missing an acknowledged deadlock, reporting one only a refused edge makes, differing.
        let v = check_deadlock(&h, &base, &[Some(set(&["t1"])), Some(ok.clone())]);
        assert_eq!(
            kinds(&v),
            vec![ViolationKind::LostAck, ViolationKind::Divergence]
        );
        let mut phantom = ok.clone();
        phantom.insert("c".into());
        let v = check_deadlock(&h, &base, &[Some(phantom.clone()), Some(phantom)]);
        assert_eq!(
            kinds(&v),
            vec![ViolationKind::Phantom, ViolationKind::Phantom]
        );
        let v = check_deadlock(&h, &base, &[None, Some(ok)]);
        assert_eq!(kinds(&v), vec![ViolationKind::Divergence]);
    }
}
