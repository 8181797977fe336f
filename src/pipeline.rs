//! The streaming skeleton every command runs on: one thread reads raw records in input order,
//! the rayon pool parses and processes a batch at a time, and the caller consumes each batch's
//! results in input order, so output is identical whatever the thread count.

use crate::corpus::{self, Document, FieldNames};
use crate::error::{Error, Result};
use std::path::PathBuf;
use std::sync::mpsc::sync_channel;

use rayon::prelude::*;

/// How inputs are read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub fields: FieldNames,
    /// Skip records that cannot be parsed (counted and listed in [`ReadStats::skipped`])
    /// instead of stopping at the first.
    pub skip_bad: bool,
    /// Bytes of raw records handed to the pool at once.
    pub batch_bytes: usize,
    /// Show progress on stderr (only ever drawn when stderr is a terminal).
    pub progress: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            fields: FieldNames::default(),
            skip_bad: false,
            batch_bytes: 8 << 20,
            progress: false,
        }
    }
}

/// A record that was skipped, with where it was and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    pub location: String,
    pub reason: String,
}

/// What a streaming pass read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Records read (parsed or skipped).
    pub read: u64,
    /// Input bytes of all records read.
    pub bytes: u64,
    pub skipped: Vec<Skipped>,
}

/// Streams `inputs`, applies `work` to every document in parallel and hands each batch's
/// results, in input order, to `sink`. Stops at the first error unless `skip_bad` is set and
/// the error is about one record.
pub fn run<T, W, S>(inputs: &[PathBuf], opts: &ReadOptions, work: W, sink: S) -> Result<ReadStats>
where
    T: Send,
    W: Fn(Document) -> T + Sync,
    S: FnMut(Vec<T>) -> Result<()>,
{
    run_parsed(
        inputs,
        opts,
        |raw, fields| raw.parse(fields),
        |docs| docs.into_iter().map(&work).collect(),
        sink,
    )
}

/// Most documents [`run_parsed`] hands to its `work` at once.
const MAX_CHUNK_DOCS: usize = 64;

/// [`run`] with the parse step given (`clean` parses with
/// [`corpus::RawRecord::parse_spanned`] to keep where each record's text is), and `work`
/// applied to runs of consecutive parsed documents: it returns one result per document, in
/// order. Why runs: `clean --policy context` scores the blocks of several pages together
/// (see [`crate::context::ContextCleaner::removals_many`]). A run is at most
/// [`MAX_CHUNK_DOCS`] documents and small enough that each thread gets several runs of a
/// batch; results must not depend on where the runs are cut (output is identical whatever
/// the thread count).
pub fn run_parsed<D, T, P, W, S>(
    inputs: &[PathBuf],
    opts: &ReadOptions,
    parse: P,
    work: W,
    mut sink: S,
) -> Result<ReadStats>
where
    T: Send,
    D: Send,
    P: Fn(corpus::RawRecord, &corpus::FieldNames) -> Result<D> + Sync,
    W: Fn(Vec<D>) -> Vec<T> + Sync,
    S: FnMut(Vec<T>) -> Result<()>,
{
    let reader = corpus::open(inputs)?;
    let batch_bytes = opts.batch_bytes.max(1);
    let (tx, rx) = sync_channel::<Vec<Result<corpus::RawRecord>>>(2);
    let mut stats = ReadStats::default();
    let progress = crate::progress::Progress::stderr(opts.progress);
    std::thread::scope(|scope| -> Result<()> {
        scope.spawn(move || {
            let mut batch = Vec::new();
            let mut size = 0;
            for item in reader {
                size += item.as_ref().map_or(0, |r| r.bytes.len());
                batch.push(item);
                if size >= batch_bytes {
                    if tx.send(std::mem::take(&mut batch)).is_err() {
                        return;
                    }
                    size = 0;
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
        });
        // Dropping `rx` on an early return ends the reader thread at its next send.
        for batch in rx {
            let run = (batch.len() / (4 * rayon::current_num_threads())).clamp(1, MAX_CHUNK_DOCS);
            let results: Vec<Vec<(usize, Result<T>)>> = batch
                .into_par_iter()
                .chunks(run)
                .map(|items| {
                    let lens: Vec<usize> = items
                        .iter()
                        .map(|item| item.as_ref().map_or(0, |r| r.bytes.len()))
                        .collect();
                    // Parse errors keep their place; the parsed documents go to `work` together.
                    let mut docs = Vec::with_capacity(items.len());
                    let parsed: Vec<Option<Error>> = items
                        .into_iter()
                        .map(|item| match item.and_then(|raw| parse(raw, &opts.fields)) {
                            Ok(doc) => {
                                docs.push(doc);
                                None
                            }
                            Err(e) => Some(e),
                        })
                        .collect();
                    let mut done = work(docs).into_iter();
                    parsed
                        .into_iter()
                        .zip(lens)
                        .map(|(failed, len)| {
                            let r = match failed {
                                Some(e) => Err(e),
                                None => Ok(done.next().expect("one result per document")),
                            };
                            (len, r)
                        })
                        .collect()
                })
                .collect();
            let results: Vec<(usize, Result<T>)> = results.into_iter().flatten().collect();
            let mut out = Vec::with_capacity(results.len());
            for (len, r) in results {
                stats.read += 1;
                stats.bytes += len as u64;
                match r {
                    Ok(v) => out.push(v),
                    Err(e) if opts.skip_bad && e.is_skippable() => stats.skipped.push(skipped(&e)),
                    Err(e) => return Err(e),
                }
            }
            progress.advance(out.len() as u64, stats.bytes);
            sink(out)?;
        }
        Ok(())
    })?;
    Ok(stats)
}

/// The [`Skipped`] entry for a record-level error.
pub(crate) fn skipped(e: &Error) -> Skipped {
    match e {
        Error::BadInput { path, line, reason } => Skipped {
            location: if *line == 0 {
                path.display().to_string()
            } else {
                format!("{}:{}", path.display(), line)
            },
            reason: reason.clone(),
        },
        other => Skipped {
            location: String::new(),
            reason: other.to_string(),
        },
    }
}
