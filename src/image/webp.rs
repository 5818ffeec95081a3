//! WebP: PIL hands the whole file to libwebp's demuxer, which refuses data shorter than the RIFF
//! size says ("could not create decoder object") and reports the canvas size, then decodes the
//! first frame when the pixels are loaded. Simple files (one `VP8 ` or `VP8L` chunk) are read
//! natively; `VP8X` files when still and consistent, or animated (canvas size). With the pixel
//! check on, the first frame's bitstream is decoded as libwebp decodes it (`webp_lossy`,
//! `webp_lossless`), with its `ALPH` chunk where libwebp uses one. Anything unusual is left to
//! mistral_common (`Undecided`).

use super::probe::{bomb_check, Fail, Size};
use super::source::Reader;
use super::{webp_lossless, webp_lossy};

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

/// What PIL raises when libwebp cannot decode the first frame (`WebPAnimDecoderGetNext` fails).
pub(super) fn frame_failed() -> Fail {
    Fail::Truncated("failed to read next frame".into())
}

/// A chunk inside the RIFF payload.
#[derive(Clone, Copy)]
struct Chunk {
    fourcc: [u8; 4],
    /// Where its payload starts in the file.
    start: usize,
    len: usize,
}

impl Chunk {
    /// The payload with its pad byte: the demuxer hands libwebp's decoders whole chunks, so the
    /// last VP8 partition (and a VP8L stream) runs on into the pad byte.
    fn padded(&self, r: &mut Reader) -> Vec<u8> {
        r.seek(self.start);
        r.read_vec(self.len + (self.len & 1))
    }

    fn payload(&self, r: &mut Reader, max: usize) -> Vec<u8> {
        r.seek(self.start);
        r.read_vec(self.len.min(max))
    }
}

/// The chunks libwebp decodes for one frame: a `VP8 ` or `VP8L` bitstream, and the `ALPH`
/// chunk that goes with a `VP8 ` one.
struct Frame {
    image: Chunk,
    alpha: Option<Chunk>,
}

/// What PIL raises when libwebp's demuxer refuses the file.
fn no_decoder() -> Fail {
    Fail::NotAnImage("could not create decoder object".into())
}

/// The frame size a `VP8 ` or `VP8L` chunk payload declares, checked as `WebPGetFeatures`
/// checks it when the demuxer stores the frame (a refusal there fails `Image.open`).
fn bitstream_size(r: &mut Reader, chunk: &Chunk) -> Result<Size, Fail> {
    let payload = chunk.payload(r, 16);
    // the demuxer hands over the chunk with its pad byte
    let available = chunk.len + (chunk.len & 1);
    match &chunk.fourcc {
        b"VP8 " => {
            if available < 10 {
                return Err(no_decoder());
            }
            let (Some(tag), Some(w), Some(h)) =
                (le(&payload, 0, 3), le(&payload, 6, 2), le(&payload, 8, 2))
            else {
                return Err(undecided("a VP8 chunk shorter than its header"));
            };
            let key_frame = tag & 1 == 0;
            let profile = (tag >> 1) & 7;
            let shown = (tag >> 4) & 1 == 1;
            let first_partition = (tag >> 5) as usize;
            if payload.get(3..6) != Some(&[0x9d, 0x01, 0x2a])
                || !key_frame
                || profile > 3
                || !shown
                || first_partition >= chunk.len
            {
                return Err(no_decoder());
            }
            Ok((w & 0x3fff, h & 0x3fff))
        }
        b"VP8L" => {
            let Some(bits) = le(&payload, 1, 4) else {
                return Err(no_decoder());
            };
            if payload.first() != Some(&0x2f) || bits >> 29 != 0 {
                return Err(no_decoder());
            }
            Ok(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        _ => Err(undecided("no VP8/VP8L bitstream")),
    }
}

/// The chunks laid end to end in `start..end`, or `None` when one runs past `end`.
fn chunks_in(r: &mut Reader, start: usize, end: usize) -> Option<Vec<Chunk>> {
    let mut chunks = Vec::new();
    let mut pos = start;
    while pos + 8 <= end {
        r.seek(pos);
        let h = r.read_vec(8);
        let (Some(fourcc), Some(len)) = (h.get(..4), le(&h, 4, 4)) else {
            return None;
        };
        let len = len as usize;
        let padded = len + (len & 1);
        if pos + 8 + padded > end {
            return None;
        }
        let mut cc = [0u8; 4];
        cc.copy_from_slice(fourcc);
        chunks.push(Chunk {
            fourcc: cc,
            start: pos + 8,
            len,
        });
        pos += 8 + padded;
    }
    (pos == end).then_some(chunks)
}

fn is_frame_chunk(c: &Chunk) -> bool {
    matches!(&c.fourcc, b"ALPH" | b"VP8 " | b"VP8L")
}

/// A frame as the demuxer stores one (`StoreFrame`): an optional `ALPH` chunk directly followed
/// by the bitstream. Only the layouts libwebp's encoder writes are taken; `ALPH` before `VP8L`
/// (a demuxer error), doubled chunks and the like are left to mistral_common.
fn frame_at(chunks: &[Chunk]) -> Result<(Frame, usize), Fail> {
    match chunks {
        [a, image, ..] if &a.fourcc == b"ALPH" && &image.fourcc == b"VP8 " => Ok((
            Frame {
                image: *image,
                alpha: Some(*a),
            },
            2,
        )),
        [image, ..] if matches!(&image.fourcc, b"VP8 " | b"VP8L") => Ok((
            Frame {
                image: *image,
                alpha: None,
            },
            1,
        )),
        _ => Err(undecided("unusual frame chunks")),
    }
}

/// The first `ANMF` frame of an animation, the one PIL decodes, and its bitstream size.
fn first_animation_frame(r: &mut Reader, chunks: &[Chunk], canvas: Size) -> Result<Frame, Fail> {
    let anmf = chunks
        .iter()
        .find(|c| &c.fourcc == b"ANMF")
        .ok_or_else(|| undecided("animation without frames"))?;
    let head = anmf.payload(r, 16);
    let (Some(x), Some(y)) = (le(&head, 0, 3), le(&head, 3, 3)) else {
        return Err(undecided("short ANMF chunk"));
    };
    let padded_end = anmf.start + anmf.len + (anmf.len & 1);
    let inner = chunks_in(r, anmf.start + 16, padded_end)
        .ok_or_else(|| undecided("ANMF chunks do not fill the frame"))?;
    let (frame, used) = frame_at(&inner)?;
    if used != inner.len() {
        return Err(undecided("extra chunks in an ANMF frame"));
    }
    let (w, h) = bitstream_size(r, &frame.image)?;
    if u64::from(2 * x) + u64::from(w) > u64::from(canvas.0)
        || u64::from(2 * y) + u64::from(h) > u64::from(canvas.1)
    {
        return Err(undecided("frame outside the canvas"));
    }
    Ok(frame)
}

/// Decodes the frame's bitstream and alpha as `WebPDecode` does: both must succeed.
fn check_frame(r: &mut Reader, frame: &Frame) -> Result<(), Fail> {
    let size = bitstream_size(r, &frame.image)?;
    let data = frame.image.padded(r);
    if &frame.image.fourcc == b"VP8L" {
        return webp_lossless::check_lossless(&data);
    }
    webp_lossy::check_lossy(&data)?;
    match frame.alpha {
        Some(alpha) => check_alpha(&alpha.payload(r, usize::MAX), size),
        None => Ok(()),
    }
}

/// The `ALPH` payload (without its pad byte) as `ALPHInit` and the alpha decoder judge it: the
/// lossy decoder asks for every row, so all of it is decoded.
fn check_alpha(data: &[u8], (w, h): Size) -> Result<(), Fail> {
    let Some((&header, rest)) = data.split_first() else {
        return Err(frame_failed());
    };
    let method = header & 3;
    let pre_processing = (header >> 4) & 3;
    let reserved = header >> 6;
    if rest.is_empty() || method > 1 || pre_processing > 1 || reserved != 0 {
        return Err(frame_failed());
    }
    if method == 0 {
        // raw (filtered) alpha: one byte a pixel
        return if rest.len() as u64 >= u64::from(w) * u64::from(h) {
            Ok(())
        } else {
            Err(frame_failed())
        };
    }
    webp_lossless::check_lossless_alpha(rest, w, h)
}

pub(super) fn probe(r: &mut Reader, check_pixels: bool) -> Result<Size, Fail> {
    let head = r.read_vec(12);
    let riff = le(&head, 4, 4).ok_or_else(|| undecided("short RIFF header"))? as usize;
    if riff.saturating_add(8) > r.len() {
        return Err(no_decoder());
    }
    if riff < 12 || riff % 2 == 1 {
        return Err(undecided("odd RIFF size"));
    }
    let chunks =
        chunks_in(r, 12, riff + 8).ok_or_else(|| undecided("chunks do not fill the RIFF chunk"))?;
    let Some(first) = chunks.first() else {
        return Err(undecided("no chunk"));
    };
    let (size, frame) = match &first.fourcc {
        b"VP8 " | b"VP8L" => {
            if chunks.len() != 1 {
                return Err(undecided("extra chunks after a simple bitstream"));
            }
            let frame = Frame {
                image: *first,
                alpha: None,
            };
            (bitstream_size(r, first)?, frame)
        }
        b"VP8X" => {
            let x = first.payload(r, 10);
            if first.len < 10 || x.len() < 10 {
                return Err(undecided("short VP8X chunk"));
            }
            let flags = x.first().copied().unwrap_or(0);
            let canvas = (le(&x, 4, 3).unwrap_or(0) + 1, le(&x, 7, 3).unwrap_or(0) + 1);
            if flags & 0x02 != 0 {
                if !chunks.iter().any(|c| &c.fourcc == b"ANMF") {
                    return Err(undecided("animation without frames"));
                }
                if !check_pixels {
                    return Ok(canvas);
                }
                (canvas, first_animation_frame(r, &chunks, canvas)?)
            } else {
                (canvas, still_frame(r, &chunks, flags, canvas)?)
            }
        }
        _ => return Err(undecided("unknown first chunk")),
    };
    if check_pixels {
        // PIL refuses a decompression bomb when it opens the file, before any decoding
        bomb_check(size)?;
        check_frame(r, &frame)?;
    }
    Ok(size)
}

/// The one frame of a still `VP8X` file. The demuxer drops the `ALPH` chunk when the `VP8X`
/// flags have no alpha bit, so it is then not decoded either.
fn still_frame(r: &mut Reader, chunks: &[Chunk], flags: u8, canvas: Size) -> Result<Frame, Fail> {
    let at = chunks
        .iter()
        .position(is_frame_chunk)
        .ok_or_else(|| undecided("a still VP8X file needs a bitstream"))?;
    let rest = chunks.get(at..).unwrap_or(&[]);
    let (mut frame, used) = frame_at(rest)?;
    if rest.iter().skip(used).any(is_frame_chunk) {
        return Err(undecided("a still VP8X file needs exactly one bitstream"));
    }
    if bitstream_size(r, &frame.image)? != canvas {
        return Err(undecided("canvas and bitstream sizes differ"));
    }
    if flags & 0x10 == 0 {
        frame.alpha = None;
    }
    Ok(frame)
}
