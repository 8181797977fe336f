//! Input expansion (files, sorted directory walks, stdin) and the streaming record reader with
//! compression detected by magic bytes.

use super::{Origin, RawRecord};
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const UTF8_BOM: &[u8] = &[0xef, 0xbb, 0xbf];

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
/// keep going; a caller that stops simply stops iterating.
pub struct CorpusReader {
    sources: std::vec::IntoIter<Source>,
    current: Option<OpenJsonl>,
}

struct OpenJsonl {
    path: Arc<PathBuf>,
    reader: Box<dyn BufRead + Send>,
    line: u64,
}

impl CorpusReader {
    /// A reader over `sources` in order.
    pub fn new(sources: Vec<Source>) -> Result<Self> {
        Ok(CorpusReader {
            sources: sources.into_iter(),
            current: None,
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
                reader,
                line: 0,
            }),
        })
    }

    fn next_jsonl(&mut self) -> Option<Result<RawRecord>> {
        let cur = self.current.as_mut()?;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match cur.reader.read_until(b'\n', &mut buf) {
                Ok(0) => {
                    self.current = None;
                    return None;
                }
                Ok(_) => {
                    cur.line += 1;
                    while matches!(buf.last(), Some(b'\n' | b'\r')) {
                        buf.pop();
                    }
                    // Editors on Windows start files with a byte-order mark; it is not JSON.
                    if cur.line == 1 && buf.starts_with(UTF8_BOM) {
                        buf.drain(..UTF8_BOM.len());
                    }
                    if buf.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Some(Ok(RawRecord {
                        origin: Origin {
                            path: cur.path.clone(),
                            line: cur.line,
                        },
                        text_file_id: None,
                        bytes: std::mem::take(&mut buf),
                    }));
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
                        reader,
                        line: 0,
                    });
                }
                Format::Text => {
                    let mut bytes = Vec::new();
                    let mut reader = reader;
                    if let Err(e) = reader.read_to_end(&mut bytes) {
                        return Some(Err(read_error(&source.path, 0, e)));
                    }
                    return Some(Ok(RawRecord {
                        origin: Origin {
                            path: Arc::new(source.path),
                            line: 0,
                        },
                        text_file_id: Some(source.id),
                        bytes,
                    }));
                }
            }
        }
    }
}
