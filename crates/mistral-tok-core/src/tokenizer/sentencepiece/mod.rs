//! SentencePiece BPE models (`tokenizer.model.v1`, `mistral_instruct_tokenizer_*.model.v2/v3/v7`),
//! encoding and decoding exactly as sentencepiece 0.2.x does behind mistral_common's
//! `SentencePieceTokenizer`.
//!
//! Encoding is sentencepiece's whole-string BPE, run piece by piece: the text is cut before every
//! `▁` that follows another character, around ASCII characters that occur in no piece, and
//! after the leading `▁` run of a word. None of these cuts can change the result for a model
//! that passes the checks made at load (Mistral's do); otherwise the whole string is merged at
//! once, as sentencepiece does. Words repeat, so each thread keeps the ids of the short pieces it
//! has encoded, from one call to the next, and each call those of its longer pieces.
//!
//! - `proto`: the protobuf wire format and `ModelProto`;
//! - `load`: the checks and the tables built from a model;
//! - `normalize`: the dummy prefix, `' '` → `▁`, and the check that makes the word cut exact;
//! - `bpe`: the merge;
//! - `encode`: the cuts and the per-call cache;
//! - `cache`: the per-thread piece cache and buffers;
//! - `decode`: `sp.decode` and mistral_common's special-token policies.

mod bpe;
mod cache;
mod decode;
mod encode;
mod load;
mod normalize;
mod proto;

#[cfg(test)]
mod tests;

use rustc_hash::FxHashMap;

use super::{SpecialTokenPolicy, TextTokenizer};
use crate::error::Result;
use bpe::{Matcher, Merges, Vocab};
use proto::PieceType;

/// sentencepiece's `kDefaultUnknownSymbol`.
const DEFAULT_UNK_SURFACE: &str = " \u{2047} ";

/// A loaded SentencePiece BPE model.
pub struct SentencePiece {
    /// All piece strings, concatenated; piece `i` is `text[offsets[i]..offsets[i + 1]]`.
    piece_text: String,
    offsets: Vec<usize>,
    info: Vec<Info>,
    lookup: Box<Lookup>,
    /// `piece_to_id("<0xHH>")` for each byte when byte fallback is on.
    byte_ids: Option<Box<[u32; 256]>>,
    unk_id: u32,
    bos_id: u32,
    eos_id: u32,
    pad_id: i64,
    num_control: usize,
    add_dummy_prefix: bool,
    unk_surface: String,
    /// Whether encoding word by word is exact for this model (see the module comment).
    split_words: bool,
    /// Whether a word's leading run of `▁` can be merged apart from the rest (see
    /// [`SentencePiece::encode_word`]).
    split_runs: bool,
    /// The id emitted for a lone `▁` (when `split_runs`).
    space_out: u32,
    /// This model's mark in the per-thread word cache.
    owner: u32,
}

#[derive(Debug, Clone, Copy)]
struct Info {
    kind: PieceType,
    /// The kind of `piece_to_id(piece(i))`: what `sp.decode` treats piece `i` as.
    decode_kind: PieceType,
    /// The byte of a BYTE piece (0 for the others).
    byte: u8,
    /// `piece_to_id(piece(i))`: the id emitted for a final symbol that is this piece.
    out: u32,
}

/// The string → id tables of encoding.
struct Lookup {
    /// NORMAL and USER_DEFINED pieces.
    vocab: Vocab,
    /// CONTROL, UNKNOWN and BYTE pieces: looked up before the mergeable ones, as in `PieceToId`.
    reserved: FxHashMap<Box<str>, u32>,
    /// The USER_DEFINED pieces, matched longest-first in the text.
    matcher: Matcher,
    merges: Merges,
    /// The ids of an ASCII character that occurs in no mergeable piece, alone (else empty).
    barrier_ids: [Option<u32>; 128],
    /// The bytes a piece of text ends before: those ASCII characters, the space, and 0xE2
    /// (which may start `▁`).
    stops: [bool; 256],
}

impl std::fmt::Debug for SentencePiece {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentencePiece")
            .field("pieces", &self.info.len())
            .field("control", &self.num_control)
            .field("byte_fallback", &self.byte_ids.is_some())
            .field("split_words", &self.split_words)
            .finish_non_exhaustive()
    }
}

impl SentencePiece {
    fn vocab_len(&self) -> usize {
        self.info.len()
    }

    fn piece(&self, id: u32) -> Option<&str> {
        let i = id as usize;
        let (&a, &b) = (self.offsets.get(i)?, self.offsets.get(i + 1)?);
        self.piece_text.get(a..b)
    }

    fn kind(&self, id: u32) -> Option<PieceType> {
        self.info.get(id as usize).map(|i| i.kind)
    }

    fn decode_kind(&self, id: u32) -> Option<PieceType> {
        self.info.get(id as usize).map(|i| i.decode_kind)
    }

    fn byte_value(&self, id: u32) -> u8 {
        self.info.get(id as usize).map_or(0, |i| i.byte)
    }

    /// sentencepiece's `PieceToId`: reserved pieces first, then mergeable ones, else `<unk>`.
    pub fn piece_to_id(&self, piece: &str) -> u32 {
        if let Some(&id) = self.lookup.reserved.get(piece) {
            return id;
        }
        self.lookup.vocab.get(piece).map_or(self.unk_id, |m| m.out)
    }

    /// Whether words are encoded separately (the model passed the load-time check) or the
    /// whole text is merged at once.
    pub fn splits_words(&self) -> bool {
        self.split_words
    }

    /// Whether leading `▁` runs are merged apart from the word they precede.
    pub fn splits_space_runs(&self) -> bool {
        self.split_runs
    }
}

impl TextTokenizer for SentencePiece {
    fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let start = out.len();
        cache::Buffers::with(|buffers| self.encode_text(text, buffers, out));
        if self.byte_ids.is_some() {
            return Ok(());
        }
        // Without byte fallback sentencepiece reports a run of unknown symbols as one `<unk>`.
        let unk = self.unk_id;
        let mut prev_unk = false;
        let mut w = start;
        for r in start..out.len() {
            let id = out[r];
            let is_unk = id == unk;
            if !(is_unk && prev_unk) {
                out[w] = id;
                w += 1;
            }
            prev_unk = is_unk;
        }
        out.truncate(w);
        Ok(())
    }

    fn decode(&self, ids: &[u32], policy: SpecialTokenPolicy) -> Result<String> {
        self.decode_policy(ids, policy)
    }

    fn id_to_piece(&self, id: u32) -> Result<String> {
        self.piece(id)
            .map(str::to_string)
            .ok_or_else(|| decode::out_of_range(id, self.vocab_len()))
    }

    fn special_token_id(&self, name: &str) -> Result<u32> {
        Ok(self.piece_to_id(name))
    }

    fn is_special(&self, id: u32) -> bool {
        self.kind(id) == Some(PieceType::Control)
    }

    fn vocab_size(&self) -> usize {
        self.vocab_len()
    }

    fn num_special_tokens(&self) -> usize {
        self.num_control
    }

    fn bos_id(&self) -> u32 {
        self.bos_id
    }

    fn eos_id(&self) -> u32 {
        self.eos_id
    }

    fn pad_id(&self) -> i64 {
        self.pad_id
    }

    fn unk_id(&self) -> u32 {
        self.unk_id
    }
}
