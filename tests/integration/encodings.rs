//! The same records read from `.jsonl`, `.jsonl.gz`, `.jsonl.zst` and standard input give the
//! same documents and the same report.

use crate::util::{assert_same_text, dupsift, fixture, json_lines, run_ok};
use std::io::Read;

fn plain() -> Vec<u8> {
    std::fs::read(fixture("jsonl/records.jsonl")).expect("fixture")
}

#[test]
fn compressed_fixtures_decode_to_the_plain_bytes() {
    let plain = plain();
    let mut gz = Vec::new();
    flate2::read::MultiGzDecoder::new(
        std::fs::File::open(fixture("jsonl/records.jsonl.gz")).expect("fixture"),
    )
    .read_to_end(&mut gz)
    .expect("valid gzip");
    assert!(
        gz == plain,
        "records.jsonl.gz does not decode to records.jsonl"
    );
    let zst =
        zstd::decode_all(std::fs::File::open(fixture("jsonl/records.jsonl.zst")).expect("fixture"))
            .expect("valid zstd");
    assert!(
        zst == plain,
        "records.jsonl.zst does not decode to records.jsonl"
    );
    assert_eq!(plain.iter().filter(|&&b| b == b'\n').count(), 8);
}

#[test]
fn every_encoding_and_stdin_give_the_same_report() {
    let scan = |input: &str| {
        run_ok(
            dupsift()
                .args(["scan", "--json", "--top", "0"])
                .arg(fixture(input)),
        )
    };
    let expected = scan("jsonl/records.jsonl");
    for input in ["jsonl/records.jsonl.gz", "jsonl/records.jsonl.zst"] {
        let got = scan(input);
        assert_same_text(input, &expected.stdout, &got.stdout);
        assert!(
            got.stderr
                .contains("8 documents read, 8 scanned, 0 skipped (bad input)"),
            "{}",
            got.stderr
        );
    }
    for input in [
        "jsonl/records.jsonl",
        "jsonl/records.jsonl.gz",
        "jsonl/records.jsonl.zst",
    ] {
        let bytes = std::fs::read(fixture(input)).expect("fixture");
        let got = run_ok(
            dupsift()
                .args(["scan", "--json", "--top", "0", "-"])
                .write_stdin(bytes),
        );
        assert_same_text(&format!("{input} on stdin"), &expected.stdout, &got.stdout);
    }

    // And the report itself: the shared lines and the near-duplicate pair's common sentences.
    let v = json_lines(&expected.stdout);
    let summary: Vec<(u64, &str)> = v
        .iter()
        .map(|r| {
            assert_eq!(r["kind"], "across");
            (
                r["docs"].as_u64().expect("docs"),
                r["text"].as_str().expect("text"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (8, "Share this article"),
            (8, "Subscribe to the Riverside Courier newsletter for the morning's top stories."),
            (8, "Copyright Riverside Courier. All rights reserved."),
            (2, "Drivers will be sent over the Queen Street crossing, which the city expects to be busy at rush hour."),
            (2, "Cyclists and walkers can still use a temporary footbridge next to the old span."),
        ]
    );
    assert_eq!(v[3]["ids"], serde_json::json!(["rc-001", "rc-004"]));
}

#[test]
fn text_and_id_fields_can_be_renamed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("renamed.jsonl");
    std::fs::write(
        &path,
        "{\"key\":\"a\",\"body\":\"same line\\nonly a\"}\n{\"key\":\"b\",\"body\":\"same line\\nonly b\"}\n",
    )
    .expect("write");
    let out = run_ok(
        dupsift()
            .args([
                "scan",
                "--json",
                "--text-field",
                "body",
                "--id-field",
                "key",
            ])
            .arg(&path),
    );
    let v = json_lines(&out.stdout);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["text"], "same line");
    assert_eq!(v[0]["ids"], serde_json::json!(["a", "b"]));
}
