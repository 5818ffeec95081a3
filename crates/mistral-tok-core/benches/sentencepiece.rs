//! SentencePiece encoding speed on the shipped v7 model: 1 MB of prose (CPython's stdlib
//! docstrings, the text `benches/corpus.py` builds), mixed scripts, one long piece, 2,000 chat
//! turns cut from the prose (each its own call); plus load time. The ids of short pieces stay
//! cached per thread from one call to the next, so repeated calls are "warm"; the `_cold` cases
//! encode with a freshly loaded model each time (the load is not timed).
//!
//! Paths come from `python3` (mistral_common's data folder, the stdlib folder) unless
//! `MISTRAL_COMMON_DATA` / `MISTRAL_TOK_BENCH_STDLIB` are set.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mistral_tok_core::tokenizer::sentencepiece::SentencePiece;
use mistral_tok_core::tokenizer::TextTokenizer;

const MB: usize = 1_000_000;

fn python(expr: &str) -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", &format!("print({expr})")])
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| PathBuf::from(s))
}

fn data_dir() -> Option<PathBuf> {
    std::env::var_os("MISTRAL_COMMON_DATA")
        .map(PathBuf::from)
        .or_else(|| {
            python("__import__('os').path.join(__import__('os').path.dirname(__import__('mistral_common').__file__), 'data')")
        })
}

fn stdlib_dir() -> Option<PathBuf> {
    std::env::var_os("MISTRAL_TOK_BENCH_STDLIB")
        .map(PathBuf::from)
        .or_else(|| python("__import__('sysconfig').get_paths()['stdlib']"))
}

fn cut(mut s: String, n: usize) -> String {
    if s.len() > n {
        let mut i = n;
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        s.truncate(i);
    }
    s
}

/// The same text as `corpus.prose()`: docstrings of the top-level stdlib modules, sorted.
fn prose(n: usize) -> String {
    let mut files: Vec<PathBuf> = stdlib_dir()
        .and_then(|d| std::fs::read_dir(d).ok())
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "py"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut parts: Vec<String> = Vec::new();
    let mut size = 0;
    for f in files {
        let Ok(src) = std::fs::read_to_string(&f) else {
            continue;
        };
        for doc in src.split("\"\"\"").skip(1).step_by(2) {
            size += doc.len() + 2;
            parts.push(doc.to_string());
        }
        if size >= n {
            break;
        }
    }
    if parts.is_empty() {
        eprintln!("stdlib not found: using synthetic prose");
        return cut(
            "The quick brown fox jumps over the lazy dog. ".repeat(n / 40 + 1),
            n,
        );
    }
    cut(parts.join("\n\n"), n)
}

fn mixed(n: usize) -> String {
    let words: Vec<&str> = "the quick brown fox jumps über naïve café déjà vu привет мир как дела \
         хорошо καλημέρα κόσμε 日本語 中文 한국어 東京 北京 مرحبا بالعالم 😀 🚀 👍🏽 ✨ 1234 3.14 \
         x=y+1; f(a, b)"
        .split(' ')
        .collect();
    let seps = [" ", " ", " ", "  ", "\n", ", ", ". "];
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as usize
    };
    let mut s = String::new();
    while s.len() < n {
        s.push_str(words[next() % words.len()]);
        s.push_str(seps[next() % seps.len()]);
    }
    cut(s, n)
}

/// 2,000 slices of 60–240 bytes of `text` at pseudo-random places (chat turns).
fn chat_turns(text: &str) -> Vec<String> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..2000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = 60 + (state % 181) as usize;
            let mut start = ((state >> 16) as usize) % text.len().saturating_sub(n).max(1);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + n).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text[start..end].to_string()
        })
        .collect()
}

fn letters(n: usize) -> String {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (b'a' + (state % 26) as u8) as char
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let Some(dir) = data_dir() else {
        eprintln!("mistral_common's data folder not found; set MISTRAL_COMMON_DATA");
        return;
    };
    let path = dir.join("mistral_instruct_tokenizer_241114.model.v7");
    let sp = match SentencePiece::load(&path) {
        Ok(sp) => sp,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };

    let mut g = c.benchmark_group("sentencepiece_v7");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for (name, text) in [
        ("prose_1MB", prose(MB)),
        ("mixed_1MB", mixed(MB)),
        ("one_piece_100KB", letters(100_000)),
        (
            "chat_message",
            "Hello! Can you summarise the following article in three bullet points?".to_string(),
        ),
    ] {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut out = Vec::new();
                sp.encode_into(black_box(&text), &mut out)
                    .expect("encodable text");
                out
            })
        });
    }
    let prose_1mb = prose(MB);
    g.throughput(Throughput::Bytes(prose_1mb.len() as u64));
    g.bench_function("prose_1MB_cold", |b| {
        b.iter_batched(
            || SentencePiece::load(&path).expect("loadable model"),
            |fresh| {
                let mut out = Vec::new();
                fresh
                    .encode_into(black_box(&prose_1mb), &mut out)
                    .expect("encodable text");
                out
            },
            BatchSize::PerIteration,
        )
    });
    let turns = chat_turns(&prose_1mb);
    g.throughput(Throughput::Bytes(
        turns.iter().map(|t| t.len() as u64).sum(),
    ));
    g.bench_function("chat_turns_2000", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            for t in &turns {
                sp.encode_into(black_box(t), &mut out)
                    .expect("encodable text");
            }
            out
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("load", |b| b.iter(|| SentencePiece::load(black_box(&path))));
    g.finish();

    // One cold call per text, reported plainly (first call after load: nothing is warm).
    let fresh = SentencePiece::load(&path);
    if let Ok(fresh) = fresh {
        let text = prose(MB);
        let t = Instant::now();
        let mut out = Vec::new();
        fresh.encode_into(&text, &mut out).expect("encodable text");
        let dt = t.elapsed().as_secs_f64();
        println!(
            "first call after load, prose 1 MB: {:.1} MB/s",
            text.len() as f64 / dt / 1e6
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
