//! The id and text of a mapped JSONL record, decoded faster than the general parser for the
//! records dedup mostly sees.
//!
//! [`crate::corpus::parse_jsonl_record`] copies the text field between escapes one segment at
//! a time (a `memcpy` call per segment); c100's texts have an escape every ~33 bytes (mostly
//! `\n`), so that was ~3 million short copies, 13-15 % of a whole `dedup` run's samples
//! (`Scanner::string` + `memmove` + `escape`). Here the text is copied 16 bytes at a time
//! unconditionally into a buffer with 16 bytes of slack, and the position of the first `"`,
//! `\` or control byte in those 16 decides how many of them count: no call and no branch per
//! byte between escapes.
//!
//! Only the simplest records take this path: an object whose members are all strings (the id
//! may also be `null`), keys without escapes, neither field named twice. Anything else — other
//! value types, surrogate escapes, control characters, malformed JSON, invalid UTF-8 — goes
//! to [`crate::corpus::parse_jsonl_record`], which gives the same fields or the exact error
//! message. So the result is always that function's (property-tested below).

use crate::corpus::{self, FieldNames, Origin};
use crate::error::Result;

/// The id (the `file:line` label when the record has none) and text of one JSONL record
/// (`bytes` without its line ending): [`corpus::parse_jsonl_record`], faster.
pub fn parse(origin: &Origin, bytes: &[u8], fields: &FieldNames) -> Result<(String, String)> {
    match fast(bytes, fields) {
        Some((id, text)) => Ok((id.unwrap_or_else(|| origin.label()), text)),
        None => corpus::parse_jsonl_record(origin, bytes, fields),
    }
}

/// The fields of a simple record, or `None` when the general parser must decide.
fn fast(bytes: &[u8], fields: &FieldNames) -> Option<(Option<String>, String)> {
    if fields.text == fields.id {
        return None;
    }
    let line = crate::utf8::str_from(bytes).ok()?;
    let b = line.as_bytes();
    let mut pos = ws(b, 0);
    if b.get(pos) != Some(&b'{') {
        return None;
    }
    pos = ws(b, pos + 1);
    let (mut text, mut id, mut id_seen) = (None, None, false);
    loop {
        if b.get(pos) != Some(&b'"') {
            return None;
        }
        let key_start = pos + 1;
        let key_end = key_start + next_special(b, key_start)?;
        if b[key_end] != b'"' {
            return None;
        }
        let key = &line[key_start..key_end];
        pos = ws(b, key_end + 1);
        if b.get(pos) != Some(&b':') {
            return None;
        }
        pos = ws(b, pos + 1);
        match b.get(pos)? {
            b'"' => {
                if key == fields.text {
                    if text.is_some() {
                        return None;
                    }
                    let (s, end) = decode_string(b, pos + 1)?;
                    text = Some(s);
                    pos = end;
                } else if key == fields.id {
                    if id_seen {
                        return None;
                    }
                    id_seen = true;
                    let (s, end) = decode_string(b, pos + 1)?;
                    id = Some(s);
                    pos = end;
                } else {
                    pos = skip_string(b, pos + 1)?;
                }
            }
            b'n' if key == fields.id && !id_seen && b[pos..].starts_with(b"null") => {
                id_seen = true;
                pos += 4;
            }
            _ => return None,
        }
        pos = ws(b, pos);
        match b.get(pos)? {
            b',' => pos = ws(b, pos + 1),
            b'}' => {
                pos = ws(b, pos + 1);
                break;
            }
            _ => return None,
        }
    }
    if pos != b.len() {
        return None;
    }
    Some((id, text?))
}

/// Past JSON white space (as serde_json defines it) from `pos`.
#[inline]
fn ws(b: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = b.get(pos) {
        pos += 1;
    }
    pos
}

/// Bit `i` set when `block[i]` is `"`, `\` or a control byte (below 0x20).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn specials16(block: &[u8; 16]) -> u32 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86-64 baseline; the load reads the 16 bytes of `block`.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast());
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        let m = _mm_or_si128(
            _mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8)),
            ),
            control,
        );
        _mm_movemask_epi8(m) as u32
    }
}

/// [`specials16`], byte by byte.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
fn specials16_scalar(block: &[u8; 16]) -> u32 {
    block
        .iter()
        .enumerate()
        .map(|(i, &c)| ((c == b'"' || c == b'\\' || c < 0x20) as u32) << i)
        .fold(0, |a, b| a | b)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn specials16(block: &[u8; 16]) -> u32 {
    specials16_scalar(block)
}

/// Offset from `from` of the next `"`, `\` or control byte, if any.
#[inline]
fn next_special(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(block) = b.get(i..i + 16) {
        let m = specials16(block.try_into().expect("16 bytes"));
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize - from);
        }
        i += 16;
    }
    b[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| i + p - from)
}

/// Steps over a string whose opening quote is before `pos`, checking its escapes; the
/// position after the closing quote, or `None` (control byte, bad or surrogate escape).
fn skip_string(b: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        pos += next_special(b, pos)?;
        match b[pos] {
            b'"' => return Some(pos + 1),
            b'\\' => {
                let (_, len) = escape(b, pos + 1)?;
                pos += 1 + len;
            }
            _ => return None,
        }
    }
}

/// The escape after a backslash at `pos - 1`: the character and the escape's length after
/// the backslash; `None` for anything but the simple escapes and `\uXXXX` outside the
/// surrogate range (what the general parser leaves to serde_json).
#[inline]
fn escape(b: &[u8], pos: usize) -> Option<(char, usize)> {
    Some(match *b.get(pos)? {
        b'"' => ('"', 1),
        b'\\' => ('\\', 1),
        b'/' => ('/', 1),
        b'b' => ('\u{8}', 1),
        b'f' => ('\u{c}', 1),
        b'n' => ('\n', 1),
        b'r' => ('\r', 1),
        b't' => ('\t', 1),
        b'u' => {
            let hex = b.get(pos + 1..pos + 5)?;
            let mut v = 0u32;
            for &h in hex {
                v = v * 16 + (h as char).to_digit(16)?;
            }
            (char::from_u32(v)?, 5)
        }
        _ => return None,
    })
}

/// Decodes a string whose opening quote is before `pos` (`b` is valid UTF-8): the string
/// and the position after its closing quote, or `None` as [`skip_string`].
fn decode_string(b: &[u8], mut pos: usize) -> Option<(String, usize)> {
    // Decoding never makes a string longer than its escaped form, which the rest of the line
    // bounds; the slack takes the whole last block copied before the closing quote.
    let mut out: Vec<u8> = Vec::with_capacity(b.len() - pos + 16);
    let dst = out.as_mut_ptr();
    let mut n = 0;
    loop {
        // Copy 16 bytes, keep those before the first special one.
        while let Some(block) = b.get(pos..pos + 16) {
            let block: &[u8; 16] = block.try_into().expect("16 bytes");
            // SAFETY: `n <= pos - start` (decoding only shrinks), so `n + 16` is within the
            // capacity `b.len() - start + 16`.
            unsafe { std::ptr::copy_nonoverlapping(block.as_ptr(), dst.add(n), 16) };
            let m = specials16(block);
            if m != 0 {
                let k = m.trailing_zeros() as usize;
                pos += k;
                n += k;
                break;
            }
            pos += 16;
            n += 16;
        }
        if b.len() - pos < 16 {
            // The tail: byte by byte up to the next special byte.
            let k = b[pos..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
            // SAFETY: as above, `n + k <= b.len() - start`.
            unsafe { std::ptr::copy_nonoverlapping(b.as_ptr().add(pos), dst.add(n), k) };
            pos += k;
            n += k;
        }
        match b[pos] {
            b'"' => {
                // SAFETY: the first `n` bytes were written above.
                unsafe { out.set_len(n) };
                // The copied runs are whole characters of a valid UTF-8 line (they end at an
                // ASCII byte or the closing quote) and every escape was pushed as a `char`.
                debug_assert!(std::str::from_utf8(&out).is_ok());
                // SAFETY: see above.
                return Some((unsafe { String::from_utf8_unchecked(out) }, pos + 1));
            }
            b'\\' => {
                let (c, len) = escape(b, pos + 1)?;
                let mut utf8 = [0u8; 4];
                let enc = c.encode_utf8(&mut utf8).as_bytes();
                // SAFETY: an escape of 1 + `len` bytes decodes to at most that many (`\uXXXX`,
                // six bytes, to at most three), so `n` stays within the capacity as above.
                unsafe { std::ptr::copy_nonoverlapping(enc.as_ptr(), dst.add(n), enc.len()) };
                n += enc.len();
                pos += 1 + len;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn origin() -> Origin {
        Origin {
            path: Arc::new(PathBuf::from("in.jsonl")),
            line: 7,
        }
    }

    /// Fields, or the error message.
    type Parsed = Result<(String, String), String>;

    /// Both parsers' answers, errors as their messages.
    fn both(line: &str, fields: &FieldNames) -> (Parsed, Parsed) {
        let o = origin();
        (
            parse(&o, line.as_bytes(), fields).map_err(|e| e.to_string()),
            corpus::parse_jsonl_record(&o, line.as_bytes(), fields).map_err(|e| e.to_string()),
        )
    }

    #[test]
    fn simple_records_take_the_fast_path_and_agree() {
        let f = FieldNames::default();
        let long = "ab\\ncd\\\"e\\\\f\\/g\\u00e9\\u4e2d\\b\\f\\r\\t".repeat(9) + "é中 tail";
        for line in [
            r#"{"id": "d1", "text": "Hello\nworld"}"#.to_string(),
            r#"  { "text" : "x" , "id":null }  "#.to_string(),
            r#"{"text": "", "url": "http:\/\/a.b\/c"}"#.to_string(),
            format!(r#"{{"id":"{long}","text":"{long}","other":"{long}"}}"#),
            format!(r#"{{"text":"{}"}}"#, "x".repeat(15)),
            format!(r#"{{"text":"{}"}}"#, "y".repeat(16)),
            format!(r#"{{"text":"{}\n"}}"#, "z".repeat(31)),
        ] {
            assert!(fast(line.as_bytes(), &f).is_some(), "{line}");
            let (a, b) = both(&line, &f);
            assert_eq!(a, b, "{line}");
        }
    }

    #[test]
    fn unusual_records_are_left_to_the_general_parser() {
        let f = FieldNames::default();
        for line in [
            r#"{"id": 5, "text": "x"}"#,
            r#"{"text": "x", "n": 1.5}"#,
            r#"{"text": "x", "m": {"a": [1, true]}}"#,
            r#"{"text": "\ud83d\ude00"}"#,
            r#"{"text": "a", "text": "b"}"#,
            r#"{"id": "a", "id": null, "text": "b"}"#,
            "{\"text\": \"tab\tinside\"}",
            r#"{"te\u0078t": "x"}"#,
            r#"{"text": "x"} trailing"#,
            r#"{"text": "x",}"#,
            r#"{"text": "unterminated"#,
            r#"{"text": "bad \q escape"}"#,
            r#"{"text": "short \u12"}"#,
            r#"{}"#,
            r#"[]"#,
            r#"{"id": "no text"}"#,
            r#"{"text": nul}"#,
        ] {
            assert!(fast(line.as_bytes(), &f).is_none(), "{line}");
            let (a, b) = both(line, &f);
            assert_eq!(a, b, "{line}");
        }
        let invalid = b"{\"text\": \"\xff\"}";
        let o = origin();
        assert_eq!(
            parse(&o, invalid, &f).unwrap_err().to_string(),
            corpus::parse_jsonl_record(&o, invalid, &f)
                .unwrap_err()
                .to_string()
        );
        // Same name for both fields: the general parser decides.
        let same = FieldNames {
            text: "t".into(),
            id: "t".into(),
        };
        assert!(fast(br#"{"t": "x"}"#, &same).is_none());
    }

    /// Pieces of JSON strings: plain text, every escape, non-ASCII, and a few that force the
    /// general parser (surrogates, raw control bytes, bad escapes).
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z ]{0,40}",
            Just("\\n".to_string()),
            Just("\\\"".to_string()),
            Just("\\\\".to_string()),
            Just("\\/".to_string()),
            Just("\\t\\r\\b\\f".to_string()),
            Just("\\u00e9\\u4E2D".to_string()),
            Just("é中😀".to_string()),
            Just("\\ud83d".to_string()),
            Just("\u{1}".to_string()),
            Just("\\x".to_string()),
        ]
    }

    fn json_string() -> impl Strategy<Value = String> {
        prop::collection::vec(piece(), 0..12).prop_map(|p| format!("\"{}\"", p.concat()))
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x005e_edd5),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]
        #[test]
        fn always_agrees_with_the_general_parser(
            text in json_string(),
            id in prop_oneof![json_string(), Just("null".to_string()), Just("12".to_string())],
            other in json_string(),
            order in 0..6usize,
            space in prop_oneof![Just(""), Just(" "), Just(" \t\r\n ")],
            drop_id in any::<bool>(),
        ) {
            let mut members = vec![
                format!("\"text\"{space}:{space}{text}"),
                format!("\"other\":{space}{other}"),
            ];
            if !drop_id {
                members.push(format!("\"id\":{id}"));
            }
            let k = order % members.len();
            members.rotate_left(k);
            if order >= 3 {
                members.swap(0, 1);
            }
            let line = format!("{space}{{{space}{}{space}}}{space}", members.join(&format!("{space},{space}")));
            let f = FieldNames::default();
            let (a, b) = both(&line, &f);
            prop_assert_eq!(a, b, "{}", line);
        }
    }
}
