//! The web console in a real browser: three `calm node` processes running
//! `programs/deadlock.dl` with a client token, and headless Chromium driven over the DevTools
//! protocol opening `/ui` on one of them. The page asks for the token (and says when a wrong one
//! was given), then shows the members and the relation sizes, which change after an insert at
//! another node; the live view of `deadlocked` gets the new rows, the browser's column filter
//! narrows a relation, a value that looks like HTML is shown as text, and the graph loads. A
//! screenshot is saved under `target/tmp/`.
//!
//! Runs when Chromium is installed (`chromium`, `chromium-browser` or `google-chrome` on the
//! `PATH`, or the binary named by `CALM_CHROMIUM`); otherwise it says it was skipped and passes.

use serde_json::{Value as Json, json};
use std::io::{BufRead as _, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

mod common;
use common::{CALM, NodeProc, agent, free_ports, start_node};

/// How long any one thing may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

const TOKEN: &str = "console-e2e-token-0123456789abcdef";

/// The Chromium binary, if one is installed.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CALM_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("calm-console-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The browser process, killed when dropped.
struct Browser {
    child: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts headless Chromium with the DevTools protocol on a port it picks; its browser
/// endpoint's address (`ws://127.0.0.1:PORT/devtools/browser/ID`).
fn launch(binary: &Path, profile: &Path) -> (Browser, String) {
    let mut child = Command::new(binary)
        .args([
            "--headless",
            // The test runs as root on CI machines, where Chromium's sandbox cannot start; it
            // only ever loads pages of the nodes the test started, on loopback.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1400,1800",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    // Reads Chromium's standard error to the end (a full pipe would stop it), handing over the
    // DevTools line and keeping the rest for a failure's message.
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                let _ = tx.send(Ok(url.trim().to_string()));
            } else if seen.len() < 8192 {
                seen.push_str(&line);
                seen.push('\n');
            }
        }
        let _ = tx.send(Err(seen));
    });
    let browser = Browser { child };
    match rx.recv_timeout(DEADLINE) {
        Ok(Ok(url)) => (browser, url),
        Ok(Err(log)) => panic!("Chromium exited without a DevTools endpoint:\n{log}"),
        Err(_) => panic!("Chromium gave no DevTools endpoint within {DEADLINE:?}"),
    }
}

/// A DevTools protocol session with one page.
struct Page {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Page {
    /// Connects to the first page target of the browser at `browser_ws`.
    fn open(browser_ws: &str) -> Page {
        let host = browser_ws
            .strip_prefix("ws://")
            .and_then(|r| r.split('/').next())
            .unwrap_or_else(|| panic!("unexpected DevTools address {browser_ws}"));
        let start = Instant::now();
        let page_ws = loop {
            let mut r = agent()
                .get(format!("http://{host}/json/list"))
                .call()
                .unwrap();
            let targets: Json = serde_json::from_str(&r.body_mut().read_to_string().unwrap())
                .expect("the target list is JSON");
            let page = targets.as_array().and_then(|t| {
                t.iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                    .map(str::to_string)
            });
            if let Some(p) = page {
                break p;
            }
            assert!(start.elapsed() < DEADLINE, "no page target: {targets}");
            std::thread::sleep(Duration::from_millis(100));
        };
        let (ws, _) = tungstenite::connect(page_ws.as_str()).expect("DevTools websocket");
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(DEADLINE)).unwrap();
        }
        Page { ws, next_id: 1 }
    }

    /// Calls `method` and returns its result (events that arrive meanwhile are skipped).
    fn call(&mut self, method: &str, params: Json) -> Json {
        self.try_call(method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Calls `method`: its result, or the error DevTools answered.
    fn try_call(&mut self, method: &str, params: Json) -> Result<Json, String> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({ "id": id, "method": method, "params": params });
        self.ws
            .send(Message::text(msg.to_string()))
            .expect("send to DevTools");
        loop {
            let m = self
                .ws
                .read()
                .unwrap_or_else(|e| panic!("{method}: no answer from DevTools: {e}"));
            let Message::Text(text) = m else { continue };
            let v: Json = serde_json::from_str(text.as_str()).unwrap();
            if v["id"] != json!(id) {
                continue;
            }
            return match v.get("error") {
                Some(e) => Err(e.to_string()),
                None => Ok(v["result"].clone()),
            };
        }
    }

    /// The value of a JavaScript expression in the page (promises awaited), or what it threw.
    fn try_eval(&mut self, expression: &str) -> Result<Json, String> {
        let r = self.try_call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        )?;
        match r.get("exceptionDetails") {
            Some(e) => Err(format!("`{expression}` threw: {e}")),
            None => Ok(r["result"]["value"].clone()),
        }
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    fn eval(&mut self, expression: &str) -> Json {
        self.try_eval(expression).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Evaluates `expression` until `ok` holds for its value; the value. An expression that
    /// throws (the page is being replaced) is tried again, and its error is reported if it
    /// never succeeds.
    fn wait_for(&mut self, what: &str, expression: &str, ok: impl Fn(&Json) -> bool) -> Json {
        let start = Instant::now();
        loop {
            let got = self.try_eval(expression);
            if let Ok(v) = &got
                && ok(v)
            {
                return v.clone();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{what}: still {got:?} after {DEADLINE:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Decodes standard base64 (what `Page.captureScreenshot` returns).
fn base64(text: &str) -> Vec<u8> {
    let digit = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for chunk in text.trim_end_matches('=').as_bytes().chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | digit(c) << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

#[test]
fn base64_decodes() {
    assert_eq!(base64("aGVsbG8="), b"hello");
    assert_eq!(base64("aGk="), b"hi");
    assert_eq!(base64("YWJj"), b"abc");
    assert_eq!(base64(""), b"");
}

fn program() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../programs/deadlock.dl")
}

/// Starts the three nodes with the token.
fn cluster(token_file: &Path) -> Vec<NodeProc> {
    let names = ["n1", "n2", "n3"];
    let ports = free_ports(3);
    (0..3)
        .map(|i| {
            let mut cmd = Command::new(CALM);
            cmd.arg("node")
                .arg(program())
                .args(["--name", names[i]])
                .args(["--listen", &format!("127.0.0.1:{}", ports[i])])
                .args(["--http", "127.0.0.1:0"])
                .arg("--token-file")
                .arg(token_file)
                .env("CALM_LOG", "warn")
                .stderr(Stdio::inherit());
            for (j, n) in names.iter().enumerate() {
                if j != i {
                    cmd.arg("--peer").arg(format!("{n}=127.0.0.1:{}", ports[j]));
                }
            }
            start_node(cmd, DEADLINE)
        })
        .collect()
}

fn insert(node: &NodeProc, facts: &str) {
    let mut r = agent()
        .post(format!("{}/v1/facts", node.http))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .send(facts)
        .unwrap();
    let body = r.body_mut().read_to_string().unwrap();
    assert_eq!(r.status(), 200, "{body}");
}

/// The size the page shows for `rel`, as a number (null while not shown).
fn size_js(rel: &str) -> String {
    format!(
        "(() => {{ const c = document.querySelector('#relations tr[data-relation=\"{rel}\"] td.size'); \
         return c ? Number(c.textContent) : null; }})()"
    )
}

/// Types `token` into the token form and submits it.
fn enter_token(page: &mut Page, token: &str) {
    page.eval(&format!(
        "document.getElementById('token-input').value = {}; \
         document.getElementById('token-form').requestSubmit(); true",
        json!(token)
    ));
}

#[test]
fn the_console_shows_a_three_node_cluster_in_chromium() {
    let Some(binary) = chromium() else {
        // Straight to standard error: the test harness captures `eprintln!` of passing tests.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "console_ui: skipped: Chromium is not installed (no chromium, chromium-browser or \
             google-chrome on the PATH, no CALM_CHROMIUM)"
        );
        return;
    };
    let dir = TempDir::new("e2e");
    let token_file = dir.0.join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let nodes = cluster(&token_file);
    let profile = dir.0.join("profile");
    let (_browser, browser_ws) = launch(&binary, &profile);
    let mut page = Page::open(&browser_ws);
    page.call("Page.enable", json!({}));
    page.call(
        "Page.navigate",
        json!({ "url": format!("{}/ui", nodes[0].http) }),
    );
    // The navigation is answered before the new document is there.
    page.wait_for(
        "the page",
        "location.pathname === '/ui' && document.readyState === 'complete' && \
         !!document.getElementById('token-form')",
        |v| *v == json!(true),
    );

    // The page loads without the token and asks for it.
    let reason = "document.getElementById('token-form').hidden ? null : \
                  document.getElementById('token-reason').textContent";
    let asked = page.wait_for("the token form", reason, Json::is_string);
    assert!(
        asked.as_str().unwrap().contains("requires a token"),
        "{asked}"
    );
    // A wrong token is refused with a clear message.
    enter_token(&mut page, "not-the-token-of-this-cluster");
    let refused = page.wait_for("the wrong token's message", reason, |v| {
        v.as_str().is_some_and(|s| s.contains("refused"))
    });
    assert!(
        refused.as_str().unwrap().contains("--token-file"),
        "{refused}"
    );
    enter_token(&mut page, TOKEN);

    // The members, and the links to the two peers once they are up.
    let members = page.wait_for(
        "three members, both peers connected",
        "[...document.querySelectorAll('#members tbody tr')].map(r => \
         [r.dataset.member, r.cells[1].textContent])",
        |v| {
            *v == json!([
                ["n1", "this node"],
                ["n2", "connected"],
                ["n3", "connected"]
            ])
        },
    );
    assert_eq!(members.as_array().unwrap().len(), 3);
    assert_eq!(
        page.eval("document.getElementById('node-name').textContent"),
        "n1"
    );

    // Relation sizes: the program's six edges, heard from every member; five deadlocked.
    page.wait_for("shared = 6", &size_js("shared"), |v| *v == json!(6));
    page.wait_for("deadlocked = 5", &size_js("deadlocked"), |v| *v == json!(5));

    // The live view of `deadlocked` (the page's only `.output`).
    page.wait_for(
        "the live view's choice",
        "[...document.getElementById('live-relation').options].map(o => o.value)",
        |v| *v == json!(["deadlocked"]),
    );
    page.eval("document.getElementById('live-form').requestSubmit(); true");
    page.wait_for(
        "the live view's first rows",
        "document.querySelectorAll('#live tbody tr').length",
        |v| *v == json!(5),
    );

    // A new cycle, and a value that looks like HTML, inserted at another node.
    insert(
        &nodes[1],
        r#"waits("t7", "t8"). waits("t8", "t7"). waits("<img src=x>", "t9")."#,
    );
    page.wait_for("shared = 9", &size_js("shared"), |v| *v == json!(9));
    page.wait_for("deadlocked = 7", &size_js("deadlocked"), |v| *v == json!(7));
    let live = page.wait_for(
        "t7 and t8 in the live view",
        "[...document.querySelectorAll('#live tbody tr')].map(r => \
         [...r.cells].map(c => c.textContent))",
        |v| v.as_array().is_some_and(|rows| rows.len() == 7),
    );
    let rows = live.as_array().unwrap();
    // Newest first, each with the tick that added it.
    let mut new: Vec<&str> = rows[..2].iter().map(|r| r[1].as_str().unwrap()).collect();
    new.sort();
    assert_eq!(new, ["t7", "t8"], "{live}");
    assert!(
        rows[0][0].as_str().unwrap().parse::<u64>().is_ok(),
        "{live}"
    );
    assert!(rows[2..].iter().all(|r| r[0] == "now"), "{live}");

    // The browser: all of `shared`, then filtered by a column.
    page.eval(
        "document.querySelector('#relations tr[data-relation=\"shared\"] button').click(); true",
    );
    page.wait_for(
        "shared's rows",
        "document.querySelectorAll('#rows tbody tr').length",
        |v| *v == json!(9),
    );
    page.eval(
        "document.querySelector('#filters input[data-column=\"waiter\"]').value = '<img src=x>'; \
         document.getElementById('browse-form').requestSubmit(); true",
    );
    let filtered = page.wait_for(
        "the filtered row",
        "[...document.querySelectorAll('#rows tbody tr')].map(r => \
         [...r.cells].map(c => c.textContent))",
        |v| v.as_array().is_some_and(|r| r.len() == 1),
    );
    assert_eq!(filtered, json!([["n1", "<img src=x>", "t9"]]));
    // Shown as text: no element was made of it.
    assert_eq!(
        page.eval("document.querySelectorAll('main img').length"),
        json!(1)
    );

    // The graph, drawn by the node.
    page.wait_for(
        "the graph",
        "document.getElementById('graph').complete && document.getElementById('graph').naturalWidth",
        |v| v.as_u64().is_some_and(|w| w > 100),
    );
    assert_eq!(
        page.eval("document.getElementById('message').hidden"),
        json!(true)
    );

    let shot = page.call(
        "Page.captureScreenshot",
        json!({ "format": "png", "captureBeyondViewport": true }),
    );
    let png = base64(shot["data"].as_str().unwrap());
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console.png");
    std::fs::write(&out, png).unwrap();
    println!("screenshot: {}", out.display());
    let _ = page.call("Browser.close", json!({}));
}
