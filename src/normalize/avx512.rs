//! [`super::normalize_into`] of ASCII text 64 bytes at a time with AVX-512.
//!
//! Why: the scalar loop is branch-free but spends ~25 instructions per byte, and was the
//! largest single function of `clean --db` (13 % of the man pages' run, 1.68 M blocks of ~56
//! bytes). Here a block of up to 64 bytes is one table lookup (`vpermi2b`), two compares and
//! one byte compress.
//!
//! The rule being computed: every kept byte (letter or digit, already lowercased / turned
//! into `0` by the table) is written, preceded by one space when ASCII white space lies
//! between it and the previous kept byte; nothing before the first kept byte or after the
//! last. Bytes that are neither are dropped and do not separate words. In the bitmaps of a
//! chunk, with `X` = kept or white space: a white-space byte is written (as the space) exactly
//! when the next `X` byte after it is kept and something was written before it. "The next `X`
//! byte" is a shift by one after compressing the bitmaps to the `X` positions (`pext`), and
//! `pdep` puts the result back. Whatever a chunk leaves pending (white space after written
//! text at its end) becomes one space before the next chunk's output if that chunk's first
//! `X` byte is kept.

use std::arch::x86_64::*;

/// [`super::ASCII_CLASS`] as the byte to write: `b' '` for white space, 0 for dropped bytes
/// (and for non-ASCII bytes, which make [`normalize_ascii`] give up before any is used).
static ASCII_OUT: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        t[b] = match super::ASCII_CLASS[b] {
            super::SPACE => b' ',
            c if c >= super::FIRST_KEPT => c,
            _ => 0,
        };
        b += 1;
    }
    t
};

/// Whether this CPU has what [`normalize_ascii`] needs (see [`crate::cpu`]).
pub(super) fn available() -> bool {
    crate::cpu::avx512_vbmi2()
}

/// Normalizes `text` into `buf` (cleared first) when it is all ASCII and returns the number of
/// spaces written; returns `None`, with `buf` empty, at the first chunk holding a non-ASCII
/// byte (the caller then runs the scalar path, which handles Unicode words).
///
/// # Safety
/// The CPU must have the features [`available`] checks.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vbmi2,bmi1,bmi2,popcnt")]
pub(super) unsafe fn normalize_ascii(text: &[u8], buf: &mut Vec<u8>) -> Option<usize> {
    let n = text.len();
    buf.clear();
    // Room: before each chunk `p` is at most the bytes read so far (a written byte is a read
    // byte of this or an earlier chunk, and the pending space stands for an unwritten white
    // space byte), then one pending space and a full 64-byte store: `n + 65`.
    buf.reserve(n + 66);
    let dst = buf.as_mut_ptr();
    // SAFETY: ASCII_OUT holds 128 bytes.
    let (lo, hi) = unsafe {
        (
            _mm512_loadu_si512(ASCII_OUT.as_ptr().cast()),
            _mm512_loadu_si512(ASCII_OUT.as_ptr().add(64).cast()),
        )
    };
    let zero_char = _mm512_set1_epi8(b'0' as i8);
    let space_char = _mm512_set1_epi8(b' ' as i8);
    let (mut p, mut pending, mut started) = (0usize, false, false);
    let mut spaces_written = 0usize;
    let mut i = 0;
    while i < n {
        let len = (n - i).min(64);
        let valid = if len == 64 { !0u64 } else { (1u64 << len) - 1 };
        // SAFETY: a masked load of text[i..i + len]; the other lanes are zero (dropped bytes).
        let x = unsafe { _mm512_maskz_loadu_epi8(valid, text.as_ptr().add(i).cast()) };
        if _mm512_movepi8_mask(x) != 0 {
            return None;
        }
        // Bit 6 of an ASCII byte picks the table half, bits 0..5 the entry.
        let out = _mm512_permutex2var_epi8(lo, x, hi);
        let kept = _mm512_cmpge_epu8_mask(out, zero_char);
        let white = _mm512_cmpeq_epi8_mask(out, space_char);
        let x_bits = kept | white;
        if x_bits != 0 {
            // The bitmaps in `X` order: bit j is the j-th kept-or-white byte of the chunk.
            let kc = _pext_u64(kept, x_bits);
            let wc = _pext_u64(white, x_bits);
            let mut spaces = wc & (kc >> 1);
            if !started {
                // Nothing written yet: white space before the first kept byte writes nothing.
                spaces &= !0u64 << kc.trailing_zeros().min(63);
            }
            let write = kept | _pdep_u64(spaces, x_bits);
            spaces_written += spaces.count_ones() as usize;
            if pending && kc & 1 != 0 {
                // SAFETY: p + 1 <= n + 65 <= capacity (see "Room").
                unsafe { dst.add(p).write(b' ') };
                p += 1;
                spaces_written += 1;
            }
            // SAFETY: the 64-byte store at p ends at most at n + 65 <= capacity.
            unsafe {
                _mm512_storeu_si512(dst.add(p).cast(), _mm512_maskz_compress_epi8(write, out))
            };
            p += write.count_ones() as usize;
            started |= kept != 0;
            let last = 63 - x_bits.leading_zeros();
            pending = started && white >> last & 1 != 0;
        }
        i += len;
    }
    // SAFETY: the first p bytes were written.
    unsafe { buf.set_len(p) };
    Some(spaces_written)
}
