//! Outputs are never half-written and inputs never overwritten: refusals for every command
//! that writes, a SIGKILL in the middle of a run, and a full disk (file-size limit).

use crate::util::{dupsift, run_input_error};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `n` JSONL records, each with a line of its own (digits normalize to 0, so the distinct
/// part is spelled in letters) between shared menu and footer lines.
fn corpus(n: usize) -> Vec<u8> {
    let word = |mut i: usize| {
        let mut w = String::new();
        loop {
            w.push((b'a' + (i % 26) as u8) as char);
            i /= 26;
            if i == 0 {
                return w;
            }
        }
    };
    let mut out = Vec::new();
    for i in 0..n {
        writeln!(
            out,
            r#"{{"id":"d{i}","text":"Menu | Home\nrecord {} says {} things about {}\nfooter"}}"#,
            word(i),
            word(i * 7919),
            word(i * 31)
        )
        .unwrap();
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn every_command_refuses_to_write_over_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = write(d, "in.jsonl", &corpus(20));
    let db = d.join("site.dsig");
    crate::util::run_ok(dupsift().args(["learn", s(&input), "-o", s(&db)]));
    let other = d.join("o.jsonl");
    let sub = d.join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("a.txt"), "a page\n").unwrap();
    let cases: Vec<(Vec<&str>, &Path)> = vec![
        (vec!["clean", s(&input), "-o", s(&input)], &input),
        (
            vec!["clean", s(&input), "-o", s(&other), "--report", s(&input)],
            &input,
        ),
        (vec!["clean", s(&input), "--db", s(&db), "-o", s(&db)], &db),
        (
            vec![
                "clean",
                s(&input),
                "--db",
                s(&db),
                "-o",
                s(&other),
                "--report",
                s(&db),
            ],
            &db,
        ),
        (vec!["dedup", s(&input), "-o", s(&input)], &input),
        (
            vec!["dedup", s(&input), "-o", s(&other), "--clusters", s(&input)],
            &input,
        ),
        (vec!["learn", s(&input), "-o", s(&input)], &input),
        (vec!["merge", s(&db), "-o", s(&db)], &db),
    ];
    for (args, victim) in cases {
        let before = std::fs::read(victim).unwrap();
        let r = run_input_error(dupsift().args(&args));
        assert!(
            r.stderr.contains("dupsift never overwrites its inputs"),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(
            std::fs::read(victim).unwrap(),
            before,
            "{args:?} changed it"
        );
        assert!(!other.exists(), "{args:?} wrote {}", other.display());
    }
    // An output inside an input directory would be read as input by the next run.
    let inside = sub.join("out.jsonl");
    let r = run_input_error(dupsift().args(["clean", s(&sub), "-o", s(&inside)]));
    assert!(
        r.stderr.contains("inside the input directory"),
        "{}",
        r.stderr
    );
    assert!(!inside.exists());
}

/// Entries of `dir` other than `keep`.
fn others(dir: &Path, keep: &[&Path]) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !keep.contains(&p.as_path()))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Size of the largest file under `dir` whose name starts with `.dupsift-` (one level of
/// subdirectory, for dedup's scratch directory).
fn temp_bytes(dir: &Path) -> u64 {
    let mut best = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if !e.file_name().to_string_lossy().starts_with(".dupsift-") {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            for f in std::fs::read_dir(&p).unwrap().flatten() {
                best = best.max(f.metadata().map_or(0, |m| m.len()));
            }
        } else {
            best = best.max(e.metadata().map_or(0, |m| m.len()));
        }
    }
    best
}

/// Starts `dupsift ARGS` reading records from a pipe, feeds it `data` and keeps the pipe
/// open, so the process cannot have finished: it is killed mid-run by construction, not by
/// a timing guess. Waits until `ready` holds (partial output on disk) first.
fn kill_mid_run(args: &[&str], data: Vec<u8>, ready: impl Fn() -> bool) {
    let mut child: Child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dupsift"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
        stdin // returned, so the pipe stays open
    });
    let stdin = feeder.join().unwrap();
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{args:?}: no partial output appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.try_wait().unwrap().is_none(), "{args:?} ended early");
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    drop(stdin);
}

#[test]
fn a_killed_run_leaves_the_previous_output_and_only_hidden_temp_files() {
    // Past one 8 MiB batch, so clean has written part of its output to the temporary file.
    let data = corpus(120_000);
    assert!(data.len() > 9 << 20);
    for cmd in ["clean", "dedup", "learn"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir
            .path()
            .join(if cmd == "learn" { "o.dsig" } else { "o.jsonl" });
        std::fs::write(&out, b"previous output\n").unwrap();
        let args = [cmd, "-", "-o", s(&out)];
        let d = dir.path().to_path_buf();
        kill_mid_run(&args, data.clone(), || match cmd {
            // learn writes its database only at the end: nothing to see mid-run.
            "learn" => true,
            _ => temp_bytes(&d) > 0,
        });
        assert_eq!(
            std::fs::read(&out).unwrap(),
            b"previous output\n",
            "{cmd}: output changed"
        );
        let left = others(dir.path(), &[&out]);
        if cmd != "learn" {
            assert!(
                !left.is_empty(),
                "{cmd}: the temporary file should be left behind"
            );
        }
        for name in &left {
            assert!(
                name.starts_with(".dupsift-") && name.ends_with(".tmp"),
                "{cmd}: leftover {name:?} is not a hidden .dupsift-*.tmp"
            );
        }
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.jsonl", &corpus(20_000));
    let bin = assert_cmd::cargo::cargo_bin("dupsift");
    for (cmd, name) in [
        ("clean", "o.jsonl"),
        ("learn", "o.dsig"),
        ("dedup", "o.jsonl"),
    ] {
        let out = dir.path().join(name);
        // 64 blocks (32 or 64 KiB depending on the shell): far below every output here.
        let mut sh = assert_cmd::Command::new("sh");
        sh.arg("-c")
            .arg(r#"ulimit -f 64 && exec "$0" "$1" "$2" -o "$3""#)
            .args([
                bin.as_os_str(),
                cmd.as_ref(),
                input.as_os_str(),
                out.as_os_str(),
            ]);
        let r = run_input_error(&mut sh);
        assert!(
            r.stderr.contains("File too large") && r.stderr.contains("write failed"),
            "{cmd}: {}",
            r.stderr
        );
        if cmd != "dedup" {
            // dedup fails first in its scratch directory, and names that file.
            assert!(r.stderr.contains(s(&out)), "{cmd}: {}", r.stderr);
        }
        assert!(!out.exists(), "{cmd}: a partial output was published");
        assert_eq!(others(dir.path(), &[&input]), Vec::<String>::new(), "{cmd}");
    }
}

/// dedup writes its two outputs on two threads; when one cannot be written, neither appears
/// (the kept records are finished but not published). The clusters report goes into a path
/// whose directory is a regular file, so creating its temporary file fails.
#[test]
fn dedup_publishes_neither_output_when_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.jsonl", &corpus(2_000));
    let kept = dir.path().join("kept.jsonl");
    let not_a_dir = write(dir.path(), "plain-file", b"x");
    let clusters = not_a_dir.join("clusters.jsonl");
    let r = run_input_error(dupsift().args([
        "dedup",
        s(&input),
        "-o",
        s(&kept),
        "--clusters",
        s(&clusters),
    ]));
    assert!(r.stderr.contains(s(&clusters)), "{}", r.stderr);
    assert!(
        !kept.exists(),
        "kept records published although --clusters failed"
    );
    assert_eq!(
        others(dir.path(), &[&input, &not_a_dir]),
        Vec::<String>::new()
    );
}
