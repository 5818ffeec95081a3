//! GIF: PIL's `GifImageFile._open` + `_seek(0)`. The size is the logical screen, grown to cover
//! the first frame when that frame reaches beyond it (what `Image.size` reports). Loading decodes
//! the first frame only: with the pixel check on, its LZW data is decoded as PIL does
//! (`gif_lzw.rs`); off, only its sub-blocks are walked (a file that ends inside them is left to
//! mistral_common).

use super::probe::{Fail, Size};
use super::source::Reader;

pub(super) fn is_gif(prefix: &[u8]) -> bool {
    prefix.starts_with(b"GIF87a") || prefix.starts_with(b"GIF89a")
}

fn reject(why: &str) -> Fail {
    Fail::NotAnImage(why.to_string())
}

/// `GifImageFile.data()`: one sub-block, `None` for the terminator or the end of the file.
fn sub_block(r: &mut Reader) -> Option<Vec<u8>> {
    match r.byte() {
        Some(n) if n > 0 => Some(r.read_vec(usize::from(n))),
        _ => None,
    }
}

fn le16(s: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(*s.get(at)?) | u32::from(*s.get(at + 1)?) << 8)
}

/// `_is_palette_needed` indexes `p[i + 1]`, `p[i + 2]` only while the palette is the identity.
fn palette_check(p: &[u8]) -> Result<(), Fail> {
    for (k, triple) in p.chunks(3).enumerate() {
        let first = triple.first().copied().map(usize::from);
        if first != Some(k) {
            return Ok(());
        }
        if triple.len() < 3 {
            return Err(reject("truncated palette"));
        }
        if triple.iter().any(|&b| usize::from(b) != k) {
            return Ok(());
        }
    }
    Ok(())
}

pub(super) fn probe(r: &mut Reader, check_pixels: bool) -> Result<Size, Fail> {
    let screen = r.read_vec(13);
    let (Some(w), Some(h), Some(&flags)) = (le16(&screen, 6), le16(&screen, 8), screen.get(10))
    else {
        return Err(reject("truncated GIF header"));
    };
    let mut size = (w, h);
    if flags & 0x80 != 0 {
        let p = r.read_vec(3 << ((flags & 7) + 1));
        palette_check(&p)?;
    }

    // `_seek(0)`: extensions up to the first image descriptor.
    let mut pending: Option<u8> = None;
    loop {
        let b = match pending.take() {
            Some(b) => b,
            None => match r.byte() {
                None | Some(b';') => return Err(reject("image not found in GIF frame")),
                Some(b) => b,
            },
        };
        match b {
            b'!' => {
                let label = r.byte().ok_or_else(|| reject("truncated extension"))?;
                let block = sub_block(r);
                match (label, block) {
                    (249, Some(block)) => {
                        let flags = *block.first().ok_or_else(|| reject("bad GCE"))?;
                        if (flags & 1 != 0 && block.len() < 4) || block.len() < 3 {
                            return Err(reject("truncated graphic control extension"));
                        }
                    }
                    (254, mut block) => {
                        // Comment: every sub-block, then straight to the next introducer.
                        while block.is_some() {
                            block = sub_block(r);
                        }
                        continue;
                    }
                    (255, Some(block)) if block.starts_with(b"NETSCAPE2.0") => {
                        let _ = sub_block(r);
                    }
                    _ => {}
                }
                while sub_block(r).is_some() {}
            }
            b',' => {
                let d = r.read_vec(9);
                let (Some(x0), Some(y0), Some(fw), Some(fh), Some(&flags)) =
                    (le16(&d, 0), le16(&d, 2), le16(&d, 4), le16(&d, 6), d.get(8))
                else {
                    return Err(reject("truncated image descriptor"));
                };
                let (x1, y1) = (x0 + fw, y0 + fh);
                if x1 > size.0 || y1 > size.1 {
                    size = (x1.max(size.0), y1.max(size.1));
                    super::probe::bomb_check(size)?;
                }
                if flags & 0x80 != 0 {
                    let p = r.read_vec(3 << ((flags & 7) + 1));
                    palette_check(&p)?;
                }
                let bits = r.byte().ok_or_else(|| reject("truncated image data"))?;
                if !(1..=11).contains(&bits) {
                    return Err(Fail::Undecided(format!(
                        "GIF LZW minimum code size {bits} is not read natively"
                    )));
                }
                if check_pixels {
                    if fw == 0 || fh == 0 {
                        return Err(Fail::Undecided("GIF frame of zero size".into()));
                    }
                    return match super::gif_lzw::first_frame(r, bits, fw, fh) {
                        Ok(true) => Ok(size),
                        Ok(false) => Err(Fail::Truncated("image file is truncated".into())),
                        Err(()) => Err(Fail::Truncated(
                            "broken data stream when reading image file".into(),
                        )),
                    };
                }
                break;
            }
            _ => {} // PIL ignores any other byte here
        }
    }

    // The first frame's LZW data: sub-blocks up to the terminator.
    loop {
        let Some(n) = r.byte() else {
            return Err(Fail::Undecided(
                "GIF file ends inside its first frame's data".into(),
            ));
        };
        if n == 0 {
            return Ok(size);
        }
        if !r.skip(usize::from(n)) {
            return Err(Fail::Undecided(
                "GIF file ends inside its first frame's data".into(),
            ));
        }
    }
}
