//! sentencepiece's normalization for models whose normalizer is the identity (no charsmap), and
//! the load-time check that makes per-word BPE exact.

/// `▁` (U+2581), sentencepiece's escaped space.
pub(crate) const SPACE: &str = "\u{2581}";

/// Writes the normalized form of `text` into `out`: a `▁` dummy prefix (even before leading spaces),
/// then the text with each ASCII space replaced by `▁`. Nothing else changes: no whitespace
/// collapsing, and tabs, newlines and NBSP stay as they are. Empty text normalizes to nothing.
pub(crate) fn normalize(text: &str, add_dummy_prefix: bool, out: &mut String) {
    out.clear();
    if text.is_empty() {
        return;
    }
    if add_dummy_prefix {
        out.push_str(SPACE);
    }
    append(text, out);
}

/// Appends `text` with each ASCII space replaced by `▁`.
pub(crate) fn append(text: &str, out: &mut String) {
    out.reserve(text.len() + 2 * text.len() / 4);
    let mut rest = text;
    while let Some(i) = rest.find(' ') {
        out.push_str(rest.get(..i).unwrap_or_default());
        out.push_str(SPACE);
        rest = rest.get(i + 1..).unwrap_or_default();
    }
    out.push_str(rest);
}

/// True if `piece` contains a character other than `▁` directly followed by `▁` — a piece that
/// could merge across a word boundary (a `▁` that follows another character).
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
    fn boundary_pieces() {
        assert!(!crosses_word_boundary("▁hello"));
        assert!(!crosses_word_boundary("▁▁▁"));
        assert!(!crosses_word_boundary("▁▁x"));
        assert!(crosses_word_boundary("a▁"));
        assert!(crosses_word_boundary("▁a▁b"));
    }
}
