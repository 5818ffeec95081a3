//! `ChatRequest` and `Readings` end to end on small synthetic tekken files (one id per byte),
//! with the answers mistral_common 1.13.1 gives (the random differential tests are in
//! tests/test_chat_truncation.py and tests/test_chat_parity.py).

use std::path::PathBuf;

use base64::Engine;
use serde_json::json;

use super::surrogates::{Alternatives, Readings};
use super::ChatRequest;
use crate::error::Error;
use crate::template::json::loads;
use crate::tokenizer::tekken::TEKKEN_PATTERN;
use crate::tokenizer::{SpecialTokenPolicy, Tokenizer};
use crate::value::Value;

/// A tekken file of `version` (v3 or v7: the deprecated special-token layout) whose vocabulary is
/// the 256 bytes, so every ASCII character is one token.
fn byte_tekken(version: &str) -> Tokenizer {
    let b64 = |b: u8| base64::engine::general_purpose::STANDARD.encode([b]);
    let vocab: Vec<serde_json::Value> = (0..=255u8)
        .map(|i| json!({"rank": i, "token_bytes": b64(i), "token_str": null}))
        .collect();
    let file = json!({
        "config": {
            "pattern": TEKKEN_PATTERN,
            "num_vocab_tokens": 256,
            "default_vocab_size": 256 + 20,
            "default_num_special_tokens": 20,
            "version": version,
        },
        "vocab": vocab,
    });
    let dir = std::env::temp_dir().join(format!(
        "mistral_tok_chat_{version}_{}_{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("tekken_test.json");
    std::fs::write(&path, file.to_string()).unwrap();
    let tok = Tokenizer::from_file(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    tok
}

fn value(text: &str) -> Value {
    match loads(text) {
        Ok(v) => v,
        Err(e) => panic!("bad test JSON {text}: {e:?}"),
    }
}

/// A request of `messages` (JSON) with `truncate_for_context_length` set as given.
fn request(messages: &str, truncate: bool, max: Option<i64>) -> ChatRequest {
    let mut r = ChatRequest::new(value(messages));
    if truncate {
        r.fields
            .push(("truncate_for_context_length".into(), Value::Bool(true)));
    }
    r.max_model_input_len = max;
    r
}

fn text(tok: &Tokenizer, ids: &[u32]) -> String {
    tok.decode(ids, SpecialTokenPolicy::Keep).unwrap()
}

fn encode(tok: &Tokenizer, r: &ChatRequest) -> crate::Result<String> {
    r.encode(tok).map(|ids| text(tok, &ids))
}

fn request_error(r: crate::Result<String>) -> String {
    match r {
        Err(Error::Request(m)) => m,
        other => panic!("expected a request error, got {other:?}"),
    }
}

const TURNS: &str = r#"[{"role": "system", "content": "s"},
    {"role": "user", "content": "aaaa"}, {"role": "assistant", "content": "bb"},
    {"role": "user", "content": "c"}]"#;
const FULL: &str = "<s>[SYSTEM_PROMPT]s[/SYSTEM_PROMPT][INST]aaaa[/INST]bb</s>[INST]c[/INST]";

#[test]
fn truncation_needs_a_max_length_on_every_version() {
    for version in ["v3", "v7"] {
        let tok = byte_tekken(version);
        let m = request_error(encode(&tok, &request(TURNS, true, None)));
        assert_eq!(
            m,
            "encoding a chat completion request with truncation, but no max model len was provided"
        );
        // A max length without the flag is ignored.
        let full = encode(&tok, &request(TURNS, false, None)).unwrap();
        assert_eq!(encode(&tok, &request(TURNS, false, Some(1))).unwrap(), full);
    }
}

#[test]
fn validation_errors_come_before_the_missing_max_length() {
    let tok = byte_tekken("v7");
    let m = request_error(encode(&tok, &request("[]", true, None)));
    assert!(m.contains("at least one message"), "{m}");
}

#[test]
fn v7_drops_whole_turns_from_the_front() {
    let tok = byte_tekken("v7");
    assert_eq!(encode(&tok, &request(TURNS, false, None)).unwrap(), FULL);
    // 15 tokens besides BOS: a budget of 15 or more keeps everything.
    for max in [15, 16, i64::MAX] {
        assert_eq!(
            encode(&tok, &request(TURNS, true, Some(max))).unwrap(),
            FULL
        );
    }
    // One less: the first user turn and its answer go; the system message stays.
    for max in [14, 6] {
        assert_eq!(
            encode(&tok, &request(TURNS, true, Some(max))).unwrap(),
            "<s>[SYSTEM_PROMPT]s[/SYSTEM_PROMPT][INST]c[/INST]"
        );
    }
    // Nothing else may go: the system message and the last user turn are kept.
    for max in [5, 0, -1, i64::MIN] {
        let m = request_error(encode(&tok, &request(TURNS, true, Some(max))));
        assert_eq!(m, "Input couldn't fit in truncate_at_max_token");
    }
}

#[test]
fn v3_ignores_the_max_length() {
    let tok = byte_tekken("v3");
    let full = encode(&tok, &request(TURNS, false, None)).unwrap();
    for max in [0, 3, -5] {
        assert_eq!(
            encode(&tok, &request(TURNS, true, Some(max))).unwrap(),
            full
        );
    }
}

#[test]
fn turns_after_the_last_user_message_go_without_rechecking_the_budget() {
    // U1 "a" [3] · A "b" [2] · U2 "c" [3] · A prefix "dd" [2]: 10 tokens.
    let tok = byte_tekken("v7");
    let mut r = request(
        r#"[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"}, {"role": "assistant", "content": "dd"}]"#,
        true,
        Some(9),
    );
    r.continue_final_message = true;
    // One over: U1 goes, and its answer with it although the budget already holds.
    assert_eq!(encode(&tok, &r).unwrap(), "<s>[INST]c[/INST]dd");
    // Six over: U1 and A go; U2 is kept, and the prefix after it goes too without a check.
    r.max_model_input_len = Some(4);
    assert_eq!(encode(&tok, &r).unwrap(), "<s>[INST]c[/INST]");
    r.max_model_input_len = Some(2);
    assert!(request_error(encode(&tok, &r)).contains("couldn't fit"));
}

#[test]
fn leading_non_user_messages_go_one_at_a_time() {
    // A "xx" [3] · U "y" [3]: with one token too many only the assistant goes.
    let tok = byte_tekken("v7");
    let r = request(
        r#"[{"role": "assistant", "content": "xx"}, {"role": "user", "content": "y"}]"#,
        true,
        Some(5),
    );
    assert_eq!(encode(&tok, &r).unwrap(), "<s>[INST]y[/INST]");
}

#[test]
fn tools_go_with_the_turn_that_carries_them() {
    // V7 writes the tools before the last user message, which is never dropped.
    let tok = byte_tekken("v7");
    let tools = value(r#"[{"type": "function", "function": {"name": "f", "parameters": {}}}]"#);
    let mut r = request(
        r#"[{"role": "user", "content": "aaaa"}, {"role": "assistant", "content": "bb"},
            {"role": "user", "content": "c"}]"#,
        false,
        None,
    );
    r.tools = Some(tools);
    let full = encode(&tok, &r).unwrap();
    assert!(full.contains("[AVAILABLE_TOOLS]"));
    let n = r.encode(&tok).unwrap().len() as i64 - 1;
    r.fields
        .push(("truncate_for_context_length".into(), Value::Bool(true)));
    r.max_model_input_len = Some(n - 1);
    let cut = encode(&tok, &r).unwrap();
    assert!(cut.starts_with("<s>[AVAILABLE_TOOLS]"), "{cut}");
    assert!(!cut.contains("aaaa"), "{cut}");
}

/// Readings of a request whose user text held one lone surrogate: spelled in plane A, plane B,
/// and repaired.
fn surrogate_readings(spelled: [&str; 3], max: Option<i64>) -> Readings {
    let req = |t: &str| {
        let mut m = serde_json::Map::new();
        m.insert("role".into(), "user".into());
        m.insert("content".into(), t.into());
        let mut r = request(
            &serde_json::Value::Array(vec![m.into()]).to_string(),
            max.is_some(),
            max,
        );
        r.continue_final_message = false;
        r
    };
    Readings {
        request: req(spelled[0]),
        lone_surrogates: Some(Alternatives {
            respelled: req(spelled[1]),
            repaired: req(spelled[2]),
            at_edge: false,
        }),
    }
}

#[test]
fn surrogates_that_reach_the_tokens_are_repaired_for_tekken() {
    let tok = byte_tekken("v7");
    let r = surrogate_readings(["x\u{F0000}y", "x\u{100000}y", "x\u{FFFD}y"], None);
    let ids = r.encode(&tok, true).unwrap();
    assert_eq!(text(&tok, &ids), "<s>[INST]x\u{FFFD}y[/INST]");
    assert_eq!(
        ids,
        r.lone_surrogates
            .as_ref()
            .unwrap()
            .repaired
            .encode(&tok)
            .unwrap()
    );
    // Truncation goes through the same decision.
    let r = surrogate_readings(["x\u{F0000}y", "x\u{100000}y", "x\u{FFFD}y"], Some(0));
    assert!(matches!(r.encode(&tok, true), Err(Error::Request(m)) if m.contains("couldn't fit")));
}

#[test]
fn surrogates_that_do_not_matter_give_the_ids() {
    let tok = byte_tekken("v7");
    let mut r = surrogate_readings(["same", "same", "same"], None);
    // The surrogate sat in a field mistral_common ignores.
    if let Some(alt) = r.lone_surrogates.as_mut() {
        alt.respelled
            .fields
            .push(("user".into(), Value::Str("\u{100000}".into())));
    }
    r.request
        .fields
        .push(("user".into(), Value::Str("\u{F0000}".into())));
    assert_eq!(
        text(&tok, &r.encode(&tok, true).unwrap()),
        "<s>[INST]same[/INST]"
    );
}

#[test]
fn surrogates_that_decide_validity_are_unsupported() {
    let tok = byte_tekken("v7");
    // One spelling is a valid role, the other is not: the readings disagree on acceptance.
    let mut r = surrogate_readings(["a", "a", "a"], None);
    if let Some(alt) = r.lone_surrogates.as_mut() {
        alt.respelled.messages = value(r#"[{"role": "nobody", "content": "a"}]"#);
    }
    assert!(matches!(r.encode(&tok, true), Err(Error::Unsupported(_))));
    // Both rejected the same way: mistral_common's error.
    let mut r = surrogate_readings(["a", "a", "a"], None);
    r.request.messages = value("[]");
    if let Some(alt) = r.lone_surrogates.as_mut() {
        alt.respelled.messages = value("[]");
    }
    assert!(matches!(r.encode(&tok, true), Err(Error::Request(m)) if m.contains("at least one")));
}

#[test]
fn plain_readings_are_the_request() {
    let tok = byte_tekken("v7");
    let r = Readings::plain(request(TURNS, true, Some(14)));
    assert_eq!(
        text(&tok, &r.encode(&tok, true).unwrap()),
        "<s>[SYSTEM_PROMPT]s[/SYSTEM_PROMPT][INST]c[/INST]"
    );
}

#[test]
fn surrogates_are_decided_before_truncation() {
    // The plane spellings are 4 bytes (4 tokens), the repair U+FFFD 3: with the repaired length
    // as the budget, mistral_common keeps everything, while the spelled readings would both drop
    // the first turn and agree with each other.
    let tok = byte_tekken("v7");
    let req = |t: &str, max: i64| {
        let mut first = serde_json::Map::new();
        first.insert("role".into(), "user".into());
        first.insert("content".into(), format!("x{t}").into());
        let rest = json!([{"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]);
        let mut all = vec![serde_json::Value::Object(first)];
        all.extend(rest.as_array().cloned().unwrap_or_default());
        request(&serde_json::Value::Array(all).to_string(), true, Some(max))
    };
    let readings = |max| Readings {
        request: req("\u{F0000}", max),
        lone_surrogates: Some(Alternatives {
            respelled: req("\u{100000}", max),
            repaired: req("\u{FFFD}", max),
            at_edge: false,
        }),
    };
    let full = "<s>[INST]x\u{FFFD}[/INST]b</s>[INST]c[/INST]";
    assert_eq!(text(&tok, &readings(11).encode(&tok, true).unwrap()), full);
    assert_eq!(
        text(&tok, &readings(10).encode(&tok, true).unwrap()),
        "<s>[INST]c[/INST]"
    );
    assert!(matches!(readings(2).encode(&tok, true), Err(Error::Request(m)) if m.contains("fit")));
}
