//! The text forms of fact files besides plain delimited lines: RFC 4180 records (quoted fields
//! holding delimiters, line breaks and doubled quotes) and gzip-compressed files.

use std::io::{Read as _, Write as _};

/// A record of an RFC 4180 file: its 1-based line and its fields.
pub(crate) type Row = (usize, Vec<String>);

/// Splits RFC 4180 text into records. A field that starts with `"` runs to the next `"` not
/// doubled (it may hold the delimiter and line breaks; `""` is one `"`); any other field runs to
/// the next delimiter or line break. Empty lines between records are skipped. Errors give the
/// 1-based line and column.
pub(crate) fn split_rfc4180(
    text: &str,
    delimiter: &str,
) -> Result<Vec<Row>, (usize, usize, String)> {
    let mut rows = Vec::new();
    let mut line = 1;
    let mut col = 1;
    let mut chars = text.char_indices().peekable();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut row_line = 1;
    let mut at_field_start = true;
    let mut row_empty = true;
    let delim: Vec<char> = delimiter.chars().collect();
    while let Some((i, c)) = chars.next() {
        if at_field_start && c == '"' {
            let (start_line, start_col) = (line, col);
            col += 1;
            let mut closed = false;
            while let Some((_, q)) = chars.next() {
                col += 1;
                if q == '"' {
                    if chars.peek().is_some_and(|(_, n)| *n == '"') {
                        chars.next();
                        col += 1;
                        field.push('"');
                        continue;
                    }
                    closed = true;
                    break;
                }
                if q == '\n' {
                    line += 1;
                    col = 1;
                }
                field.push(q);
            }
            if !closed {
                return Err((
                    start_line,
                    start_col,
                    "a quoted field is never closed with `\"`".to_string(),
                ));
            }
            at_field_start = false;
            row_empty = false;
            // Only a delimiter or the end of the line may follow.
            let rest = &text[chars.peek().map_or(text.len(), |(k, _)| *k)..];
            if !(rest.is_empty()
                || rest.starts_with('\n')
                || rest.starts_with("\r\n")
                || rest.starts_with(delimiter))
            {
                return Err((
                    line,
                    col,
                    "unexpected text after a quoted field".to_string(),
                ));
            }
            continue;
        }
        if c == '\n' || (c == '\r' && text[i + 1..].starts_with('\n')) {
            if c == '\r' {
                chars.next();
            }
            if !row_empty {
                fields.push(std::mem::take(&mut field));
                rows.push((row_line, std::mem::take(&mut fields)));
            }
            line += 1;
            col = 1;
            row_line = line;
            at_field_start = true;
            row_empty = true;
            continue;
        }
        if text[i..].starts_with(delimiter) {
            for _ in 1..delim.len() {
                chars.next();
            }
            col += delim.len();
            fields.push(std::mem::take(&mut field));
            at_field_start = true;
            row_empty = false;
            continue;
        }
        field.push(c);
        col += 1;
        at_field_start = false;
        row_empty = false;
    }
    if !row_empty {
        fields.push(field);
        rows.push((row_line, fields));
    }
    Ok(rows)
}

/// A field written in RFC 4180 form: in quotes, quotes doubled.
pub(crate) fn quote(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 2);
    out.push('"');
    for c in field.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Whether bytes are gzip data (they start with its magic number).
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Decompresses gzip data (all members) to at most `max` bytes.
pub(crate) fn gunzip(bytes: &[u8], max: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| format!("not valid gzip data: {e}"))?;
    if out.len() as u64 > max {
        return Err(format!(
            "larger than {max} bytes once decompressed, the most a fact file may hold"
        ));
    }
    Ok(out)
}

/// Compresses text with gzip.
pub(crate) fn gzip(text: &str) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes())?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(rows: &[Row]) -> Vec<Vec<&str>> {
        rows.iter()
            .map(|(_, f)| f.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn splits_quoted_fields_with_delimiters_line_breaks_and_quotes() {
        let text = "\"foo\nbar\",nothing,\"one\r\ntwo\"\r\n\n\"a\"\"b\",\"x,y\"\nlast,";
        let rows = split_rfc4180(text, ",").unwrap();
        assert_eq!(
            fields(&rows),
            vec![
                vec!["foo\nbar", "nothing", "one\r\ntwo"],
                vec!["a\"b", "x,y"],
                vec!["last", ""],
            ]
        );
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 5, 6]);
        let rows = split_rfc4180("1::\"a::b\"", "::").unwrap();
        assert_eq!(fields(&rows), vec![vec!["1", "a::b"]]);
    }

    #[test]
    fn rejects_unterminated_quotes_and_text_after_them() {
        let e = split_rfc4180("1,\"open\n2,3\n", ",").unwrap_err();
        assert_eq!((e.0, e.1), (1, 3));
        assert!(e.2.contains("never closed"));
        let e = split_rfc4180("\"a\"b,1\n", ",").unwrap_err();
        assert!(e.2.contains("after a quoted field"), "{e:?}");
    }

    #[test]
    fn quotes_round_trip() {
        let values = ["plain", "with \"quotes\"", "comma, and\nline", ""];
        let line: Vec<String> = values.iter().map(|v| quote(v)).collect();
        let rows = split_rfc4180(&line.join(","), ",").unwrap();
        assert_eq!(fields(&rows), vec![values.to_vec()]);
    }

    #[test]
    fn gzip_round_trips_and_bad_data_is_an_error() {
        let text = "1\t2\n3\t4\n".repeat(1000);
        let packed = gzip(&text).unwrap();
        assert!(is_gzip(&packed) && packed.len() < text.len());
        assert_eq!(gunzip(&packed, 1 << 20).unwrap(), text.as_bytes());
        assert!(
            gunzip(&packed, 100)
                .unwrap_err()
                .contains("larger than 100")
        );
        let mut bad = packed.clone();
        bad.truncate(packed.len() / 2);
        assert!(
            gunzip(&bad, 1 << 20)
                .unwrap_err()
                .contains("not valid gzip")
        );
        assert!(gunzip(&[0x1f, 0x8b, 0, 0], 1 << 20).is_err());
    }
}
