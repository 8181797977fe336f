//! End-to-end tests of `learn`, `clean`, `inspect` and `merge` through the binary.

use assert_cmd::Command;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const SEED: &str = "fixtures/site/globe-article.txt";

fn dupsift() -> Command {
    Command::cargo_bin("dupsift").unwrap()
}

/// Runs dupsift, expecting success; returns stderr.
fn ok(args: &[&str]) -> String {
    let out = dupsift().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "dupsift {args:?} failed:\n{err}");
    err
}

/// Runs dupsift, expecting exit status 2; returns stderr.
fn fails(args: &[&str]) -> String {
    let out = dupsift().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "dupsift {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn seed_page_keeps_every_body_line_once_and_drops_the_copies() {
    let dir = tempfile::tempdir().unwrap();
    let (out, rep) = (dir.path().join("o.jsonl"), dir.path().join("r.jsonl"));
    ok(&["clean", SEED, "-o", s(&out), "--report", s(&rep)]);
    let original = std::fs::read_to_string(SEED).unwrap();
    let cleaned = records(&out)[0]["text"].as_str().unwrap().to_string();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for l in cleaned.lines().map(str::trim).filter(|l| !l.is_empty()) {
        *count.entry(l).or_default() += 1;
    }
    let truncated = original
        .lines()
        .map(str::trim)
        .find(|l| l.ends_with("Globe staff."))
        .expect("the seed has a truncated notice");
    for line in original.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let want = usize::from(line != truncated);
        assert_eq!(count.get(line).copied().unwrap_or(0), want, "line {line:?}");
    }
    let reasons: Vec<(String, String)> = records(&rep)
        .iter()
        .map(|r| {
            let (a, b) = (r["start"].as_u64().unwrap(), r["end"].as_u64().unwrap());
            (
                r["reason"].as_str().unwrap().to_string(),
                original[a as usize..b as usize][..20].to_string(),
            )
        })
        .collect();
    let want = [
        ("repeat", "Story continues belo"),
        ("repeat", "Story continues belo"),
        ("repeat", "Welcome to The Globe"),
        ("repeat", "If you would like to"),
        ("contained", "Welcome to The Globe"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(reasons, want);

    // Cleaning twice equals cleaning once.
    let out2 = dir.path().join("o2.jsonl");
    let err = ok(&["clean", s(&out), "-o", s(&out2)]);
    assert_eq!(records(&out2), records(&out));
    assert!(err.contains("0 removed"), "{err}");
}

/// Two sites sharing a nav line that is boilerplate only on site a; site a's footer varies in
/// its last word (a near-duplicate, not an exact key).
fn site_corpus(dir: &Path) -> PathBuf {
    let footer =
        "Copyright Example News Inc. All rights reserved. Reproduction of this page or any \
                  part of it without the written permission of the publisher is not allowed on";
    let topics = ["rain", "snow", "wind", "sun", "hail", "fog"];
    let record = |id: &str, site: &str, text: &str| {
        let (id, text) = (serde_json::json!(id), serde_json::json!(text));
        format!(r#"{{"id":{id},"site":"{site}","n":1.50,"text":{text}}}"#)
    };
    let mut lines = Vec::new();
    for (i, topic) in topics.iter().enumerate() {
        let text = format!(
            "Home | World | Sports\nArticle about {topic} starts here\nShare this\n{footer} {topic}"
        );
        lines.push(record(&format!("a{i}"), "a", &text));
    }
    for (i, topic) in topics.iter().take(3).enumerate() {
        let text = format!("Home | World | Sports\nB story {topic}");
        lines.push(record(&format!("b{i}"), "b", &text));
    }
    lines.push(record("a-empty", "a", "Home | World | Sports\nShare this"));
    let path = dir.join("pages.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn learn_then_clean_removes_site_boilerplate_per_group() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = site_corpus(dir.path());
    let db = dir.path().join("db.dsig");
    ok(&[
        "learn",
        s(&corpus),
        "--group-by",
        "site",
        "--min-docs",
        "4",
        "-o",
        s(&db),
    ]);
    let out = dir.path().join("o.jsonl");
    let rep = dir.path().join("r.jsonl");
    let err = ok(&[
        "clean",
        s(&corpus),
        "--db",
        s(&db),
        "--policy",
        "repetition",
        "-o",
        s(&out),
        "--report",
        s(&rep),
    ]);
    let got = records(&out);
    assert_eq!(got.len(), 10);
    // Site a: nav, share line and the (year-varying) footer go; site b (3 pages) keeps its nav.
    assert_eq!(got[0]["text"], "Article about rain starts here\n");
    assert_eq!(got[6]["text"], "Home | World | Sports\nB story rain");
    assert_eq!(got[9]["text"], "", "emptied documents are still written");
    let raw = std::fs::read_to_string(&out).unwrap();
    assert!(
        raw.starts_with(r#"{"id":"a0","site":"a","n":1.50,"text":"#),
        "{raw}"
    );
    let reps = records(&rep);
    assert!(reps.iter().all(|r| r["reason"] == "db"));
    // Each footer variant is its own entry, active through its near-duplicate cluster.
    assert!(reps.iter().all(|r| r["match"]["kind"] == "exact"));
    // A variant never seen matches the cluster by MinHash.
    let original = std::fs::read_to_string(&corpus).unwrap();
    let rec0: serde_json::Value = serde_json::from_str(original.lines().next().unwrap()).unwrap();
    let footer = rec0["text"].as_str().unwrap().lines().last().unwrap();
    let footer = footer.replace(" rain", " sleet");
    let new = dir.path().join("new.jsonl");
    let rec = serde_json::json!({"site": "a", "text": format!("Fresh text\n{footer}")});
    std::fs::write(&new, format!("{rec}\n")).unwrap();
    let (out2, rep2) = (dir.path().join("o2.jsonl"), dir.path().join("r2.jsonl"));
    ok(&[
        "clean",
        s(&new),
        "--db",
        s(&db),
        "--policy",
        "repetition",
        "-o",
        s(&out2),
        "--report",
        s(&rep2),
    ]);
    assert_eq!(records(&out2)[0]["text"], "Fresh text\n");
    let reps2 = records(&rep2);
    assert_eq!(reps2.len(), 1);
    assert_eq!(reps2[0]["match"]["kind"], "near");
    assert!(reps2[0]["score"].as_f64().unwrap() >= 0.8);
    assert_eq!(reps.len(), 6 * 3 + 2);
    assert!(
        err.contains("10 documents read, 10 written (1 now empty), 0 skipped (bad input)")
            && err.contains("20 removed"),
        "{err}"
    );
}

#[test]
fn merging_shard_databases_equals_learning_the_union() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = site_corpus(dir.path());
    let text = std::fs::read_to_string(&corpus).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    std::fs::write(&a, lines[..4].join("\n")).unwrap();
    std::fs::write(&b, lines[4..].join("\n")).unwrap();
    let path = |n: &str| dir.path().join(n);
    let flags = ["--group-by", "site", "--min-docs", "3"];
    for (input, name) in [(&corpus, "all.dsig"), (&a, "a.dsig"), (&b, "b.dsig")] {
        let p = path(name);
        let mut args = vec!["learn", s(input), "-o", s(&p)];
        args.extend(flags);
        ok(&args);
    }
    ok(&[
        "merge",
        s(&path("a.dsig")),
        s(&path("b.dsig")),
        "-o",
        s(&path("m.dsig")),
    ]);
    assert_eq!(
        std::fs::read(path("m.dsig")).unwrap(),
        std::fs::read(path("all.dsig")).unwrap()
    );
    // Different options are refused, naming the file.
    ok(&[
        "learn",
        s(&a),
        "--unit",
        "paragraph",
        "-o",
        s(&path("p.dsig")),
    ]);
    let err = fails(&[
        "merge",
        s(&path("a.dsig")),
        s(&path("p.dsig")),
        "-o",
        s(&path("x.dsig")),
    ]);
    assert!(err.contains("p.dsig") && err.contains("unit"), "{err}");
    assert!(!path("x.dsig").exists());
}

#[test]
fn damaged_or_mismatched_databases_are_refused_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read("fixtures/db/v1.dsig").unwrap();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "magic.dsig",
            [b"NOTADB\0\0".as_slice(), &good[8..]].concat(),
            "magic",
        ),
        (
            "newer.dsig",
            [&good[..8], &[9, 0], &good[10..]].concat(),
            "upgrade dupsift",
        ),
        ("trunc.dsig", good[..good.len() / 2].to_vec(), "truncated"),
        (
            "flip.dsig",
            {
                let mut g = good.clone();
                let i = g.len() - 30;
                g[i] ^= 0x40;
                g
            },
            "checksum",
        ),
    ];
    for (name, bytes, what) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let err = fails(&["inspect", s(&p)]);
        assert!(err.contains(name) && err.contains(what), "{name}: {err}");
    }
    let out = dir.path().join("o.jsonl");
    let err = fails(&[
        "clean",
        SEED,
        "--db",
        "fixtures/db/v1.dsig",
        "--unit",
        "paragraph",
        "-o",
        s(&out),
    ]);
    assert!(err.contains("v1.dsig") && err.contains("unit"), "{err}");
    assert!(!out.exists());
    let err = fails(&["clean", SEED, "-o", SEED]);
    assert!(err.contains("also an input"), "{err}");
}

/// Every shipped format stays readable: fixtures/db/v1.dsig (`dupsift learn fixtures/site -o
/// fixtures/db/v1.dsig` at format 1, when fixtures/site held only globe-article.txt) and
/// fixtures/db/v2.dsig (the same, at format 2: `dupsift learn DIR -o fixtures/db/v2.dsig` on a
/// directory holding only a copy of fixtures/site/globe-article.txt).
#[test]
fn the_shipped_fixtures_still_open() {
    for (version, fixture) in [(1, "fixtures/db/v1.dsig"), (2, "fixtures/db/v2.dsig")] {
        let out = dupsift()
            .args(["inspect", fixture, "--json"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let header: serde_json::Value = serde_json::from_str(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["format_version"], version);
        assert_eq!(header["documents"], 1);
        assert_eq!(header["entries"], 36);
        assert_eq!(header["long_entries"], 26);
        assert_eq!(header["num_perm"], 64);
        assert_eq!(header["unit"], "line");
        let dir = tempfile::tempdir().unwrap();
        let o = dir.path().join("o.jsonl");
        let err = ok(&[
            "clean",
            SEED,
            "--db",
            fixture,
            "--min-docs",
            "1",
            "-o",
            s(&o),
        ]);
        // With --min-docs 1 every block of the page it was learned from is boilerplate.
        assert_eq!(records(&o)[0]["text"], "", "{fixture}");
        assert!(err.contains("1 now empty"), "{err}");
    }
}

/// The two fixtures were learned from the same page: format 1 read through its old decoder
/// and format 2 read in place give the same database, entry for entry (examples and first
/// document ids included).
#[test]
fn the_v1_and_v2_fixtures_hold_the_same_database() {
    use dupsift::sigdb::read_db_version;
    let (a, va) = read_db_version(Path::new("fixtures/db/v1.dsig")).unwrap();
    let (b, vb) = read_db_version(Path::new("fixtures/db/v2.dsig")).unwrap();
    assert_eq!((va, vb), (1, 2));
    assert!(b.entries.key.is_in_place() && !a.entries.key.is_in_place());
    // Field by field: a failing `assert_eq!` on the whole database prints every column.
    assert_eq!(a.params, b.params);
    assert_eq!(
        (&a.grouping, &a.policy, &a.groups),
        (&b.grouping, &b.policy, &b.groups)
    );
    assert_eq!(a.entries.len(), b.entries.len());
    for i in 0..a.entries.len() {
        assert_eq!(a.entries.get(i), b.entries.get(i), "entry {i}");
        assert_eq!(a.entries.example(i), b.entries.example(i), "entry {i}");
        assert_eq!(a.entries.first_id(i), b.entries.first_id(i), "entry {i}");
    }
    assert!(a.sigs == b.sigs);
    assert!(a == b);
    assert!((0..b.entries.len()).any(|i| b.entries.example(i).contains("Globe")));
}

#[test]
fn inspect_lists_the_top_entries() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = site_corpus(dir.path());
    let db = dir.path().join("db.dsig");
    ok(&["learn", s(&corpus), "--group-by", "site", "-o", s(&db)]);
    let out = dupsift()
        .args(["inspect", s(&db), "--top", "2"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("format version 2") && text.contains("grouping: field \"site\""),
        "{text}"
    );
    let rows: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("docs"))
        .skip(1)
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    // Site a's nav and share lines are on all 7 of its pages (order between them: by key).
    for want in ["Home | World | Sports", "Share this"] {
        assert!(
            rows.iter()
                .any(|r| r.contains(want) && r.trim_start().starts_with("7 ")),
            "{text}"
        );
    }
}
