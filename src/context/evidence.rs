//! Repetition evidence for the context model from a signature database: key -> the groups
//! holding it and their document counts.
//!
//! The database keeps every distinct block of every group with its document count (see
//! [`crate::sigdb`]), which is exactly what the model's repetition features need: `site_count`
//! is the count of the block's exact key in its own group, `other_sites` the number of other
//! groups with the key, `site_pages` the group's document count. The [`crate::sigdb::Matcher`]
//! only indexes *active* entries of one group, so this is a separate, read-only index over all
//! entries, built only when the context policy is used (~24-32 bytes per key).
//!
//! Counts are as learned — the page being cleaned is not in the database, which is the
//! situation of the research's test pages (its leave-one-out counts were for training pages
//! only). One difference from `features.py`: `learn` counts a block that is a near or truncated
//! repeat of an earlier block of the same document under the earlier block, not its own key.

use super::features::Repetition;
use crate::sigdb::SignatureDb;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Keys are already xxh3 hashes: use them as their own hash.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

/// All entries of a database by exact key.
#[derive(Debug, Clone)]
pub struct KeyIndex {
    /// key -> its holders (see [`Holders`]).
    ranges: KeyMap<Holders>,
    /// (group, docs) of keys held by several groups, grouped by key and sorted by group
    /// within a key.
    holders: Vec<(u32, u64)>,
    /// Documents per group.
    group_docs: Vec<u64>,
    group_ids: HashMap<String, u32>,
}

/// The groups holding one key. Most keys have one holder (every key, with one group), and
/// that holder is kept in the map's slot itself: one cache miss per block instead of two
/// (the slot, then `holders`), on a map far larger than the caches (558,491 keys for the
/// man pages; `repetition` was ~5 % of `clean --policy context`).
#[derive(Debug, Clone, Copy)]
enum Holders {
    One { group: u32, docs: u64 },
    Many { first: u32, len: u32 },
}

impl KeyIndex {
    /// Indexes every entry of `db`.
    pub fn new(db: &SignatureDb) -> Self {
        let mut order: Vec<(u64, u32, u64)> = db
            .entries
            .iter()
            .map(|e| (e.key, e.group, e.docs))
            .collect();
        order.sort_unstable();
        let mut ranges = KeyMap::default();
        ranges.reserve(order.len());
        let mut holders = Vec::new();
        for run in order.chunk_by(|a, b| a.0 == b.0) {
            let h = match run {
                [(_, group, docs)] => Holders::One {
                    group: *group,
                    docs: *docs,
                },
                _ => {
                    let first = holders.len() as u32;
                    holders.extend(run.iter().map(|&(_, g, d)| (g, d)));
                    Holders::Many {
                        first,
                        len: run.len() as u32,
                    }
                }
            };
            ranges.insert(run[0].0, h);
        }
        KeyIndex {
            ranges,
            holders,
            group_docs: db.groups.iter().map(|g| g.docs).collect(),
            group_ids: db
                .groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.name.clone(), i as u32))
                .collect(),
        }
    }

    /// The index of group `name`, if the database has it.
    pub fn group_id(&self, name: &str) -> Option<u32> {
        self.group_ids.get(name).copied()
    }

    /// Groups holding `key` with the documents of each (the database query the context
    /// features need), sorted by group.
    pub fn holders(&self, key: u64) -> Vec<(u32, u64)> {
        match self.ranges.get(&key) {
            Some(&Holders::One { group, docs }) => vec![(group, docs)],
            Some(&Holders::Many { first, len }) => {
                self.holders[first as usize..(first + len) as usize].to_vec()
            }
            None => Vec::new(),
        }
    }

    /// The evidence of a block with `key` on a page of `group` (`None`: a group the database
    /// has never seen, like a site without training pages: no site counts).
    pub fn repetition(&self, group: Option<u32>, key: u64) -> Repetition {
        let site_pages = group.map_or(0, |g| self.group_docs[g as usize]);
        let (own, holders) = match self.ranges.get(&key) {
            None => (None, 0),
            Some(&Holders::One { group: g, docs }) => ((group == Some(g)).then_some(docs), 1),
            Some(&Holders::Many { first, len }) => {
                let run = &self.holders[first as usize..(first + len) as usize];
                let own = group
                    .and_then(|g| run.binary_search_by_key(&g, |h| h.0).ok().map(|i| run[i].1));
                (own, len as u64)
            }
        };
        Repetition {
            site_pages,
            site_count: own.unwrap_or(0),
            other_sites: holders - own.is_some() as u64,
        }
    }
}
