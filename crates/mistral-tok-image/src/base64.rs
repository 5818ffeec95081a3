//! Base64 exactly as mistral_common calls it: `base64.b64decode(s)` on a `str`, i.e. CPython's
//! `binascii.a2b_base64(..., strict_mode=False)`:
//!
//! - a non-ASCII character fails the whole string ("string argument should contain only ASCII
//!   characters");
//! - characters outside the alphabet (newlines, spaces, `-`, `_` …) are skipped;
//! - an `=` that completes a quantum (after 2 or 3 data characters) ends the decoding: the rest
//!   of the string is ignored; other `=` are skipped;
//! - at the end, 1 leftover data character is an error ("number of data characters (N) cannot
//!   be 1 more than a multiple of 4"), 2 or 3 leftover are "Incorrect padding";
//! - the unused low bits of the last quantum are dropped, never checked.
//!
//! The common case (only alphabet characters, then the padding the length calls for) is
//! recognised by a single scan and decoded lazily: [`CleanBase64`] decodes any byte range on
//! demand, so reading an image header never decodes the megabytes of pixel data behind it.

use ::base64::engine::general_purpose::STANDARD_NO_PAD;
use ::base64::Engine;

const INVALID: u8 = 0xFF;

const DECODE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// 0 for a base64 alphabet character, non-zero otherwise; branch-free so that scans vectorise.
#[inline(always)]
fn not_alphabet(b: u8) -> u8 {
    let upper = b.wrapping_sub(b'A') < 26;
    let lower = b.wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    let sym = (b == b'+') | (b == b'/');
    u8::from(!(upper | lower | digit | sym))
}

/// Base64 text made only of alphabet characters (padding stripped), decodable by range.
#[derive(Debug, Clone, Copy)]
pub struct CleanBase64<'a> {
    chars: &'a [u8],
}

impl<'a> CleanBase64<'a> {
    /// The decoded length.
    pub fn len(&self) -> usize {
        let n = self.chars.len();
        n / 4 * 3 + [0, 0, 1, 2][n % 4]
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// Decodes the bytes at `offset..offset + buf.len()` (clipped to the end); returns how many.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> usize {
        let total = self.len();
        if offset >= total {
            return 0;
        }
        let end = total.min(offset.saturating_add(buf.len()));
        let mut written = 0;
        let mut group = offset / 3;
        let mut skip = offset % 3;
        while written < end - offset {
            if skip == 0 {
                // Whole groups (the image data of a large file): the base64 crate's decoder.
                let k = ((end - offset - written) / 3)
                    .min((self.chars.len() / 4).saturating_sub(group));
                let src = self.chars.get(group * 4..(group + k) * 4);
                let dst = buf.get_mut(written..written + 3 * k);
                if let (Some(src), Some(dst), true) = (src, dst, k > 0) {
                    if let Ok(n) = STANDARD_NO_PAD.decode_slice(src, dst) {
                        written += n;
                        group += k;
                        continue;
                    }
                }
            }
            let quad = self.chars.get(group * 4..).unwrap_or(&[]);
            let q = |i: usize| u32::from(quad.get(i).map_or(0, |&c| DECODE[c as usize] & 0x3F));
            let bits = (q(0) << 18) | (q(1) << 12) | (q(2) << 6) | q(3);
            let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
            for &b in bytes.iter().skip(skip) {
                if written == end - offset {
                    break;
                }
                if let Some(slot) = buf.get_mut(written) {
                    *slot = b;
                }
                written += 1;
            }
            skip = 0;
            group += 1;
        }
        written
    }
}

/// What a base64 payload turned out to be.
pub enum Decoded<'a> {
    Clean(CleanBase64<'a>),
    Bytes(Vec<u8>),
}

/// Python's `base64.b64decode(text)` (see the module docs); `Err` holds Python's message.
pub fn b64decode(text: &str) -> Result<Decoded<'_>, String> {
    let bytes = text.as_bytes();
    if let Some(clean) = as_clean(bytes) {
        return Ok(Decoded::Clean(clean));
    }
    if !bytes.is_ascii() {
        return Err("string argument should contain only ASCII characters".to_string());
    }
    decode_lenient(bytes).map(Decoded::Bytes)
}

/// `Some` when `bytes` is alphabet characters followed by `=` only, and the padding is enough.
fn as_clean(bytes: &[u8]) -> Option<CleanBase64<'_>> {
    let data_len = bytes.len() - bytes.iter().rev().take_while(|&&b| b == b'=').count();
    let (data, pads) = bytes.split_at(data_len);
    // One pass over the payload: fixed blocks with a branch-free OR vectorise well.
    let mut blocks = data.chunks_exact(256);
    for block in &mut blocks {
        if block.iter().fold(0u8, |acc, &b| acc | not_alphabet(b)) != 0 {
            return None;
        }
    }
    if blocks.remainder().iter().any(|&b| not_alphabet(b) != 0) {
        return None;
    }
    let needed = match data.len() % 4 {
        0 => 0,
        2 => 2,
        3 => 1,
        _ => return None,
    };
    (pads.len() >= needed).then_some(CleanBase64 { chars: data })
}

/// The general decoder, a transcription of CPython's non-strict `a2b_base64` loop.
fn decode_lenient(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3 + 3);
    let mut quad_pos = 0u8;
    let mut left = 0u32;
    let mut pads = 0u8;
    for &c in bytes {
        if c == b'=' {
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    return Ok(out);
                }
            }
            continue;
        }
        let v = DECODE[c as usize];
        if v == INVALID {
            continue;
        }
        let v = u32::from(v);
        pads = 0;
        match quad_pos {
            0 => {
                left = v;
                quad_pos = 1;
            }
            1 => {
                out.push(((left << 2) | (v >> 4)) as u8);
                left = v & 0x0F;
                quad_pos = 2;
            }
            2 => {
                out.push(((left << 4) | (v >> 2)) as u8);
                left = v & 0x03;
                quad_pos = 3;
            }
            _ => {
                out.push(((left << 6) | v) as u8);
                left = 0;
                quad_pos = 0;
            }
        }
    }
    match quad_pos {
        0 => Ok(out),
        1 => Err(format!(
            "Invalid base64-encoded string: number of data characters ({}) cannot be 1 more \
             than a multiple of 4",
            out.len() / 3 * 4 + 1
        )),
        _ => Err("Incorrect padding".to_string()),
    }
}

#[cfg(test)]
pub(crate) fn decode_all(text: &str) -> Result<Vec<u8>, String> {
    match b64decode(text)? {
        Decoded::Bytes(b) => Ok(b),
        Decoded::Clean(c) => {
            let mut buf = vec![0; c.len()];
            let n = c.read_at(0, &mut buf);
            buf.truncate(n);
            Ok(buf)
        }
    }
}
