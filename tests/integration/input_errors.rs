//! Bad input: every case exits with status 2 and a message naming file, line and reason, or,
//! with `--skip-bad`, skips the bad record, lists it on stderr and goes on with status 0.
//! Nothing panics and nothing hangs.

use crate::util::{dupsift, fixture, json_lines, run, run_input_error, run_ok};
use std::path::{Path, PathBuf};

struct Case {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// A file `name` with `bytes` in a fresh temporary directory.
fn file(name: &str, bytes: &[u8]) -> Case {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write");
    Case { _dir: dir, path }
}

fn scan(path: &Path) -> assert_cmd::Command {
    let mut cmd = dupsift();
    cmd.args(["scan", "--json"]).arg(path);
    cmd
}

fn scan_skip_bad(path: &Path) -> assert_cmd::Command {
    let mut cmd = dupsift();
    cmd.args(["scan", "--json", "--skip-bad"]).arg(path);
    cmd
}

/// Asserts the default run fails naming `path:line` and `reason`, and that `--skip-bad` goes
/// on, using `read` documents and skipping exactly that record (`read + 1` records read).
fn assert_bad_record(path: &Path, line: u64, reason: &str, read: u64) {
    let loc = if line == 0 {
        path.display().to_string()
    } else {
        format!("{}:{line}", path.display())
    };
    let err = run_input_error(&mut scan(path));
    let expected = format!("dupsift: error: {loc}: {reason}");
    assert!(
        err.stderr.contains(&expected),
        "want {expected:?} in stderr:\n{}",
        err.stderr
    );
    assert!(
        err.stdout.is_empty(),
        "no report after an error: {}",
        err.stdout
    );

    let ok = run_ok(&mut scan_skip_bad(path));
    let summary = format!(
        "{} documents read, {read} scanned, 1 skipped (bad input)",
        read + 1
    );
    assert!(
        ok.stderr.contains(&summary),
        "want {summary:?}:\n{}",
        ok.stderr
    );
    let listed = format!("dupsift scan: skipped {loc}: {reason}");
    assert!(
        ok.stderr.contains(&listed),
        "want {listed:?}:\n{}",
        ok.stderr
    );
}

const GOOD: &str = r#"{"id":"a","text":"Shared line here\nalpha"}"#;
const GOOD2: &str = r#"{"id":"b","text":"Shared line here\nbeta"}"#;

#[test]
fn malformed_json_line() {
    let c = file(
        "bad.jsonl",
        format!("{GOOD}\n{{\"id\":\"x\",\"text\":\"unclosed\n{GOOD2}\n").as_bytes(),
    );
    assert_bad_record(
        &c.path,
        2,
        "malformed JSON at column 26: EOF while parsing a string",
        2,
    );
    // The good records around it still make the report.
    let ok = run_ok(&mut scan_skip_bad(&c.path));
    assert_eq!(
        json_lines(&ok.stdout)[0]["ids"],
        serde_json::json!(["a", "b"])
    );
}

#[test]
fn a_byte_order_mark_before_the_first_record_is_ignored() {
    let c = file("bom.jsonl", format!("\u{feff}{GOOD}\n{GOOD2}\n").as_bytes());
    let ok = run_ok(&mut scan(&c.path));
    assert_eq!(
        json_lines(&ok.stdout)[0]["ids"],
        serde_json::json!(["a", "b"])
    );
    // Only there: elsewhere it is still bad JSON.
    let c = file(
        "bom2.jsonl",
        format!("{GOOD}\n\u{feff}{GOOD2}\n").as_bytes(),
    );
    assert_bad_record(&c.path, 2, "malformed JSON at column 1: ", 1);
}

#[test]
fn record_without_text_field() {
    let c = file(
        "missing.jsonl",
        format!("{GOOD}\n{{\"id\":\"x\",\"body\":\"t\"}}\n{GOOD2}\n").as_bytes(),
    );
    assert_bad_record(&c.path, 2, "record has no \"text\" field", 2);
}

#[test]
fn record_with_non_string_text() {
    let c = file(
        "number.jsonl",
        format!("{GOOD}\n{GOOD2}\n{{\"id\":\"x\",\"text\":42}}\n").as_bytes(),
    );
    assert_bad_record(&c.path, 3, "field \"text\" is a number, not a string", 2);
    let c = file("object.jsonl", b"{\"text\":{\"t\":\"x\"}}\n");
    assert_bad_record(&c.path, 1, "field \"text\" is an object, not a string", 0);
    let c = file("array.jsonl", b"[\"text\"]\n");
    assert_bad_record(
        &c.path,
        1,
        "malformed JSON at column 0: invalid type: sequence, expected a JSON object",
        0,
    );
}

#[test]
fn invalid_utf8_in_a_jsonl_line() {
    let mut bytes = format!("{GOOD}\n").into_bytes();
    bytes.extend_from_slice(b"{\"id\":\"x\",\"text\":\"caf\xe9\"}\n");
    bytes.extend_from_slice(format!("{GOOD2}\n").as_bytes());
    let c = file("latin1.jsonl", &bytes);
    assert_bad_record(&c.path, 2, "invalid UTF-8 at byte 21 of the line", 2);
}

#[test]
fn lone_surrogate_escape_in_a_json_string() {
    let c = file(
        "surrogate.jsonl",
        format!("{GOOD}\n{{\"text\":\"a\\ud800b\"}}\n").as_bytes(),
    );
    assert_bad_record(
        &c.path,
        2,
        "malformed JSON at column 17: unexpected end of hex escape",
        1,
    );
}

#[test]
fn invalid_utf8_in_a_text_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.txt"), "Shared line here\nfirst\n").expect("write");
    std::fs::write(
        dir.path().join("b.txt"),
        b"fine line\nsecond \xff\xfe line\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("c.txt"), "Shared line here\nthird\n").expect("write");
    let bad = dir.path().join("b.txt");
    let err = run_input_error(&mut scan(dir.path()));
    let expected = format!(
        "{}:2: invalid UTF-8 at byte 17 (text files must be UTF-8)",
        bad.display()
    );
    assert!(
        err.stderr.contains(&expected),
        "want {expected:?}:\n{}",
        err.stderr
    );
    let ok = run_ok(&mut scan_skip_bad(dir.path()));
    assert!(
        ok.stderr
            .contains("3 documents read, 2 scanned, 1 skipped (bad input)"),
        "{}",
        ok.stderr
    );
    assert_eq!(
        json_lines(&ok.stdout)[0]["ids"],
        serde_json::json!(["a.txt", "c.txt"])
    );
}

#[test]
fn missing_input_is_an_error_even_with_skip_bad() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.jsonl");
    for mut cmd in [scan(&missing), scan_skip_bad(&missing)] {
        let err = run_input_error(&mut cmd);
        let expected = format!("dupsift: error: {}: cannot read input: ", missing.display());
        assert!(
            err.stderr.contains(&expected),
            "want {expected:?}:\n{}",
            err.stderr
        );
    }
}

#[test]
fn empty_files_and_empty_documents_are_fine() {
    for (name, bytes, docs) in [
        ("empty.jsonl", &b""[..], 0),
        ("blank-lines.jsonl", &b"\n  \n\r\n"[..], 0),
        ("empty.txt", &b""[..], 1),
        (
            "empty-text.jsonl",
            &b"{\"text\":\"\"}\n{\"text\":\"  \\n\\n \"}\n"[..],
            2,
        ),
    ] {
        let c = file(name, bytes);
        let ok = run_ok(&mut scan(&c.path));
        assert_eq!(ok.stdout, "", "{name}");
        let summary = format!(
            "{docs} documents read, {docs} scanned, 0 skipped (bad input); 0 repeated blocks"
        );
        assert!(
            ok.stderr.contains(&summary),
            "{name}: want {summary:?}:\n{}",
            ok.stderr
        );
    }
}

#[test]
fn a_100_mb_single_line_is_read_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.jsonl");
    // One JSONL line of 100 MB: a record whose text is a short line shared with a second,
    // small record, then one 100 MB block. The shared line in the report proves the huge
    // record was read, parsed and segmented whole.
    let chunk: String = (0..1000).map(|i| format!("w{i} ")).collect();
    let block = chunk.repeat((100 << 20) / chunk.len() + 1);
    let mut bytes = Vec::with_capacity(block.len() + 256);
    for (id, text) in [
        ("huge", format!("Shared line\n{block}")),
        ("small", "Shared line\nsmall".to_string()),
    ] {
        serde_json::to_writer(&mut bytes, &serde_json::json!({"id": id, "text": text}))
            .expect("json");
        bytes.push(b'\n');
    }
    drop(block);
    assert!(bytes.len() > 100 << 20);
    std::fs::write(&path, &bytes).expect("write");
    drop(bytes);
    let ok = run_ok(&mut scan(&path));
    assert!(
        ok.stderr
            .contains("2 documents read, 2 scanned, 0 skipped (bad input)"),
        "{}",
        ok.stderr
    );
    let v = json_lines(&ok.stdout);
    assert_eq!(v[0]["text"], "Shared line");
    assert_eq!(v[0]["ids"], serde_json::json!(["huge", "small"]));
}

/// `fixture` cut to `keep` of its length, in a temporary file named like it.
fn truncated(name: &str, keep: f64) -> Case {
    let bytes = std::fs::read(fixture(&format!("jsonl/{name}"))).expect("fixture");
    file(name, &bytes[..(bytes.len() as f64 * keep) as usize])
}

#[test]
fn truncated_gzip_and_zstd() {
    for name in ["records.jsonl.gz", "records.jsonl.zst"] {
        let c = truncated(name, 0.6);
        let err = run_input_error(&mut scan(&c.path));
        let prefix = format!("dupsift: error: {}:", c.path.display());
        assert!(err.stderr.contains(&prefix), "{name}: {}", err.stderr);
        assert!(
            err.stderr
                .contains(": truncated or corrupt compressed data: "),
            "{name}: {}",
            err.stderr
        );
        // With --skip-bad the records decoded before the cut are used and the rest is skipped.
        let ok = run_ok(&mut scan_skip_bad(&c.path));
        assert!(
            ok.stderr.contains(" 1 skipped (bad input)"),
            "{name}: {}",
            ok.stderr
        );
        assert!(
            ok.stderr.contains("truncated or corrupt compressed data"),
            "{name}: {}",
            ok.stderr
        );
    }
    // Cut inside the header.
    for name in ["records.jsonl.gz", "records.jsonl.zst"] {
        let c = truncated(name, 0.004);
        let err = run_input_error(&mut scan(&c.path));
        assert!(
            err.stderr.contains(&c.path.display().to_string()),
            "{name}: {}",
            err.stderr
        );
    }
}

#[test]
fn compressed_by_name_but_not_by_content() {
    let c = file("plain.jsonl.gz", format!("{GOOD}\n").as_bytes());
    let err = run_input_error(&mut scan(&c.path));
    assert!(
        err.stderr
            .contains("name says compressed, but the file does not start with gzip or zstd"),
        "{}",
        err.stderr
    );
}

/// A directory with two good pages and one entry that cannot be read.
fn dir_with(bad_name: &str, make_bad: impl FnOnce(&Path)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.txt"), "Shared line here\nfirst\n").expect("write");
    std::fs::write(dir.path().join("c.txt"), "Shared line here\nthird\n").expect("write");
    let bad = dir.path().join(bad_name);
    make_bad(&bad);
    (dir, bad)
}

fn assert_unreadable_entry(dir: &Path, bad: &Path, reason: &str) {
    let err = run_input_error(&mut scan(dir));
    let expected = format!("dupsift: error: {}: {reason}", bad.display());
    assert!(
        err.stderr.contains(&expected),
        "want {expected:?}:\n{}",
        err.stderr
    );
    let ok = run_ok(&mut scan_skip_bad(dir));
    assert!(
        ok.stderr
            .contains("3 documents read, 2 scanned, 1 skipped (bad input)"),
        "{}",
        ok.stderr
    );
    assert!(
        ok.stderr
            .contains(&format!("skipped {}: {reason}", bad.display())),
        "{}",
        ok.stderr
    );
    assert_eq!(json_lines(&ok.stdout)[0]["docs"], 2);
}

#[test]
fn directory_with_a_broken_link() {
    let (dir, bad) = dir_with("b.txt", |bad| {
        std::os::unix::fs::symlink("does-not-exist.txt", bad).expect("symlink")
    });
    assert_unreadable_entry(dir.path(), &bad, "cannot read (broken link?): ");
}

#[test]
fn directory_with_a_fifo_is_not_blocked_on() {
    let (dir, bad) = dir_with("b.txt", |bad| {
        let made = std::process::Command::new("mkfifo").arg(bad).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("mkfifo unavailable; the FIFO becomes a broken link instead");
            std::os::unix::fs::symlink("does-not-exist.txt", bad).expect("symlink");
        }
    });
    if bad.is_symlink() {
        assert_unreadable_entry(dir.path(), &bad, "cannot read (broken link?): ");
    } else {
        assert_unreadable_entry(
            dir.path(),
            &bad,
            "not a regular file (FIFO, socket or device)",
        );
    }
}

#[test]
fn directory_with_a_link_back_to_itself() {
    let (dir, bad) = dir_with("b-loop", |bad| {
        std::os::unix::fs::symlink(".", bad).expect("symlink")
    });
    assert_unreadable_entry(dir.path(), &bad, "directory link loops back to ");
}

#[test]
fn directory_with_a_file_without_read_permission() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, bad) = dir_with("b.txt", |bad| {
        std::fs::write(bad, "secret\n").expect("write");
        std::fs::set_permissions(bad, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    });
    if std::fs::File::open(&bad).is_ok() {
        // root (or CAP_DAC_OVERRIDE) reads it anyway; the broken-link, FIFO and loop tests
        // cover unreadable entries in that case.
        eprintln!("skipped: a mode-000 file is still readable here (running as root)");
        return;
    }
    assert_unreadable_entry(dir.path(), &bad, "cannot open: ");
}

#[test]
fn usage_errors_exit_2() {
    let site = fixture("site");
    let err = run_input_error(
        dupsift()
            .args(["scan", "--near-threshold", "1.5"])
            .arg(&site),
    );
    assert!(
        err.stderr.contains("--near-threshold must be in (0, 1]"),
        "{}",
        err.stderr
    );
    let r = run(dupsift().args(["scan", "--no-such-flag"]).arg(&site));
    assert_eq!(r.code, Some(2), "{r:#?}");
    let r = run(dupsift().args(["scan"]));
    assert_eq!(r.code, Some(2), "{r:#?}");
}
