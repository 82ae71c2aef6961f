//! Merging into lattice columns in the batch evaluator.
//!
//! A relation whose last column is a lattice (`max`, `min`) holds one row per key (the other
//! columns). While a stratum iterates, every row written to such a relation goes through its
//! [`Merge`] instead of its indexes: a row counts only when its value is strictly above the
//! value held for its key, and then becomes the key's value. At the end of each round the keys
//! whose value rose go into the relation's indexes, once each with their value then, and are
//! joined in the next round (semi-naive with merges); rows whose value was overtaken
//! stay in the indexes until the stratum ends, where only rules that read the value
//! monotonically see them (`calm_ir` stratifies every other read after the relation is
//! complete), and everything they derive is overtaken too. When the stratum is complete its
//! indexes are rebuilt from the merge: one row per key, the join of its values.

use crate::index::Word;
use crate::value::Interner;
use calm_ir::Lattice;
use std::hash::BuildHasherDefault;

type Hasher = BuildHasherDefault<KeyHasher>;

/// Hashes keys of words (FxHash steps) and mixes the result (the finaliser of MurmurHash3): a
/// merge's table is large and keyed by small numbers, whose products alone leave the low bits
/// (the bucket) poorly spread. Keys are values of the program's relations, as for
/// `emit::WordHasher`.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// The values held per key of one lattice relation, and the keys whose value rose since the
/// last [`Merge::take_raised`].
pub(crate) struct Merge {
    lattice: Lattice,
    /// Key columns (all but the last).
    key_width: usize,
    /// Keys of up to two words, packed.
    small: Table,
    /// Longer keys.
    big: hashbrown::HashMap<Box<[Word]>, (Word, bool), Hasher>,
    raised_big: Vec<Box<[Word]>>,
}

impl Merge {
    pub fn new(lattice: Lattice, arity: usize) -> Merge {
        Merge {
            lattice,
            key_width: arity.saturating_sub(1),
            small: Table::default(),
            big: Default::default(),
            raised_big: Vec::new(),
        }
    }

    fn pack(key: &[Word]) -> u64 {
        match key {
            [] => 0,
            [a] => u64::from(*a),
            [a, b] => (u64::from(*a) << 32) | u64::from(*b),
            _ => unreachable!("key width checked"),
        }
    }

    fn unpack(&self, packed: u64, out: &mut Vec<Word>) {
        match self.key_width {
            0 => {}
            1 => out.push(packed as Word),
            _ => {
                out.push((packed >> 32) as Word);
                out.push(packed as Word);
            }
        }
    }

    /// Merges a row (columns in relation order): whether its value is strictly above the one
    /// held for its key, in which case it is now the key's value and the key is raised.
    #[inline]
    pub fn admit(&mut self, row: &[Word], it: &Interner) -> bool {
        let (key, value) = row.split_at(self.key_width);
        let value = value[0];
        let lattice = self.lattice;
        let raises = |held: Word| lattice.above(it.decode(value), it.decode(held));
        if self.key_width <= 2 {
            let (slot, fresh) = self.small.entry(Self::pack(key));
            let e = &mut self.small.slots[slot];
            if !fresh && !raises(e.value) {
                return false;
            }
            e.value = value;
            if e.raised == 0 {
                e.raised = 1;
                self.small.raised.push(slot);
            }
            return true;
        }
        match self.big.get_mut(key) {
            Some((held, raised)) => {
                if !raises(*held) {
                    return false;
                }
                *held = value;
                if !*raised {
                    *raised = true;
                    self.raised_big.push(key.into());
                }
            }
            None => {
                self.big.insert(key.into(), (value, true));
                self.raised_big.push(key.into());
            }
        }
        true
    }

    /// The rows of the keys raised since the last call, each once with its value now, flat,
    /// columns in relation order. (A key raised several times in one round is propagated once,
    /// with its largest value.)
    pub fn take_raised(&mut self) -> Vec<Word> {
        let w = self.key_width + 1;
        let mut out = Vec::with_capacity((self.small.raised.len() + self.raised_big.len()) * w);
        for slot in std::mem::take(&mut self.small.raised) {
            let e = &mut self.small.slots[slot];
            e.raised = 0;
            let (packed, v) = (e.key, e.value);
            self.unpack(packed, &mut out);
            out.push(v);
        }
        for key in std::mem::take(&mut self.raised_big) {
            let (v, raised) = self.big.get_mut(&key).expect("a raised key is held");
            *raised = false;
            out.extend_from_slice(&key);
            out.push(*v);
        }
        out
    }

    /// Every key's row, flat, columns in relation order (unordered).
    pub fn rows(&self) -> Vec<Word> {
        let w = self.key_width + 1;
        let mut out = Vec::with_capacity((self.small.len + self.big.len()) * w);
        for e in self.small.slots.iter().filter(|e| e.used != 0) {
            self.unpack(e.key, &mut out);
            out.push(e.value);
        }
        for (k, &(v, _)) in &self.big {
            out.extend_from_slice(k);
            out.push(v);
        }
        out
    }
}

/// One slot of a [`Table`]: 16 bytes, so that a lookup usually touches one cache line.
#[derive(Clone, Copy, Default)]
struct Slot {
    key: u64,
    value: Word,
    /// Whether the slot holds a key (`1`) and whether the key is raised (`1`), in two halves.
    used: u16,
    raised: u16,
}

/// An open-addressing hash table (linear probing, at most half full) from packed keys to a
/// value, for the merges of lattice relations with keys of up to two words: a merge looks up
/// every derived row, in a table as large as the relation, so each lookup is a cache miss or
/// two; this layout makes it one. Slots never move except when the table grows.
#[derive(Default)]
struct Table {
    slots: Vec<Slot>,
    len: usize,
    /// The slots whose key is raised.
    raised: Vec<usize>,
}

impl Table {
    fn hash(key: u64) -> u64 {
        use std::hash::Hasher as _;
        let mut h = KeyHasher::default();
        h.write_u64(key);
        h.finish()
    }

    /// The slot of `key`, inserted (value 0) if absent: its index and whether it is new.
    fn entry(&mut self, key: u64) -> (usize, bool) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = Self::hash(key) as usize & mask;
        loop {
            let e = &mut self.slots[i];
            if e.used == 0 {
                *e = Slot {
                    key,
                    value: 0,
                    used: 1,
                    raised: 0,
                };
                self.len += 1;
                return (i, true);
            }
            if e.key == key {
                return (i, false);
            }
            i = (i + 1) & mask;
        }
    }

    /// Doubles the table (and finds the raised slots again).
    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); cap]);
        let mask = cap - 1;
        for e in old.into_iter().filter(|e| e.used != 0) {
            let mut i = Self::hash(e.key) as usize & mask;
            while self.slots[i].used != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = e;
        }
        self.raised.clear();
        self.raised
            .extend((0..cap).filter(|&i| self.slots[i].raised != 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Rows raised in rounds, across table growth, with short and long keys: each round gives
    /// each raised key once with its best value, and the rows are every key's best value.
    #[test]
    fn merges_keep_the_best_value_and_raise_each_key_once_per_round() {
        let it = Interner::default();
        for (lattice, key_width) in [(Lattice::Min, 2), (Lattice::Max, 0), (Lattice::Max, 3)] {
            let mut m = Merge::new(lattice, key_width + 1);
            let mut best: BTreeMap<Vec<Word>, Word> = BTreeMap::new();
            for round in 0..4u32 {
                let mut raised: BTreeMap<Vec<Word>, Word> = BTreeMap::new();
                for i in 0..3000u32 {
                    let key: Vec<Word> =
                        (0..key_width as u32).map(|c| (i * 7 + c) % 1009).collect();
                    let value = (i * 31 + round * 17) % 500;
                    let mut row = key.clone();
                    row.push(value);
                    let held = best.get(&key).copied();
                    let wins = held.is_none_or(|h| lattice.above(i64::from(value), i64::from(h)));
                    assert_eq!(m.admit(&row, &it), wins, "{row:?} against {held:?}");
                    if wins {
                        best.insert(key.clone(), value);
                        raised.insert(key, value);
                    }
                }
                let rows = m.take_raised();
                let got: Vec<(Vec<Word>, Word)> = rows
                    .chunks_exact(key_width + 1)
                    .map(|r| (r[..key_width].to_vec(), r[key_width]))
                    .collect();
                let mut sorted = got.clone();
                sorted.sort_unstable();
                assert_eq!(sorted.len(), got.len());
                assert_eq!(sorted, raised.into_iter().collect::<Vec<_>>());
            }
            let mut all: Vec<(Vec<Word>, Word)> = m
                .rows()
                .chunks_exact(key_width + 1)
                .map(|r| (r[..key_width].to_vec(), r[key_width]))
                .collect();
            all.sort_unstable();
            assert_eq!(all, best.into_iter().collect::<Vec<_>>());
        }
    }
}
