//! SentencePiece BPE models (`tokenizer.model.v1`, `mistral_instruct_tokenizer_*.model.v2/v3/v7`),
//! encoding and decoding exactly as sentencepiece 0.2.x does behind mistral_common's
//! `SentencePieceTokenizer`.
//!
//! Encoding is sentencepiece's whole-string BPE, run word by word: the text is split before every
//! `▁` that follows another character, which cannot change the result when no piece could merge
//! across such a point (checked at load; otherwise the whole string is merged at once). Words
//! repeat, so each call keeps a small cache of the words it has already encoded.

mod bpe;
mod decode;
mod normalize;
mod proto;

#[cfg(test)]
mod tests;

use std::path::Path;

use rustc_hash::FxHashMap;

use super::{SpecialTokenPolicy, TextTokenizer};
use crate::error::{Error, Result};
use bpe::{Matcher, Mergeable, Merges, Scratch, Symbol, Vocab, NONE};
use proto::{ModelProto, PieceType};

/// sentencepiece's `kDefaultUnknownSymbol`.
const DEFAULT_UNK_SURFACE: &str = " \u{2047} ";

/// Words longer than this are encoded without going through the per-call cache.
const MAX_CACHED_WORD: usize = 64;

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

fn piece_to_byte(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

impl SentencePiece {
    /// Loads a sentencepiece `ModelProto` file. Models this implementation does not reproduce
    /// exactly (not BPE, a normalization charsmap, …) are rejected with the reason.
    pub fn load(path: &Path) -> Result<SentencePiece> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::tokenizer_file(path, format!("cannot read the file: {e}")))?;
        Self::from_bytes(&bytes).map_err(|reason| Error::tokenizer_file(path, reason))
    }

    /// Parses and checks a serialized `ModelProto`; the error is the reason for rejecting it.
    pub(crate) fn from_bytes(bytes: &[u8]) -> std::result::Result<SentencePiece, String> {
        let model = ModelProto::parse(bytes)
            .map_err(|e| format!("not a sentencepiece model (malformed protobuf: {e})"))?;
        Self::from_proto(model)
    }

    fn from_proto(model: ModelProto) -> std::result::Result<SentencePiece, String> {
        let t = &model.trainer;
        let n = &model.normalizer;
        if model.pieces.is_empty() {
            return Err("not a sentencepiece model (it has no pieces)".into());
        }
        if t.model_type != 2 {
            let name = match t.model_type {
                1 => "UNIGRAM".to_string(),
                3 => "WORD".to_string(),
                4 => "CHAR".to_string(),
                other => format!("{other}"),
            };
            return Err(format!(
                "model type {name} is not supported (only BPE models are)"
            ));
        }
        if !n.precompiled_charsmap.is_empty() {
            return Err(format!(
                "normalizer {:?} has a precompiled charsmap; only the identity normalizer is \
                 supported",
                String::from_utf8_lossy(&n.name)
            ));
        }
        if model
            .denormalizer
            .as_ref()
            .is_some_and(|d| !d.precompiled_charsmap.is_empty())
        {
            return Err("a denormalizer with a charsmap is not supported".into());
        }
        if n.remove_extra_whitespaces {
            return Err("remove_extra_whitespaces=true is not supported".into());
        }
        if !n.escape_whitespaces {
            return Err("escape_whitespaces=false is not supported".into());
        }
        if t.treat_whitespace_as_suffix {
            return Err("treat_whitespace_as_suffix=true is not supported".into());
        }
        if model.pieces.len() >= bpe::MAX_SYMBOL_IDS / 2 {
            return Err(format!(
                "{} pieces are more than this implementation supports ({})",
                model.pieces.len(),
                bpe::MAX_SYMBOL_IDS / 2
            ));
        }

        let count = model.pieces.len();
        let mut piece_text = String::new();
        let mut offsets = Vec::with_capacity(count + 1);
        let mut info: Vec<Info> = Vec::with_capacity(count);
        let mut vocab = Vocab::with_capacity(count);
        let mut reserved: FxHashMap<Box<str>, u32> = FxHashMap::default();
        let mut user_defined: Vec<(String, u32)> = Vec::new();
        let mut unk: Option<u32> = None;
        let mut bytes_found = [false; 256];
        offsets.push(0);
        for (i, p) in model.pieces.iter().enumerate() {
            let id = i as u32;
            let s = std::str::from_utf8(&p.piece)
                .map_err(|_| format!("piece {i} is not valid UTF-8"))?;
            if s.is_empty() {
                return Err(format!("piece {i} is empty"));
            }
            let kind = p
                .piece_type()
                .ok_or_else(|| format!("piece {i} ({s:?}) has an unknown type {}", p.kind))?;
            if p.score.is_nan() {
                return Err(format!("piece {i} ({s:?}) has a NaN score"));
            }
            match kind {
                PieceType::Unused => {
                    return Err(format!(
                        "piece {i} ({s:?}) is UNUSED; UNUSED pieces are not supported"
                    ));
                }
                PieceType::Normal | PieceType::UserDefined => {
                    let m = Mergeable {
                        index: id,
                        score: p.score,
                        out: id,
                    };
                    if !vocab.insert(s, m) {
                        return Err(format!("piece {s:?} is already defined"));
                    }
                    if kind == PieceType::UserDefined {
                        user_defined.push((s.to_string(), id));
                    }
                }
                PieceType::Unknown | PieceType::Control | PieceType::Byte => {
                    if reserved.insert(s.into(), id).is_some() {
                        return Err(format!("piece {s:?} is already defined"));
                    }
                }
            }
            if kind == PieceType::Unknown {
                if unk.is_some() {
                    return Err("the unknown piece is defined twice".into());
                }
                unk = Some(id);
            }
            if kind == PieceType::Byte {
                if !t.byte_fallback {
                    return Err(format!(
                        "byte piece {s:?} is found although byte_fallback is false"
                    ));
                }
                let b = piece_to_byte(s).ok_or_else(|| format!("byte piece {s:?} is invalid"))?;
                bytes_found[usize::from(b)] = true;
            }
            piece_text.push_str(s);
            offsets.push(piece_text.len());
            info.push(Info {
                kind,
                decode_kind: kind,
                byte: piece_to_byte(s).unwrap_or(0),
                out: id,
            });
        }
        let Some(unk) = unk else {
            return Err("the model has no unknown piece".into());
        };
        if t.byte_fallback && bytes_found.iter().any(|f| !f) {
            return Err("byte_fallback is true but the 256 byte pieces are not all there".into());
        }

        // Reserved pieces shadow mergeable pieces with the same string (sentencepiece's
        // `PieceToId` looks at the reserved ones first).
        for (s, &id) in &reserved {
            vocab.shadow(s, id);
            if let Some(m) = vocab.get(s) {
                if let Some(i) = info.get_mut(m.index as usize) {
                    i.out = id;
                }
            }
        }

        let (split_words, split_runs) = split_conditions(&vocab);
        let space_out = vocab.get(normalize::SPACE).map_or(NONE, |m| m.out);
        let merges = Merges::build(&vocab, count as u32);
        if !merges.is_complete() {
            return Err(
                "the pieces use more distinct characters than this implementation supports".into(),
            );
        }
        let mut sp = SentencePiece {
            piece_text,
            offsets,
            info,
            split_words,
            split_runs,
            space_out,
            lookup: Box::new(Lookup {
                vocab,
                reserved,
                matcher: Matcher::new(user_defined.iter().map(|(s, id)| (s.as_bytes(), *id))),
                merges,
                barrier_ids: [None; 128],
            }),
            byte_ids: None,
            // The UNKNOWN piece answers `piece_to_id` for strings that are no piece.
            unk_id: unk,
            bos_id: 0,
            eos_id: 0,
            pad_id: -1,
            num_control: 0,
            add_dummy_prefix: n.add_dummy_prefix,
            unk_surface: match &t.unk_surface {
                Some(s) => String::from_utf8(s.clone())
                    .map_err(|_| "unk_surface is not valid UTF-8".to_string())?,
                None => DEFAULT_UNK_SURFACE.to_string(),
            },
        };
        sp.num_control = sp
            .info
            .iter()
            .filter(|i| i.kind == PieceType::Control)
            .count();
        let decode_kinds: Vec<PieceType> = (0..count as u32)
            .map(|id| {
                let p = sp.piece(id).unwrap_or_default();
                sp.kind(sp.piece_to_id(p)).unwrap_or(PieceType::Normal)
            })
            .collect();
        for (info, kind) in sp.info.iter_mut().zip(decode_kinds) {
            info.decode_kind = kind;
        }
        if t.byte_fallback {
            let mut ids = Box::new([0u32; 256]);
            for (b, slot) in ids.iter_mut().enumerate() {
                *slot = sp.piece_to_id(&format!("<0x{b:02X}>"));
            }
            sp.byte_ids = Some(ids);
        }
        let mut barrier_ids = [None; 128];
        for (b, slot) in barrier_ids.iter_mut().enumerate() {
            let c = b as u8;
            if sp.lookup.merges.is_ascii_barrier(c) {
                let mut ids = Vec::new();
                sp.emit_unmerged(&[c], &mut ids);
                if let [id] = ids[..] {
                    *slot = Some(id);
                }
            }
        }
        sp.lookup.barrier_ids = barrier_ids;

        let named = |field: &[u8], default: &str| -> std::result::Result<String, String> {
            if field.is_empty() {
                Ok(default.to_string())
            } else {
                String::from_utf8(field.to_vec())
                    .map_err(|_| "a special piece name is not valid UTF-8".to_string())
            }
        };
        let unk_piece = named(&t.unk_piece, "<unk>")?;
        let bos_piece = named(&t.bos_piece, "<s>")?;
        let eos_piece = named(&t.eos_piece, "</s>")?;
        let pad_piece = named(&t.pad_piece, "<pad>")?;
        let find = |piece: &str, want: PieceType| {
            let id = sp.piece_to_id(piece);
            (sp.kind(id) == Some(want)).then_some(id)
        };
        // sentencepiece answers −1 for a special piece that is missing or of the wrong type;
        // ids here are unsigned, so such models are rejected (pad alone may be −1).
        if find(&unk_piece, PieceType::Unknown) != Some(unk) {
            return Err(format!(
                "the unknown piece {unk_piece:?} is not the UNKNOWN piece"
            ));
        }
        let bos_id = find(&bos_piece, PieceType::Control)
            .ok_or_else(|| format!("the BOS piece {bos_piece:?} is not a CONTROL piece"))?;
        let eos_id = find(&eos_piece, PieceType::Control)
            .ok_or_else(|| format!("the EOS piece {eos_piece:?} is not a CONTROL piece"))?;
        let pad_id = find(&pad_piece, PieceType::Control).map_or(-1, i64::from);
        sp.bos_id = bos_id;
        sp.eos_id = eos_id;
        sp.pad_id = pad_id;
        Ok(sp)
    }

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

    /// Appends the id of a final symbol that is not a mergeable piece: a reserved piece with
    /// that text, else its UTF-8 bytes as byte pieces (or `<unk>` without byte fallback).
    fn emit_unmerged(&self, text: &[u8], out: &mut Vec<u32>) {
        let id = std::str::from_utf8(text)
            .ok()
            .and_then(|t| self.lookup.reserved.get(t).copied())
            .unwrap_or(self.unk_id);
        self.emit_id(id, text, out);
    }

    #[inline]
    fn emit_id(&self, id: u32, text: &[u8], out: &mut Vec<u32>) {
        if self.kind(id) != Some(PieceType::Unknown) {
            out.push(id);
            return;
        }
        match &self.byte_ids {
            Some(byte_ids) => out.extend(text.iter().map(|&b| byte_ids[usize::from(b)])),
            None => out.push(id),
        }
    }

    /// Appends the ids of the final symbols of `text`.
    fn emit(&self, text: &[u8], symbols: &[Symbol], out: &mut Vec<u32>) {
        for s in symbols {
            let piece = text.get(s.start..s.end).unwrap_or_default();
            match self.info.get(s.id as usize) {
                Some(info) => self.emit_id(info.out, piece, out),
                None => self.emit_unmerged(piece, out),
            }
        }
    }

    /// sentencepiece's BPE on one piece of normalized text.
    fn encode_segment(&self, text: &str, scratch: &mut Scratch, out: &mut Vec<u32>) {
        let l = &*self.lookup;
        bpe::initial_symbols(text, &l.matcher, &l.merges, &mut scratch.symbols);
        bpe::merge(&l.merges, scratch);
        self.emit(text.as_bytes(), &scratch.symbols, out);
    }

    /// The range of `enc.ids` holding the ids of `segment`, encoding it on first sight.
    fn segment_ids<'t>(&self, segment: &'t str, enc: &mut CallState<'t>) -> (usize, usize) {
        if let Some(&r) = enc.cache.get(segment) {
            return r;
        }
        let a = enc.ids.len();
        self.encode_segment(segment, &mut enc.scratch, &mut enc.ids);
        let r = (a, enc.ids.len());
        if segment.len() <= MAX_CACHED_WORD {
            enc.cache.insert(segment, r);
        }
        r
    }

    fn emit_segment<'t>(&self, segment: &'t str, enc: &mut CallState<'t>, out: &mut Vec<u32>) {
        if segment.is_empty() {
            return;
        }
        let (a, b) = self.segment_ids(segment, enc);
        out.extend_from_slice(enc.ids.get(a..b).unwrap_or_default());
    }

    /// Encodes one word of [`normalize::words`] (`▁`×k then text without `▁`), cutting it further
    /// where that cannot change the result:
    /// - around an ASCII character that occurs in no mergeable piece (`\n`, `\t` in Mistral's
    ///   models): no merge can involve it;
    /// - after the first k−1 `▁` when `split_runs` holds: every piece that is not all `▁` scores
    ///   above every all-`▁` piece, so all merges inside `▁`+text happen before the `▁` run
    ///   merges, and no `▁▁x` piece lets a run merge with the text. So the last `▁` joins the text
    ///   exactly when it does in `▁`+text alone, and the run merges alone either way.
    fn encode_word<'t>(&self, word: &'t str, enc: &mut CallState<'t>, out: &mut Vec<u32>) {
        let bytes = word.as_bytes();
        let merges = &self.lookup.merges;
        let mut run_end = 0;
        while bytes.get(run_end..run_end + 3) == Some(normalize::SPACE.as_bytes()) {
            run_end += 3;
        }
        let barrier_from = |i: usize| {
            bytes
                .get(i..)
                .and_then(|rest| rest.iter().position(|&b| merges.is_ascii_barrier(b)))
                .map_or(bytes.len(), |p| i + p)
        };
        let first_end = barrier_from(run_end);
        if self.split_runs && run_end >= 6 {
            let run = word.get(..run_end).unwrap_or_default();
            if first_end == run_end {
                self.emit_segment(run, enc, out);
            } else {
                let tail = word.get(run_end - 3..first_end).unwrap_or_default();
                let (a, b) = self.segment_ids(tail, enc);
                if enc.ids.get(a) == Some(&self.space_out) {
                    self.emit_segment(run, enc, out);
                    out.extend_from_slice(enc.ids.get(a + 1..b).unwrap_or_default());
                } else {
                    self.emit_segment(word.get(..run_end - 3).unwrap_or_default(), enc, out);
                    out.extend_from_slice(enc.ids.get(a..b).unwrap_or_default());
                }
            }
        } else {
            self.emit_segment(word.get(..first_end).unwrap_or_default(), enc, out);
        }
        let mut i = first_end;
        while let Some(&b) = bytes.get(i) {
            if let Some(Some(id)) = self.lookup.barrier_ids.get(usize::from(b)) {
                out.push(*id);
                i += 1;
                continue;
            }
            if merges.is_ascii_barrier(b) {
                self.emit_unmerged(&[b], out);
                i += 1;
                continue;
            }
            let j = barrier_from(i);
            self.emit_segment(word.get(i..j).unwrap_or_default(), enc, out);
            i = j;
        }
    }

    fn encode_normalized(&self, normalized: &str, out: &mut Vec<u32>) {
        let mut enc = CallState::default();
        // Distinct words grow about as the square root of the text; this avoids most rehashing.
        enc.cache.reserve((normalized.len() / 32).min(1 << 15));
        if !self.split_words {
            self.encode_segment(normalized, &mut enc.scratch, out);
            return;
        }
        for word in normalize::words(normalized) {
            self.encode_word(word, &mut enc, out);
        }
    }
}

/// What one `encode` call keeps: buffers, and the ids of the segments it has already encoded
/// (segments repeat: words, indentation). Never shared between calls or threads.
#[derive(Default)]
struct CallState<'t> {
    scratch: Scratch,
    cache: FxHashMap<&'t str, (usize, usize)>,
    ids: Vec<u32>,
}

/// Whether the word split is exact (no mergeable piece has a character other than `▁` followed
/// by `▁`), and whether the `▁`-run split is too (see [`SentencePiece::encode_word`]).
fn split_conditions(vocab: &Vocab) -> (bool, bool) {
    let mut words = true;
    let mut space_space_text = false;
    let mut max_space_score = f32::NEG_INFINITY;
    let mut min_other_score = f32::INFINITY;
    let mut has_space = false;
    for (piece, m) in vocab.iter() {
        if normalize::crosses_word_boundary(piece) {
            words = false;
        }
        if piece.chars().all(|c| c == '\u{2581}') {
            has_space |= piece == normalize::SPACE;
            max_space_score = max_space_score.max(m.score);
        } else {
            min_other_score = min_other_score.min(m.score);
            if piece.starts_with("\u{2581}\u{2581}") {
                space_space_text = true;
            }
        }
    }
    let runs = words && has_space && !space_space_text && min_other_score > max_space_score;
    (words, runs)
}

impl TextTokenizer for SentencePiece {
    fn encode_into(&self, text: &str, out: &mut Vec<u32>) {
        let mut normalized = String::new();
        normalize::normalize(text, self.add_dummy_prefix, &mut normalized);
        if normalized.is_empty() {
            return;
        }
        if self.byte_ids.is_some() {
            self.encode_normalized(&normalized, out);
            return;
        }
        // Without byte fallback sentencepiece reports a run of unknown symbols as one `<unk>`.
        let start = out.len();
        self.encode_normalized(&normalized, out);
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
