//! Development aid: does the tekken encoder take more CPU per byte when two threads run? The
//! 1 MB prose and 300 KB mixed benchmark inputs, cut into rows of 20 bytes to 8 KB, encoded
//!
//! - `one`: by one thread;
//! - `dup`: by two threads at once, each all the rows (nothing shared but the tokenizer: a rise
//!   in CPU per byte here is the machine's, e.g. shared caches or hyperthreads);
//! - `split`: by two threads taking rows from a shared counter, as `encode_chat_batch`'s helpers
//!   do (each thread's piece cache sees only its rows).
//!
//! Per thread: best CPU time of the runs, in ns per byte, and wall time. On a machine shared with
//! other work, run it under `chrt -f 10` so that both threads get a core. `MISTRAL_COMMON_DATA`: the
//! folder with `tekken_240911.json` (and `PYTHON_STDLIB`, as for `benches/tekken.rs`).
//! `cargo run --release --example encoder_threads [one|dup|split] [runs]`.

#[allow(dead_code)] // the other inputs are for the benches
#[path = "../benches/support/inputs.rs"]
mod inputs;

#[allow(dead_code)] // the criterion measurement is for the bench
#[path = "../benches/support/cpu_time.rs"]
mod cpu_time;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::Instant;

use mistral_tok_core::tokenizer::tekken::TekkenFile;
use mistral_tok_core::tokenizer::TextTokenizer;

/// Rows cut from `text` at char boundaries, 20 bytes to ~8 KB long (at most 1,000).
fn rows(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut seed) = (0, 0x9e37_79b9_u64);
    while out.len() < 1000 && start < text.len() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut end = (start + 20 + (seed % 8000) as usize).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push(&text[start..end]);
        start = end;
    }
    out
}

fn main() {
    let dir = inputs::env_dir("MISTRAL_COMMON_DATA");
    let tok = TekkenFile::load(&dir.join("tekken_240911.json"))
        .expect("load")
        .tokenizer;
    let mode = std::env::args().nth(1).unwrap_or_else(|| "split".into());
    let runs: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(9);
    let text = inputs::prose() + &inputs::mixed();
    let rows = rows(&text);
    let threads = if mode == "one" { 1 } else { 2 };
    let barrier = Barrier::new(threads);
    let next = AtomicUsize::new(0);
    // (thread, bytes, CPU seconds, wall seconds) of every run.
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for k in 0..threads {
            let (barrier, next, results, rows, tok, mode) =
                (&barrier, &next, &results, &rows, &tok, mode.as_str());
            s.spawn(move || {
                let mut out = Vec::new();
                let mut encode = |row: &str| {
                    out.clear();
                    tok.encode_into(row, &mut out).expect("encodable");
                    row.len()
                };
                rows.iter().for_each(|r| {
                    encode(r);
                }); // warm this thread's piece cache
                for _ in 0..runs {
                    barrier.wait();
                    next.store(0, Ordering::SeqCst);
                    barrier.wait();
                    let (wall, cpu) = (Instant::now(), cpu_time::thread_cpu_time());
                    let mut bytes = 0;
                    if mode == "split" {
                        while let Some(row) = rows.get(next.fetch_add(1, Ordering::Relaxed)) {
                            bytes += encode(row);
                        }
                    } else {
                        bytes = rows.iter().map(|r| encode(r)).sum();
                    }
                    let cpu = (cpu_time::thread_cpu_time() - cpu).as_secs_f64();
                    let run = (k, bytes, cpu, wall.elapsed().as_secs_f64());
                    results.lock().unwrap_or_else(|p| p.into_inner()).push(run);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    for k in 0..threads {
        let mine = results.iter().filter(|r| r.0 == k);
        let per_byte = mine
            .clone()
            .map(|r| r.2 / r.1 as f64)
            .fold(f64::MAX, f64::min);
        let wall = mine.map(|r| r.3).fold(f64::MAX, f64::min);
        println!(
            "{mode}, thread {k}: best {:.3} ns of CPU per byte, best wall {:.2} ms",
            per_byte * 1e9,
            wall * 1e3
        );
    }
}
