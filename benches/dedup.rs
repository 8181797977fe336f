//! `dedup` end to end through the library (JSONL file in, kept records and clusters written),
//! on generated prose with planted copies. The result is checked before timing and in every
//! iteration: exactly the planted exact and near copies are removed.

#[path = "common/config.rs"]
mod config;
#[path = "common/prose.rs"]
mod prose;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dupsift::dedup::{dedup, DedupOutputs, DedupParams, DedupSummary};
use dupsift::pipeline::ReadOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

const DOCS: usize = 2_000;
const EXACT: usize = 100;
const NEAR: usize = 100;

/// Writes the corpus: DOCS distinct documents, then EXACT verbatim copies and NEAR copies
/// with three words appended (Jaccard > 0.99 at ~700 words). Returns its text bytes.
fn write_corpus(path: &Path) -> u64 {
    let docs = prose::corpus(DOCS, 4 << 10, 7);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create corpus"));
    let mut bytes = 0;
    let mut record = |id: String, text: &str| {
        bytes += text.len() as u64;
        let line = serde_json::json!({"id": id, "text": text, "meta": {"n": 1}});
        writeln!(out, "{line}").expect("write corpus");
    };
    for (i, d) in docs.iter().enumerate() {
        record(format!("d{i}"), d);
    }
    for (i, d) in docs[..EXACT].iter().enumerate() {
        record(format!("exact{i}"), d);
    }
    for (i, d) in docs[EXACT..EXACT + NEAR].iter().enumerate() {
        record(format!("near{i}"), &format!("{d} and one more"));
    }
    out.flush().expect("flush corpus");
    bytes
}

fn run(input: &Path, dir: &Path) -> DedupSummary {
    let outputs = DedupOutputs {
        kept: dir.join("kept.jsonl"),
        clusters: Some(dir.join("clusters.jsonl")),
        tmp_dir: None,
    };
    let inputs: Vec<PathBuf> = vec![input.to_path_buf()];
    dedup(
        &inputs,
        &ReadOptions::default(),
        &DedupParams::default(),
        &outputs,
    )
    .expect("dedup runs")
}

fn check(s: &DedupSummary) {
    assert_eq!(s.read.read as usize, DOCS + EXACT + NEAR);
    assert_eq!(s.link.exact_removed as usize, EXACT);
    assert_eq!(s.link.near_removed as usize, NEAR);
    assert_eq!(s.kept_written as usize, DOCS);
}

fn dedup_end_to_end(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("corpus.jsonl");
    let bytes = write_corpus(&input);
    check(&run(&input, dir.path()));
    let mut g = c.benchmark_group("dedup");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("end to end, K=128 word 5-grams", |b| {
        b.iter(|| check(&run(&input, dir.path())))
    });
    g.finish();
}

criterion_group! { name = benches; config = config::short(10, 5); targets = dedup_end_to_end }
criterion_main!(benches);
