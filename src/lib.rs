//! dupsift: find and remove near-duplicate text and boilerplate in document corpora.
//!
//! The library does all the work; the `dupsift` binary only translates flags into these
//! types. Data flow (see ARCHITECTURE in the README):
//! inputs ([`corpus`]) -> blocks ([`segment`]) -> keys ([`normalize`]) and shingles
//! ([`shingle`]) -> [`minhash`] -> within-document repeats ([`blocks`]) and corpus reports
//! ([`scan`]) -> banding ([`lsh`]) and clusters ([`cluster`]).

pub mod blocks;
pub mod clean;
pub mod cluster;
pub mod context;
pub mod corpus;
pub(crate) mod cpu;
pub mod dedup;
pub mod error;
pub mod eval;
pub(crate) mod json_str;
pub mod lsh;
pub mod minhash;
pub mod mirror;
pub mod normalize;
pub mod oph;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod scan;
pub mod segment;
pub mod shingle;
pub mod sigdb;
#[cfg(test)]
pub(crate) mod test_rng;
pub mod utf8;
pub mod word_hash;

pub use error::{Error, Result};

/// Seed every hash is derived from unless the user picks another (stored with every DB).
pub const DEFAULT_SEED: u64 = 0x6475_7073_6966_7431; // "dupsift1"
