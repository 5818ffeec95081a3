//! Encoding: sentencepiece's BPE, cut into independent pieces where that is exact, with a
//! per-thread cache of short pieces and a per-call cache of the longer ones.
//!
//! The text is cut where the normalized text would be, but without normalizing it first: a
//! piece is a slice of the caller's text, plus whether the dummy-prefix `▁` goes in front of it
//! (only the first piece of a text). It is normalized only when the caches miss.

use rustc_hash::FxHashMap;

use super::bpe::{self, Scratch, Symbol};
use super::cache::{Buffers, WordCache};
use super::proto::PieceType;
use super::{normalize, SentencePiece};

/// Pieces longer than this are encoded without going through the per-call cache.
const MAX_CACHED_PIECE: usize = 64;

/// `▁` (U+2581). 0xE2 is only ever a lead byte in UTF-8, so a byte match on `▁` is a character
/// match.
const SPACE: &[u8] = normalize::SPACE.as_bytes();

/// A piece of the text: a slice of it, with the dummy-prefix `▁` in front when `prefixed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Piece<'t> {
    prefixed: bool,
    text: &'t str,
}

impl SentencePiece {
    /// Appends the id of a final symbol that is not a mergeable piece: a reserved piece with
    /// that text, else its UTF-8 bytes as byte pieces (or `<unk>` without byte fallback).
    pub(super) fn emit_unmerged(&self, text: &[u8], out: &mut Vec<u32>) {
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
    pub(super) fn encode_segment(&self, text: &str, scratch: &mut Scratch, out: &mut Vec<u32>) {
        let l = &*self.lookup;
        bpe::initial_symbols(text, &l.matcher, &l.merges, &mut scratch.symbols);
        bpe::merge(&l.merges, scratch);
        self.emit(text.as_bytes(), &scratch.symbols, out);
    }

    /// The range of `enc.ids` holding the ids of `piece`, encoding it on first sight in this
    /// call.
    fn piece_ids<'t>(&self, piece: Piece<'t>, enc: &mut CallState<'_, 't>) -> (usize, usize) {
        if let Some(&r) = enc.cache.get(&piece) {
            return r;
        }
        let a = enc.ids.len();
        enc.normalized.clear();
        if piece.prefixed {
            enc.normalized.push_str(normalize::SPACE);
        }
        normalize::append(piece.text, enc.normalized);
        self.encode_segment(enc.normalized, enc.scratch, enc.ids);
        let r = (a, enc.ids.len());
        if piece.text.len() <= MAX_CACHED_PIECE {
            enc.cache.insert(piece, r);
        }
        r
    }

    /// Appends the ids of one piece: from the thread's cache when it is short, else from this
    /// call's cache, encoding it when neither has it.
    #[inline]
    fn emit_piece<'t>(&self, piece: Piece<'t>, enc: &mut CallState<'_, 't>, out: &mut Vec<u32>) {
        let key = WordCache::key(piece.text.as_bytes(), piece.prefixed);
        if let Some(key) = &key {
            if enc.words.get(key, out) {
                return;
            }
        }
        if piece.text.is_empty() && !piece.prefixed {
            return;
        }
        let (a, b) = self.piece_ids(piece, enc);
        let ids = enc.ids.get(a..b).unwrap_or_default();
        if let Some(key) = &key {
            enc.words.put(key, ids);
        }
        out.extend_from_slice(ids);
    }

    /// The end of the piece that starts at `i`: the next ASCII barrier, space, `▁`, or the end.
    #[inline(always)]
    fn piece_end(&self, bytes: &[u8], mut i: usize) -> usize {
        let stops = &self.lookup.stops;
        while let Some(&b) = bytes.get(i) {
            if stops[usize::from(b)] && (b != SPACE[0] || bytes.get(i..i + 3) == Some(SPACE)) {
                return i;
            }
            i += 1;
        }
        i
    }

    /// The length of the space (`' '` or `▁`, both `▁` once normalized) at `i`, if any.
    #[inline(always)]
    fn space_at(bytes: &[u8], i: usize) -> Option<usize> {
        match bytes.get(i) {
            Some(b' ') => Some(1),
            Some(&b) if b == SPACE[0] && bytes.get(i..i + 3) == Some(SPACE) => Some(3),
            _ => None,
        }
    }

    /// Encodes `text` word by word, cutting where its normalized form has a `▁` that follows a
    /// character other than `▁` (`"▁a▁▁b\n▁c"` → `"▁a"`, `"▁▁b\n"`, `"▁c"`): when no
    /// mergeable piece contains a non-`▁` character followed by `▁`, no merge can cross such a
    /// point (the loader checks that condition, `split_words`). Each word is cut further where
    /// that cannot change the result:
    /// - around an ASCII character that occurs in no mergeable piece (`\n`, `\t` in Mistral's
    ///   models): no merge can involve it;
    /// - after the first k−1 `▁` of a word that starts with k ≥ 2 when `split_runs` holds: every
    ///   piece that is not all `▁` scores above every all-`▁` piece, so all merges inside
    ///   `▁`+text happen before the `▁` run merges, and no `▁▁x` piece lets a run merge with the
    ///   text. So the last `▁` joins the text exactly when it does in `▁`+text alone, and the run
    ///   merges alone either way.
    fn encode_words<'t>(&self, text: &'t str, enc: &mut CallState<'_, 't>, out: &mut Vec<u32>) {
        let bytes = text.as_bytes();
        let slice = |a: usize, b: usize| text.get(a..b).unwrap_or_default();
        let mut prefixed = self.add_dummy_prefix;
        let mut i = 0;
        while i < bytes.len() {
            // The word's leading spaces: `run` of them (the dummy prefix included), the last
            // one at `last`.
            let mut run = usize::from(prefixed);
            let mut run_end = i;
            let mut last = i;
            while let Some(n) = Self::space_at(bytes, run_end) {
                last = run_end;
                run_end += n;
                run += 1;
            }
            let first_end = self.piece_end(bytes, run_end);
            if self.split_runs && run >= 2 && first_end != run_end {
                // `run` ≥ 2, so the last space is in the text. The tail `▁`+text first, then
                // the run with or without its last `▁`.
                let mut tail = std::mem::take(enc.tail);
                tail.clear();
                let tail_piece = Piece {
                    prefixed: false,
                    text: slice(last, first_end),
                };
                self.emit_piece(tail_piece, enc, &mut tail);
                let (run_text, rest) = match tail.split_first() {
                    Some((&first, rest)) if first == self.space_out => (slice(i, run_end), rest),
                    _ => (slice(i, last), &tail[..]),
                };
                let run_piece = Piece {
                    prefixed,
                    text: run_text,
                };
                self.emit_piece(run_piece, enc, out);
                out.extend_from_slice(rest);
                *enc.tail = tail;
            } else {
                let piece = Piece {
                    prefixed,
                    text: slice(i, first_end),
                };
                self.emit_piece(piece, enc, out);
            }
            prefixed = false;
            let mut j = first_end;
            while let Some(&b) = bytes.get(j) {
                if Self::space_at(bytes, j).is_some() {
                    break;
                }
                if let Some(Some(id)) = self.lookup.barrier_ids.get(usize::from(b)) {
                    out.push(*id);
                    j += 1;
                    continue;
                }
                if self.lookup.merges.is_ascii_barrier(b) {
                    self.emit_unmerged(&[b], out);
                    j += 1;
                    continue;
                }
                let end = self.piece_end(bytes, j + 1);
                let piece = Piece {
                    prefixed: false,
                    text: slice(j, end),
                };
                self.emit_piece(piece, enc, out);
                j = end;
            }
            i = j;
        }
    }

    /// Encodes `text` with this thread's buffers and piece cache.
    pub(super) fn encode_text(&self, text: &str, buffers: &mut Buffers, out: &mut Vec<u32>) {
        let parts = buffers.split(self.owner);
        parts.ids.clear();
        if text.is_empty() {
            return;
        }
        if !self.split_words {
            normalize::normalize(text, self.add_dummy_prefix, parts.normalized);
            self.encode_segment(parts.normalized, parts.scratch, out);
            return;
        }
        let mut enc = CallState {
            words: parts.words,
            scratch: parts.scratch,
            normalized: parts.normalized,
            cache: FxHashMap::default(),
            ids: parts.ids,
            tail: parts.tail,
        };
        self.encode_words(text, &mut enc, out);
    }
}

/// What one `encode` call works with: the thread's piece cache and buffers, and the ids of the
/// pieces it has already encoded (in `ids`, by range), which also holds the pieces too long
/// for the thread's cache.
struct CallState<'b, 't> {
    words: WordCache<'b>,
    scratch: &'b mut Scratch,
    /// The normalized text of the piece being encoded.
    normalized: &'b mut String,
    cache: FxHashMap<Piece<'t>, (usize, usize)>,
    ids: &'b mut Vec<u32>,
    /// The ids of the text after a run of `▁` (see `encode_words`).
    tail: &'b mut Vec<u32>,
}
