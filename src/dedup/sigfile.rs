//! The signature file: the documented hand-over between the two dedup stages, so signatures
//! can be computed on one machine (or shard) and clustered on another.
//!
//! A signature file `P` is three files written side by side:
//!
//! * `P` — a 64-byte header, then one fixed-size record per document in input order.
//!   Header (all integers little-endian): `b"DSFTSIG\0"`, `u16` version (4), `u16` flags (bit 0:
//!   shingle sets present in `P.sets`; bit 1: template tokens were removed before shingling;
//!   bit 2: the lanes are a one-permutation sketch ([`crate::oph`]), else classic MinHash),
//!   `u32` num_perm K, `u32` n-gram size, `u32` reserved, `u64` seed, `u64` document count,
//!   `u32` record length, zero padding to 64 bytes.
//!   Record: K `u32` MinHash lanes, then `u32` shingle count (distinct shingles when sets
//!   are stored, else n-grams counted with repeats), `u32` text length in bytes
//!   (saturating), `u64` exact key (hash of the lower-cased word sequence), `u64` id offset and
//!   `u32` id length into `P.ids`, `u32` filled bins (one-permutation sketch: bins filled
//!   before densification; MinHash: K, or 0 without shingles), `u64` offset of the shingle
//!   set in `P.sets`.
//!
//! Version 1 (classic MinHash only, without the sketch flag) is refused, so that lanes of
//! the two sketches, which look alike but cannot be compared, are never mixed up; versions 2
//! (words hashed with xxh3 and mixed once more, see [`crate::shingle::Shingler::dedup_words`])
//! and 3 (short words' hashes finished by one more finalizer) are refused because a recheck
//! recomputes shingle sets with this version's word hashes, which would not match their lanes.
//! * `P.ids` — the document ids, UTF-8, concatenated.
//! * `P.sets` — (only with flag bit 0) each document's sorted shingle set as `u64`s.
//!
//! Fixed-size records are why the format is flat: record `i` is at `64 + i * len`, so the
//! clustering stage reads the file once sequentially and then only the few records of
//! candidate pairs by offset, never holding K lanes per document in memory.

use super::mapped::Map;
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// First bytes of every signature file.
pub const MAGIC: &[u8; 8] = b"DSFTSIG\0";
/// Current (and oldest readable) format version.
pub const VERSION: u16 = 4;
const HEADER_LEN: u64 = 64;
/// Bytes of a record after the lanes.
const META_LEN: usize = 40;
const FLAG_SETS: u16 = 1;
const FLAG_TEMPLATE: u16 = 2;
const FLAG_OPH: u16 = 4;

/// Which sketch the lanes of a signature file are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Sketch {
    /// One-permutation hashing with optimal densification ([`crate::oph`]): one hash per
    /// shingle.
    #[default]
    Oph,
    /// Classic MinHash ([`crate::minhash`]): K lane hashes per shingle.
    Minhash,
}

impl Sketch {
    /// Name for messages (`oph`, `minhash`).
    pub fn name(self) -> &'static str {
        match self {
            Sketch::Oph => "oph",
            Sketch::Minhash => "minhash",
        }
    }
}

/// Parameters that change every signature: a file is only comparable with files that agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigParams {
    pub num_perm: u32,
    pub ngram: u32,
    pub seed: u64,
    /// Shingle sets are stored (needed by exact verification).
    pub sets: bool,
    /// Template tokens were removed before shingling.
    pub template: bool,
    /// The sketch the lanes are.
    pub sketch: Sketch,
}

/// The per-document numbers stored next to the lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DocMeta {
    /// Shingles: the set size when sets are stored, else n-grams with repeats (0: the
    /// document has no words and matches nothing by MinHash).
    pub shingles: u32,
    /// Text length in bytes (what `--keep longest` compares).
    pub text_len: u32,
    /// Hash of the lower-cased word sequence: equal keys are exact duplicates.
    pub exact_key: u64,
    /// Bins filled before densification (one-permutation sketch; MinHash: K, or 0 without
    /// shingles): below K/2 the sketch's estimate is noisier than MinHash's (see
    /// [`crate::oph`]), and dedup verifies such a document's pairs exactly.
    pub bins: u32,
    id_off: u64,
    id_len: u32,
    sets_off: u64,
}

/// One document's signature as the signing stage produces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocSig {
    pub id: String,
    pub lanes: Vec<u32>,
    pub shingles: u32,
    pub text_len: u32,
    pub exact_key: u64,
    /// Bins filled before densification (see [`DocMeta::bins`]).
    pub bins: u32,
    /// Sorted shingle set (only when the file stores sets).
    pub set: Option<Vec<u64>>,
}

fn companion(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(ext);
    PathBuf::from(s)
}

fn record_len(num_perm: u32) -> usize {
    num_perm as usize * 4 + META_LEN
}

/// Writes a signature file record by record.
pub struct SigWriter {
    path: PathBuf,
    params: SigParams,
    main: BufWriter<File>,
    ids: BufWriter<File>,
    sets: Option<BufWriter<File>>,
    docs: u64,
    id_off: u64,
    sets_off: u64,
    buf: Vec<u8>,
}

impl SigWriter {
    /// Creates (truncates) `path` and its companions.
    pub fn create(path: &Path, params: SigParams) -> Result<Self> {
        let open = |p: &Path| -> Result<BufWriter<File>> {
            File::create(p)
                .map(|f| BufWriter::with_capacity(1 << 20, f))
                .map_err(|e| Error::io(p, "cannot create signature file", e))
        };
        let mut main = open(path)?;
        let ids = open(&companion(path, ".ids"))?;
        let sets = if params.sets {
            Some(open(&companion(path, ".sets"))?)
        } else {
            None
        };
        main.write_all(&header_bytes(&params, 0))
            .map_err(|e| Error::io(path, "write failed", e))?;
        Ok(SigWriter {
            path: path.to_path_buf(),
            params,
            main,
            ids,
            sets,
            docs: 0,
            id_off: 0,
            sets_off: 0,
            buf: Vec::with_capacity(record_len(params.num_perm)),
        })
    }

    /// Appends one document (its index is the number of documents pushed before it).
    pub fn push(&mut self, d: &DocSig) -> Result<()> {
        assert_eq!(d.lanes.len(), self.params.num_perm as usize, "lane count");
        let io = |p: &Path, e| Error::io(p, "write failed", e);
        self.buf.clear();
        for v in &d.lanes {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.buf.extend_from_slice(&d.shingles.to_le_bytes());
        self.buf.extend_from_slice(&d.text_len.to_le_bytes());
        self.buf.extend_from_slice(&d.exact_key.to_le_bytes());
        self.buf.extend_from_slice(&self.id_off.to_le_bytes());
        self.buf
            .extend_from_slice(&(d.id.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(&d.bins.to_le_bytes());
        self.buf.extend_from_slice(&self.sets_off.to_le_bytes());
        self.main
            .write_all(&self.buf)
            .map_err(|e| io(&self.path, e))?;
        self.ids
            .write_all(d.id.as_bytes())
            .map_err(|e| io(&self.path, e))?;
        self.id_off += d.id.len() as u64;
        if let Some(w) = &mut self.sets {
            let set = d.set.as_deref().unwrap_or(&[]);
            for v in set {
                w.write_all(&v.to_le_bytes())
                    .map_err(|e| io(&self.path, e))?;
            }
            self.sets_off += set.len() as u64 * 8;
        }
        self.docs += 1;
        Ok(())
    }

    /// Writes the document count into the header and flushes everything.
    pub fn finish(mut self) -> Result<u64> {
        let io = |e| Error::io(&self.path, "write failed", e);
        self.ids.flush().map_err(io)?;
        if let Some(w) = &mut self.sets {
            w.flush().map_err(io)?;
        }
        self.main.flush().map_err(io)?;
        let file = self.main.get_mut();
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(&header_bytes(&self.params, self.docs))
            .map_err(io)?;
        Ok(self.docs)
    }
}

fn header_bytes(p: &SigParams, docs: u64) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    let flags = if p.sets { FLAG_SETS } else { 0 }
        | if p.template { FLAG_TEMPLATE } else { 0 }
        | if p.sketch == Sketch::Oph { FLAG_OPH } else { 0 };
    h[0..8].copy_from_slice(MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    h[10..12].copy_from_slice(&flags.to_le_bytes());
    h[12..16].copy_from_slice(&p.num_perm.to_le_bytes());
    h[16..20].copy_from_slice(&p.ngram.to_le_bytes());
    h[24..32].copy_from_slice(&p.seed.to_le_bytes());
    h[32..40].copy_from_slice(&docs.to_le_bytes());
    h[40..44].copy_from_slice(&(record_len(p.num_perm) as u32).to_le_bytes());
    h
}

/// Random and sequential access to a finished signature file.
///
/// The main file and the ids are memory-mapped: the clustering stage and the clusters report
/// read ~60,000 records and ids by offset on make_corpus 100 MB, and a `pread` each (a system
/// call, a copy and a buffer) was ~4-5 % of a whole `dedup` run. The file was just written,
/// so its pages are in the page cache; they count in the resident set while mapped.
pub struct SigReader {
    path: PathBuf,
    params: SigParams,
    docs: u64,
    main: Map,
    ids: Map,
    sets: Option<File>,
}

impl SigReader {
    /// Opens and checks the header (magic, version, record length, file size).
    pub fn open(path: &Path) -> Result<Self> {
        let bad = |problem: String| Error::BadDb {
            path: path.to_path_buf(),
            problem,
            fix: "recompute the signatures with this version of dupsift".into(),
        };
        let open = |p: &Path| File::open(p).map_err(|e| Error::io(p, "cannot open", e));
        let main = open(path)?;
        let mut h = [0u8; HEADER_LEN as usize];
        main.read_exact_at(&mut h, 0)
            .map_err(|_| bad("too short for a signature file header".into()))?;
        if &h[0..8] != MAGIC {
            return Err(bad("not a dupsift signature file (bad magic)".into()));
        }
        let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
        let version = u16_at(8);
        if version != VERSION {
            return Err(bad(format!(
                "format version {version}, this dupsift reads {VERSION}"
            )));
        }
        let flags = u16_at(10);
        let params = SigParams {
            num_perm: u32_at(12),
            ngram: u32_at(16),
            seed: u64_at(24),
            sets: flags & FLAG_SETS != 0,
            template: flags & FLAG_TEMPLATE != 0,
            sketch: if flags & FLAG_OPH != 0 {
                Sketch::Oph
            } else {
                Sketch::Minhash
            },
        };
        let docs = u64_at(32);
        if params.num_perm == 0 || u32_at(40) as usize != record_len(params.num_perm) {
            return Err(bad("record length does not match num_perm".into()));
        }
        let len = main
            .metadata()
            .map_err(|e| Error::io(path, "cannot read", e))?
            .len();
        if len != HEADER_LEN + docs * record_len(params.num_perm) as u64 {
            return Err(bad(format!(
                "size {len} does not match {docs} records (truncated or unfinished)"
            )));
        }
        drop(main);
        let main = Map::open(path)?;
        if main.bytes().len() as u64 != len {
            return Err(bad("changed while being opened".into()));
        }
        let ids = Map::open(&companion(path, ".ids"))?;
        let sets = if params.sets {
            Some(open(&companion(path, ".sets"))?)
        } else {
            None
        };
        Ok(SigReader {
            path: path.to_path_buf(),
            params,
            docs,
            main,
            ids,
            sets,
        })
    }

    pub fn params(&self) -> SigParams {
        self.params
    }

    /// Number of documents.
    pub fn len(&self) -> u64 {
        self.docs
    }

    pub fn is_empty(&self) -> bool {
        self.docs == 0
    }

    fn record_len(&self) -> usize {
        record_len(self.params.num_perm)
    }

    /// Reads record `doc` into `lanes` (length K) and returns its metadata.
    pub fn record(&self, doc: u32, lanes: &mut Vec<u32>) -> Result<DocMeta> {
        let len = self.record_len();
        let buf = slice(self.main.bytes(), HEADER_LEN + doc as u64 * len as u64, len)
            .ok_or_else(|| past_end(&self.path))?;
        Ok(decode(buf, self.params.num_perm as usize, lanes))
    }

    /// The id of document `doc`.
    pub fn id(&self, meta: &DocMeta) -> Result<String> {
        let buf = slice(self.ids.bytes(), meta.id_off, meta.id_len as usize)
            .ok_or_else(|| past_end(&companion(&self.path, ".ids")))?;
        String::from_utf8(buf.to_vec()).map_err(|_| Error::BadDb {
            path: companion(&self.path, ".ids"),
            problem: "id is not UTF-8".into(),
            fix: "recompute the signatures".into(),
        })
    }

    /// The shingle set of a document (empty when the file stores no sets).
    pub fn set(&self, meta: &DocMeta, out: &mut Vec<u64>) -> Result<()> {
        out.clear();
        let Some(f) = &self.sets else { return Ok(()) };
        let mut buf = vec![0u8; meta.shingles as usize * 8];
        f.read_exact_at(&mut buf, meta.sets_off)
            .map_err(|e| Error::io(companion(&self.path, ".sets"), "read failed", e))?;
        out.extend(
            buf.chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))),
        );
        Ok(())
    }

    /// Calls `f(doc, lanes, meta)` for every record in order, reading sequentially.
    pub fn for_each(&self, mut f: impl FnMut(u32, &[u32], &DocMeta)) -> Result<()> {
        let len = self.record_len();
        let k = self.params.num_perm as usize;
        let records = &self.main.bytes()[HEADER_LEN as usize..];
        let mut lanes = Vec::with_capacity(k);
        for (doc, buf) in records.chunks_exact(len).enumerate() {
            let meta = decode(buf, k, &mut lanes);
            f(doc as u32, &lanes, &meta);
        }
        Ok(())
    }
}

/// `len` bytes at `offset` of `bytes`, if all there.
fn slice(bytes: &[u8], offset: u64, len: usize) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    bytes.get(start..start.checked_add(len)?)
}

/// The error for a record or id past the end of its file (a corrupt or foreign file).
fn past_end(path: &Path) -> Error {
    Error::io(
        path,
        "read failed",
        std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
    )
}

fn decode(buf: &[u8], k: usize, lanes: &mut Vec<u32>) -> DocMeta {
    lanes.clear();
    lanes.extend(
        buf[..k * 4]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))),
    );
    let m = &buf[k * 4..];
    let u32_at = |i: usize| u32::from_le_bytes(m[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(m[i..i + 8].try_into().expect("8 bytes"));
    DocMeta {
        shingles: u32_at(0),
        text_len: u32_at(4),
        exact_key: u64_at(8),
        id_off: u64_at(16),
        id_len: u32_at(24),
        bins: u32_at(28),
        sets_off: u64_at(32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sig");
        let params = SigParams {
            num_perm: 3,
            ngram: 5,
            seed: 9,
            sets: true,
            template: false,
            sketch: Sketch::Oph,
        };
        let mut w = SigWriter::create(&path, params).unwrap();
        let docs = [
            DocSig {
                id: "a".into(),
                lanes: vec![1, 2, 3],
                shingles: 2,
                text_len: 10,
                exact_key: 77,
                bins: 2,
                set: Some(vec![5, 6]),
            },
            DocSig {
                id: "bé".into(),
                lanes: vec![4, 5, 6],
                shingles: 1,
                text_len: 3,
                exact_key: 78,
                bins: 1,
                set: Some(vec![9]),
            },
        ];
        for d in &docs {
            w.push(d).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 2);
        let r = SigReader::open(&path).unwrap();
        assert_eq!(r.params(), params);
        let mut lanes = Vec::new();
        let m = r.record(1, &mut lanes).unwrap();
        assert_eq!(lanes, vec![4, 5, 6]);
        assert_eq!((m.shingles, m.text_len, m.exact_key, m.bins), (1, 3, 78, 1));
        assert_eq!(r.id(&m).unwrap(), "bé");
        let mut set = Vec::new();
        r.set(&m, &mut set).unwrap();
        assert_eq!(set, vec![9]);
        let mut seen = Vec::new();
        r.for_each(|i, l, m| seen.push((i, l.to_vec(), m.exact_key)))
            .unwrap();
        assert_eq!(seen, vec![(0, vec![1, 2, 3], 77), (1, vec![4, 5, 6], 78)]);

        // A MinHash file says so.
        let mh = dir.path().join("m.sig");
        let mh_params = SigParams {
            sketch: Sketch::Minhash,
            ..params
        };
        let mut w = SigWriter::create(&mh, mh_params).unwrap();
        w.push(&docs[0]).unwrap();
        w.finish().unwrap();
        assert_eq!(
            SigReader::open(&mh).unwrap().params().sketch,
            Sketch::Minhash
        );

        // Version-1 (MinHash lanes, no sketch flag), version-2 and version-3 (other word
        // hashes) files are refused by name.
        for version in [1u16, 2, 3] {
            let mut old = std::fs::read(&path).unwrap();
            old[8..10].copy_from_slice(&version.to_le_bytes());
            let v = dir.path().join(format!("v{version}.sig"));
            std::fs::write(&v, &old).unwrap();
            std::fs::copy(companion(&path, ".ids"), companion(&v, ".ids")).unwrap();
            let e = SigReader::open(&v).err().unwrap().to_string();
            assert!(
                e.contains(&format!("v{version}.sig"))
                    && e.contains(&format!("format version {version}"))
                    && e.contains("recompute"),
                "{e}"
            );
        }

        // Truncated file and wrong magic are refused with the file named.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let e = SigReader::open(&path).err().unwrap().to_string();
        assert!(e.contains("x.sig") && e.contains("does not match"), "{e}");
        std::fs::write(
            &path,
            b"NOTASIGFILE.....................................................",
        )
        .unwrap();
        assert!(SigReader::open(&path)
            .err()
            .unwrap()
            .to_string()
            .contains("bad magic"));
    }
}
