//! `dupsift learn`: build a boilerplate signature database.

use super::common::{print_summary, BlockArgs, InputArgs};
use dupsift::output::refuse_overwriting_inputs;
use dupsift::sigdb::learn::Summarizer;
use dupsift::sigdb::{write_db, Grouping, HashParams, Learner, Policy, DEFAULT_BLOCK_PERM};
use dupsift::{Error, Result};
use std::path::PathBuf;

/// Learn a site's boilerplate into a signature database (.dsig).
///
/// Learns which blocks recur across the documents of each group (site) and writes them to a
/// signature database for `dupsift clean --db`.
///
/// Every distinct block is stored with its document count (near-duplicate long blocks counted
/// together); the --min-docs / --min-fraction policy is stored as the default and applied when
/// the database is used, so databases learned on shards merge exactly (`dupsift merge`).
///
/// Example: dupsift learn pages.jsonl --group-by url-host -o site.dsig
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    blocks: BlockArgs,
    /// Output database.
    #[arg(short, long, value_name = "DB.dsig")]
    output: PathBuf,
    /// Learn per group: a JSON field name, or `url-host` (host of the `url` field).
    #[arg(long, value_name = "FIELD|url-host")]
    group_by: Option<String>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// MinHash lanes per long block.
    #[arg(long, default_value_t = DEFAULT_BLOCK_PERM, value_name = "K")]
    num_perm: usize,
}

/// When an entry counts as boilerplate.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// Boilerplate when in at least this many documents of its group.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub min_docs: u64,
    /// ...and in at least this fraction of its group's documents.
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    pub min_fraction: f64,
    /// Blocks of at most this many words (headings like "Note") are boilerplate only when in
    /// at least --short-min-fraction of the group's documents (0 = no such rule).
    #[arg(long, default_value_t = 0, value_name = "WORDS")]
    pub short_words: usize,
    /// See --short-words.
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    pub short_min_fraction: f64,
}

impl PolicyArgs {
    pub fn policy(&self) -> Result<Policy> {
        for (name, v) in [
            ("--min-fraction", self.min_fraction),
            ("--short-min-fraction", self.short_min_fraction),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::Usage(format!("{name} must be in [0, 1], got {v}")));
            }
        }
        Ok(Policy {
            min_docs: self.min_docs.max(1),
            min_fraction: self.min_fraction,
            short_words: self.short_words,
            short_min_fraction: self.short_min_fraction,
        })
    }
}

pub fn run(args: Args) -> Result<()> {
    if args.num_perm == 0 || args.num_perm > 1024 {
        return Err(Error::Usage("--num-perm must be in 1..=1024".into()));
    }
    refuse_overwriting_inputs(&args.output, &args.input.inputs)?;
    let params = HashParams::new(args.blocks.params()?, args.num_perm);
    let grouping = match args.group_by.as_deref() {
        None => Grouping::None,
        Some("url-host") => Grouping::UrlHost,
        Some(f) => Grouping::Field(f.to_string()),
    };
    let summarizer = Summarizer::new(params, grouping.clone());
    let mut learner = Learner::new(params, grouping, args.policy.policy()?);
    let stats = dupsift::pipeline::run(
        &args.input.inputs,
        &args.input.read_options(),
        |doc| summarizer.summarize(&doc.id, &doc.text, doc.record.as_deref()),
        |batch| {
            for s in batch {
                learner.add(s);
            }
            Ok(())
        },
    )?;
    let db = learner.finish();
    write_db(&db, &args.output)?;
    let active = db.active(&db.policy).count();
    print_summary(
        "learn",
        stats.read,
        &format!("{} learned", db.documents()),
        &stats.skipped,
        None,
        &format!(
            "{} groups, {} distinct blocks, {active} boilerplate at --min-docs {}; wrote {}",
            db.groups.len(),
            db.entries.len(),
            db.policy.min_docs,
            args.output.display()
        ),
    );
    Ok(())
}
