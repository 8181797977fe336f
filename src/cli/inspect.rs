//! `dupsift inspect`: show a signature database.

use super::common::stdout_error;
use dupsift::sigdb::read_db_version;
use dupsift::sigdb::summary::{summarize_version, top_entries};
use dupsift::Result;
use std::io::Write;
use std::path::PathBuf;

/// Show a signature database: version, parameters, counts, top entries.
///
/// Shows the format version, every parameter, counts and the entries found in the most
/// documents (boilerplate under the database's stored policy).
///
/// Example: dupsift inspect site.dsig --top 20
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The database.
    #[arg(value_name = "DB.dsig")]
    db: PathBuf,
    /// Show at most this many entries (0 = all).
    #[arg(long, default_value_t = 20, value_name = "N")]
    top: usize,
    /// Print JSON lines (the header, then one line per entry) instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let (db, version) = read_db_version(&args.db)?;
    let summary = summarize_version(&db, version);
    let top = top_entries(&db, &db.policy, args.top);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer(&mut out, &summary).map_err(|e| stdout_error(e.into()))?;
        out.write_all(b"\n").map_err(stdout_error)?;
        for e in &top {
            serde_json::to_writer(&mut out, e).map_err(|e| stdout_error(e.into()))?;
            out.write_all(b"\n").map_err(stdout_error)?;
        }
    } else {
        let s = &summary;
        let p = &s.policy;
        writeln!(
            out,
            "{}: dupsift signature database, format version {}\n\
             parameters: seed {}, num_perm {}, bands x rows {}x{}, shingles {} {}, \
             normalizer v{}, unit {}, min_near_words {}, near_threshold {}, containment {}\n\
             grouping: {}\n\
             policy: min_docs {}, min_fraction {}, short_words {}, short_min_fraction {}\n\
             counts: {} documents, {} groups, {} entries ({} long), {} boilerplate\n",
            args.db.display(),
            s.format_version,
            s.seed,
            s.num_perm,
            s.bands,
            s.rows,
            s.shingle_kind,
            s.shingle_n,
            s.normalizer_version,
            s.unit,
            s.min_near_words,
            s.near_threshold,
            s.containment,
            s.grouping.describe(),
            p.min_docs,
            p.min_fraction,
            p.short_words,
            p.short_min_fraction,
            s.documents,
            s.groups,
            s.entries,
            s.long_entries,
            s.active_entries,
        )
        .map_err(stdout_error)?;
        writeln!(
            out,
            "{:>6} {:>6} {:>7}  {:<20} example",
            "docs", "of", "count", "group"
        )
        .map_err(stdout_error)?;
        for e in &top {
            let example: String = e.example.split_whitespace().collect::<Vec<_>>().join(" ");
            writeln!(
                out,
                "{:>6} {:>6} {:>7}  {:<20} {}",
                e.near_docs, e.group_docs, e.occurrences, e.group, example
            )
            .map_err(stdout_error)?;
        }
    }
    out.flush().map_err(stdout_error)
}
