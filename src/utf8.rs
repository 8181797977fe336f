//! UTF-8 checks with `simdutf8` (SIMD, the kernel picked at run time), falling back to the
//! standard library only to describe an error, so messages stay exactly std's.
//!
//! Why: std's check runs a word at a time over ASCII but a byte loop around every non-ASCII
//! character; it was ~4 % of `dedup` on make_corpus text and ~2 % of `clean --db` (every
//! JSONL line and the signature DB's example text are checked once).

/// `std::str::from_utf8`, faster.
pub fn str_from(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(_) => std::str::from_utf8(bytes),
    }
}

/// `String::from_utf8`, faster.
pub fn string_from(bytes: Vec<u8>) -> Result<String, std::string::FromUtf8Error> {
    if simdutf8::basic::from_utf8(&bytes).is_ok() {
        // SAFETY: just checked to be UTF-8.
        Ok(unsafe { String::from_utf8_unchecked(bytes) })
    } else {
        String::from_utf8(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Valid and invalid inputs give std's results, errors included (position and kind).
    #[test]
    fn agrees_with_std() {
        let cases: [&[u8]; 8] = [
            b"",
            b"plain ascii",
            "é中😀 mixed".as_bytes(),
            b"bad \xff byte",
            b"truncated \xe4\xb8",
            b"\xed\xa0\x80 surrogate",
            b"overlong \xc0\xaf",
            &[b'a'; 100],
        ];
        for c in cases {
            assert_eq!(str_from(c), std::str::from_utf8(c), "{c:?}");
            assert_eq!(
                string_from(c.to_vec()).map_err(|e| e.utf8_error()),
                String::from_utf8(c.to_vec()).map_err(|e| e.utf8_error()),
                "{c:?}"
            );
        }
    }
}
