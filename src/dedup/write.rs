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
/// its [`Span`] (one span per document, in document order), consecutive kept lines are one
/// range, nothing is read or parsed again. Same output bytes as [`write_kept`].
///
/// The ranges go to the file with `writev` straight from the map (no copy through a buffer),
/// and write-back of every [`WRITEBACK`] bytes is started as soon as they are written, so
/// that the final `fsync` waits for the last few megabytes only: on c100 (81 MB kept) that
/// `fsync` took 35-40 ms after a plain write and ~5 ms this way.
pub fn write_kept_mapped(
    mapped: &MappedInputs,
    spans: &[Span],
    clustering: &Clustering,
    out: &mut AtomicFile,
) -> Result<u64> {
    if spans.len() != clustering.len() {
        return Err(changed("end of input"));
    }
    let path = out.path().to_path_buf();
    let mut w = RangeWriter::new(out.file()?, &path);
    let mut written = 0;
    // A range of whole kept lines, newlines included, not yet queued: (file, start, end).
    let mut run: Option<(usize, u64, u64)> = None;
    fn flush<'m>(
        mapped: &'m MappedInputs,
        run: &mut Option<(usize, u64, u64)>,
        w: &mut RangeWriter<'_, 'm>,
    ) -> Result<()> {
        match run.take() {
            Some((_, a, e)) => w.push(mapped.bytes(a, (e - a) as usize)),
            None => Ok(()),
        }
    }
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
                    flush(mapped, &mut run, &mut w)?;
                    run = Some((file, span.offset, end + 1));
                }
            }
        } else {
            flush(mapped, &mut run, &mut w)?;
            w.push(mapped.record(*span))?;
            w.push(b"\n")?;
        }
    }
    flush(mapped, &mut run, &mut w)?;
    w.finish()?;
    Ok(written)
}

/// Ranges queued for one `writev` at most (Linux's `IOV_MAX`).
const MAX_IOV: usize = 1024;

/// Bytes after which their write-back is started (`sync_file_range`).
const WRITEBACK: u64 = 8 << 20;

/// Writes byte ranges to a file with vectored writes, starting write-back as it goes.
struct RangeWriter<'f, 'b> {
    file: &'f std::fs::File,
    path: &'f std::path::Path,
    queued: Vec<std::io::IoSlice<'b>>,
    /// Bytes written so far, and the first byte whose write-back was not started yet.
    written: u64,
    synced: u64,
}

impl<'f, 'b> RangeWriter<'f, 'b> {
    fn new(file: &'f std::fs::File, path: &'f std::path::Path) -> Self {
        let written = current_offset(file);
        RangeWriter {
            file,
            path,
            queued: Vec::with_capacity(MAX_IOV),
            written,
            synced: written,
        }
    }

    fn push(&mut self, bytes: &'b [u8]) -> Result<()> {
        if !bytes.is_empty() {
            self.queued.push(std::io::IoSlice::new(bytes));
        }
        if self.queued.len() == MAX_IOV {
            self.write_queued()?;
        }
        Ok(())
    }

    fn write_queued(&mut self) -> Result<()> {
        use std::io::Write;
        let mut slices = &mut self.queued[..];
        while !slices.is_empty() {
            let n = match (&*self.file).write_vectored(slices) {
                Ok(0) => {
                    return Err(Error::io(
                        self.path,
                        "write failed",
                        std::io::ErrorKind::WriteZero.into(),
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(self.path, "write failed", e)),
            };
            self.written += n as u64;
            std::io::IoSlice::advance_slices(&mut slices, n);
        }
        self.queued.clear();
        if self.written - self.synced >= WRITEBACK {
            start_writeback(self.file, self.synced, self.written - self.synced);
            self.synced = self.written;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.write_queued()
    }
}

/// The file position (where the vectored writes start); 0 if it cannot be read, which only
/// makes the write-back hints cover the wrong bytes.
fn current_offset(file: &std::fs::File) -> u64 {
    use std::io::Seek;
    let mut f = file;
    f.stream_position().unwrap_or(0)
}

/// Starts write-back of `len` bytes at `offset` without waiting for it: only a hint, so an
/// error is ignored (the `fsync` that finishes the file reports any write error).
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    use std::os::unix::io::AsRawFd;
    // SAFETY: a plain system call on an open file descriptor we own; no memory is passed.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_: &std::fs::File, _: u64, _: u64) {}

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
    fn range_writer_writes_every_range_in_order_after_buffered_bytes() {
        // More ranges than one writev takes and more bytes than one write-back step, after
        // bytes written through the AtomicFile's buffer.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ranges.bin");
        let data: Vec<u8> = (0..(WRITEBACK as usize * 5 / 4))
            .map(|i| (i * 7 + i / 251) as u8)
            .collect();
        let mut cuts = vec![0usize];
        while *cuts.last().unwrap() < data.len() {
            let step = 1 + (cuts.len() * 2_654_435_761) % 9000;
            cuts.push((cuts.last().unwrap() + step).min(data.len()));
        }
        assert!(cuts.len() > 2 * MAX_IOV, "{}", cuts.len());
        let mut out = AtomicFile::create(&path).unwrap();
        out.write_all(b"head:").unwrap();
        let mut expected = b"head:".to_vec();
        {
            let mut w = RangeWriter::new(out.file().unwrap(), &path);
            for (k, c) in cuts.windows(2).enumerate() {
                if k % 3 != 1 {
                    w.push(&data[c[0]..c[1]]).unwrap();
                    expected.extend_from_slice(&data[c[0]..c[1]]);
                }
                w.push(&[]).unwrap();
            }
            w.finish().unwrap();
        }
        out.write_all(b":tail").unwrap();
        expected.extend_from_slice(b":tail");
        out.commit().unwrap();
        assert!(std::fs::read(&path).unwrap() == expected);
    }

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
