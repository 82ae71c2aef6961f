//! The server over an in-memory connection: JSON-RPC in, JSON-RPC out, as an editor speaks it.

use calm_lsp::Limits;
use calm_lsp::server::{self, Exit};
use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use serde_json::{Value, json};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a test waits for one message before failing (not a timing assertion: a hang guard).
const WAIT: Duration = Duration::from_secs(60);

struct Client {
    conn: Connection,
    server: Option<JoinHandle<Result<Exit, calm_lsp::Error>>>,
    next: i32,
    /// Notifications received while waiting for something else.
    seen: Vec<Notification>,
}

impl Client {
    fn start(limits: Limits) -> Client {
        let (server_side, client_side) = Connection::memory();
        let server = std::thread::spawn(move || server::run(&server_side, limits));
        Client {
            conn: client_side,
            server: Some(server),
            next: 0,
            seen: Vec::new(),
        }
    }

    fn initialized(limits: Limits) -> Client {
        let mut c = Client::start(limits);
        let r = c.request("initialize", json!({ "capabilities": {} }));
        let caps = &r.response_result.expect("initialize result")["capabilities"];
        assert_eq!(caps["positionEncoding"], "utf-16");
        assert_eq!(caps["hoverProvider"], true);
        c.notify("initialized", json!({}));
        c
    }

    fn send(&self, msg: Message) {
        self.conn.sender.send(msg).expect("server gone");
    }

    fn recv(&self) -> Message {
        self.conn
            .receiver
            .recv_timeout(WAIT)
            .expect("no message from the server")
    }

    fn notify(&self, method: &str, params: Value) {
        self.send(Message::Notification(Notification::new(
            method.to_string(),
            params,
        )));
    }

    /// Sends a request and waits for its response, keeping notifications that arrive first.
    fn request(&mut self, method: &str, params: Value) -> Response {
        self.next += 1;
        let id = RequestId::from(self.next);
        self.send(Message::Request(Request::new(
            id.clone(),
            method.to_string(),
            params,
        )));
        loop {
            match self.recv() {
                Message::Response(r) if r.id == id => return r,
                Message::Response(r) => panic!("response to another request: {r:?}"),
                Message::Notification(n) => self.seen.push(n),
                Message::Request(r) => panic!("the server sent a request: {r:?}"),
            }
        }
    }

    fn ok(&mut self, method: &str, params: Value) -> Value {
        let r = self.request(method, params);
        match r.response_result {
            Ok(v) => v,
            Err(e) => panic!("{method} failed: {e:?}"),
        }
    }

    fn err(&mut self, method: &str, params: Value) -> (i32, String) {
        let r = self.request(method, params);
        match r.response_result {
            Ok(v) => panic!("{method} succeeded: {v}"),
            Err(e) => (e.code, e.message),
        }
    }

    /// The next diagnostics published for `uri` (with `version`, when given).
    fn diagnostics(&mut self, uri: &str, version: Option<i64>) -> Vec<Value> {
        let matches = |n: &Notification| {
            n.method == "textDocument/publishDiagnostics"
                && n.params["uri"] == uri
                && version.is_none_or(|v| n.params["version"] == v)
        };
        if let Some(i) = self.seen.iter().position(matches) {
            let n = self.seen.remove(i);
            return n.params["diagnostics"].as_array().unwrap().clone();
        }
        loop {
            match self.recv() {
                Message::Notification(n) if matches(&n) => {
                    return n.params["diagnostics"].as_array().unwrap().clone();
                }
                Message::Notification(n) => self.seen.push(n),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn shutdown(mut self) -> Exit {
        let r = self.ok("shutdown", Value::Null);
        assert!(r.is_null());
        self.notify("exit", Value::Null);
        self.server.take().unwrap().join().unwrap().unwrap()
    }
}

const URI: &str = "untitled:prog.dl";

/// A program with non-ASCII text before the interesting parts, a point of order, and a clause
/// that does not parse (line 7).
const BROKEN: &str = "\
// Ünïcödé comment: 😀 \"not a string
.decl seen(at: symbol, x: number)
.persist seen
seen(@n, x)@async :- local(x), $member(n).
.input local
.output fresh
label(\"é😀\", x) :- local(x), broken(x, .
fresh(x) :- local(x), !seen(_, x), !label(\"é😀\", x).
";

fn open(c: &Client, text: &str) {
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": URI, "languageId": "calm", "version": 1, "text": text } }),
    );
}

fn pos(line: u32, character: u32) -> Value {
    json!({ "line": line, "character": character })
}

fn at(line: u32, character: u32) -> Value {
    json!({ "textDocument": { "uri": URI }, "position": pos(line, character) })
}

/// The UTF-16 column of the `n`th occurrence of `needle` on line `line` of `text`.
fn col(text: &str, line: usize, needle: &str, n: usize) -> u32 {
    let l = text.lines().nth(line).unwrap();
    let (byte, _) = l.match_indices(needle).nth(n).unwrap();
    l[..byte].encode_utf16().count() as u32
}

fn range(v: &Value) -> (u64, u64, u64, u64) {
    let n = |x: &Value| x.as_u64().unwrap_or_else(|| panic!("not a range: {v}"));
    (
        n(&v["start"]["line"]),
        n(&v["start"]["character"]),
        n(&v["end"]["line"]),
        n(&v["end"]["character"]),
    )
}

#[test]
fn broken_file_diagnostics_hover_and_navigation() {
    let mut c = Client::initialized(Limits::default());
    open(&c, BROKEN);
    let diags = c.diagnostics(URI, Some(1));
    // The clause on line 7 does not parse: E0001 at the `.` after `broken(x, ` (UTF-16 column).
    let e = diags
        .iter()
        .find(|d| d["code"] == "E0001")
        .unwrap_or_else(|| panic!("no E0001 in {diags:?}"));
    let dot = col(BROKEN, 6, ", .", 0) + 2;
    assert_eq!(range(&e["range"]).0, 6, "{e}");
    assert_eq!(range(&e["range"]).1, u64::from(dot), "{e}");
    assert_eq!(e["severity"], 1);
    assert_eq!(e["source"], "calm");

    // Hover on `seen` in the last rule: declared, persisted, sent with @async. The program has
    // an error, so it is not analysed.
    let h = c.ok("textDocument/hover", at(7, col(BROKEN, 7, "seen", 0) + 1));
    let md = h["contents"]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("{h}"));
    assert!(md.contains(".decl seen(at: symbol, x: number)"), "{md}");
    assert!(md.contains("| `at` | `symbol` |"), "{md}");
    assert!(md.contains("persisted (`.persist`)"), "{md}");
    assert!(md.contains("sent with `@async` by 1 rule"), "{md}");
    assert!(md.contains("not analysed"), "{md}");
    assert_eq!(
        range(&h["range"]),
        (
            7,
            u64::from(col(BROKEN, 7, "seen", 0)),
            7,
            u64::from(col(BROKEN, 7, "seen", 0)) + 4
        )
    );

    // `label` is named only in the clause that did not parse and in the last rule: both found.
    let label_col = col(BROKEN, 7, "label", 0);
    let refs = c.ok(
        "textDocument/references",
        json!({ "textDocument": { "uri": URI }, "position": pos(7, label_col),
                "context": { "includeDeclaration": true } }),
    );
    let lines: Vec<(u64, u64)> = refs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (range(&l["range"]).0, range(&l["range"]).1))
        .collect();
    assert_eq!(lines, vec![(6, 0), (7, u64::from(label_col))]);

    // Definition of `seen` from its use: the `.decl` on line 1.
    let d = c.ok("textDocument/definition", at(7, col(BROKEN, 7, "seen", 0)));
    assert_eq!(range(&d[0]["range"]), (1, 6, 1, 10));
    // Definition of an undeclared relation: the heads that derive it (here, in the broken clause).
    let d = c.ok("textDocument/definition", at(7, label_col + 2));
    assert_eq!(range(&d[0]["range"]), (6, 0, 6, 5));
    // On a variable, nothing.
    let none = c.ok("textDocument/hover", at(7, col(BROKEN, 7, "x", 0)));
    assert!(none.is_null());

    // The outline lists what parsed.
    let syms = c.ok(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": URI } }),
    );
    let names: Vec<&str> = syms
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "seen",
            ".persist seen",
            "seen",
            ".input local",
            ".output fresh",
            "fresh"
        ]
    );
    assert_eq!(syms[0]["detail"], "(at: symbol, x: number)");
    assert_eq!(syms[0]["kind"], 23); // Struct
    assert_eq!(c.shutdown(), Exit::Clean);
}

#[test]
fn lint_diagnostics_related_information_and_suppression() {
    let mut c = Client::initialized(Limits::default());
    open(&c, BROKEN);
    c.diagnostics(URI, Some(1));
    // Fix line 7 with an incremental change: replace `broken(x, .` by `broken(x).`.
    let start = col(BROKEN, 6, "broken", 0);
    let end = col(BROKEN, 6, ".", 0) + 1;
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 2 },
                "contentChanges": [ { "range": { "start": pos(6, start), "end": pos(6, end) },
                                      "text": "local(x)." } ] }),
    );
    let fixed = BROKEN.replace("broken(x, .", "local(x).");
    let diags = c.diagnostics(URI, Some(2));
    let lint = diags
        .iter()
        .find(|d| d["code"] == "CALM001")
        .unwrap_or_else(|| panic!("no CALM001 in {diags:?}"));
    // The negation of `seen` (converges: only read, so a warning).
    let neg = col(&fixed, 7, "!seen", 0);
    // The negated atom, after the `!`.
    assert_eq!(
        range(&lint["range"]),
        (
            7,
            u64::from(neg) + 1,
            7,
            u64::from(neg) + "!seen(_, x)".len() as u64
        )
    );
    assert_eq!(lint["severity"], 2);
    // The path: the `@async` rule sending `seen` (line 3).
    let related = lint["relatedInformation"]
        .as_array()
        .expect("related information");
    assert_eq!(related[0]["location"]["uri"], URI);
    assert_eq!(range(&related[0]["location"]["range"]).0, 3);
    assert!(
        related[0]["message"].as_str().unwrap().contains("@async"),
        "{related:?}"
    );

    // Hover now knows what the analyzer says.
    let h = c.ok("textDocument/hover", at(7, 1));
    let md = h["contents"]["value"].as_str().unwrap();
    assert!(md.contains("not monotone"), "{md}");
    assert!(md.contains("line 8"), "{md}");
    let h = c.ok("textDocument/hover", at(4, 8));
    let md = h["contents"]["value"].as_str().unwrap();
    assert!(md.contains("read from files"), "{md}");
    assert!(md.contains("**CALM:** monotone"), "{md}");

    // The quick fix: a suppression comment above the rule, with a placeholder reason.
    let actions = c.ok(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": URI },
                "range": { "start": pos(7, neg + 3), "end": pos(7, neg + 3) },
                "context": { "diagnostics": [] } }),
    );
    let actions = actions.as_array().unwrap();
    assert_eq!(actions.len(), 1, "{actions:?}");
    // Asked only for refactorings: none.
    let none = c.ok(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": URI },
                "range": { "start": pos(7, neg + 3), "end": pos(7, neg + 3) },
                "context": { "diagnostics": [], "only": ["refactor"] } }),
    );
    assert_eq!(none, json!([]));
    let a = &actions[0];
    assert_eq!(a["kind"], "quickfix");
    assert_eq!(a["diagnostics"][0]["code"], "CALM001");
    let edit = &a["edit"]["changes"][URI][0];
    assert_eq!(range(&edit["range"]), (7, 0, 7, 0));
    assert_eq!(edit["newText"], "// calm: allow(CALM001) ???\n");
    // Apply it: the lint stays until a reason is written (CALM101 on the comment)...
    let with_comment = fixed.replace("fresh(x) :-", "// calm: allow(CALM001) ???\nfresh(x) :-");
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 3 },
                "contentChanges": [ { "range": { "start": pos(7, 0), "end": pos(7, 0) },
                                      "text": "// calm: allow(CALM001) ???\n" } ] }),
    );
    let codes = |d: &[Value]| {
        let mut v: Vec<String> = d
            .iter()
            .map(|x| x["code"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    // (CALM006, the local negation of `label`, is allowed by default: a hint.)
    let d = c.diagnostics(URI, Some(3));
    assert_eq!(codes(&d), vec!["CALM001", "CALM006", "CALM101"]);
    assert!(
        d.iter()
            .any(|x| x["code"] == "CALM006" && x["severity"] == 4)
    );
    // ... and goes once it is (a whole-text change this time).
    let reasoned = with_comment.replace("???", "fresh is only displayed");
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 4 },
                "contentChanges": [ { "text": reasoned } ] }),
    );
    assert_eq!(codes(&c.diagnostics(URI, Some(4))), vec!["CALM006"]);
    assert_eq!(c.shutdown(), Exit::Clean);
}

#[test]
fn rename_relation_everywhere() {
    let mut c = Client::initialized(Limits::default());
    open(&c, BROKEN);
    c.diagnostics(URI, Some(1));
    let seen = col(BROKEN, 7, "seen", 0);
    let prep = c.ok("textDocument/prepareRename", at(7, seen + 2));
    assert_eq!(prep["placeholder"], "seen");
    let edit = c.ok(
        "textDocument/rename",
        json!({ "textDocument": { "uri": URI }, "position": pos(7, seen), "newName": "witnessed" }),
    );
    let edits = edit["changes"][URI].as_array().unwrap();
    let mut lines: Vec<u64> = edits.iter().map(|e| range(&e["range"]).0).collect();
    lines.sort();
    assert_eq!(lines, vec![1, 2, 3, 7]);
    assert!(edits.iter().all(|e| e["newText"] == "witnessed"));
    // Applying the edits renames every use and nothing else.
    let mut text: Vec<String> = BROKEN.lines().map(str::to_string).collect();
    let mut sorted = edits.clone();
    sorted.sort_by_key(|e| std::cmp::Reverse((range(&e["range"]).0, range(&e["range"]).1)));
    for e in &sorted {
        let (l, s, _, end) = range(&e["range"]);
        let line: Vec<u16> = text[l as usize].encode_utf16().collect();
        let mut out: Vec<u16> = line[..s as usize].to_vec();
        out.extend("witnessed".encode_utf16());
        out.extend_from_slice(&line[end as usize..]);
        text[l as usize] = String::from_utf16(&out).unwrap();
    }
    let renamed = text.join("\n") + "\n";
    assert_eq!(renamed, BROKEN.replace("seen", "witnessed"));

    // Refused: a name that is taken, an invalid name, a built-in.
    let (code, msg) = c.err(
        "textDocument/rename",
        json!({ "textDocument": { "uri": URI }, "position": pos(7, seen), "newName": "local" }),
    );
    assert_eq!(code, -32803);
    assert!(msg.contains("already exists"), "{msg}");
    let (_, msg) = c.err(
        "textDocument/rename",
        json!({ "textDocument": { "uri": URI }, "position": pos(7, seen), "newName": "count" }),
    );
    assert!(msg.contains("not a valid relation name"), "{msg}");
    let member = col(BROKEN, 3, "$member", 0);
    let (_, msg) = c.err("textDocument/prepareRename", at(3, member + 1));
    assert!(msg.contains("built in"), "{msg}");
    assert!(c.ok("textDocument/prepareRename", at(0, 3)).is_null());
    assert_eq!(c.shutdown(), Exit::Clean);
}

#[test]
fn malformed_and_hostile_messages() {
    let mut c = Client::start(Limits {
        document_bytes: 1000,
        ..Limits::default()
    });
    // Before initialize: requests are refused, notifications dropped.
    let (code, _) = c.err("textDocument/hover", at(0, 0));
    assert_eq!(code, -32002);
    open(&c, "p(1).");
    let mut c = {
        let r = c.request("initialize", json!({ "capabilities": {} }));
        assert!(r.response_result.is_ok());
        c.notify("initialized", json!({}));
        c
    };
    // The document sent before initialize was dropped.
    let (code, msg) = c.err("textDocument/hover", at(0, 0));
    assert_eq!(code, -32602);
    assert!(msg.contains("not open"), "{msg}");
    // Unknown method; wrong parameters; a second initialize.
    assert_eq!(c.err("calm/unknown", json!({})).0, -32601);
    assert_eq!(c.err("textDocument/hover", json!({ "nope": 1 })).0, -32602);
    assert_eq!(c.err("textDocument/hover", json!([1, 2])).0, -32602);
    assert_eq!(c.err("initialize", json!({ "capabilities": {} })).0, -32600);
    // Unknown and malformed notifications are ignored (a malformed one is logged).
    c.notify("calm/whatever", json!({}));
    c.notify("textDocument/didOpen", json!({ "textDocument": 5 }));
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": "untitled:never-opened", "version": 1 }, "contentChanges": [] }),
    );
    // A position past the end of the document, and a character past the end of a line.
    open(&c, "p(1).\n");
    c.diagnostics(URI, Some(1));
    let (code, msg) = c.err("textDocument/hover", at(99, 0));
    assert_eq!(code, -32602);
    assert!(msg.contains("past the end"), "{msg}");
    let h = c.ok("textDocument/hover", at(0, 9999));
    assert!(h.is_null());
    let h = c.ok("textDocument/hover", at(0, 0));
    assert!(h["contents"]["value"].as_str().unwrap().contains("1 fact"));
    let (code, _) = c.err(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": URI },
                "range": { "start": pos(5, 0), "end": pos(0, 0) }, "context": { "diagnostics": [] } }),
    );
    assert_eq!(code, -32602);
    // An incremental change that does not fit: the document is out of sync until resent whole.
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 2 },
                "contentChanges": [ { "range": { "start": pos(40, 0), "end": pos(41, 0) }, "text": "x" } ] }),
    );
    let d = c.diagnostics(URI, Some(2));
    assert_eq!(d.len(), 1);
    assert!(
        d[0]["message"].as_str().unwrap().contains("out of sync"),
        "{d:?}"
    );
    assert!(c.ok("textDocument/hover", at(0, 0)).is_null());
    // A document over the size limit: one diagnostic saying so, and no analysis.
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 3 },
                "contentChanges": [ { "text": "p(1).\n".repeat(200) } ] }),
    );
    let d = c.diagnostics(URI, Some(3));
    assert_eq!(d.len(), 1);
    assert!(
        d[0]["message"]
            .as_str()
            .unwrap()
            .contains("limit of 1000 bytes"),
        "{d:?}"
    );
    // Sent whole again, within the limit: analysed again.
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 4 },
                "contentChanges": [ { "text": "p(x) :- q(x).\n" } ] }),
    );
    let d = c.diagnostics(URI, Some(4));
    assert!(d.iter().all(|x| x["source"] == "calm"), "{d:?}");
    assert!(
        c.ok("textDocument/hover", at(0, 0))["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("derived by 1 rule")
    );
    // Closing clears the diagnostics.
    c.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": URI } }),
    );
    assert!(c.diagnostics(URI, None).is_empty());
    // After shutdown only exit is accepted.
    assert!(c.ok("shutdown", Value::Null).is_null());
    assert_eq!(c.err("textDocument/hover", at(0, 0)).0, -32600);
    c.notify("exit", Value::Null);
    assert_eq!(
        c.server.take().unwrap().join().unwrap().unwrap(),
        Exit::Clean
    );
}

#[test]
fn exit_without_shutdown_and_disconnect() {
    let c = Client::initialized(Limits::default());
    c.notify("exit", Value::Null);
    let mut c = c;
    assert_eq!(
        c.server.take().unwrap().join().unwrap().unwrap(),
        Exit::WithoutShutdown
    );
    let mut c2 = Client::initialized(Limits::default());
    let server = c2.server.take().unwrap();
    drop(c2);
    assert_eq!(server.join().unwrap().unwrap(), Exit::Disconnected);
}

#[test]
fn work_per_change_notification_is_bounded() {
    let mut c = Client::initialized(Limits {
        change_work: 100,
        ..Limits::default()
    });
    let text = "p(1).\n".repeat(5); // 30 bytes: four ranged changes pass over 120.
    open(&c, &text);
    c.diagnostics(URI, Some(1));
    let insert = json!({ "range": { "start": pos(0, 0), "end": pos(0, 0) }, "text": "" });
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 2 },
                "contentChanges": [insert, insert, insert] }),
    );
    assert!(c.diagnostics(URI, Some(2)).is_empty());
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 3 },
                "contentChanges": [insert, insert, insert, insert] }),
    );
    let d = c.diagnostics(URI, Some(3));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0]["message"].as_str().unwrap().contains("out of sync"),
        "{d:?}"
    );
    assert_eq!(c.shutdown(), Exit::Clean);
}

#[test]
fn document_count_is_bounded() {
    let mut c = Client::initialized(Limits {
        documents: 1,
        ..Limits::default()
    });
    open(&c, "a(1).");
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": "untitled:two.dl", "languageId": "calm", "version": 1, "text": "b(1)." } }),
    );
    let (_, msg) = c.err(
        "textDocument/hover",
        json!({ "textDocument": { "uri": "untitled:two.dl" }, "position": pos(0, 0) }),
    );
    assert!(msg.contains("not open"), "{msg}");
    assert!(
        c.seen.iter().any(|n| n.method == "window/logMessage"
            && n.params["message"].as_str().unwrap().contains("limit")),
        "{:?}",
        c.seen
    );
    assert_eq!(c.shutdown(), Exit::Clean);
}

#[test]
fn formatting_is_one_whole_document_edit() {
    let mut c = Client::initialized(Limits::default());
    let fmt = |c: &mut Client| {
        c.ok(
            "textDocument/formatting",
            json!({ "textDocument": { "uri": URI },
                    "options": { "tabSize": 4, "insertSpaces": true } }),
        )
    };
    // No final newline; non-ASCII on the first line; the end is in UTF-16 units.
    open(&c, "p(\"é😀\",1).\nq(x):-p(_,x). // ü");
    let edits = fmt(&mut c);
    let edits = edits.as_array().unwrap();
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(range(&edits[0]["range"]), (0, 0, 1, 18));
    assert_eq!(
        edits[0]["newText"],
        "p(\"é😀\", 1).\nq(x) :- p(_, x). // ü\n"
    );
    // Already formatted: no edits.
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 2 },
                "contentChanges": [ { "text": "p(1).\n" } ] }),
    );
    assert_eq!(fmt(&mut c), json!([]));
    // A program with errors is left alone, and the client is told why in the log.
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 3 },
                "contentChanges": [ { "text": "p(1) :- .\n" } ] }),
    );
    assert_eq!(fmt(&mut c), json!([]));
    assert!(
        c.seen.iter().any(|n| n.method == "window/logMessage"
            && n.params["message"]
                .as_str()
                .unwrap()
                .contains("not formatting")),
        "{:?}",
        c.seen
    );
    assert_eq!(c.shutdown(), Exit::Clean);
}
