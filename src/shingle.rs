//! Shingles: the hashed word or character n-grams that MinHash and exact Jaccard work on.
//!
//! Words are hashed once with seeded xxh3 and each n-gram is a cheap order-dependent mix of its
//! word hashes, so a word 5-gram costs one xxh3 per word instead of one per 5-gram.
//!
//! Texts shorter than `n` words (or characters) become exactly one shingle made of all their
//! tokens, and a text without tokens has no shingles. So "Report an error" still matches
//! "report an error", but an empty block never matches anything (its signature is empty, see
//! [`crate::minhash::Signature::is_empty`]). This is the definition make_corpus.py uses for its
//! exact Jaccard, so dupsift's numbers are comparable with the labels.

mod hash_sort;
mod words;

pub use hash_sort::sorted_set;

use serde::{Deserialize, Serialize};
use words::{lower_split_word_hashes, lower_split_word_hashes_fast};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Word or character n-grams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum ShingleKind {
    /// Word n-grams.
    #[default]
    Word,
    /// Character n-grams (of the normalized text, spaces included).
    Char,
}

impl ShingleKind {
    /// Stable number stored in signature databases.
    pub fn code(self) -> u8 {
        match self {
            ShingleKind::Word => 0,
            ShingleKind::Char => 1,
        }
    }
}

/// How shingles are made: kind, n and the hash seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shingler {
    pub kind: ShingleKind,
    pub n: usize,
    pub seed: u64,
}

impl Default for Shingler {
    fn default() -> Self {
        Shingler {
            kind: ShingleKind::Word,
            n: 5,
            seed: crate::DEFAULT_SEED,
        }
    }
}

impl Shingler {
    /// Shingles of an already normalized text (see [`crate::normalize`]): words are the
    /// space-separated tokens. Appends to `out` (which the caller clears); may repeat values.
    pub fn normalized(&self, norm: &str, words: &mut Vec<u64>, out: &mut Vec<u64>) {
        match self.kind {
            ShingleKind::Word => {
                words.clear();
                words.extend(
                    norm.split(' ')
                        .filter(|w| !w.is_empty())
                        .map(|w| xxh3_64_with_seed(w.as_bytes(), self.seed)),
                );
                ngrams(words, self.n, out);
            }
            ShingleKind::Char => char_ngrams(norm, self.n, self.seed, out),
        }
    }

    /// One hash per word of `text.lower().split()` into `out` (cleared first), for
    /// `dupsift dedup`: the words of [`Shingler::lower_split`] with unigrams, but hashed with
    /// a cheaper branch-free hash for short ASCII words and not mixed again, so the values
    /// differ from `lower_split`'s (learn and clean, whose databases store hashes, keep those).
    /// Ignores `kind` and `n`.
    pub fn dedup_words(&self, text: &str, out: &mut Vec<u64>) {
        out.clear();
        lower_split_word_hashes_fast(text, self.seed, out);
    }

    /// Shingles of raw text tokenized like Python's `text.lower().split()`: Unicode lowercase,
    /// split on Unicode white space. This is what document-level dedup uses (and what the peers
    /// and make_corpus.py use), and it is fast: no normalization pass, ASCII handled bytewise.
    pub fn lower_split(&self, text: &str, words: &mut Vec<u64>, out: &mut Vec<u64>) {
        match self.kind {
            ShingleKind::Word => {
                words.clear();
                lower_split_word_hashes(text, self.seed, words);
                ngrams(words, self.n, out);
            }
            ShingleKind::Char => {
                let lower = text.split_whitespace().collect::<Vec<_>>().join(" ");
                char_ngrams(&lower.to_lowercase(), self.n, self.seed, out)
            }
        }
    }
}

/// Sorted, de-duplicated shingle set (for exact Jaccard and containment).
pub fn into_set(shingles: Vec<u64>) -> Vec<u64> {
    sorted_set(shingles)
}

/// Exact Jaccard similarity of two sorted, de-duplicated sets; 0 when both are empty.
pub fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    let inter = intersection_len(a, b);
    let union = a.len() + b.len() - inter;
    if union == 0 {
        0.0
    } else {
        inter as f64 / union as f64
    }
}

/// Fraction of `a` that lies inside `b` (both sorted sets); 0 when `a` is empty.
pub fn containment(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() {
        0.0
    } else {
        intersection_len(a, b) as f64 / a.len() as f64
    }
}

/// Size of the intersection of two sorted, de-duplicated slices.
pub fn intersection_len(a: &[u64], b: &[u64]) -> usize {
    // Branch-free steps: which side advances is as unpredictable as a coin toss for two
    // near-duplicate sets, and the mispredictions were most of the merge's time.
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        n += usize::from(x == y);
        i += usize::from(x <= y);
        j += usize::from(y <= x);
    }
    n
}

/// Word n-grams from word hashes; fewer than `n` words make one shingle of all of them.
pub fn ngrams(words: &[u64], n: usize, out: &mut Vec<u64>) {
    let n = n.max(1);
    if words.is_empty() {
        return;
    }
    if words.len() < n {
        out.push(combine(words));
        return;
    }
    // The common sizes with the window length known at compile time (the chain unrolled);
    // same values as `combine`.
    match n {
        3 => fixed_windows::<3>(words, out),
        5 => fixed_windows::<5>(words, out),
        _ => out.extend(words.windows(n).map(combine)),
    }
}

/// `combine` of every window of `N` words (at least `N` given).
#[inline]
fn fixed_windows<const N: usize>(words: &[u64], out: &mut Vec<u64>) {
    out.extend(words.windows(N).map(|w| {
        let w: &[u64; N] = w.try_into().expect("a window of N words");
        combine(w)
    }));
}

/// Order-dependent mix of a few word hashes (a rotate-xor-multiply chain, then a finalizer).
#[inline]
fn combine(words: &[u64]) -> u64 {
    let mut h = 0x9E37_79B9_7F4A_7C15u64 ^ words.len() as u64;
    for &w in words {
        h = (h.rotate_left(23) ^ w).wrapping_mul(0x9FB2_1C65_1E98_DF25);
    }
    fmix64(h)
}

/// MurmurHash3's 64-bit finalizer: every input bit affects every output bit.
#[inline]
pub(crate) fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

fn char_ngrams(text: &str, n: usize, seed: u64, out: &mut Vec<u64>) {
    let n = n.max(1);
    if text.is_empty() {
        return;
    }
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let chars = bounds.len() - 1;
    if chars < n {
        out.push(xxh3_64_with_seed(text.as_bytes(), seed));
        return;
    }
    for i in 0..=chars - n {
        out.push(xxh3_64_with_seed(
            &text.as_bytes()[bounds[i]..bounds[i + n]],
            seed,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngrams_of_fixed_sizes_equal_the_generic_windows() {
        let words: Vec<u64> = (0..40u64).map(|i| fmix64(i + 1)).collect();
        for n in 1..=8 {
            for len in [0, 1, n - 1, n, n + 1, 40] {
                let w = &words[..len.min(40)];
                let mut fast = Vec::new();
                ngrams(w, n, &mut fast);
                let generic: Vec<u64> = if w.is_empty() {
                    Vec::new()
                } else if w.len() < n {
                    vec![combine(w)]
                } else {
                    w.windows(n).map(combine).collect()
                };
                assert_eq!(fast, generic, "n {n}, {len} words");
            }
        }
    }

    fn shingles_of(text: &str, n: usize) -> Vec<u64> {
        let s = Shingler {
            n,
            ..Shingler::default()
        };
        let (mut w, mut out) = (Vec::new(), Vec::new());
        s.lower_split(text, &mut w, &mut out);
        out
    }

    #[test]
    fn short_text_is_one_shingle_and_empty_is_none() {
        assert_eq!(shingles_of("Report an error", 5).len(), 1);
        assert_eq!(
            shingles_of("Report an error", 5),
            shingles_of("report  AN\terror", 5)
        );
        assert!(shingles_of("   \n ", 5).is_empty());
        assert_ne!(shingles_of("a b", 5), shingles_of("b a", 5));
    }

    #[test]
    fn word_ngrams_count_and_order() {
        assert_eq!(shingles_of("a b c d e f g", 5).len(), 3);
        let ab = shingles_of("a b c d e", 5);
        let ba = shingles_of("e d c b a", 5);
        assert_ne!(ab, ba);
    }

    #[test]
    fn lower_split_matches_unicode_rules() {
        // Non-breaking space splits words in Python's str.split(), and Unicode lowercases.
        assert_eq!(
            shingles_of("ÉTÉ\u{a0}chaud", 1),
            shingles_of("été chaud", 1)
        );
        // The same tokens through the normalized path hash identically.
        let s = Shingler::default();
        let (mut w, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
        s.lower_split("one two three four five six", &mut w, &mut a);
        s.normalized("one two three four five six", &mut w, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn jaccard_and_containment() {
        let a = into_set(vec![1, 2, 3, 4]);
        let b = into_set(vec![3, 4, 5, 6]);
        assert_eq!(jaccard(&a, &b), 2.0 / 6.0);
        assert_eq!(containment(&a, &b), 0.5);
        assert_eq!(jaccard(&[], &[]), 0.0);
        assert_eq!(containment(&[3, 4], &a), 1.0);
    }

    #[test]
    fn char_ngrams_cover_text() {
        let s = Shingler {
            kind: ShingleKind::Char,
            n: 3,
            seed: 1,
        };
        let (mut w, mut out) = (Vec::new(), Vec::new());
        s.normalized("abcde", &mut w, &mut out);
        assert_eq!(out.len(), 3);
        out.clear();
        s.normalized("ab", &mut w, &mut out);
        assert_eq!(out.len(), 1);
    }
}
