//! The clustering stage: a signature file in, one survivor per document out.
//!
//! 1. One sequential read of the signature file writes each LSH band's 32-bit band hashes to
//!    its own temporary column file (4 bytes per document per band) and keeps the exact keys.
//! 2. Exact duplicates: document indices sorted by exact key; equal runs are joined, and only
//!    their first document takes part in banding.
//! 3. One band at a time: the column becomes a sorted `Vec<u64>` of `band_hash << 32 | doc`
//!    (8 bytes per document, `par_sort_unstable`); every run of equal hashes is a bucket.
//!    Inside a bucket each document is compared with the earlier ones that are not yet in its
//!    cluster, and a pair joins only when it passes the threshold ([`Verify`]). So a false
//!    candidate never becomes an edge, and the clusters are the connected components of the
//!    verified candidate graph (single linkage: A~B and B~C put A and C in one cluster even
//!    when A and C are far apart; `--clusters` reports each document's similarity to the
//!    survivor, which shows such chains). Union-find keeps the smallest index as root, and
//!    buckets are visited in sorted order, so the result does not depend on the thread count.
//!
//! Memory: about 24 bytes per document (exact keys, roots, cluster sizes, survivors, one band
//! column) plus fixed buffers; signatures stay on disk and are read by offset for candidate
//! pairs only.

use super::sigfile::{DocMeta, SigReader};
use crate::cluster::UnionFind;
use crate::error::{Error, Result};
use crate::lsh::LshParams;
use crate::minhash::{estimate_containment, estimate_jaccard};
use crate::shingle::{containment, jaccard};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// How a candidate pair is checked against the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Verify {
    /// Estimated Jaccard, and for a pair whose estimate is within 3 standard errors of the
    /// threshold the true Jaccard, recomputed from the two documents' text (re-read at their
    /// byte offsets; inputs that cannot be re-read store shingle sets as with `exact`).
    #[default]
    Recheck,
    /// Fraction of equal MinHash lanes only (standard error sqrt(J(1-J)/K)).
    Estimate,
    /// True Jaccard of the stored shingle sets (needs the sets in the signature file).
    Exact,
}

/// Standard errors on either side of the threshold inside which [`Verify::Recheck`]
/// computes the exact Jaccard. At 3, a pair with true Jaccard at the threshold is
/// misjudged by its estimate with probability ~0.13 % on each side.
pub const RECHECK_SE: f64 = 3.0;

/// Exact shingle sets of documents by index, for [`Verify::Recheck`]: the sets stored in the
/// signature file, or recomputed from the input text.
pub trait SetSource: Sync {
    /// The sorted, de-duplicated shingle set of `doc` into `out`.
    fn set(&self, doc: u32, out: &mut Vec<u64>) -> Result<()>;
}

/// The sets stored in a signature file.
pub struct StoredSets<'a>(pub &'a SigReader);

impl SetSource for StoredSets<'_> {
    fn set(&self, doc: u32, out: &mut Vec<u64>) -> Result<()> {
        let mut lanes = Vec::new();
        let meta = self.0.record(doc, &mut lanes)?;
        self.0.set(&meta, out)
    }
}

/// How [`Verify::Recheck`] decides: the window of estimates that get an exact check, and
/// where the sets come from.
pub struct Rechecker<'a> {
    low: f64,
    high: f64,
    sets: &'a dyn SetSource,
    /// Sets computed so far (a document is often borderline with several others), and
    /// their total length; emptied when that passes [`RECHECK_CACHE`].
    cache: std::sync::Mutex<(FxHashMap<u32, Vec<u64>>, usize)>,
}

/// Shingles kept in the recheck cache (8 bytes each).
const RECHECK_CACHE: usize = 2 << 20;

impl<'a> Rechecker<'a> {
    /// The window for `threshold` with `num_perm` lanes.
    pub fn new(threshold: f64, num_perm: usize, sets: &'a dyn SetSource) -> Self {
        let se = (threshold * (1.0 - threshold) / num_perm as f64).sqrt();
        Rechecker {
            low: threshold - RECHECK_SE * se,
            high: threshold + RECHECK_SE * se,
            sets,
            cache: Default::default(),
        }
    }

    /// The exact set of `doc` into `out`, from the cache or the source.
    fn set(&self, doc: u32, out: &mut Vec<u64>) -> Result<()> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = cache.0.get(&doc) {
            out.clear();
            out.extend_from_slice(set);
            return Ok(());
        }
        self.sets.set(doc, out)?;
        if cache.1 + out.len() > RECHECK_CACHE {
            cache.0.clear();
            cache.1 = 0;
        }
        cache.1 += out.len();
        cache.0.insert(doc, out.clone());
        Ok(())
    }

    fn borderline(&self, estimate: f64) -> bool {
        estimate >= self.low && estimate < self.high
    }
}

/// Which document of a cluster is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Keep {
    /// The first in input order.
    #[default]
    First,
    /// The longest text (bytes); ties go to the first.
    Longest,
}

/// Clustering parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkParams {
    /// Jaccard similarity at or above which two documents are near-duplicates.
    pub threshold: f64,
    /// Also join a document to a longer one containing at least this fraction of its shingles.
    pub containment: Option<f64>,
    pub verify: Verify,
    pub keep: Keep,
    /// Probability that a pair exactly at the candidate threshold shares a band.
    pub lsh_recall: f64,
    /// Failed verifications allowed per document in one bucket; bounds the work in huge
    /// buckets of similar-looking but different documents.
    pub max_tries: usize,
    /// Bands x rows set by the user (to match another tool's setup); `None` = chosen from the
    /// threshold by [`LshParams::with_recall`].
    pub bands_rows: Option<LshParams>,
}

impl Default for LinkParams {
    fn default() -> Self {
        LinkParams {
            threshold: 0.8,
            containment: None,
            verify: Verify::Recheck,
            keep: Keep::First,
            lsh_recall: crate::lsh::DEFAULT_RECALL,
            max_tries: 64,
            bands_rows: None,
        }
    }
}

impl LinkParams {
    /// The Jaccard similarity LSH must find: the threshold, or lower with containment, where
    /// a document holding a fraction C of its shingles inside one twice its size has Jaccard
    /// C / (3 - C). Smaller excerpts of much longer documents are not searched for.
    pub fn candidate_threshold(&self) -> f64 {
        match self.containment {
            Some(c) => self.threshold.min(c / (3.0 - c)),
            None => self.threshold,
        }
    }

    /// Bands x rows for `num_perm` lanes.
    pub fn lsh(&self, num_perm: usize) -> LshParams {
        self.bands_rows.unwrap_or_else(|| {
            LshParams::with_recall(self.candidate_threshold(), num_perm, self.lsh_recall)
        })
    }
}

/// Counts from the clustering stage; `exact_removed + near_removed + kept == documents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    pub documents: u64,
    pub kept: u64,
    /// Removed documents whose text equals their survivor's (case and white space aside).
    pub exact_removed: u64,
    pub near_removed: u64,
    /// Clusters of two or more documents.
    pub clusters: u64,
    pub largest: u64,
    /// Candidate pairs verified, and those that passed.
    pub verified: u64,
    /// Verified pairs whose estimate was borderline, decided by exact Jaccard
    /// ([`Verify::Recheck`]).
    pub rechecked: u64,
    pub edges: u64,
    pub lsh: Option<LshParams>,
}

/// Every document's cluster and survivor.
#[derive(Debug, Clone)]
pub struct Clustering {
    root: Vec<u32>,
    /// Indexed by root.
    size: Vec<u32>,
    /// Indexed by root.
    survivor: Vec<u32>,
    pub stats: LinkStats,
}

impl Clustering {
    /// The document kept for `doc`'s cluster.
    pub fn survivor(&self, doc: u32) -> u32 {
        self.survivor[self.root[doc as usize] as usize]
    }

    /// Size of `doc`'s cluster (1 for a unique document).
    pub fn cluster_size(&self, doc: u32) -> u32 {
        self.size[self.root[doc as usize] as usize]
    }

    pub fn is_kept(&self, doc: u32) -> bool {
        self.survivor(doc) == doc
    }

    pub fn len(&self) -> usize {
        self.root.len()
    }

    pub fn is_empty(&self) -> bool {
        self.root.is_empty()
    }
}

/// A document loaded for verification.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub doc: u32,
    pub lanes: Vec<u32>,
    pub meta: DocMeta,
    /// The shingle set: always for exact verification, once needed for a recheck.
    pub set: Vec<u64>,
    pub has_set: bool,
}

impl Loaded {
    /// Reads document `doc` (its set only for exact verification).
    pub fn read(sig: &SigReader, doc: u32, verify: Verify) -> Result<Loaded> {
        let mut l = Loaded {
            doc,
            ..Loaded::default()
        };
        l.meta = sig.record(doc, &mut l.lanes)?;
        if verify == Verify::Exact {
            sig.set(&l.meta, &mut l.set)?;
            l.has_set = true;
        }
        Ok(l)
    }

    fn ensure_set(&mut self, r: &Rechecker) -> Result<()> {
        if !self.has_set {
            r.set(self.doc, &mut self.set)?;
            self.has_set = true;
        }
        Ok(())
    }
}

/// Jaccard similarity of two loaded documents as `verify` measures it: estimated, exact, or
/// (recheck) estimated unless the estimate is borderline, then exact (loading the sets).
pub fn similarity(
    verify: Verify,
    recheck: Option<&Rechecker>,
    a: &mut Loaded,
    b: &mut Loaded,
) -> Result<f64> {
    Ok(match verify {
        Verify::Estimate => estimate_jaccard(&a.lanes, &b.lanes),
        Verify::Exact => jaccard(&a.set, &b.set),
        Verify::Recheck => {
            let est = estimate_jaccard(&a.lanes, &b.lanes);
            match recheck {
                Some(r) if r.borderline(est) => {
                    a.ensure_set(r)?;
                    b.ensure_set(r)?;
                    jaccard(&a.set, &b.set)
                }
                _ => est,
            }
        }
    })
}

/// True when the pair passes: Jaccard at the threshold, or the smaller inside the larger.
/// Estimated containment uses the stored shingle counts as set sizes (n-grams with repeats
/// unless sets are stored), which can only understate containment; a recheck measures
/// containment exactly only when both sets were loaded for the Jaccard.
fn passes(
    p: &LinkParams,
    recheck: Option<&Rechecker>,
    a: &mut Loaded,
    b: &mut Loaded,
) -> Result<bool> {
    if similarity(p.verify, recheck, a, b)? >= p.threshold {
        return Ok(true);
    }
    let Some(c) = p.containment else {
        return Ok(false);
    };
    let (small, large) = if a.meta.shingles <= b.meta.shingles {
        (a, b)
    } else {
        (b, a)
    };
    let inside = if small.has_set && large.has_set {
        containment(&small.set, &large.set)
    } else {
        estimate_containment(
            &small.lanes,
            small.meta.shingles as usize,
            &large.lanes,
            large.meta.shingles as usize,
        )
    };
    Ok(inside >= c)
}

struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
}

/// Stage 2: clusters the documents of `sig`; temporary band columns go to `tmp`.
/// [`Verify::Recheck`] takes its exact sets from the signature file, which must store them;
/// [`link_with`] can take them from elsewhere.
pub fn link(sig: &SigReader, p: &LinkParams, tmp: &Path) -> Result<Clustering> {
    link_with(sig, p, tmp, None)
}

/// [`link`] with the [`Rechecker`] for [`Verify::Recheck`] given (its exact sets from
/// anywhere, its cache shared with the caller); `None` = the signature file's stored sets.
pub fn link_with(
    sig: &SigReader,
    p: &LinkParams,
    tmp: &Path,
    recheck: Option<&Rechecker>,
) -> Result<Clustering> {
    let stored = StoredSets(sig);
    let needs_sets = match p.verify {
        Verify::Exact => true,
        Verify::Recheck => recheck.is_none(),
        Verify::Estimate => false,
    };
    if needs_sets && !sig.params().sets {
        return Err(Error::Usage(format!(
            "{} verification needs shingle sets in the signature file",
            if p.verify == Verify::Exact {
                "exact"
            } else {
                "recheck"
            }
        )));
    }
    let own = (p.verify == Verify::Recheck && recheck.is_none())
        .then(|| Rechecker::new(p.threshold, sig.params().num_perm as usize, &stored));
    let rechecker = match p.verify {
        Verify::Recheck => recheck.or(own.as_ref()),
        _ => None,
    };
    let n = usize::try_from(sig.len())
        .ok()
        .filter(|&n| n < u32::MAX as usize)
        .ok_or_else(|| Error::Usage("more than 4 billion documents in one run".into()))?;
    let lsh = p.lsh(sig.params().num_perm as usize);
    let tmp_err = |e| Error::io(tmp, "cannot write temporary band file", e);

    // 1. Band columns and exact keys in one sequential read.
    let mut cols = (0..lsh.bands)
        .map(|_| tempfile::tempfile_in(tmp).map(|f| BufWriter::with_capacity(64 << 10, f)))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(tmp_err)?;
    let mut keys = Vec::with_capacity(n);
    let mut text_len = Vec::new();
    let mut skip = Bits::new(n);
    let mut write_err = None;
    sig.for_each(|doc, lanes, meta| {
        keys.push(meta.exact_key);
        if p.keep == Keep::Longest {
            text_len.push(meta.text_len);
        }
        if meta.shingles == 0 {
            skip.set(doc as usize);
        }
        for (b, col) in cols.iter_mut().enumerate() {
            let h = lsh.band_hash(lanes, b) as u32;
            if let Err(e) = col.write_all(&h.to_le_bytes()) {
                write_err.get_or_insert(e);
            }
        }
    })?;
    if let Some(e) = write_err {
        return Err(tmp_err(e));
    }
    let mut uf = UnionFind::new(n);
    let mut stats = LinkStats {
        documents: n as u64,
        lsh: Some(lsh),
        ..LinkStats::default()
    };

    // 2. Exact duplicates.
    {
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.par_sort_unstable_by_key(|&d| (keys[d as usize], d));
        for run in order.chunk_by(|a, b| keys[*a as usize] == keys[*b as usize]) {
            for &d in &run[1..] {
                uf.union(run[0], d);
                skip.set(d as usize);
            }
        }
    }

    // 3. Bands, one at a time; pairs that failed verification (as `doc << 32 | later doc`).
    let mut failed = FxHashSet::default();
    let mut band: Vec<u64> = Vec::with_capacity(n);
    for col in cols {
        let mut file = col.into_inner().map_err(|e| tmp_err(e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(tmp_err)?;
        let mut reader = BufReader::with_capacity(64 << 10, file);
        band.clear();
        let mut buf = [0u8; 4];
        for doc in 0..n {
            reader.read_exact(&mut buf).map_err(tmp_err)?;
            if !skip.get(doc) {
                band.push((u32::from_le_bytes(buf) as u64) << 32 | doc as u64);
            }
        }
        band.par_sort_unstable();
        for run in band.chunk_by(|a, b| a >> 32 == b >> 32) {
            if run.len() > 1 {
                verify_bucket(sig, p, rechecker, run, &mut uf, &mut failed, &mut stats)?;
            }
        }
    }
    drop(band);

    // 4. Roots, sizes, survivors.
    let root: Vec<u32> = (0..n as u32).map(|d| uf.find(d)).collect();
    drop(uf);
    let mut size = vec![0u32; n];
    for &r in &root {
        size[r as usize] += 1;
    }
    let mut survivor: Vec<u32> = (0..n as u32).collect();
    if p.keep == Keep::Longest {
        for (d, &r) in root.iter().enumerate() {
            let best = survivor[r as usize] as usize;
            if text_len[d] > text_len[best] {
                survivor[r as usize] = d as u32;
            }
        }
    }
    for d in 0..n {
        let r = root[d] as usize;
        let s = survivor[r] as usize;
        if s == d {
            stats.kept += 1;
        } else if keys[d] == keys[s] {
            stats.exact_removed += 1;
        } else {
            stats.near_removed += 1;
        }
        if r == d && size[r] > 1 {
            stats.clusters += 1;
            stats.largest = stats.largest.max(size[r] as u64);
        }
    }
    Ok(Clustering {
        root,
        size,
        survivor,
        stats,
    })
}

/// Compares each member of a bucket with the earlier members outside its cluster.
fn verify_bucket(
    sig: &SigReader,
    p: &LinkParams,
    recheck: Option<&Rechecker>,
    run: &[u64],
    uf: &mut UnionFind,
    failed: &mut FxHashSet<u64>,
    stats: &mut LinkStats,
) -> Result<()> {
    let docs: Vec<u32> = run.iter().map(|&v| v as u32).collect();
    let first = uf.find(docs[0]);
    if docs[1..].iter().all(|&d| uf.find(d) == first) {
        return Ok(());
    }
    let mut loaded: Vec<Option<Loaded>> = vec![None; docs.len()];
    for i in 1..docs.len() {
        let mut tries = 0;
        for j in 0..i {
            if uf.find(docs[j]) == uf.find(docs[i]) {
                continue;
            }
            if tries == p.max_tries {
                break;
            }
            tries += 1;
            // A pair that failed in an earlier band fails again: similar documents share
            // many bands, and a borderline recheck is worth not repeating.
            let pair = (docs[j] as u64) << 32 | docs[i] as u64;
            if failed.contains(&pair) {
                continue;
            }
            for k in [i, j] {
                if loaded[k].is_none() {
                    loaded[k] = Some(Loaded::read(sig, docs[k], p.verify)?);
                }
            }
            stats.verified += 1;
            let (head, tail) = loaded.split_at_mut(i);
            let (a, b) = (head[j].as_mut(), tail[0].as_mut());
            let (a, b) = (a.expect("loaded"), b.expect("loaded"));
            if recheck.is_some_and(|r| r.borderline(estimate_jaccard(&a.lanes, &b.lanes))) {
                stats.rechecked += 1;
            }
            if passes(p, recheck, a, b)? {
                uf.union(docs[j], docs[i]);
                stats.edges += 1;
            } else {
                failed.insert(pair);
            }
        }
    }
    Ok(())
}
