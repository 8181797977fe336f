//! Output does not depend on the number of threads: RAYON_NUM_THREADS=1 and 4 print the same
//! bytes, on the fixtures and on a generated corpus big enough to span several read batches.

use crate::util::{assert_same_text, dupsift, fixture, run_ok};
use std::io::Write;
use std::path::Path;

fn scan_with_threads(threads: &str, inputs: &[&Path]) -> (String, String) {
    let out = run_ok(
        dupsift()
            .env("RAYON_NUM_THREADS", threads)
            .args(["scan", "--json", "--top", "0"])
            .args(inputs),
    );
    (out.stdout, out.stderr)
}

fn assert_thread_independent(inputs: &[&Path]) {
    let (one, one_err) = scan_with_threads("1", inputs);
    let (four, four_err) = scan_with_threads("4", inputs);
    assert!(!one.is_empty(), "the report must not be empty");
    assert_same_text("RAYON_NUM_THREADS=1 vs 4", &one, &four);
    assert_same_text("summary on stderr", &one_err, &four_err);
}

#[test]
fn fixtures_give_the_same_report_on_one_and_four_threads() {
    assert_thread_independent(&[&fixture("site"), &fixture("jsonl/records.jsonl.zst")]);
}

/// splitmix64: a fixed, dependency-free stream of pseudo-random numbers.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn a_multi_batch_corpus_gives_the_same_report_on_one_and_four_threads() {
    // About 10 MB: more than one 8 MB read batch, so batches and their order matter.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    let words: Vec<String> = (0..2000).map(|i| format!("w{i}")).collect();
    let chrome: Vec<String> = (0..40)
        .map(|i| format!("Site chrome line number {i} with a few more words to share"))
        .collect();
    let mut state = 42u64;
    for doc in 0..18_000 {
        let mut lines = Vec::new();
        for _ in 0..6 {
            let n = 8 + next(&mut state) % 12;
            let line: Vec<&str> = (0..n)
                .map(|_| words[(next(&mut state) % words.len() as u64) as usize].as_str())
                .collect();
            lines.push(line.join(" "));
            if next(&mut state).is_multiple_of(3) {
                lines.push(chrome[(next(&mut state) % chrome.len() as u64) as usize].clone());
            }
        }
        if doc % 7 == 0 {
            // An in-page repeat.
            let first = lines[0].clone();
            lines.push(first);
        }
        let record = serde_json::json!({"id": format!("d{doc}"), "text": lines.join("\n")});
        writeln!(f, "{record}").expect("write");
    }
    f.flush().expect("flush");
    drop(f);
    assert!(std::fs::metadata(&path).expect("meta").len() > 9 << 20);
    assert_thread_independent(&[&path]);
}
