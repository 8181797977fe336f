//! Context-aware boilerplate detection (issue 6): a block classifier that combines the
//! signature database's repetition evidence with the block's own text and its place on the
//! page, used by `clean --policy context`.
//!
//! Why: repetition alone cannot tell "Note" from "Navigation" (both recur on every page of a
//! site) and cannot see one-off chrome (a comment thread, "12 comments", a dateline). A small
//! gradient-boosted tree model over 75 cheap per-block features (`features`) — trained in
//! `benches/context/` on dragnet and shipped in the binary (`model`) — decides per block;
//! `decide` applies the threshold and the best-run post-processing it was tuned with.
//!
//! Without a database every block gets the evidence of a site the database has never seen
//! (site counts 0, no other sites): the model was trained with such pages (sites with one
//! training page), so this is a defined, if weaker, mode rather than an error.

pub mod decide;
pub mod evidence;
pub mod features;
pub mod model;

use crate::blocks::{block_key, BlockParams};
use crate::clean::{rewrite, Cleaned, ContextEvidence, Matched, Reason, Removal};
use crate::segment::segment;
use crate::sigdb::{Grouping, SignatureDb};
use decide::Decision;
use evidence::KeyIndex;
use features::{span_features_into, FeatureRows, FeatureScratch, Lexicon, Repetition, INPAGE};
use model::Model;

/// The model's input for one page.
#[derive(Debug, Clone, PartialEq)]
pub struct PageFeatures {
    pub spans: Vec<crate::segment::Span>,
    pub rep: Vec<Repetition>,
    /// Row-major, [`features::N_FEATURES`] columns.
    pub x: Vec<f64>,
}

/// Every block of one page with the model's view of it.
#[derive(Debug, Clone, PartialEq)]
pub struct PageVerdict {
    pub blocks: Vec<BlockVerdict>,
}

/// One block: where it is, the evidence, the probability and the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockVerdict {
    pub span: crate::segment::Span,
    pub repetition: Repetition,
    /// Other copies of the block's key on the page.
    pub inpage: u64,
    /// P(boilerplate).
    pub p: f64,
    pub decision: Decision,
}

/// Per-thread buffers of [`ContextCleaner::classify`], reused from page to page (see
/// [`features::page_features_into`] for why).
#[derive(Debug, Default)]
struct Scratch {
    norm: String,
    keys: Vec<u64>,
    rep: Vec<Repetition>,
    features: FeatureScratch,
    x: FeatureRows,
    p: Vec<f64>,
    words: Vec<f64>,
    smoothed: Vec<f64>,
    decisions: Vec<Decision>,
}

/// Blocks scored together by [`ContextCleaner::score_pages`]: a group of pages closes once
/// it has this many (600 KB of feature rows, inside a core's L2 cache). Chosen on the man
/// pages, one core, task-clock ms of five runs each in two series: one page at a time
/// 1,007-1,033; 128 rows 985-1,004; 256 rows 976-989; 512 rows 976-989 and 972-1,009; 768
/// rows 939-991; 1,024 rows 959-965 and 937-978; 1,536 rows 959-990; 2,048 rows 978-1,011;
/// 4,096 rows 1,007-1,021 (the rows no longer stay in cache).
const GROUP_ROWS: usize = 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Classifies and cleans pages with the context model; shared by all threads.
#[derive(Debug)]
pub struct ContextCleaner {
    model: Model,
    /// The probability at or above which a block goes: the model's tuned threshold unless
    /// the user trades recall for content ([`ContextCleaner::with_threshold`]).
    threshold: f64,
    lexicon: Lexicon,
    params: BlockParams,
    evidence: Option<(KeyIndex, Grouping)>,
}

impl ContextCleaner {
    /// A cleaner with `model`; with `db`, blocks are cut and keyed with the database's
    /// parameters and get its repetition evidence (see the module docs for no database).
    pub fn new(model: Model, params: BlockParams, db: Option<&SignatureDb>) -> Self {
        let params = db.map_or(params, |d| d.params.blocks);
        ContextCleaner {
            lexicon: Lexicon::new(&model.meta),
            threshold: model.meta.threshold,
            model,
            params,
            evidence: db.map(|d| (KeyIndex::new(d), d.grouping.clone())),
        }
    }

    /// The same cleaner with another decision threshold in (0, 1]. Why: the shipped
    /// threshold was chosen by cross-validation for block and kept-text F1; a higher one
    /// removes fewer blocks on the model's word alone (fewer content words lost, more
    /// boilerplate kept: the trade-off table in the README). The best-run rule still applies.
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// The decision threshold in use.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The block parameters in use.
    pub fn params(&self) -> &BlockParams {
        &self.params
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The blocks of `text`, their evidence and feature rows (row-major,
    /// [`features::N_FEATURES`] columns); `record` is the JSON record (for the group).
    pub fn features(&self, text: &str, record: Option<&str>) -> PageFeatures {
        let mut s = Scratch::default();
        let spans = self.features_into(text, record, &mut s);
        PageFeatures {
            spans,
            rep: s.rep,
            x: s.x.values().to_vec(),
        }
    }

    /// The evidence and feature rows of the blocks of `text`, appended to `s.rep` and `s.x`
    /// (`s.keys` holds the page's block keys); returns the spans.
    fn features_into(
        &self,
        text: &str,
        record: Option<&str>,
        s: &mut Scratch,
    ) -> Vec<crate::segment::Span> {
        let spans = segment(text, self.params.unit);
        let seed = self.params.shingler.seed;
        s.keys.clear();
        s.keys.extend(
            spans
                .iter()
                .map(|sp| block_key(sp.text(text), seed, &mut s.norm)),
        );
        let first = s.rep.len();
        match &self.evidence {
            None => s.rep.resize(first + spans.len(), Repetition::default()),
            Some((index, grouping)) => {
                let group = index.group_id(&grouping.group_of(record));
                index.repetition_into(group, &s.keys, &mut s.rep);
            }
        }
        span_features_into(
            text,
            &spans,
            &s.keys,
            &s.rep[first..],
            &self.lexicon,
            &mut s.features,
            &mut s.x,
        );
        spans
    }

    /// Scores the blocks of `pages` (text, JSON record) and decides each page; calls `each`,
    /// page by page in order, with `s`, the page's spans and its first row in `s` (`s.rep`,
    /// `s.x`, `s.p` from that row on; `s.decisions` holds just this page's).
    ///
    /// Why pages are scored together: the model evaluates 64 rows per batch, and a page's
    /// last batch is mostly empty (the man pages, 85 blocks a page on average, made 35,367
    /// batches for 1.68 M blocks, 26,268 if full). Pages are added to a group until it has
    /// [`GROUP_ROWS`] blocks — few enough that the group's rows stay in the core's cache
    /// between features and model. Each row's probability is the same whatever else is in
    /// its batch (the conditions are exact per row; tested bit for bit).
    fn score_pages(
        &self,
        pages: &[(&str, Option<&str>)],
        s: &mut Scratch,
        mut each: impl FnMut(&Scratch, Vec<crate::segment::Span>, usize),
    ) {
        let nf = features::N_FEATURES;
        let meta = &self.model.meta;
        let mut group: Vec<Vec<crate::segment::Span>> = Vec::new();
        let mut start = 0;
        while start < pages.len() {
            s.rep.clear();
            s.x.clear();
            let mut rows = 0;
            let mut end = start;
            while end < pages.len() && rows < GROUP_ROWS {
                let (text, record) = pages[end];
                let spans = self.features_into(text, record, s);
                rows += spans.len();
                group.push(spans);
                end += 1;
            }
            self.model.predict(s.x.values(), &mut s.p);
            s.words.clear();
            s.words.extend(s.x.values().chunks_exact(nf).map(|r| r[0]));
            let mut row = 0;
            for spans in group.drain(..) {
                let n = spans.len();
                decide::decide_into(
                    &s.p[row..row + n],
                    &s.words[row..row + n],
                    self.threshold,
                    meta.smoothing_alpha,
                    meta.run_penalty,
                    &mut s.smoothed,
                    &mut s.decisions,
                );
                each(s, spans, row);
                row += n;
            }
            start = end;
        }
    }

    /// The verdict on every block of `text`; `record` is the JSON record (for the group).
    pub fn classify(&self, text: &str, record: Option<&str>) -> PageVerdict {
        SCRATCH.with_borrow_mut(|s| {
            let mut verdict = PageVerdict { blocks: Vec::new() };
            self.score_pages(&[(text, record)], s, |s, spans, row| {
                let nf = features::N_FEATURES;
                verdict.blocks = (0..spans.len())
                    .map(|i| BlockVerdict {
                        span: spans[i],
                        repetition: s.rep[row + i],
                        inpage: s.x.values()[(row + i) * nf + INPAGE] as u64,
                        p: s.p[row + i],
                        decision: s.decisions[i],
                    })
                    .collect();
            });
            verdict
        })
    }

    /// Cleans `text`: removes every block the model (or the best run) decided is boilerplate.
    /// (The same as [`ContextCleaner::classify`]'s non-kept blocks, without building the
    /// verdicts of the kept ones.)
    pub fn clean(&self, text: &str, record: Option<&str>) -> Cleaned {
        let (blocks, removals) = self.removals(text, record);
        Cleaned {
            text: rewrite(text, &removals),
            blocks,
            removals,
        }
    }

    /// The number of blocks of `text` and the removals of [`ContextCleaner::clean`], without
    /// the rewritten text.
    pub fn removals(&self, text: &str, record: Option<&str>) -> (usize, Vec<Removal>) {
        self.removals_many(&[(text, record)])
            .pop()
            .expect("one page in, one out")
    }

    /// [`ContextCleaner::removals`] of each of `pages` (text, JSON record), in order, with
    /// the pages' blocks scored together (see [`ContextCleaner::score_pages`]). Why no
    /// rewritten text: `clean_corpus` writes the kept pieces straight into its output; a
    /// rewritten copy of every page was built and dropped (~2 % of `clean --policy context`).
    pub fn removals_many(&self, pages: &[(&str, Option<&str>)]) -> Vec<(usize, Vec<Removal>)> {
        SCRATCH.with_borrow_mut(|s| {
            let mut out = Vec::with_capacity(pages.len());
            self.score_pages(pages, s, |s, spans, row| {
                let nf = features::N_FEATURES;
                let removals: Vec<Removal> = (0..spans.len())
                    .filter(|&i| s.decisions[i] != Decision::Keep)
                    .map(|i| {
                        let r = s.rep[row + i];
                        Removal {
                            span: spans[i],
                            reason: Reason::Context,
                            score: s.p[row + i],
                            matched: Matched::Context(ContextEvidence {
                                by: if s.decisions[i] == Decision::Model {
                                    "model"
                                } else {
                                    "run"
                                },
                                site_docs: r.site_count,
                                site_pages: r.site_pages,
                                other_sites: r.other_sites,
                                inpage: s.x.values()[(row + i) * nf + INPAGE] as u64,
                            }),
                        }
                    })
                    .collect();
                out.push((spans.len(), removals));
            });
            out
        })
    }
}
