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
use bpe::{Matcher, Mergeable, Scratch, Vocab};
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
}

#[derive(Debug, Clone, Copy)]
struct Info {
    kind: PieceType,
    /// The kind of `piece_to_id(piece(i))`: what `sp.decode` treats piece `i` as.
    decode_kind: PieceType,
    /// The byte of a BYTE piece (0 for the others).
    byte: u8,
}

/// The string → id tables of encoding.
struct Lookup {
    /// NORMAL and USER_DEFINED pieces.
    vocab: Vocab,
    /// CONTROL, UNKNOWN and BYTE pieces: looked up before the mergeable ones, as in `PieceToId`.
    reserved: FxHashMap<Box<str>, u32>,
    /// The USER_DEFINED pieces, matched longest-first in the text.
    matcher: Matcher,
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
        if u32::try_from(model.pieces.len()).is_err() {
            return Err("too many pieces".into());
        }

        let count = model.pieces.len();
        let mut piece_text = String::new();
        let mut offsets = Vec::with_capacity(count + 1);
        let mut info: Vec<Info> = Vec::with_capacity(count);
        let mut vocab = Vocab::default();
        let mut reserved: FxHashMap<Box<str>, u32> = FxHashMap::default();
        let mut user_defined: Vec<String> = Vec::new();
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
                    if !vocab.insert(s.as_bytes(), Mergeable { score: p.score, id }) {
                        return Err(format!("piece {s:?} is already defined"));
                    }
                    if kind == PieceType::UserDefined {
                        user_defined.push(s.to_string());
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
            vocab.update_id(s.as_bytes(), id);
        }

        let split_words = !vocab
            .pieces()
            .any(|p| std::str::from_utf8(p).is_ok_and(normalize::crosses_word_boundary));
        let mut sp = SentencePiece {
            piece_text,
            offsets,
            info,
            split_words,
            lookup: Box::new(Lookup {
                vocab,
                reserved,
                matcher: Matcher::new(user_defined.iter().map(|s| s.as_bytes())),
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
        self.lookup
            .vocab
            .get(piece.as_bytes())
            .map_or(self.unk_id, |m| m.id)
    }

    /// Whether words are encoded separately (the model passed the load-time check) or the
    /// whole text is merged at once.
    pub fn splits_words(&self) -> bool {
        self.split_words
    }

    /// Appends the ids of the final symbols in `scratch` (symbols of `text`).
    fn emit(&self, text: &str, scratch: &Scratch, out: &mut Vec<u32>) {
        for s in &scratch.symbols {
            let Some(piece) = text.get(s.start..s.end) else {
                continue;
            };
            let id = match self.lookup.vocab.get(piece.as_bytes()) {
                Some(m) => m.id,
                None => self
                    .lookup
                    .reserved
                    .get(piece)
                    .copied()
                    .unwrap_or(self.unk_id),
            };
            if self.kind(id) != Some(PieceType::Unknown) {
                out.push(id);
                continue;
            }
            match &self.byte_ids {
                Some(byte_ids) => out.extend(piece.bytes().map(|b| byte_ids[usize::from(b)])),
                None => out.push(id),
            }
        }
    }

    fn encode_word(&self, word: &str, scratch: &mut Scratch, out: &mut Vec<u32>) {
        bpe::initial_symbols(word, &self.lookup.matcher, &mut scratch.symbols);
        bpe::merge(word.as_bytes(), &self.lookup.vocab, scratch);
        self.emit(word, scratch, out);
    }

    fn encode_normalized(&self, normalized: &str, out: &mut Vec<u32>) {
        let mut scratch = Scratch::default();
        if !self.split_words {
            self.encode_word(normalized, &mut scratch, out);
            return;
        }
        // Per-call cache: word → range of `cached`.
        let mut cache: FxHashMap<&str, (usize, usize)> = FxHashMap::default();
        let mut cached: Vec<u32> = Vec::new();
        for word in normalize::words(normalized) {
            if word.len() > MAX_CACHED_WORD {
                self.encode_word(word, &mut scratch, out);
                continue;
            }
            if let Some(&(a, b)) = cache.get(word) {
                if let Some(ids) = cached.get(a..b) {
                    out.extend_from_slice(ids);
                    continue;
                }
            }
            let a = cached.len();
            self.encode_word(word, &mut scratch, &mut cached);
            let b = cached.len();
            out.extend_from_slice(cached.get(a..b).unwrap_or_default());
            cache.insert(word, (a, b));
        }
    }
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
