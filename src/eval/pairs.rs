//! Duplicate clusters against labelled groups or pairs.
//!
//! Pairwise scores count document pairs: a predicted pair is two documents in one predicted
//! cluster, a gold pair two documents in one labelled group (or a listed pair). Counting goes
//! through cluster and group sizes (`C(n, 2)` per cluster, per group and per cell of their
//! contingency table), so a cluster of 10,000 near-identical pages costs 10,000 steps, not
//! 50 million pairs. Documents named in neither file are singletons on both sides: they add no
//! pair, but they do count in the adjusted Rand index's total (see [`PairsReport::documents`]).

use super::read::{each_json, each_tsv, string_field};
use super::Prf;
use crate::error::Result;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Document id -> cluster (or group) name; documents not in the map are singletons.
pub type Assignment = HashMap<String, String>;

/// Pairwise scores of a clustering.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairsReport {
    /// Document pairs: predicted together, labelled together.
    pub pairs: Prf,
    /// Adjusted Rand index (labels as groups only; pairs are not a partition).
    pub adjusted_rand_index: Option<f64>,
    /// Documents in the universe: those named in either file, or more when the caller knows
    /// the corpus size (unnamed documents are singletons on both sides).
    pub documents: u64,
    /// Predicted clusters of two or more documents.
    pub predicted_clusters: u64,
    /// Labelled groups of two or more documents (0 for pair labels).
    pub gold_groups: u64,
}

/// Reads `dedup --clusters` output: one JSON line per clustered document with its `id` and
/// `cluster` (the id of the document the cluster keeps).
pub fn read_clusters(path: &Path) -> Result<Assignment> {
    let mut out = Assignment::new();
    each_json(path, |_, rec| {
        let id = string_field(&rec, "id")?;
        let cluster = string_field(&rec, "cluster")?;
        if out.insert(id.clone(), cluster).is_some() {
            return Err(format!("document {id:?} listed twice"));
        }
        Ok(())
    })?;
    Ok(out)
}

/// Reads labelled groups: `id<TAB>group` per line (more columns are ignored), after `skip`
/// header lines.
pub fn read_groups(path: &Path, skip: u64) -> Result<Assignment> {
    let mut out = Assignment::new();
    each_tsv(path, skip, |_, cols| {
        let [id, group, ..] = cols[..] else {
            return Err("expected `id<TAB>group`".into());
        };
        if out.insert(id.to_owned(), group.to_owned()).is_some() {
            return Err(format!("document {id:?} listed twice"));
        }
        Ok(())
    })?;
    Ok(out)
}

/// Reads labelled duplicate pairs: `id<TAB>id` per line (more columns are ignored), after
/// `skip` header lines. Order within a pair and repeated pairs do not matter.
pub fn read_pairs(path: &Path, skip: u64) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    each_tsv(path, skip, |_, cols| {
        let [a, b, ..] = cols[..] else {
            return Err("expected `id<TAB>id`".into());
        };
        out.push((a.to_owned(), b.to_owned()));
        Ok(())
    })?;
    Ok(out)
}

/// Scores `predicted` clusters against labelled `gold` groups. `documents` is the corpus size
/// when known; it is raised to the number of distinct ids named in either assignment.
pub fn score_groups(predicted: &Assignment, gold: &Assignment, documents: u64) -> PairsReport {
    let pred_sizes = sizes(predicted.values());
    let gold_sizes = sizes(gold.values());
    let mut cells: HashMap<(&str, &str), u64> = HashMap::new();
    for (id, p) in predicted {
        if let Some(g) = gold.get(id) {
            *cells.entry((p.as_str(), g.as_str())).or_default() += 1;
        }
    }
    let named = predicted.len() as u64
        + gold
            .keys()
            .filter(|id| !predicted.contains_key(*id))
            .count() as u64;
    let n = documents.max(named);
    let index: u64 = cells.values().map(|&c| choose2(c)).sum();
    let a: u64 = pred_sizes.values().map(|&c| choose2(c)).sum();
    let b: u64 = gold_sizes.values().map(|&c| choose2(c)).sum();
    PairsReport {
        pairs: Prf {
            true_positives: index,
            predicted: a,
            gold: b,
        },
        adjusted_rand_index: Some(adjusted_rand_index(index, a, b, n)),
        documents: n,
        predicted_clusters: pred_sizes.values().filter(|&&c| c >= 2).count() as u64,
        gold_groups: gold_sizes.values().filter(|&&c| c >= 2).count() as u64,
    }
}

/// Scores `predicted` clusters against labelled duplicate pairs. A labelled pair is found when
/// both documents sit in one predicted cluster; every other predicted pair is a false positive.
pub fn score_pairs(predicted: &Assignment, gold: &[(String, String)]) -> PairsReport {
    let pred_sizes = sizes(predicted.values());
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    let mut tp = 0;
    let mut ids: HashSet<&str> = predicted.keys().map(String::as_str).collect();
    for (a, b) in gold {
        ids.insert(a);
        ids.insert(b);
        let key = if a <= b {
            (a.as_str(), b.as_str())
        } else {
            (b.as_str(), a.as_str())
        };
        if a == b || !seen.insert(key) {
            continue;
        }
        if matches!((predicted.get(a), predicted.get(b)), (Some(x), Some(y)) if x == y) {
            tp += 1;
        }
    }
    PairsReport {
        pairs: Prf {
            true_positives: tp,
            predicted: pred_sizes.values().map(|&c| choose2(c)).sum(),
            gold: seen.len() as u64,
        },
        adjusted_rand_index: None,
        documents: ids.len() as u64,
        predicted_clusters: pred_sizes.values().filter(|&&c| c >= 2).count() as u64,
        gold_groups: 0,
    }
}

/// Hubert and Arabie's adjusted Rand index from pair counts: `index` pairs together in both
/// partitions, `a` together in the first, `b` in the second, `n` elements. 1 for identical
/// partitions, about 0 for independent ones; when both partitions are all singletons (or both
/// one cluster) the index is undefined and 1 is returned, as scikit-learn does.
pub fn adjusted_rand_index(index: u64, a: u64, b: u64, n: u64) -> f64 {
    let total = choose2(n) as f64;
    if total == 0.0 {
        return 1.0;
    }
    let expected = a as f64 * b as f64 / total;
    let max = (a + b) as f64 / 2.0;
    if max == expected {
        return 1.0;
    }
    (index as f64 - expected) / (max - expected)
}

fn sizes<'a>(labels: impl Iterator<Item = &'a String>) -> HashMap<&'a str, u64> {
    let mut out: HashMap<&str, u64> = HashMap::new();
    for l in labels {
        *out.entry(l.as_str()).or_default() += 1;
    }
    out
}

fn choose2(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assign(pairs: &[(&str, &str)]) -> Assignment {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn ari_matches_scikit_learn_examples() {
        // adjusted_rand_score([0, 0, 1, 1], [0, 0, 1, 2]) == 4/7: index 1, a 2, b 1, n 4.
        assert!((adjusted_rand_index(1, 2, 1, 4) - 4.0 / 7.0).abs() < 1e-12);
        // All in one cluster vs all singletons: 0.
        assert_eq!(adjusted_rand_index(0, 6, 0, 4), 0.0);
        // Both all singletons: undefined, 1 by convention.
        assert_eq!(adjusted_rand_index(0, 0, 0, 4), 1.0);
    }

    #[test]
    fn groups_give_pairwise_counts_and_ari() {
        // Gold {a,b}, {c,d}; predicted {a,b}, {c}, {d} as in the scikit-learn example, where
        // c and d are singletons (absent from the predicted clusters file).
        let gold = assign(&[("a", "g1"), ("b", "g1"), ("c", "g2"), ("d", "g2")]);
        let pred = assign(&[("a", "a"), ("b", "a")]);
        let r = score_groups(&pred, &gold, 0);
        assert_eq!(
            r.pairs,
            Prf {
                true_positives: 1,
                predicted: 1,
                gold: 2
            }
        );
        assert_eq!(r.documents, 4);
        assert!((r.adjusted_rand_index.unwrap() - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!((r.predicted_clusters, r.gold_groups), (1, 2));
        // Relabelled identical partitions score 1.
        let same = assign(&[("a", "x"), ("b", "x"), ("c", "y"), ("d", "y")]);
        let r = score_groups(&same, &gold, 100);
        assert_eq!(r.adjusted_rand_index, Some(1.0));
        assert_eq!(r.pairs.scores().f1, 1.0);
    }

    #[test]
    fn labelled_pairs_are_not_closed_transitively() {
        // Predicted {a,b,c}: pairs ab, ac, bc. Gold lists ab and ba (same) and cd.
        let pred = assign(&[("a", "a"), ("b", "a"), ("c", "a")]);
        let gold: Vec<(String, String)> = [("a", "b"), ("b", "a"), ("c", "d")]
            .iter()
            .map(|(x, y)| (x.to_string(), y.to_string()))
            .collect();
        let r = score_pairs(&pred, &gold);
        assert_eq!(
            r.pairs,
            Prf {
                true_positives: 1,
                predicted: 3,
                gold: 2
            }
        );
        assert_eq!(r.adjusted_rand_index, None);
        assert_eq!(r.documents, 4);
    }
}
