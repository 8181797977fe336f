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

pub mod column;
pub mod format;
pub mod learn;
pub mod matcher;
pub mod merge;
pub mod summary;
mod v1;

use crate::blocks::BlockParams;
use crate::cluster::UnionFind;
use crate::lsh::LshParams;
use crate::minhash::estimate_jaccard;
use serde::{Deserialize, Serialize};

pub use column::Column;
pub use format::{read_db, read_db_version, write_db, FORMAT_VERSION, OLDEST_FORMAT_VERSION};
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

/// One distinct block of one group: the fixed-size fields of entry `i` of [`Entries`], copied
/// out of its columns. Its example text and first document id are [`Entries::example`] and
/// [`Entries::first_id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// Bytes of text kept per entry as an example.
pub const EXAMPLE_BYTES: usize = 120;

/// The entries as columns, one flat array per field, sorted by (group, key).
///
/// Why columns rather than a `Vec` of structs with two `String`s each: a format-2 file stores
/// exactly these arrays, so a loaded database views them in the file's bytes ([`Column`])
/// instead of decoding and allocating per entry. The example texts and first document ids are
/// ranges of one UTF-8 `text` buffer: entry `i`'s example is `text[offsets[2i]..offsets[2i+1]]`
/// and its first id `text[offsets[2i+1]..offsets[2i+2]]`. The text and offsets are private:
/// they are only built by [`Entries::push`] or checked by [`Entries::from_columns`], so the
/// accessors can slice without re-validating.
#[derive(Debug, Clone, PartialEq)]
pub struct Entries {
    pub group: Column<u32>,
    pub key: Column<u64>,
    pub docs: Column<u64>,
    pub occurrences: Column<u64>,
    pub near_docs: Column<u64>,
    pub words: Column<u32>,
    pub shingles: Column<u32>,
    pub sig: Column<u32>,
    text_offsets: Column<u64>,
    text: Column<u8>,
}

impl Default for Entries {
    fn default() -> Self {
        Entries {
            group: Column::default(),
            key: Column::default(),
            docs: Column::default(),
            occurrences: Column::default(),
            near_docs: Column::default(),
            words: Column::default(),
            shingles: Column::default(),
            sig: Column::default(),
            text_offsets: Column::from(vec![0]),
            text: Column::default(),
        }
    }
}

impl Entries {
    /// Space for `n` entries with about `text` bytes of examples and ids.
    pub fn with_capacity(n: usize, text: usize) -> Self {
        let mut offsets = Vec::with_capacity(2 * n + 1);
        offsets.push(0);
        Entries {
            group: Vec::with_capacity(n).into(),
            key: Vec::with_capacity(n).into(),
            docs: Vec::with_capacity(n).into(),
            occurrences: Vec::with_capacity(n).into(),
            near_docs: Vec::with_capacity(n).into(),
            words: Vec::with_capacity(n).into(),
            shingles: Vec::with_capacity(n).into(),
            sig: Vec::with_capacity(n).into(),
            text_offsets: offsets.into(),
            text: Vec::with_capacity(text).into(),
        }
    }

    /// Checks columns as stored (the format reader builds `raw` from the file's columns; only
    /// code of this module can, the text fields being private): equal lengths, `2 n + 1`
    /// offsets rising from 0 to the end of `text`, each on a character boundary, and `text`
    /// UTF-8 (one pass over the whole buffer). Returns what is wrong, for the error message.
    pub(super) fn from_columns(raw: Entries) -> std::result::Result<Entries, String> {
        let n = raw.key.len();
        let lens = [
            raw.group.len(),
            raw.docs.len(),
            raw.occurrences.len(),
            raw.near_docs.len(),
            raw.words.len(),
            raw.shingles.len(),
            raw.sig.len(),
        ];
        if lens.iter().any(|&l| l != n) {
            return Err(format!(
                "entry columns of different lengths ({n} keys, others {lens:?})"
            ));
        }
        if raw.text_offsets.len() != 2 * n + 1 {
            return Err(format!(
                "{} text offsets for {n} entries (want {})",
                raw.text_offsets.len(),
                2 * n + 1
            ));
        }
        let text = crate::utf8::str_from(&raw.text)
            .map_err(|e| format!("the example text is not UTF-8 ({e})"))?;
        let offs = &raw.text_offsets;
        if offs[0] != 0 || offs[2 * n] != text.len() as u64 {
            return Err(format!(
                "text offsets span {}..{}, the text holds {} bytes",
                offs[0],
                offs[2 * n],
                text.len()
            ));
        }
        // Rising offsets (checked for all pairs before any is used to index).
        if offs.windows(2).any(|w| w[0] > w[1]) {
            return Err("text offsets out of order".into());
        }
        if let Some(o) = offs.iter().find(|&&o| !text.is_char_boundary(o as usize)) {
            return Err(format!("text offset {o} splits a character"));
        }
        Ok(raw)
    }

    /// Appends an entry (owned columns: views of a file are copied first).
    pub fn push(&mut self, e: Entry, example: &str, first_id: &str) {
        self.group.make_mut().push(e.group);
        self.key.make_mut().push(e.key);
        self.docs.make_mut().push(e.docs);
        self.occurrences.make_mut().push(e.occurrences);
        self.near_docs.make_mut().push(e.near_docs);
        self.words.make_mut().push(e.words);
        self.shingles.make_mut().push(e.shingles);
        self.sig.make_mut().push(e.sig);
        let text = self.text.make_mut();
        let offsets = self.text_offsets.make_mut();
        text.extend_from_slice(example.as_bytes());
        offsets.push(text.len() as u64);
        text.extend_from_slice(first_id.as_bytes());
        offsets.push(text.len() as u64);
    }

    pub fn len(&self) -> usize {
        self.key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.key.is_empty()
    }

    /// The fixed-size fields of entry `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Entry {
        Entry {
            group: self.group[i],
            key: self.key[i],
            docs: self.docs[i],
            occurrences: self.occurrences[i],
            near_docs: self.near_docs[i],
            words: self.words[i],
            shingles: self.shingles[i],
            sig: self.sig[i],
        }
    }

    /// Every entry, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Entry> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    fn text_range(&self, a: usize) -> &str {
        let (s, e) = (
            self.text_offsets[a] as usize,
            self.text_offsets[a + 1] as usize,
        );
        // SAFETY: `text` is UTF-8 and every offset is a character boundary, in rising
        // order: built so by `push` from `&str`s, or checked by `from_columns`; both are
        // private, and `make_mut` is only called on them by `push`.
        unsafe { std::str::from_utf8_unchecked(&self.text[s..e]) }
    }

    /// The first occurrence's text of entry `i`, cut to [`EXAMPLE_BYTES`].
    pub fn example(&self, i: usize) -> &str {
        self.text_range(2 * i)
    }

    /// Id of the first document entry `i` was seen in.
    pub fn first_id(&self, i: usize) -> &str {
        self.text_range(2 * i + 1)
    }

    /// The text offsets and the text, as stored (for the writer).
    pub(crate) fn text_columns(&self) -> (&[u64], &[u8]) {
        (&self.text_offsets, &self.text)
    }
}

/// The database: parameters, policy, groups and entries sorted by (group, key).
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureDb {
    pub params: HashParams,
    pub grouping: Grouping,
    pub policy: Policy,
    /// Sorted by name.
    pub groups: Vec<GroupInfo>,
    pub entries: Entries,
    /// Flat signatures, `num_perm` lanes each.
    pub sigs: Column<u32>,
}

impl SignatureDb {
    /// The signature of `entry`, if it has one.
    pub fn signature(&self, entry: &Entry) -> Option<&[u32]> {
        self.signature_at(entry.sig)
    }

    /// Signature number `sig` (an [`Entry::sig`]), unless it is [`NO_SIG`].
    #[inline]
    pub fn signature_at(&self, sig: u32) -> Option<&[u32]> {
        (sig != NO_SIG).then(|| {
            let k = self.params.num_perm;
            let i = sig as usize * k;
            &self.sigs[i..i + k]
        })
    }

    /// Total documents learned from.
    pub fn documents(&self) -> u64 {
        self.groups.iter().map(|g| g.docs).sum()
    }

    /// Indices of the entries that are boilerplate under `policy`.
    pub fn active<'a>(&'a self, policy: &'a Policy) -> impl Iterator<Item = usize> + 'a {
        let e = &self.entries;
        (0..e.len()).filter(move |&i| {
            policy.is_active(
                e.near_docs[i],
                e.words[i],
                self.groups[e.group[i] as usize].docs,
            )
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
        .filter(|&i| db.entries.sig[i as usize] != NO_SIG)
        .collect();
    // Every band hash in one pass over the signatures (band-major, 8 bytes x bands x long
    // entries: 24 MB on the man pages): computing them band by band read the 70 MB of
    // signatures once per band.
    let nl = long.len();
    let mut hashes = vec![0u64; lsh.bands * nl];
    for (j, &i) in long.iter().enumerate() {
        let sig = db
            .signature_at(db.entries.sig[i as usize])
            .expect("has sig");
        for b in 0..lsh.bands {
            hashes[b * nl + j] = band_hash(&lsh, sig, b) ^ (b as u64);
        }
    }
    // (group, band hash, entry) packed into one u128 so the sort compares integers rather
    // than tuples; the order, and so each bucket's heads, is the same.
    // The groups of the long entries, gathered once (one column read per band pass would
    // stream it through the cache once per band).
    let long_groups: Vec<u32> = long.iter().map(|&i| db.entries.group[i as usize]).collect();
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
                        db.signature_at(db.entries.sig[a as usize])
                            .expect("has sig"),
                        db.signature_at(db.entries.sig[b as usize])
                            .expect("has sig"),
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
        sums[r] += db.entries.docs[i];
    }
    let near_docs = db.entries.near_docs.make_mut();
    for (i, near) in near_docs.iter_mut().enumerate() {
        *near = sums[uf.find(i as u32) as usize];
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
