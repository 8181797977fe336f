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
pub fn normalize_into(text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() {
        normalize_ascii(text.as_bytes(), out);
        return;
    }
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

fn normalize_ascii(bytes: &[u8], out: &mut String) {
    let mut pending_space = false;
    for &b in bytes {
        if b.is_ascii_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(if b.is_ascii_digit() {
                '0'
            } else {
                b.to_ascii_lowercase() as char
            });
        } else if b.is_ascii_whitespace() || b == 0x0b {
            pending_space = true;
        }
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
