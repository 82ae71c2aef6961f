//! A relation that lives across ticks: a hash set of rows plus hash indexes on column subsets,
//! all updated in place by inserts and removals, and the change a tick made to it.

use crate::emit::WordHasher;
use crate::index::Word;
use std::hash::BuildHasherDefault;

/// One row, columns in relation order (a zero-column row is empty).
pub(crate) type Row = Box<[Word]>;

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

/// Rows grouped by the values of some columns.
#[derive(Default)]
pub(crate) struct Index {
    /// The key columns, in key order.
    pub cols: Vec<usize>,
    map: Map<Row, Bucket>,
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
}

impl Index {
    fn insert(&mut self, row: &[Word]) {
        let mut buf = KeyBuf::new();
        let key = buf.key(&self.cols, row);
        match self.map.get_mut(key) {
            Some(b) => match b {
                Bucket::One(first) => {
                    let first = std::mem::take(first);
                    *b = Bucket::Many(vec![first, row.into()]);
                }
                Bucket::Many(v) => v.push(row.into()),
            },
            None => {
                self.map.insert(key.into(), Bucket::One(row.into()));
            }
        }
    }

    fn remove(&mut self, row: &[Word]) {
        let mut buf = KeyBuf::new();
        let key = buf.key(&self.cols, row);
        let gone = match self.map.get_mut(key) {
            Some(Bucket::One(r)) => **r == *row,
            Some(Bucket::Many(v)) => {
                if let Some(i) = v.iter().position(|r| **r == *row) {
                    v.swap_remove(i);
                }
                if v.len() == 1 {
                    let last = v.pop().expect("one row");
                    self.map.insert(key.into(), Bucket::One(last));
                }
                v_is_empty(self.map.get(key))
            }
            None => false,
        };
        if gone {
            self.map.remove(key);
        }
    }

    /// The rows whose key columns equal `key`.
    pub fn get(&self, key: &[Word]) -> &[Row] {
        self.map.get(key).map_or(&[], Bucket::rows)
    }
}

fn v_is_empty(b: Option<&Bucket>) -> bool {
    matches!(b, Some(Bucket::Many(v)) if v.is_empty())
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
        let mut ix = Index {
            cols: cols.to_vec(),
            map: Map::default(),
        };
        for row in &self.rows {
            ix.insert(row);
        }
        self.indexes.push(ix);
        self.indexes.len() - 1
    }

    /// Adds a row; false if it was there.
    pub fn insert(&mut self, row: &[Word]) -> bool {
        if self.rows.contains(row) {
            return false;
        }
        for ix in &mut self.indexes {
            ix.insert(row);
        }
        self.rows.insert(row.into());
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

    pub fn clear(&mut self) {
        self.plus.clear();
        self.minus.clear();
        self.minus_ix.clear();
    }

    /// Records that `row` was added to the table.
    pub fn added(&mut self, row: &[Word]) {
        if !self.minus.remove(row) {
            self.plus.insert(row.into());
        }
    }

    /// Records that `row` was removed from the table.
    pub fn removed(&mut self, row: &[Word]) {
        if !self.plus.remove(row) {
            self.minus.insert(row.into());
        }
    }

    /// Indexes the removed rows like `table`, for lookups of the table as it was.
    pub fn seal(&mut self, table: &Table) {
        self.minus_ix.clear();
        if self.minus.len() <= SCAN_MINUS {
            return;
        }
        for ix in &table.indexes {
            let mut m = Index {
                cols: ix.cols.clone(),
                map: Map::default(),
            };
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
        let mut t = Table::new();
        assert!(t.insert(&[1, 2]));
        assert!(!t.insert(&[1, 2]));
        let ix = t.ensure_index(&[0]);
        assert!(t.insert(&[1, 3]));
        assert!(t.insert(&[2, 3]));
        assert_eq!(t.indexes[ix].get(&[1]).len(), 2);
        assert!(t.remove(&[1, 2]));
        assert!(!t.remove(&[1, 2]));
        assert_eq!(&*t.indexes[ix].get(&[1])[0], &[1, 3]);
        assert!(t.indexes[ix].get(&[7]).is_empty());
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_delta_is_net() {
        let mut d = Delta::default();
        d.added(&[1]);
        d.removed(&[1]);
        assert!(d.is_empty());
        d.removed(&[2]);
        d.added(&[2]);
        assert!(d.is_empty());
        d.removed(&[3]);
        assert!(d.minus.contains(&[3][..]));
    }

    #[test]
    fn removed_rows_are_found_by_key_scanned_or_indexed() {
        for n in [3u32, 40] {
            let mut t = Table::new();
            let ix = t.ensure_index(&[1]);
            let mut d = Delta::default();
            for i in 0..n {
                d.removed(&[i, i % 2]);
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
