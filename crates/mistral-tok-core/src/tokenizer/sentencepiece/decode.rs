//! `SentencePieceProcessor::Decode` (sentencepiece 0.2.x) and mistral_common's policies around it.

use super::proto::PieceType;
use super::{normalize::SPACE, SentencePiece};
use crate::error::{Error, Result};
use crate::tokenizer::SpecialTokenPolicy;

/// mistral_common's message for `special_token_policy=RAISE`.
const RAISE_MESSAGE: &str =
    "Decoding `tokens` that contain special tokens with special_token_policy=RAISE.";

pub(crate) fn out_of_range(id: u32, n: usize) -> Error {
    Error::Decode(format!(
        "piece id is out of range: {id} (the vocabulary has {n} pieces)"
    ))
}

impl SentencePiece {
    pub(crate) fn decode_policy(&self, ids: &[u32], policy: SpecialTokenPolicy) -> Result<String> {
        let n = self.vocab_len();
        // mistral_common walks the ids in order under RAISE, so whichever comes first, a
        // control id or an id out of range, decides the error.
        for &id in ids {
            match self.kind(id) {
                None => return Err(out_of_range(id, n)),
                Some(PieceType::Control) if policy == SpecialTokenPolicy::Raise => {
                    return Err(Error::Decode(RAISE_MESSAGE.to_string()));
                }
                _ => {}
            }
        }
        match policy {
            SpecialTokenPolicy::Ignore | SpecialTokenPolicy::Raise => Ok(self.sp_decode(ids)),
            SpecialTokenPolicy::Keep => {
                let mut out = String::new();
                for &id in ids {
                    out.push_str(self.piece(id).unwrap_or_default());
                }
                Ok(out)
            }
        }
    }

    /// `sp.decode(ids)` for in-range ids: control pieces are invisible, the unknown piece shows
    /// as the unk surface, runs of byte pieces are reassembled (each byte that does not start a
    /// valid UTF-8 character becomes U+FFFD on its own), `▁` becomes a space, and the first
    /// piece that produces text loses one leading `▁` when the model adds a dummy prefix.
    pub(crate) fn sp_decode(&self, ids: &[u32]) -> String {
        let mut text = String::with_capacity(ids.len() * 4);
        let mut bytes: Vec<u8> = Vec::new();
        // sentencepiece strips the leading `▁` of the first piece only while nothing has been
        // written and no earlier piece has had its `▁` stripped.
        let mut is_bos_ws = true;
        let mut bos_ws_seen = false;
        for &id in ids {
            let piece = self.piece(id).unwrap_or_default();
            match self.decode_kind(id) {
                Some(PieceType::Byte) => {
                    bytes.push(self.byte_value(id));
                    continue;
                }
                _ => {
                    flush_bytes(&mut bytes, &mut text);
                }
            }
            if bos_ws_seen || !text.is_empty() {
                is_bos_ws = false;
            }
            match self.decode_kind(id) {
                Some(PieceType::Control) => bos_ws_seen = false,
                Some(PieceType::Unknown) => {
                    text.push_str(&self.unk_surface);
                    bos_ws_seen = false;
                }
                _ => {
                    let mut p = piece;
                    bos_ws_seen = false;
                    if is_bos_ws && self.add_dummy_prefix {
                        if let Some(rest) = p.strip_prefix(SPACE) {
                            p = rest;
                            bos_ws_seen = true;
                        }
                    }
                    push_unescaped(&mut text, p);
                }
            }
        }
        flush_bytes(&mut bytes, &mut text);
        text
    }
}

fn push_unescaped(text: &mut String, piece: &str) {
    let mut rest = piece;
    while let Some(i) = rest.find(SPACE) {
        text.push_str(&rest[..i]);
        text.push(' ');
        rest = &rest[i + SPACE.len()..];
    }
    text.push_str(rest);
}

/// Appends the bytes as text the way sentencepiece does: each valid UTF-8 character as is,
/// every other byte as U+FFFD (one per byte, unlike Python's `errors="replace"`).
fn flush_bytes(bytes: &mut Vec<u8>, text: &mut String) {
    let mut rest: &[u8] = bytes;
    while !rest.is_empty() {
        match utf8_char_len(rest) {
            Some(n) => {
                if let Some(s) = rest.get(..n).and_then(|c| std::str::from_utf8(c).ok()) {
                    text.push_str(s);
                } else {
                    text.push('\u{FFFD}');
                }
                rest = rest.get(n..).unwrap_or_default();
            }
            None => {
                text.push('\u{FFFD}');
                rest = rest.get(1..).unwrap_or_default();
            }
        }
    }
    bytes.clear();
}

/// Length of the valid UTF-8 character at the start of `s` (sentencepiece's `DecodeUTF8`:
/// shortest form only, no surrogates, at most U+10FFFF), or `None`.
fn utf8_char_len(s: &[u8]) -> Option<usize> {
    let b0 = *s.first()?;
    let n = match b0 {
        0x00..=0x7F => return Some(1),
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return None,
    };
    let c = s.get(..n)?;
    std::str::from_utf8(c).ok().map(|_| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lossy(b: &[u8]) -> String {
        let mut v = b.to_vec();
        let mut t = String::new();
        flush_bytes(&mut v, &mut t);
        t
    }

    #[test]
    fn bytes_like_sentencepiece() {
        assert_eq!(lossy(b"A"), "A");
        assert_eq!(lossy("é😀".as_bytes()), "é😀");
        assert_eq!(lossy(&[0xE2, 0x82]), "\u{FFFD}\u{FFFD}");
        assert_eq!(lossy(&[0xC0, 0x80]), "\u{FFFD}\u{FFFD}");
        assert_eq!(lossy(&[0xED, 0xA0, 0x80]), "\u{FFFD}\u{FFFD}\u{FFFD}");
        assert_eq!(lossy(&[0xEF, 0xBF, 0xBD]), "\u{FFFD}");
        assert_eq!(
            lossy(&[0xF4, 0x90, 0x80, 0x80]),
            "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"
        );
        assert_eq!(lossy(&[0xF0, 0x9F, 0x98]), "\u{FFFD}\u{FFFD}\u{FFFD}");
        assert_eq!(lossy(&[0x80, b'a']), "\u{FFFD}a");
    }
}
