//! WebP: PIL hands the whole file to libwebp's demuxer, which refuses data shorter than the RIFF
//! size says ("could not create decoder object") and reports the canvas size. Simple files
//! (one `VP8 ` or `VP8L` chunk) are read natively; `VP8X` files when still and consistent, or
//! animated (canvas size). Anything unusual is left to mistral_common (`Undecided`).

use super::probe::{Fail, Size};
use super::source::Reader;

pub(super) fn is_webp(prefix: &[u8]) -> bool {
    prefix.starts_with(b"RIFF")
        && prefix.get(8..12) == Some(b"WEBP")
        && matches!(prefix.get(12..16), Some(b"VP8 " | b"VP8L" | b"VP8X"))
}

fn le(s: &[u8], at: usize, n: usize) -> Option<u32> {
    let b = s.get(at..at + n)?;
    Some(b.iter().rev().fold(0u32, |acc, &x| acc << 8 | u32::from(x)))
}

fn undecided(why: &str) -> Fail {
    Fail::Undecided(format!("WebP file not read natively: {why}"))
}

/// The frame size a `VP8 ` or `VP8L` chunk payload declares.
fn bitstream_size(fourcc: &[u8], payload: &[u8], chunk_len: usize) -> Result<Size, Fail> {
    match fourcc {
        b"VP8 " => {
            let tag = le(payload, 0, 3).ok_or_else(|| undecided("short VP8 header"))?;
            let key_frame = tag & 1 == 0;
            let profile = (tag >> 1) & 7;
            let shown = (tag >> 4) & 1 == 1;
            let partition = tag >> 5;
            if !key_frame || profile > 3 || !shown || partition as usize >= chunk_len {
                return Err(undecided("unusual VP8 frame header"));
            }
            if payload.get(3..6) != Some(&[0x9d, 0x01, 0x2a]) {
                return Err(undecided("bad VP8 start code"));
            }
            let w = le(payload, 6, 2).ok_or_else(|| undecided("short VP8 header"))? & 0x3fff;
            let h = le(payload, 8, 2).ok_or_else(|| undecided("short VP8 header"))? & 0x3fff;
            Ok((w, h))
        }
        b"VP8L" => {
            if payload.first() != Some(&0x2f) {
                return Err(undecided("bad VP8L signature"));
            }
            let bits = le(payload, 1, 4).ok_or_else(|| undecided("short VP8L header"))?;
            if bits >> 29 != 0 {
                return Err(undecided("unknown VP8L version"));
            }
            Ok(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        _ => Err(undecided("no VP8/VP8L bitstream")),
    }
}

pub(super) fn probe(r: &mut Reader) -> Result<Size, Fail> {
    let head = r.read_vec(12);
    let riff = le(&head, 4, 4).ok_or_else(|| undecided("short RIFF header"))? as usize;
    if riff.saturating_add(8) > r.len() {
        return Err(Fail::NotAnImage("could not create decoder object".into()));
    }
    if riff < 12 || riff % 2 == 1 {
        return Err(undecided("odd RIFF size"));
    }
    let end = riff + 8;
    // The chunks inside the RIFF payload.
    let mut chunks: Vec<([u8; 4], usize, usize)> = Vec::new(); // (fourcc, payload start, len)
    let mut pos = 12;
    while pos + 8 <= end {
        r.seek(pos);
        let h = r.read_vec(8);
        let (Some(fourcc), Some(len)) = (h.get(..4), le(&h, 4, 4)) else {
            return Err(undecided("short chunk header"));
        };
        let len = len as usize;
        let padded = len + (len & 1);
        if pos + 8 + padded > end {
            return Err(undecided("chunk beyond the RIFF size"));
        }
        let mut cc = [0u8; 4];
        cc.copy_from_slice(fourcc);
        chunks.push((cc, pos + 8, len));
        pos += 8 + padded;
    }
    if pos != end {
        return Err(undecided("trailing bytes inside the RIFF chunk"));
    }
    let payload = |r: &mut Reader, start: usize, len: usize, max: usize| {
        r.seek(start);
        r.read_vec(len.min(max))
    };
    let Some(&(first, start, len)) = chunks.first() else {
        return Err(undecided("no chunk"));
    };
    match &first {
        b"VP8 " | b"VP8L" => {
            if chunks.len() != 1 {
                return Err(undecided("extra chunks after a simple bitstream"));
            }
            let p = payload(r, start, len, 16);
            let (w, h) = bitstream_size(&first, &p, len)?;
            if first == *b"VP8 " && len < 10 {
                return Err(undecided("short VP8 chunk"));
            }
            Ok((w, h))
        }
        b"VP8X" => {
            let x = payload(r, start, len, 10);
            if len < 10 || x.len() < 10 {
                return Err(undecided("short VP8X chunk"));
            }
            let flags = x.first().copied().unwrap_or(0);
            let cw = le(&x, 4, 3).unwrap_or(0) + 1;
            let ch = le(&x, 7, 3).unwrap_or(0) + 1;
            let animated = flags & 0x02 != 0;
            if animated {
                if !chunks.iter().any(|(cc, _, _)| cc == b"ANMF") {
                    return Err(undecided("animation without frames"));
                }
                return Ok((cw, ch));
            }
            let frames: Vec<_> = chunks
                .iter()
                .filter(|(cc, _, _)| cc == b"VP8 " || cc == b"VP8L")
                .collect();
            let [&(cc, s, l)] = frames.as_slice() else {
                return Err(undecided("a still VP8X file needs exactly one bitstream"));
            };
            let p = payload(r, s, l, 16);
            let size = bitstream_size(&cc, &p, l)?;
            if size != (cw, ch) {
                return Err(undecided("canvas and bitstream sizes differ"));
            }
            Ok(size)
        }
        _ => Err(undecided("unknown first chunk")),
    }
}
