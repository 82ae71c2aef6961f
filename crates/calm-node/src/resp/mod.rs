//! The key-value store over Redis's protocol (RESP2), for programs shaped like
//! `programs/kvs.dl`: `calm node programs/kvs.dl --resp 127.0.0.1:6380`, then `redis-cli -p
//! 6380 HSET user name ada`.
//!
//! A Redis key is `k1` and a hash field is `k2` ([`commands`] lists the commands and how
//! siblings read). Replies come after the tick that ingested a write (and, with a data
//! directory, its commit), as for the HTTP API. The limits of the HTTP API apply: connections
//! in all and per IP address, the idle timeout, the size of a request (`max_body_bytes`), the
//! length of a string; with a token, a client must `AUTH` first.

pub mod commands;
pub mod proto;
mod server;

pub use server::serve;

use crate::{NodeError, NodeHandle};
use calm_engine::Value;
use commands::{Store, Version};
use std::sync::atomic::{AtomicI64, Ordering};

/// The relations a program needs for RESP: kvs.dl's requests, the versions it holds, and its
/// reads.
const SHAPE: [(&str, usize); 4] = [("put", 5), ("del", 2), ("kv", 5), ("visible", 5)];

/// Checks that the node's program has kvs.dl's `put(client, seq, k1, k2, value)`, `del(k1, k2)`,
/// `kv(client, seq, k1, k2, value)` and `visible(k1, k2, value, client, seq)`.
pub fn check_program(program: &calm_engine::Program) -> Result<(), String> {
    let ir = program.ir();
    for (name, arity) in SHAPE {
        match ir.relations.iter().find(|r| r.name == name) {
            Some(r) if r.arity == arity => {}
            Some(r) => {
                return Err(format!(
                    "--resp needs `{name}` with {arity} columns as in programs/kvs.dl; the program's has {}",
                    r.arity
                ));
            }
            None => {
                return Err(format!(
                    "--resp needs a program shaped like programs/kvs.dl: put(client, seq, k1, k2, value), del(k1, k2), kv(client, seq, k1, k2, value) and visible(k1, k2, value, client, seq); `{name}` is missing"
                ));
            }
        }
    }
    Ok(())
}

/// A node running kvs.dl, as the commands' [`Store`]. Its puts are made as client
/// `resp@NODE` with the time in nanoseconds as `seq` (strictly increasing, also across
/// restarts as long as the clock does not go back).
pub struct NodeStore {
    handle: NodeHandle,
    client: String,
    last_seq: AtomicI64,
}

impl NodeStore {
    /// The store of a node.
    pub fn new(handle: NodeHandle) -> NodeStore {
        let client = format!("resp@{}", handle.name());
        NodeStore {
            handle,
            client,
            last_seq: AtomicI64::new(0),
        }
    }

    fn next_seq(&self) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64);
        let mut last = self.last_seq.load(Ordering::Relaxed);
        loop {
            let next = now.max(last.saturating_add(1));
            match self
                .last_seq
                .compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }
}

impl NodeStore {
    /// Waits until the node holds the version `(client, seq)` (in `kv`): kvs.dl sends a put to
    /// every member, this node included, so it is readable a tick or two after the tick that
    /// took the request. A Redis client expects to read its own write at once. Gives up after
    /// about five seconds (the put is taken, and durable with a data directory, either way).
    async fn held(&self, seq: i64) {
        let filter = || vec![(0, sym(self.client.clone())), (1, Value::Number(seq))];
        for attempt in 0..5000 {
            match self.handle.query("kv", filter()).await {
                Ok(rows) if rows.is_empty() => {}
                _ => return,
            }
            pause(attempt).await;
        }
    }
}

/// Between two looks at the node's state: a yield the first times, then a millisecond.
async fn pause(attempt: u32) {
    if attempt < 4 {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

fn error(e: NodeError) -> String {
    match e {
        NodeError::Busy => "BUSY the node is busy (its input queue is full); retry later".into(),
        other => format!("ERR {other}"),
    }
}

fn sym(s: String) -> Value {
    Value::Symbol(s)
}

impl Store for NodeStore {
    async fn put(&self, puts: Vec<(String, String, String)>) -> Result<(), String> {
        let mut last = 0;
        let facts = puts
            .into_iter()
            .map(|(k1, k2, v)| {
                last = self.next_seq();
                (
                    "put".to_string(),
                    vec![
                        sym(self.client.clone()),
                        Value::Number(last),
                        sym(k1),
                        sym(k2),
                        sym(v),
                    ],
                )
            })
            .collect();
        self.handle.insert(facts).await.map_err(error)?;
        self.held(last).await;
        Ok(())
    }

    async fn delete(&self, dels: Vec<(String, String)>) -> Result<(), String> {
        // The versions the delete tombstones: those visible now.
        let mut gone = Vec::new();
        for (k1, k2) in &dels {
            for v in self.read(k1, Some(k2)).await? {
                gone.push((k1.clone(), v));
            }
        }
        let facts = dels
            .into_iter()
            .map(|(k1, k2)| ("del".to_string(), vec![sym(k1), sym(k2)]))
            .collect();
        self.handle.insert(facts).await.map_err(error)?;
        // As for puts: the tombstones reach this node a tick or two later.
        for (k1, v) in gone {
            for attempt in 0..5000 {
                match self.read(&k1, Some(&v.field)).await {
                    Ok(now) if now.contains(&v) => {}
                    _ => break,
                }
                pause(attempt).await;
            }
        }
        Ok(())
    }

    async fn read(&self, k1: &str, k2: Option<&str>) -> Result<Vec<Version>, String> {
        let mut filter = vec![(0, sym(k1.to_string()))];
        if let Some(k2) = k2 {
            filter.push((1, sym(k2.to_string())));
        }
        let rows = self.handle.query("visible", filter).await.map_err(error)?;
        Ok(rows
            .into_iter()
            .filter_map(|row| match <[Value; 5]>::try_from(row) {
                Ok([_, Value::Symbol(field), value, Value::Symbol(client), seq]) => Some(Version {
                    field,
                    value: match value {
                        Value::Symbol(s) => s,
                        other => other.to_string(),
                    },
                    client,
                    seq: match seq {
                        Value::Number(n) => n,
                        _ => 0,
                    },
                }),
                _ => None,
            })
            .collect())
    }
}
