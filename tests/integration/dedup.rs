//! `dupsift dedup`: known-answer tests on planted corpora, and the command-line contract.

use assert_cmd::Command;
use dupsift::dedup::sign::{ngrams, tokenizer, tokens};
use dupsift::dedup::{
    dedup, DedupOutputs, DedupParams, LinkParams, SignParams, Sketch, TemplateParams, Verify,
};
use dupsift::pipeline::ReadOptions;
use dupsift::shingle::{into_set, jaccard};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Deterministic word source (splitmix64), so every planted corpus is the same on every run.
struct Words(u64);

impl Words {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn word(&mut self) -> String {
        format!("w{}", self.next() % 50_000)
    }
    fn text(&mut self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.word()).collect()
    }
    /// Each word replaced by a fresh one with probability `rate`.
    fn edit(&mut self, words: &[String], rate: f64) -> Vec<String> {
        words
            .iter()
            .map(|w| {
                if (self.next() % 1_000_000) as f64 / 1e6 < rate {
                    self.word()
                } else {
                    w.clone()
                }
            })
            .collect()
    }
}

/// Exact word-5 Jaccard as dedup defines it.
fn true_jaccard(a: &str, b: &str) -> f64 {
    let t = tokenizer(dupsift::DEFAULT_SEED);
    let set = |s: &str| {
        let (mut toks, mut sh) = (Vec::new(), Vec::new());
        tokens(&t, s, &mut toks);
        ngrams(&toks, 5, &mut sh);
        into_set(sh)
    };
    jaccard(&set(a), &set(b))
}

fn write_jsonl(path: &Path, docs: &[(String, String)]) {
    let mut s = String::new();
    for (id, text) in docs {
        s.push_str(&serde_json::json!({"id": id, "text": text}).to_string());
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

/// Runs the library on `docs`; returns id -> (survivor id, similarity) for clustered docs.
fn run(dir: &Path, docs: &[(String, String)], params: DedupParams) -> HashMap<String, String> {
    let input = dir.join("in.jsonl");
    write_jsonl(&input, docs);
    let out = DedupOutputs {
        kept: dir.join("kept.jsonl"),
        clusters: Some(dir.join("clusters.jsonl")),
        tmp_dir: None,
    };
    let s = dedup(&[input], &ReadOptions::default(), &params, &out).unwrap();
    let l = s.link;
    assert_eq!(l.kept + l.exact_removed + l.near_removed, docs.len() as u64);
    let kept = std::fs::read_to_string(&out.kept).unwrap().lines().count();
    assert_eq!(kept as u64, l.kept);
    std::fs::read_to_string(out.clusters.unwrap())
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["cluster"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn exact(threshold: f64) -> DedupParams {
    DedupParams {
        link: LinkParams {
            threshold,
            verify: Verify::Exact,
            ..LinkParams::default()
        },
        ..DedupParams::default()
    }
}

#[test]
fn planted_edits_are_found_at_the_right_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Words(42);
    let mut docs = Vec::new();
    let mut pairs = Vec::new();
    let rates = [0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.3];
    for i in 0..80 {
        let base = w.text(300);
        let copy = w.edit(&base, rates[i % rates.len()]);
        let (a, b) = (format!("b{i}"), format!("c{i}"));
        pairs.push((
            a.clone(),
            b.clone(),
            true_jaccard(&base.join(" "), &copy.join(" ")),
        ));
        docs.push((a, base.join(" ")));
        docs.push((b, copy.join(" ")));
    }
    for t in [0.7, 0.8, 0.9] {
        let clusters = run(dir.path(), &docs, exact(t));
        let (mut above, mut below) = (0, 0);
        for (a, b, j) in &pairs {
            let merged = clusters.get(b) == Some(a);
            if *j >= t + 0.02 {
                above += 1;
                assert!(merged, "t={t}: {a},{b} J={j:.3} not merged");
            } else if *j < t {
                below += 1;
                assert!(!merged, "t={t}: {a},{b} J={j:.3} merged");
                assert!(!clusters.contains_key(b), "t={t}: {b} clustered");
            }
        }
        assert!(
            above >= 20 && below >= 10,
            "t={t}: {above} above, {below} below"
        );
    }
}

#[test]
fn shared_template_paragraph_merges_only_without_template_awareness() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Words(7);
    let template = w.text(150).join(" ");
    let mut docs: Vec<(String, String)> = (0..30)
        .map(|i| {
            (
                format!("p{i}"),
                format!("{template} {}", w.text(40).join(" ")),
            )
        })
        .collect();
    // One true near-duplicate: p0 with two of its own words changed.
    let mut copy: Vec<String> = docs[0].1.split(' ').map(String::from).collect();
    copy[160] = "changed".into();
    copy[175] = "edited".into();
    docs.push(("p0copy".into(), copy.join(" ")));
    let j_unrelated = true_jaccard(&docs[1].1, &docs[2].1);
    assert!(
        j_unrelated > 0.55,
        "the template dominates: J={j_unrelated}"
    );

    let plain = run(dir.path(), &docs, exact(0.5));
    assert_eq!(
        plain.len(),
        31,
        "plain Jaccard merges every page: {plain:?}"
    );

    let mut aware = exact(0.5);
    aware.sign.template = Some(TemplateParams {
        min_docs: 10,
        ..TemplateParams::default()
    });
    let clusters = run(dir.path(), &docs, aware);
    let mut expected = HashMap::new();
    expected.insert("p0".to_string(), "p0".to_string());
    expected.insert("p0copy".to_string(), "p0".to_string());
    assert_eq!(clusters, expected);
}

#[test]
fn chains_join_through_the_middle_document() {
    // A, B, C are windows of one text shifted by 20 words: J(A,B) = J(B,C) = 0.815,
    // J(A,C) = 0.66. Single linkage puts all three in A's cluster and reports C's own
    // similarity to A.
    let dir = tempfile::tempdir().unwrap();
    let words = Words(3).text(240);
    let docs: Vec<(String, String)> = ["A", "B", "C"]
        .iter()
        .enumerate()
        .map(|(i, id)| (id.to_string(), words[i * 20..i * 20 + 200].join(" ")))
        .collect();
    assert!(true_jaccard(&docs[0].1, &docs[1].1) >= 0.8);
    assert!(true_jaccard(&docs[0].1, &docs[2].1) < 0.7);
    let clusters = run(dir.path(), &docs, exact(0.8));
    assert_eq!(clusters.get("C").map(String::as_str), Some("A"));
    let lines = std::fs::read_to_string(dir.path().join("clusters.jsonl")).unwrap();
    let c: serde_json::Value = serde_json::from_str(lines.lines().nth(2).unwrap()).unwrap();
    assert_eq!(c["id"], "C");
    assert_eq!(c["kept"], false);
    let sim = c["similarity"].as_f64().unwrap();
    assert!(
        (sim - true_jaccard(&docs[0].1, &docs[2].1)).abs() < 1e-3,
        "{sim}"
    );
    // Without B the two ends stay apart.
    let ends = run(dir.path(), &[docs[0].clone(), docs[2].clone()], exact(0.8));
    assert!(ends.is_empty());
}

#[test]
fn containment_joins_a_truncated_copy_to_the_longer_document() {
    let dir = tempfile::tempdir().unwrap();
    let words = Words(11).text(400);
    let docs = vec![
        ("full".to_string(), words.join(" ")),
        ("half".to_string(), words[..220].join(" ")),
    ];
    assert!(run(dir.path(), &docs, exact(0.8)).is_empty());
    let mut p = exact(0.8);
    p.link.containment = Some(0.9);
    let clusters = run(dir.path(), &docs, p);
    assert_eq!(clusters.get("half").map(String::as_str), Some("full"));
}

// ---- command line ----

fn dupsift() -> Command {
    Command::cargo_bin("dupsift").unwrap()
}

fn corpus(dir: &Path) -> PathBuf {
    let mut w = Words(99);
    let a = w.text(120).join(" ");
    let b = w.text(120).join(" ");
    let near = w.edit(&a.split(' ').map(String::from).collect::<Vec<_>>(), 0.004);
    let lines = [
        serde_json::json!({"id": "a", "meta": {"k": [1, 2.50]}, "text": a}).to_string(),
        // Same words as `a`, different case and spacing: an exact duplicate.
        serde_json::json!({"text": a.to_uppercase().replace(' ', "  \n"), "id": "a-upper", "x": null})
            .to_string(),
        serde_json::json!({"id": "b", "text": b}).to_string(),
        serde_json::json!({"id": "a-near", "text": format!("{} tail", near.join(" "))}).to_string(),
    ];
    let path = dir.join("c.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn cli_keeps_records_verbatim_and_reports_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path());
    let out = dir.path().join("out.jsonl");
    let clusters = dir.path().join("cl.jsonl");
    let assert = dupsift()
        .args([
            "dedup",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .args(["--clusters", clusters.to_str().unwrap()])
        .assert()
        .success();
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains("4 documents read, 2 written, 0 skipped (bad input), 2 removed as duplicates (1 exact, 1 near)")
            && stderr.contains("1 clusters of 2+, largest 3"),
        "{stderr}"
    );
    let original = std::fs::read_to_string(&input).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("{}\n{}\n", lines[0], lines[2])
    );
    let cl = std::fs::read_to_string(&clusters).unwrap();
    let rows: Vec<serde_json::Value> = cl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a", "a-upper", "a-near"]);
    assert!(rows.iter().all(|r| r["cluster"] == "a"));
    assert_eq!(rows[1]["similarity"], 1.0);
    assert_eq!(rows[0]["kept"], true);
    assert_eq!(rows[2]["kept"], false);
}

#[test]
fn cli_output_is_the_same_whatever_the_thread_count_and_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path());
    let run = |threads: &str, stdin: bool| {
        let out = dir.path().join(format!("o{threads}{stdin}.jsonl"));
        let cl = dir.path().join(format!("c{threads}{stdin}.jsonl"));
        let mut cmd = dupsift();
        cmd.env("RAYON_NUM_THREADS", threads).arg("dedup");
        if stdin {
            cmd.arg("-").write_stdin(std::fs::read(&input).unwrap());
        } else {
            cmd.arg(&input);
        }
        cmd.arg("-o").arg(&out).arg("--clusters").arg(&cl);
        cmd.assert().success();
        (std::fs::read(out).unwrap(), std::fs::read(cl).unwrap())
    };
    let one = run("1", false);
    assert_eq!(one, run("2", false));
    assert_eq!(one, run("2", true));
}

#[test]
fn cli_keep_longest_and_text_files() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    let text = Words(5).text(100).join(" ");
    std::fs::write(docs.join("1.txt"), &text).unwrap();
    std::fs::write(docs.join("2.txt"), format!("{text} and a longer ending")).unwrap();
    let out = dir.path().join("out.jsonl");
    dupsift()
        .arg("dedup")
        .arg(&docs)
        .arg("-o")
        .arg(&out)
        .args(["--keep", "longest"])
        .assert()
        .success();
    let kept: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&out).unwrap().trim()).unwrap();
    assert_eq!(kept["id"], "2.txt");
    assert!(kept["text"].as_str().unwrap().ends_with("longer ending"));
}

#[test]
fn cli_refuses_bad_usage_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path());
    let before = std::fs::read(&input).unwrap();
    dupsift()
        .arg("dedup")
        .arg(&input)
        .arg("-o")
        .arg(&input)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("also an input"));
    assert_eq!(std::fs::read(&input).unwrap(), before);
    dupsift()
        .arg("dedup")
        .arg(&input)
        .arg("-o")
        .arg(dir.path().join("o.jsonl"))
        .args(["--threshold", "1.5"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--threshold"));
    std::fs::write(dir.path().join("bad.jsonl"), "{\"id\":1}\n").unwrap();
    dupsift()
        .arg("dedup")
        .arg(dir.path().join("bad.jsonl"))
        .arg("-o")
        .arg(dir.path().join("o.jsonl"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("bad.jsonl:1"));
    assert!(!dir.path().join("o.jsonl").exists());
}

/// Plain JSONL files are read from memory maps in parallel chunks, anything else is streamed;
/// both must give the same records, ids, skips and bytes. The input crosses several 256 kB
/// chunks and has every awkward line shape: a byte-order mark, CRLF and bare-CR endings,
/// blank and white-space lines, records without an id (default `file:line`), a bad record
/// (skipped with --skip-bad), duplicates on both sides of chunk boundaries and a last line
/// without a newline.
#[test]
fn mapped_and_streamed_inputs_give_identical_output() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut w = Words(7);
    let bases: Vec<String> = (0..40).map(|_| w.text(150).join(" ")).collect();
    let mut body = Vec::new();
    body.extend_from_slice(b"\xef\xbb\xbf");
    for i in 0..1500 {
        let base = &bases[i % bases.len()];
        let words: Vec<String> = base.split(' ').map(String::from).collect();
        let text = if i % 3 == 0 {
            w.text(150).join(" ")
        } else {
            w.edit(&words, 0.01).join(" ")
        };
        let rec = if i % 7 == 0 {
            serde_json::json!({"text": text, "n": i}).to_string()
        } else {
            serde_json::json!({"id": format!("d{i}"), "text": text}).to_string()
        };
        body.extend_from_slice(rec.as_bytes());
        body.extend_from_slice(match i % 11 {
            0 => b"\r\n",
            1 => b"\n\n",
            2 => b"\n   \n",
            3 => b"\r\r\n",
            _ => b"\n",
        });
        if i == 500 {
            body.extend_from_slice(b"{\"id\": \"bad\", \"text\": 5}\n");
        }
    }
    body.extend_from_slice(
        serde_json::json!({"id": "last", "text": bases[0]})
            .to_string()
            .as_bytes(),
    );
    assert!(
        body.len() > 3 * (256 << 10),
        "crosses chunks: {}",
        body.len()
    );
    let plain = dir.path().join("in.jsonl");
    std::fs::write(&plain, &body).unwrap();
    let gz = dir.path().join("in.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&body).unwrap();
    enc.finish().unwrap();
    let run = |input: &Path, threads: &str, tag: &str| {
        // Both inputs must be named alike: default ids and skip labels contain the path.
        let named = dir.path().join(format!("{tag}.jsonl"));
        std::fs::copy(input, &named).unwrap();
        let out = dir.path().join(format!("{tag}-{threads}.out"));
        let cl = dir.path().join(format!("{tag}-{threads}.cl"));
        let a = dupsift()
            .current_dir(dir.path())
            .env("RAYON_NUM_THREADS", threads)
            .args(["dedup", &format!("{tag}.jsonl"), "--skip-bad", "-o"])
            .arg(&out)
            .arg("--clusters")
            .arg(&cl)
            .assert()
            .success();
        let stderr = String::from_utf8(a.get_output().stderr.clone()).unwrap();
        let summary = stderr
            .lines()
            .find(|l| l.contains("documents read"))
            .unwrap()
            .to_string();
        (
            std::fs::read(out).unwrap(),
            std::fs::read_to_string(cl)
                .unwrap()
                .replace(&format!("{tag}.jsonl"), "IN.jsonl"),
            summary,
        )
    };
    // The reader detects gzip by its magic bytes, so the copy named `z.jsonl` is streamed.
    let mapped = run(&plain, "2", "m");
    let streamed = run(&gz, "1", "z");
    assert!(
        mapped.2.contains("1502 documents read") && mapped.2.contains("1 skipped"),
        "{}",
        mapped.2
    );
    assert_eq!(mapped.2, streamed.2);
    assert_eq!(mapped.1, streamed.1);
    assert!(
        mapped.1.contains("\"id\":\"IN.jsonl:"),
        "default ids in clusters"
    );
    assert_eq!(mapped.0, streamed.0);
    assert_eq!(mapped, run(&plain, "1", "m"));
}

/// The default verification (estimate, exact Jaccard for borderline estimates) decides every
/// pair near the threshold like exact verification: pairs with true Jaccard spread over
/// 0.70-0.90, where the 128-lane estimate alone (standard error ~0.035) misjudges some.
/// Read from a plain file the texts are re-read from the map; from gzip the sets are stored.
#[test]
fn default_recheck_matches_exact_verification_near_the_threshold() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut w = Words(5);
    let mut docs = Vec::new();
    let mut near = 0;
    for i in 0..300 {
        let base = w.text(400);
        // Word edit rates giving word-5 Jaccard of about 0.70-0.90.
        let copy = w.edit(&base, 0.012 + 0.018 * (i % 10) as f64 / 10.0);
        let j = true_jaccard(&base.join(" "), &copy.join(" "));
        near += usize::from((0.77..0.83).contains(&j));
        docs.push((format!("b{i}"), base.join(" ")));
        docs.push((format!("c{i}"), copy.join(" ")));
    }
    assert!(near >= 40, "{near} pairs within 0.03 of the threshold");
    let recheck = DedupParams::default();
    assert_eq!(recheck.link.verify, Verify::Recheck);
    let want = run(dir.path(), &docs, exact(0.8));
    let got = run(dir.path(), &docs, recheck.clone());
    assert_eq!(got, want);
    let kept = std::fs::read(dir.path().join("kept.jsonl")).unwrap();
    let estimate = run(
        dir.path(),
        &docs,
        DedupParams {
            link: LinkParams {
                verify: Verify::Estimate,
                ..LinkParams::default()
            },
            ..DedupParams::default()
        },
    );
    assert_ne!(
        estimate, want,
        "the estimate alone should misjudge some of these pairs"
    );

    // Streamed (gzip) input: no map to re-read, so the sets are stored while signing.
    let gz = dir.path().join("in.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    for (id, text) in &docs {
        writeln!(enc, "{}", serde_json::json!({"id": id, "text": text})).unwrap();
    }
    enc.finish().unwrap();
    let out = DedupOutputs {
        kept: dir.path().join("kept-gz.jsonl"),
        clusters: Some(dir.path().join("clusters-gz.jsonl")),
        tmp_dir: None,
    };
    dedup(&[gz], &ReadOptions::default(), &recheck, &out).unwrap();
    assert!(
        std::fs::read(&out.kept).unwrap() == kept,
        "gzip input kept other records"
    );
}

#[test]
fn both_sketches_recheck_short_and_long_documents_like_exact_verification() {
    // Short texts (12-70 words: fewer shingles than K/2, so the one-permutation sketch is
    // densified and every candidate pair is rechecked) and long ones, edited to Jaccard
    // around the threshold: with either sketch the default recheck gives exact's clusters.
    let dir = tempfile::tempdir().unwrap();
    let mut w = Words(11);
    let mut docs = Vec::new();
    let (mut short_near, mut long_near) = (0, 0);
    for i in 0..400 {
        let len = if i % 2 == 0 { 12 + i % 59 } else { 300 };
        let base = w.text(len);
        let copy = w.edit(&base, 0.005 + 0.03 * (i % 7) as f64 / 7.0);
        let j = true_jaccard(&base.join(" "), &copy.join(" "));
        if (0.65..0.95).contains(&j) {
            if len < 100 {
                short_near += 1;
            } else {
                long_near += 1;
            }
        }
        docs.push((format!("b{i}"), base.join(" ")));
        docs.push((format!("c{i}"), copy.join(" ")));
    }
    assert!(
        short_near >= 30 && long_near >= 30,
        "{short_near} short, {long_near} long pairs near the threshold"
    );
    let want = run(dir.path(), &docs, exact(0.8));
    for sketch in [Sketch::Oph, Sketch::Minhash] {
        let params = DedupParams {
            sign: SignParams {
                sketch,
                ..SignParams::default()
            },
            ..DedupParams::default()
        };
        assert_eq!(run(dir.path(), &docs, params), want, "{sketch:?}");
    }
    assert_eq!(SignParams::default().sketch, Sketch::Oph);
}

#[test]
fn cli_sketch_flag_accepts_both_and_refuses_others() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path());
    let mut kept = Vec::new();
    for sketch in ["oph", "minhash"] {
        let out = dir.path().join(format!("kept-{sketch}.jsonl"));
        dupsift()
            .args([
                "dedup",
                input.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ])
            .args(["--sketch", sketch])
            .assert()
            .success();
        kept.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(kept[0], kept[1], "the sketches disagree on an easy corpus");
    dupsift()
        .args(["dedup", input.to_str().unwrap(), "-o", "/dev/null"])
        .args(["--sketch", "simhash"])
        .assert()
        .code(2);
}
