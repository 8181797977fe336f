//! Kept text against gold text: bag-of-word-n-gram precision, recall and F1.
//!
//! The article-extraction benchmark's measure (n = 4): both texts are lowercased and split on
//! white space, each becomes a multiset of word n-grams, and the overlap is the multiset
//! intersection. It rewards keeping the main text in order without caring about white space
//! or line breaks. A text with fewer than n words is one n-gram of all of them (as dupsift's
//! shingles are), so a one-line gold text can still be matched. Scores are computed per
//! document and averaged (macro, as the benchmark reports), and also from summed counts
//! (micro, which weighs long documents more).

use super::read::{each_json, string_field};
use super::{Prf, Scores};
use crate::error::Result;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use xxhash_rust::xxh3::xxh3_64;

/// Field names of the two files.
#[derive(Debug, Clone)]
pub struct TextSpec {
    pub id_field: String,
    /// Text field of the predicted (cleaned) file.
    pub text_field: String,
    /// Text field of the gold file.
    pub gold_field: String,
    /// Words per n-gram.
    pub n: usize,
}

/// Text-overlap scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextReport {
    /// Mean of the per-document precision, recall and F1.
    pub macro_average: Scores,
    /// From n-gram counts summed over documents.
    pub micro: Prf,
    /// Gold documents scored.
    pub documents: u64,
    /// Gold documents absent from the predicted file (scored as empty output).
    pub missing: u64,
    /// Predicted documents without gold (not scored).
    pub unlabelled: u64,
}

/// Multiset of the lowercased word n-grams of `text`, keyed by a 64-bit hash of the n-gram.
pub fn ngram_bag(text: &str, n: usize) -> HashMap<u64, u32> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let mut bag = HashMap::new();
    let n = n.max(1);
    let mut add = |gram: &[&str]| {
        let joined = gram.join("\u{0}");
        *bag.entry(xxh3_64(joined.as_bytes())).or_insert(0) += 1;
    };
    match words.len() {
        0 => {}
        len if len < n => add(&words),
        _ => words.windows(n).for_each(add),
    }
    bag
}

/// N-gram counts of one predicted text against its gold text.
pub fn overlap(predicted: &str, gold: &str, n: usize) -> Prf {
    let (p, g) = (ngram_bag(predicted, n), ngram_bag(gold, n));
    let common: u64 = p
        .iter()
        .map(|(k, &c)| c.min(g.get(k).copied().unwrap_or(0)) as u64)
        .sum();
    Prf {
        true_positives: common,
        predicted: p.values().map(|&c| c as u64).sum(),
        gold: g.values().map(|&c| c as u64).sum(),
    }
}

/// Scores the texts of `predicted` (JSONL) against the gold texts of `gold` (JSONL).
pub fn score(predicted: &Path, gold: &Path, spec: &TextSpec) -> Result<TextReport> {
    let mut golds: HashMap<String, Option<String>> = HashMap::new();
    each_json(gold, |_, rec| {
        let id = string_field(&rec, &spec.id_field)?;
        let text = text_field(&rec, &spec.gold_field)?;
        if golds.insert(id.clone(), Some(text)).is_some() {
            return Err(format!("document {id:?} listed twice"));
        }
        Ok(())
    })?;
    let (mut sum, mut micro, mut documents, mut unlabelled) =
        (Scores::default(), Prf::default(), 0, 0);
    let mut add = |prf: Prf| {
        let s = prf.scores();
        sum.precision += s.precision;
        sum.recall += s.recall;
        sum.f1 += s.f1;
        micro.add(prf);
        documents += 1;
    };
    each_json(predicted, |_, rec| {
        let id = string_field(&rec, &spec.id_field)?;
        match golds.get_mut(&id) {
            Some(slot) => match slot.take() {
                Some(g) => add(overlap(&text_field(&rec, &spec.text_field)?, &g, spec.n)),
                None => return Err(format!("document {id:?} listed twice")),
            },
            None => unlabelled += 1,
        }
        Ok(())
    })?;
    let mut missing = 0;
    for g in golds.into_values().flatten() {
        missing += 1;
        add(overlap("", &g, spec.n));
    }
    // With no gold documents the sums are 0 and so is every average.
    let d = documents.max(1) as f64;
    Ok(TextReport {
        macro_average: Scores {
            precision: sum.precision / d,
            recall: sum.recall / d,
            f1: sum.f1 / d,
        },
        micro,
        documents,
        missing,
        unlabelled,
    })
}

fn text_field(rec: &serde_json::Map<String, Value>, field: &str) -> Result<String, String> {
    match rec.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Null) | None => Ok(String::new()),
        Some(other) => Err(format!("field {field:?} is not a string: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn four_gram_overlap_by_hand() {
        // Predicted: "A b c d e x" -> abcd, bcde, cdex (3). Gold: "a b c d e f" -> abcd, bcde,
        // cdef (3). Common 2: P = R = 2/3.
        let prf = overlap("A b c d e x", "a  b\nc d e f", 4);
        assert_eq!(
            prf,
            Prf {
                true_positives: 2,
                predicted: 3,
                gold: 3
            }
        );
        // Multiset: a repeated n-gram counts as often as it is in both.
        let prf = overlap("a b c d a b c d", "a b c d", 4);
        assert_eq!((prf.true_positives, prf.predicted, prf.gold), (1, 5, 1));
        // Short texts are one n-gram; empty against non-empty scores 0.
        assert_eq!(overlap("Hello world", "hello WORLD", 4).f1(), 1.0);
        assert_eq!(overlap("", "hello world", 4).f1(), 0.0);
    }

    #[test]
    fn macro_and_micro_averages_over_files() {
        let dir = tempfile::tempdir().unwrap();
        let pred = dir.path().join("pred.jsonl");
        let gold = dir.path().join("gold.jsonl");
        let mut f = std::fs::File::create(&pred).unwrap();
        writeln!(f, r#"{{"id": "1", "text": "a b c d e x"}}"#).unwrap();
        writeln!(f, r#"{{"id": "9", "text": "unlabelled"}}"#).unwrap();
        let mut f = std::fs::File::create(&gold).unwrap();
        writeln!(f, r#"{{"id": "1", "gold": "a b c d e f"}}"#).unwrap();
        writeln!(f, r#"{{"id": "2", "gold": "p q r s"}}"#).unwrap();
        let spec = TextSpec {
            id_field: "id".into(),
            text_field: "text".into(),
            gold_field: "gold".into(),
            n: 4,
        };
        let r = score(&pred, &gold, &spec).unwrap();
        assert_eq!((r.documents, r.missing, r.unlabelled), (2, 1, 1));
        // Doc 1: P = R = 2/3; doc 2 missing: P = R = 0. Macro = 1/3.
        assert!((r.macro_average.f1 - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            r.micro,
            Prf {
                true_positives: 2,
                predicted: 3,
                gold: 4
            }
        );
    }
}
