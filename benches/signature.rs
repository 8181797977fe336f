//! Document signature speed: `Shingler::lower_split` (word 5-grams),
//! `MinHasher::sign_into` (K = 128) on every kernel this CPU runs, and dedup's
//! one-permutation sketch `OnePermHasher::sign_into` (K = 128), in MB/s of text.
//!
//! Each bench checks its result first (shingle count, identical signatures from every kernel,
//! a Jaccard estimate near the planted one), so a broken kernel cannot look fast.

#[path = "common/config.rs"]
mod config;
#[path = "common/prose.rs"]
mod prose;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dupsift::minhash::{estimate_jaccard, Kernel, MinHasher};
use dupsift::oph::OnePermHasher;
use dupsift::shingle::{into_set, jaccard, Shingler};

fn setup() -> (Vec<String>, usize) {
    let docs = prose::corpus(64, 16 << 10, 42);
    let bytes = docs.iter().map(String::len).sum();
    (docs, bytes)
}

fn shingling(c: &mut Criterion) {
    let (docs, bytes) = setup();
    let shingler = Shingler::default();
    let (mut words, mut out) = (Vec::new(), Vec::new());
    // Check: one 5-gram per word after the fourth.
    let mut total = 0;
    for d in &docs {
        out.clear();
        shingler.lower_split(d, &mut words, &mut out);
        assert_eq!(out.len(), d.split_whitespace().count() - 4);
        total += out.len();
    }
    let mut g = c.benchmark_group("shingle");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("lower_split word 5-grams", |b| {
        b.iter(|| {
            let mut n = 0;
            for d in &docs {
                out.clear();
                shingler.lower_split(black_box(d), &mut words, &mut out);
                n += out.len();
            }
            assert_eq!(n, total);
        })
    });
    g.finish();
}

/// Word 5-gram shingles of every document, computed once outside the timed loops.
fn shingle_all(shingler: &Shingler, docs: &[String]) -> Vec<Vec<u64>> {
    docs.iter()
        .map(|d| {
            let (mut w, mut out) = (Vec::new(), Vec::new());
            shingler.lower_split(d, &mut w, &mut out);
            out
        })
        .collect()
}

fn minhash(c: &mut Criterion) {
    let (docs, bytes) = setup();
    let shingler = Shingler::default();
    let hasher = MinHasher::new(128, dupsift::DEFAULT_SEED);
    let shingles = shingle_all(&shingler, &docs);
    // Check: every kernel gives the portable signature, and the estimate of a planted pair is
    // within 4 standard errors of its exact Jaccard.
    let want: Vec<Vec<u32>> = shingles
        .iter()
        .map(|s| {
            let mut sig = vec![0; 128];
            hasher.sign_into_with(Kernel::Portable, s, &mut sig);
            sig
        })
        .collect();
    for kernel in Kernel::available() {
        for (s, w) in shingles.iter().zip(&want) {
            let mut sig = vec![0; 128];
            hasher.sign_into_with(kernel, s, &mut sig);
            assert_eq!(&sig, w, "{} kernel", kernel.name());
        }
    }
    let (a, b) = (&shingles[0], &shingles[0][shingles[0].len() / 3..]);
    let exact = jaccard(&into_set(a.clone()), &into_set(b.to_vec()));
    let est = estimate_jaccard(&hasher.signature(a).0, &hasher.signature(b).0);
    let se = (exact * (1.0 - exact) / 128.0).sqrt();
    assert!(
        (est - exact).abs() <= 4.0 * se,
        "estimate {est}, exact {exact}"
    );

    let mut g = c.benchmark_group("minhash K=128");
    g.throughput(Throughput::Bytes(bytes as u64));
    let mut sig = vec![0u32; 128];
    for kernel in Kernel::available() {
        g.bench_function(format!("sign only, {}", kernel.name()), |b| {
            b.iter(|| {
                for (s, w) in shingles.iter().zip(&want) {
                    hasher.sign_into_with(kernel, black_box(s), &mut sig);
                    debug_assert_eq!(&sig, w);
                }
                assert_eq!(sig, want[want.len() - 1]);
            })
        });
    }
    let (mut words, mut out) = (Vec::new(), Vec::new());
    g.bench_function(
        format!("shingle + sign, dispatched ({})", Kernel::detect().name()),
        |b| {
            b.iter(|| {
                for d in &docs {
                    out.clear();
                    shingler.lower_split(black_box(d), &mut words, &mut out);
                    hasher.sign_into(&out, &mut sig);
                }
                assert_eq!(sig, want[want.len() - 1]);
            })
        },
    );
    g.finish();
}

fn oph(c: &mut Criterion) {
    let (docs, bytes) = setup();
    let shingler = Shingler::default();
    let hasher = OnePermHasher::new(128, dupsift::DEFAULT_SEED);
    let shingles = shingle_all(&shingler, &docs);
    // Check: every document fills every bin (16 KB of text, far more shingles than bins),
    // and the estimate of a planted pair is within 4 MinHash standard errors of its exact
    // Jaccard.
    let mut sig = vec![0u32; 128];
    for s in &shingles {
        assert_eq!(hasher.sign_into(s, &mut sig), 128);
    }
    let want = sig.clone();
    let (a, b) = (&shingles[0], &shingles[0][shingles[0].len() / 3..]);
    let exact = jaccard(&into_set(a.clone()), &into_set(b.to_vec()));
    let (mut sa, mut sb) = (vec![0; 128], vec![0; 128]);
    hasher.sign_into(a, &mut sa);
    hasher.sign_into(b, &mut sb);
    let est = estimate_jaccard(&sa, &sb);
    let se = (exact * (1.0 - exact) / 128.0).sqrt();
    assert!(
        (est - exact).abs() <= 4.0 * se,
        "estimate {est}, exact {exact}"
    );

    let mut g = c.benchmark_group("oph K=128");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("sign only", |b| {
        b.iter(|| {
            for s in &shingles {
                hasher.sign_into(black_box(s), &mut sig);
            }
            assert_eq!(sig, want);
        })
    });
    let (mut words, mut out) = (Vec::new(), Vec::new());
    g.bench_function("shingle + sign", |b| {
        b.iter(|| {
            for d in &docs {
                out.clear();
                shingler.lower_split(black_box(d), &mut words, &mut out);
                hasher.sign_into(&out, &mut sig);
            }
            assert_eq!(sig, want);
        })
    });
    g.finish();
}

criterion_group! { name = benches; config = config::short(20, 3); targets = shingling, minhash, oph }
criterion_main!(benches);
