//! The base protocol over a byte stream (standard input and output): `Content-Length` framed
//! JSON-RPC messages, read and written on two threads feeding an [`lsp_server::Connection`].
//!
//! `lsp_server`'s own stdio transport trusts its peer: a `Content-Length` of a terabyte is
//! allocated, and one message that is not JSON ends the connection. This one is bounded and
//! keeps going:
//!
//! - a header line longer than [`MAX_HEADER_LINE`] bytes, or more than [`MAX_HEADERS`] header
//!   lines, is skipped and answered with an error; a header without `Content-Length` likewise;
//! - a body longer than the message limit is read and dropped in small chunks (nothing is
//!   allocated for it) and answered with an error;
//! - a body that is not UTF-8, not JSON (`-32700` parse error), or JSON that is not a request,
//!   a response or a notification (`-32600` invalid request) is answered with an error whose
//!   `id` is the message's when it has one and `null` otherwise, as JSON-RPC says.
//!
//! The reader stops after the `exit` notification or at the end of the input.

use crossbeam_channel::{Receiver, Sender, bounded};
use lsp_server::{Connection, ErrorCode, Message};
use std::io::{self, BufRead, Read, Write};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Longest header line read, in bytes.
pub const MAX_HEADER_LINE: usize = 1024;
/// Most header lines in one message.
pub const MAX_HEADERS: usize = 16;
/// Most messages read but not yet taken by the server.
pub const QUEUE: usize = 4;

/// The reader and writer threads of a transport.
#[derive(Debug)]
pub struct Threads {
    reader: JoinHandle<io::Result<()>>,
    writer: JoinHandle<io::Result<()>>,
}

impl Threads {
    /// Waits for both threads: call after the server has returned and dropped its connection.
    /// Returns the first I/O error either met.
    pub fn join(self) -> io::Result<()> {
        let reader = self
            .reader
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the reader thread panicked")));
        let writer = self
            .writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked")));
        reader.and(writer)
    }
}

/// A connection over standard input and output.
pub fn stdio(max_message: usize) -> (Connection, Threads) {
    streams(io::BufReader::new(io::stdin()), io::stdout(), max_message)
}

/// A connection reading messages from `input` and writing them to `output`, with bodies of at
/// most `max_message` bytes.
pub fn streams<R, W>(input: R, output: W, max_message: usize) -> (Connection, Threads)
where
    R: BufRead + Send + 'static,
    W: Write + Send + 'static,
{
    let output = Arc::new(Mutex::new(output));
    let (to_writer, from_server) = bounded::<Message>(0);
    // A few messages may wait for the server, so that it sees a burst of changes as one (it
    // publishes diagnostics only when no message is waiting); few, as each may be large.
    let (to_server, from_reader) = bounded::<Message>(QUEUE);
    let out = Arc::clone(&output);
    let writer = std::thread::spawn(move || write_loop(&from_server, &out));
    let reader = std::thread::spawn(move || read_loop(input, &to_server, &output, max_message));
    (
        Connection {
            sender: to_writer,
            receiver: from_reader,
        },
        Threads { reader, writer },
    )
}

fn write_loop<W: Write>(from_server: &Receiver<Message>, out: &Mutex<W>) -> io::Result<()> {
    for msg in from_server {
        let mut w = out
            .lock()
            .map_err(|_| io::Error::other("output lock poisoned"))?;
        msg.write(&mut *w)?;
    }
    Ok(())
}

/// One frame read from the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A body.
    Body(Vec<u8>),
    /// A message that could not be read, and why; the stream is positioned after it.
    Bad(String),
    /// The end of the input.
    End,
}

/// Reads one frame: headers, a blank line, and a body of `Content-Length` bytes.
pub fn read_frame(input: &mut impl BufRead, max_message: usize) -> io::Result<Frame> {
    let mut length: Option<Result<usize, String>> = None;
    let mut problem = None;
    let mut headers = 0;
    loop {
        let line = match read_line(input)? {
            None if headers == 0 => return Ok(Frame::End),
            None => return Ok(Frame::Bad("the input ended inside a header".into())),
            Some(Err(too_long)) => {
                problem.get_or_insert(too_long);
                headers += 1;
                continue;
            }
            Some(Ok(line)) => line,
        };
        headers += 1;
        if line.is_empty() {
            if headers == 1 {
                // Blank lines between messages are tolerated.
                headers = 0;
                continue;
            }
            break;
        }
        if headers > MAX_HEADERS {
            problem.get_or_insert(format!("more than {MAX_HEADERS} header lines"));
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                length = Some(
                    value
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| format!("Content-Length `{}` is not a length", value.trim())),
                );
            }
            Some(_) => {}
            None => {
                problem.get_or_insert(format!("malformed header line `{line}`"));
            }
        }
    }
    let length = match length {
        Some(Ok(n)) => n,
        Some(Err(why)) => return Ok(Frame::Bad(why)),
        None => {
            return Ok(Frame::Bad(
                problem.unwrap_or_else(|| "no Content-Length header".into()),
            ));
        }
    };
    if length > max_message {
        let skipped = io::copy(&mut input.take(length as u64), &mut io::sink())?;
        if skipped < length as u64 {
            return Ok(Frame::End);
        }
        return Ok(Frame::Bad(format!(
            "a message of {length} bytes is over the limit of {max_message} bytes; it was dropped"
        )));
    }
    let mut body = vec![0; length];
    match input.read_exact(&mut body) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Frame::End),
        Err(e) => return Err(e),
    }
    if let Some(p) = problem {
        return Ok(Frame::Bad(p));
    }
    Ok(Frame::Body(body))
}

/// One header line without its line break: `None` at the end of the input, `Some(Err)` for a
/// line over [`MAX_HEADER_LINE`] bytes (read to its end and dropped) or not UTF-8.
fn read_line(input: &mut impl BufRead) -> io::Result<Option<Result<String, String>>> {
    let mut line = Vec::new();
    let mut too_long = false;
    let mut any = false;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            if !any {
                return Ok(None);
            }
            break;
        }
        any = true;
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let n = chunk.len();
        if line.len() + n <= MAX_HEADER_LINE + 2 {
            line.extend_from_slice(chunk);
        } else {
            too_long = true;
        }
        input.consume(n);
        if done {
            break;
        }
    }
    if too_long {
        return Ok(Some(Err(format!(
            "a header line is longer than {MAX_HEADER_LINE} bytes"
        ))));
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(Some(
        String::from_utf8(line).map_err(|_| "a header line is not UTF-8".to_string()),
    ))
}

/// The message of a body, or the error response to send when it is not one.
pub fn decode(body: &[u8]) -> Result<Message, serde_json::Value> {
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Err(error_response(
                serde_json::Value::Null,
                ErrorCode::ParseError,
                &format!("not JSON: {e}"),
            ));
        }
    };
    let id = value.get("id").cloned().unwrap_or(serde_json::Value::Null);
    // `lsp_server` reads an id it cannot represent (a fraction, a number beyond 32 bits) as no
    // id at all, which would turn a request into a notification that is never answered.
    let usable_id =
        id.is_null() || id.is_string() || id.as_i64().is_some_and(|n| i32::try_from(n).is_ok());
    let is_message = value.is_object()
        && usable_id
        && value.get("method").is_none_or(serde_json::Value::is_string)
        && value
            .get("params")
            .is_none_or(|p| p.is_object() || p.is_array() || p.is_null());
    if is_message && let Ok(msg) = serde_json::from_value::<Message>(value) {
        return Ok(msg);
    }
    Err(error_response(
        id,
        ErrorCode::InvalidRequest,
        "not a JSON-RPC request, response or notification",
    ))
}

/// A JSON-RPC error response.
fn error_response(id: serde_json::Value, code: ErrorCode, message: &str) -> serde_json::Value {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code as i32, "message": message },
    })
}

fn write_raw<W: Write>(out: &Mutex<W>, value: &serde_json::Value) -> io::Result<()> {
    let text = value.to_string();
    let mut w = out
        .lock()
        .map_err(|_| io::Error::other("output lock poisoned"))?;
    write!(w, "Content-Length: {}\r\n\r\n{text}", text.len())?;
    w.flush()
}

fn read_loop<R: BufRead, W: Write>(
    mut input: R,
    to_server: &Sender<Message>,
    out: &Mutex<W>,
    max_message: usize,
) -> io::Result<()> {
    loop {
        let msg = match read_frame(&mut input, max_message)? {
            Frame::End => return Ok(()),
            Frame::Bad(why) => {
                let reply =
                    error_response(serde_json::Value::Null, ErrorCode::InvalidRequest, &why);
                write_raw(out, &reply)?;
                continue;
            }
            Frame::Body(body) => match decode(&body) {
                Ok(msg) => msg,
                Err(reply) => {
                    write_raw(out, &reply)?;
                    continue;
                }
            },
        };
        let exit = matches!(&msg, Message::Notification(n) if n.method == "exit");
        if to_server.send(msg).is_err() || exit {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8], max: usize) -> Vec<Frame> {
        let mut r = io::Cursor::new(input.to_vec());
        let mut out = Vec::new();
        loop {
            let f = read_frame(&mut r, max).unwrap();
            let end = f == Frame::End;
            out.push(f);
            if end {
                return out;
            }
        }
    }

    #[test]
    fn frames_good_and_bad() {
        let long = "x".repeat(MAX_HEADER_LINE + 10);
        let input = format!(
            "Content-Length: 2\r\n\r\n{{}}\
             Content-Length: 99\r\n\r\n{}\
             Content-Type: x\r\nContent-Length: 1\r\n\r\nA\
             Bogus\r\nContent-Length: 1\r\n\r\nB\
             X-{long}: y\r\nContent-Length: 1\r\n\r\nC\
             Content-Length: lots\r\n\r\n\
             \r\nContent-Length: 1\r\n\r\nD",
            "z".repeat(99)
        );
        let f = frames(input.as_bytes(), 50);
        assert_eq!(f[0], Frame::Body(b"{}".to_vec()));
        assert!(matches!(&f[1], Frame::Bad(w) if w.contains("over the limit")));
        assert_eq!(f[2], Frame::Body(b"A".to_vec()));
        assert!(matches!(&f[3], Frame::Bad(w) if w.contains("malformed header")));
        assert!(matches!(&f[4], Frame::Bad(w) if w.contains("longer than")));
        assert!(matches!(&f[5], Frame::Bad(w) if w.contains("not a length")));
        assert_eq!(f[6], Frame::Body(b"D".to_vec()));
        assert_eq!(f[7], Frame::End);
    }

    #[test]
    fn truncated_input_ends() {
        assert_eq!(
            frames(b"Content-Length: 10\r\n\r\nabc", 100),
            vec![Frame::End]
        );
        assert_eq!(
            frames(b"Content-Length: 1000\r\n\r\nabc", 100),
            vec![Frame::End]
        );
        assert!(matches!(
            frames(b"Content-Length: 1\r\n", 100)[0],
            Frame::Bad(_)
        ));
    }

    #[test]
    fn decoding() {
        assert!(matches!(
            decode(br#"{"jsonrpc":"2.0","id":1,"method":"x"}"#),
            Ok(Message::Request(_))
        ));
        let bad = decode(b"{nope").unwrap_err();
        assert_eq!(bad["error"]["code"], -32700);
        assert!(bad["id"].is_null());
        let not_msg = decode(br#"{"jsonrpc":"2.0","id":7,"method":3}"#).unwrap_err();
        assert_eq!(not_msg["error"]["code"], -32600);
        assert_eq!(not_msg["id"], 7);
        let batch = decode(b"[]").unwrap_err();
        assert_eq!(batch["error"]["code"], -32600);
        let scalar_params = decode(br#"{"id":1,"method":"m","params":5}"#).unwrap_err();
        assert_eq!(scalar_params["error"]["code"], -32600);
        // An id lsp_server cannot hold is refused, not read as a notification.
        let big_id = decode(br#"{"id":12345678901,"method":"m"}"#).unwrap_err();
        assert_eq!(big_id["id"], 12345678901_i64);
        let fraction = decode(br#"{"id":1.5,"method":"m"}"#).unwrap_err();
        assert_eq!(fraction["error"]["code"], -32600);
        assert!(matches!(
            decode(br#"{"id":"a","method":"m"}"#),
            Ok(Message::Request(_))
        ));
    }

    #[test]
    fn stream_answers_garbage_and_keeps_going() {
        let mut input = Vec::new();
        for body in [
            "garbage".to_string(),
            r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#.to_string(),
            r#"{"jsonrpc":"2.0","method":"exit"}"#.to_string(),
            r#"{"jsonrpc":"2.0","method":"never-read"}"#.to_string(),
        ] {
            input.extend_from_slice(
                format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes(),
            );
        }
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        #[derive(Clone)]
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (conn, threads) = streams(io::Cursor::new(input), Shared(Arc::clone(&out)), 1 << 20);
        let first = conn.receiver.recv().unwrap();
        assert!(matches!(first, Message::Notification(n) if n.method == "initialized"));
        let second = conn.receiver.recv().unwrap();
        assert!(matches!(second, Message::Notification(n) if n.method == "exit"));
        // The reader stopped at `exit`.
        assert!(conn.receiver.recv().is_err());
        drop(conn);
        threads.join().unwrap();
        let written = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        assert!(written.starts_with("Content-Length: "));
        assert!(written.contains(r#""code":-32700"#), "{written}");
        assert!(written.contains(r#""id":null"#), "{written}");
    }
}
