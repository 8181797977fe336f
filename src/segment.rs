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
        #[cfg(target_arch = "x86_64")]
        Unit::Line => LINE_MAPS.with_borrow_mut(|maps| maps.segment_lines(text, spans)),
        #[cfg(not(target_arch = "x86_64"))]
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

thread_local! {
    /// The bitmaps of [`LineMaps::segment_lines`], reused per thread.
    #[cfg(target_arch = "x86_64")]
    static LINE_MAPS: std::cell::RefCell<LineMaps> = const {
        std::cell::RefCell::new(LineMaps { newline: Vec::new(), text: Vec::new() })
    };
}

/// One bit per byte of a document: line breaks, and bytes that are not ASCII white space.
///
/// Why: lines were found with a `memchr` call each and trimmed a byte at a time (man pages
/// indent most lines); together ~4 % of `clean --db` for 85 lines of ~56 bytes per page.
/// With the bitmaps (16 bytes per SSE2 compare) a line and both its trims are a few bit scans.
#[cfg(target_arch = "x86_64")]
struct LineMaps {
    newline: Vec<u64>,
    /// Not ASCII white space (non-ASCII bytes included: they may start Unicode white space,
    /// which [`LineMaps::segment_lines`] then trims as `push_trimmed` does).
    text: Vec<u64>,
}

#[cfg(target_arch = "x86_64")]
impl LineMaps {
    /// The `Unit::Line` segmentation of `text` into `spans`: the same spans as `lines` +
    /// `push_trimmed` (tested).
    fn segment_lines(&mut self, text: &str, spans: &mut Vec<Span>) {
        let bytes = text.as_bytes();
        let n = bytes.len();
        self.build(bytes);
        let mut pos = 0;
        while pos < n {
            let start = pos;
            let end = next_set(&self.newline, start, n);
            pos = end + 1;
            let mut s = next_set(&self.text, start, end);
            if s == end {
                continue;
            }
            if !bytes[s].is_ascii() {
                s = end - text[s..end].trim_start().len();
            }
            // The last byte that is not ASCII white space (exists: `s` is one, or the
            // Unicode trim left at least one byte before `end`).
            let mut e = prev_set(&self.text, s, end).map_or(s, |i| i + 1);
            if e > s && !bytes[e - 1].is_ascii() {
                e = s + text[s..e].trim_end().len();
            }
            if s < e {
                spans.push(Span { start: s, end: e });
            }
        }
    }

    fn build(&mut self, bytes: &[u8]) {
        use std::arch::x86_64::*;
        let words = bytes.len().div_ceil(64);
        self.newline.clear();
        self.text.clear();
        self.newline.reserve(words);
        self.text.reserve(words);
        let mut chunk = [0u8; 64];
        for k in 0..words {
            let part = &bytes[64 * k..bytes.len().min(64 * k + 64)];
            let src: &[u8] = if part.len() == 64 {
                part
            } else {
                chunk[..part.len()].copy_from_slice(part);
                chunk[part.len()..].fill(0);
                &chunk
            };
            let (mut nl, mut sp) = (0u64, 0u64);
            for q in 0..4 {
                // SAFETY: SSE2 is part of x86_64; src holds 64 bytes.
                let (a, b) = unsafe {
                    let x = _mm_loadu_si128(src.as_ptr().add(16 * q).cast());
                    let nl = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\n' as i8));
                    // \t \n \v \f \r are 9..=13; bytes >= 0x80 are negative, so not > 8.
                    let ctl = _mm_and_si128(
                        _mm_cmpgt_epi8(x, _mm_set1_epi8(8)),
                        _mm_cmplt_epi8(x, _mm_set1_epi8(14)),
                    );
                    let sp = _mm_or_si128(ctl, _mm_cmpeq_epi8(x, _mm_set1_epi8(b' ' as i8)));
                    (_mm_movemask_epi8(nl) as u16, _mm_movemask_epi8(sp) as u16)
                };
                nl |= u64::from(a) << (16 * q);
                sp |= u64::from(b) << (16 * q);
            }
            self.newline.push(nl);
            // Padding bytes (zeros) past the end count as text; no scan goes past `n`.
            self.text.push(!sp);
        }
    }
}

/// The first set bit of `map` in `from..to` (`to` when none).
#[cfg(target_arch = "x86_64")]
#[inline]
fn next_set(map: &[u64], from: usize, to: usize) -> usize {
    let mut k = from / 64;
    if from >= to {
        return to;
    }
    let mut x = map[k] & (!0u64 << (from % 64));
    loop {
        if x != 0 {
            return (64 * k + x.trailing_zeros() as usize).min(to);
        }
        k += 1;
        if 64 * k >= to {
            return to;
        }
        x = map[k];
    }
}

/// The last set bit of `map` in `from..to`, if any.
#[cfg(target_arch = "x86_64")]
#[inline]
fn prev_set(map: &[u64], from: usize, to: usize) -> Option<usize> {
    if from >= to {
        return None;
    }
    let last = to - 1;
    let mut k = last / 64;
    let mut x = map[k] & (!0u64 >> (63 - last % 64));
    loop {
        if x != 0 {
            let i = 64 * k + 63 - x.leading_zeros() as usize;
            return (i >= from).then_some(i);
        }
        if 64 * k <= from {
            return None;
        }
        k -= 1;
        x = map[k];
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

    /// The bitmap line splitter gives exactly `lines` + `push_trimmed`'s spans: lines across
    /// 64-byte boundaries, CR LF, indentation, Unicode white space and letters at either end.
    #[test]
    fn line_bitmaps_equal_the_byte_loop() {
        let pieces = [
            "a",
            " ",
            "\n",
            "\r\n",
            "\t",
            "\u{a0}",
            "\u{2003}x",
            "é",
            "  word  ",
            "\x0b\x0c",
            "long line of text that goes on",
            "\n\n",
        ];
        let mut next = crate::test_rng::xorshift(0x2545_f491_4f6c_dd1du64);
        for round in 0..3000 {
            let mut text = String::new();
            for _ in 0..(round % 90) {
                let x = next();
                text.push_str(pieces[(x % pieces.len() as u64) as usize]);
            }
            let mut want = Vec::new();
            for (start, end) in lines(&text) {
                push_trimmed(&text, start, end, &mut want);
            }
            assert_eq!(segment(&text, Unit::Line), want, "{text:?}");
        }
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
