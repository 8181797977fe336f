//! `xxh3_64_with_seed` of short words without branching on their length.
//!
//! Block keys and shingles hash every word of a block's normalized text with xxh3 (the
//! values are stored in signature databases, so they cannot change). For inputs of at most
//! 16 bytes xxh3 has three formulas, for 1-3, 4-8 and 9-16 bytes; the library picks one with
//! branches, and on prose, whose word lengths jump between those classes, the branches
//! mispredict about once every other word. [`WordHasher::hash`] computes all three from
//! loads that are always in bounds (the text sits in a zero-padded buffer) and selects one
//! with masks: the same values (tested against the library for every length and many
//! inputs) at no mispredicted branch. Longer words go to the library.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The first 64 bytes of xxh3's default secret (the XXH3 specification's `kSecret`), of
/// which the short-input formulas use bytes 0..56.
const SECRET: [u8; 64] = [
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
];

const PRIME64_2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const PRIME64_3: u64 = 0x1656_67B1_9E37_79F9;
const PRIME_MX1: u64 = 0x1656_6791_9E37_79F9;
const PRIME_MX2: u64 = 0x9FB2_1C65_1E98_DF25;

const fn secret64(at: usize) -> u64 {
    let mut b = [0u8; 8];
    let mut i = 0;
    while i < 8 {
        b[i] = SECRET[at + i];
        i += 1;
    }
    u64::from_le_bytes(b)
}

const fn secret32(at: usize) -> u32 {
    u32::from_le_bytes([SECRET[at], SECRET[at + 1], SECRET[at + 2], SECRET[at + 3]])
}

/// Bytes of zeros before the text in a [`WordHasher`]'s buffer: a word's last 8 bytes are
/// loaded even when it is shorter.
const PAD_BEFORE: usize = 8;
/// Bytes of zeros after the text: a word's first 8 bytes are loaded even when it is shorter.
const PAD_AFTER: usize = 8;

/// Hashes words of one text, held in a zero-padded copy (see [`WordHasher::load`]).
#[derive(Debug, Default)]
pub struct WordHasher {
    buf: Vec<u8>,
    /// The seed the constants below were computed for (`None` before the first `load`).
    seed: Option<u64>,
    /// The per-seed constants of the three formulas.
    flip13: u64,
    flip48: u64,
    flip916: (u64, u64),
}

impl WordHasher {
    /// Copies `text` into the padded buffer and sets the seed; words are then given as byte
    /// ranges of `text`.
    pub fn load(&mut self, text: &[u8], seed: u64) {
        self.buf.clear();
        self.buf.resize(PAD_BEFORE, 0);
        self.buf.extend_from_slice(text);
        self.buf.resize(PAD_BEFORE + text.len() + PAD_AFTER, 0);
        if self.seed != Some(seed) {
            self.seed = Some(seed);
            self.flip13 = u64::from(secret32(0) ^ secret32(4)).wrapping_add(seed);
            let seed48 = seed ^ (u64::from((seed as u32).swap_bytes()) << 32);
            self.flip48 = (secret64(8) ^ secret64(16)).wrapping_sub(seed48);
            self.flip916 = (
                (secret64(24) ^ secret64(32)).wrapping_add(seed),
                (secret64(40) ^ secret64(48)).wrapping_sub(seed),
            );
        }
    }

    /// `xxh3_64_with_seed(&text[start..end], seed)` of the loaded text; `start < end`.
    #[inline]
    pub fn hash(&self, start: usize, end: usize) -> u64 {
        let len = end - start;
        debug_assert!(len > 0 && PAD_BEFORE + end <= self.buf.len());
        let seed = self.seed.expect("a text is loaded");
        if len > 16 {
            return xxh3_64_with_seed(&self.buf[PAD_BEFORE + start..PAD_BEFORE + end], seed);
        }
        assert!(PAD_BEFORE + end <= self.buf.len() - PAD_AFTER);
        let at = PAD_BEFORE + start;
        let p = self.buf.as_ptr();
        // SAFETY (all reads): they lie in at - 7 .. at + 8 and at .. at + len, and the
        // buffer holds PAD_BEFORE bytes before and PAD_AFTER after the text, in which
        // at .. at + len lies (asserted).
        let read64 = |i: usize| u64::from_le(unsafe { p.add(i).cast::<u64>().read_unaligned() });
        let read32 = |i: usize| u32::from_le(unsafe { p.add(i).cast::<u32>().read_unaligned() });
        let byte = |i: usize| unsafe { *p.add(i) };
        let lenu = len as u64;
        // 1-3 bytes.
        let (c1, c2, c3) = (byte(at), byte(at + (len >> 1)), byte(at + len - 1));
        let combined =
            (u32::from(c1) << 16) | (u32::from(c2) << 24) | u32::from(c3) | ((len as u32) << 8);
        let h13 = xxh64_avalanche(u64::from(combined) ^ self.flip13);
        // 4-8 bytes (reads 4 bytes before the word's end: in the front padding at worst).
        let input1 = read32(at);
        let input2 = read32(at + len - 4);
        let keyed = (u64::from(input2) + (u64::from(input1) << 32)) ^ self.flip48;
        let h48 = rrmxmx(keyed, lenu);
        // 9-16 bytes.
        let lo = read64(at) ^ self.flip916.0;
        let hi = read64(at + len - 8) ^ self.flip916.1;
        let acc = lenu
            .wrapping_add(lo.swap_bytes())
            .wrapping_add(hi)
            .wrapping_add(mul128_fold64(lo, hi));
        let h916 = xxh3_avalanche(acc);
        let short = 0u64.wrapping_sub(u64::from(len <= 3));
        let middle = 0u64.wrapping_sub(u64::from(len > 3 && len <= 8));
        let long = 0u64.wrapping_sub(u64::from(len > 8));
        (h13 & short) | (h48 & middle) | (h916 & long)
    }
}

impl WordHasher {
    /// The hashes of the words of the loaded text, split at single `b' '` bytes (normalized
    /// text), pushed onto `out` in order.
    ///
    /// The spaces of 64 bytes are gathered into one bitmask (8 bytes per SWAR step) and the
    /// words walked with bit scans: a byte loop branched on every space, a mispredict at
    /// about every word end.
    pub fn words_into(&self, out: &mut Vec<u64>) {
        let len = self.buf.len() - PAD_BEFORE - PAD_AFTER;
        let mut start = 0;
        let mut base = 0;
        while base < len {
            // One bit per byte for 64 bytes (fewer exits of the bit loop below, each a
            // likely mispredict, than one per 8 bytes).
            let mut spaces = 0u64;
            for k in 0..8 {
                let at = PAD_BEFORE + base + 8 * k;
                if at >= PAD_BEFORE + len {
                    break;
                }
                let x = u64::from_le_bytes(self.buf[at..at + 8].try_into().expect("8 bytes"));
                // The high bits of the 8 bytes' masks gathered into 8 bits.
                let m = (space_mask(x) >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56;
                spaces |= m << (8 * k);
            }
            if len - base < 64 {
                spaces &= (1u64 << (len - base)) - 1;
            }
            while spaces != 0 {
                let end = base + spaces.trailing_zeros() as usize;
                spaces &= spaces - 1;
                if end > start {
                    out.push(self.hash(start, end));
                }
                start = end + 1;
            }
            base += 64;
        }
        if len > start {
            out.push(self.hash(start, len));
        }
    }
}

/// The high bit of each byte of `x` that is `b' '` (exact: no carries between bytes).
#[inline(always)]
fn space_mask(x: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let t = x ^ 0x2020_2020_2020_2020;
    !(((t & LOW7) + LOW7) | t | LOW7)
}

#[inline(always)]
fn xxh64_avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(PRIME64_2);
    h ^= h >> 29;
    h = h.wrapping_mul(PRIME64_3);
    h ^ (h >> 32)
}

#[inline(always)]
fn xxh3_avalanche(mut h: u64) -> u64 {
    h ^= h >> 37;
    h = h.wrapping_mul(PRIME_MX1);
    h ^ (h >> 32)
}

#[inline(always)]
fn rrmxmx(mut h: u64, len: u64) -> u64 {
    h ^= h.rotate_left(49) ^ h.rotate_left(24);
    h = h.wrapping_mul(PRIME_MX2);
    h ^= (h >> 35).wrapping_add(len);
    h = h.wrapping_mul(PRIME_MX2);
    h ^ (h >> 28)
}

#[inline(always)]
fn mul128_fold64(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words split at spaces (single, runs, leading, trailing) as the byte loop splits them.
    #[test]
    fn words_into_equals_splitting_on_spaces() {
        let mut h = WordHasher::default();
        for text in [
            "",
            " ",
            "a",
            "ab cd",
            "  lead and trail  ",
            "a b c d e f g h i j k l m n o p",
            "exactly8 bytes07 wordsxyz and a very-long-word-of-more-than-sixteen bytes",
            "é x\u{0}y \t z",
        ] {
            h.load(text.as_bytes(), 42);
            let mut got = Vec::new();
            h.words_into(&mut got);
            let want: Vec<u64> = text
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(|w| xxh3_64_with_seed(w.as_bytes(), 42))
                .collect();
            assert_eq!(got, want, "{text:?}");
        }
    }

    /// Every length 1..=40, at every offset of a text with neighbours on both sides, for a
    /// few seeds and many byte patterns: the library's value.
    #[test]
    fn equals_xxh3_for_every_length_and_offset() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut text = Vec::new();
        for _ in 0..200 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            text.push((x >> 56) as u8);
        }
        let mut h = WordHasher::default();
        for seed in [
            0u64,
            1,
            0x6474_6e6f_6974_616e,
            u64::MAX,
            7238815617059812401,
        ] {
            h.load(&text, seed);
            for start in 0..text.len() {
                for len in 1..=40.min(text.len() - start) {
                    let want = xxh3_64_with_seed(&text[start..start + len], seed);
                    assert_eq!(
                        h.hash(start, start + len),
                        want,
                        "seed {seed} {start}+{len}"
                    );
                }
            }
        }
    }
}
