//! Removed spans against block labels.
//!
//! The labels file holds each document's original text and one label per block of it, so the
//! blocks can be cut the same way the labeller cut them ([`Blocking`]). A block counts as
//! removed when `clean --report` spans cover at least `min_overlap` of its bytes; the
//! positive class is "boilerplate", so precision is the share of removed blocks that were
//! boilerplate and recall the share of boilerplate blocks that were removed. Blocks that are
//! only white space (empty pieces of a `\n\n` split) are skipped: there is nothing to remove.

use super::read::{each_json, string_field, usize_field};
use super::Prf;
use crate::error::{Error, Result};
use crate::segment::{segment, Span, Unit};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// How the labelled text is cut into the blocks its labels are aligned with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Blocking {
    /// dupsift's `--unit line`: every non-empty line.
    Line,
    /// dupsift's `--unit paragraph`: runs of lines separated by blank lines.
    Paragraph,
    /// Python's `text.split("\n\n")`, empty pieces included (the dragnet set's blocks); an
    /// empty text has no blocks.
    BlankSplit,
}

impl Blocking {
    /// The blocks of `text`, trimmed of surrounding white space (possibly empty for
    /// `BlankSplit`).
    pub fn blocks(self, text: &str) -> Vec<Span> {
        match self {
            Blocking::Line => segment(text, Unit::Line),
            Blocking::Paragraph => segment(text, Unit::Paragraph),
            // An empty text has no blocks (Python would give one empty piece, but labellers
            // give such a page no labels: dragnet's empty page R427 has none).
            Blocking::BlankSplit if text.is_empty() => Vec::new(),
            Blocking::BlankSplit => {
                let mut out = Vec::new();
                let mut start = 0;
                for piece in text.split("\n\n") {
                    let lead = piece.len() - piece.trim_start().len();
                    let s = start + lead;
                    out.push(Span {
                        start: s,
                        end: s + piece.trim().len(),
                    });
                    start += piece.len() + 2;
                }
                out
            }
        }
    }
}

/// What a label value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LabelMeaning {
    /// 1 / true marks boilerplate (a block that should be removed).
    #[default]
    Boilerplate,
    /// 1 / true marks content (a block that should be kept), as dragnet's labels do.
    Content,
}

/// Where the labels are and how to read them.
#[derive(Debug, Clone)]
pub struct BlockLabelSpec {
    pub id_field: String,
    pub text_field: String,
    pub labels_field: String,
    pub meaning: LabelMeaning,
    pub blocking: Blocking,
    /// Share of a block's bytes the removed spans must cover for it to count as removed.
    pub min_overlap: f64,
}

/// Block-level scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlocksReport {
    /// Blocks: removed, labelled boilerplate.
    pub blocks: Prf,
    /// Bytes of those blocks, so long blocks weigh more.
    pub bytes: Prf,
    /// Labelled documents.
    pub documents: u64,
    /// White-space-only blocks skipped.
    pub empty_blocks: u64,
    /// Report lines about documents without labels (not scored).
    pub unlabelled_spans: u64,
}

/// Reads `clean --report` output: removed byte spans (`id`, `start`, `end`) per document,
/// sorted and merged.
pub fn read_report(path: &Path) -> Result<HashMap<String, Vec<(usize, usize)>>> {
    let mut out: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
    each_json(path, |_, rec| {
        let id = string_field(&rec, "id")?;
        let (start, end) = (usize_field(&rec, "start")?, usize_field(&rec, "end")?);
        if end < start {
            return Err(format!("span end {end} before start {start}"));
        }
        out.entry(id).or_default().push((start, end));
        Ok(())
    })?;
    for spans in out.values_mut() {
        *spans = merge(std::mem::take(spans));
    }
    Ok(out)
}

/// Scores the removed spans against the labels file at `labels`.
pub fn score(
    removed: &HashMap<String, Vec<(usize, usize)>>,
    labels: &Path,
    spec: &BlockLabelSpec,
) -> Result<BlocksReport> {
    if spec.min_overlap.is_nan() || spec.min_overlap <= 0.0 || spec.min_overlap > 1.0 {
        return Err(Error::Usage(format!(
            "--min-overlap must be in (0, 1], got {}",
            spec.min_overlap
        )));
    }
    let mut report = BlocksReport {
        blocks: Prf::default(),
        bytes: Prf::default(),
        documents: 0,
        empty_blocks: 0,
        unlabelled_spans: 0,
    };
    let mut labelled: Vec<String> = Vec::new();
    each_json(labels, |_, rec| {
        let id = string_field(&rec, &spec.id_field)?;
        let text = match rec.get(&spec.text_field) {
            Some(Value::String(s)) => s.as_str(),
            _ => return Err(format!("missing or non-string field {:?}", spec.text_field)),
        };
        let values = match rec.get(&spec.labels_field) {
            Some(Value::Array(v)) => v,
            _ => {
                return Err(format!(
                    "missing or non-array field {:?}",
                    spec.labels_field
                ))
            }
        };
        let blocks = spec.blocking.blocks(text);
        if blocks.len() != values.len() {
            return Err(format!(
                "document {id:?}: {} labels but {} blocks ({:?} blocking); pick the --unit the \
                 labels were made with",
                values.len(),
                blocks.len(),
                spec.blocking
            ));
        }
        let spans = removed.get(&id).map_or(&[][..], Vec::as_slice);
        for (span, value) in blocks.iter().zip(values) {
            let len = span.end - span.start;
            if len == 0 {
                report.empty_blocks += 1;
                continue;
            }
            let flag = label_value(value)?;
            let boilerplate = flag == (spec.meaning == LabelMeaning::Boilerplate);
            let covered = covered(spans, span.start, span.end);
            let was_removed = covered as f64 >= spec.min_overlap * len as f64;
            let len = len as u64;
            report.blocks.add(Prf {
                true_positives: (was_removed && boilerplate) as u64,
                predicted: was_removed as u64,
                gold: boilerplate as u64,
            });
            report.bytes.add(Prf {
                true_positives: (was_removed && boilerplate) as u64 * len,
                predicted: was_removed as u64 * len,
                gold: boilerplate as u64 * len,
            });
        }
        report.documents += 1;
        labelled.push(id);
        Ok(())
    })?;
    let labelled: std::collections::HashSet<&String> = labelled.iter().collect();
    report.unlabelled_spans = removed
        .iter()
        .filter(|(id, _)| !labelled.contains(id))
        .map(|(_, s)| s.len() as u64)
        .sum();
    Ok(report)
}

fn label_value(v: &Value) -> std::result::Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => Ok(n.as_f64().is_some_and(|x| x != 0.0)),
        other => Err(format!("label {other} is neither a number nor a boolean")),
    }
}

/// Sorted, non-overlapping union of spans.
fn merge(mut spans: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    spans.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Bytes of `start..end` inside the merged `spans`.
fn covered(spans: &[(usize, usize)], start: usize, end: usize) -> usize {
    let first = spans.partition_point(|&(_, e)| e <= start);
    spans[first..]
        .iter()
        .take_while(|&&(s, _)| s < end)
        .map(|&(s, e)| e.min(end) - s.max(start))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn blank_split_keeps_empty_pieces_and_trims() {
        let text = "a\n\n\n\n b \n\nc";
        let blocks: Vec<&str> = Blocking::BlankSplit
            .blocks(text)
            .iter()
            .map(|s| s.text(text))
            .collect();
        assert_eq!(blocks, ["a", "", "b", "c"]);
    }

    #[test]
    fn coverage_of_merged_spans() {
        let spans = merge(vec![(10, 20), (0, 5), (15, 30), (40, 50)]);
        assert_eq!(spans, [(0, 5), (10, 30), (40, 50)]);
        assert_eq!(covered(&spans, 3, 12), 4);
        assert_eq!(covered(&spans, 30, 40), 0);
        assert_eq!(covered(&spans, 0, 100), 35);
    }

    #[test]
    fn scores_blocks_by_overlap() {
        // Lines: "nav" (boilerplate, removed), "body text" (content, kept),
        // "footer" (boilerplate, kept), "more body" (content, half removed -> not removed at
        // 0.6, removed at 0.5). Labels mean content, as in dragnet.
        let text = "nav\nbody text\nfooter\nmore body";
        let dir = tempfile::tempdir().unwrap();
        let labels = dir.path().join("labels.jsonl");
        let rec = serde_json::json!({"id": "d", "text": text, "lab": [0, 1, false, 1]});
        writeln!(std::fs::File::create(&labels).unwrap(), "{rec}").unwrap();
        let more = text.find("more").unwrap();
        let removed = HashMap::from([("d".to_string(), merge(vec![(0, 3), (more, more + 5)]))]);
        let mut spec = BlockLabelSpec {
            id_field: "id".into(),
            text_field: "text".into(),
            labels_field: "lab".into(),
            meaning: LabelMeaning::Content,
            blocking: Blocking::Line,
            min_overlap: 0.6,
        };
        let r = score(&removed, &labels, &spec).unwrap();
        let counts = |tp, p, g| Prf {
            true_positives: tp,
            predicted: p,
            gold: g,
        };
        assert_eq!(r.blocks, counts(1, 1, 2));
        assert_eq!(r.bytes, counts(3, 3, 9));
        spec.min_overlap = 0.5;
        let r = score(&removed, &labels, &spec).unwrap();
        assert_eq!(r.blocks, counts(1, 2, 2));
        spec.blocking = Blocking::Paragraph;
        let err = score(&removed, &labels, &spec).unwrap_err().to_string();
        assert!(err.contains("4 labels but 1 blocks"), "{err}");
    }
}
