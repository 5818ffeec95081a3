//! Tokenizer-level tests on small synthetic files (no Python, no shipped data needed), plus
//! golden ids on the shipped file when mistral_common's data folder is found.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{json, Value};

use super::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A v3-style file: the 256 bytes plus `extra` tokens, `num_special` specials (the deprecated
/// defaults, filled), `default_vocab_size` = everything.
fn synthetic(extra: &[&[u8]], num_special: usize) -> Value {
    let mut vocab: Vec<Value> = (0..256)
        .map(|i| json!({"rank": i, "token_bytes": b64(&[i as u8]), "token_str": null}))
        .collect();
    for (k, t) in extra.iter().enumerate() {
        vocab.push(json!({"rank": 256 + k, "token_bytes": b64(t), "token_str": null}));
    }
    json!({
        "config": {
            "pattern": TEKKEN_PATTERN,
            "num_vocab_tokens": vocab.len(),
            "default_vocab_size": vocab.len() + num_special,
            "default_num_special_tokens": num_special,
            "version": "v3",
        },
        "vocab": vocab,
    })
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "mistral_tok_tekken_{tag}_{}_{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load_value(v: &Value) -> std::result::Result<TekkenFile, String> {
    TekkenFile::from_slice(serde_json::to_string(v).unwrap().as_bytes())
}

fn load_ok(v: &Value) -> TekkenFile {
    match load_value(v) {
        Ok(f) => f,
        Err(e) => panic!("load failed: {e}"),
    }
}

fn load_err(v: &Value) -> String {
    match load_value(v) {
        Ok(_) => panic!("load succeeded"),
        Err(e) => e,
    }
}

#[test]
fn encode_synthetic() {
    let f = load_ok(&synthetic(
        &[b"he", b"ll", b"hell", b"hello", b" w", b" wo"],
        20,
    ));
    let t = &f.tokenizer;
    assert_eq!(f.version, TokenizerVersion::V3);
    assert!(t.uses_scanner());
    let mut ids = Vec::new();
    t.encode_into("hello wow", &mut ids)
        .expect("encodable text");
    // "hello" is a whole token (rank 259); " wow" → " w"(260)+"o" → " wo"(261)+"w".
    assert_eq!(ids, vec![20 + 259, 20 + 261, 20 + b'w' as u32]);
    assert_eq!(
        t.decode(&ids, SpecialTokenPolicy::Ignore).unwrap(),
        "hello wow"
    );
    assert_eq!(t.num_special_tokens(), 20);
    assert_eq!(t.vocab_size(), 20 + 256 + 6);
    assert_eq!(
        (t.bos_id(), t.eos_id(), t.pad_id(), t.unk_id()),
        (1, 2, 11, 0)
    );
}

#[test]
fn piece_cache_is_per_tokenizer() {
    // Same thread, same words, different vocabularies (and offsets): the per-thread cache must
    // never hand one tokenizer's ids to the other.
    let a = load_ok(&synthetic(&[b"he", b"hello"], 20)).tokenizer;
    let b = load_ok(&synthetic(&[b"lo", b"hel"], 30)).tokenizer;
    let enc = |t: &Tekken, s: &str| {
        let mut v = Vec::new();
        t.encode_into(s, &mut v).expect("encodable text");
        v
    };
    // References from fresh threads, whose caches are empty.
    let fresh =
        |t: &Tekken, s: &str| std::thread::scope(|scope| scope.spawn(|| enc(t, s)).join().unwrap());
    let text = "hello hello he lo hel";
    let (ref_a, ref_b) = (fresh(&a, text), fresh(&b, text));
    assert_eq!(ref_a[0], 277);
    assert_eq!(ref_b[..4], [134, 131, 138, 286]); // "hello": only "lo" merges
    for _ in 0..3 {
        assert_eq!(enc(&a, text), ref_a);
        assert_eq!(enc(&b, text), ref_b);
    }
    // A long piece (not cached) and a repeated one give the same ids every time.
    let long = "abcdefghijklmnopqrstuvwxyz hello".repeat(3);
    assert_eq!(enc(&a, &long), fresh(&a, &long));
}

#[test]
fn cached_pieces_of_every_length_and_token_count_encode_as_uncached() {
    // Pieces around each cache limit (2 bytes: no cache; 15: short table; 31: long table;
    // 3 and 7 ids), non-ASCII ones, and the same words again once cached.
    let a = load_ok(&synthetic(&[b"ab", b"abab", b"ba", b" a", b"\xc3\xa9"], 20)).tokenizer;
    let enc = |s: &str| {
        let mut v = Vec::new();
        a.encode_into(s, &mut v).expect("encodable text");
        v
    };
    let fresh = |s: &str| std::thread::scope(|scope| scope.spawn(|| enc(s)).join().unwrap());
    let mut words = Vec::new();
    for n in 1..40 {
        words.push("a".repeat(n));
        words.push("ab".repeat(n / 2 + 1));
        words.push("é".repeat(n));
        words.push("xy".repeat(n));
        words.push(" ".repeat(n));
        words.push("!".repeat(n));
    }
    let text = words.join(" ");
    let reference = fresh(&text);
    for _ in 0..3 {
        assert_eq!(enc(&text), reference);
    }
    for w in &words {
        assert_eq!(enc(w), fresh(w), "{w:?}");
    }
}

#[test]
fn special_strings_in_text_are_plain_text() {
    let f = load_ok(&synthetic(&[], 20));
    let mut ids = Vec::new();
    f.tokenizer
        .encode_into("<s>[INST]", &mut ids)
        .expect("encodable text");
    assert_eq!(ids.len(), "<s>[INST]".len());
    assert!(ids.iter().all(|&i| i >= 20));
}

#[test]
fn decode_policies() {
    let f = load_ok(&synthetic(&[b"hi"], 20));
    let t = &f.tokenizer;
    let ids = [1, 256 + 20, 3, 4, 20 + b'!' as u32, 2];
    assert_eq!(t.decode(&ids, SpecialTokenPolicy::Ignore).unwrap(), "hi!");
    assert_eq!(
        t.decode(&ids, SpecialTokenPolicy::Keep).unwrap(),
        "<s>hi[INST][/INST]!</s>"
    );
    let err = t.decode(&ids, SpecialTokenPolicy::Raise).unwrap_err();
    let Error::Decode(msg) = err else {
        panic!("{err:?}")
    };
    assert!(
        msg.starts_with("Decoding `tokens` that contain special tokens ([1]) is not allowed. \n"),
        "{msg}"
    );
    // The RAISE error names the first special run only.
    let Err(Error::Decode(msg)) = t.decode(&[20 + b'x' as u32, 3, 4, 5], SpecialTokenPolicy::Raise)
    else {
        panic!()
    };
    assert!(msg.contains("([3, 4, 5])"), "{msg}");
    assert!(msg.ends_with("SpecialTokenPolicy.IGNORE  # or SpecialTokenPolicy.KEEP\n```"));
    assert_eq!(t.decode(&[], SpecialTokenPolicy::Raise).unwrap(), "");
    // Fillers are KEEP-decoded as their generated names.
    assert_eq!(t.id_to_piece(19).unwrap(), "[TOOL_CONTENT]");
    assert_eq!(t.id_to_piece(20 + b'a' as u32).unwrap(), "a");
}

#[test]
fn decode_out_of_range_is_an_error() {
    let f = load_ok(&synthetic(&[b"hi"], 20));
    let t = &f.tokenizer;
    for id in [20 + 257, u32::MAX] {
        assert!(matches!(
            t.decode(&[id], SpecialTokenPolicy::Ignore),
            Err(Error::Decode(_))
        ));
        assert!(t.id_to_piece(id).is_err());
    }
}

#[test]
fn invalid_utf8_is_replaced_like_python() {
    // Expected strings computed with CPython 3.11: bytes.decode("utf-8", "replace").
    let f = load_ok(&synthetic(&[], 20));
    let t = &f.tokenizer;
    let cases: &[(&[u8], &str)] = &[
        (b"\xed\xa0\x80", "\u{fffd}\u{fffd}\u{fffd}"),
        (b"\xf4\x90\x80\x80", "\u{fffd}\u{fffd}\u{fffd}\u{fffd}"),
        (b"\xe2\x82", "\u{fffd}"),
        (b"\xe2\x82a", "\u{fffd}a"),
        (b"\xf0\x9f\x98", "\u{fffd}"),
        (b"\xc0\xaf", "\u{fffd}\u{fffd}"),
        (b"\xe0\x80\xaf", "\u{fffd}\u{fffd}\u{fffd}"),
        (b"\xf0\x80\x80\xaf", "\u{fffd}\u{fffd}\u{fffd}\u{fffd}"),
        (
            b"\xf8\x88\x80\x80\x80",
            "\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}",
        ),
        (b"\x80\x80", "\u{fffd}\u{fffd}"),
        (b"a\xffb", "a\u{fffd}b"),
        (b"\xf0\x9f\x98\x80\x9f", "😀\u{fffd}"),
        (
            b"\xe1\x80\xe2\xf0\x91\x92\xf1\xbfA",
            "\u{fffd}\u{fffd}\u{fffd}\u{fffd}A",
        ),
        (b"\xef\xbf\xbd", "\u{fffd}"),
        (b"\xc2", "\u{fffd}"),
    ];
    for (bytes, expected) in cases {
        let ids: Vec<u32> = bytes.iter().map(|&b| 20 + b as u32).collect();
        assert_eq!(
            t.decode(&ids, SpecialTokenPolicy::Ignore).unwrap(),
            *expected,
            "{bytes:?}"
        );
    }
    // A special token between the bytes of one character: each side is replaced on its own.
    let smile = "😀".as_bytes();
    let mut ids: Vec<u32> = vec![20 + smile[0] as u32, 3];
    ids.extend(smile[1..].iter().map(|&b| 20 + b as u32));
    assert_eq!(
        t.decode(&ids, SpecialTokenPolicy::Keep).unwrap(),
        "\u{fffd}[INST]\u{fffd}\u{fffd}\u{fffd}"
    );
    // Ignored, the special token leaves the two halves adjacent, a valid whole: still each run
    // is replaced on its own.
    assert_eq!(
        t.decode(&ids, SpecialTokenPolicy::Ignore).unwrap(),
        "\u{fffd}\u{fffd}\u{fffd}\u{fffd}"
    );
}

#[test]
fn decode_copies_tokens_of_every_length() {
    // Tokens longer than the fixed-width copy, the last token of the table (whose window runs
    // into the padding), and invalid ids after valid ones in a run.
    let long = "x".repeat(40);
    let f = load_ok(&synthetic(&[b"ab", long.as_bytes(), "é😀".as_bytes()], 20));
    let t = &f.tokenizer;
    let (ab, x40, last) = (20 + 256, 20 + 257, 20 + 258);
    let ids = [ab, x40, 20 + b'!' as u32, last, 3, last, ab];
    let expected = format!("ab{long}!é😀[INST]é😀ab");
    assert_eq!(t.decode(&ids, SpecialTokenPolicy::Keep).unwrap(), expected);
    assert_eq!(
        t.decode(&ids, SpecialTokenPolicy::Ignore).unwrap(),
        expected.replace("[INST]", "")
    );
    let Err(Error::Decode(msg)) = t.decode(&[ab, x40, last + 1, ab], SpecialTokenPolicy::Keep)
    else {
        panic!()
    };
    assert!(
        msg.starts_with(&format!("Invalid token for decoding: {}", last + 1)),
        "{msg}"
    );
}

#[test]
fn special_tokens_section() {
    let mut v = synthetic(&[], 40);
    v["config"]["version"] = json!("v11");
    assert!(load_err(&v).contains("Special tokens not found"));
    let mut specials: Vec<Value> = file::DEPRECATED_SPECIAL_TOKENS
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"rank": i, "token_str": s, "is_control": true}))
        .collect();
    specials.push(json!({"rank": 20, "token_str": "[ARGS]", "is_control": true}));
    v["special_tokens"] = json!(specials);
    let f = load_ok(&v);
    let t = &f.tokenizer;
    assert_eq!(t.special_token_id("[ARGS]").unwrap(), 20);
    assert_eq!(t.special_token_id("<SPECIAL_21>").unwrap(), 21);
    assert_eq!(t.id_to_piece(39).unwrap(), "<SPECIAL_39>");
    assert!(t.is_special(39) && !t.is_special(40));
    let Err(Error::InvalidArgument(msg)) = t.special_token_id("[THINK]") else {
        panic!()
    };
    assert_eq!(msg, "Unknown control token [THINK]");

    // Duplicates, too many, and a defined string that collides with a filler.
    let mut dup = v.clone();
    dup["special_tokens"][20]["token_str"] = json!("<s>");
    assert!(load_err(&dup).contains("unique"));
    let mut clash = v.clone();
    clash["special_tokens"][20]["token_str"] = json!("<SPECIAL_30>");
    assert!(load_err(&clash).contains("unique"));
    let mut many = v.clone();
    many["config"]["default_num_special_tokens"] = json!(20);
    many["config"]["default_vocab_size"] = json!(256 + 20);
    assert!(load_err(&many).contains("special tokens"));
}

#[test]
fn version_rules() {
    let mut v = synthetic(&[], 20);
    for bad in [json!("v4"), json!(3), Value::Null] {
        v["config"]["version"] = bad;
        assert!(load_err(&v).starts_with("Unknown version"));
    }
    v["config"]["version"] = json!("v7");
    assert_eq!(load_ok(&v).version, TokenizerVersion::V7);

    // model_settings_builder only from v15 on.
    v["model_settings_builder"] = json!({"reasoning_effort": null});
    assert!(load_err(&v).contains("model_settings_builder"));
    v["model_settings_builder"] = Value::Null;
    assert!(load_ok(&v).model_settings_builder.is_none());
}

#[test]
fn image_and_audio_sections() {
    let mut v = synthetic(&[], 20);
    v["image"] = json!({"image_patch_size": 16, "max_image_size": 1024});
    let img = load_ok(&v).image.unwrap();
    assert_eq!(
        (
            img.image_patch_size,
            img.max_image_size,
            img.spatial_merge_size
        ),
        (16, 1024, 1)
    );
    // The legacy key wins when it is non-empty; an empty one is ignored.
    v["multimodal"] =
        json!({"image_patch_size": 14, "max_image_size": 1540, "spatial_merge_size": 2});
    assert_eq!(load_ok(&v).image.unwrap().image_patch_size, 14);
    v["multimodal"] = json!({});
    assert_eq!(load_ok(&v).image.unwrap().image_patch_size, 16);
    v["image"] = json!({"image_patch_size": 0, "max_image_size": 1024});
    assert!(load_err(&v).contains("image_patch_size"));
    v["image"] = json!({"image_patch_size": 16, "max_image_size": 1024, "bogus": 1});
    assert!(load_err(&v).contains("image"));
    v["image"] = json!({});
    assert!(load_ok(&v).image.is_none());

    let mut v13 = synthetic(&[], 20);
    v13["config"]["version"] = json!("v13");
    v13["special_tokens"] = json!(file::DEPRECATED_SPECIAL_TOKENS
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"rank": i, "token_str": s, "is_control": true}))
        .collect::<Vec<_>>());
    v13["multimodal"] = json!({"image_patch_size": 14, "max_image_size": 1540});
    assert!(load_err(&v13).contains("has to be called 'image'"));

    let mut a = synthetic(&[], 20);
    a["audio"] = json!({"sampling_rate": 16000, "frame_rate": 12.5,
        "audio_encoding_config": {"num_mel_bins": 128, "hop_length": 160, "window_size": 400}});
    assert_eq!(load_ok(&a).audio.unwrap()["sampling_rate"], json!(16000));
    a["audio"] = json!({"sampling_rate": 16000, "frame_rate": 12.5});
    assert!(load_err(&a).contains("audio_encoding_config"));
}

#[test]
fn vocab_rules() {
    let base = synthetic(&[b"ab", b"cd"], 20);
    let mut v = base.clone();
    v["vocab"][257]["rank"] = json!(300);
    assert!(load_err(&v).contains("rank"));
    let mut v = base.clone();
    v["vocab"][257]["token_bytes"] = json!("YWI="); // "ab" again
    assert!(load_err(&v).contains("same bytes"));
    let mut v = base.clone();
    v["vocab"][3]["token_bytes"] = json!("BA=="); // byte 4 at position 3
    assert!(load_err(&v).contains("single byte"));
    let mut v = base.clone();
    v["vocab"][256]["token_bytes"] = json!("YWJ"); // truncated quad
    assert!(load_err(&v).contains("base64"));
    let mut v = base.clone();
    v["vocab"][256]["extra"] = json!(1);
    assert!(load_err(&v).contains("unexpected key"));
    let mut v = base.clone();
    v["vocab"][256].as_object_mut().unwrap().remove("token_str");
    assert!(load_err(&v).contains("token_str"));
    let mut v = base.clone();
    v["vocab"][256] = json!(5);
    assert!(load_err(&v).contains("not an object"));
    let mut v = base.clone();
    v["config"]["default_vocab_size"] = json!(20 + 258 + 1);
    assert!(load_err(&v).contains("default_vocab_size"));

    // Entries past `default_vocab_size − default_num_special_tokens` are neither used nor checked.
    let mut v = base.clone();
    v["config"]["default_vocab_size"] = json!(20 + 257);
    v["vocab"][257] = json!("anything");
    let f = load_ok(&v);
    let mut ids = Vec::new();
    f.tokenizer
        .encode_into("abcd", &mut ids)
        .expect("encodable text");
    assert_eq!(ids, vec![20 + 256, 20 + b'c' as u32, 20 + b'd' as u32]);
    assert_eq!(f.tokenizer.vocab_size(), 277);
}

#[test]
fn load_errors_name_the_file() {
    let dir = TempDir::new("errors");
    let missing = dir.0.join("tekken_missing.json");
    let cases: Vec<(PathBuf, &str)> = vec![
        (missing, "cannot read"),
        (
            dir.write("tekken_a.json", b"{not json"),
            "not a valid tekken JSON",
        ),
        (
            dir.write("tekken_b.json", b"[1, 2]"),
            "not a valid tekken JSON",
        ),
        (dir.write("tekken_c.json", b"{}"), "missing key `config`"),
        (
            dir.write("tekken_d.json", br#"{"config": {"version": "v3"}}"#),
            "config.pattern",
        ),
        (
            dir.write("tekken_e.json", b"\xff\xfe"),
            "not a valid tekken JSON",
        ),
    ];
    for (path, needle) in cases {
        match TekkenFile::load(&path) {
            Err(Error::TokenizerFile { path: p, reason }) => {
                assert_eq!(p, path.display().to_string());
                assert!(reason.contains(needle), "{reason}");
            }
            Err(e) => panic!("{e:?}"),
            Ok(_) => panic!("{} loaded", path.display()),
        }
    }
    let good = dir.write(
        "tekken_ok.json",
        serde_json::to_string(&synthetic(&[], 20))
            .unwrap()
            .as_bytes(),
    );
    assert!(TekkenFile::load(&good).is_ok());
}

#[test]
fn other_pattern_falls_back_to_fancy_regex() {
    let mut v = synthetic(&[b"ab"], 20);
    v["config"]["pattern"] = json!(r"\p{L}+|\s+(?!\S)|\s+|.");
    let f = load_ok(&v);
    assert!(!f.tokenizer.uses_scanner());
    let mut ids = Vec::new();
    f.tokenizer
        .encode_into("ab  b", &mut ids)
        .expect("encodable text");
    assert_eq!(ids, vec![276, 52, 52, 20 + b'b' as u32]);
    v["config"]["pattern"] = json!("(");
    assert!(load_err(&v).contains("pattern"));
}

/// The shipped file, when `MISTRAL_COMMON_DATA` names mistral_common's data folder (`make
/// test-rust` sets it from the development venv).
fn shipped(name: &str) -> Option<PathBuf> {
    std::env::var_os("MISTRAL_COMMON_DATA")
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join(name))
        .filter(|p| Path::new(p).is_file())
}

#[test]
fn shipped_file_golden_ids() {
    let Some(path) = shipped("tekken_240718.json") else {
        eprintln!("skipped: tekken_240718.json not found");
        return;
    };
    let f = TekkenFile::load(&path).unwrap();
    let t = &f.tokenizer;
    assert!(t.uses_scanner());
    assert_eq!(t.vocab_size(), 131072);
    assert_eq!(t.num_special_tokens(), 1000);
    let enc = |s: &str| {
        let mut v = Vec::new();
        t.encode_into(s, &mut v).expect("encodable text");
        v
    };
    // Behaviour map §3 and mistral_common's own test_tokenize_v3.
    assert_eq!(
        enc("hello [INST] world"),
        vec![29706, 1766, 3174, 3074, 1093, 4304]
    );
    assert_eq!(enc("a  b"), vec![1097, 1032, 1289]);
    assert_eq!(enc("12345"), vec![1049, 1050, 1051, 1052, 1053]);
    assert_eq!(enc(""), Vec::<u32>::new());
    assert_eq!(enc("Hello!"), vec![22177, 1033]);
    let long = "x".repeat(100_000);
    assert_eq!(
        t.decode(&enc(&long), SpecialTokenPolicy::Raise).unwrap(),
        long
    );
    assert_eq!(t.id_to_piece(1000).unwrap(), "\u{fffd}".repeat(0) + "\0");
    assert_eq!(t.id_to_piece(5).unwrap(), "[AVAILABLE_TOOLS]");
    assert_eq!(t.id_to_piece(999).unwrap(), "<SPECIAL_999>");
}
