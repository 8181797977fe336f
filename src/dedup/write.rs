//! The output stage: kept records copied byte for byte from a re-read of the inputs, and the
//! optional clusters report.

use super::link::{similarity, Clustering, Loaded, Rechecker, Verify};
use super::mapped::{MappedInputs, Span};
use super::sigfile::SigReader;
use crate::corpus::{self, FieldNames};
use crate::error::{Error, Result};
use crate::output::AtomicFile;
use rayon::prelude::*;
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
/// as one range, nothing is read or parsed again; written with `O_DIRECT` where the file
/// system takes it ([`AtomicFile::direct_writer`]). Same output bytes as [`write_kept`].
pub fn write_kept_mapped(
    mapped: &MappedInputs,
    spans: &[Span],
    clustering: &Clustering,
    out: &mut AtomicFile,
) -> Result<u64> {
    if spans.len() != clustering.len() {
        return Err(changed("end of input"));
    }
    match out.direct_writer()? {
        Some(mut direct) => {
            let written = kept_ranges(mapped, spans, clustering, |b| direct.write_all(b))?;
            direct.finish()?;
            Ok(written)
        }
        None => kept_ranges(mapped, spans, clustering, |b| out.write_all(b)),
    }
}

/// Hands the kept records' bytes to `write` in order (consecutive kept lines as one range,
/// newlines included); returns the records.
fn kept_ranges(
    mapped: &MappedInputs,
    spans: &[Span],
    clustering: &Clustering,
    mut write: impl FnMut(&[u8]) -> Result<()>,
) -> Result<u64> {
    let mut written = 0;
    // A range of whole kept lines, newlines included, not yet written: (file, start, end).
    let mut run: Option<(usize, u64, u64)> = None;
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
                    if let Some((_, a, e)) = run.replace((file, span.offset, end + 1)) {
                        write(mapped.bytes(a, (e - a) as usize))?;
                    }
                }
            }
        } else {
            if let Some((_, a, e)) = run.take() {
                write(mapped.bytes(a, (e - a) as usize))?;
            }
            write(mapped.record(*span))?;
            write(b"\n")?;
        }
    }
    if let Some((_, a, e)) = run.take() {
        write(mapped.bytes(a, (e - a) as usize))?;
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

/// Cluster members whose lines are computed in parallel before being written in order.
const CLUSTER_CHUNK: usize = 4096;

/// Writes one JSONL line per document in a cluster of two or more, in input order:
/// `{"id", "cluster" (the survivor's id), "kept", "similarity" (Jaccard to the survivor,
/// estimated or exact as verified, `recheck` deciding for [`Verify::Recheck`]; below the
/// threshold for a document joined through a chain)}`. Returns the lines written. The lines
/// (records read by offset, borderline similarities rechecked) are computed in parallel,
/// `CLUSTER_CHUNK` members at a time, and written in order.
pub fn write_clusters(
    sig: &SigReader,
    clustering: &Clustering,
    verify: Verify,
    recheck: Option<&Rechecker>,
    out: &mut AtomicFile,
) -> Result<u64> {
    let mut written = 0;
    let mut members = (0..clustering.len() as u32)
        .filter(|&d| clustering.cluster_size(d) >= 2)
        .peekable();
    let mut chunk = Vec::with_capacity(CLUSTER_CHUNK);
    while members.peek().is_some() {
        chunk.clear();
        chunk.extend(members.by_ref().take(CLUSTER_CHUNK));
        let lines: Vec<Result<Vec<u8>>> = chunk
            .par_iter()
            .map(|&doc| cluster_line(sig, clustering, verify, recheck, doc))
            .collect();
        for line in lines {
            out.write_all(&line?)?;
            written += 1;
        }
    }
    Ok(written)
}

/// The clusters-report line of `doc`, newline included.
fn cluster_line(
    sig: &SigReader,
    clustering: &Clustering,
    verify: Verify,
    recheck: Option<&Rechecker>,
    doc: u32,
) -> Result<Vec<u8>> {
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
    let mut line = Vec::new();
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
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::super::link::tests::{families, write_sig};
    use super::super::link::{link, LinkParams, StoredSets};
    use super::*;

    #[test]
    fn clusters_report_is_written_in_input_order_whatever_the_thread_count() {
        let dir = tempfile::tempdir().unwrap();
        let sig = write_sig(&dir.path().join("f.sig"), 128, &families(12_000));
        let p = LinkParams {
            threshold: 0.7,
            ..LinkParams::default()
        };
        let clustering = link(&sig, &p, dir.path()).unwrap();
        let stored = StoredSets(&sig);
        // The plain loop: one line per member of a cluster of 2+, in document order.
        let r = Rechecker::new(p.threshold, 128, &stored);
        let mut expected = Vec::new();
        let mut members = 0u64;
        for doc in 0..clustering.len() as u32 {
            if clustering.cluster_size(doc) >= 2 {
                expected.extend(cluster_line(&sig, &clustering, p.verify, Some(&r), doc).unwrap());
                members += 1;
            }
        }
        assert!(members > CLUSTER_CHUNK as u64, "{members}");
        let text = String::from_utf8(expected.clone()).unwrap();
        assert!(text.contains("\"kept\":true") && text.contains("\"similarity\":0.6"));
        for threads in [1, 3] {
            let path = dir.path().join(format!("clusters{threads}.jsonl"));
            let r = Rechecker::new(p.threshold, 128, &stored);
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut out = AtomicFile::create(&path).unwrap();
            let lines = pool
                .install(|| write_clusters(&sig, &clustering, p.verify, Some(&r), &mut out))
                .unwrap();
            out.finish().unwrap().publish().unwrap();
            assert_eq!(lines, members);
            assert!(
                std::fs::read(&path).unwrap() == expected,
                "{threads} threads"
            );
        }
    }
}
