//! The MinHash update kernels: `acc[i] = min(acc[i], lane_i(x))` for every shingle `x` and lane
//! `i`, where `lane_i(x) = fmix(x_lo32 ^ c_i) * m_i` (see [`lane`]).
//!
//! This loop is almost all of the cost of a signature (K = 128 lane hashes per shingle against
//! a handful of operations to make the shingle), so it exists three times: a portable version
//! LLVM vectorizes for the baseline target, and AVX2 and AVX-512 versions written with
//! intrinsics. Written out rather than left to the auto-vectorizer because the auto-vectorized
//! `target_feature` copies of the portable loop used 256-bit vectors even under AVX-512 and ran
//! at about a third of the speed measured here (benches/README.md). All kernels compute exactly
//! the same values; [`Kernel::detect`] picks the best one the running CPU supports, so one
//! portable binary runs at the machine's best.

/// Lanes per block; K is padded up to a multiple of this.
pub(super) const BLOCK: usize = 16;
/// The second multiplier of the lane hash (odd, so the lane hash stays a bijection on u32).
const SECOND_MULT: u32 = 0x2c1b_3c6d;

/// One lane's hash of a shingle's low 32 bits: xor a lane key, multiply by an odd lane
/// multiplier, xor-shift, multiply by a shared odd constant. Every step is a bijection of u32,
/// so with pseudo-random shingle hashes each lane is an unbiased Jaccard estimator; the
/// per-lane multiplier decorrelates the lanes.
#[inline(always)]
pub(super) fn lane(v: u32, x: u32, m: u32) -> u32 {
    let y = (v ^ x).wrapping_mul(m);
    (y ^ (y >> 15)).wrapping_mul(SECOND_MULT)
}

/// A MinHash update kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Plain Rust, vectorized by the compiler for the build target (SSE2 on x86-64).
    Portable,
    /// x86-64 AVX2: 8 lanes per 256-bit vector.
    Avx2,
    /// x86-64 AVX-512F: 16 lanes per 512-bit vector, all 128 default lanes in registers.
    Avx512,
}

impl Kernel {
    /// The fastest kernel this CPU supports.
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Kernel::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }

    /// True when this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every kernel this CPU can run, slowest first (for benchmarks and equality tests).
    pub fn available() -> Vec<Kernel> {
        [Kernel::Portable, Kernel::Avx2, Kernel::Avx512]
            .into_iter()
            .filter(|k| k.is_available())
            .collect()
    }

    /// Short name for reports (`portable`, `avx2`, `avx512`).
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
        }
    }

    /// Runs the kernel. `acc`, `xors` and `mults` have the same length, a multiple of
    /// [`BLOCK`].
    ///
    /// # Panics
    /// When the CPU cannot run the kernel (running it would be undefined behaviour).
    pub(super) fn update(self, acc: &mut [u32], xors: &[u32], mults: &[u32], shingles: &[u64]) {
        assert!(
            acc.len() == xors.len() && acc.len() == mults.len() && acc.len().is_multiple_of(BLOCK)
        );
        assert!(
            self.is_available(),
            "{} kernel not supported by this CPU",
            self.name()
        );
        match self {
            Kernel::Portable => update_portable(acc, xors, mults, shingles),
            // SAFETY: the CPU supports the kernel's features (asserted above) and the slices
            // have equal lengths that are multiples of BLOCK (asserted above).
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { x86::update_avx2(acc, xors, mults, shingles) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { x86::update_avx512(acc, xors, mults, shingles) },
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("asserted available"),
        }
    }
}

/// The reference kernel: blocks of 16 lanes over all shingles, keeping a block's minima in
/// registers.
pub(super) fn update_portable(acc: &mut [u32], xors: &[u32], mults: &[u32], shingles: &[u64]) {
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
                mins[l] = mins[l].min(lane(v, x[l], m[l]));
            }
        }
        a.copy_from_slice(&mins);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{BLOCK, SECOND_MULT};
    use std::arch::x86_64::*;

    /// AVX2: passes of 32 lanes (4 vectors of minima, keys and multipliers in registers).
    ///
    /// # Safety
    /// The CPU supports AVX2; the slices have equal lengths, multiples of [`BLOCK`].
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn update_avx2(
        acc: &mut [u32],
        xors: &[u32],
        mults: &[u32],
        shingles: &[u64],
    ) {
        let mut base = 0;
        while base + 2 * BLOCK <= acc.len() {
            pass_avx2::<4>(&mut acc[base..], &xors[base..], &mults[base..], shingles);
            base += 2 * BLOCK;
        }
        if base < acc.len() {
            pass_avx2::<2>(&mut acc[base..], &xors[base..], &mults[base..], shingles);
        }
    }

    /// One pass over the shingles for the first `8 * V` lanes of the slices.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn pass_avx2<const V: usize>(
        acc: &mut [u32],
        xors: &[u32],
        mults: &[u32],
        shingles: &[u64],
    ) {
        assert!(acc.len() >= 8 * V && xors.len() >= 8 * V && mults.len() >= 8 * V);
        let c = _mm256_set1_epi32(SECOND_MULT as i32);
        let mut mins = [_mm256_setzero_si256(); V];
        let mut x = [_mm256_setzero_si256(); V];
        let mut m = [_mm256_setzero_si256(); V];
        for j in 0..V {
            // SAFETY: each load reads 8 u32 inside the slices (length checked above).
            mins[j] = _mm256_loadu_si256(acc.as_ptr().add(8 * j).cast());
            x[j] = _mm256_loadu_si256(xors.as_ptr().add(8 * j).cast());
            m[j] = _mm256_loadu_si256(mults.as_ptr().add(8 * j).cast());
        }
        for &h in shingles {
            let v = _mm256_set1_epi32(h as u32 as i32);
            for j in 0..V {
                let y = _mm256_mullo_epi32(_mm256_xor_si256(v, x[j]), m[j]);
                let y = _mm256_mullo_epi32(_mm256_xor_si256(y, _mm256_srli_epi32::<15>(y)), c);
                mins[j] = _mm256_min_epu32(mins[j], y);
            }
        }
        for (j, v) in mins.iter().enumerate() {
            // SAFETY: each store writes 8 u32 inside `acc` (length checked above).
            _mm256_storeu_si256(acc.as_mut_ptr().add(8 * j).cast(), *v);
        }
    }

    /// AVX-512F: passes of 128 lanes (8 vectors each of minima, keys and multipliers: 24 of the
    /// 32 registers), so the default K = 128 reads the shingles once.
    ///
    /// # Safety
    /// The CPU supports AVX-512F; the slices have equal lengths, multiples of [`BLOCK`].
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn update_avx512(
        acc: &mut [u32],
        xors: &[u32],
        mults: &[u32],
        shingles: &[u64],
    ) {
        let mut base = 0;
        while base + 8 * BLOCK <= acc.len() {
            pass_avx512::<8>(&mut acc[base..], &xors[base..], &mults[base..], shingles);
            base += 8 * BLOCK;
        }
        while base < acc.len() {
            pass_avx512::<1>(&mut acc[base..], &xors[base..], &mults[base..], shingles);
            base += BLOCK;
        }
    }

    /// One pass over the shingles for the first `16 * V` lanes of the slices.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn pass_avx512<const V: usize>(
        acc: &mut [u32],
        xors: &[u32],
        mults: &[u32],
        shingles: &[u64],
    ) {
        assert!(acc.len() >= 16 * V && xors.len() >= 16 * V && mults.len() >= 16 * V);
        let c = _mm512_set1_epi32(SECOND_MULT as i32);
        let mut mins = [_mm512_setzero_si512(); V];
        let mut x = [_mm512_setzero_si512(); V];
        let mut m = [_mm512_setzero_si512(); V];
        for j in 0..V {
            // SAFETY: each load reads 16 u32 inside the slices (length checked above).
            mins[j] = _mm512_loadu_si512(acc.as_ptr().add(16 * j).cast());
            x[j] = _mm512_loadu_si512(xors.as_ptr().add(16 * j).cast());
            m[j] = _mm512_loadu_si512(mults.as_ptr().add(16 * j).cast());
        }
        for &h in shingles {
            let v = _mm512_set1_epi32(h as u32 as i32);
            for j in 0..V {
                let y = _mm512_mullo_epi32(_mm512_xor_si512(v, x[j]), m[j]);
                let y = _mm512_mullo_epi32(_mm512_xor_si512(y, _mm512_srli_epi32::<15>(y)), c);
                mins[j] = _mm512_min_epu32(mins[j], y);
            }
        }
        for (j, v) in mins.iter().enumerate() {
            // SAFETY: each store writes 16 u32 inside `acc` (length checked above).
            _mm512_storeu_si512(acc.as_mut_ptr().add(16 * j).cast(), *v);
        }
    }
}
