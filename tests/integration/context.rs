//! The context model (`clean --policy context`): the shipped model and the Rust features
//! against the Python reference, on fixtures committed by `benches/context/parity.py` (no
//! corpus text), and the command line.

use crate::util::{dupsift, fixture, run, run_ok};
use dupsift::blocks::BlockParams;
use dupsift::context::features::{FEATURE_NAMES, FEATURE_VERSION, N_FEATURES};
use dupsift::context::model::Model;
use dupsift::context::ContextCleaner;
use dupsift::segment::Unit;
use dupsift::sigdb::learn::Summarizer;
use dupsift::sigdb::{Grouping, HashParams, Learner, Policy, SignatureDb, DEFAULT_BLOCK_PERM};
use serde_json::Value;

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(&format!("context/{name}"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn from_bits(v: &Value) -> f64 {
    f64::from_bits(u64::from_str_radix(v.as_str().unwrap(), 16).unwrap())
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn shipped_model_matches_the_python_reference_on_synthetic_rows() {
    let fx = load("predictions.json");
    let model = Model::shipped().unwrap();
    assert_eq!(fx["feature_version"].as_u64(), Some(FEATURE_VERSION as u64));
    assert_eq!(names(&fx["features"]), FEATURE_NAMES);
    assert_eq!(fx["threshold"].as_f64(), Some(model.meta.threshold));
    let rows: Vec<f64> = fx["rows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(from_bits))
        .collect();
    let want: Vec<f64> = fx["prob"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect();
    assert_eq!(want.len(), 200);
    let mut got = Vec::new();
    model.predict(&rows, &mut got);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() < 1e-9, "row {i}: rust {g} python {w}");
    }
    // The rows exercise both sides of the decision, not one constant answer.
    let removed = got.iter().filter(|&&p| p >= model.meta.threshold).count();
    assert!(removed > 20 && removed < 180, "{removed}");
}

/// The fixture's training pages as a database learned by dupsift (paragraph blocks,
/// one group per `site`).
fn fixture_db(fx: &Value) -> SignatureDb {
    let blocks = BlockParams {
        unit: Unit::Paragraph,
        ..BlockParams::default()
    };
    let params = HashParams::new(blocks, DEFAULT_BLOCK_PERM);
    let grouping = Grouping::Field("site".into());
    let summarizer = Summarizer::new(params, grouping.clone());
    let mut learner = Learner::new(params, grouping, Policy::default());
    for (i, page) in fx["train"].as_array().unwrap().iter().enumerate() {
        let record = page.to_string();
        let text = page["text"].as_str().unwrap();
        learner.add(summarizer.summarize(&format!("t{i}"), text, Some(&record)));
    }
    learner.finish()
}

#[test]
fn rust_features_match_features_py_on_a_made_up_site() {
    let fx = load("pages.json");
    assert_eq!(names(&fx["features"]), FEATURE_NAMES);
    let db = fixture_db(&fx);
    let ctx = ContextCleaner::new(Model::shipped().unwrap(), BlockParams::default(), Some(&db));
    let mut checked = 0;
    for page in fx["test"].as_array().unwrap() {
        let text = page["text"].as_str().unwrap();
        let record = serde_json::json!({"site": page["site"], "text": text}).to_string();
        let f = ctx.features(text, Some(&record));
        let blocks: Vec<&str> = f.spans.iter().map(|s| s.text(text)).collect();
        let want_blocks: Vec<&str> = page["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_str().unwrap())
            .collect();
        assert_eq!(blocks, want_blocks);
        let want = page["features"].as_array().unwrap();
        for (b, row) in want.iter().enumerate() {
            for (c, v) in row.as_array().unwrap().iter().enumerate() {
                let (got, exp) = (f.x[b * N_FEATURES + c], from_bits(v));
                assert!(
                    got == exp || (got - exp).abs() < 1e-12,
                    "block {b} {:?} feature {}: rust {got} python {exp}",
                    blocks[b],
                    FEATURE_NAMES[c]
                );
                checked += 1;
            }
        }
        let verdict = ctx.classify(text, Some(&record));
        for (b, p) in page["prob"].as_array().unwrap().iter().enumerate() {
            let (got, exp) = (verdict.blocks[b].p, p.as_f64().unwrap());
            assert!(
                (got - exp).abs() < 1e-9,
                "block {b}: rust {got} python {exp}"
            );
        }
    }
    assert!(checked > 20 * N_FEATURES, "{checked}");
}

/// Pages scored together (the model's batches filled across page boundaries, groups of
/// pages cut wherever they reach the group size) get exactly the removals and scores each
/// page gets alone.
#[test]
fn pages_scored_together_get_their_own_removals() {
    let fx = load("pages.json");
    let db = fixture_db(&fx);
    let ctx = ContextCleaner::new(Model::shipped().unwrap(), BlockParams::default(), Some(&db));
    let test = fx["test"].as_array().unwrap();
    // 150 pages of 1 to 100+ blocks: well over one group of rows, and batches of 64 rows
    // that start and end inside pages.
    let pages: Vec<(String, String)> = (0..150)
        .map(|k| {
            let page = &test[k % test.len()];
            let mut text = page["text"].as_str().unwrap().to_string();
            for e in 0..(k * 7) % 90 {
                text.push_str(&format!(
                    "\n\nExtra paragraph {e} of page {k}: some words here."
                ));
            }
            if k % 11 == 0 {
                text = format!("Only block of page {k}.");
            }
            let record = serde_json::json!({"site": page["site"], "text": text}).to_string();
            (text, record)
        })
        .collect();
    let refs: Vec<(&str, Option<&str>)> = pages
        .iter()
        .map(|(t, r)| (t.as_str(), Some(r.as_str())))
        .collect();
    let together = ctx.removals_many(&refs);
    let blocks: usize = together.iter().map(|(b, _)| b).sum();
    assert!(blocks > 3 * 1024, "{blocks} blocks");
    assert!(together.iter().any(|(_, r)| !r.is_empty()));
    for (k, (&(text, record), got)) in refs.iter().zip(&together).enumerate() {
        assert_eq!(*got, ctx.removals(text, record), "page {k}");
    }
}

#[test]
fn clean_with_the_context_policy_reports_its_evidence() {
    let fx = load("pages.json");
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.jsonl");
    let test = dir.path().join("test.jsonl");
    let lines = |key: &str| -> String {
        fx[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{}\n",
                    serde_json::json!({"site": p["site"], "text": p["text"]})
                )
            })
            .collect()
    };
    std::fs::write(&train, lines("train")).unwrap();
    std::fs::write(&test, lines("test")).unwrap();
    let db = dir.path().join("db.dsig");
    let (out, rep) = (dir.path().join("out.jsonl"), dir.path().join("rep.jsonl"));
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    run_ok(
        dupsift()
            .args([
                "learn",
                &p(&train),
                "--group-by",
                "site",
                "--unit",
                "paragraph",
            ])
            .args(["-o", &p(&db)]),
    );
    let r = run_ok(
        dupsift()
            .args(["clean", &p(&test), "--db", &p(&db), "--unit", "paragraph"])
            .args(["-o", &p(&out), "--report", &p(&rep), "--policy", "context"]),
    );
    assert!(r.stderr.contains(" context)"), "{}", r.stderr);
    let report: Vec<Value> = std::fs::read_to_string(&rep)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!report.is_empty());
    let threshold = dupsift::context::model::Model::shipped()
        .unwrap()
        .meta
        .threshold;
    for line in &report {
        assert_eq!(line["reason"], "context");
        let by = line["match"]["by"].as_str().unwrap();
        let score = line["score"].as_f64().unwrap();
        assert!(by == "run" || score >= threshold, "{line}");
        assert!(line["match"]["site_pages"].is_u64(), "{line}");
    }
    // The navigation bar is on every training page of its site: removed with its evidence.
    let nav = report
        .iter()
        .find(|l| l["id"].as_str().unwrap().ends_with("test.jsonl:1") && l["start"] == 0)
        .unwrap_or_else(|| panic!("navigation removed: {report:#?}"));
    assert_eq!(nav["match"]["site_docs"], 3);
    assert_eq!(nav["match"]["site_pages"], 3);
    // Same input, same output: deterministic; context is the default with --db.
    let again = dir.path().join("again.jsonl");
    run_ok(
        dupsift()
            .args(["clean", &p(&test), "--db", &p(&db), "--unit", "paragraph"])
            .args(["-o", &p(&again)]),
    );
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
    // Repetition: explicitly, implied by a repetition-only option, and without --db.
    for extra in [&["--policy", "repetition"][..], &["--min-docs", "2"][..]] {
        let r = run_ok(
            dupsift()
                .args(["clean", &p(&test), "--db", &p(&db), "--unit", "paragraph"])
                .args(["-o", &p(&again)])
                .args(extra),
        );
        assert!(r.stderr.contains(", 0 context)"), "{}", r.stderr);
    }
    let r = run_ok(dupsift().args(["clean", &p(&test), "--unit", "paragraph", "-o", &p(&again)]));
    assert!(r.stderr.contains(", 0 context)"), "{}", r.stderr);
    // Repetition-only options are refused under the context policy.
    let r = run(dupsift()
        .args(["clean", &p(&test), "--db", &p(&db), "--unit", "paragraph"])
        .args(["-o", &p(&again), "--min-docs", "3", "--policy", "context"]));
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr
            .contains("--min-docs applies to --policy repetition"),
        "{}",
        r.stderr
    );
}

/// `--context-threshold` moves the model's cut: every block the model removes at 0.95 it
/// also removes at the shipped threshold (same probabilities, higher bar), the fixture site
/// has model removals between the two (so fewer go at 0.95), and every model removal at
/// 0.95 scores >= 0.95. Bad values and the repetition policy are refused.
#[test]
fn context_threshold_trades_removals_for_content() {
    let dir = tempfile::tempdir().unwrap();
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    let site = p(&fixture("site"));
    let db = dir.path().join("site.dsig");
    run_ok(dupsift().args(["learn", &site, "-o", &p(&db)]));
    let model_removals = |extra: &[&str]| -> Vec<(String, u64, f64)> {
        let (out, rep) = (dir.path().join("o.jsonl"), dir.path().join("r.jsonl"));
        run_ok(
            dupsift()
                .args(["clean", &site, "--db", &p(&db), "-o", &p(&out)])
                .args(["--report", &p(&rep)])
                .args(extra),
        );
        std::fs::read_to_string(&rep)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["match"]["by"] == "model")
            .map(|l| {
                (
                    l["id"].as_str().unwrap().to_string(),
                    l["start"].as_u64().unwrap(),
                    l["score"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let default = model_removals(&[]);
    let strict = model_removals(&["--context-threshold", "0.95"]);
    let shipped = Model::shipped().unwrap().meta.threshold;
    assert!(shipped < 0.95, "{shipped}");
    assert!(
        default.iter().any(|r| r.2 >= shipped && r.2 < 0.95),
        "the fixture needs removals between {shipped} and 0.95: {default:?}"
    );
    assert!(strict.len() < default.len(), "{strict:?} vs {default:?}");
    for r in &strict {
        assert!(r.2 >= 0.95, "{r:?}");
        assert!(
            default.contains(r),
            "{r:?} not removed at the shipped threshold"
        );
    }
    for bad in ["0", "1.5", "NaN"] {
        let r = run(dupsift()
            .args(["clean", &site, "--db", &p(&db), "-o"])
            .arg(dir.path().join("x.jsonl"))
            .args(["--context-threshold", bad]));
        assert_eq!(r.code, Some(2), "{bad}: {}", r.stderr);
        assert!(
            r.stderr.contains("--context-threshold must be in (0, 1]"),
            "{bad}: {}",
            r.stderr
        );
    }
    let r = run(dupsift()
        .args([
            "clean",
            &site,
            "--db",
            &p(&db),
            "--policy",
            "repetition",
            "-o",
        ])
        .arg(dir.path().join("x.jsonl"))
        .args(["--context-threshold", "0.9"]));
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("applies to the context model"),
        "{}",
        r.stderr
    );
}
