//! Hash maps keyed by values that are already hashes (xxh3 block keys, shingle hashes) or by
//! small indices.
//!
//! std's default SipHash defends against adversarial keys; these keys are xxh3 outputs of the
//! text (seeded), so that defence buys nothing, and SipHash plus its per-map random state was
//! ~4 % of `clean` and `learn` on the man pages (`perf record`, see benches/README.md). One
//! rotate-xor-multiply round per word (FxHash's mix) and a fold-multiply finish spread the bits
//! hashbrown reads (low bits for the bucket, top 7 for the tag); it is also deterministic.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash-style mixing for keys made of integers.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

const K: u64 = 0xf135_7aea_2e62_a9c5;

impl KeyHasher {
    #[inline]
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(26) ^ x).wrapping_mul(K);
    }
}

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, x: u8) {
        self.add(x as u64);
    }
    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.add(x as u64);
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.add(x);
    }
    #[inline]
    fn write_usize(&mut self, x: usize) {
        self.add(x as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits depending on the low bits of the input only;
        // folding the high half down spreads every input bit over the low and the top bits.
        let h = self.0 ^ (self.0 >> 32);
        h.wrapping_mul(K) ^ (h >> 29)
    }
}

/// A `HashMap` with [`KeyHasher`].
pub type KeyMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash<T: Hash>(t: &T) -> u64 {
        BuildHasherDefault::<KeyHasher>::default().hash_one(t)
    }

    #[test]
    fn distinct_small_keys_spread_over_low_and_high_bits() {
        let hashes: Vec<u64> = (0u64..1024).map(|i| hash(&(1u32, i))).collect();
        let low: std::collections::HashSet<u64> = hashes.iter().map(|h| h & 1023).collect();
        let top: std::collections::HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(low.len() > 600, "{}", low.len());
        assert_eq!(top.len(), 128);
        assert_ne!(hash(&(1u32, 2u64)), hash(&(2u32, 1u64)));
    }
}
