//! The `.dsig` file layout (DESIGN.md section 4), version 1:
//!
//! ```text
//! magic      8 bytes  b"DUPSIFT\0"
//! version    u16 LE   FORMAT_VERSION
//! params     fixed little-endian fields, every one that changes a hash:
//!            seed u64, num_perm u32, bands u32, rows u32, shingle kind u8, shingle n u32,
//!            normalizer version u16, segmenter unit u8, min_near_words u32,
//!            near_threshold f64, containment f64
//! body_len   u64 LE
//! body       bincode 2 (standard config) of Body: grouping, policy, groups, entries, sigs
//! checksum   u64 LE   xxh3-64 of every byte before it, computed while writing
//! ```
//!
//! The parameters sit in a fixed layout before the body so `inspect`, `merge` and `clean`
//! can name a mismatch before decoding anything, and so a future body change keeps them
//! readable. Reading checks, in order: magic, version in OLDEST..=CURRENT, size, checksum,
//! parameters, then decodes with a size limit; every failure names the file and the fix.

use super::{Entry, GroupInfo, Grouping, HashParams, Policy, SignatureDb};
use crate::blocks::BlockParams;
use crate::error::{Error, Result};
use crate::lsh::LshParams;
use crate::output::AtomicFile;
use crate::segment::Unit;
use crate::shingle::{ShingleKind, Shingler};
use serde::{Deserialize, Serialize};
use std::path::Path;
use xxhash_rust::xxh3::Xxh3;

pub const MAGIC: &[u8; 8] = b"DUPSIFT\0";
/// Format written by this build.
pub const FORMAT_VERSION: u16 = 1;
/// Oldest format this build still reads.
pub const OLDEST_FORMAT_VERSION: u16 = 1;
/// Bytes of the parameter block.
const PARAMS_LEN: usize = 8 + 4 + 4 + 4 + 1 + 4 + 2 + 1 + 4 + 8 + 8;
/// Bytes before the body: magic, version, parameters, body length.
pub const HEADER_LEN: usize = 8 + 2 + PARAMS_LEN + 8;
/// Largest body decoded: a guard against lengths in a damaged file, far above real DBs.
const BODY_LIMIT: usize = 1 << 34;
/// Largest `num_perm` accepted in a header (`learn --num-perm` allows 1..=1024): the matcher
/// allocates per lane, so a damaged header must not ask for billions of lanes.
const MAX_NUM_PERM: usize = 1024;

#[derive(Serialize, Deserialize)]
struct Body {
    grouping: Grouping,
    policy: Policy,
    groups: Vec<GroupInfo>,
    entries: Vec<Entry>,
    sigs: Vec<u32>,
}

/// [`Body`] without its last field: the signatures are decoded by [`decode_sigs`].
#[derive(Deserialize)]
struct BodyHead {
    grouping: Grouping,
    policy: Policy,
    groups: Vec<GroupInfo>,
    entries: Vec<Entry>,
}

/// [`BodyRef`] without the signatures, which [`encode_sigs`] writes by hand.
#[derive(Serialize)]
struct BodyHeadRef<'a> {
    grouping: &'a Grouping,
    policy: &'a Policy,
    groups: &'a [GroupInfo],
    entries: &'a [Entry],
}

/// The whole body as bincode encodes it: the reference the split encoder is tested against.
#[cfg(test)]
#[derive(Serialize)]
struct BodyRef<'a> {
    grouping: &'a Grouping,
    policy: &'a Policy,
    groups: &'a [GroupInfo],
    entries: &'a [Entry],
    sigs: &'a [u32],
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<BODY_LIMIT>()
}

/// Decodes `body` with a size limit proportional to its length.
///
/// Why not just [`BODY_LIMIT`]: bincode allocates a string or byte vector of the length the
/// data declares *before* reading it, so under a fixed 16 GiB limit a damaged 100-byte file
/// with a valid checksum could make us allocate gigabytes (the `sigdb_loader` fuzz target
/// found exactly that). bincode counts the in-memory size of what it decodes, and a valid body
/// never claims more than 8 bytes per byte it occupies (a 1-byte varint becomes a `u64`), so a
/// limit of 8 x the body length (rounded up to a power of two, the limit being a type-level
/// constant) refuses no valid database and bounds any allocation by a small multiple of the
/// file, which is already in memory.
///
/// The signatures (the last field, ~half the file: 17 million varints for the man pages) are
/// decoded by hand ([`decode_sigs`]) after serde has decoded the rest: bincode's per-element
/// path through serde, with its limit accounting, was ~15 % of loading a database. The bytes
/// and the result are those of decoding the whole [`Body`] with bincode (tested).
fn decode_body(body: &[u8]) -> std::result::Result<(Body, usize), bincode::error::DecodeError> {
    let (head, used) = decode_head(body)?;
    let (sigs, sig_bytes) = decode_sigs(&body[used..])?;
    let body_out = Body {
        grouping: head.grouping,
        policy: head.policy,
        groups: head.groups,
        entries: head.entries,
        sigs,
    };
    Ok((body_out, used + sig_bytes))
}

/// `Vec<u32>` in bincode's standard encoding (varint length, then one varint per value: a
/// byte below 251 is the value, 251 / 252 announce a little-endian u16 / u32), as
/// `bincode::decode_from_slice` reads it, returning the bytes used. The length is checked
/// against the bytes left (every value takes at least one) before anything is allocated.
fn decode_sigs(b: &[u8]) -> std::result::Result<(Vec<u32>, usize), bincode::error::DecodeError> {
    use bincode::error::DecodeError;
    let short = |additional| DecodeError::UnexpectedEnd { additional };
    let (len, mut pos) = match *b.first().ok_or(short(1))? {
        x @ 0..=250 => (x as u64, 1),
        251 => (
            u16::from_le_bytes(b.get(1..3).ok_or(short(2))?.try_into().unwrap()) as u64,
            3,
        ),
        252 => (
            u32::from_le_bytes(b.get(1..5).ok_or(short(4))?.try_into().unwrap()) as u64,
            5,
        ),
        253 => (
            u64::from_le_bytes(b.get(1..9).ok_or(short(8))?.try_into().unwrap()),
            9,
        ),
        _ => return Err(DecodeError::Other("invalid length of the signature array")),
    };
    if len > (b.len() - pos) as u64 {
        return Err(DecodeError::LimitExceeded);
    }
    let mut sigs = Vec::with_capacity(len as usize);
    let mut left = len;
    while left > 0 {
        // Fast path: the next RUN values are all whole u32 varints (tag 252), as almost every
        // MinHash value is (a uniform u32 is below 2^16 with probability 1.5e-5). Checking
        // the tags of a run with one branch and copying its values without per-value bounds
        // checks halves the cost of the per-value loop below.
        const RUN: usize = 16;
        if left >= RUN as u64 {
            if let Some(run) = b
                .get(pos..pos + 5 * RUN)
                .map(|s| <&[u8; 5 * RUN]>::try_from(s).unwrap())
            {
                let all_u32 = (0..RUN).fold(true, |ok, j| ok & (run[5 * j] == 252));
                if all_u32 {
                    sigs.extend((0..RUN).map(|j| {
                        u32::from_le_bytes([
                            run[5 * j + 1],
                            run[5 * j + 2],
                            run[5 * j + 3],
                            run[5 * j + 4],
                        ])
                    }));
                    pos += 5 * RUN;
                    left -= RUN as u64;
                    continue;
                }
            }
        }
        left -= 1;
        // Fast path: a whole u32 varint (the common case for MinHash values) is in bounds.
        if let Some(&[252, a, b1, c, d]) = b
            .get(pos..pos + 5)
            .map(|s| <[u8; 5]>::try_from(s).unwrap())
            .as_ref()
        {
            sigs.push(u32::from_le_bytes([a, b1, c, d]));
            pos += 5;
            continue;
        }
        let tag = *b.get(pos).ok_or(short(1))?;
        let v = match tag {
            0..=250 => {
                pos += 1;
                tag as u32
            }
            251 => {
                let v = b.get(pos + 1..pos + 3).ok_or(short(2))?;
                pos += 3;
                u16::from_le_bytes([v[0], v[1]]) as u32
            }
            252 => {
                let v = b.get(pos + 1..pos + 5).ok_or(short(4))?;
                pos += 5;
                u32::from_le_bytes([v[0], v[1], v[2], v[3]])
            }
            _ => return Err(DecodeError::Other("invalid signature value")),
        };
        sigs.push(v);
    }
    Ok((sigs, pos))
}

fn decode_head(body: &[u8]) -> std::result::Result<(BodyHead, usize), bincode::error::DecodeError> {
    fn limited<const N: usize>(
        body: &[u8],
    ) -> std::result::Result<(BodyHead, usize), bincode::error::DecodeError> {
        bincode::serde::decode_from_slice(body, bincode::config::standard().with_limit::<N>())
    }
    let need = body.len().saturating_mul(8).max(1 << 16);
    let bits = need
        .checked_next_power_of_two()
        .map_or(64, |n| n.trailing_zeros());
    macro_rules! dispatch {
        ($($k:literal)*) => {
            match bits {
                $($k => limited::<{ 1usize << $k }>(body),)*
                _ => limited::<BODY_LIMIT>(body),
            }
        };
    }
    dispatch!(16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33)
}

/// Writes `db` to `path` atomically (temporary file, sync, rename).
///
/// The body is encoded twice rather than into one buffer: a first pass only counts its bytes
/// (the length precedes it in the header), the second streams it through a 1 MiB buffer that
/// feeds the checksum and the file. Encoding into a `Vec` first held the whole body (145 MB
/// for the man pages, more during the `Vec`'s growth) in memory next to the database, which
/// made the write the peak of `learn`'s memory; the counting pass costs less than that copy.
///
/// The signatures (the body's last field) are encoded by [`encode_sigs`], bytes identical to
/// bincode's (tested): serde's per-element path over 17 million values, twice, was ~6 % of
/// `learn` on the man pages.
pub fn write_db(db: &SignatureDb, path: &Path) -> Result<()> {
    let body = BodyHeadRef {
        grouping: &db.grouping,
        policy: &db.policy,
        groups: &db.groups,
        entries: &db.entries,
    };
    let mut size = bincode::enc::write::SizeWriter::default();
    bincode::serde::encode_into_writer(&body, &mut size, config())
        .map_err(|e| Error::io(path, "cannot encode database", std::io::Error::other(e)))?;
    size.bytes_written += encode_sigs(&db.sigs, |_| {});
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
    out.put(&(size.bytes_written as u64).to_le_bytes());
    let start = out.written;
    let encoded = bincode::serde::encode_into_writer(&body, &mut out, config());
    if encoded.is_ok() {
        encode_sigs(&db.sigs, |bytes| out.put(bytes));
    }
    out.flush_buf();
    if let Some(e) = out.failed.take() {
        return Err(e);
    }
    encoded.map_err(|e| Error::io(path, "cannot encode database", std::io::Error::other(e)))?;
    // Both passes encode the same value; a mismatch would be a bincode bug, caught here
    // rather than as a "truncated" file at the next read.
    if out.written - start != size.bytes_written as u64 {
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

/// Encodes `sigs` as bincode's standard config encodes a `Vec<u32>` (varint length, then a
/// varint per value: below 251 one byte, up to u16::MAX 251 + 2 bytes, else 252 + 4 bytes,
/// little-endian), handing the bytes to `emit` in chunks; returns how many there were.
fn encode_sigs(sigs: &[u32], mut emit: impl FnMut(&[u8])) -> usize {
    let mut chunk: Vec<u8> = Vec::with_capacity(9 + 5 * 4096);
    push_varint(&mut chunk, sigs.len() as u64);
    let mut total = 0;
    for part in sigs.chunks(4096) {
        for &v in part {
            push_varint(&mut chunk, u64::from(v));
        }
        total += chunk.len();
        emit(&chunk);
        chunk.clear();
    }
    if !chunk.is_empty() {
        total += chunk.len();
        emit(&chunk);
    }
    total
}

/// Appends `v` as bincode's standard-config varint: below 251 one byte, then a tag (251, 252,
/// 253) and the value as a little-endian u16, u32 or u64.
#[inline]
fn push_varint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=250 => out.push(v as u8),
        251..=0xffff => {
            out.push(251);
            out.extend_from_slice(&(v as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(252);
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        _ => {
            out.push(253);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
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
        self.buf.extend_from_slice(bytes);
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
///
/// The file is memory-mapped when it can be (a regular, non-empty file): reading it copied
/// 145 MB (the man pages) into fresh anonymous memory, and that copy and its page faults were
/// ~15 % of loading. Decoding copies everything it keeps, so the map lives only as long as
/// this call. Anything that cannot be mapped (a pipe, a special file) is read instead.
pub fn read_db(path: &Path) -> Result<SignatureDb> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, "cannot read database", e))?;
    if let Some(map) = ReadOnlyMap::new(&file) {
        return decode(map.bytes(), path);
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut &file, &mut bytes)
        .map_err(|e| Error::io(path, "cannot read database", e))?;
    decode(&bytes, path)
}

/// A private read-only memory map of a whole regular file, unmapped on drop.
///
/// Caveat shared with every memory map: if another process truncates the file while it is
/// being decoded, the process gets `SIGBUS` instead of an error. dupsift itself only ever
/// replaces databases by renaming a new file into place, which leaves a mapped one intact.
struct ReadOnlyMap {
    ptr: *mut libc::c_void,
    len: usize,
}

impl ReadOnlyMap {
    fn new(file: &std::fs::File) -> Option<ReadOnlyMap> {
        use std::os::unix::io::AsRawFd;
        let meta = file.metadata().ok()?;
        let len = usize::try_from(meta.len()).ok()?;
        if !meta.is_file() || len == 0 {
            return None;
        }
        // SAFETY: a fresh private read-only mapping of a regular file we hold open; it is
        // unmapped only in `drop`, and slices of it never outlive `self`. MAP_POPULATE maps
        // every page at once (the decoder reads all of them) instead of faulting per page.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_POPULATE,
                file.as_raw_fd(),
                0,
            )
        };
        (ptr != libc::MAP_FAILED).then_some(ReadOnlyMap { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for ReadOnlyMap {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; no slice of it is alive.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// Checks and decodes the bytes of a database file; `path` is only used in messages.
pub fn decode(bytes: &[u8], path: &Path) -> Result<SignatureDb> {
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
    let mut hash = Xxh3::new();
    hash.update(&bytes[..end]);
    if hash.digest() != stored {
        return Err(bad(path, "checksum mismatch: the file is corrupt", RELEARN));
    }
    let params = decode_params(&bytes[10..10 + PARAMS_LEN])
        .ok_or_else(|| bad(path, "invalid parameter values in the header", RELEARN))?;
    let (body, used) = decode_body(&bytes[HEADER_LEN..end]).map_err(|e| match e {
        bincode::error::DecodeError::LimitExceeded => bad(
            path,
            "the body declares more data than the file holds (damaged or not written by dupsift)",
            RELEARN,
        ),
        e => bad(path, format!("cannot decode the body: {e}"), RELEARN),
    })?;
    if used != end - HEADER_LEN {
        return Err(bad(path, "body length does not match its content", RELEARN));
    }
    let db = SignatureDb {
        params,
        grouping: body.grouping,
        policy: body.policy,
        groups: body.groups,
        entries: body.entries,
        sigs: body.sigs,
    };
    validate(&db).map_err(|problem| bad(path, problem, RELEARN))?;
    Ok(db)
}

/// Structural checks that keep later indexing from panicking on a well-formed but wrong body.
fn validate(db: &SignatureDb) -> std::result::Result<(), String> {
    let k = db.params.num_perm;
    if !db.sigs.len().is_multiple_of(k) {
        return Err("signature array is not a whole number of signatures".into());
    }
    let nsig = db.sigs.len() / k;
    for e in &db.entries {
        if e.group as usize >= db.groups.len() {
            return Err(format!("entry {:016x} names a missing group", e.key));
        }
        if e.sig != super::NO_SIG && e.sig as usize >= nsig {
            return Err(format!("entry {:016x} names a missing signature", e.key));
        }
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
mod tests {
    use super::*;
    use crate::sigdb::learn::Summarizer;
    use crate::sigdb::{Learner, Policy};

    fn small_db() -> SignatureDb {
        let params = HashParams::new(BlockParams::default(), 32);
        let s = Summarizer::new(params, Grouping::None);
        let mut l = Learner::new(params, Grouping::None, Policy::default());
        let long = "a long enough line of text that gets a minhash signature of its own here";
        for t in ["Menu\nbody a", "Menu\nbody b", long] {
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

    #[test]
    fn round_trip_and_every_failure_is_named() {
        let db = small_db();
        assert!(db.sigs.len() >= 32);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.dsig");
        write_db(&db, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(read_db(&path).unwrap(), db);

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

    /// The hand-decoded signatures give exactly bincode's result, byte count included, at
    /// every varint width, and a cut body fails the way bincode fails.
    /// The run fast path of `decode_sigs` gives bincode's values when values of every varint
    /// width sit at every position of a run, and errors (never panics) wherever the array is cut.
    #[test]
    fn sig_decode_with_short_varints_anywhere_equals_bincode() {
        let big = |i: u32| i.wrapping_mul(2_654_435_761) | 0x1_0000;
        for small in [0u32, 7, 250, 251, 300, 65535] {
            for at in 0..40usize {
                let mut sigs: Vec<u32> = (0..90u32).map(big).collect();
                sigs[at] = small;
                sigs[at + 37] = small;
                let enc = bincode::serde::encode_to_vec(&sigs, config()).unwrap();
                assert_eq!(
                    decode_sigs(&enc).unwrap(),
                    (sigs.clone(), enc.len()),
                    "{small} at {at}"
                );
                for cut in 1..enc.len() {
                    assert!(decode_sigs(&enc[..enc.len() - cut]).is_err(), "cut {cut}");
                }
            }
        }
    }

    #[test]
    fn split_body_decode_equals_bincode() {
        let mut db = small_db();
        db.sigs.extend([
            0,
            1,
            250,
            251,
            252,
            255,
            65535,
            65536,
            u32::MAX - 1,
            u32::MAX,
        ]);
        let body = BodyRef {
            grouping: &db.grouping,
            policy: &db.policy,
            groups: &db.groups,
            entries: &db.entries,
            sigs: &db.sigs,
        };
        let bytes = bincode::serde::encode_to_vec(&body, config()).unwrap();
        // The hand-written encoder gives bincode's bytes, for these and for long arrays
        // (length varints of one, three and five bytes).
        let head = BodyHeadRef {
            grouping: &db.grouping,
            policy: &db.policy,
            groups: &db.groups,
            entries: &db.entries,
        };
        let mut ours = bincode::serde::encode_to_vec(&head, config()).unwrap();
        let n = encode_sigs(&db.sigs, |b| ours.extend_from_slice(b));
        assert_eq!(ours, bytes);
        assert_eq!(
            n,
            bytes.len()
                - bincode::serde::encode_to_vec(&head, config())
                    .unwrap()
                    .len()
        );
        for len in [0usize, 250, 251, 5000, 65535, 65536, 70_000] {
            let sigs: Vec<u32> = (0..len as u32)
                .map(|i| i.wrapping_mul(2_654_435_761))
                .collect();
            let mut enc = Vec::new();
            encode_sigs(&sigs, |b| enc.extend_from_slice(b));
            assert_eq!(
                enc,
                bincode::serde::encode_to_vec(&sigs, config()).unwrap(),
                "{len}"
            );
            assert_eq!(decode_sigs(&enc).unwrap(), (sigs, enc.len()));
        }
        let (want, want_used): (Body, usize) =
            bincode::serde::decode_from_slice(&bytes, config()).unwrap();
        let (got, got_used) = decode_body(&bytes).unwrap();
        assert_eq!(got_used, want_used);
        assert_eq!(got_used, bytes.len());
        assert_eq!(got.sigs, want.sigs);
        assert_eq!(got.sigs, db.sigs);
        assert_eq!(got.entries, want.entries);
        assert_eq!(got.groups, want.groups);
        for cut in [1, 2, 3, 4, 5, 9, 40] {
            let part = &bytes[..bytes.len() - cut];
            let reference: std::result::Result<(Body, usize), _> =
                bincode::serde::decode_from_slice(part, config());
            assert!(reference.is_err());
            assert!(decode_body(part).is_err(), "cut {cut}");
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
