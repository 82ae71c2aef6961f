//! Values as users see them, and the symbol interner that maps them to words.
use crate::index::Word;
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;

/// A value in a tuple: a 64-bit signed number, a symbol (string), an unsigned or a float.
///
/// Values order numbers numerically and symbols lexicographically, which is the order
/// `calm run` writes rows in. A float is held canonically (`-0.0` as `0.0`, one NaN): two
/// floats are equal when they are the same number, NaN equals itself and is above every other
/// float ([`calm_ir::number`]).
///
/// ```
/// use calm_engine::Value;
/// assert!(Value::Number(-1) < Value::Number(2));
/// assert_eq!(Value::Symbol("a".into()).to_string(), "a");
/// assert_eq!(Value::float(-0.0), Value::float(0.0));
/// assert_eq!(Value::float(2.5).to_string(), "2.5");
/// ```
#[derive(Clone, Debug)]
pub enum Value {
    /// A `number`.
    Number(i64),
    /// A `symbol`.
    Symbol(String),
    /// An `unsigned`.
    Unsigned(u64),
    /// A `float` (make one with [`Value::float`] to hold it canonically).
    Float(f64),
}

impl Value {
    /// A float value, canonical (`-0.0` is `0.0`, every NaN one NaN).
    pub fn float(f: f64) -> Value {
        Value::Float(calm_ir::number::canonical(f))
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Number(_) => 0,
            Value::Symbol(_) => 1,
            Value::Unsigned(_) => 2,
            Value::Float(_) => 3,
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (Value::Number(a), Value::Number(b)) => a.cmp(b),
            (Value::Symbol(a), Value::Symbol(b)) => a.cmp(b),
            (Value::Unsigned(a), Value::Unsigned(b)) => a.cmp(b),
            (Value::Float(a), Value::Float(b)) => calm_ir::number::float_cmp(*a, *b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            Value::Number(n) => n.hash(state),
            Value::Symbol(s) => s.hash(state),
            Value::Unsigned(u) => u.hash(state),
            Value::Float(f) => calm_ir::number::float_bits(*f).hash(state),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(n) => write!(f, "{n}"),
            Value::Symbol(s) => f.write_str(s),
            Value::Unsigned(u) => write!(f, "{u}"),
            Value::Float(x) => f.write_str(&calm_ir::number::float_text(*x)),
        }
    }
}

/// Maps symbols to dense word ids and back, and numbers to words.
///
/// Words are 32 bits. A number in the 31-bit signed range is stored inline (top bit clear);
/// any other 64-bit number is interned and stored as its index with the top bit set. The
/// encoding is canonical, so equal values have equal words, and joins compare words directly.
///
/// Symbols are stored once, end to end in one string (a symbol is its end offset and the
/// previous one's); the table from text to id holds ids only and hashes with a per-process
/// random key (symbols come from clients).
#[derive(Clone, Debug, Default)]
pub(crate) struct Interner {
    text: String,
    ends: Vec<usize>,
    ids: hashbrown::HashTable<Word>,
    hasher: std::hash::RandomState,
    big: Vec<i64>,
    big_ids: HashMap<i64, Word>,
    /// Compiled `match` patterns, by the symbol holding the pattern (bounded: cleared when full).
    patterns: HashMap<Word, calm_ir::Pattern>,
    /// Records: record `w` (from 1; 0 is `nil`) is `rec_words[rec_ends[w - 2]..rec_ends[w - 1]]`
    /// (its tag, then its fields' words), found again by its words through `rec_ids`.
    rec_words: Vec<Word>,
    rec_ends: Vec<usize>,
    rec_ids: hashbrown::HashTable<Word>,
}

/// The words of record `w` in a record store (`None` for `nil` or an unknown id).
fn record_words<'a>(words: &'a [Word], ends: &[usize], w: Word) -> Option<&'a [Word]> {
    let i = (w as usize).checked_sub(1)?;
    let end = *ends.get(i)?;
    let start = if i == 0 { 0 } else { ends[i - 1] };
    words.get(start..end)
}

/// Most compiled `match` patterns kept at once.
const MAX_PATTERNS: usize = 1024;

/// Symbol `w` of the text `text` whose symbols end at `ends`.
fn symbol<'a>(text: &'a str, ends: &[usize], w: Word) -> Option<&'a str> {
    let i = w as usize;
    let end = *ends.get(i)?;
    let start = if i == 0 { 0 } else { ends[i - 1] };
    text.get(start..end)
}

const TAG: Word = 1 << 31;
const INLINE_MIN: i64 = -(1 << 30);
const INLINE_MAX: i64 = (1 << 30) - 1;

impl Interner {
    /// The word for a number.
    #[inline]
    pub fn encode(&mut self, n: i64) -> Word {
        if (INLINE_MIN..=INLINE_MAX).contains(&n) {
            (n as Word) & !TAG
        } else {
            if let Some(&w) = self.big_ids.get(&n) {
                return w;
            }
            let w = TAG | self.big.len() as Word;
            self.big.push(n);
            self.big_ids.insert(n, w);
            w
        }
    }

    /// The word a number already has, without interning it (`None`: no stored value has it).
    pub fn encoded(&self, n: i64) -> Option<Word> {
        if (INLINE_MIN..=INLINE_MAX).contains(&n) {
            Some((n as Word) & !TAG)
        } else {
            self.big_ids.get(&n).copied()
        }
    }

    /// The id of a symbol already interned.
    pub fn lookup(&self, s: &str) -> Option<Word> {
        let h = self.hasher.hash_one(s);
        self.ids
            .find(h, |&w| symbol(&self.text, &self.ends, w) == Some(s))
            .copied()
    }

    /// The number a word stands for.
    #[inline]
    pub fn decode(&self, w: Word) -> i64 {
        if w & TAG == 0 {
            (((w << 1) as i32) >> 1) as i64
        } else {
            self.big.get((w & !TAG) as usize).copied().unwrap_or(0)
        }
    }

    pub fn intern(&mut self, s: &str) -> Word {
        if let Some(id) = self.lookup(s) {
            return id;
        }
        let id = self.ends.len() as Word;
        self.text.push_str(s);
        self.ends.push(self.text.len());
        let (text, ends, hasher) = (&self.text, &self.ends, &self.hasher);
        self.ids.insert_unique(hasher.hash_one(s), id, |&w| {
            hasher.hash_one(symbol(text, ends, w).unwrap_or_default())
        });
        id
    }

    /// About the bytes held: the text, the symbols' ends, the table from text to id, the
    /// records.
    pub fn bytes(&self) -> usize {
        self.text.capacity()
            + self.ends.capacity() * std::mem::size_of::<usize>()
            + crate::incr::table_bytes(self.ids.capacity(), 4)
            + self.big.capacity() * 8
            + self.rec_words.capacity() * 4
            + self.rec_ends.capacity() * std::mem::size_of::<usize>()
            + crate::incr::table_bytes(self.rec_ids.capacity(), 4)
    }

    /// The word of the record whose tag and fields' words are `words`, interned.
    pub fn intern_record(&mut self, words: &[Word]) -> Result<Word, &'static str> {
        if let Some(w) = self.lookup_record(words) {
            return Ok(w);
        }
        let id = Word::try_from(self.rec_ends.len() + 1).map_err(|_| "too many records")?;
        if id == Word::MAX {
            return Err("too many records");
        }
        self.rec_words.extend_from_slice(words);
        self.rec_ends.push(self.rec_words.len());
        let (rw, re, hasher) = (&self.rec_words, &self.rec_ends, &self.hasher);
        self.rec_ids
            .insert_unique(hasher.hash_one(words), id, |&w| {
                hasher.hash_one(record_words(rw, re, w).unwrap_or_default())
            });
        Ok(id)
    }

    /// The word of a record already interned (`None`: no value holds it).
    pub fn lookup_record(&self, words: &[Word]) -> Option<Word> {
        let h = self.hasher.hash_one(words);
        self.rec_ids
            .find(h, |&w| {
                record_words(&self.rec_words, &self.rec_ends, w) == Some(words)
            })
            .copied()
    }

    /// The tag and fields' words of record `w` (`None` for `nil`).
    #[inline]
    pub fn record(&self, w: Word) -> Option<&[Word]> {
        record_words(&self.rec_words, &self.rec_ends, w)
    }

    /// The word of a constant of the program. Cannot fail: a source text is at most
    /// `calm_syntax::MAX_SOURCE_LEN` bytes (64 MiB), far fewer records than the 2³² ids.
    pub fn const_word(&mut self, c: &calm_ir::Const) -> Word {
        self.konst(c).unwrap_or(0)
    }

    /// The word of a constant (a record's parts are interned).
    pub fn konst(&mut self, c: &calm_ir::Const) -> Result<Word, &'static str> {
        use calm_ir::Const;
        Ok(match c {
            Const::Number(n) | Const::Float(n) => self.encode(*n),
            Const::Unsigned(u) => self.encode(*u as i64),
            Const::Symbol(s) => self.intern(s),
            Const::Nil => 0,
            Const::Record(ctor, fields) => {
                let mut words = Vec::with_capacity(fields.len() + 1);
                words.push(ctor.tag() as Word);
                for f in fields {
                    words.push(self.konst(f)?);
                }
                self.intern_record(&words)?
            }
        })
    }

    pub fn resolve(&self, w: Word) -> &str {
        symbol(&self.text, &self.ends, w).unwrap_or("<unknown symbol>")
    }

    /// Whether the regular expression in symbol `pattern` matches all of symbol `s` (Souffle's
    /// `match`). A pattern is compiled once and kept.
    pub fn regex_match(&mut self, pattern: Word, s: Word) -> Result<bool, &'static str> {
        if !self.patterns.contains_key(&pattern) {
            let p = calm_ir::Pattern::new(self.resolve(pattern))
                .map_err(|_| "invalid regular expression in `match`")?;
            if self.patterns.len() >= MAX_PATTERNS {
                self.patterns.clear();
            }
            self.patterns.insert(pattern, p);
        }
        let p = self
            .patterns
            .get(&pattern)
            .ok_or("invalid regular expression in `match`")?;
        Ok(p.matches(symbol(&self.text, &self.ends, s).unwrap_or("")))
    }

    /// Whether symbol `sub` is a substring of symbol `s` (Souffle's `contains`).
    pub fn contains(&self, sub: Word, s: Word) -> bool {
        self.resolve(s).contains(self.resolve(sub))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_encode_canonically() {
        let mut it = Interner::default();
        for n in [
            0,
            1,
            -1,
            INLINE_MIN,
            INLINE_MAX,
            INLINE_MIN - 1,
            INLINE_MAX + 1,
            i64::MIN,
            i64::MAX,
            1 << 40,
        ] {
            let w = it.encode(n);
            assert_eq!(it.decode(w), n, "{n}");
            assert_eq!(it.encode(n), w, "{n} encodes the same twice");
        }
        assert_ne!(it.encode(INLINE_MAX + 1), it.encode(INLINE_MAX + 2));
    }
}
