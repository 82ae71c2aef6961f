//! What a node accepts from outsiders, at most ([`Limits`]), and the check of a fact against
//! its program and those limits. No I/O: the node's core uses them as the runtime does.

use calm_engine::{Program, Value};
use std::time::Duration;

/// Limits on what outsiders control.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Facts in one client request.
    pub max_facts_per_request: usize,
    /// Bytes in one symbol.
    pub max_string_len: usize,
    /// Simultaneous inbound peer connections (handshakes included).
    pub max_connections: usize,
    /// Simultaneous inbound peer connections in their handshake from one IP address; more are
    /// closed at once (on top of [`Limits::max_connections`]), so that one address cannot take
    /// every handshake slot from the members.
    pub max_connections_per_ip: usize,
    /// Time a peer has to complete the handshake.
    pub handshake_timeout: Duration,
    /// Events queued for the tick loop. Client requests over it are refused as busy (HTTP 503
    /// with `Retry-After`); a link reading a peer's batches waits for room (only that socket's
    /// reading waits: the tick loop always drains the queue).
    pub queue_len: usize,
    /// An established peer connection on which nothing arrives for this long is closed (each
    /// side sends a ping after a third of it without traffic).
    pub peer_idle_timeout: Duration,
    /// An HTTP connection with no traffic either way for this long is closed.
    pub http_idle_timeout: Duration,
    /// Simultaneous HTTP connections; more are closed at once.
    pub max_http_connections: usize,
    /// A write to a peer that does not complete within this closes the connection (the peer
    /// is stuck or not reading); the link reconnects and sends what is owed again.
    pub peer_write_timeout: Duration,
    /// Bytes of batches queued for one peer and not acknowledged, at most (with or without a
    /// data directory). Over it, no new batch is queued for that peer until it caught up; then
    /// it is sent its whole history again (see `docs/node.md`).
    pub peer_outbox_bytes: usize,
    /// An HTTP connection must send a request's whole head (request line and headers) within
    /// this, from its start or the end of the previous request; otherwise it is closed (a
    /// client sending one header line now and then cannot hold a connection).
    pub http_header_timeout: Duration,
    /// Simultaneous HTTP connections from one IP address; more are closed at once (on top of
    /// [`Limits::max_http_connections`]).
    pub max_http_connections_per_ip: usize,
    /// A peer that has not connected this long after the node started is reported (a WARN line,
    /// and a warning in the status until it connects).
    pub peer_connect_grace: Duration,
    /// Estimated memory of the batches received from one peer and not yet taken by a tick, at
    /// most; over it, the node stops reading that peer's connection until ticks catch up (the
    /// peer's batches wait on its side, unacknowledged).
    pub peer_inbound_bytes: usize,
    /// The same, for all peers together.
    pub inbound_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_facts_per_request: 100_000,
            max_string_len: 64 << 10,
            max_connections: 64,
            max_connections_per_ip: 8,
            handshake_timeout: Duration::from_secs(5),
            queue_len: 1024,
            peer_idle_timeout: Duration::from_secs(3),
            http_idle_timeout: Duration::from_secs(60),
            max_http_connections: 256,
            peer_write_timeout: Duration::from_secs(10),
            peer_outbox_bytes: 64 << 20,
            http_header_timeout: Duration::from_secs(10),
            max_http_connections_per_ip: 64,
            peer_connect_grace: Duration::from_secs(30),
            peer_inbound_bytes: 64 << 20,
            inbound_bytes: 256 << 20,
        }
    }
}

/// Whether a fact fits the program (relation, arity, types) and the limits (symbol sizes).
pub fn check_fact(
    program: &Program,
    limits: &Limits,
    relation: &str,
    tuple: &[Value],
) -> Result<(), String> {
    for v in tuple {
        if let Value::Symbol(s) = v
            && s.len() > limits.max_string_len
        {
            return Err(format!(
                "a symbol of {} bytes in `{relation}` exceeds the limit of {}",
                s.len(),
                limits.max_string_len
            ));
        }
    }
    program.check(relation, tuple).map_err(|e| e.to_string())
}
