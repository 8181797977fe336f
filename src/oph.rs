//! One-permutation hashing (OPH) with optimal densification: a K-lane Jaccard sketch at O(1)
//! per shingle, the sketch `dupsift dedup` uses by default.
//!
//! Classic MinHash ([`crate::minhash`]) computes K hash functions of every shingle, so a
//! signature costs K lane updates per shingle. OPH hashes a shingle once: the high bits of the
//! hash pick one of K bins, the low 32 bits are the value, and each bin keeps its minimum
//! (Li, Owen, Zhang 2012). For a set much larger than K every bin is filled and the fraction of
//! equal bins of two sketches estimates Jaccard with variance at most MinHash's (the bins are a
//! sample without replacement).
//!
//! A set with fewer shingles than bins leaves bins empty; two sketches whose empty bins differ
//! cannot be compared bin by bin. Optimal densification (Shrivastava 2017) fills every empty bin
//! `i` from the first non-empty bin of a pseudo-random probe sequence `p(i, 1), p(i, 2), ...`
//! that is the same for every document, so a densified bin of two documents copies "the same"
//! bin and still collides with probability ~J, and the probes of different bins are
//! independent (unlike rotation densification, which copies neighbours and correlates LSH
//! bands). The estimate stays unbiased. Measured in `tests/properties.rs` in units of
//! MinHash's standard error sqrt(J(1-J)/K): with at least K/2 bins filled (~90+ shingles)
//! the spread is 0.85-1.0 (a larger set is sampled without replacement; a set a little
//! larger than K/2 is seen almost whole), but sparser sketches copy few values many times
//! and spread 1.1-1.5, with outliers at a handful of shingles. So [`OnePermHasher::sign_into`]
//! returns the number of bins it filled, and dedup keeps MinHash's recheck window for dense
//! sketches and verifies every candidate pair with a sparse one exactly (cheap: such a
//! document is short).
//!
//! The sketch has the shape of a MinHash signature (K `u32` lanes, `u32::MAX` everywhere for an
//! empty set), so LSH banding, [`crate::minhash::estimate_jaccard`] and dedup's signature file
//! work on it unchanged, but its lanes are not comparable with MinHash lanes: the signature
//! file records which sketch made them.

use crate::shingle::fmix64;

/// The value of an empty bin (and of every lane of an empty set's sketch); a real value is
/// clamped below it.
const EMPTY: u32 = u32::MAX;

/// A K-bin one-permutation sketch derived from one seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnePermHasher {
    num_perm: usize,
    seed: u64,
    /// Xored into every shingle before mixing, so the sketch depends on the seed even for
    /// shingle values that do not.
    key: u64,
    /// The first [`PROBES`] targets of every bin's probe sequence, bin after bin: densifying
    /// a short text probes a few times per empty bin, and a table lookup is cheaper than the
    /// hash (densification was twice the cost of the bin updates on c100 without it).
    probes: Vec<u32>,
}

/// Probe targets per bin kept in [`OnePermHasher::probes`]; later ones are computed.
const PROBES: usize = 16;

impl OnePermHasher {
    /// `num_perm` bins (>= 1) from `seed`.
    pub fn new(num_perm: usize, seed: u64) -> Self {
        let num_perm = num_perm.max(1);
        let key = fmix64(seed ^ 0x4f50_4844_656e_7365); // "OPHDense"
        let probes = (0..num_perm)
            .flat_map(|i| {
                (1..=PROBES as u64).map(move |a| probe_target(key, num_perm, i, a) as u32)
            })
            .collect();
        OnePermHasher {
            num_perm,
            seed,
            key,
            probes,
        }
    }

    /// Number of bins K.
    pub fn num_perm(&self) -> usize {
        self.num_perm
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Writes the densified sketch of `shingles` (duplicates do not matter) into `out`
    /// (length K) and returns the number of bins filled before densification (0 for an empty
    /// set, whose sketch is all `u32::MAX` and matches nothing).
    ///
    /// # Panics
    /// When `out.len() != K`.
    pub fn sign_into(&self, shingles: &[u64], out: &mut [u32]) -> u32 {
        assert_eq!(out.len(), self.num_perm, "signature buffer length");
        out.fill(EMPTY);
        for &s in shingles {
            self.update(out, s);
        }
        self.densify(out)
    }

    /// Adds one shingle to a sketch being built: `out` (length K) starts all `u32::MAX`, takes
    /// [`OnePermHasher::update`] for every shingle, then [`OnePermHasher::densify`]; the
    /// result is [`OnePermHasher::sign_into`]'s. For callers that make shingles on the fly.
    #[inline(always)]
    pub fn update(&self, out: &mut [u32], shingle: u64) {
        let (bin, value) = self.bin_value(shingle);
        let slot = &mut out[bin];
        *slot = (*slot).min(value);
    }

    /// Bin and value of one shingle: a full 64-bit mix, the high half scaled to `0..K`
    /// (multiply-shift, no division), the low half the value.
    #[inline(always)]
    pub fn bin_value(&self, shingle: u64) -> (usize, u32) {
        let h = fmix64(shingle ^ self.key);
        let bin = ((h >> 32) * self.num_perm as u64) >> 32;
        (bin as usize, (h as u32).min(EMPTY - 1))
    }

    /// Fills the empty bins of `out` by optimal densification and returns the number of bins
    /// that were filled before.
    pub fn densify(&self, out: &mut [u32]) -> u32 {
        let k = out.len();
        // Probes must only land on originally filled bins: a bitmap of them, taken before
        // writing (on the stack up to 1024 bins), 64 bins per word.
        let words = k.div_ceil(64);
        let (mut stack, mut heap) = ([0u64; 16], Vec::new());
        let bits: &mut [u64] = if words <= stack.len() {
            &mut stack[..words]
        } else {
            heap.resize(words, 0);
            &mut heap
        };
        for (word, chunk) in bits.iter_mut().zip(out.chunks(64)) {
            *word = chunk
                .iter()
                .enumerate()
                .fold(0, |m, (i, &v)| m | u64::from(v != EMPTY) << i);
        }
        let filled = bits.iter().map(|w| w.count_ones() as usize).sum::<usize>();
        if filled == 0 || filled == k {
            return filled as u32;
        }
        let bits = &*bits;
        let is_filled = |j: usize| bits[j / 64] >> (j % 64) & 1 == 1;
        for (w, &word) in bits.iter().enumerate() {
            let valid = if (w + 1) * 64 <= k {
                u64::MAX
            } else {
                (1u64 << (k % 64)) - 1
            };
            let mut empty = !word & valid;
            while empty != 0 {
                let i = w * 64 + empty.trailing_zeros() as usize;
                empty &= empty - 1;
                let table = &self.probes[i * PROBES..(i + 1) * PROBES];
                let j = match table.iter().find(|&&j| is_filled(j as usize)) {
                    Some(&j) => j as usize,
                    None => self.probe_on(i, &is_filled),
                };
                out[i] = out[j];
            }
        }
        filled as u32
    }

    /// The first filled bin of empty bin `i`'s probe sequence beyond the table. The sequence
    /// is a function of (seed, i) only, so it is the same for every document. After `64 K`
    /// probes (probability < e^-64 with one filled bin) it falls back to the next filled bin
    /// in order, which is also the same for every document with the same filled bins.
    fn probe_on(&self, i: usize, filled: &impl Fn(usize) -> bool) -> usize {
        let k = self.num_perm;
        (PROBES as u64 + 1..=64 * k as u64)
            .map(|a| probe_target(self.key, k, i, a))
            .find(|&j| filled(j))
            .or_else(|| (1..k).map(|d| (i + d) % k).find(|&j| filled(j)))
            .expect("at least one filled bin")
    }
}

/// Target of probe `attempt` (from 1) of bin `i` among `k` bins.
#[inline]
fn probe_target(key: u64, k: usize, i: usize, attempt: u64) -> usize {
    let base = key ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let h = fmix64(base.wrapping_add(attempt.wrapping_mul(0xD6E8_FEB8_6659_FD93)));
    (((h >> 32) * k as u64) >> 32) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minhash::{estimate_jaccard, is_empty};

    fn sketch(h: &OnePermHasher, set: &[u64]) -> (Vec<u32>, u32) {
        let mut out = vec![0; h.num_perm()];
        let f = h.sign_into(set, &mut out);
        (out, f)
    }

    #[test]
    fn empty_set_is_empty_and_identical_sets_estimate_one() {
        let h = OnePermHasher::new(128, 7);
        let (e, f) = sketch(&h, &[]);
        assert!(is_empty(&e));
        assert_eq!(f, 0);
        let a: Vec<u64> = (0..1000).map(fmix64).collect();
        let mut b = a.clone();
        b.reverse();
        b.extend_from_slice(&a[..10]);
        assert_eq!(sketch(&h, &a), sketch(&h, &b));
        assert_eq!(estimate_jaccard(&sketch(&h, &a).0, &sketch(&h, &b).0), 1.0);
        assert_eq!(estimate_jaccard(&e, &e), 0.0);
    }

    #[test]
    fn one_shingle_fills_every_bin_with_its_value() {
        let h = OnePermHasher::new(128, 1);
        let (s, f) = sketch(&h, &[42]);
        assert_eq!(f, 1);
        assert!(s.iter().all(|&v| v == s[0] && v != EMPTY));
        // Two different single shingles share no value.
        let (t, _) = sketch(&h, &[43]);
        assert_eq!(estimate_jaccard(&s, &t), 0.0);
    }

    #[test]
    fn bins_are_the_minimum_of_their_shingles() {
        // The reference: bin by bin minimum over the shingles, then densification.
        let h = OnePermHasher::new(100, 3);
        let set: Vec<u64> = (0..60u64).map(|i| i * 31 + 5).collect();
        let mut want = vec![EMPTY; 100];
        for &s in &set {
            let (b, v) = h.bin_value(s);
            want[b] = want[b].min(v);
        }
        let filled = want.iter().filter(|&&v| v != EMPTY).count() as u32;
        let raw = want.clone();
        h.densify(&mut want);
        let (got, f) = sketch(&h, &set);
        assert_eq!((got.clone(), f), (want, filled));
        // Filled bins keep their value; every densified bin copies one filled bin's value.
        for (i, &v) in got.iter().enumerate() {
            if raw[i] != EMPTY {
                assert_eq!(v, raw[i]);
            } else {
                assert!(raw.contains(&v) && v != EMPTY);
            }
        }
    }

    /// The definition: every empty bin copies the first filled bin of its probe sequence.
    fn densify_reference(h: &OnePermHasher, out: &mut [u32]) {
        let k = out.len();
        let filled: Vec<bool> = out.iter().map(|&v| v != EMPTY).collect();
        if !filled.contains(&true) {
            return;
        }
        for i in 0..k {
            if !filled[i] {
                let j = (1..=64 * k as u64)
                    .map(|a| probe_target(h.key, k, i, a))
                    .find(|&j| filled[j])
                    .or_else(|| (1..k).map(|d| (i + d) % k).find(|&j| filled[j]))
                    .unwrap();
                out[i] = out[j];
            }
        }
    }

    #[test]
    fn densify_equals_the_plain_probe_loop() {
        for k in [1, 7, 128, 200, 1100] {
            let h = OnePermHasher::new(k, 9);
            for n in [0u64, 1, 2, 5, 30, 100, 400, 3000] {
                let set: Vec<u64> = (0..n).map(|i| fmix64(i ^ k as u64)).collect();
                let mut raw = vec![EMPTY; k];
                for &s in &set {
                    let (b, v) = h.bin_value(s);
                    raw[b] = raw[b].min(v);
                }
                let mut want = raw.clone();
                densify_reference(&h, &mut want);
                let mut got = vec![0; k];
                h.sign_into(&set, &mut got);
                assert_eq!(got, want, "K = {k}, {n} shingles");
            }
        }
    }

    #[test]
    fn seed_changes_the_sketch() {
        let set: Vec<u64> = (0..500).collect();
        let a = sketch(&OnePermHasher::new(128, 1), &set).0;
        let b = sketch(&OnePermHasher::new(128, 2), &set).0;
        assert!(estimate_jaccard(&a, &b) < 0.1);
    }
}
