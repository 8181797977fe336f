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
use crate::minhash::{estimate_containment, estimate_jaccard, MinHasher};
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
    /// (band hash, entry), sorted; only filled when `long` exceeds [`SCAN_MAX`].
    bands: Vec<(u64, u32)>,
}

/// Active entries of a database, indexed for lookup.
#[derive(Debug)]
pub struct Matcher {
    db: SignatureDb,
    policy: Policy,
    hasher: MinHasher,
    group_ids: HashMap<String, u32>,
    exact: HashMap<(u32, u64), u32>,
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
        let mut exact = HashMap::new();
        let mut groups: Vec<GroupIndex> = (0..db.groups.len())
            .map(|_| GroupIndex::default())
            .collect();
        let mut active = 0;
        for (i, e) in db.entries.iter().enumerate() {
            if !policy.is_active(e.near_docs, e.words, db.groups[e.group as usize].docs) {
                continue;
            }
            active += 1;
            exact.insert((e.group, e.key), i as u32);
            if db.signature(e).is_some() {
                groups[e.group as usize].long.push(i as u32);
            }
        }
        let lsh = db.params.lsh;
        for g in &mut groups {
            if g.long.len() > SCAN_MAX {
                for &i in &g.long {
                    let sig = db.signature(&db.entries[i as usize]).expect("long entry");
                    for b in 0..lsh.bands {
                        g.bands.push((lsh.band_hash(sig, b), i));
                    }
                }
                g.bands.sort_unstable();
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

    /// Entry `i`.
    pub fn entry(&self, i: u32) -> &Entry {
        &self.db.entries[i as usize]
    }

    /// The best match of `block` among the active entries of `group`.
    pub fn match_block(&self, group: u32, block: &Block) -> Option<DbMatch> {
        if let Some(&entry) = self.exact.get(&(group, block.key)) {
            return Some(DbMatch {
                entry,
                kind: MatchKind::Exact,
                score: 1.0,
            });
        }
        if block.shingles.is_empty() {
            return None;
        }
        let index = &self.groups[group as usize];
        if index.long.is_empty() {
            return None;
        }
        let sig = self.hasher.signature(&block.shingles).0;
        let mut candidates: Vec<u32> = if index.bands.is_empty() {
            index.long.clone()
        } else {
            let lsh = self.db.params.lsh;
            let mut c = Vec::new();
            for b in 0..lsh.bands {
                let h = lsh.band_hash(&sig, b);
                let start = index.bands.partition_point(|x| x.0 < h);
                c.extend(
                    index.bands[start..]
                        .iter()
                        .take_while(|x| x.0 == h)
                        .map(|x| x.1),
                );
            }
            c.sort_unstable();
            c.dedup();
            c
        };
        candidates.sort_unstable();
        let params = &self.db.params.blocks;
        let mut best: Option<DbMatch> = None;
        for i in candidates {
            let e = &self.db.entries[i as usize];
            let esig = self.db.signature(e).expect("long entry");
            let j = estimate_jaccard(&sig, esig);
            let found = if j >= self.threshold {
                Some(DbMatch {
                    entry: i,
                    kind: MatchKind::Near,
                    score: j,
                })
            } else if (e.shingles as usize) > block.shingles.len() {
                let c = estimate_containment(&sig, block.shingles.len(), esig, e.shingles as usize);
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
