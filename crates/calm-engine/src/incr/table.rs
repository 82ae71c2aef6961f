//! A relation that lives across ticks, and the change a tick made to it.
//!
//! A [`Table`] stores each row once: its words in pages of a per-table row store, addressed by
//! a 32-bit row id (ids of removed rows are reused). A hash set of ids finds a row by its
//! words, hash indexes on column subsets map keys to ids, and a byte per id says whether the
//! row is in the table and which input sources it has (the incremental engine's source bits).
//! Nothing is allocated per row, and every reference to a row is four bytes.

use crate::emit::WordHasher;
use crate::index::Word;
use hashbrown::hash_table::Entry;
use std::hash::{BuildHasherDefault, Hasher as _};
use std::rc::Rc;

/// One row in flight (a delta's, an input's), columns in relation order (a zero-column row is
/// empty).
pub(crate) type Row = Rc<[Word]>;

type Hasher = BuildHasherDefault<WordHasher>;
pub(crate) type Set = hashbrown::HashSet<Row, Hasher>;
pub(crate) type Map<K, V> = hashbrown::HashMap<K, V, Hasher>;

/// A row's place in its table's row store.
type Id = u32;

/// The row is in the table (not only an input whose change is not evaluated yet). The other
/// bits of a row's flags are its input bits, which the incremental engine assigns.
pub(crate) const PRESENT: u8 = 64;

/// Rows per page of a row store (a page is allocated whole once the first one is full, so a
/// store never copies its rows to grow).
const PAGE_ROWS: usize = 4096;

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

/// Whether two rows are equal (word by word: rows are short, a library call costs more).
#[inline]
fn same(a: &[Word], b: &[Word]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

fn hash_words(words: impl Iterator<Item = Word>) -> u64 {
    let mut h = WordHasher::default();
    for w in words {
        h.write_u32(w);
    }
    h.finish()
}

/// The rows of one arity, by id, with a flags byte per id (0: the id is free).
struct Store {
    arity: usize,
    /// Full pages of `PAGE_ROWS` rows, then the one being filled.
    pages: Vec<Vec<Word>>,
    flags: Vec<u8>,
    free: Vec<Id>,
}

impl Store {
    fn new(arity: usize) -> Store {
        Store {
            arity,
            pages: Vec::new(),
            flags: Vec::new(),
            free: Vec::new(),
        }
    }

    #[inline]
    fn row(&self, id: Id) -> &[Word] {
        let a = self.arity;
        if a == 0 {
            return &[];
        }
        let (p, o) = (id as usize / PAGE_ROWS, id as usize % PAGE_ROWS);
        &self.pages[p][o * a..(o + 1) * a]
    }

    /// Stores `row` with `flags` (not 0), reusing a free id if there is one.
    fn add(&mut self, row: &[Word], flags: u8) -> Id {
        debug_assert!(flags != 0 && row.len() == self.arity);
        let a = self.arity;
        if let Some(id) = self.free.pop() {
            if a > 0 {
                let (p, o) = (id as usize / PAGE_ROWS, id as usize % PAGE_ROWS);
                self.pages[p][o * a..(o + 1) * a].copy_from_slice(row);
            }
            self.flags[id as usize] = flags;
            return id;
        }
        let id = Id::try_from(self.flags.len()).expect("a table holds fewer than 2^32 rows");
        if a > 0 {
            if self.pages.last().is_none_or(|p| p.len() == PAGE_ROWS * a) {
                // The first page grows as it fills (most tables are small); later ones are
                // allocated whole.
                let cap = if self.pages.is_empty() {
                    0
                } else {
                    PAGE_ROWS * a
                };
                self.pages.push(Vec::with_capacity(cap));
            }
            self.pages
                .last_mut()
                .expect("a page")
                .extend_from_slice(row);
        }
        self.flags.push(flags);
        id
    }

    /// Frees `id` for reuse.
    fn release(&mut self, id: Id) {
        self.flags[id as usize] = 0;
        self.free.push(id);
    }

    fn reserve(&mut self, n: usize) {
        self.flags.reserve(n.saturating_sub(self.free.len()));
    }

    /// The ids in use.
    fn ids(&self) -> impl Iterator<Item = Id> + '_ {
        self.flags
            .iter()
            .enumerate()
            .filter(|(_, f)| **f != 0)
            .map(|(id, _)| id as Id)
    }
}

/// No list: the key has one row.
const ONE: Id = Id::MAX;

/// The rows of one key: `first`, or all of `lists[list]` (whose first is `first`).
#[derive(Clone, Copy)]
struct Slot {
    first: Id,
    list: Id,
}

fn key_is(cols: &[usize], row: &[Word], key: &[Word]) -> bool {
    cols.iter().zip(key).all(|(&c, &k)| row[c] == k)
}

/// Row ids grouped by the values of some columns. The key is not stored: it is read from the
/// first row of its slot.
pub(crate) struct Index {
    /// The key columns, in key order.
    pub cols: Vec<usize>,
    table: hashbrown::HashTable<Slot>,
    /// The rows of keys with more than one row; `free` lists the unused ones.
    lists: Vec<Vec<Id>>,
    free: Vec<Id>,
}

impl Index {
    fn new(cols: &[usize]) -> Index {
        Index {
            cols: cols.to_vec(),
            table: hashbrown::HashTable::new(),
            lists: Vec::new(),
            free: Vec::new(),
        }
    }

    fn key_hash(&self, row: &[Word]) -> u64 {
        hash_words(self.cols.iter().map(|&c| row[c]))
    }

    fn insert(&mut self, store: &Store, id: Id) {
        let row = store.row(id);
        let h = self.key_hash(row);
        let cols = &self.cols;
        let mut buf = KeyBuf::new();
        let key = buf.key(cols, row);
        match self
            .table
            .find_mut(h, |s| key_is(cols, store.row(s.first), key))
        {
            Some(s) if s.list == ONE => {
                let l = match self.free.pop() {
                    Some(l) => l,
                    None => {
                        self.lists.push(Vec::new());
                        Id::try_from(self.lists.len() - 1).expect("fewer than 2^32 keys")
                    }
                };
                self.lists[l as usize].extend([s.first, id]);
                s.list = l;
            }
            Some(s) => self.lists[s.list as usize].push(id),
            None => {
                self.table.insert_unique(
                    h,
                    Slot {
                        first: id,
                        list: ONE,
                    },
                    |s| hash_words(cols.iter().map(|&c| store.row(s.first)[c])),
                );
            }
        }
    }

    /// Removes `id`, whose row is still in `store`.
    fn remove(&mut self, store: &Store, id: Id) {
        let row = store.row(id);
        let h = self.key_hash(row);
        let cols = &self.cols;
        let mut buf = KeyBuf::new();
        let key = buf.key(cols, row);
        let Ok(mut entry) = self
            .table
            .find_entry(h, |s| key_is(cols, store.row(s.first), key))
        else {
            return;
        };
        let s = entry.get_mut();
        if s.list == ONE {
            if s.first == id {
                entry.remove();
            }
            return;
        }
        let list = &mut self.lists[s.list as usize];
        if let Some(i) = list.iter().position(|&r| r == id) {
            list.swap_remove(i);
        }
        s.first = list[0];
        if list.len() == 1 {
            *list = Vec::new();
            self.free.push(s.list);
            s.list = ONE;
        }
    }

    /// The number of keys and the largest bucket.
    pub fn shape(&self) -> (usize, usize) {
        let max = self
            .table
            .iter()
            .map(|s| self.ids(s).len())
            .max()
            .unwrap_or(0);
        (self.table.len(), max)
    }

    fn ids<'a>(&'a self, s: &'a Slot) -> &'a [Id] {
        if s.list == ONE {
            std::slice::from_ref(&s.first)
        } else {
            &self.lists[s.list as usize]
        }
    }

    /// The ids of the rows whose key columns equal `key`.
    fn get(&self, store: &Store, key: &[Word]) -> &[Id] {
        let h = hash_words(key.iter().copied());
        self.table
            .find(h, |s| key_is(&self.cols, store.row(s.first), key))
            .map_or(&[], |s| self.ids(s))
    }
}

/// The id of `row` in `ids`, or where a new id for it goes: one probe for both.
fn entry<'a>(ids: &'a mut hashbrown::HashTable<Id>, store: &Store, row: &[Word]) -> Entry<'a, Id> {
    ids.entry(
        hash_words(row.iter().copied()),
        |&id| same(store.row(id), row),
        |&i| hash_words(store.row(i).iter().copied()),
    )
}

/// A relation's current rows, their indexes, and the input bits of its rows (a row may have
/// input bits and not be in the table yet, or any more, until its change is evaluated).
pub(crate) struct Table {
    store: Store,
    /// Every id in use, by the row's words.
    ids: hashbrown::HashTable<Id>,
    pub indexes: Vec<Index>,
    /// Rows in the table (flag `PRESENT`).
    len: usize,
}

impl Table {
    pub fn new(arity: usize) -> Table {
        Table {
            store: Store::new(arity),
            ids: hashbrown::HashTable::new(),
            indexes: Vec::new(),
            len: 0,
        }
    }

    fn find(&self, row: &[Word]) -> Option<Id> {
        let h = hash_words(row.iter().copied());
        self.ids
            .find(h, |&id| same(self.store.row(id), row))
            .copied()
    }

    /// Frees a row that is neither in the table nor an input.
    fn drop_id(&mut self, id: Id) {
        let h = hash_words(self.store.row(id).iter().copied());
        if let Ok(e) = self.ids.find_entry(h, |&i| i == id) {
            e.remove();
        }
        self.store.release(id);
    }

    pub fn reserve(&mut self, n: usize) {
        self.store.reserve(n);
        let store = &self.store;
        self.ids
            .reserve(n, |&i| hash_words(store.row(i).iter().copied()));
    }

    /// The index on these key columns, built now if it does not exist; its position.
    pub fn ensure_index(&mut self, cols: &[usize]) -> usize {
        if let Some(i) = self.indexes.iter().position(|ix| ix.cols == cols) {
            return i;
        }
        let mut ix = Index::new(cols);
        // Empty: nothing to rehash.
        ix.table.reserve(self.len, |_| 0);
        for id in self.store.ids() {
            if self.store.flags[id as usize] & PRESENT != 0 {
                ix.insert(&self.store, id);
            }
        }
        self.indexes.push(ix);
        self.indexes.len() - 1
    }

    /// Adds a row; false if it was there.
    pub fn insert(&mut self, row: &[Word]) -> bool {
        let id = match entry(&mut self.ids, &self.store, row) {
            Entry::Occupied(e) => {
                let id = *e.get();
                let f = &mut self.store.flags[id as usize];
                if *f & PRESENT != 0 {
                    return false;
                }
                *f |= PRESENT;
                id
            }
            Entry::Vacant(v) => {
                let id = self.store.add(row, PRESENT);
                v.insert(id);
                id
            }
        };
        for ix in &mut self.indexes {
            ix.insert(&self.store, id);
        }
        self.len += 1;
        true
    }

    /// Removes a row; false if it was not there.
    pub fn remove(&mut self, row: &[Word]) -> bool {
        let Some(id) = self.find(row) else {
            return false;
        };
        if self.store.flags[id as usize] & PRESENT == 0 {
            return false;
        }
        for ix in &mut self.indexes {
            ix.remove(&self.store, id);
        }
        self.len -= 1;
        let f = &mut self.store.flags[id as usize];
        *f &= !PRESENT;
        if *f == 0 {
            self.drop_id(id);
        }
        true
    }

    pub fn contains(&self, row: &[Word]) -> bool {
        self.find(row)
            .is_some_and(|id| self.store.flags[id as usize] & PRESENT != 0)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The rows in the table.
    pub fn iter(&self) -> impl Iterator<Item = &[Word]> + '_ {
        self.store
            .ids()
            .filter(|&id| self.store.flags[id as usize] & PRESENT != 0)
            .map(|id| self.store.row(id))
    }

    /// The rows in the table whose columns of index `ix` equal `key`.
    pub fn lookup<'a>(&'a self, ix: usize, key: &[Word]) -> impl Iterator<Item = &'a [Word]> {
        self.indexes[ix]
            .get(&self.store, key)
            .iter()
            .map(|&id| self.store.row(id))
    }

    /// The input bits of `row` (0: none).
    pub fn input(&self, row: &[Word]) -> u8 {
        self.find(row)
            .map_or(0, |id| self.store.flags[id as usize] & !PRESENT)
    }

    /// Sets the input bits of `row` (`bits` without [`PRESENT`]).
    pub fn set_input(&mut self, row: &[Word], bits: u8) {
        self.update_input(row, |_| bits);
    }

    /// Replaces the input bits of `row` by `f` of them (without [`PRESENT`]); the bits before.
    pub fn update_input(&mut self, row: &[Word], f: impl FnOnce(u8) -> u8) -> u8 {
        match entry(&mut self.ids, &self.store, row) {
            Entry::Occupied(e) => {
                let id = *e.get();
                let flags = &mut self.store.flags[id as usize];
                let was = *flags & !PRESENT;
                let bits = f(was);
                debug_assert!(bits & PRESENT == 0);
                *flags = (*flags & PRESENT) | bits;
                if *flags == 0 {
                    e.remove();
                    self.store.release(id);
                }
                was
            }
            Entry::Vacant(v) => {
                let bits = f(0);
                debug_assert!(bits & PRESENT == 0);
                if bits != 0 {
                    let id = self.store.add(row, bits);
                    v.insert(id);
                }
                0
            }
        }
    }

    /// The rows with input bits, and their bits.
    pub fn inputs(&self) -> impl Iterator<Item = (&[Word], u8)> + '_ {
        self.store.ids().filter_map(|id| {
            let bits = self.store.flags[id as usize] & !PRESENT;
            (bits != 0).then(|| (self.store.row(id), bits))
        })
    }

    /// Bytes held (capacity, not only use): the row store with its flags, the set of ids, the
    /// indexes.
    pub fn bytes(&self) -> (usize, usize, usize) {
        let s = &self.store;
        let store = s.pages.iter().map(|p| p.capacity() * 4).sum::<usize>()
            + s.flags.capacity()
            + s.free.capacity() * 4;
        let ids = table_bytes(self.ids.capacity(), 4);
        let indexes = self
            .indexes
            .iter()
            .map(|ix| {
                table_bytes(ix.table.capacity(), 8)
                    + ix.lists
                        .iter()
                        .map(|l| 24 + l.capacity() * 4)
                        .sum::<usize>()
                    + ix.free.capacity() * 4
            })
            .sum();
        (store, ids, indexes)
    }

    /// Row ids in use (in the table or with input bits) and free ones.
    #[cfg(test)]
    pub fn slots(&self) -> (usize, usize) {
        (
            self.store.flags.len() - self.store.free.len(),
            self.store.free.len(),
        )
    }
}

/// About the bytes of a hash table that has room for `capacity` entries of `size` bytes
/// (buckets are a power of two, at most 7/8 full, with a control byte each).
pub(crate) fn table_bytes(capacity: usize, size: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity * 8 / 7).next_power_of_two();
    buckets * (size + 1)
}

/// Removed rows grouped by one index's key columns.
type MinusIndex = Map<Vec<Word>, Vec<Row>>;

/// What a tick changed in a table so far: rows added and rows removed (never both for one
/// row), with the removed rows indexed like the table once the change is final (for reading the
/// table as it was before the tick).
#[derive(Default)]
pub(crate) struct Delta {
    pub plus: Set,
    pub minus: Set,
    /// Removed rows by the table's index layouts (same positions), built by [`Delta::seal`].
    minus_ix: Vec<MinusIndex>,
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
            let used = set.len();
            if used > 0 {
                set.clear();
            }
            // Ticks of similar size keep the capacity (regrowing costs more than clearing);
            // one much smaller gives most of it back.
            if set.capacity() > 1024 && set.capacity() > 4 * used {
                set.shrink_to(used);
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
            let mut m = MinusIndex::default();
            for row in &self.minus {
                m.entry(ix.cols.iter().map(|&c| row[c]).collect())
                    .or_default()
                    .push(row.clone());
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
            for row in m.get(key).map_or(&[][..], Vec::as_slice) {
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

    fn ids_of(t: &Table, ix: usize, key: &[Word]) -> Vec<Vec<Word>> {
        let mut v: Vec<Vec<Word>> = t.lookup(ix, key).map(<[Word]>::to_vec).collect();
        v.sort();
        v
    }

    #[test]
    fn indexes_follow_inserts_and_removals() {
        let mut t = Table::new(2);
        assert!(t.insert(&[1, 2]));
        assert!(!t.insert(&[1, 2]));
        let ix = t.ensure_index(&[0]);
        assert!(t.insert(&[1, 3]));
        assert!(t.insert(&[2, 3]));
        assert!(t.insert(&[1, 4]));
        assert_eq!(
            ids_of(&t, ix, &[1]),
            vec![vec![1, 2], vec![1, 3], vec![1, 4]]
        );
        assert!(t.remove(&[1, 4]));
        assert_eq!(ids_of(&t, ix, &[1]), vec![vec![1, 2], vec![1, 3]]);
        // The row the key is read from goes: the key is still found.
        assert!(t.remove(&[1, 2]));
        assert!(!t.remove(&[1, 2]));
        assert_eq!(ids_of(&t, ix, &[1]), vec![vec![1, 3]]);
        assert_eq!(ids_of(&t, ix, &[2]), vec![vec![2, 3]]);
        assert!(t.lookup(ix, &[7]).next().is_none());
        assert_eq!(t.len(), 2);
        let mut rows: Vec<&[Word]> = t.iter().collect();
        rows.sort();
        assert_eq!(rows, vec![&[1, 3][..], &[2, 3][..]]);
    }

    #[test]
    fn removed_rows_give_their_ids_to_new_ones() {
        let mut t = Table::new(3);
        let ix = t.ensure_index(&[2]);
        for i in 0..10 {
            assert!(t.insert(&[i, i + 1, i % 2]));
        }
        assert_eq!(t.slots(), (10, 0));
        for i in 0..10 {
            if i % 3 == 0 {
                assert!(t.remove(&[i, i + 1, i % 2]));
            }
        }
        assert_eq!(t.slots(), (6, 4));
        assert_eq!(t.len(), 6);
        // New rows take the freed ids, and are found by their words and their keys.
        for i in 100..104 {
            assert!(t.insert(&[i, i + 1, 5]));
        }
        assert_eq!(t.slots(), (10, 0));
        for i in 100..104 {
            assert!(t.contains(&[i, i + 1, 5]));
        }
        assert!(!t.contains(&[0, 1, 0]));
        assert_eq!(ids_of(&t, ix, &[5]).len(), 4);
        assert_eq!(
            ids_of(&t, ix, &[0]),
            vec![vec![2, 3, 0], vec![4, 5, 0], vec![8, 9, 0]]
        );
        assert_eq!(ids_of(&t, ix, &[1]).len(), 3);
        assert!(t.insert(&[0, 1, 0]));
        assert_eq!(t.slots(), (11, 0));
    }

    #[test]
    fn a_key_with_many_rows_lists_them_and_gives_the_list_back() {
        let mut t = Table::new(2);
        let ix = t.ensure_index(&[0]);
        for k in 0..3 {
            for v in 0..4 {
                t.insert(&[k, v]);
            }
        }
        assert_eq!(t.indexes[ix].shape(), (3, 4));
        assert_eq!(t.indexes[ix].lists.len(), 3);
        for v in 0..3 {
            t.remove(&[0, v]);
        }
        // One row left: the key needs no list, and the next key with two rows reuses it.
        assert_eq!(ids_of(&t, ix, &[0]), vec![vec![0, 3]]);
        assert_eq!(t.indexes[ix].free.len(), 1);
        t.insert(&[9, 0]);
        t.insert(&[9, 1]);
        assert_eq!(t.indexes[ix].lists.len(), 3);
        assert!(t.indexes[ix].free.is_empty());
        assert_eq!(ids_of(&t, ix, &[9]), vec![vec![9, 0], vec![9, 1]]);
        t.remove(&[0, 3]);
        assert!(t.lookup(ix, &[0]).next().is_none());
        assert_eq!(t.indexes[ix].shape(), (3, 4));
    }

    #[test]
    fn input_bits_keep_a_row_that_is_not_in_the_table() {
        let mut t = Table::new(1);
        t.set_input(&[7], 2);
        assert!(!t.contains(&[7]));
        assert_eq!(t.len(), 0);
        assert_eq!(t.input(&[7]), 2);
        assert!(t.insert(&[7]));
        assert!(t.remove(&[7]));
        // Still an input: the row keeps its id.
        assert_eq!(t.input(&[7]), 2);
        assert_eq!(t.slots(), (1, 0));
        t.set_input(&[7], 0);
        assert_eq!(t.slots(), (0, 1));
        assert_eq!(t.input(&[7]), 0);
        assert!(t.insert(&[7]));
        t.set_input(&[7], 1);
        t.set_input(&[7], 0);
        // In the table still, with no input bits.
        assert!(t.contains(&[7]));
        assert_eq!(t.inputs().count(), 0);
        assert_eq!(t.slots(), (1, 0));
    }

    #[test]
    fn zero_column_rows() {
        let mut t = Table::new(0);
        assert!(t.insert(&[]));
        assert!(!t.insert(&[]));
        assert_eq!(t.iter().count(), 1);
        assert!(t.remove(&[]));
        assert!(!t.contains(&[]));
    }

    #[test]
    fn a_store_fills_pages_and_reads_rows_back() {
        let mut t = Table::new(2);
        let n = (2 * PAGE_ROWS + 5) as Word;
        for i in 0..n {
            t.insert(&[i, i * 3]);
        }
        assert_eq!(t.store.pages.len(), 3);
        for i in (0..n).step_by(97) {
            assert!(t.contains(&[i, i * 3]));
            assert!(!t.contains(&[i, i * 3 + 1]));
        }
        assert_eq!(t.len(), n as usize);
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
            let mut t = Table::new(2);
            let ix = t.ensure_index(&[1]);
            let mut d = Delta::default();
            for i in 0..n {
                d.removed(&[i, i % 2][..].into());
            }
            d.seal(&t);
            assert_eq!(d.minus_ix.len(), usize::from(n > SCAN_MINUS as u32));
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
