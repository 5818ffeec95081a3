//! Encoding: sentencepiece's BPE, cut into independent pieces where that is exact, with a
//! per-call cache of the pieces already encoded.

use rustc_hash::FxHashMap;

use super::bpe::{self, Scratch, Symbol};
use super::proto::PieceType;
use super::{normalize, SentencePiece};

/// Words longer than this are encoded without going through the per-call cache.
const MAX_CACHED_WORD: usize = 64;

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

    pub(super) fn encode_normalized(&self, normalized: &str, out: &mut Vec<u32>) {
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
