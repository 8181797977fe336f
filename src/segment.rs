//! Segmentation of a document into blocks: byte spans into the original text.
//!
//! Spans (not copies) let `clean` cut exactly the removed bytes and let reports point at them.
//! A block is trimmed of surrounding white space and never empty; everything outside the blocks
//! is white space, so no content is ever dropped by segmentation itself.

use serde::{Deserialize, Serialize};

/// What one block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum Unit {
    /// Every non-empty line (the unit web boilerplate repeats in, as in CCNet and dolma).
    #[default]
    Line,
    /// Runs of lines separated by blank lines.
    Paragraph,
}

impl Unit {
    /// Stable number stored in signature databases.
    pub fn code(self) -> u8 {
        match self {
            Unit::Line => 0,
            Unit::Paragraph => 1,
        }
    }
}

/// A block: the half-open byte range `start..end` of the original text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    /// The block's text.
    pub fn text<'a>(&self, doc: &'a str) -> &'a str {
        &doc[self.start..self.end]
    }
}

/// Splits `text` into blocks of the given unit, in order.
pub fn segment(text: &str, unit: Unit) -> Vec<Span> {
    let mut spans = Vec::new();
    segment_into(text, unit, &mut spans);
    spans
}

/// [`segment`] appending to `spans` (cleared first), so a per-thread vector can be reused
/// from document to document: a fresh `Vec` growing span by span was several reallocations
/// per man page in `clean`.
pub fn segment_into(text: &str, unit: Unit, spans: &mut Vec<Span>) {
    spans.clear();
    match unit {
        Unit::Line => {
            for (start, end) in lines(text) {
                push_trimmed(text, start, end, spans);
            }
        }
        Unit::Paragraph => {
            let mut para: Option<(usize, usize)> = None;
            for (start, end) in lines(text) {
                if text[start..end].trim().is_empty() {
                    if let Some((s, e)) = para.take() {
                        push_trimmed(text, s, e, spans);
                    }
                } else {
                    para = Some(match para {
                        Some((s, _)) => (s, end),
                        None => (start, end),
                    });
                }
            }
            if let Some((s, e)) = para {
                push_trimmed(text, s, e, spans);
            }
        }
    }
}

/// Line ranges without their terminator. `memchr` directly: `str::find('\n')` per line went
/// through the generic char searcher, 2.5 % of `learn`.
fn lines(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = text.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= bytes.len() {
            return None;
        }
        let start = pos;
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        pos = end + 1;
        Some((start, end))
    })
}

fn push_trimmed(text: &str, start: usize, end: usize, spans: &mut Vec<Span>) {
    let bytes = text.as_bytes();
    // ASCII white space is trimmed bytewise (man pages indent most lines, and the Unicode
    // `trim` decoded every char of that indentation: ~4 % of `clean`); only when the first
    // byte left on a side is non-ASCII, which may be Unicode white space, does that side
    // go through `trim_start` / `trim_end`.
    let (mut s, mut e) = (start, end);
    while s < e && is_ascii_space(bytes[s]) {
        s += 1;
    }
    if s < e && !bytes[s].is_ascii() {
        s = e - text[s..e].trim_start().len();
    }
    while e > s && is_ascii_space(bytes[e - 1]) {
        e -= 1;
    }
    if e > s && !bytes[e - 1].is_ascii() {
        e = s + text[s..e].trim_end().len();
    }
    if s < e {
        spans.push(Span { start: s, end: e });
    }
}

/// ASCII white space in the sense of `char::is_whitespace` (no 0x1c..=0x1f, unlike Python).
#[inline]
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_trimmed_and_blank_lines_skipped() {
        let text = "a b\r\n\n  c  \n\n\nlast";
        let blocks: Vec<&str> = segment(text, Unit::Line)
            .iter()
            .map(|s| s.text(text))
            .collect();
        assert_eq!(blocks, ["a b", "c", "last"]);
    }

    #[test]
    fn paragraphs_join_adjacent_lines() {
        let text = "one\ntwo\n \nthree\n";
        let blocks: Vec<&str> = segment(text, Unit::Paragraph)
            .iter()
            .map(|s| s.text(text))
            .collect();
        assert_eq!(blocks, ["one\ntwo", "three"]);
    }
}
