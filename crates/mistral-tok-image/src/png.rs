//! PNG: PIL's `PngImageFile._open` (chunks up to the first IDAT, CRCs checked, size from IHDR),
//! then its loader: the image data inflated as PIL's decoder does (`png_data`), and `load_end`,
//! which skips the rest of the IDAT chunk the decoder finished in and walks the chunks after it
//! up to IEND, a short header or a bad chunk type (their CRCs are not checked; a chunk cut short
//! fails; later IDATs are skipped).
//!
//! With the pixel check off (`check_pixels = false`, for callers that have loaded the image with
//! PIL themselves) the image data is not inflated: the consecutive IDAT chunks are skipped, a file
//! that ends (or has a bad chunk header) among them is accepted, and `load_end` runs from the
//! first chunk after them.

use super::png_data::{Decoder, Progress, RowPlan, MAXBLOCK};
use super::probe::{Fail, Size};
use super::source::Reader;

pub(super) const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// The (bit depth, colour type) pairs PIL knows (`PngImagePlugin._MODES`).
fn mode_of(bit_depth: u8, color_type: u8) -> Option<Mode> {
    Some(match (bit_depth, color_type) {
        (1, 0) => Mode::Bilevel,
        (2 | 4 | 8, 0) => Mode::Gray,
        (16, 0) => Mode::Gray16,
        (8 | 16, 2) => Mode::Rgb,
        (1 | 2 | 4 | 8, 3) => Mode::Palette,
        (8 | 16, 4) | (8 | 16, 6) => Mode::Alpha,
        _ => return None,
    })
}

/// Bits per pixel of PIL's raw mode for the pair (depth × samples per pixel).
fn bits_of(bit_depth: u8, color_type: u8) -> u32 {
    let samples = match color_type {
        2 => 3,
        4 => 2,
        6 => 4,
        _ => 1,
    };
    u32::from(bit_depth) * samples
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bilevel,
    Gray,
    Gray16,
    Rgb,
    Palette,
    Alpha,
}

/// `re.match(rb"\w\w\w\w", cid)`.
fn is_cid(cid: &[u8]) -> bool {
    cid.len() == 4 && cid.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

struct Chunk {
    cid: [u8; 4],
    length: usize,
}

/// The 8-byte chunk header, or `None` when fewer than 8 bytes remain.
fn header(r: &mut Reader) -> Option<Chunk> {
    let h = r.array::<8>()?;
    let length = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
    Some(Chunk {
        cid: [h[4], h[5], h[6], h[7]],
        length,
    })
}

/// State the chunk handlers share (`PngStream`).
struct Stream {
    size: (u32, u32),
    mode: Option<Mode>,
    /// Bits per pixel of the raw mode (set with `mode`).
    bits: u32,
    /// `im_info["interlace"]`: set by any IHDR with a non-zero interlace byte, never cleared.
    interlaced: bool,
}

/// PIL's handler for a chunk other than IDAT/IEND: `Err(reason)` where it raises.
fn handle(stream: &mut Stream, cid: &[u8; 4], s: &[u8]) -> Result<(), Fail> {
    let short = |what: &str| Err(Fail::NotAnImage(format!("Truncated {what} chunk")));
    match cid {
        b"IHDR" => {
            if s.len() < 13 {
                return short("IHDR");
            }
            let be = |i: usize| u32::from_be_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
            stream.size = (be(0), be(4));
            if let Some(m) = mode_of(s[8], s[9]) {
                stream.mode = Some(m);
                stream.bits = bits_of(s[8], s[9]);
            }
            stream.interlaced |= s[12] != 0;
            if s[11] != 0 {
                return Err(Fail::NotAnImage("unknown filter category".into()));
            }
        }
        b"gAMA" if s.len() < 4 => return short("gAMA"),
        b"cHRM" if s.len() < 32 => return short("cHRM"),
        b"sRGB" if s.is_empty() => return short("sRGB"),
        b"pHYs" if s.len() < 9 => return short("pHYs"),
        b"tRNS" => {
            let need = match stream.mode {
                Some(Mode::Rgb) => 6,
                Some(Mode::Bilevel | Mode::Gray | Mode::Gray16) => 2,
                _ => 0,
            };
            if s.len() < need {
                return short("tRNS");
            }
        }
        b"iCCP" => {
            // profile name, NUL, compression method (must be 0), zlib data
            let method = match s.iter().position(|&b| b == 0) {
                Some(i) => s.get(i + 1),
                None => s.first(), // Python: s.find() == -1, then s[-1 + 1]
            };
            match method {
                None => return Err(Fail::NotAnImage("truncated iCCP chunk".into())),
                Some(0) => {}
                Some(m) => {
                    return Err(Fail::NotAnImage(format!(
                        "Unknown compression method {m} in iCCP chunk"
                    )))
                }
            }
        }
        b"CgBI" => {
            // Apple's "crushed" PNG: raw deflate data that PIL cannot inflate.
            return Err(Fail::Undecided("Apple CgBI PNG".into()));
        }
        b"acTL" | b"fcTL" | b"fdAT" => {
            return Err(Fail::Undecided(
                "animated PNG (APNG) frames are not read natively".into(),
            ))
        }
        _ => {}
    }
    Ok(())
}

/// Reads a chunk's data and CRC and runs its handler. `Ok(false)` when the data or CRC is cut
/// short, so the caller decides what that means at its stage.
fn read_checked(r: &mut Reader, stream: &mut Stream, c: &Chunk) -> Result<bool, Fail> {
    let data = r.read_vec(c.length);
    if data.len() < c.length {
        return Ok(false);
    }
    handle(stream, &c.cid, &data)?;
    let Some(crc) = r.array::<4>() else {
        return Ok(false);
    };
    if u32::from_be_bytes(crc) != crc32(&c.cid, &data) {
        return Err(Fail::NotAnImage(format!(
            "broken PNG file (bad header checksum in {})",
            String::from_utf8_lossy(&c.cid)
        )));
    }
    Ok(true)
}

pub(super) fn probe(r: &mut Reader, check_pixels: bool) -> Result<Size, Fail> {
    r.seek(SIGNATURE.len());
    let mut stream = Stream {
        size: (0, 0),
        mode: None,
        bits: 0,
        interlaced: false,
    };
    let broken = |why: &str| Fail::NotAnImage(format!("broken PNG file ({why})"));

    // `_open`: chunks up to the first IDAT.
    let first_idat = loop {
        let c = header(r).ok_or_else(|| broken("unexpected end of file"))?;
        if !is_cid(&c.cid) {
            return Err(broken("bad chunk type"));
        }
        match &c.cid {
            b"IDAT" => break c,
            b"IEND" => {
                return Err(Fail::Undecided(
                    "PNG file with no image data before IEND".into(),
                ))
            }
            _ => {
                if !read_checked(r, &mut stream, &c)? {
                    return Err(broken("truncated chunk before the image data"));
                }
            }
        }
    };
    if stream.mode.is_none() || stream.size.0 == 0 || stream.size.1 == 0 {
        return Err(Fail::NotAnImage("not identified by this driver".into()));
    }
    // The image keeps the size `_open` read; an IHDR after the data changes nothing.
    let size = stream.size;

    if check_pixels {
        let plan =
            RowPlan::new(size.0, size.1, stream.bits, stream.interlaced).ok_or_else(|| {
                Fail::Undecided("PNG rows too long for PIL's decoder arithmetic".into())
            })?;
        let rest_of_chunk = load(r, &plan, first_idat.length)?;
        r.skip(rest_of_chunk); // `load_end`: `fp.read(self.__idat)`, short or not
    } else if !skip_image_data(r, first_idat.length) {
        return Ok(size);
    }
    load_end(r, &mut stream)?;
    Ok(size)
}

/// `ImageFile.load` with `load_read` for a PNG: the IDAT data, in PIL's pieces, through PIL's
/// decoder. `Ok` with the bytes of the current IDAT chunk left unread when the decoder is done.
fn load(r: &mut Reader, plan: &RowPlan, first_length: usize) -> Result<usize, Fail> {
    let truncated = || Fail::Truncated("image file is truncated".into());
    Decoder::with_scratch(|scratch| {
        let mut decoder = Decoder::new(plan);
        let mut idat = first_length;
        loop {
            while idat == 0 {
                r.skip(4); // the CRC, unchecked
                let c = header(r).ok_or_else(truncated)?;
                if !is_cid(&c.cid) {
                    return Err(Fail::Truncated("broken PNG file (bad chunk type)".into()));
                }
                match &c.cid {
                    b"IDAT" | b"DDAT" => idat = c.length, // empty chunks are allowed
                    b"fdAT" => {
                        return Err(Fail::Undecided(
                            "PNG image data continued in an fdAT chunk".into(),
                        ))
                    }
                    _ => return Err(truncated()),
                }
            }
            let n = idat.min(MAXBLOCK);
            idat -= n;
            let piece = r.take(n, &mut scratch.piece);
            if piece.is_empty() {
                return Err(truncated());
            }
            match decoder.feed(&mut scratch.inflate, &mut scratch.out, piece) {
                Progress::More => {}
                Progress::Done => return Ok(idat),
                Progress::Broken(why) => return Err(Fail::Truncated(why.into())),
            }
        }
    })
}

/// Skips the run of image-data chunks (the pixel check off); `false` when the file ends, or a
/// chunk header is bad, inside it. Otherwise the reader is left where `load_end` starts (on the
/// last image chunk's CRC).
fn skip_image_data(r: &mut Reader, first_length: usize) -> bool {
    let mut length = first_length;
    loop {
        if !r.skip(length) {
            return false;
        }
        let crc_at = r.pos();
        if !r.skip(4) {
            return false;
        }
        let Some(next) = header(r) else {
            return false;
        };
        if !is_cid(&next.cid) {
            return false;
        }
        if !matches!(&next.cid, b"IDAT" | b"DDAT") {
            r.seek(crc_at);
            return true;
        }
        length = next.length;
    }
}

/// `load_end`: from the CRC of the chunk the image data ended in, the chunks up to IEND, a short
/// header or a bad chunk type. CRCs are not checked here.
fn load_end(r: &mut Reader, stream: &mut Stream) -> Result<(), Fail> {
    let truncated = || Fail::Truncated("Truncated File Read".into());
    loop {
        r.skip(4);
        let Some(c) = header(r) else {
            return Ok(());
        };
        if !is_cid(&c.cid) || &c.cid == b"IEND" {
            return Ok(());
        }
        if has_handler_checks(&c.cid) {
            let data = r.read_vec(c.length);
            if data.len() < c.length {
                return Err(truncated());
            }
            handle(stream, &c.cid, &data).map_err(|e| match e {
                Fail::NotAnImage(m) => Fail::Truncated(m),
                other => other,
            })?;
        } else if !r.skip(c.length) {
            return Err(truncated());
        }
    }
}

/// Chunks whose handler looks at the data (see [`handle`]); the others are only read.
fn has_handler_checks(cid: &[u8; 4]) -> bool {
    matches!(
        cid,
        b"IHDR"
            | b"gAMA"
            | b"cHRM"
            | b"sRGB"
            | b"pHYs"
            | b"tRNS"
            | b"iCCP"
            | b"CgBI"
            | b"acTL"
            | b"fcTL"
            | b"fdAT"
    )
}

const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[n] = c;
        n += 1;
    }
    t
};

/// zlib's CRC-32 of `cid ++ data`, as PNG stores it.
pub(super) fn crc32(cid: &[u8], data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in cid.iter().chain(data) {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}
