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
//!    That verification is sequential (which pairs are tried depends on the clusters so far),
//!    but its expensive part is done ahead in parallel (`verify_group`): reading the
//!    records of the next buckets and computing the exact sets of their probable borderline
//!    pairs for [`Verify::Recheck`]; that changes the time, never the result.
//!
//! Memory: about 24 bytes per document (exact keys, roots, cluster sizes, survivors, one band
//! column) plus fixed buffers (records read ahead: at most `GROUP_DOCS` + one bucket, ~4 MB;
//! the recheck set cache: 64 MB); signatures stay on disk and are read by offset for
//! candidate pairs only.

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
use std::sync::Arc;

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
    /// Pairs with a document that filled fewer bins than this are always rechecked.
    min_bins: u32,
    low: f64,
    high: f64,
    sets: &'a dyn SetSource,
    /// Sets computed so far (a document is often borderline with several others), and
    /// their total length; emptied when that passes [`RECHECK_CACHE`]. Shared, so that the
    /// parallel Jaccard step reads them without copying.
    cache: std::sync::Mutex<SetCache>,
}

/// Shingles kept in the recheck cache (8 bytes each: 64 MB). At 16 MB the clusters report
/// recomputed ~4,000 of c100's ~13,000 sets that the link stage had computed and dropped
/// (~8 % of the run's CPU); at 64 MB it finds them, and peak RSS grew by only ~6 MB there
/// (the cache holds what borderline pairs need, rarely the bound).
const RECHECK_CACHE: usize = 8 << 20;

/// Shingles (upper bound: the documents' shingle counts) of the sets computed ahead of one
/// stretch of sequential verification, at most: an eighth of the cache (8 MB), so that the
/// sets computed before them can stay for later bands and the clusters report, and a
/// stretch stays short enough to keep both threads busy.
const PREFETCH: usize = RECHECK_CACHE / 8;

type SetCache = (FxHashMap<u32, Arc<Vec<u64>>>, usize);

impl<'a> Rechecker<'a> {
    /// The window for `threshold` with `num_perm` lanes: the same for both sketches, since a
    /// one-permutation sketch that filled at least half its bins errs no more than MinHash
    /// (see [`crate::oph`]); a pair with a sparser sketch is always rechecked (such a
    /// document has fewer than ~K/2 shingles, so its set is cheap).
    pub fn new(threshold: f64, num_perm: usize, sets: &'a dyn SetSource) -> Self {
        let se = (threshold * (1.0 - threshold) / num_perm as f64).sqrt();
        Rechecker {
            min_bins: num_perm.div_ceil(2) as u32,
            low: threshold - RECHECK_SE * se,
            high: threshold + RECHECK_SE * se,
            sets,
            cache: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SetCache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The exact set of `doc`, shared with the cache (not copied: a pair's two sets were
    /// copied out of it for every borderline pair), from the cache or the source (computed
    /// without holding the lock, so that threads of the clusters report compute sets side
    /// by side).
    fn set(&self, doc: u32) -> Result<Arc<Vec<u64>>> {
        if let Some(set) = self.lock().0.get(&doc) {
            return Ok(Arc::clone(set));
        }
        let mut out = Vec::new();
        self.sets.set(doc, &mut out)?;
        let out = Arc::new(out);
        let mut cache = self.lock();
        if !cache.0.contains_key(&doc) {
            if cache.1 + out.len() > RECHECK_CACHE {
                cache.0.clear();
                cache.1 = 0;
            }
            cache.1 += out.len();
            cache.0.insert(doc, Arc::clone(&out));
        }
        Ok(out)
    }

    /// Computes the sets of `docs` that are not cached yet, in parallel, and caches them, so
    /// that the sequential verification after it only looks sets up. `bound` is at least the
    /// total length of those sets (their shingle counts); when they would not fit, the cache
    /// first drops every set but those of `docs`. A set that cannot be computed is left out:
    /// [`Rechecker::set`] reports the error when (and only when) the set is needed.
    fn prefetch(&self, docs: &[u32], bound: usize) {
        let missing: Vec<u32> = {
            let mut cache = self.lock();
            if cache.1 + bound > RECHECK_CACHE {
                let keep: FxHashSet<u32> = docs.iter().copied().collect();
                cache.0.retain(|d, _| keep.contains(d));
                cache.1 = cache.0.values().map(|s| s.len()).sum();
            }
            docs.iter()
                .copied()
                .filter(|d| !cache.0.contains_key(d))
                .collect()
        };
        if missing.is_empty() {
            return;
        }
        let sets: Vec<(u32, Vec<u64>)> = missing
            .par_iter()
            .filter_map(|&d| {
                let mut set = Vec::new();
                self.sets.set(d, &mut set).ok().map(|()| (d, set))
            })
            .collect();
        let mut cache = self.lock();
        let (map, len) = &mut *cache;
        for (d, set) in sets {
            if let std::collections::hash_map::Entry::Vacant(e) = map.entry(d) {
                *len += set.len();
                e.insert(Arc::new(set));
            }
        }
    }

    /// The cached set of `doc`, if any.
    fn cached(&self, doc: u32) -> Option<Arc<Vec<u64>>> {
        self.lock().0.get(&doc).cloned()
    }

    /// True when the pair gets an exact check: its estimate is within [`RECHECK_SE`]
    /// standard errors of the threshold, or one of its sketches is too sparse to trust.
    fn borderline(&self, estimate: f64, a: &DocMeta, b: &DocMeta) -> bool {
        (estimate >= self.low && estimate < self.high) || a.bins.min(b.bins) < self.min_bins
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
    /// The shingle set: always for exact verification, once needed for a recheck (shared
    /// with the recheck cache).
    pub set: Arc<Vec<u64>>,
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
            let mut set = Vec::new();
            sig.set(&l.meta, &mut set)?;
            l.set = Arc::new(set);
            l.has_set = true;
        }
        Ok(l)
    }

    fn ensure_set(&mut self, r: &Rechecker) -> Result<()> {
        if !self.has_set {
            self.set = r.set(self.doc)?;
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
                Some(r) if r.borderline(est, &a.meta, &b.meta) => {
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
/// containment exactly only when both sets were loaded for the Jaccard. `exact` is the
/// pair's exact Jaccard when it was computed ahead ([`verify_group`]) for a borderline
/// pair of [`Verify::Recheck`]: the value [`similarity`] would compute from the same sets.
fn passes(
    p: &LinkParams,
    recheck: Option<&Rechecker>,
    a: &mut Loaded,
    b: &mut Loaded,
    exact: Option<f64>,
) -> Result<bool> {
    let sim = match (exact, recheck) {
        (Some(j), Some(r)) if p.verify == Verify::Recheck => {
            if p.containment.is_some() {
                // Loaded as `similarity` loads them: a later pair of this bucket measures
                // containment exactly when both its sets are loaded.
                a.ensure_set(r)?;
                b.ensure_set(r)?;
            }
            j
        }
        _ => similarity(p.verify, recheck, a, b)?,
    };
    if sim >= p.threshold {
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
    // On one thread reading ahead only adds work (~15 % of the stage on c100).
    link_impl(sig, p, tmp, recheck, rayon::current_num_threads() > 1)
}

/// [`link_with`]; `ahead` = records and probable recheck sets of a group of buckets are
/// prepared in parallel before the group is verified ([`verify_group`]), else each bucket is
/// verified with nothing read ahead (the plain sequential loop, which tests compare with).
fn link_impl(
    sig: &SigReader,
    p: &LinkParams,
    tmp: &Path,
    recheck: Option<&Rechecker>,
    ahead: bool,
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
        if !ahead {
            for run in band.chunk_by(|a, b| a >> 32 == b >> 32) {
                if run.len() > 1 {
                    let docs: Vec<u32> = run.iter().map(|&v| v as u32).collect();
                    let mut state = LinkState {
                        uf: &mut uf,
                        failed: &mut failed,
                        stats: &mut stats,
                    };
                    let mut loaded = vec![None; docs.len()];
                    verify_bucket(sig, p, rechecker, &docs, &mut loaded, &[], &mut state)?;
                }
            }
            continue;
        }
        let mut buckets = band
            .chunk_by(|a, b| a >> 32 == b >> 32)
            .filter(|run| run.len() > 1)
            .peekable();
        let mut group = Vec::new();
        while buckets.peek().is_some() {
            group.clear();
            let mut docs = 0;
            while docs < GROUP_DOCS {
                let Some(run) = buckets.next() else { break };
                docs += run.len();
                group.push(run);
            }
            let mut state = LinkState {
                uf: &mut uf,
                failed: &mut failed,
                stats: &mut stats,
            };
            verify_group(sig, p, rechecker, &group, &mut state)?;
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

/// Documents of multi-member buckets whose records are read ahead, in parallel, per stretch
/// of sequential verification (at most, plus one bucket): ~0.5 KB each at 128 lanes.
const GROUP_DOCS: usize = 8192;

/// What the sequential verification changes.
struct LinkState<'s> {
    uf: &'s mut UnionFind,
    /// Pairs that failed, as `doc << 32 | later doc`.
    failed: &'s mut FxHashSet<u64>,
    stats: &'s mut LinkStats,
}

/// A bucket read ahead of its verification.
struct Prepared {
    docs: Vec<u32>,
    /// Records read ahead (`None` where reading failed: read again, and the error reported,
    /// only if the verification needs the record).
    loaded: Vec<Option<Loaded>>,
    /// Documents the verification will probably recheck, with their shingle counts.
    need: Vec<(u32, usize)>,
    /// The probable borderline pairs as (later, earlier) member indices, in the order the
    /// verification meets them (so sorted), with their exact Jaccard once computed.
    pairs: Vec<((u32, u32), Option<f64>)>,
}

/// Verifies the buckets of `group` in order, as [`verify_bucket`] one after the other would,
/// with the expensive part done in parallel first: reading the members' records and, for
/// [`Verify::Recheck`], computing the exact sets of the documents in borderline pairs.
/// Which pairs get verified depends on the clusters the earlier pairs made, so the
/// verification itself stays sequential and the work ahead is a prediction (from the clusters
/// at the start of the group and the `max_tries` limit); a set it missed is computed when
/// needed, one it computed for nothing only costs time. The results are those of the plain
/// sequential loop.
fn verify_group(
    sig: &SigReader,
    p: &LinkParams,
    recheck: Option<&Rechecker>,
    group: &[&[u64]],
    st: &mut LinkState,
) -> Result<()> {
    // Buckets with members in two or more clusters now (the others stay so).
    let live: Vec<(&[u64], Vec<u32>)> = group
        .iter()
        .filter_map(|&run| {
            let roots: Vec<u32> = run.iter().map(|&v| st.uf.find(v as u32)).collect();
            roots[1..]
                .iter()
                .any(|&r| r != roots[0])
                .then_some((run, roots))
        })
        .collect();
    let failed: &FxHashSet<u64> = st.failed;
    let mut prepared: Vec<Prepared> = live
        .par_iter()
        .map(|(run, roots)| prepare(sig, p, recheck, run, roots, failed))
        .collect();
    // Stretches of buckets whose probable sets fit in PREFETCH (a bucket needing more gets
    // the first PREFETCH worth): sets computed in parallel, then the buckets verified.
    let mut start = 0;
    while start < prepared.len() {
        let (mut end, mut need, mut bound) = (start, Vec::new(), 0);
        while end < prepared.len() {
            let more: usize = prepared[end].need.iter().map(|&(_, n)| n).sum();
            if end > start && bound + more > PREFETCH {
                break;
            }
            for &(doc, n) in &prepared[end].need {
                if bound + n > PREFETCH && !need.is_empty() {
                    break;
                }
                bound += n;
                need.push(doc);
            }
            end += 1;
        }
        if let Some(r) = recheck {
            r.prefetch(&need, bound);
            // The exact Jaccard of the probable borderline pairs, in parallel too: the merge
            // of two sorted sets was most of what the sequential loop below spent.
            prepared[start..end].par_iter_mut().for_each(|b| {
                for ((i, j), exact) in &mut b.pairs {
                    let (x, y) = (b.docs[*j as usize], b.docs[*i as usize]);
                    if let (Some(x), Some(y)) = (r.cached(x), r.cached(y)) {
                        *exact = Some(jaccard(&x, &y));
                    }
                }
            });
        }
        for b in &mut prepared[start..end] {
            verify_bucket(sig, p, recheck, &b.docs, &mut b.loaded, &b.pairs, st)?;
        }
        start = end;
    }
    Ok(())
}

/// Reads the records of a bucket's members and predicts which documents the verification
/// will recheck: those in borderline pairs of different clusters (`roots` now) not known to
/// fail, with `max_tries` counted as [`verify_bucket`] counts it.
fn prepare(
    sig: &SigReader,
    p: &LinkParams,
    recheck: Option<&Rechecker>,
    run: &[u64],
    roots: &[u32],
    failed: &FxHashSet<u64>,
) -> Prepared {
    let docs: Vec<u32> = run.iter().map(|&v| v as u32).collect();
    // Lanes and sizes only: stored sets (`exact`) are read when verified.
    let loaded: Vec<Option<Loaded>> = docs
        .iter()
        .map(|&d| Loaded::read(sig, d, Verify::Estimate).ok())
        .collect();
    let mut need = Vec::new();
    let mut pairs = Vec::new();
    if let Some(r) = recheck {
        let mut needed = vec![false; docs.len()];
        for i in 1..docs.len() {
            let mut tries = 0;
            for j in 0..i {
                if roots[j] == roots[i] {
                    continue;
                }
                if tries == p.max_tries {
                    break;
                }
                tries += 1;
                if failed.contains(&((docs[j] as u64) << 32 | docs[i] as u64)) {
                    continue;
                }
                if let (Some(a), Some(b)) = (&loaded[j], &loaded[i]) {
                    if r.borderline(estimate_jaccard(&a.lanes, &b.lanes), &a.meta, &b.meta) {
                        needed[i] = true;
                        needed[j] = true;
                        pairs.push(((i as u32, j as u32), None));
                    }
                }
            }
        }
        for (k, l) in loaded.iter().enumerate() {
            if let (true, Some(l)) = (needed[k], l) {
                need.push((docs[k], l.meta.shingles as usize));
            }
        }
    }
    Prepared {
        docs,
        loaded,
        need,
        pairs,
    }
}

/// Compares each member of a bucket with the earlier members outside its cluster; `loaded`
/// holds the members' records read so far, `exact` the exact Jaccard of pairs computed
/// ahead (as `((later, earlier), Jaccard)` member indices, sorted).
fn verify_bucket(
    sig: &SigReader,
    p: &LinkParams,
    recheck: Option<&Rechecker>,
    docs: &[u32],
    loaded: &mut [Option<Loaded>],
    exact: &[((u32, u32), Option<f64>)],
    st: &mut LinkState,
) -> Result<()> {
    let LinkState { uf, failed, stats } = st;
    let first = uf.find(docs[0]);
    if docs[1..].iter().all(|&d| uf.find(d) == first) {
        return Ok(());
    }
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
                match &mut loaded[k] {
                    None => loaded[k] = Some(Loaded::read(sig, docs[k], p.verify)?),
                    Some(l) if p.verify == Verify::Exact && !l.has_set => {
                        let mut set = Vec::new();
                        sig.set(&l.meta, &mut set)?;
                        l.set = Arc::new(set);
                        l.has_set = true;
                    }
                    Some(_) => {}
                }
            }
            stats.verified += 1;
            let (head, tail) = loaded.split_at_mut(i);
            let (a, b) = (head[j].as_mut(), tail[0].as_mut());
            let (a, b) = (a.expect("loaded"), b.expect("loaded"));
            let borderline = recheck.is_some_and(|r| {
                r.borderline(estimate_jaccard(&a.lanes, &b.lanes), &a.meta, &b.meta)
            });
            let mut ahead = None;
            if borderline {
                stats.rechecked += 1;
                ahead = exact
                    .binary_search_by_key(&(i as u32, j as u32), |e| e.0)
                    .ok()
                    .and_then(|k| exact[k].1);
            }
            if passes(p, recheck, a, b, ahead)? {
                uf.union(docs[j], docs[i]);
                stats.edges += 1;
            } else {
                failed.insert(pair);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dedup::sigfile::{DocSig, SigParams, SigWriter};
    use crate::minhash::MinHasher;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub(crate) fn write_sig(path: &Path, num_perm: u32, docs: &[DocSig]) -> SigReader {
        let params = SigParams {
            num_perm,
            ngram: 5,
            seed: 1,
            sets: docs.iter().all(|d| d.set.is_some()),
            template: false,
            sketch: crate::dedup::Sketch::Minhash,
        };
        let mut w = SigWriter::create(path, params).unwrap();
        for d in docs {
            w.push(d).unwrap();
        }
        w.finish().unwrap();
        SigReader::open(path).unwrap()
    }

    /// Families of documents with a share of their base's elements replaced (Jaccard to the
    /// base ~0.94 down to ~0.67, so many pairs are borderline at 0.8), a few exact copies.
    pub(crate) fn families(n: usize) -> Vec<DocSig> {
        let mut next = crate::test_rng::xorshift(0x9E37_79B9_7F4A_7C15u64);
        let hasher = MinHasher::new(128, 1);
        let mut docs: Vec<DocSig> = Vec::with_capacity(n);
        let mut base: Vec<u64> = Vec::new();
        let mut left = 0;
        while docs.len() < n {
            if left == 0 {
                base = (0..150).map(|_| next()).collect();
                left = 2 + next() % 11;
            }
            left -= 1;
            let mut set = base.clone();
            if docs.len() % 50 == 49 {
                docs.push(docs.last().unwrap().clone());
                continue;
            }
            let replaced = 0.03 + (next() % 1000) as f64 / 1000.0 * 0.17;
            for v in set.iter_mut() {
                if ((next() % 1000) as f64) < replaced * 1000.0 {
                    *v = next();
                }
            }
            set.sort_unstable();
            set.dedup();
            let mut lanes = vec![0; 128];
            hasher.sign_into(&set, &mut lanes);
            docs.push(DocSig {
                id: format!("d{}", docs.len()),
                lanes,
                shingles: set.len() as u32,
                text_len: set.len() as u32,
                exact_key: docs.len() as u64,
                bins: 128,
                set: Some(set),
            });
        }
        docs
    }

    #[test]
    fn reading_ahead_gives_the_result_of_the_sequential_loop() {
        // More documents in multi-member buckets than GROUP_DOCS, and more borderline
        // shingles than PREFETCH, so groups and stretches are cut; max_tries 4 binds in the
        // larger families.
        let dir = tempfile::tempdir().unwrap();
        let docs = families(12_000);
        assert!(docs.len() > GROUP_DOCS && docs.len() * 140 > PREFETCH);
        let sig = write_sig(&dir.path().join("f.sig"), 128, &docs);
        for containment in [None, Some(0.8)] {
            let p = LinkParams {
                max_tries: 4,
                containment,
                ..LinkParams::default()
            };
            let ahead = link_impl(&sig, &p, dir.path(), None, true).unwrap();
            let plain = link_impl(&sig, &p, dir.path(), None, false).unwrap();
            assert_eq!(ahead.stats, plain.stats);
            assert_eq!(ahead.root, plain.root);
            assert_eq!(ahead.survivor, plain.survivor);
            let s = ahead.stats;
            assert!(
                s.rechecked > 1000 && s.near_removed > 1000 && s.exact_removed > 50,
                "{s:?}"
            );
            assert!(s.verified > s.edges, "{s:?}");
        }
    }

    /// A set source that has no set for any document.
    struct NoSets(AtomicUsize);

    impl SetSource for NoSets {
        fn set(&self, doc: u32, _: &mut Vec<u64>) -> Result<()> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Err(Error::Usage(format!("no set for document {doc}")))
        }
    }

    /// Lanes 0, 7, 14, ... with `lanes` (beyond the 108 that 18 bands x 6 rows use) changed.
    fn hand_doc(i: u64, changed: std::ops::Range<usize>) -> DocSig {
        let mut lanes: Vec<u32> = (0..128).map(|k| k * 7).collect();
        for l in changed {
            lanes[l] += 1000 * i as u32;
        }
        DocSig {
            id: format!("h{i}"),
            lanes,
            shingles: 100,
            text_len: 100,
            exact_key: i,
            bins: 128,
            set: None,
        }
    }

    #[test]
    fn a_set_read_ahead_but_never_needed_is_no_error() {
        // 0-1 and 0-2 estimate 120/128, clearly above the window (0.69-0.91); 1-2 estimates
        // 112/128, borderline. Read ahead, 1-2 is predicted to need a recheck, but 1 and 2
        // join through 0 first, so the sequential loop never asks for their sets.
        let dir = tempfile::tempdir().unwrap();
        let docs = [
            hand_doc(0, 0..0),
            hand_doc(1, 110..118),
            hand_doc(2, 118..126),
        ];
        let sig = write_sig(&dir.path().join("h.sig"), 128, &docs);
        let p = LinkParams {
            bands_rows: Some(LshParams { bands: 18, rows: 6 }),
            ..LinkParams::default()
        };
        let none = NoSets(AtomicUsize::new(0));
        let r = Rechecker::new(p.threshold, 128, &none);
        let c = link_with(&sig, &p, dir.path(), Some(&r)).unwrap();
        assert!(
            none.0.load(Ordering::Relaxed) > 0,
            "the sets were asked for ahead"
        );
        assert_eq!((c.stats.edges, c.stats.rechecked), (2, 0));
        assert_eq!((0..3).map(|d| c.survivor(d)).collect::<Vec<_>>(), [0, 0, 0]);

        // A pair that does need its sets reports the source's error.
        let sig = write_sig(&dir.path().join("h2.sig"), 128, &docs[1..]);
        let e = link_with(&sig, &p, dir.path(), Some(&r)).unwrap_err();
        assert!(e.to_string().contains("no set for document"), "{e}");
    }
}
