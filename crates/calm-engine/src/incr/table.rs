//! A relation that lives across ticks: a hash set of rows plus hash indexes on column subsets,
//! all updated in place by inserts and removals, and the change a tick made to it.

use crate::emit::WordHasher;
use crate::index::Word;
use std::hash::{BuildHasherDefault, Hasher as _};
use std::rc::Rc;

/// One row, columns in relation order (a zero-column row is empty). Shared: a table, its
/// indexes, the inputs and the deltas hold the same allocation.
pub(crate) type Row = Rc<[Word]>;

type Hasher = BuildHasherDefault<WordHasher>;
pub(crate) type Set = hashbrown::HashSet<Row, Hasher>;
pub(crate) type Map<K, V> = hashbrown::HashMap<K, V, Hasher>;

/// A key built on the stack when it is short.
pub(crate) struct KeyBuf {
    small: [Word; 8],
    big: Vec<Word>,
}

impl KeyBuf {
    pub fn new() -> KeyBuf {
        KeyBuf {
            small: [0; 8],
            big: Vec::new(),
        }
    }

    /// The columns `cols` of `row`.
    pub fn key(&mut self, cols: &[usize], row: &[Word]) -> &[Word] {
        self.fill(cols.iter().map(|&c| row[c]), cols.len())
    }

    /// The `n` words of `words`.
    pub fn fill(&mut self, words: impl Iterator<Item = Word>, n: usize) -> &[Word] {
        if n <= self.small.len() {
            for (slot, w) in self.small.iter_mut().zip(words) {
                *slot = w;
            }
            &self.small[..n]
        } else {
            self.big.clear();
            self.big.extend(words);
            &self.big
        }
    }
}

fn hash_words(words: impl Iterator<Item = Word>) -> u64 {
    let mut h = WordHasher::default();
    for w in words {
        h.write_u32(w);
    }
    h.finish()
}

/// The rows of one key: most keys have one.
enum Bucket {
    One(Row),
    Many(Vec<Row>),
}

impl Bucket {
    fn rows(&self) -> &[Row] {
        match self {
            Bucket::One(r) => std::slice::from_ref(r),
            Bucket::Many(v) => v,
        }
    }

    fn first(&self) -> &Row {
        &self.rows()[0]
    }
}

fn key_is(cols: &[usize], b: &Bucket, key: &[Word]) -> bool {
    let r = b.first();
    cols.iter().zip(key).all(|(&c, &k)| r[c] == k)
}

/// Rows grouped by the values of some columns. The key is not stored: it is read from the
/// first row of its bucket.
#[derive(Default)]
pub(crate) struct Index {
    /// The key columns, in key order.
    pub cols: Vec<usize>,
    table: hashbrown::HashTable<Bucket>,
}

impl Index {
    fn new(cols: &[usize]) -> Index {
        Index {
            cols: cols.to_vec(),
            table: hashbrown::HashTable::new(),
        }
    }

    fn insert(&mut self, row: &Row) {
        let cols = &self.cols;
        let h = hash_words(cols.iter().map(|&c| row[c]));
        let mut buf = KeyBuf::new();
        let key = buf.key(cols, row);
        match self.table.find_mut(h, |b| key_is(cols, b, key)) {
            Some(b) => match b {
                Bucket::One(first) => {
                    let first = first.clone();
                    *b = Bucket::Many(vec![first, row.clone()]);
                }
                Bucket::Many(v) => v.push(row.clone()),
            },
            None => {
                self.table.insert_unique(h, Bucket::One(row.clone()), |b| {
                    hash_words(cols.iter().map(|&c| b.first()[c]))
                });
            }
        }
    }

    fn remove(&mut self, row: &[Word]) {
        let cols = &self.cols;
        let h = hash_words(cols.iter().map(|&c| row[c]));
        let mut buf = KeyBuf::new();
        let key = buf.key(cols, row);
        let Ok(mut entry) = self.table.find_entry(h, |b| key_is(cols, b, key)) else {
            return;
        };
        let gone = match entry.get_mut() {
            Bucket::One(r) => **r == *row,
            b @ Bucket::Many(_) => {
                let Bucket::Many(v) = b else { unreachable!() };
                if let Some(i) = v.iter().position(|r| **r == *row) {
                    v.swap_remove(i);
                }
                if v.len() == 1 {
                    let last = v.pop().expect("one row");
                    *b = Bucket::One(last);
                }
                false
            }
        };
        if gone {
            entry.remove();
        }
    }

    /// The number of keys and the largest bucket.
    pub fn shape(&self) -> (usize, usize) {
        let max = self.table.iter().map(|b| b.rows().len()).max().unwrap_or(0);
        (self.table.len(), max)
    }

    /// The rows whose key columns equal `key`.
    pub fn get(&self, key: &[Word]) -> &[Row] {
        let h = hash_words(key.iter().copied());
        self.table
            .find(h, |b| key_is(&self.cols, b, key))
            .map_or(&[], Bucket::rows)
    }
}

/// A relation's current rows and their indexes.
pub(crate) struct Table {
    pub rows: Set,
    pub indexes: Vec<Index>,
}

impl Table {
    pub fn new() -> Table {
        Table {
            rows: Set::default(),
            indexes: Vec::new(),
        }
    }

    /// The index on these key columns, built now if it does not exist; its position.
    pub fn ensure_index(&mut self, cols: &[usize]) -> usize {
        if let Some(i) = self.indexes.iter().position(|ix| ix.cols == cols) {
            return i;
        }
        let mut ix = Index::new(cols);
        for row in &self.rows {
            ix.insert(row);
        }
        self.indexes.push(ix);
        self.indexes.len() - 1
    }

    /// Adds a row; false if it was there.
    pub fn insert(&mut self, row: &Row) -> bool {
        if self.rows.contains(row) {
            return false;
        }
        for ix in &mut self.indexes {
            ix.insert(row);
        }
        self.rows.insert(row.clone());
        true
    }

    /// Removes a row; false if it was not there.
    pub fn remove(&mut self, row: &[Word]) -> bool {
        if !self.rows.remove(row) {
            return false;
        }
        for ix in &mut self.indexes {
            ix.remove(row);
        }
        true
    }

    pub fn contains(&self, row: &[Word]) -> bool {
        self.rows.contains(row)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }
}

/// What a tick changed in a table so far: rows added and rows removed (never both for one
/// row), with the removed rows indexed like the table once the change is final (for reading the
/// table as it was before the tick).
#[derive(Default)]
pub(crate) struct Delta {
    pub plus: Set,
    pub minus: Set,
    /// Removed rows by the table's index layouts (same positions), built by [`Delta::seal`].
    minus_ix: Vec<Index>,
}

/// Below this many removed rows, a keyed lookup into them scans them all.
const SCAN_MINUS: usize = 16;

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.plus.is_empty() && self.minus.is_empty()
    }

    /// Empties the delta for the next tick; after a large tick it also gives back the memory
    /// (clearing a hash set costs its capacity, and every tick clears every delta).
    pub fn clear(&mut self) {
        for set in [&mut self.plus, &mut self.minus] {
            if !set.is_empty() {
                set.clear();
            }
            if set.capacity() > 1024 {
                set.shrink_to(64);
            }
        }
        self.minus_ix.clear();
    }

    /// Records that `row` was added to the table.
    pub fn added(&mut self, row: &Row) {
        if !self.minus.remove(row) {
            self.plus.insert(row.clone());
        }
    }

    /// Records that `row` was removed from the table.
    pub fn removed(&mut self, row: &Row) {
        if !self.plus.remove(row) {
            self.minus.insert(row.clone());
        }
    }

    /// Indexes the removed rows like `table`, for lookups of the table as it was.
    pub fn seal(&mut self, table: &Table) {
        self.minus_ix.clear();
        if self.minus.len() <= SCAN_MINUS {
            return;
        }
        for ix in &table.indexes {
            let mut m = Index::new(&ix.cols);
            for row in &self.minus {
                m.insert(row);
            }
            self.minus_ix.push(m);
        }
    }

    /// Calls `f` with the removed rows whose columns of index `ix` (of `table`) equal `key`,
    /// until it returns false; false if it did.
    pub fn minus_matching(
        &self,
        table: &Table,
        ix: usize,
        key: &[Word],
        f: &mut dyn FnMut(&[Word]) -> bool,
    ) -> bool {
        if self.minus.is_empty() {
            return true;
        }
        if let Some(m) = self.minus_ix.get(ix) {
            for row in m.get(key) {
                if !f(row) {
                    return false;
                }
            }
            return true;
        }
        let cols = &table.indexes[ix].cols;
        for row in &self.minus {
            if cols.iter().zip(key).all(|(&c, &k)| row[c] == k) && !f(row) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_follow_inserts_and_removals() {
        let r = |a: &[Word]| -> Row { a.into() };
        let mut t = Table::new();
        assert!(t.insert(&r(&[1, 2])));
        assert!(!t.insert(&r(&[1, 2])));
        let ix = t.ensure_index(&[0]);
        assert!(t.insert(&r(&[1, 3])));
        assert!(t.insert(&r(&[2, 3])));
        assert!(t.insert(&r(&[1, 4])));
        assert_eq!(t.indexes[ix].get(&[1]).len(), 3);
        assert!(t.remove(&[1, 4]));
        assert_eq!(t.indexes[ix].get(&[1]).len(), 2);
        assert!(t.remove(&[1, 2]));
        assert!(!t.remove(&[1, 2]));
        assert_eq!(&*t.indexes[ix].get(&[1])[0], &[1, 3]);
        assert!(t.indexes[ix].get(&[7]).is_empty());
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_delta_is_net() {
        let r = |a: &[Word]| -> Row { a.into() };
        let mut d = Delta::default();
        d.added(&r(&[1]));
        d.removed(&r(&[1]));
        assert!(d.is_empty());
        d.removed(&r(&[2]));
        d.added(&r(&[2]));
        assert!(d.is_empty());
        d.removed(&r(&[3]));
        assert!(d.minus.contains(&[3][..]));
    }

    #[test]
    fn removed_rows_are_found_by_key_scanned_or_indexed() {
        for n in [3u32, 40] {
            let mut t = Table::new();
            let ix = t.ensure_index(&[1]);
            let mut d = Delta::default();
            for i in 0..n {
                d.removed(&[i, i % 2][..].into());
            }
            d.seal(&t);
            let mut found = 0;
            d.minus_matching(&t, ix, &[1], &mut |r| {
                assert_eq!(r[1], 1);
                found += 1;
                true
            });
            assert_eq!(found, n / 2);
        }
    }
}
