//! The store over Redis's protocol (RESP2) on a live in-process node running
//! `programs/kvs.dl`: raw frames over TCP (writes, reads, pipelining, errors, limits, AUTH),
//! and, where they are installed, `redis-cli`, `redis-benchmark` and Python's `redis` package.

use calm_engine::{Program, Value};
use calm_node::{Limits, Node, NodeConfig, Secret};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

const KVS: &str = include_str!("../../../programs/kvs.dl");

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A kvs.dl node serving RESP on a free port; the listener stops when the runtime does.
fn resp_node(
    rt: &tokio::runtime::Runtime,
    limits: Limits,
    token: Option<Secret>,
) -> (Node, SocketAddr) {
    rt.block_on(async {
        let node = calm_node::start(NodeConfig {
            name: "n1".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            peers: vec![],
            program: Program::compile("kvs.dl", KVS).unwrap(),
            limits,
        })
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(calm_node::resp::serve(
            listener,
            node.handle.clone(),
            token.map(Arc::new),
            std::future::pending(),
        ));
        (node, addr)
    })
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

fn frame(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend(format!("${}\r\n{a}\r\n", a.len()).bytes());
    }
    out
}

/// Reads one reply, rendered as text: `+S`, `-E`, `:N`, `$-1`, bulk strings as their text,
/// arrays as `[a, b]`.
fn read_reply(r: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let line = line.trim_end_matches("\r\n").to_string();
    match line.as_bytes().first() {
        Some(b'$') if line == "$-1" => "nil".into(),
        Some(b'$') => {
            let n: usize = line[1..].parse().unwrap();
            let mut b = vec![0; n + 2];
            r.read_exact(&mut b).unwrap();
            String::from_utf8(b[..n].to_vec()).unwrap()
        }
        Some(b'*') => {
            let n: usize = line[1..].parse().unwrap();
            let items: Vec<String> = (0..n).map(|_| read_reply(r)).collect();
            format!("[{}]", items.join(", "))
        }
        _ => line,
    }
}

fn call(s: &mut TcpStream, r: &mut BufReader<TcpStream>, args: &[&str]) -> String {
    s.write_all(&frame(args)).unwrap();
    read_reply(r)
}

#[test]
fn hash_commands_write_and_read_the_store() {
    let rt = rt();
    let (node, addr) = resp_node(&rt, Limits::default(), None);
    let mut s = connect(addr);
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(call(&mut s, &mut r, &["PING"]), "+PONG");
    assert_eq!(
        call(
            &mut s,
            &mut r,
            &["HSET", "user", "name", "ada", "lang", "rust"]
        ),
        ":2"
    );
    assert_eq!(call(&mut s, &mut r, &["HGET", "user", "name"]), "ada");
    assert_eq!(call(&mut s, &mut r, &["HGET", "user", "none"]), "nil");
    assert_eq!(
        call(&mut s, &mut r, &["HGETALL", "user"]),
        "[lang, rust, name, ada]"
    );
    assert_eq!(
        call(&mut s, &mut r, &["HMGET", "user", "lang", "x"]),
        "[rust, nil]"
    );
    assert_eq!(call(&mut s, &mut r, &["HLEN", "user"]), ":2");
    // A put replaces the value; the node holds it as a new version, the old one tombstoned.
    assert_eq!(
        call(&mut s, &mut r, &["HSET", "user", "name", "grace"]),
        ":1"
    );
    assert_eq!(call(&mut s, &mut r, &["HGET", "user", "name"]), "grace");
    assert_eq!(call(&mut s, &mut r, &["HDEL", "user", "lang", "x"]), ":1");
    assert_eq!(call(&mut s, &mut r, &["HKEYS", "user"]), "[name]");
    // What RESP wrote is what the HTTP API and the engine see.
    let rows = rt
        .block_on(
            node.handle
                .query("visible", vec![(0, Value::Symbol("user".into()))]),
        )
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][2], Value::Symbol("grace".into()));
    assert_eq!(rows[0][3], Value::Symbol("resp@n1".into()));
    assert_eq!(call(&mut s, &mut r, &["DEL", "user", "other"]), ":1");
    assert_eq!(call(&mut s, &mut r, &["EXISTS", "user"]), ":0");
    // Unknown commands are errors and the connection goes on.
    assert!(call(&mut s, &mut r, &["FLUSHALL"]).starts_with("-ERR unknown command 'FLUSHALL'"));
    assert_eq!(call(&mut s, &mut r, &["ECHO", "still here"]), "still here");
    assert_eq!(call(&mut s, &mut r, &["QUIT"]), "+OK");
    let mut rest = Vec::new();
    assert_eq!(r.read_to_end(&mut rest).unwrap(), 0, "closed after QUIT");
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let rt = rt();
    let (_node, addr) = resp_node(&rt, Limits::default(), None);
    let mut s = connect(addr);
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut batch = Vec::new();
    for i in 0..50 {
        batch.extend(frame(&["HSET", "k", &format!("f{i}"), &format!("v{i}")]));
    }
    batch.extend(frame(&["HLEN", "k"]));
    batch.extend(b"HGET k f49\r\n");
    s.write_all(&batch).unwrap();
    for _ in 0..50 {
        assert_eq!(read_reply(&mut r), ":1");
    }
    assert_eq!(read_reply(&mut r), ":50");
    assert_eq!(read_reply(&mut r), "v49");
}

#[test]
fn bad_frames_and_oversized_strings_close_the_connection_with_an_error() {
    let rt = rt();
    let limits = Limits {
        max_string_len: 64,
        ..Limits::default()
    };
    let (_node, addr) = resp_node(&rt, limits, None);
    for bad in [
        b"*1\r\n:5\r\n".to_vec(),
        b"*1\r\n$100\r\n".to_vec(),
        b"*-\r\n".to_vec(),
        b"ECHO \"unbalanced\r\n".to_vec(),
    ] {
        let mut s = connect(addr);
        let mut r = BufReader::new(s.try_clone().unwrap());
        s.write_all(&bad).unwrap();
        let reply = read_reply(&mut r);
        assert!(reply.starts_with("-ERR Protocol error"), "{reply}");
        let mut rest = Vec::new();
        assert_eq!(r.read_to_end(&mut rest).unwrap(), 0);
    }
    // A value longer than the node's string limit is refused by the node, not stored.
    let mut s = connect(addr);
    let mut r = BufReader::new(s.try_clone().unwrap());
    let long = "x".repeat(60);
    let reply = call(
        &mut s,
        &mut r,
        &["HSET", "k", "f", &format!("{long}{long}")],
    );
    assert!(reply.starts_with("-ERR Protocol error"), "{reply}");
    let mut s = connect(addr);
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(call(&mut s, &mut r, &["HSET", "k", "f", &long]), ":1");
    assert_eq!(call(&mut s, &mut r, &["HGET", "k", "f"]), long);
}

#[test]
fn with_a_token_only_auth_is_accepted_first() {
    let rt = rt();
    let token = Secret::new("0123456789abcdef-token").unwrap();
    let (_node, addr) = resp_node(&rt, Limits::default(), Some(token));
    let mut s = connect(addr);
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(
        call(&mut s, &mut r, &["HSET", "a", "b", "c"]),
        "-NOAUTH Authentication required."
    );
    assert!(call(&mut s, &mut r, &["AUTH", "nope-nope-nope-nope"]).starts_with("-WRONGPASS"));
    assert_eq!(
        call(&mut s, &mut r, &["AUTH", "0123456789abcdef-token"]),
        "+OK"
    );
    assert_eq!(call(&mut s, &mut r, &["HSET", "a", "b", "c"]), ":1");
    assert_eq!(call(&mut s, &mut r, &["HGET", "a", "b"]), "c");
}

/// `redis-cli`, `redis-benchmark -t hset` and Python's `redis` package against the node, when
/// installed (`apt-get install redis-tools`, `pip install redis`); otherwise says so.
#[test]
fn real_redis_clients_work() {
    let have = |cmd: &str| {
        std::process::Command::new(cmd)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let rt = rt();
    let (node, addr) = resp_node(&rt, Limits::default(), None);
    let port = addr.port().to_string();
    if have("redis-cli") {
        let cli = |args: &[&str]| {
            let o = std::process::Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &port])
                .args(args)
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        assert_eq!(cli(&["HSET", "cli", "f", "from redis-cli"]), "1");
        assert_eq!(cli(&["HGET", "cli", "f"]), "from redis-cli");
        assert_eq!(cli(&["HGETALL", "cli"]), "f\nfrom redis-cli");
    } else {
        eprintln!("redis-cli: skipped (not installed; apt-get install redis-tools)");
    }
    if have("redis-benchmark") {
        let o = std::process::Command::new("redis-benchmark")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-t",
                "hset",
                "-n",
                "300",
                "-c",
                "4",
                "-r",
                "1000",
                "--csv",
            ])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success() && out.contains("HSET"), "{out}");
        // redis-benchmark writes field `element:NNNNNNNNNNNN` of key `myhash`.
        let rows = rt
            .block_on(
                node.handle
                    .query("visible", vec![(0, Value::Symbol("myhash".into()))]),
            )
            .unwrap();
        assert!(!rows.is_empty() && rows.len() <= 1000, "{}", rows.len());
    } else {
        eprintln!("redis-benchmark: skipped (not installed; apt-get install redis-tools)");
    }
    let script = format!(
        "import redis\nr = redis.Redis(host='127.0.0.1', port={port}, protocol=2, decode_responses=True)\n\
         assert r.ping()\nr.hset('py', mapping={{'a': '1', 'b': '2'}})\n\
         assert r.hgetall('py') == {{'a': '1', 'b': '2'}}, r.hgetall('py')\n\
         assert r.hdel('py', 'a') == 1\nassert r.hkeys('py') == ['b']\nprint('ok')\n"
    );
    match std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
    {
        Ok(o) if String::from_utf8_lossy(&o.stderr).contains("No module named 'redis'") => {
            eprintln!("python redis: skipped (pip install redis)")
        }
        Ok(o) => assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            "ok",
            "{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(_) => eprintln!("python3: skipped (not installed)"),
    }
}
