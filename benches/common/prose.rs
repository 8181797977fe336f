// Each bench uses a different part of this module.
#![allow(dead_code)]

//! Deterministic generated prose for benches: Zipf-like word choice from a synthetic
//! vocabulary, capitalized sentences with punctuation, one paragraph per line. About 6 bytes
//! per word like English web text, so MB/s figures are comparable with real corpora.

/// A tiny deterministic generator (splitmix64), so benches need no data files.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SYLLABLES: [&str; 24] = [
    "ka", "lo", "mi", "ne", "so", "tra", "ver", "pen", "di", "qua", "re", "on", "al", "ti", "ber",
    "cu", "mo", "sa", "th", "in", "er", "an", "es", "or",
];

/// A vocabulary of `n` distinct words of 1-4 syllables.
pub fn vocabulary(n: usize, rng: &mut Rng) -> Vec<String> {
    let mut words = std::collections::BTreeSet::new();
    while words.len() < n {
        let syl = 1 + rng.below(4) as usize;
        let w: String = (0..syl)
            .map(|_| SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize])
            .collect();
        words.insert(w);
    }
    words.into_iter().collect()
}

/// About `bytes` bytes of prose from `vocab`.
pub fn prose(bytes: usize, vocab: &[String], rng: &mut Rng) -> String {
    let mut out = String::with_capacity(bytes + 64);
    let mut in_sentence = 0;
    while out.len() < bytes {
        // Zipf-like: the square of a uniform number favours the first words.
        let u = rng.below(1 << 16) as f64 / 65536.0;
        let w = &vocab[((u * u) * vocab.len() as f64) as usize];
        if in_sentence == 0 {
            let mut c = w.chars();
            let first = c.next().unwrap().to_ascii_uppercase();
            out.push(first);
            out.push_str(c.as_str());
        } else {
            out.push_str(w);
        }
        in_sentence += 1;
        if in_sentence > 6 && rng.below(8) == 0 {
            out.push(if rng.below(5) == 0 { ',' } else { '.' });
            in_sentence = 0;
            out.push(if rng.below(6) == 0 { '\n' } else { ' ' });
        } else {
            out.push(' ');
        }
    }
    out
}

/// `docs` documents of about `bytes` bytes each.
pub fn corpus(docs: usize, bytes: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    let vocab = vocabulary(5000, &mut rng);
    (0..docs).map(|_| prose(bytes, &vocab, &mut rng)).collect()
}
