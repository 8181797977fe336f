//! Arbitrary text: segmentation invariants, normalization idempotence, block analysis.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::segment_normalize(data));
