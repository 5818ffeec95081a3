//! Development aid: CPU time of the Rust part of `encode_chat` (parse, normalize, template,
//! text encoding) on requests dumped as JSON, e.g. the scenarios of `benches/compare_chat.py`.
//! No Python objects are involved, so this measures what the PyO3 layer calls, and it runs under
//! `valgrind --tool=callgrind` for instruction counts (see [`timed_encode`]).
//!
//! `cargo run --release -p mistral-tok-core --example chat_speed -- TOKENIZER_FILE REQUEST.json
//! [REPS] [cold]`, where `cold` loads the tokenizer afresh before each timed encoding (nothing of
//! it cached), and the JSON holds `{"messages": [...], "tools": [...] | null}`. Key order inside
//! the JSON is not kept (serde_json sorts it), which changes the ids but not the work.

#[allow(dead_code)] // the criterion measurement is for the bench
#[path = "../benches/support/cpu_time.rs"]
mod cpu_time;

use mistral_tok_core::chat::ChatRequest;
use mistral_tok_core::request::instruct::InstructRequest;
use mistral_tok_core::template::encode_instruct;
use mistral_tok_core::tokenizer::Tokenizer;
use mistral_tok_core::value::{Int, Value};

fn convert(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(Int::Small(i)),
            None => Value::Float(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(convert).collect()),
        serde_json::Value::Object(o) => {
            Value::Dict(o.iter().map(|(k, v)| (k.clone(), convert(v))).collect())
        }
    }
}

fn cpu_ms() -> f64 {
    cpu_time::thread_cpu_time().as_secs_f64() * 1e3
}

fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t0 = cpu_ms();
        f();
        best = best.min(cpu_ms() - t0);
    }
    best
}

/// The timed encoding, apart from the first call, so that callgrind can count the warm calls
/// alone (`--toggle-collect=chat_speed::timed_encode`).
#[inline(never)]
fn timed_encode(tok: &Tokenizer, instruct: &InstructRequest) -> Vec<u32> {
    encode_instruct(tok, instruct).expect("encode")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(tok_path), Some(req_path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: chat_speed TOKENIZER_FILE REQUEST.json [REPS]");
        std::process::exit(2);
    };
    let reps: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(20);
    let cold = args.get(4).is_some_and(|a| a == "cold");
    let load = || Tokenizer::from_file(tok_path).expect("tokenizer file");
    let tok = load();
    let text = std::fs::read_to_string(req_path).expect("request file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let messages = convert(&json["messages"]);
    let tools = json.get("tools").filter(|t| !t.is_null()).map(convert);

    let chat = ChatRequest {
        tools,
        ..ChatRequest::new(messages)
    };
    let request = || -> InstructRequest { chat.instruct_request(&tok).expect("request") };
    let instruct = request();
    let ids = encode_instruct(&tok, &instruct).expect("encode");
    let prepare = best(reps, || {
        std::hint::black_box(request());
    });
    let mut template = f64::MAX;
    for _ in 0..reps {
        let fresh = cold.then(load);
        let t0 = cpu_ms();
        std::hint::black_box(timed_encode(fresh.as_ref().unwrap_or(&tok), &instruct));
        template = template.min(cpu_ms() - t0);
    }
    println!(
        "{} ids; best of {reps}: parse+normalize {prepare:.2} ms, template+encode {template:.2} ms{}",
        ids.len(),
        if cold { " (cold)" } else { "" }
    );
}
