//! JPEG: PIL's `JpegImageFile._open` marker loop (size from the last SOFn before the first SOS,
//! 8-bit samples with 1, 3 or 4 components only), with libjpeg's own verdict on each header
//! marker (`jpeg_scan`); then the rest of the file as libjpeg reads it under PIL's loader
//! (`jpeg_stream`). Arithmetic and lossless frames only get a walk to the EOI marker.

use super::jpeg_scan::{Cursor, Scans, Stop};
use super::jpeg_stream;
use super::probe::{Fail, Size};
use super::source::Reader;

pub(super) const MAGIC: &[u8; 3] = b"\xff\xd8\xff";

fn reject(why: &str) -> Fail {
    Fail::NotAnImage(why.to_string())
}

/// `n = i16(fp.read(2)) - 2; s = ImageFile._safe_read(fp, n)`, the start of every handler.
fn segment(r: &mut Reader) -> Result<Vec<u8>, Fail> {
    let [hi, lo] = r
        .array::<2>()
        .ok_or_else(|| reject("truncated marker segment"))?;
    let n = (usize::from(hi) << 8 | usize::from(lo)).saturating_sub(2);
    let s = r.read_vec(n);
    if s.len() < n {
        return Err(reject("Truncated File Read"));
    }
    Ok(s)
}

pub(super) fn be16(s: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(*s.get(at)?) << 8 | u32::from(*s.get(at + 1)?))
}

/// The handler of marker `0xFFxx`: `None` when PIL's table has no entry ("no marker found").
enum Handler {
    Sof,
    Skip,
    Dqt,
    App,
    Nothing,
}

fn handler(marker: u8) -> Option<Handler> {
    Some(match marker {
        0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF | 0xDE => Handler::Sof,
        0xC4 | 0xCC | 0xDA | 0xDC | 0xDD | 0xDF => Handler::Skip,
        0xDB => Handler::Dqt,
        0xE0..=0xEF => Handler::App,
        0xFE => Handler::Skip, // COM: read and kept, cannot fail beyond the read
        0xC8 | 0xD0..=0xD9 | 0xF0..=0xFD => Handler::Nothing,
        _ => return None,
    })
}

pub(super) fn probe(r: &mut Reader) -> Result<Size, Fail> {
    r.seek(MAGIC.len());
    let mut size = (0u32, 0u32);
    let mut have_sof = false;
    let mut icc_segments: Vec<Vec<u8>> = Vec::new();
    // `s` in PIL's loop: the pending byte (0xFF at the start, the SOI's third byte).
    let mut pending = Some(0xFFu8);
    let mut found_sos = false;
    let mut scans = Scans::default();
    // What libjpeg refuses in the header, raised only once PIL's own `_open` has passed.
    let mut load_error: Option<Fail> = None;
    while let Some(b) = pending {
        if b != 0xFF {
            pending = r.byte(); // skip non-0xFF junk
            continue;
        }
        let Some(code) = r.byte() else { break };
        match code {
            0xFF => {
                pending = Some(0xFF);
                continue;
            }
            0x00 => {
                pending = r.byte();
                continue;
            }
            _ => {}
        }
        let handler = handler(code).ok_or_else(|| reject("no marker found"))?;
        // libjpeg reads the same header markers when PIL loads the image; APPn and COM segments
        // it only skips, as PIL does (no copy of them).
        let judged = if matches!(code, 0xE0..=0xEF | 0xFE) {
            Ok(())
        } else {
            let at = r.pos();
            let bytes = jpeg_stream::window(r);
            r.seek(at);
            scans.header_marker(code, &mut Cursor::new(&bytes))
        };
        match judged {
            Ok(()) => {}
            Err(Stop::Fatal(e)) => {
                load_error.get_or_insert(e);
            }
            Err(Stop::Suspend) => {
                load_error.get_or_insert(Fail::Truncated("image file is truncated".into()));
            }
        }
        match handler {
            Handler::Nothing => {}
            Handler::Skip => {
                segment(r)?;
                if code == 0xDA {
                    found_sos = true;
                    break;
                }
            }
            Handler::App => {
                let s = segment(r)?;
                let short = |len: usize| s.len() < len;
                if (code == 0xE0 && s.starts_with(b"JFIF") && short(7))
                    || (code == 0xEE && s.starts_with(b"Adobe") && short(7))
                {
                    return Err(reject("truncated APP segment"));
                }
                if code == 0xE2 && s.starts_with(b"ICC_PROFILE\0") {
                    icc_segments.push(s);
                }
            }
            Handler::Dqt => {
                let s = segment(r)?;
                let mut rest = s.as_slice();
                while let Some(&v) = rest.first() {
                    let len = 1 + if v / 16 == 0 { 64 } else { 128 };
                    rest = rest
                        .get(len..)
                        .ok_or_else(|| reject("bad quantization table marker"))?;
                }
            }
            Handler::Sof => {
                let s = segment(r)?;
                let (Some(h), Some(w), Some(&layers)) = (be16(&s, 1), be16(&s, 3), s.get(5)) else {
                    return Err(reject("truncated SOF segment"));
                };
                size = (w, h);
                if s.first() != Some(&8) {
                    return Err(reject("cannot handle non-8-bit layers"));
                }
                if !matches!(layers, 1 | 3 | 4) {
                    return Err(reject("cannot handle this number of layers"));
                }
                if (s.len() - 6) % 3 != 0 {
                    return Err(reject("truncated component list in SOF segment"));
                }
                // PIL sorts the ICC fragments and reads byte 13 of the first one.
                if let Some(first) = icc_segments.iter().min() {
                    if first.len() < 14 {
                        return Err(reject("truncated ICC profile segment"));
                    }
                }
                if let Err(e) = scans.sof(code, &s) {
                    load_error.get_or_insert(e);
                }
                have_sof = true;
            }
        }
        pending = r.byte();
    }
    if !have_sof || size.0 == 0 || size.1 == 0 {
        return Err(reject("not identified by this driver"));
    }
    if !found_sos {
        return Err(Fail::Truncated("image file has no scan data".into()));
    }
    if let Some(e) = load_error {
        return Err(e);
    }
    if jpeg_stream::judges(&scans) {
        jpeg_stream::finish(r, &mut scans)?;
        return Ok(size);
    }
    if find_eoi(r)? {
        Ok(size)
    } else {
        Err(Fail::Truncated("image file is truncated".into()))
    }
}

/// Arithmetic and lossless frames (not judged by `jpeg_stream`): walks the scans to the EOI
/// marker, skipping the marker segments between them by length.
fn find_eoi(r: &mut Reader) -> Result<bool, Fail> {
    while r.find(0xFF).is_some() {
        r.skip(1);
        let mut code = 0xFF;
        while code == 0xFF {
            match r.byte() {
                Some(c) => code = c,
                None => return Ok(false),
            }
        }
        match code {
            0xD9 => return Ok(true),
            0x00 | 0x01 | 0xD0..=0xD8 => {} // stuffed byte, TEM, restart markers, stray SOI
            _ => {
                let Some([hi, lo]) = r.array::<2>() else {
                    return Ok(false);
                };
                let n = (usize::from(hi) << 8 | usize::from(lo)).saturating_sub(2);
                if !r.skip(n) {
                    // Not necessarily a truncated file: corrupt scan data can hold a marker, and
                    // libjpeg may finish the image without reading its "segment".
                    return Err(Fail::Undecided(
                        "JPEG marker segment running past the end of the file".into(),
                    ));
                }
            }
        }
    }
    Ok(false)
}
