//! Damaged and hostile signature databases, through every command that opens one (`inspect`,
//! `merge`, `clean --db`): each failure has its own message naming the file and the fix, exit
//! status 2, no output file, and no unbounded allocation. (The basic cases on `inspect` and
//! the parameter mismatches are in `sigdb.rs`.)

use crate::util::{dupsift, fixture, run_input_error};
use std::path::{Path, PathBuf};

/// Bytes of magic, version, parameters and body length (`dupsift::sigdb::format::HEADER_LEN`).
const HEADER_LEN: usize = dupsift::sigdb::format::HEADER_LEN;

fn v1() -> Vec<u8> {
    std::fs::read(fixture("db/v1.dsig")).expect("fixture")
}

fn v2() -> Vec<u8> {
    std::fs::read(fixture("db/v2.dsig")).expect("fixture")
}

/// `header` (from a real database) + `body`, with the body length and checksum a writer
/// would have put there, so the file gets past every check before the body decoder.
fn sealed(header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = header[..HEADER_LEN].to_vec();
    v[HEADER_LEN - 8..].copy_from_slice(&(body.len() as u64).to_le_bytes());
    v.extend_from_slice(body);
    let sum = xxhash_rust::xxh3::xxh3_64(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

/// Runs `cmd` and checks the one-line message names `file` and says `what` and `fix`.
fn refused(cmd: &mut assert_cmd::Command, file: &Path, what: &str, fix: &str) {
    let r = run_input_error(cmd);
    let name = file.display().to_string();
    assert!(
        r.stderr.contains(&format!("dupsift: error: {name}: "))
            && r.stderr.contains(what)
            && r.stderr.contains(fix),
        "want {name}, {what:?}, {fix:?} in:\n{}",
        r.stderr
    );
}

#[test]
fn a_declared_huge_length_is_refused_without_allocating_it() {
    let dir = tempfile::tempdir().unwrap();
    // Body: Grouping::Field (variant 1) whose string declares 8 GiB (varint 253 = u64 follows)
    // but holds 3 bytes. Without a limit tied to the file size, bincode allocates the 8 GiB
    // before noticing; under `ulimit -v` 1 GiB that allocation aborts the process.
    let mut body = vec![1u8, 253];
    body.extend_from_slice(&(8u64 << 30).to_le_bytes());
    body.extend_from_slice(b"abc");
    let db = write(dir.path(), "huge.dsig", &sealed(&v1(), &body));
    let bin = assert_cmd::cargo::cargo_bin("dupsift");
    let mut cmd = assert_cmd::Command::new("sh");
    cmd.arg("-c")
        .arg(r#"ulimit -v 1048576 && exec "$0" inspect "$1""#)
        .arg(&bin)
        .arg(&db);
    refused(
        &mut cmd,
        &db,
        "declares more data than the file holds",
        "learn it again",
    );
}

#[test]
fn a_header_asking_for_billions_of_lanes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = v1();
    let mut header = good[..HEADER_LEN].to_vec();
    // num_perm is the u32 after magic (8), version (2) and seed (8).
    header[18..22].copy_from_slice(&u32::MAX.to_le_bytes());
    let db = write(
        dir.path(),
        "lanes.dsig",
        &sealed(&header, &good[HEADER_LEN..good.len() - 8]),
    );
    refused(
        dupsift().arg("inspect").arg(&db),
        &db,
        "invalid parameter values",
        "learn it again",
    );
}

/// `bytes` with its checksum footer recomputed (damage the checksum would otherwise catch
/// first, as from a buggy or hostile writer).
fn resealed(bytes: &[u8]) -> Vec<u8> {
    sealed(bytes, &bytes[HEADER_LEN..bytes.len() - 8])
}

/// Every kind of damage, each with its own message, on `merge` and `clean --db` as well as
/// `inspect`, for both shipped formats; nothing is written.
#[test]
fn merge_and_clean_name_the_damaged_database() {
    for good in [v1(), v2()] {
        let mut flipped = good.clone();
        flipped[HEADER_LEN + 40] ^= 0x10;
        let mut older = good.clone();
        older[8..10].copy_from_slice(&0u16.to_le_bytes());
        let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
            ("flip.dsig", flipped, "checksum mismatch", "learn it again"),
            (
                "trunc.dsig",
                good[..good.len() - 100].to_vec(),
                "truncated",
                "learn it again",
            ),
            (
                "magic.dsig",
                [b"PK\x03\x04\0\0\0\0".as_slice(), &good[8..]].concat(),
                "not a dupsift signature database",
                "pass a file written by `dupsift learn`",
            ),
            (
                "newer.dsig",
                [&good[..8], &[3, 0], &good[10..]].concat(),
                "format version 3 is newer",
                "upgrade dupsift",
            ),
            (
                "older.dsig",
                older,
                "format version 0 is older",
                "learn it again with this version",
            ),
            (
                "garbage.dsig",
                [good.as_slice(), b"xx"].concat(),
                "trailing garbage",
                "learn it again",
            ),
        ];
        check_refused_everywhere(&good, cases);
    }
}

/// Runs `inspect`, `merge` (after a good database) and `clean --db` on each damaged file and
/// checks the message; no command leaves an output behind.
fn check_refused_everywhere(good: &[u8], cases: Vec<(&str, Vec<u8>, &str, &str)>) {
    let dir = tempfile::tempdir().unwrap();
    let good_path = write(dir.path(), "good.dsig", good);
    let seed = fixture("site/globe-article.txt");
    for (name, bytes, what, fix) in cases {
        let bad = write(dir.path(), name, &bytes);
        refused(dupsift().arg("inspect").arg(&bad), &bad, what, fix);
        let merged = dir.path().join("merged.dsig");
        refused(
            dupsift()
                .arg("merge")
                .arg(&good_path)
                .arg(&bad)
                .arg("-o")
                .arg(&merged),
            &bad,
            what,
            fix,
        );
        assert!(!merged.exists(), "{name}: merge wrote an output");
        let out = dir.path().join("clean.jsonl");
        refused(
            dupsift()
                .arg("clean")
                .arg(&seed)
                .arg("--db")
                .arg(&bad)
                .arg("-o")
                .arg(&out),
            &bad,
            what,
            fix,
        );
        assert!(!out.exists(), "{name}: clean wrote an output");
    }
}

/// Format 2 stores columns as flat arrays the reader uses in place, so damage inside them
/// that a valid checksum lets through (a buggy or hostile writer) must still be refused with
/// a message naming it: a file cut at the start of every column (the body resealed so the
/// cut gets past the size and checksum checks), a length beyond the file, offsets outside
/// or inside a character of the example text, and text that is not UTF-8.
#[test]
fn damaged_v2_columns_are_named() {
    use dupsift::sigdb::format::sections;
    let good = v2();
    let cols = sections(&good).expect("the fixture's layout");
    assert_eq!(cols.len(), dupsift::sigdb::format::COLUMNS.len());
    let at = |name: &str| cols.iter().find(|c| c.0 == name).unwrap().1;
    let mut cases: Vec<(String, Vec<u8>, &str, &str)> = Vec::new();
    for &(name, start, _) in &cols {
        // Cut inside the column's length, and just after it (inside its values).
        for cut in [start - 4, start + 1] {
            let body = &good[HEADER_LEN..cut];
            let what = if cut < start {
                "the body ends inside the length"
            } else {
                "declares more data than the file holds"
            };
            cases.push((
                format!("cut-{name}-{cut}.dsig"),
                sealed(&good, body),
                what,
                "learn it again",
            ));
        }
    }
    let poke = |at: usize, v: &[u8]| {
        let mut b = good.clone();
        b[at..at + v.len()].copy_from_slice(v);
        resealed(&b)
    };
    let text = at("text");
    let offsets = at("text_offsets");
    cases.push((
        "utf8.dsig".into(),
        poke(text, &[0xff]),
        "the example text is not UTF-8",
        "learn it again",
    ));
    cases.push((
        "offset.dsig".into(),
        poke(offsets + 8, &u64::MAX.to_le_bytes()),
        "text offsets out of order",
        "learn it again",
    ));
    cases.push((
        "span.dsig".into(),
        poke(offsets, &5u64.to_le_bytes()),
        "text offsets span 5..",
        "learn it again",
    ));
    cases.push((
        "len.dsig".into(),
        poke(text - 8, &(1u64 << 40).to_le_bytes()),
        "declares more data than the file holds: `text` claims",
        "learn it again",
    ));
    cases.push((
        "group.dsig".into(),
        poke(at("group"), &9u32.to_le_bytes()),
        "names a missing group",
        "learn it again",
    ));
    let named: Vec<(&str, Vec<u8>, &str, &str)> = cases
        .iter()
        .map(|(n, b, w, f)| (n.as_str(), b.clone(), *w, *f))
        .collect();
    check_refused_everywhere(&good, named);
}
