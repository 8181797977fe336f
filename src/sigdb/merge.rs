//! Merging databases learned on shards of a corpus.
//!
//! Counts of an exact (group, key) add up; the example and first document id come from the
//! first database (in argument order) that has the entry, which is what learning on the
//! shards concatenated in that order would have seen first; near clusters are recomputed by
//! [`super::finalize`]. So `merge(learn(A), learn(B)) == learn(A + B)` exactly (tested).

use super::format::param_differences;
use super::{finalize, Entries, Entry, GroupInfo, SignatureDb, NO_SIG};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// An entry being merged with its own copies of its example, first document id and
/// signature, keyed by (group name, key).
type Merged = (Entry, String, String, Option<Vec<u32>>);

/// Merges `dbs` (each with the path it came from, for messages). Refuses databases whose
/// hash parameters, grouping or policy differ from the first one's.
pub fn merge(dbs: Vec<(PathBuf, SignatureDb)>) -> Result<SignatureDb> {
    let mut iter = dbs.into_iter();
    let Some((first_path, first)) = iter.next() else {
        return Err(Error::Usage("merge needs at least one database".into()));
    };
    let k = first.params.num_perm;
    let mut groups: BTreeMap<String, u64> = BTreeMap::new();
    let mut entries: BTreeMap<(String, u64), Merged> = BTreeMap::new();
    let (params, grouping, policy) = (first.params, first.grouping.clone(), first.policy);
    for (path, db) in std::iter::once((first_path.clone(), first)).chain(iter) {
        let diffs = param_differences(&params, &db.params);
        let mismatch = if !diffs.is_empty() {
            Some(diffs.join(", "))
        } else if db.grouping != grouping {
            Some(format!(
                "grouping: {} vs {}",
                grouping.describe(),
                db.grouping.describe()
            ))
        } else if db.policy != policy {
            Some(format!("policy: {policy:?} vs {:?}", db.policy))
        } else {
            None
        };
        if let Some(m) = mismatch {
            return Err(Error::BadDb {
                path,
                problem: format!(
                    "its parameters differ from {}'s ({m})",
                    first_path.display()
                ),
                fix: "learn every shard with the same options before merging".into(),
            });
        }
        for g in &db.groups {
            *groups.entry(g.name.clone()).or_default() += g.docs;
        }
        for (i, e) in db.entries.iter().enumerate() {
            let name = db.groups[e.group as usize].name.clone();
            match entries.get_mut(&(name.clone(), e.key)) {
                Some((acc, ..)) => {
                    acc.docs += e.docs;
                    acc.occurrences += e.occurrences;
                }
                None => {
                    let sig = db.signature(&e).map(<[u32]>::to_vec);
                    let (example, first_id) = (db.entries.example(i), db.entries.first_id(i));
                    entries.insert(
                        (name, e.key),
                        (e, example.to_string(), first_id.to_string(), sig),
                    );
                }
            }
        }
    }
    let group_index: BTreeMap<&str, u32> = groups
        .keys()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i as u32))
        .collect();
    let mut sigs = Vec::new();
    let text: usize = entries.values().map(|m| m.1.len() + m.2.len()).sum();
    let mut out = Entries::with_capacity(entries.len(), text);
    for ((name, _), (mut e, example, first_id, sig)) in entries {
        e.group = group_index[name.as_str()];
        e.sig = match sig {
            Some(s) => {
                sigs.extend_from_slice(&s);
                (sigs.len() / k - 1) as u32
            }
            None => NO_SIG,
        };
        out.push(e, &example, &first_id);
    }
    let mut db = SignatureDb {
        params,
        grouping,
        policy,
        groups: groups
            .into_iter()
            .map(|(name, docs)| GroupInfo { name, docs })
            .collect(),
        entries: out,
        sigs: sigs.into(),
    };
    finalize(&mut db);
    Ok(db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::BlockParams;
    use crate::sigdb::learn::Summarizer;
    use crate::sigdb::{Grouping, HashParams, Learner, Policy};
    use proptest::prelude::*;

    const LINES: [&str; 8] = [
        "Menu",
        "Share this",
        "Story continues below advertisement",
        "Copyright 2013 the Globe and Mail Inc. All rights reserved. Do not copy this page",
        "Copyright 2014 the Globe and Mail Inc. All rights reserved. Do not copy this text",
        "a paragraph of article text that is long enough to be hashed with minhash too",
        "body",
        "Report an error",
    ];

    fn learn(docs: &[(u8, Vec<u8>)], first: usize) -> SignatureDb {
        let params = HashParams::new(BlockParams::default(), 32);
        let grouping = Grouping::Field("site".into());
        let s = Summarizer::new(params, grouping.clone());
        let mut l = Learner::new(params, grouping, Policy::default());
        for (i, (site, lines)) in docs.iter().enumerate() {
            let text: Vec<&str> = lines.iter().map(|&j| LINES[j as usize % 8]).collect();
            let rec = format!(r#"{{"site":"s{site}"}}"#);
            l.add(s.summarize(&format!("d{}", first + i), &text.join("\n"), Some(&rec)));
        }
        l.finish()
    }

    proptest! {
        // Fixed seed and no regression files: deterministic runs, fixed top-level layout.
        #![proptest_config(ProptestConfig {
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_0e46),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]
        #[test]
        fn merging_shards_equals_learning_the_union(
            docs in prop::collection::vec((0u8..3, prop::collection::vec(0u8..8, 0..6)), 0..12),
            cut in 0usize..12,
        ) {
            let cut = cut.min(docs.len());
            let whole = learn(&docs, 0);
            let merged = merge(vec![
                (PathBuf::from("a"), learn(&docs[..cut], 0)),
                (PathBuf::from("b"), learn(&docs[cut..], cut)),
            ]).unwrap();
            prop_assert_eq!(merged, whole);
        }
    }

    #[test]
    fn refuses_different_parameters() {
        let a = learn(&[(0, vec![0, 1])], 0);
        let mut b = a.clone();
        b.params.num_perm = 16;
        let err = merge(vec![
            (PathBuf::from("a.dsig"), a),
            (PathBuf::from("b.dsig"), b),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("b.dsig:") && err.contains("num_perm"),
            "{err}"
        );
    }
}
