//! Tekken encode and decode throughput and load time on the shipped vocabulary.
//!
//! Inputs (the same generators as `benches/compare_tekken.py`):
//! - prose: the text between `"""` pairs of CPython's `Lib/*.py` (sorted), joined by blank lines,
//!   first 1,000,000 bytes — real English, available offline;
//! - mixed: 300 KB of words from many scripts (marks, Lt/Lm, digits, odd whitespace, emoji);
//! - base64: 100 KB of base64 of pseudo-random bytes;
//! - one_letter / random_letters: single 100 KB pre-tokenizer pieces.
//!
//! Times are the benchmark thread's CPU time on Linux (the machine is shared; wall time there
//! mostly measures the neighbours), wall time elsewhere.
//!
//! `MISTRAL_COMMON_DATA` (the folder with `tekken_240911.json`) and `PYTHON_STDLIB` (the folder
//! with CPython's `*.py`) say where the inputs are; `make bench` sets them from the venv.

#[cfg(target_os = "linux")]
#[path = "support/cpu_time.rs"]
mod cpu_time;
#[path = "support/inputs.rs"]
mod inputs;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use inputs::env_dir;
use mistral_tok_core::tokenizer::tekken::TekkenFile;
use mistral_tok_core::tokenizer::{SpecialTokenPolicy, TextTokenizer};

#[cfg(target_os = "linux")]
type Clock = cpu_time::ThreadCpuTime;
#[cfg(target_os = "linux")]
fn clock() -> Clock {
    cpu_time::ThreadCpuTime::new()
}
#[cfg(not(target_os = "linux"))]
type Clock = criterion::measurement::WallTime;
#[cfg(not(target_os = "linux"))]
fn clock() -> Clock {
    criterion::measurement::WallTime
}

fn bench(c: &mut Criterion<Clock>) {
    let path = env_dir("MISTRAL_COMMON_DATA").join("tekken_240911.json");
    let file = TekkenFile::load(&path).expect("MISTRAL_COMMON_DATA: mistral_common's data folder");
    let t = file.tokenizer;

    let inputs = inputs::all();
    let mut g = c.benchmark_group("tekken_encode");
    for (name, text) in &inputs {
        g.throughput(Throughput::Bytes(text.len() as u64));
        let mut out = Vec::new();
        g.bench_with_input(BenchmarkId::from_parameter(name), text, |b, text| {
            b.iter(|| {
                out.clear();
                t.encode_into(text, &mut out).expect("encodable text");
                out.len()
            })
        });
    }
    g.finish();

    // Throughput in bytes of text produced; vLLM ≤ 0.14 decodes every prompt it is handed.
    let mut g = c.benchmark_group("tekken_decode");
    for (name, text) in &inputs {
        let mut ids = Vec::new();
        t.encode_into(text, &mut ids).expect("encodable text");
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &ids, |b, ids| {
            b.iter(|| t.decode(ids, SpecialTokenPolicy::Keep).map(|s| s.len()))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("tekken_load");
    g.sample_size(10);
    for name in ["tekken_240718.json", "tekken_240911.json"] {
        let path = env_dir("MISTRAL_COMMON_DATA").join(name);
        g.bench_function(name, |b| {
            b.iter(|| TekkenFile::load(&path).map(|f| f.version))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(clock());
    targets = bench
}
criterion_main!(benches);
