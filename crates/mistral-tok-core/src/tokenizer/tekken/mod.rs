//! The tekken tokenizer: tiktoken-style byte-level BPE, byte-identical to mistral_common's
//! `Tekkenizer` (tiktoken 0.14 `Encoding(special_tokens={})` plus the special-token layer).
//!
//! - [`file`]: reading and validating the JSON file (`Tekkenizer.from_file`'s rules);
//! - [`pretokenize`]: the hand-written scanner for the tekken pattern (fancy-regex for others);
//! - [`unicode`]: the scanner's class table, built from regex-syntax's Unicode 16 tables;
//! - [`bpe`]: the rank-driven merge.

mod bpe;
mod cache;
mod file;
mod pretokenize;
mod unicode;

use std::path::Path;

use rustc_hash::{FxHashMap, FxHashSet};

use super::{ImageConfig, SpecialTokenPolicy, TextTokenizer, TokenizerVersion};
use crate::error::{Error, Result};
use bpe::Bpe;
use cache::Cache;
use pretokenize::PreTokenizer;

pub use file::DEPRECATED_SPECIAL_TOKENS;
pub use pretokenize::TEKKEN_PATTERN;

/// A loaded tekken text tokenizer.
pub struct Tekken {
    /// Boxed: the maps are large and the tokenizer facade holds backends by value.
    bpe: Box<Bpe>,
    pre: PreTokenizer,
    /// `num_special_tokens`: every BPE rank is shifted by it.
    num_special: u32,
    /// `n_words`.
    vocab_size: usize,
    /// Special token strings by position (KEEP decoding indexes this list, as mistral_common does).
    special_strs: Vec<String>,
    /// Special string → rank (`get_special_token`).
    special_ids: FxHashMap<String, u32>,
    special_ranks: FxHashSet<u32>,
    bos: u32,
    eos: u32,
    pad: u32,
    unk: u32,
    /// This instance's tag in the per-thread piece cache.
    cache_owner: u32,
}

/// A tekken file: the tokenizer plus the settings mistral_common reads beside it.
pub struct TekkenFile {
    pub tokenizer: Tekken,
    pub version: TokenizerVersion,
    pub image: Option<ImageConfig>,
    pub audio: Option<serde_json::Value>,
    pub model_settings_builder: Option<serde_json::Value>,
}

impl TekkenFile {
    /// `Tekkenizer.from_file(path)`. Every failure is [`Error::TokenizerFile`].
    pub fn load(path: &Path) -> Result<Self> {
        let data = std::fs::read(path)
            .map_err(|e| Error::tokenizer_file(path, format!("cannot read the file: {e}")))?;
        Self::from_slice(&data).map_err(|reason| Error::tokenizer_file(path, reason))
    }

    /// Parses the contents of a tekken file; errors are messages without the path.
    pub fn from_slice(data: &[u8]) -> std::result::Result<Self, String> {
        let parsed = file::parse(data)?;
        let pre = PreTokenizer::new(&parsed.pattern)?;
        let special_ids: FxHashMap<String, u32> = parsed.specials.iter().cloned().collect();
        let special_ranks = parsed.specials.iter().map(|(_, r)| *r).collect();
        let id = |s: &str| special_ids.get(s).copied().ok_or(format!("missing {s}"));
        let (bos, eos, pad, unk) = (id("<s>")?, id("</s>")?, id("<pad>")?, id("<unk>")?);
        let tokenizer = Tekken {
            bpe: Box::new(Bpe::new(parsed.tokens)?),
            pre,
            num_special: parsed.specials.len() as u32,
            vocab_size: parsed.vocab_size,
            special_strs: parsed.specials.into_iter().map(|(s, _)| s).collect(),
            special_ids,
            special_ranks,
            bos,
            eos,
            pad,
            unk,
            cache_owner: cache::new_owner(),
        };
        Ok(TekkenFile {
            tokenizer,
            version: parsed.version,
            image: parsed.image,
            audio: parsed.audio,
            model_settings_builder: parsed.model_settings_builder,
        })
    }
}

impl Tekken {
    /// Whether pre-tokenization uses the hand-written scanner (the file has the tekken pattern)
    /// rather than fancy-regex.
    pub fn uses_scanner(&self) -> bool {
        matches!(self.pre, PreTokenizer::Tekken(_))
    }

    /// The error for an id that is no token of this file.
    fn invalid_token(&self, id: u32) -> Error {
        Error::Decode(format!(
            "Invalid token for decoding: {id} (token ids of this tokenizer are below {})",
            self.num_special as usize + self.bpe.len()
        ))
    }
}

/// Appends the ids of the piece `s[start..end]` (non-empty), from the cache when it has them.
#[inline(always)]
fn encode_span(
    bpe: &Bpe,
    cache: &mut Cache<'_>,
    s: &[u8],
    start: usize,
    end: usize,
    offset: u32,
    out: &mut Vec<u32>,
) {
    let len = end - start;
    let piece = s.get(start..end).unwrap_or_default();
    if len <= 2 {
        // One table read at most, no cache slot taken.
        return bpe.encode_short(piece, offset, out);
    }
    if len > cache::MAX_PIECE {
        return encode_uncached(bpe, cache, piece, offset, out);
    }
    let key = cache::key_at(s, start, len);
    if !cache.get(key, out) {
        encode_missed(bpe, cache, piece, key, offset, out);
    }
}

/// A piece too long for the short-piece table.
#[inline(never)]
fn encode_uncached(
    bpe: &Bpe,
    cache: &mut Cache<'_>,
    piece: &[u8],
    offset: u32,
    out: &mut Vec<u32>,
) {
    let first = out.len();
    if !cache.get_long(piece, out) {
        bpe.encode_piece(piece, offset, out);
        cache.put_long(piece, out.get(first..).unwrap_or_default());
    }
}

/// A piece of 3 to 15 bytes not in the short-piece table.
#[inline(never)]
fn encode_missed(
    bpe: &Bpe,
    cache: &mut Cache<'_>,
    piece: &[u8],
    key: u128,
    offset: u32,
    out: &mut Vec<u32>,
) {
    let first = out.len();
    bpe.encode_piece(piece, offset, out);
    cache.put(key, piece, out.get(first..).unwrap_or_default());
}

/// `bytes` with each normal run's bytes decoded on its own with `errors="replace"`, as
/// mistral_common decodes them; the bytes between runs are special tokens' strings.
fn replace_per_run(bytes: &[u8], normal_runs: &[std::ops::Range<usize>]) -> String {
    let mut text = String::with_capacity(bytes.len());
    let mut at = 0;
    for run in normal_runs {
        text.push_str(&String::from_utf8_lossy(
            bytes.get(at..run.start).unwrap_or_default(),
        ));
        text.push_str(&String::from_utf8_lossy(
            bytes.get(run.clone()).unwrap_or_default(),
        ));
        at = run.end;
    }
    text.push_str(&String::from_utf8_lossy(
        bytes.get(at..).unwrap_or_default(),
    ));
    text
}

fn raise_message(group: &[u32]) -> String {
    let ids: Vec<String> = group.iter().map(u32::to_string).collect();
    format!(
        "Decoding `tokens` that contain special tokens ([{}]) is not allowed. \n\
         Either make sure `tokens` do not include any special tokens or, if you want to decode \
         `tokens` that includes special tokens, change the tokenizer's special token policy to \
         IGNORE or KEEP: \n```\nfrom mistral_common.tokens.tokenizers.mistral import \
         MistralTokenizer\nfrom mistral_common.tokens.tokenizers.tekken import \
         SpecialTokenPolicy\n\ntokenizer = MistralTokenizer.v3(is_tekken=True)\ntekken = \
         tokenizer.instruct_tokenizer.tokenizer\ntekken.special_token_policy = \
         SpecialTokenPolicy.IGNORE  # or SpecialTokenPolicy.KEEP\n```",
        ids.join(", ")
    )
}

impl TextTokenizer for Tekken {
    fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        out.reserve(text.len() / 4 + 1);
        let offset = self.num_special;
        let bpe = &self.bpe;
        Cache::with(self.cache_owner, text.len(), |cache| {
            match (cache, &self.pre) {
                // The scanner's loop, written out so that the per-piece work inlines into it.
                (Some(cache), PreTokenizer::Tekken(table)) => {
                    let s = text.as_bytes();
                    let mut p = 0;
                    while p < s.len() {
                        let end = pretokenize::piece_end(table, s, p)?;
                        encode_span(bpe, cache, s, p, end, offset, out);
                        p = end;
                    }
                    Ok(())
                }
                (Some(cache), PreTokenizer::Regex(_)) => {
                    self.pre.for_each_span(text, |s, start, end| {
                        encode_span(bpe, cache, s, start, end, offset, out)
                    })
                }
                (None, _) => self
                    .pre
                    .for_each_piece(text, |piece| bpe.encode_piece(piece, offset, out)),
            }
        })
        // mistral_common raises `ValueError("Regex error while tokenizing: …")` here.
        .map_err(|e| Error::Request(format!("Regex error while tokenizing: {}", e.0)))
    }

    /// mistral_common's `_decode_all`: maximal runs of special (`id < num_special_tokens`) and
    /// normal ids; each normal run is decoded on its own with `errors="replace"`.
    fn decode(&self, ids: &[u32], policy: SpecialTokenPolicy) -> Result<String> {
        // All runs' bytes in one buffer, with where each normal run lies; in the common case the
        // whole is valid UTF-8 cut only at character boundaries, so every run decodes to itself.
        let mut bytes = Vec::new();
        let mut normal_runs = Vec::new();
        let mut i = 0;
        while i < ids.len() {
            let special = ids[i] < self.num_special;
            let run_end = ids[i..]
                .iter()
                .position(|&t| (t < self.num_special) != special)
                .map_or(ids.len(), |k| i + k);
            let run = &ids[i..run_end];
            if special {
                match policy {
                    SpecialTokenPolicy::Raise => return Err(Error::Decode(raise_message(run))),
                    SpecialTokenPolicy::Keep => {
                        for &t in run {
                            // t < num_special = special_strs.len()
                            let piece = self.special_strs.get(t as usize).map_or("", |s| s);
                            bytes.extend_from_slice(piece.as_bytes());
                        }
                    }
                    SpecialTokenPolicy::Ignore => {}
                }
            } else {
                let start = bytes.len();
                if let Err(k) = self.bpe.extend_decoded(run, self.num_special, &mut bytes) {
                    return Err(self.invalid_token(run[k]));
                }
                normal_runs.push(start..bytes.len());
            }
            i = run_end;
        }
        let whole_is_text = simdutf8::basic::from_utf8(&bytes).is_ok_and(|text| {
            normal_runs
                .iter()
                .all(|run| text.is_char_boundary(run.start) && text.is_char_boundary(run.end))
        });
        if whole_is_text {
            // SAFETY: simdutf8 has just checked that `bytes` is UTF-8.
            return Ok(unsafe { String::from_utf8_unchecked(bytes) });
        }
        Ok(replace_per_run(&bytes, &normal_runs))
    }

    fn id_to_piece(&self, id: u32) -> Result<String> {
        self.decode(&[id], SpecialTokenPolicy::Keep)
    }

    fn special_token_id(&self, name: &str) -> Result<u32> {
        self.special_ids
            .get(name)
            .copied()
            .ok_or_else(|| Error::InvalidArgument(format!("Unknown control token {name}")))
    }

    fn is_special(&self, id: u32) -> bool {
        self.special_ranks.contains(&id)
    }

    fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    fn num_special_tokens(&self) -> usize {
        self.num_special as usize
    }

    fn bos_id(&self) -> u32 {
        self.bos
    }

    fn eos_id(&self) -> u32 {
        self.eos
    }

    fn pad_id(&self) -> i64 {
        self.pad as i64
    }

    fn unk_id(&self) -> u32 {
        self.unk
    }
}

#[cfg(test)]
mod tests;
