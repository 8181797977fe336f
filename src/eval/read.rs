//! Reading the label and prediction files of [`crate::eval`]: JSONL (possibly compressed) and
//! TSV, with every error naming the file and line.

use crate::corpus::open_decoded;
use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::io::BufRead;
use std::path::Path;

/// Calls `f(line_number, record)` for every non-blank JSONL line of `path` (gzip and zstd are
/// detected by magic bytes; `-` is stdin). `f` returns a reason string for a bad record.
pub(crate) fn each_json(
    path: &Path,
    mut f: impl FnMut(u64, Map<String, Value>) -> std::result::Result<(), String>,
) -> Result<()> {
    each_line(path, |n, line| {
        let record: Map<String, Value> =
            serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
        f(n, record)
    })
}

/// Calls `f(line_number, fields)` for every non-blank, non-`#` line of a tab-separated file,
/// after skipping `skip` header lines.
pub(crate) fn each_tsv(
    path: &Path,
    skip: u64,
    mut f: impl FnMut(u64, Vec<&str>) -> std::result::Result<(), String>,
) -> Result<()> {
    each_line(path, |n, line| {
        if n <= skip || line.starts_with('#') {
            return Ok(());
        }
        f(n, line.split('\t').collect())
    })
}

fn each_line(
    path: &Path,
    mut f: impl FnMut(u64, &str) -> std::result::Result<(), String>,
) -> Result<()> {
    let mut reader = open_decoded(path)?;
    let mut line = String::new();
    let mut n = 0;
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(|e| Error::io(path, "cannot read", e))?;
        if read == 0 {
            return Ok(());
        }
        n += 1;
        let trimmed = line.trim_end_matches(['\n', '\r']);
        if trimmed.trim().is_empty() {
            continue;
        }
        f(n, trimmed).map_err(|reason| Error::bad_input(path, n, reason))?;
    }
}

/// The string value of `field` (numbers are turned into their decimal text, as ids often are).
pub(crate) fn string_field(record: &Map<String, Value>, field: &str) -> Result<String, String> {
    match record.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(format!("field {field:?} is not a string: {other}")),
        None => Err(format!("missing field {field:?}")),
    }
}

/// The unsigned integer value of `field`.
pub(crate) fn usize_field(record: &Map<String, Value>, field: &str) -> Result<usize, String> {
    record
        .get(field)
        .and_then(Value::as_u64)
        .map(|v| v as usize)
        .ok_or_else(|| format!("field {field:?} missing or not a non-negative integer"))
}
