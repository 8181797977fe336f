//! Flags shared by several subcommands, and their translation into library values.

use dupsift::blocks::BlockParams;
use dupsift::corpus::FieldNames;
use dupsift::pipeline::{ReadOptions, Skipped};
use dupsift::segment::Unit;
use dupsift::shingle::{ShingleKind, Shingler};
use dupsift::Error;
use std::path::PathBuf;

/// Where documents come from.
#[derive(Debug, clap::Args)]
pub struct InputArgs {
    /// Text files, directories, JSONL files (.jsonl, .jsonl.gz, .jsonl.zst) or `-` for stdin.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// JSON field holding the document text.
    #[arg(long, default_value = "text", value_name = "FIELD")]
    pub text_field: String,
    /// JSON field holding the document id; records without it get `file:line`.
    #[arg(long, default_value = "id", value_name = "FIELD")]
    pub id_field: String,
    /// Skip records that cannot be read (bad JSON, missing text, invalid UTF-8), count them and
    /// go on, instead of stopping with exit status 2 at the first.
    #[arg(long)]
    pub skip_bad: bool,
}

impl InputArgs {
    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            fields: FieldNames {
                text: self.text_field.clone(),
                id: self.id_field.clone(),
            },
            skip_bad: self.skip_bad,
            progress: true,
            ..ReadOptions::default()
        }
    }
}

/// How documents are cut into blocks and blocks compared.
#[derive(Debug, clap::Args)]
pub struct BlockArgs {
    /// Block unit: every non-empty line, or blank-line separated paragraphs.
    #[arg(long, value_enum, default_value_t = Unit::Line)]
    pub unit: Unit,
    /// Shingle size n (words, or characters with --char-ngrams).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub ngram: usize,
    /// Use character n-grams instead of word n-grams.
    #[arg(long)]
    pub char_ngrams: bool,
    /// Jaccard similarity at or above which two long blocks are near-repeats.
    #[arg(long, default_value_t = 0.8, value_name = "J")]
    pub near_threshold: f64,
    /// Share of a block's shingles inside a longer block at or above which it is a truncated copy.
    #[arg(long, default_value_t = 0.8, value_name = "C")]
    pub containment: f64,
    /// Blocks with fewer words than this match by exact (normalized) text only.
    #[arg(long, default_value_t = 8, value_name = "WORDS")]
    pub min_near_words: usize,
    /// Seed of every hash.
    #[arg(long, default_value_t = dupsift::DEFAULT_SEED)]
    pub seed: u64,
}

impl BlockArgs {
    pub fn params(&self) -> Result<BlockParams, Error> {
        if self.ngram == 0 {
            return Err(Error::Usage("--ngram must be at least 1".into()));
        }
        for (name, v) in [
            ("--near-threshold", self.near_threshold),
            ("--containment", self.containment),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(Error::Usage(format!("{name} must be in (0, 1], got {v}")));
            }
        }
        Ok(BlockParams {
            unit: self.unit,
            shingler: Shingler {
                kind: if self.char_ngrams {
                    ShingleKind::Char
                } else {
                    ShingleKind::Word
                },
                n: self.ngram,
                seed: self.seed,
            },
            near_threshold: self.near_threshold,
            containment: self.containment,
            min_near_words: self.min_near_words,
        })
    }
}

/// True when `e` is a write to a closed pipe (the reader went away: not an error).
pub fn is_broken_pipe(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Writes to stdout, mapping failures (including a closed pipe) to an error.
pub fn stdout_error(e: std::io::Error) -> Error {
    Error::io("<stdout>", "write failed", e)
}

/// Prints the summary every command that reads documents ends with, in one shape so that
/// every input record is accounted for and scripts can parse it:
///
/// `dupsift CMD: R documents read, N VERB, S skipped (bad input)[, D removed ...]; DETAILS`
///
/// where R = N + S (+ D for dedup), then one `dupsift CMD: skipped LOCATION: REASON` line per
/// skipped record, so a `--skip-bad` run names every record it did not use.
pub fn print_summary(
    cmd: &str,
    read: u64,
    used: &str,
    skipped: &[Skipped],
    removed: Option<&str>,
    details: &str,
) {
    let removed = removed.map(|r| format!(", {r}")).unwrap_or_default();
    eprintln!(
        "dupsift {cmd}: {read} documents read, {used}, {} skipped (bad input){removed}; {details}",
        skipped.len()
    );
    for s in skipped {
        eprintln!("dupsift {cmd}: skipped {}: {}", s.location, s.reason);
    }
}
