//! A lossy WebP frame (`VP8 ` bitstream) parsed as libwebp 1.6.0 decodes a key frame, to learn
//! whether PIL's load fails: the frame header, the first partition (segment, filter, quantizer
//! and probability headers, then every macroblock's modes) and the token partitions (every
//! coefficient, with the contexts that choose their probabilities). Prediction, inverse
//! transforms and the loop filter cannot fail, so no pixel is reconstructed.
//!
//! libwebp fails a frame when a partition runs out of data: the first one is checked after each
//! macroblock row's modes, a token partition after each macroblock (running out once is enough:
//! the flag stays set). `data` is what the demuxer hands the decoder: the chunk payload with its
//! pad byte, so the last partition may end one byte later than the chunk says.

use super::probe::Fail;
use super::vp8_bool::BoolDecoder;
use super::vp8_tables::{
    CoeffProbas, COEFF_UPDATE_PROBAS, DEFAULT_COEFF_PROBAS, INTRA4_MODE_PROBAS,
};
use super::webp::frame_failed;

/// The probability band of each coefficient position, and a sentinel for position 16.
const BANDS: [usize; 17] = [0, 1, 2, 3, 6, 4, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 0];

/// The extra-bit probabilities of the large-value categories 3 to 6.
const CATEGORIES: [&[u8]; 4] = [
    &[173, 148, 140],
    &[176, 155, 140, 135],
    &[180, 157, 141, 134, 130],
    &[254, 254, 243, 230, 196, 177, 153, 140, 133, 130, 129],
];

/// Token probability types.
const I16_AC: usize = 0;
const I16_DC: usize = 1;
const CHROMA: usize = 2;
const I4: usize = 3;

/// 16×16 luma modes, in the 4×4 modes' numbering that the 4×4 contexts use.
const DC_PRED: u8 = 0;
const TM_PRED: u8 = 1;
const V_PRED: u8 = 2;
const H_PRED: u8 = 3;

type Bands = [[[u8; 11]; 3]; 8];

pub(super) fn check_lossy(data: &[u8]) -> Result<(), Fail> {
    if decodes(data) {
        Ok(())
    } else {
        Err(frame_failed())
    }
}

/// The first partition's headers, as far as parsing the macroblocks needs them.
struct Headers<'a> {
    modes: BoolDecoder<'a>,
    tokens: Vec<BoolDecoder<'a>>,
    segment_probas: Option<[u8; 3]>,
    skip_proba: Option<u8>,
    probas: CoeffProbas,
}

/// Non-zero flags of the blocks along one edge of a macroblock, as libwebp packs them (`nz`:
/// luma bits 0-3, chroma 4-7; `nz_dc`: the 16×16 DC block).
#[derive(Clone, Copy, Default)]
struct Edge {
    nz: u8,
    nz_dc: u8,
}

/// What the modes say about how a macroblock's tokens are coded.
#[derive(Clone, Copy, Default)]
struct Block {
    is_i4x4: bool,
    skip: bool,
}

fn decodes(data: &[u8]) -> bool {
    let Some((width, height, first, rest)) = frame_header(data) else {
        return false;
    };
    let Some(mut h) = headers(first, rest) else {
        return false;
    };
    let (mb_w, mb_h) = (width.div_ceil(16), height.div_ceil(16));
    let mut top_modes = vec![0u8; 4 * mb_w];
    let mut top = vec![Edge::default(); mb_w];
    let mut blocks = vec![Block::default(); mb_w];
    let parts = h.tokens.len();
    for mb_y in 0..mb_h {
        let mut left_modes = [0u8; 4];
        for (block, top_modes) in blocks.iter_mut().zip(top_modes.chunks_exact_mut(4)) {
            *block = intra_modes(&mut h, top_modes, &mut left_modes);
        }
        if h.modes.eof {
            return false;
        }
        let Some(tokens) = h.tokens.get_mut(mb_y & (parts - 1)) else {
            return false;
        };
        let mut left = Edge::default();
        for (block, top) in blocks.iter().zip(top.iter_mut()) {
            if h.skip_proba.is_some() && block.skip {
                top.nz = 0;
                left.nz = 0;
                if !block.is_i4x4 {
                    top.nz_dc = 0;
                    left.nz_dc = 0;
                }
            } else {
                residuals(tokens, &h.probas, block.is_i4x4, top, &mut left);
            }
            if tokens.eof {
                return false;
            }
        }
    }
    true
}

/// What a key frame's 10-byte uncompressed header says.
pub(super) struct KeyFrame {
    pub(super) first_partition: usize,
    pub(super) width: u32,
    pub(super) height: u32,
}

/// The uncompressed header of a shown key frame with a known profile and the start code, or
/// `None`: libwebp refuses every other frame (`VP8GetInfo` when the demuxer stores it, and
/// `VP8GetHeaders` when it decodes).
pub(super) fn key_frame(data: &[u8]) -> Option<KeyFrame> {
    let h = data.first_chunk::<10>()?;
    let tag = u32::from(h[0]) | u32::from(h[1]) << 8 | u32::from(h[2]) << 16;
    let key_frame = tag & 1 == 0;
    let profile = (tag >> 1) & 7;
    let shown = (tag >> 4) & 1 == 1;
    if !key_frame || profile > 3 || !shown || h[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let dimension = |lo: u8, hi: u8| u32::from(u16::from_le_bytes([lo, hi]) & 0x3fff);
    Some(KeyFrame {
        first_partition: (tag >> 5) as usize,
        width: dimension(h[6], h[7]),
        height: dimension(h[8], h[9]),
    })
}

/// `VP8GetHeaders` up to the first partition: the frame size, the first partition and the rest.
fn frame_header(data: &[u8]) -> Option<(usize, usize, &[u8], &[u8])> {
    let k = key_frame(data)?;
    let rest = data.get(10..)?;
    if k.first_partition > rest.len() {
        return None; // "bad partition length"
    }
    let (first, rest) = rest.split_at(k.first_partition);
    Some((k.width as usize, k.height as usize, first, rest))
}

/// The headers at the start of the first partition, and the token partitions.
fn headers<'a>(first: &'a [u8], rest: &'a [u8]) -> Option<Headers<'a>> {
    let mut br = BoolDecoder::new(first);
    br.flag(); // colour space
    br.flag(); // clamping type
    let mut segment_probas = None; // segment header

    if br.flag() {
        let update_map = br.flag();
        if br.flag() {
            br.flag(); // absolute or delta values
            for _ in 0..4 {
                br.optional_signed(7); // quantizer
            }
            for _ in 0..4 {
                br.optional_signed(6); // filter strength
            }
        }
        if update_map {
            let mut p = [255u8; 3];
            for p in &mut p {
                if br.flag() {
                    *p = br.literal(8) as u8;
                }
            }
            segment_probas = Some(p);
        }
    }
    if br.eof {
        return None; // "cannot parse segment header"
    }
    // filter header
    br.flag();
    br.literal(6);
    br.literal(3);
    if br.flag() && br.flag() {
        for _ in 0..8 {
            br.optional_signed(6); // reference and mode loop-filter deltas
        }
    }
    if br.eof {
        return None; // "cannot parse filter header"
    }
    let tokens = partitions(&mut br, rest)?;
    // quantizer indices
    br.literal(7);
    for _ in 0..5 {
        br.optional_signed(4);
    }
    br.flag(); // refresh entropy probabilities (ignored)
    let mut probas = DEFAULT_COEFF_PROBAS;
    for (t, types) in probas.iter_mut().enumerate() {
        for (b, bands) in types.iter_mut().enumerate() {
            for (c, ctx) in bands.iter_mut().enumerate() {
                for (p, proba) in ctx.iter_mut().enumerate() {
                    let update = COEFF_UPDATE_PROBAS[t][b][c][p];
                    if br.bit(update) {
                        *proba = br.literal(8) as u8;
                    }
                }
            }
        }
    }
    let skip_proba = br.flag().then(|| br.literal(8) as u8);
    Some(Headers {
        modes: br,
        tokens,
        segment_probas,
        skip_proba,
        probas,
    })
}

/// `ParsePartitions`: sizes of all but the last token partition (each cut to what is left), the
/// last one running to the end, which must leave it at least one byte.
fn partitions<'a>(br: &mut BoolDecoder, rest: &'a [u8]) -> Option<Vec<BoolDecoder<'a>>> {
    let count = 1usize << br.literal(2);
    let (sizes, mut left) = rest.split_at_checked(3 * (count - 1))?;
    let mut parts = Vec::with_capacity(count);
    for size in sizes.chunks_exact(3) {
        let size = usize::from(size[0]) | usize::from(size[1]) << 8 | usize::from(size[2]) << 16;
        let (part, after) = left.split_at(size.min(left.len()));
        parts.push(BoolDecoder::new(part));
        left = after;
    }
    if left.is_empty() {
        return None; // "cannot parse partitions"
    }
    parts.push(BoolDecoder::new(left));
    Some(parts)
}

/// `ParseIntraMode`: one macroblock's segment, skip flag and prediction modes.
fn intra_modes(h: &mut Headers, top: &mut [u8], left: &mut [u8; 4]) -> Block {
    let br = &mut h.modes;
    if let Some(p) = h.segment_probas {
        if br.bit(p[0]) {
            br.bit(p[2]);
        } else {
            br.bit(p[1]);
        }
    }
    let skip = h.skip_proba.is_some_and(|p| br.bit(p));
    let is_i4x4 = !br.bit(145);
    if is_i4x4 {
        for l in left.iter_mut() {
            let mut mode = *l;
            for t in top.iter_mut() {
                let probas = &INTRA4_MODE_PROBAS[usize::from(*t)][usize::from(mode)];
                mode = intra4_mode(br, probas);
                *t = mode;
            }
            *l = mode;
        }
    } else {
        let mode = if br.bit(156) {
            if br.bit(128) {
                TM_PRED
            } else {
                H_PRED
            }
        } else if br.bit(163) {
            V_PRED
        } else {
            DC_PRED
        };
        top.fill(mode);
        left.fill(mode);
    }
    // chroma mode
    if br.bit(142) && br.bit(114) {
        br.bit(183);
    }
    Block { is_i4x4, skip }
}

/// The 4×4 mode tree (RFC 6386 §11.2), giving the modes' numbers 0-9.
fn intra4_mode(br: &mut BoolDecoder, p: &[u8; 9]) -> u8 {
    if !br.bit(p[0]) {
        0 // DC
    } else if !br.bit(p[1]) {
        1 // TM
    } else if !br.bit(p[2]) {
        2 // VE
    } else if !br.bit(p[3]) {
        if !br.bit(p[4]) {
            3 // HE
        } else if !br.bit(p[5]) {
            4 // RD
        } else {
            5 // VR
        }
    } else if !br.bit(p[6]) {
        6 // LD
    } else if !br.bit(p[7]) {
        7 // VL
    } else if !br.bit(p[8]) {
        8 // HD
    } else {
        9 // HU
    }
}

/// `ParseResiduals`: every block's coefficients, updating the non-zero contexts on the
/// macroblock's top and left edges as libwebp does (bit for bit, in its `u8` registers).
fn residuals(
    br: &mut BoolDecoder,
    probas: &CoeffProbas,
    is_i4x4: bool,
    top: &mut Edge,
    left: &mut Edge,
) {
    let (first, ac) = if is_i4x4 {
        (0, I4)
    } else {
        let nz = coefficients(br, &probas[I16_DC], usize::from(top.nz_dc + left.nz_dc), 0);
        top.nz_dc = u8::from(nz > 0);
        left.nz_dc = top.nz_dc;
        (1, I16_AC)
    };
    let mut tnz: u8 = top.nz & 0x0f;
    let mut lnz: u8 = left.nz & 0x0f;
    for _ in 0..4 {
        let mut l = lnz & 1;
        for _ in 0..4 {
            let ctx = usize::from(l + (tnz & 1));
            let nz = coefficients(br, &probas[ac], ctx, first);
            l = u8::from(nz > first);
            tnz = (tnz >> 1) | (l << 7);
        }
        tnz >>= 4;
        lnz = (lnz >> 1) | (l << 7);
    }
    let mut out_top = u32::from(tnz);
    let mut out_left = u32::from(lnz >> 4);
    for ch in [0, 2] {
        let mut tnz: u8 = top.nz >> (4 + ch);
        let mut lnz: u8 = left.nz >> (4 + ch);
        for _ in 0..2 {
            let mut l = lnz & 1;
            for _ in 0..2 {
                let ctx = usize::from(l + (tnz & 1));
                let nz = coefficients(br, &probas[CHROMA], ctx, 0);
                l = u8::from(nz > 0);
                tnz = (tnz >> 1) | (l << 3);
            }
            tnz >>= 2;
            lnz = (lnz >> 1) | (l << 5);
        }
        out_top |= u32::from(tnz) << 4 << ch;
        out_left |= u32::from(lnz & 0xf0) << ch;
    }
    top.nz = out_top as u8;
    left.nz = out_left as u8;
}

/// `GetCoeffs`: one block's tokens from position `n`; returns the position after the last
/// non-zero coefficient (16 when the block runs to its end).
fn coefficients(br: &mut BoolDecoder, bands: &Bands, ctx: usize, mut n: usize) -> usize {
    let mut p = &bands[BANDS[n]][ctx];
    while n < 16 {
        if !br.bit(p[0]) {
            return n; // end of block
        }
        while !br.bit(p[1]) {
            n += 1; // a zero
            if n == 16 {
                return 16;
            }
            p = &bands[BANDS[n]][0];
        }
        let next = &bands[BANDS[n + 1]];
        if br.bit(p[2]) {
            large_value(br, p);
            p = &next[2];
        } else {
            p = &next[1];
        }
        br.sign();
        n += 1;
    }
    16
}

/// `GetLargeValue`: the bits of a coefficient above 1 (its value does not matter here).
fn large_value(br: &mut BoolDecoder, p: &[u8; 11]) {
    if !br.bit(p[3]) {
        if br.bit(p[4]) {
            br.bit(p[5]);
        }
    } else if !br.bit(p[6]) {
        if !br.bit(p[7]) {
            br.bit(159);
        } else {
            br.bit(165);
            br.bit(145);
        }
    } else {
        let bit1 = br.bit(p[8]);
        let bit0 = br.bit(p[9 + usize::from(bit1)]);
        for &prob in CATEGORIES[2 * usize::from(bit1) + usize::from(bit0)] {
            br.bit(prob);
        }
    }
}
