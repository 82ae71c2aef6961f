//! Indexes: a relation (or an intermediate result) stored as a datafrog `Variable<(Key, Val)>`.
//!
//! Rows are fixed-width words. To avoid boxing every row, an index is monomorphised on the widths
//! of its key and value: `[Word; 0..=3]`, or a boxed slice for anything wider. The planner only
//! sees `dyn Index`; joins recover the concrete types by downcasting the other side, so the
//! monomorphised join loops compare and copy plain arrays.

use crate::emit::Emitter;
use crate::seen::Seen;
use datafrog::{Iteration, Relation, Variable};
use std::any::Any;
use std::cell::{Ref, RefCell};

/// A stored value: an interned symbol id, or a number encoded by the interner (inline when it
/// fits in 31 bits).
pub type Word = u32;

/// A fixed-width group of words usable as a datafrog key or value.
pub trait Cols: Ord + Clone + 'static {
    /// Whether the width is fixed by the type (arrays), so rows can be radix-sorted.
    const FIXED: bool;
    /// The words.
    fn as_slice(&self) -> &[Word];
    /// Builds from exactly the right number of words.
    fn from_slice(s: &[Word]) -> Self;
    /// Whether `self` sorts before `other` (as `<`, but for one or two words a single integer
    /// comparison instead of the standard library's word-by-word comparison of arrays).
    #[inline(always)]
    fn before(&self, other: &Self) -> bool {
        self < other
    }
    /// `Ord::cmp`, with the same shortcut as [`Cols::before`].
    #[inline(always)]
    fn order(&self, other: &Self) -> std::cmp::Ordering {
        self.cmp(other)
    }
}

macro_rules! array_cols {
    ($($n:literal),*) => {$(
        impl Cols for [Word; $n] {
            const FIXED: bool = true;
            #[inline(always)]
            fn as_slice(&self) -> &[Word] {
                self
            }
            #[inline(always)]
            fn from_slice(s: &[Word]) -> Self {
                let mut a = [0; $n];
                a.copy_from_slice(&s[..$n]);
                a
            }
            #[inline(always)]
            fn before(&self, other: &Self) -> bool {
                match $n {
                    0..=2 => packed(self) < packed(other),
                    _ => self < other,
                }
            }
            #[inline(always)]
            fn order(&self, other: &Self) -> std::cmp::Ordering {
                match $n {
                    0..=2 => packed(self).cmp(&packed(other)),
                    _ => self.cmp(other),
                }
            }
        }
    )*};
}
array_cols!(0, 1, 2, 3);

/// Up to two words as one number that orders as the words do.
#[inline(always)]
fn packed(words: &[Word]) -> u64 {
    words.iter().fold(0, |acc, &w| (acc << 32) | u64::from(w))
}

/// Columns wider than the fixed-width cases.
pub type Wide = Box<[Word]>;

impl Cols for Wide {
    const FIXED: bool = false;
    fn as_slice(&self) -> &[Word] {
        self
    }
    fn from_slice(s: &[Word]) -> Self {
        s.into()
    }
}

/// Which part of a variable an operation reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Everything (used once, for inputs that are complete before the stratum starts).
    Full,
    /// Only what is new this round, combined with everything older (semi-naive).
    Delta,
}

/// A type-erased index.
pub trait Index {
    /// For downcasting in joins.
    fn as_any(&self) -> &dyn Any;
    /// Key width.
    fn key_width(&self) -> usize;
    /// Adds rows given as flat words, `key_width + val_width` per row (deduplicated by datafrog).
    fn insert_flat(&self, data: &[Word]);
    /// Buffers one row (`key_width + val_width` words) until [`Index::flush`].
    fn push(&self, row: &[Word]);
    /// Buffers rows given as flat words (`key_width + val_width` per row, at least one word)
    /// until [`Index::flush`].
    fn push_flat(&self, data: &[Word]);
    /// Adds the buffered rows.
    fn flush(&self);
    /// Calls the emitter with `(key, val, [])` for each tuple (`Full`: all, `Delta`: recent).
    fn scan(&self, mode: Mode, emit: &mut Emitter<'_>);
    /// Joins with `other` on the key; the emitter gets `(key, self's val, other's val)`, or the
    /// values swapped when `swap` is set.
    fn join(&self, other: &dyn Index, mode: Mode, swap: bool, emit: &mut Emitter<'_>);
    /// Merges all batches into one sorted batch. Call when no more tuples arrive.
    fn finish(&self);
    /// Number of tuples (stable and recent).
    fn len(&self) -> usize;
    /// Whether there are no tuples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Calls `f(val)` for each tuple whose key is `key`, stopping when `f` returns `false`.
    /// Requires `finish` to have been called.
    fn lookup(&self, key: &[Word], f: &mut dyn FnMut(&[Word]) -> bool);
    /// Whether some tuple has this key, starting the search at `*hint` (a position from the
    /// previous call) so that keys asked in ascending order cost a gallop, not a binary search.
    /// Requires `finish` to have been called.
    fn contains_key(&self, key: &[Word], hint: &mut usize) -> bool;
    /// [`Index::contains_key`] for a key of at most two words, given as values: `[k0]` or
    /// `[k0, k1]` (so the caller need not store the key just to have it loaded back).
    fn contains_key2(&self, k0: Word, k1: Word, hint: &mut usize) -> bool;
    /// Calls `f(key, val)` for every tuple.
    fn for_each(&self, f: &mut dyn FnMut(&[Word], &[Word]));
}

/// An index with concrete key and value types.
pub struct Idx<K: Cols, V: Cols> {
    var: Variable<(K, V)>,
    kw: usize,
    vw: usize,
    /// Not part of an iteration: inserted rows go straight to `stable`.
    fixed: bool,
    pending: RefCell<Pending<K, V>>,
}

/// Rows pushed since the last flush, and the duplicate filter once it is on.
struct Pending<K: Cols, V: Cols> {
    rows: Vec<(K, V)>,
    /// How many of `rows` have been through the filter (the others are checked a chunk at a
    /// time: a tight loop of independent probes lets the CPU wait for several cache misses at
    /// once, where one probe per pushed row would wait for each in turn).
    checked: usize,
    /// Every row this index has been given since the filter came on, and the rows it held
    /// then: a pushed row found here is already known and is dropped on the spot, instead of
    /// being buffered, sorted and only then removed. Turned on by [`Idx::flush`] for a variable
    /// of an iteration when a large batch turns out to hold duplicates (see
    /// [`FILTER_MIN_BATCH`]; rules such as Andersen's derive each fact hundreds of times).
    seen: Option<Seen<K, V>>,
    /// The rows' words were found too large for a bitmap (not tried again).
    no_bitmap: bool,
}

/// A batch this large (rows pushed between two flushes) with duplicates in it turns the
/// duplicate filter on when it can be a bitmap, ...
const FILTER_MIN_BATCH: usize = 1 << 16;
/// ... or, as a hash table, when the batch holds this many rows per distinct row.
const HASH_MIN_RATIO: usize = 4;
/// Rows pushed between two passes of the filter.
const FILTER_CHUNK: usize = 2048;

impl<K: Cols, V: Cols> Pending<K, V> {
    /// Runs the rows pushed since the last pass through the filter, keeping the new ones.
    fn filter(&mut self) {
        let Some(seen) = &mut self.seen else { return };
        let mut keep = self.checked;
        for i in self.checked..self.rows.len() {
            if seen.insert(&self.rows[i]) {
                self.rows.swap(keep, i);
                keep += 1;
            }
        }
        self.rows.truncate(keep);
        self.checked = keep;
    }
}

impl<K: Cols, V: Cols> Idx<K, V> {
    fn recent(&self) -> Ref<'_, Relation<(K, V)>> {
        self.var.recent.borrow()
    }
    fn stable(&self) -> Ref<'_, Vec<Relation<(K, V)>>> {
        self.var.stable.borrow()
    }
}

/// Creates an index whose key has `kw` words and value `vw` words. With an iteration, it is a
/// variable of that iteration (it changes as rules fire); without, a fixed relation whose rows
/// are all inserted before use and then `finish`ed.
pub fn new_index(
    kw: usize,
    vw: usize,
    iteration: Option<&mut Iteration>,
    name: &str,
) -> Box<dyn Index> {
    type It<'a> = Option<&'a mut Iteration>;
    fn with_k<K: Cols>(kw: usize, vw: usize, it: It<'_>, name: &str) -> Box<dyn Index> {
        match vw {
            0 => make::<K, [Word; 0]>(kw, vw, it, name),
            1 => make::<K, [Word; 1]>(kw, vw, it, name),
            2 => make::<K, [Word; 2]>(kw, vw, it, name),
            3 => make::<K, [Word; 3]>(kw, vw, it, name),
            _ => make::<K, Wide>(kw, vw, it, name),
        }
    }
    fn make<K: Cols, V: Cols>(kw: usize, vw: usize, it: It<'_>, name: &str) -> Box<dyn Index> {
        let fixed = it.is_none();
        let var = match it {
            Some(it) => it.variable::<(K, V)>(name),
            None => Iteration::new().variable::<(K, V)>(name),
        };
        Box::new(Idx {
            var,
            kw,
            vw,
            fixed,
            pending: RefCell::new(Pending {
                rows: Vec::new(),
                checked: 0,
                seen: None,
                no_bitmap: false,
            }),
        })
    }
    match kw {
        0 => with_k::<[Word; 0]>(kw, vw, iteration, name),
        1 => with_k::<[Word; 1]>(kw, vw, iteration, name),
        2 => with_k::<[Word; 2]>(kw, vw, iteration, name),
        3 => with_k::<[Word; 3]>(kw, vw, iteration, name),
        _ => with_k::<Wide>(kw, vw, iteration, name),
    }
}

/// Sorts rows of fixed-width words: a least-significant-digit radix sort on 16-bit digits for
/// large batches (digits that are equal in every row, such as the high half of small numbers,
/// cost one counting pass and no move), the standard unstable sort otherwise.
fn sort_rows<K: Cols, V: Cols>(rows: &mut Vec<(K, V)>, width: usize) {
    // Joins often emit in order already (a scan of a sorted index, a product of two); the
    // check stops at the first pair out of order.
    if rows.is_sorted() {
        return;
    }
    if !(K::FIXED && V::FIXED) || rows.len() < 1024 || width == 0 {
        rows.sort_unstable();
        return;
    }
    let word = |t: &(K, V), i: usize| -> Word {
        let k = t.0.as_slice();
        if i < k.len() {
            k[i]
        } else {
            t.1.as_slice()[i - k.len()]
        }
    };
    // 11-bit digits: the counters fit in the L1 cache, and numbers below 2048 (common in
    // practice) take one pass per word; passes whose digit is the same in every row are skipped.
    const BITS: u32 = 11;
    const MASK: Word = (1 << BITS) - 1;
    let mut counts = [0usize; 1 << BITS];
    let mut other: Vec<(K, V)> = Vec::new();
    for w in (0..width).rev() {
        for shift in [0, BITS, 2 * BITS] {
            counts.iter_mut().for_each(|c| *c = 0);
            for t in rows.iter() {
                counts[((word(t, w) >> shift) & MASK) as usize] += 1;
            }
            if counts.contains(&rows.len()) {
                continue;
            }
            let mut sum = 0;
            for c in counts.iter_mut() {
                let n = *c;
                *c = sum;
                sum += n;
            }
            if other.len() != rows.len() {
                // Filled once; later passes write every position of it.
                other = rows.clone();
            }
            for t in rows.iter() {
                let d = ((word(t, w) >> shift) & MASK) as usize;
                other[counts[d]] = t.clone();
                counts[d] += 1;
            }
            std::mem::swap(rows, &mut other);
        }
    }
}

/// Sort-merge join of two sorted slices, datafrog style (galloping over non-matching keys).
#[inline]
fn join_sorted<K: Cols, A, B>(mut x: &[(K, A)], mut y: &[(K, B)], mut f: impl FnMut(&K, &A, &B)) {
    use std::cmp::Ordering;
    while let (Some(a), Some(b)) = (x.first(), y.first()) {
        match a.0.order(&b.0) {
            Ordering::Less => x = gallop(x, |t| t.0.before(&b.0)),
            Ordering::Greater => y = gallop(y, |t| t.0.before(&a.0)),
            Ordering::Equal => {
                let nx = x.iter().take_while(|t| t.0 == a.0).count();
                let ny = y.iter().take_while(|t| t.0 == a.0).count();
                for tx in &x[..nx] {
                    for ty in &y[..ny] {
                        f(&tx.0, &tx.1, &ty.1);
                    }
                }
                x = &x[nx..];
                y = &y[ny..];
            }
        }
    }
}

/// Skips the prefix of `s` for which `less` holds (exponential then binary search).
#[inline]
pub(crate) fn gallop<T>(mut s: &[T], mut less: impl FnMut(&T) -> bool) -> &[T] {
    if !s.is_empty() && less(&s[0]) {
        let mut step = 1;
        while step < s.len() && less(&s[step]) {
            s = &s[step..];
            step <<= 1;
        }
        step >>= 1;
        while step > 0 {
            if step < s.len() && less(&s[step]) {
                s = &s[step..];
            }
            step >>= 1;
        }
        s = &s[1..];
    }
    s
}

impl<K: Cols, V: Cols> Idx<K, V> {
    /// Whether some tuple has key `k`; see [`Index::contains_key`].
    #[inline(always)]
    fn contains(&self, k: K, hint: &mut usize) -> bool {
        let stable = self.stable();
        let [batch] = stable.as_slice() else {
            let mut found = false;
            self.lookup(k.as_slice(), &mut |_| {
                found = true;
                false
            });
            return found;
        };
        let n = batch.len();
        let h = (*hint).min(n);
        let pos = if h == 0 || batch[h - 1].0.before(&k) {
            // Everything before the hint is smaller: gallop forward from it.
            n - gallop(&batch[h..], |t| t.0.before(&k)).len()
        } else {
            batch.partition_point(|t| t.0.before(&k))
        };
        *hint = pos;
        pos < batch.len() && batch[pos].0 == k
    }

    /// Turns the duplicate filter on, seeded with the rows held now and `batch`, if it can be
    /// a bitmap or `hash` allows a hash table.
    fn start_filter(&self, batch: &[(K, V)], hash: bool) {
        let stable = self.stable();
        let recent = self.recent();
        let rows = stable
            .iter()
            .flat_map(|b| b.iter())
            .chain(recent.iter())
            .chain(batch);
        let mut p = self.pending.borrow_mut();
        p.seen = Seen::new(rows, hash, &mut p.no_bitmap);
    }

    fn join_typed<V2: Cols>(
        &self,
        other: &Idx<K, V2>,
        mode: Mode,
        swap: bool,
        emit: &mut Emitter<'_>,
    ) {
        let mut f = |k: &K, a: &V, b: &V2| {
            if swap {
                emit.emit(k.as_slice(), b.as_slice(), a.as_slice())
            } else {
                emit.emit(k.as_slice(), a.as_slice(), b.as_slice())
            }
        };
        match mode {
            Mode::Full => {
                for s1 in self.stable().iter() {
                    for s2 in other.stable().iter() {
                        join_sorted(s1, s2, &mut f);
                    }
                }
            }
            Mode::Delta => {
                let r1 = self.recent();
                let r2 = other.recent();
                for s2 in other.stable().iter() {
                    join_sorted(&r1, s2, &mut f);
                }
                for s1 in self.stable().iter() {
                    join_sorted(s1, &r2, &mut f);
                }
                join_sorted(&r1, &r2, &mut f);
            }
        }
    }
}

impl<K: Cols, V: Cols> Index for Idx<K, V> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn key_width(&self) -> usize {
        self.kw
    }

    fn insert_flat(&self, data: &[Word]) {
        let w = self.kw + self.vw;
        if w == 0 {
            if !data.is_empty() {
                self.push(&[]);
            }
        } else if self.pending.borrow().seen.is_some() {
            for r in data.chunks_exact(w) {
                self.push(r);
            }
        } else {
            self.pending.borrow_mut().rows.extend(
                data.chunks_exact(w)
                    .map(|r| (K::from_slice(&r[..self.kw]), V::from_slice(&r[self.kw..]))),
            );
        }
        self.flush();
    }

    #[inline]
    fn push(&self, row: &[Word]) {
        let t = (
            K::from_slice(&row[..self.kw]),
            V::from_slice(&row[self.kw..]),
        );
        let mut p = self.pending.borrow_mut();
        p.rows.push(t);
        if p.seen.is_some() && p.rows.len() - p.checked >= FILTER_CHUNK {
            p.filter();
        }
    }

    fn push_flat(&self, data: &[Word]) {
        let w = self.kw + self.vw;
        if w == 0 {
            // Zero-width rows have no words to count them by; one row stands for any.
            if !data.is_empty() {
                self.push(&[]);
            }
            return;
        }
        let mut p = self.pending.borrow_mut();
        p.rows.extend(
            data.chunks_exact(w)
                .map(|r| (K::from_slice(&r[..self.kw]), V::from_slice(&r[self.kw..]))),
        );
        if p.seen.is_some() && p.rows.len() - p.checked >= FILTER_CHUNK {
            p.filter();
        }
    }

    fn flush(&self) {
        let (mut rows, filtering) = {
            let mut p = self.pending.borrow_mut();
            p.filter();
            p.checked = 0;
            (std::mem::take(&mut p.rows), p.seen.is_some())
        };
        if rows.is_empty() {
            return;
        }
        let pushed = rows.len();
        sort_rows(&mut rows, self.kw + self.vw);
        rows.dedup();
        // Sorted and without repeats, as a relation's elements must be (`Relation::from_vec`
        // would check the order again).
        let relation = Relation { elements: rows };
        if !self.fixed && !filtering && pushed >= FILTER_MIN_BATCH && pushed > relation.len() {
            self.start_filter(&relation, pushed >= HASH_MIN_RATIO * relation.len());
        }
        if self.fixed {
            self.var.stable.borrow_mut().push(relation);
        } else {
            self.var.insert(relation);
        }
    }

    fn scan(&self, mode: Mode, emit: &mut Emitter<'_>) {
        let mut f = |batch: &[(K, V)]| {
            for (k, v) in batch {
                emit.emit(k.as_slice(), v.as_slice(), &[]);
            }
        };
        match mode {
            Mode::Full => {
                for s in self.stable().iter() {
                    f(s);
                }
            }
            Mode::Delta => f(&self.recent()),
        }
    }

    fn join(&self, other: &dyn Index, mode: Mode, swap: bool, emit: &mut Emitter<'_>) {
        let any = other.as_any();
        if let Some(o) = any.downcast_ref::<Idx<K, [Word; 0]>>() {
            self.join_typed(o, mode, swap, emit)
        } else if let Some(o) = any.downcast_ref::<Idx<K, [Word; 1]>>() {
            self.join_typed(o, mode, swap, emit)
        } else if let Some(o) = any.downcast_ref::<Idx<K, [Word; 2]>>() {
            self.join_typed(o, mode, swap, emit)
        } else if let Some(o) = any.downcast_ref::<Idx<K, [Word; 3]>>() {
            self.join_typed(o, mode, swap, emit)
        } else if let Some(o) = any.downcast_ref::<Idx<K, Wide>>() {
            self.join_typed(o, mode, swap, emit)
        } else {
            // The planner gives both sides of a join the same key width; anything else is a
            // planner bug, reported rather than ignored.
            emit.fail_internal("join between indexes with different key types");
        }
    }

    fn finish(&self) {
        self.pending.borrow_mut().seen = None;
        let mut stable = self.var.stable.borrow_mut();
        let mut recent = self.var.recent.borrow_mut();
        let mut batches: Vec<Relation<(K, V)>> = stable.drain(..).collect();
        batches.push(std::mem::replace(&mut *recent, Vec::new().into()));
        batches.retain(|b| !b.is_empty());
        // Always the two smallest first, so that each tuple is copied about log(batches)
        // times, not once per batch after its own.
        while batches.len() > 1 {
            batches.sort_unstable_by_key(|b| std::cmp::Reverse(b.len()));
            let (a, b) = (batches.pop(), batches.pop());
            if let (Some(a), Some(b)) = (a, b) {
                batches.push(a.merge(b));
            }
        }
        stable.push(batches.pop().unwrap_or_else(|| Vec::new().into()));
    }

    fn len(&self) -> usize {
        self.stable().iter().map(|b| b.len()).sum::<usize>() + self.recent().len()
    }

    fn lookup(&self, key: &[Word], f: &mut dyn FnMut(&[Word]) -> bool) {
        let k = K::from_slice(key);
        for batch in self.stable().iter() {
            let start = batch.partition_point(|t| t.0 < k);
            for t in &batch[start..] {
                if t.0 != k {
                    break;
                }
                if !f(t.1.as_slice()) {
                    return;
                }
            }
        }
    }

    fn contains_key(&self, key: &[Word], hint: &mut usize) -> bool {
        self.contains(K::from_slice(key), hint)
    }

    fn contains_key2(&self, k0: Word, k1: Word, hint: &mut usize) -> bool {
        let key = [k0, k1];
        self.contains(K::from_slice(&key[..self.kw.min(2)]), hint)
    }

    fn for_each(&self, f: &mut dyn FnMut(&[Word], &[Word])) {
        for batch in self.stable().iter() {
            for (k, v) in batch.iter() {
                f(k.as_slice(), v.as_slice());
            }
        }
        for (k, v) in self.recent().iter() {
            f(k.as_slice(), v.as_slice());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(kw: usize, vw: usize, rows: &[Word]) -> Box<dyn Index> {
        let idx = new_index(kw, vw, None, "t");
        idx.insert_flat(rows);
        idx.finish();
        idx
    }

    #[test]
    fn contains_key_with_hints_agrees_with_a_scan() {
        let keys: Vec<Word> = (0..200).map(|i| i * 3).collect();
        let rows: Vec<Word> = keys.iter().flat_map(|&k| [k, k + 1]).collect();
        let idx = fixed(1, 1, &rows);
        let mut hint = 0;
        // Ascending, descending and jumping queries, sharing one hint.
        let queries: Vec<Word> = (0..700)
            .chain((0..700).rev())
            .chain([5, 900, 3, 597, 0, 598])
            .collect();
        for q in queries {
            assert_eq!(
                idx.contains_key(&[q], &mut hint),
                q % 3 == 0 && q < 600,
                "key {q}"
            );
        }
    }

    #[test]
    fn radix_sort_orders_rows_like_the_standard_sort() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as Word
        };
        let mut rows: Vec<([Word; 1], [Word; 2])> = (0..5000)
            .map(|i| {
                (
                    [next() % 50],
                    [if i % 3 == 0 { next() } else { next() % 7 }, next()],
                )
            })
            .collect();
        let mut expected = rows.clone();
        expected.sort_unstable();
        sort_rows(&mut rows, 3);
        assert_eq!(rows, expected);
    }

    #[test]
    fn lookup_returns_every_value_of_a_key() {
        let idx = fixed(1, 1, &[1, 10, 1, 11, 2, 20, 1, 10]);
        let mut vals = Vec::new();
        idx.lookup(&[1], &mut |v| {
            vals.push(v[0]);
            true
        });
        assert_eq!(vals, vec![10, 11]);
        assert_eq!(idx.len(), 3, "duplicates are removed");
    }

    #[test]
    fn wide_and_zero_width_indexes_hold_rows() {
        let wide = fixed(4, 5, &(0..18).collect::<Vec<Word>>());
        assert_eq!(wide.len(), 2);
        let mut seen = Vec::new();
        wide.for_each(&mut |k, v| seen.push((k.to_vec(), v.to_vec())));
        assert_eq!(seen[1], (vec![9, 10, 11, 12], vec![13, 14, 15, 16, 17]));
        let unit = fixed(0, 0, &[0, 0]);
        assert_eq!(unit.len(), 1);
    }
}
