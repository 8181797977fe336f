//! Arbitrary bytes as a `.dsig` signature database, as found and with a valid checksum.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::sigdb_loader(data));
