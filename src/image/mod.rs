//! Images: from the image a request carries to its `[IMG]` token layout, as mistral_common 1.13.1
//! (`ImageEncoder`) produces it, decoding compressed data only where that decides acceptance (PNG
//! image data, a GIF's or WebP's first frame, JPEG tables and markers; see below).
//!
//! The token layout depends only on the image's pixel size (PIL's `Image.open(...).size`, EXIF
//! orientation not applied) and the tokenizer's [`ImageConfig`]: [`image_size`] reads the size
//! from the headers, [`image_grid`] does mistral_common's resize arithmetic, and
//! [`ImageGrid::push_tokens`] writes the ids.
//!
//! # Sources ([`ImageInput`])
//! - `image_url` chunks ([`ImageInput::Url`]):
//!   - `data:<mime>;base64,<payload>` — mistral_common's parsing and error texts; the payload is
//!     decoded with Python `base64.b64decode` semantics (non-alphabet characters skipped, decoding
//!     stops at completed padding; see `base64.rs`), lazily: only the header bytes are decoded;
//!   - `file://<path>` — the rest of the URL is the path, verbatim (no percent-decoding), as
//!     mistral_common's `open(url.removeprefix("file://"))`; the file is read on the calling thread
//!     (the worker). Callers that must not read local files should refuse `file://` before (vLLM
//!     does, unless `--allowed-local-media-path` allows it);
//!   - `http…` — [`Error::Unsupported`]: mistral_common downloads it with `requests`; the native
//!     path does no network I/O, so callers fall back to mistral_common, or pass the size of the
//!     bytes they fetched themselves (`KnownImageSizes`): vLLM fetches every remote image for the
//!     model inputs but passes the original URL to the tokenizer, and the vLLM shim records the
//!     size of what vLLM received (PIL's `Image.open(bytes).size`, EXIF orientation not applied,
//!     as mistral_common reads it) for the template call that follows;
//!   - anything else — `Unsupported image url scheme …` ([`Error::Request`]), as mistral_common.
//! - `image` chunks given as a string ([`ImageInput::Base64`]): base64, optionally a data URL.
//! - raw encoded bytes ([`ImageInput::Bytes`]).
//!
//! # Formats and what is rejected
//! PNG, JPEG, GIF and WebP are read natively, and uncompressed BMP. mistral_common fails on an
//! image if PIL cannot open it (bad header, bad CRC before the image data, > 2 × 89 478 485
//! pixels …) or cannot load its pixels (it converts every image to RGB): a truncated JPEG (one
//! whose decoder wants bytes past the end before its last row; a baseline JPEG missing only its
//! EOI is usually accepted), a PNG whose chunks after the image data are cut, a WebP shorter than its RIFF size. Those are
//! [`Error::Request`]. For formats or variants not read here (TIFF, APNG, RLE BMP, the ~40 other
//! PIL formats) the answer is [`Error::Unsupported`], so that callers fall back to mistral_common
//! and stay exact.
//!
//! **PNG image data** is inflated exactly as PIL's loader feeds it to its decoder (`png_data.rs`:
//! 64 KiB pieces within IDAT chunks, row by row, Adam7 passes, filter bytes ≤ 4, inflate errors
//! up to the symbols zlib reads after the last row, the end of the stream counted only on a row
//! boundary): corrupt compressed data, a bad Adler-32 where PIL reads it, too few rows, and a file
//! that ends inside its image data are refused or accepted as PIL does. Measured: 0 disagreements
//! in 25 200 corrupted PNGs (`tests/test_png_pixels.py`, seeds varied). The cost is one inflate of
//! the image data; `check_pixels = false` ([`image_size`], `template::ImageOptions`) skips it for
//! callers that have loaded the image with PIL themselves and vouch that it succeeded: the image
//! data is then not read, and a PNG whose data is corrupt, or that ends (or has a bad chunk
//! header) among its IDAT chunks, is accepted with its IHDR size. vLLM's `load_bytes` does NOT
//! vouch for that (its first `load()` runs inside `ImageOps.exif_transpose`, which swallows the
//! error; the second is a no-op), so the vLLM shims keep the check on.
//!
//! **GIF**: with the check on, the first frame's LZW data is decoded as PIL's `GifDecode.c`
//! reads it (`gif_lzw.rs`: done at the frame's last pixel, code checks, sub-blocks chained past
//! the terminator, 64 KiB reads, the end code handing back to the loader): corrupt LZW data and
//! files that end before the frame is complete are decided as PIL does (0 disagreements in 6 500
//! corrupted GIFs, `tests/test_gif_pixels.py`, seeds varied). With the check off, a GIF that ends
//! inside its first frame's sub-blocks is [`Error::Unsupported`].
//!
//! **JPEG** — libjpeg's marker reader is followed through the whole file (`jpeg_scan`,
//! `jpeg_stream`): Huffman, quantization and arithmetic-conditioning tables, scan headers and
//! progression parameters, unknown or duplicate markers, restart markers, and where the data
//! may end — a multi-scan (progressive) file is read whole before any row comes out, so it must
//! reach EOI; a single-scan file is done after its last row, so what follows its scan only counts
//! if it is a fatal error PIL had fed to libjpeg by then (PIL feeds 64 KiB pieces). Where that
//! depends on the entropy-coded data (a single-scan file cut inside its scan data; a fatal
//! marker beyond the piece the scan header ended in), libjpeg-turbo's Huffman decoder is
//! followed bit for bit (`jpeg_huffman`: code lengths and its refills, no coefficients).
//! Corrupt entropy-coded data only draws warnings from libjpeg, and PIL accepts it. Left to
//! mistral_common ([`Error::Unsupported`]): fractional sampling factors, an EOI before the first
//! scan, arithmetic-coded and lossless files whose last marker segment runs past the end.
//!
//! **WebP**: with the check on, the frame PIL decodes (the only one of a still file, the first
//! `ANMF` of an animation) is decoded as libwebp 1.6.0 decodes it, without producing pixels:
//! lossy `VP8 ` key frames (`webp_lossy`: headers, partitions, every macroblock's modes and
//! coefficient tokens with their contexts, through libwebp's boolean decoder state for state,
//! `vp8_bool`), lossless `VP8L` streams (`webp_lossless`: transforms, colour cache, meta codes,
//! prefix codes as `VP8LBuildHuffmanTable` judges them, back-reference ranges, through libwebp's
//! bit reader, `vp8l_bits`, `vp8l_huffman`), and a lossy frame's `ALPH` chunk where the demuxer
//! keeps it (header bits, raw size, or its lossless stream, with the 8-bit alpha decoder's own
//! end rule). The frame fails where libwebp runs out of data or meets an invalid code; the
//! demuxer's refusals of a frame header (`VP8GetInfo`) fail `Image.open`. Corrupt data can put a
//! decoder in states no encoder makes, where the exact register arithmetic of libwebp's 64-bit
//! build decides later decisions, so that is reproduced too (a 32-bit build, or a CPU whose slow
//! SSSE3 makes libwebp pick its other coefficient reader, could answer differently on such
//! data). Unusual layouts (`ALPH` before `VP8L`, doubled chunks, extra chunks in an `ANMF`
//! frame) are [`Error::Unsupported`].
//!
//! **Measured** — `tests/test_image_corruption.py` with `MISTRAL_TOK_CORRUPTION_CASES=800`: 1,
//! 3 or 10 random bit flips in the compressed data of files PIL wrote (37×29 … 300×200, L and
//! RGB; JPEG baseline and progressive after the first SOS, WebP lossy and lossless after byte
//! 30, GIF LZW data), 800 files per format: every answer agreed with mistral_common. Before the
//! data was decoded, we accepted what mistral_common refused for 42.9 % of the WebPs, 22.5 % of
//! the GIFs and 10.9 % of the JPEGs (0.1–0.3 % after `jpeg_scan`, plus 1.6 % left to
//! mistral_common until `jpeg_stream`). WebP, 0 disagreements with PIL in 18,000 corrupted
//! lossy and 6,600 lossless simple files (flips, header flips, cuts, pad bytes;
//! `tests/test_webp_bitstreams.py` runs 600 per run) and in 30,000 lossy and 5,500 lossless
//! from a second, independently written generator; with mistral_common in 1,740 corrupted
//! stills with alpha, `VP8X` stills and animations (`tests/test_webp_frames.py`). JPEG: `tests/test_jpeg_corruption.py`
//! adds L/RGB/CMYK, subsampling, restart markers, sizes to 900×600, header flips and cuts: 0
//! disagreements in 8,000 files, 0.06 % left to mistral_common (20 % before `jpeg_huffman`: the
//! single-scan files cut inside their scan data); files to 1400×900 with injected markers and
//! cuts near 64 KiB boundaries: 0 disagreements in 6,500. **Not detected**: JPEG errors that
//! only decoding reveals (a DC coefficient overflowing an `int`, colour-conversion and
//! upsampling refusals on odd frames).
//!
//! # In the chat path
//! `template::Ctx::image` encodes `image_url` chunks and string `image` chunks in place (V3+ user
//! messages, V15 tool messages; the templates apply `_maybe_put_image_first`); without image
//! settings in the tokenizer file it raises mistral_common's "Make sure to define a image encoder
//! at init". `template::encode_instruct_with_images` / `chat::encode_chat_with_images` also
//! return every [`ImageGrid`] in encoding order (as `Tokenized.images`: images of messages
//! dropped by truncation stay listed) and take the sizes of `http…` images the caller already
//! fetched (`template::KnownImageSizes`), so that remote images need no network I/O here.
//! An `image_url` may also be a stand-in for a text the host lends without copying
//! ([`stand_in`]).

pub(crate) mod base64;
mod bmp;
mod gif;
mod gif_lzw;
mod jpeg;
mod jpeg_huffman;
mod jpeg_scan;
mod jpeg_stream;
mod layout;
mod png;
mod png_data;
mod probe;
mod source;
pub mod stand_in;
mod vp8_bool;
mod vp8_tables;
mod vp8l_bits;
mod vp8l_huffman;
mod webp;
mod webp_lossless;
mod webp_lossy;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use crate::error::{Error, Result};
pub use crate::tokenizer::ImageConfig;
pub use layout::{image_grid, ImageGrid, ImageTokenIds};
use probe::Fail;
use source::Data;

/// An image as a chat request carries it.
#[derive(Debug, Clone, Copy)]
pub enum ImageInput<'a> {
    /// The `url` of an `image_url` chunk (`ImageURLChunk`).
    Url(&'a str),
    /// The string of an `image` chunk (`ImageChunk`): base64, optionally with a data-URL prefix.
    Base64(&'a str),
    /// Encoded image bytes (an `ImageChunk` built from `bytes`).
    Bytes(&'a [u8]),
}

/// The pixel size (width, height) mistral_common would use for this image.
///
/// `check_pixels`: decode what PIL's load would decode where that decides acceptance (PNG image
/// data, a GIF's or WebP's first frame). `false` is for callers that have loaded the image with
/// PIL themselves and vouch that it succeeded: a PNG whose image data is corrupt, or that ends
/// inside it, is then accepted, and so is a GIF with corrupt LZW data or a WebP with a corrupt
/// frame.
pub fn image_size(input: ImageInput<'_>, check_pixels: bool) -> Result<(u32, u32)> {
    match input {
        ImageInput::Url(url) => url_size(url, check_pixels),
        ImageInput::Base64(text) => chunk_text_size(text, check_pixels),
        ImageInput::Bytes(bytes) => {
            let data = Data::Bytes(Cow::Borrowed(bytes));
            probe::probe(&data, check_pixels).map_err(|fail| {
                fail_to_error(
                    fail,
                    "Encountered an error when loading image from bytes.".into(),
                )
            })
        }
    }
}

/// The token grid of one image under `config` (size read from the image, then [`image_grid`]).
pub fn image_layout(
    input: ImageInput<'_>,
    config: &ImageConfig,
    check_pixels: bool,
) -> Result<ImageGrid> {
    let (w, h) = image_size(input, check_pixels)?;
    image_grid(config, w, h)
}

/// Python's `s[:n]` on a `str`: the first `n` code points.
fn head(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

/// mistral_common's `maybe_strip_base64_data_url_prefix`.
fn strip_data_url(s: &str) -> Result<&str> {
    if !s.starts_with("data:") {
        return Ok(s);
    }
    match s.split_once(',') {
        Some((header, payload)) if header.ends_with(";base64") && !payload.is_empty() => {
            Ok(payload)
        }
        _ => Err(Error::Request(format!(
            "Invalid base64 data URL {}: expected the form `data:<mime>;base64,<payload>`.",
            head(s, 64)
        ))),
    }
}

fn decode_base64(text: &str) -> std::result::Result<Data<'_>, String> {
    Ok(match base64::b64decode(text)? {
        base64::Decoded::Clean(c) => Data::Base64(c),
        base64::Decoded::Bytes(b) => Data::Bytes(Cow::Owned(b)),
    })
}

/// `not_an_image` is mistral_common's message when PIL cannot open the bytes.
fn fail_to_error(fail: Fail, not_an_image: String) -> Error {
    match fail {
        Fail::NotAnImage(_) => Error::Request(not_an_image),
        Fail::Truncated(reason) => Error::Request(format!("{not_an_image} (PIL: {reason})")),
        Fail::Undecided(reason) => Error::Unsupported(format!(
            "image not read natively ({reason}); mistral_common decides this one"
        )),
    }
}

fn url_size(url: &str, check_pixels: bool) -> Result<(u32, u32)> {
    if url.starts_with("data:") {
        let payload = strip_data_url(url)?;
        let data = decode_base64(payload).map_err(|_| {
            Error::Request(format!(
                "Invalid image data URL {}: payload is not valid base64.",
                head(url, 64)
            ))
        })?;
        return probe::probe(&data, check_pixels).map_err(|fail| {
            fail_to_error(
                fail,
                format!(
                    "Invalid image data URL {}: payload is not a decodable image.",
                    head(url, 64)
                ),
            )
        });
    }
    if let Some(path) = url.strip_prefix("file://") {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::Request(format!("cannot read image file '{path}': {e}")))?;
        let data = Data::Bytes(Cow::Owned(bytes));
        return probe::probe(&data, check_pixels)
            .map_err(|fail| fail_to_error(fail, format!("cannot identify image file '{path}'")));
    }
    if url.starts_with("http") {
        return Err(Error::Unsupported(
            "image URLs over http(s) are downloaded by mistral_common; the native path does no \
             network I/O"
                .to_string(),
        ));
    }
    Err(Error::Request(format!(
        "Unsupported image url scheme {url}"
    )))
}

fn chunk_text_size(text: &str, check_pixels: bool) -> Result<(u32, u32)> {
    let payload = strip_data_url(text)?;
    let message = || {
        format!(
            "Encountered an error when loading image from bytes starting with '{}'. Expected \
             either a PIL.Image.Image or a base64 encoded string of bytes.",
            head(payload, 20)
        )
    };
    let data = decode_base64(payload).map_err(|_| Error::Request(message()))?;
    probe::probe(&data, check_pixels).map_err(|fail| fail_to_error(fail, message()))
}
