//! Merging into lattice columns in the batch evaluator.
//!
//! A relation whose last column is a lattice (`max`, `min`) holds one row per key (the other
//! columns). While a stratum iterates, every row written to such a relation goes through its
//! [`Merge`] first: a row is kept only when its value is strictly above the value held for its
//! key, and then becomes the key's value. So only values that grew reach the relation's indexes
//! and are joined in the next round (semi-naive with merges); rows whose value was overtaken
//! stay in the indexes until the stratum ends, where only rules that read the value
//! monotonically see them (`calm_ir` stratifies every other read after the relation is
//! complete), and everything they derive is overtaken too. When the stratum is complete its
//! indexes are rebuilt from the merge: one row per key, the join of its values.

use crate::emit::WordHasher;
use crate::index::Word;
use crate::value::Interner;
use calm_ir::Lattice;
use std::hash::BuildHasherDefault;

type Hasher = BuildHasherDefault<WordHasher>;

/// The values held per key of one lattice relation.
pub(crate) struct Merge {
    lattice: Lattice,
    /// Key columns (all but the last).
    key_width: usize,
    /// Keys of up to two words, packed.
    small: hashbrown::HashMap<u64, Word, Hasher>,
    /// Longer keys.
    big: hashbrown::HashMap<Box<[Word]>, Word, Hasher>,
}

impl Merge {
    pub fn new(lattice: Lattice, arity: usize) -> Merge {
        Merge {
            lattice,
            key_width: arity.saturating_sub(1),
            small: Default::default(),
            big: Default::default(),
        }
    }

    /// Merges a row (columns in relation order): whether its value is strictly above the one
    /// held for its key, in which case it is now the key's value.
    #[inline]
    pub fn admit(&mut self, row: &[Word], it: &Interner) -> bool {
        let (key, value) = row.split_at(self.key_width);
        let value = value[0];
        let lattice = self.lattice;
        let raises = |held: Word| lattice.above(it.decode(value), it.decode(held));
        if self.key_width <= 2 {
            let packed = match key {
                [] => 0,
                [a] => u64::from(*a),
                [a, b] => (u64::from(*a) << 32) | u64::from(*b),
                _ => unreachable!("key width checked"),
            };
            match self.small.entry(packed) {
                hashbrown::hash_map::Entry::Occupied(mut e) => {
                    if !raises(*e.get()) {
                        return false;
                    }
                    e.insert(value);
                }
                hashbrown::hash_map::Entry::Vacant(e) => {
                    e.insert(value);
                }
            }
            return true;
        }
        match self.big.get_mut(key) {
            Some(held) => {
                if !raises(*held) {
                    return false;
                }
                *held = value;
            }
            None => {
                self.big.insert(key.into(), value);
            }
        }
        true
    }

    /// Every key's row, flat, columns in relation order (unordered).
    pub fn rows(&self) -> Vec<Word> {
        let w = self.key_width + 1;
        let mut out = Vec::with_capacity((self.small.len() + self.big.len()) * w);
        for (&packed, &v) in &self.small {
            match self.key_width {
                0 => {}
                1 => out.push(packed as Word),
                _ => {
                    out.push((packed >> 32) as Word);
                    out.push(packed as Word);
                }
            }
            out.push(v);
        }
        for (k, &v) in &self.big {
            out.extend_from_slice(k);
            out.push(v);
        }
        out
    }
}
