//! The workload: clients putting, deleting and reading keys of `programs/kvs.dl` at every node.
//!
//! Each worker has its own client name (`w0`, ...) and its own keys, and writes each key from
//! one thread, one request at a time, so the order of the writes to a key is known. A worker
//! talks to one node at a time (worker `i` starts at node `i mod n`) and moves to the next node
//! every 25 requests, and at once after a failed request (as a client that fails over), so a key is written at every node over time, and a frozen or cut-off node
//! holds up only the workers talking to it. Before each
//! write it reads the key at the node it writes to: what that read shows, the node holds, and
//! an acknowledged write tombstones it (the checker's "resurrected" rule). A key whose write
//! has an unknown outcome (a timeout: the node may apply it later) is retired, replaced by a
//! fresh one, so that it cannot make later checks of the key vacuous.

use crate::cluster::Api;
use calm_chaos::history::{History, Outcome, Read, VersionId, Write, WriteKind};
use calm_chaos::rng::Rng;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One worker.
pub struct Worker {
    /// Its index (its client name is `w{index}`).
    pub index: usize,
    /// The number of nodes.
    pub nodes: usize,
    /// Its random choices' seed.
    pub seed: u64,
    /// The run's start (times in the history are from it).
    pub start: Instant,
    /// When to stop.
    pub end: Instant,
    /// Set to stop early.
    pub stop: Arc<AtomicBool>,
    /// How many keys it writes at once.
    pub keys: usize,
}

impl Worker {
    /// Runs until `end` (or `stop`), and returns what it did and saw.
    pub fn run(self, api: &Api) -> History {
        let mut rng = Rng::new(self.seed ^ (self.index as u64).wrapping_mul(0x9e37_79b9));
        let client = format!("w{}", self.index);
        let mut next_key = 0usize;
        let fresh = |next_key: &mut usize| {
            *next_key += 1;
            (
                format!("w{}k{}", self.index, *next_key),
                if next_key.is_multiple_of(2) { "x" } else { "y" }.to_string(),
            )
        };
        let mut slots: Vec<(String, String)> =
            (0..self.keys).map(|_| fresh(&mut next_key)).collect();
        let mut seq = 0i64;
        let mut h = History::default();
        let mut node = self.index % self.nodes;
        let mut count = 0u64;
        // Bounded in time (each request has a timeout) and in count.
        for _ in 0..10_000_000u64 {
            if Instant::now() >= self.end || self.stop.load(Ordering::Relaxed) {
                break;
            }
            let slot = rng.below(self.keys as u64) as usize;
            let (k1, k2) = slots[slot].clone();
            count += 1;
            if count.is_multiple_of(25) {
                node = (node + 1) % self.nodes;
            }
            let op = rng.below(100);
            if op < 20 {
                // A read, by both keys or by the first.
                let filters: Vec<(&str, &str)> = if rng.chance(50) {
                    vec![("k1", &k1), ("k2", &k2)]
                } else {
                    vec![("k1", &k1)]
                };
                match api.visible(node, &filters) {
                    Ok(rows) => h.reads.push(Read {
                        node,
                        at: self.start.elapsed(),
                        rows,
                    }),
                    Err(_) => {
                        h.failed_reads += 1;
                        node = (node + 1) % self.nodes;
                    }
                }
            } else {
                let pre = match api.visible(node, &[("k1", &k1), ("k2", &k2)]) {
                    Ok(rows) => rows,
                    Err(_) => {
                        h.failed_reads += 1;
                        node = (node + 1) % self.nodes;
                        self.pause(&mut rng, true);
                        continue;
                    }
                };
                let pre_read: Vec<VersionId> = pre.iter().map(|r| r.id.clone()).collect();
                h.reads.push(Read {
                    node,
                    at: self.start.elapsed(),
                    rows: pre,
                });
                let (kind, rel, tuple) = if op < 80 {
                    seq += 1;
                    let value = format!("v{}-{seq}", self.index);
                    let tuple = json!([[client, seq, k1, k2, value]]);
                    let id = VersionId {
                        client: client.clone(),
                        seq,
                    };
                    (WriteKind::Put { id, value }, "put", tuple)
                } else {
                    (WriteKind::Del, "del", json!([[k1, k2]]))
                };
                let invoked = self.start.elapsed();
                let outcome = api.insert(node, rel, &tuple);
                let completed = self.start.elapsed();
                if outcome == Outcome::Unknown {
                    slots[slot] = fresh(&mut next_key);
                }
                h.writes.push(Write {
                    node,
                    k1,
                    k2,
                    kind,
                    pre_read,
                    invoked,
                    completed,
                    outcome,
                });
                if outcome != Outcome::Ok {
                    node = (node + 1) % self.nodes;
                    self.pause(&mut rng, true);
                    continue;
                }
            }
            self.pause(&mut rng, false);
        }
        h
    }

    /// Think time; longer after a failure.
    fn pause(&self, rng: &mut Rng, failed: bool) {
        let d = if failed {
            rng.millis(100, 300)
        } else {
            rng.millis(5, 25)
        };
        let left = self.end.saturating_duration_since(Instant::now());
        std::thread::sleep(d.min(left).max(Duration::from_millis(1)));
    }
}

/// One client of `programs/deadlock.dl`: it inserts waits-for edges, one request each, moving
/// to the next node after every third edge and at once after a failed request (so that cycles
/// span nodes, and a frozen node holds up few clients at a time). Its transactions are its own
/// (`d{index}c{chain}t{j}`): chains of 2 to 5 of them, each closed into a cycle (a deadlock)
/// with probability 1/2, and now and then a fresh transaction waiting on a chain (waiting on a
/// deadlock is not being in one). An edge that certainly failed is sent again at the next node;
/// one whose outcome is unknown is left as it is (the checker allows for it).
pub struct DeadlockWorker {
    /// Its index.
    pub index: usize,
    /// The number of nodes.
    pub nodes: usize,
    /// Its random choices' seed.
    pub seed: u64,
    /// The run's start.
    pub start: Instant,
    /// When to stop.
    pub end: Instant,
    /// Set to stop early.
    pub stop: Arc<AtomicBool>,
}

impl DeadlockWorker {
    /// Runs until `end` (or `stop`), and returns its edges.
    pub fn run(self, api: &Api) -> History {
        let mut rng = Rng::new(self.seed ^ (self.index as u64).wrapping_mul(0x51_7cc1_b727));
        let mut h = History::default();
        let mut node = self.index % self.nodes;
        let mut chain = 0u64;
        let mut sent = 0u64;
        let mut pending: Vec<(String, String)> = Vec::new();
        for _ in 0..10_000_000u64 {
            if Instant::now() >= self.end || self.stop.load(Ordering::Relaxed) {
                break;
            }
            if pending.is_empty() {
                chain += 1;
                let len = 2 + rng.below(4) as usize;
                let t = |j: usize| format!("d{}c{chain}t{j}", self.index);
                pending = (0..len - 1).map(|j| (t(j), t(j + 1))).collect();
                if rng.chance(50) {
                    pending.push((t(len - 1), t(0)));
                }
                if rng.chance(20) {
                    pending.push((format!("d{}c{chain}w", self.index), t(0)));
                }
                // Reversed: `pop` takes them in order.
                pending.reverse();
            }
            if rng.chance(10) {
                // A read, as a client would check for deadlocks.
                match api.rows(node, "deadlocked") {
                    // Counted only: the rows are checked at the end.
                    Ok(_) => h.reads.push(calm_chaos::history::Read {
                        node,
                        at: self.start.elapsed(),
                        rows: Vec::new(),
                    }),
                    Err(_) => {
                        h.failed_reads += 1;
                        node = (node + 1) % self.nodes;
                    }
                }
            }
            let Some((a, b)) = pending.last().cloned() else {
                continue;
            };
            let invoked = self.start.elapsed();
            let outcome = api.insert(node, "waits", &json!([[a, b]]));
            let completed = self.start.elapsed();
            h.writes.push(Write {
                node,
                k1: a,
                k2: b,
                kind: WriteKind::Edge,
                pre_read: Vec::new(),
                invoked,
                completed,
                outcome,
            });
            sent += 1;
            if outcome != Outcome::Ok || sent.is_multiple_of(3) {
                node = (node + 1) % self.nodes;
            }
            if outcome != Outcome::Failed {
                pending.pop();
            }
            let d = if outcome == Outcome::Ok {
                rng.millis(5, 25)
            } else {
                rng.millis(100, 300)
            };
            let left = self.end.saturating_duration_since(Instant::now());
            std::thread::sleep(d.min(left).max(Duration::from_millis(1)));
        }
        h
    }
}
