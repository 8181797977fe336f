//! Matching the blocks of a document against the active entries of a database.
//!
//! A block matches an entry of its document's group when (in this order) its exact key is an
//! active entry, or — for long blocks — its MinHash reaches the near threshold against an
//! active entry's, or at least `containment` of its shingles are estimated to lie inside a
//! longer active entry (a truncated copy of site boilerplate).
//!
//! Active entries are few per group (the boilerplate of a site), so near/contained candidates
//! are found by scanning the group's long active entries when there are at most
//! [`SCAN_MAX`] of them; beyond that an LSH index at the near threshold supplies candidates
//! (containment is then only found among those).

use super::{Entry, Policy, SignatureDb};
use crate::blocks::Block;
// Keys are already xxh3 hashes: FxHash (rustc-hash) instead of SipHash, ~4 % of learn/clean.
use crate::minhash::{estimate_containment, estimate_jaccard, MinHasher};
use rustc_hash::FxHashMap as KeyMap;
use std::cell::RefCell;
use std::collections::HashMap;

/// Long active entries of one group scanned exhaustively up to this count.
pub const SCAN_MAX: usize = 512;

/// How a block matched an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    Exact,
    Near,
    Contained,
}

impl MatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Near => "near",
            MatchKind::Contained => "contained",
        }
    }
}

/// A block found in the database.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbMatch {
    /// Index into [`SignatureDb::entries`].
    pub entry: u32,
    pub kind: MatchKind,
    /// 1.0 for exact, else the estimated Jaccard or containment.
    pub score: f64,
}

#[derive(Debug, Default)]
struct GroupIndex {
    /// Long active entries.
    long: Vec<u32>,
    /// Band hashes of `long`; only filled when `long` exceeds [`SCAN_MAX`].
    bands: BandIndex,
}

/// (band hash, entry) pairs sorted by hash, with a directory on the hash's top bits.
///
/// A plain binary search over the sorted pairs was 80 % of `match_block` on the man pages
/// (one cache miss per step, ~20 steps, for each of the 11 bands of every long block). Band
/// hashes are xxh3 outputs, so their top `bits` bits spread the pairs evenly: the directory
/// entry gives a run of ~1 pair, found with two reads. Still one flat sorted `Vec`, so memory
/// stays ~12 bytes per pair plus 4 per directory slot (at most one slot per pair).
#[derive(Debug, Default)]
struct BandIndex {
    pairs: Vec<(u64, u32)>,
    /// `dir[d]..dir[d + 1]` are the pairs whose hash has top bits `d`.
    dir: Vec<u32>,
    shift: u32,
}

impl BandIndex {
    /// Sorts `pairs` by a counting sort on the directory bits, then each (tiny) run by itself:
    /// the same order as `sort_unstable` on the whole array (a total order on the pairs), at
    /// two linear passes instead of a 3-million-pair comparison sort (~5 % of loading the
    /// man-page database).
    fn new(pairs: Vec<(u64, u32)>) -> Self {
        let bits = (usize::BITS - pairs.len().leading_zeros()).clamp(1, 26);
        let shift = 64 - bits;
        let mut dir = vec![0u32; (1usize << bits) + 1];
        for p in &pairs {
            dir[(p.0 >> shift) as usize + 1] += 1;
        }
        for d in 1..dir.len() {
            dir[d] += dir[d - 1];
        }
        let mut next = dir.clone();
        let mut sorted = vec![(0u64, 0u32); pairs.len()];
        for p in pairs {
            let d = (p.0 >> shift) as usize;
            sorted[next[d] as usize] = p;
            next[d] += 1;
        }
        for w in dir.windows(2) {
            if w[1] - w[0] > 1 {
                sorted[w[0] as usize..w[1] as usize].sort_unstable();
            }
        }
        BandIndex {
            pairs: sorted,
            dir,
            shift,
        }
    }

    fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The directory run of each of `hashes` into `runs` (cleared first).
    ///
    /// Done for all the band hashes of a document's blocks before any pair is read
    /// ([`Matcher::match_blocks`]): every lookup is two cache misses in a row (directory, then
    /// pairs; 9 MB of pairs and 4 MB of directory for the man pages), and issued together
    /// the misses overlap instead of queueing behind each block's other work.
    fn runs_of(&self, hashes: &[u64], runs: &mut Vec<(u32, u32)>) {
        runs.clear();
        runs.extend(hashes.iter().map(|&h| {
            let d = (h >> self.shift) as usize;
            (self.dir[d], self.dir[d + 1])
        }));
    }

    /// Appends the entries whose band hash is one of `hashes` (with their directory `runs`)
    /// to `out`, in the order of `hashes`.
    fn collect(&self, hashes: &[u64], runs: &[(u32, u32)], out: &mut Vec<u32>) {
        for (&h, &(a, b)) in hashes.iter().zip(runs) {
            let run = &self.pairs[a as usize..b as usize];
            out.extend(run.iter().filter(|p| p.0 == h).map(|p| p.1));
        }
    }
}

thread_local! {
    /// Scratch space of [`Matcher::match_blocks`], reused per thread so a document costs no
    /// allocation.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Per-thread buffers of [`Matcher::match_blocks`].
#[derive(Default)]
struct Scratch {
    /// Positions in `which` of the blocks that need a near match (long, no exact match).
    near: Vec<u32>,
    /// Their signatures, `num_perm` lanes each.
    sigs: Vec<u32>,
    /// Their band hashes, `bands` each.
    hashes: Vec<u64>,
    /// Directory runs of those hashes ([`BandIndex::runs_of`]).
    runs: Vec<(u32, u32)>,
    /// Candidate entries of all near blocks, block after block; `ends[j]` ends block `j`'s.
    candidates: Vec<u32>,
    ends: Vec<u32>,
    /// One block's candidates, sorted and de-duplicated.
    one: Vec<u32>,
}

/// Active entries of a database, indexed for lookup.
#[derive(Debug)]
pub struct Matcher {
    db: SignatureDb,
    policy: Policy,
    hasher: MinHasher,
    group_ids: HashMap<String, u32>,
    exact: KeyMap<(u32, u64), u32>,
    groups: Vec<GroupIndex>,
    active: usize,
    threshold: f64,
}

impl Matcher {
    /// Indexes the entries of `db` that are active under `policy`.
    pub fn new(db: SignatureDb, policy: Policy) -> Self {
        let group_ids = db
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.name.clone(), i as u32))
            .collect();
        // One pass over the entries (96 bytes each, 54 MB for the man pages) gathers what the
        // indexes need into compact arrays: re-reading the entries for the exact map and
        // again, at random, for each long entry's signature were cache misses that made up
        // most of this function. Counting the active entries first also lets the exact map be
        // allocated once at its final size instead of rehashing its way up.
        let mut groups: Vec<GroupIndex> = (0..db.groups.len())
            .map(|_| GroupIndex::default())
            .collect();
        let mut active_keys: Vec<(u32, u64, u32)> = Vec::new();
        // Per group, the signature index of each entry of its `long`, in the same order.
        let mut long_sigs: Vec<Vec<u32>> = vec![Vec::new(); db.groups.len()];
        let e = &db.entries;
        for i in 0..e.len() {
            let group = e.group[i];
            if !policy.is_active(e.near_docs[i], e.words[i], db.groups[group as usize].docs) {
                continue;
            }
            active_keys.push((group, e.key[i], i as u32));
            if e.sig[i] != super::NO_SIG {
                groups[group as usize].long.push(i as u32);
                long_sigs[group as usize].push(e.sig[i]);
            }
        }
        let active = active_keys.len();
        let mut exact = KeyMap::with_capacity_and_hasher(active, Default::default());
        for (group, key, i) in active_keys {
            exact.insert((group, key), i);
        }
        let lsh = db.params.lsh;
        let k = db.params.num_perm;
        for (g, sig_ids) in groups.iter_mut().zip(&long_sigs) {
            if g.long.len() > SCAN_MAX {
                let mut pairs = Vec::with_capacity(g.long.len() * lsh.bands);
                for (&i, &s) in g.long.iter().zip(sig_ids) {
                    let sig = &db.sigs[s as usize * k..(s as usize + 1) * k];
                    for b in 0..lsh.bands {
                        pairs.push((super::band_hash(&lsh, sig, b), i));
                    }
                }
                g.bands = BandIndex::new(pairs);
            }
        }
        Matcher {
            threshold: db.params.blocks.near_threshold,
            hasher: MinHasher::new(db.params.num_perm, db.params.blocks.shingler.seed),
            db,
            policy,
            group_ids,
            exact,
            groups,
            active,
        }
    }

    /// Matches long blocks at estimated Jaccard `threshold` instead of the database's near
    /// threshold (candidates still come from the database's banding when a group is large).
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// The database.
    pub fn db(&self) -> &SignatureDb {
        &self.db
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Number of active entries.
    pub fn active(&self) -> usize {
        self.active
    }

    /// The index of group `name`, if the database knows it.
    pub fn group_id(&self, name: &str) -> Option<u32> {
        self.group_ids.get(name).copied()
    }

    /// Entry `i` (its example and first document id: `self.db().entries.example(i)`...).
    pub fn entry(&self, i: u32) -> Entry {
        self.db.entries.get(i as usize)
    }

    /// The best match of `block` among the active entries of `group`.
    pub fn match_block(&self, group: u32, block: &Block) -> Option<DbMatch> {
        let mut out = Vec::with_capacity(1);
        self.match_blocks(group, std::slice::from_ref(block), &[0], &mut out);
        out[0]
    }

    /// [`Matcher::match_block`] of `blocks[i]` for each `i` of `which`, into `out` (cleared
    /// first) in the order of `which`.
    ///
    /// Why a batch (one document's blocks): most lookups are cache misses (the exact-key map,
    /// the band directory, the band pairs), and one block at a time each waited for the last
    /// with the block's other work in between. Here each kind of lookup runs for all the
    /// blocks in one tight loop, so the CPU has many misses in flight at once. Same results
    /// as one at a time: a block's match depends on nothing but the block.
    pub fn match_blocks(
        &self,
        group: u32,
        blocks: &[Block],
        which: &[usize],
        out: &mut Vec<Option<DbMatch>>,
    ) {
        out.clear();
        out.extend(which.iter().map(|&i| {
            self.exact
                .get(&(group, blocks[i].key))
                .map(|&entry| DbMatch {
                    entry,
                    kind: MatchKind::Exact,
                    score: 1.0,
                })
        }));
        let index = &self.groups[group as usize];
        if index.long.is_empty() {
            return;
        }
        SCRATCH.with_borrow_mut(|s| {
            s.near.clear();
            s.near.extend((0..which.len() as u32).filter(|&j| {
                out[j as usize].is_none() && !blocks[which[j as usize]].shingles.is_empty()
            }));
            if s.near.is_empty() {
                return;
            }
            let k = self.hasher.num_perm();
            s.sigs.clear();
            s.sigs.resize(k * s.near.len(), 0);
            for (&j, sig) in s.near.iter().zip(s.sigs.chunks_exact_mut(k)) {
                self.hasher
                    .sign_into(&blocks[which[j as usize]].shingles, sig);
            }
            if index.bands.is_empty() {
                for (&j, sig) in s.near.iter().zip(s.sigs.chunks_exact(k)) {
                    let shingles = blocks[which[j as usize]].shingles.len();
                    out[j as usize] = self.best_candidate(sig, shingles, &index.long);
                }
                return;
            }
            let lsh = self.db.params.lsh;
            s.hashes.clear();
            for sig in s.sigs.chunks_exact(k) {
                s.hashes
                    .extend((0..lsh.bands).map(|b| super::band_hash(&lsh, sig, b)));
            }
            index.bands.runs_of(&s.hashes, &mut s.runs);
            s.candidates.clear();
            s.ends.clear();
            for (hashes, runs) in s
                .hashes
                .chunks_exact(lsh.bands)
                .zip(s.runs.chunks_exact(lsh.bands))
            {
                index.bands.collect(hashes, runs, &mut s.candidates);
                s.ends.push(s.candidates.len() as u32);
            }
            let mut from = 0;
            for ((&j, sig), &end) in s.near.iter().zip(s.sigs.chunks_exact(k)).zip(&s.ends) {
                s.one.clear();
                s.one.extend_from_slice(&s.candidates[from..end as usize]);
                from = end as usize;
                s.one.sort_unstable();
                s.one.dedup();
                let shingles = blocks[which[j as usize]].shingles.len();
                out[j as usize] = self.best_candidate(sig, shingles, &s.one);
            }
        })
    }

    /// The best near or containing match of a block (signature `sig`, `shingles` distinct
    /// shingles) among `candidates` (sorted entry indices, so ties go to the first entry).
    fn best_candidate(&self, sig: &[u32], shingles: usize, candidates: &[u32]) -> Option<DbMatch> {
        let params = &self.db.params.blocks;
        let mut best: Option<DbMatch> = None;
        for &i in candidates {
            let (sig_id, e_shingles) = (
                self.db.entries.sig[i as usize],
                self.db.entries.shingles[i as usize],
            );
            let esig = self.db.signature_at(sig_id).expect("long entry");
            let j = estimate_jaccard(sig, esig);
            let found = if j >= self.threshold {
                Some(DbMatch {
                    entry: i,
                    kind: MatchKind::Near,
                    score: j,
                })
            } else if (e_shingles as usize) > shingles {
                let c = estimate_containment(sig, shingles, esig, e_shingles as usize);
                (c >= params.containment).then_some(DbMatch {
                    entry: i,
                    kind: MatchKind::Contained,
                    score: c,
                })
            } else {
                None
            };
            if let Some(f) = found {
                let better = match best {
                    None => true,
                    Some(b) => {
                        let rank = |m: &DbMatch| (m.kind == MatchKind::Near) as u8;
                        (rank(&f), f.score) > (rank(&b), b.score)
                    }
                };
                if better {
                    best = Some(f);
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::{analyze, BlockParams};
    use crate::sigdb::learn::{Learner, Summarizer};
    use crate::sigdb::{Grouping, HashParams};

    /// A long line of words numbered from `i` (distinct lines share no 5-gram).
    fn line(i: usize, words: usize) -> String {
        (0..words)
            .map(|w| format!("w{}x{}", i, w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The batch gives every block what that block alone gives, with the band index (more
    /// than `SCAN_MAX` long entries) and with the scan of a small group: exact, near and
    /// contained matches and misses, in one document.
    #[test]
    fn a_batch_equals_one_block_at_a_time() {
        for entries in [SCAN_MAX + 100, 40] {
            let params = HashParams::new(BlockParams::default(), 64);
            let summarizer = Summarizer::new(params, Grouping::None);
            let mut learner = Learner::new(params, Grouping::None, Policy::default());
            let corpus: String = (0..entries).map(|i| line(i, 12) + "\nShare\n").collect();
            for d in 0..2 {
                learner.add(summarizer.summarize(&format!("d{d}"), &corpus, None));
            }
            let matcher = Matcher::new(learner.finish(), Policy::default());
            let mut page = Vec::new();
            for i in 0..60 {
                let l = line(i * 7 % entries, 12);
                page.push(match i % 5 {
                    0 => l,                                                   // exact
                    1 => l.replacen("x11", "y11", 1),                         // near: last word
                    2 => l.split(' ').take(10).collect::<Vec<_>>().join(" "), // truncated
                    3 => line(entries + i, 12),                               // unknown long
                    _ => "Share".to_string(),                                 // short, exact
                });
            }
            let doc = analyze(&page.join("\n"), &params.blocks);
            let which: Vec<usize> = (0..doc.blocks.len()).collect();
            let mut batch = Vec::new();
            matcher.match_blocks(0, &doc.blocks, &which, &mut batch);
            let one: Vec<Option<DbMatch>> = doc
                .blocks
                .iter()
                .map(|b| matcher.match_block(0, b))
                .collect();
            assert_eq!(batch, one);
            let kinds = |k| batch.iter().flatten().filter(|m| m.kind == k).count();
            assert!(kinds(MatchKind::Exact) >= 24, "{entries}");
            assert!(
                kinds(MatchKind::Near) + kinds(MatchKind::Contained) >= 12,
                "{entries}"
            );
            assert!(
                batch.iter().filter(|m| m.is_none()).count() >= 12,
                "{entries}"
            );
        }
    }

    /// The counting sort leaves the pairs exactly as a full sort does (duplicate hashes and
    /// equal top bits included), and every hash finds its entries.
    #[test]
    fn band_index_order_equals_a_full_sort() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut pairs = Vec::new();
        for i in 0..5000u32 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Some hashes repeat, some share their top bits with a neighbour.
            let h = if i % 7 == 0 { x & !0xffff } else { x };
            pairs.push((h, i % 1000));
            if i % 11 == 0 {
                pairs.push((h, (i + 3) % 1000));
            }
        }
        let index = BandIndex::new(pairs.clone());
        pairs.sort_unstable();
        assert_eq!(index.pairs, pairs);
        let (mut runs, mut out) = (Vec::new(), Vec::new());
        index.runs_of(&[pairs[17].0], &mut runs);
        index.collect(&[pairs[17].0], &runs, &mut out);
        let want: Vec<u32> = pairs
            .iter()
            .filter(|p| p.0 == pairs[17].0)
            .map(|p| p.1)
            .collect();
        assert_eq!(out, want);
    }
}
