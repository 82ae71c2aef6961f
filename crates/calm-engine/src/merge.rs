//! Merging into lattice columns in the batch evaluator.
//!
//! A relation whose last column is a lattice (`max`, `min`) holds one row per key (the other
//! columns). While a stratum iterates, every row written to such a relation goes to its
//! [`Merge`] instead of its indexes. At the end of each round the merge sorts the round's rows by
//! key, keeps the largest value of each key, and merges them with the values it holds (both
//! sorted: one sequential pass, no random lookups in a table as large as the relation); a key
//! whose value rose goes into the relation's indexes, once, with its new value, and is joined
//! in the next round (semi-naive with merges); rows whose value was overtaken
//! stay in the indexes until the stratum ends, where only rules that read the value
//! monotonically see them (`calm_ir` stratifies every other read after the relation is
//! complete), and everything they derive is overtaken too. When the stratum is complete its
//! indexes are rebuilt from the merge: one row per key, the join of its values.

use crate::index::Word;
use crate::value::Interner;
use calm_ir::Lattice;

/// The values held per key of one lattice relation, and the rows offered since the last
/// [`Merge::take_raised`].
pub(crate) struct Merge {
    lattice: Lattice,
    /// Key columns (all but the last).
    key_width: usize,
    /// Keys of up to two words, packed.
    small: Sorted<u64>,
    /// Longer keys.
    big: Sorted<Box<[Word]>>,
}

/// Values by key, sorted by key, and the offered rows not merged yet.
struct Sorted<K> {
    held: Vec<(K, Word)>,
    offered: Vec<(K, Word)>,
}

impl<K> Default for Sorted<K> {
    fn default() -> Self {
        Sorted {
            held: Vec::new(),
            offered: Vec::new(),
        }
    }
}

impl<K: Ord + Clone> Sorted<K> {
    /// Merges the offered rows; calls `raised` with each key whose value rose, and its value.
    fn merge(&mut self, l: Lattice, it: &Interner, raised: &mut dyn FnMut(&K, Word)) {
        if self.offered.is_empty() {
            return;
        }
        let above = |a: Word, b: Word| l.above(it.decode(a), it.decode(b));
        let mut offered = std::mem::take(&mut self.offered);
        offered.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        // The join of each key's offered values.
        let mut best: Vec<(K, Word)> = Vec::with_capacity(offered.len());
        for (k, v) in offered {
            match best.last_mut() {
                Some((bk, bv)) if *bk == k => {
                    if above(v, *bv) {
                        *bv = v;
                    }
                }
                _ => best.push((k, v)),
            }
        }
        let held = std::mem::take(&mut self.held);
        let mut out = Vec::with_capacity(held.len() + best.len());
        let mut best = best.into_iter().peekable();
        for (k, v) in held {
            while let Some((bk, bv)) = best.next_if(|(bk, _)| *bk < k) {
                raised(&bk, bv);
                out.push((bk, bv));
            }
            match best.next_if(|(bk, _)| *bk == k) {
                Some((_, bv)) if above(bv, v) => {
                    raised(&k, bv);
                    out.push((k, bv));
                }
                _ => out.push((k, v)),
            }
        }
        for (bk, bv) in best {
            raised(&bk, bv);
            out.push((bk, bv));
        }
        self.held = out;
    }
}

impl Merge {
    pub fn new(lattice: Lattice, arity: usize) -> Merge {
        Merge {
            lattice,
            key_width: arity.saturating_sub(1),
            small: Sorted::default(),
            big: Sorted::default(),
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

    fn unpack(key_width: usize, packed: u64, out: &mut Vec<Word>) {
        match key_width {
            0 => {}
            1 => out.push(packed as Word),
            _ => {
                out.push((packed >> 32) as Word);
                out.push(packed as Word);
            }
        }
    }

    /// Offers a row (columns in relation order) to the merge.
    #[inline]
    pub fn offer(&mut self, row: &[Word]) {
        let (key, value) = row.split_at(self.key_width);
        if self.key_width <= 2 {
            self.small.offered.push((Self::pack(key), value[0]));
        } else {
            self.big.offered.push((key.into(), value[0]));
        }
    }

    /// Merges the rows offered since the last call: returns the rows of the keys whose value
    /// rose (a new key, or a value strictly above the one held), each once with its new value,
    /// flat, columns in relation order, sorted by key.
    pub fn take_raised(&mut self, it: &Interner) -> Vec<Word> {
        let (l, kw) = (self.lattice, self.key_width);
        let mut out = Vec::new();
        self.small.merge(l, it, &mut |&k, v| {
            Self::unpack(kw, k, &mut out);
            out.push(v);
        });
        self.big.merge(l, it, &mut |k, v| {
            out.extend_from_slice(k);
            out.push(v);
        });
        out
    }

    /// Every key's row, flat, columns in relation order, sorted by key (the rows offered since
    /// the last [`Merge::take_raised`] are not merged yet).
    pub fn rows(&self) -> Vec<Word> {
        let w = self.key_width + 1;
        let mut out = Vec::with_capacity((self.small.held.len() + self.big.held.len()) * w);
        for &(packed, v) in &self.small.held {
            Self::unpack(self.key_width, packed, &mut out);
            out.push(v);
        }
        for (k, v) in &self.big.held {
            out.extend_from_slice(k);
            out.push(*v);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Rows offered in rounds, with short and long keys: each round gives each raised key once
    /// with the best value it was offered, and the rows are every key's best value.
    #[test]
    fn merges_keep_the_best_value_and_raise_each_key_once_per_round() {
        let it = Interner::default();
        for (lattice, key_width) in [(Lattice::Min, 2), (Lattice::Max, 0), (Lattice::Max, 3)] {
            let mut m = Merge::new(lattice, key_width + 1);
            let mut best: BTreeMap<Vec<Word>, Word> = BTreeMap::new();
            for round in 0..4u32 {
                let mut offered: BTreeMap<Vec<Word>, Word> = BTreeMap::new();
                for i in 0..3000u32 {
                    let key: Vec<Word> =
                        (0..key_width as u32).map(|c| (i * 7 + c) % 1009).collect();
                    let value = (i * 31 + round * 17) % 500;
                    let mut row = key.clone();
                    row.push(value);
                    m.offer(&row);
                    let o = offered.entry(key).or_insert(value);
                    if lattice.above(i64::from(value), i64::from(*o)) {
                        *o = value;
                    }
                }
                let mut raised: BTreeMap<Vec<Word>, Word> = BTreeMap::new();
                for (k, v) in offered {
                    let held = best.get(&k).copied();
                    if held.is_none_or(|h| lattice.above(i64::from(v), i64::from(h))) {
                        best.insert(k.clone(), v);
                        raised.insert(k, v);
                    }
                }
                let got: Vec<(Vec<Word>, Word)> = m
                    .take_raised(&it)
                    .chunks_exact(key_width + 1)
                    .map(|r| (r[..key_width].to_vec(), r[key_width]))
                    .collect();
                assert_eq!(got, raised.into_iter().collect::<Vec<_>>());
            }
            let all: Vec<(Vec<Word>, Word)> = m
                .rows()
                .chunks_exact(key_width + 1)
                .map(|r| (r[..key_width].to_vec(), r[key_width]))
                .collect();
            assert_eq!(all, best.into_iter().collect::<Vec<_>>());
        }
    }
}
