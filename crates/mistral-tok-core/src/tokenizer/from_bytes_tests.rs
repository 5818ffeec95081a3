//! `Tokenizer::from_bytes` (what unpickling uses) against `from_file` on the same contents.

use std::path::Path;

use serde_json::json;

use super::tekken::TEKKEN_PATTERN;
use super::{source_digest, Tokenizer, TokenizerKind};
use crate::error::Error;

fn tiny_tekken() -> Vec<u8> {
    use base64::Engine;
    let b64 = |b: u8| base64::engine::general_purpose::STANDARD.encode([b]);
    let vocab: Vec<serde_json::Value> = (0..=255u8)
        .map(|i| json!({"rank": i, "token_bytes": b64(i), "token_str": null}))
        .collect();
    json!({
        "config": {
            "pattern": TEKKEN_PATTERN,
            "num_vocab_tokens": 256,
            "default_vocab_size": 256 + 20,
            "default_num_special_tokens": 20,
            "version": "v3",
        },
        "vocab": vocab,
    })
    .to_string()
    .into_bytes()
}

#[test]
fn from_bytes_is_from_file_without_the_file() {
    let data = tiny_tekken();
    let dir = std::env::temp_dir().join(format!("mistral_tok_from_bytes_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tekken_tiny.json");
    std::fs::write(&path, &data).unwrap();
    let loaded = Tokenizer::from_file(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // The path only names the file: it no longer exists.
    let rebuilt = Tokenizer::from_bytes(&path, &data).unwrap();
    assert_eq!(rebuilt.kind(), TokenizerKind::Tekken);
    assert_eq!(rebuilt.version(), loaded.version());
    assert_eq!(rebuilt.source_digest(), loaded.source_digest());
    assert_eq!(rebuilt.source_digest(), source_digest(&data));
    let text = "Pickled, then loaded: naïve 😀";
    assert_eq!(
        rebuilt.encode(text, true, false).unwrap(),
        loaded.encode(text, true, false).unwrap()
    );
    let mut changed = data.clone();
    changed.push(b' ');
    assert_ne!(source_digest(&changed), source_digest(&data));
}

#[test]
fn from_bytes_follows_the_name_and_reports_the_path() {
    let data = tiny_tekken();
    let err = Tokenizer::from_bytes(Path::new("/gone/vocab.json"), &data).err();
    assert!(matches!(err, Some(Error::TokenizerFile { .. })));
    let err = Tokenizer::from_bytes(Path::new("/gone/tokenizer.model.v3"), &data).err();
    match err {
        Some(e @ Error::TokenizerFile { .. }) => assert!(e.to_string().contains("/gone/")),
        other => panic!("expected a tokenizer file error, got {other:?}"),
    }
}
