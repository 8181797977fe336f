//! One error type for the whole library.
//!
//! Every variant that comes from user data names the file (and line, where there is one) so a
//! message is enough to find the bad record in a corpus of millions. The binary maps all of these
//! to exit status 2 (see `cli::exit`), so scripts can tell "bad input" from "duplicates found".

use std::path::PathBuf;

/// Everything that can go wrong in dupsift.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O failure on a named file (open, read, write, rename).
    #[error("{path}: {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// A record that cannot be used: malformed JSON, missing text field, invalid UTF-8, ...
    /// `line` is 1-based; 0 means the whole file (a text-file document).
    #[error("{}: {reason}", location(path, *line))]
    BadInput {
        path: PathBuf,
        line: u64,
        reason: String,
    },

    /// A signature database that cannot be used as it is; `fix` tells the user what to do.
    #[error("{path}: {problem}; {fix}")]
    BadDb {
        path: PathBuf,
        problem: String,
        fix: String,
    },

    /// A context model file that cannot be used (wrong version, features or corrupt).
    #[error("{name}: {problem}")]
    BadModel { name: String, problem: String },

    /// Options that contradict each other or are out of range.
    #[error("invalid option: {0}")]
    Usage(String),
}

fn location(path: &std::path::Path, line: u64) -> String {
    if line == 0 {
        path.display().to_string()
    } else {
        format!("{}:{}", path.display(), line)
    }
}

impl Error {
    /// Shorthand for an I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            action,
            source,
        }
    }

    /// Shorthand for a bad record at `path:line`.
    pub fn bad_input(path: impl Into<PathBuf>, line: u64, reason: impl Into<String>) -> Self {
        Error::BadInput {
            path: path.into(),
            line,
            reason: reason.into(),
        }
    }

    /// True when the error is about one record and a `--skip-bad` run may go on past it.
    pub fn is_skippable(&self) -> bool {
        matches!(self, Error::BadInput { .. })
    }
}

/// Result with the library's error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
