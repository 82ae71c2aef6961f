//! Reads against concurrent writes on a live in-process node over HTTP: a read sees every put
//! acknowledged before it was sent, whichever connection acknowledged it, with and without
//! filters, and through the node's handle from another runtime. Without a data directory the
//! reads are served from the engine between two steps of the tick loop, on the tick thread;
//! with one, the HTTP server runs on other threads and reads go through the tick loop's queue.

use calm_engine::{Program, Value};
use calm_node::{Limits, NodeConfig, NodeHandle, NodeOptions};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const PROGRAM: &str = ".decl item(w: number, i: number, v: symbol)\n.persist item\n";

const WRITERS: u64 = 4;
const PUTS: u64 = 60;
const READERS: usize = 3;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn get(agent: &ureq::Agent, url: &str) -> serde_json::Value {
    let mut r = agent.get(url).call().unwrap();
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap();
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// The (writer, i) pairs of `item` rows in an answer.
fn keys(answer: &serde_json::Value) -> BTreeSet<(u64, u64)> {
    answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_u64().unwrap(), r[1].as_u64().unwrap()))
        .collect()
}

fn start(data_dir: Option<&std::path::Path>) -> (tokio::runtime::Runtime, NodeHandle, String) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (handle, base) = rt.block_on(async {
        let options = match data_dir {
            Some(dir) => NodeOptions::data_dir(dir).unwrap(),
            None => NodeOptions::default(),
        };
        let node = calm_node::start_with(
            NodeConfig {
                name: "n1".into(),
                listen: "127.0.0.1:0".parse().unwrap(),
                peers: vec![],
                program: Program::compile("reads.dl", PROGRAM).unwrap(),
                limits: Limits::default(),
            },
            options,
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(calm_node::http::serve(
            listener,
            node.handle.clone(),
            1 << 20,
            std::future::pending(),
        ));
        (node.handle, base)
    });
    (rt, handle, base)
}

/// Writers put one fact at a time and, once it is acknowledged, read it back at once (filtered
/// by its key) and publish it; readers, all along, take the set of published puts and then read
/// the whole relation and one filtered key: no answer ever lacks a put published before the
/// read was sent. At the end, the handle (from the test's runtime, through the tick loop's
/// queue) sees them all.
#[test]
fn no_read_misses_a_put_acknowledged_before_it() {
    reads_see_acknowledged_puts(None);
}

/// The same with a data directory.
#[test]
fn no_read_misses_a_put_acknowledged_before_it_with_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    reads_see_acknowledged_puts(Some(dir.path()));
}

fn reads_see_acknowledged_puts(data_dir: Option<&std::path::Path>) {
    let (rt, handle, base) = start(data_dir);
    // Per writer, how many of its puts are acknowledged (its puts are acknowledged in order).
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..WRITERS).map(|_| AtomicU64::new(0)).collect());
    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..READERS {
        let (acked, done, base) = (acked.clone(), done.clone(), base.clone());
        readers.push(std::thread::spawn(move || {
            let agent = agent();
            let mut reads = 0u64;
            let mut round = 0u64;
            while !done.load(Ordering::SeqCst) || reads < 3 {
                let before: Vec<u64> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
                let all = keys(&get(&agent, &format!("{base}/v1/relations/item")));
                for (w, &n) in before.iter().enumerate() {
                    for i in 0..n {
                        assert!(
                            all.contains(&(w as u64, i)),
                            "reader {r}: put ({w}, {i}) was acknowledged before the read, and is missing"
                        );
                    }
                }
                // A filtered read (an index lookup) of the latest put of one writer.
                let w = round % WRITERS;
                round += 1;
                if let Some(i) = before[w as usize].checked_sub(1) {
                    let one = keys(&get(&agent, &format!("{base}/v1/relations/item?w={w}&i={i}")));
                    assert_eq!(one, BTreeSet::from([(w, i)]), "reader {r}");
                }
                reads += 1;
            }
            reads
        }));
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (acked, base) = (acked.clone(), base.clone());
        writers.push(std::thread::spawn(move || {
            let agent = agent();
            for i in 0..PUTS {
                let mut r = agent
                    .post(format!("{base}/v1/facts"))
                    .header("Content-Type", "text/plain")
                    .send(format!("item({w}, {i}, \"v\")."))
                    .unwrap();
                let body = r.body_mut().read_to_string().unwrap();
                assert_eq!(r.status().as_u16(), 200, "{body}");
                // Read your write, on the same connection.
                let mine = keys(&get(
                    &agent,
                    &format!("{base}/v1/relations/item?i={i}&w={w}"),
                ));
                assert_eq!(mine, BTreeSet::from([(w, i)]), "writer {w}");
                acked[w as usize].store(i + 1, Ordering::SeqCst);
            }
        }));
    }
    for t in writers {
        t.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    for t in readers {
        assert!(t.join().unwrap() >= 3);
    }
    let rows = rt.block_on(handle.query("item", vec![])).unwrap();
    assert_eq!(rows.len() as u64, WRITERS * PUTS);
    let last = rt
        .block_on(handle.query(
            "item",
            vec![(0, Value::Number(1)), (1, Value::Number(PUTS as i64 - 1))],
        ))
        .unwrap();
    assert_eq!(last.len(), 1, "{last:?}");
    handle.shutdown();
}
