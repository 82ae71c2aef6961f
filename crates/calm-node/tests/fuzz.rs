//! Fuzzing, with proptest, of what outsiders send: the frame decoder, the HTTP fact parsers
//! (calm syntax and JSON) and the log-entry decoder. (The handshake's fuzz targets are unit
//! tests in `src/link.rs`.) Each must return an error, never panic or allocate without bound.
//!
//! CI runs proptest's default number of inputs (256 per target). For a longer run:
//! `PROPTEST_CASES=200000 cargo test --release -p calm-node --test fuzz` (and
//! `... --lib link::tests` for the handshake).

use calm_node::http::{facts_from_json, facts_from_text, tuples_from_json};
use calm_node::wire::{self, Frame, WireFact, WireValue};
use proptest::prelude::*;

fn frame() -> impl Strategy<Value = Frame> {
    let value = prop_oneof![
        any::<i64>().prop_map(WireValue::Number),
        ".{0,8}".prop_map(WireValue::Symbol)
    ];
    let fact = ("[a-z]{1,6}", proptest::collection::vec(value, 0..4))
        .prop_map(|(relation, tuple)| WireFact { relation, tuple });
    prop_oneof![
        (any::<u64>(), proptest::collection::vec(fact, 0..8))
            .prop_map(|(seq, facts)| Frame::Batch { seq, facts }),
        any::<u64>().prop_map(|seq| Frame::Ack { seq }),
        (
            any::<u32>(),
            ".{0,10}",
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(version, node, incarnation, nonce)| Frame::Hello {
                version,
                node,
                incarnation,
                nonce: nonce.clone(),
                proof: nonce,
            }),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|proof| Frame::Auth { proof }),
        Just(Frame::Ping),
    ]
}

/// Text that looks like facts, to get past the parser's first token more often than random
/// strings do.
fn facty() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("p(".to_string()),
            Just(")".to_string()),
            Just(".".to_string()),
            Just(",".to_string()),
            Just("\"".to_string()),
            Just("-".to_string()),
            Just(" ".to_string()),
            Just(":-".to_string()),
            Just("@next".to_string()),
            "[a-z_]{1,4}",
            "[0-9]{1,25}",
            ".{0,3}",
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,6}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn frames_round_trip_and_mutations_never_panic(
        f in frame(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in any::<usize>(),
    ) {
        let bytes = wire::encode(&f).unwrap();
        prop_assert_eq!(wire::decode(&bytes).unwrap(), f);
        let mut bad = bytes.clone();
        for (at, x) in flips {
            if !bad.is_empty() {
                let i = at % bad.len();
                bad[i] ^= x;
            }
        }
        let _ = wire::decode(&bad);
        let _ = wire::decode(&bytes[..cut % (bytes.len() + 1)]);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_frame_reader(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = wire::decode(&bytes);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut r: &[u8] = &bytes;
            while let Ok(Some(_)) = calm_node::wire_io::read_frame(&mut r).await {}
        });
    }

    #[test]
    fn the_fact_text_parser_never_panics(text in ".{0,200}", facts in facty()) {
        let _ = facts_from_text("t", &text);
        if let Ok(parsed) = facts_from_text("t", &facts) {
            for (rel, _) in parsed {
                prop_assert!(!rel.is_empty());
            }
        }
    }

    #[test]
    fn the_json_fact_parsers_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        value in json(),
    ) {
        let _ = facts_from_json(&bytes);
        let _ = tuples_from_json("r", &bytes);
        let text = value.to_string();
        let _ = tuples_from_json("r", text.as_bytes());
        if let Ok(facts) = facts_from_json(text.as_bytes()) {
            // Only integers and strings become values.
            prop_assert!(value.is_object());
            prop_assert!(facts.iter().all(|(r, _)| value.get(r).is_some()));
        }
    }

    #[test]
    fn log_entries_from_damaged_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = calm_node::durable::decode_inputs(&bytes);
    }
}
