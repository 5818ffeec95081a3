//! Per-code-point classes of the tekken pre-tokenizer pattern.
//!
//! The classes are built from `regex-syntax` 0.8 (pinned), whose Unicode tables (UCD 16.0) are the
//! ones fancy-regex — and so tiktoken 0.14 — classifies with. Building them from the very class
//! expressions of the pattern, rather than from a hand-copied table, keeps the scanner exact by
//! construction; the Unicode version is an exactness parameter.

use std::sync::OnceLock;

use regex_syntax::hir::{Class, HirKind};

/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`: the "upper" run of the letter alternatives.
pub const UPPER: u8 = 1;
/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`: the "lower" run of the letter alternatives.
pub const LOWER: u8 = 2;
/// `\p{L}`.
pub const LETTER: u8 = 4;
/// `\p{N}`.
pub const NUMBER: u8 = 8;
/// `\s` (White_Space).
pub const SPACE: u8 = 16;
/// `\r` or `\n`.
pub const NEWLINE: u8 = 32;
/// U+0020, the optional lead of ` ?[^\s\p{L}\p{N}]+`.
pub const BLANK: u8 = 64;
/// `/`, part of the `[\r\n/]*` tail.
pub const SLASH: u8 = 128;

/// Byte classes ([`ClassTable::byte`]) extend the bits above with these, so that the ASCII scan
/// can tell a byte that starts a multi-byte character, and the end of the text, from the rest.
pub const NON_ASCII: u16 = 0x100;
/// Not a byte: past the end of the text.
pub const END: u16 = 0x200;
/// An ASCII byte of `[^\s\p{L}\p{N}]` (A4's run).
pub const PUNCT: u16 = 0x400;

const BLOCK_BITS: u32 = 8;
const BLOCK: usize = 1 << BLOCK_BITS;
const NUM_BLOCKS: usize = (0x11_0000 >> BLOCK_BITS) as usize;

/// A two-level table: code point block → deduplicated 256-entry block of class bits.
pub struct ClassTable {
    ascii: [u8; 128],
    /// The class of each byte value: ASCII bits plus [`PUNCT`], or [`NON_ASCII`].
    bytes: [u16; 256],
    index: Vec<u16>,
    blocks: Vec<u8>,
}

impl ClassTable {
    /// The process-wide table, built on first use (a few milliseconds).
    pub fn get() -> &'static ClassTable {
        static TABLE: OnceLock<ClassTable> = OnceLock::new();
        TABLE.get_or_init(ClassTable::build)
    }

    #[inline(always)]
    pub fn ascii(&self, b: u8) -> u8 {
        self.ascii[(b & 0x7f) as usize]
    }

    /// The class of one byte of UTF-8 (see [`NON_ASCII`]); [`END`] past the end.
    #[inline(always)]
    pub fn byte(&self, s: &[u8], i: usize) -> u16 {
        match s.get(i) {
            Some(&b) => self.bytes[b as usize],
            None => END,
        }
    }

    #[inline(always)]
    pub fn of(&self, c: u32) -> u8 {
        let block = self
            .index
            .get((c >> BLOCK_BITS) as usize)
            .copied()
            .unwrap_or(0) as usize;
        self.blocks
            .get(block * BLOCK + (c as usize & (BLOCK - 1)))
            .copied()
            .unwrap_or(0)
    }

    fn build() -> ClassTable {
        let mut flat = vec![0u8; 0x11_0000];
        let classes: [(&str, u8); 5] = [
            (r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", UPPER),
            (r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]", LOWER),
            (r"\p{L}", LETTER),
            (r"\p{N}", NUMBER),
            (r"\s", SPACE),
        ];
        for (expr, bit) in classes {
            for (start, end) in unicode_ranges(expr) {
                for cp in start..=end {
                    if let Some(slot) = flat.get_mut(cp as usize) {
                        *slot |= bit;
                    }
                }
            }
        }
        for (b, bit) in [
            (b'\r', NEWLINE),
            (b'\n', NEWLINE),
            (b' ', BLANK),
            (b'/', SLASH),
        ] {
            flat[b as usize] |= bit;
        }

        let mut ascii = [0u8; 128];
        ascii.copy_from_slice(&flat[..128]);
        let mut bytes = [NON_ASCII; 256];
        for (slot, &c) in bytes.iter_mut().zip(&ascii) {
            *slot = c as u16;
            if c & (SPACE | LETTER | NUMBER) == 0 {
                *slot |= PUNCT;
            }
        }
        let mut index = Vec::with_capacity(NUM_BLOCKS);
        let mut blocks: Vec<u8> = Vec::new();
        let mut seen: rustc_hash::FxHashMap<&[u8], u16> = Default::default();
        for chunk in flat.chunks(BLOCK) {
            let next = seen.len() as u16;
            let id = *seen.entry(chunk).or_insert_with(|| {
                blocks.extend_from_slice(chunk);
                next
            });
            index.push(id);
        }
        ClassTable {
            ascii,
            bytes,
            index,
            blocks,
        }
    }
}

/// The code point ranges of one class expression, as regex-syntax (Unicode mode) reads it.
fn unicode_ranges(expr: &str) -> Vec<(u32, u32)> {
    // The expressions are constants of this module, so a parse failure is a bug caught by the
    // unit tests; an empty class keeps it from ever being a panic.
    let Ok(hir) = regex_syntax::ParserBuilder::new()
        .unicode(true)
        .build()
        .parse(expr)
    else {
        return Vec::new();
    };
    match hir.kind() {
        HirKind::Class(Class::Unicode(cls)) => cls
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_expression_parses_to_a_class() {
        for expr in [
            r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]",
            r"\p{L}",
            r"\p{N}",
            r"\s",
        ] {
            assert!(!unicode_ranges(expr).is_empty(), "{expr}");
        }
    }

    #[test]
    fn known_code_points() {
        let t = ClassTable::get();
        assert_eq!(t.of('a' as u32), LOWER | LETTER);
        assert_eq!(t.of('A' as u32), UPPER | LETTER);
        assert_eq!(t.of('7' as u32), NUMBER);
        assert_eq!(t.of('\n' as u32), SPACE | NEWLINE);
        assert_eq!(t.of(' ' as u32), SPACE | BLANK);
        assert_eq!(t.of('/' as u32), SLASH);
        // Lt (title case) is "upper" only; Lo and marks are both.
        assert_eq!(t.of(0x01C5), UPPER | LETTER);
        assert_eq!(t.of('中' as u32), UPPER | LOWER | LETTER);
        assert_eq!(t.of(0x0301), UPPER | LOWER);
        assert_eq!(t.of(0x00A0), SPACE);
        // U+180E is not White_Space in Unicode ≥ 6.3 (PCRE2 disagrees).
        assert_eq!(t.of(0x180E), 0);
        assert_eq!(t.of(0x10FFFF), 0);
        for b in 0..128u8 {
            assert_eq!(t.ascii(b), t.of(b as u32));
            let c = t.byte(&[b], 0);
            assert_eq!(c & 0xff, t.of(b as u32) as u16);
            let punct = t.of(b as u32) & (SPACE | LETTER | NUMBER) == 0;
            assert_eq!(c & PUNCT != 0, punct, "{b}");
            assert_eq!(c & NON_ASCII, 0);
        }
        // The scanner's ASCII path reads letters as ranges.
        for b in 0..128u8 {
            assert_eq!(t.ascii(b) & UPPER != 0, b.is_ascii_uppercase(), "{b}");
            assert_eq!(t.ascii(b) & LOWER != 0, b.is_ascii_lowercase(), "{b}");
            assert_eq!(t.ascii(b) & LETTER != 0, b.is_ascii_alphabetic(), "{b}");
            assert_eq!(t.ascii(b) & NUMBER != 0, b.is_ascii_digit(), "{b}");
        }
        for b in 128..=255u8 {
            assert_eq!(t.byte(&[b], 0), NON_ASCII);
        }
        assert_eq!(t.byte(b"a", 1), END);
    }
}
