//! Records as text, in Souffle's form: `nil`, `[1, a]` for a record type, `$A(1, b)` (`$B` for a
//! branch without fields) for an algebraic data type. Symbols inside a record are written as
//! they are, and read either quoted (`"a, b"`, with escapes) or bare up to the next `,`, `]` or
//! `)`, trimmed. Outside the engine a record column's value is this text (a [`Value::Symbol`]).
//!
//! Both directions use an explicit stack, so a deep record (a long list) cannot overflow the
//! thread's stack.
//!
//! [`Value::Symbol`]: crate::Value::Symbol

use crate::index::Word;
use crate::value::Interner;
use crate::value::Value;
use calm_ir::{Program, Type};

/// Where the words of a record being read go.
pub(crate) trait Sink {
    /// The word of a number (`None`: not present, in a lookup).
    fn number(&mut self, n: i64) -> Option<Word>;
    /// The word of a symbol.
    fn symbol(&mut self, s: &str) -> Option<Word>;
    /// The word of a record (tag, then fields).
    fn record(&mut self, words: &[Word]) -> Result<Option<Word>, String>;
}

/// Interns what it reads.
impl Sink for Interner {
    fn number(&mut self, n: i64) -> Option<Word> {
        Some(self.encode(n))
    }
    fn symbol(&mut self, s: &str) -> Option<Word> {
        Some(self.intern(s))
    }
    fn record(&mut self, words: &[Word]) -> Result<Option<Word>, String> {
        self.intern_record(words).map(Some).map_err(str::to_string)
    }
}

/// Only checks the text.
pub(crate) struct DryRun;

impl Sink for DryRun {
    fn number(&mut self, _: i64) -> Option<Word> {
        Some(0)
    }
    fn symbol(&mut self, _: &str) -> Option<Word> {
        Some(0)
    }
    fn record(&mut self, _: &[Word]) -> Result<Option<Word>, String> {
        Ok(Some(0))
    }
}

/// Finds the words of values already interned, interning nothing.
pub(crate) struct Lookup<'a>(pub &'a Interner);

impl Sink for Lookup<'_> {
    fn number(&mut self, n: i64) -> Option<Word> {
        self.0.encoded(n)
    }
    fn symbol(&mut self, s: &str) -> Option<Word> {
        self.0.lookup(s)
    }
    fn record(&mut self, words: &[Word]) -> Result<Option<Word>, String> {
        Ok(self.0.lookup_record(words))
    }
}

/// Writes value `w` of type `ty` in Souffle's form; with `quote`, the symbols inside records
/// are written in quotes (`\"` and `\\` escaped), as Souffle's RFC 4180 output does.
pub(crate) fn format_with(
    ir: &Program,
    it: &Interner,
    ty: Type,
    w: Word,
    out: &mut String,
    quote: bool,
) {
    enum Task<'a> {
        Value(Type, Word),
        Text(&'a str),
    }
    let mut stack = vec![Task::Value(ty, w)];
    while let Some(task) = stack.pop() {
        let (ty, w) = match task {
            Task::Text(s) => {
                out.push_str(s);
                continue;
            }
            Task::Value(ty, w) => (ty, w),
        };
        match ty {
            Type::Number => out.push_str(&it.decode(w).to_string()),
            Type::Symbol if quote => {
                out.push('"');
                for c in it.resolve(w).chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
            Type::Unsigned => out.push_str(&(it.decode(w) as u64).to_string()),
            Type::Float => out.push_str(&calm_ir::number::float_text(calm_ir::number::float_of(
                it.decode(w),
            ))),
            Type::Symbol => out.push_str(it.resolve(w)),
            Type::Record(id) => {
                let (Some(words), Some(rt)) = (it.record(w), ir.records.get(id as usize)) else {
                    out.push_str("nil");
                    continue;
                };
                let tag = words.first().copied().unwrap_or(0) as usize;
                let Some(branch) = rt.branches.get(tag) else {
                    out.push_str("nil");
                    continue;
                };
                let fields = words.get(1..).unwrap_or_default();
                let close = if rt.adt {
                    out.push('$');
                    out.push_str(&branch.name);
                    if fields.is_empty() {
                        continue;
                    }
                    out.push('(');
                    ")"
                } else {
                    out.push('[');
                    "]"
                };
                stack.push(Task::Text(close));
                for (i, (f, (_, fty))) in fields.iter().zip(&branch.fields).enumerate().rev() {
                    stack.push(Task::Value(*fty, *f));
                    if i > 0 {
                        stack.push(Task::Text(", "));
                    }
                }
            }
        }
    }
}

/// The byte offset where the record written from `start` in `line` ends (`nil`, a bracketed
/// record, a constructor with or without arguments), quotes and nesting respected.
pub(crate) fn end_of(line: &str, start: usize) -> Result<usize, String> {
    let b = line.as_bytes();
    let mut i = start;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let rest = &line[i..];
    if rest.starts_with("nil") {
        return Ok(i + 3);
    }
    if rest.starts_with('$') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if b.get(i) != Some(&b'(') {
            return Ok(i);
        }
    } else if !rest.starts_with('[') {
        return Err("expected a record (`[...]`, `$Name(...)` or `nil`)".into());
    }
    let mut depth = 0usize;
    let mut quoted = false;
    while i < b.len() {
        match b[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'[' | b'(' if !quoted => depth += 1,
            b']' | b')' if !quoted => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err("unterminated record".into())
}

/// One record being read: its type's fields, the words read so far (tag first), and the
/// character that closes it.
struct Frame<'a> {
    fields: &'a [(String, Type)],
    words: Vec<Word>,
    close: u8,
}

/// Reads `text`, a whole value of type `ty`, into `sink`. `Ok(None)`: in a lookup, the value
/// is not present. Errors name the byte offset in `text`.
pub(crate) fn parse(
    ir: &Program,
    ty: Type,
    text: &str,
    sink: &mut impl Sink,
) -> Result<Option<Word>, String> {
    let b = text.as_bytes();
    let mut pos = 0usize;
    let mut missing = false;
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut want = ty;
    let skip_ws = |pos: &mut usize| {
        while *pos < b.len() && b[*pos].is_ascii_whitespace() {
            *pos += 1;
        }
    };
    loop {
        skip_ws(&mut pos);
        let nested = !stack.is_empty();
        // A token of a number or a bare symbol: up to the next separator (the whole rest at
        // the top level).
        let token = |pos: &mut usize| -> &str {
            let start = *pos;
            if nested {
                while *pos < b.len() && !matches!(b[*pos], b',' | b']' | b')') {
                    *pos += 1;
                }
            } else {
                *pos = b.len();
            }
            text[start..*pos].trim()
        };
        let mut w: Option<Word> = match want {
            Type::Number => {
                let t = token(&mut pos);
                let n: i64 = t
                    .parse()
                    .map_err(|_| format!("at byte {pos}: expected a number, found `{t}`"))?;
                Some(sink.number(n).unwrap_or_else(|| {
                    missing = true;
                    0
                }))
            }
            Type::Unsigned | Type::Float => {
                let t = token(&mut pos);
                let bits = match read_number(want, t) {
                    Some(Value::Unsigned(u)) => u as i64,
                    Some(Value::Float(f)) => calm_ir::number::float_bits(f),
                    _ => {
                        return Err(format!(
                            "at byte {pos}: expected {}, found `{t}`",
                            if want == Type::Float {
                                "a float"
                            } else {
                                "an unsigned number"
                            }
                        ));
                    }
                };
                Some(sink.number(bits).unwrap_or_else(|| {
                    missing = true;
                    0
                }))
            }
            Type::Symbol => {
                let s = if nested && b.get(pos) == Some(&b'"') {
                    quoted(text, &mut pos)?
                } else {
                    token(&mut pos).to_string()
                };
                Some(sink.symbol(&s).unwrap_or_else(|| {
                    missing = true;
                    0
                }))
            }
            Type::Record(id) => {
                let rt = ir
                    .records
                    .get(id as usize)
                    .ok_or_else(|| "unknown record type".to_string())?;
                let rest = &text[pos..];
                let ends_word = |n: usize| {
                    b.get(pos + n)
                        .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                };
                if rest.starts_with("nil") && ends_word(3) && !rt.adt {
                    pos += 3;
                    Some(0)
                } else if rest.starts_with('[') && !rt.adt {
                    pos += 1;
                    let fields = rt.branches.first().map_or(&[][..], |b| b.fields.as_slice());
                    stack.push(Frame {
                        fields,
                        words: vec![0],
                        close: b']',
                    });
                    None
                } else if rest.starts_with('$') && rt.adt {
                    let start = pos + 1;
                    pos = start;
                    while pos < b.len() && (b[pos].is_ascii_alphanumeric() || b[pos] == b'_') {
                        pos += 1;
                    }
                    let name = &text[start..pos];
                    let Some(tag) = rt.branches.iter().position(|br| br.name == name) else {
                        return Err(format!(
                            "at byte {start}: `${name}` is not a constructor of `{}`",
                            rt.name
                        ));
                    };
                    let fields = rt.branches[tag].fields.as_slice();
                    if b.get(pos) == Some(&b'(') {
                        pos += 1;
                        stack.push(Frame {
                            fields,
                            words: vec![tag as Word],
                            close: b')',
                        });
                        None
                    } else if fields.is_empty() {
                        sink.record(&[tag as Word])?
                    } else {
                        return Err(format!(
                            "at byte {pos}: `${name}` needs {} argument{}",
                            fields.len(),
                            if fields.len() == 1 { "" } else { "s" }
                        ));
                    }
                } else {
                    let what = if rt.adt {
                        format!("a value of `{}` (`$Name(...)`)", rt.name)
                    } else {
                        format!("a record of `{}` (`[...]` or `nil`)", rt.name)
                    };
                    return Err(format!("at byte {pos}: expected {what}"));
                }
            }
        };
        // Attach the finished value to the records around it, closing those it completes.
        loop {
            let Some(top) = stack.last_mut() else {
                skip_ws(&mut pos);
                if pos < b.len() {
                    return Err(format!("at byte {pos}: unexpected text after the value"));
                }
                return Ok(if missing { None } else { w });
            };
            match w {
                Some(word) => top.words.push(word),
                // A record just opened: read its first field, unless it has none.
                None if top.fields.is_empty() => {}
                None => {
                    want = top.fields[0].1;
                    break;
                }
            }
            skip_ws(&mut pos);
            let read = top.words.len() - 1;
            if read < top.fields.len() && w.is_some() {
                if b.get(pos) != Some(&b',') {
                    return Err(format!("at byte {pos}: expected `,`"));
                }
                pos += 1;
                want = top.fields[read].1;
                break;
            }
            if b.get(pos) != Some(&top.close) {
                return Err(format!(
                    "at byte {pos}: expected `{}` after {} field{}",
                    top.close as char,
                    top.fields.len(),
                    if top.fields.len() == 1 { "" } else { "s" }
                ));
            }
            pos += 1;
            let done = stack.pop().map(|f| f.words).unwrap_or_default();
            w = match sink.record(&done)? {
                Some(word) => Some(word),
                None => {
                    missing = true;
                    Some(0)
                }
            };
        }
    }
}

/// A quoted symbol from `pos` (at the opening `"`), escapes processed.
fn quoted(text: &str, pos: &mut usize) -> Result<String, String> {
    let start = *pos;
    let mut out = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                *pos = start + 1 + i + 1;
                return Ok(out);
            }
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, '0')) => out.push('\0'),
                Some((_, c)) => out.push(c),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(format!("at byte {start}: unterminated string"))
}

/// Reads an `unsigned` or a `float` as Souffle reads one from a fact file (`None`: not one, or
/// another type).
pub(crate) fn read_number(ty: Type, text: &str) -> Option<Value> {
    match ty {
        Type::Unsigned => calm_ir::number::parse_unsigned(text).map(Value::Unsigned),
        Type::Float => calm_ir::number::parse_float(text).map(Value::float),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(src: &str) -> Program {
        let parsed = calm_syntax::parse(calm_syntax::FileId(0), src);
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        let (ir, diags) = calm_ir::lower(&parsed.program, calm_syntax::FileId(0));
        assert!(!diags.iter().any(|d| d.is_error()), "{diags:?}");
        ir
    }

    fn round_trip(ir: &Program, rel: &str, text: &str) -> String {
        let ty = ir.relations[ir.relation(rel).unwrap()].types[0];
        let mut it = Interner::default();
        let w = parse(ir, ty, text, &mut it).unwrap().unwrap();
        assert_eq!(parse(ir, ty, text, &mut Lookup(&it)).unwrap(), Some(w));
        let mut out = String::new();
        format_with(ir, &it, ty, w, &mut out, false);
        out
    }

    #[test]
    fn records_and_adts_read_and_write_in_souffles_form() {
        let ir = program(
            ".type L = [h: symbol, t: L]\n.type T = Leaf {} | Node {l: T, v: number, r: T}\n\
             .decl l(x: L)\n.decl t(x: T)\nl(nil). t($Leaf()).\n",
        );
        assert_eq!(round_trip(&ir, "l", "nil"), "nil");
        assert_eq!(
            round_trip(&ir, "l", " [a b, [\"c, d\", nil]] "),
            "[a b, [c, d, nil]]"
        );
        assert_eq!(
            round_trip(&ir, "t", "$Node($Leaf, -3, $Node($Leaf(), 4, $Leaf))"),
            "$Node($Leaf, -3, $Node($Leaf, 4, $Leaf))"
        );
        // A long list is neither read nor written recursively.
        let deep = format!("{}nil{}", "[x, ".repeat(200_000), "]".repeat(200_000));
        assert_eq!(round_trip(&ir, "l", &deep), deep);
    }

    #[test]
    fn malformed_records_are_errors_with_an_offset() {
        let ir = program(
            ".type P = [a: number, b: symbol]\n.type T = A {x: number} | B {}\n\
             .decl p(x: P)\n.decl t(x: T)\np(nil). t($B()).\n",
        );
        let ty = |r: &str| ir.relations[ir.relation(r).unwrap()].types[0];
        for (rel, text, want) in [
            ("p", "[1]", "at byte 2: expected `,`"),
            ("p", "[1, a, b]", "at byte 5: expected `]` after 2 fields"),
            ("p", "[x, a]", "expected a number, found `x`"),
            ("p", "[1, a] x", "unexpected text after the value"),
            ("p", "$A(1)", "expected a record of `P`"),
            ("t", "$C(1)", "`$C` is not a constructor of `T`"),
            ("t", "$A", "`$A` needs 1 argument"),
            ("t", "nil", "expected a value of `T`"),
            ("p", "[1, \"a]", "unterminated string"),
            ("p", "[1, a", "expected `]`"),
        ] {
            let err = parse(&ir, ty(rel), text, &mut DryRun).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
        assert_eq!(end_of("[1, \"],\"], x", 0), Ok(9));
        assert_eq!(end_of(" $B\tx", 0), Ok(3));
        assert!(end_of("[1, 2", 0).is_err());
        assert!(end_of("x", 0).is_err());
    }

    #[test]
    fn a_lookup_interns_nothing() {
        let ir = program(".type P = [a: number, b: symbol]\n.decl p(x: P)\np(nil).\n");
        let ty = ir.relations[0].types[0];
        let mut it = Interner::default();
        parse(&ir, ty, "[1, a]", &mut it).unwrap();
        assert_eq!(parse(&ir, ty, "[1, b]", &mut Lookup(&it)).unwrap(), None);
        assert_eq!(parse(&ir, ty, "[2, a]", &mut Lookup(&it)).unwrap(), None);
        assert!(
            parse(&ir, ty, "[1, a]", &mut Lookup(&it))
                .unwrap()
                .is_some()
        );
    }
}
