//! The gradient-boosted tree model shipped inside the binary, and its inference.
//!
//! The file (`model.bin`, written by `benches/context/export.py` from the research output
//! `benches/context/model.json`) is embedded with `include_bytes!`, so a `dupsift` binary
//! always carries the model its features were written for. Loading checks, in order: magic,
//! layout version ([`MODEL_FORMAT_VERSION`]), CRC-32, feature definitions version
//! ([`super::features::FEATURE_VERSION`]) and the feature names against the Rust column order:
//! a model trained on other features would silently give nonsense, so it is refused.
//!
//! # Why perfect trees
//! LightGBM trees are ragged (depth <= 6). Inference pads every tree to a perfect binary tree
//! of the model's maximum depth (a padded node compares with +inf, so it always goes left to
//! the copy of its leaf), stored in heap order. Walking one is then a fixed number of steps
//! `k = 2k + 1 + (x[f] > t)` with no data-dependent branch, and the blocks of a page are
//! walked tree by tree so that the independent walks overlap in the CPU. The sum of leaf values
//! is taken in tree order from 0.0, as the Python reference does, so probabilities agree to the
//! last bits (the parity test allows 1e-9).
//!
//! [`Model::predict`] does not walk row by row any more (that walk is kept for trees deeper
//! than 8 and as the tests' reference): it evaluates 64 rows at once with bit masks, see
//! `Batched` — same leaves, same sums, bit for bit.

use super::features::{FEATURE_NAMES, FEATURE_VERSION};
use crate::{Error, Result};
use serde::Deserialize;

/// Layout version of `model.bin` (see `benches/context/export.py`).
pub const MODEL_FORMAT_VERSION: u16 = 1;

const MAGIC: &[u8; 8] = b"DSCTXGB\0";

/// Deepest tree the loader accepts (a perfect tree of depth 12 has 4,095 internal nodes).
const MAX_DEPTH: usize = 12;

/// The model shipped with dupsift (dragnet-trained; see `benches/context/README.md`).
pub static SHIPPED: &[u8] = include_bytes!("model.bin");

/// Name under which errors about the shipped model report it.
pub const SHIPPED_NAME: &str = "built-in context model (src/context/model.bin)";

/// Word lists and settings the features and decisions use, stored with the trees.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelMeta {
    pub format: String,
    pub feature_version: u16,
    pub feature_set: String,
    pub features: Vec<String>,
    /// A block is removed when its (smoothed) probability is at least this.
    pub threshold: f64,
    /// p' = (1 - alpha) p + alpha * mean(neighbours' p).
    pub smoothing_alpha: f64,
    /// Best-run post-processing penalty per removed word (see [`super::decide`]); `None`:
    /// no post-processing.
    pub run_penalty: Option<f64>,
    pub feature_params: FeatureParams,
    pub stopwords: Vec<String>,
    pub months: Vec<String>,
    pub comment_words: Vec<String>,
    pub separators: String,
    pub closers: String,
    /// Scores recorded by the training run (dragnet test split), for reference.
    #[serde(default)]
    pub scores: serde_json::Value,
}

/// Parameters of the position features, fixed at training time.
#[derive(Debug, Clone, Deserialize)]
pub struct FeatureParams {
    pub window: usize,
    pub run_penalty: f64,
    pub flag_min_site_pages: u64,
    pub neighbour_offsets: Vec<i64>,
}

/// A loaded model: metadata plus the trees as flat perfect-tree arrays.
#[derive(Debug, Clone)]
pub struct Model {
    pub meta: ModelMeta,
    depth: usize,
    trees: usize,
    /// Per tree `2^depth - 1` internal nodes in heap order.
    nodes: Vec<Node>,
    /// Per tree `2^depth` leaf values.
    leaf: Vec<f64>,
    /// The same trees for [`Model::predict`]'s batched evaluation (`None` when deeper than
    /// [`BATCH_MAX_DEPTH`]: then every row walks the padded trees).
    batched: Option<Batched>,
}

/// Rows evaluated together by [`Batched`]: one bit each of a `u64`.
const BATCH: usize = 64;

/// Fewest conditions left to compare for which [`Batched::int_compare_avx512`] converts a
/// column (its conversion costs about as much as two f64 conditions).
const INT_MIN_CONDITIONS: usize = 3;

/// Deepest trees [`Batched`] handles (a leaf index must fit a byte).
const BATCH_MAX_DEPTH: usize = 8;

/// The trees rearranged to evaluate [`BATCH`] rows at once with bit masks.
///
/// Why: walking the trees row by row is one dependent step per tree level per block (the
/// 200 trees of depth 6 shipped until session 7: 1,200 steps, ~1.5 µs, a third of `clean
/// --policy context`). Here every distinct split condition (`x[feature] > threshold`; 1,357
/// distinct ones among ~3,000 internal nodes of the shipped 100 trees of depth 5) is evaluated
/// once per batch as a 64-bit mask over the rows — a vector compare — and each tree is
/// then walked once for all rows: a node passes `reach & cond` to its right child and
/// `reach & !cond` to its left, and the rows going right at depth `d` set bit `depth-1-d` of
/// their leaf index in the padded tree. Each row still gets exactly the leaf the walk would
/// give (the padded slots under a shallow leaf hold that leaf's value, and the comparison is
/// the same `>` on the same f64s), and its sum is taken in tree order from 0.0, so the
/// probabilities are bit-identical to the walk (unit test on random rows).
#[derive(Debug, Clone)]
struct Batched {
    /// Features used by any split: (feature, first condition, end of its conditions).
    features: Vec<(u32, u32, u32)>,
    /// Thresholds of the distinct conditions, grouped by feature (in `features`' order).
    thresholds: Vec<f64>,
    /// Internal nodes of every tree, each tree in preorder (a parent before its children).
    nodes: Vec<BatchNode>,
    /// `nodes[tree_start[t]..tree_start[t + 1]]` are tree `t`'s.
    tree_start: Vec<u32>,
    /// `conds` buffer length: a power of two, so `cond & (len - 1)` indexes it unchecked;
    /// slot [`Batched::never`] is kept 0 (no row), the condition of a padding node.
    cond_slots: usize,
    /// Slot of the condition that holds for no row (one past the real ones).
    never: u32,
    /// The padded trees eight at a time for the AVX-512 walk: for each group of 8 trees,
    /// each heap-order internal node `k`, each tree (lane) `l`: the node's condition
    /// (`never` for padding nodes and for the lanes past the last tree).
    lanes: Vec<u32>,
    /// The leaves of each tree as at most [`COMPACT_LEAVES`] distinct values, for
    /// [`Batched::walk_avx512`]'s gather-free leaf lookup (`None`: a tree deeper than
    /// [`COMPACT_DEPTH`] or with more distinct leaf values; the leaves are then gathered).
    compact: Option<CompactLeaves>,
    /// Per entry of `features`: its conditions as 16-bit integer compares, for batches whose
    /// column holds only integers (see [`IntConditions`]); `None` when the thresholds do not
    /// fit.
    int_conds: Vec<Option<IntConditions>>,
    /// Per condition: its threshold as `floor(t) - lo` of its feature's [`IntConditions`]
    /// (unused for features without one).
    int_thresholds: Vec<u16>,
}

/// One feature's conditions `x > t` as unsigned 16-bit compares, exact for integer `x`.
///
/// Why: half of the model's distinct conditions (667 of 1,357) are on integer-valued
/// features (word and character counts, positions, site counts, flags), and a 64-row f64
/// compare costs eight vector compares and seven mask merges. For an integer `x`, `x > t` is
/// `x > floor(t)`; clamping `x` to `[lo, hi + 1]` (the feature's smallest and largest
/// `floor(t)`) changes no comparison, so `clamp(x) - lo` fits 16 bits when the thresholds
/// span less than 65,535, and the condition is two 32-lane `u16` compares. Whether a batch's
/// column is integral is checked at run time (every value equals its truncation and lies
/// inside `i32`), so no feature's meaning is assumed: a column with a fraction or a NaN takes
/// the f64 compares.
#[derive(Debug, Clone, Copy)]
struct IntConditions {
    /// The smallest `floor(t)` of the feature's thresholds.
    lo: i32,
    /// The largest `floor(t)`.
    hi: i32,
}

impl IntConditions {
    /// The integer form of the sorted thresholds `ts`, with each one's `floor(t) - lo`, if
    /// they fit 16 bits.
    fn new(ts: &[f64]) -> Option<(IntConditions, Vec<u16>)> {
        let floors: Vec<f64> = ts.iter().map(|t| t.floor()).collect();
        let (lo, hi) = (*floors.first()?, *floors.last()?);
        let limit = i32::MAX as f64 / 2.0;
        if !(lo > -limit && hi < limit && hi - lo < u16::MAX as f64 - 1.0) {
            return None;
        }
        let rel = floors.iter().map(|&f| (f - lo) as u16).collect();
        Some((
            IntConditions {
                lo: lo as i32,
                hi: hi as i32,
            },
            rel,
        ))
    }
}

/// Deepest trees of [`CompactLeaves`]: a padded leaf index is below 64, one byte lane of a
/// 512-bit byte permute.
const COMPACT_DEPTH: usize = 6;

/// Distinct leaf values per tree in [`CompactLeaves`]: four registers of eight f64, two
/// two-register permutes and a blend.
const COMPACT_LEAVES: usize = 32;

/// Every tree's leaves as its distinct values, and the map from padded leaf index to them.
///
/// Why: the walk's per-row leaf lookup was one 8-lane gather per tree and 8 rows (1,600 per
/// batch of 64 rows, about as many as the node gathers), the larger part of the walk's time
/// (perf). LightGBM trees with 31 leaves have at most 31 distinct leaf values, which fit
/// four registers: a byte permute maps the 64 rows' padded indices to value indices at
/// once, and each 8 rows take two `vpermt2pd` and a blend instead of a gather. The values are
/// the same f64s (a padded slot maps to the value it holds), so the sums are unchanged.
#[derive(Debug, Clone)]
struct CompactLeaves {
    /// Per tree 64 bytes: padded leaf index -> value index (< [`COMPACT_LEAVES`]).
    map: Vec<u8>,
    /// Per tree [`COMPACT_LEAVES`] values (unused slots 0.0).
    values: Vec<f64>,
}

impl CompactLeaves {
    /// The compact leaves of `model`'s padded trees, if every tree fits.
    fn new(model: &Model) -> Option<CompactLeaves> {
        if model.depth > COMPACT_DEPTH {
            return None;
        }
        let n_leaves = 1usize << model.depth;
        let mut map = vec![0u8; 64 * model.trees];
        let mut values = vec![0.0; COMPACT_LEAVES * model.trees];
        for t in 0..model.trees {
            let leaf = &model.leaf[t * n_leaves..(t + 1) * n_leaves];
            let mut distinct: Vec<u64> = Vec::new();
            for (i, v) in leaf.iter().enumerate() {
                let k = match distinct.iter().position(|&d| d == v.to_bits()) {
                    Some(k) => k,
                    None => {
                        distinct.push(v.to_bits());
                        distinct.len() - 1
                    }
                };
                if k >= COMPACT_LEAVES {
                    return None;
                }
                map[64 * t + i] = k as u8;
                values[COMPACT_LEAVES * t + k] = *v;
            }
        }
        Some(CompactLeaves { map, values })
    }
}

/// An internal node of [`Batched`]: children are reach slots (a leaf child's slot is the
/// tree's spare one, written and never read).
#[derive(Debug, Clone, Copy)]
struct BatchNode {
    cond: u16,
    depth: u8,
    left: u8,
    right: u8,
}

/// Rows walked together in [`Model::predict`].
const LANES: usize = 8;

/// Trees walked together by [`Batched::walk_avx512`]: one per 64-bit lane of a register.
const TREE_LANES: usize = 8;

thread_local! {
    /// Tests: make [`Batched::accumulate`] take the portable preorder walk.
    static FORCE_PORTABLE_WALK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Tests: make the AVX-512 walk gather the leaves instead of permuting compact ones.
    static FORCE_GATHER_LEAVES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// An internal node of a padded tree: go right when `x[feature] > threshold`.
#[derive(Debug, Clone, Copy)]
struct Node {
    threshold: f64,
    feature: u32,
}

/// One node as stored in the file.
#[derive(Debug, Clone, Copy)]
struct RawNode {
    feature: i32,
    value: f64,
    left: u32,
    right: u32,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    name: &'a str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() - self.pos < n {
            return Err(bad(self.name, "file is truncated"));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

fn bad(name: &str, problem: impl Into<String>) -> Error {
    Error::BadModel {
        name: name.to_string(),
        problem: problem.into(),
    }
}

impl Model {
    /// The model compiled into dupsift.
    pub fn shipped() -> Result<Model> {
        Model::from_bytes(SHIPPED, SHIPPED_NAME)
    }

    /// Parses and checks a model file; `name` is used in error messages.
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Model> {
        if bytes.len() < MAGIC.len() + 4 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(bad(name, "not a dupsift context model (bad magic)"));
        }
        let body = &bytes[..bytes.len() - 4];
        let stored = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().expect("4 bytes"));
        let mut r = Reader {
            bytes: body,
            pos: MAGIC.len(),
            name,
        };
        let format = r.u16()?;
        if format != MODEL_FORMAT_VERSION {
            return Err(bad(
                name,
                format!("layout version {format}, this dupsift reads {MODEL_FORMAT_VERSION}"),
            ));
        }
        let mut crc = flate2::Crc::new();
        crc.update(body);
        if crc.sum() != stored {
            return Err(bad(name, "checksum mismatch (file corrupted)"));
        }
        let feature_version = r.u16()?;
        if feature_version != FEATURE_VERSION {
            return Err(bad(
                name,
                format!(
                    "trained on feature version {feature_version}, this dupsift computes \
                     version {FEATURE_VERSION}; re-export or retrain the model"
                ),
            ));
        }
        let meta_len = r.u32()? as usize;
        let meta: ModelMeta = serde_json::from_slice(r.take(meta_len)?)
            .map_err(|e| bad(name, format!("metadata: {e}")))?;
        check_meta(&meta, feature_version, name)?;
        let n_trees = r.u32()? as usize;
        let mut raw: Vec<Vec<RawNode>> = Vec::with_capacity(n_trees.min(1 << 16));
        for _ in 0..n_trees {
            let n = r.u32()? as usize;
            let mut nodes = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                nodes.push(RawNode {
                    feature: r.i32()?,
                    value: r.f64()?,
                    left: r.u32()?,
                    right: r.u32()?,
                });
            }
            raw.push(nodes);
        }
        if r.pos != body.len() {
            return Err(bad(name, "trailing bytes after the trees"));
        }
        Model::from_trees(meta, &raw, name)
    }

    fn from_trees(meta: ModelMeta, raw: &[Vec<RawNode>], name: &str) -> Result<Model> {
        let n_features = meta.features.len();
        let mut depth = 0;
        for (t, nodes) in raw.iter().enumerate() {
            depth = depth.max(
                tree_depth(nodes, 0, 0, n_features)
                    .map_err(|p| bad(name, format!("tree {t}: {p}")))?,
            );
        }
        let internal = (1usize << depth) - 1;
        let mut model = Model {
            meta,
            depth,
            trees: raw.len(),
            nodes: vec![
                Node {
                    threshold: f64::INFINITY,
                    feature: 0
                };
                internal * raw.len()
            ],
            leaf: vec![0.0; (internal + 1) * raw.len()],
            batched: None,
        };
        for (t, nodes) in raw.iter().enumerate() {
            model.place(t, nodes, 0, 0, 0);
        }
        if depth <= BATCH_MAX_DEPTH {
            let mut b = Batched::new(raw, depth);
            b.lanes = b.tree_lanes(&model);
            b.compact = CompactLeaves::new(&model);
            model.batched = Some(b);
        }
        Ok(model)
    }

    /// Copies node `i` of tree `t` to heap slot `k` at `level`, padding leaves above the
    /// bottom (padded slots keep feature 0 and threshold +inf: always left).
    fn place(&mut self, t: usize, nodes: &[RawNode], i: usize, k: usize, level: usize) {
        let internal = (1usize << self.depth) - 1;
        let n = nodes[i];
        if level == self.depth {
            self.leaf[t * (internal + 1) + (k - internal)] = n.value;
            return;
        }
        if n.feature < 0 {
            // A leaf above the bottom: every slot below goes left to it (fill all for clarity).
            let span = 1usize << (self.depth - level);
            let first = (k + 1) * span - 1 - internal;
            for s in first..first + span {
                self.leaf[t * (internal + 1) + s] = n.value;
            }
            return;
        }
        self.nodes[t * internal + k] = Node {
            threshold: n.value,
            feature: n.feature as u32,
        };
        self.place(t, nodes, n.left as usize, 2 * k + 1, level + 1);
        self.place(t, nodes, n.right as usize, 2 * k + 2, level + 1);
    }

    /// Adds every tree's leaf to `out`. A second, const-generic copy of this walk for depth 6
    /// was 1-2 % faster on `clean --policy context` (man pages, one core): not worth the copy.
    fn accumulate(&self, rows: &[f64], out: &mut [f64]) {
        let nf = self.n_features();
        let internal = (1usize << self.depth) - 1;
        for t in 0..self.trees {
            let nodes = &self.nodes[t * internal..(t + 1) * internal];
            let leaf = &self.leaf[t * (internal + 1)..(t + 1) * (internal + 1)];
            // LANES rows walk the tree together: their loads are independent, so the CPU
            // overlaps them instead of waiting on one row's chain of dependent loads.
            let mut raws = out.chunks_exact_mut(LANES);
            let mut xs = rows.chunks_exact(nf * LANES);
            for (raw, x) in (&mut raws).zip(&mut xs) {
                let mut k = [0usize; LANES];
                for _ in 0..self.depth {
                    for (l, k) in k.iter_mut().enumerate() {
                        let node = nodes[*k];
                        let go_right = x[l * nf + node.feature as usize] > node.threshold;
                        *k = 2 * *k + 1 + go_right as usize;
                    }
                }
                for (r, k) in raw.iter_mut().zip(k) {
                    *r += leaf[k - internal];
                }
            }
            for (raw, x) in raws
                .into_remainder()
                .iter_mut()
                .zip(xs.remainder().chunks_exact(nf))
            {
                let mut k = 0usize;
                for _ in 0..self.depth {
                    let node = nodes[k];
                    k = 2 * k + 1 + (x[node.feature as usize] > node.threshold) as usize;
                }
                *raw += leaf[k - internal];
            }
        }
    }

    /// Number of input columns.
    pub fn n_features(&self) -> usize {
        self.meta.features.len()
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees
    }

    /// P(boilerplate) for each row of `rows` (row-major, [`Model::n_features`] columns),
    /// appended to `out` (cleared first).
    pub fn predict(&self, rows: &[f64], out: &mut Vec<f64>) {
        let nf = self.n_features();
        assert_eq!(rows.len() % nf, 0, "rows must have {nf} columns");
        let n = rows.len() / nf;
        out.clear();
        out.resize(n, 0.0);
        match &self.batched {
            Some(b) => b.accumulate(self, rows, out),
            None => self.accumulate(rows, out),
        }
        for p in out.iter_mut() {
            *p = 1.0 / (1.0 + (-*p).exp());
        }
    }
}

/// `SPREAD[b]` has byte `i` set to 1 when bit `i` of `b` is set: turns 8 rows' bits of a
/// mask into 8 bytes, one per row.
const SPREAD: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut i = 0;
        while i < 8 {
            t[b] |= (((b >> i) & 1) as u64) << (8 * i);
            i += 1;
        }
        b += 1;
    }
    t
};

/// Per-thread buffers of [`Batched::accumulate`], so a page costs no allocation.
#[derive(Default)]
struct BatchScratch {
    /// Feature-major columns of the batch: `BATCH` values per used feature.
    cols: Vec<f64>,
    /// One mask per distinct condition.
    conds: Vec<u64>,
    /// Two levels of node masks for [`Batched::walk_avx512`] (eight trees per entry).
    levels: Vec<[u64; TREE_LANES]>,
}

thread_local! {
    static BATCH_SCRATCH: std::cell::RefCell<BatchScratch> =
        std::cell::RefCell::new(BatchScratch::default());
}

impl Batched {
    fn new(raw: &[Vec<RawNode>], depth: usize) -> Batched {
        // Distinct conditions of the reachable internal nodes, by feature then threshold.
        let mut conds: Vec<(u32, u64)> = Vec::new();
        for nodes in raw {
            let mut stack = vec![0usize];
            while let Some(i) = stack.pop() {
                let n = nodes[i];
                if n.feature >= 0 {
                    conds.push((n.feature as u32, n.value.to_bits()));
                    stack.extend([n.left as usize, n.right as usize]);
                }
            }
        }
        // By feature, then threshold value: [`Batched::conditions`] finds the thresholds
        // below and above a batch's values with two binary searches (no NaN thresholds:
        // refused at load).
        conds.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then(f64::from_bits(a.1).total_cmp(&f64::from_bits(b.1)))
        });
        conds.dedup();
        let mut features: Vec<(u32, u32, u32)> = Vec::new();
        for (c, &(f, _)) in conds.iter().enumerate() {
            match features.last_mut() {
                Some(last) if last.0 == f => last.2 = c as u32 + 1,
                _ => features.push((f, c as u32, c as u32 + 1)),
            }
        }
        let thresholds: Vec<f64> = conds.iter().map(|&(_, t)| f64::from_bits(t)).collect();
        assert!(conds.len() <= 1 << 16, "at most 65,536 distinct conditions");
        let index: std::collections::HashMap<(u32, u64), u16> = conds
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i as u16))
            .collect();
        let cond_of = |n: &RawNode| index[&(n.feature as u32, n.value.to_bits())];
        let mut out = Vec::new();
        let mut tree_start = vec![0u32];
        for nodes in raw {
            let first = out.len();
            if nodes[0].feature >= 0 {
                // Preorder: (raw node, depth, slot of the node) — slots are preorder ranks.
                let mut stack = vec![(0usize, 0u8)];
                let mut slot_of = Vec::new();
                while let Some((i, d)) = stack.pop() {
                    let n = nodes[i];
                    slot_of.push(i);
                    out.push(BatchNode {
                        cond: cond_of(&n),
                        depth: d,
                        left: u8::MAX,
                        right: u8::MAX,
                    });
                    for child in [n.right as usize, n.left as usize] {
                        if nodes[child].feature >= 0 {
                            stack.push((child, d + 1));
                        }
                    }
                }
                // Depth <= 8: at most 255 internal nodes, so slots and the spare fit a u8.
                let internal = out.len() - first;
                let slot = |i: usize| {
                    if nodes[i].feature >= 0 {
                        slot_of.iter().position(|&s| s == i).expect("visited") as u8
                    } else {
                        internal as u8
                    }
                };
                for (k, &i) in slot_of.iter().enumerate() {
                    out[first + k].left = slot(nodes[i].left as usize);
                    out[first + k].right = slot(nodes[i].right as usize);
                }
            }
            tree_start.push(out.len() as u32);
        }
        debug_assert!(depth <= BATCH_MAX_DEPTH);
        let mut int_thresholds = vec![0u16; thresholds.len()];
        let int_conds = features
            .iter()
            .map(|&(_, a, b)| {
                let (a, b) = (a as usize, b as usize);
                IntConditions::new(&thresholds[a..b]).map(|(ic, rel)| {
                    int_thresholds[a..b].copy_from_slice(&rel);
                    ic
                })
            })
            .collect();
        Batched {
            features,
            thresholds,
            int_conds,
            int_thresholds,
            nodes: out,
            tree_start,
            cond_slots: (conds.len() + 1).next_power_of_two(),
            never: conds.len() as u32,
            lanes: Vec::new(),
            compact: None,
        }
    }

    /// [`Batched::lanes`] from the model's padded heap-order trees.
    fn tree_lanes(&self, model: &Model) -> Vec<u32> {
        let internal = (1usize << model.depth) - 1;
        let groups = model.trees.div_ceil(TREE_LANES);
        let mut lanes = vec![self.never; groups * internal * TREE_LANES];
        for t in 0..model.trees {
            let (g, l) = (t / TREE_LANES, t % TREE_LANES);
            for k in 0..internal {
                let node = model.nodes[t * internal + k];
                if node.threshold == f64::INFINITY {
                    continue; // padding (a real split is never at +inf: nothing is above it)
                }
                let (a, b) = self
                    .features
                    .iter()
                    .find(|f| f.0 == node.feature)
                    .map(|f| (f.1 as usize, f.2 as usize))
                    .expect("every split's feature is indexed");
                let c = a + self.thresholds[a..b]
                    .iter()
                    .position(|t| t.to_bits() == node.threshold.to_bits())
                    .expect("every split's condition is indexed");
                lanes[(g * internal + k) * TREE_LANES + l] = c as u32;
            }
        }
        lanes
    }

    /// Adds every tree's leaf to `out` for each row of `rows` (see the type's docs).
    fn accumulate(&self, model: &Model, rows: &[f64], out: &mut [f64]) {
        let nf = model.n_features();
        let depth = model.depth;
        let n_leaves = 1usize << depth;
        BATCH_SCRATCH.with_borrow_mut(|s| {
            s.cols.resize(self.features.len() * BATCH, 0.0);
            s.conds.resize(self.cond_slots, 0);
            s.levels.resize(1 << BATCH_MAX_DEPTH, [0; TREE_LANES]);
            let cond_mask = self.cond_slots - 1;
            // Rows reaching each slot of the current tree (u8 slots: no bounds checks).
            let mut reach = [0u64; 256];
            for (x, out) in rows.chunks(nf * BATCH).zip(out.chunks_mut(BATCH)) {
                let n = out.len();
                self.columns(x, nf, n, &mut s.cols);
                self.conditions(&s.cols, n, &mut s.conds);
                s.conds[self.never as usize] = 0;
                let valid = if n == BATCH { !0 } else { (1u64 << n) - 1 };
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && !FORCE_PORTABLE_WALK.get()
                {
                    match &self.compact {
                        Some(c)
                            if std::arch::is_x86_feature_detected!("avx512vbmi")
                                && !FORCE_GATHER_LEAVES.get() =>
                        {
                            // SAFETY: AVX-512F/BW/VBMI checked; `lanes` holds condition
                            // slots < cond_slots.
                            unsafe {
                                self.walk_avx512_compact(
                                    model,
                                    c,
                                    &s.conds,
                                    &mut s.levels,
                                    valid,
                                    out,
                                )
                            };
                        }
                        // SAFETY: AVX-512F/BW checked; `lanes` holds condition slots <
                        // cond_slots.
                        _ => unsafe {
                            self.walk_avx512(model, &s.conds, &mut s.levels, valid, out)
                        },
                    }
                    continue;
                }
                for t in 0..model.trees {
                    let nodes =
                        &self.nodes[self.tree_start[t] as usize..self.tree_start[t + 1] as usize];
                    let mut right = [0u64; BATCH_MAX_DEPTH];
                    reach[0] = valid;
                    for (j, node) in nodes.iter().enumerate() {
                        let r = reach[j & 255];
                        let c = s.conds[node.cond as usize & cond_mask];
                        reach[node.left as usize] = r & !c;
                        reach[node.right as usize] = r & c;
                        right[node.depth as usize & (BATCH_MAX_DEPTH - 1)] |= r & c;
                    }
                    let leaf = &model.leaf[t * n_leaves..(t + 1) * n_leaves];
                    add_leaves(&right[..depth], leaf, out);
                }
            }
        });
    }

    /// The tree walk of [`Batched::accumulate`] eight trees at a time, one per 64-bit lane.
    ///
    /// Why: the preorder walk is a chain of dependent scalar steps (~15 instructions per
    /// node, ~3,000 nodes per batch: the largest part of the model's time). Here the trees
    /// are taken padded to perfect trees in heap order, level by level: a node's masks for
    /// eight trees are one gather of their conditions and two vector ANDs, and the rows
    /// going right at depth `d` are ORed per tree as before. Padding nodes use the
    /// condition that holds for no row, so their rows go left to the copy of their leaf, as
    /// in the padded walk; each tree's leaves are then added in tree order, so the sums are
    /// bit-identical.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn walk_avx512(
        &self,
        model: &Model,
        conds: &[u64],
        levels: &mut [[u64; TREE_LANES]],
        valid: u64,
        out: &mut [f64],
    ) {
        let n_leaves = 1usize << model.depth;
        for g in 0..self.lanes.len() / ((n_leaves - 1) * TREE_LANES) {
            // SAFETY: the caller's checks (AVX-512F/BW, condition slots < cond_slots).
            let right_lanes = unsafe { self.group_right(model, g, conds, levels, valid) };
            for l in 0..TREE_LANES.min(model.trees - g * TREE_LANES) {
                let t = g * TREE_LANES + l;
                let mut right = [0u64; BATCH_MAX_DEPTH];
                for (d, r) in right[..model.depth].iter_mut().enumerate() {
                    *r = right_lanes[d * TREE_LANES + l];
                }
                let leaf = &model.leaf[t * n_leaves..(t + 1) * n_leaves];
                // SAFETY: AVX-512F/BW are enabled here; leaf indices are < 2^depth.
                unsafe { add_leaves_avx512(&right[..model.depth], leaf, out) };
            }
        }
    }

    /// [`Batched::walk_avx512`] with the leaves looked up by permutes from
    /// [`CompactLeaves`] instead of gathered, and the 64 rows' sums kept in eight registers
    /// for the whole batch (added in tree order from `out`'s values, as the gathering walk
    /// does: the same f64 additions in the same order).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    unsafe fn walk_avx512_compact(
        &self,
        model: &Model,
        compact: &CompactLeaves,
        conds: &[u64],
        levels: &mut [[u64; TREE_LANES]],
        valid: u64,
        out: &mut [f64],
    ) {
        use std::arch::x86_64::*;
        let depth = model.depth;
        assert!(depth <= COMPACT_DEPTH && out.len() <= BATCH);
        assert!(compact.map.len() >= 64 * model.trees);
        assert!(compact.values.len() >= COMPACT_LEAVES * model.trees);
        let n = out.len();
        let row_groups = n.div_ceil(8);
        let row_mask = |q: usize| -> __mmask8 {
            let left = n.saturating_sub(8 * q).min(8);
            ((1u16 << left) - 1) as __mmask8
        };
        // SAFETY: masked loads of the rows of `out` (rows past `n` are masked off).
        let mut acc: [__m512d; 8] = std::array::from_fn(|q| unsafe {
            _mm512_maskz_loadu_pd(row_mask(q), out.as_ptr().add((8 * q).min(n)))
        });
        let internal = (1usize << depth) - 1;
        let mut bytes = [0u8; BATCH];
        let sixteen = _mm512_set1_epi64(16);
        for g in 0..self.lanes.len() / (internal * TREE_LANES) {
            // SAFETY: the caller's checks (AVX-512F/BW/VBMI, condition slots < cond_slots).
            let right_lanes = unsafe { self.group_right(model, g, conds, levels, valid) };
            for l in 0..TREE_LANES.min(model.trees - g * TREE_LANES) {
                let t = g * TREE_LANES + l;
                let mut idx = _mm512_setzero_si512();
                for d in 0..depth {
                    let bit = _mm512_set1_epi8((1u8 << (depth - 1 - d)) as i8);
                    let m = right_lanes[d * TREE_LANES + l];
                    idx = _mm512_or_si512(idx, _mm512_maskz_mov_epi8(m, bit));
                }
                // SAFETY: map holds 64 bytes and values COMPACT_LEAVES f64 per tree
                // (asserted above); `bytes` holds 64 bytes; every value index is below
                // COMPACT_LEAVES = 32, so bit 4 picks the upper two registers and bits 0..3
                // the value within a pair (`vpermt2pd` reads bits 0..3 only).
                unsafe {
                    let map = _mm512_loadu_si512(compact.map.as_ptr().add(64 * t).cast());
                    let vi = _mm512_permutexvar_epi8(idx, map);
                    _mm512_storeu_si512(bytes.as_mut_ptr().cast(), vi);
                    let v = compact.values.as_ptr().add(COMPACT_LEAVES * t);
                    let (v0, v1) = (_mm512_loadu_pd(v), _mm512_loadu_pd(v.add(8)));
                    let (v2, v3) = (_mm512_loadu_pd(v.add(16)), _mm512_loadu_pd(v.add(24)));
                    // Only the 8-row groups holding rows of the page (a page's last batch is
                    // rarely full).
                    for (q, a) in acc.iter_mut().enumerate().take(row_groups) {
                        let i =
                            _mm512_cvtepu8_epi64(_mm_loadl_epi64(bytes.as_ptr().add(8 * q).cast()));
                        let lo = _mm512_permutex2var_pd(v0, i, v1);
                        let hi = _mm512_permutex2var_pd(v2, i, v3);
                        let upper = _mm512_test_epi64_mask(i, sixteen);
                        *a = _mm512_add_pd(*a, _mm512_mask_blend_pd(upper, lo, hi));
                    }
                }
            }
        }
        for (q, a) in acc.iter().enumerate() {
            // SAFETY: masked stores of the rows of `out`.
            unsafe { _mm512_mask_storeu_pd(out.as_mut_ptr().add((8 * q).min(n)), row_mask(q), *a) };
        }
    }

    /// The node walk of tree group `g` (trees `8g..8g + 8`, one per lane): for each depth
    /// `d`, lane `l` of `result[8d..8d + 8]` holds the rows of tree `8g + l` that went right
    /// at depth `d`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    unsafe fn group_right(
        &self,
        model: &Model,
        g: usize,
        conds: &[u64],
        levels: &mut [[u64; TREE_LANES]],
        valid: u64,
    ) -> [u64; BATCH_MAX_DEPTH * TREE_LANES] {
        use std::arch::x86_64::*;
        let depth = model.depth;
        let internal = (1usize << depth) - 1;
        let mut right_lanes = [0u64; BATCH_MAX_DEPTH * TREE_LANES];
        let half = 1 << (BATCH_MAX_DEPTH - 1);
        assert!(conds.len() >= self.cond_slots);
        assert!(self.lanes.len() >= (g + 1) * internal * TREE_LANES);
        assert!(levels.len() >= 2 * half, "two levels of masks");
        let idx = &self.lanes[g * internal * TREE_LANES..(g + 1) * internal * TREE_LANES];
        let (mut cur, mut next) = levels.split_at_mut(half);
        // The masks of level d's nodes (heap slots first..first + 2^d) are cur[0..2^d];
        // their children's go to next[0..2^(d+1)], then the two swap.
        cur[0] = [valid; TREE_LANES];
        for d in 0..depth {
            let first = (1usize << d) - 1;
            let mut acc = _mm512_setzero_si512();
            for j in 0..1usize << d {
                let k = first + j;
                // SAFETY: idx holds TREE_LANES u32 per internal node k < internal; every
                // index is a condition slot < cond_slots <= conds.len() (the caller's
                // promise); cur and next entries are 8 u64 each.
                unsafe {
                    let i = _mm256_loadu_si256(idx.as_ptr().add(k * TREE_LANES).cast());
                    let c = _mm512_i32gather_epi64::<8>(i, conds.as_ptr().cast());
                    let r = _mm512_loadu_si512(cur[j].as_ptr().cast());
                    let rc = _mm512_and_si512(r, c);
                    acc = _mm512_or_si512(acc, rc);
                    if d + 1 < depth {
                        let left = _mm512_andnot_si512(c, r);
                        _mm512_storeu_si512(next[2 * j].as_mut_ptr().cast(), left);
                        _mm512_storeu_si512(next[2 * j + 1].as_mut_ptr().cast(), rc);
                    }
                }
            }
            // SAFETY: right_lanes holds TREE_LANES u64 per depth < BATCH_MAX_DEPTH.
            unsafe {
                _mm512_storeu_si512(right_lanes.as_mut_ptr().add(d * TREE_LANES).cast(), acc)
            };
            std::mem::swap(&mut cur, &mut next);
        }
        right_lanes
    }

    /// The batch `x` (`n` rows of `nf` values) feature-major: `BATCH` values per entry of
    /// `features` in `cols`, zeros past row `n` (their bits are never reached).
    fn columns(&self, x: &[f64], nf: usize, n: usize, cols: &mut [f64]) {
        assert!(x.len() == n * nf && n <= BATCH && cols.len() >= self.features.len() * BATCH);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") && !FORCE_PORTABLE_WALK.get() {
            // SAFETY: AVX-512F checked; sizes asserted above.
            unsafe { self.columns_avx512(x, nf, n, cols) };
            return;
        }
        for (u, &(f, _, _)) in self.features.iter().enumerate() {
            let col = &mut cols[u * BATCH..(u + 1) * BATCH];
            for (c, row) in col.iter_mut().zip(x.chunks_exact(nf)) {
                *c = row[f as usize];
            }
            col[n..].fill(0.0);
        }
    }

    /// [`Batched::columns`] with one 8-row gather per feature and chunk. Why: the scalar
    /// copy is 4,800 single stores per batch, then read back by 64-byte loads (perf: ~4 % of
    /// `clean --policy context`, mostly the stores).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn columns_avx512(&self, x: &[f64], nf: usize, n: usize, cols: &mut [f64]) {
        use std::arch::x86_64::*;
        let stride = nf as i64;
        let idx = _mm512_setr_epi64(
            0,
            stride,
            2 * stride,
            3 * stride,
            4 * stride,
            5 * stride,
            6 * stride,
            7 * stride,
        );
        for k in 0..BATCH / 8 {
            let rows = n.saturating_sub(8 * k).min(8);
            let m = ((1u16 << rows) - 1) as __mmask8;
            for (u, &(f, _, _)) in self.features.iter().enumerate() {
                // SAFETY: lanes r < rows read x[(8k + r) * nf + f], inside `x` (8k + r < n,
                // f < nf); masked-off lanes read nothing (and the base is only formed for a
                // chunk with rows); the store writes cols[64u + 8k..+8] (asserted length).
                unsafe {
                    let v = if rows == 0 {
                        _mm512_setzero_pd()
                    } else {
                        let base = x.as_ptr().add(8 * k * nf + f as usize);
                        _mm512_mask_i64gather_pd::<8>(_mm512_setzero_pd(), m, idx, base)
                    };
                    _mm512_storeu_pd(cols.as_mut_ptr().add(u * BATCH + 8 * k), v);
                }
            }
        }
    }

    /// `conds[c]`: the rows (bits) of the first `n` whose column value is above condition
    /// `c`'s threshold (bits of rows past `n` are arbitrary: no row reaches them).
    ///
    /// Thresholds below every value of the batch hold for all rows, those at or above every
    /// value for none; only the ones in between are compared, row by row. Page-wide features
    /// (`n_blocks`, `page_words`, `longest_words`, `run_words_frac`, `site_pages`: a fifth
    /// of the conditions) then cost no compare per row: two binary searches per batch, or
    /// with AVX-512 one vector compare per eight thresholds ([`Batched::undecided_avx512`]).
    fn conditions(&self, cols: &[f64], n: usize, conds: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("popcnt")
        {
            // SAFETY: the CPU has AVX-512F/BW and POPCNT (checked above).
            unsafe { self.conditions_avx512(cols, n, conds) };
            return;
        }
        self.conditions_portable(cols, n, conds);
    }

    fn conditions_portable(&self, cols: &[f64], n: usize, conds: &mut [u64]) {
        for (u, &(_, a, b)) in self.features.iter().enumerate() {
            let col = &cols[u * BATCH..(u + 1) * BATCH];
            let (mut lo, mut hi, mut nan) = (f64::INFINITY, f64::NEG_INFINITY, false);
            for &v in &col[..n] {
                lo = if v < lo { v } else { lo };
                hi = if v > hi { v } else { hi };
                nan |= v.is_nan();
            }
            let range = self.undecided(a, b, lo, hi, nan, conds);
            self.compare_portable(col, range, conds);
        }
    }

    /// Sets the masks of the conditions `a..b` (one feature's) that hold for all or none of
    /// a batch whose values lie in `lo..=hi` (`nan`: some value is NaN, then `x > t` is false
    /// for that row and every condition is compared); returns the ones left to compare.
    fn undecided(
        &self,
        a: u32,
        b: u32,
        lo: f64,
        hi: f64,
        nan: bool,
        conds: &mut [u64],
    ) -> std::ops::Range<usize> {
        let (a, b) = (a as usize, b as usize);
        if nan {
            return a..b;
        }
        let ts = &self.thresholds[a..b];
        let below = a + ts.partition_point(|&t| t < lo);
        let above = a + ts.partition_point(|&t| t < hi);
        conds[a..below].fill(!0);
        conds[above..b].fill(0);
        below..above
    }

    /// [`Batched::conditions`] with AVX-512: the range of each column from 8-row min/max, then
    /// one ordered `>` compare per 8 rows (`_CMP_GT_OQ` is false for NaN, like Rust's `>`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,popcnt")]
    unsafe fn conditions_avx512(&self, cols: &[f64], n: usize, conds: &mut [u64]) {
        use std::arch::x86_64::*;
        let chunks = n.div_ceil(8);
        for (u, &(_, a, b)) in self.features.iter().enumerate() {
            let col = &cols[u * BATCH..(u + 1) * BATCH];
            // SAFETY: `col` holds BATCH = 64 values, 8 per unaligned load.
            let v: [__m512d; 8] =
                std::array::from_fn(|k| unsafe { _mm512_loadu_pd(col.as_ptr().add(8 * k)) });
            let (mut lo, mut hi) = (
                _mm512_set1_pd(f64::INFINITY),
                _mm512_set1_pd(f64::NEG_INFINITY),
            );
            let mut nan = 0u8;
            for (k, v) in v.iter().enumerate().take(chunks) {
                let m: __mmask8 = if 8 * k + 8 <= n {
                    0xff
                } else {
                    (1u8 << (n - 8 * k)) - 1
                };
                nan |= _mm512_mask_cmp_pd_mask::<_CMP_UNORD_Q>(m, *v, *v);
                lo = _mm512_mask_min_pd(lo, m, lo, *v);
                hi = _mm512_mask_max_pd(hi, m, hi, *v);
            }
            let range = if nan != 0 {
                a as usize..b as usize
            } else {
                // SAFETY: AVX-512F and POPCNT are enabled here; `conds` covers every
                // condition.
                unsafe {
                    self.undecided_avx512(
                        a as usize..b as usize,
                        _mm512_reduce_min_pd(lo),
                        _mm512_reduce_max_pd(hi),
                        conds,
                    )
                }
            };
            if range.len() >= INT_MIN_CONDITIONS {
                if let Some(ic) = self.int_conds[u] {
                    // SAFETY: AVX-512F/BW are enabled here.
                    if unsafe { self.int_compare_avx512(ic, &v, n, range.clone(), conds) } {
                        continue;
                    }
                }
            }
            // Merged in general registers: `kunpck` merges in mask registers run on the
            // compares' port (one sample in five more, perf).
            for c in range {
                let t = _mm512_set1_pd(self.thresholds[c]);
                let mut m = 0u64;
                for (k, v) in v.iter().enumerate().take(chunks) {
                    m |= (_mm512_cmp_pd_mask::<_CMP_GT_OQ>(*v, t) as u64) << (8 * k);
                }
                conds[c] = m;
            }
        }
    }

    /// [`Batched::undecided`] for a batch without NaN, with vector compares of eight
    /// thresholds at a time and masked stores. Why: the two binary searches (branches that
    /// do not predict) and the `memset` calls for a few masks cost ~5 % of `clean --policy
    /// context` (perf), as much as half the compares they save.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,popcnt")]
    unsafe fn undecided_avx512(
        &self,
        range: std::ops::Range<usize>,
        lo: f64,
        hi: f64,
        conds: &mut [u64],
    ) -> std::ops::Range<usize> {
        use std::arch::x86_64::*;
        assert!(range.end <= self.thresholds.len() && range.end <= conds.len());
        let (vlo, vhi) = (_mm512_set1_pd(lo), _mm512_set1_pd(hi));
        let (all, none) = (_mm512_set1_epi64(-1), _mm512_setzero_si512());
        let (mut below, mut above) = (0, 0);
        let mut c = range.start;
        while c < range.end {
            let m = ((1u16 << (range.end - c).min(8)) - 1) as __mmask8;
            // SAFETY: masked loads and stores of indices c..c + 8 below range.end, inside
            // `thresholds` and `conds` (asserted).
            unsafe {
                let t = _mm512_maskz_loadu_pd(m, self.thresholds.as_ptr().add(c));
                let holds = _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(m, t, vlo);
                let fails = _mm512_mask_cmp_pd_mask::<_CMP_GE_OQ>(m, t, vhi);
                _mm512_mask_storeu_epi64(conds.as_mut_ptr().add(c).cast(), holds, all);
                _mm512_mask_storeu_epi64(conds.as_mut_ptr().add(c).cast(), fails, none);
                below += holds.count_ones() as usize;
                above += fails.count_ones() as usize;
            }
            c += 8;
        }
        range.start + below..range.end - above
    }

    /// The masks of conditions `range` of a feature with [`IntConditions`] `ic`, whose batch
    /// column is `v` (first `n` rows), as 16-bit integer compares; `false` (nothing written)
    /// when a value of the column is not an integer inside `i32` (then the f64 compares
    /// decide).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn int_compare_avx512(
        &self,
        ic: IntConditions,
        v: &[std::arch::x86_64::__m512d; 8],
        n: usize,
        range: std::ops::Range<usize>,
        conds: &mut [u64],
    ) -> bool {
        use std::arch::x86_64::*;
        let chunks = n.div_ceil(8);
        let limit = _mm512_set1_pd(i32::MAX as f64 / 2.0);
        let (lo, top) = (_mm256_set1_epi32(ic.lo), _mm256_set1_epi32(ic.hi + 1));
        let mut lanes = [0u16; BATCH];
        for (k, v) in v.iter().enumerate().take(chunks) {
            let m: __mmask8 = if 8 * k + 8 <= n {
                0xff
            } else {
                (1u8 << (n - 8 * k)) - 1
            };
            // Integral (NaN and infinities fail) and well inside i32.
            let whole = _mm512_mask_cmp_pd_mask::<_CMP_EQ_OQ>(
                m,
                *v,
                _mm512_roundscale_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(*v),
            );
            let small = _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(m, _mm512_abs_pd(*v), limit);
            if whole & small != m {
                return false;
            }
            let x = _mm256_sub_epi32(
                _mm256_min_epi32(_mm256_max_epi32(_mm512_cvttpd_epi32(*v), lo), top),
                lo,
            );
            // SAFETY: `lanes` holds 64 u16; chunk k writes 8 of them at 8k (k < 8).
            unsafe {
                _mm_storeu_si128(
                    lanes.as_mut_ptr().add(8 * k).cast(),
                    _mm256_cvtepi32_epi16(x),
                )
            };
        }
        // SAFETY: two 32-lane loads of the 64 u16.
        let (a, b) = unsafe {
            (
                _mm512_loadu_si512(lanes.as_ptr().cast()),
                _mm512_loadu_si512(lanes.as_ptr().add(32).cast()),
            )
        };
        for c in range {
            let t = _mm512_set1_epi16(self.int_thresholds[c] as i16);
            let low = _mm512_cmpgt_epu16_mask(a, t) as u64;
            let high = _mm512_cmpgt_epu16_mask(b, t) as u64;
            conds[c] = low | (high << 32);
        }
        true
    }

    fn compare_portable(&self, col: &[f64], range: std::ops::Range<usize>, conds: &mut [u64]) {
        for c in range {
            let t = self.thresholds[c];
            let mut m = 0u64;
            for (r, &v) in col.iter().enumerate() {
                m |= ((v > t) as u64) << r;
            }
            conds[c] = m;
        }
    }
}

/// Adds to each row of `out` the leaf its path selects: bit `d` of `right` says the row went
/// right at depth `d`, which is bit `depth - 1 - d` of its index in the padded tree's `leaf`.
fn add_leaves(right: &[u64], leaf: &[f64], out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
    {
        // SAFETY: AVX-512F/BW checked; indices are < 2^depth = leaf.len() (depth <= 8).
        unsafe { add_leaves_avx512(right, leaf, out) };
        return;
    }
    add_leaves_portable(right, leaf, out);
}

/// The leaf indices of 8 rows (chunk `q` of the batch), one byte each.
#[inline(always)]
fn leaf_bytes(right: &[u64], q: usize) -> u64 {
    let depth = right.len();
    let mut idx = 0u64;
    for (d, &m) in right.iter().enumerate() {
        idx |= SPREAD[((m >> (8 * q)) & 0xff) as usize] << (depth - 1 - d);
    }
    idx
}

fn add_leaves_portable(right: &[u64], leaf: &[f64], out: &mut [f64]) {
    for (q, out) in out.chunks_mut(8).enumerate() {
        let idx = leaf_bytes(right, q);
        for (i, o) in out.iter_mut().enumerate() {
            *o += leaf[((idx >> (8 * i)) & 0xff) as usize];
        }
    }
}

/// [`add_leaves_portable`] with AVX-512: the 64 rows' leaf indices are built as bytes with one
/// masked move per depth, then each 8 rows take one gather of their leaves and one add (the
/// same per-row `out + leaf` in f64 as the portable loop).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn add_leaves_avx512(right: &[u64], leaf: &[f64], out: &mut [f64]) {
    use std::arch::x86_64::*;
    let depth = right.len();
    let mut idx = _mm512_setzero_si512();
    for (d, &m) in right.iter().enumerate() {
        let bit = _mm512_set1_epi8((1u8 << (depth - 1 - d)) as i8);
        idx = _mm512_or_si512(idx, _mm512_maskz_mov_epi8(m, bit));
    }
    let mut bytes = [0u8; BATCH];
    // SAFETY: `bytes` holds 64 bytes.
    unsafe { _mm512_storeu_si512(bytes.as_mut_ptr().cast(), idx) };
    for (q, out) in out.chunks_mut(8).enumerate() {
        let k: __mmask8 = if out.len() == 8 {
            0xff
        } else {
            (1u8 << out.len()) - 1
        };
        // SAFETY: 8 bytes from `bytes[8q..]` (q < 8); every index is a leaf of this tree
        // (< 2^depth = leaf.len()); lanes past `out.len()` are masked off in the gather, load
        // and store.
        unsafe {
            let i = _mm512_cvtepu8_epi64(_mm_loadl_epi64(bytes.as_ptr().add(8 * q).cast()));
            let v = _mm512_mask_i64gather_pd::<8>(_mm512_setzero_pd(), k, i, leaf.as_ptr());
            let o = _mm512_maskz_loadu_pd(k, out.as_ptr());
            _mm512_mask_storeu_pd(out.as_mut_ptr(), k, _mm512_add_pd(o, v));
        }
    }
}

/// Depth of the subtree at `i`, checking indices, features and acyclicity (depth bound).
fn tree_depth(
    nodes: &[RawNode],
    i: usize,
    level: usize,
    n_features: usize,
) -> std::result::Result<usize, String> {
    if level > MAX_DEPTH {
        return Err(format!("deeper than {MAX_DEPTH}"));
    }
    let n = nodes.get(i).ok_or_else(|| format!("node {i} missing"))?;
    if n.feature < 0 {
        return Ok(level);
    }
    if n.value.is_nan() {
        return Err(format!("node {i} has a NaN threshold"));
    }
    if n.feature as usize >= n_features {
        return Err(format!(
            "node {i} uses feature {} of {n_features}",
            n.feature
        ));
    }
    let l = tree_depth(nodes, n.left as usize, level + 1, n_features)?;
    let r = tree_depth(nodes, n.right as usize, level + 1, n_features)?;
    Ok(l.max(r))
}

fn check_meta(meta: &ModelMeta, feature_version: u16, name: &str) -> Result<()> {
    if meta.format != "dupsift-context-gbdt" || meta.feature_version != feature_version {
        return Err(bad(name, "metadata disagrees with the header"));
    }
    if meta.features.len() != FEATURE_NAMES.len()
        || meta.features.iter().zip(FEATURE_NAMES).any(|(a, b)| a != b)
    {
        let first = meta
            .features
            .iter()
            .zip(FEATURE_NAMES)
            .position(|(a, b)| a != b)
            .unwrap_or(meta.features.len().min(FEATURE_NAMES.len()));
        return Err(bad(
            name,
            format!(
                "feature columns differ from dupsift's at column {first} ({} vs {} columns)",
                meta.features.len(),
                FEATURE_NAMES.len()
            ),
        ));
    }
    let p = &meta.feature_params;
    if p.neighbour_offsets != super::features::NEIGHBOUR_OFFSETS
        || p.window != super::features::WINDOW
        || p.run_penalty != super::features::FLAG_RUN_PENALTY
        || p.flag_min_site_pages != super::features::FLAG_MIN_SITE_COUNT
    {
        return Err(bad(name, "feature parameters differ from dupsift's"));
    }
    let threshold_ok = meta.threshold > 0.0 && meta.threshold <= 1.0;
    let alpha_ok = (0.0..=1.0).contains(&meta.smoothing_alpha);
    let penalty_ok = meta.run_penalty.is_none_or(|p| p >= 0.0);
    if !(threshold_ok && alpha_ok && penalty_ok) {
        return Err(bad(
            name,
            "threshold, smoothing or run penalty out of range",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_model_loads_with_the_recorded_versions() {
        let m = Model::shipped().expect("shipped model loads");
        assert_eq!(m.meta.feature_version, FEATURE_VERSION);
        assert_eq!(m.n_trees(), 100);
        assert_eq!(m.meta.features, FEATURE_NAMES);
        assert_eq!(m.meta.threshold, 0.825);
        assert_eq!(m.meta.run_penalty, Some(8.0));
    }

    #[test]
    fn corrupt_or_foreign_files_are_refused() {
        let mut bytes = SHIPPED.to_vec();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        let e = Model::from_bytes(&bytes, "x.bin").unwrap_err().to_string();
        assert!(e.contains("checksum"), "{e}");
        let e = Model::from_bytes(b"not a model at all", "x.bin")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad magic"), "{e}");
        let mut bytes = SHIPPED.to_vec();
        bytes[8] = 9; // layout version
        let e = Model::from_bytes(&bytes, "x.bin").unwrap_err().to_string();
        assert!(e.contains("layout version 9"), "{e}");
    }

    /// Rows whose values sit on, just below and just above the model's split thresholds
    /// (plus NaN, infinities and zeros), so every comparison is exercised at its edge.
    fn edge_rows(m: &Model, n: usize, nan: bool) -> Vec<f64> {
        let b = m.batched.as_ref().expect("shipped model is batched");
        let mut next = crate::test_rng::xorshift(0x9e37_79b9_7f4a_7c15u64);
        let nf = m.n_features();
        (0..n * nf)
            .map(|i| {
                let f = (i % nf) as u32;
                let r = next();
                let own = b.features.iter().find(|e| e.0 == f);
                match (r % 8, own) {
                    (0, _) if nan => f64::NAN,
                    (1, _) => [0.0, -0.0, f64::INFINITY, -1.0][(r >> 8) as usize % 4],
                    (_, Some(&(_, a, e))) => {
                        let t = b.thresholds[a as usize + (r >> 8) as usize % (e - a) as usize];
                        match r % 3 {
                            0 => t,
                            1 => f64::from_bits(t.to_bits().wrapping_add(1)),
                            _ => f64::from_bits(t.to_bits().wrapping_sub(1)),
                        }
                    }
                    (_, None) => (r >> 11) as f64 / (1u64 << 40) as f64,
                }
            })
            .collect()
    }

    /// Every condition's mask compared directly on the feature-major `cols`, the reference
    /// of the condition kernels.
    fn direct_masks(b: &Batched, cols: &[f64]) -> Vec<u64> {
        let mut direct = vec![0; b.thresholds.len()];
        for (u, &(_, a, e)) in b.features.iter().enumerate() {
            let col = &cols[u * BATCH..(u + 1) * BATCH];
            b.compare_portable(col, a as usize..e as usize, &mut direct);
        }
        direct
    }

    #[test]
    fn batched_evaluation_equals_the_tree_walk_bit_for_bit() {
        let m = Model::shipped().unwrap();
        let b = m.batched.as_ref().expect("depth 6 is batched");
        // 64 + 64 + 13 rows: two full batches and a partial one.
        for (n, nan) in [
            (1, false),
            (63, true),
            (64, false),
            (64, true),
            (141, false),
        ] {
            let rows = edge_rows(&m, n, nan);
            let mut walk = vec![0.0; n];
            m.accumulate(&rows, &mut walk);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            // The dispatched walk (eight trees per register with AVX-512, compact leaves
            // with VBMI), the AVX-512 walk gathering the leaves, and the portable preorder
            // walk.
            for (portable, gather) in [(false, false), (false, true), (true, false)] {
                FORCE_PORTABLE_WALK.set(portable);
                FORCE_GATHER_LEAVES.set(gather);
                let mut batched = vec![0.0; n];
                b.accumulate(&m, &rows, &mut batched);
                FORCE_PORTABLE_WALK.set(false);
                FORCE_GATHER_LEAVES.set(false);
                assert_eq!(
                    bits(&batched),
                    bits(&walk),
                    "{n} rows, NaN {nan}, portable {portable}, gather {gather}"
                );
            }
        }
    }

    #[test]
    fn shipped_trees_have_compact_leaves() {
        let m = Model::shipped().unwrap();
        let c = m
            .batched
            .as_ref()
            .unwrap()
            .compact
            .as_ref()
            .expect("31 leaves fit");
        let n_leaves = 1usize << m.depth;
        for t in 0..m.n_trees() {
            for i in 0..n_leaves {
                let k = c.map[64 * t + i] as usize;
                assert!(k < COMPACT_LEAVES);
                let (want, got) = (m.leaf[t * n_leaves + i], c.values[COMPACT_LEAVES * t + k]);
                assert_eq!(want.to_bits(), got.to_bits(), "tree {t} leaf {i}");
            }
        }
    }

    #[test]
    fn condition_kernels_agree() {
        let m = Model::shipped().unwrap();
        let b = m.batched.as_ref().unwrap();
        let rows = edge_rows(&m, BATCH, false);
        let nf = m.n_features();
        let mut cols = vec![0.0; b.features.len() * BATCH];
        for (u, &(f, _, _)) in b.features.iter().enumerate() {
            for r in 0..BATCH {
                cols[u * BATCH + r] = rows[r * nf + f as usize];
            }
        }
        let mut portable = vec![0; b.thresholds.len()];
        for (u, &(_, a, e)) in b.features.iter().enumerate() {
            let col = &cols[u * BATCH..(u + 1) * BATCH];
            b.compare_portable(col, a as usize..e as usize, &mut portable);
        }
        assert!(portable.iter().any(|&c| c != 0) && portable.iter().any(|&c| c != !0));
        for n in [64, 17, 1] {
            let keep = if n == 64 { !0 } else { (1u64 << n) - 1 };
            let mut got = vec![0; b.thresholds.len()];
            b.conditions(&cols, n, &mut got);
            let mut scalar = vec![0; b.thresholds.len()];
            b.conditions_portable(&cols, n, &mut scalar);
            for ((g, s), p) in got.iter().zip(&scalar).zip(&portable) {
                assert_eq!(g & keep, p & keep, "{n} rows");
                assert_eq!(s & keep, p & keep, "{n} rows");
            }
        }
        // Narrow batches: every column between two neighbouring thresholds of its feature,
        // on one, or just above one (most conditions decided by the range, a few compared).
        for (case, nudge) in [(0u64, 0i64), (1, 1), (2, -1)] {
            let mut cols = vec![0.0; b.features.len() * BATCH];
            for (u, &(_, a, e)) in b.features.iter().enumerate() {
                let t = b.thresholds[(a + (e - a) / 2) as usize];
                for r in 0..BATCH {
                    let bits = t.to_bits() as i64 + nudge * (r as i64 % 3);
                    cols[u * BATCH + r] = f64::from_bits(bits as u64);
                }
            }
            let mut got = vec![0; b.thresholds.len()];
            b.conditions(&cols, BATCH, &mut got);
            let mut scalar = vec![0; b.thresholds.len()];
            b.conditions_portable(&cols, BATCH, &mut scalar);
            let direct = direct_masks(b, &cols);
            assert_eq!(got, direct, "case {case}");
            assert_eq!(scalar, direct, "case {case}");
        }
    }

    #[test]
    fn integer_columns_take_exact_integer_compares() {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::__m512d;
            if !(std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("popcnt"))
            {
                return;
            }
            let m = Model::shipped().unwrap();
            let b = m.batched.as_ref().unwrap();
            let usable = b.int_conds.iter().filter(|c| c.is_some()).count();
            assert!(
                usable >= 30,
                "integer features of the shipped model: {usable}"
            );
            let mut next = crate::test_rng::xorshift(0x2545_f491_4f6c_dd1du64);
            for n in [64, 40, 9] {
                // Integers around every threshold's floor, far below and far above the range.
                let mut cols = vec![0.0; b.features.len() * BATCH];
                for (u, &(_, a, e)) in b.features.iter().enumerate() {
                    for r in 0..n {
                        let x = next();
                        let t = b.thresholds[a as usize + (x >> 8) as usize % (e - a) as usize];
                        cols[u * BATCH + r] = match x % 6 {
                            0 => t.floor(),
                            1 => t.floor() + 1.0,
                            2 => t.floor() - 1.0,
                            3 => -1.0e6,
                            4 => 1.0e6,
                            _ => -0.0,
                        };
                    }
                }
                let keep = if n == 64 { !0 } else { (1u64 << n) - 1 };
                let mut got = vec![0; b.thresholds.len()];
                b.conditions(&cols, n, &mut got);
                let direct = direct_masks(b, &cols);
                for (c, (g, d)) in got.iter().zip(&direct).enumerate() {
                    assert_eq!(g & keep, d & keep, "{n} rows, condition {c}");
                }
                // The integer kernel itself: taken for integral columns, refused otherwise.
                for (u, &(_, a, e)) in b.features.iter().enumerate() {
                    let Some(ic) = b.int_conds[u] else { continue };
                    let col = &mut cols[u * BATCH..(u + 1) * BATCH];
                    let load = |col: &[f64]| -> [__m512d; 8] {
                        // SAFETY: AVX-512F checked; 64 values, 8 per load.
                        std::array::from_fn(|k| unsafe {
                            std::arch::x86_64::_mm512_loadu_pd(col.as_ptr().add(8 * k))
                        })
                    };
                    let range = a as usize..e as usize;
                    let mut int = vec![0; b.thresholds.len()];
                    // SAFETY: AVX-512F/BW checked above.
                    let taken =
                        unsafe { b.int_compare_avx512(ic, &load(col), n, range.clone(), &mut int) };
                    assert!(taken, "feature entry {u}");
                    for c in range.clone() {
                        assert_eq!(int[c] & keep, direct[c] & keep, "condition {c}");
                    }
                    for bad in [0.5, f64::NAN, f64::INFINITY, 3.0e9] {
                        col[n - 1] = bad;
                        // SAFETY: as above.
                        let taken = unsafe {
                            b.int_compare_avx512(ic, &load(col), n, range.clone(), &mut int)
                        };
                        assert!(!taken, "feature entry {u}, value {bad}");
                    }
                }
            }
        }
    }

    #[test]
    fn leaf_kernels_agree() {
        let leaf: Vec<f64> = (0..64).map(|i| (i as f64 - 31.5) / 7.0).collect();
        // Depth 6: rows go right at depths by these patterns; 64 and 13 rows.
        let right = [
            0xdead_beef_0123_4567u64,
            0x0f0f_f0f0_3333_cccc,
            !0,
            0,
            0x8000_0000_0000_0001,
            0x5555_aaaa_5555_aaaa,
        ];
        for n in [64, 13] {
            let mut portable: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let mut dispatched = portable.clone();
            add_leaves_portable(&right, &leaf, &mut portable);
            add_leaves(&right, &leaf, &mut dispatched);
            assert_eq!(portable, dispatched);
            // Row 0 went right at depths 0, 2 and 4 -> index 0b101010 = 42.
            assert_eq!(portable[0], leaf[42]);
        }
    }

    #[test]
    fn ragged_trees_are_padded_without_changing_predictions() {
        // x0 <= 1 -> (x1 <= 5 -> 1.0 | 2.0) ; else 3.0
        let leaf = |v| RawNode {
            feature: -1,
            value: v,
            left: 0,
            right: 0,
        };
        let split = |f, t, l, r| RawNode {
            feature: f,
            value: t,
            left: l,
            right: r,
        };
        let nodes = vec![
            split(0, 1.0, 1, 4),
            split(1, 5.0, 2, 3),
            leaf(1.0),
            leaf(2.0),
            leaf(3.0),
        ];
        let mut m = Model::shipped().unwrap();
        let nf = m.n_features();
        m = Model::from_trees(m.meta, &[nodes], "t").unwrap();
        let mut rows = vec![0.0; 4 * nf];
        rows[0] = 1.0; // on the split: left
        rows[1] = 5.0; // -> 1.0
        rows[nf] = 1.0;
        rows[nf + 1] = 6.0; // -> 2.0
        rows[2 * nf] = 2.0; // -> 3.0
        rows[3 * nf] = -1.0; // -> 1.0
        let mut out = Vec::new();
        m.predict(&rows, &mut out);
        let raw: Vec<f64> = out.iter().map(|p| (p / (1.0 - p)).ln()).collect();
        for (got, want) in raw.iter().zip([1.0, 2.0, 3.0, 1.0]) {
            assert!((got - want).abs() < 1e-12, "{raw:?}");
        }
    }
}
