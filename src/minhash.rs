//! MinHash signatures: K independent hash functions of one seed, the minimum of each over a
//! shingle set.
//!
//! Each lane `i` maps a shingle hash `x` to `fmix(x_lo32 ^ c_i) * m_i` (a bijection on u32:
//! xor, odd multiply, xor-shift, odd multiply), so with random-looking shingle hashes every lane
//! is an unbiased estimator of Jaccard similarity. 32-bit lanes vectorize on every x86-64 (and
//! aarch64) CPU; the update kernel exists as portable code and as AVX2 and AVX-512 intrinsics
//! ([`Kernel`]) and is picked at run time, so one portable binary runs at the machine's best.

mod kernel;

pub use kernel::Kernel;
use kernel::BLOCK;
use serde::{Deserialize, Serialize};

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
        self.sign_into_with(Kernel::detect(), shingles, out)
    }

    /// [`MinHasher::sign_into`] on a chosen kernel (benchmarks compare them; every kernel
    /// gives the same signature).
    ///
    /// # Panics
    /// When `out.len() != K` or the CPU cannot run `kernel` (see [`Kernel::is_available`]).
    pub fn sign_into_with(&self, kernel: Kernel, shingles: &[u64], out: &mut [u32]) {
        assert_eq!(out.len(), self.num_perm, "signature buffer length");
        let mut acc = [u32::MAX; 1024];
        let padded = self.xors.len();
        if padded <= acc.len() {
            kernel.update(&mut acc[..padded], &self.xors, &self.mults, shingles);
            out.copy_from_slice(&acc[..self.num_perm]);
        } else {
            let mut big = vec![u32::MAX; padded];
            kernel.update(&mut big, &self.xors, &self.mults, shingles);
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

/// Name of the kernel [`MinHasher::sign_into`] runs on this CPU (`avx512`, `avx2` or
/// `portable`), so benchmark figures can say which code they measured.
pub fn kernel_name() -> &'static str {
    Kernel::detect().name()
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
        kernel::update_portable(&mut portable, &h.xors, &h.mults, &shingles);
        assert_eq!(h.signature(&shingles).0, portable);
    }

    #[test]
    fn every_kernel_equals_portable_for_every_k() {
        let shingles: Vec<u64> = (0..300u64)
            .map(|i| crate::shingle::fmix64(i * 7 + 3))
            .collect();
        for k in [1, 16, 17, 100, 128, 144, 256, 300, 1100] {
            let h = MinHasher::new(k, 11);
            let mut want = vec![0; k];
            h.sign_into_with(Kernel::Portable, &shingles, &mut want);
            assert!(!is_empty(&want));
            for kernel in Kernel::available() {
                let mut got = vec![0; k];
                h.sign_into_with(kernel, &shingles, &mut got);
                assert_eq!(got, want, "kernel {} at K = {k}", kernel.name());
            }
        }
        assert!(Kernel::available().contains(&Kernel::detect()));
    }
}
