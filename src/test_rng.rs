//! A tiny deterministic generator for unit tests (xorshift64): the same inputs on every
//! run without a dependency, for tests that sweep many made-up values.

/// Successive xorshift64 values from `seed` (must be non-zero).
pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    assert_ne!(state, 0, "xorshift needs a non-zero seed");
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}
