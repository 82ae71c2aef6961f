//! `calm up`, `calm node` start-up checks and configuration files, and the client commands'
//! errors.

use serde_json::Value as Json;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CALM: &str = env!("CARGO_BIN_EXE_calm");
const DEADLINE: Duration = Duration::from_secs(20);

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn calm(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(CALM).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sigterm(child: &Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(start.elapsed() < DEADLINE, "the process did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn http(method: &str, url: &str, body: Option<&str>) -> Result<(u16, String), ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut r = match body {
        Some(b) => agent.post(url).content_type("text/plain").send(b)?,
        None => agent.run(
            ureq::http::Request::builder()
                .method(method)
                .uri(url)
                .body(())?,
        )?,
    };
    Ok((r.status().as_u16(), r.body_mut().read_to_string()?))
}

/// Reads lines of `child`'s standard output on a thread.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

#[test]
fn calm_up_starts_a_local_cluster_and_stops_it_on_sigterm() {
    let mut up = Killed(
        Command::new(CALM)
            .args(["up", "--nodes", "2", "--base-port", "0"])
            .env("CALM_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let rx = lines(&mut up.0);
    let mut urls = Vec::new();
    loop {
        let line = rx
            .recv_timeout(DEADLINE)
            .expect("no ready line from calm up");
        // node n1  http://127.0.0.1:PORT  peer 127.0.0.1:PORT
        if line.starts_with("node ") {
            urls.push(line.split_whitespace().nth(2).unwrap().to_string());
        }
        if line.starts_with("ready: 2 nodes running programs/deadlock.dl") {
            break;
        }
    }
    assert_eq!(urls.len(), 2);
    let (status, body) = http(
        "POST",
        &format!("{}/v1/facts", urls[0]),
        Some(r#"waits("u1", "u2"). waits("u2", "u1")."#),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let start = Instant::now();
    loop {
        let (_, body) = http(
            "GET",
            &format!("{}/v1/relations/deadlocked?t=u2", urls[1]),
            None,
        )
        .unwrap();
        let j: Json = serde_json::from_str(&body).unwrap();
        if j["rows"].as_array().is_some_and(|r| r.len() == 1) {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "n2 never saw the cycle: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
    sigterm(&up.0);
    assert!(wait_exit(&mut up.0).success());
    // Its nodes are gone with it.
    for url in &urls {
        assert!(
            http("GET", &format!("{url}/health"), None).is_err(),
            "{url} still answers"
        );
    }
}

#[test]
fn non_loopback_addresses_are_refused_without_insecure() {
    for args in [
        ["node", "--listen", "0.0.0.0:0"],
        ["node", "--http", "0.0.0.0:0"],
    ] {
        let (code, _, err) = calm(&args);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("not a loopback address"), "{err}");
        assert!(err.contains("not authenticated"), "{err}");
        assert!(err.contains("--insecure"), "{err}");
    }
    // A cluster secret protects the peer port only; a token the client API only.
    let dir = std::env::temp_dir().join(format!("calm-node-expose-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("secret");
    std::fs::write(&secret, "a cluster secret of some length\n").unwrap();
    let s = secret.to_str().unwrap();
    let (code, _, err) = calm(&["node", "--http", "0.0.0.0:0", "--cluster-secret-file", s]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--token-file"), "{err}");
    let (code, _, err) = calm(&["node", "--listen", "0.0.0.0:0", "--token-file", s]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--cluster-secret-file"), "{err}");
    // A secret too short is refused before anything is bound.
    std::fs::write(&secret, "short\n").unwrap();
    let (code, _, err) = calm(&["node", "--token-file", s]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("at least 16 bytes"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_token_that_is_not_printable_ascii_is_refused_at_start() {
    let dir = std::env::temp_dir().join(format!("calm-node-token-ascii-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    let t = token.to_str().unwrap();
    for (bytes, what) in [
        (&b"client-token\x07-0123456789\n"[..], "control character"),
        ("client-token-é-0123456789\n".as_bytes(), "not ASCII"),
        (&b"client token 0123456789\n"[..], "space"),
    ] {
        std::fs::write(&token, bytes).unwrap();
        // Spawned, not run to its end: a node that accepted the token would run on.
        let mut node = Killed(
            Command::new(CALM)
                .args(["node", "--token-file", t])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let code = wait_exit(&mut node.0).code();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut node.0.stderr.take().unwrap(), &mut err).unwrap();
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("--token-file") && err.contains("printable ASCII") && err.contains(what),
            "{err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_node_with_a_token_needs_it_from_every_client_command() {
    let dir = std::env::temp_dir().join(format!("calm-node-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "client-token-0123456789\n").unwrap();
    let wrong = dir.join("wrong");
    std::fs::write(&wrong, "not-the-token-0123456789\n").unwrap();
    let t = token.to_str().unwrap();
    // Exposed on every interface: allowed, since the API needs the token.
    let mut node = Killed(
        Command::new(CALM)
            .args([
                "node",
                "--name",
                "solo",
                "--http",
                "0.0.0.0:0",
                "--token-file",
                t,
            ])
            .env("CALM_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let rx = lines(&mut node.0);
    let ready = rx.recv_timeout(DEADLINE).unwrap();
    let port = ready.rsplit(':').next().unwrap().to_string();
    let url = format!("http://127.0.0.1:{port}");
    let (code, _, err) = calm(&["insert", "--node", &url, r#"waits("x", "y")."#]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bearer token"), "{err}");
    let (code, _, err) = calm(&[
        "insert",
        "--node",
        &url,
        "--token-file",
        wrong.to_str().unwrap(),
        r#"waits("x", "y")."#,
    ]);
    assert_eq!(code, 1, "{err}");
    let (code, out, err) = calm(&[
        "insert",
        "--node",
        &url,
        "--token-file",
        t,
        r#"waits("x", "y"). waits("y", "x")."#,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("inserted 2 facts"), "{out}");
    let (code, out, _) = calm(&[
        "query",
        "--node",
        &url,
        "--token-file",
        t,
        "deadlocked",
        "t=x",
    ]);
    assert_eq!(code, 0);
    assert_eq!(out, "x\n");
    let (code, _, _) = calm(&["status", "--node", &url, "--token-file", t]);
    assert_eq!(code, 0);
    // CALM_TOKEN_FILE stands for --token-file.
    let out = Command::new(CALM)
        .args(["status", "--node", &url])
        .env("CALM_TOKEN_FILE", t)
        .output()
        .unwrap();
    assert!(out.status.success());
    let (code, _, _) = calm(&["status", "--node", &url]);
    assert_eq!(code, 1);
    // /health needs nothing.
    let (status, _) = http("GET", &format!("{url}/health"), None).unwrap();
    assert_eq!(status, 200);
    sigterm(&node.0);
    assert!(wait_exit(&mut node.0).success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn node_reads_a_whole_cluster_configuration() {
    let dir = std::env::temp_dir().join(format!("calm-node-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ports: Vec<u16> = {
        let ls: Vec<_> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
    };
    std::fs::write(dir.join("p.dl"), ".decl e(x: number)\n.persist e\n").unwrap();
    let file = dir.join("cluster.toml");
    std::fs::write(
        &file,
        format!(
            "program = \"p.dl\"\n\
             [nodes.a]\nlisten = \"127.0.0.1:{}\"\n\
             [nodes.b]\nlisten = \"127.0.0.1:{}\"\nhttp = \"127.0.0.1:{}\"\n",
            ports[0], ports[1], ports[2]
        ),
    )
    .unwrap();
    let mut node = Killed(
        Command::new(CALM)
            .args(["node", "--config", file.to_str().unwrap(), "--name", "b"])
            .env("CALM_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let rx = lines(&mut node.0);
    let ready = rx.recv_timeout(DEADLINE).unwrap();
    assert_eq!(
        ready,
        format!(
            "ready name=b peer=127.0.0.1:{} http=http://127.0.0.1:{}",
            ports[1], ports[2]
        )
    );
    let (code, out, err) = calm(&["status", "--node", &format!("127.0.0.1:{}", ports[2])]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("  a            127.0.0.1:{}", ports[0])),
        "{out}"
    );
    let (code, out, _) = calm(&[
        "insert",
        "--node",
        &format!("http://127.0.0.1:{}/", ports[2]),
        "e(1). e(-2).",
    ]);
    assert_eq!(code, 0);
    assert!(out.starts_with("inserted 2 facts (tick "), "{out}");
    let (_, out, _) = calm(&["query", "--node", &format!("127.0.0.1:{}", ports[2]), "e"]);
    assert_eq!(out, "-2\n1\n");
    // A node not in the file.
    let (code, _, err) = calm(&["node", "--config", file.to_str().unwrap(), "--name", "zz"]);
    assert_eq!(code, 2);
    assert!(err.contains("not in the configuration"), "{err}");
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn client_errors() {
    // Facts are parsed locally first: a syntax error is a diagnostic, exit 1, no connection.
    let (code, _, err) = calm(&[
        "insert",
        "--node",
        "http://127.0.0.1:9",
        r#"waits("a" "b")."#,
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("error[") && err.contains("<facts>:1:"),
        "{err}"
    );
    let (code, _, err) = calm(&["insert", "--node", "http://127.0.0.1:9", "p(x) :- q(x)."]);
    assert_eq!(code, 1);
    assert!(err.contains("expected a fact"), "{err}");
    // Nobody listening: exit 2.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _, err) = calm(&["query", "--node", &format!("127.0.0.1:{port}"), "r"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot reach the node"), "{err}");
    let (code, _, err) = calm(&["status", "--node", "https://127.0.0.1:1"]);
    assert_eq!(code, 2);
    assert!(err.contains("only http://"), "{err}");
}

#[test]
fn refused_requests_exit_1_with_the_nodes_message() {
    let mut node = Killed(
        Command::new(CALM)
            .args(["node", "--name", "solo"])
            .env("CALM_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let rx = lines(&mut node.0);
    let ready = rx.recv_timeout(DEADLINE).unwrap();
    let url = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .unwrap();
    let (code, _, err) = calm(&["insert", "--node", url, "nope(1)."]);
    assert_eq!(code, 1);
    assert_eq!(err, "error: unknown relation `nope`\n");
    let (code, _, err) = calm(&["insert", "--node", url, "waits(1, 2)."]);
    assert_eq!(code, 1);
    assert!(err.contains("column 1 of `waits` is a symbol"), "{err}");
    let (code, _, err) = calm(&["query", "--node", url, "deadlocked", "x=1"]);
    assert_eq!(code, 1);
    assert!(err.contains("no column `x`"), "{err}");
    // The bundled program's own facts were evaluated at start.
    let (code, out, _) = calm(&["query", "--node", url, "deadlocked", "t=t3"]);
    assert_eq!(code, 0);
    assert_eq!(out, "t3\n");
    sigterm(&node.0);
    assert!(wait_exit(&mut node.0).success());
}

#[test]
fn a_node_serves_the_store_over_resp_when_asked() {
    use std::io::{Read as _, Write as _};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let kvs = root.join("programs/kvs.dl");
    let mut child = Killed(
        Command::new(CALM)
            .args(["node", kvs.to_str().unwrap(), "--resp", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rx = lines(&mut child.0);
    let ready = rx.recv_timeout(DEADLINE).expect("a ready line");
    let addr = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("resp="))
        .unwrap_or_else(|| panic!("no resp= in `{ready}`"))
        .to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"*4\r\n$4\r\nHSET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\nHGET a b\r\nQUIT\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out, ":1\r\n$1\r\nc\r\n+OK\r\n");
    // A program without kvs.dl's relations cannot serve it; a public address needs a token.
    let (code, _, err) = calm(&["node", "--resp", "127.0.0.1:0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("shaped like programs/kvs.dl"), "{err}");
    let (code, _, err) = calm(&["node", kvs.to_str().unwrap(), "--resp", "0.0.0.0:0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--resp 0.0.0.0:0"), "{err}");
}

#[test]
fn settings_come_from_the_environment_as_from_flags() {
    let output = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let mut child = Killed(
        Command::new(CALM)
            .arg("node")
            .env("CALM_NAME", "envnode")
            .env("CALM_PEERS", "p1=127.0.0.1:1,p2=127.0.0.1:2")
            .env("CALM_HTTP", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rx = lines(&mut child.0);
    let ready = rx.recv_timeout(DEADLINE).expect("a ready line");
    assert!(ready.starts_with("ready name=envnode "), "{ready}");
    drop(child);
    // A flag wins over the variable.
    let (code, err) = output(
        Command::new(CALM)
            .args(["node", "--http", "0.0.0.0:0"])
            .env("CALM_HTTP", "127.0.0.1:0"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--http 0.0.0.0:0"), "{err}");
    // CALM_RESP is read: the default program cannot serve the store.
    let (code, err) = output(
        Command::new(CALM)
            .arg("node")
            .env("CALM_RESP", "127.0.0.1:0"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("shaped like programs/kvs.dl"), "{err}");
    // A malformed peer list names the entry.
    let (code, err) = output(
        Command::new(CALM)
            .arg("node")
            .env("CALM_NAME", "a")
            .env("CALM_PEERS", "b=127.0.0.1:1,oops"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`oops`"), "{err}");
}

#[test]
fn programs_with_records_floats_or_unsigned_are_refused_by_node_and_sim() {
    // A node sends, stores and serves numbers and symbols: a record type, a float or an
    // unsigned column is a compile-time error there (E0700) pointing at the type or the
    // relation, never a panic or a changed value.
    let dir = std::env::temp_dir().join(format!("calm-node-records-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text, what) in [
        (
            "rec.dl",
            ".type P = [a: number, b: symbol]\n.decl p(x: P)\np([1, \"a\"]).\n",
            "record types are not supported by `calm node`",
        ),
        (
            "adt.dl",
            ".type T = A {x: number} | B {}\n.decl t(x: T)\nt($B()).\n",
            "algebraic data types are not supported by `calm node`",
        ),
        (
            "flt.dl",
            ".decl p(x: float)\np(1.5).\n",
            "float columns are not supported by `calm node`",
        ),
        (
            "uns.dl",
            ".decl q(a: symbol, n: unsigned)\nq(\"a\", 1).\n",
            "unsigned columns are not supported by `calm node`",
        ),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        let p = path.to_str().unwrap();
        for args in [vec!["node", p], vec!["sim", p, "--seeds", "1"]] {
            let (code, _, err) = calm(&args);
            assert_eq!(code, 1, "{args:?}: {err}");
            assert!(
                err.contains("E0700") && err.contains(what),
                "{args:?}: {err}"
            );
            assert!(err.contains(&format!("{file}:1:1")), "{args:?}: {err}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
