//! Block features of the context model, exactly as `benches/context/features.py` defines them
//! (the spec is `benches/context/README.md`, "Feature definitions").
//!
//! A page's blocks become one row each of [`FEATURE_NAMES`] columns: 19 text features of the
//! block alone, 7 repetition features (the signature database's site counts and in-page
//! repeats), 17 position/context features, and 8 features of each of the blocks at offsets
//! -2, -1, +1, +2. Everything is computed in f64 with the same integer-to-float divisions as
//! the Python, so the model sees the values it was trained on (tested on committed fixtures).
//!
//! Known differences from Python's string predicates, kept because they only touch exotic
//! code points: Rust `char::is_alphabetic` also accepts letter numbers and combining marks
//! of the Alphabetic property (Python `isalpha` is letters only), and `split_whitespace` does
//! not split on U+001C..U+001F.

use rustc_hash::FxHashMap;

/// Version of these definitions; a model trained on another version is refused.
pub const FEATURE_VERSION: u16 = 1;

/// Column order of a feature row (the model's `features` list must equal it).
pub const FEATURE_NAMES: [&str; 75] = [
    "words",
    "chars",
    "mean_word_len",
    "stop_frac",
    "punct_frac",
    "digit_frac",
    "upper_frac",
    "alpha_frac",
    "cap_word_frac",
    "ends_terminal",
    "ends_colon",
    "sep_count",
    "has_copyright",
    "has_url",
    "has_at",
    "has_time",
    "has_month",
    "comment_word",
    "first_upper",
    "site_pages",
    "site_count",
    "site_frac",
    "other_sites",
    "inpage_count",
    "inpage_first",
    "flagged",
    "n_blocks",
    "idx",
    "rel_pos",
    "rel_pos_words",
    "page_words",
    "flag_density",
    "flag_density_words",
    "kept_words_before",
    "kept_words_after",
    "kept_frac_before",
    "kept_frac_after",
    "run_side",
    "run_dist",
    "run_words_frac",
    "longest_dist",
    "longest_rel_dist",
    "longest_words",
    "n-2_words",
    "n-2_site_frac",
    "n-2_stop_frac",
    "n-2_ends_terminal",
    "n-2_flagged",
    "n-2_punct_frac",
    "n-2_comment_word",
    "n-2_has_time",
    "n-1_words",
    "n-1_site_frac",
    "n-1_stop_frac",
    "n-1_ends_terminal",
    "n-1_flagged",
    "n-1_punct_frac",
    "n-1_comment_word",
    "n-1_has_time",
    "n+1_words",
    "n+1_site_frac",
    "n+1_stop_frac",
    "n+1_ends_terminal",
    "n+1_flagged",
    "n+1_punct_frac",
    "n+1_comment_word",
    "n+1_has_time",
    "n+2_words",
    "n+2_site_frac",
    "n+2_stop_frac",
    "n+2_ends_terminal",
    "n+2_flagged",
    "n+2_punct_frac",
    "n+2_comment_word",
    "n+2_has_time",
];

/// Number of columns.
pub const N_FEATURES: usize = FEATURE_NAMES.len();

/// Offsets of the neighbour blocks whose features are copied into a row.
pub const NEIGHBOUR_OFFSETS: [i64; 4] = [-2, -1, 1, 2];
/// Flag density is taken over blocks i-WINDOW..=i+WINDOW without i.
pub const WINDOW: usize = 3;
/// Best-run feature score: +words when not flagged, -FLAG_RUN_PENALTY*words when flagged.
pub const FLAG_RUN_PENALTY: f64 = 2.0;
/// A block is `flagged` (the repetition baseline) when on at least this many site pages.
pub const FLAG_MIN_SITE_COUNT: u64 = 2;

// Column indices used below (checked against FEATURE_NAMES by a test).
const WORDS: usize = 0;
const STOP_FRAC: usize = 3;
const PUNCT_FRAC: usize = 4;
const ENDS_TERMINAL: usize = 9;
const HAS_TIME: usize = 15;
const COMMENT_WORD: usize = 17;
const TEXT_END: usize = 19;
const SITE_FRAC: usize = 21;
/// `inpage_count` (read by the cleaner for the report).
pub const INPAGE: usize = 23;
const FLAGGED: usize = 25;
const POS_START: usize = 26;
const NEIGH_START: usize = 43;
/// Source columns of the neighbour features, in their order.
const NEIGH_FEATURES: [usize; 8] = [
    WORDS,
    SITE_FRAC,
    STOP_FRAC,
    ENDS_TERMINAL,
    FLAGGED,
    PUNCT_FRAC,
    COMMENT_WORD,
    HAS_TIME,
];

/// Repetition evidence of one block from the signature database (see [`super::evidence`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Repetition {
    /// Documents of the block's group in the database.
    pub site_pages: u64,
    /// Documents of the group containing the block's exact key.
    pub site_count: u64,
    /// Other groups having the key.
    pub other_sites: u64,
}

/// Word-list flags of a token: which of the model's lists hold it.
const STOP: u8 = 1;
const MONTH: u8 = 2;
const COMMENT: u8 = 4;

/// Character classes of one ASCII byte, from the same `char` predicates the slow path uses.
const ALPHA: u8 = 1;
const NUMERIC: u8 = 2;
const UPPER: u8 = 4;
const SPACE: u8 = 8;
const SEPARATOR: u8 = 16;
/// One of the model's closers (trimmed before `ends_terminal`/`ends_colon`).
const CLOSER: u8 = 32;

/// Width of one packed counter in [`Lexicon::counts`].
const FIELD: usize = 12;
/// Bytes counted before the packed counters are flushed (no field may pass 2^FIELD - 1).
const FLUSH: usize = (1 << FIELD) - 1;
/// Field order of the packed counters.
const C_ALPHA: usize = 0;
const C_NUMERIC: usize = 1;
const C_UPPER: usize = 2;
const C_PUNCT: usize = 3;
const C_SEPARATOR: usize = 4;

/// Longest list word kept in the ASCII word table: its lowercased bytes are a `u128` key.
const SHORT: usize = 16;

/// The ASCII list words of at most [`SHORT`] bytes, each alone in its slot of a
/// power-of-two table (a perfect hash: the multiplier is searched until no two words share a
/// slot), so a token is looked up with one hash, one slot and one compare.
///
/// Why: the two-choice (cuckoo) table read and compared two slots with two hashes per token;
/// with ~15 M tokens on the man pages, the lookup was ~9 % of `clean --policy context`
/// (perf). A random multiplier puts `n` words in `m` slots without a collision with
/// probability about `exp(-n² / 2m)`: for the shipped 165 words and 2,048 slots (34 KB) one
/// in ~750 multipliers, found in about a millisecond at load.
#[derive(Debug, Clone)]
struct WordTable {
    /// Lowercased bytes of each slot's word as a little-endian integer ([`short_key`]).
    keys: Vec<u128>,
    /// Per slot `len << 3 | flags` (0: empty; flags are [`STOP`] | [`MONTH`] | [`COMMENT`]).
    meta: Vec<u8>,
    mult: u64,
    /// `64 - log2(slots)`.
    shift: u32,
}

impl WordTable {
    /// The table of `listed` `(key, len, flags)` (distinct keys, len <= [`SHORT`]).
    fn new(listed: &[(u128, usize, u8)]) -> WordTable {
        assert!(listed.iter().all(|&(_, len, f)| len <= SHORT && f <= 7));
        let n = listed.len();
        let mut bits = ((n * n / 16).max(2)).next_power_of_two().trailing_zeros();
        let mut used = Vec::new();
        let mut seed = 0u64;
        loop {
            for _ in 0..4096 {
                seed += 1;
                let mult = crate::shingle::fmix64(seed) | 1;
                let shift = 64 - bits;
                used.clear();
                used.resize(1 << bits, false);
                let fits = listed.iter().all(|&(key, _, _)| {
                    let s = Self::slot(key, mult, shift);
                    !std::mem::replace(&mut used[s], true)
                });
                if fits {
                    let mut table = WordTable {
                        keys: vec![0; 1 << bits],
                        meta: vec![0; 1 << bits],
                        mult,
                        shift,
                    };
                    for &(key, len, flags) in listed {
                        let s = Self::slot(key, mult, shift);
                        table.keys[s] = key;
                        table.meta[s] = (len as u8) << 3 | flags;
                    }
                    return table;
                }
            }
            bits += 1;
        }
    }

    #[inline(always)]
    fn slot(key: u128, mult: u64, shift: u32) -> usize {
        let h = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
        (h.wrapping_mul(mult) >> shift) as usize
    }

    /// Flags of the lowercased ASCII word with `key` ([`short_key`]) and `len` bytes.
    #[inline(always)]
    fn get(&self, key: u128, len: usize) -> u8 {
        let s = Self::slot(key, self.mult, self.shift);
        let meta = self.meta[s];
        (self.keys[s] == key && (meta >> 3) as usize == len) as u8 * (meta & 7)
    }
}

/// The word lists and character sets of the text features (shipped with the model).
///
/// Why the tables: every token was looked up in three `HashSet`s with a streaming xxh3
/// hasher, and every character went through four Unicode predicates and a linear scan of the
/// separators. For ASCII blocks (nearly all) the class of a byte is one table load, the five
/// character counts one add of a packed counter per byte, and a token is looked up by its
/// lowercased bytes as an integer in a small open-addressing table, with no copy. The map
/// of strings stays for the Unicode path and for list words the integer key cannot hold.
#[derive(Debug, Clone)]
pub struct Lexicon {
    words: FxHashMap<String, u8>,
    /// Every list word is ASCII (see [`Lexicon::stripped_flags`]).
    lists_ascii: bool,
    /// Longest word of the three lists: longer tokens are not looked up.
    longest: usize,
    /// ASCII list words of at most [`SHORT`] bytes.
    short: WordTable,
    separators: Vec<char>,
    closers: Vec<char>,
    /// Class bits per byte (only ASCII bytes are ever looked up; 256 entries so that a byte
    /// indexes it without a bounds check).
    ascii: [u8; 256],
    /// Per byte, 1 in each [`FIELD`]-bit counter its class counts for (alpha, numeric,
    /// upper, punctuation, separator).
    counts: [u64; 256],
    /// Class bits of the chars below [`WIDE_CLASSES`] (see [`Lexicon::class`]).
    wide: Vec<u8>,
}

/// Chars below this have their class in [`Lexicon`]'s table: Latin, Greek, Cyrillic,
/// general punctuation, arrows, box drawing and bullets — the non-ASCII chars of the man
/// pages (`─`, `•`, `—`, `│`, `’` ...), where four Unicode property lookups per char were
/// ~3 % of `clean --policy context` (perf).
const WIDE_CLASSES: u32 = 0x3000;

impl Lexicon {
    pub fn new(meta: &super::model::ModelMeta) -> Self {
        let mut words = FxHashMap::<String, u8>::default();
        for (list, bit) in [
            (&meta.stopwords, STOP),
            (&meta.months, MONTH),
            (&meta.comment_words, COMMENT),
        ] {
            for w in list {
                *words.entry(w.clone()).or_default() |= bit;
            }
        }
        let separators: Vec<char> = meta.separators.chars().collect();
        let closers: Vec<char> = meta.closers.chars().collect();
        let mut ascii = [0u8; 256];
        let mut counts = [0u64; 256];
        for b in 0..128u8 {
            let c = b as char;
            let (a, n, s) = (c.is_alphabetic(), c.is_numeric(), c.is_whitespace());
            let class = (a as u8 * ALPHA)
                | (n as u8 * NUMERIC)
                | (c.is_uppercase() as u8 * UPPER)
                | (s as u8 * SPACE)
                | (separators.contains(&c) as u8 * SEPARATOR)
                | (closers.contains(&c) as u8 * CLOSER);
            ascii[b as usize] = class;
            let count = |on: bool, field: usize| (on as u64) << (FIELD * field);
            counts[b as usize] = count(a, C_ALPHA)
                | count(n, C_NUMERIC)
                | count(class & UPPER != 0, C_UPPER)
                | count(!(a || n || s), C_PUNCT)
                | count(class & SEPARATOR != 0, C_SEPARATOR);
        }
        let mut listed: Vec<(u128, usize, u8)> = words
            .iter()
            .filter(|(w, _)| w.is_ascii() && w.len() <= SHORT)
            .map(|(w, &f)| (short_key(w.as_bytes()), w.len(), f))
            .collect();
        // The same table whatever the map's iteration order.
        listed.sort_unstable();
        let short = WordTable::new(&listed);
        let wide = (0..WIDE_CLASSES)
            .map(|u| char::from_u32(u).map_or(0, |c| char_class(c, &separators)))
            .collect();
        Lexicon {
            longest: words.keys().map(String::len).max().unwrap_or(0),
            lists_ascii: words.keys().all(|w| w.is_ascii()),
            words,
            short,
            separators,
            closers,
            wide,
            ascii,
            counts,
        }
    }

    /// List flags of `token` (0 when in none).
    fn flags(&self, token: &str) -> u8 {
        self.words.get(token).copied().unwrap_or(0)
    }

    /// List flags of the ASCII `token` lowercased, without copying it.
    fn ascii_flags(&self, token: &[u8]) -> u8 {
        if token.len() > self.longest {
            return 0;
        }
        if token.len() > SHORT {
            return self.flags(&String::from_utf8_lossy(token).to_ascii_lowercase());
        }
        self.short_flags(short_key(token), token.len())
    }

    /// List flags of the ASCII `buf[a..z]` lowercased; `buf` has at least [`SHORT`] bytes
    /// after `a` (the padded copy of the block).
    #[inline]
    fn padded_flags(&self, buf: &[u8], a: usize, z: usize) -> u8 {
        let len = z - a;
        if len > self.longest {
            return 0;
        }
        if len > SHORT {
            return self.ascii_flags(&buf[a..z]);
        }
        let raw = u128::from_le_bytes(buf[a..a + SHORT].try_into().expect("SHORT bytes"));
        let keep = if len == SHORT {
            !0
        } else {
            (1u128 << (8 * len)) - 1
        };
        self.short_flags(lowercase_ascii(raw & keep), len)
    }

    /// List flags of the lowercased ASCII word with `key` ([`short_key`]) and `len` bytes,
    /// without a branch: whether a token is a listed word (~40 % of the man pages' tokens
    /// are) does not predict.
    #[inline]
    fn short_flags(&self, key: u128, len: usize) -> u8 {
        self.short.get(key, len)
    }

    /// List flags of a word's stripped form (any chars), lowercased; `tok` is scratch.
    ///
    /// When every list word is ASCII (the shipped lists), a form with a non-ASCII char other
    /// than U+212A (KELVIN SIGN, lowercased to 'k') lowercases to a non-ASCII string and is
    /// in no list: no lowercased copy and no map lookup for words like "don’t".
    fn stripped_flags(&self, stripped: &str, tok: &mut String) -> u8 {
        if stripped.is_ascii() {
            return self.ascii_flags(stripped.as_bytes());
        }
        if self.lists_ascii && stripped.chars().any(|c| !c.is_ascii() && c != '\u{212a}') {
            return 0;
        }
        tok.clear();
        for c in stripped.chars() {
            tok.extend(c.to_lowercase());
        }
        self.flags(tok)
    }

    /// Class bits of `c` (see [`ALPHA`] etc.; [`CLOSER`] only for ASCII).
    fn class(&self, c: char) -> u8 {
        if c.is_ascii() {
            return self.ascii[c as usize];
        }
        match self.wide.get(c as usize) {
            Some(&class) => class,
            None => char_class(c, &self.separators),
        }
    }
}

/// Class bits of a non-ASCII `c` (for ASCII, [`Lexicon::class`] adds [`CLOSER`]).
fn char_class(c: char, separators: &[char]) -> u8 {
    (c.is_alphabetic() as u8 * ALPHA)
        | (c.is_numeric() as u8 * NUMERIC)
        | (c.is_uppercase() as u8 * UPPER)
        | (c.is_whitespace() as u8 * SPACE)
        | (separators.contains(&c) as u8 * SEPARATOR)
}

/// The ASCII-lowercased bytes of `token` (at most [`SHORT`]) as one little-endian integer.
fn short_key(token: &[u8]) -> u128 {
    let mut buf = [0u8; SHORT];
    for (d, s) in buf.iter_mut().zip(token) {
        *d = s.to_ascii_lowercase();
    }
    u128::from_le_bytes(buf)
}

/// `x`'s 16 ASCII bytes with 'A'..='Z' lowercased, all at once: bit 7 of a byte is set by
/// `b + (0x80 - 'A')` when `b >= 'A'` and by `b + (0x80 - 'Z' - 1)` when `b > 'Z'` (no byte
/// carries into the next: all are below 0x80).
fn lowercase_ascii(x: u128) -> u128 {
    const ONES: u128 = u128::MAX / 255;
    let ge_a = x + ONES * (0x80 - b'A' as u128);
    let gt_z = x + ONES * (0x80 - b'Z' as u128 - 1);
    let upper = ge_a & !gt_z & (ONES * 0x80);
    x | (upper >> 2)
}

#[cfg(test)]
fn alnum(c: char) -> bool {
    c.is_alphabetic() || c.is_numeric()
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// True when `s` contains an ASCII digit, `:`, two ASCII digits (Python `[0-9]{1,2}:[0-9]{2}`):
/// the definition [`P_TIME`] implements (tests).
#[cfg(test)]
fn has_time(s: &str) -> bool {
    let b = s.as_bytes();
    (1..b.len().saturating_sub(2)).any(|i| {
        b[i] == b':'
            && b[i - 1].is_ascii_digit()
            && b[i + 1].is_ascii_digit()
            && b[i + 2].is_ascii_digit()
    })
}

/// Substring flags of an ASCII block (bits of [`ascii_patterns`]).
const P_COPYRIGHT: u8 = 1;
const P_URL: u8 = 2;
const P_AT: u8 = 4;
const P_TIME: u8 = 8;

/// The substring patterns starting at byte `p` of the ASCII block `b`: "(c)" or
/// "copyright" (any case), "http", "www." or ".com" (any case), '@', and a time (digit, ':',
/// two digits). For ASCII, "the lowercased block contains `pat`" is "some position matches
/// `pat` ignoring ASCII case".
fn patterns_at(b: &[u8], p: usize) -> u8 {
    let rest = &b[p..];
    let is = |pat: &[u8]| rest.len() >= pat.len() && rest[..pat.len()].eq_ignore_ascii_case(pat);
    let digit = |k: usize| rest.get(k).is_some_and(u8::is_ascii_digit);
    let mut f = 0;
    if is(b"(c)") || is(b"copyright") {
        f |= P_COPYRIGHT;
    }
    if is(b"http") || is(b"www.") || is(b".com") {
        f |= P_URL;
    }
    if rest.first() == Some(&b'@') {
        f |= P_AT;
    }
    if rest.get(1) == Some(&b':') && digit(0) && digit(2) && digit(3) {
        f |= P_TIME;
    }
    f
}

/// [`patterns_at`] over every position of the ASCII block `b`: the definition.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn ascii_patterns_scalar(b: &[u8]) -> u8 {
    (0..b.len()).fold(0, |f, p| f | patterns_at(b, p))
}

/// Bytes of zeros [`ascii_patterns`] needs after the block in its buffer (at least [`SHORT`]
/// for [`Lexicon::padded_flags`]).
const PATTERN_PAD: usize = 32;

/// [`ascii_patterns_scalar`] of `buf[..n]`, where `buf` holds at least [`PATTERN_PAD`] more
/// bytes after the block (zeros: they match no pattern byte).
///
/// Why: six substring searches (five in a lowercased copy) and a byte loop for the time were
/// ~10 % of `clean --policy context`. With SSE2 (every x86-64), 16 positions at a time are
/// tested for the first and last byte of each pattern (letters compared with bit 5 set, which
/// folds exactly the two cases of a letter); only those rare candidates are checked in full.
fn ascii_patterns(buf: &[u8], n: usize) -> u8 {
    assert!(buf.len() >= n + PATTERN_PAD, "pattern buffer padding");
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: SSE2 is part of x86-64; loads stay inside `buf` (checked above, see below).
        unsafe { ascii_patterns_sse2(buf, n) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        ascii_patterns_scalar(&buf[..n])
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
unsafe fn ascii_patterns_sse2(buf: &[u8], n: usize) -> u8 {
    use std::arch::x86_64::*;
    let b = &buf[..n];
    let mut f = 0u8;
    let mut i = 0;
    while i < n {
        // Loads at i..i+16+8 < n + 16 + 8 <= buf.len() (PATTERN_PAD = 32).
        let p = buf.as_ptr().add(i);
        let ld = |k: usize| _mm_loadu_si128(p.add(k).cast());
        let (v0, v1, v2, v3, v8) = (ld(0), ld(1), ld(2), ld(3), ld(8));
        let fold = _mm_set1_epi8(0x20);
        let (l0, l3, l8) = (
            _mm_or_si128(v0, fold),
            _mm_or_si128(v3, fold),
            _mm_or_si128(v8, fold),
        );
        let eq = |v, c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
        let both = |a, b| _mm_and_si128(a, b);
        let digit = |v| {
            both(
                _mm_cmpgt_epi8(v, _mm_set1_epi8(b'0' as i8 - 1)),
                _mm_cmplt_epi8(v, _mm_set1_epi8(b'9' as i8 + 1)),
            )
        };
        let cand = [
            both(eq(v0, b'('), eq(v2, b')')),
            both(eq(l0, b'c'), eq(l8, b't')),
            both(eq(l0, b'h'), eq(l3, b'p')),
            both(eq(l0, b'w'), eq(v3, b'.')),
            both(eq(v0, b'.'), eq(l3, b'm')),
            eq(v0, b'@'),
            both(eq(v1, b':'), both(digit(v0), digit(v2))),
        ]
        .into_iter()
        .fold(_mm_setzero_si128(), |a, c| _mm_or_si128(a, c));
        let mut mask = _mm_movemask_epi8(cand) as u32;
        if n - i < 16 {
            mask &= (1u32 << (n - i)) - 1;
        }
        while mask != 0 {
            f |= patterns_at(b, i + mask.trailing_zeros() as usize);
            mask &= mask - 1;
        }
        i += 16;
    }
    f
}

/// Writes the 19 text features of `block` (already trimmed) into `row[..19]`; `tok` is
/// scratch space.
pub fn text_features(block: &str, lex: &Lexicon, row: &mut [f64], tok: &mut String) {
    if block.is_ascii() {
        text_features_ascii(block, lex, row, tok);
    } else {
        text_features_unicode(block, lex, row, tok);
    }
}

/// What the word scan of an ASCII block counts (see [`text_features_ascii`]).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct AsciiWords {
    words: usize,
    word_chars: usize,
    stop: usize,
    cap: usize,
    month: bool,
    comment: bool,
}

/// [`text_features`] of an ASCII block: byte tables instead of `char` predicates (for ASCII,
/// `split_whitespace` splits at exactly the bytes whose class has SPACE, `alnum` is ALPHA |
/// NUMERIC, a char is a byte and lowercasing is ASCII lowercasing).
fn text_features_ascii(block: &str, lex: &Lexicon, row: &mut [f64], tok: &mut String) {
    let n = block.len();
    // The block with PATTERN_PAD (>= SHORT) zeros after it, for the word keys and patterns.
    tok.clear();
    tok.push_str(block);
    tok.push_str(ZEROS);
    #[cfg(target_arch = "x86_64")]
    if n <= 4 * 64
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vbmi")
        && !FORCE_BYTE_SCAN.get()
    {
        // SAFETY: AVX-512F/BW/VBMI checked; the block is ASCII of at most 64 W bytes.
        let (c, w) = unsafe {
            if n <= 64 {
                ascii_scan_avx512::<1>(block.as_bytes(), tok.as_bytes(), lex)
            } else {
                ascii_scan_avx512::<4>(block.as_bytes(), tok.as_bytes(), lex)
            }
        };
        ascii_row(block.as_bytes(), tok.as_bytes(), lex, c, w, row);
        return;
    }
    let (c, w) = ascii_scan_bytes(block.as_bytes(), tok.as_bytes(), lex);
    ascii_row(block.as_bytes(), tok.as_bytes(), lex, c, w, row);
}

/// `PATTERN_PAD` zero bytes.
const ZEROS: &str = "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
const _: () = assert!(ZEROS.len() == PATTERN_PAD);

thread_local! {
    /// Tests: make [`text_features_ascii`] take the byte-at-a-time scan.
    static FORCE_BYTE_SCAN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The class counts (alpha, numeric, upper, punctuation, separator) and the word scan of the
/// ASCII block `b`, a byte at a time; `buf` is `b` followed by zeros (the word keys' loads).
fn ascii_scan_bytes(b: &[u8], buf: &[u8], lex: &Lexicon) -> ([usize; 5], AsciiWords) {
    let n = b.len();
    let cls = &lex.ascii;
    let mut c = [0usize; 5];
    for chunk in b.chunks(FLUSH) {
        let mut acc = 0u64;
        for &x in chunk {
            acc += lex.counts[x as usize];
        }
        for (f, c) in c.iter_mut().enumerate() {
            *c += ((acc >> (FIELD * f)) & ((1 << FIELD) - 1)) as usize;
        }
    }
    let mut w = AsciiWords::default();
    let mut i = 0;
    while i < n {
        if cls[b[i] as usize] & SPACE != 0 {
            i += 1;
            continue;
        }
        let start = i;
        // The token stripped of non-alphanumerics at both ends: [a, z).
        let (mut a, mut z) = (usize::MAX, start);
        while i < n {
            let k = cls[b[i] as usize];
            if k & SPACE != 0 {
                break;
            }
            if k & (ALPHA | NUMERIC) != 0 {
                a = a.min(i);
                z = i + 1;
            }
            i += 1;
        }
        let a = a.min(z);
        let upper = cls[b[start] as usize] & UPPER != 0;
        w.word(start, i, a, z, upper, lex.padded_flags(buf, a, z));
    }
    (c, w)
}

impl AsciiWords {
    /// Counts the token `[start, end)` stripped to `[a, z)` (`a == z`: no alphanumeric),
    /// whose first byte is `upper`, with list `flags`.
    #[inline(always)]
    fn word(&mut self, start: usize, end: usize, a: usize, z: usize, upper: bool, flags: u8) {
        self.words += 1;
        self.word_chars += end - start;
        self.cap += upper as usize;
        self.stop += (flags & STOP != 0) as usize;
        if z > a {
            self.month |= flags & MONTH != 0;
            self.comment |= flags & COMMENT != 0;
        }
    }
}

/// [`ascii_scan_bytes`] of a block of at most `64 W` bytes with AVX-512: the class of 64
/// bytes at once (one `vpermi2b` into the 128-entry ASCII table), kept as bitmaps, and the
/// words found with bit scans — one step per word instead of a branch per byte.
///
/// Why: the byte loop's branches on SPACE and ALPHA|NUMERIC mispredict at every word
/// boundary (~10 words per 56-byte block on the man pages); `text_features` was the largest
/// part of `clean --policy context` (16 %, perf).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,popcnt,bmi1,lzcnt")]
unsafe fn ascii_scan_avx512<const W: usize>(
    b: &[u8],
    buf: &[u8],
    lex: &Lexicon,
) -> ([usize; 5], AsciiWords) {
    use std::arch::x86_64::*;
    let n = b.len();
    assert!(n <= 64 * W && lex.ascii.len() >= 128);
    // SAFETY: lex.ascii holds at least 128 bytes (asserted).
    let (lo, hi) = unsafe {
        (
            _mm512_loadu_si512(lex.ascii.as_ptr().cast()),
            _mm512_loadu_si512(lex.ascii.as_ptr().add(64).cast()),
        )
    };
    let bit = |c: u8| _mm512_set1_epi8(c as i8);
    // Bitmaps: `space` also holds every position past the block (a word ends there).
    let (mut space, mut alnum, mut upper) = ([!0u64; W], [0u64; W], [0u64; W]);
    let mut c = [0usize; 5];
    for k in 0..W.min(n.div_ceil(64)) {
        let len = (n - 64 * k).min(64);
        let valid = if len == 64 { !0 } else { (1u64 << len) - 1 };
        // SAFETY: a masked load of the block's bytes 64k..64k + len (the rest masked off).
        let x = unsafe { _mm512_maskz_loadu_epi8(valid, b.as_ptr().add(64 * k).cast()) };
        // ASCII: bit 6 of a byte picks the table half, bits 0..5 the entry.
        let cls = _mm512_permutex2var_epi8(lo, x, hi);
        let test = |m: u8| _mm512_mask_test_epi8_mask(valid, cls, bit(m));
        let (sp, a, nu) = (test(SPACE), test(ALPHA), test(NUMERIC));
        let up = test(UPPER);
        space[k] = sp | !valid;
        alnum[k] = a | nu;
        upper[k] = up;
        c[C_ALPHA] += a.count_ones() as usize;
        c[C_NUMERIC] += nu.count_ones() as usize;
        c[C_UPPER] += up.count_ones() as usize;
        c[C_PUNCT] += (valid & !(a | nu | sp)).count_ones() as usize;
        c[C_SEPARATOR] += test(SEPARATOR).count_ones() as usize;
    }
    let text: [u64; W] = std::array::from_fn(|k| !space[k]);
    let mut w = AsciiWords::default();
    let mut start = next_set(&text, 0);
    while start < n {
        let end = next_set(&space, start);
        let a = next_set(&alnum, start);
        let (a, z) = if a < end {
            (a, prev_set(&alnum, end) + 1)
        } else {
            (start, start)
        };
        let up = upper[start / 64] >> (start % 64) & 1 != 0;
        w.word(start, end, a, z, up, lex.padded_flags(buf, a, z));
        start = next_set(&text, end);
    }
    (c, w)
}

/// The first set bit at or after `from` of the bitmap `m` (`64 W` when none).
#[inline(always)]
fn next_set<const W: usize>(m: &[u64; W], from: usize) -> usize {
    let mut k = from / 64;
    if k >= W {
        return 64 * W;
    }
    let mut x = m[k] & (!0u64 << (from % 64));
    loop {
        if x != 0 {
            return 64 * k + x.trailing_zeros() as usize;
        }
        k += 1;
        if k == W {
            return 64 * W;
        }
        x = m[k];
    }
}

/// The last set bit before `end` of `m` (one must exist).
#[inline(always)]
fn prev_set<const W: usize>(m: &[u64; W], end: usize) -> usize {
    let mut k = (end - 1) / 64;
    let mut x = m[k] & (!0u64 >> (63 - (end - 1) % 64));
    loop {
        if x != 0 {
            return 64 * k + 63 - x.leading_zeros() as usize;
        }
        k -= 1;
        x = m[k];
    }
}

/// The 19 text features of the ASCII block `b` from its class counts `c` and word scan `w`;
/// `buf` is `b` followed by [`PATTERN_PAD`] zeros.
fn ascii_row(b: &[u8], buf: &[u8], lex: &Lexicon, c: [usize; 5], w: AsciiWords, row: &mut [f64]) {
    let n = b.len();
    let cls = &lex.ascii;
    let (alpha, digit, upper, punct, sep) = (
        c[C_ALPHA],
        c[C_NUMERIC],
        c[C_UPPER],
        c[C_PUNCT],
        c[C_SEPARATOR],
    );
    let mut e = n;
    while e > 0 && cls[b[e - 1] as usize] & SPACE != 0 {
        e -= 1;
    }
    while e > 0 && cls[b[e - 1] as usize] & CLOSER != 0 {
        e -= 1;
    }
    let last = e.checked_sub(1).map(|e| b[e]);
    let pat = ascii_patterns(buf, n);
    let nw = w.words;
    row[0] = nw as f64;
    row[1] = n as f64;
    row[2] = ratio(w.word_chars, nw);
    row[3] = ratio(w.stop, nw);
    row[4] = ratio(punct, n);
    row[5] = ratio(digit, n);
    row[6] = ratio(upper, alpha);
    row[7] = ratio(alpha, n);
    row[8] = ratio(w.cap, nw);
    row[9] = flag(matches!(last, Some(b'.' | b'!' | b'?')));
    row[10] = flag(last == Some(b':'));
    row[11] = sep as f64;
    row[12] = flag(pat & P_COPYRIGHT != 0);
    row[13] = flag(pat & P_URL != 0);
    row[14] = flag(pat & P_AT != 0);
    row[15] = flag(pat & P_TIME != 0);
    row[16] = flag(w.month);
    row[17] = flag(w.comment);
    row[18] = flag(b.first().is_some_and(|&x| cls[x as usize] & UPPER != 0));
}

/// [`text_features`] of a block with non-ASCII characters, in one pass over its chars.
///
/// Why one pass: the block was walked six times (`split_whitespace`, a trim, a char count
/// and a first-char test per word, the class counts, a lowercased copy searched five
/// times); the 5.5 % of the man pages' blocks that are not ASCII took a quarter of the text
/// features' time (perf). Exactly the same values: words are the runs of chars without
/// [`SPACE`] (what `split_whitespace` splits on, `char::is_whitespace`), a word's stripped
/// form runs from its first to its last [`ALPHA`] | [`NUMERIC`] char (what `trim_matches`
/// leaves), and the substring patterns are searched in the bytes (see the comment below).
fn text_features_unicode(block: &str, lex: &Lexicon, row: &mut [f64], tok: &mut String) {
    let (mut nw, mut word_chars, mut stop, mut cap) = (0usize, 0usize, 0usize, 0usize);
    let (mut month, mut comment) = (false, false);
    let (mut nc, mut alpha, mut digit, mut upper, mut punct, mut sep) = (0, 0, 0, 0, 0, 0);
    // The current word: inside one, and its stripped byte range [a, z) (a == z: no alnum).
    let (mut in_word, mut a, mut z) = (false, 0usize, 0usize);
    let mut word_flags =
        |a: usize, z: usize, stop: &mut usize, month: &mut bool, comment: &mut bool| {
            let stripped = &block[a..z];
            let flags = lex.stripped_flags(stripped, tok);
            *stop += (flags & STOP != 0) as usize;
            if !stripped.is_empty() {
                *month |= flags & MONTH != 0;
                *comment |= flags & COMMENT != 0;
            }
        };
    for (i, c) in block.char_indices() {
        let class = lex.class(c);
        nc += 1;
        alpha += (class & ALPHA != 0) as usize;
        digit += (class & NUMERIC != 0) as usize;
        upper += (class & UPPER != 0) as usize;
        punct += (class & (ALPHA | NUMERIC | SPACE) == 0) as usize;
        sep += (class & SEPARATOR != 0) as usize;
        if class & SPACE != 0 {
            if in_word {
                word_flags(a, z, &mut stop, &mut month, &mut comment);
                in_word = false;
            }
            continue;
        }
        if !in_word {
            in_word = true;
            nw += 1;
            cap += (class & UPPER != 0) as usize;
            (a, z) = (i, i);
        }
        word_chars += 1;
        if class & (ALPHA | NUMERIC) != 0 {
            if a == z {
                a = i;
            }
            z = i + c.len_utf8();
        }
    }
    if in_word {
        word_flags(a, z, &mut stop, &mut month, &mut comment);
    }
    let t = block
        .trim_end()
        .trim_end_matches(|c| lex.closers.contains(&c));
    let last = t.chars().next_back();
    // The patterns are ASCII without a 'k', and a non-ASCII char's UTF-8 bytes are all above
    // 0x7f: searching the bytes ignoring ASCII case finds exactly what searching the
    // `to_lowercase`d block would (no other char lowercases to ASCII but U+212A -> 'k' and
    // U+0130 -> 'i' + U+0307, whose 'i' a non-ASCII char follows; test
    // `only_kelvin_and_dotted_i_lowercase_to_ascii`).
    tok.clear();
    tok.push_str(block);
    tok.push_str(ZEROS);
    let pat = ascii_patterns(tok.as_bytes(), block.len());
    row[0] = nw as f64;
    row[1] = nc as f64;
    row[2] = ratio(word_chars, nw);
    row[3] = ratio(stop, nw);
    row[4] = ratio(punct, nc);
    row[5] = ratio(digit, nc);
    row[6] = ratio(upper, alpha);
    row[7] = ratio(alpha, nc);
    row[8] = ratio(cap, nw);
    row[9] = flag(matches!(last, Some('.' | '!' | '?')));
    row[10] = flag(last == Some(':'));
    row[11] = sep as f64;
    row[12] = flag(pat & P_COPYRIGHT != 0 || block.contains('\u{a9}'));
    row[13] = flag(pat & P_URL != 0);
    row[14] = flag(pat & P_AT != 0);
    row[15] = flag(pat & P_TIME != 0);
    row[16] = flag(month);
    row[17] = flag(comment);
    row[18] = flag(
        block
            .chars()
            .next()
            .is_some_and(|c| lex.class(c) & UPPER != 0),
    );
}

/// Maximum-sum contiguous run `(a, b)` inclusive (Kadane; the first maximum wins; `None` when
/// no score is positive), as `features.best_run`.
pub fn best_run(scores: impl IntoIterator<Item = f64>) -> Option<(usize, usize)> {
    let (mut best, mut found) = (0.0, None);
    let (mut cur, mut a) = (0.0, 0);
    for (i, s) in scores.into_iter().enumerate() {
        if cur <= 0.0 {
            cur = s;
            a = i;
        } else {
            cur += s;
        }
        if cur > best {
            best = cur;
            found = Some((a, i));
        }
    }
    found
}

/// Feature rows of one page: `blocks` (trimmed texts), their exact `keys` and repetition
/// evidence `rep`; returns `blocks.len() * N_FEATURES` values, row-major.
pub fn page_features(blocks: &[&str], keys: &[u64], rep: &[Repetition], lex: &Lexicon) -> Vec<f64> {
    let mut x = FeatureRows::default();
    page_features_into(
        blocks,
        keys,
        rep,
        lex,
        &mut FeatureScratch::default(),
        &mut x,
    );
    x.values().to_vec()
}

/// Feature rows of one or more pages, row-major ([`N_FEATURES`] columns).
///
/// Why not a `Vec<f64>`: the buffer only grows, and new rows are written over the values of
/// earlier ones instead of being zeroed first (every column of a row is written; the zeroing
/// was ~2 % of `clean --policy context`, perf).
#[derive(Debug, Default, Clone)]
pub struct FeatureRows {
    values: Vec<f64>,
    rows: usize,
}

impl FeatureRows {
    /// Forgets the rows (keeps the buffer).
    pub fn clear(&mut self) {
        self.rows = 0;
    }

    /// The rows, row-major.
    pub fn values(&self) -> &[f64] {
        &self.values[..self.rows * N_FEATURES]
    }

    /// `n` more rows, holding old values or zeros: the caller writes every column.
    fn push_rows(&mut self, n: usize) -> &mut [f64] {
        let (start, end) = (self.rows * N_FEATURES, (self.rows + n) * N_FEATURES);
        if self.values.len() < end {
            self.values.resize(end, 0.0);
        }
        self.rows += n;
        &mut self.values[start..end]
    }
}

/// Buffers of [`page_features_into`], kept between pages by the caller.
#[derive(Debug, Default)]
pub struct FeatureScratch {
    tok: String,
    /// Per key on the page: (copies, first block with it): `inpage_count` and
    /// `inpage_first` from one lookup per block.
    key_count: FxHashMap<u64, (u32, u32)>,
    words: Vec<usize>,
    flagged: Vec<bool>,
    kept: Vec<usize>,
}

/// [`page_features`] appended to `x`, reusing `scratch`.
///
/// Why: a page's rows are 600 bytes per block (tens of KB per page); allocating and freeing
/// them per page sent every page through glibc's large-chunk path (`malloc_consolidate`,
/// `unlink_chunk`: ~5 % of `clean --policy context`).
pub fn page_features_into(
    blocks: &[&str],
    keys: &[u64],
    rep: &[Repetition],
    lex: &Lexicon,
    scratch: &mut FeatureScratch,
    x: &mut FeatureRows,
) {
    page_rows(blocks.len(), |i| blocks[i], keys, rep, lex, scratch, x);
}

/// [`page_features_into`] for the blocks `spans` of `text` (no slice of block texts to
/// build per page): their rows appended to `x`.
pub fn span_features_into(
    text: &str,
    spans: &[crate::segment::Span],
    keys: &[u64],
    rep: &[Repetition],
    lex: &Lexicon,
    scratch: &mut FeatureScratch,
    x: &mut FeatureRows,
) {
    page_rows(
        spans.len(),
        |i| spans[i].text(text),
        keys,
        rep,
        lex,
        scratch,
        x,
    );
}

/// The rows of the `n` blocks `block(0..n)` (see [`page_features_into`]).
fn page_rows<'a>(
    n: usize,
    block: impl Fn(usize) -> &'a str,
    keys: &[u64],
    rep: &[Repetition],
    lex: &Lexicon,
    scratch: &mut FeatureScratch,
    x: &mut FeatureRows,
) {
    assert!(
        keys.len() == n && rep.len() == n,
        "one key and one evidence per block"
    );
    let x = x.push_rows(n);
    let FeatureScratch {
        tok,
        key_count,
        words,
        flagged,
        kept,
    } = scratch;
    key_count.clear();
    key_count.reserve(n);
    for (i, &k) in keys.iter().enumerate() {
        key_count.entry(k).or_insert((0, i as u32)).0 += 1;
    }
    words.clear();
    flagged.clear();
    for (i, row) in x.chunks_exact_mut(N_FEATURES).enumerate() {
        text_features(block(i), lex, &mut row[..TEXT_END], tok);
        let r = rep[i];
        let (copies, first) = key_count[&keys[i]];
        let inpage = copies - 1;
        let f = r.site_count >= FLAG_MIN_SITE_COUNT || inpage >= 1;
        row[19] = r.site_pages as f64;
        row[20] = r.site_count as f64;
        row[21] = if r.site_pages > 0 {
            r.site_count as f64 / r.site_pages as f64
        } else {
            0.0
        };
        row[22] = r.other_sites as f64;
        row[23] = inpage as f64;
        row[24] = flag(first as usize == i);
        row[25] = flag(f);
        words.push(row[WORDS] as usize);
        flagged.push(f);
    }
    position_features(x, words, flagged, kept);
    neighbour_features(x, n);
}

/// Columns 26..43 (see the module docs and the README's definitions).
fn position_features(x: &mut [f64], words: &[usize], flagged: &[bool], kept: &mut Vec<usize>) {
    let n = words.len();
    let total: usize = words.iter().sum();
    kept.clear();
    kept.extend(
        words
            .iter()
            .zip(flagged)
            .map(|(&w, &f)| if f { 0 } else { w }),
    );
    let kept = &kept[..];
    let total_kept: usize = kept.iter().sum();
    let run = best_run(words.iter().zip(flagged).map(|(&w, &f)| {
        if f {
            -FLAG_RUN_PENALTY * w as f64
        } else {
            w as f64
        }
    }));
    let run_words: usize = run.map_or(0, |(a, b)| words[a..=b].iter().sum());
    // Longest unflagged block by words, first on ties.
    let (mut longest, mut longest_words) = (None, 0);
    for i in 0..n {
        if !flagged[i] && words[i] > longest_words {
            longest = Some(i);
            longest_words = words[i];
        }
    }
    let (mut cum, mut kept_before) = (0usize, 0usize);
    for (i, row) in x.chunks_exact_mut(N_FEATURES).enumerate() {
        let r = &mut row[POS_START..NEIGH_START];
        r[0] = n as f64;
        r[1] = i as f64;
        r[2] = if n > 1 {
            i as f64 / (n - 1) as f64
        } else {
            0.0
        };
        r[3] = ratio(cum, total);
        r[4] = total as f64;
        let (lo, hi) = (i.saturating_sub(WINDOW), (i + WINDOW).min(n - 1));
        let (mut cnt, mut fl, mut ww, mut fw) = (0usize, 0usize, 0usize, 0usize);
        for j in (lo..=hi).filter(|&j| j != i) {
            cnt += 1;
            fl += flagged[j] as usize;
            ww += words[j];
            fw += if flagged[j] { words[j] } else { 0 };
        }
        r[5] = ratio(fl, cnt);
        r[6] = ratio(fw, ww);
        let after = total_kept - kept_before - kept[i];
        r[7] = kept_before as f64;
        r[8] = after as f64;
        r[9] = ratio(kept_before, total_kept);
        r[10] = ratio(after, total_kept);
        let (side, dist) = match run {
            None => (2.0, n as f64),
            Some((a, _)) if i < a => (-1.0, (a - i) as f64),
            Some((_, b)) if i > b => (1.0, (i - b) as f64),
            Some(_) => (0.0, 0.0),
        };
        r[11] = side;
        r[12] = dist;
        r[13] = ratio(run_words, total);
        match longest {
            None => {
                r[14] = n as f64;
                r[15] = 1.0;
            }
            Some(l) => {
                let d = i as f64 - l as f64;
                r[14] = d;
                r[15] = d / n as f64;
            }
        }
        r[16] = longest_words as f64;
        cum += words[i];
        kept_before += kept[i];
    }
}

/// Columns 43..75: features of blocks i-2, i-1, i+1, i+2 (-1 outside the page).
fn neighbour_features(x: &mut [f64], n: usize) {
    for i in 0..n {
        for (oi, &o) in NEIGHBOUR_OFFSETS.iter().enumerate() {
            let j = i as i64 + o;
            for (fi, &src) in NEIGH_FEATURES.iter().enumerate() {
                let v = if (0..n as i64).contains(&j) {
                    x[j as usize * N_FEATURES + src]
                } else {
                    -1.0
                };
                x[i * N_FEATURES + NEIGH_START + oi * NEIGH_FEATURES.len() + fi] = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped model and its lexicon.
    fn shipped() -> (crate::context::model::Model, Lexicon) {
        let model = crate::context::model::Model::shipped().unwrap();
        let lex = Lexicon::new(&model.meta);
        (model, lex)
    }

    #[test]
    fn column_constants_name_their_columns() {
        let named = [
            (WORDS, "words"),
            (STOP_FRAC, "stop_frac"),
            (PUNCT_FRAC, "punct_frac"),
            (ENDS_TERMINAL, "ends_terminal"),
            (HAS_TIME, "has_time"),
            (COMMENT_WORD, "comment_word"),
            (TEXT_END, "site_pages"),
            (SITE_FRAC, "site_frac"),
            (INPAGE, "inpage_count"),
            (FLAGGED, "flagged"),
            (POS_START, "n_blocks"),
            (NEIGH_START, "n-2_words"),
        ];
        for (i, name) in named {
            assert_eq!(FEATURE_NAMES[i], name);
        }
        let short = [
            "words",
            "site_frac",
            "stop_frac",
            "ends_terminal",
            "flagged",
            "punct_frac",
            "comment_word",
            "has_time",
        ];
        for (oi, o) in ["n-2", "n-1", "n+1", "n+2"].iter().enumerate() {
            for (fi, f) in short.iter().enumerate() {
                assert_eq!(FEATURE_NAMES[NEIGH_START + oi * 8 + fi], format!("{o}_{f}"));
                assert_eq!(FEATURE_NAMES[NEIGH_FEATURES[fi]], *f);
            }
        }
    }

    /// The text features as first written (three word sets, per-char Unicode predicates,
    /// `split_whitespace`): the oracle for the table-driven version.
    fn text_features_reference(block: &str, meta: &crate::context::model::ModelMeta) -> Vec<f64> {
        use std::collections::HashSet;
        let set = |l: &Vec<String>| l.iter().cloned().collect::<HashSet<String>>();
        let (stopwords, months, comments) = (
            set(&meta.stopwords),
            set(&meta.months),
            set(&meta.comment_words),
        );
        let separators: Vec<char> = meta.separators.chars().collect();
        let closers: Vec<char> = meta.closers.chars().collect();
        let (mut nw, mut word_chars, mut stop, mut cap) = (0usize, 0usize, 0usize, 0usize);
        let (mut month, mut comment) = (false, false);
        for w in block.split_whitespace() {
            nw += 1;
            word_chars += w.chars().count();
            cap += w.chars().next().is_some_and(char::is_uppercase) as usize;
            let tok: String = w
                .trim_matches(|c: char| !alnum(c))
                .chars()
                .flat_map(char::to_lowercase)
                .collect();
            stop += stopwords.contains(&tok) as usize;
            if !tok.is_empty() {
                month |= months.contains(&tok);
                comment |= comments.contains(&tok);
            }
        }
        let (mut nc, mut alpha, mut digit, mut upper, mut punct, mut sep) = (0, 0, 0, 0, 0, 0);
        for c in block.chars() {
            nc += 1;
            let (a, n) = (c.is_alphabetic(), c.is_numeric());
            alpha += a as usize;
            digit += n as usize;
            upper += c.is_uppercase() as usize;
            punct += !(a || n || c.is_whitespace()) as usize;
            sep += separators.contains(&c) as usize;
        }
        let t = block.trim_end().trim_end_matches(|c| closers.contains(&c));
        let last = t.chars().next_back();
        let low = block.to_lowercase();
        vec![
            nw as f64,
            nc as f64,
            ratio(word_chars, nw),
            ratio(stop, nw),
            ratio(punct, nc),
            ratio(digit, nc),
            ratio(upper, alpha),
            ratio(alpha, nc),
            ratio(cap, nw),
            flag(matches!(last, Some('.' | '!' | '?'))),
            flag(last == Some(':')),
            sep as f64,
            flag(block.contains('\u{a9}') || low.contains("(c)") || low.contains("copyright")),
            flag(low.contains("http") || low.contains("www.") || low.contains(".com")),
            flag(block.contains('@')),
            flag(has_time(block)),
            flag(month),
            flag(comment),
            flag(block.chars().next().is_some_and(char::is_uppercase)),
        ]
    }

    /// The flag-density columns equal the densities summed from the rows' own `words` and
    /// `flagged` columns over the window, for pages shorter and longer than the window.
    #[test]
    fn flag_density_columns_follow_the_window() {
        let (_, lex) = shipped();
        let mut next = crate::test_rng::xorshift(7);
        for n in 1..=14usize {
            for _ in 0..20 {
                let texts: Vec<String> = (0..n)
                    .map(|_| "word ".repeat((next() % 9) as usize))
                    .collect();
                let blocks: Vec<&str> = texts.iter().map(|t| t.trim()).collect();
                let keys: Vec<u64> = (0..n as u64).collect();
                let rep: Vec<Repetition> = (0..n)
                    .map(|_| Repetition {
                        site_pages: 5,
                        site_count: next() % 4,
                        other_sites: 0,
                    })
                    .collect();
                let x = page_features(&blocks, &keys, &rep, &lex);
                let row = |i: usize| &x[i * N_FEATURES..(i + 1) * N_FEATURES];
                for i in 0..n {
                    let (lo, hi) = (i.saturating_sub(WINDOW), (i + WINDOW).min(n - 1));
                    let (mut cnt, mut fl, mut ww, mut fw) = (0, 0, 0.0, 0.0);
                    for j in (lo..=hi).filter(|&j| j != i) {
                        let (w, f) = (row(j)[WORDS], row(j)[FLAGGED]);
                        cnt += 1;
                        fl += f as usize;
                        ww += w;
                        fw += f * w;
                    }
                    let density = if cnt == 0 {
                        0.0
                    } else {
                        fl as f64 / cnt as f64
                    };
                    let words = if ww == 0.0 { 0.0 } else { fw / ww };
                    assert_eq!(
                        row(i)[POS_START + 5].to_bits(),
                        density.to_bits(),
                        "{n} {i}"
                    );
                    assert_eq!(row(i)[POS_START + 6].to_bits(), words.to_bits(), "{n} {i}");
                }
            }
        }
    }

    /// Rows written over old values (here NaN) equal rows written into zeros: every column
    /// of a row is written.
    #[test]
    fn rows_over_old_values_equal_fresh_rows() {
        let (_, lex) = shipped();
        let blocks = [
            "Menu",
            "The cat sat on the mat.",
            "Posted by admin on March 3, 2012 at 10:45 | 12 Comments",
            "Menu",
            "Ünïcödé Wörds — «quoted» • list",
            "x:",
        ];
        let keys = [1, 2, 3, 1, 5, 6];
        let rep = [Repetition {
            site_pages: 9,
            site_count: 4,
            other_sites: 1,
        }; 6];
        let mut x = FeatureRows::default();
        x.push_rows(3 * blocks.len()).fill(f64::NAN);
        x.clear();
        let mut scratch = FeatureScratch::default();
        for _ in 0..2 {
            page_features_into(&blocks, &keys, &rep, &lex, &mut scratch, &mut x);
        }
        let fresh = page_features(&blocks, &keys, &rep, &lex);
        assert_eq!(x.values().len(), 2 * fresh.len());
        for half in x.values().chunks(fresh.len()) {
            assert_eq!(bits(half), bits(&fresh));
        }
    }

    #[test]
    fn text_features_equal_the_reference() {
        let (model, lex) = shipped();
        let blocks = [
            "The cat sat on the mat.",
            "Posted by admin on March 3, 2012 at 10:45 | 12 Comments",
            "  (C) Copyright 2013 -- All rights reserved. \"Quoted.\"",
            "Visit http://WWW.Example.COM/a?b or mail me@x.org!",
            "...  ---  /// >> |",
            "tabs\tand\x0bvertical\x0cfeeds\rand\x1cfile\x1fseparators",
            "Supercalifragilisticexpialidocious antidisestablishmentarianism",
            "Ünïcödé Wörds — «quoted» • list ▪ item: THE End",
            "ΣΊΣΥΦΟΣ και η Ιανουάριος, comments",
            "",
            "A",
            "x:",
            "9:30",
        ];
        let mut tok = String::new();
        for b in blocks {
            let mut row = [0.0; TEXT_END];
            text_features(b, &lex, &mut row, &mut tok);
            let want = text_features_reference(b, &model.meta);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&row), bits(&want), "{b:?}");
        }
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Pieces the generated blocks are made of: list words in any case, the substring
    /// patterns and their near misses, times, separators, closers and Unicode.
    const PIECES: [&str; 40] = [
        "the",
        "The",
        "THE",
        "of",
        "yourselves",
        "Themselves",
        "march",
        "SEPT",
        "comments",
        "Wrote:",
        "(c)",
        "(C)",
        "( c)",
        "CopyRight",
        "copyrigh",
        "http",
        "HtTp:",
        "htp",
        "www.",
        "WWW",
        ".com",
        ".COm",
        ".co",
        "me@x",
        "9:30",
        "12:0",
        "1:2:34",
        "x:",
        " ",
        "\t",
        "\n",
        "\x0b",
        "\x1c",
        "|",
        ">",
        "/",
        "\")",
        "»",
        "É",
        "ß",
    ];

    fn check_block(block: &str, lex: &Lexicon, meta: &crate::context::model::ModelMeta) {
        let mut row = [0.0; TEXT_END];
        text_features(block, lex, &mut row, &mut String::new());
        assert_eq!(
            bits(&row),
            bits(&text_features_reference(block, meta)),
            "{block:?}"
        );
        // The byte-at-a-time scan too (the dispatched one is the AVX-512 scan here).
        FORCE_BYTE_SCAN.set(true);
        let mut bytes = [0.0; TEXT_END];
        text_features(block, lex, &mut bytes, &mut String::new());
        FORCE_BYTE_SCAN.set(false);
        assert_eq!(bits(&bytes), bits(&row), "byte scan {block:?}");
    }

    #[test]
    fn every_listed_word_is_found_in_the_word_table() {
        let (_, lex) = shipped();
        for (w, &f) in &lex.words {
            if w.is_ascii() && w.len() <= SHORT {
                assert_eq!(lex.ascii_flags(w.to_uppercase().as_bytes()), f, "{w}");
            }
        }
        for w in ["", "zzz", "thee", "th", "januaryx", "0"] {
            assert_eq!(lex.ascii_flags(w.as_bytes()), lex.flags(w), "{w}");
        }
        // Larger and tiny lists: every word is found with its flags, and near misses
        // are not.
        for count in [0, 1, 2, 700] {
            let many: Vec<(u128, usize, u8)> = (0..count)
                .map(|i| {
                    let w = format!("w{i}");
                    (short_key(w.as_bytes()), w.len(), 1 + i as u8 % 7)
                })
                .collect();
            let table = WordTable::new(&many);
            for &(key, len, flags) in &many {
                assert_eq!(table.get(key, len), flags);
            }
            for i in count..count + 200 {
                let w = format!("w{i}");
                assert_eq!(table.get(short_key(w.as_bytes()), w.len()), 0, "{w}");
            }
            assert_eq!(table.get(0, 0), 0);
        }
    }

    /// Both scans of ASCII blocks around the bitmap sizes (64 and 256 bytes) and the words'
    /// edges: words across a 64-byte boundary, a block ending inside a word, only spaces.
    #[test]
    fn word_scans_agree_at_bitmap_edges() {
        let (model, lex) = shipped();
        let mut next = crate::test_rng::xorshift(0x2545_f491_4f6c_dd1du64);
        let alphabet = b" \t\nThe (c)a,bB.9:x-|\"'";
        for n in [0, 1, 2, 63, 64, 65, 127, 128, 129, 255, 256, 257, 300] {
            for _ in 0..200 {
                let block: String = (0..n)
                    .map(|_| alphabet[next() as usize % alphabet.len()] as char)
                    .collect();
                check_block(&block, &lex, &model.meta);
            }
            check_block(&" ".repeat(n), &lex, &model.meta);
            check_block(&"Word".repeat(n / 4), &lex, &model.meta);
        }
    }

    use proptest::strategy::Strategy;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Blocks built from the pieces above and arbitrary ASCII bytes (ASCII path).
        #[test]
        fn ascii_text_features_equal_the_reference(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    (0..PIECES.len()).prop_map(|i| PIECES[i].to_string()),
                    "[\\x00-\\x7f]{0,20}",
                ],
                0..30,
            )
        ) {
            let model = crate::context::model::Model::shipped().unwrap();
            let lex = Lexicon::new(&model.meta);
            let block = parts.concat();
            check_block(&block, &lex, &model.meta);
            let b = block.as_bytes();
            if b.is_ascii() {
                let mut buf = b.to_vec();
                buf.extend([0; PATTERN_PAD]);
                proptest::prop_assert_eq!(ascii_patterns(&buf, b.len()), ascii_patterns_scalar(b));
            }
        }

        /// Arbitrary strings (Unicode path, and ASCII words inside it).
        #[test]
        fn unicode_text_features_equal_the_reference(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    (0..PIECES.len()).prop_map(|i| PIECES[i].to_string()),
                    ".{0,12}",
                ],
                0..20,
            )
        ) {
            let model = crate::context::model::Model::shipped().unwrap();
            let lex = Lexicon::new(&model.meta);
            check_block(&parts.concat(), &lex, &model.meta);
        }
    }

    #[test]
    fn only_kelvin_and_dotted_i_lowercase_to_ascii() {
        // Every char: the ASCII chars its lowercase holds (what `text_features_unicode`'s
        // ASCII-lowercased pattern search relies on).
        let mut found = Vec::new();
        for c in (0..=0x10ffffu32)
            .filter_map(char::from_u32)
            .filter(|c| !c.is_ascii())
        {
            let low: String = c.to_lowercase().collect();
            if low.chars().any(|l| l.is_ascii()) {
                found.push((c, low));
            }
        }
        assert_eq!(
            found,
            [
                ('\u{130}', "i\u{307}".to_string()),
                ('\u{212a}', "k".to_string())
            ]
        );
        let (model, lex) = shipped();
        for block in [
            "COPYR\u{130}GHT \u{212a}",
            "copyr\u{130}ght",
            "\u{212a}HTTP://x",
            "WWW.\u{130}",
            "(\u{212a}) (C) \u{a9}",
            "\u{3a3}\u{3a3} .COM",
            "─── • — │ ’",
        ] {
            check_block(block, &lex, &model.meta);
        }
    }

    #[test]
    fn wide_class_table_equals_the_char_predicates() {
        let (model, lex) = shipped();
        let separators: Vec<char> = model.meta.separators.chars().collect();
        for c in (0x80..0x4000u32).filter_map(char::from_u32) {
            assert_eq!(lex.class(c), char_class(c, &separators), "{c:?}");
        }
    }

    #[test]
    fn lowercase_ascii_lowercases_letters_only() {
        for b in 0..128u8 {
            let x = u128::from_le_bytes([b; 16]);
            assert_eq!(
                lowercase_ascii(x),
                u128::from_le_bytes([b.to_ascii_lowercase(); 16]),
                "{b}"
            );
        }
    }

    #[test]
    fn patterns_at_block_edges() {
        for (block, want) in [
            ("(c)", P_COPYRIGHT),
            ("xx(C", 0),
            ("COPYRIGHT", P_COPYRIGHT),
            ("copyrigh", 0),
            ("a.Com", P_URL),
            ("ww.", 0),
            ("xxxxxxxxxxxxxxhttp", P_URL),
            ("xxxxxxxxxxxxxxxhttp", P_URL),
            ("xxxxxxxxxxxxxxxxhtt", 0),
            ("@", P_AT),
            ("1:23", P_TIME),
            ("1:2", 0),
            (
                "x@y 10:45 www.a.com (c)",
                P_COPYRIGHT | P_URL | P_AT | P_TIME,
            ),
        ] {
            let mut buf = block.as_bytes().to_vec();
            buf.extend([0; PATTERN_PAD]);
            assert_eq!(ascii_patterns_scalar(block.as_bytes()), want, "{block:?}");
            assert_eq!(ascii_patterns(&buf, block.len()), want, "{block:?}");
        }
    }

    #[test]
    fn best_run_keeps_the_first_maximum() {
        assert_eq!(best_run([-1.0, 3.0, -1.0, 2.0, -5.0, 3.0]), Some((1, 3)));
        assert_eq!(best_run([-1.0, 3.0, -1.0, 1.0]), Some((1, 1)));
        assert_eq!(best_run([2.0, -2.0, 2.0]), Some((0, 0)));
        assert_eq!(best_run([-1.0, 0.0]), None);
        assert_eq!(best_run([]), None);
    }

    #[test]
    fn time_pattern() {
        assert!(has_time("at 9:30 pm"));
        assert!(has_time("12:00"));
        assert!(!has_time("9:3"));
        assert!(!has_time(":30"));
        assert!(!has_time("a:bc"));
    }
}
