//! Corpus input: documents streamed from text files, directories, JSONL (plain, gzip, zstd)
//! and standard input, never the whole corpus in memory.
//!
//! Reading is split in two so the expensive half runs in parallel: [`CorpusReader`] yields
//! [`RawRecord`]s (bytes of one JSONL line or one text file, in input order, on one thread) and
//! [`RawRecord::parse`] turns one into a [`Document`] (UTF-8 and JSON checks, field lookup) on
//! any thread.

mod jsonl;
mod source;

pub(crate) use jsonl::write_json_str;
pub use jsonl::{replace_text_field, write_kept_str, write_replaced_text, JsonFields, TextSpan};
pub use source::{decode, CorpusReader, Format, RecordRef, Source};
pub(crate) use source::{expand, open_decoded, GZIP_MAGIC, UTF8_BOM, ZSTD_MAGIC};

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which JSON fields hold the text and the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldNames {
    /// Field with the document text (default `text`).
    pub text: String,
    /// Field with the document id (default `id`); a record without it gets `file:line`.
    pub id: String,
}

impl Default for FieldNames {
    fn default() -> Self {
        FieldNames {
            text: "text".into(),
            id: "id".into(),
        }
    }
}

/// Where a record came from: the file (as named on the command line or found in a directory)
/// and the 1-based line for JSONL (0 for a whole text file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub path: Arc<PathBuf>,
    pub line: u64,
}

impl Origin {
    /// `file:line` (or `file` for a text file), as used in messages and default ids.
    pub fn label(&self) -> String {
        if self.line == 0 {
            self.path.display().to_string()
        } else {
            format!("{}:{}", self.path.display(), self.line)
        }
    }
}

/// The bytes of one record, not yet checked.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub origin: Origin,
    /// For a text file, its id (the path relative to the input it was found under).
    pub text_file_id: Option<String>,
    pub bytes: Vec<u8>,
}

/// One document: id, text and, for JSONL input, the original line so every other field can be
/// written back untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: String,
    pub text: String,
    pub origin: Origin,
    /// The JSON record as read (JSONL input only).
    pub record: Option<String>,
}

impl RawRecord {
    /// Checks and decodes the record.
    pub fn parse(self, fields: &FieldNames) -> Result<Document> {
        self.parse_spanned(fields).map(|(doc, _)| doc)
    }

    /// [`RawRecord::parse`], and where the text field's value is in the JSONL record when
    /// the fast scanner found it (see [`write_replaced_text`]).
    pub fn parse_spanned(self, fields: &FieldNames) -> Result<(Document, Option<TextSpan>)> {
        let RawRecord {
            origin,
            text_file_id,
            bytes,
        } = self;
        match text_file_id {
            Some(id) => {
                let text = crate::utf8::string_from(bytes).map_err(|e| {
                    // Name the line too, so the bad byte can be found with an editor.
                    let at = e.utf8_error().valid_up_to();
                    let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
                    Error::bad_input(
                        origin.path.as_path(),
                        line as u64,
                        format!("invalid UTF-8 at byte {at} (text files must be UTF-8)"),
                    )
                })?;
                let doc = Document {
                    id,
                    text,
                    origin,
                    record: None,
                };
                Ok((doc, None))
            }
            None => {
                let (id, text, span) = parse_jsonl_spanned(&origin, &bytes, fields)?;
                // SAFETY: `parse_jsonl_spanned` returned Ok, so `std::str::from_utf8`
                // accepted these same bytes (validating them twice was ~0.6 % of `clean`).
                let line = unsafe { String::from_utf8_unchecked(bytes) };
                let doc = Document {
                    id,
                    text,
                    origin,
                    record: Some(line),
                };
                Ok((doc, span))
            }
        }
    }
}

/// The id and text of one JSONL record (`bytes` without its line ending), with the errors
/// [`RawRecord::parse`] gives; the id defaults to `file:line`. Borrows the bytes, so a caller
/// that reads from memory (dedup's mapped input) copies nothing but the text.
pub(crate) fn parse_jsonl_record(
    origin: &Origin,
    bytes: &[u8],
    fields: &FieldNames,
) -> Result<(String, String)> {
    parse_jsonl_spanned(origin, bytes, fields).map(|(id, text, _)| (id, text))
}

/// [`parse_jsonl_record`] with the text value's span (see [`JsonFields::parse_spanned`]).
fn parse_jsonl_spanned(
    origin: &Origin,
    bytes: &[u8],
    fields: &FieldNames,
) -> Result<(String, String, Option<TextSpan>)> {
    let bad = |reason: String| Error::bad_input(origin.path.as_path(), origin.line, reason);
    let line = crate::utf8::str_from(bytes).map_err(|e| {
        bad(format!(
            "invalid UTF-8 at byte {} of the line",
            e.valid_up_to()
        ))
    })?;
    let (parsed, span) = JsonFields::parse_spanned(line, fields).map_err(bad)?;
    let id = parsed.id.unwrap_or_else(|| origin.label());
    Ok((id, parsed.text, span))
}

/// Expands inputs and streams their records; `-` is JSONL on standard input.
pub fn open(inputs: &[PathBuf]) -> Result<CorpusReader> {
    CorpusReader::new(source::expand(inputs)?)
}

/// True when `path` names standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}
