//! The body of format 1 (read only): bincode 2 `standard()` (varints) of grouping, policy,
//! groups, entries as structs with two `String`s each, and the signatures. A file of this
//! format is decoded here and converted to the columns of [`super::Entries`]; `learn` and
//! `merge` write format 2 ([`super::format`]).

use super::{Entries, Entry, GroupInfo, Grouping, Policy};
use serde::{Deserialize, Serialize};

/// An entry as format 1 stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct EntryV1 {
    pub group: u32,
    pub key: u64,
    pub docs: u64,
    pub occurrences: u64,
    pub near_docs: u64,
    pub words: u32,
    pub shingles: u32,
    pub sig: u32,
    pub example: String,
    pub first_id: String,
}

/// A decoded format-1 body, entries already converted to columns.
pub(super) struct Body {
    pub grouping: Grouping,
    pub policy: Policy,
    pub groups: Vec<GroupInfo>,
    pub entries: Entries,
    pub sigs: Vec<u32>,
}

/// [`Body`] without its last field, as stored: the signatures are decoded by [`decode_sigs`].
#[derive(Deserialize)]
struct BodyHead {
    grouping: Grouping,
    policy: Policy,
    groups: Vec<GroupInfo>,
    entries: Vec<EntryV1>,
}

/// The whole body as bincode encodes it (the writer of format 1, kept for tests).
#[cfg(test)]
#[derive(Serialize, Deserialize)]
pub(super) struct BodyRef {
    pub grouping: Grouping,
    pub policy: Policy,
    pub groups: Vec<GroupInfo>,
    pub entries: Vec<EntryV1>,
    pub sigs: Vec<u32>,
}

#[cfg(test)]
impl BodyRef {
    /// `db` as format 1 holds it.
    pub fn of(db: &super::SignatureDb) -> BodyRef {
        let e = &db.entries;
        BodyRef {
            grouping: db.grouping.clone(),
            policy: db.policy,
            groups: db.groups.clone(),
            entries: (0..e.len())
                .map(|i| {
                    let x = e.get(i);
                    EntryV1 {
                        group: x.group,
                        key: x.key,
                        docs: x.docs,
                        occurrences: x.occurrences,
                        near_docs: x.near_docs,
                        words: x.words,
                        shingles: x.shingles,
                        sig: x.sig,
                        example: e.example(i).to_string(),
                        first_id: e.first_id(i).to_string(),
                    }
                })
                .collect(),
            sigs: db.sigs.to_vec(),
        }
    }
}

#[cfg(test)]
pub(super) fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ super::format::BODY_LIMIT }>()
}

fn to_columns(entries: Vec<EntryV1>) -> Entries {
    let text = entries
        .iter()
        .map(|e| e.example.len() + e.first_id.len())
        .sum();
    let mut out = Entries::with_capacity(entries.len(), text);
    for e in entries {
        out.push(
            Entry {
                group: e.group,
                key: e.key,
                docs: e.docs,
                occurrences: e.occurrences,
                near_docs: e.near_docs,
                words: e.words,
                shingles: e.shingles,
                sig: e.sig,
            },
            &e.example,
            &e.first_id,
        );
    }
    out
}

/// Decodes `body` with a size limit proportional to its length (why:
/// [`super::format::decode_bounded`]).
///
/// The signatures (the last field, ~half the file: 17 million varints for the man pages) are
/// decoded by hand ([`decode_sigs`]) after serde has decoded the rest: bincode's per-element
/// path through serde, with its limit accounting, was ~15 % of loading a database. The bytes
/// and the result are those of decoding the whole [`Body`] with bincode (tested).
pub(super) fn decode_body(
    body: &[u8],
) -> std::result::Result<(Body, usize), bincode::error::DecodeError> {
    let (head, used) = decode_head(body)?;
    let (sigs, sig_bytes) = decode_sigs(&body[used..])?;
    let body_out = Body {
        grouping: head.grouping,
        policy: head.policy,
        groups: head.groups,
        entries: to_columns(head.entries),
        sigs,
    };
    Ok((body_out, used + sig_bytes))
}

/// `Vec<u32>` in bincode's standard encoding (varint length, then one varint per value: a
/// byte below 251 is the value, 251 / 252 announce a little-endian u16 / u32), as
/// `bincode::decode_from_slice` reads it, returning the bytes used. The length is checked
/// against the bytes left (every value takes at least one) before anything is allocated.
fn decode_sigs(b: &[u8]) -> std::result::Result<(Vec<u32>, usize), bincode::error::DecodeError> {
    use bincode::error::DecodeError;
    let short = |additional| DecodeError::UnexpectedEnd { additional };
    let (len, mut pos) = match *b.first().ok_or(short(1))? {
        x @ 0..=250 => (x as u64, 1),
        251 => (
            u16::from_le_bytes(b.get(1..3).ok_or(short(2))?.try_into().unwrap()) as u64,
            3,
        ),
        252 => (
            u32::from_le_bytes(b.get(1..5).ok_or(short(4))?.try_into().unwrap()) as u64,
            5,
        ),
        253 => (
            u64::from_le_bytes(b.get(1..9).ok_or(short(8))?.try_into().unwrap()),
            9,
        ),
        _ => return Err(DecodeError::Other("invalid length of the signature array")),
    };
    if len > (b.len() - pos) as u64 {
        return Err(DecodeError::LimitExceeded);
    }
    let mut sigs = Vec::with_capacity(len as usize);
    let mut left = len;
    while left > 0 {
        // Fast path: the next RUN values are all whole u32 varints (tag 252), as almost every
        // MinHash value is (a uniform u32 is below 2^16 with probability 1.5e-5). Checking
        // the tags of a run with one branch and copying its values without per-value bounds
        // checks halves the cost of the per-value loop below.
        const RUN: usize = 16;
        if left >= RUN as u64 {
            if let Some(run) = b
                .get(pos..pos + 5 * RUN)
                .map(|s| <&[u8; 5 * RUN]>::try_from(s).unwrap())
            {
                let all_u32 = (0..RUN).fold(true, |ok, j| ok & (run[5 * j] == 252));
                if all_u32 {
                    sigs.extend((0..RUN).map(|j| {
                        u32::from_le_bytes([
                            run[5 * j + 1],
                            run[5 * j + 2],
                            run[5 * j + 3],
                            run[5 * j + 4],
                        ])
                    }));
                    pos += 5 * RUN;
                    left -= RUN as u64;
                    continue;
                }
            }
        }
        left -= 1;
        // Fast path: a whole u32 varint (the common case for MinHash values) is in bounds.
        if let Some(&[252, a, b1, c, d]) = b
            .get(pos..pos + 5)
            .map(|s| <[u8; 5]>::try_from(s).unwrap())
            .as_ref()
        {
            sigs.push(u32::from_le_bytes([a, b1, c, d]));
            pos += 5;
            continue;
        }
        let tag = *b.get(pos).ok_or(short(1))?;
        let v = match tag {
            0..=250 => {
                pos += 1;
                tag as u32
            }
            251 => {
                let v = b.get(pos + 1..pos + 3).ok_or(short(2))?;
                pos += 3;
                u16::from_le_bytes([v[0], v[1]]) as u32
            }
            252 => {
                let v = b.get(pos + 1..pos + 5).ok_or(short(4))?;
                pos += 5;
                u32::from_le_bytes([v[0], v[1], v[2], v[3]])
            }
            _ => return Err(DecodeError::Other("invalid signature value")),
        };
        sigs.push(v);
    }
    Ok((sigs, pos))
}

/// Everything of a format-1 body before the signatures, under the size limit of
/// [`super::format::decode_bounded`].
fn decode_head(body: &[u8]) -> std::result::Result<(BodyHead, usize), bincode::error::DecodeError> {
    super::format::decode_bounded::<BodyHead, false>(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-decoded signatures give exactly bincode's result, byte count included, at
    /// every varint width, and a cut body fails the way bincode fails.
    /// The run fast path of `decode_sigs` gives bincode's values when values of every varint
    /// width sit at every position of a run, and errors (never panics) wherever the array is cut.
    #[test]
    fn sig_decode_with_short_varints_anywhere_equals_bincode() {
        let big = |i: u32| i.wrapping_mul(2_654_435_761) | 0x1_0000;
        for small in [0u32, 7, 250, 251, 300, 65535] {
            for at in 0..40usize {
                let mut sigs: Vec<u32> = (0..90u32).map(big).collect();
                sigs[at] = small;
                sigs[at + 37] = small;
                let enc = bincode::serde::encode_to_vec(&sigs, config()).unwrap();
                assert_eq!(
                    decode_sigs(&enc).unwrap(),
                    (sigs.clone(), enc.len()),
                    "{small} at {at}"
                );
                for cut in 1..enc.len() {
                    assert!(decode_sigs(&enc[..enc.len() - cut]).is_err(), "cut {cut}");
                }
            }
        }
    }

    /// A format-1 body as bincode writes it decodes to the database it came from, and a cut
    /// body fails as bincode fails.
    #[test]
    fn split_body_decode_equals_bincode() {
        let mut db = crate::sigdb::format::tests::small_db();
        let extra = [
            0,
            1,
            250,
            251,
            252,
            255,
            65535,
            65536,
            u32::MAX - 1,
            u32::MAX,
        ];
        let k = db.params.num_perm;
        let mut sigs = db.sigs.to_vec();
        sigs.extend((0..k).map(|i| extra[i % extra.len()]));
        db.sigs = sigs.into();
        let bytes = bincode::serde::encode_to_vec(BodyRef::of(&db), config()).unwrap();
        let (want, want_used): (BodyRef, usize) =
            bincode::serde::decode_from_slice(&bytes, config()).unwrap();
        let (got, got_used) = decode_body(&bytes).unwrap();
        assert_eq!(got_used, want_used);
        assert_eq!(got_used, bytes.len());
        assert_eq!(got.sigs, want.sigs);
        assert_eq!(got.sigs, db.sigs.to_vec());
        assert_eq!(got.entries, db.entries);
        assert_eq!(got.groups, want.groups);
        assert_eq!(got.groups, db.groups);
        for cut in [1, 2, 3, 4, 5, 9, 40] {
            let part = &bytes[..bytes.len() - cut];
            let reference: std::result::Result<(BodyRef, usize), _> =
                bincode::serde::decode_from_slice(part, config());
            assert!(reference.is_err());
            assert!(decode_body(part).is_err(), "cut {cut}");
        }
    }
}
