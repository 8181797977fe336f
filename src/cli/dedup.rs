//! `dupsift dedup`: remove near-duplicate documents.

use super::common::{print_summary, InputArgs};
use dupsift::dedup::{
    dedup, DedupOutputs, DedupParams, Keep, LinkParams, SignParams, Sketch, TemplateParams, Verify,
};
use dupsift::Result;
use std::path::PathBuf;

/// Remove near-duplicate documents, keeping one per cluster.
///
/// Exact duplicates (same lower-cased words) are found first by hash. Near duplicates: word
/// n-gram sketches of K lanes (by default one-permutation hashing with densification, one
/// hash per shingle; --sketch minhash for K hashes per shingle), LSH bands chosen so that a pair at --threshold becomes a
/// candidate with probability 0.995, and every candidate verified against --threshold
/// before it joins a cluster: by default with the estimated Jaccard, except that a pair whose
/// estimate is within 3 standard errors of the threshold gets its true Jaccard, recomputed
/// from the two records' text (re-read from the input file at their byte offsets; for
/// compressed input and text files the shingle sets are stored while signing instead, which
/// is slower). --verify estimate never rechecks, --verify exact stores every set and checks
/// every candidate exactly. Clusters are connected components of verified pairs (a chain A~B~C is one
/// cluster; --clusters shows each document's similarity to the survivor).
///
/// Output: the kept records, every JSONL field byte for byte (text files become {id, text}).
///
/// Example: dupsift dedup corpus.jsonl.zst -o kept.jsonl --clusters clusters.jsonl
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    input: InputArgs,
    /// Kept records (JSONL), written atomically.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Also write {id, cluster, kept, similarity} for every document in a cluster of 2+.
    #[arg(long, value_name = "C.jsonl")]
    clusters: Option<PathBuf>,
    /// Jaccard similarity at or above which two documents are near-duplicates.
    #[arg(long, default_value_t = 0.8, value_name = "J")]
    threshold: f64,
    /// Sketch lanes K (MinHash permutations or one-permutation bins).
    #[arg(long, default_value_t = 128, value_name = "K")]
    num_perm: usize,
    /// The sketch: oph (one-permutation hashing with optimal densification, one hash per
    /// shingle) or minhash (K hashes per shingle: slower, about the same precision).
    #[arg(long, value_enum, default_value_t = Sketch::Oph)]
    sketch: Sketch,
    /// Word n-gram size of the shingles.
    #[arg(long, default_value_t = 5, value_name = "N")]
    ngram: usize,
    /// How candidate pairs are checked against the threshold.
    #[arg(long, value_enum, default_value_t = Verify::Recheck)]
    verify: Verify,
    /// Also join a document to a longer one holding at least this fraction of its shingles.
    #[arg(long, value_name = "C")]
    containment: Option<f64>,
    /// LSH bands (with --rows; bands x rows <= --num-perm). By default both are chosen so that
    /// a pair exactly at the threshold becomes a candidate with probability 0.995; set them to
    /// reproduce another tool's setup (datasketch's t=0.8, K=128 choice is 9 x 13).
    #[arg(long, value_name = "B", requires = "rows")]
    bands: Option<usize>,
    /// LSH rows per band (with --bands).
    #[arg(long, value_name = "R", requires = "bands")]
    rows: Option<usize>,
    /// Which document of a cluster survives.
    #[arg(long, value_enum, default_value_t = Keep::First)]
    keep: Keep,
    /// Template-aware similarity: drop words on at least --template-df of the documents
    /// (learned from this corpus, per --group-field value where given) before shingling.
    #[arg(long)]
    template_aware: bool,
    /// Document-frequency fraction at which a word counts as template.
    #[arg(long, default_value_t = 0.2, value_name = "F")]
    template_df: f64,
    /// JSON field naming a group (e.g. site) that learns its own template.
    #[arg(long, value_name = "FIELD")]
    group_field: Option<String>,
    /// Directory for temporary files (default: the output's directory).
    #[arg(long, value_name = "DIR")]
    tmp_dir: Option<PathBuf>,
    /// Seed of every hash.
    #[arg(long, default_value_t = dupsift::DEFAULT_SEED)]
    seed: u64,
}

pub fn run(args: Args) -> Result<()> {
    let template = (args.template_aware || args.group_field.is_some()).then(|| TemplateParams {
        max_df: args.template_df,
        group_field: args.group_field.clone(),
        ..TemplateParams::default()
    });
    let params = DedupParams {
        sign: SignParams {
            num_perm: args.num_perm,
            ngram: args.ngram,
            seed: args.seed,
            keep_sets: false,
            template,
            sketch: args.sketch,
        },
        link: LinkParams {
            threshold: args.threshold,
            containment: args.containment,
            verify: args.verify,
            keep: args.keep,
            bands_rows: match (args.bands, args.rows) {
                (Some(bands), Some(rows)) => Some(dupsift::lsh::LshParams { bands, rows }),
                _ => None,
            },
            ..LinkParams::default()
        },
    };
    let outputs = DedupOutputs {
        kept: args.output,
        clusters: args.clusters,
        tmp_dir: args.tmp_dir,
    };
    let s = dedup(
        &args.input.inputs,
        &args.input.read_options(),
        &params,
        &outputs,
    )?;
    let l = &s.link;
    print_summary(
        "dedup",
        s.read.read,
        &format!("{} written", s.kept_written),
        &s.read.skipped,
        Some(&format!(
            "{} removed as duplicates ({} exact, {} near)",
            l.exact_removed + l.near_removed,
            l.exact_removed,
            l.near_removed
        )),
        &format!("{} clusters of 2+, largest {}", l.clusters, l.largest),
    );
    if let Some(lsh) = l.lsh {
        eprintln!(
            "dupsift dedup: LSH {} bands x {} rows; {} candidate pairs verified, {} passed{}",
            lsh.bands,
            lsh.rows,
            l.verified,
            l.edges,
            if params.link.verify == Verify::Recheck {
                format!(" ({} borderline, rechecked exactly)", l.rechecked)
            } else {
                String::new()
            }
        );
    }
    let [sign, link, write] = s.seconds;
    eprintln!(
        "dupsift dedup: {:.1} MB in {:.2} s (sign {sign:.2} s, link {link:.2} s, write {write:.2} s)",
        s.read.bytes as f64 / 1e6,
        sign + link + write
    );
    if let Some((global, grouped)) = params.sign.template.as_ref().map(|_| s.template_tokens) {
        eprintln!(
            "dupsift dedup: template words removed: {global} corpus-wide, {grouped} per group"
        );
    }
    Ok(())
}
