//! Output files written atomically: a temporary file in the target's directory, renamed over
//! the target only after everything was written and synced. An interrupted run leaves either
//! no file or the previous one, never a half file that looks complete.
//!
//! A run killed outright (SIGKILL, power loss) cannot delete its temporary file: it stays as
//! a hidden `.dupsift-XXXXXX.tmp` next to the output (dedup's scratch directory likewise,
//! `.dupsift-dedup-XXXXXX.tmp/`). dupsift does not delete such leftovers itself, because
//! another dupsift writing into the same directory at the same time owns files of exactly
//! that name; they are safe to delete when no dupsift is running. The directory walker skips
//! hidden entries, so a leftover is never read as input.

use crate::error::{Error, Result};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file being written; call [`AtomicFile::commit`] to publish it. Dropping it uncommitted
/// deletes the temporary file.
pub struct AtomicFile {
    path: PathBuf,
    writer: BufWriter<tempfile::NamedTempFile>,
}

impl AtomicFile {
    /// Starts writing `path` (the file appears only on commit).
    pub fn create(path: &Path) -> Result<Self> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix(".dupsift-").suffix(".tmp");
        // tempfile creates 0600 files; an output is an ordinary file (0666 less the umask).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let tmp = builder
            .tempfile_in(dir)
            .map_err(|e| Error::io(path, "cannot create temporary output file", e))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            writer: BufWriter::with_capacity(1 << 20, tmp),
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes all of `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer
            .write_all(bytes)
            .map_err(|e| Error::io(&self.path, "write failed", e))
    }

    /// Flushes, syncs and renames the temporary file over the target.
    pub fn commit(self) -> Result<()> {
        self.finish()?.publish()
    }

    /// Flushes and syncs, without renaming yet: a command with several outputs finishes them
    /// all and publishes them only when every one was written, so a failure in one leaves
    /// none of them behind.
    pub fn finish(self) -> Result<FinishedFile> {
        let path = self.path;
        let tmp = self
            .writer
            .into_inner()
            .map_err(|e| Error::io(&path, "write failed", e.into_error()))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io(&path, "sync failed", e))?;
        Ok(FinishedFile { path, tmp })
    }
}

/// An output written and synced but not yet in place (see [`AtomicFile::finish`]). Dropping
/// it deletes the temporary file.
pub struct FinishedFile {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
}

impl FinishedFile {
    /// Renames the temporary file over the target.
    pub fn publish(self) -> Result<()> {
        let path = self.path;
        self.tmp
            .persist(&path)
            .map_err(|e| Error::io(&path, "cannot rename temporary file into place", e.error))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// Refuses to write `output` when it is one of the inputs (same file after resolving links),
/// or when it would land inside an input directory, where the next run would read it as
/// input (hidden names excepted: the walker skips them).
pub fn refuse_overwriting_inputs(output: &Path, inputs: &[PathBuf]) -> Result<()> {
    let refuse = |why: String| {
        Err(Error::Usage(format!(
            "output {} {why}; dupsift never overwrites its inputs (choose another output path)",
            output.display()
        )))
    };
    if let Ok(out) = std::fs::canonicalize(output) {
        for input in inputs {
            if std::fs::canonicalize(input).is_ok_and(|i| i == out) {
                return refuse("is also an input".into());
            }
        }
    }
    let hidden = output
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'));
    let parent = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(dir) = std::fs::canonicalize(parent) else {
        return Ok(()); // creating the output will fail with its own message
    };
    for input in inputs.iter().filter(|i| i.is_dir()) {
        if !hidden && std::fs::canonicalize(input).is_ok_and(|i| dir.starts_with(&i)) {
            return refuse(format!("is inside the input directory {}", input.display()));
        }
    }
    Ok(())
}
