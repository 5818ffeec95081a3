//! BMP: the common uncompressed Windows bitmaps (`BITMAPINFOHEADER` and its V4/V5 extensions,
//! 1/4/8/24/32 bits per pixel, `BI_RGB`). PIL's size is (width, |height|) with its own reading
//! of a top-down (negative) height. Other variants (OS/2, RLE, bit fields …) are `Undecided`.

use super::probe::{Fail, Size};
use super::source::Reader;

fn le32(s: &[u8], at: usize) -> Option<u32> {
    let b = s.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn undecided(why: &str) -> Fail {
    Fail::Undecided(format!("BMP file not read natively: {why}"))
}

pub(super) fn probe(r: &mut Reader) -> Result<Size, Fail> {
    let file_header = r.read_vec(14);
    let offset = le32(&file_header, 10).ok_or_else(|| undecided("short file header"))? as usize;
    let head = r.read_vec(4);
    let header_size = le32(&head, 0).ok_or_else(|| undecided("short info header"))? as usize;
    if !matches!(header_size, 40 | 108 | 124) {
        return Err(undecided("header type"));
    }
    let h = r.read_vec(header_size - 4);
    if h.len() < header_size - 4 {
        return Err(undecided("short info header"));
    }
    let field = |at: usize| le32(&h, at).unwrap_or(0);
    let width = field(0);
    let raw_height = field(4);
    // PIL: y_flip when the top byte of the height is 0xFF, then height = 2**32 - value.
    let height = if h.get(7) == Some(&0xFF) {
        raw_height.wrapping_neg()
    } else {
        raw_height
    };
    let bits = u32::from(h.get(10).copied().unwrap_or(0))
        | u32::from(h.get(11).copied().unwrap_or(0)) << 8;
    let compression = field(12);
    let colors = field(28);
    if compression != 0 || !matches!(bits, 1 | 4 | 8 | 24 | 32) {
        return Err(undecided("compression or pixel depth"));
    }
    if bits <= 8 && u64::from(colors) > 1u64 << bits {
        return Err(undecided("palette size"));
    }
    if width == 0 || height == 0 || u64::from(width) * u64::from(height) > 1 << 31 {
        return Err(undecided("size"));
    }
    // Where PIL starts reading pixels, and how much of the last row its raw decoder needs.
    let mut start = offset;
    if offset == 14 + header_size && bits <= 8 {
        let n = if colors == 0 {
            1usize << bits
        } else {
            colors as usize
        };
        start += 4 * n;
    }
    let stride = ((u64::from(width) * u64::from(bits) + 31) >> 3) & !3;
    let last_row = (u64::from(width) * u64::from(bits)).div_ceil(8);
    let needed = start as u64 + stride * (u64::from(height) - 1) + last_row;
    if (r.len() as u64) < needed {
        return Err(undecided("file shorter than its pixel data"));
    }
    Ok((width, height))
}
