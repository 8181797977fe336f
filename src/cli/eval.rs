//! `dupsift eval`: precision / recall / F1 of dupsift's outputs against labels.

use super::common::stdout_error;
use dupsift::eval::blocks::{self, BlockLabelSpec, Blocking, LabelMeaning};
use dupsift::eval::pairs::{self, PairsReport};
use dupsift::eval::text::{self, TextSpec};
use dupsift::eval::Prf;
use dupsift::{Error, Result};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// Score dupsift's outputs against labels: duplicate clusters, removed blocks, kept text.
///
/// Each mode reads a file dupsift wrote and a labels file, and prints precision, recall and
/// F1 with the counts behind them (`--json`: one JSON object).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, clap::Subcommand)]
enum Mode {
    Pairs(PairsArgs),
    Blocks(BlocksArgs),
    Text(TextArgs),
}

/// Duplicate clusters (`dedup --clusters`) against labelled groups or pairs.
///
/// A pair of documents is predicted positive when both are in one cluster of CLUSTERS, and
/// labelled positive when both are in one group of GOLD (or GOLD lists the pair). Prints
/// pairwise precision, recall and F1 and, for groups, the adjusted Rand index. Documents in
/// neither file are singletons; give the corpus size with --documents so the Rand index counts
/// them.
///
/// CLUSTERS: JSONL from `dupsift dedup --clusters`, one line per clustered document:
///   {"id": "doc-7", "cluster": "doc-2", "kept": false, "similarity": 0.91}
///
/// GOLD (--gold-format groups, the default): tab-separated `id<TAB>group`, one line per
/// document; documents of one group are duplicates of each other. Lines starting with `#` are
/// ignored, extra columns too.
///   doc-2<TAB>g1
///   doc-7<TAB>g1
///
/// GOLD (--gold-format pairs): tab-separated `id<TAB>id`, one duplicate pair per line (not
/// closed transitively).
///
/// Examples:
///   dupsift eval pairs clusters.jsonl groups.tsv --documents 19746
///   dupsift eval pairs clusters.jsonl aliases.tsv --gold-format pairs --skip-header 1 --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
struct PairsArgs {
    /// `dedup --clusters` output (JSONL, may be .gz / .zst).
    #[arg(value_name = "CLUSTERS")]
    clusters: PathBuf,
    /// Labels: groups or pairs, tab-separated.
    #[arg(value_name = "GOLD")]
    gold: PathBuf,
    /// What GOLD's lines are.
    #[arg(long, value_enum, default_value_t = GoldFormat::Groups)]
    gold_format: GoldFormat,
    /// Header lines at the top of GOLD to skip.
    #[arg(long, default_value_t = 0, value_name = "N")]
    skip_header: u64,
    /// Documents in the corpus (for the adjusted Rand index); default: those named in the files.
    #[arg(long, default_value_t = 0, value_name = "N")]
    documents: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum GoldFormat {
    /// `id<TAB>group` per line.
    Groups,
    /// `id<TAB>id` per duplicate pair.
    Pairs,
}

/// Removed spans (`clean --report`) against block labels.
///
/// LABELS holds each document's original text and one label per block, in order; the text is
/// cut into blocks with --unit and a block counts as removed when REPORT's spans cover at
/// least --min-overlap of its bytes. Boilerplate is the positive class: precision is the share
/// of removed blocks that are boilerplate, recall the share of boilerplate blocks removed.
/// Also printed weighted by block bytes. White-space-only blocks are skipped.
///
/// REPORT: JSONL from `dupsift clean --report`, one line per removed span, byte offsets into
/// the original text:
///   {"id": "p1", "start": 0, "end": 42, "reason": "db", "score": 1.0, "match": "..."}
///
/// LABELS: JSONL, one line per document, labels 0/1 or false/true:
///   {"id": "p1", "text": "Home | News\n\nStory text ...", "block_labels": [1, 0]}
///
/// Example (dragnet: blocks are text.split("\n\n"), label 1 = content):
///   dupsift eval blocks report.jsonl pages.jsonl.gz --unit blank-split \
///       --labels-field block_label_derived --label-means content
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
struct BlocksArgs {
    /// `clean --report` output (JSONL, may be .gz / .zst).
    #[arg(value_name = "REPORT")]
    report: PathBuf,
    /// Labels: JSONL with id, original text and a label array.
    #[arg(value_name = "LABELS")]
    labels: PathBuf,
    /// How the text is cut into the blocks the labels are aligned with.
    #[arg(long, value_enum, default_value_t = Blocking::Line)]
    unit: Blocking,
    /// Field of LABELS holding the label array.
    #[arg(long, default_value = "block_labels", value_name = "FIELD")]
    labels_field: String,
    /// What a label of 1 / true means.
    #[arg(long, value_enum, default_value_t = LabelMeaning::Boilerplate)]
    label_means: LabelMeaning,
    /// Field of LABELS holding the original text.
    #[arg(long, default_value = "text", value_name = "FIELD")]
    text_field: String,
    /// Field holding the document id (in LABELS; REPORT always has `id`).
    #[arg(long, default_value = "id", value_name = "FIELD")]
    id_field: String,
    /// Share of a block's bytes that removed spans must cover for it to count as removed.
    #[arg(long, default_value_t = 0.5, value_name = "SHARE")]
    min_overlap: f64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Kept text (cleaned JSONL) against gold text: word 4-gram precision / recall / F1.
///
/// Both texts are lowercased and split on white space; each becomes a bag (multiset) of word
/// 4-grams (a text of fewer words is one n-gram of all of them) and the overlap is the bag
/// intersection: the article-extraction benchmark's measure. Printed as the mean over gold
/// documents (macro) and from summed counts (micro). A gold document missing from CLEANED
/// scores 0; cleaned documents without gold are counted and ignored.
///
/// CLEANED: JSONL written by `dupsift clean` (records with `id` and `text`).
/// GOLD: JSONL with `id` and the gold text in --gold-field.
///   {"id": "p1", "gold": "Story text ..."}
///
/// Example (dragnet main text):
///   dupsift eval text cleaned.jsonl pages.jsonl.gz --gold-field gold_main
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
struct TextArgs {
    /// Cleaned JSONL (may be .gz / .zst).
    #[arg(value_name = "CLEANED")]
    cleaned: PathBuf,
    /// Gold JSONL (may be .gz / .zst).
    #[arg(value_name = "GOLD")]
    gold: PathBuf,
    /// Field of GOLD holding the gold text.
    #[arg(long, default_value = "gold", value_name = "FIELD")]
    gold_field: String,
    /// Field of CLEANED holding the kept text.
    #[arg(long, default_value = "text", value_name = "FIELD")]
    text_field: String,
    /// Field holding the document id (in both files).
    #[arg(long, default_value = "id", value_name = "FIELD")]
    id_field: String,
    /// Words per n-gram.
    #[arg(long, default_value_t = 4, value_name = "N")]
    ngram: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    match args.mode {
        Mode::Pairs(a) => {
            let predicted = pairs::read_clusters(&a.clusters)?;
            let report = match a.gold_format {
                GoldFormat::Groups => {
                    let gold = pairs::read_groups(&a.gold, a.skip_header)?;
                    pairs::score_groups(&predicted, &gold, a.documents)
                }
                GoldFormat::Pairs => {
                    let gold = pairs::read_pairs(&a.gold, a.skip_header)?;
                    pairs::score_pairs(&predicted, &gold)
                }
            };
            emit(a.json, &report, print_pairs)
        }
        Mode::Blocks(a) => {
            let removed = blocks::read_report(&a.report)?;
            let spec = BlockLabelSpec {
                id_field: a.id_field,
                text_field: a.text_field,
                labels_field: a.labels_field,
                meaning: a.label_means,
                blocking: a.unit,
                min_overlap: a.min_overlap,
            };
            let report = blocks::score(&removed, &a.labels, &spec)?;
            emit(a.json, &report, |out, r| {
                line(out, "blocks", &r.blocks)?;
                line(out, "bytes", &r.bytes)?;
                writeln!(
                    out,
                    "{} labelled documents; {} empty blocks skipped; {} spans in unlabelled documents",
                    r.documents, r.empty_blocks, r.unlabelled_spans
                )
            })
        }
        Mode::Text(a) => {
            if a.ngram == 0 {
                return Err(Error::Usage("--ngram must be at least 1".into()));
            }
            let spec = TextSpec {
                id_field: a.id_field,
                text_field: a.text_field,
                gold_field: a.gold_field,
                n: a.ngram,
            };
            let report = text::score(&a.cleaned, &a.gold, &spec)?;
            emit(a.json, &report, |out, r| {
                writeln!(out, "macro  {}", r.macro_average)?;
                line(out, "micro", &r.micro)?;
                writeln!(
                    out,
                    "{} gold documents ({} missing from the output); {} without gold",
                    r.documents, r.missing, r.unlabelled
                )
            })
        }
    }
}

fn print_pairs(out: &mut dyn Write, r: &PairsReport) -> std::io::Result<()> {
    line(out, "pairs", &r.pairs)?;
    if let Some(ari) = r.adjusted_rand_index {
        writeln!(out, "adjusted Rand index {ari:.4}")?;
    }
    writeln!(
        out,
        "{} documents; {} predicted clusters, {} labelled groups",
        r.documents, r.predicted_clusters, r.gold_groups
    )
}

fn line(out: &mut dyn Write, name: &str, prf: &Prf) -> std::io::Result<()> {
    writeln!(
        out,
        "{name:<6} {}  (true positives {}, predicted {}, labelled {})",
        prf.scores(),
        prf.true_positives,
        prf.predicted,
        prf.gold
    )
}

/// Prints `report` as JSON (with the ratios next to the counts) or as text.
fn emit<R: Serialize>(
    json: bool,
    report: &R,
    text: impl Fn(&mut dyn Write, &R) -> std::io::Result<()>,
) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        serde_json::to_writer(&mut out, report).map_err(|e| stdout_error(e.into()))?;
        writeln!(out).map_err(stdout_error)?;
    } else {
        text(&mut out, report).map_err(stdout_error)?;
    }
    out.flush().map_err(stdout_error)
}
