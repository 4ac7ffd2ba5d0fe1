//! Whole-buffer gunzip with libdeflate, much faster than the streaming zlib-rs decoder
//! (docs/design.md). It needs the compressed file in memory (the reader has it anyway, for the
//! hash) and cannot overlap parsing, but the parse workers are faster than the streaming
//! decoder was, so the whole read is shorter.

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE,
    libdeflate_result_LIBDEFLATE_SUCCESS,
};

/// Owns a libdeflate decompressor.
struct Decompressor(*mut libdeflate_decompressor);

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor, freed once.
        unsafe { libdeflate_free_decompressor(self.0) }
    }
}

/// Every gzip member of `data`, decompressed and concatenated (as `gzip -dc` and flate2's
/// `MultiGzDecoder` do), or None if libdeflate refuses the data: the streaming decoder then
/// reads it again and reports what is wrong.
pub(super) fn gunzip(data: &[u8]) -> Option<Vec<u8>> {
    // SAFETY: no preconditions; null on allocation failure.
    let d = Decompressor(unsafe { libdeflate_alloc_decompressor() });
    if d.0.is_null() {
        return None;
    }
    // The last member's trailer holds its size modulo 4 GiB: exact for the usual single member.
    let hint = match data.len().checked_sub(4) {
        Some(i) => u32::from_le_bytes(data[i..].try_into().ok()?) as usize,
        None => return None,
    };
    let mut out = vec![0u8; hint.max(1 << 16)];
    let (mut read, mut written) = (0usize, 0usize);
    while read < data.len() {
        let (mut used_in, mut used_out) = (0usize, 0usize);
        // SAFETY: both ranges lie inside live buffers of the stated lengths, and libdeflate writes
        // only within `out[written..]`.
        let result = unsafe {
            libdeflate_gzip_decompress_ex(
                d.0,
                data[read..].as_ptr().cast(),
                data.len() - read,
                out[written..].as_mut_ptr().cast(),
                out.len() - written,
                &mut used_in,
                &mut used_out,
            )
        };
        if result == libdeflate_result_LIBDEFLATE_SUCCESS && used_in > 0 {
            read += used_in;
            written += used_out;
        } else if result == libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE {
            // Another member follows, or the size hint wrapped: room for more, then this member again.
            let grown = out.len().checked_mul(2)?;
            out.resize(grown, 0);
        } else {
            return None;
        }
    }
    out.truncate(written);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn single_and_multiple_members_as_gzip_does() {
        let a: Vec<u8> = (0..200_000u32).flat_map(|i| format!("{i},{}\n", i * 7).into_bytes()).collect();
        assert_eq!(gunzip(&gz(&a)).unwrap(), a);
        // Two members, the second smaller: the last trailer's size is not the whole.
        let b = b"second member\n".to_vec();
        let both = [gz(&a), gz(&b)].concat();
        let mut want = Vec::new();
        flate2::read::MultiGzDecoder::new(&both[..]).read_to_end(&mut want).unwrap();
        assert_eq!(gunzip(&both).unwrap(), want);
        // The same member twice: sizes and checksums agree, both copies still come out.
        let twice = [gz(&b), gz(&b)].concat();
        assert_eq!(gunzip(&twice).unwrap(), [b.clone(), b].concat());
        assert_eq!(gunzip(&gz(b"")).unwrap(), b"");
    }

    #[test]
    fn refuses_what_is_not_whole_gzip() {
        let data = gz(b"1,2,3\n4,5,6\n");
        assert!(gunzip(&data[..data.len() - 3]).is_none(), "truncated");
        assert!(gunzip(&[data.clone(), b"junk".to_vec()].concat()).is_none(), "trailing bytes");
        let mut flipped = data.clone();
        flipped[12] ^= 0xff;
        assert!(gunzip(&flipped).is_none(), "corrupt");
        assert!(gunzip(b"").is_none());
    }
}
