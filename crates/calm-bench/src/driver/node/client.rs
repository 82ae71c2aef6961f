//! HTTP requests to a node, concurrent clients on threads, and latency figures.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::Value as Json;

/// An HTTP client that returns error statuses as answers and gives up on a request after
/// `timeout`.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(timeout))
        .build()
        .into()
}

fn answer(
    what: &str,
    r: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<String> {
    let mut r = r.with_context(|| format!("{what}: no answer"))?;
    let status = r.status();
    let body = r
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .with_context(|| format!("{what}: reading the answer"))?;
    if !status.is_success() {
        let short: String = body.chars().take(300).collect();
        bail!("{what}: {status}: {short}");
    }
    Ok(body)
}

/// `GET base+path`: the body of a successful answer.
pub fn get(agent: &ureq::Agent, base: &str, path: &str) -> Result<String> {
    answer(
        &format!("GET {path}"),
        agent.get(format!("{base}{path}")).call(),
    )
}

/// `POST base+path` with a JSON body.
pub fn post_json(agent: &ureq::Agent, base: &str, path: &str, body: &str) -> Result<String> {
    answer(
        &format!("POST {path}"),
        agent
            .post(format!("{base}{path}"))
            .content_type("application/json")
            .send(body),
    )
}

/// `POST base+path` with calm facts (`edge(1, 2).`).
pub fn post_facts(agent: &ureq::Agent, base: &str, body: &str) -> Result<String> {
    answer(
        "POST /v1/facts",
        agent
            .post(format!("{base}/v1/facts"))
            .content_type("text/plain")
            .send(body),
    )
}

/// The size of `relation` in `GET /v1/status`.
pub fn relation_size(agent: &ureq::Agent, base: &str, relation: &str) -> Result<u64> {
    let status: Json = serde_json::from_str(&get(agent, base, "/v1/status")?)?;
    status
        .get("relations")
        .and_then(|r| r.get(relation))
        .and_then(Json::as_u64)
        .with_context(|| format!("no size of `{relation}` in /v1/status"))
}

/// Waits until `relation` holds at least `n` tuples, for at most `budget`; whether it did.
pub fn wait_size(
    agent: &ureq::Agent,
    base: &str,
    relation: &str,
    n: u64,
    budget: Duration,
) -> Result<bool> {
    let start = Instant::now();
    loop {
        if relation_size(agent, base, relation)? >= n {
            return Ok(true);
        }
        if start.elapsed() > budget {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether every peer of the node is connected (`GET /v1/status`).
pub fn peers_connected(agent: &ureq::Agent, base: &str) -> Result<bool> {
    let status: Json = serde_json::from_str(&get(agent, base, "/v1/status")?)?;
    let peers = status
        .get("peers")
        .and_then(Json::as_array)
        .context("no peers in /v1/status")?;
    Ok(peers
        .iter()
        .all(|p| p.get("connected").and_then(Json::as_bool) == Some(true)))
}

/// `calm_ticks_total` and `calm_tick_seconds_total` of `GET /metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TickCounters {
    /// Ticks so far.
    pub ticks: f64,
    /// Seconds spent ticking so far.
    pub seconds: f64,
}

impl TickCounters {
    /// Reads them from the node; `None` if the node has no such metrics.
    pub fn read(agent: &ureq::Agent, base: &str) -> Option<TickCounters> {
        let text = get(agent, base, "/metrics").ok()?;
        Some(TickCounters {
            ticks: metric(&text, "calm_ticks_total")?,
            seconds: metric(&text, "calm_tick_seconds_total")?,
        })
    }

    /// The mean tick between `self` (earlier) and `later`, seconds, and the number of ticks.
    pub fn mean_since(&self, later: &TickCounters) -> Option<(f64, u64)> {
        let ticks = later.ticks - self.ticks;
        (ticks >= 1.0).then(|| ((later.seconds - self.seconds) / ticks, ticks as u64))
    }
}

/// The value of the first sample of `name` in Prometheus text (`name{labels} value` or
/// `name value`).
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            return None;
        }
        line.rsplit(' ').next()?.trim().parse().ok()
    })
}

/// What a run of concurrent clients did.
#[derive(Clone, Debug, Default)]
pub struct Rate {
    /// Operations answered successfully.
    pub ops: usize,
    /// From the first request to the last answer, seconds.
    pub secs: f64,
    /// Latency of each successful operation, seconds, sorted.
    pub latencies: Vec<f64>,
    /// Whether the time budget stopped it before `ops` operations.
    pub cut: bool,
    /// The first error, if any (the run stops at the first error).
    pub error: Option<String>,
}

impl Rate {
    /// Operations per second.
    pub fn per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.ops as f64 / self.secs
        } else {
            0.0
        }
    }

    /// A latency percentile (0–100), ms, by nearest rank.
    pub fn percentile_ms(&self, p: f64) -> Option<f64> {
        percentile(&self.latencies, p).map(|s| s * 1e3)
    }
}

/// The `p` percentile (0–100) of sorted `values`, by nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Runs `op(agent, i)` for i in `0..ops` from `clients` threads, each with its own connection,
/// until every operation is done or `budget` has passed (then no new operation starts), or an
/// operation fails.
pub fn drive<F>(clients: usize, ops: usize, budget: Duration, timeout: Duration, op: F) -> Rate
where
    F: Fn(&ureq::Agent, usize) -> Result<()> + Sync,
{
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let cut = AtomicBool::new(false);
    let error = Mutex::new(None::<String>);
    let start = Instant::now();
    let results: Vec<(Vec<f64>, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients.max(1))
            .map(|_| {
                s.spawn(|| {
                    let agent = agent(timeout);
                    let mut latencies = Vec::new();
                    let mut last = Duration::ZERO;
                    while !stop.load(Ordering::Relaxed) {
                        if start.elapsed() >= budget {
                            cut.store(true, Ordering::Relaxed);
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= ops {
                            break;
                        }
                        let t0 = Instant::now();
                        match op(&agent, i) {
                            Ok(()) => {
                                latencies.push(t0.elapsed().as_secs_f64());
                                last = start.elapsed();
                            }
                            Err(e) => {
                                stop.store(true, Ordering::Relaxed);
                                let mut first = error.lock().unwrap_or_else(|p| p.into_inner());
                                first.get_or_insert_with(|| format!("{e:#}"));
                                break;
                            }
                        }
                    }
                    (latencies, last)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut latencies: Vec<f64> = results.iter().flat_map(|(l, _)| l.clone()).collect();
    latencies.sort_by(f64::total_cmp);
    let secs = results
        .iter()
        .map(|(_, last)| last.as_secs_f64())
        .fold(0.0, f64::max);
    Rate {
        ops: latencies.len(),
        secs,
        latencies,
        cut: cut.load(Ordering::Relaxed) && next.load(Ordering::Relaxed) < ops,
        error: error.into_inner().unwrap_or_else(|p| p.into_inner()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_samples() {
        let text = "# TYPE calm_ticks_total counter\ncalm_ticks_total{node=\"n1\"} 42\n\
                    calm_ticks_total_x 1\ncalm_tick_seconds_total{node=\"n1\"} 0.125\n";
        assert_eq!(metric(text, "calm_ticks_total"), Some(42.0));
        assert_eq!(metric(text, "calm_tick_seconds_total"), Some(0.125));
        assert_eq!(metric(text, "calm_commits_total"), None);
        let a = TickCounters {
            ticks: 10.0,
            seconds: 1.0,
        };
        let b = TickCounters {
            ticks: 14.0,
            seconds: 1.02,
        };
        let (mean, n) = a.mean_since(&b).unwrap();
        assert_eq!(n, 4);
        assert!((mean - 0.005).abs() < 1e-12);
        assert_eq!(a.mean_since(&a), None);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn drive_counts_and_stops_at_the_first_error() {
        let r = drive(
            4,
            100,
            Duration::from_secs(60),
            Duration::from_secs(1),
            |_, _| Ok(()),
        );
        assert_eq!(r.ops, 100);
        assert!(!r.cut && r.error.is_none());
        let r = drive(
            2,
            100,
            Duration::from_secs(60),
            Duration::from_secs(1),
            |_, i| {
                if i == 10 {
                    bail!("boom")
                }
                Ok(())
            },
        );
        assert!(r.ops < 100);
        assert_eq!(r.error.as_deref(), Some("boom"));
    }
}
