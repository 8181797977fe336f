//! Replays the committed fuzz corpus (tests/fuzz/corpus/TARGET/*) through the very checks the
//! fuzz targets run, so every input fuzzing once found interesting stays tested on stable Rust.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{}: corpus missing", dir.display());
    for f in files {
        let bytes = std::fs::read(&f).expect("corpus file");
        let outcome = std::panic::catch_unwind(|| check(&bytes));
        assert!(outcome.is_ok(), "{} fails its check", f.display());
    }
}

#[test]
fn jsonl_reader_corpus() {
    replay("jsonl_reader", checks::jsonl_reader);
}

#[test]
fn segment_normalize_corpus() {
    replay("segment_normalize", checks::segment_normalize);
}

#[test]
fn sigdb_loader_corpus() {
    replay("sigdb_loader", checks::sigdb_loader);
}
