//! Block analysis (`blocks::analyze`: segment, normalize, key, shingle, in-document repeats)
//! and the corpus scan (`scan::Scanner`) in MB/s of text.
//!
//! Pages are generated: ten navigation lines shared by every page, long unique prose lines,
//! and one notice line that each page repeats once. The bench asserts the analysis finds
//! exactly that one repeat per page and the scan exactly the planted rows.

#[path = "common/config.rs"]
mod config;
#[path = "common/prose.rs"]
mod prose;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dupsift::blocks::{analyze, BlockParams, RepeatKind};
use dupsift::scan::Scanner;

const NOTICE: &str = "Welcome to our comment community. This is a space where subscribers can \
                      engage with each other and staff. Non-subscribers can read comments.";

const MENU: [&str; 10] = [
    "Home",
    "News",
    "Sport",
    "Business",
    "Opinion",
    "Culture",
    "Travel",
    "Weather",
    "Contact us",
    "Subscribe",
];

fn pages(count: usize) -> Vec<String> {
    let mut rng = prose::Rng(3);
    let vocab = prose::vocabulary(5000, &mut rng);
    (0..count)
        .map(|_| {
            let mut page = String::new();
            for item in MENU {
                page.push_str(item);
                page.push('\n');
            }
            for p in 0..20 {
                if p == 5 || p == 15 {
                    page.push_str(NOTICE);
                    page.push('\n');
                }
                page.push_str(&prose::prose(300, &vocab, &mut rng).replace('\n', " "));
                page.push('\n');
            }
            page
        })
        .collect()
}

fn blocks(c: &mut Criterion) {
    let docs = pages(200);
    let bytes: usize = docs.iter().map(String::len).sum();
    let params = BlockParams::default();
    for d in &docs {
        let r = analyze(d, &params);
        assert_eq!(r.repeats.len(), 1);
        assert_eq!(r.repeats[0].kind, RepeatKind::Repeat);
    }
    let mut g = c.benchmark_group("blocks");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("analyze (line blocks)", |b| {
        b.iter(|| {
            let repeats: usize = docs
                .iter()
                .map(|d| analyze(black_box(d), &params).repeats.len())
                .sum();
            assert_eq!(repeats, docs.len());
        })
    });
    g.bench_function("analyze + scan", |b| {
        b.iter(|| {
            let mut scanner = Scanner::new(2, 5);
            for (i, d) in docs.iter().enumerate() {
                scanner.add(&i.to_string(), d, &analyze(black_box(d), &params));
            }
            // 10 menu lines and the notice across pages, the notice within pages.
            assert_eq!(scanner.finish().len(), 12);
        })
    });
    g.finish();
}

criterion_group! { name = benches; config = config::short(10, 3); targets = blocks }
criterion_main!(benches);
