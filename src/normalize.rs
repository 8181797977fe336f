//! Normalization of block text into the string its keys and shingles are computed from.
//!
//! Two blocks that differ only in case, digits, punctuation, Unicode presentation or spacing
//! ("(c) 2013 Globe" / "© 2014 Globe") should hash alike, so keys are computed from:
//! NFKC, lowercase, every digit -> `0`, everything that is neither alphanumeric nor white space
//! dropped, white space runs collapsed to one space and trimmed. Output text always keeps the
//! original bytes; normalization is only ever used for hashing.

use unicode_normalization::UnicodeNormalization;

#[cfg(target_arch = "x86_64")]
mod avx512;

/// Bumped whenever [`normalize`] changes its output for any input: every stored key changes
/// with it, so signature databases record this number and refuse a mismatch.
pub const NORMALIZER_VERSION: u16 = 1;

/// Normalizes `text` (see the module docs). Idempotent: `normalize(normalize(x)) == normalize(x)`.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    normalize_into(text, &mut out);
    out
}

/// Like [`normalize`], writing into `out` (cleared first) so hot loops reuse one buffer.
///
/// Only words containing non-ASCII bytes go through Unicode normalization. Why that gives
/// the same result as normalizing the whole text (checked against
/// [`normalize_reference`] by property tests): every step distributes over ASCII white space.
/// NFKC decomposes per character, reorders only runs of combining marks (ASCII white space
/// has combining class 0, so a run never crosses it) and composes a character only with the
/// last starter before it, which across a space is the space itself, and no composition
/// starts with a space or a control character. Lowercasing (`char::to_lowercase`) and
/// dropping are per character, and the space collapsing joins the per-word results with
/// one space. So each round of the fixed-point loop, and hence the loop itself, can run on
/// each word separately.
pub fn normalize_into(text: &str, out: &mut String) {
    normalize_words_into(text, out);
}

/// [`normalize_into`], returning the number of words of the result (its single spaces plus
/// one, 0 when empty), which the AVX-512 path counts as it goes.
pub fn normalize_words_into(text: &str, out: &mut String) -> usize {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() && !FORCE_SCALAR.get() {
        // SAFETY: the features are checked; the buffer holds ASCII only (or nothing).
        if let Some(spaces) = unsafe { avx512::normalize_ascii(text.as_bytes(), out.as_mut_vec()) }
        {
            return spaces + usize::from(!out.is_empty());
        }
    }
    normalize_into_scalar(text, out);
    count_spaces(out.as_bytes()) + usize::from(!out.is_empty())
}

/// Number of `b' '` bytes. Sixteen bytes at a time summed as `u8` (one compare and one
/// add per vector, reduced once per chunk): `filter().count()` vectorized into widening
/// each match to a `u64` lane, ~1.7 % of `clean --db` (`perf report --sort srcline`).
fn count_spaces(bytes: &[u8]) -> usize {
    let mut chunks = bytes.chunks_exact(16);
    let mut n = 0usize;
    for c in &mut chunks {
        n += c.iter().map(|&b| u8::from(b == b' ')).sum::<u8>() as usize;
    }
    n + chunks.remainder().iter().filter(|&&b| b == b' ').count()
}

thread_local! {
    /// Tests: make [`normalize_into`] take the scalar loop even where AVX-512 is there.
    static FORCE_SCALAR: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// [`normalize_into`] with the scalar loop only, whatever the CPU (hidden: for the tests
/// that compare it with the AVX-512 path).
#[doc(hidden)]
pub fn normalize_scalar(text: &str) -> String {
    FORCE_SCALAR.set(true);
    let out = normalize(text);
    FORCE_SCALAR.set(false);
    out
}

/// The byte loop of [`normalize_into`] (all of it on CPUs without AVX-512, and for text with a
/// non-ASCII byte everywhere).
fn normalize_into_scalar(text: &str, out: &mut String) {
    let bytes = text.as_bytes();
    let n = bytes.len();
    // SAFETY: only ASCII bytes and whole normalized words (valid UTF-8 appended at a
    // character boundary) are written, and the length is set to the written part at the end.
    let buf = unsafe { out.as_mut_vec() };
    // The ASCII loop writes without branching on what it writes: a space that is kept only
    // when due, then the byte, which is kept only when it is a letter or digit. It writes
    // through a raw pointer into the vector's spare capacity, with its state in locals: with
    // indexed writes into the `Vec` (a bounds check per write, nothing zeroed ahead) the
    // compiler reloaded the vector's pointer and length and spilled the loop state to the
    // stack on every byte (`perf annotate`). Room: with `slack = capacity - p - (n - i)`,
    // `slack >= 2 + pending_space` holds before every byte (a kept byte after a pending
    // space writes two bytes, but the white-space byte that made the space pending wrote
    // none), so the two writes at `p` and at most `p + 1` stay inside the capacity.
    buf.clear();
    buf.reserve(n + 2);
    let mut p = 0usize;
    let mut pending_space = false;
    // Where the current word started, in `text` and in `buf`, for handing a word with a
    // non-ASCII byte over to the Unicode path after its ASCII prefix was already written.
    let (mut word_start, mut p_at_word) = (0usize, 0usize);
    let mut scratch = String::new();
    let mut i = 0;
    while i < n {
        let dst = buf.as_mut_ptr();
        // Whether anything was written (`p > 0`), tracked apart from `p`: a space becomes
        // pending only after written text, so the space write needs no `p > 0` test that
        // would put a compare on `p`'s chain from byte to byte (the loop's critical path).
        let mut started = p > 0;
        while i < n {
            let class = ASCII_CLASS[bytes[i] as usize];
            if class == NON_ASCII {
                break;
            }
            let kept = class >= FIRST_KEPT;
            let space = class == SPACE;
            // SAFETY: `p + 1 < capacity` by the room invariant above.
            unsafe { dst.add(p).write(b' ') };
            let q = p + usize::from(kept & pending_space);
            // SAFETY: as above; `q <= p + 1`.
            unsafe { dst.add(q).write(class) };
            p = q + usize::from(kept);
            pending_space = (pending_space | (space & started)) & !kept;
            started |= kept;
            i += 1;
            if space {
                word_start = i;
                p_at_word = p;
            }
        }
        if i >= n {
            break;
        }
        // Non-ASCII: redo the whole word (up to the next ASCII white space) in Unicode. A
        // word after the first one follows white space, so a space is pending before it.
        p = p_at_word;
        pending_space = word_start > 0;
        let end = bytes[i..]
            .iter()
            .position(|&c| ASCII_CLASS[c as usize] == SPACE)
            .map_or(n, |k| i + k);
        normalize_unicode(&text[word_start..end], &mut scratch);
        if !scratch.is_empty() {
            // SAFETY: every byte below `p` was written (`p` only ever passes written bytes).
            unsafe { buf.set_len(p) };
            if pending_space && p > 0 {
                buf.push(b' ');
            }
            buf.extend_from_slice(scratch.as_bytes());
            p = buf.len();
            pending_space = false;
            // Restores the room invariant (slack 2) for the rest of the text.
            buf.reserve(n - end + 2);
        }
        // Nothing written yet (a first word that normalized to nothing): no space pending.
        pending_space &= p > 0;
        i = end;
    }
    // SAFETY: every byte below `p` was written, and `p <= capacity`.
    unsafe { buf.set_len(p) };
}

/// [`ASCII_CLASS`]: the byte is dropped.
const DROP: u8 = 0;
/// [`ASCII_CLASS`]: ASCII white space (`\t \n \v \f \r` and space).
const SPACE: u8 = 1;
/// [`ASCII_CLASS`]: a non-ASCII byte (start or continuation of a multi-byte character).
const NON_ASCII: u8 = 2;
/// [`ASCII_CLASS`] values from here on are the byte to write (lowercased, digits as `0`).
const FIRST_KEPT: u8 = b'0';

/// What [`normalize_into`] does with each byte: one table load instead of three tests.
static ASCII_CLASS: [u8; 256] = {
    let mut t = [DROP; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c >= 0x80 {
            NON_ASCII
        } else if c.is_ascii_digit() {
            b'0'
        } else if c.is_ascii_alphabetic() {
            c.to_ascii_lowercase()
        } else if matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ') {
            SPACE
        } else {
            DROP
        };
        b += 1;
    }
    t
};

/// The whole-text Unicode normalization that [`normalize_into`] must equal on every input:
/// no ASCII shortcut, no splitting into words, no quick checks. Public (but hidden) for the
/// property tests.
#[doc(hidden)]
pub fn normalize_reference(text: &str) -> String {
    let mut out = String::new();
    // NFKC can expose characters that lowercasing or dropping change again (and dropping a mark
    // can make two characters composable), so iterate to a fixed point; it takes one or two
    // rounds in practice and only non-ASCII text pays for it.
    normalize_once(text.nfkc(), &mut out);
    for _ in 0..4 {
        let mut again = String::with_capacity(out.len());
        normalize_once(out.nfkc(), &mut again);
        if again == out {
            break;
        }
        out = again;
    }
    out
}

/// [`normalize_reference`] of `text` into `out` (cleared first), with two exact shortcuts.
///
/// Why: the non-ASCII words of the man pages are mostly ASCII words with a typographic
/// apostrophe or dash ("don’t", "—"), and the reference normalizes each twice through an
/// NFKC iterator plus a String per round (`normalize_unicode` was ~3.4 % of `clean --policy
/// context`, perf). The shortcuts: a text whose NFKC quick check says "yes" *is* in NFKC, so
/// its chars stand for `nfkc()`'s; and a round whose output is ASCII is a fixed point (NFKC,
/// lowercasing and the filter leave `[a-z0]` words joined by single spaces unchanged), so no
/// second round is needed. Property tests hold it to the reference.
fn normalize_unicode(text: &str, out: &mut String) {
    if unicode_normalization::is_nfkc_quick(text.chars())
        == unicode_normalization::IsNormalized::Yes
    {
        normalize_once(text.chars(), out);
    } else {
        normalize_once(text.nfkc(), out);
    }
    if out.is_ascii() {
        return;
    }
    for _ in 0..4 {
        let mut again = String::with_capacity(out.len());
        normalize_once(out.nfkc(), &mut again);
        if again == *out {
            return;
        }
        *out = again;
    }
}

/// One round of the normalization on `chars` (the NFKC form of a text) into `out`.
fn normalize_once(chars: impl Iterator<Item = char>, out: &mut String) {
    out.clear();
    let mut pending_space = false;
    for c in chars.flat_map(char::to_lowercase) {
        if c.is_whitespace() {
            pending_space = true;
        } else if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(if c.is_numeric() { '0' } else { c });
        }
    }
    // Re-compose what lowercasing may have decomposed.
    if !out.is_ascii() {
        let composed: String = out.nfkc().collect();
        if composed != *out {
            *out = composed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_digits_punctuation_and_space() {
        assert_eq!(
            normalize("  (c) 2013 Globe -- Mail!  "),
            "c 0000 globe mail"
        );
        assert_eq!(normalize("(C) 2014 Globe — Mail"), "c 0000 globe mail");
        assert_eq!(normalize("Ｆｕｌｌｗｉｄｔｈ １２"), "fullwidth 00");
        assert_eq!(normalize("Mail’s"), "mails");
        assert_eq!(normalize("...!!!"), "");
    }

    /// The AVX-512 path (where the CPU has it) equals the scalar loop at chunk boundaries:
    /// white space, dropped bytes and kept bytes on either side of byte 64 and 128.
    #[test]
    fn chunked_path_equals_scalar_at_chunk_edges() {
        for pad in 0..140 {
            for tail in [
                " a", "a", "  -- b", "-b", "b ", " ", "", "é x", " x é", "\tZ9",
            ] {
                for head in ["", " ", "x", "x ", "-", " -"] {
                    let text = format!(
                        "{head}{}{tail}",
                        "a ".repeat(pad / 2) + &"-".repeat(pad % 2)
                    );
                    assert_eq!(normalize(&text), normalize_scalar(&text), "{text:?}");
                    let text = format!("{head}{}{tail}", " ".repeat(pad));
                    assert_eq!(normalize(&text), normalize_scalar(&text), "{text:?}");
                }
            }
        }
    }

    /// The word count equals the words of the result, on both paths.
    #[test]
    fn word_count_is_the_words_of_the_result() {
        for text in [
            "",
            " ",
            "a",
            " a b ",
            "x-y z",
            "é ü",
            &"word ".repeat(40),
            "a\tb\nc",
        ] {
            let mut out = String::new();
            let n = normalize_words_into(text, &mut out);
            assert_eq!(
                n,
                out.split(' ').filter(|w| !w.is_empty()).count(),
                "{text:?}"
            );
            FORCE_SCALAR.set(true);
            assert_eq!(normalize_words_into(text, &mut out), n, "{text:?}");
            FORCE_SCALAR.set(false);
        }
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 2000,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x0a5c_11e5),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]
        /// Mostly-ASCII text of up to 300 bytes (several 64-byte chunks), with runs of every
        /// kind of byte and now and then a non-ASCII character: the dispatched path equals the
        /// scalar loop.
        #[test]
        fn dispatched_normalize_equals_scalar(text in "([a-zA-Z0-9]{1,9}|[ \t\n\r\x0b\x0c]{1,4}|[-.,!()*\x00\x7f]{1,3}|é|Ｆ){0,60}") {
            prop_assert_eq!(normalize(&text), normalize_scalar(&text));
        }
    }

    /// The shortcuts of `normalize_unicode` (quick check "yes", ASCII output) give the
    /// reference's result, on the man pages' typical words and on texts whose quick check is
    /// "no" or "maybe" or whose output stays non-ASCII.
    #[test]
    fn unicode_shortcuts_equal_the_reference() {
        let mut out = String::new();
        for s in [
            "don’t",
            "—",
            "──",
            "•",
            "“quoted”",
            "café",
            "e\u{301}",
            "ﬁne",
            "Ⅻ",
            "½",
            "İstanbul",
            "ǅ",
            "ΣΊΣΥΦΟΣ",
            "Ｆｕｌｌ",
            "\u{1e9e}",
            "a\u{308}\u{301}",
            "\u{300}x",
            "ℌ",
            "㎏",
            "\u{ac00}\u{11a8}",
            "\u{a0}x\u{a0}",
            "x\u{2028}y",
        ] {
            normalize_unicode(s, &mut out);
            assert_eq!(out, normalize_reference(s), "{s:?}");
        }
    }

    #[test]
    fn idempotent_on_tricky_unicode() {
        for s in [
            "İstanbul",
            "ǅ",
            "ﬁne",
            "e\u{301}",
            "Σίσυφος",
            "ᾼ",
            "½ cup",
            "\u{1e9e}",
        ] {
            let once = normalize(s);
            assert_eq!(normalize(&once), once, "{s:?}");
        }
    }
}
