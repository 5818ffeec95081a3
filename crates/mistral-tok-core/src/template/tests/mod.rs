//! Template layouts on a fake text tokenizer whose output renders like mistral_common's KEEP
//! decode: specials by name, and in SentencePiece mode a `▁` dummy prefix per segment, spaces as
//! `▁` and newlines as `<0x0A>`. The expected strings are mistral_common's own (behaviour map §9,
//! observed with 1.13.1), so these tests pin segment boundaries and token order; the real ids are
//! checked end to end from Python (`tests/test_chat_golden.py`).

mod expected;

use super::*;
use crate::request::instruct::{
    ModelSettings, ReasoningEffort, SystemMessage, Tool, ToolCall, ToolMessage,
};
use crate::tokenizer::tekken::DEPRECATED_SPECIAL_TOKENS;
use crate::tokenizer::SpecialTokenPolicy;
use crate::value::Value;

/// The fake's special ids: mistral_common's legacy layout, then the specials later versions added.
const LATER_SPECIALS: [&str; 6] = [
    "[ARGS]",
    "[CALL_ID]",
    "[THINK]",
    "[/THINK]",
    "[MODEL_SETTINGS]",
    "[/MODEL_SETTINGS]",
];
const N_SPECIALS: usize = DEPRECATED_SPECIAL_TOKENS.len() + LATER_SPECIALS.len();

fn specials() -> impl Iterator<Item = &'static str> {
    DEPRECATED_SPECIAL_TOKENS
        .iter()
        .chain(LATER_SPECIALS.iter())
        .copied()
}
const DUMMY: u32 = 999;
const TEXT_BASE: u32 = 1000;

struct Fake {
    spm: bool,
    missing: &'static [&'static str],
}

impl TextTokenizer for Fake {
    fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        if self.spm && !text.is_empty() {
            out.push(DUMMY);
        }
        out.extend(text.bytes().map(|b| TEXT_BASE + u32::from(b)));
        Ok(())
    }
    fn decode(&self, _ids: &[u32], _policy: SpecialTokenPolicy) -> Result<String> {
        Ok(String::new())
    }
    fn id_to_piece(&self, _id: u32) -> Result<String> {
        Ok(String::new())
    }
    fn special_token_id(&self, name: &str) -> Result<u32> {
        match specials().position(|s| s == name) {
            Some(i) if !self.missing.contains(&name) => Ok(i as u32),
            _ if self.spm => Ok(0),
            _ => Err(Error::InvalidArgument(format!(
                "Unknown control token {name}"
            ))),
        }
    }
    fn is_special(&self, id: u32) -> bool {
        (id as usize) < N_SPECIALS
    }
    fn vocab_size(&self) -> usize {
        TEXT_BASE as usize + 256
    }
    fn num_special_tokens(&self) -> usize {
        N_SPECIALS
    }
    fn bos_id(&self) -> u32 {
        1
    }
    fn eos_id(&self) -> u32 {
        2
    }
    fn pad_id(&self) -> i64 {
        -1
    }
    fn unk_id(&self) -> u32 {
        0
    }
}

impl Fake {
    fn render(&self, ids: &[u32]) -> String {
        let mut out = String::new();
        let mut bytes = Vec::new();
        let flush = |bytes: &mut Vec<u8>, out: &mut String| {
            out.push_str(&String::from_utf8_lossy(bytes));
            bytes.clear();
        };
        for &id in ids {
            if id >= TEXT_BASE {
                let b = (id - TEXT_BASE) as u8;
                match (self.spm, b) {
                    (true, b' ') => bytes.extend_from_slice("▁".as_bytes()),
                    (true, b'\n') => bytes.extend_from_slice(b"<0x0A>"),
                    _ => bytes.push(b),
                }
                continue;
            }
            flush(&mut bytes, &mut out);
            if id == DUMMY {
                out.push('▁');
            } else {
                out.push_str(specials().nth(id as usize).unwrap_or("?"));
            }
        }
        flush(&mut bytes, &mut out);
        out
    }
}

fn spm() -> Fake {
    Fake {
        spm: true,
        missing: &[],
    }
}

fn tekken() -> Fake {
    Fake {
        spm: false,
        missing: &[],
    }
}

fn run(fake: &Fake, version: TokenizerVersion, req: &InstructRequest) -> Result<String> {
    let target = Target {
        version,
        kind: if fake.spm {
            TokenizerKind::SentencePiece
        } else {
            TokenizerKind::Tekken
        },
        has_settings_builder: version == TokenizerVersion::V15,
        image: None,
        audio: super::AudioSection::Absent,
    };
    encode_with(fake, target, req).map(|ids| fake.render(&ids))
}

fn text(s: &str) -> Content {
    Content::Text(s.to_string())
}

fn user(s: &str) -> Message {
    Message::User(UserMessage { content: text(s) })
}

fn user_chunks(chunks: Vec<Chunk>) -> Message {
    Message::User(UserMessage {
        content: Content::Chunks(chunks),
    })
}

fn system(s: &str) -> Message {
    Message::System(SystemMessage { content: text(s) })
}

fn asst(s: &str) -> Message {
    Message::Assistant(AssistantMessage {
        content: Some(text(s)),
        tool_calls: None,
        prefix: false,
    })
}

fn asst_chunks(chunks: Vec<Chunk>) -> Message {
    Message::Assistant(AssistantMessage {
        content: Some(Content::Chunks(chunks)),
        tool_calls: None,
        prefix: false,
    })
}

fn prefix(s: &str) -> Message {
    Message::Assistant(AssistantMessage {
        content: Some(text(s)),
        tool_calls: None,
        prefix: true,
    })
}

fn call(id: &str, name: &str, args: &str) -> ToolCall {
    ToolCall {
        id: id.to_string(),
        name: name.to_string(),
        arguments: args.to_string(),
    }
}

fn calls(content: &str, calls: Vec<ToolCall>) -> Message {
    Message::Assistant(AssistantMessage {
        content: Some(text(content)),
        tool_calls: Some(calls),
        prefix: false,
    })
}

fn result(id: &str, name: Option<&str>, content: &str) -> Message {
    Message::Tool(ToolMessage {
        content: text(content),
        tool_call_id: Some(id.to_string()),
        name: name.map(str::to_string),
    })
}

fn think(t: &str, closed: bool) -> Chunk {
    Chunk::Think {
        thinking: t.to_string(),
        closed,
    }
}

fn weather_tool() -> Tool {
    let s = |x: &str| Value::Str(x.to_string());
    let d = |items: Vec<(&str, Value)>| {
        Value::Dict(items.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    };
    Tool {
        name: "get_weather".into(),
        description: "Get the weather".into(),
        parameters: d(vec![
            ("type", s("object")),
            (
                "properties",
                d(vec![("city", d(vec![("type", s("string"))]))]),
            ),
            ("required", Value::List(vec![s("city")])),
        ]),
        strict: false,
    }
}

fn request(messages: Vec<Message>) -> InstructRequest {
    InstructRequest {
        messages,
        system_prompt: None,
        available_tools: None,
        truncate_at_max_tokens: None,
        settings: ModelSettings::default(),
    }
}

/// The §9 tools conversation as each version's normalizer leaves it.
fn weather_conversation(version: TokenizerVersion) -> InstructRequest {
    let old = version <= TokenizerVersion::V3;
    // V1–V3 JSON-normalise tool content; the example's content is already normal.
    let mut messages = vec![
        user("Hi"),
        asst("Hello!"),
        user("Weather in Paris?"),
        calls(
            "",
            vec![call("abcDEF123", "get_weather", "{\"city\": \"Paris\"}")],
        ),
        result("abcDEF123", Some("get_weather"), "{\"temp\": 20}"),
    ];
    if !old {
        messages.insert(0, system("Be brief."));
    }
    InstructRequest {
        system_prompt: old.then(|| "Be brief.".to_string()),
        available_tools: Some(vec![weather_tool()]),
        settings: ModelSettings {
            reasoning_effort: (version == TokenizerVersion::V15).then_some(ReasoningEffort::None),
            json_schema: None,
        },
        ..request(messages)
    }
}

use TokenizerVersion::*;

#[test]
fn v1_worked_example() {
    let mut req = request(vec![user("Hi"), asst("Hello!"), user("Weather in Paris?")]);
    req.system_prompt = Some("Be brief.".into());
    assert_eq!(run(&spm(), V1, &req).unwrap(), expected::V1_SPM);
}

#[test]
fn tools_conversation_worked_examples() {
    let cases = [
        (spm(), V2, expected::V2_SPM),
        (spm(), V3, expected::V3_SPM),
        (tekken(), V3, expected::V3_TEKKEN),
        (spm(), V7, expected::V7_SPM),
        (tekken(), V7, expected::V7_TEKKEN),
        (tekken(), V11, expected::V11_TEKKEN),
        (tekken(), V13, expected::V13_TEKKEN),
        (tekken(), V15, expected::V15_TEKKEN),
    ];
    for (fake, version, want) in cases {
        let got = run(&fake, version, &weather_conversation(version)).unwrap();
        assert_eq!(got, want, "{version} spm={}", fake.spm);
    }
}

#[test]
fn v13_thinking_history() {
    let req = request(vec![
        user("2+2?"),
        asst_chunks(vec![think("Add.", true), Chunk::Text("4".into())]),
        user("Thanks"),
    ]);
    assert_eq!(run(&tekken(), V13, &req).unwrap(), expected::V13_THINK);
}

#[test]
fn v15_reasoning_effort_high() {
    let mut req = request(vec![system("Be brief."), user("2+2?")]);
    req.settings.reasoning_effort = Some(ReasoningEffort::High);
    assert_eq!(
        run(&tekken(), V15, &req).unwrap(),
        expected::V15_EFFORT_HIGH
    );
}

#[test]
fn v15_settings_sorted_top_level_only() {
    let schema = Value::Dict(vec![
        ("type".into(), Value::Str("object".into())),
        ("b".into(), Value::Null),
        ("a".into(), Value::Null),
    ]);
    let mut req = request(vec![user("q")]);
    req.settings = ModelSettings {
        reasoning_effort: Some(ReasoningEffort::High),
        json_schema: Some(schema),
    };
    assert_eq!(
        run(&tekken(), V15, &req).unwrap(),
        "<s>[MODEL_SETTINGS]{\"json_schema\": {\"type\": \"object\", \"b\": null, \"a\": null}, \
         \"reasoning_effort\": \"high\"}[/MODEL_SETTINGS][INST]q[/INST]"
    );
    // All settings None: no block at all.
    req.settings = ModelSettings::default();
    assert_eq!(run(&tekken(), V15, &req).unwrap(), "<s>[INST]q[/INST]");
}

#[test]
fn assistant_rstrip_only_for_strings() {
    let req = request(vec![user("u"), asst("ans  \n  "), user("v")]);
    assert_eq!(
        run(&spm(), V1, &req).unwrap(),
        "<s>▁[INST]▁u▁[/INST]▁ans▁▁<0x0A>▁▁</s>▁[INST]▁v▁[/INST]"
    );
    assert_eq!(
        run(&tekken(), V3, &req).unwrap(),
        "<s>[INST]u[/INST]ans  \n</s>[INST]v[/INST]"
    );
    let req = request(vec![
        user("u"),
        asst_chunks(vec![think("hmm", true), Chunk::Text("ans  ".into())]),
        user("v"),
    ]);
    assert_eq!(
        run(&tekken(), V13, &req).unwrap(),
        "<s>[INST]u[/INST][THINK]hmm[/THINK]ans  </s>[INST]v[/INST]"
    );
}

#[test]
fn prefix_has_no_eos() {
    let req = request(vec![user("q"), prefix("Sure")]);
    for v in [V1, V2, V3, V7, V11, V13, V15] {
        let got = run(&tekken(), v, &req).unwrap();
        let want = if v == V1 {
            "<s>[INST] q [/INST]Sure"
        } else {
            "<s>[INST]q[/INST]Sure"
        };
        assert_eq!(got, want, "{v}");
    }
    let req = request(vec![
        user("q"),
        Message::Assistant(AssistantMessage {
            content: Some(Content::Chunks(vec![think("hmm", false)])),
            tool_calls: None,
            prefix: true,
        }),
    ]);
    assert_eq!(
        run(&tekken(), V13, &req).unwrap(),
        "<s>[INST]q[/INST][THINK]hmm"
    );
}

#[test]
fn system_messages_in_place_v7_plus() {
    // `S s1, U u1, U u1b, S s2, A a1, A a1b, U [u2, u2b], S s3` after normalization.
    let req = request(vec![
        system("s1"),
        user("u1\n\nu1b"),
        system("s2"),
        asst("a1\n\na1b"),
        user("u2\n\nu2b"),
        system("s3"),
    ]);
    let want = "<s>[SYSTEM_PROMPT]s1[/SYSTEM_PROMPT][INST]u1\n\nu1b[/INST][SYSTEM_PROMPT]s2\
                [/SYSTEM_PROMPT]a1\n\na1b</s>[INST]u2\n\nu2b[/INST][SYSTEM_PROMPT]s3[/SYSTEM_PROMPT]";
    for v in [V7, V11, V13] {
        assert_eq!(run(&tekken(), v, &req).unwrap(), want, "{v}");
    }
}

#[test]
fn system_prompt_placement_v1_v3() {
    // `U u1, S s, U u2`: V1 puts the prompt on the first user, V2/V3 on the last.
    let mut req = request(vec![user("u1"), user("u2")]);
    req.system_prompt = Some("s".into());
    assert_eq!(
        run(&spm(), V1, &req).unwrap(),
        "<s>▁[INST]▁s<0x0A><0x0A>u1▁[/INST]▁[INST]▁u2▁[/INST]"
    );
    assert_eq!(
        run(&tekken(), V3, &req).unwrap(),
        "<s>[INST]u1[/INST][INST]s\n\nu2[/INST]"
    );
    // Only a system message: the normalizer inserted an empty user message.
    let mut req = request(vec![user("")]);
    req.system_prompt = Some("sys".into());
    assert_eq!(
        run(&spm(), V1, &req).unwrap(),
        "<s>▁[INST]▁sys<0x0A><0x0A>▁[/INST]"
    );
    assert_eq!(run(&tekken(), V3, &req).unwrap(), "<s>[INST]sys\n\n[/INST]");
}

#[test]
fn assistant_first() {
    let req = request(vec![user(""), asst("a0"), user("u")]);
    assert_eq!(
        run(&spm(), V1, &req).unwrap(),
        "<s>▁[INST]▁▁[/INST]▁a0</s>▁[INST]▁u▁[/INST]"
    );
    assert_eq!(
        run(&tekken(), V3, &req).unwrap(),
        "<s>[INST][/INST]a0</s>[INST]u[/INST]"
    );
    let req = request(vec![asst("a0"), user("u")]);
    assert_eq!(run(&tekken(), V7, &req).unwrap(), "<s>a0</s>[INST]u[/INST]");
}

#[test]
fn v2_drops_tool_turns_before_last_user() {
    let req = request(vec![
        user("u1"),
        calls("", vec![call("abcDEF123", "f", "{}")]),
        result("abcDEF123", Some("f"), "{}"),
        asst("a1"),
        user("u2"),
    ]);
    assert_eq!(
        run(&spm(), V2, &req).unwrap(),
        "<s>[INST]▁u1[/INST]▁a1</s>[INST]▁u2[/INST]"
    );
    let got = run(&tekken(), V3, &req).unwrap();
    assert_eq!(
        got,
        "<s>[INST]u1[/INST][TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}, \"id\": \
         \"abcDEF123\"}]</s>[TOOL_RESULTS]{\"content\": {}, \"call_id\": \"abcDEF123\"}\
         [/TOOL_RESULTS]a1</s>[INST]u2[/INST]"
    );
}

#[test]
fn v2_rejects_multiple_results_per_turn() {
    let req = request(vec![
        user("u"),
        calls("", vec![call("a", "f", "{}"), call("b", "g", "{}")]),
        result("a", None, "1"),
        result("b", None, "2"),
    ]);
    assert!(matches!(run(&spm(), V2, &req), Err(Error::Request(_))));
    let got = run(&tekken(), V3, &req).unwrap();
    assert!(got.ends_with(
        "[TOOL_RESULTS]{\"content\": 1, \"call_id\": \"a\"}[/TOOL_RESULTS][TOOL_RESULTS]\
         {\"content\": 2, \"call_id\": \"b\"}[/TOOL_RESULTS]"
    ));
}

#[test]
fn v2_tool_result_is_a_list_with_name() {
    let req = request(vec![
        user("u"),
        calls("", vec![call("null", "f", "{\"x\": 1}")]),
        result("abcDEF123", None, "not json"),
    ]);
    assert_eq!(
        run(&tekken(), V2, &req).unwrap(),
        "<s>[INST]u[/INST][TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"x\": 1}}]</s>\
         [TOOL_RESULTS][{\"name\": null, \"content\": \"not json\"}][/TOOL_RESULTS]"
    );
}

#[test]
fn non_json_arguments_and_contents() {
    let req = |args: &str, content: &str| {
        request(vec![
            user("u"),
            calls("", vec![call("abcDEF123", "f", args)]),
            result("abcDEF123", None, content),
        ])
    };
    let r = req("not json", "hello");
    assert!(run(&tekken(), V3, &r)
        .unwrap()
        .contains("[{\"name\": \"f\", \"arguments\": \"not json\", \"id\": \"abcDEF123\"}]"));
    assert!(run(&tekken(), V3, &r)
        .unwrap()
        .contains("{\"content\": \"hello\", \"call_id\": \"abcDEF123\"}"));
    assert!(run(&tekken(), V11, &r)
        .unwrap()
        .contains("[TOOL_CALLS]f[CALL_ID]abcDEF123[ARGS]\"not json\"</s>"));
    assert_eq!(
        run(&tekken(), V13, &r).unwrap(),
        "<s>[INST]u[/INST][TOOL_CALLS]f[ARGS]\"not json\"</s>[TOOL_RESULTS]hello[/TOOL_RESULTS]"
    );
    // V7 keeps tool content raw, even empty.
    let r = req("{}", "");
    assert!(run(&tekken(), V7, &r)
        .unwrap()
        .ends_with("[TOOL_RESULTS]abcDEF123[TOOL_CONTENT][/TOOL_RESULTS]"));
    // Unicode and floats survive the loads→dumps round trip.
    let r = req(
        "{\"city\": \"Zürich\", \"n\": 1.0}",
        "{\"t\":20,\"u\":\"°C\"}",
    );
    assert!(run(&tekken(), V11, &r).unwrap().contains(
        "[ARGS]{\"city\": \"Zürich\", \"n\": 1.0}</s>[TOOL_RESULTS]abcDEF123\
                   [TOOL_CONTENT]{\"t\":20,\"u\":\"°C\"}[/TOOL_RESULTS]"
    ));
    // Too-deep arguments fail as in Python (RecursionError), not silently as a string.
    let deep = "[".repeat(5000);
    assert!(matches!(
        run(&tekken(), V11, &req(&deep, "x")),
        Err(Error::Request(_))
    ));
}

#[test]
fn v7_content_and_tool_calls_together() {
    let req = request(vec![
        user("u"),
        calls("Let me check.  ", vec![call("abcDEF123", "f", "{}")]),
        result("abcDEF123", None, "r"),
    ]);
    assert_eq!(
        run(&tekken(), V7, &req).unwrap(),
        "<s>[INST]u[/INST]Let me check.[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}, \"id\": \
         \"abcDEF123\"}]</s>[TOOL_RESULTS]abcDEF123[TOOL_CONTENT]r[/TOOL_RESULTS]"
    );
    // V3 refuses both at once.
    assert!(matches!(run(&tekken(), V3, &req), Err(Error::Request(_))));
}

#[test]
fn v11_parallel_calls_without_ids() {
    let req = request(vec![
        user("u"),
        calls(
            "",
            vec![call("null", "a", "{\"x\": 1}"), call("abcDEF123", "b", "")],
        ),
    ]);
    let mut req = req;
    if let Some(Message::Assistant(a)) = req.messages.last_mut() {
        a.prefix = true;
    }
    assert_eq!(
        run(&tekken(), V11, &req).unwrap(),
        "<s>[INST]u[/INST][TOOL_CALLS]a[ARGS]{\"x\": 1}[TOOL_CALLS]b[CALL_ID]abcDEF123[ARGS]\"\""
    );
    // V13 requires real ids.
    assert!(matches!(run(&tekken(), V13, &req), Err(Error::Request(_))));
}

#[test]
fn tools_on_first_user_from_v13_and_nowhere_without_user() {
    let mut req = request(vec![user("a"), asst("b"), user("c")]);
    req.available_tools = Some(vec![Tool {
        name: "t".into(),
        description: String::new(),
        parameters: Value::Dict(vec![]),
        strict: true,
    }]);
    let block = "[AVAILABLE_TOOLS][{\"type\": \"function\", \"function\": {\"name\": \"t\", \
                 \"description\": \"\", \"parameters\": {}}}][/AVAILABLE_TOOLS]";
    assert_eq!(
        run(&tekken(), V11, &req).unwrap(),
        format!("<s>[INST]a[/INST]b</s>{block}[INST]c[/INST]")
    );
    assert_eq!(
        run(&tekken(), V13, &req).unwrap(),
        format!("<s>{block}[INST]a[/INST]b</s>[INST]c[/INST]")
    );
    req.messages = vec![system("s"), prefix("a")];
    assert_eq!(
        run(&tekken(), V7, &req).unwrap(),
        "<s>[SYSTEM_PROMPT]s[/SYSTEM_PROMPT]a"
    );
    // Empty tool list: no block.
    req.messages = vec![user("c")];
    req.available_tools = Some(vec![]);
    assert_eq!(run(&tekken(), V3, &req).unwrap(), "<s>[INST]c[/INST]");
}

#[test]
fn think_rules() {
    let req = request(vec![
        user("u"),
        asst_chunks(vec![think("t", true), Chunk::Text("a".into())]),
        user("v"),
    ]);
    assert!(matches!(run(&tekken(), V11, &req), Err(Error::Request(m)) if m.contains("< V13")));
    let no_think = Fake {
        spm: false,
        missing: &["[THINK]"],
    };
    assert!(matches!(run(&no_think, V13, &req), Err(Error::Request(_))));
    // System think: V13 encodes it, V15 refuses.
    let req = request(vec![
        Message::System(SystemMessage {
            content: Content::Chunks(vec![Chunk::Text("s".into()), think("x", true)]),
        }),
        user("u"),
    ]);
    assert_eq!(
        run(&tekken(), V13, &req).unwrap(),
        "<s>[SYSTEM_PROMPT]s[THINK]x[/THINK][/SYSTEM_PROMPT][INST]u[/INST]"
    );
    assert!(matches!(run(&tekken(), V15, &req), Err(Error::Request(_))));
}

#[test]
fn special_tokens_resolved_by_string() {
    let missing = Fake {
        spm: false,
        missing: &["[TOOL_CONTENT]"],
    };
    let req = request(vec![user("u")]);
    assert!(run(&missing, V3, &req).is_ok());
    assert!(matches!(
        run(&missing, V7, &req),
        Err(Error::InvalidArgument(m)) if m.contains("[TOOL_CONTENT]")
    ));
    // SentencePiece answers 0 for a missing token, as mistral_common.
    let spm_missing = Fake {
        spm: true,
        missing: &["[SYSTEM_PROMPT]"],
    };
    let req = request(vec![system("s"), user("u")]);
    assert_eq!(
        run(&spm_missing, V7, &req).unwrap(),
        "<s><unk>▁s[/SYSTEM_PROMPT][INST]▁u[/INST]"
    );
    // V13+ needs tekken.
    assert!(run(&spm(), V13, &request(vec![user("u")])).is_err());
}

/// A 40×20 PNG (PIL), as the data URL of an `image_url` chunk.
const PNG_40X20: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAACgAAAAUCAIAAABwJOjsAAAAJElEQVR4nO3NMQEAAAgDILV/5xljDxRgMx1XesVisVgsFosLHjCnASdq4S4eAAAAAElFTkSuQmCC";

fn run_with_images(version: TokenizerVersion, req: &InstructRequest) -> Result<String> {
    let target = Target {
        version,
        kind: TokenizerKind::Tekken,
        has_settings_builder: version == TokenizerVersion::V15,
        image: Some(crate::tokenizer::ImageConfig::SENTENCEPIECE_M1),
        audio: super::AudioSection::Absent,
    };
    encode_with(&tekken(), target, req).map(|ids| tekken().render(&ids))
}

#[test]
fn images_are_encoded_in_place_trailing_image_first() {
    let img = || Chunk::ImageUrl {
        url: PNG_40X20.into(),
        detail: None,
    };
    let grid = "[IMG][IMG][IMG][IMG_BREAK][IMG][IMG][IMG][IMG_END]";
    let req = request(vec![user_chunks(vec![Chunk::Text("a".into()), img()])]);
    for v in [V3, V7, V13] {
        // `_maybe_put_image_first`: a single trailing image after text goes first
        let want = format!("<s>[INST]{grid}a[/INST]");
        assert_eq!(run_with_images(v, &req).unwrap(), want, "{v}");
    }
    let req = request(vec![user_chunks(vec![
        Chunk::Text("a".into()),
        img(),
        Chunk::Text("b".into()),
        img(),
    ])]);
    assert_eq!(
        run_with_images(V7, &req).unwrap(),
        format!("<s>[INST]a{grid}b{grid}[/INST]")
    );
    // the image module's errors come through unchanged
    let bad = Chunk::ImageUrl {
        url: "data:image/png,xx".into(),
        detail: None,
    };
    let req = request(vec![user_chunks(vec![bad])]);
    assert!(matches!(run_with_images(V7, &req), Err(Error::Request(m)) if m.contains("data URL")));
}

#[test]
fn remote_images_need_a_known_size() {
    let remote = "https://example.com/a.png";
    let req = request(vec![user_chunks(vec![Chunk::ImageUrl {
        url: remote.into(),
        detail: None,
    }])]);
    assert!(matches!(
        run_with_images(V7, &req),
        Err(Error::Unsupported(_))
    ));
    let target = Target {
        version: V7,
        kind: TokenizerKind::Tekken,
        has_settings_builder: false,
        image: Some(crate::tokenizer::ImageConfig::SENTENCEPIECE_M1),
        audio: super::AudioSection::Absent,
    };
    let known: KnownImageSizes = [(remote.to_string(), (40, 20))].into_iter().collect();
    let enc = encode_with_images(
        &tekken(),
        target,
        &req,
        ImageOptions {
            known_sizes: Some(&known),
            check_pixels: true,
        },
    )
    .unwrap();
    assert_eq!(
        tekken().render(&enc.ids),
        "<s>[INST][IMG][IMG][IMG][IMG_BREAK][IMG][IMG][IMG][IMG_END][/INST]"
    );
    assert_eq!(
        (enc.images[0].width_tokens, enc.images[0].height_tokens),
        (3, 2)
    );
}

#[test]
fn images_and_audio_need_their_encoders() {
    let img = Chunk::ImageUrl {
        url: PNG_40X20.into(),
        detail: None,
    };
    let req = request(vec![user_chunks(vec![Chunk::Text("a".into()), img])]);
    for v in [V3, V7, V13] {
        assert!(
            matches!(run(&tekken(), v, &req), Err(Error::Request(m)) if m == "Make sure to define a image encoder at init"),
            "{v}"
        );
    }
    let req = request(vec![user_chunks(vec![Chunk::AudioUrl("x".into())])]);
    assert!(matches!(
        run(&tekken(), V13, &req),
        Err(Error::Request(m)) if m == "Make sure to define a audio encoder at init"
    ));
}

#[test]
fn v7_audio_with_system_is_refused_first() {
    let req = request(vec![
        system("s"),
        user_chunks(vec![Chunk::Audio(Value::Str("AAAA".into()))]),
    ]);
    assert!(matches!(
        run(&tekken(), V7, &req),
        Err(Error::Request(m)) if m.contains("audio")
    ));
    // V13 has no such rule: the chunk itself needs an audio encoder.
    assert!(matches!(
        run(&tekken(), V13, &req),
        Err(Error::Request(m)) if m == "Make sure to define a audio encoder at init"
    ));
}

#[test]
fn empty_assistant_is_an_error() {
    let req = request(vec![user("u"), asst(""), user("v")]);
    for v in [V1, V2, V3, V7, V13] {
        assert!(
            matches!(run(&tekken(), v, &req), Err(Error::Request(_))),
            "{v}"
        );
    }
}

#[test]
fn tool_messages_refused_by_v1() {
    let req = request(vec![user("u"), result("abcDEF123", None, "x")]);
    assert!(matches!(run(&spm(), V1, &req), Err(Error::Request(_))));
}

#[test]
fn truncation_drops_whole_turns_from_the_front() {
    // Tekken fake: one id per byte. Lengths: S "s" 3, U1 "aaaa" 6, A "bb" 3, U2 "c" 3.
    let mut req = request(vec![system("s"), user("aaaa"), asst("bb"), user("c")]);
    let full = run(&tekken(), V7, &req).unwrap();
    assert_eq!(
        full,
        "<s>[SYSTEM_PROMPT]s[/SYSTEM_PROMPT][INST]aaaa[/INST]bb</s>[INST]c[/INST]"
    );
    // Budget equal to the total (BOS not counted): nothing dropped.
    req.truncate_at_max_tokens = Some(15);
    assert_eq!(run(&tekken(), V7, &req).unwrap(), full);
    // One token over: the first user turn and its answer go, the system message stays.
    req.truncate_at_max_tokens = Some(14);
    assert_eq!(
        run(&tekken(), V7, &req).unwrap(),
        "<s>[SYSTEM_PROMPT]s[/SYSTEM_PROMPT][INST]c[/INST]"
    );
    // Cannot fit even with everything droppable gone.
    req.truncate_at_max_tokens = Some(5);
    assert!(matches!(run(&tekken(), V7, &req), Err(Error::Request(m)) if m.contains("fit")));
    // V1–V3 ignore truncation.
    let mut old = request(vec![user("aaaa")]);
    old.truncate_at_max_tokens = Some(1);
    assert_eq!(run(&tekken(), V3, &old).unwrap(), "<s>[INST]aaaa[/INST]");
}
