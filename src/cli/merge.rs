//! `dupsift merge`: combine databases learned on shards.

use dupsift::output::refuse_overwriting_inputs;
use dupsift::sigdb::{merge, read_db, write_db};
use dupsift::Result;
use std::path::PathBuf;

/// Combine signature databases learned on shards into one.
///
/// The result equals the database learned on all shards at once (in argument order). Refuses
/// databases learned with different options.
///
/// Example: dupsift merge shard1.dsig shard2.dsig -o all.dsig
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Databases to merge.
    #[arg(required = true, value_name = "DB.dsig")]
    inputs: Vec<PathBuf>,
    /// Output database.
    #[arg(short, long, value_name = "DB.dsig")]
    output: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    refuse_overwriting_inputs(&args.output, &args.inputs)?;
    let dbs = args
        .inputs
        .iter()
        .map(|p| read_db(p).map(|db| (p.clone(), db)))
        .collect::<Result<Vec<_>>>()?;
    let db = merge(dbs)?;
    write_db(&db, &args.output)?;
    eprintln!(
        "dupsift merge: {} databases, {} documents, {} groups, {} distinct blocks; wrote {}",
        args.inputs.len(),
        db.documents(),
        db.groups.len(),
        db.entries.len(),
        args.output.display()
    );
    Ok(())
}
