//! `clean --out-dir`: text-file inputs written back as a tree of cleaned text files, equal to
//! the texts `clean -o` writes, published atomically, and refusals that leave nothing behind.

use crate::util::{dupsift, fixture, run, run_input_error, run_ok};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file under `dir` by its `/`-joined relative path, with its bytes (hidden ones too).
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap();
                let rel: Vec<_> = rel.iter().map(|c| c.to_str().unwrap()).collect();
                out.insert(rel.join("/"), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Names in `dir` (not recursive), sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// `clean -o` on the same inputs and options: id -> cleaned text.
fn jsonl_texts(inputs: &[&str], extra: &[&str], out: &Path) -> BTreeMap<String, String> {
    run_ok(
        dupsift()
            .arg("clean")
            .args(inputs)
            .args(extra)
            .args(["-o", s(out)]),
    );
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A copy of fixtures/site with a nested copy of a page, a CRLF page whose second paragraph
/// repeats (so a removal happens in the middle of CRLF text) and an empty page.
fn site_copy(root: &Path) -> PathBuf {
    let site = root.join("site");
    std::fs::create_dir_all(site.join("news/2013")).unwrap();
    for (rel, bytes) in tree(&fixture("site")) {
        std::fs::write(site.join(&rel), bytes).unwrap();
    }
    std::fs::copy(
        fixture("site/globe-article.txt"),
        site.join("news/2013/globe.txt"),
    )
    .unwrap();
    let para = "Story continues below this long advertisement for a newspaper subscription";
    std::fs::write(
        site.join("news/crlf.txt"),
        format!("\u{feff}Title line\r\n\r\n{para}\r\n\r\nBody text here\r\n\r\n{para}\r\n\r\n  tail\r\n"),
    )
    .unwrap();
    std::fs::write(site.join("news/empty.txt"), "").unwrap();
    site
}

#[test]
fn clean_out_dir_mirrors_the_input_tree_with_the_jsonl_texts() {
    let dir = tempfile::tempdir().unwrap();
    let site = site_copy(dir.path());
    let out = dir.path().join("clean");
    let r = run_ok(dupsift().args(["clean", s(&site), "--out-dir", s(&out)]));
    assert!(
        r.stderr
            .contains("8 documents read, 8 written (1 now empty)"),
        "{r:#?}"
    );

    let got = tree(&out);
    let input_paths: Vec<String> = tree(&site).into_keys().collect();
    let got_paths: Vec<String> = got.keys().cloned().collect();
    assert_eq!(got_paths, input_paths, "same relative paths");
    let want = jsonl_texts(&[s(&site)], &[], &dir.path().join("c.jsonl"));
    assert_eq!(want.len(), 8);
    for (id, text) in &want {
        assert_eq!(
            std::str::from_utf8(&got[id]).unwrap(),
            text,
            "{id}: file differs from the JSONL text"
        );
    }
    // Bytes kept exactly (BOM, CRLF, indentation), only the repeated paragraph removed.
    let crlf = "\u{feff}Title line\r\n\r\nStory continues below this long advertisement for a \
                newspaper subscription\r\n\r\nBody text here\r\n\r\n  tail\r\n";
    assert_eq!(std::str::from_utf8(&got["news/crlf.txt"]).unwrap(), crlf);
    assert_eq!(got["news/empty.txt"], b"");
    // Something was cleaned, and the tree is all that is left: no temporary directory.
    assert_ne!(
        got["globe-article.txt"],
        std::fs::read(fixture("site/globe-article.txt")).unwrap()
    );
    assert_eq!(names(dir.path()), ["c.jsonl", "clean", "site"]);
}

#[test]
fn clean_out_dir_on_the_fixture_and_a_direct_file_uses_file_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let site = fixture("site");
    let extra = dir.path().join("extra.txt");
    std::fs::write(&extra, "One\n\nTwo two two two\n\nTwo two two two\n").unwrap();
    let flags = ["--min-repeat-words", "2"];
    run_ok(
        dupsift()
            .args(["clean", s(&site), s(&extra), "--out-dir", s(&out)])
            .args(flags),
    );
    let got = tree(&out);
    let mut want_names: Vec<String> = names(&site);
    want_names.push("extra.txt".into());
    want_names.sort();
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), want_names);
    let want = jsonl_texts(&[s(&site), s(&extra)], &flags, &dir.path().join("c.jsonl"));
    for (id, text) in &want {
        // A text file named directly has its path as id and its file name in the tree.
        let name = Path::new(id).file_name().unwrap().to_str().unwrap();
        assert_eq!(std::str::from_utf8(&got[name]).unwrap(), text, "{id}");
    }
    assert_eq!(got["extra.txt"], b"One\n\nTwo two two two\n\n");
    assert_eq!(names(dir.path()), ["c.jsonl", "extra.txt", "out"]);
}

#[test]
fn clean_out_dir_into_an_existing_empty_directory_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    run_ok(dupsift().args(["clean", s(&fixture("site")), "--out-dir", s(&out)]));
    assert_eq!(names(&out), names(&fixture("site")));
    assert_eq!(names(dir.path()), ["out"]);
}

/// Runs a refused `clean --out-dir` and checks that nothing new appeared next to `out`.
fn refused(args: &[&str], root: &Path) -> String {
    let before = names(root);
    let r = run_input_error(dupsift().arg("clean").args(args));
    assert_eq!(names(root), before, "a refused run leaves nothing behind");
    r.stderr
}

#[test]
fn clean_out_dir_refuses_collisions_records_and_compressed_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let site = fixture("site");
    let page = fixture("site/globe-article.txt");
    let out = dir.path().join("out");
    let err = refused(&[s(&site), s(&page), "--out-dir", s(&out)], dir.path());
    assert!(
        err.contains("would both be written to globe-article.txt"),
        "{err}"
    );

    // A file where another input needs a directory.
    std::fs::write(dir.path().join("news"), "x").unwrap();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    std::fs::create_dir(dir.path().join("d/news")).unwrap();
    std::fs::write(dir.path().join("d/news/a.txt"), "y").unwrap();
    let news = dir.path().join("news");
    let d = dir.path().join("d");
    let err = refused(&[s(&news), s(&d), "--out-dir", s(&out)], dir.path());
    assert!(err.contains("need as a directory"), "{err}");

    let jsonl = dir.path().join("pages.jsonl");
    std::fs::write(&jsonl, "{\"id\":\"a\",\"text\":\"hello\"}\n").unwrap();
    let err = refused(&[s(&site), s(&jsonl), "--out-dir", s(&out)], dir.path());
    assert!(
        err.contains("is JSONL") && err.contains("no file to mirror"),
        "{err}"
    );
    assert!(err.contains("use -o"), "{err}");

    let err = refused(&["-", "--out-dir", s(&out)], dir.path());
    assert!(err.contains("standard input"), "{err}");

    // Compressed text, by name and by content under a .txt name.
    let gz = dir.path().join("page.txt.gz");
    std::fs::write(&gz, [0x1f, 0x8b, 8, 0]).unwrap();
    let err = refused(&[s(&gz), "--out-dir", s(&out)], dir.path());
    assert!(err.contains("is compressed"), "{err}");
    let hidden_gz = dir.path().join("page.txt");
    std::fs::write(&hidden_gz, [0x28, 0xb5, 0x2f, 0xfd, 0]).unwrap();
    let err = refused(&[s(&hidden_gz), "--out-dir", s(&out)], dir.path());
    assert!(err.contains("is compressed"), "{err}");
}

#[test]
fn clean_out_dir_refuses_an_existing_tree_and_inputs_as_output() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::copy(fixture("site/orchard-frost.txt"), site.join("a.txt")).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("old")).unwrap();
    std::fs::write(out.join("old/keep.txt"), "previous run").unwrap();
    let before = tree(&out);
    let err = refused(&[s(&site), "--out-dir", s(&out)], dir.path());
    assert!(err.contains("exists and is not empty"), "{err}");
    assert_eq!(tree(&out), before, "the existing tree is untouched");

    let file = dir.path().join("out.txt");
    std::fs::write(&file, "a file").unwrap();
    let err = refused(&[s(&site), "--out-dir", s(&file)], dir.path());
    assert!(err.contains("is not a directory"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "a file");

    let err = refused(&[s(&site), "--out-dir", s(&site)], dir.path());
    assert!(err.contains("is also an input"), "{err}");
    let inside = site.join("clean");
    let err = refused(&[s(&site), "--out-dir", s(&inside)], dir.path());
    assert!(err.contains("inside the input directory"), "{err}");
    assert_eq!(names(&site), ["a.txt"]);
    let err = refused(&[s(&site), "--out-dir", s(dir.path())], dir.path());
    assert!(err.contains("holds the input"), "{err}");

    let fresh = dir.path().join("fresh");
    let report = fresh.join("r.jsonl");
    let err = refused(
        &[s(&site), "--out-dir", s(&fresh), "--report", s(&report)],
        dir.path(),
    );
    assert!(err.contains("inside --out-dir"), "{err}");
}

#[test]
fn clean_needs_exactly_one_of_output_and_out_dir() {
    let dir = tempfile::tempdir().unwrap();
    let site = fixture("site");
    let both = run(dupsift().args([
        "clean",
        s(&site),
        "-o",
        s(&dir.path().join("a.jsonl")),
        "--out-dir",
        s(&dir.path().join("b")),
    ]));
    assert_eq!(both.code, Some(2), "{both:#?}");
    assert!(both.stderr.contains("cannot be used with"), "{both:#?}");
    let neither = run(dupsift().args(["clean", s(&site)]));
    assert_eq!(neither.code, Some(2), "{neither:#?}");
    assert!(neither.stderr.contains("--out-dir"), "{neither:#?}");
    assert!(names(dir.path()).is_empty());
}
