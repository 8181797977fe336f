//! Blocks of one document and their repeats inside it.
//!
//! Every block gets an exact key (xxh3 of its normalized text). Blocks with at least
//! `min_near_words` words also get a shingle set, and a later block is a repeat of an earlier
//! one when (in this order) its key is equal (`repeat`), its shingle Jaccard reaches
//! `near_threshold` (`near-repeat`), or at least `containment` of its shingles lie inside a
//! longer earlier block (`contained`: the truncated third copy of the seed page's notice).
//! Exact sets rather than MinHash are used here because one document's blocks are few and
//! small; an inverted index over shingles keeps the comparison linear in practice.

// Keys are already xxh3 hashes: FxHash (rustc-hash) instead of SipHash, ~4 % of learn/clean.
use crate::normalize::normalize_words_into;
use crate::segment::{segment_into, Span, Unit};
use crate::shingle::{containment, intersection_len, Shingler};
use rustc_hash::FxHashMap as KeyMap;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Parameters of block analysis (every one changes what counts as a repeat).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BlockParams {
    pub unit: Unit,
    pub shingler: Shingler,
    /// Jaccard at or above which two long blocks are near-repeats.
    pub near_threshold: f64,
    /// Fraction of a block's shingles inside a longer block at or above which it is a
    /// truncated copy.
    pub containment: f64,
    /// Blocks with fewer words match by exact key only: short lines ("Share", "Next") are too
    /// short for similarity to mean anything.
    pub min_near_words: usize,
}

impl Default for BlockParams {
    fn default() -> Self {
        BlockParams {
            unit: Unit::Line,
            shingler: Shingler::default(),
            near_threshold: 0.8,
            containment: 0.8,
            min_near_words: 8,
        }
    }
}

/// Why a block is a repeat of an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RepeatKind {
    Repeat,
    NearRepeat,
    Contained,
}

impl RepeatKind {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RepeatKind::Repeat => "repeat",
            RepeatKind::NearRepeat => "near-repeat",
            RepeatKind::Contained => "contained",
        }
    }
}

/// One block of a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub span: Span,
    /// xxh3 of the normalized text (of the raw trimmed text when normalization leaves nothing,
    /// so "***" and "---" stay different).
    pub key: u64,
    /// Words of the normalized text.
    pub words: usize,
    /// Sorted shingle set; empty for blocks shorter than `min_near_words`.
    pub shingles: Vec<u64>,
}

/// A block found to repeat an earlier block of the same document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InDocRepeat {
    /// Index of the repeating block.
    pub block: usize,
    /// Index of the first block of its group (the one that is kept).
    pub of: usize,
    pub kind: RepeatKind,
    /// 1.0 for exact repeats, else the Jaccard or containment that decided.
    pub score: f64,
}

/// A document's blocks and in-document repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct DocBlocks {
    pub blocks: Vec<Block>,
    /// Sorted by `block`.
    pub repeats: Vec<InDocRepeat>,
}

/// Seed domain for keys of blocks whose normalized text is empty.
const RAW_KEY_SEED: u64 = 0x5241_575f_4b45_5953;

/// Exact key of one block's text (see [`Block::key`]); `norm` is scratch space.
pub fn block_key(text: &str, seed: u64, norm: &mut String) -> u64 {
    block_key_and_words(text, seed, norm).0
}

/// [`block_key`] and the number of words of the normalized text (left in `norm`).
fn block_key_and_words(text: &str, seed: u64, norm: &mut String) -> (u64, usize) {
    let words = normalize_words_into(text, norm);
    let key = if norm.is_empty() {
        xxh3_64_with_seed(text.trim().as_bytes(), seed ^ RAW_KEY_SEED)
    } else {
        xxh3_64_with_seed(norm.as_bytes(), seed)
    };
    (key, words)
}

/// Segments `text`, keys every block and finds in-document repeats.
pub fn analyze(text: &str, params: &BlockParams) -> DocBlocks {
    let mut doc = DocBlocks {
        blocks: Vec::new(),
        repeats: Vec::new(),
    };
    analyze_into(text, params, &mut doc);
    doc
}

/// Buffers of [`analyze_into`], reused per thread.
#[derive(Default)]
struct AnalyzeScratch {
    /// The document's block spans (reused: a fresh `Vec` per document grew by reallocation).
    spans: Vec<Span>,
    norm: String,
    words: Vec<u64>,
    /// Shingle-set vectors of earlier documents' blocks, cleared, to be filled again.
    spare: Vec<Vec<u64>>,
}

thread_local! {
    static ANALYZE: std::cell::RefCell<AnalyzeScratch> =
        std::cell::RefCell::new(AnalyzeScratch::default());
}

/// [`analyze`] into `doc`, whose previous blocks' shingle vectors are reused for the new
/// blocks (as are the normalization and shingling buffers, per thread).
///
/// Why: a fresh `Vec` per long block, the normalized-text buffer growing block by block and
/// the word and shingle buffers per document were most of the ~9 % of `clean --db` spent in
/// malloc, realloc and free (`perf record` on the man pages: 1.68 M blocks). The result is
/// exactly [`analyze`]'s (tested on documents analysed one after another into one `doc`).
pub fn analyze_into(text: &str, params: &BlockParams, doc: &mut DocBlocks) {
    ANALYZE.with_borrow_mut(|scratch| {
        let AnalyzeScratch {
            spans,
            norm,
            words,
            spare,
        } = scratch;
        for b in doc.blocks.drain(..) {
            if b.shingles.capacity() > 0 {
                spare.push(b.shingles);
            }
        }
        segment_into(text, params.unit, spans);
        doc.blocks.reserve(spans.len());
        doc.blocks.extend(spans.iter().map(|&span| {
            let (key, word_count) =
                block_key_and_words(span.text(text), params.shingler.seed, norm);
            let set = if word_count >= params.min_near_words.max(1) {
                // Shingled straight into the (reused) vector that becomes the set: a
                // shingle buffer copied into it was ~3 % of `clean --db` in memmove.
                let mut set = spare.pop().unwrap_or_default();
                set.clear();
                normalized_shingles(&params.shingler, norm, words, &mut set);
                crate::shingle::into_set(set)
            } else {
                Vec::new()
            };
            Block {
                span,
                key,
                words: word_count,
                shingles: set,
            }
        }));
    });
    find_repeats(&doc.blocks, params, &mut doc.repeats);
}

/// [`Shingler::normalized`] without `str::split`: normalized text has single `b' '` between
/// words, so word n-grams split on that byte directly (the generic `split(' ')` char searcher
/// with its `memcmp` per match was ~6 % of `clean`). Same values as `Shingler::normalized`
/// (tested), which still serves character n-grams.
pub fn normalized_shingles(
    shingler: &Shingler,
    norm: &str,
    words: &mut Vec<u64>,
    out: &mut Vec<u64>,
) {
    if shingler.kind != crate::shingle::ShingleKind::Word {
        shingler.normalized(norm, words, out);
        return;
    }
    words.clear();
    let bytes = norm.as_bytes();
    WORD_HASHER.with_borrow_mut(|hasher| {
        hasher.load(bytes, shingler.seed);
        hasher.words_into(words);
    });
    crate::shingle::ngrams(words, shingler.n, out);
}

thread_local! {
    /// [`normalized_shingles`]' word hasher, whose padded buffer is reused per thread.
    static WORD_HASHER: std::cell::RefCell<crate::word_hash::WordHasher> =
        std::cell::RefCell::new(crate::word_hash::WordHasher::default());
}

/// Most earlier blocks one shingle is looked up in; bounds the work on pathological pages.
const MAX_POSTINGS: u32 = 16;

/// Shingle -> earlier first blocks containing it, as linked lists in one arena: a `Vec` per
/// distinct shingle was the largest source of allocations in `analyze` (`perf record`).
#[derive(Default)]
struct Postings {
    /// Shingle -> (head node + 1 or 0, list length).
    heads: KeyMap<u64, (u32, u32)>,
    /// (block, next node + 1 or 0).
    nodes: Vec<(u32, u32)>,
}

impl Postings {
    fn add(&mut self, shingle: u64, block: usize) {
        let head = self.heads.entry(shingle).or_insert((0, 0));
        if head.1 < MAX_POSTINGS {
            self.nodes.push((block as u32, head.0));
            *head = (self.nodes.len() as u32, head.1 + 1);
        }
    }

    fn for_each(&self, shingle: u64, mut f: impl FnMut(usize)) {
        let mut next = self.heads.get(&shingle).map_or(0, |h| h.0);
        while next != 0 {
            let (block, after) = self.nodes[next as usize - 1];
            f(block as usize);
            next = after;
        }
    }
}

/// Per-thread buffers of [`find_repeats`], cleared (capacity kept) for every document: building
/// the two hash maps afresh per document spent ~3 % of `clean` growing them
/// (`reserve_rehash`), and the vectors were four allocations per document.
#[derive(Default)]
struct RepeatScratch {
    first_by_key: KeyMap<u64, usize>,
    postings: Postings,
    group_of: Vec<usize>,
    overlap: Vec<u32>,
    touched: Vec<usize>,
}

thread_local! {
    static REPEAT_SCRATCH: std::cell::RefCell<RepeatScratch> =
        std::cell::RefCell::new(RepeatScratch::default());
}

/// Empties `map` and makes room for `need` keys. `clear` costs the map's capacity, so a map
/// left large by one huge document is replaced rather than cleared for every small one after.
fn reset_map<V>(map: &mut KeyMap<u64, V>, need: usize) {
    if map.capacity() > 4 * need.max(1024) {
        *map = KeyMap::default();
    } else {
        map.clear();
    }
    map.reserve(need);
}

/// The in-document repeats of `blocks` into `repeats` (cleared first; its capacity is kept
/// from document to document).
fn find_repeats(blocks: &[Block], params: &BlockParams, repeats: &mut Vec<InDocRepeat>) {
    REPEAT_SCRATCH.with_borrow_mut(|s| find_repeats_in(blocks, params, s, repeats))
}

fn find_repeats_in(
    blocks: &[Block],
    params: &BlockParams,
    scratch: &mut RepeatScratch,
    repeats: &mut Vec<InDocRepeat>,
) {
    let RepeatScratch {
        first_by_key,
        postings,
        group_of,
        overlap,
        touched,
    } = scratch;
    reset_map(first_by_key, blocks.len());
    reset_map(
        &mut postings.heads,
        blocks.iter().map(|b| b.shingles.len()).sum(),
    );
    postings.nodes.clear();
    // The group a block belongs to: itself when it is first, else the group of what it repeats.
    group_of.clear();
    repeats.clear();
    // Shared shingles per earlier block, and which blocks have a nonzero count.
    overlap.clear();
    overlap.resize(blocks.len(), 0);
    touched.clear();
    for (j, block) in blocks.iter().enumerate() {
        let mut found: Option<(usize, RepeatKind, f64)> = None;
        if let Some(&i) = first_by_key.get(&block.key) {
            found = Some((i, RepeatKind::Repeat, 1.0));
        } else if !block.shingles.is_empty() {
            for &s in &block.shingles {
                postings.for_each(s, |i| {
                    if overlap[i] == 0 {
                        touched.push(i);
                    }
                    overlap[i] += 1;
                });
            }
            // Best earlier block: highest Jaccard, then highest containment; ties to the earliest.
            touched.sort_unstable();
            let mut best: Option<(usize, RepeatKind, f64)> = None;
            for &i in touched.iter() {
                overlap[i] = 0;
                let earlier = &blocks[i];
                let inter = intersection_len(&block.shingles, &earlier.shingles);
                let union = block.shingles.len() + earlier.shingles.len() - inter;
                let jac = inter as f64 / union as f64;
                let cand = if jac >= params.near_threshold {
                    Some((i, RepeatKind::NearRepeat, jac))
                } else {
                    let c = containment(&block.shingles, &earlier.shingles);
                    (c >= params.containment && earlier.shingles.len() > block.shingles.len())
                        .then_some((i, RepeatKind::Contained, c))
                };
                if let Some(c) = cand {
                    let better = match best {
                        None => true,
                        Some(b) => (c.1, -c.2) < (b.1, -b.2),
                    };
                    if better {
                        best = Some(c);
                    }
                }
            }
            touched.clear();
            found = best;
        }
        match found {
            Some((i, kind, score)) => {
                let of = group_of[i];
                group_of.push(of);
                repeats.push(InDocRepeat {
                    block: j,
                    of,
                    kind,
                    score,
                });
            }
            None => {
                group_of.push(j);
                first_by_key.insert(block.key, j);
                for &s in &block.shingles {
                    postings.add(s, j);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTICE: &str = "Welcome to our comment community. This is a space where subscribers can engage with each other and staff. Non-subscribers can read comments.";

    /// One `DocBlocks` reused for documents of different shapes (more blocks, fewer, long
    /// and short, repeats or none) gives what a fresh `analyze` gives each time.
    #[test]
    fn analyze_into_a_reused_doc_equals_analyze() {
        let long = format!("{NOTICE}\nbody {NOTICE}\n{NOTICE}");
        let texts = [
            long.as_str(),
            "Share this\nshort\nShare this",
            "",
            NOTICE,
            long.as_str(),
            "one line with enough words to get its own shingle set here\nand another one",
        ];
        for unit in [Unit::Line, Unit::Paragraph] {
            let params = BlockParams {
                unit,
                ..BlockParams::default()
            };
            let mut doc = analyze("", &params);
            for t in texts {
                analyze_into(t, &params, &mut doc);
                assert_eq!(doc, analyze(t, &params), "{t:?}");
            }
        }
    }

    #[test]
    fn exact_near_and_truncated_repeats() {
        let text = format!(
            "Title\n{NOTICE}\nAdvertisement\nbody one is here\nAdvertisement\n{}\n{}\n",
            NOTICE.replace("comments.", "posts."),
            &NOTICE[..NOTICE.find(" Non-").unwrap()]
        );
        let doc = analyze(&text, &BlockParams::default());
        let kinds: Vec<(usize, usize, RepeatKind)> = doc
            .repeats
            .iter()
            .map(|r| (r.block, r.of, r.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                (4, 2, RepeatKind::Repeat),
                (5, 1, RepeatKind::NearRepeat),
                (6, 1, RepeatKind::Contained)
            ]
        );
    }

    #[test]
    fn short_lines_only_match_exactly_and_punctuation_lines_keep_identity() {
        let doc = analyze(
            "Share this\nshare THIS!\n***\n---\n***",
            &BlockParams::default(),
        );
        let kinds: Vec<(usize, usize)> = doc.repeats.iter().map(|r| (r.block, r.of)).collect();
        assert_eq!(kinds, [(1, 0), (4, 2)]);
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig {
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_b10c),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]
        /// The byte splitter gives exactly `Shingler::normalized`'s shingles, on normalized
        /// text (its input in `analyze`) and on raw text with runs of spaces, for every n.
        #[test]
        fn byte_split_shingles_equal_shingler_normalized(
            raw in "[a-z é0-9 ]{0,80}", n in 1usize..7
        ) {
            let shingler = Shingler { n, ..Shingler::default() };
            for text in [crate::normalize::normalize(&raw), raw.clone()] {
                let (mut w, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
                normalized_shingles(&shingler, &text, &mut w, &mut a);
                shingler.normalized(&text, &mut w, &mut b);
                prop_assert_eq!(a, b);
            }
        }
    }
}
