//! The `.dsig` file layout (DESIGN.md section 4), version 2:
//!
//! ```text
//! magic      8 bytes  b"DUPSIFT\0"
//! version    u16 LE   FORMAT_VERSION
//! params     fixed little-endian fields, every one that changes a hash:
//!            seed u64, num_perm u32, bands u32, rows u32, shingle kind u8, shingle n u32,
//!            normalizer version u16, segmenter unit u8, min_near_words u32,
//!            near_threshold f64, containment f64
//! body_len   u64 LE
//! body       bincode 2, `standard().with_fixed_int_encoding()`, of the struct
//!            { grouping, policy, groups, then for each column C in COLUMNS:
//!              pad_C: Vec<u8> (0..=7 zero bytes), C: Vec<u64 | u32> or String }
//! checksum   u64 LE   xxh3-64 of every byte before it, computed while writing
//! ```
//!
//! Columns ([`COLUMNS`]): the entries' key, docs, occurrences, near_docs (u64), group, words,
//! shingles, sig (u32), text_offsets (u64, 2 per entry + 1) and text (one UTF-8 string: each
//! entry's example, then its first document id), then the signatures (u32, `num_perm` per
//! long entry). With fixed-int encoding a `Vec<u64>` is its length as a u64 and then its raw
//! little-endian values, so the body is still a plain bincode value (a test decodes it with
//! bincode's own decoder), but each column is also a flat array in the file. The padding
//! vector before a column makes its values start at a multiple of 8 bytes from the start of
//! the file, so a memory-mapped file is used in place ([`super::column`]): loading the man-page
//! database does no per-entry decoding or allocation, only the checksum and a few linear
//! validation passes (UTF-8 of the text, offsets, group and signature indices).
//!
//! Version 1 (bincode `standard()` varints, two `String`s per entry) is still read, through
//! its own decoder ([`super::v1`]), and converted to columns in memory.
//!
//! The parameters sit in a fixed layout before the body so `inspect`, `merge` and `clean`
//! can name a mismatch before decoding anything, and so a future body change keeps them
//! readable. Reading checks, in order: magic, version in OLDEST..=CURRENT, size, checksum,
//! parameters, then decodes with a size limit; every failure names the file and the fix.

use super::column::{le_bytes, Backing, Column, Pod};
use super::{Entries, GroupInfo, Grouping, HashParams, Policy, SignatureDb};
use crate::blocks::BlockParams;
use crate::error::{Error, Result};
use crate::lsh::LshParams;
use crate::output::AtomicFile;
use crate::segment::Unit;
use crate::shingle::{ShingleKind, Shingler};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use xxhash_rust::xxh3::Xxh3;

pub const MAGIC: &[u8; 8] = b"DUPSIFT\0";
/// Format written by this build.
pub const FORMAT_VERSION: u16 = 2;
/// Oldest format this build still reads.
pub const OLDEST_FORMAT_VERSION: u16 = 1;
/// Bytes of the parameter block.
const PARAMS_LEN: usize = 8 + 4 + 4 + 4 + 1 + 4 + 2 + 1 + 4 + 8 + 8;
/// Bytes before the body: magic, version, parameters, body length.
pub const HEADER_LEN: usize = 8 + 2 + PARAMS_LEN + 8;
/// Largest body decoded: a guard against lengths in a damaged file, far above real DBs.
pub(super) const BODY_LIMIT: usize = 1 << 34;
/// Largest `num_perm` accepted in a header (`learn --num-perm` allows 1..=1024): the matcher
/// allocates per lane, so a damaged header must not ask for billions of lanes.
const MAX_NUM_PERM: usize = 1024;

/// The columns of a format-2 body, in file order, with the bytes per value.
pub const COLUMNS: [(&str, usize); 11] = [
    ("key", 8),
    ("docs", 8),
    ("occurrences", 8),
    ("near_docs", 8),
    ("group", 4),
    ("words", 4),
    ("shingles", 4),
    ("sig", 4),
    ("text_offsets", 8),
    ("text", 1),
    ("sigs", 4),
];

/// The part of a format-2 body before the columns.
#[derive(Serialize)]
struct HeadRef<'a> {
    grouping: &'a Grouping,
    policy: &'a Policy,
    groups: &'a [GroupInfo],
}

#[derive(Deserialize)]
struct Head {
    grouping: Grouping,
    policy: Policy,
    groups: Vec<GroupInfo>,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_fixed_int_encoding()
        .with_limit::<BODY_LIMIT>()
}

/// One column as the writer sees it.
enum ColumnRef<'a> {
    U64(&'a [u64]),
    U32(&'a [u32]),
    U8(&'a [u8]),
}

impl ColumnRef<'_> {
    fn len(&self) -> usize {
        match self {
            ColumnRef::U64(v) => v.len(),
            ColumnRef::U32(v) => v.len(),
            ColumnRef::U8(v) => v.len(),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            ColumnRef::U64(v) => 8 * v.len(),
            ColumnRef::U32(v) => 4 * v.len(),
            ColumnRef::U8(v) => v.len(),
        }
    }

    fn emit(&self, emit: impl FnMut(&[u8])) {
        match self {
            ColumnRef::U64(v) => le_bytes(v, emit),
            ColumnRef::U32(v) => le_bytes(v, emit),
            ColumnRef::U8(v) => le_bytes(v, emit),
        }
    }
}

/// The columns of `db` in [`COLUMNS`] order.
fn columns(db: &SignatureDb) -> [ColumnRef<'_>; 11] {
    let e = &db.entries;
    let (offsets, text) = e.text_columns();
    [
        ColumnRef::U64(&e.key),
        ColumnRef::U64(&e.docs),
        ColumnRef::U64(&e.occurrences),
        ColumnRef::U64(&e.near_docs),
        ColumnRef::U32(&e.group),
        ColumnRef::U32(&e.words),
        ColumnRef::U32(&e.shingles),
        ColumnRef::U32(&e.sig),
        ColumnRef::U64(offsets),
        ColumnRef::U8(text),
        ColumnRef::U32(&db.sigs),
    ]
}

/// Zero bytes of padding before a column whose padding vector starts at file offset `pos`,
/// so that its values (after the padding's length, the padding and the column's length, all
/// u64) start at a multiple of 8.
fn pad_for(pos: usize) -> usize {
    (8 - (pos + 16) % 8) % 8
}

/// Writes `db` to `path` atomically (temporary file, sync, rename), in format 2.
///
/// The body's length (which precedes it) is computed first, from the encoded size of the
/// head and the columns' lengths; the body is then streamed through a 1 MiB buffer that
/// feeds the checksum and the file, so no copy of the encoded database is held in memory.
pub fn write_db(db: &SignatureDb, path: &Path) -> Result<()> {
    let cannot = |e: bincode::error::EncodeError| {
        Error::io(path, "cannot encode database", std::io::Error::other(e))
    };
    let head = HeadRef {
        grouping: &db.grouping,
        policy: &db.policy,
        groups: &db.groups,
    };
    let mut size = bincode::enc::write::SizeWriter::default();
    bincode::serde::encode_into_writer(&head, &mut size, config()).map_err(cannot)?;
    let cols = columns(db);
    let mut pos = HEADER_LEN + size.bytes_written;
    for c in &cols {
        pos += 16 + pad_for(pos) + c.bytes();
    }
    let body_len = pos - HEADER_LEN;
    let mut out = HashingWriter {
        file: AtomicFile::create(path)?,
        hash: Xxh3::new(),
        buf: Vec::with_capacity(WRITE_BUF),
        failed: None,
        written: 0,
    };
    out.put(MAGIC);
    out.put(&FORMAT_VERSION.to_le_bytes());
    out.put(&encode_params(&db.params));
    out.put(&(body_len as u64).to_le_bytes());
    let encoded = bincode::serde::encode_into_writer(&head, &mut out, config());
    if encoded.is_ok() {
        for c in &cols {
            let pad = pad_for(out.written as usize);
            out.put(&(pad as u64).to_le_bytes());
            out.put(&[0u8; 8][..pad]);
            out.put(&(c.len() as u64).to_le_bytes());
            debug_assert!((out.written as usize).is_multiple_of(8));
            c.emit(|bytes| out.put(bytes));
        }
    }
    out.flush_buf();
    if let Some(e) = out.failed.take() {
        return Err(e);
    }
    encoded.map_err(cannot)?;
    // Both passes describe the same value; a mismatch would be a bug here, caught now rather
    // than as a "truncated" file at the next read.
    if out.written != (HEADER_LEN + body_len) as u64 {
        return Err(Error::io(
            path,
            "cannot encode database",
            std::io::Error::other("body length changed between the size and write passes"),
        ));
    }
    let sum = out.hash.digest();
    let mut file = out.file;
    file.write_all(&sum.to_le_bytes())?;
    file.commit()
}

/// Bytes collected before they are hashed and handed to the file.
const WRITE_BUF: usize = 1 << 20;

/// An output file that hashes every byte written through it. bincode writes a few bytes at a
/// time, so they are gathered in `buf` first: hashing and writing per varint would cost more
/// than the encoding itself.
struct HashingWriter {
    file: AtomicFile,
    hash: Xxh3,
    buf: Vec<u8>,
    /// The first write error; later writes are dropped and `write_db` returns it.
    failed: Option<Error>,
    written: u64,
}

impl HashingWriter {
    fn put(&mut self, bytes: &[u8]) {
        self.written += bytes.len() as u64;
        if self.buf.len() + bytes.len() > WRITE_BUF {
            self.flush_buf();
        }
        if bytes.len() >= WRITE_BUF {
            // A whole column (the signatures are 70 MB for the man pages): hashed and written
            // from where it is, not copied into a buffer grown to its size.
            self.pass_through(bytes);
            return;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Hashes and writes `bytes` directly (the buffer is empty).
    fn pass_through(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.hash.update(bytes);
            if let Err(e) = self.file.write_all(bytes) {
                self.failed = Some(e);
            }
        }
    }

    fn flush_buf(&mut self) {
        if self.failed.is_none() {
            self.hash.update(&self.buf);
            if let Err(e) = self.file.write_all(&self.buf) {
                self.failed = Some(e);
            }
        }
        self.buf.clear();
    }
}

impl bincode::enc::write::Writer for HashingWriter {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> std::result::Result<(), bincode::error::EncodeError> {
        self.put(bytes);
        if self.failed.is_some() {
            return Err(bincode::error::EncodeError::Other("write failed"));
        }
        Ok(())
    }
}

fn bad(path: &Path, problem: impl Into<String>, fix: impl Into<String>) -> Error {
    Error::BadDb {
        path: path.to_path_buf(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

const RELEARN: &str = "learn it again with `dupsift learn` (or restore it from a backup)";

/// Reads and checks a database file.
pub fn read_db(path: &Path) -> Result<SignatureDb> {
    read_db_version(path).map(|(db, _)| db)
}

/// Reads and checks a database file; also returns the format version it was stored in.
///
/// The file is memory-mapped when it can be (a regular, non-empty file): a format-2 database
/// then keeps the map and uses its columns in place ([`super::column`]); a format-1 one is
/// decoded into owned memory and the map dropped. Anything that cannot be mapped (a pipe, a
/// special file) is read into memory instead.
pub fn read_db_version(path: &Path) -> Result<(SignatureDb, u16)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, "cannot read database", e))?;
    let backing = match Backing::map(&file) {
        Some(map) => map,
        None => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut &file, &mut bytes)
                .map_err(|e| Error::io(path, "cannot read database", e))?;
            Backing::copy(&bytes)
        }
    };
    decode_backing(&Arc::new(backing), path)
}

/// Checks and decodes the bytes of a database file; `path` is only used in messages. (The
/// bytes are copied first: columns of a format-2 file keep their storage alive.)
pub fn decode(bytes: &[u8], path: &Path) -> Result<SignatureDb> {
    decode_backing(&Arc::new(Backing::copy(bytes)), path).map(|(db, _)| db)
}

/// Checks the header, size and checksum of the file in `backing` and decodes its body.
fn decode_backing(backing: &Arc<Backing>, path: &Path) -> Result<(SignatureDb, u16)> {
    let bytes = backing.bytes();
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        return Err(bad(
            path,
            "not a dupsift signature database (bad magic bytes)",
            "pass a file written by `dupsift learn` or `dupsift merge`",
        ));
    }
    if bytes.len() < 10 {
        return Err(bad(path, "truncated in the header", RELEARN));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version > FORMAT_VERSION {
        return Err(bad(
            path,
            format!(
                "format version {version} is newer than this dupsift reads \
                 ({OLDEST_FORMAT_VERSION}..={FORMAT_VERSION})"
            ),
            "upgrade dupsift",
        ));
    }
    if version < OLDEST_FORMAT_VERSION {
        return Err(bad(
            path,
            format!("format version {version} is older than this dupsift reads"),
            "learn it again with this version of dupsift",
        ));
    }
    if bytes.len() < HEADER_LEN + 8 {
        return Err(bad(path, "truncated in the header", RELEARN));
    }
    let body_len = u64::from_le_bytes(bytes[HEADER_LEN - 8..HEADER_LEN].try_into().unwrap());
    let expected = (HEADER_LEN as u64)
        .saturating_add(body_len)
        .saturating_add(8);
    if (bytes.len() as u64) < expected {
        return Err(bad(
            path,
            format!(
                "truncated: {} bytes, the header announces {expected}",
                bytes.len()
            ),
            RELEARN,
        ));
    }
    if (bytes.len() as u64) > expected {
        return Err(bad(
            path,
            format!(
                "{} bytes of trailing garbage after the checksum",
                bytes.len() as u64 - expected
            ),
            RELEARN,
        ));
    }
    let end = expected as usize - 8;
    let stored = u64::from_le_bytes(bytes[end..].try_into().unwrap());
    if xxhash_rust::xxh3::xxh3_64(&bytes[..end]) != stored {
        return Err(bad(path, "checksum mismatch: the file is corrupt", RELEARN));
    }
    let params = decode_params(&bytes[10..10 + PARAMS_LEN])
        .ok_or_else(|| bad(path, "invalid parameter values in the header", RELEARN))?;
    let body = &bytes[HEADER_LEN..end];
    let limit = |e: bincode::error::DecodeError| match e {
        bincode::error::DecodeError::LimitExceeded => bad(
            path,
            "the body declares more data than the file holds (damaged or not written by dupsift)",
            RELEARN,
        ),
        e => bad(path, format!("cannot decode the body: {e}"), RELEARN),
    };
    let db = if version == 1 {
        let (b, used) = super::v1::decode_body(body).map_err(limit)?;
        if used != body.len() {
            return Err(bad(path, "body length does not match its content", RELEARN));
        }
        SignatureDb {
            params,
            grouping: b.grouping,
            policy: b.policy,
            groups: b.groups,
            entries: b.entries,
            sigs: b.sigs.into(),
        }
    } else {
        let (head, used) = decode_head(body).map_err(limit)?;
        let (entries, sigs) =
            decode_columns(backing, HEADER_LEN + used, end).map_err(|p| bad(path, p, RELEARN))?;
        SignatureDb {
            params,
            grouping: head.grouping,
            policy: head.policy,
            groups: head.groups,
            entries,
            sigs,
        }
    };
    validate(&db).map_err(|problem| bad(path, problem, RELEARN))?;
    Ok((db, version))
}

/// The head of a format-2 body (grouping, policy, groups) and the bytes it took.
fn decode_head(body: &[u8]) -> std::result::Result<(Head, usize), bincode::error::DecodeError> {
    decode_bounded::<Head, true>(body)
}

/// Decodes a `T` from the start of `body` with bincode 2 (`FIXED_INT`: fixed-width integers,
/// format 2; otherwise varints, format 1) under a size limit proportional to the body's
/// length, and returns it with the bytes it took.
///
/// Why not just [`BODY_LIMIT`]: bincode allocates a string or vector of the length the data
/// declares *before* reading it, so under a fixed 16 GiB limit a damaged 100-byte file with a
/// valid checksum could make us allocate gigabytes (the `sigdb_loader` fuzz target found
/// exactly that in format 1). bincode counts the in-memory size of what it decodes, and a
/// valid body never claims more than 8 bytes per byte it occupies (a 1-byte varint becomes a
/// `u64`), so a limit of 8 x the body length (rounded up to a power of two, the limit being a
/// type-level constant) refuses no valid database and bounds any allocation by a small
/// multiple of the file.
pub(super) fn decode_bounded<T: serde::de::DeserializeOwned, const FIXED_INT: bool>(
    body: &[u8],
) -> std::result::Result<(T, usize), bincode::error::DecodeError> {
    fn limited<T: serde::de::DeserializeOwned, const FIXED_INT: bool, const N: usize>(
        body: &[u8],
    ) -> std::result::Result<(T, usize), bincode::error::DecodeError> {
        let config = bincode::config::standard().with_limit::<N>();
        if FIXED_INT {
            bincode::serde::decode_from_slice(body, config.with_fixed_int_encoding())
        } else {
            bincode::serde::decode_from_slice(body, config)
        }
    }
    let need = body.len().saturating_mul(8).max(1 << 16);
    let bits = need
        .checked_next_power_of_two()
        .map_or(64, |n| n.trailing_zeros());
    macro_rules! dispatch {
        ($($k:literal)*) => {
            match bits {
                $($k => limited::<T, FIXED_INT, { 1usize << $k }>(body),)*
                _ => limited::<T, FIXED_INT, BODY_LIMIT>(body),
            }
        };
    }
    dispatch!(16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33)
}

/// Where each column of a format-2 body lies: (name, file offset of its values, values).
pub type Sections = Vec<(&'static str, usize, usize)>;

/// Walks the padding and columns of a format-2 body from file offset `start` to `end`,
/// checking each declared length against the bytes left before using it.
fn column_sections(
    bytes: &[u8],
    start: usize,
    end: usize,
) -> std::result::Result<Sections, String> {
    let mut pos = start;
    let mut out = Vec::with_capacity(COLUMNS.len());
    let read_len = |pos: usize, what: &str| -> std::result::Result<u64, String> {
        bytes
            .get(pos..pos + 8)
            .filter(|_| pos + 8 <= end)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
            .ok_or_else(|| format!("the body ends inside the length of {what}"))
    };
    for (name, size) in COLUMNS {
        let pad = read_len(pos, &format!("the padding before `{name}`"))?;
        if pad > 7 || pad as usize > end - pos - 8 {
            return Err(format!(
                "invalid padding before `{name}` ({pad} bytes; damaged or not written by dupsift)"
            ));
        }
        pos += 8 + pad as usize;
        let len = read_len(pos, &format!("`{name}`"))?;
        pos += 8;
        let left = (end - pos) as u64;
        if len.checked_mul(size as u64).is_none_or(|b| b > left) {
            return Err(format!(
                "the body declares more data than the file holds: `{name}` claims {len} values, \
                 {left} bytes are left (damaged or not written by dupsift)"
            ));
        }
        out.push((name, pos, len as usize));
        pos += len as usize * size;
    }
    if pos != end {
        return Err(format!(
            "body length does not match its content ({} bytes after the last column)",
            end - pos
        ));
    }
    Ok(out)
}

/// The columns of a format-2 file's bytes: (name, file offset of the values, number of
/// values), for tests that damage one section. Fails like reading would if the layout is bad.
pub fn sections(bytes: &[u8]) -> std::result::Result<Sections, String> {
    if bytes.len() < HEADER_LEN + 8 {
        return Err("truncated".into());
    }
    let end = bytes.len() - 8;
    let (_, used) =
        decode_head(&bytes[HEADER_LEN..end]).map_err(|e| format!("cannot decode the head: {e}"))?;
    column_sections(bytes, HEADER_LEN + used, end)
}

/// The entries and signatures of a format-2 body whose columns start at file offset `start`,
/// viewed in `backing` where aligned.
fn decode_columns(
    backing: &Arc<Backing>,
    start: usize,
    end: usize,
) -> std::result::Result<(Entries, Column<u32>), String> {
    let s = column_sections(backing.bytes(), start, end)?;
    fn col<T: Pod>(b: &Arc<Backing>, s: &(&str, usize, usize)) -> Column<T> {
        Column::in_place(b, s.1, s.2)
    }
    let b = backing;
    let entries = Entries::from_columns(Entries {
        key: col(b, &s[0]),
        docs: col(b, &s[1]),
        occurrences: col(b, &s[2]),
        near_docs: col(b, &s[3]),
        group: col(b, &s[4]),
        words: col(b, &s[5]),
        shingles: col(b, &s[6]),
        sig: col(b, &s[7]),
        text_offsets: col(b, &s[8]),
        text: col(b, &s[9]),
    })?;
    Ok((entries, col(b, &s[10])))
}

/// Structural checks that keep later indexing from panicking on a well-formed but wrong body.
fn validate(db: &SignatureDb) -> std::result::Result<(), String> {
    let k = db.params.num_perm;
    if !db.sigs.len().is_multiple_of(k) {
        return Err("signature array is not a whole number of signatures".into());
    }
    let nsig = db.sigs.len() / k;
    let ngroups = db.groups.len();
    let e = &db.entries;
    // Branch-free scans first (they vectorize); the failing entry is looked up only on error.
    if e.group
        .iter()
        .fold(false, |bad, &g| bad | (g as usize >= ngroups))
    {
        let i = e.group.iter().position(|&g| g as usize >= ngroups).unwrap();
        return Err(format!("entry {:016x} names a missing group", e.key[i]));
    }
    let bad_sig = |s: u32| s != super::NO_SIG && s as usize >= nsig;
    if e.sig.iter().fold(false, |bad, &s| bad | bad_sig(s)) {
        let i = e.sig.iter().position(|&s| bad_sig(s)).unwrap();
        return Err(format!("entry {:016x} names a missing signature", e.key[i]));
    }
    Ok(())
}

fn encode_params(p: &HashParams) -> Vec<u8> {
    let b = &p.blocks;
    let mut v = Vec::with_capacity(PARAMS_LEN);
    v.extend_from_slice(&b.shingler.seed.to_le_bytes());
    v.extend_from_slice(&(p.num_perm as u32).to_le_bytes());
    v.extend_from_slice(&(p.lsh.bands as u32).to_le_bytes());
    v.extend_from_slice(&(p.lsh.rows as u32).to_le_bytes());
    v.push(b.shingler.kind.code());
    v.extend_from_slice(&(b.shingler.n as u32).to_le_bytes());
    v.extend_from_slice(&p.normalizer_version.to_le_bytes());
    v.push(b.unit.code());
    v.extend_from_slice(&(b.min_near_words as u32).to_le_bytes());
    v.extend_from_slice(&b.near_threshold.to_le_bytes());
    v.extend_from_slice(&b.containment.to_le_bytes());
    debug_assert_eq!(v.len(), PARAMS_LEN);
    v
}

fn decode_params(b: &[u8]) -> Option<HashParams> {
    let mut pos = 0;
    let mut take = |n: usize| {
        let s = &b[pos..pos + n];
        pos += n;
        s
    };
    let seed = u64::from_le_bytes(take(8).try_into().ok()?);
    let num_perm = u32::from_le_bytes(take(4).try_into().ok()?) as usize;
    let bands = u32::from_le_bytes(take(4).try_into().ok()?) as usize;
    let rows = u32::from_le_bytes(take(4).try_into().ok()?) as usize;
    let kind = match take(1)[0] {
        0 => ShingleKind::Word,
        1 => ShingleKind::Char,
        _ => return None,
    };
    let n = u32::from_le_bytes(take(4).try_into().ok()?) as usize;
    let normalizer_version = u16::from_le_bytes(take(2).try_into().ok()?);
    let unit = match take(1)[0] {
        0 => Unit::Line,
        1 => Unit::Paragraph,
        _ => return None,
    };
    let min_near_words = u32::from_le_bytes(take(4).try_into().ok()?) as usize;
    let near_threshold = f64::from_le_bytes(take(8).try_into().ok()?);
    let containment = f64::from_le_bytes(take(8).try_into().ok()?);
    if num_perm == 0 || num_perm > MAX_NUM_PERM || n == 0 || bands * rows > num_perm {
        return None;
    }
    Some(HashParams {
        blocks: BlockParams {
            unit,
            shingler: Shingler { kind, n, seed },
            near_threshold,
            containment,
            min_near_words,
        },
        num_perm,
        lsh: LshParams { bands, rows },
        normalizer_version,
    })
}

/// Differences between two parameter sets, as `name: a vs b` (empty when equal).
pub fn param_differences(a: &HashParams, b: &HashParams) -> Vec<String> {
    let mut out = Vec::new();
    let mut cmp = |name: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{name}: {x} vs {y}"));
        }
    };
    cmp(
        "seed",
        a.blocks.shingler.seed.to_string(),
        b.blocks.shingler.seed.to_string(),
    );
    cmp("num_perm", a.num_perm.to_string(), b.num_perm.to_string());
    cmp(
        "bands x rows",
        format!("{}x{}", a.lsh.bands, a.lsh.rows),
        format!("{}x{}", b.lsh.bands, b.lsh.rows),
    );
    cmp(
        "shingles",
        format!("{:?} {}", a.blocks.shingler.kind, a.blocks.shingler.n),
        format!("{:?} {}", b.blocks.shingler.kind, b.blocks.shingler.n),
    );
    cmp(
        "normalizer version",
        a.normalizer_version.to_string(),
        b.normalizer_version.to_string(),
    );
    cmp(
        "unit",
        format!("{:?}", a.blocks.unit),
        format!("{:?}", b.blocks.unit),
    );
    cmp(
        "min_near_words",
        a.blocks.min_near_words.to_string(),
        b.blocks.min_near_words.to_string(),
    );
    cmp(
        "near_threshold",
        a.blocks.near_threshold.to_string(),
        b.blocks.near_threshold.to_string(),
    );
    cmp(
        "containment",
        a.blocks.containment.to_string(),
        b.blocks.containment.to_string(),
    );
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sigdb::learn::Summarizer;
    use crate::sigdb::{Learner, Policy};

    pub(crate) fn small_db() -> SignatureDb {
        let params = HashParams::new(BlockParams::default(), 32);
        let s = Summarizer::new(params, Grouping::None);
        let mut l = Learner::new(params, Grouping::None, Policy::default());
        let long = "a long enough line of text that gets a minhash signature of its own here";
        for t in ["Menu\nbody a", "Menu\nbody b", long, "Ünïcödé menu — ok"] {
            l.add(s.summarize("x", &format!("{t}\n{long}"), None));
        }
        l.finish()
    }

    fn problem(bytes: &[u8]) -> String {
        match decode(bytes, Path::new("t.dsig")) {
            Err(Error::BadDb { path, problem, fix }) => {
                assert_eq!(path, Path::new("t.dsig"));
                assert!(!fix.is_empty());
                problem
            }
            other => panic!("expected BadDb, got {other:?}"),
        }
    }

    /// `bytes` with the checksum footer recomputed, as a writer would have sealed them.
    fn reseal(bytes: &[u8]) -> Vec<u8> {
        let mut v = bytes[..bytes.len() - 8].to_vec();
        let sum = xxhash_rust::xxh3::xxh3_64(&v);
        v.extend_from_slice(&sum.to_le_bytes());
        v
    }

    #[test]
    fn round_trip_and_every_failure_is_named() {
        let db = small_db();
        assert!(db.sigs.len() >= 32);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.dsig");
        write_db(&db, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let (read, version) = read_db_version(&path).unwrap();
        assert_eq!(version, FORMAT_VERSION);
        assert_eq!(read, db);
        // Read in place from the map, not copied.
        assert!(read.entries.key.is_in_place() && read.sigs.is_in_place());
        assert_eq!(decode(&bytes, &path).unwrap(), db);

        let mut bad_magic = bytes.clone();
        bad_magic[0] = b'X';
        assert!(problem(&bad_magic).contains("magic"));

        let mut newer = bytes.clone();
        newer[8..10].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        assert!(problem(&newer).contains("newer"));

        let mut flipped = bytes.clone();
        let mid = bytes.len() - 20;
        flipped[mid] ^= 1;
        assert!(problem(&flipped).contains("checksum"));

        assert!(problem(&bytes[..bytes.len() - 3]).contains("truncated"));
        assert!(problem(&bytes[..12]).contains("truncated"));
    }

    /// A format-2 body is a plain bincode value: bincode's own decoder, given the struct the
    /// layout describes, reads the same columns.
    #[test]
    fn v2_body_is_what_bincode_decodes() {
        #[derive(Deserialize)]
        struct Body {
            grouping: Grouping,
            policy: Policy,
            groups: Vec<GroupInfo>,
            _p0: Vec<u8>,
            key: Vec<u64>,
            _p1: Vec<u8>,
            docs: Vec<u64>,
            _p2: Vec<u8>,
            occurrences: Vec<u64>,
            _p3: Vec<u8>,
            near_docs: Vec<u64>,
            _p4: Vec<u8>,
            group: Vec<u32>,
            _p5: Vec<u8>,
            words: Vec<u32>,
            _p6: Vec<u8>,
            shingles: Vec<u32>,
            _p7: Vec<u8>,
            sig: Vec<u32>,
            _p8: Vec<u8>,
            text_offsets: Vec<u64>,
            _p9: Vec<u8>,
            text: String,
            _p10: Vec<u8>,
            sigs: Vec<u32>,
        }
        let db = small_db();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.dsig");
        write_db(&db, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let body = &bytes[HEADER_LEN..bytes.len() - 8];
        let (b, used): (Body, usize) = bincode::serde::decode_from_slice(body, config()).unwrap();
        assert_eq!(used, body.len());
        let e = &db.entries;
        assert_eq!(
            (b.grouping, b.policy, b.groups),
            (db.grouping.clone(), db.policy, db.groups.clone())
        );
        assert_eq!(b.key, *e.key);
        assert_eq!(b.docs, *e.docs);
        assert_eq!(b.occurrences, *e.occurrences);
        assert_eq!(b.near_docs, *e.near_docs);
        assert_eq!(b.group, *e.group);
        assert_eq!(b.words, *e.words);
        assert_eq!(b.shingles, *e.shingles);
        assert_eq!(b.sig, *e.sig);
        assert_eq!(b.sigs, *db.sigs);
        for i in 0..e.len() {
            let o = &b.text_offsets;
            assert_eq!(
                &b.text[o[2 * i] as usize..o[2 * i + 1] as usize],
                e.example(i)
            );
            assert_eq!(
                &b.text[o[2 * i + 1] as usize..o[2 * i + 2] as usize],
                e.first_id(i)
            );
        }
        assert!(
            e.example(e.len() - 1).contains('Ü')
                || (0..e.len()).any(|i| e.example(i).contains('Ü'))
        );
        // Every column's values start 8-byte aligned in the file.
        for (name, at, _) in sections(&bytes).unwrap() {
            assert_eq!(at % 8, 0, "{name}");
        }
    }

    /// A format-1 file (bincode varints, two strings per entry) reads as the same database.
    #[test]
    fn v1_files_still_read_the_same() {
        let db = small_db();
        let body = bincode::serde::encode_to_vec(
            super::super::v1::BodyRef::of(&db),
            super::super::v1::config(),
        )
        .unwrap();
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&encode_params(&db.params));
        bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&body);
        let sum = xxhash_rust::xxh3::xxh3_64(&bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.dsig");
        std::fs::write(&path, &bytes).unwrap();
        let (read, version) = read_db_version(&path).unwrap();
        assert_eq!(version, 1);
        assert_eq!(read, db);
        // And written back, format 2 reads as the same database again.
        let again = dir.path().join("v2.dsig");
        write_db(&read, &again).unwrap();
        assert_eq!(read_db(&again).unwrap(), db);
    }

    /// Damage inside the columns that the checksum cannot see (a writer bug, a hostile file):
    /// each is refused with its own message, never a panic.
    #[test]
    fn damaged_columns_are_named() {
        let db = small_db();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.dsig");
        write_db(&db, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let s = sections(&bytes).unwrap();
        let find = |name: &str| *s.iter().find(|c| c.0 == name).unwrap();
        let poke = |at: usize, v: &[u8]| {
            let mut b = bytes.clone();
            b[at..at + v.len()].copy_from_slice(v);
            problem(&reseal(&b))
        };
        let (_, text_at, text_len) = find("text");
        let (_, off_at, _) = find("text_offsets");
        let (_, group_at, _) = find("group");
        let (_, sig_at, _) = find("sig");
        let (_, key_at, _) = find("key");
        assert!(poke(text_at, &[0xff]).contains("not UTF-8"));
        let p = poke(off_at + 8, &(text_len as u64 + 1).to_le_bytes());
        assert!(p.contains("out of order") || p.contains("splits"), "{p}");
        let p = poke(off_at, &1u64.to_le_bytes());
        assert!(p.contains("text offsets span"), "{p}");
        let p = poke(group_at, &7u32.to_le_bytes());
        assert!(p.contains("missing group"), "{p}");
        let long_sig = db
            .entries
            .sig
            .iter()
            .position(|&x| x != crate::sigdb::NO_SIG)
            .unwrap();
        let p = poke(sig_at + 4 * long_sig, &1000u32.to_le_bytes());
        assert!(p.contains("missing signature"), "{p}");
        // A column length beyond the file, and a bad padding length.
        let p = poke(key_at - 8, &u64::MAX.to_le_bytes());
        assert!(p.contains("declares more data"), "{p}");
        let (_, head) = decode_head(&bytes[HEADER_LEN..bytes.len() - 8]).unwrap();
        let p = poke(HEADER_LEN + head, &9u64.to_le_bytes());
        assert!(p.contains("invalid padding before `key`"), "{p}");
        // A UTF-8 character split by an offset.
        let e = &db.entries;
        let i = (0..e.len())
            .find(|&i| e.example(i).starts_with('Ü'))
            .unwrap();
        let start = u64::from_le_bytes(
            bytes[off_at + 16 * i..off_at + 16 * i + 8]
                .try_into()
                .unwrap(),
        );
        let p = poke(off_at + 16 * i + 8, &(start + 1).to_le_bytes());
        assert!(p.contains("splits a character"), "{p}");
    }

    /// Cut anywhere and resealed (length and checksum made to match), a format-2 file is
    /// refused with a message, never a panic or a huge allocation.
    #[test]
    fn every_truncation_is_refused() {
        let db = small_db();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.dsig");
        write_db(&db, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for cut in HEADER_LEN..bytes.len() - 8 {
            let mut v = bytes[..cut].to_vec();
            v[HEADER_LEN - 8..HEADER_LEN]
                .copy_from_slice(&((cut - HEADER_LEN) as u64).to_le_bytes());
            let sum = xxhash_rust::xxh3::xxh3_64(&v);
            v.extend_from_slice(&sum.to_le_bytes());
            let p = problem(&v);
            assert!(
                p.contains("declares more data")
                    || p.contains("ends inside")
                    || p.contains("cannot decode")
                    || p.contains("padding")
                    || p.contains("does not match"),
                "cut at {cut}: {p}"
            );
        }
    }

    #[test]
    fn parameter_differences_are_listed() {
        let a = HashParams::new(BlockParams::default(), 64);
        let mut b = a;
        b.blocks.unit = Unit::Paragraph;
        b.num_perm = 32;
        let d = param_differences(&a, &b);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(param_differences(&a, &a).is_empty());
        assert_eq!(decode_params(&encode_params(&a)), Some(a));
    }
}
