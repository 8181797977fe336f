//! The output stage: kept records copied byte for byte from a re-read of the inputs, and the
//! optional clusters report.

use super::link::{similarity, Clustering, Loaded, Verify};
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
/// estimated or exact as verified; below the threshold for a document joined through a
/// chain)}`. Returns the lines written.
pub fn write_clusters(
    sig: &SigReader,
    clustering: &Clustering,
    verify: Verify,
    out: &mut AtomicFile,
) -> Result<u64> {
    let mut written = 0;
    let mut line = Vec::new();
    for doc in 0..clustering.len() as u32 {
        if clustering.cluster_size(doc) < 2 {
            continue;
        }
        let s = clustering.survivor(doc);
        let me = Loaded::read(sig, doc, verify)?;
        let (sim, cluster) = if s == doc {
            (1.0, sig.id(&me.meta)?)
        } else {
            let other = Loaded::read(sig, s, verify)?;
            (similarity(verify, &me, &other), sig.id(&other.meta)?)
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
