//! Counters and gauges of a node, rendered in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// A node's metrics. All fields are monotone counters unless named a gauge.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Ticks executed.
    pub ticks: AtomicU64,
    /// Total time spent in ticks, microseconds.
    pub tick_micros: AtomicU64,
    /// Facts accepted from clients.
    pub facts_inserted: AtomicU64,
    /// Facts received from peers.
    pub facts_in: AtomicU64,
    /// Facts sent to peers (first transmissions).
    pub facts_out: AtomicU64,
    /// Bytes received from peers.
    pub bytes_in: AtomicU64,
    /// Bytes sent to peers.
    pub bytes_out: AtomicU64,
    /// Batches sent again because they were not acknowledged.
    pub retransmits: AtomicU64,
    /// Gauge: batches sent and not yet acknowledged, all peers.
    pub unacked: AtomicU64,
    /// Gauge: events waiting for the tick loop.
    pub queue_depth: AtomicU64,
    /// Facts refused (unknown relation, wrong arity or type, too large).
    pub rejected_facts: AtomicU64,
    /// Frames or connections refused (malformed, oversized, failed handshake).
    pub bad_frames: AtomicU64,
    /// Facts addressed to nodes that are not members.
    pub undeliverable: AtomicU64,
    /// Ticks that failed with a runtime error in a rule.
    pub tick_errors: AtomicU64,
    /// Peer connections refused because the peer failed authentication.
    pub auth_failures: AtomicU64,
    /// HTTP requests refused for a missing or wrong bearer token.
    pub unauthorized_requests: AtomicU64,
    /// Connections closed by a limit: idle peer or HTTP connections, HTTP connections over the
    /// limit.
    pub closed_connections: AtomicU64,
    /// Commits to the data directory.
    pub commits: AtomicU64,
    /// Time spent committing (including the sync), microseconds.
    pub commit_micros: AtomicU64,
    /// Snapshots written to the data directory.
    pub snapshots: AtomicU64,
}

impl Metrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Renders every metric, labelled with the node's name.
    pub fn render(&self, node: &str) -> String {
        let rows: [(&str, &str, &str, &AtomicU64); 20] = [
            (
                "calm_ticks_total",
                "counter",
                "Ticks executed.",
                &self.ticks,
            ),
            (
                "calm_tick_seconds_total",
                "counter",
                "Time spent in ticks.",
                &self.tick_micros,
            ),
            (
                "calm_facts_inserted_total",
                "counter",
                "Facts accepted from clients.",
                &self.facts_inserted,
            ),
            (
                "calm_facts_in_total",
                "counter",
                "Facts received from peers.",
                &self.facts_in,
            ),
            (
                "calm_facts_out_total",
                "counter",
                "Facts sent to peers.",
                &self.facts_out,
            ),
            (
                "calm_bytes_in_total",
                "counter",
                "Bytes received from peers.",
                &self.bytes_in,
            ),
            (
                "calm_bytes_out_total",
                "counter",
                "Bytes sent to peers.",
                &self.bytes_out,
            ),
            (
                "calm_retransmits_total",
                "counter",
                "Batches retransmitted.",
                &self.retransmits,
            ),
            (
                "calm_unacked_batches",
                "gauge",
                "Batches awaiting acknowledgement.",
                &self.unacked,
            ),
            (
                "calm_queue_depth",
                "gauge",
                "Events waiting for the tick loop.",
                &self.queue_depth,
            ),
            (
                "calm_rejected_facts_total",
                "counter",
                "Facts refused as invalid.",
                &self.rejected_facts,
            ),
            (
                "calm_bad_frames_total",
                "counter",
                "Frames or connections refused.",
                &self.bad_frames,
            ),
            (
                "calm_undeliverable_facts_total",
                "counter",
                "Facts for non-members.",
                &self.undeliverable,
            ),
            (
                "calm_tick_errors_total",
                "counter",
                "Ticks failed by a runtime error.",
                &self.tick_errors,
            ),
            (
                "calm_auth_failures_total",
                "counter",
                "Peer connections that failed authentication.",
                &self.auth_failures,
            ),
            (
                "calm_unauthorized_requests_total",
                "counter",
                "HTTP requests without a valid bearer token.",
                &self.unauthorized_requests,
            ),
            (
                "calm_closed_connections_total",
                "counter",
                "Connections closed by an idle timeout or a connection limit.",
                &self.closed_connections,
            ),
            (
                "calm_commits_total",
                "counter",
                "Durable commits to the data directory.",
                &self.commits,
            ),
            (
                "calm_commit_seconds_total",
                "counter",
                "Time spent in durable commits.",
                &self.commit_micros,
            ),
            (
                "calm_snapshots_total",
                "counter",
                "Snapshots written to the data directory.",
                &self.snapshots,
            ),
        ];
        let mut out = String::new();
        let node = node.replace('\\', "\\\\").replace('"', "\\\"");
        for (name, kind, help, value) in rows {
            let v = value.load(Ordering::Relaxed);
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            if name == "calm_tick_seconds_total" || name == "calm_commit_seconds_total" {
                let _ = writeln!(out, "{name}{{node=\"{node}\"}} {}", v as f64 / 1e6);
            } else {
                let _ = writeln!(out, "{name}{{node=\"{node}\"}} {v}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        Metrics::add(&m.ticks, 3);
        Metrics::add(&m.tick_micros, 1_500_000);
        let text = m.render("n\"1");
        assert!(
            text.contains("# TYPE calm_ticks_total counter\ncalm_ticks_total{node=\"n\\\"1\"} 3\n")
        );
        assert!(text.contains("calm_tick_seconds_total{node=\"n\\\"1\"} 1.5\n"));
    }
}
