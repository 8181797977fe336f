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
}

/// Rows walked together in [`Model::predict`].
const LANES: usize = 8;

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
        };
        for (t, nodes) in raw.iter().enumerate() {
            model.place(t, nodes, 0, 0, 0);
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
        self.accumulate(rows, out);
        for p in out.iter_mut() {
            *p = 1.0 / (1.0 + (-*p).exp());
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
        assert_eq!(m.n_trees(), 200);
        assert_eq!(m.meta.features, FEATURE_NAMES);
        assert_eq!(m.meta.threshold, 0.775);
        assert_eq!(m.meta.run_penalty, Some(4.0));
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
