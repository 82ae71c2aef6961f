//! The duplicate filter of an index: the set of rows an index has been given, so that a rule
//! deriving the same row again and again (Andersen's rules derive each fact hundreds of times)
//! drops the copies on the spot instead of buffering, sorting and only then removing them.
//!
//! Two-word rows whose words are small (interned symbols and small numbers usually are) live in
//! a bitmap, one bit per possible row: a probe is one bit test in a table that stays in the
//! cache. Other rows live in a hash table.

use crate::index::{Cols, Word};
use hashbrown::HashTable;

/// Most bits a bitmap may take (8 MiB).
const MAX_DENSE_BITS: u64 = 1 << 26;

/// The set of rows an index has been given.
pub(crate) struct Seen<K: Cols, V: Cols> {
    dense: Option<Dense>,
    /// Rows outside the bitmap (all rows, without one).
    hash: HashTable<(K, V)>,
}

/// A bitmap over `[0, 2^row_bits) × [0, 2^col_bits)`.
struct Dense {
    bits: Vec<u64>,
    row_bits: u32,
    col_bits: u32,
}

impl Dense {
    /// Sets the bit of `(a, b)`; `Some(true)` when it was clear, `None` when `(a, b)` is
    /// outside the bitmap.
    #[inline(always)]
    fn insert(&mut self, a: Word, b: Word) -> Option<bool> {
        if u64::from(a) >> self.row_bits != 0 || u64::from(b) >> self.col_bits != 0 {
            return None;
        }
        let i = (u64::from(a) << self.col_bits) | u64::from(b);
        let word = &mut self.bits[(i >> 6) as usize];
        let mask = 1u64 << (i & 63);
        let new = *word & mask == 0;
        *word |= mask;
        Some(new)
    }
}

/// The two words of a two-word row, whatever the split between key and value.
#[inline(always)]
fn two<K: Cols, V: Cols>(t: &(K, V)) -> Option<(Word, Word)> {
    if !(K::FIXED && V::FIXED) {
        return None;
    }
    let (k, v) = (t.0.as_slice(), t.1.as_slice());
    match (k.len(), v.len()) {
        (2, 0) => Some((k[0], k[1])),
        (1, 1) => Some((k[0], v[0])),
        (0, 2) => Some((v[0], v[1])),
        _ => None,
    }
}

/// Hashes a row (folded multiplies, as foldhash does: every input bit reaches both the high
/// bits hashbrown tags with and the low bits it places by).
#[inline(always)]
fn hash<K: Cols, V: Cols>(t: &(K, V)) -> u64 {
    let mut h: u64 = 0x243f_6a88_85a3_08d3;
    for &w in t.0.as_slice().iter().chain(t.1.as_slice()) {
        let m = u128::from(h ^ u64::from(w)) * 0x9e37_79b9_7f4a_7c15_u128;
        h = (m as u64) ^ ((m >> 64) as u64);
    }
    h
}

/// Bits needed for values up to `max` (rounded up to a power of two).
fn bits_for(max: Word) -> u32 {
    (u64::from(max) + 1).next_power_of_two().trailing_zeros()
}

impl<K: Cols, V: Cols> Seen<K, V> {
    /// A filter holding `rows` (which may repeat), with a bitmap when rows have two words and
    /// they are small enough; then the bitmap covers the largest words seen in `rows` (rounded
    /// up to powers of two), and later rows beyond it go to the hash table. Without a bitmap,
    /// only a hash table if `hash` allows it. `no_bitmap` remembers that the words were too
    /// large, so that the next call skips looking.
    pub(crate) fn new<'a>(
        rows: impl Iterator<Item = &'a (K, V)> + Clone,
        hash: bool,
        no_bitmap: &mut bool,
    ) -> Option<Self> {
        let mut dense = None;
        let mut max = (!*no_bitmap).then_some((0, 0));
        for t in rows.clone() {
            match (two(t), &mut max) {
                (Some((a, b)), Some((ma, mb))) => {
                    *ma = (*ma).max(a);
                    *mb = (*mb).max(b);
                }
                _ => {
                    max = None;
                    break;
                }
            }
        }
        if let Some((ma, mb)) = max {
            let (row_bits, col_bits) = (bits_for(ma), bits_for(mb));
            if row_bits + col_bits <= MAX_DENSE_BITS.trailing_zeros() {
                let words = ((1u64 << (row_bits + col_bits)) / 64).max(1) as usize;
                dense = Some(Dense {
                    bits: vec![0; words],
                    row_bits,
                    col_bits,
                });
            }
        }
        if dense.is_none() {
            *no_bitmap = true;
            if !hash {
                return None;
            }
        }
        let mut seen = Seen {
            dense,
            hash: HashTable::new(),
        };
        for t in rows {
            seen.insert(t);
        }
        Some(seen)
    }

    /// Adds a row; whether it was new.
    #[inline]
    pub(crate) fn insert(&mut self, t: &(K, V)) -> bool {
        if let (Some(d), Some((a, b))) = (&mut self.dense, two(t))
            && let Some(new) = d.insert(a, b)
        {
            return new;
        }
        let h = hash(t);
        if self.hash.find(h, |x| x == t).is_some() {
            return false;
        }
        self.hash.insert_unique(h, t.clone(), hash);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_new_once_inside_and_outside_the_bitmap() {
        let start = [([3], [5]), ([1], [2])];
        let mut no_bitmap = false;
        let mut s: Seen<[Word; 1], [Word; 1]> =
            Seen::new(start.iter(), false, &mut no_bitmap).unwrap();
        assert!(s.dense.is_some() && !no_bitmap);
        assert!(!s.insert(&([3], [5])));
        assert!(s.insert(&([7], [7])));
        assert!(!s.insert(&([7], [7])));
        // Beyond the bitmap: the hash table.
        assert!(s.insert(&([1 << 20], [5])));
        assert!(!s.insert(&([1 << 20], [5])));
        assert!(s.insert(&([3], [u32::MAX])));
        assert!(!s.insert(&([3], [u32::MAX])));
    }

    #[test]
    fn wide_and_large_rows_use_the_hash_table() {
        let start = [([1, 2], [3])];
        let mut no_bitmap = false;
        assert!(Seen::<[Word; 2], [Word; 1]>::new(start.iter(), false, &mut no_bitmap).is_none());
        assert!(no_bitmap);
        let mut s: Seen<[Word; 2], [Word; 1]> =
            Seen::new(start.iter(), true, &mut no_bitmap).unwrap();
        assert!(s.dense.is_none());
        assert!(!s.insert(&([1, 2], [3])));
        assert!(s.insert(&([1, 2], [4])));
        let big = [([u32::MAX - 1], [u32::MAX - 1])];
        let mut no_bitmap = false;
        let s: Seen<[Word; 1], [Word; 1]> = Seen::new(big.iter(), true, &mut no_bitmap).unwrap();
        assert!(s.dense.is_none(), "a bitmap this large is not built");
    }
}
