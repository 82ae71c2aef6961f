//! What a node with a data directory stores, and how it comes back: event sourcing plus
//! snapshots over a [`Storage`].
//!
//! The engine is deterministic: a node's state after a step is a function of the program, its
//! name and members, and the inputs of the steps before. So each step that runs a tick, or
//! learns that a peer restarted (which resets what the node remembers of that peer's batches),
//! stores its inputs (client facts, peer batches, timer rounds, peer restarts) as one log entry,
//! in the same
//! transaction as the batches it sends (the outbox, until acknowledged), the removal of batches
//! acknowledged since the last commit, and the peers' sequence numbers. Every so often the state
//! before a step (engine carry, per-peer history, timer rounds) is stored as a snapshot in that
//! step's transaction, and the log entries it covers are deleted: facts the program no longer
//! holds are in no snapshot, so they leave the disk. A restart restores the snapshot and replays
//! the log entries after it through [`NodeCore::step`] (their sends are dropped: the outbox holds
//! what is owed), which ends in exactly the state of the last commit.

use crate::core::{CoreSnapshot, Input, NodeCore};
use crate::store::{PeerRecord, Storage, StoreError, decode, encode};
use crate::wire::{WireFact, WireValue};
use calm_engine::{EngineSnapshot, Program, Value};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The store's format version. Format 3 logs peer restarts; a store in format 2 (which did
/// not) is read, and marked format 3 when opened.
const FORMAT: u32 = 3;

/// The oldest format read.
const OLDEST_FORMAT: u32 = 2;

/// When a node with a data directory writes a snapshot.
#[derive(Clone, Debug)]
pub struct SnapshotPolicy {
    /// After this many log entries (ticks) since the last snapshot.
    pub every_ticks: u64,
    /// After this many bytes of log since the last snapshot, or the size of the last snapshot
    /// if that is larger (so snapshots cost amortised linear time).
    pub log_bytes: u64,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        SnapshotPolicy {
            every_ticks: 1000,
            log_bytes: 8 << 20,
        }
    }
}

// ---- log entries ----------------------------------------------------------------------------

/// A logged input, serialised from the step's inputs without copying them. Its encoding is that
/// of [`Logged`].
#[derive(Serialize)]
enum LoggedRef<'a> {
    Insert(FactsRef<'a>),
    Peer {
        from: &'a str,
        seq: u64,
        facts: &'a [WireFact],
    },
    Timer {
        relation: &'a str,
        round: i64,
    },
    PeerRestarted(&'a str),
}

#[derive(Deserialize)]
enum Logged {
    Insert(Vec<(String, Vec<WireValue>)>),
    Peer {
        from: String,
        seq: u64,
        facts: Vec<WireFact>,
    },
    Timer {
        relation: String,
        round: i64,
    },
    PeerRestarted(String),
}

struct FactsRef<'a>(&'a [(String, Vec<Value>)]);

#[derive(Serialize)]
enum ValueRef<'a> {
    Number(i64),
    Symbol(&'a str),
}

struct TupleRef<'a>(&'a [Value]);

impl Serialize for TupleRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&match v {
                Value::Number(n) => ValueRef::Number(*n),
                Value::Symbol(x) => ValueRef::Symbol(x),
                // A node refuses programs with `unsigned` or `float` columns
                // (`core::unsupported`), so its engine never gives such a value.
                Value::Unsigned(_) | Value::Float(_) => {
                    return Err(serde::ser::Error::custom(
                        "unsigned and float values are not stored by a node",
                    ));
                }
            })?;
        }
        seq.end()
    }
}

impl Serialize for FactsRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (rel, tuple) in self.0 {
            seq.serialize_element(&(rel.as_str(), TupleRef(tuple)))?;
        }
        seq.end()
    }
}

/// An input as logged: every input can change the node's state. A peer restart makes sends
/// (which go to the outbox, not the log), and resets the sequence numbers remembered of the
/// peer's batches: replayed without it, the batches of the peer's new incarnation would be
/// taken for batches already processed.
fn logged(input: &Input) -> LoggedRef<'_> {
    match input {
        Input::Insert(facts) => LoggedRef::Insert(FactsRef(facts)),
        Input::Peer { from, seq, facts } => LoggedRef::Peer {
            from,
            seq: *seq,
            facts,
        },
        Input::Timer { relation, round } => LoggedRef::Timer {
            relation,
            round: *round,
        },
        Input::PeerRestarted(peer) => LoggedRef::PeerRestarted(peer),
    }
}

/// Encodes the inputs of one step as a log entry.
pub fn encode_inputs(inputs: &[Input]) -> Vec<u8> {
    let v: Vec<LoggedRef<'_>> = inputs.iter().map(logged).collect();
    encode(&v)
}

/// Whether a step with these inputs must be logged although it runs no tick: it changes what
/// the node remembers of a peer.
pub fn logged_without_tick(inputs: &[Input]) -> bool {
    inputs.iter().any(|i| matches!(i, Input::PeerRestarted(_)))
}

/// Decodes a log entry.
pub fn decode_inputs(bytes: &[u8]) -> Result<Vec<Input>, String> {
    let v: Vec<Logged> = decode(bytes)?;
    Ok(v.into_iter()
        .map(|l| match l {
            Logged::Insert(facts) => Input::Insert(
                facts
                    .into_iter()
                    .map(|(r, t)| (r, t.into_iter().map(Value::from).collect()))
                    .collect(),
            ),
            Logged::Peer { from, seq, facts } => Input::Peer { from, seq, facts },
            Logged::Timer { relation, round } => Input::Timer { relation, round },
            Logged::PeerRestarted(peer) => Input::PeerRestarted(peer),
        })
        .collect())
}

// ---- snapshots ------------------------------------------------------------------------------

type Rows = Vec<(String, Vec<Vec<WireValue>>)>;

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    /// Log entries before this one are covered.
    covers: u64,
    ticks: u64,
    started: bool,
    carry: Rows,
    given: Rows,
    history: Vec<(String, Vec<WireFact>)>,
    busy: bool,
    timers: Vec<(String, i64)>,
    /// Per peer: every batch below the first number was processed, and the listed ones.
    processed: Vec<(String, (u64, Vec<u64>))>,
}

fn to_wire(rows: &[(String, Vec<Vec<Value>>)]) -> Rows {
    rows.iter()
        .map(|(r, ts)| {
            (
                r.clone(),
                ts.iter()
                    .map(|t| t.iter().map(WireValue::from).collect())
                    .collect(),
            )
        })
        .collect()
}

fn from_wire(rows: Rows) -> Vec<(String, Vec<Vec<Value>>)> {
    rows.into_iter()
        .map(|(r, ts)| {
            (
                r,
                ts.into_iter()
                    .map(|t| t.into_iter().map(Value::from).collect())
                    .collect(),
            )
        })
        .collect()
}

/// Encodes the node's state before log entry `covers`.
pub fn encode_snapshot(covers: u64, core: &NodeCore, timers: &BTreeMap<String, i64>) -> Vec<u8> {
    let s = core.snapshot();
    encode(&StoredSnapshot {
        covers,
        ticks: s.engine.ticks,
        started: s.engine.started,
        carry: to_wire(&s.engine.carry),
        given: to_wire(&s.engine.given),
        history: s.history.into_iter().collect(),
        busy: s.busy,
        timers: timers.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        processed: s.processed.into_iter().collect(),
    })
}

/// What identifies the computation a store belongs to: the program's text, the node's name and
/// the members. Replaying a log under another program or membership would give another state.
pub fn fingerprint(program: &Program, name: &str, peers: &[String]) -> Vec<u8> {
    let mut h = Sha256::new();
    let text = &program.sources().get(program.file()).text;
    let mut members: Vec<&String> = peers.iter().collect();
    members.sort();
    for part in std::iter::once(text.as_str())
        .chain(std::iter::once(name))
        .chain(members.iter().map(|s| s.as_str()))
    {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().to_vec()
}

/// The state a store gave back, besides the node core itself.
#[derive(Debug, Default)]
pub struct Restored {
    /// The node's incarnation, stable across restarts.
    pub incarnation: u64,
    /// The next log key.
    pub log_next: u64,
    /// Per timer relation, its next round.
    pub timers: BTreeMap<String, i64>,
    /// Unacknowledged batches per peer.
    pub outbox: BTreeMap<String, BTreeMap<u64, Vec<WireFact>>>,
    /// Peers.
    pub peers: BTreeMap<String, PeerRecord>,
    /// Log entries replayed.
    pub replayed: u64,
    /// Log entries and their bytes since the snapshot; the snapshot's bytes.
    pub log_entries: u64,
    /// Bytes of log since the snapshot.
    pub log_bytes: u64,
    /// Bytes of the snapshot.
    pub snapshot_bytes: u64,
}

/// Records a step's timer rounds: the next round of each timer.
pub fn note_timers(inputs: &[Input], timers: &mut BTreeMap<String, i64>) {
    for i in inputs {
        if let Input::Timer { relation, round } = i {
            let next = timers.entry(relation.clone()).or_insert(0);
            *next = (*next).max(round.saturating_add(1));
        }
    }
}

/// Opens the node's state in `store`: a new store is initialised with `fresh_incarnation`;
/// otherwise `core` (new, of this program, name and members) is brought to the state of the last
/// commit.
pub fn recover(
    store: &mut dyn Storage,
    core: &mut NodeCore,
    fingerprint: &[u8],
    fresh_incarnation: u64,
) -> Result<Restored, StoreError> {
    let loc = store.location();
    let corrupt =
        |what: &str, e: &dyn std::fmt::Display| StoreError::corrupt(&loc, format!("{what}: {e}"));
    let r = store.recover()?;
    if r.meta.is_empty() {
        // Every store calm makes has its first commit before it gets its name.
        return Err(StoreError::corrupt(
            &loc,
            "no metadata: not a calm data file, or damaged",
        ));
    }
    if !r.meta.contains_key("fingerprint") {
        // Created, never initialised.
        if !r.log.is_empty() || r.snapshot.is_some() || !r.outbox.is_empty() {
            return Err(StoreError::corrupt(&loc, "the metadata is incomplete"));
        }
        store.commit(&crate::store::Commit {
            meta: vec![
                ("format", encode(&FORMAT)),
                ("fingerprint", fingerprint.to_vec()),
                ("incarnation", encode(&fresh_incarnation)),
                ("log_next", encode(&0u64)),
            ],
            ..Default::default()
        })?;
        return Ok(Restored {
            incarnation: fresh_incarnation,
            ..Restored::default()
        });
    }
    let meta = |k: &str| {
        r.meta
            .get(k)
            .ok_or_else(|| StoreError::corrupt(&loc, format!("metadata `{k}` is missing")))
    };
    let format: u32 = decode(meta("format")?).map_err(|e| corrupt("format", &e))?;
    if !(OLDEST_FORMAT..=FORMAT).contains(&format) {
        return Err(StoreError::io(
            &loc,
            format!(
                "the data is in format {format}; this calm reads formats {OLDEST_FORMAT} to {FORMAT}"
            ),
        ));
    }
    if meta("fingerprint")? != fingerprint {
        return Err(StoreError::io(
            &loc,
            "the data directory belongs to another program, node name or membership; \
             replaying it would not give its state back. Use a new --data-dir (or remove this one)",
        ));
    }
    let incarnation: u64 = decode(meta("incarnation")?).map_err(|e| corrupt("incarnation", &e))?;
    if format != FORMAT {
        // What is logged from now on may not be readable in the old format.
        store.commit(&crate::store::Commit {
            meta: vec![("format", encode(&FORMAT))],
            ..Default::default()
        })?;
    }
    let log_next: u64 = decode(meta("log_next")?).map_err(|e| corrupt("log_next", &e))?;
    let mut out = Restored {
        incarnation,
        log_next,
        peers: r.peers,
        ..Restored::default()
    };
    let mut covers = 0;
    if let Some(bytes) = &r.snapshot {
        let s: StoredSnapshot = decode(bytes).map_err(|e| corrupt("snapshot", &e))?;
        covers = s.covers;
        out.snapshot_bytes = bytes.len() as u64;
        core.restore(&CoreSnapshot {
            engine: EngineSnapshot {
                ticks: s.ticks,
                started: s.started,
                carry: from_wire(s.carry),
                given: from_wire(s.given),
            },
            history: s.history.into_iter().collect(),
            busy: s.busy,
            processed: s.processed.into_iter().collect(),
        })
        .map_err(|e| corrupt("snapshot", &e))?;
        out.timers = s.timers.into_iter().collect();
    }
    // The log must hold exactly the entries from the snapshot's to the last commit's.
    let keys: Vec<u64> = r.log.iter().map(|(k, _)| *k).collect();
    let want: Vec<u64> = (covers..log_next).collect();
    if keys != want {
        return Err(StoreError::corrupt(
            &loc,
            format!(
                "the log holds entries {:?}..{:?} ({} of them), expected {covers}..{log_next}",
                keys.first(),
                keys.last(),
                keys.len()
            ),
        ));
    }
    for (k, bytes) in &r.log {
        let inputs = decode_inputs(bytes).map_err(|e| corrupt(&format!("log entry {k}"), &e))?;
        note_timers(&inputs, &mut out.timers);
        let without_tick = logged_without_tick(&inputs);
        // The sends are dropped: what peers have not acknowledged is in the outbox.
        let o = core.step(inputs);
        if o.tick.is_none() && !without_tick {
            return Err(corrupt(
                &format!("log entry {k}"),
                &"it does not replay as a tick",
            ));
        }
        out.replayed += 1;
        out.log_bytes += bytes.len() as u64;
    }
    out.log_entries = out.replayed;
    for (peer, seq, facts) in r.outbox {
        out.outbox.entry(peer).or_default().insert(seq, facts);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_entries_round_trip() {
        let inputs = vec![
            Input::Insert(vec![
                (
                    "e".into(),
                    vec![Value::Number(-3), Value::Symbol("x".into())],
                ),
                ("f".into(), vec![]),
            ]),
            Input::PeerRestarted("b".into()),
            Input::Peer {
                from: "b".into(),
                seq: 9,
                facts: vec![WireFact {
                    relation: "m".into(),
                    tuple: vec![WireValue::Symbol("y".into())],
                }],
            },
            Input::Timer {
                relation: "t".into(),
                round: 4,
            },
        ];
        let back = decode_inputs(&encode_inputs(&inputs)).unwrap();
        assert_eq!(back, inputs);
        assert!(logged_without_tick(&back));
        assert!(!logged_without_tick(&back[2..]));
        let mut timers = BTreeMap::new();
        note_timers(&back, &mut timers);
        assert_eq!(timers["t"], 5);
        assert!(decode_inputs(&[1, 2, 3]).is_err());
    }
}
