//! `scan`: the repeated blocks of a corpus, within documents and across them.
//!
//! Documents are analysed in parallel ([`crate::blocks::analyze`]) and folded into the report
//! in input order, so the report is deterministic. Across documents blocks are matched by exact
//! normalized key; memory grows with the number of distinct blocks (a key and two counters
//! each; the text is kept only once a block is seen a second time).

use crate::blocks::{DocBlocks, RepeatKind};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Where a block repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanKind {
    /// Repeated inside one document (counted over all documents where it does).
    Within,
    /// Present in several documents.
    Across,
}

/// One row of the scan report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepeatedBlock {
    pub kind: ScanKind,
    /// Text of the first occurrence.
    pub text: String,
    /// Documents it occurs in (`within`: documents where it repeats).
    pub docs: u64,
    /// Total occurrences in those documents.
    pub occurrences: u64,
    /// How the copies matched (`within` only): repeat / near-repeat / contained counts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub matches: BTreeMap<&'static str, u64>,
    /// The first few document ids.
    pub ids: Vec<String>,
}

/// Accumulates the report.
#[derive(Debug)]
pub struct Scanner {
    min_docs: u64,
    sample: usize,
    across: HashMap<u64, Across>,
    within: HashMap<u64, RepeatedBlock>,
    docs: u64,
}

#[derive(Debug)]
struct Across {
    docs: u64,
    occurrences: u64,
    first_id: Option<String>,
    text: Option<String>,
    ids: Vec<String>,
    order: u64,
}

impl Scanner {
    /// A report of blocks in at least `min_docs` documents, listing up to `sample` ids each.
    pub fn new(min_docs: u64, sample: usize) -> Self {
        Scanner {
            min_docs: min_docs.max(2),
            sample,
            across: HashMap::new(),
            within: HashMap::new(),
            docs: 0,
        }
    }

    /// Adds one analysed document (call in input order).
    pub fn add(&mut self, id: &str, text: &str, doc: &DocBlocks) {
        self.docs += 1;
        // Within: one row per group, keyed by its first block.
        let mut groups: BTreeMap<usize, (u64, BTreeMap<&'static str, u64>)> = BTreeMap::new();
        for r in &doc.repeats {
            let g = groups.entry(r.of).or_insert((1, BTreeMap::new()));
            g.0 += 1;
            *g.1.entry(r.kind.as_str()).or_default() += 1;
        }
        for (first, (count, kinds)) in groups {
            let block = &doc.blocks[first];
            let row = self
                .within
                .entry(block.key)
                .or_insert_with(|| RepeatedBlock {
                    kind: ScanKind::Within,
                    text: block.span.text(text).to_string(),
                    docs: 0,
                    occurrences: 0,
                    matches: BTreeMap::new(),
                    ids: Vec::new(),
                });
            row.docs += 1;
            row.occurrences += count;
            for (k, n) in kinds {
                *row.matches.entry(k).or_default() += n;
            }
            if row.ids.len() < self.sample {
                row.ids.push(id.to_string());
            }
        }
        // Across: distinct exact keys of this document.
        let mut seen: HashMap<u64, u64> = HashMap::with_capacity(doc.blocks.len());
        let mut first_block: HashMap<u64, usize> = HashMap::new();
        for (i, b) in doc.blocks.iter().enumerate() {
            *seen.entry(b.key).or_default() += 1;
            first_block.entry(b.key).or_insert(i);
        }
        let mut keys: Vec<(usize, u64)> = first_block.iter().map(|(&k, &i)| (i, k)).collect();
        keys.sort_unstable();
        for (i, key) in keys {
            let n = seen[&key];
            let order = self.across.len() as u64;
            let entry = self.across.entry(key).or_insert(Across {
                docs: 0,
                occurrences: 0,
                first_id: None,
                text: None,
                ids: Vec::new(),
                order,
            });
            entry.docs += 1;
            entry.occurrences += n;
            if entry.docs == 1 {
                entry.first_id = Some(id.to_string());
            } else {
                if entry.text.is_none() {
                    entry.text = Some(doc.blocks[i].span.text(text).to_string());
                    entry.ids.extend(entry.first_id.take());
                }
                if entry.ids.len() < self.sample {
                    entry.ids.push(id.to_string());
                }
            }
        }
    }

    /// Documents added so far.
    pub fn documents(&self) -> u64 {
        self.docs
    }

    /// The report, most occurrences first (ties: more documents, then first seen).
    pub fn finish(self) -> Vec<RepeatedBlock> {
        let mut across: Vec<(u64, RepeatedBlock)> = self
            .across
            .into_values()
            .filter(|a| a.docs >= self.min_docs)
            .map(|a| {
                (
                    a.order,
                    RepeatedBlock {
                        kind: ScanKind::Across,
                        text: a.text.unwrap_or_default(),
                        docs: a.docs,
                        occurrences: a.occurrences,
                        matches: BTreeMap::new(),
                        ids: a.ids,
                    },
                )
            })
            .collect();
        across.sort_by_key(|a| a.0);
        let mut rows: Vec<RepeatedBlock> = self.within.into_values().collect();
        rows.sort_by(|a, b| a.text.cmp(&b.text).then(a.ids.cmp(&b.ids)));
        rows.extend(across.into_iter().map(|(_, r)| r));
        // Stable sort keeps first-seen order among equal counts.
        rows.sort_by(|a, b| (b.occurrences, b.docs, a.kind).cmp(&(a.occurrences, a.docs, b.kind)));
        rows
    }
}

/// The kinds a within row can list, for help texts.
pub const MATCH_KINDS: [RepeatKind; 3] = [
    RepeatKind::Repeat,
    RepeatKind::NearRepeat,
    RepeatKind::Contained,
];
