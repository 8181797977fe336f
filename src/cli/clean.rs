//! `dupsift clean`: write the corpus without in-document repeats and learned boilerplate.

use super::common::{print_summary, BlockArgs, InputArgs};
use super::learn::PolicyArgs;
use dupsift::clean::{clean_corpus, CleanOutput, Cleaner};
use dupsift::context::{model::Model, ContextCleaner};
use dupsift::mirror::Mirror;
use dupsift::output::{
    parent_dir, refuse_overwriting_inputs, refuse_tree_over_inputs, AtomicDir, AtomicFile,
};
use dupsift::sigdb::format::param_differences;
use dupsift::sigdb::{read_db, HashParams, Matcher};
use dupsift::{Error, Result};
use std::path::{Path, PathBuf};

/// Remove in-page repeats and learned boilerplate; every other field is kept.
///
/// Writes every input record with its text cleaned and every other field kept (JSONL; a text
/// file becomes a record {"id", "text"}). With --out-dir instead of -o, text files are written
/// back as a tree of text files: a file found in an input directory goes to OUTDIR/<its path
/// relative to that directory>, a text file named directly to OUTDIR/<its file name>, with
/// the original bytes except the removed blocks (a document left empty is an empty file).
/// --out-dir refuses JSONL, compressed and stdin inputs (no file to mirror; use -o), two
/// inputs that would land on the same path, and an OUTDIR that exists and is not empty or is
/// an input or inside an input directory; the tree is written into a hidden
/// .dupsift-clean-XXXXXX.tmp/ next to OUTDIR and renamed to OUTDIR only when complete.
///
/// Always removes in-document repeats (exact, near and truncated copies of an earlier block),
/// keeping the first. With --db, also removes blocks matching boilerplate of the document's
/// group in the database (exact key, MinHash Jaccard >= --threshold, or a truncated copy).
/// A removed block goes with the white space after it. --report writes one JSON line per
/// removed block: {"id", "start", "end", "reason", "score", "match"} (byte offsets into the
/// original text; reason repeat, near-repeat, contained or db), then with --skip-bad one line
/// per skipped record: {"location": "FILE:LINE", "reason": "skipped", "error"}.
///
/// --policy context (the default with --db) lets the built-in context model decide every
/// block instead: a classifier over the block's text, its place on the page and the
/// database's repetition evidence (reason "context", score = P(boilerplate), match = the
/// evidence: {"by": "model"|"run", "site_docs", "site_pages", "other_sites", "inpage"}).
/// Without --db it sees every page as from a site it never learned (no site counts).
/// The model was trained on blank-line paragraphs of web pages (use --unit paragraph).
///
/// Example: dupsift clean pages.jsonl --db site.dsig -o clean.jsonl --report removed.jsonl
///          dupsift clean site/ --db site.dsig --out-dir site-clean/
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
#[command(group(clap::ArgGroup::new("destination").required(true).args(["output", "out_dir"])))]
pub struct Args {
    #[command(flatten)]
    input: InputArgs,
    /// Block options; with --db they must equal the database's (see `dupsift inspect`).
    #[command(flatten)]
    blocks: BlockArgs,
    /// Output JSONL file.
    #[arg(short, long, value_name = "OUT.jsonl")]
    output: Option<PathBuf>,
    /// Write text-file inputs back as a tree of cleaned text files here (instead of -o).
    #[arg(long, value_name = "OUTDIR")]
    out_dir: Option<PathBuf>,
    /// Signature database from `dupsift learn` / `dupsift merge`.
    #[arg(long, value_name = "DB.dsig")]
    db: Option<PathBuf>,
    /// Write one JSON line per removed block here.
    #[arg(long, value_name = "R.jsonl")]
    report: Option<PathBuf>,
    /// Who decides: `repetition` (database entries and in-document repeats) or `context`
    /// (the built-in model). Default: context with --db, unless a repetition-only option
    /// (--threshold, --min-docs, --min-fraction, --short-words, --short-min-fraction) is
    /// given; repetition without --db (the model needs site counts to be reliable).
    #[arg(long, value_enum)]
    policy: Option<CleanPolicy>,
    /// Estimated Jaccard at or above which a long block matches a database entry (default: the
    /// database's near threshold).
    #[arg(long, value_name = "J")]
    threshold: Option<f64>,
    /// Context policy: P(boilerplate) at or above which the model removes a block (default:
    /// the shipped model's, chosen by cross-validation). Higher keeps more content words and
    /// more boilerplate (e.g. 0.9 or 0.95; see the README's trade-off table). Blocks outside
    /// the best run of kept text still go.
    #[arg(long, value_name = "P")]
    context_threshold: Option<f64>,
    /// Exact in-document repeats of blocks with fewer words ("Note", "See also") are kept
    /// unless the database marks them boilerplate (0 = remove every repeat).
    #[arg(long, default_value_t = dupsift::clean::DEFAULT_MIN_REPEAT_WORDS, value_name = "WORDS")]
    min_repeat_words: usize,
    /// Override the database's policy (see `dupsift learn --help`).
    #[arg(long, value_name = "N")]
    min_docs: Option<u64>,
    #[arg(long, value_name = "F")]
    min_fraction: Option<f64>,
    #[arg(long, value_name = "WORDS")]
    short_words: Option<usize>,
    #[arg(long, value_name = "F")]
    short_min_fraction: Option<f64>,
}

/// Where the cleaned documents go.
#[derive(Debug, Clone, Copy)]
enum Dest<'a> {
    Jsonl(&'a Path),
    Tree(&'a Path),
}

/// True when `path` is `dir` or below it, lexically or after resolving links.
fn is_within(path: &Path, dir: &Path) -> bool {
    if path.starts_with(dir) {
        return true;
    }
    match (
        std::fs::canonicalize(parent_dir(path)),
        std::fs::canonicalize(dir),
    ) {
        (Ok(p), Ok(d)) => p.starts_with(d),
        _ => false,
    }
}

/// Values of `--policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CleanPolicy {
    Repetition,
    Context,
}

pub fn run(args: Args) -> Result<()> {
    // The database is an input too: `-o site.dsig` must not replace it with JSONL.
    let mut inputs = args.input.inputs.clone();
    inputs.extend(args.db.iter().cloned());
    let dest = match (&args.output, &args.out_dir) {
        (Some(file), None) => Dest::Jsonl(file),
        (None, Some(dir)) => Dest::Tree(dir),
        _ => unreachable!("clap requires exactly one of -o and --out-dir"),
    };
    match dest {
        Dest::Jsonl(file) => refuse_overwriting_inputs(file, &inputs)?,
        Dest::Tree(dir) => refuse_tree_over_inputs(dir, &inputs)?,
    }
    if let Some(r) = &args.report {
        refuse_overwriting_inputs(r, &inputs)?;
        match dest {
            Dest::Jsonl(file) if r == file => {
                return Err(Error::Usage("--report and -o name the same file".into()));
            }
            Dest::Tree(dir) if is_within(r, dir) => {
                return Err(Error::Usage(format!(
                    "--report {} is inside --out-dir {}; put the report elsewhere",
                    r.display(),
                    dir.display()
                )));
            }
            _ => {}
        }
    }
    // Planned before anything is read or created, so a refused run leaves nothing behind.
    let mirror = match dest {
        Dest::Tree(_) => Some(Mirror::plan(&args.input.inputs)?),
        Dest::Jsonl(_) => None,
    };
    let block_params = args.blocks.params()?;
    let db = args.db.as_deref().map(read_db).transpose()?;
    if let (Some(path), Some(db)) = (&args.db, &db) {
        let wanted = HashParams::new(block_params, db.params.num_perm);
        let diffs = param_differences(&db.params, &wanted);
        if !diffs.is_empty() {
            return Err(Error::BadDb {
                path: path.clone(),
                problem: format!(
                    "learned with other block options (database vs command line: {})",
                    diffs.join(", ")
                ),
                fix: "pass clean the same block options as learn (see `dupsift inspect`)".into(),
            });
        }
    }
    let repetition_only = [
        (args.threshold.is_some(), "--threshold"),
        (args.min_docs.is_some(), "--min-docs"),
        (args.min_fraction.is_some(), "--min-fraction"),
        (args.short_words.is_some(), "--short-words"),
        (args.short_min_fraction.is_some(), "--short-min-fraction"),
    ];
    let repetition_flag = repetition_only.iter().find(|(set, _)| *set).map(|f| f.1);
    let policy = match (args.policy, &db, repetition_flag) {
        (Some(p), _, _) => p,
        (None, Some(_), None) => CleanPolicy::Context,
        (None, _, _) => CleanPolicy::Repetition,
    };
    if policy == CleanPolicy::Context {
        if let Some(flag) = repetition_flag {
            return Err(Error::Usage(format!(
                "{flag} applies to --policy repetition, not to the context model"
            )));
        }
    }
    if let Some(t) = args.context_threshold {
        if policy != CleanPolicy::Context {
            return Err(Error::Usage(
                "--context-threshold applies to the context model (--policy context, the \
                 default with --db)"
                    .into(),
            ));
        }
        if !(t > 0.0 && t <= 1.0) {
            return Err(Error::Usage(format!(
                "--context-threshold must be in (0, 1], got {t}"
            )));
        }
    }
    let cleaner = match (policy, db) {
        (CleanPolicy::Context, db) => {
            let context = ContextCleaner::new(Model::shipped()?, block_params, db.as_ref());
            // The context index copies what it needs; the database itself is left to process
            // exit like the cleaner below (freeing its 1.1 M strings here cost ~4 % of
            // `clean --policy context` on the man pages, perf).
            std::mem::forget(db);
            Cleaner::with_context(match args.context_threshold {
                Some(t) => context.with_threshold(t),
                None => context,
            })
        }
        (CleanPolicy::Repetition, None) => Cleaner::new(block_params),
        (CleanPolicy::Repetition, Some(db)) => {
            if let Some(t) = args.threshold {
                if !(t > 0.0 && t <= 1.0) {
                    return Err(Error::Usage(format!(
                        "--threshold must be in (0, 1], got {t}"
                    )));
                }
            }
            let stored = db.policy;
            let policy = PolicyArgs {
                min_docs: args.min_docs.unwrap_or(stored.min_docs),
                min_fraction: args.min_fraction.unwrap_or(stored.min_fraction),
                short_words: args.short_words.unwrap_or(stored.short_words),
                short_min_fraction: args.short_min_fraction.unwrap_or(stored.short_min_fraction),
            }
            .policy()?;
            let threshold = args.threshold.unwrap_or(db.params.blocks.near_threshold);
            Cleaner::with_db(Matcher::new(db, policy).with_threshold(threshold))
        }
    };
    let cleaner = cleaner.with_min_repeat_words(args.min_repeat_words);
    let mut report = args.report.as_deref().map(AtomicFile::create).transpose()?;
    let opts = args.input.read_options();
    let stats = match (dest, &mirror) {
        (Dest::Tree(dir), Some(mirror)) => {
            let mut tree = AtomicDir::create(dir)?;
            let out = CleanOutput::Tree(&mut tree, mirror);
            let stats = clean_corpus(&args.input.inputs, &opts, &cleaner, out, report.as_mut())?;
            // Both written before either is published: a failure leaves neither.
            let report = report.map(AtomicFile::finish).transpose()?;
            tree.commit()?;
            if let Some(r) = report {
                r.publish()?;
            }
            stats
        }
        (Dest::Tree(_), None) => unreachable!("a tree is planned above"),
        (Dest::Jsonl(file), _) => {
            let mut out = AtomicFile::create(file)?;
            let out_kind = CleanOutput::Jsonl(&mut out);
            let stats = clean_corpus(
                &args.input.inputs,
                &opts,
                &cleaner,
                out_kind,
                report.as_mut(),
            )?;
            out.commit()?;
            if let Some(r) = report {
                r.commit()?;
            }
            stats
        }
    };
    // The cleaner owns the database and its indexes (a format-1 file converted in memory, or
    // the exact-key map and band index built at load), whose frees took ~5 % of `clean --db`
    // when entries owned two `String`s each (perf). The process ends right after the summary,
    // so its memory is handed back to the OS in one piece instead.
    std::mem::forget(cleaner);
    let [rep, near, cont, db, context] = stats.removed;
    print_summary(
        "clean",
        stats.read,
        &format!("{} written ({} now empty)", stats.written, stats.emptied),
        &stats.skipped,
        None,
        &format!(
            "{} blocks, {} removed ({rep} repeat, {near} near-repeat, {cont} contained, {db} db, {context} context); \
             {} -> {} bytes of text",
            stats.blocks,
            stats.removed_total(),
            stats.bytes_in,
            stats.bytes_out
        ),
    );
    Ok(())
}
