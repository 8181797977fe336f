//! The id and text of a mapped JSONL record, decoded faster than the general parser for the
//! records dedup mostly sees.
//!
//! [`crate::corpus::parse_jsonl_record`] goes through a general scanner and builds
//! [`crate::corpus::JsonFields`]; this walks one line of the mapped file and decodes the text
//! with [`crate::json_str`] (escapes decoded in 64-byte registers with AVX-512: c100's texts
//! have an escape every ~32 bytes, and decoding was ~10 % of a whole `dedup` run).
//!
//! Only the simplest records take this path: an object whose members are all strings (the id
//! may also be `null`), keys without escapes, neither field named twice. Anything else — other
//! value types, surrogate escapes, control characters, malformed JSON, invalid UTF-8 — goes
//! to [`crate::corpus::parse_jsonl_record`], which gives the same fields or the exact error
//! message. So the result is always that function's (property-tested below).

use crate::corpus::{self, FieldNames, Origin};
use crate::error::Result;
use crate::json_str;

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
        let key_end = json_str::next_special(b, key_start)?;
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
                    let (s, end) = json_str::decode_str(line, pos + 1)?;
                    text = Some(s);
                    pos = end;
                } else if key == fields.id {
                    if id_seen {
                        return None;
                    }
                    id_seen = true;
                    let (s, end) = json_str::decode_str(line, pos + 1)?;
                    id = Some(s);
                    pos = end;
                } else {
                    pos = json_str::skip(b, pos + 1)?;
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
