//! Values as users see them, and the symbol interner that maps them to words.
use crate::index::Word;
use std::collections::HashMap;
use std::fmt;

/// A value in a tuple: a 64-bit signed number or a symbol (string).
///
/// Values order numbers numerically and symbols lexicographically, which is the order
/// `calm run` writes rows in.
///
/// ```
/// use calm_engine::Value;
/// assert!(Value::Number(-1) < Value::Number(2));
/// assert_eq!(Value::Symbol("a".into()).to_string(), "a");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    /// A `number`.
    Number(i64),
    /// A `symbol`.
    Symbol(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(n) => write!(f, "{n}"),
            Value::Symbol(s) => f.write_str(s),
        }
    }
}

/// Maps symbols to dense word ids and back.
#[derive(Clone, Debug, Default)]
pub(crate) struct Interner {
    names: Vec<Box<str>>,
    ids: HashMap<Box<str>, Word>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Word {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as Word;
        self.names.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    pub fn lookup(&self, s: &str) -> Option<Word> {
        self.ids.get(s).copied()
    }

    pub fn resolve(&self, w: Word) -> &str {
        self.names.get(w as usize).map_or("<unknown symbol>", |s| s)
    }
}
