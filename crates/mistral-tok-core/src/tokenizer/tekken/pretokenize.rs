//! Pre-tokenization: splitting text into the pieces the BPE merges within.
//!
//! For the tekken pattern (every shipped file so far) a hand-written scanner computes, in closed
//! form, the match that fancy-regex's leftmost-first backtracking finds at each position:
//!
//! ```text
//! A1 [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+
//! A2 [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*
//! A3 \p{N}
//! A4  ?[^\s\p{L}\p{N}]+[\r\n/]*
//! A5 \s*[\r\n]+
//! A6 \s+(?!\S)
//! A7 \s+
//! ```
//!
//! Any other pattern goes through fancy-regex itself, as tiktoken does.
//!
//! tiktoken's fancy-regex runs A6 in its backtracking VM, which pushes one stack frame per
//! character of the whitespace run and gives up at a million frames: mistral_common then raises
//! `ValueError("Regex error while tokenizing: … Max stack size exceeded for backtracking")`. The
//! scanner reports the same inputs as [`PreTokenizeError`] so that both reject the same texts
//! (observed: 999,998 spaces encode, 999,999 fail, whatever the whitespace characters are; a run
//! that A5 takes, i.e. one that ends in CR/LF, never reaches A6).

use super::unicode::{
    ClassTable, BLANK, END, LETTER, LOWER, NEWLINE, NON_ASCII, NUMBER, PUNCT, SLASH, SPACE, UPPER,
};

/// The pattern of the tekken files; the scanner implements exactly this string.
pub const TEKKEN_PATTERN: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Whitespace runs of this many characters without a line break make tiktoken's regex fail.
pub const MAX_A6_RUN_CHARS: usize = 999_999;

/// Text that tiktoken's regex engine cannot pre-tokenize (it raises), with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreTokenizeError(pub String);

pub enum PreTokenizer {
    Tekken(&'static ClassTable),
    Regex(Box<fancy_regex::Regex>),
}

impl PreTokenizer {
    /// The scanner for the tekken pattern, fancy-regex (as tiktoken compiles it) otherwise.
    pub fn new(pattern: &str) -> Result<Self, String> {
        if pattern == TEKKEN_PATTERN {
            return Ok(PreTokenizer::Tekken(ClassTable::get()));
        }
        fancy_regex::Regex::new(pattern)
            .map(|r| PreTokenizer::Regex(Box::new(r)))
            .map_err(|e| format!("`config.pattern` is not a valid regular expression: {e}"))
    }

    /// Calls `f` with each piece, in order; stops at text the regex engine cannot split.
    pub fn for_each_piece<'t>(
        &self,
        text: &'t str,
        mut f: impl FnMut(&'t [u8]),
    ) -> Result<(), PreTokenizeError> {
        self.for_each_span(text, |s, start, end| f(&s[start..end]))
    }

    /// Calls `f(text bytes, start, end)` with each piece's non-empty byte range, in order; stops
    /// at text the regex engine cannot split.
    #[inline(always)]
    pub fn for_each_span<'t>(
        &self,
        text: &'t str,
        mut f: impl FnMut(&'t [u8], usize, usize),
    ) -> Result<(), PreTokenizeError> {
        let s = text.as_bytes();
        match self {
            PreTokenizer::Tekken(table) => {
                let mut p = 0;
                while p < s.len() {
                    let end = piece_end(table, s, p)?;
                    f(s, p, end);
                    p = end;
                }
            }
            PreTokenizer::Regex(re) => {
                for m in re.find_iter(text) {
                    match m {
                        // tiktoken would panic on an empty piece; there is nothing to encode.
                        Ok(m) if m.start() == m.end() => {}
                        Ok(m) => f(s, m.start(), m.end()),
                        // A backtracking limit hit: tiktoken raises too.
                        Err(e) => return Err(PreTokenizeError(e.to_string())),
                    }
                }
            }
        }
        Ok(())
    }
}

/// Class bits and byte length of the character starting at `i` (`i < s.len()`, `s` valid UTF-8).
#[inline(always)]
fn class_at(t: &ClassTable, s: &[u8], i: usize) -> (u8, usize) {
    let b0 = s[i];
    if b0 < 0x80 {
        return (t.ascii(b0), 1);
    }
    let cont = |k: usize| (s.get(i + k).copied().unwrap_or(0x80) & 0x3f) as u32;
    let (cp, len) = if b0 < 0xe0 {
        (((b0 & 0x1f) as u32) << 6 | cont(1), 2)
    } else if b0 < 0xf0 {
        (((b0 & 0x0f) as u32) << 12 | cont(1) << 6 | cont(2), 3)
    } else {
        (
            ((b0 & 0x07) as u32) << 18 | cont(1) << 12 | cont(2) << 6 | cont(3),
            4,
        )
    };
    (t.of(cp), len)
}

/// Where the run of characters having any of `bits` that starts at `i` ends.
#[inline(always)]
fn run_end(t: &ClassTable, s: &[u8], mut i: usize, bits: u8) -> usize {
    while i < s.len() {
        let (c, l) = class_at(t, s, i);
        if c & bits == 0 {
            break;
        }
        i += l;
    }
    i
}

/// A1 from `start` (the prefix already taken): the longest run of upper-class characters, then a
/// non-empty lower run. Backtracking gives, in closed form: the end of the lower run that follows
/// the upper run if there is one, else the end of the last upper-run character that is also
/// lower-class, else no match. Also returns the upper run's end for A2.
#[inline(always)]
fn letters(t: &ClassTable, s: &[u8], start: usize) -> (Option<usize>, usize) {
    let mut i = start;
    let mut last_lower = None;
    while i < s.len() {
        let (c, l) = class_at(t, s, i);
        if c & UPPER == 0 {
            if c & LOWER != 0 {
                return (Some(run_end(t, s, i + l, LOWER)), i);
            }
            break;
        }
        i += l;
        if c & LOWER != 0 {
            last_lower = Some(i);
        }
    }
    (last_lower, i)
}

/// Where the run of bytes whose class has any of `bits` (ASCII classes, [`PUNCT`]) that starts at
/// `i` ends, or None when it ends at a non-ASCII byte (whose character might have continued it).
#[inline(always)]
fn ascii_run(t: &ClassTable, s: &[u8], mut i: usize, bits: u16) -> Option<(usize, u16)> {
    loop {
        let c = t.byte(s, i);
        if c & bits == 0 {
            return (c & NON_ASCII == 0).then_some((i, c));
        }
        i += 1;
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Bit 7 of each byte of `v` that is in the ASCII range `lo..=hi` (`0x40 < lo ≤ hi < 0x7f`).
#[inline(always)]
fn in_range(v: u64, lo: u8, hi: u8) -> u64 {
    let x = v & !HIGH;
    // Per byte, without carries (x ≤ 0x7f and the addends are ≤ 0x3f): bit 7 of `x + (0x80 - lo)`
    // is set iff x ≥ lo, and of `x + (0x80 - hi - 1)` iff x > hi; `!v` drops non-ASCII bytes.
    let at_least_lo = x + ONES * (0x80 - lo as u64);
    let above_hi = x + ONES * (0x80 - hi as u64 - 1);
    at_least_lo & !above_hi & !v & HIGH
}

#[inline(always)]
fn load8(s: &[u8], i: usize) -> Option<u64> {
    let word = s.get(i..i + 8)?;
    let mut buf = [0u8; 8];
    buf.copy_from_slice(word);
    Some(u64::from_le_bytes(buf))
}

/// The first index from `i` whose byte is not in `lo..=hi` (an ASCII range of letters; a
/// non-ASCII byte ends the run): eight bytes at a time, so that the loop's exit, which depends on
/// the word's length, is one well-predicted branch for most words.
#[inline(always)]
fn letter_run(s: &[u8], mut i: usize, lo: u8, hi: u8) -> usize {
    while let Some(v) = load8(s, i) {
        let outside = !in_range(v, lo, hi) & HIGH;
        if outside != 0 {
            return i + (outside.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while s.get(i).is_some_and(|b| (lo..=hi).contains(b)) {
        i += 1;
    }
    i
}

/// A1/A2 on ASCII letters from `i` (after the prefix, if any): the end of `[A-Z]*[a-z]*`; None
/// when a non-ASCII byte ends either run (its character might continue it). Most words fit in
/// the first eight bytes: one load answers both runs.
#[inline(always)]
fn ascii_letters(s: &[u8], i: usize) -> Option<usize> {
    let end = match load8(s, i) {
        Some(v) => {
            let upper = in_range(v, b'A', b'Z');
            let n_upper = (!upper & HIGH).trailing_zeros() / 8;
            if n_upper >= 7 {
                // The upper run may go on past these bytes.
                let j = letter_run(s, i, b'A', b'Z');
                letter_run(s, j, b'a', b'z')
            } else {
                let lower = in_range(v, b'a', b'z') >> (8 * n_upper);
                // Bytes shifted in at the top read as "not lower": a run reaching them goes on.
                let n_lower = (!lower & (HIGH >> (8 * n_upper))).trailing_zeros() / 8;
                let end = i + (n_upper + n_lower) as usize;
                if n_upper + n_lower >= 8 {
                    letter_run(s, i + 8, b'a', b'z')
                } else {
                    end
                }
            }
        }
        None => {
            let j = letter_run(s, i, b'A', b'Z');
            letter_run(s, j, b'a', b'z')
        }
    };
    match s.get(end) {
        Some(&b) if b >= 0x80 => None,
        _ => Some(end),
    }
}

/// [`piece_end`] when every character that decides the piece is ASCII (most of English text and
/// code), on bytes without decoding; None when a non-ASCII byte is met, and the general scan then
/// starts over at `p`. The alternatives are tried in the general scan's order, specialised to
/// ASCII, where no letter is both upper- and lower-class.
#[inline(always)]
fn ascii_piece_end(t: &ClassTable, s: &[u8], p: usize) -> Option<usize> {
    let c0 = t.byte(s, p);
    if c0 & (NON_ASCII | END) != 0 {
        return None;
    }
    const L: u16 = LETTER as u16;
    const N: u16 = NUMBER as u16;
    const NL: u16 = NEWLINE as u16;
    if c0 & L != 0 {
        // A1/A2 without the prefix: [A-Z]*[a-z]* with at least one letter (c0).
        return ascii_letters(s, p);
    }
    if c0 & N != 0 {
        return Some(p + 1); // A3
    }
    if c0 & NL == 0 {
        // c0 can be the prefix of A1/A2.
        let j = ascii_letters(s, p + 1)?;
        if j > p + 1 {
            return Some(j);
        }
        let c = t.byte(s, p + 1);
        // A4 (`c` is the class at p + 1, since j == p + 1).
        let (punct_start, cp) = if c0 & BLANK as u16 != 0 {
            (p + 1, c)
        } else {
            (p, c0)
        };
        if cp & PUNCT != 0 {
            let (i, _) = ascii_run(t, s, punct_start, PUNCT)?;
            return ascii_run(t, s, i, NL | SLASH as u16).map(|(k, _)| k);
        }
    }
    if c0 & SPACE as u16 == 0 {
        return None;
    }
    // A5–A7 on an ASCII whitespace run (one byte per character).
    let mut i = p;
    let mut last_newline_end = None;
    loop {
        let c = t.byte(s, i);
        if c & SPACE as u16 == 0 {
            if c & NON_ASCII != 0 {
                return None;
            }
            break;
        }
        i += 1;
        if c & NL != 0 {
            last_newline_end = Some(i);
        }
    }
    if let Some(end) = last_newline_end {
        return Some(end); // A5
    }
    if i - p >= MAX_A6_RUN_CHARS {
        return None; // the general scan reports it
    }
    // A6 (the run minus its last character unless it ends the text), else A7.
    Some(if i == s.len() || i - p == 1 { i } else { i - 1 })
}

/// The end of the piece that starts at `p` (`p < s.len()`).
#[inline]
pub(crate) fn piece_end(t: &ClassTable, s: &[u8], p: usize) -> Result<usize, PreTokenizeError> {
    if let Some(end) = ascii_piece_end(t, s, p) {
        return Ok(end);
    }
    general_piece_end(t, s, p)
}

/// [`piece_end`] for any text.
#[inline(never)]
fn general_piece_end(t: &ClassTable, s: &[u8], p: usize) -> Result<usize, PreTokenizeError> {
    let (c0, l0) = class_at(t, s, p);
    let after = p + l0;

    // Can c0 be the optional `[^\r\n\p{L}\p{N}]` lead of A1/A2?
    let prefix_ok = c0 & (NEWLINE | LETTER | NUMBER) == 0;

    // A1, with the optional prefix taken first, then without it.
    let mut upper_end_with_prefix = None;
    if prefix_ok {
        let (a1, upper_end) = letters(t, s, after);
        if let Some(end) = a1 {
            return Ok(end);
        }
        upper_end_with_prefix = Some(upper_end);
    }
    let mut upper_end_without = None;
    if c0 & (UPPER | LOWER) != 0 {
        let (a1, upper_end) = letters(t, s, p);
        if let Some(end) = a1 {
            return Ok(end);
        }
        upper_end_without = Some(upper_end);
    }
    // A2: a non-empty upper run, then any lower run. When A1 failed, the character after the upper
    // run is not lower-class, so the match is the prefix plus the upper run.
    if let Some(upper_end) = upper_end_with_prefix {
        if upper_end > after {
            return Ok(run_end(t, s, upper_end, LOWER));
        }
    }
    if let Some(upper_end) = upper_end_without {
        if upper_end > p {
            return Ok(run_end(t, s, upper_end, LOWER));
        }
    }
    // A3.
    if c0 & NUMBER != 0 {
        return Ok(after);
    }
    // A4: ` ?[^\s\p{L}\p{N}]+[\r\n/]*`.
    const NOT_PUNCT: u8 = SPACE | LETTER | NUMBER;
    let punct_start = if c0 & BLANK != 0 { after } else { p };
    if punct_start < s.len() && class_at(t, s, punct_start).0 & NOT_PUNCT == 0 {
        let mut i = punct_start;
        while i < s.len() {
            let (c, l) = class_at(t, s, i);
            if c & NOT_PUNCT != 0 {
                break;
            }
            i += l;
        }
        return Ok(run_end(t, s, i, NEWLINE | SLASH));
    }
    // A5–A7 on the whitespace run that starts here.
    if c0 & SPACE != 0 {
        let mut i = p;
        let mut last_newline_end = None;
        let mut last_start = p;
        let mut chars = 0usize;
        while i < s.len() {
            let (c, l) = class_at(t, s, i);
            if c & SPACE == 0 {
                break;
            }
            chars += 1;
            last_start = i;
            i += l;
            if c & NEWLINE != 0 {
                last_newline_end = Some(i);
            }
        }
        // A5: `\s*[\r\n]+` ends after the run's last CR/LF.
        if let Some(end) = last_newline_end {
            return Ok(end);
        }
        if chars >= MAX_A6_RUN_CHARS {
            return Err(PreTokenizeError(format!(
                "a run of {chars} whitespace characters without a line break (tiktoken's regex \
                 engine stops at {MAX_A6_RUN_CHARS}: Max stack size exceeded for backtracking)"
            )));
        }
        // A6: `\s+(?!\S)`: the whole run at the end of the text, else the run minus its last
        // character (which is then followed by whitespace).
        if i == s.len() || last_start > p {
            return Ok(if i == s.len() { i } else { last_start });
        }
        // A7.
        return Ok(i);
    }
    // Unreachable for valid text (every character is a letter, a number, whitespace or A4's
    // class); one character keeps the loop finite regardless.
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<String> {
        let pre = PreTokenizer::new(TEKKEN_PATTERN).unwrap();
        let mut out = Vec::new();
        pre.for_each_piece(text, |p| out.push(String::from_utf8(p.to_vec()).unwrap()))
            .expect("splittable text");
        out
    }

    fn oracle(text: &str) -> Vec<String> {
        let re = fancy_regex::Regex::new(TEKKEN_PATTERN).unwrap();
        re.find_iter(text)
            .map(|m| m.unwrap().as_str().to_string())
            .collect()
    }

    #[test]
    fn examples() {
        assert_eq!(
            pieces("hello [INST] world"),
            ["hello", " [", "INST", "]", " world"]
        );
        assert_eq!(pieces("a  b"), ["a", " ", " b"]);
        assert_eq!(pieces("12345"), ["1", "2", "3", "4", "5"]);
        assert_eq!(pieces("  \n  x"), ["  \n", " ", " x"]);
        assert_eq!(pieces("x  "), ["x", "  "]);
        assert_eq!(pieces("HELLO World"), ["HELLO", " World"]);
        assert_eq!(pieces("!\n/x"), ["!\n/", "x"]);
        assert!(pieces("").is_empty());
    }

    /// A small deterministic generator (no `rand` dependency).
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Characters chosen to hit every class boundary of the pattern.
    const POOL: &[char] = &[
        'a',
        'b',
        'Z',
        'Q',
        ' ',
        ' ',
        ' ',
        '\n',
        '\r',
        '\t',
        '/',
        '!',
        '\'',
        '.',
        '0',
        '9',
        '_',
        '\u{a0}',
        '\u{2028}',
        '\u{3000}',
        '\u{180e}',
        '\u{200b}',
        '\u{85}',
        '\u{b}',
        '\u{c}',
        '\u{1c5}',
        '\u{2b0}',
        '\u{5d0}',
        '\u{300}',
        '\u{301}',
        '\u{903}',
        '\u{20dd}',
        'é',
        'É',
        'ß',
        '中',
        'ー',
        '٣',
        '²',
        'Ⅻ',
        '😀',
        '\u{1f3fb}',
        '\u{fe0f}',
        '\u{200d}',
        '\u{e000}',
        '\u{ffff}',
        '\u{10ffff}',
        '\u{1ae8}',
        '\u{32d90}',
        '«',
        '\u{feff}',
        '$',
        '\u{1d400}',
    ];

    #[test]
    fn scanner_equals_fancy_regex_on_random_strings() {
        let re = fancy_regex::Regex::new(TEKKEN_PATTERN).unwrap();
        let pre = PreTokenizer::new(TEKKEN_PATTERN).unwrap();
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for round in 0..30_000 {
            let len = rng.below(24);
            let text: String = (0..len)
                .map(|_| {
                    if rng.below(8) == 0 {
                        // any scalar value, to reach classes the pool lacks
                        loop {
                            if let Some(c) = char::from_u32(rng.below(0x11_0000) as u32) {
                                break c;
                            }
                        }
                    } else {
                        POOL[rng.below(POOL.len())]
                    }
                })
                .collect();
            let expected: Vec<&str> = re.find_iter(&text).map(|m| m.unwrap().as_str()).collect();
            let mut got = Vec::new();
            pre.for_each_piece(&text, |p| got.push(std::str::from_utf8(p).unwrap()))
                .expect("splittable text");
            assert_eq!(got, expected, "round {round}, text {text:?}");
        }
    }

    /// Mostly ASCII (every byte value, so every ASCII class), with a few non-ASCII characters
    /// that can continue or end ASCII runs: the fast path must bail out on them.
    #[test]
    fn ascii_fast_path_equals_fancy_regex() {
        const OTHER: &[char] = &[
            'é', 'É', '\u{a0}', '\u{3000}', '\u{301}', '中', '\u{85}', '²', '«', '\u{2028}',
        ];
        let re = fancy_regex::Regex::new(TEKKEN_PATTERN).unwrap();
        let t = ClassTable::get();
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        for round in 0..20_000 {
            let len = rng.below(40);
            let text: String = (0..len)
                .map(|_| match rng.below(16) {
                    0 => OTHER[rng.below(OTHER.len())],
                    1..=3 => b" \n\t\r"[rng.below(4)] as char,
                    4..=7 => (b'a' + rng.below(26) as u8) as char,
                    8 => (b'A' + rng.below(26) as u8) as char,
                    _ => rng.below(128) as u8 as char,
                })
                .collect();
            let expected: Vec<&str> = re.find_iter(&text).map(|m| m.unwrap().as_str()).collect();
            let mut got = Vec::new();
            PreTokenizer::new(TEKKEN_PATTERN)
                .unwrap()
                .for_each_piece(&text, |p| got.push(std::str::from_utf8(p).unwrap()))
                .expect("splittable text");
            assert_eq!(got, expected, "round {round}, text {text:?}");
            // At every character boundary, not only at piece starts.
            let s = text.as_bytes();
            for p in (0..s.len()).filter(|&p| text.is_char_boundary(p)) {
                if let Some(end) = ascii_piece_end(t, s, p) {
                    assert_eq!(Ok(end), general_piece_end(t, s, p), "{text:?} at {p}");
                }
            }
        }
    }

    /// Upper- and lower-case runs of every length around the eight-byte loads, after each prefix
    /// and before each kind of next character.
    #[test]
    fn letter_runs_of_every_length_equal_fancy_regex() {
        let re = fancy_regex::Regex::new(TEKKEN_PATTERN).unwrap();
        let pre = PreTokenizer::new(TEKKEN_PATTERN).unwrap();
        for prefix in ["", " ", "!", "\n", "é"] {
            for n_upper in 0..20 {
                for n_lower in 0..20 {
                    for next in ["", " ", "é", "É", "1", "\u{300}", "A", "a!", "中"] {
                        let text = format!(
                            "{prefix}{}{}{next}",
                            &"ABCDEFGHIJKLMNOPQRSTUVWXYZ"[..n_upper],
                            &"abcdefghijklmnopqrstuvwxyz"[..n_lower]
                        );
                        let expected: Vec<&str> =
                            re.find_iter(&text).map(|m| m.unwrap().as_str()).collect();
                        let mut got = Vec::new();
                        pre.for_each_piece(&text, |p| got.push(std::str::from_utf8(p).unwrap()))
                            .expect("splittable text");
                        assert_eq!(got, expected, "{text:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn scanner_equals_fancy_regex_on_long_runs() {
        for text in [
            " ".repeat(5000) + "x",
            "\n".repeat(300) + &" ".repeat(300) + "\r\n",
            "A".repeat(4000) + "b",
            "\u{300}".repeat(1000),
            "!".repeat(3000) + "\n\n//",
            "Ab".repeat(1000),
            " ".repeat(3000) + "\u{a0}x",
            "\t".repeat(3000),
            " ".repeat(3000) + "é",
            "x".repeat(3000) + "é",
            "!".repeat(3000) + "«",
        ] {
            assert_eq!(pieces(&text), oracle(&text));
        }
    }

    #[test]
    fn other_patterns_use_fancy_regex() {
        let pre = PreTokenizer::new(r"\w+|\s+(?!\S)|\s+|.").unwrap();
        assert!(matches!(pre, PreTokenizer::Regex(_)));
        let mut out = Vec::new();
        pre.for_each_piece("ab  c", |p| out.push(p.to_vec()))
            .expect("splittable text");
        assert_eq!(
            out,
            [b"ab".to_vec(), b" ".to_vec(), b" ".to_vec(), b"c".to_vec()]
        );
        assert!(PreTokenizer::new("(").is_err());
    }

    #[test]
    fn whitespace_runs_past_tiktokens_stack_limit_are_refused() {
        // Observed with mistral_common 1.13.1: 999,998 spaces encode, 999,999 raise; a run that
        // ends in a line break is taken whole by A5 and never reaches the limit.
        let pre = PreTokenizer::new(TEKKEN_PATTERN).unwrap();
        let n = MAX_A6_RUN_CHARS;
        let ok = |text: &str| pre.for_each_piece(text, |_| {}).is_ok();
        assert!(ok(&" ".repeat(n - 1)));
        assert!(!ok(&" ".repeat(n)));
        assert!(!ok(&format!("x{}y", " ".repeat(n))));
        assert!(ok(&format!("x{}y", " ".repeat(n - 1))));
        assert!(
            !ok(&"\u{3000}".repeat(n)),
            "counted in characters, not bytes"
        );
        assert!(ok(&"\u{3000}".repeat(n - 1)));
        assert!(ok(&format!("{}\n", " ".repeat(n))));
        assert!(!ok(&format!("\n{}", " ".repeat(n))));
        assert!(ok(&format!("{}\n{}", " ".repeat(n - 1), " ".repeat(n - 1))));
    }
}
