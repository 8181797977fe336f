//! Which SIMD instruction sets this CPU has, for the kernels that pick a path at run time.
//!
//! Why here: a portable build runs its AVX-512 loops only where the CPU has them, and three
//! modules (normalization, JSON strings, the dedup tokenizer) each kept their own cached
//! detection of nearly the same feature set. Each answer is detected once and cached in an
//! atomic (0 = not yet, 1 = yes, 2 = no), so the check costs one relaxed load per call.

use std::sync::atomic::{AtomicU8, Ordering};

/// Runs `detect` once per `state` and caches the answer.
fn cached(state: &AtomicU8, detect: fn() -> bool) -> bool {
    match state.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let yes = detect();
            state.store(if yes { 1 } else { 2 }, Ordering::Relaxed);
            yes
        }
    }
}

/// AVX-512 F and BW: 64-byte compares into mask registers, masked loads and adds.
pub(crate) fn avx512bw() -> bool {
    static STATE: AtomicU8 = AtomicU8::new(0);
    #[cfg(target_arch = "x86_64")]
    fn detect() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(target_arch = "x86_64"))]
    fn detect() -> bool {
        false
    }
    cached(&STATE, detect)
}

/// [`avx512bw`] plus VBMI and VBMI2 (byte permutes, byte compress) and BMI1, BMI2 and
/// POPCNT (`pext`/`pdep`, bit counts on the masks).
pub(crate) fn avx512_vbmi2() -> bool {
    static STATE: AtomicU8 = AtomicU8::new(0);
    #[cfg(target_arch = "x86_64")]
    fn detect() -> bool {
        avx512bw()
            && std::arch::is_x86_feature_detected!("avx512vbmi")
            && std::arch::is_x86_feature_detected!("avx512vbmi2")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2")
            && std::arch::is_x86_feature_detected!("popcnt")
    }
    #[cfg(not(target_arch = "x86_64"))]
    fn detect() -> bool {
        false
    }
    cached(&STATE, detect)
}
