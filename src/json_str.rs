//! The one scanner and decoder of JSON string bodies (the bytes after the opening quote),
//! shared by dedup's record parser (`dedup::record`) and the JSONL fast path
//! (`corpus::jsonl::fast`).
//!
//! Why one module: both parsers had their own copies of the special-byte search and of the
//! escape decoder, and the decoding was ~10 % of all of `dedup`'s CPU on c100 (100 MB, 35,248
//! records) and `Scanner::string` 2-4 % of `clean --db` on the man pages. c100's texts have a
//! backslash escape every ~32 bytes (2.83 M `\n`, 169 k `\"`, ~50 k `\\` in 100 MB), so a
//! 16-byte loop that stops at every escape and calls a decoder for it ran its loop-exit and
//! call every other block.
//!
//! So, with AVX-512 (VBMI for the byte table lookup, VBMI2 for the byte compress; detected at
//! run time), a 64-byte block is decoded in registers *with* its escapes: masks of `"`, `\`
//! and control bytes, which backslashes start an escape (odd/even runs, so `\\` pairs are
//! handled too), the escaped letters translated by a table lookup and blended in, the
//! escaping backslashes dropped by `vpcompressb` into a register and one unaligned 64-byte
//! store (the compress-store to memory is microcoded and slow on Intel), up to the first
//! unescaped quote or control byte. Only a `\uXXXX`, a bad escape or an escape cut by the
//! block's end takes the scalar step. Without AVX-512 (other CPUs, other architectures) the
//! scalar decoder copies 16 bytes at a time and decodes the simple escapes inline through a
//! 256-entry table, without a call.
//!
//! Semantics (the same in every path, and what the two parsers had): the simple escapes
//! (`\" \\ \/ \b \f \n \r \t`) and `\uXXXX` outside the surrogate range are decoded; a control
//! byte (below 0x20), any other escape, a surrogate `\uXXXX` (pairs included: the general
//! parsers hand those to serde_json) or a missing closing quote gives `None`.

/// Bytes a decoder may write past the end of the decoded string (the AVX-512 path stores
/// whole 64-byte registers); [`decode_into`] reserves them.
const SLACK: usize = 64;

/// What each simple one-byte escape letter decodes to (`n` -> newline, `"` -> `"`, ...), 0 for
/// every other byte: one load instead of a `match` per escape, and (its first half) the
/// AVX-512 path's translation table.
static SIMPLE: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'/' as usize] = b'/';
    t[b'b' as usize] = 0x08;
    t[b'f' as usize] = 0x0c;
    t[b'n' as usize] = b'\n';
    t[b'r' as usize] = b'\r';
    t[b't' as usize] = b'\t';
    t
};

/// `"`, `\` or a control byte: where a string body's plain run ends.
#[inline(always)]
fn is_special(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20
}

/// Position of the first `"`, `\` or control byte (below 0x20) of `b` at or after `from`.
///
/// Sixteen bytes at a time with SSE2 (baseline on x86_64: three byte compares and a
/// `movemask`), then an eight-byte SWAR step for what is left: the SWAR loop alone needed ~10
/// operations per eight bytes, and this search is the whole of key scanning and JSON string
/// escaping (`corpus::write_json_str`: ~7 % of `clean --db`, one hit per line of a man page).
#[inline]
pub(crate) fn next_special(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(block) = b.get(i..i + 16) {
        let m = specials16(block.try_into().expect("16 bytes"));
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
        i += 16;
    }
    // Eight bytes at a time: the lowest flagged byte of each mask is exact (borrows only
    // spill into higher bytes), so the lowest bit of their union is the first special byte.
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(word) = b.get(i..i + 8) {
        let v = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
        let quote = zero(v ^ (ONES * b'"' as u64));
        let slash = zero(v ^ (ONES * b'\\' as u64));
        let control = v.wrapping_sub(ONES * 0x20) & !v & HIGH;
        let m = quote | slash | control;
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..].iter().position(|&c| is_special(c)).map(|p| i + p)
}

/// Bit `i` set when `block[i]` is `"`, `\` or a control byte (below 0x20).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn specials16(block: &[u8; 16]) -> u32 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline; the load reads the 16 bytes of `block`.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast());
        // v <= 0x1f unsigned  <=>  min(v, 0x1f) == v.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        let m = _mm_or_si128(
            _mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8)),
            ),
            control,
        );
        _mm_movemask_epi8(m) as u32
    }
}

/// [`specials16`], byte by byte (other architectures).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn specials16(block: &[u8; 16]) -> u32 {
    block
        .iter()
        .enumerate()
        .fold(0, |m, (i, &c)| m | (is_special(c) as u32) << i)
}

/// The `\uXXXX` whose hex digits start at `pos`, or `None` (too short, not hex, a surrogate).
#[inline(never)]
fn unicode_escape(b: &[u8], pos: usize) -> Option<char> {
    let hex = b.get(pos..pos + 4)?;
    let mut v = 0u32;
    for &h in hex {
        v = v * 16 + (h as char).to_digit(16)?;
    }
    // Surrogates (pairs or lone) are left to serde_json.
    char::from_u32(v)
}

/// Steps over the escape after a backslash at `pos - 1`: the position after it, or `None`.
#[inline(always)]
fn skip_escape(b: &[u8], pos: usize) -> Option<usize> {
    let c = *b.get(pos)?;
    if SIMPLE[c as usize] != 0 {
        Some(pos + 1)
    } else if c == b'u' {
        unicode_escape(b, pos + 1).map(|_| pos + 5)
    } else {
        None
    }
}

/// Decodes the escape whose backslash is at `pos` to `dst + n`: the positions after it in
/// the input and the output, or `None`.
///
/// # Safety
/// `dst + n` must have room for 4 bytes (an escape never decodes to more bytes than it has,
/// and a `\uXXXX` to at most 3).
#[inline(always)]
unsafe fn decode_escape(b: &[u8], pos: usize, dst: *mut u8, n: usize) -> Option<(usize, usize)> {
    let c = *b.get(pos + 1)?;
    let simple = SIMPLE[c as usize];
    if simple != 0 {
        // SAFETY: room for 4 bytes, see above.
        unsafe { dst.add(n).write(simple) };
        return Some((pos + 2, n + 1));
    }
    if c != b'u' {
        return None;
    }
    let ch = unicode_escape(b, pos + 2)?;
    let mut utf8 = [0u8; 4];
    let enc = ch.encode_utf8(&mut utf8).as_bytes();
    // SAFETY: as above.
    unsafe { std::ptr::copy_nonoverlapping(enc.as_ptr(), dst.add(n), enc.len()) };
    Some((pos + 6, n + enc.len()))
}

/// Steps over a string body starting at `pos <= b.len()` (its opening quote is before `pos`),
/// checking its escapes: the position after the closing quote, or `None` (see the module doc).
#[inline]
pub(crate) fn skip(b: &[u8], pos: usize) -> Option<usize> {
    // Most skipped values are short (names, dates, sections): when the closing quote is the
    // first special byte of the first 16, one SSE2 probe is the whole job (~2 ns a value,
    // where the 64-byte path costs ~4 ns to set up; it wins from a few escapes on: a 150-byte
    // man page line with 7 escapes, 23 -> 8 ns).
    if let Some(block) = b.get(pos..pos + 16) {
        let m = specials16(block.try_into().expect("16 bytes"));
        let end = pos + m.trailing_zeros() as usize;
        if m != 0 && b[end] == b'"' {
            return Some(end + 1);
        }
    }
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        // SAFETY: the CPU has the features `available` checks.
        return unsafe { avx512::skip(b, pos) };
    }
    skip_scalar(b, pos)
}

/// [`skip`] with the SSE2 search.
fn skip_scalar(b: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        pos = next_special(b, pos)?;
        match b[pos] {
            b'"' => return Some(pos + 1),
            b'\\' => pos = skip_escape(b, pos + 1)?,
            _ => return None,
        }
    }
}

/// Decodes a string body starting at `pos <= b.len()` (its opening quote is before), appending
/// the decoded bytes to `out`: the position after the closing quote, or `None` (see the
/// module doc) with `out` as long as it was. Valid UTF-8 in gives valid UTF-8 out: the copied runs
/// end at ASCII bytes and `\uXXXX` is written as a `char`.
#[inline]
pub(crate) fn decode_into(b: &[u8], pos: usize, out: &mut Vec<u8>) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        // SAFETY: the CPU has the features `available` checks.
        return unsafe { avx512::decode_into(b, pos, out) };
    }
    decode_into_scalar(b, pos, out)
}

/// [`decode_into`] 16 bytes at a time: each block is copied whole into the slack, and the
/// position of its first special byte decides how many of them count (no per-byte branch).
fn decode_into_scalar(b: &[u8], mut pos: usize, out: &mut Vec<u8>) -> Option<usize> {
    // Decoding never makes a string longer than its escaped form, which the rest of `b`
    // bounds; the slack takes the whole last block copied before the closing quote.
    out.reserve(b.len() - pos + SLACK);
    let dst = out.as_mut_ptr();
    let mut n = out.len();
    loop {
        // Copy 16 bytes, keep those before the first special one.
        while let Some(block) = b.get(pos..pos + 16) {
            let block: &[u8; 16] = block.try_into().expect("16 bytes");
            // SAFETY: bytes written since the start <= bytes read (decoding only shrinks), so
            // `n + 16` is within the capacity reserved above.
            unsafe { std::ptr::copy_nonoverlapping(block.as_ptr(), dst.add(n), 16) };
            let m = specials16(block);
            if m != 0 {
                let k = m.trailing_zeros() as usize;
                pos += k;
                n += k;
                break;
            }
            pos += 16;
            n += 16;
        }
        if b.len() - pos < 16 {
            // The tail: byte by byte up to the next special byte.
            let k = b[pos..].iter().position(|&c| is_special(c))?;
            // SAFETY: as above.
            unsafe { std::ptr::copy_nonoverlapping(b.as_ptr().add(pos), dst.add(n), k) };
            pos += k;
            n += k;
        }
        match b[pos] {
            b'"' => {
                // SAFETY: the bytes up to `n` were written above.
                unsafe { out.set_len(n) };
                return Some(pos + 1);
            }
            // SAFETY: as above.
            b'\\' => (pos, n) = unsafe { decode_escape(b, pos, dst, n) }?,
            _ => return None,
        }
    }
}

/// A string body of `s` starting at `pos` (after an opening quote) as a `String`, and the
/// position after its closing quote; `None` as [`decode_into`]. A string without escapes is
/// copied into an exactly sized `String`.
pub(crate) fn decode_str(s: &str, pos: usize) -> Option<(String, usize)> {
    let b = s.as_bytes();
    let end = next_special(b, pos)?;
    if b[end] == b'"' {
        return Some((s[pos..end].to_owned(), end + 1));
    }
    let mut out = Vec::with_capacity(b.len() - pos + SLACK);
    out.extend_from_slice(&b[pos..end]);
    let after = decode_into(b, end, &mut out)?;
    debug_assert!(std::str::from_utf8(&out).is_ok());
    // SAFETY: `s` is UTF-8, and `decode_into` keeps it so (see there).
    Some((unsafe { String::from_utf8_unchecked(out) }, after))
}

/// Bit `i` set when the backslash at bit `i` of `bs` starts an escape, within one 64-byte
/// block that starts outside an escape: the first backslash of each run and every second one
/// after it (simdjson's trick: subtracting the backslashes from their shifted mask with the
/// odd bits set carries through each run and leaves its parity). A start at bit 63 has its
/// escaped byte in the next block.
#[inline(always)]
fn escape_starts(bs: u64) -> u64 {
    const ODD: u64 = 0xaaaa_aaaa_aaaa_aaaa;
    (((bs << 1) | ODD).wrapping_sub(bs) ^ ODD) & bs
}

/// The 64-byte path: see the module doc.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{decode_escape, escape_starts, skip_escape, SIMPLE, SLACK};
    use std::arch::x86_64::*;

    /// Whether this CPU has what this module needs (see [`crate::cpu`]).
    pub(super) fn available() -> bool {
        crate::cpu::avx512_vbmi2()
    }

    #[cfg(test)]
    thread_local! {
        /// Blocks whose escapes were decoded in registers (tests check this path ran).
        pub(super) static IN_REGISTER: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// One 64-byte block of a string body.
    struct Block {
        /// Each byte with an escaped letter replaced by what it decodes to.
        decoded: __m512i,
        /// Backslashes that start an escape (dropped from the output).
        starts: u64,
        /// The unescaped `"` and control bytes and the escapes that need the scalar step (`\u`,
        /// a bad letter, a start in lane 63): the block is done here up to the first of them.
        stop: u64,
    }

    /// Loads and classifies the 64 bytes at `pos` (fewer at the end of `b`: lanes past its end
    /// read as 0, a control byte, so they stop the block).
    ///
    /// # Safety
    /// The CPU must have the features [`available`] checks; `pos <= b.len()`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,bmi1,bmi2")]
    #[inline]
    unsafe fn block(b: &[u8], pos: usize, table: (__m512i, __m512i)) -> Block {
        let rest = b.len() - pos;
        // SAFETY: the full load reads b[pos..pos + 64] (`rest >= 64`); the masked one only
        // b[pos..b.len()] (masked-off lanes are not accessed and read as 0).
        let v = unsafe {
            if rest >= 64 {
                _mm512_loadu_si512(b.as_ptr().add(pos).cast())
            } else {
                _mm512_maskz_loadu_epi8(_bzhi_u64(!0, rest as u32), b.as_ptr().add(pos).cast())
            }
        };
        let quote = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'"' as i8));
        let bs = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'\\' as i8));
        let control = _mm512_cmplt_epu8_mask(v, _mm512_set1_epi8(0x20));
        // Bits 0..6 of a byte pick the table entry; non-ASCII bytes are never simple letters.
        let translated = _mm512_permutex2var_epi8(table.0, v, table.1);
        let simple = _mm512_test_epi8_mask(translated, translated) & !_mm512_movepi8_mask(v);
        let starts = escape_starts(bs);
        let letters = starts << 1;
        // A start whose next byte is not a simple letter (or is in the next block: `simple >>
        // 1` has no bit 63) needs the scalar step.
        let scalar = starts & !(simple >> 1);
        Block {
            decoded: _mm512_mask_blend_epi8(letters, v, translated),
            starts,
            stop: (quote & !letters) | control | scalar,
        }
    }

    /// The table the blocks translate escaped letters with (ASCII half of [`SIMPLE`]).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn table() -> (__m512i, __m512i) {
        // SAFETY: SIMPLE holds 256 bytes.
        unsafe {
            (
                _mm512_loadu_si512(SIMPLE.as_ptr().cast()),
                _mm512_loadu_si512(SIMPLE.as_ptr().add(64).cast()),
            )
        }
    }

    /// [`super::decode_into`] 64 bytes at a time.
    ///
    /// # Safety
    /// The CPU must have the features [`available`] checks.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vbmi2,bmi1,bmi2,popcnt")]
    pub(super) unsafe fn decode_into(b: &[u8], mut pos: usize, out: &mut Vec<u8>) -> Option<usize> {
        // Room: the output never outgrows the input read (escapes shrink), and each block
        // ends with a whole 64-byte store.
        out.reserve(b.len() - pos + SLACK);
        let dst = out.as_mut_ptr();
        let mut n = out.len();
        let table = table();
        loop {
            // SAFETY: `pos <= b.len()` (every step ends inside `b` or at its end).
            let k = unsafe { block(b, pos, table) };
            #[cfg(test)]
            if k.starts & _bzhi_u64(!0, k.stop.trailing_zeros()) != 0 {
                IN_REGISTER.with(|c| c.set(c.get() + 1));
            }
            if k.stop == 0 {
                // The whole block, the common case, on its own branch: the next block's
                // position is then `pos + 64` on the predicted path instead of waiting for
                // this block's masks, so the loads and classifications of successive blocks
                // overlap.
                let keep = !k.starts;
                // SAFETY: `n` - start <= `pos` - start, so the store ends within the
                // reserved `b.len() - start + SLACK`.
                unsafe {
                    _mm512_storeu_si512(
                        dst.add(n).cast(),
                        _mm512_maskz_compress_epi8(keep, k.decoded),
                    )
                };
                n += keep.count_ones() as usize;
                pos += 64;
                continue;
            }
            let len = k.stop.trailing_zeros();
            let keep = _bzhi_u64(!k.starts, len);
            // SAFETY: as above.
            unsafe {
                _mm512_storeu_si512(
                    dst.add(n).cast(),
                    _mm512_maskz_compress_epi8(keep, k.decoded),
                )
            };
            n += keep.count_ones() as usize;
            pos += len as usize;
            match b.get(pos)? {
                b'"' => {
                    // SAFETY: the bytes up to `n` were written above.
                    unsafe { out.set_len(n) };
                    return Some(pos + 1);
                }
                // SAFETY: room as for the stores.
                b'\\' => (pos, n) = unsafe { decode_escape(b, pos, dst, n) }?,
                _ => return None,
            }
        }
    }

    /// [`super::skip`] 64 bytes at a time.
    ///
    /// # Safety
    /// The CPU must have the features [`available`] checks.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,bmi1,bmi2")]
    pub(super) unsafe fn skip(b: &[u8], mut pos: usize) -> Option<usize> {
        let table = table();
        loop {
            // SAFETY: `pos <= b.len()`, as in `decode_into`.
            let k = unsafe { block(b, pos, table) };
            if k.stop == 0 {
                // As in `decode_into`: no data dependency between whole blocks.
                pos += 64;
                continue;
            }
            pos += k.stop.trailing_zeros() as usize;
            match b.get(pos)? {
                b'"' => return Some(pos + 1),
                b'\\' => pos = skip_escape(b, pos + 1)?,
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// serde_json's reading of the string body at `pos` of `b`: the string and the position
    /// after its closing quote, or `None`.
    fn serde_decode(b: &[u8], pos: usize) -> Option<(String, usize)> {
        let mut quoted = vec![b'"'];
        quoted.extend_from_slice(&b[pos..]);
        let mut values = serde_json::Deserializer::from_slice(&quoted).into_iter::<String>();
        let s = values.next()?.ok()?;
        // `quoted` has one byte (its opening quote) before `b[pos]`.
        Some((s, pos + values.byte_offset() - 1))
    }

    /// Whether the string body at `pos` up to `end` holds a `\uXXXX` in the surrogate range
    /// (which these decoders leave to serde_json); may also see one after an escaped `\`.
    fn has_surrogate_escape(b: &[u8], pos: usize, end: usize) -> bool {
        b[pos..end].windows(4).any(|w| {
            w[0] == b'\\'
                && w[1] == b'u'
                && matches!(w[2], b'd' | b'D')
                && matches!(w[3], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
        })
    }

    /// A decoder's answer: the decoded bytes and the position after the closing quote.
    type Decoded = Option<(Vec<u8>, usize)>;

    /// Everything each decoder gives for the body at `pos`, by name.
    fn all_paths(b: &[u8], pos: usize) -> Vec<(&'static str, Decoded)> {
        let run = |f: &dyn Fn(&mut Vec<u8>) -> Option<usize>| {
            // Something already in `out`: decoding appends, and leaves it on failure.
            let mut out = b"prefix".to_vec();
            let r = f(&mut out);
            match r {
                Some(end) => Some((out[6..].to_vec(), end)),
                None => {
                    assert_eq!(out, b"prefix");
                    None
                }
            }
        };
        #[allow(unused_mut)] // Only pushed to on x86_64.
        let mut paths = vec![
            ("scalar", run(&|o| decode_into_scalar(b, pos, o))),
            ("dispatch", run(&|o| decode_into(b, pos, o))),
        ];
        #[cfg(target_arch = "x86_64")]
        if avx512::available() {
            // SAFETY: the CPU has the features.
            paths.push((
                "avx512",
                run(&|o| unsafe { avx512::decode_into(b, pos, o) }),
            ));
        }
        paths
    }

    /// Checks every path (decoding, skipping, `decode_str`) against serde_json on the body
    /// at `pos`; returns whether the string decoded.
    fn check(b: &[u8], pos: usize) -> bool {
        let want = serde_decode(b, pos);
        let paths = all_paths(b, pos);
        let got = paths[0].1.clone();
        for (name, r) in &paths {
            assert_eq!(
                r,
                &got,
                "{name} vs scalar on {:?}",
                String::from_utf8_lossy(b)
            );
        }
        match (&got, &want) {
            (Some((s, end)), Some((w, wend))) => {
                assert_eq!(s, w.as_bytes(), "{:?}", String::from_utf8_lossy(b));
                assert_eq!(end, wend, "{:?}", String::from_utf8_lossy(b));
            }
            (Some(_), None) => panic!(
                "decoded what serde rejects: {:?}",
                String::from_utf8_lossy(b)
            ),
            (None, Some((_, wend))) => assert!(
                has_surrogate_escape(b, pos, *wend),
                "rejected what serde decodes: {:?}",
                String::from_utf8_lossy(b)
            ),
            (None, None) => {}
        }
        let end = got.as_ref().map(|g| g.1);
        assert_eq!(skip_scalar(b, pos), end);
        assert_eq!(skip(b, pos), end);
        #[cfg(target_arch = "x86_64")]
        if avx512::available() {
            // SAFETY: the CPU has the features.
            assert_eq!(unsafe { avx512::skip(b, pos) }, end);
        }
        if let Ok(s) = std::str::from_utf8(b) {
            let via_str = decode_str(s, pos).map(|(s, e)| (s.into_bytes(), e));
            assert_eq!(via_str, got);
        }
        got.is_some()
    }

    /// Blocks the AVX-512 decoder has decoded escapes of in registers, on this thread.
    fn in_register() -> u64 {
        #[cfg(target_arch = "x86_64")]
        return avx512::IN_REGISTER.with(|c| c.get());
        #[cfg(not(target_arch = "x86_64"))]
        0
    }

    /// Whether this CPU has AVX-512 as the decoder needs it, as `std` detects it (not through
    /// the module's cached answer): then the tests insist on the 64-byte path being taken.
    fn cpu_has_avx512() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let has = std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vbmi")
                && std::arch::is_x86_feature_detected!("avx512vbmi2");
            assert_eq!(has, avx512::available());
            has
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    #[test]
    fn escape_starts_are_the_first_of_each_backslash_pair() {
        let reference = |bs: u64| {
            let (mut starts, mut i) = (0u64, 0);
            while i < 64 {
                if bs >> i & 1 == 1 {
                    starts |= 1 << i;
                    i += 2;
                } else {
                    i += 1;
                }
            }
            starts
        };
        for low in 0..1u64 << 16 {
            // The pattern at the bottom, and (so runs reach lane 63) at the top.
            for bs in [low, low << 48, low << 24 | 0xff] {
                assert_eq!(escape_starts(bs), reference(bs), "{bs:064b}");
            }
        }
        assert_eq!(escape_starts(!0), 0x5555_5555_5555_5555);
    }

    #[test]
    fn next_special_agrees_with_a_byte_loop() {
        // Bytes drawn mostly from ordinary text, with specials and high bytes (>= 0x80, which
        // a signed compare would wrongly take for control bytes) at every lane position.
        let alphabet = b"ab \"\\\n\x1f\x20\x7f\x80\xff\x00\x09\xc3";
        let mut next = crate::test_rng::xorshift(0x9e37_79b9_7f4a_7c15u64);
        for len in 0..80 {
            for _ in 0..40 {
                let b: Vec<u8> = (0..len)
                    .map(|_| {
                        let x = next();
                        // Mostly plain letters, so specials land anywhere in a 16-byte lane.
                        if x.is_multiple_of(5) {
                            alphabet[(x >> 8) as usize % alphabet.len()]
                        } else {
                            b'a' + (x >> 8) as u8 % 26
                        }
                    })
                    .collect();
                for from in 0..=len {
                    let want = b[from..]
                        .iter()
                        .position(|&c| is_special(c))
                        .map(|p| from + p);
                    assert_eq!(next_special(&b, from), want, "{b:?} from {from}");
                }
            }
        }
    }

    /// Every escape kind at every lane around the 64-byte block edges (62..65 of the first
    /// and second block, and all others), with and without its closing quote.
    #[test]
    fn escapes_at_every_lane_agree_with_serde() {
        let escapes = [
            r"\n",
            r#"\""#,
            r"\\",
            r"\/",
            r"\t\r\b\f",
            r"\\\\\\",
            r#"\\\""#,
            r"\\n",
            r"\u00e9",
            r"\u4e2D",
            r"\u0000",
            r"\ud83d\ude00",
            r"\uDFFF",
            r"\u12",
            r"\x",
            "\u{1}",
            "\t",
            "é中😀",
            r"\",
        ];
        let before = in_register();
        let (mut decoded, mut total) = (0, 0);
        for lead in ["", "{\"text\":\""] {
            for k in 0..140 {
                for e in escapes {
                    for tail in ["\"", " and more text \\n after it\"", "\"\\\\\"x"] {
                        let body = format!("{lead}{}{e}{tail}", "a".repeat(k));
                        decoded += check(body.as_bytes(), lead.len()) as usize;
                        total += 1;
                    }
                    // No closing quote.
                    let cut = format!("{lead}{}{e}abc", "a".repeat(k));
                    assert!(!check(cut.as_bytes(), lead.len()), "{cut}");
                }
            }
        }
        assert!(decoded > total / 2, "{decoded} of {total}");
        if cpu_has_avx512() {
            assert!(
                in_register() - before > 1000,
                "the AVX-512 path was not taken"
            );
        }
    }

    /// Pieces of escape-heavy string bodies that serde_json decodes.
    fn good_piece() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[a-z ]{0,20}",
            2 => "[a-zé中😀 ]{0,8}",
            4 => Just(r"\n".to_string()),
            2 => Just(r#"\""#.to_string()),
            2 => Just(r"\\".to_string()),
            1 => Just(r"\/".to_string()),
            1 => Just(r"\t\r\b\f".to_string()),
            1 => Just(r"\\\\\\".to_string()),
            1 => Just(r#"\\\""#.to_string()),
            1 => Just(r"\\n".to_string()),
            1 => Just(r"\u00e9".to_string()),
            1 => Just(r"\u4E2D".to_string()),
            1 => Just(r"\u0000\uFFFF".to_string()),
            1 => Just(r"\u0041b".to_string()),
        ]
    }

    /// Pieces that make the string fail (serde_json rejects them, or these decoders leave
    /// them to serde_json).
    fn bad_piece() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            r"\ud83d\ude00",
            r"\uDC00",
            "\u{1}",
            "\u{1f}",
            "\t",
            "\n",
            r"\x",
            r"\u12",
            r"\u00g0",
            r"\ ",
            r"\",
        ])
        .prop_map(str::to_owned)
    }

    /// Long (past 64 bytes), escape-heavy bodies: a plain run of 0..140 bytes first (so the
    /// next piece lands on any lane of the first two blocks, 62..65 included), then pieces;
    /// sometimes one bad piece, sometimes no closing quote; something after the string.
    fn body() -> impl Strategy<Value = (String, usize)> {
        (
            0..140usize,
            prop::collection::vec(good_piece(), 8..50),
            prop::option::weighted(0.25, (bad_piece(), any::<prop::sample::Index>())),
            prop_oneof![
                Just("\"".to_string()),
                Just("\",\"id\":\"x\\ny\"}".to_string()),
                Just("\"\\\\\"".to_string()),
                Just(format!("\"{}", "z".repeat(100))),
                Just(String::new()),
            ],
            prop::sample::select(vec!["", "{\"text\":\"", "x"]),
        )
            .prop_map(|(k, mut pieces, bad, trailer, lead)| {
                if let Some((bad, at)) = bad {
                    let at = at.index(pieces.len() + 1);
                    pieces.insert(at, bad);
                }
                let s = format!("{lead}{}{}{trailer}", "a".repeat(k), pieces.concat());
                (s, lead.len())
            })
    }

    /// The AVX-512 decoder against the scalar one, both against serde_json, on random
    /// escape-heavy bodies; on this CPU the 64-byte path must have been taken.
    #[test]
    fn avx512_and_scalar_agree_with_serde_on_escape_heavy_strings() {
        use proptest::test_runner::{Config, RngSeed, TestRunner};
        let mut runner = TestRunner::new(Config {
            cases: 3000,
            failure_persistence: None,
            rng_seed: RngSeed::Fixed(0x0a5c_0064),
            ..Config::default()
        });
        let before = in_register();
        let decoded = std::cell::Cell::new(0);
        runner
            .run(&body(), |(s, pos)| {
                decoded.set(decoded.get() + check(s.as_bytes(), pos) as usize);
                Ok(())
            })
            .unwrap();
        assert!(decoded.get() > 1000, "only {} decoded", decoded.get());
        if cpu_has_avx512() {
            assert!(
                in_register() - before > 3000,
                "the AVX-512 path was not taken"
            );
        }
    }
}
