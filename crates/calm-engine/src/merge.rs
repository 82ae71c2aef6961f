//! Merging into lattice columns in the batch evaluator.
//!
//! A relation whose last column(s) are a lattice value (`max`, `min`, `bool`, `counter`: one
//! number; `lww`: a timestamp, a writer and a value) holds one row per key (the other columns).
//! While a stratum iterates, every row written to such a relation goes to its [`Merge`] instead
//! of its indexes. At the end of each round the merge sorts the round's rows by key, keeps the
//! largest value of each key (after [`Order::normalize`]: a `bool` is 0 or 1, a `counter` at
//! least 0), and merges them with the values it holds (both sorted: one sequential pass, no
//! random lookups in a table as large as the relation); a key whose value rose goes into the
//! relation's indexes, once, with its new value, and is joined in the next round (semi-naive
//! with merges); rows whose value was overtaken stay in the indexes until the stratum ends,
//! where only rules that read the value monotonically see them (`calm_ir` stratifies every
//! other read after the relation is complete), and everything they derive is overtaken too.
//! When the stratum is complete its indexes are rebuilt from the merge: one row per key, the
//! join of its values.

use crate::index::Word;
use crate::value::Interner;
use calm_ir::{Lattice, Type};
use std::cmp::Ordering;

/// The order of one lattice relation's values, shared by both evaluators.
#[derive(Clone, Debug)]
pub(crate) struct Order {
    lattice: Lattice,
    /// The types of an `lww` value's writer and value.
    lww: [Type; 2],
}

impl Order {
    /// The order of the value of a relation with lattice `lattice` and column types `types`.
    pub fn new(lattice: Lattice, types: &[Type]) -> Order {
        let n = types.len();
        let lww = if lattice == Lattice::Lww && n >= 2 {
            [types[n - 2], types[n - 1]]
        } else {
            [Type::Number, Type::Number]
        };
        Order { lattice, lww }
    }

    /// How many columns a value takes.
    pub fn width(&self) -> usize {
        self.lattice.width()
    }

    /// Puts a value in its lattice's normal form (`bool`: 0 or 1, `counter`: at least 0).
    pub fn normalize(&self, value: &mut [Word], it: &Interner) {
        if matches!(self.lattice, Lattice::Bool | Lattice::Counter) {
            let n = it.decode(value[0]);
            let m = self.lattice.normalize(n);
            if m != n {
                // 0 and 1 are stored inline: no interning needed.
                value[0] = it.encoded(m).expect("0 and 1 are inline");
            }
        }
    }

    /// Whether the (normalized) value `a` is strictly above `b`.
    pub fn above(&self, a: &[Word], b: &[Word], it: &Interner) -> bool {
        if self.lattice != Lattice::Lww {
            return self.lattice.above(it.decode(a[0]), it.decode(b[0]));
        }
        let word = |ty: Type, x: Word, y: Word| match ty {
            Type::Symbol => it.resolve(x).cmp(it.resolve(y)),
            _ => it.decode(x).cmp(&it.decode(y)),
        };
        it.decode(a[0])
            .cmp(&it.decode(b[0]))
            .then_with(|| word(self.lww[0], a[1], b[1]))
            .then_with(|| word(self.lww[1], a[2], b[2]))
            == Ordering::Greater
    }
}

/// A value held by a merge: one word, or the three of an `lww` value.
trait Val: Copy + Eq {
    fn of(words: &[Word]) -> Self;
    fn words(&self) -> &[Word];
    fn words_mut(&mut self) -> &mut [Word];
}

impl Val for Word {
    fn of(words: &[Word]) -> Self {
        words[0]
    }
    fn words(&self) -> &[Word] {
        std::slice::from_ref(self)
    }
    fn words_mut(&mut self) -> &mut [Word] {
        std::slice::from_mut(self)
    }
}

impl Val for [Word; 3] {
    fn of(words: &[Word]) -> Self {
        [words[0], words[1], words[2]]
    }
    fn words(&self) -> &[Word] {
        self
    }
    fn words_mut(&mut self) -> &mut [Word] {
        self
    }
}

/// The values held per key of one lattice relation, and the rows offered since the last
/// [`Merge::take_raised`].
pub(crate) struct Merge {
    order: Order,
    /// Key columns (all but the value's).
    key_width: usize,
    store: Store,
}

/// Values by key: short keys packed, longer ones boxed.
enum Store {
    One(Sorted<u64, Word>, Sorted<Box<[Word]>, Word>),
    Three(Sorted<u64, [Word; 3]>, Sorted<Box<[Word]>, [Word; 3]>),
}

/// Values by key, sorted by key, and the offered rows not merged yet.
struct Sorted<K, V> {
    held: Vec<(K, V)>,
    offered: Vec<(K, V)>,
}

impl<K, V> Default for Sorted<K, V> {
    fn default() -> Self {
        Sorted {
            held: Vec::new(),
            offered: Vec::new(),
        }
    }
}

impl<K: Ord + Clone, V: Val> Sorted<K, V> {
    /// Merges the offered rows; calls `raised` with each key whose value rose, and its value.
    fn merge(&mut self, order: &Order, it: &Interner, raised: &mut dyn FnMut(&K, &V)) {
        if self.offered.is_empty() {
            return;
        }
        let above = |a: &V, b: &V| order.above(a.words(), b.words(), it);
        let mut offered = std::mem::take(&mut self.offered);
        offered.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        // The join of each key's offered values.
        let mut best: Vec<(K, V)> = Vec::with_capacity(offered.len());
        for (k, mut v) in offered {
            order.normalize(v.words_mut(), it);
            match best.last_mut() {
                Some((bk, bv)) if *bk == k => {
                    if above(&v, bv) {
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
                raised(&bk, &bv);
                out.push((bk, bv));
            }
            match best.next_if(|(bk, _)| *bk == k) {
                Some((_, bv)) if above(&bv, &v) => {
                    raised(&k, &bv);
                    out.push((k, bv));
                }
                _ => out.push((k, v)),
            }
        }
        for (bk, bv) in best {
            raised(&bk, &bv);
            out.push((bk, bv));
        }
        self.held = out;
    }
}

impl Merge {
    /// An empty merge for a relation with lattice `lattice` and column types `types`.
    pub fn new(lattice: Lattice, types: &[Type]) -> Merge {
        let order = Order::new(lattice, types);
        let store = if order.width() == 3 {
            Store::Three(Sorted::default(), Sorted::default())
        } else {
            Store::One(Sorted::default(), Sorted::default())
        };
        Merge {
            key_width: types.len().saturating_sub(order.width()),
            order,
            store,
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
        let small = self.key_width <= 2;
        match &mut self.store {
            Store::One(s, _) if small => s.offered.push((Self::pack(key), value[0])),
            Store::One(_, b) => b.offered.push((key.into(), value[0])),
            Store::Three(s, _) if small => s.offered.push((Self::pack(key), Val::of(value))),
            Store::Three(_, b) => b.offered.push((key.into(), Val::of(value))),
        }
    }

    /// Merges the rows offered since the last call: returns the rows of the keys whose value
    /// rose (a new key, or a value strictly above the one held), each once with its new value,
    /// flat, columns in relation order, sorted by key.
    pub fn take_raised(&mut self, it: &Interner) -> Vec<Word> {
        let kw = self.key_width;
        let mut out = Vec::new();
        fn both<V: Val>(
            small: &mut Sorted<u64, V>,
            big: &mut Sorted<Box<[Word]>, V>,
            order: &Order,
            kw: usize,
            it: &Interner,
            out: &mut Vec<Word>,
        ) {
            small.merge(order, it, &mut |&k, v| {
                Merge::unpack(kw, k, out);
                out.extend_from_slice(v.words());
            });
            big.merge(order, it, &mut |k, v| {
                out.extend_from_slice(k);
                out.extend_from_slice(v.words());
            });
        }
        match &mut self.store {
            Store::One(s, b) => both(s, b, &self.order, kw, it, &mut out),
            Store::Three(s, b) => both(s, b, &self.order, kw, it, &mut out),
        }
        out
    }

    /// Every key's row, flat, columns in relation order, sorted by key (the rows offered since
    /// the last [`Merge::take_raised`] are not merged yet).
    pub fn rows(&self) -> Vec<Word> {
        fn both<V: Val>(
            small: &Sorted<u64, V>,
            big: &Sorted<Box<[Word]>, V>,
            kw: usize,
            width: usize,
        ) -> Vec<Word> {
            let mut out = Vec::with_capacity((small.held.len() + big.held.len()) * (kw + width));
            for (packed, v) in &small.held {
                Merge::unpack(kw, *packed, &mut out);
                out.extend_from_slice(v.words());
            }
            for (k, v) in &big.held {
                out.extend_from_slice(k);
                out.extend_from_slice(v.words());
            }
            out
        }
        match &self.store {
            Store::One(s, b) => both(s, b, self.key_width, 1),
            Store::Three(s, b) => both(s, b, self.key_width, 3),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// `lww` triples compare timestamp, then writer, then value, symbols by their text and not
    /// by the order they were interned in; `bool` and `counter` values are normalized.
    #[test]
    fn orders_lww_by_text_and_normalizes_bool_and_counter() {
        let mut it = Interner::default();
        let (z, a) = (it.intern("z"), it.intern("a"));
        let n = |it: &mut Interner, x: i64| it.encode(x);
        let lww = Order::new(
            Lattice::Lww,
            &[Type::Symbol, Type::Number, Type::Symbol, Type::Symbol],
        );
        let (t5, t6) = (n(&mut it, 5), n(&mut it, 6));
        assert!(lww.above(&[t5, z, a], &[t5, a, z], &it));
        assert!(!lww.above(&[t5, a, z], &[t5, z, a], &it));
        assert!(lww.above(&[t5, a, z], &[t5, a, a], &it));
        assert!(lww.above(&[t6, a, a], &[t5, z, z], &it));
        assert!(!lww.above(&[t5, a, a], &[t5, a, a], &it));
        let mut m = Merge::new(Lattice::Lww, &[Type::Number, Type::Symbol, Type::Symbol]);
        m.offer(&[t5, a, z]);
        m.offer(&[t5, z, a]);
        assert_eq!(m.take_raised(&it), vec![t5, z, a]);
        for (lattice, given, held) in [
            (Lattice::Bool, 7, 1),
            (Lattice::Bool, 0, 0),
            (Lattice::Counter, -3, 0),
            (Lattice::Counter, 4, 4),
        ] {
            let mut m = Merge::new(lattice, &[Type::Number]);
            m.offer(&[n(&mut it, given)]);
            assert_eq!(
                m.take_raised(&it),
                vec![n(&mut it, held)],
                "{lattice:?} {given}"
            );
        }
    }

    /// Rows offered in rounds, with short and long keys: each round gives each raised key once
    /// with the best value it was offered, and the rows are every key's best value.
    #[test]
    fn merges_keep_the_best_value_and_raise_each_key_once_per_round() {
        let it = Interner::default();
        for (lattice, key_width) in [(Lattice::Min, 2), (Lattice::Max, 0), (Lattice::Max, 3)] {
            let mut m = Merge::new(lattice, &vec![Type::Number; key_width + 1]);
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
