//! Liveness under network faults (issue 13), in-process on loopback: a peer that stops reading
//! its socket (frozen behind a proxy that stops forwarding, like a SIGSTOPped process) or that
//! restarts under load never stalls the other nodes. Every node keeps answering `status` within a
//! bounded wait throughout, and all nodes converge once the fault ends.
//!
//! A hang fails these tests by the expiry of their own bounded waits (the `alive` and `insert`
//! helpers, the convergence deadline), never by measuring durations.

use calm_engine::{Program, Value};
use calm_node::{Limits, Node, NodeConfig, NodeError, NodeHandle, Peer, Status};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;
use tokio::time::{Instant, timeout};

/// Every node sends every fact inserted anywhere to every member; `seen` is the union.
const PROGRAM: &str = r#"
.decl put(k: number, v: symbol)
.decl got(node: symbol, k: number, v: symbol)
.persist got
got(@n, k, v)@async :- put(k, v), $member(n).
.decl seen(k: number)
seen(k) :- got(_, k, _).
"#;

/// The longest a live node may take to answer one request before the test calls it hung.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

fn program() -> Program {
    Program::compile("liveness.dl", PROGRAM).unwrap()
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn limits() -> Limits {
    Limits {
        handshake_timeout: Duration::from_secs(1),
        peer_idle_timeout: Duration::from_secs(3),
        ..Limits::default()
    }
}

/// Answers `status` within [`ANSWER_WITHIN`], or fails the test: the node is hung.
async fn alive(h: &NodeHandle) -> Status {
    match timeout(ANSWER_WITHIN, h.status()).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) if busy(&e) => {
            // A full input queue is an answer too (503 with Retry-After over HTTP).
            tokio::time::sleep(Duration::from_millis(20)).await;
            Box::pin(alive(h)).await
        }
        Ok(Err(e)) => panic!("{}: status failed: {e}", h.name()),
        Err(_) => panic!(
            "{}: status not answered within {ANSWER_WITHIN:?}: the tick loop is stuck",
            h.name()
        ),
    }
}

fn busy(e: &NodeError) -> bool {
    matches!(e, NodeError::Busy)
}

/// Inserts `put(k, v)`, retrying while the node says it is busy; each attempt is bounded.
async fn insert(h: &NodeHandle, k: i64, v: &str) {
    let facts = vec![(
        "put".to_string(),
        vec![Value::Number(k), Value::Symbol(v.into())],
    )];
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        match timeout(ANSWER_WITHIN, h.insert(facts.clone())).await {
            Ok(Ok(_)) => return,
            Ok(Err(e)) if busy(&e) && Instant::now() < give_up => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok(Err(e)) => panic!("{}: insert {k} failed: {e}", h.name()),
            Err(_) => panic!(
                "{}: insert {k} not answered within {ANSWER_WITHIN:?}: the tick loop is stuck",
                h.name()
            ),
        }
    }
}

async fn seen(h: &NodeHandle) -> usize {
    match timeout(ANSWER_WITHIN, h.query("seen", vec![])).await {
        Ok(Ok(rows)) => rows.len(),
        Ok(Err(e)) if busy(&e) => 0,
        Ok(Err(e)) => panic!("{}: query failed: {e}", h.name()),
        Err(_) => panic!("{}: query not answered: the tick loop is stuck", h.name()),
    }
}

/// Waits (bounded) until every node has `n` keys in `seen`, checking that all answer meanwhile.
async fn converge(nodes: &[&NodeHandle], n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let mut counts = Vec::new();
        for h in nodes {
            counts.push(seen(h).await);
        }
        if counts.iter().all(|c| *c == n) {
            break;
        }
        if Instant::now() >= deadline {
            let mut report = String::new();
            for h in nodes {
                report.push_str(&format!("{:?}\n", alive(h).await));
            }
            panic!("no convergence to {n} keys: {counts:?}\n{report}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Same contents everywhere, not only the same size.
    let first = nodes[0].query("seen", vec![]).await.unwrap();
    for h in &nodes[1..] {
        assert_eq!(
            h.query("seen", vec![]).await.unwrap(),
            first,
            "{}",
            h.name()
        );
    }
}

/// Waits (bounded) until every node reports all its links up.
async fn all_connected(nodes: &[&NodeHandle]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for h in nodes {
        loop {
            let s = alive(h).await;
            if s.peers.iter().all(|p| p.connected) {
                break;
            }
            assert!(Instant::now() < deadline, "links never came up: {s:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn stop(node: Node) {
    let name = node.handle.name().to_string();
    node.handle.shutdown();
    if timeout(Duration::from_secs(30), node.wait()).await.is_err() {
        panic!("{name} did not stop");
    }
}

/// Starts a node, retrying while its address is still held by a previous instance.
async fn start(name: &str, listen: SocketAddr, peers: Vec<Peer>, limits: Limits) -> Node {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let config = NodeConfig {
            name: name.into(),
            listen,
            peers: peers.clone(),
            program: program(),
            limits: limits.clone(),
        };
        match calm_node::start(config).await {
            Ok(n) => return n,
            Err(NodeError::Setup(e)) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

/// A TCP proxy that can freeze: while frozen it accepts connections but forwards nothing in
/// either direction, as a stopped process whose kernel still holds its sockets. Its listening
/// socket has a small receive buffer, so a sender to a frozen proxy soon has its writes stuck.
struct Proxy {
    addr: SocketAddr,
    frozen: watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(32 << 10).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(64).unwrap();
        let addr = listener.local_addr().unwrap();
        let (frozen, rx) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let (ir, iw) = inbound.into_split();
                    let (or, ow) = outbound.into_split();
                    tokio::spawn(pipe(ir, ow, rx.clone()));
                    tokio::spawn(pipe(or, iw, rx));
                });
            }
        });
        Proxy { addr, frozen }
    }

    fn freeze(&self, on: bool) {
        let _ = self.frozen.send(on);
    }
}

async fn pipe(mut r: OwnedReadHalf, mut w: OwnedWriteHalf, mut frozen: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        if frozen.wait_for(|f| !*f).await.is_err() {
            return;
        }
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if frozen.wait_for(|f| !*f).await.is_err() {
            return;
        }
        if w.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
}

/// The peers of `name` among `names`, with `addr(peer)` as their addresses.
fn peers_of(name: &str, names: &[&str], addr: impl Fn(&str) -> SocketAddr) -> Vec<Peer> {
    names
        .iter()
        .filter(|n| **n != name)
        .map(|n| Peer {
            name: n.to_string(),
            addr: addr(n),
            host: None,
        })
        .collect()
}

/// Inserts keys `from..to` at `h` (a payload of `size` bytes each), checking every 100 inserts
/// that all `watch` nodes answer.
async fn load(h: NodeHandle, watch: Vec<NodeHandle>, from: i64, to: i64, size: usize) {
    let payload = "x".repeat(size);
    for k in from..to {
        insert(&h, k, &payload).await;
        if k % 100 == 0 {
            for w in &watch {
                alive(w).await;
            }
        }
    }
}

/// Three nodes; all traffic to n3 goes through a proxy that freezes while n1 and n2 take
/// inserts: thousands of batches (far more than the 1,024 slots of any queue), each of 4 KiB, so
/// writes towards n3 get stuck. Then the proxy thaws and all three converge.
async fn frozen_peer(limits: Limits) {
    let names = ["n1", "n2", "n3"];
    let addrs: Vec<SocketAddr> = names.iter().map(|_| free_port()).collect();
    let proxy = Proxy::start(addrs[2]).await;
    let real = |n: &str| addrs[names.iter().position(|m| *m == n).unwrap()];
    let via_proxy = |n: &str| if n == "n3" { proxy.addr } else { real(n) };
    let n1 = start(
        "n1",
        addrs[0],
        peers_of("n1", &names, via_proxy),
        limits.clone(),
    )
    .await;
    let n2 = start(
        "n2",
        addrs[1],
        peers_of("n2", &names, via_proxy),
        limits.clone(),
    )
    .await;
    let n3 = start("n3", addrs[2], peers_of("n3", &names, real), limits.clone()).await;
    let all = [&n1.handle, &n2.handle, &n3.handle];
    all_connected(&all).await;

    proxy.freeze(true);
    let per_node = 1500;
    let watch: Vec<NodeHandle> = all.iter().map(|h| (*h).clone()).collect();
    let a = tokio::spawn(load(
        n1.handle.clone(),
        watch.clone(),
        0,
        per_node,
        16 << 10,
    ));
    let b = tokio::spawn(load(
        n2.handle.clone(),
        watch.clone(),
        per_node,
        2 * per_node,
        16 << 10,
    ));
    a.await.unwrap();
    b.await.unwrap();
    // Frozen a while longer: writes towards n3 time out, reconnections fail their handshake.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        for h in &all {
            alive(h).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The truth about the frozen link: n1 does not claim it is up with its writes stuck.
    let s = alive(&n1.handle).await;
    let to_n3 = s.peers.iter().find(|p| p.name == "n3").unwrap();
    assert!(!to_n3.connected, "{s:?}");

    proxy.freeze(false);
    converge(&all, 2 * per_node as usize, Duration::from_secs(180)).await;
    all_connected(&all).await;
    for n in [n1, n2, n3] {
        stop(n).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_peer_stalls_nobody_and_everyone_converges_after() {
    frozen_peer(limits()).await;
}

/// The same with a tiny outbox budget: the backlog towards the frozen peer overflows, new
/// batches for it are not queued, and once it caught up it is sent its history again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_over_budget_resends_the_history_and_converges() {
    frozen_peer(Limits {
        peer_outbox_bytes: 256 << 10,
        ..limits()
    })
    .await;
}

/// Three nodes; n3 stops, n1 and n2 take thousands of inserts (batches owed to n3 pile up),
/// n3 comes back with the same name and address (and no state) while the inserts go on; all
/// converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_restarted_under_load_catches_up() {
    let names = ["n1", "n2", "n3"];
    let addrs: Vec<SocketAddr> = names.iter().map(|_| free_port()).collect();
    let real = |n: &str| addrs[names.iter().position(|m| *m == n).unwrap()];
    let n1 = start("n1", addrs[0], peers_of("n1", &names, real), limits()).await;
    let n2 = start("n2", addrs[1], peers_of("n2", &names, real), limits()).await;
    let n3 = start("n3", addrs[2], peers_of("n3", &names, real), limits()).await;
    all_connected(&[&n1.handle, &n2.handle, &n3.handle]).await;
    stop(n3).await;
    let watch = vec![n1.handle.clone(), n2.handle.clone()];
    let (h1, h2) = (n1.handle.clone(), n2.handle.clone());
    let a = tokio::spawn(load(h1.clone(), watch.clone(), 0, 2500, 64));
    let b = tokio::spawn(load(h2.clone(), watch.clone(), 10_000, 12_500, 64));
    a.await.unwrap();
    b.await.unwrap();
    // Back, while more inserts arrive.
    let done = Arc::new(AtomicU64::new(0));
    let more = {
        let done = done.clone();
        let watch = watch.clone();
        tokio::spawn(async move {
            load(h1, watch.clone(), 2500, 3500, 64).await;
            done.fetch_add(1, Ordering::Relaxed);
            load(h2, watch, 12_500, 13_500, 64).await;
            done.fetch_add(1, Ordering::Relaxed);
        })
    };
    let n3 = start("n3", addrs[2], peers_of("n3", &names, real), limits()).await;
    more.await.unwrap();
    assert_eq!(done.load(Ordering::Relaxed), 2);
    let all = [&n1.handle, &n2.handle, &n3.handle];
    converge(&all, 7000, Duration::from_secs(180)).await;
    all_connected(&all).await;
    for n in [n1, n2, n3] {
        stop(n).await;
    }
}

/// Inbound memory budgets far below one batch of what arrives: every batch waits for the one
/// before it to be ticked (the reader of a connection stops meanwhile), and still every node
/// answers and all converge. Fails (by its bounded waits) if a batch's share of the budget is
/// not given back after its tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_inbound_budgets_slow_peers_down_but_everyone_converges() {
    let names = ["n1", "n2", "n3"];
    let addrs: Vec<SocketAddr> = names.iter().map(|_| free_port()).collect();
    let real = |n: &str| addrs[names.iter().position(|m| *m == n).unwrap()];
    let tiny = || Limits {
        peer_inbound_bytes: 1024,
        inbound_bytes: 2048,
        ..limits()
    };
    let n1 = start("n1", addrs[0], peers_of("n1", &names, real), tiny()).await;
    let n2 = start("n2", addrs[1], peers_of("n2", &names, real), tiny()).await;
    let n3 = start("n3", addrs[2], peers_of("n3", &names, real), tiny()).await;
    all_connected(&[&n1.handle, &n2.handle, &n3.handle]).await;
    let watch = vec![n1.handle.clone(), n2.handle.clone(), n3.handle.clone()];
    let a = tokio::spawn(load(n1.handle.clone(), watch.clone(), 0, 600, 4096));
    let b = tokio::spawn(load(n2.handle.clone(), watch.clone(), 10_000, 10_600, 4096));
    a.await.unwrap();
    b.await.unwrap();
    let all = [&n1.handle, &n2.handle, &n3.handle];
    converge(&all, 1200, Duration::from_secs(120)).await;
    for n in [n1, n2, n3] {
        stop(n).await;
    }
}

/// A TCP proxy that can cut the network: from a cut on, nothing it carries moves, and the
/// connections it carried never move again nor close (as TCP connections across a partition,
/// whose retransmissions back off for minutes); only connections made after the heal carry.
struct Cutter {
    addr: SocketAddr,
    /// The epoch (bumped at each heal) and whether the network is cut.
    state: watch::Sender<(u64, bool)>,
}

impl Cutter {
    async fn start(target: SocketAddr) -> Cutter {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (state, rx) = watch::channel((0u64, false));
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let rx = rx.clone();
                let epoch = rx.borrow().0;
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let (ir, iw) = inbound.into_split();
                    let (or, ow) = outbound.into_split();
                    tokio::spawn(cut_pipe(ir, ow, rx.clone(), epoch));
                    tokio::spawn(cut_pipe(or, iw, rx, epoch));
                });
            }
        });
        Cutter { addr, state }
    }

    fn cut(&self) {
        self.state.send_modify(|s| s.1 = true);
    }

    fn heal(&self) {
        self.state.send_modify(|s| *s = (s.0 + 1, false));
    }
}

/// Forwards while the network is whole and in the connection's epoch; otherwise holds the
/// connection open, moving nothing, for good.
async fn cut_pipe(
    mut r: OwnedReadHalf,
    mut w: OwnedWriteHalf,
    mut state: watch::Receiver<(u64, bool)>,
    epoch: u64,
) {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        if state.wait_for(|s| *s == (epoch, false)).await.is_err() {
            return;
        }
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if state.wait_for(|s| *s == (epoch, false)).await.is_err() {
            return;
        }
        if w.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
}

/// Two nodes with the default limits; their one connection (n1 dials n2) dies in a partition
/// and stays open but dead after the heal. The nodes notice the silence (the idle timeout, with
/// pings), n1 dials again, and everything written on either side during and after the cut
/// arrives, well within the bound. Fails with an idle timeout longer than the bound (30 s was
/// the default), by the expiry of the convergence wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dead_after_a_partition_is_replaced() {
    let names = ["n1", "n2"];
    let addrs: Vec<SocketAddr> = names.iter().map(|_| free_port()).collect();
    let cutter = Cutter::start(addrs[1]).await;
    let real = |n: &str| addrs[names.iter().position(|m| *m == n).unwrap()];
    let via_cutter = |n: &str| if n == "n2" { cutter.addr } else { real(n) };
    let defaults = Limits::default;
    let n1 = start(
        "n1",
        addrs[0],
        peers_of("n1", &names, via_cutter),
        defaults(),
    )
    .await;
    let n2 = start("n2", addrs[1], peers_of("n2", &names, real), defaults()).await;
    let both = [&n1.handle, &n2.handle];
    all_connected(&both).await;
    load(n1.handle.clone(), vec![], 0, 50, 64).await;
    converge(&both, 50, Duration::from_secs(60)).await;

    cutter.cut();
    load(n1.handle.clone(), vec![], 50, 100, 64).await;
    load(n2.handle.clone(), vec![], 1000, 1050, 64).await;
    cutter.heal();
    load(n1.handle.clone(), vec![], 100, 150, 64).await;
    load(n2.handle.clone(), vec![], 1050, 1100, 64).await;
    converge(&both, 250, Duration::from_secs(20)).await;
    for n in [n1, n2] {
        stop(n).await;
    }
}
