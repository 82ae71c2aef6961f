//! What the workload did and saw: its writes (puts and deletes of `programs/kvs.dl`, or
//! waits-for edges of `programs/deadlock.dl`) with their outcomes, its reads of `visible`, and
//! the harness's own probe writes (markers written around each heal to time the catch-up).

use std::time::Duration;

/// A version's id: the client's name and its counter (`put(client, seq, ...)`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionId {
    /// The client.
    pub client: String,
    /// The client's counter.
    pub seq: i64,
}

impl std::fmt::Display for VersionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.client, self.seq)
    }
}

/// A row of `visible(k1, k2, value, client, seq)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Row {
    /// The first key.
    pub k1: String,
    /// The second key.
    pub k2: String,
    /// The value.
    pub value: String,
    /// The version's id.
    pub id: VersionId,
}

impl Row {
    /// A row.
    pub fn new(k1: &str, k2: &str, value: &str, client: &str, seq: i64) -> Self {
        Row {
            k1: k1.into(),
            k2: k2.into(),
            value: value.into(),
            id: VersionId {
                client: client.into(),
                seq,
            },
        }
    }

    /// Parses a row of the HTTP API's answer (`["k1", "k2", "value", "client", 7]`).
    pub fn from_json(v: &serde_json::Value) -> Option<Row> {
        let a = v.as_array()?;
        if a.len() != 5 {
            return None;
        }
        Some(Row {
            k1: a[0].as_str()?.into(),
            k2: a[1].as_str()?.into(),
            value: a[2].as_str()?.into(),
            id: VersionId {
                client: a[3].as_str()?.into(),
                seq: a[4].as_i64()?,
            },
        })
    }
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Acknowledged: HTTP 200.
    Ok,
    /// Certainly not applied: the connection was refused or never made, or the node refused
    /// the request before ingesting it (a 4xx, or a 503 "busy" with `Retry-After`).
    Failed,
    /// May have been applied, now or later: a timeout, a reset connection, another 5xx.
    Unknown,
}

/// A write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// `put(client, seq, k1, k2, value)`.
    Put {
        /// The new version's id.
        id: VersionId,
        /// Its value.
        value: String,
    },
    /// `del(k1, k2)`.
    Del,
    /// `waits(k1, k2)` of `programs/deadlock.dl`: transaction `k1` waits for `k2`.
    Edge,
}

/// A write and what came of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// The node it was sent to (0-based).
    pub node: usize,
    /// The keys.
    pub k1: String,
    /// The second key.
    pub k2: String,
    /// Put or delete.
    pub kind: WriteKind,
    /// The versions of the keys that a read at the same node showed just before the write was
    /// sent: the node held them, so an acknowledged write tombstoned them.
    pub pre_read: Vec<VersionId>,
    /// When it was sent, from the start of the run.
    pub invoked: Duration,
    /// When its answer (or error) came.
    pub completed: Duration,
    /// Its outcome.
    pub outcome: Outcome,
}

/// A read of `visible` (by keys, or the whole relation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    /// The node read (0-based).
    pub node: usize,
    /// When it was answered, from the start of the run.
    pub at: Duration,
    /// The rows.
    pub rows: Vec<Row>,
}

/// Everything the workload did and saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// The writes.
    pub writes: Vec<Write>,
    /// The successful reads.
    pub reads: Vec<Read>,
    /// Reads that failed (timeouts, refused connections, errors).
    pub failed_reads: usize,
    /// The harness's probe writes (markers around heals): checked like the others at the end
    /// (they must not be lost, nor be phantoms), but not counted in the phases' availability.
    pub probes: Vec<Write>,
}

impl History {
    /// Appends another history (another worker's).
    pub fn merge(&mut self, other: History) {
        self.writes.extend(other.writes);
        self.reads.extend(other.reads);
        self.failed_reads += other.failed_reads;
        self.probes.extend(other.probes);
    }
}
