//! Every input record is accounted for: each command's summary line adds up
//! (read = used + skipped, + removed duplicates for dedup) on input with bad records under
//! `--skip-bad`, every skipped record is listed, and clean's report lists them too.

use crate::util::{dupsift, json_lines, run_ok};
use std::path::Path;

/// 6 good records (d2 an exact copy of d1) and 2 bad ones, at lines 3 and 6.
const INPUT: &str = r#"{"id":"d0","text":"Menu\nfirst page body"}
{"id":"d1","text":"Menu\nsecond page body here"}
{"id":"bad-json","text":
{"id":"d2","text":"Menu\nsecond page body here"}
{"id":"d3","text":"Menu\nthird page body"}
{"id":"no-text"}
{"id":"d4","text":"Menu\nfourth page body\nfourth page body"}
{"id":"d5","text":"Menu\nfifth page body"}
"#;

/// The numbers of `dupsift CMD: R documents read, N VERB, S skipped (bad input)[, D removed`.
fn summary(stderr: &str, cmd: &str) -> (u64, u64, u64, u64) {
    let prefix = format!("dupsift {cmd}: ");
    let line = stderr
        .lines()
        .find(|l| l.starts_with(&prefix) && l.contains(" documents read, "))
        .unwrap_or_else(|| panic!("no summary line:\n{stderr}"));
    let nums: Vec<u64> = line[prefix.len()..]
        .split(';')
        .next()
        .unwrap()
        .split(", ")
        .map(|part| part.split(' ').next().unwrap().parse().expect(part))
        .collect();
    assert!(
        line.contains(" skipped (bad input)"),
        "summary shape: {line}"
    );
    (nums[0], nums[1], nums[2], nums.get(3).copied().unwrap_or(0))
}

#[test]
fn every_record_is_read_written_skipped_or_removed() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, INPUT).unwrap();
    let p = |n: &str| dir.path().join(n);
    let [db, c, r, d] = ["db.dsig", "c.jsonl", "r.jsonl", "d.jsonl"].map(p);
    let runs: [(&str, Vec<&Path>); 4] = [
        ("scan", vec![]),
        ("learn", vec![Path::new("-o"), &db]),
        (
            "clean",
            vec![Path::new("-o"), &c, Path::new("--report"), &r],
        ),
        ("dedup", vec![Path::new("-o"), &d]),
    ];
    for (cmd, extra) in runs {
        let r = run_ok(
            dupsift()
                .args([cmd, "--skip-bad"])
                .arg(&input)
                .args(extra.iter().map(|x| x.as_os_str())),
        );
        let (read, used, skipped, removed) = summary(&r.stderr, cmd);
        assert_eq!((read, skipped), (8, 2), "{cmd}: {}", r.stderr);
        assert_eq!(read, used + skipped + removed, "{cmd}: {}", r.stderr);
        for line in [3, 6] {
            let listed = format!("dupsift {cmd}: skipped {}:{line}: ", input.display());
            assert!(
                r.stderr.contains(&listed),
                "{cmd}: want {listed:?}:\n{}",
                r.stderr
            );
        }
        match cmd {
            "dedup" => {
                assert_eq!(removed, 1, "{}", r.stderr);
                let kept = std::fs::read_to_string(p("d.jsonl")).unwrap();
                assert_eq!(kept.lines().count() as u64, used);
            }
            "clean" => {
                let out = std::fs::read_to_string(p("c.jsonl")).unwrap();
                assert_eq!(out.lines().count() as u64, used);
                let report = json_lines(&std::fs::read_to_string(p("r.jsonl")).unwrap());
                let skipped: Vec<_> = report
                    .iter()
                    .filter(|l| l["reason"] == "skipped")
                    .map(|l| l["location"].as_str().unwrap().to_string())
                    .collect();
                let want: Vec<String> = [3, 6]
                    .iter()
                    .map(|n| format!("{}:{n}", input.display()))
                    .collect();
                assert_eq!(skipped, want);
                // The in-document repeat of d4 is reported as removed.
                assert!(report
                    .iter()
                    .any(|l| l["id"] == "d4" && l["reason"] == "repeat"));
            }
            _ => {}
        }
    }
}
