//! Development aid: CPU time (not wall time, so a busy machine skews it less) of encoding each
//! benchmark input, and of loading the shipped files:
//! `cargo run --release -p mistral-tok-core --example tekken_speed`, with `MISTRAL_COMMON_DATA`
//! and `PYTHON_STDLIB` set (`make bench` sets them from the venv).

#[path = "../benches/support/inputs.rs"]
mod inputs;

use mistral_tok_core::tokenizer::tekken::TekkenFile;
use mistral_tok_core::tokenizer::TextTokenizer;

#[allow(dead_code)] // the criterion measurement is for the bench
#[path = "../benches/support/cpu_time.rs"]
mod cpu_time;

fn cpu_seconds() -> f64 {
    cpu_time::thread_cpu_time().as_secs_f64()
}

fn main() {
    let dir = inputs::env_dir("MISTRAL_COMMON_DATA");
    let t0 = cpu_seconds();
    TekkenFile::load(&dir.join("tekken_240718.json")).expect("load");
    println!(
        "first load in this process (builds the class table): {:.1} ms",
        (cpu_seconds() - t0) * 1e3
    );
    for name in ["tekken_240718.json", "tekken_240911.json"] {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t0 = cpu_seconds();
            let f = TekkenFile::load(&dir.join(name)).expect("load");
            best = best.min(cpu_seconds() - t0);
            drop(f);
        }
        println!("load {name}: {:.1} ms (best of 5, CPU time)", best * 1e3);
    }
    let t = TekkenFile::load(&dir.join("tekken_240911.json"))
        .expect("load")
        .tokenizer;
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let mut out = Vec::new();
    let only = std::env::args().nth(2);
    let mut all = inputs::all();
    // Extra pathological inputs, only on request: a run of 1 MB is one BPE piece.
    all.push(("spaces_1mb", " ".repeat(1_000_000) + "x"));
    all.push(("bangs_1mb", "!".repeat(1_000_000)));
    // Any text file, e.g. the prose of `benches/compare_chat.py`: `TEKKEN_TEXT=path`.
    if let Some(text) =
        std::env::var_os("TEKKEN_TEXT").and_then(|p| std::fs::read_to_string(p).ok())
    {
        all.push(("file", text));
    }
    for (name, text) in all {
        if only.is_none() && name.ends_with("_1mb") && name != "prose_1mb" {
            continue;
        }
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let mut best = f64::MAX;
        for _ in 0..reps {
            out.clear();
            let t0 = cpu_seconds();
            t.encode_into(&text, &mut out).expect("encodable text");
            best = best.min(cpu_seconds() - t0);
        }
        // A fresh thread has an empty piece cache: the first encode of a text in a process.
        let mut cold = f64::MAX;
        for _ in 0..reps.min(5) {
            let secs = std::thread::scope(|s| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    let t0 = cpu_seconds();
                    t.encode_into(&text, &mut out).expect("encodable text");
                    cpu_seconds() - t0
                })
                .join()
                .unwrap_or(f64::MAX)
            });
            cold = cold.min(secs);
        }
        println!(
            "{name:>22}: {:7.2} ms {:7.1} MB/s warm | {:7.1} MB/s cold cache | {} tokens",
            best * 1e3,
            text.len() as f64 / best / 1e6,
            text.len() as f64 / cold / 1e6,
            out.len()
        );
    }
}
