//! Criterion benches of `learn` (in memory, and with the database written), `clean --db`
//! (repetition) and `clean --policy context` on generated text (no external data): 200 pages
//! of one site, each with the same 12 template lines around 40 unique lines. Every bench
//! asserts its result so a broken build cannot look fast.

#[path = "common/config.rs"]
mod config;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dupsift::blocks::BlockParams;
use dupsift::clean::Cleaner;
use dupsift::context::decide::Decision;
use dupsift::context::{model::Model, ContextCleaner};
use dupsift::sigdb::learn::Summarizer;
use dupsift::sigdb::{
    read_db, write_db, Grouping, HashParams, Learner, Matcher, Policy, SignatureDb,
};

const PAGES: usize = 200;
const TEMPLATE: usize = 12;

/// Deterministic pseudo-random words (xorshift), so unique lines differ.
fn words(state: &mut u64, n: usize) -> String {
    (0..n)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            let len = 3 + (*state % 6) as usize;
            (0..len)
                .map(|i| (b'a' + ((*state >> (i * 5)) % 26) as u8) as char)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn pages() -> Vec<String> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let template: Vec<String> = (0..TEMPLATE)
        .map(|i| words(&mut state, 3 + i * 2))
        .collect();
    (0..PAGES)
        .map(|_| {
            let mut lines: Vec<String> = template[..TEMPLATE / 2].to_vec();
            lines.extend((0..40).map(|_| words(&mut state, 14)));
            lines.extend_from_slice(&template[TEMPLATE / 2..]);
            lines.join("\n")
        })
        .collect()
}

fn learn(pages: &[String]) -> SignatureDb {
    let params = HashParams::new(BlockParams::default(), 64);
    let s = Summarizer::new(params, Grouping::None);
    let mut l = Learner::new(params, Grouping::None, Policy::default());
    for (i, p) in pages.iter().enumerate() {
        l.add(s.summarize(&i.to_string(), p, None));
    }
    l.finish()
}

fn bench(c: &mut Criterion) {
    let pages = pages();
    let bytes: usize = pages.iter().map(String::len).sum();
    let mut g = c.benchmark_group("sigdb");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("learn", |b| {
        b.iter(|| {
            let db = learn(&pages);
            assert_eq!(db.active(&db.policy).count(), TEMPLATE);
            db
        })
    });
    // What `dupsift learn` does after the summaries: `finish` (sort, near clusters) and the
    // streamed, checksummed write. The file is read back once, outside the timed loop.
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("bench.dsig");
    g.bench_function("learn_and_write", |b| {
        b.iter(|| {
            let db = learn(&pages);
            write_db(&db, &path).expect("write");
            db.entries.len()
        })
    });
    // Written again here: with a name filter (`cargo bench --bench sigdb -- clean_context`)
    // the bench above does not run.
    write_db(&learn(&pages), &path).expect("write");
    let written = read_db(&path).expect("read back");
    assert_eq!(written, learn(&pages));
    assert_eq!(written.active(&written.policy).count(), TEMPLATE);
    let db = learn(&pages);
    let cleaner = Cleaner::with_db(Matcher::new(db.clone(), db.policy));
    g.bench_function("clean_db", |b| {
        b.iter(|| {
            let removed: usize = pages
                .iter()
                .map(|p| cleaner.clean(p, None).removals.len())
                .sum();
            assert_eq!(removed, PAGES * TEMPLATE);
            removed
        })
    });
    // The context model: its evidence must be the DB's counts (template lines on every page,
    // a unique line on its own page only: the DB was learned on these pages), and clean must
    // remove exactly the blocks classify rejects.
    let ctx = ContextCleaner::new(Model::shipped().unwrap(), BlockParams::default(), Some(&db));
    let mut rejected = 0;
    for p in &pages {
        let v = ctx.classify(p, None);
        assert_eq!(v.blocks.len(), TEMPLATE + 40);
        for (i, b) in v.blocks.iter().enumerate() {
            let template = !(TEMPLATE / 2..TEMPLATE / 2 + 40).contains(&i);
            let want = if template { PAGES as u64 } else { 1 };
            assert_eq!(b.repetition.site_count, want, "block {i}");
            assert!((0.0..=1.0).contains(&b.p));
        }
        rejected += v
            .blocks
            .iter()
            .filter(|b| b.decision != Decision::Keep)
            .count();
    }
    // The same pages scored together, as `clean_corpus` hands them over: the model's
    // batches of 64 blocks are filled across pages.
    let many = ContextCleaner::new(Model::shipped().unwrap(), BlockParams::default(), Some(&db));
    let refs: Vec<(&str, Option<&str>)> = pages.iter().map(|p| (p.as_str(), None)).collect();
    g.bench_function("clean_context_many", |b| {
        b.iter(|| {
            let done = many.removals_many(&refs);
            let removed: usize = done.iter().map(|(_, r)| r.len()).sum();
            assert_eq!(removed, rejected);
            removed
        })
    });
    let cleaner = Cleaner::with_context(ctx);
    g.bench_function("clean_context", |b| {
        b.iter(|| {
            let (mut blocks, mut removed) = (0, 0);
            for p in &pages {
                let c = cleaner.clean(p, None);
                blocks += c.blocks;
                removed += c.removals.len();
            }
            assert_eq!(blocks, PAGES * (TEMPLATE + 40));
            assert_eq!(removed, rejected);
            removed
        })
    });
    g.finish();
}

criterion_group! { name = benches; config = config::short(10, 3); targets = bench }
criterion_main!(benches);
