//! Reading and checking a sentencepiece model file.

use std::path::Path;

use rustc_hash::FxHashMap;

use super::bpe::{Matcher, Mergeable, Merges, Vocab, NONE};
use super::proto::{ModelProto, PieceType};
use super::{bpe, normalize, Info, Lookup, SentencePiece, DEFAULT_UNK_SURFACE};
use crate::error::{Error, Result};

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

/// Rejects the models whose encoding or decoding this implementation does not reproduce.
fn check_supported(model: &ModelProto) -> std::result::Result<(), String> {
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
    Ok(())
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
        check_supported(&model)?;
        let t = &model.trainer;
        let n = &model.normalizer;

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
            owner: super::cache::new_owner(),
            lookup: Box::new(Lookup {
                vocab,
                reserved,
                matcher: Matcher::new(user_defined.iter().map(|(s, id)| (s.as_bytes(), *id))),
                merges,
                barrier_ids: [None; 128],
                stops: [false; 256],
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
        let mut stops = [false; 256];
        for (b, stop) in stops.iter_mut().enumerate() {
            *stop = b == usize::from(b' ')
                || b == usize::from(normalize::SPACE.as_bytes()[0])
                || sp.lookup.merges.is_ascii_barrier(b as u8);
        }
        sp.lookup.stops = stops;

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
