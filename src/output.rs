//! Output files written atomically: a temporary file in the target's directory, renamed over
//! the target only after everything was written and synced. An interrupted run leaves either
//! no file or the previous one, never a half file that looks complete.
//!
//! A run killed outright (SIGKILL, power loss) cannot delete its temporary file: it stays as
//! a hidden `.dupsift-XXXXXX.tmp` next to the output (dedup's scratch directory likewise,
//! `.dupsift-dedup-XXXXXX.tmp/`, and `clean --out-dir`'s tree, `.dupsift-clean-XXXXXX.tmp/`).
//! dupsift does not delete such leftovers itself, because
//! another dupsift writing into the same directory at the same time owns files of exactly
//! that name; they are safe to delete when no dupsift is running. The directory walker skips
//! hidden entries, so a leftover is never read as input.

use crate::error::{Error, Result};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The directory an output lands in (`.` for a bare file name): temporary files go there so
/// that the final rename stays on one file system.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// A builder for hidden temporary outputs named `{prefix}XXXXXX.tmp` (the names the module
/// docs promise for leftovers) with ordinary permissions `mode` (less the umask) instead of
/// tempfile's private ones.
fn temp_builder(prefix: &str, mode: u32) -> tempfile::Builder<'_, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    builder
}

/// A file being written; call [`AtomicFile::commit`] to publish it. Dropping it uncommitted
/// deletes the temporary file.
pub struct AtomicFile {
    path: PathBuf,
    writer: BufWriter<tempfile::NamedTempFile>,
}

impl AtomicFile {
    /// Starts writing `path` (the file appears only on commit).
    pub fn create(path: &Path) -> Result<Self> {
        // tempfile creates 0600 files; an output is an ordinary file (0666 less the umask).
        let tmp = temp_builder(".dupsift-", 0o666)
            .tempfile_in(parent_dir(path))
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

    /// A writer that appends to this (still empty) file with `O_DIRECT`, if the file system
    /// takes it; `None` otherwise (some refuse it, tmpfs before Linux 6.6 for one; and on
    /// every OS but Linux), and then the caller writes through [`AtomicFile::write_all`]. See
    /// [`DirectWriter`] for why.
    pub fn direct_writer(&mut self) -> Result<Option<DirectWriter>> {
        self.writer
            .flush()
            .map_err(|e| Error::io(&self.path, "write failed", e))?;
        // Direct writes start at offset 0: only for a file nothing was written to yet.
        let written = self.writer.get_ref().as_file().metadata().map(|m| m.len());
        if written.map_or(true, |len| len != 0) {
            return Ok(None);
        }
        DirectWriter::open(self.writer.get_ref().path(), &self.path)
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

/// Appends to a file with `O_DIRECT`: the bytes go from an aligned buffer to the device, not
/// through the page cache. Why: `dedup` writes its kept records (~80 MB on c100) and then
/// syncs them, and the `fsync` waited ~36 ms for the page cache's writeback to start only
/// then; written directly, the device works while the next buffer is filled, and the
/// `fsync` has only the metadata left (c100, alternating runs: write stage median 0.08 ->
/// 0.07 s, whole run 0.295 -> 0.28 s; benches/README "dedup6"). For a corpus job it also leaves the page cache to the input. The file is written
/// in whole aligned blocks; [`DirectWriter::finish`] pads the last one and truncates the
/// file to the bytes written.
#[cfg(target_os = "linux")]
pub struct DirectWriter {
    /// The buffer being filled.
    buf: AlignedBuf,
    /// Bytes of `buf` filled.
    fill: usize,
    /// File offset of `buf[0]` (a multiple of [`DIRECT_ALIGN`]).
    offset: u64,
    /// Full buffers to the writing thread: (buffer, bytes to write, offset).
    to_io: Option<std::sync::mpsc::SyncSender<(AlignedBuf, usize, u64)>>,
    /// Written buffers back from it, or its first error.
    from_io: std::sync::mpsc::Receiver<std::io::Result<AlignedBuf>>,
    io: Option<std::thread::JoinHandle<std::fs::File>>,
    /// Buffers allocated so far (at most [`DIRECT_BUFFERS`]).
    buffers: usize,
    /// The output's final path, for messages.
    path: PathBuf,
}

/// Alignment of `O_DIRECT` buffers, offsets and lengths (the largest logical block size in
/// use; 512-byte devices take it too).
#[cfg(target_os = "linux")]
const DIRECT_ALIGN: usize = 4096;

/// Bytes per `O_DIRECT` write.
#[cfg(target_os = "linux")]
const DIRECT_BUF: usize = 4 << 20;

/// Buffers in rotation: one being filled, one queued, one being written.
#[cfg(target_os = "linux")]
const DIRECT_BUFFERS: usize = 3;

/// A heap buffer aligned to [`DIRECT_ALIGN`].
#[cfg(target_os = "linux")]
struct AlignedBuf(std::ptr::NonNull<u8>);

#[cfg(target_os = "linux")]
impl AlignedBuf {
    fn layout() -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(DIRECT_BUF, DIRECT_ALIGN).expect("valid layout")
    }
    fn new() -> AlignedBuf {
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(Self::layout()) };
        AlignedBuf(
            std::ptr::NonNull::new(ptr)
                .unwrap_or_else(|| std::alloc::handle_alloc_error(Self::layout())),
        )
    }
    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `DIRECT_BUF` initialized bytes (zeroed at allocation) owned by `self`.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_ptr(), DIRECT_BUF) }
    }
}

#[cfg(target_os = "linux")]
impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.0.as_ptr(), Self::layout()) };
    }
}

// SAFETY: the buffer is owned, like a `Box<[u8]>`.
#[cfg(target_os = "linux")]
unsafe impl Send for AlignedBuf {}

#[cfg(target_os = "linux")]
impl DirectWriter {
    /// Opens `temp` (empty) for direct writes; `None` when the file system refuses them,
    /// found by writing one block of zeros (some refuse at open, some at the first write).
    fn open(temp: &Path, path: &Path) -> Result<Option<DirectWriter>> {
        use std::os::unix::fs::{FileExt, OpenOptionsExt};
        let Ok(file) = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(temp)
        else {
            return Ok(None);
        };
        let mut buf = AlignedBuf::new();
        if file.write_all_at(&buf.bytes()[..DIRECT_ALIGN], 0).is_err() {
            return Ok(None);
        }
        file.set_len(0)
            .map_err(|e| Error::io(path, "write failed", e))?;
        let (to_io, io_in) = std::sync::mpsc::sync_channel::<(AlignedBuf, usize, u64)>(1);
        let (io_out, from_io) = std::sync::mpsc::channel();
        let io = std::thread::spawn(move || {
            for (mut buf, len, offset) in io_in {
                let done = file.write_all_at(&buf.bytes()[..len], offset).map(|()| buf);
                let failed = done.is_err();
                if io_out.send(done).is_err() || failed {
                    break;
                }
            }
            file
        });
        Ok(Some(DirectWriter {
            buf,
            fill: 0,
            offset: 0,
            to_io: Some(to_io),
            from_io,
            io: Some(io),
            buffers: 1,
            path: path.to_path_buf(),
        }))
    }

    /// Appends `bytes`.
    pub fn write_all(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let n = bytes.len().min(DIRECT_BUF - self.fill);
            self.buf.bytes()[self.fill..self.fill + n].copy_from_slice(&bytes[..n]);
            self.fill += n;
            bytes = &bytes[n..];
            if self.fill == DIRECT_BUF {
                self.send(DIRECT_BUF)?;
            }
        }
        Ok(())
    }

    /// Writes what is left (the last block padded with zeros), waits for every write and
    /// cuts the file to the bytes written. The caller then finishes the [`AtomicFile`] (its
    /// `fsync`, its rename).
    pub fn finish(mut self) -> Result<()> {
        let len = self.offset + self.fill as u64;
        let padded = self.fill.div_ceil(DIRECT_ALIGN) * DIRECT_ALIGN;
        let fill = self.fill;
        self.buf.bytes()[fill..padded].fill(0);
        if padded > 0 {
            self.send(padded)?;
        }
        drop(self.to_io.take());
        let file = self
            .io
            .take()
            .expect("joined once")
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        // The thread has stopped: its last results are all queued.
        for done in self.from_io.try_iter() {
            done.map_err(|e| self.failed(e))?;
        }
        file.set_len(len)
            .map_err(|e| Error::io(&self.path, "write failed", e))
    }

    /// Hands the first `len` bytes of the buffer to the writing thread and takes a written
    /// buffer back (waiting for one once all are in flight).
    fn send(&mut self, len: usize) -> Result<()> {
        let next = match self.from_io.try_recv() {
            Ok(done) => done.map_err(|e| self.failed(e))?,
            Err(_) if self.buffers < DIRECT_BUFFERS => {
                self.buffers += 1;
                AlignedBuf::new()
            }
            Err(_) => match self.from_io.recv() {
                Ok(done) => done.map_err(|e| self.failed(e))?,
                Err(_) => return Err(self.stopped()),
            },
        };
        let full = std::mem::replace(&mut self.buf, next);
        let sent = self.to_io.as_ref().expect("open until finish");
        if sent.send((full, len, self.offset)).is_err() {
            return Err(self.stopped());
        }
        self.offset += len as u64;
        self.fill = 0;
        Ok(())
    }

    fn failed(&self, e: std::io::Error) -> Error {
        Error::io(&self.path, "write failed", e)
    }

    /// The error of a writing thread that stopped: the one it reported (it stops at its
    /// first), if still queued.
    fn stopped(&self) -> Error {
        match self.from_io.try_iter().find_map(|done| done.err()) {
            Some(e) => self.failed(e),
            None => self.failed(std::io::ErrorKind::BrokenPipe.into()),
        }
    }
}

/// Off Linux there is no `O_DIRECT` here: [`AtomicFile::direct_writer`] gives `None`.
#[cfg(not(target_os = "linux"))]
pub struct DirectWriter(std::convert::Infallible);

#[cfg(not(target_os = "linux"))]
impl DirectWriter {
    fn open(_temp: &Path, _path: &Path) -> Result<Option<DirectWriter>> {
        Ok(None)
    }
    pub fn write_all(&mut self, _bytes: &[u8]) -> Result<()> {
        match self.0 {}
    }
    pub fn finish(self) -> Result<()> {
        match self.0 {}
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

/// An output directory written atomically: the whole tree goes into a hidden temporary
/// directory next to the target (`.dupsift-clean-XXXXXX.tmp/`), renamed to the target only
/// after every file was written and synced. Dropping it uncommitted deletes the temporary tree.
///
/// The target must not exist or be an empty directory: an existing tree is never merged into
/// or replaced (the rename itself fails if the target gained entries in the meantime).
pub struct AtomicDir {
    path: PathBuf,
    tmp: tempfile::TempDir,
}

impl AtomicDir {
    /// Starts writing the tree `path` (it appears only on commit). Refuses a `path` that
    /// exists and is not an empty directory.
    pub fn create(path: &Path) -> Result<Self> {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(path, "cannot check output directory", e)),
            Ok(meta) if !meta.is_dir() => {
                return Err(Error::Usage(format!(
                    "output directory {} exists and is not a directory; \
                     dupsift never replaces an existing file (choose a new directory)",
                    path.display()
                )))
            }
            Ok(_) => {
                let mut entries = std::fs::read_dir(path)
                    .map_err(|e| Error::io(path, "cannot list output directory", e))?;
                if entries.next().is_some() {
                    return Err(Error::Usage(format!(
                        "output directory {} exists and is not empty; dupsift never writes \
                         into an existing tree (remove it or choose a new directory)",
                        path.display()
                    )));
                }
            }
        }
        // tempfile creates 0700 directories; an output is an ordinary one (0777 less umask).
        let tmp = temp_builder(".dupsift-clean-", 0o777)
            .tempdir_in(parent_dir(path))
            .map_err(|e| Error::io(path, "cannot create temporary output directory", e))?;
        Ok(AtomicDir {
            path: path.to_path_buf(),
            tmp,
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes and syncs the file `rel` (a relative path without `..`), creating its
    /// directories. Messages name the file's final path.
    pub fn write_file(&mut self, rel: &Path, bytes: &[u8]) -> Result<()> {
        debug_assert!(rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_))));
        let final_path = self.path.join(rel);
        let tmp_path = self.tmp.path().join(rel);
        if let Some(dir) = tmp_path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::io(
                    final_path.parent().unwrap_or(&self.path),
                    "cannot create directory",
                    e,
                )
            })?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .map_err(|e| Error::io(&final_path, "cannot create output file", e))?;
        file.write_all(bytes)
            .map_err(|e| Error::io(&final_path, "write failed", e))?;
        file.sync_all()
            .map_err(|e| Error::io(&final_path, "sync failed", e))
    }

    /// Renames the finished tree to the target.
    pub fn commit(self) -> Result<()> {
        std::fs::rename(self.tmp.path(), &self.path).map_err(|e| {
            Error::io(
                &self.path,
                "cannot rename temporary directory into place (did the directory gain entries?)",
                e,
            )
        })?;
        // Renamed away: nothing left to delete.
        let _ = self.tmp.keep();
        Ok(())
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
    let Ok(dir) = std::fs::canonicalize(parent_dir(output)) else {
        return Ok(()); // creating the output will fail with its own message
    };
    for input in inputs.iter().filter(|i| i.is_dir()) {
        if !hidden && std::fs::canonicalize(input).is_ok_and(|i| dir.starts_with(&i)) {
            return refuse(format!("is inside the input directory {}", input.display()));
        }
    }
    Ok(())
}

/// [`refuse_overwriting_inputs`] for an output directory (`clean --out-dir`): also refuses a
/// directory that holds an input, which an existing non-empty directory would anyway, but
/// this says why. A hidden directory inside an input directory is allowed like a hidden file
/// (the walker skips it), and so is the hidden temporary tree written next to it.
pub fn refuse_tree_over_inputs(dir: &Path, inputs: &[PathBuf]) -> Result<()> {
    refuse_overwriting_inputs(dir, inputs)?;
    let Ok(out) = std::fs::canonicalize(dir) else {
        return Ok(()); // does not exist yet: it holds nothing
    };
    for input in inputs {
        if std::fs::canonicalize(input).is_ok_and(|i| i.starts_with(&out)) {
            return Err(Error::Usage(format!(
                "output directory {} holds the input {}; dupsift never overwrites its inputs \
                 (choose another output directory)",
                dir.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces of every size up to more than two buffers, the last block partial: the file is
    /// exactly their concatenation, direct or (where the file system refuses `O_DIRECT`)
    /// buffered.
    #[test]
    fn a_direct_writer_writes_exactly_the_bytes_given() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut expected = Vec::new();
        let mut i = 0u64;
        while expected.len() < (9 << 20) + 1234 {
            let len = (i * 7919 % 70_000) as usize;
            expected.extend((0..len).map(|k| (k as u64 ^ i) as u8));
            i += 1;
        }
        let mut out = AtomicFile::create(&path).unwrap();
        let mut pieces = expected.chunks(50_000).peekable();
        match out.direct_writer().unwrap() {
            Some(mut direct) => {
                for p in pieces.by_ref() {
                    direct.write_all(p).unwrap();
                }
                direct.finish().unwrap();
            }
            None => {
                eprintln!("O_DIRECT refused here: the buffered path wrote the file");
                for p in pieces.by_ref() {
                    out.write_all(p).unwrap();
                }
            }
        }
        assert!(pieces.peek().is_none());
        out.commit().unwrap();
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(got == expected);
    }

    /// Direct writes start at offset 0, so a file already written to gets none.
    #[test]
    fn no_direct_writer_after_buffered_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = AtomicFile::create(&dir.path().join("out.txt")).unwrap();
        out.write_all(b"already here").unwrap();
        assert!(out.direct_writer().unwrap().is_none());
    }
}
