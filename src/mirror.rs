//! `clean --out-dir`: where each text-file document goes in the output tree.
//!
//! A file found by walking an input directory goes to its path relative to that directory; a
//! text file named on the command line goes to its file name. Only inputs that are files of
//! text can be mirrored: JSONL (plain or compressed), compressed text and standard input hold
//! records, not a file whose bytes could be written back, and are refused up front, as are two
//! inputs that would land on the same output path. The plan is made before anything is read,
//! so a refused run writes nothing.

use crate::corpus::{expand, is_stdin, Format, GZIP_MAGIC, ZSTD_MAGIC};
use crate::error::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Output path (relative to the output directory) of every text-file document.
#[derive(Debug, Default)]
pub struct Mirror {
    /// Keyed by (file as read, document id): the same file reached from two inputs has two
    /// ids, and is refused as a collision only if both land on the same output path.
    targets: HashMap<(PathBuf, String), PathBuf>,
}

impl Mirror {
    /// Plans the output tree for `inputs`, refusing inputs that cannot be mirrored and
    /// collisions (with a message naming the files).
    pub fn plan(inputs: &[PathBuf]) -> Result<Self> {
        let mut targets = HashMap::new();
        // Output path -> the input file that goes there.
        let mut taken: HashMap<PathBuf, PathBuf> = HashMap::new();
        for input in inputs {
            if is_stdin(input) {
                return Err(refuse(input, "is standard input (JSONL records)"));
            }
            let walked = std::fs::metadata(input).is_ok_and(|m| m.is_dir());
            for source in expand(std::slice::from_ref(input))? {
                if source.format == Format::Jsonl {
                    return Err(refuse(&source.path, "is JSONL (one record per line)"));
                }
                if source.unreadable.is_none() {
                    check_plain_file(&source.path)?;
                }
                let rel = if walked {
                    source.path.strip_prefix(input).map(Path::to_path_buf).ok()
                } else {
                    source.path.file_name().map(PathBuf::from)
                };
                let rel = rel
                    .filter(|r| r.components().all(|c| matches!(c, Component::Normal(_))))
                    .ok_or_else(|| refuse(&source.path, "has no file name to mirror"))?;
                if let Some(first) = taken.insert(rel.clone(), source.path.clone()) {
                    return Err(Error::Usage(format!(
                        "--out-dir: {} and {} would both be written to {}; \
                         give inputs whose files have distinct paths",
                        first.display(),
                        source.path.display(),
                        rel.display()
                    )));
                }
                targets.insert((source.path, source.id), rel);
            }
        }
        // A file named like a directory another file goes into ("a" and "a/b.txt").
        let dirs: HashSet<&Path> = taken.keys().flat_map(|r| r.ancestors().skip(1)).collect();
        if let Some((rel, path)) = taken.iter().find(|(rel, _)| dirs.contains(rel.as_path())) {
            return Err(Error::Usage(format!(
                "--out-dir: {} would be written to {}, which other inputs need as a directory",
                path.display(),
                rel.display()
            )));
        }
        Ok(Mirror { targets })
    }

    /// Where the document `id` read from `path` goes, relative to the output directory.
    pub fn target(&self, path: &Path, id: &str) -> Result<&Path> {
        self.targets
            .get(&(path.to_path_buf(), id.to_string()))
            .map(PathBuf::as_path)
            .ok_or_else(|| {
                Error::bad_input(
                    path,
                    0,
                    "appeared after the output tree was planned (input changed during the run)",
                )
            })
    }
}

fn refuse(path: &Path, what: &str) -> Error {
    Error::Usage(format!(
        "--out-dir writes text files back as files, but {} {what}: it has no file to mirror; \
         use -o OUT.jsonl for it",
        path.display()
    ))
}

/// Refuses compressed text (by name or magic bytes: the reader would decompress it, so its
/// bytes could not be written back) and anything that is not a regular file (a pipe from
/// `<(...)` would be consumed by looking).
fn check_plain_file(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "cannot read input", e))?;
    if !meta.is_file() {
        return Err(refuse(path, "is not a regular file (a pipe?)"));
    }
    let name = path.to_string_lossy().to_lowercase();
    let mut head = Vec::with_capacity(4);
    std::fs::File::open(path)
        .and_then(|f| f.take(4).read_to_end(&mut head))
        .map_err(|e| Error::io(path, "cannot read input", e))?;
    let magic = head.starts_with(GZIP_MAGIC) || head.starts_with(ZSTD_MAGIC);
    if magic || name.ends_with(".gz") || name.ends_with(".zst") || name.ends_with(".zstd") {
        return Err(refuse(path, "is compressed"));
    }
    Ok(())
}
