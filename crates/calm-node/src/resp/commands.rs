//! Redis hash commands on the key-key-value model of `programs/kvs.dl`: a Redis key is `k1`, a
//! hash field is `k2`. `HSET` is a put, `HDEL` a delete, `HGET`/`HGETALL`/… read `visible`.
//!
//! Concurrent puts to the same `(k1, k2)` at different nodes are all visible in kvs.dl
//! (siblings). A Redis client expects one value, so reads return the sibling with the greatest
//! `(seq, client)`: puts made through RESP and `calm kv` use the time in nanoseconds as `seq`,
//! so that is the newest, and every replica picks the same one. `calm kv get` shows them all.

use super::proto::reply;
use std::collections::BTreeMap;
use std::future::Future;

/// One visible version of a field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// The field (`k2`).
    pub field: String,
    /// The value.
    pub value: String,
    /// Who put it.
    pub client: String,
    /// The put's sequence number.
    pub seq: i64,
}

/// The store the commands act on: a node running kvs.dl, or a model of one in tests.
pub trait Store {
    /// Puts `(k1, k2, value)` triples; resolves once they are ingested (and committed).
    fn put(&self, puts: Vec<(String, String, String)>) -> impl Future<Output = Result<(), String>>;
    /// Deletes `(k1, k2)` pairs; resolves once ingested.
    fn delete(&self, dels: Vec<(String, String)>) -> impl Future<Output = Result<(), String>>;
    /// The visible versions of `k1` (of one field, when given).
    fn read(
        &self,
        k1: &str,
        k2: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Version>, String>>;
}

/// What the connection does after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    /// Reads the next command.
    Continue,
    /// Closes (after `QUIT`).
    Close,
}

/// A connection's state.
#[derive(Debug)]
pub struct Session {
    /// Whether the client has sent the right `AUTH` (or none is required).
    pub authenticated: bool,
}

/// The fields of `k1` with one value each (the greatest `(seq, client)` among siblings).
fn resolve(versions: Vec<Version>) -> BTreeMap<String, String> {
    let mut best: BTreeMap<String, (i64, String, String)> = BTreeMap::new();
    for v in versions {
        let cand = (v.seq, v.client, v.value);
        match best.get(&v.field) {
            Some(b) if (b.0, &b.1) >= (cand.0, &cand.1) => {}
            _ => {
                best.insert(v.field, cand);
            }
        }
    }
    best.into_iter().map(|(f, (_, _, v))| (f, v)).collect()
}

fn text(arg: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(arg.to_vec())
        .map_err(|_| format!("ERR {what} is not valid UTF-8 (calm stores text)"))
}

fn wrong_args(out: &mut Vec<u8>, name: &str) {
    reply::error(
        out,
        &format!(
            "ERR wrong number of arguments for '{}' command",
            name.to_ascii_lowercase()
        ),
    );
}

/// Runs one command, writing its reply into `out`.
pub async fn run<S: Store>(
    store: &S,
    token: Option<&crate::Secret>,
    session: &mut Session,
    args: &[Vec<u8>],
    out: &mut Vec<u8>,
) -> After {
    let Some(first) = args.first() else {
        return After::Continue;
    };
    let name = String::from_utf8_lossy(first).to_ascii_uppercase();
    let rest = &args[1..];
    if name == "QUIT" {
        reply::simple(out, "OK");
        return After::Close;
    }
    if name == "AUTH" {
        auth(token, session, rest, out);
        return After::Continue;
    }
    if name == "HELLO" {
        hello(token, session, rest, out);
        return After::Continue;
    }
    if !session.authenticated {
        reply::error(out, "NOAUTH Authentication required.");
        return After::Continue;
    }
    if let Err(e) = command(store, &name, rest, out).await {
        reply::error(out, &e);
    }
    After::Continue
}

fn auth(token: Option<&crate::Secret>, session: &mut Session, rest: &[Vec<u8>], out: &mut Vec<u8>) {
    let presented = match rest {
        [t] => t,
        [user, t] if user == b"default" => t,
        [_, _] => {
            reply::error(
                out,
                "WRONGPASS invalid username-password pair or user is disabled.",
            );
            return;
        }
        _ => return wrong_args(out, "AUTH"),
    };
    match token {
        None => reply::error(
            out,
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ),
        Some(t) if t.matches(presented) => {
            session.authenticated = true;
            reply::simple(out, "OK");
        }
        Some(_) => {
            session.authenticated = false;
            reply::error(
                out,
                "WRONGPASS invalid username-password pair or user is disabled.",
            );
        }
    }
}

/// `HELLO [2 [AUTH user password] [SETNAME name]]`: RESP2 only (a client asking for RESP3, as
/// redis-py 8 does by default, is told so and must be configured with protocol 2).
fn hello(
    token: Option<&crate::Secret>,
    session: &mut Session,
    rest: &[Vec<u8>],
    out: &mut Vec<u8>,
) {
    if let Some(v) = rest.first()
        && v != b"2"
    {
        return reply::error(
            out,
            "NOPROTO sorry, this protocol version is not supported (calm speaks RESP2: configure the client with protocol 2)",
        );
    }
    let mut i = 1;
    while i < rest.len() {
        let opt = String::from_utf8_lossy(&rest[i]).to_ascii_uppercase();
        match opt.as_str() {
            "AUTH" if i + 3 <= rest.len() => {
                let mut scratch = Vec::new();
                auth(token, session, &rest[i + 1..i + 3], &mut scratch);
                if scratch.first() == Some(&b'-') {
                    out.extend(scratch);
                    return;
                }
                i += 3;
            }
            "SETNAME" if i + 1 < rest.len() => i += 2,
            _ => return reply::error(out, &format!("ERR Syntax error in HELLO option '{opt}'")),
        }
    }
    if !session.authenticated {
        return reply::error(
            out,
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
    }
    reply::array(out, 14);
    for (k, v) in [("server", "redis"), ("version", "7.0.0")] {
        reply::bulk(out, k.as_bytes());
        reply::bulk(out, v.as_bytes());
    }
    reply::bulk(out, b"proto");
    reply::integer(out, 2);
    reply::bulk(out, b"id");
    reply::integer(out, 1);
    for (k, v) in [("mode", "standalone"), ("role", "master")] {
        reply::bulk(out, k.as_bytes());
        reply::bulk(out, v.as_bytes());
    }
    reply::bulk(out, b"modules");
    reply::array(out, 0);
}

async fn command<S: Store>(
    store: &S,
    name: &str,
    rest: &[Vec<u8>],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    match (name, rest.len()) {
        ("PING", 0) => reply::simple(out, "PONG"),
        ("PING", 1) | ("ECHO", 1) => reply::bulk(out, &rest[0]),
        ("SELECT", 1) => {
            if rest[0] == b"0" {
                reply::simple(out, "OK")
            } else {
                reply::error(out, "ERR DB index is out of range")
            }
        }
        // Clients ask for command docs and settings when they connect; there are none to give.
        ("COMMAND", _) | ("CONFIG", _) => reply::array(out, 0),
        ("CLIENT", n) if n >= 1 => {
            let sub = String::from_utf8_lossy(&rest[0]).to_ascii_uppercase();
            match sub.as_str() {
                "SETNAME" | "SETINFO" => reply::simple(out, "OK"),
                _ => reply::error(out, &format!("ERR unknown subcommand '{sub}'")),
            }
        }
        ("INFO", _) => reply::bulk(
            out,
            format!(
                "# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\ncalm_version:{}\r\ncalm_model:key-key-value (programs/kvs.dl)\r\n",
                env!("CARGO_PKG_VERSION")
            )
            .as_bytes(),
        ),
        ("HSET", n) | ("HMSET", n) if n >= 3 && n % 2 == 1 => {
            let k1 = text(&rest[0], "the key")?;
            let mut puts = Vec::with_capacity(n / 2);
            for pair in rest[1..].chunks_exact(2) {
                puts.push((
                    k1.clone(),
                    text(&pair[0], "the field")?,
                    text(&pair[1], "the value")?,
                ));
            }
            let count = puts.len();
            store.put(puts).await?;
            if name == "HMSET" {
                reply::simple(out, "OK");
            } else {
                // Redis counts the fields that were new; calm counts the fields written.
                reply::integer(out, count as i64);
            }
        }
        ("HGET", 2) => {
            let (k1, k2) = (text(&rest[0], "the key")?, text(&rest[1], "the field")?);
            match resolve(store.read(&k1, Some(&k2)).await?).remove(&k2) {
                Some(v) => reply::bulk(out, v.as_bytes()),
                None => reply::nil(out),
            }
        }
        ("HMGET", n) if n >= 2 => {
            let k1 = text(&rest[0], "the key")?;
            let fields = resolve(store.read(&k1, None).await?);
            reply::array(out, n - 1);
            for f in &rest[1..] {
                match std::str::from_utf8(f).ok().and_then(|f| fields.get(f)) {
                    Some(v) => reply::bulk(out, v.as_bytes()),
                    None => reply::nil(out),
                }
            }
        }
        ("HGETALL", 1) | ("HKEYS", 1) | ("HVALS", 1) | ("HLEN", 1) => {
            let k1 = text(&rest[0], "the key")?;
            let fields = resolve(store.read(&k1, None).await?);
            match name {
                "HGETALL" => {
                    reply::array(out, fields.len() * 2);
                    for (f, v) in &fields {
                        reply::bulk(out, f.as_bytes());
                        reply::bulk(out, v.as_bytes());
                    }
                }
                "HKEYS" => {
                    reply::array(out, fields.len());
                    for f in fields.keys() {
                        reply::bulk(out, f.as_bytes());
                    }
                }
                "HVALS" => {
                    reply::array(out, fields.len());
                    for v in fields.values() {
                        reply::bulk(out, v.as_bytes());
                    }
                }
                _ => reply::integer(out, fields.len() as i64),
            }
        }
        ("HEXISTS", 2) => {
            let (k1, k2) = (text(&rest[0], "the key")?, text(&rest[1], "the field")?);
            let found = !store.read(&k1, Some(&k2)).await?.is_empty();
            reply::integer(out, i64::from(found));
        }
        ("HDEL", n) if n >= 2 => {
            let k1 = text(&rest[0], "the key")?;
            let fields = resolve(store.read(&k1, None).await?);
            let mut dels = Vec::new();
            for f in &rest[1..] {
                let f = text(f, "the field")?;
                if fields.contains_key(&f) && !dels.iter().any(|(_, d)| *d == f) {
                    dels.push((k1.clone(), f));
                }
            }
            let count = dels.len();
            if count > 0 {
                store.delete(dels).await?;
            }
            reply::integer(out, count as i64);
        }
        ("DEL", n) | ("UNLINK", n) | ("EXISTS", n) if n >= 1 => {
            let mut count = 0;
            let mut dels = Vec::new();
            for k in rest {
                let k1 = text(k, "the key")?;
                let fields = resolve(store.read(&k1, None).await?);
                if !fields.is_empty() {
                    count += 1;
                    dels.extend(fields.into_keys().map(|f| (k1.clone(), f)));
                }
            }
            if name != "EXISTS" && !dels.is_empty() {
                store.delete(dels).await?;
            }
            reply::integer(out, count);
        }
        (
            "PING" | "ECHO" | "SELECT" | "CLIENT" | "HSET" | "HMSET" | "HGET" | "HMGET" | "HGETALL"
            | "HKEYS" | "HVALS" | "HLEN" | "HEXISTS" | "HDEL" | "DEL" | "UNLINK" | "EXISTS",
            _,
        ) => wrong_args(out, name),
        _ => {
            let shown: Vec<String> = rest
                .iter()
                .take(4)
                .map(|a| format!("'{}'", String::from_utf8_lossy(a)))
                .collect();
            reply::error(
                out,
                &format!(
                    "ERR unknown command '{name}', with args beginning with: {}",
                    shown.join(" ")
                ),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A model of kvs.dl on one node: versions, deletes tombstone what is there.
    #[derive(Default)]
    struct Model {
        versions: RefCell<Vec<(String, Version)>>,
        seq: RefCell<i64>,
    }

    impl Store for Model {
        async fn put(&self, puts: Vec<(String, String, String)>) -> Result<(), String> {
            for (k1, field, value) in puts {
                *self.seq.borrow_mut() += 1;
                let seq = *self.seq.borrow();
                let mut v = self.versions.borrow_mut();
                v.retain(|(k, x)| !(k == &k1 && x.field == field));
                v.push((
                    k1,
                    Version {
                        field,
                        value,
                        client: "c".into(),
                        seq,
                    },
                ));
            }
            Ok(())
        }
        async fn delete(&self, dels: Vec<(String, String)>) -> Result<(), String> {
            self.versions
                .borrow_mut()
                .retain(|(k, x)| !dels.iter().any(|(a, b)| a == k && *b == x.field));
            Ok(())
        }
        async fn read(&self, k1: &str, k2: Option<&str>) -> Result<Vec<Version>, String> {
            Ok(self
                .versions
                .borrow()
                .iter()
                .filter(|(k, x)| k == k1 && k2.is_none_or(|f| f == x.field))
                .map(|(_, x)| x.clone())
                .collect())
        }
    }

    fn block<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Runs commands (space-separated words) and returns the replies as text.
    fn session(store: &Model, token: Option<&crate::Secret>, cmds: &[&str]) -> String {
        let mut s = Session {
            authenticated: token.is_none(),
        };
        let mut out = Vec::new();
        for c in cmds {
            let args: Vec<Vec<u8>> = c.split(' ').map(|w| w.as_bytes().to_vec()).collect();
            block(run(store, token, &mut s, &args, &mut out));
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn hash_commands_on_the_model() {
        let m = Model::default();
        let r = session(
            &m,
            None,
            &[
                "HSET user name ada lang rust",
                "HGET user name",
                "HGET user nope",
                "HMGET user lang nope",
                "HLEN user",
                "HEXISTS user lang",
                "HKEYS user",
                "HGETALL user",
                "HDEL user lang nope",
                "HVALS user",
                "EXISTS user other",
                "DEL user",
                "HLEN user",
            ],
        );
        assert_eq!(
            r,
            ":2\r\n$3\r\nada\r\n$-1\r\n*2\r\n$4\r\nrust\r\n$-1\r\n:2\r\n:1\r\n*2\r\n$4\r\nlang\r\n$4\r\nname\r\n*4\r\n$4\r\nlang\r\n$4\r\nrust\r\n$4\r\nname\r\n$3\r\nada\r\n:1\r\n*1\r\n$3\r\nada\r\n:1\r\n:1\r\n:0\r\n"
        );
    }

    #[test]
    fn connection_commands_and_errors() {
        let m = Model::default();
        let r = session(
            &m,
            None,
            &[
                "PING",
                "ECHO hi",
                "SELECT 0",
                "SELECT 1",
                "FLUSHALL x",
                "HSET k1 k2",
                "HGET k1",
                "COMMAND DOCS",
            ],
        );
        assert_eq!(
            r,
            "+PONG\r\n$2\r\nhi\r\n+OK\r\n-ERR DB index is out of range\r\n-ERR unknown command 'FLUSHALL', with args beginning with: 'x'\r\n-ERR wrong number of arguments for 'hset' command\r\n-ERR wrong number of arguments for 'hget' command\r\n*0\r\n"
        );
        let mut s = Session {
            authenticated: true,
        };
        let mut out = Vec::new();
        assert_eq!(
            block(run(&m, None, &mut s, &[b"QUIT".to_vec()], &mut out)),
            After::Close
        );
        // Values must be text.
        let mut out = Vec::new();
        block(run(
            &m,
            None,
            &mut s,
            &[b"HSET".to_vec(), b"k".to_vec(), b"f".to_vec(), vec![0xff]],
            &mut out,
        ));
        assert!(String::from_utf8_lossy(&out).starts_with("-ERR the value is not valid UTF-8"));
    }

    #[test]
    fn a_token_is_required_before_anything_else() {
        let m = Model::default();
        let token = crate::Secret::new("0123456789abcdef").unwrap();
        let r = session(
            &m,
            Some(&token),
            &[
                "HGET a b",
                "AUTH wrong-token-123456",
                "PING",
                "AUTH default 0123456789abcdef",
                "PING",
            ],
        );
        assert_eq!(
            r,
            "-NOAUTH Authentication required.\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n-NOAUTH Authentication required.\r\n+OK\r\n+PONG\r\n"
        );
        let r = session(&m, None, &["AUTH x"]);
        assert!(r.starts_with("-ERR AUTH <password> called without any password"));
    }

    #[test]
    fn siblings_read_as_the_greatest_seq_then_client() {
        let v = |field: &str, value: &str, client: &str, seq| Version {
            field: field.into(),
            value: value.into(),
            client: client.into(),
            seq,
        };
        let r = resolve(vec![
            v("f", "old", "b", 1),
            v("f", "new", "a", 2),
            v("g", "x", "a", 5),
            v("g", "y", "b", 5),
        ]);
        assert_eq!(r["f"], "new");
        assert_eq!(r["g"], "y");
    }
}
