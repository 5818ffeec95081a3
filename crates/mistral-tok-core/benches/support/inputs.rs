//! Deterministic benchmark inputs, shared by `benches/tekken.rs` and mirrored by
//! `benches/compare_tekken.py` (same generators, so both measure the same text).

use std::path::PathBuf;

/// The folder the environment variable `var` names (`make bench` sets `MISTRAL_COMMON_DATA` and
/// `PYTHON_STDLIB` from the development venv).
pub fn env_dir(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => panic!("set {var} (`make bench` sets it from the development venv)"),
    }
}

/// The inputs by name.
pub fn all() -> Vec<(&'static str, String)> {
    vec![
        ("prose_1mb", prose()),
        ("mixed_300kb", mixed()),
        ("base64_100kb", base64_text()),
        ("one_letter_100kb", "a".repeat(100_000)),
        ("random_letters_100kb", random_letters()),
    ]
}

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

fn truncate_at_char(mut s: String, n: usize) -> String {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

pub fn prose() -> String {
    let dir = env_dir("PYTHON_STDLIB");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("PYTHON_STDLIB: CPython's Lib folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    let mut parts = Vec::new();
    for f in files {
        let Ok(src) = std::fs::read_to_string(&f) else {
            continue;
        };
        for (i, chunk) in src.split("\"\"\"").enumerate() {
            if i % 2 == 1 {
                parts.push(chunk.to_string());
            }
        }
    }
    truncate_at_char(parts.join("\n\n"), 1_000_000)
}

const WORDS: &[&str] = &[
    "hello",
    "World",
    "ÉCOLE",
    "naïve",
    "straße",
    "Привет",
    "мир",
    "Ελληνικά",
    "λόγος",
    "中文",
    "日本語のテキスト",
    "한국어",
    "مرحبا",
    "שלום",
    "हिन्दी",
    "ভাষা",
    "தமிழ்",
    "ǅemal",
    "ʰʲ",
    "x\u{301}\u{302}",
    "e\u{301}",
    "2024",
    "٣٤٥",
    "Ⅻ",
    "½",
    "😀",
    "👍🏻",
    "👨\u{200d}👩\u{200d}👧",
    "❤\u{fe0f}",
    "CamelCase",
    "snake_case",
    "ALLCAPS",
    "I'm",
    "don't",
    "(x)",
    "{\"a\": 1}",
    "a/b/c",
    "--flag",
    "$100",
    "3.14",
    "#tag",
    "@user",
    "e-mail",
    "\u{1d400}\u{1d401}",
    "\u{10ffff}",
    "ﬁ",
];
const SEPARATORS: &[&str] = &[
    " ", " ", " ", " ", "  ", "\n", "\r\n", "\t", "\u{a0}", "\u{3000}", "\u{2028}", " \n ", ", ",
    ". ", "", "\u{200b}", "   ",
];

pub fn mixed() -> String {
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    let mut s = String::new();
    while s.len() < 300_000 {
        s.push_str(WORDS[rng.below(WORDS.len())]);
        s.push_str(SEPARATORS[rng.below(SEPARATORS.len())]);
    }
    truncate_at_char(s, 300_000)
}

pub fn base64_text() -> String {
    use base64::Engine;
    let mut rng = XorShift(0x0bad_cafe_f00d_d00d);
    let bytes: Vec<u8> = (0..75_000).map(|_| (rng.next() >> 24) as u8).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn random_letters() -> String {
    let mut rng = XorShift(0x5eed_5eed_5eed_5eed);
    (0..100_000)
        .map(|_| (b'a' + rng.below(26) as u8) as char)
        .collect()
}
