//! The image settings a tokenizer file carries beside its vocabulary (tekken's `image` section,
//! SentencePiece's `m1` suffix).

use serde::Deserialize;

/// `mistral_common.tokens.tokenizers.image.ImageConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    pub image_patch_size: u32,
    pub max_image_size: u32,
    #[serde(default = "one")]
    pub spatial_merge_size: u32,
}

fn one() -> u32 {
    1
}

impl ImageConfig {
    /// What mistral_common derives from the `m1` suffix of a SentencePiece file name.
    pub const SENTENCEPIECE_M1: ImageConfig = ImageConfig {
        image_patch_size: 16,
        max_image_size: 1024,
        spatial_merge_size: 1,
    };
}
