//! MinHash signatures: K independent hash functions of one seed, the minimum of each over a
//! shingle set.
//!
//! Each lane `i` maps a shingle hash `x` to `fmix(x_lo32 ^ c_i) * m_i` (a bijection on u32:
//! xor, odd multiply, xor-shift, odd multiply), so with random-looking shingle hashes every lane
//! is an unbiased estimator of Jaccard similarity. 32-bit lanes vectorize on every x86-64 (and
//! aarch64) CPU; the kernel is compiled three times (baseline, AVX2, AVX-512) and picked at run
//! time, so one portable binary runs at the machine's best. Lanes are processed in blocks of 16
//! over all shingles, which keeps the block's minima in registers.

use serde::{Deserialize, Serialize};

/// Lanes per kernel block; K is padded up to a multiple of this internally.
const BLOCK: usize = 16;
const SECOND_MULT: u32 = 0x2c1b_3c6d;

/// K hash functions derived from one seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinHasher {
    num_perm: usize,
    seed: u64,
    xors: Vec<u32>,
    mults: Vec<u32>,
}

impl MinHasher {
    /// `num_perm` lanes (>= 1) from `seed`.
    pub fn new(num_perm: usize, seed: u64) -> Self {
        let num_perm = num_perm.max(1);
        let padded = num_perm.div_ceil(BLOCK) * BLOCK;
        let mut state = seed ^ 0x6a09_e667_f3bc_c908;
        let mut xors = Vec::with_capacity(padded);
        let mut mults = Vec::with_capacity(padded);
        for _ in 0..padded {
            let r = splitmix64(&mut state);
            xors.push(r as u32);
            mults.push((r >> 32) as u32 | 1);
        }
        MinHasher {
            num_perm,
            seed,
            xors,
            mults,
        }
    }

    /// Number of lanes K.
    pub fn num_perm(&self) -> usize {
        self.num_perm
    }

    /// The seed the lanes were derived from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Signature of a shingle multiset (duplicates do not matter).
    pub fn signature(&self, shingles: &[u64]) -> Signature {
        let mut out = vec![0; self.num_perm];
        self.sign_into(shingles, &mut out);
        Signature(out)
    }

    /// Writes the signature of `shingles` into `out` (length K), for flat signature arrays.
    pub fn sign_into(&self, shingles: &[u64], out: &mut [u32]) {
        assert_eq!(out.len(), self.num_perm, "signature buffer length");
        let mut acc = [u32::MAX; 1024];
        let padded = self.xors.len();
        if padded <= acc.len() {
            update(&mut acc[..padded], &self.xors, &self.mults, shingles);
            out.copy_from_slice(&acc[..self.num_perm]);
        } else {
            let mut big = vec![u32::MAX; padded];
            update(&mut big, &self.xors, &self.mults, shingles);
            out.copy_from_slice(&big[..self.num_perm]);
        }
    }
}

/// A MinHash signature: K minima.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature(pub Vec<u32>);

impl Signature {
    /// True for the signature of an empty shingle set, which matches nothing.
    pub fn is_empty(&self) -> bool {
        is_empty(&self.0)
    }

    /// Estimated Jaccard similarity with `other`.
    pub fn jaccard(&self, other: &Signature) -> f64 {
        estimate_jaccard(&self.0, &other.0)
    }
}

/// True when every lane is still at its initial value: the set was empty.
pub fn is_empty(sig: &[u32]) -> bool {
    sig.iter().all(|&v| v == u32::MAX)
}

/// Fraction of equal lanes; 0 when either signature is empty (an empty text matches nothing).
pub fn estimate_jaccard(a: &[u32], b: &[u32]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    if a.is_empty() || is_empty(a) || is_empty(b) {
        return 0.0;
    }
    let equal = a.iter().zip(b).filter(|(x, y)| x == y).count();
    equal as f64 / a.len() as f64
}

/// Estimated containment of set A in set B, |A ∩ B| / |A|, from their signatures and sizes:
/// |A ∩ B| = J (|A| + |B|) / (1 + J).
pub fn estimate_containment(a: &[u32], a_len: usize, b: &[u32], b_len: usize) -> f64 {
    if a_len == 0 {
        return 0.0;
    }
    let j = estimate_jaccard(a, b);
    let inter = j * (a_len + b_len) as f64 / (1.0 + j);
    (inter / a_len as f64).min(1.0)
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn update(acc: &mut [u32], xors: &[u32], mults: &[u32], shingles: &[u64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { update_avx512(acc, xors, mults, shingles) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { update_avx2(acc, xors, mults, shingles) };
        }
    }
    update_portable(acc, xors, mults, shingles)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn update_avx512(acc: &mut [u32], xors: &[u32], mults: &[u32], shingles: &[u64]) {
    update_portable(acc, xors, mults, shingles)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn update_avx2(acc: &mut [u32], xors: &[u32], mults: &[u32], shingles: &[u64]) {
    update_portable(acc, xors, mults, shingles)
}

/// The kernel; `#[inline(always)]` so each `target_feature` wrapper gets its own vector code.
#[inline(always)]
fn update_portable(acc: &mut [u32], xors: &[u32], mults: &[u32], shingles: &[u64]) {
    for ((a, x), m) in acc
        .chunks_exact_mut(BLOCK)
        .zip(xors.chunks_exact(BLOCK))
        .zip(mults.chunks_exact(BLOCK))
    {
        let x: [u32; BLOCK] = x.try_into().expect("block");
        let m: [u32; BLOCK] = m.try_into().expect("block");
        let mut mins: [u32; BLOCK] = (&*a).try_into().expect("block");
        for &h in shingles {
            let v = h as u32;
            for l in 0..BLOCK {
                let mut y = (v ^ x[l]).wrapping_mul(m[l]);
                y = (y ^ (y >> 15)).wrapping_mul(SECOND_MULT);
                mins[l] = mins[l].min(y);
            }
        }
        a.copy_from_slice(&mins);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_sets_estimate_one_and_empty_matches_nothing() {
        let h = MinHasher::new(128, 7);
        let a = h.signature(&[1, 2, 3, 99]);
        assert_eq!(a.jaccard(&h.signature(&[99, 3, 2, 1, 1])), 1.0);
        let empty = h.signature(&[]);
        assert!(empty.is_empty());
        assert_eq!(empty.jaccard(&empty), 0.0);
        assert_eq!(a.jaccard(&empty), 0.0);
    }

    #[test]
    fn odd_k_and_seed_dependence() {
        let a = MinHasher::new(100, 1).signature(&[5, 6, 7]);
        assert_eq!(a.0.len(), 100);
        let b = MinHasher::new(100, 2).signature(&[5, 6, 7]);
        assert_ne!(a, b);
    }

    #[test]
    fn dispatched_kernel_equals_portable() {
        let h = MinHasher::new(128, 3);
        let shingles: Vec<u64> = (0..1000u64)
            .map(|i| crate::shingle::fmix64(i + 1))
            .collect();
        let mut portable = vec![u32::MAX; 128];
        update_portable(&mut portable, &h.xors, &h.mults, &shingles);
        assert_eq!(h.signature(&shingles).0, portable);
    }
}
