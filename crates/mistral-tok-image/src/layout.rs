//! Image size → `[IMG]` token grid: mistral_common's `ImageEncoder._image_to_num_tokens` and the
//! token list of `ImageEncoder.__call__`.

use crate::config::ImageConfig;
use crate::error::{Error, Result};

/// The three special ids an image layout is made of (`SpecialImageIDs` in mistral_common).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageTokenIds {
    pub img: u32,
    pub img_break: u32,
    pub img_end: u32,
}

/// The token grid of one image and the pixel size mistral_common resizes it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageGrid {
    /// The image size as PIL reports it (`Image.size`, EXIF orientation not applied).
    pub width: u32,
    pub height: u32,
    /// `[IMG]` tokens per row.
    pub width_tokens: u32,
    /// Rows, each closed by `[IMG_BREAK]` (the last one by `[IMG_END]`).
    pub height_tokens: u32,
    /// The size the pixels are stretched to for the model (`tokens × patch × merge`).
    pub resized_width: u64,
    pub resized_height: u64,
}

impl ImageGrid {
    /// `height_tokens × (width_tokens + 1)`.
    pub fn num_tokens(&self) -> usize {
        self.height_tokens as usize * (self.width_tokens as usize + 1)
    }

    /// Appends `([IMG] × w + [IMG_BREAK]) × h` with the very last id replaced by `[IMG_END]`.
    pub fn push_tokens(&self, ids: ImageTokenIds, out: &mut Vec<u32>) {
        out.reserve(self.num_tokens());
        for row in 0..self.height_tokens {
            out.extend(std::iter::repeat_n(ids.img, self.width_tokens as usize));
            out.push(if row + 1 == self.height_tokens {
                ids.img_end
            } else {
                ids.img_break
            });
        }
    }

    pub fn tokens(&self, ids: ImageTokenIds) -> Vec<u32> {
        let mut out = Vec::new();
        self.push_tokens(ids, &mut out);
        out
    }
}

/// The token grid for an image of `width × height` pixels, with mistral_common 1.13.1's arithmetic:
/// float ratio to `max_image_size`, Python `round` (half to even) when downscaling, clamped to ≥ 1,
/// then a ceiling division by `patch × merge`.
pub fn image_grid(config: &ImageConfig, width: u32, height: u32) -> Result<ImageGrid> {
    let ImageConfig {
        image_patch_size: patch,
        max_image_size: max,
        spatial_merge_size: merge,
    } = *config;
    if patch == 0 || max == 0 || merge == 0 {
        // mistral_common's ImageConfig.__post_init__ asserts all three are > 0.
        return Err(Error::InvalidArgument(format!(
            "image settings must be > 0, got image_patch_size={patch}, max_image_size={max}, \
             spatial_merge_size={merge}"
        )));
    }
    if width == 0 || height == 0 {
        // PIL never opens an image with a zero side ("not identified by this driver").
        return Err(Error::InvalidArgument(format!(
            "an image size must be > 0, got {width}x{height}"
        )));
    }
    let (mut w, mut h) = (u64::from(width), u64::from(height));
    let ratio = f64::max(h as f64 / f64::from(max), w as f64 / f64::from(max));
    if ratio > 1.0 {
        w = python_round(w as f64 / ratio).max(1);
        h = python_round(h as f64 / ratio).max(1);
    }
    let step = u64::from(patch) * u64::from(merge);
    let width_tokens = (w - 1) / step + 1;
    let height_tokens = (h - 1) / step + 1;
    // After the downscale both sides are ≤ max_image_size (a u32), so the counts fit in a u32.
    let to_u32 = |v: u64| {
        u32::try_from(v).map_err(|_| Error::Internal(format!("image token count {v} overflows")))
    };
    Ok(ImageGrid {
        width,
        height,
        width_tokens: to_u32(width_tokens)?,
        height_tokens: to_u32(height_tokens)?,
        resized_width: width_tokens * step,
        resized_height: height_tokens * step,
    })
}

/// Python's `round(x)` for a positive finite float: nearest integer, ties to even.
fn python_round(x: f64) -> u64 {
    let r = x.round_ties_even();
    if r.is_finite() && r > 0.0 {
        r as u64
    } else {
        0
    }
}
