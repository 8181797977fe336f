//! `dupsift scan` on the bundled fixture site: the seed page's in-page repeats and the site
//! chrome shared by every page, with exact counts.

use crate::util::{dupsift, fixture, json_lines, run_ok};
use serde_json::Value;

const STORY: &str = "Story continues below advertisement";
const NOTICE: &str = "Welcome to The Globe and Mail’s comment community. This is a space where subscribers can engage with each other and Globe staff. Non-subscribers can read and sort comments but will not be able to engage with them in any way. Click here to subscribe.";
const LETTERS: &str = "If you would like to write a letter to the editor, please forward it to letters@globeandmail.com. Readers can also interact with The Globe on Facebook and Twitter .";
const TECH: &str = "Due to technical reasons, we have temporarily removed commenting from our articles. We hope to have this fixed soon. Thank you for your patience. If you are looking to give feedback on our new site, please send it along to feedback@globeandmail.com. If you want to write a letter to the editor, please forward to letters@globeandmail.com.";
const READ_MORE: &str = "Read more: How orchards fight frost with fans, fires and water";

/// (kind, docs, occurrences, text) of every row.
fn rows(v: &[Value]) -> Vec<(String, u64, u64, String)> {
    v.iter()
        .map(|r| {
            (
                r["kind"].as_str().expect("kind").to_string(),
                r["docs"].as_u64().expect("docs"),
                r["occurrences"].as_u64().expect("occurrences"),
                r["text"].as_str().expect("text").to_string(),
            )
        })
        .collect()
}

fn row(kind: &str, docs: u64, occurrences: u64, text: &str) -> (String, u64, u64, String) {
    (kind.into(), docs, occurrences, text.into())
}

#[test]
fn seed_page_alone_has_exactly_its_three_in_page_repeats() {
    let out = run_ok(
        dupsift()
            .args(["scan", "--json"])
            .arg(fixture("site/globe-article.txt")),
    );
    let v = json_lines(&out.stdout);
    assert_eq!(
        rows(&v),
        [
            row("within", 1, 3, STORY),
            row("within", 1, 3, NOTICE),
            row("within", 1, 2, LETTERS),
        ]
    );
    // The third notice is cut short; it still counts, as a contained (truncated) copy.
    assert_eq!(
        v[1]["matches"],
        serde_json::json!({"repeat": 1, "contained": 1})
    );
    assert_eq!(v[0]["matches"], serde_json::json!({"repeat": 2}));
    assert!(
        out.stderr
            .contains("1 documents read, 1 scanned, 0 skipped (bad input)"),
        "{}",
        out.stderr
    );
}

#[test]
fn site_report_lists_in_page_repeats_and_lines_shared_by_pages() {
    let out = run_ok(
        dupsift()
            .args(["scan", "--json", "--top", "0"])
            .arg(fixture("site")),
    );
    let v = json_lines(&out.stdout);
    let bullets = [
        "• Treat others as you wish to be treated",
        "• Criticize ideas, not people",
        "• Stay on topic",
        "• Avoid the use of toxic and offensive language",
        "• Flag bad behaviour",
    ];
    let mut expected = vec![
        row("across", 5, 7, STORY),
        row("across", 5, 6, NOTICE),
        row("across", 5, 6, LETTERS),
        row("across", 5, 5, "Skip to main content"),
        row("across", 5, 5, "Report an error"),
        row("across", 5, 5, TECH),
        row("across", 5, 5, "Read our community guidelines here"),
        row("across", 5, 5, "Discussion loading ..."),
        row(
            "across",
            4,
            4,
            "We aim to create a safe and valuable space for discussion and debate. That means:",
        ),
    ];
    expected.extend(bullets.iter().map(|b| row("across", 4, 4, b)));
    expected.push(row(
        "across",
        4,
        4,
        "Comments that violate our community guidelines will be removed.",
    ));
    expected.extend([
        row("within", 1, 3, STORY),
        row("within", 1, 3, NOTICE),
        row("across", 2, 2, "THE CANADIAN PRESS"),
        row("within", 1, 2, LETTERS),
        row("within", 1, 2, READ_MORE),
    ]);
    assert_eq!(rows(&v), expected);

    let ids = |text: &str, kind: &str| -> Vec<String> {
        let r = v
            .iter()
            .find(|r| r["text"] == text && r["kind"] == kind)
            .expect("row");
        r["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|i| i.as_str().expect("id").to_string())
            .collect()
    };
    // Ids are paths relative to the directory, in sorted walk order.
    assert_eq!(
        ids(STORY, "across"),
        [
            "globe-article.txt",
            "harbour-ferry.txt",
            "library-robots.txt",
            "orchard-frost.txt",
            "transit-fares.txt"
        ]
    );
    assert_eq!(ids(READ_MORE, "within"), ["orchard-frost.txt"]);
    assert_eq!(
        ids("THE CANADIAN PRESS", "across"),
        ["harbour-ferry.txt", "library-robots.txt"]
    );
    assert!(
        out.stderr
            .contains("5 documents read, 5 scanned, 0 skipped (bad input)"),
        "{}",
        out.stderr
    );
}

#[test]
fn table_is_what_the_readme_shows() {
    let out = run_ok(dupsift().args(["scan"]).arg(fixture("site")));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "kind      docs  count  text");
    assert_eq!(
        lines[1],
        "across       5      7  Story continues below advertisement"
    );
    assert!(
        lines.contains(&"within       1      3  Story continues below advertisement"),
        "{}",
        out.stdout
    );
    // Long blocks are shortened to one line of at most 100 characters.
    let notice = lines
        .iter()
        .find(|l| l.starts_with("within") && l.contains("comment community"))
        .expect("notice row");
    assert!(
        notice.ends_with('…') && notice.chars().count() == 23 + 100,
        "{notice}"
    );
    assert_eq!(lines.len(), 1 + 20);
}

#[test]
fn top_limits_rows_and_min_docs_filters_across_rows() {
    let out = run_ok(
        dupsift()
            .args(["scan", "--json", "--top", "2"])
            .arg(fixture("site")),
    );
    assert_eq!(json_lines(&out.stdout).len(), 2);
    assert!(
        out.stderr.contains("20 repeated blocks (2 shown)"),
        "{}",
        out.stderr
    );

    let out = run_ok(
        dupsift()
            .args(["scan", "--json", "--top", "0", "--min-docs", "5"])
            .arg(fixture("site")),
    );
    let v = json_lines(&out.stdout);
    let across: Vec<_> = v.iter().filter(|r| r["kind"] == "across").collect();
    assert_eq!(across.len(), 8);
    assert!(across.iter().all(|r| r["docs"] == 5));
    assert_eq!(
        v.len() - across.len(),
        4,
        "within rows do not depend on --min-docs"
    );
}

#[test]
fn readme_example_is_the_real_output() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = "```text\n$ cargo run --release -- scan fixtures/site\n";
    let at = readme.find(start).expect("README shows the scan example") + start.len();
    let block = &readme[at..at + readme[at..].find("```").expect("closing fence")];
    let (table, summary) = block
        .trim_end()
        .rsplit_once('\n')
        .expect("table and summary line");
    let out = run_ok(dupsift().args(["scan"]).arg(fixture("site")));
    crate::util::assert_same_text("README example", &format!("{table}\n"), &out.stdout);
    assert_eq!(out.stderr.trim_end(), summary);
}
