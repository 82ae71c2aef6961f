//! What a node sent one peer: every fact once, to tell a fact derived again from a new one
//! and to send everything again to a peer that lost its state (see `NodeCore::history_batches`).
//!
//! The set only grows (a peer that lost its disk is rebuilt from it), so it is kept compact:
//! facts are encoded end to end in one buffer (a relation number and the values, a symbol as
//! its bytes), and a hash table of offsets into the buffer answers "sent before?" with one
//! hash of the encoded fact and a byte comparison. A fact of `kvs.dl`'s `kv_in` (six short
//! symbols) takes about 80 bytes here, against about 500 as a `WireFact` in a `BTreeSet`.
//! Iteration is in the order facts were added, so that two runs of the same steps send the
//! same batches again. The hasher is keyed at random, so that facts chosen by clients cannot
//! be made to collide.

use crate::wire::{WireFact, WireValue};
use hashbrown::HashTable;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

const NUMBER: u8 = 0;
const SYMBOL: u8 = 1;

/// A set of facts, compactly; see the module documentation.
#[derive(Clone, Default)]
pub(crate) struct SentFacts {
    /// The encoded facts, end to end: each is its length (LEB128) and then its bytes.
    bytes: Vec<u8>,
    /// Offsets into `bytes` of the facts, by the hash of their encoding.
    table: HashTable<u64>,
    /// The relations named by the facts; a fact holds its relation's index.
    relations: Vec<String>,
    hasher: RandomState,
    /// The encoding of the fact being added (kept to save an allocation per fact).
    scratch: Vec<u8>,
}

impl std::fmt::Debug for SentFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentFacts")
            .field("len", &self.len())
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl SentFacts {
    /// How many facts the set holds.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Bytes the set holds (the encoded facts and the table), roughly.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.table.capacity() * (std::mem::size_of::<u64>() + 1)
    }

    /// Adds `fact`; `false` if it was there.
    pub fn insert(&mut self, fact: &WireFact) -> bool {
        let mut enc = std::mem::take(&mut self.scratch);
        enc.clear();
        self.encode(fact, &mut enc);
        let hash = self.hasher.hash_one(&enc);
        let bytes = &self.bytes;
        if self
            .table
            .find(hash, |&at| record(bytes, at) == enc.as_slice())
            .is_some()
        {
            self.scratch = enc;
            return false;
        }
        let at = self.bytes.len() as u64;
        put_len(&mut self.bytes, enc.len());
        self.bytes.extend_from_slice(&enc);
        self.scratch = enc;
        let (bytes, hasher) = (&self.bytes, &self.hasher);
        self.table
            .insert_unique(hash, at, |&o| hasher.hash_one(record(bytes, o)));
        true
    }

    /// Every fact, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = WireFact> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            if at >= self.bytes.len() {
                return None;
            }
            let (len, start) = get_len(&self.bytes, at);
            at = start + len;
            Some(self.decode(&self.bytes[start..start + len]))
        })
    }

    /// Encodes `fact` (with the relation's index, which is assigned here if new).
    fn encode(&mut self, fact: &WireFact, out: &mut Vec<u8>) {
        let rel = match self.relations.iter().position(|r| *r == fact.relation) {
            Some(i) => i,
            None => {
                self.relations.push(fact.relation.clone());
                self.relations.len() - 1
            }
        };
        put_len(out, rel);
        for v in &fact.tuple {
            match v {
                WireValue::Number(n) => {
                    out.push(NUMBER);
                    out.extend_from_slice(&n.to_le_bytes());
                }
                WireValue::Symbol(s) => {
                    out.push(SYMBOL);
                    put_len(out, s.len());
                    out.extend_from_slice(s.as_bytes());
                }
            }
        }
    }

    /// Decodes one fact's bytes, as [`SentFacts::encode`] wrote them.
    fn decode(&self, mut b: &[u8]) -> WireFact {
        let (rel, n) = get_len(b, 0);
        b = &b[n..];
        let mut tuple = Vec::new();
        while let Some((&tag, rest)) = b.split_first() {
            if tag == NUMBER {
                let mut w = [0u8; 8];
                w.copy_from_slice(&rest[..8]);
                tuple.push(WireValue::Number(i64::from_le_bytes(w)));
                b = &rest[8..];
            } else {
                let (len, n) = get_len(rest, 0);
                let s = &rest[n..n + len];
                // Written from a `String`: valid UTF-8.
                tuple.push(WireValue::Symbol(String::from_utf8_lossy(s).into_owned()));
                b = &rest[n + len..];
            }
        }
        WireFact {
            relation: self.relations[rel].clone(),
            tuple,
        }
    }
}

/// The encoded bytes of the fact at offset `at`.
fn record(bytes: &[u8], at: u64) -> &[u8] {
    let (len, start) = get_len(bytes, at as usize);
    &bytes[start..start + len]
}

/// Appends `n` as LEB128.
fn put_len(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a LEB128 number at `at`; returns it and the offset after it.
fn get_len(b: &[u8], mut at: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let byte = b[at];
        at += 1;
        n |= ((byte & 0x7f) as usize) << shift;
        if byte < 0x80 {
            return (n, at);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn value() -> impl Strategy<Value = WireValue> {
        prop_oneof![
            any::<i64>().prop_map(WireValue::Number),
            // Short symbols collide often; long ones take several length bytes.
            "[ab]{0,3}".prop_map(WireValue::Symbol),
            ".{0,200}".prop_map(WireValue::Symbol),
        ]
    }

    fn fact() -> impl Strategy<Value = WireFact> {
        (
            prop_oneof![Just("p"), Just("q"), Just("kv_in")],
            proptest::collection::vec(value(), 0..4),
        )
            .prop_map(|(r, tuple)| WireFact {
                relation: r.to_string(),
                tuple,
            })
    }

    proptest! {
        /// The set agrees with a `BTreeSet` of the same facts: what `insert` says, the size,
        /// and iteration gives every fact back, once, in the order of first insertion.
        #[test]
        fn agrees_with_a_set_of_facts(facts in proptest::collection::vec(fact(), 0..200)) {
            let mut sent = SentFacts::default();
            let mut model = BTreeSet::new();
            let mut order = Vec::new();
            for f in &facts {
                let new = model.insert(f.clone());
                prop_assert_eq!(sent.insert(f), new);
                if new {
                    order.push(f.clone());
                }
            }
            prop_assert_eq!(sent.len(), model.len());
            prop_assert_eq!(sent.iter().collect::<Vec<_>>(), order);
        }
    }

    #[test]
    fn a_number_and_a_symbol_with_the_same_bytes_differ() {
        let mut sent = SentFacts::default();
        let n = WireFact {
            relation: "p".into(),
            tuple: vec![WireValue::Number(0x61)],
        };
        let s = WireFact {
            relation: "p".into(),
            tuple: vec![WireValue::Symbol("a".into())],
        };
        let other_relation = WireFact {
            relation: "q".into(),
            tuple: vec![WireValue::Symbol("a".into())],
        };
        assert!(sent.insert(&n));
        assert!(sent.insert(&s));
        assert!(sent.insert(&other_relation));
        assert!(!sent.insert(&s));
        assert_eq!(sent.len(), 3);
    }
}
