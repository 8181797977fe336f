//! The boilerplate signature database (`.dsig`): which blocks recur across the documents of a
//! group (a site), learned once and used by `clean` to remove them.
//!
//! # Why every block is stored, and thresholds apply at use time
//! `merge` must give the same database as learning on the union of the shards. A block seen
//! in one document of shard A and one of shard B is in two documents of the union, so any
//! pruning at learn time (dropping blocks below `min_docs`, even dropping singletons) breaks
//! that equality. The database therefore keeps *every* distinct block with its counts; the
//! policy (`min_docs`, `min_fraction`, short-block rule) is stored as the default and applied
//! when the database is used ([`matcher::Matcher`], `inspect`), where `clean` may override it.
//! The cost is memory and file size proportional to the number of distinct blocks: about
//! 60 bytes plus a short example and the first document id per block, plus `4 * num_perm`
//! bytes of MinHash per long block (see [`learn`]).
//!
//! # Near-duplicates without order dependence
//! Entries are per exact key (normalized text), whose counts simply add. Long blocks carry a
//! MinHash signature, and [`finalize`] links entries of a group whose estimated Jaccard
//! reaches the near threshold (LSH + union-find over entries sorted by key), so
//! "(c) 2013 Globe ... rights reserved" and a reworded copy count as one: each entry's
//! `near_docs` is the sum of `docs` over its cluster. Because the clustering depends only on
//! the set of entries, never on arrival order, learn-then-merge and learn-on-union agree.

pub mod format;
pub mod learn;
pub mod matcher;
pub mod merge;
pub mod summary;

use crate::blocks::BlockParams;
use crate::cluster::UnionFind;
use crate::lsh::LshParams;
use crate::minhash::estimate_jaccard;
use serde::{Deserialize, Serialize};

pub use format::{read_db, write_db, FORMAT_VERSION, OLDEST_FORMAT_VERSION};
pub use learn::Learner;
pub use matcher::{DbMatch, Matcher};
pub use merge::merge;

/// Every parameter that changes a key, a shingle or a signature; two databases can be merged,
/// and a database used on a corpus, only with equal values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HashParams {
    pub blocks: BlockParams,
    /// MinHash lanes per long block.
    pub num_perm: usize,
    /// LSH banding used to find near-duplicate entries.
    pub lsh: LshParams,
    pub normalizer_version: u16,
}

impl HashParams {
    /// Parameters for `blocks` with `num_perm` lanes; the banding is chosen for the near
    /// threshold (see [`LshParams::with_recall`]).
    pub fn new(blocks: BlockParams, num_perm: usize) -> Self {
        let num_perm = num_perm.max(1);
        HashParams {
            blocks,
            num_perm,
            lsh: LshParams::with_recall(
                blocks.near_threshold,
                num_perm,
                crate::lsh::DEFAULT_RECALL,
            ),
            normalizer_version: crate::normalize::NORMALIZER_VERSION,
        }
    }
}

/// Default number of MinHash lanes per block: blocks are short, and 64 lanes give a standard
/// error of 0.05 at Jaccard 0.8 at half the memory of 128.
pub const DEFAULT_BLOCK_PERM: usize = 64;

/// How documents are assigned to groups (sites).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grouping {
    /// One group for the whole corpus.
    None,
    /// The value of a JSON field (string or number); records without it go to group "".
    Field(String),
    /// The host of the URL in the `url` field, lowercased, without `www.` and port.
    UrlHost,
}

impl Grouping {
    /// The group of a document, from its JSON record (text-file documents: group "").
    pub fn group_of(&self, record: Option<&str>) -> String {
        let field = match self {
            Grouping::None => return String::new(),
            Grouping::Field(f) => f.as_str(),
            Grouping::UrlHost => "url",
        };
        let Some(value) = record.and_then(|r| json_field(r, field)) else {
            return String::new();
        };
        match self {
            Grouping::UrlHost => url_host(&value),
            _ => value,
        }
    }

    /// Human-readable description for `inspect`.
    pub fn describe(&self) -> String {
        match self {
            Grouping::None => "none (one group)".into(),
            Grouping::Field(f) => format!("field {f:?}"),
            Grouping::UrlHost => "url-host (from field \"url\")".into(),
        }
    }
}

/// A top-level string or number field of a JSON object.
fn json_field(record: &str, name: &str) -> Option<String> {
    let fields = crate::corpus::JsonFields::parse(
        record,
        &crate::corpus::FieldNames {
            text: name.into(),
            id: name.into(),
        },
    );
    // `parse` fails when the field is missing or not a string; numbers come back as the id.
    match fields {
        Ok(f) => Some(f.text),
        Err(_) => {
            let v: serde_json::Value = serde_json::from_str(record).ok()?;
            match v.get(name)? {
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        }
    }
}

/// `https://www.Example.com:8080/a?b` -> `example.com`.
pub fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next().unwrap_or("").to_lowercase();
    host.strip_prefix("www.").unwrap_or(&host).to_string()
}

/// When an entry counts as boilerplate. Stored in the database as the default; `clean` and
/// `inspect` may override it because thresholds are applied at use time (see module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// An entry is active when its block (or a near-duplicate) is in at least this many
    /// documents of its group...
    pub min_docs: u64,
    /// ...and in at least this fraction of the group's documents.
    pub min_fraction: f64,
    /// Blocks of at most this many words (headings such as "Note", "See also") are only
    /// removed when in at least `short_min_fraction` of the group's documents (0 = no rule).
    pub short_words: usize,
    pub short_min_fraction: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_docs: 2,
            min_fraction: 0.0,
            short_words: 0,
            short_min_fraction: 0.0,
        }
    }
}

impl Policy {
    /// True when an entry with `docs` documents (near-duplicates included) and `words` words
    /// counts as boilerplate in a group of `group_docs` documents.
    pub fn is_active(&self, docs: u64, words: u32, group_docs: u64) -> bool {
        let frac = if group_docs == 0 {
            0.0
        } else {
            docs as f64 / group_docs as f64
        };
        if docs < self.min_docs.max(1) || frac < self.min_fraction {
            return false;
        }
        !(self.short_words > 0
            && (words as usize) <= self.short_words
            && frac < self.short_min_fraction)
    }
}

/// A group and how many documents it had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfo {
    pub name: String,
    pub docs: u64,
}

/// Sentinel of [`Entry::sig`] for short blocks (exact key only).
pub const NO_SIG: u32 = u32::MAX;

/// One distinct block of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Index into [`SignatureDb::groups`].
    pub group: u32,
    /// Exact key ([`crate::blocks::block_key`]).
    pub key: u64,
    /// Documents of the group containing the block (in-document copies counted once).
    pub docs: u64,
    /// Occurrences, in-document repeats of it included.
    pub occurrences: u64,
    /// Documents of its near-duplicate cluster (sum of `docs` over the cluster; equals `docs`
    /// for short blocks). Derived by [`finalize`].
    pub near_docs: u64,
    /// Words of the normalized text.
    pub words: u32,
    /// Distinct shingles (for containment estimates); 0 for short blocks.
    pub shingles: u32,
    /// Index of the signature in [`SignatureDb::sigs`] (in units of `num_perm`), or [`NO_SIG`].
    pub sig: u32,
    /// The first occurrence's text, cut to [`EXAMPLE_BYTES`].
    pub example: String,
    /// Id of the first document it was seen in.
    pub first_id: String,
}

/// Bytes of text kept per entry as an example.
pub const EXAMPLE_BYTES: usize = 120;

/// The database: parameters, policy, groups and entries sorted by (group, key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureDb {
    pub params: HashParams,
    pub grouping: Grouping,
    pub policy: Policy,
    /// Sorted by name.
    pub groups: Vec<GroupInfo>,
    pub entries: Vec<Entry>,
    /// Flat signatures, `num_perm` lanes each.
    pub sigs: Vec<u32>,
}

impl SignatureDb {
    /// The signature of `entry`, if it has one.
    pub fn signature(&self, entry: &Entry) -> Option<&[u32]> {
        (entry.sig != NO_SIG).then(|| {
            let k = self.params.num_perm;
            let i = entry.sig as usize * k;
            &self.sigs[i..i + k]
        })
    }

    /// Total documents learned from.
    pub fn documents(&self) -> u64 {
        self.groups.iter().map(|g| g.docs).sum()
    }

    /// Entries that are boilerplate under `policy`.
    pub fn active<'a>(&'a self, policy: &'a Policy) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| {
            policy.is_active(e.near_docs, e.words, self.groups[e.group as usize].docs)
        })
    }
}

/// The longest prefix of `text` of at most `max` bytes ending at a character boundary.
pub fn truncate_str(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Most members of one LSH bucket compared with each other member; bounds the work when many
/// variants of one block share a band.
const BUCKET_HEADS: usize = 8;

/// Recomputes `near_docs` from the entries (sorted by group and key) and their signatures:
/// entries of one group whose estimated Jaccard reaches the near threshold are one cluster.
/// Depends only on the set of entries, so learn and merge give the same result.
///
/// Bands are bucketed one at a time: one array of every band of every entry was 16 bytes x
/// bands x long entries (~100 MB on the man pages) at the peak of `learn`'s memory, and the
/// smaller sorts are faster. A bucket is a (group, band hash) within one band, which is what
/// LSH means; the old single array could in principle also join equal hashes of different
/// bands (a 64-bit collision, never observed).
pub fn finalize(db: &mut SignatureDb) {
    let n = db.entries.len();
    let mut uf = UnionFind::new(n);
    let lsh = db.params.lsh;
    let threshold = db.params.blocks.near_threshold;
    let long: Vec<u32> = (0..n as u32)
        .filter(|&i| db.entries[i as usize].sig != NO_SIG)
        .collect();
    // Every band hash in one pass over the signatures (band-major, 8 bytes x bands x long
    // entries: 24 MB on the man pages): computing them band by band read the 70 MB of
    // signatures once per band.
    let nl = long.len();
    let mut hashes = vec![0u64; lsh.bands * nl];
    for (j, &i) in long.iter().enumerate() {
        let sig = db.signature(&db.entries[i as usize]).expect("has sig");
        for b in 0..lsh.bands {
            hashes[b * nl + j] = band_hash(&lsh, sig, b) ^ (b as u64);
        }
    }
    // (group, band hash, entry) packed into one u128 so the sort compares integers rather
    // than tuples; the order, and so each bucket's heads, is the same.
    // The groups of the long entries, gathered once: reading them from the 96-byte entries in
    // every band's pass streamed all entries through the cache once per band.
    let long_groups: Vec<u32> = long.iter().map(|&i| db.entries[i as usize].group).collect();
    let mut bucket: Vec<u128> = Vec::with_capacity(nl);
    for b in 0..lsh.bands {
        bucket.clear();
        bucket.extend(
            long.iter()
                .zip(&long_groups)
                .zip(&hashes[b * nl..(b + 1) * nl])
                .map(|((&i, &group), &h)| {
                    (u128::from(group) << 96) | (u128::from(h) << 32) | u128::from(i)
                }),
        );
        bucket.sort_unstable();
        for run in bucket.chunk_by(|a, b| a >> 32 == b >> 32) {
            for (h, &head) in run.iter().take(BUCKET_HEADS).enumerate() {
                for &other in &run[h + 1..] {
                    let (a, b) = (head as u32, other as u32);
                    // Already one cluster (from an earlier band or a shared neighbour): the
                    // union would change nothing, so skip the signature comparison.
                    if uf.find(a) == uf.find(b) {
                        continue;
                    }
                    let (sa, sb) = (
                        db.signature(&db.entries[a as usize]).expect("has sig"),
                        db.signature(&db.entries[b as usize]).expect("has sig"),
                    );
                    if estimate_jaccard(sa, sb) >= threshold {
                        uf.union(a, b);
                    }
                }
            }
        }
    }
    let mut sums = vec![0u64; n];
    for i in 0..n {
        let r = uf.find(i as u32) as usize;
        sums[r] += db.entries[i].docs;
    }
    for i in 0..n {
        let r = uf.find(i as u32) as usize;
        db.entries[i].near_docs = sums[r];
    }
}

/// [`LshParams::band_hash`] without its copy of the lanes into a zeroed byte buffer (a third
/// of [`finalize`]): on a little-endian target the lanes already are those bytes.
#[inline]
fn band_hash(lsh: &LshParams, sig: &[u32], band: usize) -> u64 {
    #[cfg(target_endian = "little")]
    {
        let lanes = &sig[band * lsh.rows..(band + 1) * lsh.rows];
        // SAFETY: any initialized `u32`s are valid bytes; the length is the lanes' size.
        let bytes = unsafe {
            std::slice::from_raw_parts(lanes.as_ptr().cast::<u8>(), std::mem::size_of_val(lanes))
        };
        xxhash_rust::xxh3::xxh3_64_with_seed(bytes, band as u64)
    }
    #[cfg(not(target_endian = "little"))]
    {
        lsh.band_hash(sig, band)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_hash_equals_lsh_band_hash() {
        let sig: Vec<u32> = (0..200u32)
            .map(|i| i.wrapping_mul(0x9e37_79b9) ^ 0xdead_beef)
            .collect();
        // rows > 64 takes the other branch of `LshParams::band_hash`.
        for (bands, rows) in [(11, 4), (16, 8), (1, 1), (3, 65), (2, 100)] {
            let lsh = LshParams { bands, rows };
            for b in 0..bands {
                assert_eq!(
                    band_hash(&lsh, &sig, b),
                    lsh.band_hash(&sig, b),
                    "{bands}x{rows}"
                );
            }
        }
    }

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("https://www.Example.com:8080/a?b"), "example.com");
        assert_eq!(url_host("http://user@blogs.nfl.com"), "blogs.nfl.com");
        assert_eq!(url_host("news.cnet.com/x"), "news.cnet.com");
    }

    #[test]
    fn grouping_reads_fields() {
        let rec = r#"{"text":"x","domain":"a.com","n":7,"url":"https://www.b.org/p"}"#;
        assert_eq!(
            Grouping::Field("domain".into()).group_of(Some(rec)),
            "a.com"
        );
        assert_eq!(Grouping::Field("n".into()).group_of(Some(rec)), "7");
        assert_eq!(Grouping::Field("zz".into()).group_of(Some(rec)), "");
        assert_eq!(Grouping::UrlHost.group_of(Some(rec)), "b.org");
        assert_eq!(Grouping::None.group_of(Some(rec)), "");
    }

    #[test]
    fn policy_thresholds() {
        let p = Policy {
            min_docs: 3,
            min_fraction: 0.1,
            short_words: 2,
            short_min_fraction: 0.9,
        };
        assert!(!p.is_active(2, 10, 10));
        assert!(p.is_active(3, 10, 10));
        assert!(!p.is_active(3, 10, 100)); // 3 % of the group
        assert!(!p.is_active(5, 1, 10)); // short, on half the pages
        assert!(p.is_active(10, 1, 10)); // short, on every page
    }
}
