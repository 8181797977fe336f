//! The checks the fuzz targets run, shared with the tests that replay the committed fuzz
//! corpus (`tests/integration/fuzz_corpus.rs`) and with the property tests, so a crash found by
//! fuzzing stays covered by `cargo test` without a nightly toolchain.
//!
//! Each check must hold for *any* input bytes: no panic, and the documented invariants.

#![allow(dead_code)] // each includer uses a subset

use dupsift::blocks::{analyze, BlockParams};
use dupsift::corpus::{replace_text_field, CorpusReader, FieldNames, JsonFields};
use dupsift::normalize::normalize;
use dupsift::segment::{segment, Span, Unit};
use std::path::PathBuf;

/// Name the fuzzed bytes are read under; every error message must start with it.
pub const FUZZ_PATH: &str = "fuzz-input.jsonl";

/// Reads `data` as a JSONL file (gzip/zstd detected by magic bytes) and parses every record.
/// Errors must name the input; a record that parses must survive having its text replaced.
pub fn jsonl_reader(data: &[u8]) {
    let fields = FieldNames::default();
    let raw = Box::new(std::io::Cursor::new(data.to_vec()));
    let reader = match CorpusReader::jsonl_from(PathBuf::from(FUZZ_PATH), raw) {
        Ok(r) => r,
        Err(e) => {
            assert!(e.to_string().starts_with(FUZZ_PATH), "{e}");
            return;
        }
    };
    // Bounded: a decompression bomb must not make one fuzz case run for minutes.
    for item in reader.take(4096) {
        match item.and_then(|raw| raw.parse(&fields)) {
            Ok(doc) => {
                let record = doc
                    .record
                    .as_deref()
                    .expect("JSONL documents keep their record");
                let rewritten = replace_text_field(record, &fields.text, &doc.text)
                    .expect("a record that parsed can be rewritten");
                let again = JsonFields::parse(&rewritten, &fields)
                    .expect("a rewritten record parses again");
                assert_eq!(again.text, doc.text);
            }
            Err(e) => assert!(e.to_string().starts_with(FUZZ_PATH), "{e}"),
        }
    }
}

/// Segments, normalizes and analyses `data` when it is UTF-8 (the reader rejects the rest).
pub fn segment_normalize(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for unit in [Unit::Line, Unit::Paragraph] {
        check_spans(text, &segment(text, unit), unit);
    }
    let once = normalize(text);
    assert_eq!(
        normalize(&once),
        once,
        "normalize is not idempotent on {text:?}"
    );
    let doc = analyze(text, &BlockParams::default());
    for r in &doc.repeats {
        assert!(r.of < r.block && r.block < doc.blocks.len(), "{r:?}");
    }
}

/// The segmentation contract: spans in order, non-empty, trimmed, on character boundaries;
/// only white space outside them, so text = gap + span + gap + span + ... exactly; line spans
/// hold no newline and paragraph spans no blank line.
pub fn check_spans(text: &str, spans: &[Span], unit: Unit) {
    let mut rebuilt = String::with_capacity(text.len());
    let mut pos = 0;
    for s in spans {
        assert!(
            pos <= s.start && s.start < s.end && s.end <= text.len(),
            "{s:?} after {pos}"
        );
        assert!(
            text.is_char_boundary(s.start) && text.is_char_boundary(s.end),
            "{s:?}"
        );
        let gap = &text[pos..s.start];
        assert!(
            gap.chars().all(char::is_whitespace),
            "non-space {gap:?} outside spans"
        );
        let block = s.text(text);
        assert_eq!(block.trim(), block, "span {s:?} is not trimmed");
        match unit {
            Unit::Line => assert!(!block.contains('\n'), "line span {block:?}"),
            Unit::Paragraph => assert!(
                block.split('\n').all(|l| !l.trim().is_empty()),
                "paragraph span {block:?} holds a blank line"
            ),
        }
        // Consecutive blocks are separated by at least one line break.
        assert!(
            s == &spans[0] || gap.contains('\n'),
            "blocks before and at {s:?} are not on separate lines"
        );
        rebuilt.push_str(gap);
        rebuilt.push_str(block);
        pos = s.end;
    }
    let tail = &text[pos..];
    assert!(
        tail.chars().all(char::is_whitespace),
        "non-space {tail:?} after the last span"
    );
    rebuilt.push_str(tail);
    assert_eq!(rebuilt, text);
}

/// Name the fuzzed database is read under; every error must name it.
pub const DB_PATH: &str = "fuzz-input.dsig";

/// Loads `data` as a signature database, then again with its body length and checksum footer
/// rewritten to match ("sealed"): random bytes almost never carry a valid checksum, and the
/// sealed copy is what sends them through the parameter and body decoders, where a hostile
/// length could otherwise allocate without bound. Either load must fail with a `BadDb` error
/// naming the file, or give a database that `inspect` and `clean --db` can use without panic.
pub fn sigdb_loader(data: &[u8]) {
    load_and_use(data);
    if data.len() >= dupsift::sigdb::format::HEADER_LEN {
        load_and_use(&seal(data));
    }
}

/// `data` with the header's body length set to what follows the header and a valid xxh3
/// footer appended, as a writer would have produced.
pub fn seal(data: &[u8]) -> Vec<u8> {
    let h = dupsift::sigdb::format::HEADER_LEN;
    let mut v = data.to_vec();
    let body_len = (v.len() - h) as u64;
    v[h - 8..h].copy_from_slice(&body_len.to_le_bytes());
    let sum = xxhash_rust::xxh3::xxh3_64(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

fn load_and_use(bytes: &[u8]) {
    use dupsift::sigdb::{format::decode, summary, Matcher};
    match decode(bytes, std::path::Path::new(DB_PATH)) {
        Err(dupsift::Error::BadDb { path, fix, .. }) => {
            assert_eq!(path, std::path::Path::new(DB_PATH));
            assert!(!fix.is_empty(), "a database error must say what to do");
        }
        Err(other) => panic!("expected a BadDb error, got {other:?}"),
        Ok(db) => {
            let _ = summary::summarize(&db);
            let _ = summary::top_entries(&db, &db.policy, 5);
            let policy = db.policy;
            let cleaner = dupsift::clean::Cleaner::with_db(Matcher::new(db, policy));
            let text = "Home | About | Contact\nA long enough line of body text that gets \
                        a MinHash signature of its own in this document.\nHome | About";
            let record = r#"{"id":"d","site":"a","url":"https://www.example.org/x"}"#;
            let _ = cleaner.clean(text, Some(record));
        }
    }
}
