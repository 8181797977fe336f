//! Command-line interface: the only code that knows clap. Each subcommand lives in its own
//! file with the same shape (`Args` -> `run`), turning flags into library values.
//!
//! Exit codes are a contract: 0 success, 2 usage or input error (bad flag, missing file, bad
//! record, unusable database). A closed stdout pipe (`dupsift scan x | head`) exits 0 quietly.

mod clean;
mod common;
mod dedup;
mod eval;
mod inspect;
mod learn;
mod merge;
mod scan;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Find and remove near-duplicate text and boilerplate in document corpora.
///
/// INPUT is a text file (one document, id = its path), a directory (walked in sorted order;
/// `.jsonl`, `.jsonl.gz` and `.jsonl.zst` files inside are read as JSONL), a JSONL file
/// (one record per line, compression detected by magic bytes), or `-` for JSONL on stdin.
#[derive(Debug, Parser)]
#[command(
    name = "dupsift",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Scan(scan::Args),
    Dedup(dedup::Args),
    Learn(learn::Args),
    Clean(clean::Args),
    Inspect(inspect::Args),
    Merge(merge::Args),
    Eval(eval::Args),
}

/// Parses the command line, runs it and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => scan::run(args),
        Command::Dedup(args) => dedup::run(args),
        Command::Learn(args) => learn::run(args),
        Command::Clean(args) => clean::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Eval(args) => eval::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if common::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dupsift: error: {e}");
            ExitCode::from(2)
        }
    }
}
