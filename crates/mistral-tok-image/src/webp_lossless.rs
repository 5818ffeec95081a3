//! A lossless WebP frame (`VP8L` bitstream), or a lossless-compressed `ALPH` chunk, decoded as
//! libwebp 1.6.0 decodes it, to learn whether PIL's load fails: transforms, colour cache, meta
//! prefix codes and every prefix code (`vp8l_huffman`), then every pixel's symbols. Pixel values
//! are kept only where they steer decoding (the entropy image that picks each tile's codes, and
//! the colour cache feeding it); for the image itself only positions matter (a back-reference
//! reaching before the first pixel or past the last is an error).
//!
//! How, and why: `docs/images.md`, "Lossless WebP".

use super::probe::Fail;
use super::vp8l_bits::BitReader;
use super::vp8l_huffman::{read_code, Code};
use super::webp::frame_failed;

const LITERALS: u16 = 256;
const LENGTH_CODES: u16 = 24;
const DISTANCE_CODES: usize = 40;
const MAX_CACHE_BITS: u32 = 11;
const SUBTRACT_GREEN: u32 = 2;
const COLOR_INDEXING: u32 = 3;

/// `kCodeToPlane`: distance codes 1-120 as (row, column) offsets near the current pixel.
const CODE_TO_PLANE: [u8; 120] = [
    0x18, 0x07, 0x17, 0x19, 0x28, 0x06, 0x27, 0x29, 0x16, 0x1a, 0x26, 0x2a, 0x38, 0x05, 0x37, 0x39,
    0x15, 0x1b, 0x36, 0x3a, 0x25, 0x2b, 0x48, 0x04, 0x47, 0x49, 0x14, 0x1c, 0x35, 0x3b, 0x46, 0x4a,
    0x24, 0x2c, 0x58, 0x45, 0x4b, 0x34, 0x3c, 0x03, 0x57, 0x59, 0x13, 0x1d, 0x56, 0x5a, 0x23, 0x2d,
    0x44, 0x4c, 0x55, 0x5b, 0x33, 0x3d, 0x68, 0x02, 0x67, 0x69, 0x12, 0x1e, 0x66, 0x6a, 0x22, 0x2e,
    0x54, 0x5c, 0x43, 0x4d, 0x65, 0x6b, 0x32, 0x3e, 0x78, 0x01, 0x77, 0x79, 0x53, 0x5d, 0x11, 0x1f,
    0x64, 0x6c, 0x42, 0x4e, 0x76, 0x7a, 0x21, 0x2f, 0x75, 0x7b, 0x31, 0x3f, 0x63, 0x6d, 0x52, 0x5e,
    0x00, 0x74, 0x7c, 0x41, 0x4f, 0x10, 0x20, 0x62, 0x6e, 0x30, 0x73, 0x7d, 0x51, 0x5f, 0x40, 0x72,
    0x7e, 0x61, 0x6f, 0x50, 0x71, 0x7f, 0x60, 0x70,
];

/// A bitstream error: libwebp's decode fails.
struct Broken;

type Decoded<T> = Result<T, Broken>;

pub(super) fn check_lossless(data: &[u8]) -> Result<(), Fail> {
    let mut br = BitReader::new(data);
    let header = br.read(8) == 0x2f;
    let width = br.read(14) as usize + 1;
    let height = br.read(14) as usize + 1;
    br.read(1); // alpha hint
    if !header || br.read(3) != 0 || br.eos_flag() {
        return Err(frame_failed());
    }
    let mut d = Decoder { br };
    let decoded = d
        .level0(width, height)
        .and_then(|s| d.pixels(&s, None, height));
    decoded.map_err(|Broken| frame_failed())
}

/// An `ALPH` chunk's lossless stream (after its header byte) for a `width`×`height` frame: a
/// VP8L image without the VP8L header, decoded in full (the lossy decoder asks for every row).
pub(super) fn check_lossless_alpha(data: &[u8], width: u32, height: u32) -> Result<(), Fail> {
    let (width, height) = (width as usize, height as usize);
    let mut d = Decoder {
        br: BitReader::new(data),
    };
    let decoded = d.level0(width, height).and_then(|s| {
        if s.only_color_indexing && s.is_8b_optimizable() {
            d.alpha_8b(&s, height)
        } else {
            d.pixels(&s, None, height)
        }
    });
    decoded.map_err(|Broken| frame_failed())
}

/// The five prefix codes of one meta code: green (with lengths and cache indices), red, blue,
/// alpha, distance.
struct Group {
    codes: [Code; 5],
}

/// How a level's pixels are coded (`VP8LMetadata`).
struct Stream {
    /// The width pixels are coded at (packed when colour indexing bundles pixels).
    width: usize,
    /// The meta code of each entropy tile, and the tiles' size in bits (none: one group).
    entropy: Option<(Vec<u32>, usize, u32)>,
    /// Groups by meta code; `None` for codes no tile uses when libwebp drops them (read and
    /// checked, not kept). The kept ones are those it looks at for the 8-bit alpha decoder.
    groups: Vec<Option<Group>>,
    cache_bits: u32,
    only_color_indexing: bool,
}

impl Group {
    /// Every pixel is the same literal and reads no bits (libwebp's `is_trivial_code`, give or
    /// take the distance code, which such a group never reaches).
    fn reads_nothing(&self) -> bool {
        self.codes[0].single().is_some_and(|g| g < LITERALS)
            && self.codes[1..4].iter().all(Code::is_trivial)
    }
}

impl Stream {
    /// Pixels from `col` to the end of its entropy tile (or row): they share a group.
    fn tile_rest(&self, col: usize) -> usize {
        let end = match &self.entropy {
            Some((_, _, bits)) => ((col >> bits) + 1) << bits,
            None => self.width,
        };
        end.min(self.width) - col
    }

    fn group(&self, col: usize, row: usize) -> Option<&Group> {
        let at = match &self.entropy {
            None => 0,
            Some((image, xsize, bits)) => {
                let i = xsize * (row >> bits) + (col >> bits);
                *image.get(i)? as usize
            }
        };
        self.groups.get(at)?.as_ref()
    }

    /// `Is8bOptimizable`: no colour cache, and red, blue and alpha take no bits anywhere.
    fn is_8b_optimizable(&self) -> bool {
        self.cache_bits == 0
            && self
                .groups
                .iter()
                .flatten()
                .all(|g| g.codes[1..4].iter().all(Code::is_trivial))
    }
}

struct Decoder<'a> {
    br: BitReader<'a>,
}

/// Where decoding is in a level of `width` coded pixels a row.
#[derive(Default)]
struct Cursor {
    pos: usize,
    col: usize,
    row: usize,
}

impl Cursor {
    fn advance(&mut self, n: usize, width: usize) {
        self.pos += n;
        self.col += n;
        while self.col >= width {
            self.col -= width;
            self.row += 1;
        }
    }

    /// A back-reference stays within the `end` pixels decoded and to decode.
    fn copy_fits(&self, distance: usize, length: usize, end: usize) -> bool {
        self.pos >= distance && end - self.pos >= length
    }
}

fn subsample(size: usize, bits: u32) -> usize {
    (size + (1 << bits) - 1) >> bits
}

impl Decoder<'_> {
    /// `DecodeImageStream` at level 0: transforms, colour cache and codes of the image itself.
    fn level0(&mut self, width: usize, height: usize) -> Decoded<Stream> {
        let mut xsize = width;
        let mut seen = 0u32;
        let mut transforms = 0;
        let mut color_indexing = false;
        while self.br.read(1) == 1 {
            let kind = self.br.read(2);
            if seen & (1 << kind) != 0 {
                return Err(Broken);
            }
            seen |= 1 << kind;
            transforms += 1;
            if kind == COLOR_INDEXING {
                color_indexing = true;
                let colors = self.br.read(8) as usize + 1;
                let bits = match colors {
                    17.. => 0,
                    5..=16 => 1,
                    3..=4 => 2,
                    _ => 3,
                };
                xsize = subsample(xsize, bits);
                self.sub_image(colors, 1)?;
            } else if kind != SUBTRACT_GREEN {
                // predictor or cross-colour: one sub-image of per-tile parameters
                let bits = 2 + self.br.read(3);
                self.sub_image(subsample(xsize, bits), subsample(height, bits))?;
            }
        }
        let mut s = self.stream(xsize, height, true)?;
        s.only_color_indexing = transforms == 1 && color_indexing;
        Ok(s)
    }

    /// A sub-image (transform data, entropy image): decoded with its pixel values.
    fn sub_image(&mut self, width: usize, height: usize) -> Decoded<Vec<u32>> {
        let s = self.stream(width, height, false)?;
        let mut values = Vec::new();
        self.pixels(&s, Some(&mut values), height)?;
        Ok(values)
    }

    /// The colour cache and prefix codes of one level (`DecodeImageStream`, `ReadHuffmanCodes`).
    fn stream(&mut self, width: usize, height: usize, level0: bool) -> Decoded<Stream> {
        let mut cache_bits = 0;
        if self.br.read(1) == 1 {
            cache_bits = self.br.read(4);
            if !(1..=MAX_CACHE_BITS).contains(&cache_bits) {
                return Err(Broken);
            }
        }
        let mut entropy = None;
        let mut groups_max = 1;
        if level0 && self.br.read(1) == 1 {
            let bits = 2 + self.br.read(3);
            let xsize = subsample(width, bits);
            let mut image = self.sub_image(xsize, subsample(height, bits))?;
            for v in &mut image {
                *v = (*v >> 8) & 0xffff;
                groups_max = groups_max.max(*v as usize + 1);
            }
            entropy = Some((image, xsize, bits));
        }
        if self.br.eos_flag() {
            return Err(Broken);
        }
        // Past 1000 meta codes, or more than pixels, libwebp keeps only those the entropy image
        // uses (and looks only at those when it picks the 8-bit alpha decoder).
        let mut used = vec![entropy.is_none(); groups_max];
        if let Some((image, _, _)) = &entropy {
            for &g in image {
                if let Some(u) = used.get_mut(g as usize) {
                    *u = true;
                }
            }
        }
        let compact = groups_max > 1000 || groups_max > width.saturating_mul(height);
        let cache_size = if cache_bits > 0 { 1 << cache_bits } else { 0 };
        let green = usize::from(LITERALS + LENGTH_CODES) + cache_size;
        let sizes = [green, 256, 256, 256, DISTANCE_CODES];
        let mut groups = Vec::with_capacity(groups_max.min(4096));
        for &used in &used {
            let mut codes = Vec::with_capacity(5);
            for size in sizes {
                codes.push(read_code(&mut self.br, size).ok_or(Broken)?);
            }
            if compact && !used {
                groups.push(None);
                continue;
            }
            let codes: [Code; 5] = codes.try_into().map_err(|_| Broken)?;
            groups.push(Some(Group { codes }));
        }
        Ok(Stream {
            width,
            entropy,
            groups,
            cache_bits,
            only_color_indexing: false,
        })
    }

    /// `DecodeImageData` over a whole level, `height` rows of `s.width` coded pixels; `values`
    /// collects the pixels when they matter.
    fn pixels(
        &mut self,
        s: &Stream,
        mut values: Option<&mut Vec<u32>>,
        height: usize,
    ) -> Decoded<()> {
        let width = s.width;
        let end = width.checked_mul(height).ok_or(Broken)?;
        let mut cache = values.is_some().then(|| vec![0u32; 1 << s.cache_bits]);
        let mut cached = 0;
        let mut at = Cursor::default();
        let lengths_end = LITERALS + LENGTH_CODES;
        while at.pos < end {
            let g = s.group(at.col, at.row).ok_or(Broken)?;
            if values.is_none() && g.reads_nothing() {
                // a huge image of such pixels is a few bytes of codes: skip the run, not pixels
                at.advance(s.tile_rest(at.col), width);
                continue;
            }
            let br = &mut self.br;
            br.fill();
            let green = g.codes[0].read(br);
            if br.is_end() {
                return Err(Broken);
            }
            let advanced = if green < LITERALS {
                let red = g.codes[1].read(br);
                br.fill();
                let blue = g.codes[2].read(br);
                let alpha = g.codes[3].read(br);
                if br.is_end() {
                    return Err(Broken);
                }
                if let Some(v) = values.as_deref_mut() {
                    v.push(
                        u32::from(alpha) << 24
                            | u32::from(red) << 16
                            | u32::from(green) << 8
                            | u32::from(blue),
                    );
                }
                1
            } else if green < lengths_end {
                let (length, distance) = back_reference(br, g, green, width);
                if br.is_end() || !at.copy_fits(distance, length, end) {
                    return Err(Broken);
                }
                if let Some(v) = values.as_deref_mut() {
                    for _ in 0..length {
                        let p = v.get(v.len() - distance).copied().ok_or(Broken)?;
                        v.push(p);
                    }
                }
                length
            } else {
                let key = usize::from(green - lengths_end);
                if let (Some(v), Some(c)) = (values.as_deref_mut(), cache.as_mut()) {
                    insert(c, s.cache_bits, v, &mut cached, at.pos);
                    v.push(c.get(key).copied().ok_or(Broken)?);
                }
                1
            };
            let row_before = at.row;
            at.advance(advanced, width);
            // the cache takes pixels a row at a time, and after every back-reference
            let copied = (LITERALS..lengths_end).contains(&green);
            if at.row != row_before || copied {
                if let (Some(v), Some(c)) = (values.as_deref_mut(), cache.as_mut()) {
                    insert(c, s.cache_bits, v, &mut cached, at.pos);
                }
            }
        }
        if self.br.is_end() {
            return Err(Broken);
        }
        Ok(())
    }

    /// `DecodeAlphaData`: the 8-bit decoder libwebp uses for alpha that is only a palette
    /// (green) index. Unlike the main decoder, it accepts running out of data on the symbol that
    /// completes the image.
    fn alpha_8b(&mut self, s: &Stream, height: usize) -> Decoded<()> {
        let width = s.width;
        let end = width.checked_mul(height).ok_or(Broken)?;
        let mut at = Cursor::default();
        let mut eos = self.br.eos_flag();
        while !eos && at.pos < end {
            let g = s.group(at.col, at.row).ok_or(Broken)?;
            let br = &mut self.br;
            br.fill();
            let code = g.codes[0].read(br);
            let advanced = if code < LITERALS {
                1
            } else if code < LITERALS + LENGTH_CODES {
                let (length, distance) = back_reference(br, g, code, width);
                if !at.copy_fits(distance, length, end) {
                    return Err(Broken);
                }
                length
            } else {
                return Err(Broken);
            };
            at.advance(advanced, width);
            eos = self.br.is_end();
        }
        if self.br.is_end() && at.pos < end {
            return Err(Broken);
        }
        Ok(())
    }
}

/// A back-reference's length and distance, after its length symbol `green`: the length's extra
/// bits, the distance symbol and its extra bits, mapped to a distance for rows of `width`.
fn back_reference(br: &mut BitReader, g: &Group, green: u16, width: usize) -> (usize, usize) {
    let length = copy_distance(u32::from(green - LITERALS), br);
    let symbol = g.codes[4].read(br);
    br.fill();
    let distance = plane_distance(width, copy_distance(u32::from(symbol), br));
    (length, distance)
}

/// `VP8LColorCacheInsert` for every pixel from `*cached` up to `pos`.
fn insert(cache: &mut [u32], bits: u32, values: &[u32], cached: &mut usize, pos: usize) {
    if bits == 0 {
        *cached = pos;
        return;
    }
    for &argb in values.get(*cached..pos).unwrap_or(&[]) {
        let key = (argb.wrapping_mul(0x1e35_a7bd) >> (32 - bits)) as usize;
        if let Some(slot) = cache.get_mut(key) {
            *slot = argb;
        }
    }
    *cached = pos;
}

/// `GetCopyDistance` (and `GetCopyLength`): a prefix symbol and its extra bits.
fn copy_distance(symbol: u32, br: &mut BitReader) -> usize {
    if symbol < 4 {
        return symbol as usize + 1;
    }
    let extra = (symbol - 2) >> 1;
    let offset = (2 + (symbol & 1)) << extra;
    (offset + br.read(extra)) as usize + 1
}

/// `PlaneCodeToDistance`.
fn plane_distance(width: usize, code: usize) -> usize {
    if code > CODE_TO_PLANE.len() {
        return code - CODE_TO_PLANE.len();
    }
    let d = CODE_TO_PLANE
        .get(code.wrapping_sub(1))
        .copied()
        .unwrap_or(0);
    let (y, x) = (usize::from(d >> 4), 8 - i64::from(d & 0xf));
    (y as i64 * width as i64 + x).max(1) as usize
}
