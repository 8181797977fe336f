//! The output stage: kept records copied byte for byte from a re-read of the inputs, and the
//! optional clusters report.

use super::link::{similarity, Clustering, Loaded, Rechecker, Verify};
use super::mapped::{MappedInputs, Span};
use super::sigfile::SigReader;
use crate::corpus::{self, FieldNames};
use crate::error::{Error, Result};
use crate::output::AtomicFile;
use std::collections::HashSet;
use std::path::PathBuf;

/// Streams the inputs again and writes every kept record: a JSONL record's raw line verbatim
/// (every field, byte for byte), a text file as `{"id", "text"}`. Records skipped while
/// signing (`skipped`, by `file:line` label) are skipped again. Returns the records written.
pub fn write_kept(
    inputs: &[PathBuf],
    fields: &FieldNames,
    skip_bad: bool,
    skipped: &HashSet<String>,
    clustering: &Clustering,
    out: &mut AtomicFile,
) -> Result<u64> {
    let mut doc: u32 = 0;
    let mut written = 0;
    let mut reader = corpus::open(inputs)?;
    // Records are lent by the reader and copied straight into the output buffer: no
    // allocation per record, no JSON parsing (a JSONL line is written as it was read).
    while let Some(item) = reader.next_ref() {
        let raw = match item {
            Ok(raw) => raw,
            Err(e) if skip_bad && e.is_skippable() => continue,
            Err(e) => return Err(e),
        };
        if !skipped.is_empty() && skipped.contains(&raw.origin().label()) {
            continue;
        }
        if doc as usize >= clustering.len() {
            return Err(changed(&raw.origin().label()));
        }
        if clustering.is_kept(doc) {
            if raw.text_file_id.is_some() {
                let d = raw.to_owned().parse(fields)?;
                let line = serde_json::json!({ "id": d.id, "text": d.text }).to_string();
                out.write_all(line.as_bytes())?;
            } else {
                out.write_all(raw.bytes)?;
            }
            out.write_all(b"\n")?;
            written += 1;
        }
        doc += 1;
    }
    if doc as usize != clustering.len() {
        return Err(changed("end of input"));
    }
    Ok(written)
}

/// [`write_kept`] for mapped inputs: every kept record's bytes come straight from the map at
/// its [`Span`] (one span per document, in document order), consecutive kept lines are copied
/// as one range, nothing is read or parsed again. Same output bytes as [`write_kept`].
pub fn write_kept_mapped(
    mapped: &MappedInputs,
    spans: &[Span],
    clustering: &Clustering,
    out: &mut AtomicFile,
) -> Result<u64> {
    if spans.len() != clustering.len() {
        return Err(changed("end of input"));
    }
    let mut written = 0;
    // A range of whole kept lines, newlines included, not yet written: (file, start, end).
    let mut run: Option<(usize, u64, u64)> = None;
    let flush = |run: &mut Option<(usize, u64, u64)>, out: &mut AtomicFile| -> Result<()> {
        if let Some((_, a, e)) = run.take() {
            out.write_all(mapped.bytes(a, (e - a) as usize))?;
        }
        Ok(())
    };
    for (doc, span) in spans.iter().enumerate() {
        if !clustering.is_kept(doc as u32) {
            continue;
        }
        written += 1;
        let end = span.offset + span.len as u64;
        if span.newline {
            let file = mapped.file_of(span.offset);
            match &mut run {
                Some((f, _, e)) if *f == file && *e == span.offset => *e = end + 1,
                _ => {
                    flush(&mut run, out)?;
                    run = Some((file, span.offset, end + 1));
                }
            }
        } else {
            flush(&mut run, out)?;
            out.write_all(mapped.record(*span))?;
            out.write_all(b"\n")?;
        }
    }
    flush(&mut run, out)?;
    Ok(written)
}

fn changed(at: &str) -> Error {
    Error::Usage(format!(
        "the input changed while dedup was reading it (at {at}); rerun on a stable input"
    ))
}

#[derive(serde::Serialize)]
struct ClusterLine<'a> {
    id: &'a str,
    cluster: &'a str,
    kept: bool,
    similarity: f64,
}

/// Writes one JSONL line per document in a cluster of two or more, in input order:
/// `{"id", "cluster" (the survivor's id), "kept", "similarity" (Jaccard to the survivor,
/// estimated or exact as verified, `recheck` deciding for [`Verify::Recheck`]; below the threshold for a document joined through a
/// chain)}`. Returns the lines written.
pub fn write_clusters(
    sig: &SigReader,
    clustering: &Clustering,
    verify: Verify,
    recheck: Option<&Rechecker>,
    out: &mut AtomicFile,
) -> Result<u64> {
    let mut written = 0;
    let mut line = Vec::new();
    for doc in 0..clustering.len() as u32 {
        if clustering.cluster_size(doc) < 2 {
            continue;
        }
        let s = clustering.survivor(doc);
        let mut me = Loaded::read(sig, doc, verify)?;
        let (sim, cluster) = if s == doc {
            (1.0, sig.id(&me.meta)?)
        } else {
            let mut other = Loaded::read(sig, s, verify)?;
            (
                similarity(verify, recheck, &mut me, &mut other)?,
                sig.id(&other.meta)?,
            )
        };
        line.clear();
        serde_json::to_writer(
            &mut line,
            &ClusterLine {
                id: &sig.id(&me.meta)?,
                cluster: &cluster,
                kept: s == doc,
                similarity: (sim * 10_000.0).round() / 10_000.0,
            },
        )
        .expect("serializes");
        line.push(b'\n');
        out.write_all(&line)?;
        written += 1;
    }
    Ok(written)
}
