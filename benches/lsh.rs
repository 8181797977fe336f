//! LSH banding: band hashes of N signatures and sort-based candidate generation (a sorted
//! `Vec<(band_hash, doc)>` per run, as DESIGN.md section 3 describes), in signatures per second.
//!
//! The signatures are random except for planted near-duplicate pairs (90% of lanes equal), so
//! the candidate set is known: the bench asserts it is exactly the planted pairs.

#[path = "common/config.rs"]
mod config;
#[path = "common/prose.rs"]
mod prose;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dupsift::lsh::LshParams;

const K: usize = 128;

/// `n` random signatures, where doc `2i+1` copies doc `2i` with every tenth lane changed for
/// the first `planted` pairs.
fn signatures(n: usize, planted: usize) -> Vec<u32> {
    let mut rng = prose::Rng(7);
    let mut sigs: Vec<u32> = (0..n * K).map(|_| rng.next() as u32).collect();
    for p in 0..planted {
        let (a, b) = (2 * p, 2 * p + 1);
        for lane in 0..K {
            sigs[b * K + lane] = if lane % 10 == 3 {
                rng.next() as u32
            } else {
                sigs[a * K + lane]
            };
        }
    }
    sigs
}

/// Candidate pairs: docs sharing a band hash, found by sorting `(band_hash, doc)`.
fn candidates(sigs: &[u32], params: &LshParams) -> Vec<(u32, u32)> {
    let n = sigs.len() / K;
    let mut keys: Vec<(u64, u32)> = Vec::with_capacity(n * params.bands);
    for doc in 0..n {
        let sig = &sigs[doc * K..(doc + 1) * K];
        for band in 0..params.bands {
            keys.push((params.band_hash(sig, band), doc as u32));
        }
    }
    keys.sort_unstable();
    let mut pairs = Vec::new();
    for run in keys.chunk_by(|x, y| x.0 == y.0) {
        for (i, x) in run.iter().enumerate() {
            for y in &run[i + 1..] {
                pairs.push((x.1.min(y.1), x.1.max(y.1)));
            }
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

fn banding(c: &mut Criterion) {
    let (n, planted) = (20_000, 500);
    let sigs = signatures(n, planted);
    let params = LshParams::with_recall(0.8, K, 0.995);
    let want: Vec<(u32, u32)> = (0..planted as u32).map(|p| (2 * p, 2 * p + 1)).collect();
    assert_eq!(candidates(&sigs, &params), want, "{params:?}");
    let mut g = c.benchmark_group("lsh");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(
        format!(
            "band hash + sort candidates, {n} sigs, {}x{}",
            params.bands, params.rows
        ),
        |b| b.iter(|| assert_eq!(candidates(black_box(&sigs), &params).len(), planted)),
    );
    g.finish();
}

criterion_group! { name = benches; config = config::short(10, 3); targets = banding }
criterion_main!(benches);
