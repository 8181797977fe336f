//! Input expansion (files, sorted directory walks, stdin) and the streaming record reader with
//! compression detected by magic bytes.

use super::{Origin, RawRecord};
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
pub(crate) const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
pub(crate) const UTF8_BOM: &[u8] = &[0xef, 0xbb, 0xbf];

/// How a file's content is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The whole file is one document.
    Text,
    /// One JSON record per line.
    Jsonl,
}

/// One input file (or stdin) in reading order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    /// Id of a text-file document: its path relative to the directory it was found in, or the
    /// path as given.
    pub id: String,
    pub format: Format,
    /// Why this file, found while walking a directory, cannot be read (broken link, FIFO,
    /// socket, link back to an ancestor directory). Reading it yields a bad-input error for this
    /// one file, so `--skip-bad` can go on and a FIFO is never opened (that would block forever
    /// waiting for a writer).
    pub unreadable: Option<String>,
}

/// Format from the file name: `.jsonl`, `.ndjson` or `.json`, optionally followed by `.gz`,
/// `.zst` or `.zstd`, is JSONL; anything else is a text document.
pub fn format_of(path: &Path) -> Format {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let inner = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .or_else(|| name.strip_suffix(".zstd"))
        .unwrap_or(&name);
    if inner.ends_with(".jsonl") || inner.ends_with(".ndjson") || inner.ends_with(".json") {
        Format::Jsonl
    } else {
        Format::Text
    }
}

/// Expands the command-line inputs into sources: directories are walked recursively in sorted
/// order (hidden entries skipped) so runs are reproducible.
pub fn expand(inputs: &[PathBuf]) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for input in inputs {
        if super::is_stdin(input) {
            out.push(Source {
                path: input.clone(),
                id: "-".into(),
                format: Format::Jsonl,
                unreadable: None,
            });
            continue;
        }
        let meta =
            std::fs::metadata(input).map_err(|e| Error::io(input, "cannot read input", e))?;
        if meta.is_dir() {
            let mut ancestors = Vec::new();
            walk(input, input, &mut ancestors, &mut out)?;
        } else {
            // A FIFO named on the command line is read: that is how `<(zcat x.gz)` works.
            out.push(Source {
                path: input.clone(),
                id: input.to_string_lossy().into_owned(),
                format: format_of(input),
                unreadable: None,
            });
        }
    }
    Ok(out)
}

/// `ancestors` holds the canonical paths of the directories being walked, so a symbolic link
/// back to one of them is reported instead of being followed until the path is too long.
fn walk(
    root: &Path,
    dir: &Path,
    ancestors: &mut Vec<PathBuf>,
    out: &mut Vec<Source>,
) -> Result<()> {
    let canonical = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, "cannot read", e))?;
    ancestors.push(canonical);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, "cannot list directory", e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(dir, "cannot list directory", e))?;
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        // One unreadable entry is that file's problem, not the whole walk's: it is listed with
        // the reason and fails when read.
        let unreadable = match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                let target = std::fs::canonicalize(&path);
                match target {
                    Ok(t) if ancestors.contains(&t) => Some(format!(
                        "directory link loops back to {}; not followed",
                        t.display()
                    )),
                    Ok(_) => {
                        walk(root, &path, ancestors, out)?;
                        continue;
                    }
                    Err(e) => Some(format!("cannot read directory: {e}")),
                }
            }
            Ok(meta) if meta.is_file() => None,
            Ok(_) => Some("not a regular file (FIFO, socket or device); not read".to_string()),
            Err(e) => Some(format!("cannot read (broken link?): {e}")),
        };
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let id = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        out.push(Source {
            format: format_of(&path),
            path,
            id,
            unreadable,
        });
    }
    ancestors.pop();
    Ok(())
}

/// Opens `path` (or stdin for `-`), transparently decompressing gzip and zstd by magic bytes.
pub fn open_decoded(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let raw: Box<dyn Read + Send> = if super::is_stdin(path) {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(path).map_err(|e| Error::io(path, "cannot open", e))?)
    };
    decode(path, raw)
}

/// Wraps `raw` (the bytes of `path`) in a gzip or zstd decoder when its first bytes say so.
/// `path` only names the data in messages and in the compressed-by-name check.
pub fn decode(path: &Path, raw: Box<dyn Read + Send>) -> Result<Box<dyn BufRead + Send>> {
    let mut reader = BufReader::with_capacity(1 << 20, raw);
    let head = reader
        .fill_buf()
        .map_err(|e| Error::io(path, "cannot read", e))?;
    if head.starts_with(GZIP_MAGIC) {
        return Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(reader),
        )));
    }
    if head.starts_with(ZSTD_MAGIC) {
        let decoder = zstd::stream::read::Decoder::with_buffer(reader)
            .map_err(|e| Error::io(path, "cannot start zstd decoder", e))?;
        return Ok(Box::new(BufReader::with_capacity(1 << 20, decoder)));
    }
    let name = path.to_string_lossy().to_lowercase();
    if name.ends_with(".gz") || name.ends_with(".zst") || name.ends_with(".zstd") {
        return Err(Error::bad_input(
            path,
            0,
            "name says compressed, but the file does not start with gzip or zstd magic bytes",
        ));
    }
    Ok(Box::new(reader))
}

/// Streams [`RawRecord`]s from a list of sources, one JSONL line or one text file at a time.
///
/// After an error the reader moves on to the next source, so a caller that skips bad input can
/// keep going; a caller that stops simply stops iterating. [`CorpusReader::next_ref`] lends each
/// record instead of allocating it, for callers that only copy bytes (the dedup output stage).
pub struct CorpusReader {
    sources: std::vec::IntoIter<Source>,
    current: Option<OpenJsonl>,
    /// The text file [`CorpusReader::next_ref`] last lent.
    text: Option<RawRecord>,
}

struct OpenJsonl {
    path: Arc<PathBuf>,
    lines: Lines,
    line: u64,
}

/// One record as [`CorpusReader::next_ref`] lends it: valid until the next call.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    pub path: &'a Arc<PathBuf>,
    /// 1-based line for JSONL, 0 for a text file.
    pub line: u64,
    /// For a text file, its id.
    pub text_file_id: Option<&'a str>,
    /// The line without its line ending (and without a leading byte-order mark), or the file.
    pub bytes: &'a [u8],
}

impl RecordRef<'_> {
    /// An owned copy.
    pub fn to_owned(&self) -> RawRecord {
        RawRecord {
            origin: self.origin(),
            text_file_id: self.text_file_id.map(str::to_owned),
            bytes: self.bytes.to_vec(),
        }
    }

    pub fn origin(&self) -> Origin {
        Origin {
            path: self.path.clone(),
            line: self.line,
        }
    }
}

/// Lines of a byte stream, split in a buffer of our own: `read_until` into a fresh `Vec` per
/// line regrew every line from 8 bytes up (a dozen reallocations and copies for a 3 kB record),
/// which made reading one of the larger costs of a whole `dedup` run.
struct Lines {
    reader: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
    /// Unconsumed data is `buf[start..end]`; the current line is `buf[line.0..line.1]`.
    start: usize,
    end: usize,
    line: (usize, usize),
    /// Bytes from `start` already searched for a newline (so long lines are scanned once).
    scanned: usize,
    eof: bool,
}

/// Larger than the decoder's 1 MB `BufReader`, so most reads bypass its buffer (no extra copy).
const LINES_BUF: usize = 4 << 20;

impl Lines {
    fn new(reader: Box<dyn BufRead + Send>) -> Self {
        Lines {
            reader,
            buf: Vec::new(),
            start: 0,
            end: 0,
            line: (0, 0),
            scanned: 0,
            eof: false,
        }
    }

    /// Moves to the next line; false at the end of the data. A last line without a newline
    /// counts.
    fn advance(&mut self) -> std::io::Result<bool> {
        self.start = self.line.1;
        self.scanned = 0;
        loop {
            let from = self.start + self.scanned;
            if let Some(i) = memchr::memchr(b'\n', &self.buf[from..self.end]) {
                self.line = (self.start, from + i + 1);
                return Ok(true);
            }
            self.scanned = self.end - self.start;
            if self.eof {
                self.line = (self.start, self.end);
                return Ok(self.start < self.end);
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                let len = (self.buf.len() * 2).max(LINES_BUF);
                self.buf.resize(len, 0);
            }
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Nothing more is read from a broken stream.
                    self.line = (self.end, self.end);
                    self.eof = true;
                    return Err(e);
                }
            }
        }
    }

    /// The current line, with its newline if it had one.
    fn current(&self) -> &[u8] {
        &self.buf[self.line.0..self.line.1]
    }
}

/// What [`CorpusReader::step`] found.
enum Step {
    /// A JSONL record: `current`'s current line.
    Line,
    Text(RawRecord),
}

impl CorpusReader {
    /// A reader over `sources` in order.
    pub fn new(sources: Vec<Source>) -> Result<Self> {
        Ok(CorpusReader {
            sources: sources.into_iter(),
            current: None,
            text: None,
        })
    }

    /// A reader over JSONL bytes from any source (decompressed like a file), named `path` in
    /// records and messages. Tests and fuzz targets use it to feed bytes without a file.
    pub fn jsonl_from(path: PathBuf, raw: Box<dyn Read + Send>) -> Result<Self> {
        let reader = decode(&path, raw)?;
        Ok(CorpusReader {
            sources: Vec::new().into_iter(),
            current: Some(OpenJsonl {
                path: Arc::new(path),
                lines: Lines::new(reader),
                line: 0,
            }),
            text: None,
        })
    }

    /// The next record, lent rather than allocated.
    pub fn next_ref(&mut self) -> Option<Result<RecordRef<'_>>> {
        match self.step()? {
            Err(e) => Some(Err(e)),
            Ok(Step::Text(raw)) => {
                let raw = self.text.insert(raw);
                Some(Ok(RecordRef {
                    path: &raw.origin.path,
                    line: 0,
                    text_file_id: raw.text_file_id.as_deref(),
                    bytes: &raw.bytes,
                }))
            }
            Ok(Step::Line) => {
                let cur = self.current.as_ref().expect("a line was found");
                Some(Ok(RecordRef {
                    path: &cur.path,
                    line: cur.line,
                    text_file_id: None,
                    bytes: record_bytes(cur.line, cur.lines.current()),
                }))
            }
        }
    }

    fn next_jsonl(&mut self) -> Option<Result<Step>> {
        let cur = self.current.as_mut()?;
        loop {
            match cur.lines.advance() {
                Ok(false) => {
                    self.current = None;
                    return None;
                }
                Ok(true) => {
                    cur.line += 1;
                    let bytes = record_bytes(cur.line, cur.lines.current());
                    if bytes.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Some(Ok(Step::Line));
                }
                Err(e) => {
                    let err = read_error(&cur.path, cur.line + 1, e);
                    self.current = None;
                    return Some(Err(err));
                }
            }
        }
    }
}

const NEWLINE_CHARS: &[u8] = b"\r\n";

/// A JSONL line as a record: line ending(s) dropped, and a byte-order mark at the start of the
/// file (editors on Windows write one; it is not JSON).
fn record_bytes(line: u64, mut bytes: &[u8]) -> &[u8] {
    while let Some(b) = bytes.last() {
        if !NEWLINE_CHARS.contains(b) {
            break;
        }
        bytes = &bytes[..bytes.len() - 1];
    }
    if line == 1 {
        bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    }
    bytes
}

/// A read error in the middle of a file: a broken compressed stream is bad input (with the
/// line it broke at); anything else is an I/O error.
fn read_error(path: &Path, line: u64, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::InvalidData
        | std::io::ErrorKind::Other => Error::bad_input(
            path,
            line,
            format!("truncated or corrupt compressed data: {e}"),
        ),
        _ => Error::io(path, "read failed", e),
    }
}

impl Iterator for CorpusReader {
    type Item = Result<RawRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.step()? {
            Err(e) => Err(e),
            Ok(Step::Text(raw)) => Ok(raw),
            Ok(Step::Line) => {
                let cur = self.current.as_ref().expect("a line was found");
                Ok(RawRecord {
                    origin: Origin {
                        path: cur.path.clone(),
                        line: cur.line,
                    },
                    text_file_id: None,
                    bytes: record_bytes(cur.line, cur.lines.current()).to_vec(),
                })
            }
        })
    }
}

impl CorpusReader {
    /// The next record: a line of the open JSONL file, or the next source opened.
    fn step(&mut self) -> Option<Result<Step>> {
        loop {
            if self.current.is_some() {
                match self.next_jsonl() {
                    Some(item) => return Some(item),
                    None => continue,
                }
            }
            let source = self.sources.next()?;
            if let Some(reason) = source.unreadable {
                return Some(Err(Error::bad_input(source.path, 0, reason)));
            }
            // The inputs were checked to exist when they were expanded; a file that then cannot
            // be opened (permissions, removed meanwhile) is bad input for that file alone.
            let reader = match open_decoded(&source.path) {
                Ok(r) => r,
                Err(Error::Io {
                    path,
                    action,
                    source,
                }) => {
                    return Some(Err(Error::bad_input(
                        path,
                        0,
                        format!("{action}: {source}"),
                    )))
                }
                Err(e) => return Some(Err(e)),
            };
            match source.format {
                Format::Jsonl => {
                    self.current = Some(OpenJsonl {
                        path: Arc::new(source.path),
                        lines: Lines::new(reader),
                        line: 0,
                    });
                }
                Format::Text => {
                    let mut bytes = Vec::new();
                    let mut reader = reader;
                    if let Err(e) = reader.read_to_end(&mut bytes) {
                        return Some(Err(read_error(&source.path, 0, e)));
                    }
                    return Some(Ok(Step::Text(RawRecord {
                        origin: Origin {
                            path: Arc::new(source.path),
                            line: 0,
                        },
                        text_file_id: Some(source.id),
                        bytes,
                    })));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out one byte per read, so every line crosses read boundaries.
    struct Trickle(std::io::Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn lines_split_across_reads_and_keep_a_last_line_without_newline() {
        let data = b"\xef\xbb\xbf{\"a\":1}\r\n\n  \nsecond\nlast".to_vec();
        let raw = Box::new(BufReader::with_capacity(
            1,
            Trickle(std::io::Cursor::new(data)),
        ));
        let mut r = CorpusReader::jsonl_from("t.jsonl".into(), raw).unwrap();
        let mut got = Vec::new();
        while let Some(rec) = r.next_ref() {
            let rec = rec.unwrap();
            got.push((rec.line, String::from_utf8(rec.bytes.to_vec()).unwrap()));
        }
        let want = [(1, "{\"a\":1}"), (4, "second"), (5, "last")];
        assert_eq!(got, want.map(|(l, s)| (l, s.to_string())));
    }
}
