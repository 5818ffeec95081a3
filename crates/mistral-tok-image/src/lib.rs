//! Images: from the image a request carries to its `[IMG]` token layout, as mistral_common 1.13.1
//! (`ImageEncoder`) produces it.
//!
//! [`image_size`] answers the size PIL's `Image.open(...).size` reports (EXIF orientation not
//! applied), or the error mistral_common raises for the image: [`Error::Request`] where it fails
//! (not an image, corrupt or cut data its load would refuse), [`Error::Unsupported`] where only
//! mistral_common can tell (`http…` URLs, formats and layouts not read here, a host whose
//! decoders differ from those the checks reproduce: [`decoders`]). [`image_grid`] does
//! mistral_common's resize arithmetic; [`ImageGrid::push_tokens`] writes the ids.
//!
//! `check_pixels = false` skips decoding PNG image data and a GIF's or WebP's first frame, for
//! callers that have loaded the image with PIL themselves and vouch that it succeeded.
//!
//! How each format is judged, and the measurements behind it: `docs/images.md`.

pub mod base64;
mod bmp;
mod config;
pub mod decoders;
mod error;
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

pub use config::ImageConfig;
pub use error::{Error, Result};
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
