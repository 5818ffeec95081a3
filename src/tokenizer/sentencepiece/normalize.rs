//! sentencepiece's normalization for models whose normalizer is the identity (no charsmap), and
//! the word split that makes per-word BPE exact.

/// `▁` (U+2581), sentencepiece's escaped space.
pub(crate) const SPACE: &str = "\u{2581}";
const SPACE_BYTES: [u8; 3] = [0xE2, 0x96, 0x81];

/// Writes the normalized form of `text` into `out`: a `▁` dummy prefix (even before leading spaces),
/// then the text with each ASCII space replaced by `▁`. Nothing else changes: no whitespace
/// collapsing, and tabs, newlines and NBSP stay as they are. Empty text normalizes to nothing.
pub(crate) fn normalize(text: &str, add_dummy_prefix: bool, out: &mut String) {
    out.clear();
    if text.is_empty() {
        return;
    }
    out.reserve(text.len() + text.len() / 2 + SPACE.len());
    if add_dummy_prefix {
        out.push_str(SPACE);
    }
    let mut rest = text;
    while let Some(i) = rest.find(' ') {
        out.push_str(&rest[..i]);
        out.push_str(SPACE);
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// Splits normalized text before every `▁` that follows a character other than `▁`:
/// `"▁a▁▁b\n▁c"` → `"▁a"`, `"▁▁b\n"`, `"▁c"`. When no mergeable piece contains a non-`▁`
/// character followed by `▁`, no merge can cross such a point, so encoding each part alone gives
/// the same ids as encoding the whole (the loader checks that condition).
pub(crate) fn words(normalized: &str) -> Words<'_> {
    Words {
        text: normalized,
        pos: 0,
    }
}

pub(crate) struct Words<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        if start >= bytes.len() {
            return None;
        }
        // Skip the leading run of `▁`, then stop at the first `▁` after it. 0xE2 is only ever a
        // lead byte in UTF-8, so a byte match is a character match.
        let mut i = start;
        while bytes.get(i..i + 3) == Some(&SPACE_BYTES[..]) {
            i += 3;
        }
        let end = match memchr_space(bytes, i) {
            Some(j) => j,
            None => bytes.len(),
        };
        self.pos = end;
        self.text.get(start..end)
    }
}

fn memchr_space(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < bytes.len() {
        let rel = bytes.get(i..)?.iter().position(|&b| b == 0xE2)?;
        let j = i + rel;
        if bytes.get(j..j + 3) == Some(&SPACE_BYTES[..]) {
            return Some(j);
        }
        i = j + 1;
    }
    None
}

/// True if `piece` contains a character other than `▁` directly followed by `▁` — a piece that
/// could merge across a word boundary of [`words`].
pub(crate) fn crosses_word_boundary(piece: &str) -> bool {
    let mut prev_is_other = false;
    for c in piece.chars() {
        let is_space = c == '\u{2581}';
        if is_space && prev_is_other {
            return true;
        }
        prev_is_other = !is_space;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        let mut out = String::new();
        normalize(s, true, &mut out);
        out
    }

    #[test]
    fn normalization() {
        assert_eq!(norm(""), "");
        assert_eq!(norm("a"), "▁a");
        assert_eq!(norm(" leading"), "▁▁leading");
        assert_eq!(norm("a  b"), "▁a▁▁b");
        assert_eq!(norm("a\tb\nc\u{a0}d"), "▁a\tb\nc\u{a0}d");
        assert_eq!(norm("x▁y "), "▁x▁y▁");
        let mut out = String::from("stale");
        normalize("a b", false, &mut out);
        assert_eq!(out, "a▁b");
    }

    #[test]
    fn word_split() {
        let w: Vec<&str> = words("▁a▁▁b\n▁c").collect();
        assert_eq!(w, ["▁a", "▁▁b\n", "▁c"]);
        let w: Vec<&str> = words("▁▁▁").collect();
        assert_eq!(w, ["▁▁▁"]);
        let w: Vec<&str> = words("ab▁").collect();
        assert_eq!(w, ["ab", "▁"]);
        let w: Vec<&str> = words("é▁ü▁").collect();
        assert_eq!(w, ["é", "▁ü", "▁"]);
        // U+2580 and U+2582 share the lead bytes with ▁ but are not spaces.
        let w: Vec<&str> = words("▁a\u{2580}b\u{2582}▁c").collect();
        assert_eq!(w, ["▁a\u{2580}b\u{2582}", "▁c"]);
        assert_eq!(words("").count(), 0);
    }

    #[test]
    fn boundary_pieces() {
        assert!(!crosses_word_boundary("▁hello"));
        assert!(!crosses_word_boundary("▁▁▁"));
        assert!(!crosses_word_boundary("▁▁x"));
        assert!(crosses_word_boundary("a▁"));
        assert!(crosses_word_boundary("▁a▁b"));
    }
}
