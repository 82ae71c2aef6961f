//! The node-to-node wire format: length-delimited frames of bincode.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of a bincode-encoded
//! [`Frame`]. The length is checked against [`MAX_FRAME`] before anything is allocated, and
//! bincode decodes with an explicit limit, so a hostile peer cannot make a node allocate more
//! than one frame's worth of memory (bincode 2 without a limit aborts the whole process on a
//! 9-byte frame claiming a 1 TiB vector).

use calm_engine::Value;
use serde::{Deserialize, Serialize};

/// Protocol version, exchanged in the handshake; peers with another version are refused.
/// Version 2 added the nonces and proofs of the authenticated handshake and [`Frame::Ping`];
/// version 3 [`Frame::Members`], which each side sends once the handshake succeeded. (The
/// [`Frame::Hello`] is unchanged, so a node of another version is refused with a message naming
/// both versions.)
pub const PROTOCOL_VERSION: u32 = 3;

/// Largest frame accepted or sent, in bytes.
pub const MAX_FRAME: usize = 16 << 20;

/// Most facts put in one batch frame; larger sends are split.
pub const MAX_FACTS_PER_BATCH: usize = 50_000;

/// Most bytes (estimated) put in one batch frame; larger sends are split, so a batch stays well
/// under [`MAX_FRAME`] however large its facts.
pub const MAX_BATCH_BYTES: usize = 4 << 20;

/// Splits facts into batches of at most [`MAX_FACTS_PER_BATCH`] facts and about
/// [`MAX_BATCH_BYTES`] bytes (a fact larger than that is a batch of its own), in order.
pub fn split_batches(facts: &[WireFact]) -> Vec<Vec<WireFact>> {
    let mut out = Vec::new();
    let mut cur: Vec<WireFact> = Vec::new();
    let mut bytes = 0;
    for f in facts {
        let n = f.relation.len()
            + 8
            + f.tuple
                .iter()
                .map(|v| match v {
                    WireValue::Number(_) => 10,
                    WireValue::Symbol(s) => s.len() + 10,
                })
                .sum::<usize>();
        if !cur.is_empty() && (cur.len() >= MAX_FACTS_PER_BATCH || bytes + n > MAX_BATCH_BYTES) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        cur.push(f.clone());
        bytes += n;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// One message between nodes.
///
/// A connection opens with a three-message handshake (see `crate::auth`): the dialer's
/// [`Frame::Hello`] (empty proof), the listener's [`Frame::Hello`] (its proof), the dialer's
/// [`Frame::Auth`]. Then each side sends [`Frame::Members`], and batches flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// The first frame each side sends.
    Hello {
        /// [`PROTOCOL_VERSION`].
        version: u32,
        /// The sender's node name.
        node: String,
        /// Changes when the sender restarts having lost its state, so a peer can tell.
        incarnation: u64,
        /// A fresh random challenge, [`crate::auth::NONCE_LEN`] bytes.
        nonce: Vec<u8>,
        /// The listener's proof that it knows the cluster secret (empty from the dialer, or
        /// without a secret).
        proof: Vec<u8>,
    },
    /// Facts derived by `@async` rules for the receiver.
    Batch {
        /// Sequence number, per sender and link; acknowledged by [`Frame::Ack`].
        seq: u64,
        /// The facts.
        facts: Vec<WireFact>,
    },
    /// The batch `seq` has been ingested (and, on a node with a data directory, stored).
    Ack {
        /// The batch's sequence number.
        seq: u64,
    },
    /// The dialer's proof that it knows the cluster secret (the handshake's last message).
    Auth {
        /// The proof (empty without a secret).
        proof: Vec<u8>,
    },
    /// Keeps an idle connection alive.
    Ping,
    /// The sender's member list (its own name and its peers', sorted), sent once after the
    /// handshake: a receiver whose list differs warns (the two compute with different
    /// `$member`s).
    Members {
        /// The names.
        names: Vec<String>,
    },
}

/// A fact on the wire.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WireFact {
    /// The relation.
    pub relation: String,
    /// The tuple.
    pub tuple: Vec<WireValue>,
}

/// A value on the wire.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WireValue {
    /// A number.
    Number(i64),
    /// A symbol.
    Symbol(String),
}

impl From<&Value> for WireValue {
    /// A node refuses programs with `unsigned` or `float` columns (`core::unsupported`), so
    /// its engine never gives such a value; were one given, it would travel as its text.
    fn from(v: &Value) -> Self {
        match v {
            Value::Number(n) => WireValue::Number(*n),
            Value::Symbol(s) => WireValue::Symbol(s.clone()),
            other @ (Value::Unsigned(_) | Value::Float(_)) => WireValue::Symbol(other.to_string()),
        }
    }
}

impl From<WireValue> for Value {
    fn from(v: WireValue) -> Self {
        match v {
            WireValue::Number(n) => Value::Number(n),
            WireValue::Symbol(s) => Value::Symbol(s),
        }
    }
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The connection failed or closed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// A frame announced more bytes than allowed ([`MAX_FRAME`], or
    /// [`MAX_HANDSHAKE_FRAME`] during the handshake).
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// The bytes are not a valid frame.
    #[error("malformed frame: {0}")]
    Decode(String),
    /// A frame could not be encoded.
    #[error("cannot encode frame: {0}")]
    Encode(String),
}

fn config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_FRAME>,
> {
    bincode::config::standard().with_limit::<MAX_FRAME>()
}

/// Encodes a frame's payload (without the length prefix).
pub fn encode(frame: &Frame) -> Result<Vec<u8>, WireError> {
    let bytes = bincode::serde::encode_to_vec(frame, config())
        .map_err(|e| WireError::Encode(e.to_string()))?;
    if bytes.len() > MAX_FRAME {
        return Err(WireError::TooLarge(bytes.len()));
    }
    Ok(bytes)
}

/// Decodes a frame's payload; the whole payload must be used.
pub fn decode(bytes: &[u8]) -> Result<Frame, WireError> {
    if bytes.len() > MAX_FRAME {
        return Err(WireError::TooLarge(bytes.len()));
    }
    let (frame, used) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| WireError::Decode(e.to_string()))?;
    if used != bytes.len() {
        return Err(WireError::Decode(format!(
            "{} trailing bytes",
            bytes.len() - used
        )));
    }
    Ok(frame)
}

/// Largest handshake frame accepted ([`Frame::Hello`], [`Frame::Auth`]): a peer that has not
/// authenticated yet can make a node read no more than this.
pub const MAX_HANDSHAKE_FRAME: usize = 4 << 10;

/// One frame as it goes on the wire: the 4-byte length, then the payload.
pub fn frame_bytes(frame: &Frame) -> Result<Vec<u8>, WireError> {
    let payload = encode(frame)?;
    let len = u32::try_from(payload.len()).map_err(|_| WireError::TooLarge(payload.len()))?;
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decodes frames written end to end as [`frame_bytes`] writes them (each a length, then its
/// payload), as a reader of a connection would: each length is checked against [`MAX_FRAME`]
/// before its payload is looked at.
pub fn decode_frames(mut bytes: &[u8]) -> Result<Vec<Frame>, WireError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let Some((len, rest)) = bytes.split_first_chunk::<4>() else {
            return Err(WireError::Decode("a truncated frame length".into()));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len > MAX_FRAME {
            return Err(WireError::TooLarge(len));
        }
        if rest.len() < len {
            return Err(WireError::Decode("a truncated frame".into()));
        }
        out.push(decode(&rest[..len])?);
        bytes = &rest[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_round_trip() {
        let f = Frame::Batch {
            seq: 7,
            facts: vec![WireFact {
                relation: "waits".into(),
                tuple: vec![WireValue::Symbol("t1".into()), WireValue::Number(-3)],
            }],
        };
        assert_eq!(decode(&encode(&f).unwrap()).unwrap(), f);
    }

    #[test]
    fn a_frame_claiming_a_huge_vector_is_an_error_not_an_abort() {
        // Variant 1 (Batch), seq 0, then a varint length of 2^40 facts.
        let bytes = [1u8, 0, 253, 0, 0, 0, 0, 0, 1, 0, 0];
        assert!(matches!(decode(&bytes), Err(WireError::Decode(_))));
    }

    #[test]
    fn batches_are_split_by_count_and_by_bytes() {
        let fact = |n: usize| WireFact {
            relation: "r".into(),
            tuple: vec![WireValue::Symbol("x".repeat(n))],
        };
        let big: Vec<WireFact> = (0..10).map(|_| fact(1 << 20)).collect();
        let b = split_batches(&big);
        assert!(b.len() >= 3, "{}", b.len());
        assert_eq!(b.iter().map(Vec::len).sum::<usize>(), 10);
        for batch in &b {
            let frame = Frame::Batch {
                seq: 1,
                facts: batch.clone(),
            };
            assert!(encode(&frame).unwrap().len() <= MAX_BATCH_BYTES + (1 << 20));
        }
        let many: Vec<WireFact> = (0..MAX_FACTS_PER_BATCH + 1).map(|_| fact(1)).collect();
        assert_eq!(split_batches(&many).len(), 2);
        assert!(split_batches(&[]).is_empty());
    }

    #[test]
    fn frames_end_to_end_decode_in_order_and_truncation_is_an_error() {
        let frames = [Frame::Ack { seq: 3 }, Frame::Ping, Frame::Ack { seq: 9 }];
        let mut bytes = Vec::new();
        for f in &frames {
            bytes.extend(frame_bytes(f).unwrap());
        }
        assert_eq!(decode_frames(&bytes).unwrap(), frames);
        assert!(decode_frames(&[]).unwrap().is_empty());
        assert!(decode_frames(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_frames(&bytes[..2]).is_err());
        assert!(matches!(
            decode_frames(&[0xff, 0xff, 0xff, 0xff]),
            Err(WireError::TooLarge(_))
        ));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = encode(&Frame::Ack { seq: 1 }).unwrap();
        bytes.push(0);
        assert!(decode(&bytes).is_err());
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
        }
    }
}
