//! `dupsift scan`: report repeated blocks.

use super::common::{print_summary, stdout_error, BlockArgs, InputArgs};
use dupsift::blocks::analyze;
use dupsift::scan::{RepeatedBlock, Scanner};
use dupsift::Result;
use std::io::Write;

/// Report the blocks (lines or paragraphs) that repeat, within documents and across them.
///
/// Within a document a block repeats when its normalized text equals an earlier block's, when
/// it is a near-repeat (word-shingle Jaccard >= --near-threshold), or when it is a truncated
/// copy (>= --containment of its shingles inside a longer earlier block). Across documents a
/// block counts when its normalized text occurs in at least --min-docs documents.
///
/// Example: dupsift scan fixtures/site
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    blocks: BlockArgs,
    /// Report blocks present in at least this many documents.
    #[arg(long, default_value_t = 2, value_name = "N")]
    min_docs: u64,
    /// Print at most this many rows (0 = all).
    #[arg(long, default_value_t = 50, value_name = "N")]
    top: usize,
    /// Print JSON lines ({kind, text, docs, occurrences, matches, ids}) instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let params = args.blocks.params()?;
    let mut scanner = Scanner::new(args.min_docs, 5);
    let stats = dupsift::pipeline::run(
        &args.input.inputs,
        &args.input.read_options(),
        |doc| {
            let blocks = analyze(&doc.text, &params);
            (doc, blocks)
        },
        |batch| {
            for (doc, blocks) in batch {
                scanner.add(&doc.id, &doc.text, &blocks);
            }
            Ok(())
        },
    )?;
    let docs = scanner.documents();
    let mut rows = scanner.finish();
    let total = rows.len();
    if args.top > 0 {
        rows.truncate(args.top);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        for row in &rows {
            serde_json::to_writer(&mut out, row).map_err(|e| stdout_error(e.into()))?;
            out.write_all(b"\n").map_err(stdout_error)?;
        }
    } else {
        print_table(&mut out, &rows).map_err(stdout_error)?;
    }
    out.flush().map_err(stdout_error)?;
    print_summary(
        "scan",
        stats.read,
        &format!("{docs} scanned"),
        &stats.skipped,
        None,
        &format!("{total} repeated blocks ({} shown)", rows.len()),
    );
    Ok(())
}

fn print_table(out: &mut impl Write, rows: &[RepeatedBlock]) -> std::io::Result<()> {
    writeln!(out, "{:<7} {:>6} {:>6}  text", "kind", "docs", "count")?;
    for row in rows {
        let kind = serde_json::to_value(row.kind).expect("enum serializes");
        writeln!(
            out,
            "{:<7} {:>6} {:>6}  {}",
            kind.as_str().unwrap_or_default(),
            row.docs,
            row.occurrences,
            shorten(&row.text, 100)
        )?;
    }
    Ok(())
}

/// One line of at most `max` characters.
fn shorten(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}
