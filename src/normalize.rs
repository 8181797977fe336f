//! Normalization of block text into the string its keys and shingles are computed from.
//!
//! Two blocks that differ only in case, digits, punctuation, Unicode presentation or spacing
//! ("(c) 2013 Globe" / "© 2014 Globe") should hash alike, so keys are computed from:
//! NFKC, lowercase, every digit -> `0`, everything that is neither alphanumeric nor white space
//! dropped, white space runs collapsed to one space and trimmed. Output text always keeps the
//! original bytes; normalization is only ever used for hashing.

use unicode_normalization::UnicodeNormalization;

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
            #[cfg(target_arch = "x86_64")]
            if i + 16 <= n {
                // SAFETY: `i + 16 <= n`; room: see `word_run16`.
                let (len, last_space) =
                    unsafe { word_run16(bytes.as_ptr().add(i), dst, p, pending_space) };
                if len > 0 {
                    let at = p + usize::from(pending_space);
                    if let Some(s) = last_space {
                        word_start = i + s + 1;
                        p_at_word = at + s;
                    }
                    p = at + len;
                    i += len;
                    pending_space = false;
                    started = true;
                    continue;
                }
            }
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

/// The run of plain words at `src` that [`normalize_into`]'s ASCII loop would copy through
/// unchanged apart from the letters' case and the digits: up to 16 bytes of ASCII letters,
/// digits and single spaces, starting and ending with a letter or digit. Writes the pending
/// space (if any) at `dst + p` and the run's normalized bytes after it, and returns the run's
/// length (0: no run here, nothing meaningful written) and the position of its last space.
///
/// Why: most bytes of prose are in such runs, and the byte loop spends ~10 instructions on
/// each (a table load, the branch-free writes, the state updates); here 16 bytes take one
/// classification, one mapping (upper case `| 0x20`, digits to `0`) and one store. Same
/// bytes as the loop by construction (a space inside the run is always followed by a kept
/// byte, so it is written; the run starts with a kept byte, so a pending space is written
/// first) and by the property tests against [`normalize_reference`].
///
/// # Safety
/// `src` must have 16 readable bytes; `dst` must have room for 17 bytes from `p`, which the
/// room invariant of [`normalize_into`] gives (slack >= 2 with >= 16 bytes of input left).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn word_run16(
    src: *const u8,
    dst: *mut u8,
    p: usize,
    pending_space: bool,
) -> (usize, Option<usize>) {
    use std::arch::x86_64::*;
    let v = _mm_loadu_si128(src as *const __m128i);
    // x in [lo, lo + len) <=> (x + 0x80 - lo) as i8 < -128 + len (signed compare, SSE2).
    let in_range = |lo: u8, len: u8| {
        let t = _mm_add_epi8(v, _mm_set1_epi8(0x80u8.wrapping_sub(lo) as i8));
        _mm_cmplt_epi8(t, _mm_set1_epi8((0x80u8.wrapping_add(len)) as i8))
    };
    let upper = in_range(b'A', 26);
    let digit = in_range(b'0', 10);
    let kept = _mm_or_si128(_mm_or_si128(in_range(b'a', 26), upper), digit);
    let space = _mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8));
    let kept_mask = _mm_movemask_epi8(kept) as u32;
    let space_mask = _mm_movemask_epi8(space) as u32;
    // Bad: anything else, and the second space of a pair.
    let bad = !(kept_mask | space_mask) | (space_mask & (space_mask << 1)) | 0x1_0000;
    let mut len = bad.trailing_zeros() as usize;
    // The run ends with a kept byte (a trailing space is left to the loop: it may collapse).
    if len > 0 && space_mask & (1 << (len - 1)) != 0 {
        len -= 1;
    }
    // Starts with a kept byte (a leading space is the loop's: it may be leading white space).
    if len == 0 || kept_mask & 1 == 0 {
        return (0, None);
    }
    let lowered = _mm_or_si128(v, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
    let mapped = _mm_or_si128(
        _mm_andnot_si128(digit, lowered),
        _mm_and_si128(digit, _mm_set1_epi8(b'0' as i8)),
    );
    dst.add(p).write(b' ');
    _mm_storeu_si128(
        dst.add(p + usize::from(pending_space)) as *mut __m128i,
        mapped,
    );
    let spaces = space_mask & ((1u32 << len) - 1);
    let last_space = (spaces != 0).then(|| 31 - spaces.leading_zeros() as usize);
    (len, last_space)
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
/// no ASCII shortcut, no splitting into words. Public (but hidden) for the property tests.
#[doc(hidden)]
pub fn normalize_reference(text: &str) -> String {
    let mut out = String::new();
    normalize_unicode(text, &mut out);
    out
}

/// Unicode normalization of `text` into `out` (cleared first).
fn normalize_unicode(text: &str, out: &mut String) {
    // NFKC can expose characters that lowercasing or dropping change again (and dropping a mark
    // can make two characters composable), so iterate to a fixed point; it takes one or two
    // rounds in practice and only non-ASCII text pays for it.
    normalize_unicode_once(text, out);
    for _ in 0..4 {
        let mut again = String::with_capacity(out.len());
        normalize_unicode_once(out, &mut again);
        if again == *out {
            return;
        }
        *out = again;
    }
}

fn normalize_unicode_once(text: &str, out: &mut String) {
    out.clear();
    let mut pending_space = false;
    for c in text.nfkc().flat_map(char::to_lowercase) {
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

    #[test]
    fn word_runs_equal_the_reference() {
        // Mostly letters, digits and single spaces (the 16-byte run path), with the bytes
        // that end a run (punctuation, double and other white space, non-ASCII) at every
        // position relative to a 16-byte chunk, and leading / trailing white space.
        let pieces = [
            "a", "Z", "7", "q", " ", " ", "  ", ",", "\n", "\t", "é", "İ", "(", "x", "Mm",
        ];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in 0..70 {
            for _ in 0..30 {
                let mut text = String::new();
                for _ in 0..len {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Letters and single spaces nine times in ten.
                    let k = if x.is_multiple_of(10) {
                        (x >> 8) as usize % pieces.len()
                    } else {
                        (x >> 8) as usize % 5
                    };
                    text.push_str(pieces[k]);
                }
                assert_eq!(normalize(&text), normalize_reference(&text), "{text:?}");
            }
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
