//! PLACEHOLDER — replaced by the SentencePiece implementation.
use std::path::Path;

use super::{SpecialTokenPolicy, TextTokenizer};
use crate::error::{Error, Result};

pub struct SentencePiece;

impl SentencePiece {
    pub fn load(path: &Path) -> Result<Self> {
        Err(Error::tokenizer_file(
            path,
            "SentencePiece loading is not implemented yet",
        ))
    }
}

impl TextTokenizer for SentencePiece {
    fn encode_into(&self, _text: &str, _out: &mut Vec<u32>) {}
    fn decode(&self, _ids: &[u32], _policy: SpecialTokenPolicy) -> Result<String> {
        Ok(String::new())
    }
    fn id_to_piece(&self, _id: u32) -> Result<String> {
        Ok(String::new())
    }
    fn special_token_id(&self, name: &str) -> Result<u32> {
        Err(Error::InvalidArgument(format!(
            "Unknown control token {name}"
        )))
    }
    fn is_special(&self, _id: u32) -> bool {
        false
    }
    fn vocab_size(&self) -> usize {
        0
    }
    fn num_special_tokens(&self) -> usize {
        0
    }
    fn bos_id(&self) -> u32 {
        1
    }
    fn eos_id(&self) -> u32 {
        2
    }
    fn pad_id(&self) -> i64 {
        11
    }
    fn unk_id(&self) -> u32 {
        0
    }
}
