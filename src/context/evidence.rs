//! Repetition evidence for the context model from a signature database: key -> the groups
//! holding it and their document counts.
//!
//! The database keeps every distinct block of every group with its document count (see
//! [`crate::sigdb`]), which is exactly what the model's repetition features need: `site_count`
//! is the count of the block's exact key in its own group, `other_sites` the number of other
//! groups with the key, `site_pages` the group's document count. The [`crate::sigdb::Matcher`]
//! only indexes *active* entries of one group, so this is a separate, read-only index over all
//! entries, built only when the context policy is used (16-byte slots at a load of 3/8 to
//! 3/4: ~21-43 bytes per key).
//!
//! Counts are as learned — the page being cleaned is not in the database, which is the
//! situation of the research's test pages (its leave-one-out counts were for training pages
//! only). One difference from `features.py`: `learn` counts a block that is a near or truncated
//! repeat of an earlier block of the same document under the earlier block, not its own key.

use super::features::Repetition;
use crate::sigdb::SignatureDb;
use std::collections::HashMap;

/// Key -> [`Holders`] as one flat open-addressing table (linear probing, at most 3/4 full).
///
/// Why not a `HashMap`: a lookup there touches the control bytes, then the bucket array, two
/// cache misses per block on a table far larger than the caches (558,491 keys for the man
/// pages); here the key and its holders share one slot, and [`KeyIndex::repetition_into`]
/// prefetches the slots of the blocks a few ahead so that their misses overlap. Keys are
/// xxh3 hashes already, so their low bits pick the slot.
#[derive(Debug, Clone)]
struct FlatTable {
    /// `(key, holders packed by [`Holders::pack`])`; a slot with key [`EMPTY`] is free.
    /// 16 bytes a slot: the man pages' table is 16 MB (it was 24 with the enum), a third
    /// fewer cache lines to miss when it is built and read.
    slots: Vec<(u64, u64)>,
    mask: usize,
    /// The holders of key [`EMPTY`] itself, which cannot live in a slot.
    empty_key: Option<Holders>,
}

/// The key that marks a free slot.
const EMPTY: u64 = 0;

impl FlatTable {
    fn new(n: usize) -> Self {
        // A load of 3/8 to 3/4: a probe run rarely leaves the slot's cache line or the next.
        let len = (n + n / 3 + 1).next_power_of_two().max(16);
        FlatTable {
            slots: vec![(EMPTY, 0); len],
            mask: len - 1,
            empty_key: None,
        }
    }

    /// Inserts a key not in the table yet, with holders that [`Holders::pack`] takes.
    fn insert(&mut self, key: u64, h: Holders) {
        if key == EMPTY {
            self.empty_key = Some(h);
            return;
        }
        let packed = h.pack().expect("holders that fit a slot");
        let mut i = key as usize & self.mask;
        while self.slots[i].0 != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = (key, packed);
    }

    fn get(&self, key: u64) -> Option<Holders> {
        if key == EMPTY {
            return self.empty_key;
        }
        let mut i = key as usize & self.mask;
        loop {
            let (k, h) = self.slots[i];
            if k == key {
                return Some(Holders::unpack(h));
            }
            if k == EMPTY {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Asks the CPU to start loading `key`'s first slot.
    #[inline(always)]
    fn prefetch(&self, key: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            let slot = &self.slots[key as usize & self.mask];
            // SAFETY: SSE is part of the x86-64 baseline; a prefetch of a valid address.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    (slot as *const (u64, u64)).cast(),
                )
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = key;
    }
}

/// Blocks ahead whose slots [`KeyIndex::repetition_into`] prefetches.
const PREFETCH_AHEAD: usize = 8;

/// All entries of a database by exact key.
#[derive(Debug, Clone)]
pub struct KeyIndex {
    /// key -> its holders (see [`Holders`]).
    ranges: FlatTable,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holders {
    One { group: u32, docs: u64 },
    Many { first: u32, len: u32 },
}

/// [`Holders::pack`]: the bit that marks `Many`.
const MANY: u64 = 1 << 63;

impl Holders {
    /// The holders as one `u64`: `One` as `group << 32 | docs` (group below 2^31, docs
    /// below 2^32), `Many` as `MANY | len << 32 | first` (len below 2^31); `None` for a
    /// `One` that does not fit (then it is stored as a `Many` of one).
    fn pack(self) -> Option<u64> {
        match self {
            Holders::One { group, docs } => {
                (group < 1 << 31 && docs <= u32::MAX as u64).then_some((group as u64) << 32 | docs)
            }
            Holders::Many { first, len } => {
                (len < 1 << 31).then_some(MANY | (len as u64) << 32 | first as u64)
            }
        }
    }

    fn unpack(p: u64) -> Holders {
        if p & MANY != 0 {
            Holders::Many {
                first: p as u32,
                len: ((p & !MANY) >> 32) as u32,
            }
        } else {
            Holders::One {
                group: (p >> 32) as u32,
                docs: p & u32::MAX as u64,
            }
        }
    }
}

impl KeyIndex {
    /// Indexes every entry of `db`.
    pub fn new(db: &SignatureDb) -> Self {
        // Only the three columns needed (an entry has eight).
        let e = &db.entries;
        let mut order: Vec<(u64, u32, u64)> = e
            .key
            .iter()
            .zip(e.group.iter())
            .zip(e.docs.iter())
            .map(|((&key, &group), &docs)| (key, group, docs))
            .collect();
        order.sort_unstable();
        let distinct = order.chunk_by(|a, b| a.0 == b.0).count();
        let mut ranges = FlatTable::new(distinct);
        let mut holders = Vec::new();
        for run in order.chunk_by(|a, b| a.0 == b.0) {
            let one = match run {
                [(_, group, docs)] => Some(Holders::One {
                    group: *group,
                    docs: *docs,
                }),
                _ => None,
            };
            let h = match one {
                Some(h) if h.pack().is_some() => h,
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
        match self.ranges.get(key) {
            Some(Holders::One { group, docs }) => vec![(group, docs)],
            Some(Holders::Many { first, len }) => {
                self.holders[first as usize..(first + len) as usize].to_vec()
            }
            None => Vec::new(),
        }
    }

    /// The evidence of a block with `key` on a page of `group` (`None`: a group the database
    /// has never seen, like a site without training pages: no site counts).
    pub fn repetition(&self, group: Option<u32>, key: u64) -> Repetition {
        self.evidence(group, self.ranges.get(key))
    }

    /// [`KeyIndex::repetition`] of every key of `keys`, appended to `out`, the table slots of
    /// the keys [`PREFETCH_AHEAD`] blocks on requested while a block is looked up.
    pub fn repetition_into(&self, group: Option<u32>, keys: &[u64], out: &mut Vec<Repetition>) {
        for &k in keys.iter().take(PREFETCH_AHEAD) {
            self.ranges.prefetch(k);
        }
        out.reserve(keys.len());
        for (i, &k) in keys.iter().enumerate() {
            if let Some(&ahead) = keys.get(i + PREFETCH_AHEAD) {
                self.ranges.prefetch(ahead);
            }
            out.push(self.evidence(group, self.ranges.get(k)));
        }
    }

    fn evidence(&self, group: Option<u32>, holders: Option<Holders>) -> Repetition {
        let site_pages = group.map_or(0, |g| self.group_docs[g as usize]);
        let (own, holders) = match holders {
            None => (None, 0),
            Some(Holders::One { group: g, docs }) => ((group == Some(g)).then_some(docs), 1),
            Some(Holders::Many { first, len }) => {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Holders round-trip through their packed slot value at the edges of its fields, and
    /// the ones that do not fit are refused (`KeyIndex::new` stores those as a `Many` of one).
    #[test]
    fn holders_pack_at_their_limits() {
        for h in [
            Holders::One { group: 0, docs: 0 },
            Holders::One {
                group: (1 << 31) - 1,
                docs: u32::MAX as u64,
            },
            Holders::Many { first: 0, len: 2 },
            Holders::Many {
                first: u32::MAX,
                len: (1 << 31) - 1,
            },
        ] {
            assert_eq!(Holders::unpack(h.pack().unwrap()), h);
        }
        for h in [
            Holders::One {
                group: 1 << 31,
                docs: 1,
            },
            Holders::One {
                group: 1,
                docs: u32::MAX as u64 + 1,
            },
            Holders::Many {
                first: 0,
                len: 1 << 31,
            },
        ] {
            assert_eq!(h.pack(), None, "{h:?}");
        }
    }

    /// The flat table finds what a `HashMap` finds: keys that collide in their low bits (long
    /// probe runs, wrapping past the end), the key 0, and keys it does not hold.
    #[test]
    fn flat_table_agrees_with_a_hash_map() {
        let mut keys: Vec<u64> = (0..5_000u64)
            .map(|i| crate::shingle::fmix64(i + 1))
            .collect();
        // Same low bits: one long probe run each.
        keys.extend((1..200u64).map(|i| (i << 40) | 5));
        keys.extend((1..50u64).map(|i| (i << 40) | 0xffff_ffff));
        keys.push(EMPTY);
        let mut table = FlatTable::new(keys.len());
        let mut map = std::collections::HashMap::new();
        for (i, &k) in keys.iter().enumerate() {
            let h = if i % 3 == 0 {
                Holders::Many {
                    first: i as u32,
                    len: 2,
                }
            } else {
                Holders::One {
                    group: i as u32,
                    docs: i as u64 * 7,
                }
            };
            table.insert(k, h);
            map.insert(k, h);
        }
        let same = |a: Option<Holders>, b: Option<&Holders>| a.as_ref() == b;
        for k in keys
            .iter()
            .copied()
            .chain((0..2_000u64).map(|i| crate::shingle::fmix64(i + 1_000_000)))
        {
            assert!(same(table.get(k), map.get(&k)), "key {k:#x}");
        }
    }
}
