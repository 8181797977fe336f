//! Helpers shared by the integration tests: run the real binary, find fixtures, compare output
//! with a readable diff.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The `dupsift` binary built by cargo for this test run.
pub fn dupsift() -> Command {
    Command::cargo_bin("dupsift").expect("dupsift binary is built for integration tests")
}

/// A path under the repository's `fixtures/` directory (never /work/shared).
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` and captures everything; never panics on a non-zero exit.
pub fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("dupsift runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs `cmd`, which must succeed (exit 0), and returns its output.
pub fn run_ok(cmd: &mut Command) -> Run {
    let r = run(cmd);
    assert_eq!(r.code, Some(0), "expected exit 0\n{r:#?}");
    r
}

/// Runs `cmd`, which must fail with exit status 2 (usage or input error) and a `dupsift: error:`
/// message on stderr, and returns its output.
pub fn run_input_error(cmd: &mut Command) -> Run {
    let r = run(cmd);
    assert_eq!(r.code, Some(2), "expected exit 2\n{r:#?}");
    assert!(
        r.stderr.contains("dupsift: error: "),
        "no error message on stderr\n{r:#?}"
    );
    assert!(!r.stderr.contains("panicked"), "panic\n{r:#?}");
    r
}

/// Asserts two texts are equal, printing both in full and the first differing line otherwise.
pub fn assert_same_text(what: &str, expected: &str, got: &str) {
    if expected == got {
        return;
    }
    let first = expected
        .lines()
        .zip(got.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| expected.lines().count().min(got.lines().count()));
    panic!(
        "{what}: outputs differ (first at line {})\n--- expected\n{expected}\n--- got\n{got}",
        first + 1
    );
}

/// Parses `scan --json` output into one JSON value per line.
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}
