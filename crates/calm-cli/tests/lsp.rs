//! `calm lsp` as an editor runs it: a child process speaking JSON-RPC over its standard input and
//! output, with `calm.toml` found beside the document.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

/// How long the test waits for one message before failing (a hang guard, not a timing check).
const WAIT: Duration = Duration::from_secs(60);

struct Server {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    next: i64,
    /// Notifications received while waiting for a response.
    seen: Vec<Value>,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_calm"))
            .args(["lsp", "--stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start calm lsp");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, messages) = channel();
        std::thread::spawn(move || {
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        length = Some(v.parse::<usize>().unwrap());
                    }
                }
                let mut body = vec![0; length.expect("Content-Length")];
                stdout.read_exact(&mut body).unwrap();
                if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                    return;
                }
            }
        });
        Server {
            child,
            stdin,
            messages,
            next: 0,
            seen: Vec::new(),
        }
    }

    fn write_raw(&mut self, body: &[u8]) {
        write!(self.stdin, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
        self.stdin.write_all(body).unwrap();
        self.stdin.flush().unwrap();
    }

    fn send(&mut self, msg: Value) {
        self.write_raw(msg.to_string().as_bytes());
    }

    fn recv(&self) -> Value {
        self.messages
            .recv_timeout(WAIT)
            .expect("no message from calm lsp")
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// The response to a request (its `result` or `error` object).
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        self.response(&json!(id))
    }

    fn response(&mut self, id: &Value) -> Value {
        loop {
            let msg = self.recv();
            if msg.get("method").is_some() {
                self.seen.push(msg);
            } else if &msg["id"] == id {
                assert_eq!(msg["jsonrpc"], "2.0");
                return msg;
            } else {
                panic!("unexpected response {msg}");
            }
        }
    }

    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        let matches = |m: &Value| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        };
        if let Some(i) = self.seen.iter().position(matches) {
            return self.seen.remove(i)["params"]["diagnostics"]
                .as_array()
                .unwrap()
                .clone();
        }
        loop {
            let msg = self.recv();
            if matches(&msg) {
                return msg["params"]["diagnostics"].as_array().unwrap().clone();
            }
            self.seen.push(msg);
        }
    }
}

fn pos(line: u32, character: u32) -> Value {
    json!({ "line": line, "character": character })
}

fn range(v: &Value) -> [u64; 4] {
    let n = |x: &Value| x.as_u64().unwrap_or_else(|| panic!("not a range: {v}"));
    [
        n(&v["start"]["line"]),
        n(&v["start"]["character"]),
        n(&v["end"]["line"]),
        n(&v["end"]["character"]),
    ]
}

/// A directory with a `calm.toml` that denies CALM001.
fn project() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lsp-project");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub dir")).unwrap();
    std::fs::write(dir.join("calm.toml"), "[lints]\nCALM001 = \"deny\"\n").unwrap();
    dir
}

/// A program with a point of order (line 3), a clause that does not parse (line 5) and
/// non-ASCII text before the names the test looks at.
const PROGRAM: &str = "\
.decl seen(at: symbol, x: number) // ¿qué? 😀
.persist seen
seen(@n, x)@async :- local(x), $member(n).
.input local
half(\"ü\", x) :- local(x), (
fresh(x) :- local(x), !seen(_, x). /* ß */ .output fresh
";

#[test]
fn editor_session_over_stdio() {
    let dir = project();
    let path = dir.join("sub dir").join("prog.dl");
    let uri = format!("file://{}", path.to_str().unwrap().replace(' ', "%20"));
    let mut s = Server::start();

    // Garbage before initialize: answered with a parse error (id null), then the session goes on.
    s.write_raw(b"{ this is not json");
    let err = s.response(&Value::Null);
    assert_eq!(err["error"]["code"], -32700);

    let init = s.request(
        "initialize",
        json!({ "processId": null, "capabilities": {} }),
    );
    let caps = &init["result"]["capabilities"];
    assert_eq!(caps["positionEncoding"], "utf-16");
    assert_eq!(caps["renameProvider"]["prepareProvider"], true);
    assert_eq!(caps["documentFormattingProvider"], true);
    assert_eq!(init["result"]["serverInfo"]["name"], "calm");
    s.notify("initialized", json!({}));

    s.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "calm", "version": 1, "text": PROGRAM } }),
    );
    let diags = s.diagnostics(&uri);
    // The group opened by `(` meets `:-` on line 5 (E0001), which drops the clause up to
    // `!seen(_, x).`; the `.output fresh` after it then names a relation nothing defines (E0103,
    // at UTF-16 column 51: `ß` is two bytes, one unit). The program does not compile, so it is
    // not analysed.
    let line5 = PROGRAM.lines().nth(5).unwrap();
    let utf16 = |needle: &str| line5[..line5.rfind(needle).unwrap()].encode_utf16().count() as u64;
    assert_eq!(utf16("fresh"), 51);
    let codes: Vec<(&str, [u64; 4])> = diags
        .iter()
        .map(|d| (d["code"].as_str().unwrap(), range(&d["range"])))
        .collect();
    assert_eq!(
        codes,
        vec![("E0001", [5, 9, 5, 11]), ("E0103", [5, 51, 5, 56])],
        "{diags:?}"
    );
    assert_eq!(diags[0]["severity"], 1);

    // Hover on `seen` in the `@async` rule (line 2), after the non-ASCII comment of line 0.
    let h = s.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri }, "position": pos(2, 2) }),
    );
    let md = h["result"]["contents"]["value"].as_str().unwrap();
    assert!(md.contains("sent with `@async`"), "{md}");
    assert_eq!(range(&h["result"]["range"]), [2, 0, 2, 4]);

    // Definition of `seen` from the clause that did not parse (line 5).
    let seen_col = line5[..line5.find("seen").unwrap()].encode_utf16().count() as u32;
    let d = s.request(
        "textDocument/definition",
        json!({ "textDocument": { "uri": uri }, "position": pos(5, seen_col + 1) }),
    );
    assert_eq!(range(&d["result"][0]["range"]), [0, 6, 0, 10]);
    let refs = s.request(
        "textDocument/references",
        json!({ "textDocument": { "uri": uri }, "position": pos(0, 7),
                "context": { "includeDeclaration": false } }),
    );
    let lines: Vec<u64> = refs["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| range(&l["range"])[0])
        .collect();
    assert_eq!(lines, vec![1, 2, 5]);

    let rename = s.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": uri }, "position": pos(0, 7), "newName": "known" }),
    );
    let edits = rename["result"]["changes"][&uri].as_array().unwrap();
    assert_eq!(edits.len(), 4);
    assert!(
        edits
            .iter()
            .any(|e| range(&e["range"]) == [5, u64::from(seen_col), 5, u64::from(seen_col) + 4])
    );

    let syms = s.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": uri } }),
    );
    let names: Vec<&str> = syms["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "seen",
            ".persist seen",
            "seen",
            ".input local",
            ".output fresh"
        ]
    );

    // Finish the broken clause (`, (` becomes `.`): the program compiles, and `calm.toml` makes
    // CALM001 deny.
    let line4 = PROGRAM.lines().nth(4).unwrap();
    let cut = line4[..line4.find(", (").unwrap()].encode_utf16().count() as u32;
    s.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 2 },
                "contentChanges": [ { "range": { "start": pos(4, cut), "end": pos(4, cut + 3) },
                                      "text": "." } ] }),
    );
    let diags = s.diagnostics(&uri);
    let lint = diags
        .iter()
        .find(|d| d["code"] == "CALM001")
        .unwrap_or_else(|| panic!("{diags:?}"));
    assert_eq!(lint["severity"], 1, "calm.toml denies CALM001: {lint}");
    assert_eq!(
        range(&lint["range"]),
        [5, u64::from(seen_col), 5, u64::from(seen_col) + 10]
    );
    let related = lint["relatedInformation"].as_array().unwrap();
    assert_eq!(range(&related[0]["location"]["range"])[0], 2);

    let actions = s.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri }, "range": lint["range"],
                "context": { "diagnostics": [lint] } }),
    );
    let edit = &actions["result"][0]["edit"]["changes"][&uri][0];
    assert_eq!(edit["newText"], "// calm: allow(CALM001) ???\n");
    assert_eq!(range(&edit["range"]), [5, 0, 5, 0]);

    // Formatting: the whole document as one edit, `.output fresh` moved to its own line.
    let f = s.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 4, "insertSpaces": true } }),
    );
    let edits = f["result"].as_array().unwrap();
    assert_eq!(edits.len(), 1, "{f}");
    assert_eq!(range(&edits[0]["range"]), [0, 0, 6, 0]);
    let formatted = edits[0]["newText"].as_str().unwrap();
    assert!(
        formatted.starts_with(".decl seen(at: symbol, x: number) // ¿qué? 😀\n"),
        "{formatted}"
    );
    assert!(
        formatted.ends_with("!seen(_, x). /* ß */\n.output fresh\n"),
        "{formatted}"
    );

    // Malformed requests get errors; the server keeps serving.
    assert_eq!(
        s.request("no/such/method", json!({}))["error"]["code"],
        -32601
    );
    assert_eq!(
        s.request("textDocument/hover", json!({ "textDocument": 1 }))["error"]["code"],
        -32602
    );
    let past = s.request(
        "textDocument/references",
        json!({ "textDocument": { "uri": uri }, "position": pos(1000, 0),
                "context": { "includeDeclaration": true } }),
    );
    assert_eq!(past["error"]["code"], -32602);
    s.write_raw(br#"{"jsonrpc":"2.0","id":99,"method":12}"#);
    assert_eq!(s.response(&json!(99))["error"]["code"], -32600);
    // A document over 16 MiB: one diagnostic saying it is not analysed.
    let big = "p(1).\n".repeat((16 << 20) / 6 + 1);
    s.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": "untitled:big.dl", "languageId": "calm", "version": 1, "text": big } }),
    );
    let d = s.diagnostics("untitled:big.dl");
    assert!(
        d[0]["message"].as_str().unwrap().contains("not analysed"),
        "{d:?}"
    );

    assert!(s.request("shutdown", Value::Null)["result"].is_null());
    s.notify("exit", Value::Null);
    let status = s.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn exit_without_shutdown_is_code_1() {
    let mut s = Server::start();
    s.request("initialize", json!({ "capabilities": {} }));
    s.notify("exit", Value::Null);
    assert_eq!(s.child.wait().unwrap().code(), Some(1));
}
