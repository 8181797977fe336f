//! The signing stage: every document becomes a [`DocSig`] (MinHash lanes, exact key, sizes,
//! and the shingle set when exact verification needs it), computed in parallel batches and
//! written in input order to a signature file ([`super::sigfile`]).
//!
//! Tokens are the words of Python's `text.lower().split()` (via
//! [`Shingler::lower_split`] with n = 1, one hash per word); shingles are word n-grams mixed
//! from those token hashes, after template tokens were removed when a [`TokenFilter`] is
//! given. A text with fewer than n (remaining) tokens is one shingle, as in
//! [`crate::shingle`].

use super::mapped::{MappedInputs, Span};
use super::sigfile::{DocSig, SigParams, SigWriter, Sketch};
use super::template::{group_of, TemplateParams, TokenFilter};
use crate::corpus::Document;
use crate::error::Result;
use crate::minhash::MinHasher;
use crate::oph::OnePermHasher;
use crate::pipeline::{self, ReadOptions, ReadStats};
use crate::shingle::{fmix64, ShingleKind, Shingler};
use std::path::{Path, PathBuf};

/// What the signing stage computes.
#[derive(Debug, Clone, PartialEq)]
pub struct SignParams {
    pub num_perm: usize,
    /// Word n-gram size.
    pub ngram: usize,
    pub seed: u64,
    /// Store shingle sets (for exact verification).
    pub keep_sets: bool,
    /// Remove template tokens learned from the corpus before shingling.
    pub template: Option<TemplateParams>,
    /// The sketch: one-permutation hashing (default) or classic MinHash.
    pub sketch: Sketch,
}

impl Default for SignParams {
    fn default() -> Self {
        SignParams {
            num_perm: 128,
            ngram: 5,
            seed: crate::DEFAULT_SEED,
            keep_sets: false,
            template: None,
            sketch: Sketch::Oph,
        }
    }
}

/// Turns documents into signatures; shared by all threads.
pub struct Signer {
    tokenizer: Shingler,
    hasher: Hasher,
    ngram: usize,
    keep_sets: bool,
    filter: Option<TokenFilter>,
    group_field: Option<String>,
}

impl Signer {
    /// A signer; `filter` is the learned template (see [`super::template::learn`]).
    pub fn new(p: &SignParams, filter: Option<TokenFilter>) -> Self {
        Signer {
            tokenizer: tokenizer(p.seed),
            hasher: match p.sketch {
                Sketch::Oph => Hasher::Oph(OnePermHasher::new(p.num_perm, p.seed)),
                Sketch::Minhash => Hasher::Minhash(MinHasher::new(p.num_perm, p.seed)),
            },
            ngram: p.ngram.max(1),
            keep_sets: p.keep_sets,
            group_field: p.template.as_ref().and_then(|t| t.group_field.clone()),
            filter,
        }
    }

    /// The signature of one document.
    pub fn sign(&self, doc: &Document) -> DocSig {
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut s) => self.sign_with(doc, &mut s),
            Err(_) => self.sign_with(doc, &mut Scratch::default()),
        })
    }

    fn sign_with(&self, doc: &Document, s: &mut Scratch) -> DocSig {
        let Scratch { toks, set } = s;
        tokens(&self.tokenizer, &doc.text, toks);
        let key = exact_key(toks);
        if let Some(f) = &self.filter {
            let group = f.group(group_of(doc, self.group_field.as_deref()));
            toks.retain(|&t| !f.removes(group, t));
        }
        set.clear();
        ngrams(toks, self.ngram, set);
        // MinHash ignores repeats, so the set is only sorted when it is stored: that sort
        // was 9 % of a whole run on the man pages.
        if self.keep_sets {
            *set = crate::shingle::sorted_set(std::mem::take(set));
        }
        let (lanes, bins) = self.hasher.sign(set);
        DocSig {
            id: doc.id.clone(),
            lanes,
            shingles: set.len().min(u32::MAX as usize) as u32,
            text_len: doc.text.len().min(u32::MAX as usize) as u32,
            exact_key: key,
            bins,
            set: self.keep_sets.then(|| set.clone()),
        }
    }
}

impl Signer {
    /// The sorted, de-duplicated shingle set of one document: what [`Signer::sign`] stores
    /// when sets are kept, for rechecking a borderline pair from the text.
    pub fn set(&self, doc: &Document) -> Vec<u64> {
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut s) => self.set_with(doc, &mut s.toks),
            Err(_) => self.set_with(doc, &mut Vec::new()),
        })
    }

    /// [`Signer::set`] with a reused token buffer, and the set allocated once at its final
    /// capacity (at most one n-gram per token): growing both from empty was a dozen
    /// reallocations per rechecked document.
    fn set_with(&self, doc: &Document, toks: &mut Vec<u64>) -> Vec<u64> {
        tokens(&self.tokenizer, &doc.text, toks);
        if let Some(f) = &self.filter {
            let group = f.group(group_of(doc, self.group_field.as_deref()));
            toks.retain(|&t| !f.removes(group, t));
        }
        let mut set = Vec::with_capacity(toks.len().max(1));
        ngrams(toks, self.ngram, &mut set);
        crate::shingle::sorted_set(set)
    }

    /// True when [`Signer::set`] needs the document's whole record (a template group field).
    pub fn needs_record(&self) -> bool {
        self.group_field.is_some()
    }
}

/// The sketch a [`Signer`] computes.
enum Hasher {
    Oph(OnePermHasher),
    Minhash(MinHasher),
}

impl Hasher {
    /// The K lanes of a shingle multiset and the bins filled before densification (MinHash:
    /// K, or 0 without shingles).
    fn sign(&self, shingles: &[u64]) -> (Vec<u32>, u32) {
        match self {
            Hasher::Oph(h) => {
                let mut lanes = vec![0; h.num_perm()];
                let bins = h.sign_into(shingles, &mut lanes);
                (lanes, bins)
            }
            Hasher::Minhash(h) => {
                let mut lanes = vec![0; h.num_perm()];
                h.sign_into(shingles, &mut lanes);
                let bins = if shingles.is_empty() {
                    0
                } else {
                    h.num_perm() as u32
                };
                (lanes, bins)
            }
        }
    }
}

/// Per-thread token and shingle buffers, reused across documents: growing fresh vectors for
/// every document was a visible share of a run in `perf` (malloc, realloc, copies).
#[derive(Default)]
struct Scratch {
    toks: Vec<u64>,
    set: Vec<u64>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// The word tokenizer: one well-mixed hash per word of `text.lower().split()`.
pub fn tokenizer(seed: u64) -> Shingler {
    Shingler {
        kind: ShingleKind::Word,
        n: 1,
        seed,
    }
}

/// The token hashes of `text` into `out` (cleared first): [`Shingler::dedup_words`], one
/// branch-free hash per short word and nothing mixed twice (xxh3 per word plus a unigram
/// mix was a third of the signing stage); the shingles are their n-grams.
pub fn tokens(tokenizer: &Shingler, text: &str, out: &mut Vec<u64>) {
    tokenizer.dedup_words(text, out);
}

/// Order-dependent hash of a token sequence: equal for texts that differ only in case and
/// white space.
pub fn exact_key(tokens: &[u64]) -> u64 {
    let mut h = 0x243F_6A88_85A3_08D3u64 ^ tokens.len() as u64;
    for &t in tokens {
        h = (h.rotate_left(29) ^ t).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fmix64(h)
}

/// Word n-grams of token hashes: the same mixing as every other shingle in dupsift.
pub use crate::shingle::ngrams;

/// What the signing stage read and wrote.
#[derive(Debug, Clone, Default)]
pub struct SignReport {
    pub stats: ReadStats,
    /// Documents written (records read minus skipped).
    pub docs: u64,
    /// Corpus-wide template tokens and (group, token) template pairs removed.
    pub template_tokens: (usize, usize),
}

/// Stage 1: streams `inputs` (twice with a template: once to learn it) and writes the
/// signature file `sig_path`.
pub fn sign_corpus(
    inputs: &[PathBuf],
    opts: &ReadOptions,
    params: &SignParams,
    sig_path: &Path,
) -> Result<SignReport> {
    sign_inputs(inputs, None, opts, params, sig_path).map(|(report, _, _)| report)
}

/// [`sign_corpus`] reading `mapped` (the same `inputs`, mapped: see [`super::mapped`]) in
/// parallel chunks when given; then also returns every written document's [`Span`], and the
/// signer (which can recompute a document's shingle set).
pub fn sign_inputs(
    inputs: &[PathBuf],
    mapped: Option<&MappedInputs>,
    opts: &ReadOptions,
    params: &SignParams,
    sig_path: &Path,
) -> Result<(SignReport, Vec<Span>, Signer)> {
    let filter = match &params.template {
        Some(t) => Some(super::template::learn(
            inputs,
            opts,
            &tokenizer(params.seed),
            t,
        )?),
        None => None,
    };
    let template_tokens = filter.as_ref().map(TokenFilter::sizes).unwrap_or_default();
    let signer = Signer::new(params, filter);
    let mut writer = SigWriter::create(
        sig_path,
        SigParams {
            num_perm: params.num_perm as u32,
            ngram: params.ngram as u32,
            seed: params.seed,
            sets: params.keep_sets,
            template: params.template.is_some(),
            sketch: params.sketch,
        },
    )?;
    let mut spans = Vec::new();
    let stats = match mapped {
        Some(m) => m.run(
            opts,
            signer.group_field.is_some(),
            |doc, _| signer.sign(&doc),
            |batch| {
                spans.reserve(batch.len());
                batch.iter().try_for_each(|(d, span)| {
                    spans.push(*span);
                    writer.push(d)
                })
            },
        )?,
        None => pipeline::run(
            inputs,
            opts,
            |doc| signer.sign(&doc),
            |batch| batch.iter().try_for_each(|d| writer.push(d)),
        )?,
    };
    let docs = writer.finish()?;
    Ok((
        SignReport {
            stats,
            docs,
            template_tokens,
        },
        spans,
        signer,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_key_ignores_case_and_spacing_only() {
        let t = tokenizer(1);
        let key = |s: &str| {
            let mut v = Vec::new();
            tokens(&t, s, &mut v);
            exact_key(&v)
        };
        assert_eq!(key("Hello  World\n"), key("hello world"));
        assert_ne!(key("hello world"), key("world hello"));
        assert_ne!(key("hello"), key("hello hello"));
    }

    #[test]
    fn ngrams_short_and_long() {
        let mut out = Vec::new();
        ngrams(&[1, 2, 3], 5, &mut out);
        assert_eq!(out.len(), 1);
        out.clear();
        ngrams(&[1, 2, 3, 4, 5, 6], 5, &mut out);
        assert_eq!(out.len(), 2);
        out.clear();
        ngrams(&[], 5, &mut out);
        assert!(out.is_empty());
    }
}
