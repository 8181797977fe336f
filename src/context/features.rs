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

use rustc_hash::{FxHashMap, FxHashSet};

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

/// The word lists and character sets of the text features (shipped with the model).
///
/// Why one map and a byte table: every token was looked up in three `HashSet`s with a
/// streaming xxh3 hasher, and every character went through four Unicode predicates and a
/// linear scan of the separators — together ~30 % of `clean --policy context` on the man
/// pages. One FxHash map from token to list flags, and a 128-entry class table for ASCII
/// (filled from the very predicates the non-ASCII path still calls), count the same things.
#[derive(Debug, Clone)]
pub struct Lexicon {
    words: rustc_hash::FxHashMap<String, u8>,
    /// Longest word of the three lists: longer tokens are not looked up.
    longest: usize,
    separators: Vec<char>,
    closers: Vec<char>,
    ascii: [u8; 128],
}

impl Lexicon {
    pub fn new(meta: &super::model::ModelMeta) -> Self {
        let mut words = rustc_hash::FxHashMap::<String, u8>::default();
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
        let mut ascii = [0u8; 128];
        for (b, class) in ascii.iter_mut().enumerate() {
            let c = b as u8 as char;
            *class = (c.is_alphabetic() as u8 * ALPHA)
                | (c.is_numeric() as u8 * NUMERIC)
                | (c.is_uppercase() as u8 * UPPER)
                | (c.is_whitespace() as u8 * SPACE)
                | (separators.contains(&c) as u8 * SEPARATOR);
        }
        Lexicon {
            longest: words.keys().map(String::len).max().unwrap_or(0),
            words,
            separators,
            closers: meta.closers.chars().collect(),
            ascii,
        }
    }

    /// List flags of `token` (0 when in none).
    fn flags(&self, token: &str) -> u8 {
        self.words.get(token).copied().unwrap_or(0)
    }

    /// Class bits of `c` (see [`ALPHA`] etc.).
    fn class(&self, c: char) -> u8 {
        match self.ascii.get(c as usize) {
            Some(&class) => class,
            None => {
                (c.is_alphabetic() as u8 * ALPHA)
                    | (c.is_numeric() as u8 * NUMERIC)
                    | (c.is_uppercase() as u8 * UPPER)
                    | (c.is_whitespace() as u8 * SPACE)
                    | (self.separators.contains(&c) as u8 * SEPARATOR)
            }
        }
    }
}

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

/// True when `s` contains an ASCII digit, `:`, two ASCII digits (Python `[0-9]{1,2}:[0-9]{2}`).
fn has_time(s: &str) -> bool {
    let b = s.as_bytes();
    (1..b.len().saturating_sub(2)).any(|i| {
        b[i] == b':'
            && b[i - 1].is_ascii_digit()
            && b[i + 1].is_ascii_digit()
            && b[i + 2].is_ascii_digit()
    })
}

/// Writes the 19 text features of `block` (already trimmed) into `row[..19]`; `tok` is
/// scratch space.
pub fn text_features(block: &str, lex: &Lexicon, row: &mut [f64], tok: &mut String) {
    let ascii = block.is_ascii();
    let (mut nw, mut word_chars, mut stop, mut cap) = (0usize, 0usize, 0usize, 0usize);
    let (mut month, mut comment) = (false, false);
    let mut word = |w: &str, stripped: &str, tok: &mut String| {
        nw += 1;
        word_chars += if w.is_ascii() {
            w.len()
        } else {
            w.chars().count()
        };
        cap += w.chars().next().is_some_and(char::is_uppercase) as usize;
        tok.clear();
        if stripped.is_ascii() {
            if stripped.len() > lex.longest {
                return;
            }
            tok.push_str(stripped);
            tok.make_ascii_lowercase();
        } else {
            for c in stripped.chars() {
                tok.extend(c.to_lowercase());
            }
        }
        let flags = lex.flags(tok);
        stop += (flags & STOP != 0) as usize;
        if !tok.is_empty() {
            month |= flags & MONTH != 0;
            comment |= flags & COMMENT != 0;
        }
    };
    if ascii {
        // The same words as below without decoding characters: for ASCII, `split_whitespace`
        // splits at exactly the bytes whose class has SPACE, and `alnum` is ALPHA | NUMERIC.
        let bytes = block.as_bytes();
        let class = |b: u8| lex.ascii[b as usize];
        let mut i = 0;
        while i < bytes.len() {
            if class(bytes[i]) & SPACE != 0 {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && class(bytes[i]) & SPACE == 0 {
                i += 1;
            }
            let w = &bytes[start..i];
            let keep = |b: &u8| class(*b) & (ALPHA | NUMERIC) != 0;
            let (a, z) = match w.iter().position(keep) {
                Some(a) => (a, w.iter().rposition(keep).expect("found forwards") + 1),
                None => (0, 0),
            };
            // Slices of an ASCII string at byte offsets: always on char boundaries.
            word(&block[start..i], &block[start + a..start + z], tok);
        }
    } else {
        for w in block.split_whitespace() {
            word(w, w.trim_matches(|c: char| !alnum(c)), tok);
        }
    }
    let (mut nc, mut alpha, mut digit, mut upper, mut punct, mut sep) = (0, 0, 0, 0, 0, 0);
    let mut count = |class: u8| {
        nc += 1;
        alpha += (class & ALPHA != 0) as usize;
        digit += (class & NUMERIC != 0) as usize;
        upper += (class & UPPER != 0) as usize;
        punct += (class & (ALPHA | NUMERIC | SPACE) == 0) as usize;
        sep += (class & SEPARATOR != 0) as usize;
    };
    if ascii {
        for &b in block.as_bytes() {
            count(lex.ascii[b as usize]);
        }
    } else {
        for c in block.chars() {
            count(lex.class(c));
        }
    }
    let t = block
        .trim_end()
        .trim_end_matches(|c| lex.closers.contains(&c));
    let last = t.chars().next_back();
    // Lowercased copy for the substring flags; the common ASCII case reuses `tok`.
    let owned;
    let low: &str = if ascii {
        tok.clear();
        tok.push_str(block);
        tok.make_ascii_lowercase();
        tok.as_str()
    } else {
        owned = block.to_lowercase();
        &owned
    };
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
    row[12] = flag(block.contains('\u{a9}') || low.contains("(c)") || low.contains("copyright"));
    row[13] = flag(low.contains("http") || low.contains("www.") || low.contains(".com"));
    row[14] = flag(block.contains('@'));
    row[15] = flag(has_time(block));
    row[16] = flag(month);
    row[17] = flag(comment);
    row[18] = flag(block.chars().next().is_some_and(char::is_uppercase));
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
    let n = blocks.len();
    assert!(
        keys.len() == n && rep.len() == n,
        "one key and one evidence per block"
    );
    let mut x = vec![0.0; n * N_FEATURES];
    let mut tok = String::new();
    let mut key_count: FxHashMap<u64, u32> = FxHashMap::default();
    key_count.reserve(n);
    for &k in keys {
        *key_count.entry(k).or_default() += 1;
    }
    let mut seen: FxHashSet<u64> = FxHashSet::default();
    seen.reserve(n);
    let mut words = Vec::with_capacity(n);
    let mut flagged = Vec::with_capacity(n);
    for (i, row) in x.chunks_exact_mut(N_FEATURES).enumerate() {
        text_features(blocks[i], lex, &mut row[..TEXT_END], &mut tok);
        let r = rep[i];
        let inpage = key_count[&keys[i]] - 1;
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
        row[24] = flag(seen.insert(keys[i]));
        row[25] = flag(f);
        words.push(row[WORDS] as usize);
        flagged.push(f);
    }
    position_features(&mut x, &words, &flagged);
    neighbour_features(&mut x, n);
    x
}

/// Columns 26..43 (see the module docs and the README's definitions).
fn position_features(x: &mut [f64], words: &[usize], flagged: &[bool]) {
    let n = words.len();
    let total: usize = words.iter().sum();
    let kept: Vec<usize> = words
        .iter()
        .zip(flagged)
        .map(|(&w, &f)| if f { 0 } else { w })
        .collect();
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

    #[test]
    fn text_features_equal_the_reference() {
        let model = crate::context::model::Model::shipped().unwrap();
        let lex = Lexicon::new(&model.meta);
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
