//! `dupsift eval` end to end: files in, scores out, exit codes.

use assert_cmd::Command;
use std::fs;

#[test]
fn pairs_prints_pairwise_scores_and_ari_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let clusters = dir.path().join("c.jsonl");
    let gold = dir.path().join("g.tsv");
    fs::write(
        &clusters,
        "{\"id\":\"a\",\"cluster\":\"a\",\"kept\":true,\"similarity\":1.0}\n\
         {\"id\":\"b\",\"cluster\":\"a\",\"kept\":false,\"similarity\":0.9}\n",
    )
    .unwrap();
    fs::write(&gold, "id\tgroup\na\tg1\nb\tg1\nc\tg2\nd\tg2\n").unwrap();
    let out = Command::cargo_bin("dupsift")
        .unwrap()
        .args(["eval", "pairs", "--skip-header", "1", "--json"])
        .arg(&clusters)
        .arg(&gold)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pairs"]["precision"], 1.0);
    assert_eq!(v["pairs"]["recall"], 0.5);
    let ari = v["adjusted_rand_index"].as_f64().unwrap();
    assert!((ari - 4.0 / 7.0).abs() < 1e-12, "{v}");
}

#[test]
fn bad_labels_exit_2_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cleaned = dir.path().join("out.jsonl");
    let gold = dir.path().join("gold.jsonl");
    fs::write(&cleaned, "{\"id\":\"1\",\"text\":\"a b c d\"}\n").unwrap();
    fs::write(&gold, "{\"id\":\"1\",\"gold\":\"a b c d\"}\nnot json\n").unwrap();
    let out = Command::cargo_bin("dupsift")
        .unwrap()
        .args(["eval", "text"])
        .arg(&cleaned)
        .arg(&gold)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gold.jsonl:2"), "{err}");
}
