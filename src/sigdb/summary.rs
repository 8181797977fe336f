//! What `inspect` shows: the header, counts and the top entries of a database.

use super::{Grouping, Policy, SignatureDb};
use serde::Serialize;

/// Header and counts of a database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DbSummary {
    pub format_version: u16,
    pub seed: u64,
    pub num_perm: usize,
    pub bands: usize,
    pub rows: usize,
    pub shingle_kind: String,
    pub shingle_n: usize,
    pub normalizer_version: u16,
    pub unit: String,
    pub min_near_words: usize,
    pub near_threshold: f64,
    pub containment: f64,
    pub grouping: Grouping,
    pub policy: Policy,
    pub groups: usize,
    pub documents: u64,
    pub entries: usize,
    pub long_entries: usize,
    /// Entries that are boilerplate under `policy`.
    pub active_entries: usize,
}

/// One row of the top list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopEntry {
    pub group: String,
    pub key: String,
    pub docs: u64,
    pub near_docs: u64,
    pub group_docs: u64,
    pub occurrences: u64,
    pub words: u32,
    pub long: bool,
    pub example: String,
    pub first_id: String,
}

/// Summarizes `db` as a file of the format this build writes would hold it.
pub fn summarize(db: &SignatureDb) -> DbSummary {
    summarize_version(db, super::FORMAT_VERSION)
}

/// Summarizes `db`, read from a file of format `format_version` ([`super::format::read_db_version`]).
pub fn summarize_version(db: &SignatureDb, format_version: u16) -> DbSummary {
    let p = &db.params;
    DbSummary {
        format_version,
        seed: p.blocks.shingler.seed,
        num_perm: p.num_perm,
        bands: p.lsh.bands,
        rows: p.lsh.rows,
        shingle_kind: format!("{:?}", p.blocks.shingler.kind).to_lowercase(),
        shingle_n: p.blocks.shingler.n,
        normalizer_version: p.normalizer_version,
        unit: format!("{:?}", p.blocks.unit).to_lowercase(),
        min_near_words: p.blocks.min_near_words,
        near_threshold: p.blocks.near_threshold,
        containment: p.blocks.containment,
        grouping: db.grouping.clone(),
        policy: db.policy,
        groups: db.groups.len(),
        documents: db.documents(),
        entries: db.entries.len(),
        long_entries: db
            .entries
            .sig
            .iter()
            .filter(|&&s| s != super::NO_SIG)
            .count(),
        active_entries: db.active(&db.policy).count(),
    }
}

/// The `n` active entries (0 = all) in the most documents; ties by occurrences, then group
/// and key, so the list is deterministic.
pub fn top_entries(db: &SignatureDb, policy: &Policy, n: usize) -> Vec<TopEntry> {
    let mut active: Vec<usize> = db.active(policy).collect();
    let e = &db.entries;
    active.sort_by(|&a, &b| {
        (e.near_docs[b], e.occurrences[b], e.group[a], e.key[a]).cmp(&(
            e.near_docs[a],
            e.occurrences[a],
            e.group[b],
            e.key[b],
        ))
    });
    if n > 0 {
        active.truncate(n);
    }
    active
        .into_iter()
        .map(|i| {
            let g = &db.groups[e.group[i] as usize];
            TopEntry {
                group: g.name.clone(),
                key: format!("{:016x}", e.key[i]),
                docs: e.docs[i],
                near_docs: e.near_docs[i],
                group_docs: g.docs,
                occurrences: e.occurrences[i],
                words: e.words[i],
                long: e.sig[i] != super::NO_SIG,
                example: e.example(i).to_string(),
                first_id: e.first_id(i).to_string(),
            }
        })
        .collect()
}
