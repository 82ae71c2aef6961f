//! RESP2 framing: reading commands (arrays of bulk strings, and inline commands as `redis-cli`
//! and `telnet` send them) with bounded sizes, and writing replies.

/// Bounds on what one command may hold.
#[derive(Clone, Copy, Debug)]
pub struct FrameLimits {
    /// Bytes of one bulk string (an argument).
    pub max_bulk: usize,
    /// Arguments of one command.
    pub max_args: usize,
    /// Bytes of one inline command line.
    pub max_inline: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits {
            max_bulk: 16 << 20,
            max_args: 1 << 20,
            max_inline: 64 << 10,
        }
    }
}

/// A malformed or oversized frame. The connection is answered with `-ERR Protocol error: …`
/// and closed, as Redis does: after a bad frame, where the next one starts is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtoError(pub String);

fn bad(msg: impl Into<String>) -> ProtoError {
    ProtoError(msg.into())
}

/// A command's arguments and the bytes it took.
pub type Parsed = (Vec<Vec<u8>>, usize);

/// Longest header line (`*N` or `$N` plus CRLF) accepted.
const MAX_HEADER: usize = 32;

/// The line starting at `at` (without CRLF) and where the next starts, if it is complete.
fn line(buf: &[u8], at: usize, max: usize) -> Result<Option<(&[u8], usize)>, ProtoError> {
    let rest = &buf[at..];
    match rest.iter().take(max + 1).position(|&b| b == b'\n') {
        Some(i) => {
            let body = &rest[..i];
            let body = body.strip_suffix(b"\r").unwrap_or(body);
            Ok(Some((body, at + i + 1)))
        }
        None if rest.len() > max => Err(bad("too long a line")),
        None => Ok(None),
    }
}

fn number(digits: &[u8], what: &str) -> Result<i64, ProtoError> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| bad(format!("invalid {what}")))
}

/// Reads one command from the start of `buf`: its arguments and the bytes it took, or `None`
/// when more bytes are needed. An empty command (`*0`, a blank inline line) has no arguments.
pub fn parse_command(buf: &[u8], limits: &FrameLimits) -> Result<Option<Parsed>, ProtoError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first != b'*' {
        return inline(buf, limits);
    }
    let Some((head, mut at)) = line(buf, 1, MAX_HEADER)? else {
        return Ok(None);
    };
    let n = number(head, "multibulk length")?;
    if n <= 0 {
        return Ok(Some((Vec::new(), at)));
    }
    if n as u64 > limits.max_args as u64 {
        return Err(bad(format!(
            "{n} arguments in one command; the limit is {}",
            limits.max_args
        )));
    }
    let mut args = Vec::with_capacity((n as usize).min(1024));
    for _ in 0..n {
        if at >= buf.len() {
            return Ok(None);
        }
        if buf[at] != b'$' {
            return Err(bad(format!(
                "expected '$', got '{}'",
                buf[at].escape_ascii()
            )));
        }
        let Some((head, next)) = line(buf, at + 1, MAX_HEADER)? else {
            return Ok(None);
        };
        let len = number(head, "bulk length")?;
        if len < 0 || len as u64 > limits.max_bulk as u64 {
            return Err(bad(format!(
                "a bulk string of {len} bytes; the limit is {}",
                limits.max_bulk
            )));
        }
        let len = len as usize;
        if buf.len() < next + len + 2 {
            return Ok(None);
        }
        if &buf[next + len..next + len + 2] != b"\r\n" {
            return Err(bad("a bulk string not followed by CRLF"));
        }
        args.push(buf[next..next + len].to_vec());
        at = next + len + 2;
    }
    Ok(Some((args, at)))
}

/// An inline command: words separated by blanks, `"…"` and `'…'` quoting as `redis-cli`'s.
fn inline(buf: &[u8], limits: &FrameLimits) -> Result<Option<Parsed>, ProtoError> {
    let Some((text, next)) = line(buf, 0, limits.max_inline)? else {
        return Ok(None);
    };
    let mut args = Vec::new();
    let mut i = 0;
    while i < text.len() {
        while i < text.len() && text[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == text.len() {
            break;
        }
        let mut word = Vec::new();
        if text[i] == b'"' || text[i] == b'\'' {
            let quote = text[i];
            i += 1;
            loop {
                match text.get(i) {
                    None => return Err(bad("unbalanced quotes in request")),
                    Some(&c) if c == quote => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if quote == b'"' && i + 1 < text.len() => {
                        word.push(match text[i + 1] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            c => c,
                        });
                        i += 2;
                    }
                    Some(&c) => {
                        word.push(c);
                        i += 1;
                    }
                }
            }
            if i < text.len() && !text[i].is_ascii_whitespace() {
                return Err(bad("unbalanced quotes in request"));
            }
        } else {
            while i < text.len() && !text[i].is_ascii_whitespace() {
                word.push(text[i]);
                i += 1;
            }
        }
        args.push(word);
    }
    Ok(Some((args, next)))
}

/// Replies, written into a buffer.
pub mod reply {
    /// `+OK`-style status.
    pub fn simple(out: &mut Vec<u8>, s: &str) {
        out.push(b'+');
        out.extend(s.bytes().filter(|&b| b != b'\r' && b != b'\n'));
        out.extend_from_slice(b"\r\n");
    }

    /// `-ERR …`-style error (the first word is the error's kind).
    pub fn error(out: &mut Vec<u8>, s: &str) {
        out.push(b'-');
        out.extend(
            s.bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        out.extend_from_slice(b"\r\n");
    }

    /// `:N`.
    pub fn integer(out: &mut Vec<u8>, n: i64) {
        out.extend_from_slice(format!(":{n}\r\n").as_bytes());
    }

    /// `$N` and the bytes.
    pub fn bulk(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
        out.extend_from_slice(b);
        out.extend_from_slice(b"\r\n");
    }

    /// The null bulk string `$-1`.
    pub fn nil(out: &mut Vec<u8>) {
        out.extend_from_slice(b"$-1\r\n");
    }

    /// `*N`: an array of `n` replies, which follow.
    pub fn array(out: &mut Vec<u8>, n: usize) {
        out.extend_from_slice(format!("*{n}\r\n").as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> Result<Option<Parsed>, ProtoError> {
        parse_command(b, &FrameLimits::default())
    }

    fn words(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn arrays_of_bulk_strings() {
        let b = b"*3\r\n$4\r\nHGET\r\n$2\r\nk1\r\n$0\r\n\r\n";
        let (args, n) = parse(b).unwrap().unwrap();
        assert_eq!(args, words(&["HGET", "k1", ""]));
        assert_eq!(n, b.len());
        // Binary-safe: CRLF inside a bulk string is data.
        let b = b"*1\r\n$4\r\na\r\nb\r\n";
        assert_eq!(parse(b).unwrap().unwrap().0, vec![b"a\r\nb".to_vec()]);
    }

    #[test]
    fn every_prefix_of_a_frame_asks_for_more() {
        let b = b"*2\r\n$4\r\nPING\r\n$5\r\nhello\r\n";
        for i in 0..b.len() {
            assert_eq!(parse(&b[..i]).unwrap(), None, "prefix of {i} bytes");
        }
        assert!(parse(b).unwrap().is_some());
    }

    #[test]
    fn pipelined_commands_are_read_one_at_a_time() {
        let b = b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$1\r\nx\r\nPING\r\n";
        let (a, n) = parse(b).unwrap().unwrap();
        assert_eq!(a, words(&["PING"]));
        let (a, m) = parse(&b[n..]).unwrap().unwrap();
        assert_eq!(a, words(&["ECHO", "x"]));
        let (a, _) = parse(&b[n + m..]).unwrap().unwrap();
        assert_eq!(a, words(&["PING"]));
    }

    #[test]
    fn inline_commands_with_quotes() {
        let (a, _) = parse(b"HSET k1 \"two words\" 'x y'\r\n").unwrap().unwrap();
        assert_eq!(a, words(&["HSET", "k1", "two words", "x y"]));
        let (a, _) = parse(b"ECHO \"a\\nb\"\n").unwrap().unwrap();
        let mut want = words(&["ECHO"]);
        want.push(b"a\nb".to_vec());
        assert_eq!(a, want);
        assert_eq!(parse(b"\r\n").unwrap().unwrap().0, Vec::<Vec<u8>>::new());
        assert!(parse(b"ECHO \"open\r\n").is_err());
        assert!(parse(b"ECHO \"a\"b\r\n").is_err());
    }

    #[test]
    fn malformed_and_oversized_frames_are_errors() {
        assert!(parse(b"*x\r\n").is_err());
        assert!(parse(b"*1\r\n:1\r\n").is_err());
        assert!(parse(b"*1\r\n$-1\r\n").is_err());
        assert!(parse(b"*1\r\n$1\r\nab\r\n").is_err());
        let small = FrameLimits {
            max_bulk: 4,
            max_args: 2,
            max_inline: 8,
        };
        assert!(parse_command(b"*1\r\n$5\r\n", &small).is_err());
        assert!(parse_command(b"*3\r\n", &small).is_err());
        assert!(parse_command(b"PING PING PING", &small).is_err());
        // A header that never ends is refused once it is longer than any valid one.
        assert!(parse(&[b'*'; 64]).is_err());
        assert!(parse(b"*99999999999999999999999\r\n").is_err());
        // Empty arrays are empty commands.
        assert_eq!(parse(b"*0\r\n").unwrap().unwrap(), (Vec::new(), 4));
    }

    #[test]
    fn replies() {
        let mut out = Vec::new();
        reply::simple(&mut out, "OK");
        reply::error(&mut out, "ERR bad\r\nthing");
        reply::integer(&mut out, -3);
        reply::bulk(&mut out, b"hi");
        reply::nil(&mut out);
        reply::array(&mut out, 2);
        assert_eq!(
            out,
            b"+OK\r\n-ERR bad  thing\r\n:-3\r\n$2\r\nhi\r\n$-1\r\n*2\r\n".to_vec()
        );
    }
}
