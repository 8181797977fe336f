//! Learning a [`SignatureDb`] from a stream of documents.
//!
//! The expensive half ([`Summarizer::summarize`]: segmentation, keys, shingles, MinHash) is
//! pure and runs on any thread; [`Learner::add`] folds summaries in input order into one
//! vector of accumulators (found through a (group, key) -> index map), so "first seen" and
//! the example text do not depend on the thread count.
//!
//! Memory: per distinct (group, block) of the corpus, a 56-byte accumulator and ~24 bytes of
//! index map, the example (<= 120 bytes) and first document id, plus `4 * num_perm` bytes
//! for long blocks. `finish` sorts the accumulators and permutes the signatures in place and
//! `write_db` streams, so no stage holds a second copy of the signatures or of the encoded
//! file (man pages: 558,491 entries, 330 MB peak RSS, down from 435 MB).
//! Groups could still be flushed to disk when a site's documents are contiguous.

use super::{
    finalize, truncate_str, Entries, Entry, GroupInfo, Grouping, HashParams, Policy, SignatureDb,
    EXAMPLE_BYTES, NO_SIG,
};
use crate::blocks::analyze;
// Keys are already xxh3 hashes: FxHash (rustc-hash) instead of SipHash, ~4 % of learn/clean.
use crate::minhash::MinHasher;
use rustc_hash::FxHashMap as KeyMap;
use std::collections::HashMap;

/// One distinct block of one document, ready to be counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockSummary {
    pub key: u64,
    pub words: u32,
    pub shingles: u32,
    /// Copies in the document (the block and its in-document repeats).
    pub occurrences: u64,
    /// Index of its MinHash in [`DocSummary::sigs`] (in units of `num_perm`), or [`NO_SIG`]
    /// for short blocks.
    pub sig: u32,
    /// Its example text: `DocSummary::examples[example.0..example.1]`.
    pub example: (u32, u32),
}

/// What one document contributes. Signatures and examples are flat buffers rather than a
/// `Vec` and a `String` per block: per-block allocations were ~25 % of `learn` (malloc/free
/// in `perf record` on the man pages).
#[derive(Debug, Clone, PartialEq)]
pub struct DocSummary {
    pub id: String,
    pub group: String,
    pub blocks: Vec<BlockSummary>,
    pub sigs: Vec<u32>,
    pub examples: String,
}

impl DocSummary {
    /// The example text of `block`.
    pub fn example(&self, block: &BlockSummary) -> &str {
        &self.examples[block.example.0 as usize..block.example.1 as usize]
    }
}

/// Turns documents into [`DocSummary`]s; shared by all threads.
#[derive(Debug, Clone)]
pub struct Summarizer {
    params: HashParams,
    grouping: Grouping,
    hasher: MinHasher,
}

impl Summarizer {
    pub fn new(params: HashParams, grouping: Grouping) -> Self {
        Summarizer {
            hasher: MinHasher::new(params.num_perm, params.blocks.shingler.seed),
            params,
            grouping,
        }
    }

    /// The signature hasher (same lanes as every database with these parameters).
    pub fn hasher(&self) -> &MinHasher {
        &self.hasher
    }

    /// Summarizes one document. Blocks that repeat an earlier block of the same document
    /// (exactly, nearly or truncated) are counted as occurrences of that block, not as
    /// separate blocks, so a document adds at most one to a block's document count.
    pub fn summarize(&self, id: &str, text: &str, record: Option<&str>) -> DocSummary {
        let doc = analyze(text, &self.params.blocks);
        let mut occurrences = vec![1u64; doc.blocks.len()];
        let mut is_repeat = vec![false; doc.blocks.len()];
        for r in &doc.repeats {
            occurrences[r.of] += 1;
            is_repeat[r.block] = true;
        }
        let k = self.params.num_perm;
        let mut sigs = Vec::new();
        let mut examples = String::new();
        let mut blocks = Vec::with_capacity(doc.blocks.len() - doc.repeats.len());
        for (i, b) in doc.blocks.iter().enumerate() {
            if is_repeat[i] {
                continue;
            }
            let sig = if b.shingles.is_empty() {
                NO_SIG
            } else {
                let at = sigs.len();
                sigs.resize(at + k, 0);
                self.hasher.sign_into(&b.shingles, &mut sigs[at..]);
                (at / k) as u32
            };
            let start = examples.len() as u32;
            examples.push_str(truncate_str(b.span.text(text), EXAMPLE_BYTES));
            blocks.push(BlockSummary {
                key: b.key,
                words: b.words as u32,
                shingles: b.shingles.len() as u32,
                occurrences: occurrences[i],
                sig,
                example: (start, examples.len() as u32),
            });
        }
        DocSummary {
            id: id.to_string(),
            group: self.grouping.group_of(record),
            blocks,
            sigs,
            examples,
        }
    }
}

/// Counts of one entry while learning; its example is a range of [`Learner::examples`] and its
/// first document an index into [`Learner::ids`], so an entry owns no heap memory.
#[derive(Debug)]
struct Acc {
    group: u32,
    key: u64,
    docs: u64,
    occurrences: u64,
    words: u32,
    shingles: u32,
    sig: u32,
    example: (u32, u32),
    first_id: u32,
}

/// Accumulates document summaries into a database.
#[derive(Debug)]
pub struct Learner {
    params: HashParams,
    grouping: Grouping,
    policy: Policy,
    group_ids: HashMap<String, u32>,
    groups: Vec<GroupInfo>,
    /// (group, key) -> index into `accs`. The map holds 4-byte indices rather than the
    /// accumulators: a smaller table rehashes faster while growing, and `finish` sorts `accs`
    /// in place after dropping the map instead of copying every entry out of it.
    index: KeyMap<(u32, u64), u32>,
    accs: Vec<Acc>,
    sigs: Vec<u32>,
    /// Example texts of all entries, concatenated (u64 offsets would only be needed beyond
    /// 4 GiB of examples, ~35 M entries).
    examples: String,
    /// Ids of the documents that were first to contain some entry.
    ids: Vec<String>,
}

impl Learner {
    pub fn new(params: HashParams, grouping: Grouping, policy: Policy) -> Self {
        Learner {
            params,
            grouping,
            policy,
            group_ids: HashMap::new(),
            groups: Vec::new(),
            index: KeyMap::default(),
            accs: Vec::new(),
            sigs: Vec::new(),
            examples: String::new(),
            ids: Vec::new(),
        }
    }

    /// Adds one document's summary (call in input order).
    pub fn add(&mut self, doc: DocSummary) {
        let next = self.groups.len() as u32;
        let group = match self.group_ids.get(&doc.group) {
            Some(&g) => g,
            None => {
                self.group_ids.insert(doc.group.clone(), next);
                self.groups.push(GroupInfo {
                    name: doc.group.clone(),
                    docs: 0,
                });
                next
            }
        };
        self.groups[group as usize].docs += 1;
        let k = self.params.num_perm;
        let id_index = self.ids.len() as u32;
        let mut id_used = false;
        // A document may hold the same key twice only through blocks `analyze` did not pair
        // (it always pairs equal keys), so each key is new to this document here.
        for b in &doc.blocks {
            let next = self.accs.len() as u32;
            let at = *self.index.entry((group, b.key)).or_insert(next) as usize;
            if at == next as usize {
                id_used = true;
                let sig = if b.sig == NO_SIG {
                    NO_SIG
                } else {
                    let i = b.sig as usize * k;
                    self.sigs.extend_from_slice(&doc.sigs[i..i + k]);
                    (self.sigs.len() / k - 1) as u32
                };
                let start = self.examples.len() as u32;
                self.examples.push_str(doc.example(b));
                self.accs.push(Acc {
                    group,
                    key: b.key,
                    docs: 0,
                    occurrences: 0,
                    words: b.words,
                    shingles: b.shingles,
                    sig,
                    example: (start, self.examples.len() as u32),
                    first_id: id_index,
                });
            }
            let acc = &mut self.accs[at];
            acc.docs += 1;
            acc.occurrences += b.occurrences;
        }
        if id_used {
            self.ids.push(doc.id);
        }
    }

    /// Distinct blocks so far.
    pub fn len(&self) -> usize {
        self.accs.len()
    }

    /// True before any block was added.
    pub fn is_empty(&self) -> bool {
        self.accs.is_empty()
    }

    /// The database: groups sorted by name, entries by (group, key), near clusters computed.
    pub fn finish(self) -> SignatureDb {
        let k = self.params.num_perm;
        let mut order: Vec<u32> = (0..self.groups.len() as u32).collect();
        order.sort_by(|&a, &b| {
            self.groups[a as usize]
                .name
                .cmp(&self.groups[b as usize].name)
        });
        let mut new_id = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_id[old as usize] = new as u32;
        }
        let groups = order
            .iter()
            .map(|&g| self.groups[g as usize].clone())
            .collect();
        drop(self.index);
        let mut accs = self.accs;
        accs.shrink_to_fit();
        for acc in &mut accs {
            acc.group = new_id[acc.group as usize];
        }
        accs.sort_unstable_by_key(|a| (a.group, a.key));
        // Signatures are renumbered in entry order by permuting them in place: a sorted copy
        // would hold both (2 x 100 MB on the man pages) at the peak of `learn`'s memory.
        let mut sigs = self.sigs;
        sigs.shrink_to_fit();
        let mut from = Vec::with_capacity(sigs.len() / k);
        let mut entries = Entries::with_capacity(accs.len(), self.examples.len());
        for acc in accs {
            let sig = if acc.sig == NO_SIG {
                NO_SIG
            } else {
                from.push(acc.sig);
                (from.len() - 1) as u32
            };
            entries.push(
                Entry {
                    group: acc.group,
                    key: acc.key,
                    docs: acc.docs,
                    occurrences: acc.occurrences,
                    near_docs: acc.docs,
                    words: acc.words,
                    shingles: acc.shingles,
                    sig,
                },
                &self.examples[acc.example.0 as usize..acc.example.1 as usize],
                &self.ids[acc.first_id as usize],
            );
        }
        drop((self.examples, self.ids));
        permute_chunks(&mut sigs, k, &from);
        let mut db = SignatureDb {
            params: self.params,
            grouping: self.grouping,
            policy: self.policy,
            groups,
            entries,
            sigs: sigs.into(),
        };
        finalize(&mut db);
        db
    }
}

/// Reorders `data`, seen as chunks of `k` values, so that chunk `j` becomes the old chunk
/// `from[j]`; `from` must be a permutation of the chunk indices. Follows the permutation's
/// cycles with one chunk of scratch space.
fn permute_chunks(data: &mut [u32], k: usize, from: &[u32]) {
    debug_assert_eq!(data.len(), from.len() * k);
    let mut done = vec![false; from.len()];
    let mut held = vec![0u32; k];
    for start in 0..from.len() {
        if done[start] || from[start] as usize == start {
            continue;
        }
        held.copy_from_slice(&data[start * k..start * k + k]);
        let mut j = start;
        loop {
            done[j] = true;
            let src = from[j] as usize;
            if src == start {
                data[j * k..j * k + k].copy_from_slice(&held);
                break;
            }
            data.copy_within(src * k..src * k + k, j * k);
            j = src;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::BlockParams;

    fn learn(docs: &[(&str, &str)], grouping: Grouping) -> SignatureDb {
        let params = HashParams::new(BlockParams::default(), 64);
        let s = Summarizer::new(params, grouping.clone());
        let mut l = Learner::new(params, grouping, Policy::default());
        for (i, (rec, text)) in docs.iter().enumerate() {
            l.add(s.summarize(&format!("d{i}"), text, Some(rec)));
        }
        l.finish()
    }

    #[test]
    fn permute_chunks_matches_a_sorted_copy() {
        // Cycles of length 1, 2 and 3 and a fixed point, in chunks of 2.
        let from = [0u32, 2, 1, 5, 3, 4];
        let data: Vec<u32> = (0..12).collect();
        let expected: Vec<u32> = from.iter().flat_map(|&f| [2 * f, 2 * f + 1]).collect();
        let mut got = data.clone();
        permute_chunks(&mut got, 2, &from);
        assert_eq!(got, expected);
    }

    #[test]
    fn counts_documents_per_group_and_near_duplicates() {
        let long =
            "All rights reserved by the Globe and Mail newspaper company in the year 2013 today";
        let variant =
            "All rights reserved by the Globe and Mail newspaper company in the year 2013 now";
        let docs = [
            (r#"{"site":"a"}"#, format!("Menu\nbody one\nMenu\n{long}")),
            (r#"{"site":"a"}"#, format!("Menu\nbody two\n{variant}")),
            (r#"{"site":"b"}"#, "Menu\nother".to_string()),
        ];
        let docs: Vec<(&str, &str)> = docs.iter().map(|(r, t)| (*r, t.as_str())).collect();
        let db = learn(&docs, Grouping::Field("site".into()));
        assert_eq!(
            db.groups,
            [
                GroupInfo {
                    name: "a".into(),
                    docs: 2
                },
                GroupInfo {
                    name: "b".into(),
                    docs: 1
                }
            ]
        );
        let e = &db.entries;
        let menu: Vec<(u32, u64, u64)> = (0..e.len())
            .filter(|&i| e.example(i) == "Menu")
            .map(|i| (e.group[i], e.docs[i], e.occurrences[i]))
            .collect();
        assert_eq!(menu, [(0, 2, 3), (1, 1, 1)]);
        let long_entries: Vec<(u64, u64)> = (0..e.len())
            .filter(|&i| e.example(i).starts_with("All rights"))
            .map(|i| (e.docs[i], e.near_docs[i]))
            .collect();
        assert_eq!(long_entries, [(1, 2), (1, 2)]);
        let body = (0..e.len()).find(|&i| e.example(i) == "body two").unwrap();
        assert_eq!((e.first_id(body), e.near_docs[body]), ("d1", 1));
    }
}
