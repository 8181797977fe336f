//! Arbitrary bytes as a JSONL file (plain, gzip or zstd): read, parse, rewrite every record.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::jsonl_reader(data));
