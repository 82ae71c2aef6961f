//! Positions: LSP's (line, UTF-16 code unit) pairs to and from calm's byte offsets.
//!
//! LSP counts lines split at `\n`, `\r\n` or `\r`, and characters in UTF-16 code units (the
//! default position encoding, the only one this server declares). calm's spans are byte offsets
//! into the UTF-8 text. A [`LineIndex`] holds where each line starts and converts both ways;
//! a character past the end of its line means the end of the line (as the specification says), a
//! line past the last one is no position at all.

use calm_syntax::Span;
use lsp_types::{Position, Range};

/// Where each line of a text starts, for position conversions.
#[derive(Clone, Debug)]
pub struct LineIndex {
    /// Byte offset of the start of each line (the first is 0).
    starts: Vec<usize>,
    /// Byte offset of the end of each line's content (before its line break).
    ends: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> LineIndex {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        let mut ends = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => {
                    ends.push(i);
                    starts.push(i + 1);
                }
                b'\r' => {
                    ends.push(i);
                    if bytes.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                    starts.push(i + 1);
                }
                _ => {}
            }
            i += 1;
        }
        ends.push(bytes.len());
        LineIndex { starts, ends }
    }

    /// The number of lines (a text ending with a line break has an empty last line).
    pub fn lines(&self) -> usize {
        self.starts.len()
    }

    /// The LSP position of byte `offset` of `text` (clamped to the text and to a character
    /// boundary; an offset inside a line break is the end of its line).
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while offset > 0 && !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let end = self.ends[line].min(offset);
        let character = text[self.starts[line]..end].encode_utf16().count();
        Position {
            line: to_u32(line),
            character: to_u32(character),
        }
    }

    /// The LSP range of a span of `text`.
    pub fn range(&self, text: &str, span: Span) -> Range {
        Range {
            start: self.position(text, span.start),
            end: self.position(text, span.end),
        }
    }

    /// The byte offset of an LSP position in `text`, or `None` for a line past the last. A
    /// character past the end of the line is the end of the line; one inside a surrogate pair is
    /// the start of that character.
    pub fn offset(&self, text: &str, pos: Position) -> Option<usize> {
        let line = usize::try_from(pos.line).ok()?;
        let (&start, &end) = (self.starts.get(line)?, self.ends.get(line)?);
        let want = usize::try_from(pos.character).unwrap_or(usize::MAX);
        let mut units = 0;
        for (i, c) in text[start..end].char_indices() {
            let next = units + c.len_utf16();
            if next > want {
                return Some(start + i);
            }
            units = next;
        }
        Some(end)
    }

    /// The byte span of an LSP range in `text`, or `None` when a line is past the last or the
    /// end comes before the start.
    pub fn span(&self, text: &str, range: Range) -> Option<Span> {
        let start = self.offset(text, range.start)?;
        let end = self.offset(text, range.end)?;
        (start <= end).then(|| Span::new(start, end))
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u32, character: u32) -> Position {
        Position { line, character }
    }

    #[test]
    fn ascii_round_trip() {
        let text = "ab\ncd\n";
        let idx = LineIndex::new(text);
        assert_eq!(idx.lines(), 3);
        assert_eq!(idx.position(text, 4), pos(1, 1));
        assert_eq!(idx.offset(text, pos(1, 1)), Some(4));
        assert_eq!(idx.position(text, 6), pos(2, 0));
        assert_eq!(idx.offset(text, pos(2, 0)), Some(6));
        assert_eq!(idx.offset(text, pos(3, 0)), None);
    }

    #[test]
    fn utf16_units_not_bytes_nor_chars() {
        // `é` is 2 bytes and 1 UTF-16 unit; `😀` is 4 bytes and 2 units.
        let text = "p(\"é😀\"). q(1).";
        let idx = LineIndex::new(text);
        let q = text.find('q').unwrap();
        assert_eq!(q, 13);
        // p ( " é 😀 " ) . space: 1+1+1+1+2+1+1+1+1 units before `q`.
        assert_eq!(idx.position(text, q), pos(0, 10));
        assert_eq!(idx.offset(text, pos(0, 10)), Some(q));
        // The emoji starts at unit 4; unit 5 is inside its surrogate pair: its start.
        let emoji = text.find('😀').unwrap();
        assert_eq!(idx.offset(text, pos(0, 4)), Some(emoji));
        assert_eq!(idx.offset(text, pos(0, 5)), Some(emoji));
        assert_eq!(idx.offset(text, pos(0, 6)), Some(emoji + 4));
        // An offset inside a UTF-8 sequence is the start of its character.
        assert_eq!(idx.position(text, emoji + 1), pos(0, 4));
    }

    #[test]
    fn line_breaks_crlf_and_cr() {
        let text = "a\r\nb\rc\n";
        let idx = LineIndex::new(text);
        assert_eq!(idx.lines(), 4);
        assert_eq!(idx.position(text, 3), pos(1, 0));
        assert_eq!(idx.position(text, 5), pos(2, 0));
        // Inside `\r\n`: the end of the line.
        assert_eq!(idx.position(text, 2), pos(0, 1));
        // Past the end of a line: its end, not the next line.
        assert_eq!(idx.offset(text, pos(0, 99)), Some(1));
        assert_eq!(idx.offset(text, pos(2, 1)), Some(6));
    }

    #[test]
    fn spans_and_ranges() {
        let text = "// ünïcode\nedge(1, 2).";
        let idx = LineIndex::new(text);
        let start = text.find("edge").unwrap();
        let span = Span::new(start, start + 4);
        let range = idx.range(text, span);
        assert_eq!(range.start, pos(1, 0));
        assert_eq!(range.end, pos(1, 4));
        assert_eq!(idx.span(text, range), Some(span));
        let backwards = Range {
            start: pos(1, 4),
            end: pos(1, 0),
        };
        assert_eq!(idx.span(text, backwards), None);
    }
}
