//! Flat arrays of a database that are either owned (built by `learn` or `merge`, or converted
//! from an old file) or read in place from the bytes of a `.dsig` file.
//!
//! Why: decoding a database into per-entry structures (1.1 M `String`s, 17 M varints for the
//! man pages) was a fifth of `clean --db`. A format-2 file stores every column as raw
//! little-endian values at an 8-byte-aligned offset, so a [`Column`] can be a view of the
//! memory-mapped file: loading costs the checksum and a few validation passes, and nothing is
//! copied. Anything that cannot be viewed in place (a misaligned column, a big-endian host)
//! is copied into an owned `Vec`, so callers never see the difference.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// Plain values a column may hold: any bit pattern is valid, stored little-endian.
pub trait Pod: Copy + Default + PartialEq + fmt::Debug + Send + Sync + 'static {
    /// Bytes per value.
    const SIZE: usize;
    /// The value stored little-endian in `b` (`b.len() == SIZE`).
    fn from_le(b: &[u8]) -> Self;
    /// Appends the value's little-endian bytes.
    fn push_le(self, out: &mut Vec<u8>);
}

impl Pod for u8 {
    const SIZE: usize = 1;
    fn from_le(b: &[u8]) -> Self {
        b[0]
    }
    fn push_le(self, out: &mut Vec<u8>) {
        out.push(self);
    }
}

impl Pod for u32 {
    const SIZE: usize = 4;
    fn from_le(b: &[u8]) -> Self {
        u32::from_le_bytes(b.try_into().expect("4 bytes"))
    }
    fn push_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Pod for u64 {
    const SIZE: usize = 8;
    fn from_le(b: &[u8]) -> Self {
        u64::from_le_bytes(b.try_into().expect("8 bytes"))
    }
    fn push_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// Hands the little-endian bytes of `values` to `emit` in chunks (the values themselves on a
/// little-endian host, no copy).
pub fn le_bytes<T: Pod>(values: &[T], mut emit: impl FnMut(&[u8])) {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: `T` is a plain integer type (sealed by `Pod`'s implementations): every byte
        // of an initialized value is initialized, and the length is the slice's size.
        let bytes = unsafe {
            std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
        };
        emit(bytes);
    }
    #[cfg(not(target_endian = "little"))]
    {
        let mut buf = Vec::with_capacity(T::SIZE * 4096);
        for part in values.chunks(4096) {
            buf.clear();
            for &v in part {
                v.push_le(&mut buf);
            }
            emit(&buf);
        }
    }
}

/// The bytes of a whole database file, kept alive by every column viewing them.
pub struct Backing {
    repr: BackingRepr,
}

enum BackingRepr {
    /// A private read-only memory map of a regular file.
    Mapped { ptr: *mut libc::c_void, len: usize },
    /// A copy in memory, 8-byte aligned (from a pipe, or [`super::format::decode`]'s slice).
    Heap { words: Vec<u64>, len: usize },
}

// SAFETY: the map is read-only and private, and is only unmapped when the last `Arc` drops.
unsafe impl Send for Backing {}
// SAFETY: as above; nothing ever writes through the pointer.
unsafe impl Sync for Backing {}

impl Backing {
    /// Maps `file` read-only, when it is a non-empty regular file that can be mapped.
    ///
    /// Caveat shared with every memory map: if another process truncates the file while it
    /// is in use, the process gets `SIGBUS` instead of an error. dupsift itself only ever
    /// replaces databases by renaming a new file into place, which leaves a mapped one intact.
    pub fn map(file: &std::fs::File) -> Option<Backing> {
        use std::os::unix::io::AsRawFd;
        let meta = file.metadata().ok()?;
        let len = usize::try_from(meta.len()).ok()?;
        if !meta.is_file() || len == 0 {
            return None;
        }
        // SAFETY: a fresh private read-only mapping of a regular file we hold open; it is
        // unmapped only in `drop`, and slices of it never outlive `self`. MAP_POPULATE maps
        // every page at once (the checksum reads all of them) instead of faulting per page.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_POPULATE,
                file.as_raw_fd(),
                0,
            )
        };
        (ptr != libc::MAP_FAILED).then_some(Backing {
            repr: BackingRepr::Mapped { ptr, len },
        })
    }

    /// An aligned copy of `bytes`.
    pub fn copy(bytes: &[u8]) -> Backing {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        for (w, c) in words.iter_mut().zip(bytes.chunks(8)) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            *w = u64::from_ne_bytes(b);
        }
        Backing {
            repr: BackingRepr::Heap {
                words,
                len: bytes.len(),
            },
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.repr {
            // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives.
            BackingRepr::Mapped { ptr, len } => unsafe {
                std::slice::from_raw_parts(*ptr as *const u8, *len)
            },
            // SAFETY: `words` holds at least `len` initialized bytes.
            BackingRepr::Heap { words, len } => unsafe {
                std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), *len)
            },
        }
    }
}

impl Drop for Backing {
    fn drop(&mut self) {
        if let BackingRepr::Mapped { ptr, len } = self.repr {
            // SAFETY: unmaps exactly the mapping made in `map`; no column views it any more
            // (each holds an `Arc` to this backing).
            unsafe { libc::munmap(ptr, len) };
        }
    }
}

/// A flat array: owned, or `len` values at byte `offset` of a [`Backing`].
pub struct Column<T: Pod> {
    repr: Repr<T>,
}

enum Repr<T> {
    Owned(Vec<T>),
    InPlace {
        backing: Arc<Backing>,
        offset: usize,
        len: usize,
    },
}

impl<T: Pod> Column<T> {
    /// The `len` values stored little-endian at byte `offset` of `backing` (the caller has
    /// checked that they lie inside it). Viewed in place when aligned on a little-endian host,
    /// copied otherwise.
    pub fn in_place(backing: &Arc<Backing>, offset: usize, len: usize) -> Self {
        let bytes = &backing.bytes()[offset..offset + len * T::SIZE];
        let aligned = (bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>());
        if cfg!(target_endian = "little") && aligned {
            Column {
                repr: Repr::InPlace {
                    backing: Arc::clone(backing),
                    offset,
                    len,
                },
            }
        } else {
            Column::from(
                bytes
                    .chunks_exact(T::SIZE)
                    .map(T::from_le)
                    .collect::<Vec<T>>(),
            )
        }
    }

    /// The values, made owned first if they were viewed in place.
    pub fn make_mut(&mut self) -> &mut Vec<T> {
        if let Repr::InPlace { .. } = self.repr {
            self.repr = Repr::Owned(self.to_vec());
        }
        match &mut self.repr {
            Repr::Owned(v) => v,
            Repr::InPlace { .. } => unreachable!("made owned above"),
        }
    }

    /// True when the values are viewed in the file's bytes rather than owned.
    pub fn is_in_place(&self) -> bool {
        matches!(self.repr, Repr::InPlace { .. })
    }
}

impl<T: Pod> Deref for Column<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match &self.repr {
            Repr::Owned(v) => v,
            Repr::InPlace {
                backing,
                offset,
                len,
            } => {
                let bytes = &backing.bytes()[*offset..*offset + *len * T::SIZE];
                // SAFETY: `in_place` only builds this variant when the bytes are aligned for
                // `T` and the host is little-endian; `T` is a plain integer (any bit pattern
                // is valid) and the bytes live as long as the `Arc` held here.
                unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), *len) }
            }
        }
    }
}

impl<T: Pod> From<Vec<T>> for Column<T> {
    fn from(v: Vec<T>) -> Self {
        Column {
            repr: Repr::Owned(v),
        }
    }
}

impl<T: Pod> Default for Column<T> {
    fn default() -> Self {
        Column::from(Vec::new())
    }
}

impl<T: Pod> Clone for Column<T> {
    fn clone(&self) -> Self {
        match &self.repr {
            Repr::Owned(v) => Column::from(v.clone()),
            Repr::InPlace {
                backing,
                offset,
                len,
            } => Column {
                repr: Repr::InPlace {
                    backing: Arc::clone(backing),
                    offset: *offset,
                    len: *len,
                },
            },
        }
    }
}

impl<T: Pod> PartialEq for Column<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Pod> fmt::Debug for Column<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_place_and_copied_columns_read_the_same_values() {
        let values: Vec<u64> = (0..100u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let mut bytes = vec![0u8; 3];
        le_bytes(&values, |b| bytes.extend_from_slice(b));
        let backing = Arc::new(Backing::copy(&bytes));
        // Offset 3 is misaligned: copied. Then an aligned copy of the same bytes: in place.
        let copied = Column::<u64>::in_place(&backing, 3, values.len());
        assert!(!copied.is_in_place());
        assert_eq!(&*copied, values.as_slice());
        let aligned = Arc::new(Backing::copy(&bytes[3..]));
        let mut viewed = Column::<u64>::in_place(&aligned, 0, values.len());
        assert_eq!(viewed.is_in_place(), cfg!(target_endian = "little"));
        assert_eq!(viewed, copied);
        viewed.make_mut()[0] = 7;
        assert!(!viewed.is_in_place());
        assert_eq!(viewed[0], 7);
        assert_eq!(&viewed[1..], &values[1..]);
        let small = Column::<u32>::in_place(&aligned, 4, 3);
        assert_eq!(
            small.to_vec(),
            bytes[7..19]
                .chunks(4)
                .map(<u32 as Pod>::from_le)
                .collect::<Vec<u32>>()
        );
    }
}
