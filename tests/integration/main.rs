//! The one integration-test binary (as in ripgrep): one `mod` per area, helpers in `util`.
//! Every test runs the real `dupsift` binary on fixtures from this repository or on files it
//! writes into a temporary directory. Add a module per new area here.

mod accounting;
mod clean_tree;
mod context;
mod context_dragnet;
mod db_corruption;
mod dedup;
mod determinism;
mod encodings;
mod eval;
mod fuzz_corpus;
mod input_errors;
mod output_safety;
mod scan;
mod sigdb;
mod util;
