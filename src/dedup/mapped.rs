//! Plain JSONL input files read from memory maps, in parallel.
//!
//! The streaming pipeline ([`crate::pipeline::run`]) reads on one thread, copies every line
//! into its own `Vec` and hands batches to the pool; on a 100 MB corpus that reader thread and
//! its copies were ~10 % of the CPU of a whole `dedup` run and kept the two signing threads
//! waiting. When every input is an uncompressed JSONL file (standard input is spooled to one
//! first), dedup maps the files instead: the input is cut into chunks at line boundaries, the
//! chunks are parsed and signed in parallel straight from the map, and each record's byte
//! range ([`Span`]) is kept so that
//!
//! * the write stage copies kept records from the map, without reading or splitting the input
//!   again, and
//! * the link stage can re-read a borderline pair's texts to compute their exact Jaccard
//!   ([`super::link::Verify::Recheck`]).
//!
//! Records, line numbers, default ids, error messages and skipped-record labels are exactly
//! those of [`crate::corpus::CorpusReader`] + [`crate::corpus::RawRecord::parse`]: blank lines
//! are skipped, line endings (`\r`, `\n`) and a byte-order mark on line 1 are dropped.
//!
//! Caveat of memory maps: a file truncated by another process while dedup runs can end the
//! process with `SIGBUS` instead of an error message (a file that changes without shrinking
//! gives whatever bytes are there at the time, as with reading).

use crate::corpus::{self, Document, FieldNames, Format, Origin};
use crate::error::{Error, Result};
use crate::pipeline::{ReadOptions, ReadStats};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Chunks are cut at the first line end after this many bytes: small enough that the last
/// chunk of a batch does not keep the other threads waiting long.
const CHUNK: usize = 256 << 10;

/// One read-only memory map of a whole file (empty files are not mapped).
pub(crate) struct Map {
    path: Arc<PathBuf>,
    ptr: *mut libc::c_void,
    len: usize,
}

// The map is read-only and never changed through this process.
unsafe impl Send for Map {}
unsafe impl Sync for Map {}

impl Map {
    /// Maps all of `path` (its size now).
    pub(crate) fn open(path: &Path) -> Result<Map> {
        use std::os::unix::io::AsRawFd;
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, "cannot open", e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(path, "cannot read", e))?
            .len();
        let len = usize::try_from(len)
            .map_err(|_| Error::Usage(format!("{} is too large to map", path.display())))?;
        let path = Arc::new(path.to_path_buf());
        if len == 0 {
            return Ok(Map {
                path,
                ptr: std::ptr::null_mut(),
                len: 0,
            });
        }
        // SAFETY: a fresh shared read-only mapping of a regular file we opened; it is unmapped
        // only in `drop`, and slices of it never outlive `self`.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::io(
                path.as_path(),
                "cannot map",
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: advice on our own mapping; failure only loses read-ahead.
        unsafe { libc::madvise(ptr, len, libc::MADV_SEQUENTIAL) };
        Ok(Map { path, ptr, len })
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: unmaps exactly the mapping made in `open`; no slice of it is alive.
            unsafe { libc::munmap(self.ptr, self.len) };
        }
    }
}

/// Where a record's bytes are: an offset into the inputs taken as one concatenated byte
/// string, its length (line ending excluded), and whether a `\n` follows it directly (then
/// record and newline can be copied to the output as one range with its neighbours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: u64,
    pub len: u32,
    pub newline: bool,
}

/// The inputs, mapped.
pub struct MappedInputs {
    maps: Vec<Map>,
    /// Offset of each file in the concatenation.
    bases: Vec<u64>,
}

/// A chunk's records: (record length, result) in order.
type Processed<T> = Vec<(usize, Result<(T, Span)>)>;

/// A chunk of one file: whole lines, the first numbered `first_line`.
struct Chunk {
    file: usize,
    start: usize,
    end: usize,
    first_line: u64,
}

impl MappedInputs {
    /// Maps `inputs` when every one is an uncompressed JSONL file (after expanding
    /// directories); `None` when any is not, and the caller streams instead.
    pub fn open(inputs: &[PathBuf]) -> Result<Option<MappedInputs>> {
        let sources = corpus::expand(inputs)?;
        let mut maps = Vec::with_capacity(sources.len());
        let mut bases = Vec::with_capacity(sources.len());
        let mut total = 0u64;
        for s in &sources {
            let name = s.path.to_string_lossy().to_lowercase();
            let plain_name =
                !(name.ends_with(".gz") || name.ends_with(".zst") || name.ends_with(".zstd"));
            let regular = std::fs::metadata(&s.path).is_ok_and(|m| m.is_file());
            if s.format != Format::Jsonl
                || s.unreadable.is_some()
                || corpus::is_stdin(&s.path)
                || !plain_name
                || !regular
            {
                return Ok(None);
            }
            let map = Map::open(&s.path)?;
            let b = map.bytes();
            if b.starts_with(corpus::GZIP_MAGIC) || b.starts_with(corpus::ZSTD_MAGIC) {
                return Ok(None);
            }
            bases.push(total);
            total += map.len as u64;
            maps.push(map);
        }
        Ok(Some(MappedInputs { maps, bases }))
    }

    /// The bytes at `offset..offset + len` of the concatenation (inside one file).
    pub fn bytes(&self, offset: u64, len: usize) -> &[u8] {
        let f = self.bases.partition_point(|&b| b <= offset) - 1;
        let start = (offset - self.bases[f]) as usize;
        &self.maps[f].bytes()[start..start + len]
    }

    /// The record at `span`.
    pub fn record(&self, span: Span) -> &[u8] {
        self.bytes(span.offset, span.len as usize)
    }

    /// Index of the file holding `offset`.
    pub fn file_of(&self, offset: u64) -> usize {
        self.bases.partition_point(|&b| b <= offset) - 1
    }

    /// Parses and processes every record like [`crate::pipeline::run`] (same records, same
    /// errors, same `--skip-bad` handling, results in input order), but in parallel chunks read
    /// from the maps; `work` also gets the record's [`Span`]. With `keep_record` the
    /// [`Document::record`] line is filled in (it costs a copy of every line).
    pub fn run<T, W, S>(
        &self,
        opts: &ReadOptions,
        keep_record: bool,
        work: W,
        mut sink: S,
    ) -> Result<ReadStats>
    where
        T: Send,
        W: Fn(Document, Span) -> T + Sync,
        S: FnMut(Vec<(T, Span)>) -> Result<()> + Send,
    {
        let chunks = self.chunks();
        let progress = crate::progress::Progress::stderr(opts.progress);
        let mut stats = ReadStats::default();
        // The records of one batch go to `sink` (in order, on one thread) while the next
        // batch is parsed and signed: done one after the other, the pool waited for the
        // sink (~35,000 signatures encoded and written on c100, ~4 % of the samples). Batches
        // of `batch_bytes` (8 MB; was 4x that) leave only the last, small one's sink exposed.
        let batch_bytes = opts.batch_bytes.max(1);
        let mut deliver = |done: Vec<Processed<T>>| -> Result<()> {
            let mut out = Vec::new();
            for (len, r) in done.into_iter().flatten() {
                stats.read += 1;
                stats.bytes += len as u64;
                match r {
                    Ok(v) => out.push(v),
                    Err(e) if opts.skip_bad && e.is_skippable() => {
                        stats.skipped.push(crate::pipeline::skipped(&e))
                    }
                    Err(e) => return Err(e),
                }
            }
            progress.advance(out.len() as u64, stats.bytes);
            sink(out)
        };
        let mut pending: Option<Vec<Processed<T>>> = None;
        let mut i = 0;
        while i < chunks.len() {
            let mut j = i;
            let mut size = 0;
            while j < chunks.len() && size < batch_bytes {
                size += chunks[j].end - chunks[j].start;
                j += 1;
            }
            let batch = &chunks[i..j];
            let (done, delivered) = rayon::join(
                || {
                    batch
                        .par_iter()
                        .map(|c| self.process(c, &opts.fields, keep_record, &work))
                        .collect::<Vec<Processed<T>>>()
                },
                || pending.take().map_or(Ok(()), &mut deliver),
            );
            delivered?;
            pending = Some(done);
            i = j;
        }
        if let Some(done) = pending {
            deliver(done)?;
        }
        Ok(stats)
    }

    /// Every file cut into chunks of whole lines, each with its first line number.
    fn chunks(&self) -> Vec<Chunk> {
        let mut chunks = Vec::new();
        for (file, map) in self.maps.iter().enumerate() {
            let b = map.bytes();
            let mut start = 0;
            while start < b.len() {
                let mut end = (start + CHUNK).min(b.len());
                if end < b.len() {
                    end = match memchr::memchr(b'\n', &b[end - 1..]) {
                        Some(p) => end + p,
                        None => b.len(),
                    };
                }
                chunks.push(Chunk {
                    file,
                    start,
                    end,
                    first_line: 0,
                });
                start = end;
            }
        }
        let lines: Vec<u64> = chunks
            .par_iter()
            .map(|c| {
                memchr::memchr_iter(b'\n', &self.maps[c.file].bytes()[c.start..c.end]).count()
                    as u64
            })
            .collect();
        let mut next = 1;
        for k in 0..chunks.len() {
            if k == 0 || chunks[k].file != chunks[k - 1].file {
                next = 1;
            }
            chunks[k].first_line = next;
            next += lines[k];
        }
        chunks
    }

    /// The records of one chunk: (record length, result) in order.
    fn process<T, W>(
        &self,
        c: &Chunk,
        fields: &FieldNames,
        keep_record: bool,
        work: &W,
    ) -> Processed<T>
    where
        W: Fn(Document, Span) -> T,
    {
        let map = &self.maps[c.file];
        let b = map.bytes();
        let base = self.bases[c.file];
        let mut out = Vec::new();
        let mut pos = c.start;
        let mut line = c.first_line;
        while pos < c.end {
            let (line_end, next) = match memchr::memchr(b'\n', &b[pos..c.end]) {
                Some(p) => (pos + p, pos + p + 1),
                None => (c.end, c.end),
            };
            let mut rec = &b[pos..line_end];
            let mut start = pos;
            while let Some(b'\r' | b'\n') = rec.last() {
                rec = &rec[..rec.len() - 1];
            }
            if line == 1 && rec.starts_with(corpus::UTF8_BOM) {
                rec = &rec[corpus::UTF8_BOM.len()..];
                start += corpus::UTF8_BOM.len();
            }
            if !rec.iter().all(u8::is_ascii_whitespace) {
                let origin = Origin {
                    path: map.path.clone(),
                    line,
                };
                let span = Span {
                    offset: base + start as u64,
                    len: rec.len().min(u32::MAX as usize) as u32,
                    newline: start + rec.len() == line_end && line_end < c.end,
                };
                let r = if rec.len() > u32::MAX as usize {
                    Err(Error::bad_input(
                        origin.path.as_path(),
                        line,
                        "record longer than 4 GB",
                    ))
                } else {
                    super::record::parse(&origin, rec, fields).map(|(id, text)| {
                        let record = keep_record.then(|| {
                            String::from_utf8(rec.to_vec()).expect("checked by the parser")
                        });
                        let doc = Document {
                            id,
                            text,
                            origin,
                            record,
                        };
                        (work(doc, span), span)
                    })
                };
                out.push((rec.len(), r));
            }
            pos = next;
            line += 1;
        }
        out
    }
}

/// Exact shingle sets recomputed from the mapped text of each document (the record at its
/// span, parsed again): what [`super::link::Verify::Recheck`] uses instead of stored sets.
pub struct TextSets<'a> {
    pub mapped: &'a MappedInputs,
    pub spans: &'a [Span],
    pub signer: &'a super::sign::Signer,
    pub fields: &'a FieldNames,
}

impl super::link::SetSource for TextSets<'_> {
    fn set(&self, doc: u32, out: &mut Vec<u64>) -> Result<()> {
        let span = *self
            .spans
            .get(doc as usize)
            .ok_or_else(|| Error::Usage(format!("document {doc} is not in the mapped input")))?;
        let file = self.mapped.file_of(span.offset);
        let origin = Origin {
            path: self.mapped.maps[file].path.clone(),
            line: 0,
        };
        let rec = self.mapped.record(span);
        let (id, text) = super::record::parse(&origin, rec, self.fields)?;
        let record = self
            .signer
            .needs_record()
            .then(|| String::from_utf8_lossy(rec).into_owned());
        *out = self.signer.set(&Document {
            id,
            text,
            origin,
            record,
        });
        Ok(())
    }
}
