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

/// A chunk's length on disk: RIFF pads odd payloads with a byte.
fn padded(len: usize) -> usize {
    len + (len & 1)
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
    fn with_pad(&self, r: &mut Reader) -> Vec<u8> {
        r.seek(self.start);
        r.read_vec(padded(self.len))
    }

    fn payload(&self, r: &mut Reader, max: usize) -> Vec<u8> {
        r.seek(self.start);
        r.read_vec(self.len.min(max))
    }
}

/// The chunks libwebp decodes for one frame: a `VP8 ` or `VP8L` bitstream, and the `ALPH`
/// chunk that goes with a `VP8 ` one; and the size the bitstream declares.
struct Frame {
    image: Chunk,
    alpha: Option<Chunk>,
    size: Size,
}

/// What PIL raises when libwebp's demuxer refuses the file.
fn no_decoder() -> Fail {
    Fail::NotAnImage("could not create decoder object".into())
}

/// The frame size a `VP8 ` or `VP8L` chunk payload declares, checked as `WebPGetFeatures`
/// checks it when the demuxer stores the frame (a refusal there fails `Image.open`).
fn bitstream_size(r: &mut Reader, chunk: &Chunk) -> Result<Size, Fail> {
    let payload = chunk.payload(r, 16);
    match &chunk.fourcc {
        b"VP8 " => {
            if padded(chunk.len) < 10 {
                return Err(no_decoder());
            }
            if payload.len() < 10 {
                return Err(undecided("a VP8 chunk shorter than its header"));
            }
            match webp_lossy::key_frame(&payload) {
                Some(k) if k.first_partition < chunk.len => Ok((k.width, k.height)),
                _ => Err(no_decoder()),
            }
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
        if pos + 8 + padded(len) > end {
            return None;
        }
        let mut cc = [0u8; 4];
        cc.copy_from_slice(fourcc);
        chunks.push(Chunk {
            fourcc: cc,
            start: pos + 8,
            len,
        });
        pos += 8 + padded(len);
    }
    (pos == end).then_some(chunks)
}

fn is_frame_chunk(c: &Chunk) -> bool {
    matches!(&c.fourcc, b"ALPH" | b"VP8 " | b"VP8L")
}

/// A frame as the demuxer stores one (`StoreFrame`): an optional `ALPH` chunk directly followed
/// by the bitstream; and how many chunks it takes. Only the layouts libwebp's encoder writes
/// are taken; `ALPH` before `VP8L` (a demuxer error), doubled chunks and the like are left to
/// mistral_common.
fn frame_at(r: &mut Reader, chunks: &[Chunk]) -> Result<(Frame, usize), Fail> {
    let (image, alpha, used) = match chunks {
        [a, image, ..] if &a.fourcc == b"ALPH" && &image.fourcc == b"VP8 " => (*image, Some(*a), 2),
        [image, ..] if matches!(&image.fourcc, b"VP8 " | b"VP8L") => (*image, None, 1),
        _ => return Err(undecided("unusual frame chunks")),
    };
    let size = bitstream_size(r, &image)?;
    Ok((Frame { image, alpha, size }, used))
}

/// The first `ANMF` frame of an animation, the one PIL decodes.
fn first_animation_frame(r: &mut Reader, chunks: &[Chunk], canvas: Size) -> Result<Frame, Fail> {
    let anmf = chunks
        .iter()
        .find(|c| &c.fourcc == b"ANMF")
        .ok_or_else(|| undecided("animation without frames"))?;
    let head = anmf.payload(r, 16);
    let (Some(x), Some(y)) = (le(&head, 0, 3), le(&head, 3, 3)) else {
        return Err(undecided("short ANMF chunk"));
    };
    let inner = chunks_in(r, anmf.start + 16, anmf.start + padded(anmf.len))
        .ok_or_else(|| undecided("ANMF chunks do not fill the frame"))?;
    let (frame, used) = frame_at(r, &inner)?;
    if used != inner.len() {
        return Err(undecided("extra chunks in an ANMF frame"));
    }
    let (w, h) = frame.size;
    if u64::from(2 * x) + u64::from(w) > u64::from(canvas.0)
        || u64::from(2 * y) + u64::from(h) > u64::from(canvas.1)
    {
        return Err(undecided("frame outside the canvas"));
    }
    Ok(frame)
}

/// Decodes the frame's bitstream and alpha as `WebPDecode` does: both must succeed.
fn check_frame(r: &mut Reader, frame: &Frame) -> Result<(), Fail> {
    let data = frame.image.with_pad(r);
    if &frame.image.fourcc == b"VP8L" {
        return webp_lossless::check_lossless(&data);
    }
    webp_lossy::check_lossy(&data)?;
    match frame.alpha {
        Some(alpha) => check_alpha(&alpha.payload(r, usize::MAX), frame.size),
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
            let (frame, _) = frame_at(r, &chunks)?;
            (frame.size, frame)
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
    let (mut frame, used) = frame_at(r, rest)?;
    if rest.iter().skip(used).any(is_frame_chunk) {
        return Err(undecided("a still VP8X file needs exactly one bitstream"));
    }
    if frame.size != canvas {
        return Err(undecided("canvas and bitstream sizes differ"));
    }
    if flags & 0x10 == 0 {
        frame.alpha = None;
    }
    Ok(frame)
}
