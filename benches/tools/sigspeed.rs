//! Single-thread signature throughput on a JSONL corpus (scripted runs for benches/README.md).
//!
//! `cargo run --release --example sigspeed -- /tmp/man.jsonl [MAX_MB] [REPEATS]`
//!
//! Loads up to MAX_MB (default 64) of the `text` fields into memory, then times, on one thread,
//! (1) `Shingler::lower_split` (word 5-grams) alone, (2) `MinHasher::sign_into` alone on
//! precomputed shingles and (3) shingling plus `MinHasher::sign_into` with K = 128 on every
//! kernel the CPU supports, then (4) the same two for `dedup`'s default sketch,
//! one-permutation hashing (`OnePermHasher`, portable code, no kernels), REPEATS times each
//! (default 5), and prints MB/s of text
//! for the best and the median run. A checksum of the results is printed so the work cannot be
//! optimized away and two builds can be compared for identical output.

use dupsift::minhash::{kernel_name, Kernel, MinHasher};
use dupsift::oph::OnePermHasher;
use dupsift::shingle::Shingler;
use std::io::BufRead;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .expect("usage: sigspeed FILE.jsonl [MAX_MB] [REPEATS]");
    let max_mb: usize = args.get(2).map_or(64, |s| s.parse().expect("MAX_MB"));
    let repeats: usize = args.get(3).map_or(5, |s| s.parse().expect("REPEATS"));
    let file = std::fs::File::open(path).expect("open corpus");
    let mut texts = Vec::new();
    let mut bytes = 0usize;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.expect("read line");
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        if let Some(t) = v.get("text").and_then(|t| t.as_str()) {
            bytes += t.len();
            texts.push(t.to_owned());
        }
        if bytes >= max_mb << 20 {
            break;
        }
    }
    let mb = bytes as f64 / 1e6;
    println!(
        "corpus: {} docs, {:.1} MB; kernel: {}",
        texts.len(),
        mb,
        kernel_name()
    );
    let shingler = Shingler::default();
    let hasher = MinHasher::new(128, dupsift::DEFAULT_SEED);
    let (mut words, mut shingles) = (Vec::new(), Vec::new());
    let mut sig = vec![0u32; 128];
    let report = |name: &str, f: &mut dyn FnMut() -> u64| {
        let mut rates = Vec::new();
        let mut check = 0;
        for _ in 0..repeats {
            let t = Instant::now();
            check = f();
            rates.push(mb / t.elapsed().as_secs_f64());
        }
        rates.sort_by(f64::total_cmp);
        println!(
            "{name:<28} best {:7.1} MB/s  median {:7.1} MB/s  check {check:016x}",
            rates[rates.len() - 1],
            rates[rates.len() / 2]
        );
    };
    report("shingle (word 5-grams)", &mut || {
        let mut check = 0u64;
        for t in &texts {
            shingles.clear();
            shingler.lower_split(t, &mut words, &mut shingles);
            check = check.wrapping_add(shingles.iter().fold(0, |a, &s| a ^ s));
        }
        check
    });
    let all: Vec<Vec<u64>> = texts
        .iter()
        .map(|t| {
            let mut out = Vec::new();
            shingler.lower_split(t, &mut words, &mut out);
            out
        })
        .collect();
    for kernel in Kernel::available() {
        report(&format!("minhash only {}", kernel.name()), &mut || {
            let mut check = 0u64;
            for s in &all {
                hasher.sign_into_with(kernel, s, &mut sig);
                check = check
                    .wrapping_mul(31)
                    .wrapping_add(sig.iter().map(|&v| v as u64).sum());
            }
            check
        });
    }
    for kernel in Kernel::available() {
        report(&format!("shingle + minhash {}", kernel.name()), &mut || {
            let mut check = 0u64;
            for t in &texts {
                shingles.clear();
                shingler.lower_split(t, &mut words, &mut shingles);
                hasher.sign_into_with(kernel, &shingles, &mut sig);
                check = check
                    .wrapping_mul(31)
                    .wrapping_add(sig.iter().map(|&v| v as u64).sum());
            }
            check
        });
    }
    let oph = OnePermHasher::new(128, dupsift::DEFAULT_SEED);
    report("oph only", &mut || {
        let mut check = 0u64;
        for s in &all {
            oph.sign_into(s, &mut sig);
            check = check
                .wrapping_mul(31)
                .wrapping_add(sig.iter().map(|&v| v as u64).sum());
        }
        check
    });
    report("shingle + oph", &mut || {
        let mut check = 0u64;
        for t in &texts {
            shingles.clear();
            shingler.lower_split(t, &mut words, &mut shingles);
            oph.sign_into(&shingles, &mut sig);
            check = check
                .wrapping_mul(31)
                .wrapping_add(sig.iter().map(|&v| v as u64).sum());
        }
        check
    });
}
