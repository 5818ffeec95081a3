//! Format detection and the outcome of reading an image's size.

use super::decoders::{require, Codec};
use super::source::{Data, Reader};
use super::{bmp, gif, jpeg, png, webp};

pub(crate) type Size = (u32, u32);

/// Why no size came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fail {
    /// `PIL.Image.open` raises on these bytes (mistral_common: "not a decodable image").
    NotAnImage(String),
    /// PIL opens the image but loading its pixels raises (mistral_common's pixel step fails).
    Truncated(String),
    /// Only decoding the pixels, or a reader we do not have, would tell what PIL does.
    Undecided(String),
}

/// `PIL.Image.MAX_IMAGE_PIXELS` (its default; PIL raises `DecompressionBombError` at open above
/// twice this).
pub(crate) const MAX_IMAGE_PIXELS: u64 = 1024 * 1024 * 1024 / 4 / 3;

pub(crate) fn bomb_check((w, h): Size) -> Result<(), Fail> {
    let pixels = u64::from(w.max(1)) * u64::from(h.max(1));
    if pixels > 2 * MAX_IMAGE_PIXELS {
        return Err(Fail::NotAnImage(format!(
            "Image size ({pixels} pixels) exceeds limit of {} pixels, could be decompression \
             bomb DOS attack.",
            2 * MAX_IMAGE_PIXELS
        )));
    }
    Ok(())
}

/// The size PIL's `Image.open(...).size` reports, when mistral_common would also load the pixels.
/// `check_pixels`: decode PNG image data and a GIF's or WebP's first frame as PIL does
/// (`png_data`, `gif_lzw`, `webp_lossy`, `webp_lossless`); off, the caller vouches that PIL
/// loaded the image.
pub(crate) fn probe(data: &Data, check_pixels: bool) -> Result<Size, Fail> {
    let mut r = Reader::new(data);
    let prefix = r.read_vec(16);
    r.seek(0);
    // The checks that follow a codec library (the JPEG walk always) stand only where the host
    // decodes with the library they reproduce (`decoders`).
    let size = if prefix.starts_with(png::SIGNATURE) {
        if check_pixels {
            require(Codec::Zlib)?;
        }
        png::probe(&mut r, check_pixels)?
    } else if prefix.starts_with(jpeg::MAGIC) {
        require(Codec::Jpeg)?;
        jpeg::probe(&mut r)?
    } else if gif::is_gif(&prefix) {
        gif::probe(&mut r, check_pixels)?
    } else if webp::is_webp(&prefix) {
        if check_pixels {
            require(Codec::Webp)?;
        }
        webp::probe(&mut r, check_pixels)?
    } else if prefix.starts_with(b"BM") {
        bmp::probe(&mut r)?
    } else {
        // PIL knows ~40 formats, some recognised without any magic number (TGA, IM …).
        return Err(Fail::Undecided(
            "not a PNG, JPEG, GIF, WebP or BMP image".to_string(),
        ));
    };
    if size.0 == 0 || size.1 == 0 {
        return Err(Fail::NotAnImage("not identified by this driver".into()));
    }
    bomb_check(size)?;
    Ok(size)
}
