//! Template-aware similarity: tokens that occur on a large share of the corpus's (or of a
//! group's) documents are removed before shingling.
//!
//! Why: pages generated from one template (a docs site, the gcloud CLI reference) share most of
//! their words, so plain word-shingle Jaccard calls different commands near-duplicates. The
//! template is learned from the corpus being deduplicated: a first pass counts each token's
//! document frequency (globally and per value of a group field such as a site), and a token on
//! at least `max_df` of the documents is dropped everywhere (or everywhere in that group).
//! A fraction, not a hard cap on counts: a cap deletes every true cluster larger than the cap,
//! a fraction only clusters larger than `max_df` of the corpus. Exact duplicates are counted
//! once, so a page copied a thousand times does not become "template".

use super::sign::{exact_key, tokens};
use crate::corpus::Document;
use crate::error::Result;
use crate::pipeline::{self, ReadOptions};
use crate::shingle::Shingler;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;

/// How template tokens are found.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateParams {
    /// A token on at least this fraction of documents is template.
    pub max_df: f64,
    /// Corpora (and groups) with fewer documents learn no template: in a handful of
    /// documents every shared word would pass the fraction.
    pub min_docs: u64,
    /// JSON field whose value names a group (e.g. a site); groups learn their own template.
    pub group_field: Option<String>,
}

impl Default for TemplateParams {
    fn default() -> Self {
        TemplateParams {
            max_df: 0.2,
            min_docs: 100,
            group_field: None,
        }
    }
}

/// Hasher for keys that are already well-mixed 64-bit hashes.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type IdBuild = BuildHasherDefault<IdHasher>;
type TokenSet = HashSet<u64, IdBuild>;

/// The learned template: tokens removed everywhere, and per group.
#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    global: TokenSet,
    groups: HashMap<u64, TokenSet, IdBuild>,
}

impl TokenFilter {
    /// True when `token` is template in the corpus or in `group`.
    #[inline]
    pub fn removes(&self, group: Option<&TokenSet>, token: u64) -> bool {
        self.global.contains(&token) || group.is_some_and(|g| g.contains(&token))
    }

    /// The group's own template tokens, if it learned any.
    pub fn group(&self, group: Option<u64>) -> Option<&TokenSet> {
        group.and_then(|g| self.groups.get(&g))
    }

    /// Number of corpus-wide template tokens and of (group, token) template pairs.
    pub fn sizes(&self) -> (usize, usize) {
        (
            self.global.len(),
            self.groups.values().map(HashSet::len).sum(),
        )
    }
}

#[derive(Default)]
struct Df {
    docs: u64,
    counts: HashMap<u64, u32, IdBuild>,
}

impl Df {
    fn add(&mut self, tokens: &[u64]) {
        self.docs += 1;
        for &t in tokens {
            *self.counts.entry(t).or_default() += 1;
        }
    }

    fn template(&self, p: &TemplateParams) -> TokenSet {
        if self.docs < p.min_docs.max(1) {
            return TokenSet::default();
        }
        let min = (p.max_df * self.docs as f64).ceil().max(1.0) as u32;
        self.counts
            .iter()
            .filter(|&(_, &c)| c >= min)
            .map(|(&t, _)| t)
            .collect()
    }
}

/// Document-frequency counts, fed one document at a time.
#[derive(Default)]
pub struct DfCounter {
    global: Df,
    groups: HashMap<u64, Df, IdBuild>,
    seen: HashSet<u64, IdBuild>,
}

impl DfCounter {
    /// Counts a document given its exact key and its distinct tokens.
    pub fn add(&mut self, group: Option<u64>, exact: u64, distinct_tokens: &[u64]) {
        if !self.seen.insert(exact) {
            return;
        }
        self.global.add(distinct_tokens);
        if let Some(g) = group {
            self.groups.entry(g).or_default().add(distinct_tokens);
        }
    }

    /// The template learned from the counts.
    pub fn finish(self, p: &TemplateParams) -> TokenFilter {
        let global = self.global.template(p);
        let groups = self
            .groups
            .iter()
            .map(|(&g, df)| (g, df.template(p)))
            .filter(|(_, s)| !s.is_empty())
            .collect();
        TokenFilter { global, groups }
    }
}

/// The first pass: streams the corpus and learns its template.
pub fn learn(
    inputs: &[PathBuf],
    opts: &ReadOptions,
    tokenizer: &Shingler,
    params: &TemplateParams,
) -> Result<TokenFilter> {
    let mut counter = DfCounter::default();
    pipeline::run(
        inputs,
        opts,
        |doc: Document| {
            let mut toks = Vec::new();
            tokens(tokenizer, &doc.text, &mut toks);
            let key = exact_key(&toks);
            toks.sort_unstable();
            toks.dedup();
            (group_of(&doc, params.group_field.as_deref()), key, toks)
        },
        |batch| {
            for (g, key, toks) in batch {
                counter.add(g, key, &toks);
            }
            Ok(())
        },
    )?;
    Ok(counter.finish(params))
}

/// Hash of the group field's value (a string, or any JSON value's text); `None` without one.
pub fn group_of(doc: &Document, field: Option<&str>) -> Option<u64> {
    let (field, record) = (field?, doc.record.as_deref()?);
    let mut de = serde_json::Deserializer::from_str(record);
    let value = FieldSeed(field).deserialize(&mut de).ok()??;
    Some(xxhash_rust::xxh3::xxh3_64(value.as_bytes()))
}

struct FieldSeed<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Option<String>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == self.0 {
                found = Some(match map.next_value::<serde_json::Value>()? {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                });
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_not_cap_and_small_corpora_learn_nothing() {
        let p = TemplateParams {
            max_df: 0.5,
            min_docs: 4,
            group_field: None,
        };
        let mut c = DfCounter::default();
        for key in 0..3 {
            c.add(None, key, &[1, 2]);
        }
        // Three documents: below min_docs, nothing is template.
        assert_eq!(
            DfCounter::finish(std::mem::take(&mut c), &p).sizes(),
            (0, 0)
        );
        for key in 0..6 {
            let toks: &[u64] = if key < 3 { &[1, 2] } else { &[1, 3] };
            c.add(Some(7), key, toks);
        }
        // An exact duplicate (same key) is counted once.
        c.add(Some(7), 0, &[2]);
        let f = c.finish(&p);
        assert!(f.removes(None, 1) && f.removes(None, 2) && f.removes(None, 3));
        assert!(!f.removes(None, 4));
    }

    #[test]
    fn groups_learn_their_own_template() {
        let p = TemplateParams {
            max_df: 0.6,
            min_docs: 2,
            group_field: Some("site".into()),
        };
        let mut c = DfCounter::default();
        c.add(Some(1), 1, &[10, 11]);
        c.add(Some(1), 2, &[10, 12]);
        c.add(Some(2), 3, &[20]);
        c.add(Some(2), 4, &[21]);
        let f = c.finish(&p);
        assert!(!f.removes(None, 10), "10 is on half the corpus only");
        assert!(f.removes(f.group(Some(1)), 10));
        assert!(!f.removes(f.group(Some(2)), 10));
        assert!(f.group(Some(2)).is_none());
    }

    #[test]
    fn group_field_value() {
        let doc = |rec: &str| Document {
            id: "x".into(),
            text: String::new(),
            origin: crate::corpus::Origin {
                path: std::sync::Arc::new("f".into()),
                line: 1,
            },
            record: Some(rec.into()),
        };
        let a = group_of(&doc(r#"{"text":"t","site":"a.com"}"#), Some("site"));
        let b = group_of(&doc(r#"{"site":"a.com","n":[1]}"#), Some("site"));
        let c = group_of(&doc(r#"{"site":"b.com"}"#), Some("site"));
        assert!(a.is_some() && a == b && a != c);
        assert_eq!(group_of(&doc(r#"{"x":1}"#), Some("site")), None);
        assert_eq!(group_of(&doc(r#"{"site":"a"}"#), None), None);
    }
}
