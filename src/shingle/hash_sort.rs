//! Sorting sets of 64-bit hashes in linear time.
//!
//! Why: `dedup --verify recheck` turns ~7,700 documents of c100 into sorted shingle sets
//! (~450 hashes each) to compute the exact Jaccard of borderline pairs, and the comparison
//! sort was a fifth of that (perf). Shingle hashes are uniform, so one counting pass over
//! their top bits already puts them in order up to buckets of about one element; sorting
//! the whole array by insertion finishes the job (equal values cost no moves). Hashes that
//! are not uniform (a crafted input) exhaust a budget of moves and fall back to
//! `sort_unstable`, so the worst case stays O(n log n).

use std::cell::RefCell;

/// Below this many values the comparison sort is as fast and needs no scratch.
const MIN_LEN: usize = 128;

/// Insertion moves allowed per value before the comparison sort takes over (uniform hashes
/// need about one).
const MOVES_PER_VALUE: usize = 8;

thread_local! {
    /// Bucket counts, reused from call to call.
    static COUNTS: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// `v` sorted and de-duplicated (the same result as `v.sort_unstable(); v.dedup()`).
pub fn sorted_set(mut v: Vec<u64>) -> Vec<u64> {
    if v.len() < MIN_LEN {
        v.sort_unstable();
        v.dedup();
        return v;
    }
    let mut out = Vec::with_capacity(v.len());
    COUNTS.with(|c| match c.try_borrow_mut() {
        Ok(mut counts) => bucket_sort(&v, &mut out, &mut counts),
        Err(_) => bucket_sort(&v, &mut out, &mut Vec::new()),
    });
    out.dedup();
    out
}

/// Sorts `v` into `out` (empty, with capacity for `v`): scatter by the top bits (about one
/// bucket per value), then one insertion pass.
fn bucket_sort(v: &[u64], out: &mut Vec<u64>, counts: &mut Vec<u32>) {
    let n = v.len();
    let bits = (usize::BITS - (n - 1).leading_zeros()).min(20);
    let shift = 64 - bits;
    let buckets = 1usize << bits;
    counts.clear();
    counts.resize(buckets, 0);
    for &x in v {
        counts[(x >> shift) as usize] += 1;
    }
    // Exclusive prefix sums, the running total in a register (a loop reading the previous
    // slot back from memory was most of this function's time).
    let mut start = 0;
    for c in counts.iter_mut() {
        let size = *c;
        *c = start;
        start += size;
    }
    // counts[b] is now the start of bucket b; the scatter advances it to the bucket's end.
    let dst = out.spare_capacity_mut();
    for &x in v {
        let slot = &mut counts[(x >> shift) as usize];
        dst[*slot as usize].write(x);
        *slot += 1;
    }
    // SAFETY: the scatter wrote every one of the first n slots exactly once (the bucket
    // starts are the prefix sums of the bucket sizes, which add up to n).
    unsafe { out.set_len(n) };
    // Buckets hold about one value each, so one insertion pass over the whole array finishes
    // with a few moves per value and no per-bucket branches. Hashes that are not uniform
    // would make it quadratic: past a budget of moves the comparison sort takes over.
    let mut budget = MOVES_PER_VALUE * n;
    for i in 1..n {
        let x = out[i];
        let mut j = i;
        while j > 0 && out[j - 1] > x {
            out[j] = out[j - 1];
            j -= 1;
        }
        out[j] = x;
        budget = match budget.checked_sub(i - j) {
            Some(b) => b,
            None => {
                out.sort_unstable();
                return;
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(mut v: Vec<u64>) -> Vec<u64> {
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn uniform_skewed_and_repeated_values_sort_like_the_comparison_sort() {
        let mix = |i: u64| crate::shingle::fmix64(i.wrapping_add(1));
        let cases: Vec<Vec<u64>> = vec![
            (0..1000).map(mix).collect(),
            // Every value in one bucket (top bits equal): the fallback sort.
            (0..1000).map(|i| mix(i) >> 20).collect(),
            // Many repeats, as a document repeating a paragraph gives.
            (0..3000).map(|i| mix(i % 200)).collect(),
            (0..MIN_LEN as u64).map(mix).collect(),
            vec![u64::MAX; 500],
            (0..600u64).rev().collect(),
        ];
        for v in cases {
            assert_eq!(sorted_set(v.clone()), reference(v));
        }
    }

    proptest! {
        #[test]
        fn always_equals_sort_and_dedup(v in prop::collection::vec(any::<u64>(), 0..2000),
                                        shift in 0u32..64) {
            let v: Vec<u64> = v.into_iter().map(|x| x >> shift).collect();
            prop_assert_eq!(sorted_set(v.clone()), reference(v));
        }
    }
}
