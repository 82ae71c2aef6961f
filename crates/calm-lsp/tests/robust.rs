//! Random texts (calm tokens, broken clauses, non-ASCII, every kind of line break): every feature
//! answers without panicking, and positions convert back to the offsets they came from.

use calm_analyzer::Config;
use calm_lsp::document::Analysed;
use calm_lsp::line_index::LineIndex;
use calm_lsp::{actions, hover, navigate};
use calm_syntax::Span;
use proptest::prelude::*;

fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "p",
        "q",
        "edge",
        "a.b",
        "$self",
        "$member",
        "$C",
        "(",
        ")",
        "x",
        "_",
        ",",
        ".",
        ". ",
        ":-",
        "!",
        "not ",
        "@next",
        "@async",
        "@",
        "count",
        "sum",
        ":",
        "{",
        "}",
        "[",
        "]",
        "=",
        "<",
        "+",
        "1",
        "0x1F",
        "\"é😀\"",
        "\"",
        "// ü\n",
        "/* ß */",
        "/*",
        "\n",
        "\r\n",
        "\r",
        " ",
        "\t",
        ".decl ",
        ".input ",
        ".output ",
        ".persist ",
        ".comp ",
        ".init ",
        ".type ",
        "number",
        "symbol",
        "cat",
        "match",
        "#line\n",
        "😀",
        "é",
    ])
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn positions_round_trip(text in text()) {
        let index = LineIndex::new(&text);
        for (o, _) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
            // Inside `\r\n` is the end of the line, that is the `\r`.
            if o > 0 && text.as_bytes()[o - 1] == b'\r' && text.as_bytes().get(o) == Some(&b'\n') {
                continue;
            }
            let pos = index.position(&text, o);
            prop_assert_eq!(index.offset(&text, pos), Some(o), "offset {} of {:?}", o, text);
        }
    }

    #[test]
    fn every_feature_answers(text in text()) {
        let doc = Analysed::new("t.dl", &text, &Config::default());
        let index = LineIndex::new(&text);
        for o in doc.occurrences.all() {
            prop_assert!(text.is_char_boundary(o.span.start) && text.is_char_boundary(o.span.end));
            prop_assert_eq!(&text[o.span.start..o.span.end], o.name.as_str());
        }
        for (offset, _) in text.char_indices() {
            if let Some(occ) = doc.occurrences.at(offset) {
                let _ = hover::relation(&doc, &text, &occ.name, |o| index.position(&text, o).line + 1);
                let _ = navigate::definition(&doc, &occ.name);
                let refs = navigate::references(&doc, &occ.name, true);
                prop_assert!(!refs.is_empty());
                if let Ok(spans) = navigate::rename(&doc, &text, offset, "renamed_rel") {
                    prop_assert_eq!(spans, refs);
                }
            }
        }
        let _ = navigate::symbols(&doc, &text);
        let _ = actions::suppressions(&doc, &text, Span::new(0, text.len()));
    }
}
