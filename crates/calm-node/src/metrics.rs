//! Counters and gauges of a node, rendered in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of a [`Histogram`]'s buckets, in microseconds (the last bucket is `+Inf`).
const BOUNDS_MICROS: [u64; 18] = [
    5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000,
    500_000, 1_000_000, 5_000_000,
];

/// A latency histogram of fixed buckets, updated with atomic adds only (no lock), rendered as a
/// Prometheus histogram in seconds.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative), the last one over every bound.
    buckets: [AtomicU64; BOUNDS_MICROS.len() + 1],
    /// Sum of the observations, nanoseconds.
    sum_nanos: AtomicU64,
    /// Observations.
    count: AtomicU64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let micros = nanos / 1_000;
        let i = BOUNDS_MICROS
            .iter()
            .position(|&b| micros < b)
            .unwrap_or(BOUNDS_MICROS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The sum of the observations so far.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed))
    }

    fn render(&self, out: &mut String, name: &str, help: &str, node: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Ordering::Relaxed);
            match BOUNDS_MICROS.get(i) {
                Some(&le) => {
                    let le = le as f64 / 1e6;
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{node=\"{node}\",le=\"{le}\"}} {cumulative}"
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{node=\"{node}\",le=\"+Inf\"}} {cumulative}"
                    );
                }
            }
        }
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{node=\"{node}\"}} {sum}");
        let _ = writeln!(out, "{name}_count{{node=\"{node}\"}} {cumulative}");
    }
}

/// Where the time of a client's insert goes, stage by stage (see `docs/node.md`, "Metrics"):
/// each is a [`Histogram`] of one observation per request (per tick for `tick` and `commit`).
#[derive(Debug, Default)]
pub struct InsertStages {
    /// The request's body turned into checked facts (JSON or calm syntax), in the HTTP handler.
    pub parse: Histogram,
    /// Queued: from the handler handing the facts to the tick loop until the step that takes
    /// them starts (waiting for the running tick and commit to end, and the wake-up).
    pub queue: Histogram,
    /// The step's tick (once per tick).
    pub tick: Histogram,
    /// The step's durable commit, sync included (once per commit, with a data directory).
    pub commit: Histogram,
    /// From the step's start to the reply sent to the handler: tick, commit, sends.
    pub step: Histogram,
    /// From the reply sent by the tick loop until the handler runs again (the wake-up of an
    /// HTTP worker).
    pub reply: Histogram,
    /// The whole handler: from the body in hand to the answer built.
    pub total: Histogram,
}

/// A node's metrics. All fields are monotone counters unless named a gauge.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Ticks executed.
    pub ticks: AtomicU64,
    /// Total time spent in ticks, microseconds.
    pub tick_micros: AtomicU64,
    /// Gauge: when the last tick ended, in microseconds since the node started (0: no tick
    /// yet). Not exported to Prometheus (`calm_ticks_total` gives the rate); the console shows
    /// how long ago it was.
    pub last_tick_micros: AtomicU64,
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
    /// Batches not queued for a peer whose backlog was over its budget (its history is sent
    /// again once it caught up).
    pub outbox_overflows: AtomicU64,
    /// Times a peer's history was sent again after its backlog went over budget.
    pub resyncs: AtomicU64,
    /// Peer connections closed because a write did not complete within the write timeout.
    pub stalled_writes: AtomicU64,
    /// Client requests refused because the input queue was full (HTTP 503).
    pub busy_rejections: AtomicU64,
    /// HTTP connections closed at once because their IP address had
    /// [`crate::Limits::max_http_connections_per_ip`] open already (also counted in
    /// `closed_connections`).
    pub http_per_ip_rejections: AtomicU64,
    /// Peer connections closed at once because their IP address had
    /// [`crate::Limits::max_connections_per_ip`] handshakes in progress already (also counted
    /// in `bad_frames`).
    pub peer_per_ip_rejections: AtomicU64,
    /// HTTP connections closed because a request's head did not arrive within
    /// [`crate::Limits::http_header_timeout`] (also counted in `closed_connections`).
    pub http_header_timeouts: AtomicU64,
    /// Where the time of client inserts goes.
    pub insert: InsertStages,
}

impl Metrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Renders every metric, labelled with the node's name.
    pub fn render(&self, node: &str) -> String {
        let rows: [(&str, &str, &str, &AtomicU64); 27] = [
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
            (
                "calm_outbox_overflows_total",
                "counter",
                "Batches not queued for a peer over its backlog budget.",
                &self.outbox_overflows,
            ),
            (
                "calm_resyncs_total",
                "counter",
                "Histories sent again to peers that caught up after an overflow.",
                &self.resyncs,
            ),
            (
                "calm_stalled_writes_total",
                "counter",
                "Peer connections closed by the write timeout.",
                &self.stalled_writes,
            ),
            (
                "calm_busy_rejections_total",
                "counter",
                "Client requests refused because the input queue was full.",
                &self.busy_rejections,
            ),
            (
                "calm_http_per_ip_rejections_total",
                "counter",
                "HTTP connections closed at once: too many from the same IP address.",
                &self.http_per_ip_rejections,
            ),
            (
                "calm_peer_per_ip_rejections_total",
                "counter",
                "Peer connections closed at once: too many handshakes from the same IP address.",
                &self.peer_per_ip_rejections,
            ),
            (
                "calm_http_header_timeouts_total",
                "counter",
                "HTTP connections closed: a request head did not arrive in time.",
                &self.http_header_timeouts,
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
        let stages: [(&str, &str, &Histogram); 7] = [
            (
                "calm_insert_parse_seconds",
                "Client inserts: the body parsed and checked, in the HTTP handler.",
                &self.insert.parse,
            ),
            (
                "calm_insert_queue_seconds",
                "Client inserts: queued until the step that takes them starts.",
                &self.insert.queue,
            ),
            (
                "calm_insert_step_seconds",
                "Client inserts: from the step's start to the reply (tick, commit, sends).",
                &self.insert.step,
            ),
            (
                "calm_insert_reply_seconds",
                "Client inserts: from the reply sent to the handler running again.",
                &self.insert.reply,
            ),
            (
                "calm_insert_seconds",
                "Client inserts: the whole HTTP handler, body in hand to answer built.",
                &self.insert.total,
            ),
            (
                "calm_tick_duration_seconds",
                "Ticks: the duration of each.",
                &self.insert.tick,
            ),
            (
                "calm_commit_duration_seconds",
                "Durable commits: the duration of each, sync included.",
                &self.insert.commit,
            ),
        ];
        for (name, help, h) in stages {
            h.render(&mut out, name, help, &node);
        }
        out
    }
}

fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Appends each link's state, labelled with the node's and the peer's names: whether it is
/// connected, its backlog in batches and bytes, the age of the last frame received and of the
/// pending write.
pub fn render_peers(out: &mut String, node: &str, peers: &[crate::PeerStatus]) {
    let node = label(node);
    type Row = (
        &'static str,
        &'static str,
        fn(&crate::PeerStatus) -> Option<f64>,
    );
    let rows: [Row; 8] = [
        (
            "calm_peer_connected",
            "Whether the link is up and taking writes (1) or not (0).",
            |p| Some(if p.connected { 1.0 } else { 0.0 }),
        ),
        (
            "calm_peer_unacked_batches",
            "Batches owed to the peer, not yet acknowledged.",
            |p| Some(p.unacked as f64),
        ),
        (
            "calm_peer_outbox_bytes",
            "Bytes of the batches owed to the peer.",
            |p| Some(p.outbox_bytes as f64),
        ),
        (
            "calm_peer_last_frame_age_seconds",
            "Time since the last frame from the peer.",
            |p| p.last_frame_ago_ms.map(|ms| ms as f64 / 1e3),
        ),
        (
            "calm_peer_write_pending_seconds",
            "Time the current write to the peer has waited (0: none).",
            |p| Some(p.write_pending_ms.map_or(0.0, |ms| ms as f64 / 1e3)),
        ),
        (
            "calm_peer_overflowed",
            "Whether the peer's backlog went over its budget (1) and awaits a resend of its history.",
            |p| Some(if p.overflowed { 1.0 } else { 0.0 }),
        ),
        (
            "calm_peer_history_facts",
            "Facts sent to the peer over the node's life (each once): what it is sent again if it restarts without its state.",
            |p| Some(p.history_facts as f64),
        ),
        (
            "calm_peer_history_bytes",
            "Bytes of memory the record of the facts sent to the peer takes.",
            |p| Some(p.history_bytes as f64),
        ),
    ];
    for (name, help, f) in rows {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for p in peers {
            if let Some(v) = f(p) {
                let _ = writeln!(
                    out,
                    "{name}{{node=\"{node}\",peer=\"{}\"}} {v}",
                    label(&p.name)
                );
            }
        }
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

    #[test]
    fn histograms_count_each_observation_in_its_bucket() {
        let m = Metrics::default();
        let h = &m.insert.queue;
        h.observe(Duration::from_micros(3));
        h.observe(Duration::from_micros(150));
        h.observe(Duration::from_micros(150));
        h.observe(Duration::from_secs(60));
        assert_eq!(h.count(), 4);
        assert_eq!(h.sum(), Duration::from_micros(60_000_303));
        let text = m.render("n");
        let line = |le: &str| {
            let key = format!("calm_insert_queue_seconds_bucket{{node=\"n\",le=\"{le}\"}} ");
            let rest = &text[text.find(&key).unwrap_or_else(|| panic!("{key}")) + key.len()..];
            rest[..rest.find('\n').unwrap()].to_string()
        };
        // Cumulative: 1 under 5 µs, 1 under 100 µs, 3 under 200 µs, 4 in all.
        assert_eq!(line("0.000005"), "1");
        assert_eq!(line("0.0001"), "1");
        assert_eq!(line("0.0002"), "3");
        assert_eq!(line("5"), "3");
        assert_eq!(line("+Inf"), "4");
        assert!(text.contains("calm_insert_queue_seconds_count{node=\"n\"} 4\n"));
        assert!(text.contains("calm_insert_queue_seconds_sum{node=\"n\"} 60.000303\n"));
        assert!(text.contains("# TYPE calm_tick_duration_seconds histogram\n"));
    }
}
