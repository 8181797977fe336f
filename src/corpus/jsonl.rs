//! JSONL records: find the text and id fields by name without building a tree of the whole
//! record, and write a record back with only its text replaced.

mod fast;

pub(crate) use fast::write_json_str;

use super::FieldNames;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// Where [`JsonFields::parse_spanned`] found the text field's value (quotes included) in the
/// record it parsed; only meaningful for that record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextSpan(usize, usize);

/// The two fields dupsift needs from a record.
#[derive(Debug, PartialEq, Eq)]
pub struct JsonFields {
    pub text: String,
    pub id: Option<String>,
}

impl JsonFields {
    /// Parses one JSON line; the error is a reason for a message that names file and line.
    ///
    /// A hand-checked scanner ([`fast`]) takes the common records; whatever it is not sure
    /// about goes through serde_json, which gives the same fields or the error message.
    pub fn parse(line: &str, fields: &FieldNames) -> Result<JsonFields, String> {
        match fast::parse(line, fields) {
            Some(found) => Ok(found),
            None => Self::parse_serde(line, fields),
        }
    }

    /// [`JsonFields::parse`], and the byte span of the text field's value in `line` when
    /// the fast scanner took the record (for [`write_replaced_text`]).
    pub fn parse_spanned(
        line: &str,
        fields: &FieldNames,
    ) -> Result<(JsonFields, Option<TextSpan>), String> {
        match fast::parse_spanned(line, fields) {
            Some((found, span)) => Ok((found, Some(TextSpan(span.0, span.1)))),
            None => Self::parse_serde(line, fields).map(|found| (found, None)),
        }
    }

    /// The reference parser: serde_json with a field visitor.
    fn parse_serde(line: &str, fields: &FieldNames) -> Result<JsonFields, String> {
        let mut de = serde_json::Deserializer::from_str(line);
        let found = FieldSeed(fields)
            .deserialize(&mut de)
            .and_then(|v| de.end().map(|_| v))
            .map_err(|e| malformed(&e))?;
        let text = match found.text {
            None => return Err(format!("record has no \"{}\" field", fields.text)),
            Some(serde_json::Value::String(s)) => s,
            Some(other) => {
                return Err(format!(
                    "field \"{}\" is {}, not a string",
                    fields.text,
                    kind(&other)
                ))
            }
        };
        let id = match found.id {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            Some(other) => {
                return Err(format!(
                    "field \"{}\" is {}, not a string or number",
                    fields.id,
                    kind(&other)
                ))
            }
        };
        Ok(JsonFields { text, id })
    }
}

/// serde_json ends its messages with "at line 1 column N"; a JSONL record is one line and the
/// message already names the file's line, so only the column is kept, before the reason.
fn malformed(e: &serde_json::Error) -> String {
    let full = e.to_string();
    if e.line() == 0 {
        return format!("malformed JSON: {full}");
    }
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let reason = full.strip_suffix(&suffix).unwrap_or(&full);
    format!("malformed JSON at column {}: {reason}", e.column())
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

struct Found {
    text: Option<serde_json::Value>,
    id: Option<serde_json::Value>,
}

struct FieldSeed<'a>(&'a FieldNames);

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Found;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Found, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Found;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let mut found = Found {
            text: None,
            id: None,
        };
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == self.0.text {
                found.text = Some(map.next_value()?);
            } else if key == self.0.id {
                found.id = Some(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// `record` with the value of `text_field` replaced by `text`; every other field keeps its
/// original bytes and order.
pub fn replace_text_field(record: &str, text_field: &str, text: &str) -> Result<String, String> {
    match fast::replace_text_field(record, text_field, text) {
        Some(out) => Ok(out),
        None => replace_text_field_serde(record, text_field, text),
    }
}

/// Appends to `out` what [`replace_text_field`] gives for `record` and the concatenation of
/// `text`'s byte ranges `kept` (in order, on character boundaries), without building that
/// concatenation: `clean` writes a document's kept pieces escaped straight into its output
/// line (the cleaned `String` was a copy of every document, ~3.5 % of `clean --db`).
///
/// `span` is what [`JsonFields::parse_spanned`] gave for this `record`, if anything: the
/// text value is then stepped over instead of scanned again.
pub fn write_replaced_text(
    record: &str,
    text_field: &str,
    span: Option<TextSpan>,
    text: &str,
    kept: &[(usize, usize)],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let known = span.map(|TextSpan(a, b)| (a, b));
    if fast::write_replaced(record, text_field, known, out, &mut |o| {
        write_kept_str(o, text, kept)
    }) {
        return Ok(());
    }
    let joined: String = kept.iter().map(|&(a, b)| &text[a..b]).collect();
    out.extend_from_slice(replace_text_field_serde(record, text_field, &joined)?.as_bytes());
    Ok(())
}

/// Appends the concatenation of `text`'s byte ranges `kept` as one JSON string, exactly as
/// serde_json writes that string (escaping is per byte, so piece by piece is the same).
pub fn write_kept_str(out: &mut Vec<u8>, text: &str, kept: &[(usize, usize)]) {
    out.reserve(kept.iter().map(|&(a, b)| b - a).sum::<usize>() + 2);
    out.push(b'"');
    for &(a, b) in kept {
        fast::write_json_str_body(out, &text[a..b]);
    }
    out.push(b'"');
}

/// The reference for [`replace_text_field`]: serde_json with raw values.
fn replace_text_field_serde(record: &str, text_field: &str, text: &str) -> Result<String, String> {
    let pairs: Vec<(std::borrow::Cow<'_, str>, &RawValue)> = {
        let map: RawPairs = serde_json::from_str(record).map_err(|e| e.to_string())?;
        map.0
    };
    let mut out = String::with_capacity(record.len());
    out.push('{');
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key.as_ref()).expect("string serializes"));
        out.push(':');
        if key == text_field {
            out.push_str(&serde_json::to_string(text).expect("string serializes"));
        } else {
            out.push_str(value.get());
        }
    }
    out.push('}');
    Ok(out)
}

struct RawPairs<'a>(Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for RawPairs<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawPairs<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawPairs<'a>, A::Error> {
                let mut v = Vec::new();
                while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    v.push((k, map.next_value::<&'de RawValue>()?));
                }
                Ok(RawPairs(v))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fields_by_name() {
        let f = FieldNames::default();
        let r = JsonFields::parse(r#"{"meta":{"a":[1,2]},"id":7,"text":"hi \"x\""}"#, &f).unwrap();
        assert_eq!(r.text, "hi \"x\"");
        assert_eq!(r.id.as_deref(), Some("7"));
        assert!(JsonFields::parse(r#"{"id":1}"#, &f)
            .unwrap_err()
            .contains("no \"text\""));
        assert!(JsonFields::parse(r#"{"text":5}"#, &f)
            .unwrap_err()
            .contains("a number"));
        assert_eq!(
            JsonFields::parse(r#"{"text":"a"} x"#, &f).unwrap_err(),
            "malformed JSON at column 14: trailing characters"
        );
        assert!(JsonFields::parse(r#"[1]"#, &f).is_err());
    }

    #[test]
    fn writing_kept_pieces_equals_replacing_with_their_concatenation() {
        let text = "ab\n\"é\u{1}x\\ yz\t";
        let cuts = [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, text.len()];
        for rec in [
            r#"{"id": "a", "n":1.50, "text": "old", "m":{"k":[true,null]}}"#,
            r#"{"te\u0078t":"old","id":1}"#,
            r#"{"text":"a","text":"b"}"#,
            r#"{ "text" : "o\"l\nd\u00e9" , "id":2 }"#,
        ] {
            for (i, &a) in cuts.iter().enumerate() {
                for &b in &cuts[i..] {
                    for kept in [vec![(a, b)], vec![(0, a), (b, text.len())], vec![]] {
                        let joined: String = kept.iter().map(|&(x, y)| &text[x..y]).collect();
                        let want = replace_text_field(rec, "text", &joined).unwrap();
                        let want = [b"prefix", want.as_bytes()].concat();
                        let span = JsonFields::parse_spanned(rec, &FieldNames::default())
                            .unwrap()
                            .1;
                        for span in [None, span] {
                            let mut out = b"prefix".to_vec();
                            write_replaced_text(rec, "text", span, text, &kept, &mut out).unwrap();
                            assert_eq!(out, want, "{rec} {kept:?} {span:?}");
                        }
                        let mut s = Vec::new();
                        write_kept_str(&mut s, text, &kept);
                        assert_eq!(s, serde_json::to_vec(&joined).unwrap());
                    }
                }
            }
        }
        let mut out = b"x".to_vec();
        assert!(write_replaced_text("[1]", "text", None, text, &[], &mut out).is_err());
    }

    #[test]
    fn replacing_text_keeps_other_fields_verbatim() {
        let rec = r#"{"id":"a","n":1.50,"text":"old","m":{"k":[true,null]}}"#;
        let out = replace_text_field(rec, "text", "new\n\"q\"").unwrap();
        assert_eq!(
            out,
            r#"{"id":"a","n":1.50,"text":"new\n\"q\"","m":{"k":[true,null]}}"#
        );
    }
}
