//! Edge cases of parsing, validation and normalization, with the answers mistral_common 1.13.1
//! gives (observed with it; the random differential tests live in tests/test_chat_parity.py).

use crate::chat::prepare;
use crate::error::Error;
use crate::request::instruct::{Chunk, Content, InstructRequest, Message, ReasoningEffort};
use crate::request::parse::{parse_request, ChatCompletionRequest};
use crate::template::json::loads;
use crate::tokenizer::TokenizerVersion as V;
use crate::value::Value;

/// No host verdicts: regexes are judged by the native syntax check.
static NO_VERDICTS: std::sync::LazyLock<crate::request::regex::RegexVerdicts> =
    std::sync::LazyLock::new(Default::default);

fn json(text: &str) -> Value {
    match loads(text) {
        Ok(v) => v,
        Err(e) => panic!("bad test JSON {text}: {e:?}"),
    }
}

fn parse(
    messages: &str,
    tools: Option<&str>,
    fields: &[(&str, &str)],
) -> crate::Result<ChatCompletionRequest> {
    let fields: Vec<(String, Value)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), json(v)))
        .collect();
    let tools = tools.map(json);
    parse_request(
        &json(messages),
        tools.as_ref(),
        &fields,
        false,
        &NO_VERDICTS,
    )
}

fn settings_builder() -> serde_json::Value {
    serde_json::json!({
        "reasoning_effort": {"type": "enum", "accepts_none": true, "default": "none", "values": ["none", "high"]},
        "json_schema": {"type": "json_schema", "accepts_none": false, "default": null}
    })
}

fn run(
    version: V,
    messages: &str,
    tools: Option<&str>,
    fields: &[(&str, &str)],
) -> crate::Result<InstructRequest> {
    let request = parse(messages, tools, fields)?;
    let sb = settings_builder();
    prepare(request, version, (version == V::V15).then_some(&sb), None)
}

fn ok(version: V, messages: &str) -> InstructRequest {
    match run(version, messages, None, &[]) {
        Ok(r) => r,
        Err(e) => panic!("{version} rejected {messages}: {e}"),
    }
}

fn rejected(
    version: V,
    messages: &str,
    tools: Option<&str>,
    fields: &[(&str, &str)],
    needle: &str,
) {
    match run(version, messages, tools, fields) {
        Ok(r) => panic!("{version} accepted {messages}: {r:?}"),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(needle), "{version}: {msg:?} lacks {needle:?}");
            assert!(matches!(e, Error::Request(_)), "{e:?}");
        }
    }
}

fn text(m: &Message) -> &str {
    let content = match m {
        Message::User(u) => &u.content,
        Message::System(s) => &s.content,
        Message::Tool(t) => &t.content,
        Message::Assistant(a) => match &a.content {
            Some(c) => c,
            None => return "",
        },
    };
    match content {
        Content::Text(s) => s,
        Content::Chunks(_) => "<chunks>",
    }
}

const CALL: &str =
    r#"{"id": "abcdefghi", "type": "function", "function": {"name": "f", "arguments": "{}"}}"#;

#[test]
fn consecutive_messages_merge_and_system_prompt_moves_for_legacy_versions() {
    let msgs = r#"[{"role": "system", "content": "s1"}, {"role": "user", "content": "a"},
        {"role": "system", "content": ""}, {"role": "system", "content": [{"type": "text", "text": "s2"}]},
        {"role": "user", "content": "b"}, {"role": "user", "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}]}]"#;
    let r = ok(V::V3, msgs);
    assert_eq!(r.system_prompt.as_deref(), Some("s1\n\ns2"));
    // The system messages in between split the users, then vanish.
    assert_eq!(r.messages.len(), 2);
    assert_eq!(text(&r.messages[0]), "a");
    assert_eq!(text(&r.messages[1]), "b\n\nc\n\nd");

    let r = ok(V::V7, msgs);
    assert_eq!(r.system_prompt, None);
    let roles: Vec<&str> = r.messages.iter().map(|m| m.role()).collect();
    assert_eq!(roles, ["system", "user", "system", "system", "user"]);

    // v15 joins the chunks of one message with "" (messages still with "\n\n").
    let r = ok(V::V15, msgs);
    assert_eq!(text(&r.messages[4]), "b\n\ncd");
}

#[test]
fn legacy_versions_start_with_a_user_message() {
    let r = ok(V::V2, r#"[{"role": "system", "content": "s"}]"#);
    assert_eq!(r.messages.len(), 1);
    assert_eq!(text(&r.messages[0]), "");
    assert_eq!(r.system_prompt.as_deref(), Some("s"));
    let r = ok(V::V7, r#"[{"role": "system", "content": "s"}]"#);
    assert_eq!(r.messages.len(), 1);
    assert_eq!(r.messages[0].role(), "system");
}

#[test]
fn text_after_a_non_text_chunk_gets_no_separator() {
    let r = ok(
        V::V13,
        r#"[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
           {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "closed": "no"}, {"type": "text", "text": ""}, {"type": "text", "text": "b"}]},
           {"role": "user", "content": "u"}]"#,
    );
    let Message::Assistant(a) = &r.messages[1] else {
        panic!("{:?}", r.messages)
    };
    assert_eq!(
        a.content,
        Some(Content::Chunks(vec![
            Chunk::Text("a".into()),
            Chunk::Think {
                thinking: "t".into(),
                closed: false
            },
            Chunk::Text("b".into()),
        ]))
    );
}

#[test]
fn reasoning_field_becomes_a_leading_closed_think_chunk() {
    let r = ok(
        V::V13,
        r#"[{"role": "user", "content": "q"}, {"role": "assistant", "content": "", "reasoning_content": "r", "reasoning": "r"}, {"role": "user", "content": "u"}]"#,
    );
    let Message::Assistant(a) = &r.messages[1] else {
        panic!()
    };
    assert_eq!(
        a.content,
        Some(Content::Chunks(vec![Chunk::Think {
            thinking: "r".into(),
            closed: true
        }]))
    );
    rejected(
        V::V7,
        r#"[{"role": "user", "content": "q"}, {"role": "assistant", "content": "x", "reasoning": "r"}, {"role": "user", "content": "u"}]"#,
        None,
        &[],
        "Unexpected content chunk types in assistant message: ['ThinkChunk']",
    );
}

#[test]
fn tool_call_arguments_and_legacy_tool_results_are_json_normalized() {
    let msgs = r#"[{"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [
            {"id": "abcdefgh1", "function": {"name": "f", "arguments": "{\"b\":1e2,\"a\":\"\\u00e9\"}"}},
            {"id": "abcdefgh2", "function": {"name": "f", "arguments": ""}},
            {"id": "abcdefgh3", "function": {"name": "f", "arguments": "not json"}},
            {"id": "abcdefgh4", "function": {"name": "f", "arguments": {"k": [1, 2.5, null]}}},
            {"id": "abcdefgh5", "function": {"name": "f", "arguments": null}}]},
        {"role": "tool", "tool_call_id": "abcdefgh1", "content": "{\"t\":20}"},
        {"role": "tool", "tool_call_id": "abcdefgh2", "content": ""},
        {"role": "tool", "tool_call_id": "abcdefgh3", "content": "plain"},
        {"role": "tool", "tool_call_id": "abcdefgh4", "content": "x"},
        {"role": "tool", "tool_call_id": "abcdefgh5", "content": "y"}]"#;
    let r = ok(V::V3, msgs);
    let Message::Assistant(a) = &r.messages[1] else {
        panic!()
    };
    let args: Vec<&str> = a
        .tool_calls
        .iter()
        .flatten()
        .map(|c| c.arguments.as_str())
        .collect();
    assert_eq!(
        args,
        [
            "{\"b\": 100.0, \"a\": \"é\"}",
            "{}",
            "not json",
            "{\"k\": [1, 2.5, null]}",
            "{}"
        ]
    );
    let results: Vec<&str> = r.messages[2..4].iter().map(text).collect();
    assert_eq!(results, ["{\"t\": 20}", "{}"]);
    // v7+ keeps tool results raw.
    let r = ok(V::V7, msgs);
    assert_eq!(text(&r.messages[2]), "{\"t\":20}");
    assert_eq!(text(&r.messages[3]), "");
}

#[test]
fn tool_results_follow_call_order_from_v11() {
    let msgs = r#"[{"role": "user", "content": "q"},
        {"role": "assistant", "content": "x"},
        {"role": "assistant", "tool_calls": [
            {"id": "abcdefgh1", "function": {"name": "f", "arguments": "{}"}},
            {"id": "abcdefgh2", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "abcdefgh2", "content": "second"},
        {"role": "tool", "tool_call_id": "abcdefgh1", "content": "first"}]"#;
    let order = |v: V| -> Vec<String> {
        ok(v, msgs).messages[2..]
            .iter()
            .map(|m| text(m).to_string())
            .collect()
    };
    assert_eq!(order(V::V7), ["second", "first"]);
    assert_eq!(order(V::V11), ["first", "second"]);
    assert_eq!(order(V::V15), ["first", "second"]);
}

#[test]
fn structure_rejections() {
    rejected(
        V::V3,
        "[]",
        None,
        &[],
        "Conversation must have at least one message",
    );
    rejected(
        V::V3,
        r#"[{"role": "assistant", "content": "a"}]"#,
        None,
        &[],
        "must start with a user message",
    );
    rejected(
        V::V3,
        r#"[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]"#,
        None,
        &[],
        "Expected last role User or Tool (or Assistant with prefix) for serving but got assistant",
    );
    rejected(
        V::V3,
        r#"[{"role": "user", "content": "a"}, {"role": "tool", "tool_call_id": "abcdefghi", "content": "b"}]"#,
        None,
        &[],
        "Unexpected role 'tool' after role 'user'",
    );
    let missing = format!(
        r#"[{{"role": "user", "content": "a"}}, {{"role": "assistant", "tool_calls": [{CALL}]}}, {{"role": "assistant", "content": "b"}}, {{"role": "user", "content": "c"}}]"#
    );
    rejected(
        V::V3,
        &missing,
        None,
        &[],
        "Not the same number of function calls and responses",
    );
    rejected(
        V::V13,
        &missing,
        None,
        &[],
        "Not the same number of function calls and responses",
    );
    let unexpected = format!(
        r#"[{{"role": "user", "content": "a"}}, {{"role": "assistant", "tool_calls": [{CALL}]}}, {{"role": "tool", "tool_call_id": "zzzzzzzzz", "content": "r"}}]"#
    );
    rejected(
        V::V11,
        &unexpected,
        None,
        &[],
        "Unexpected tool call id zzzzzzzzz in tool results",
    );
    // Before v11 only the counts are compared.
    assert!(run(V::V7, &unexpected, None, &[]).is_ok());
}

#[test]
fn tool_call_id_rules_per_version() {
    let with_id = |id: &str| {
        format!(
            r#"[{{"role": "user", "content": "a"}}, {{"role": "assistant", "tool_calls": [{{"id": "{id}", "function": {{"name": "f", "arguments": "{{}}"}}}}]}}, {{"role": "tool", "tool_call_id": "{id}", "content": "r"}}]"#
        )
    };
    let short = with_id("abc");
    assert!(run(V::V2, &short, None, &[]).is_ok());
    rejected(
        V::V3,
        &short,
        None,
        &[],
        "Tool call id was abc but must be a-z, A-Z, 0-9, with a length of 9.",
    );
    assert!(run(V::V13, &short, None, &[]).is_ok());
    rejected(
        V::V13,
        &with_id("null"),
        None,
        &[],
        "non-empty string other than 'null'",
    );
    rejected(
        V::V7,
        &with_id("null"),
        None,
        &[],
        "only allowed for the last assistant message",
    );
    // Python's `$` matches before a final newline.
    assert!(run(V::V3, &with_id("abcdefghi\\n"), None, &[]).is_ok());
    rejected(
        V::V3,
        &with_id("abcdefghi\\n\\n"),
        None,
        &[],
        "Tool call id was",
    );
}

#[test]
fn tools_are_checked_as_draft7_schemas_with_valid_names() {
    let msgs = r#"[{"role": "user", "content": "a"}]"#;
    let tool = |name: &str, params: &str| {
        format!(
            r#"[{{"type": "function", "function": {{"name": "{name}", "parameters": {params}}}}}]"#
        )
    };
    assert!(run(
        V::V3,
        msgs,
        Some(&tool(
            "get-x_1",
            r#"{"type": ["object", "null"], "required": ["a"]}"#
        )),
        &[]
    )
    .is_ok());
    rejected(
        V::V3,
        msgs,
        Some(&tool("a b", "{}")),
        &[],
        "Function name was a b",
    );
    rejected(
        V::V3,
        msgs,
        Some(&tool("f", r#"{"type": "obj"}"#)),
        &[],
        "Invalid tool schema",
    );
    rejected(
        V::V3,
        msgs,
        Some(&tool("f", r#"{"required": ["a", "a"]}"#)),
        &[],
        "non-unique",
    );
    rejected(
        V::V3,
        msgs,
        Some(&tool("f", r#"{"minLength": -1}"#)),
        &[],
        "less than the minimum",
    );
    rejected(
        V::V3,
        msgs,
        Some(&tool("f", r#"{"pattern": "a**"}"#)),
        &[],
        "regex",
    );
    // Missing parameters/description default to {} and "".
    let r = run(
        V::V3,
        msgs,
        Some(r#"[{"type": "function", "function": {"name": "f", "description": null}}]"#),
        &[],
    );
    let tools = r.ok().and_then(|r| r.available_tools).unwrap_or_default();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].description, "");
    assert_eq!(tools[0].parameters, Value::Dict(vec![]));
    // ...but only when `function` is truthy: `{}` is validated as is.
    rejected(
        V::V3,
        msgs,
        Some(r#"[{"type": "function", "function": {}}]"#),
        &[],
        "name",
    );
}

#[test]
fn request_fields() {
    let msgs = r#"[{"role": "user", "content": "a"}]"#;
    rejected(
        V::V13,
        msgs,
        None,
        &[("reasoning_effort", r#""high""#)],
        "reasoning_effort='high' is not supported",
    );
    rejected(
        V::V15,
        msgs,
        None,
        &[("reasoning_effort", r#""low""#)],
        "reasoning_effort should be one of ['none', 'high'], got low.",
    );
    rejected(
        V::V15,
        msgs,
        None,
        &[("reasoning_effort", r#""HIGH""#)],
        "reasoning_effort",
    );
    let r = run(V::V15, msgs, None, &[]).ok();
    assert_eq!(
        r.map(|r| r.settings.reasoning_effort),
        Some(Some(ReasoningEffort::None))
    );
    let r = run(
        V::V15,
        msgs,
        None,
        &[
            ("reasoning_effort", r#""high""#),
            ("response_format", r#"{"type": "json_object"}"#),
        ],
    )
    .ok();
    let s = r.map(|r| r.settings);
    assert_eq!(
        s.as_ref().and_then(|s| s.reasoning_effort),
        Some(ReasoningEffort::High)
    );
    assert_eq!(
        s.and_then(|s| s.json_schema),
        Some(json(
            r#"{"anyOf": [{"type": "object"}, {"type": "array"}]}"#
        ))
    );
    rejected(
        V::V3,
        msgs,
        None,
        &[("seed", "1"), ("random_seed", "2")],
        "Cannot specify both",
    );
    rejected(V::V3, msgs, None, &[("temperature", "1.5")], "temperature");
    rejected(V::V3, msgs, None, &[("temperature", "NaN")], "temperature");
    rejected(V::V3, msgs, None, &[("max_tokens", "-1")], "max_tokens");
    rejected(
        V::V3,
        msgs,
        None,
        &[("parallel_tool_calls", "2")],
        "parallel_tool_calls",
    );
    rejected(
        V::V3,
        msgs,
        None,
        &[("tool_choice", r#""ANY""#)],
        "tool_choice",
    );
    rejected(
        V::V3,
        msgs,
        None,
        &[("truncate_for_context_length", "true")],
        "no max model len",
    );
    rejected(
        V::V3,
        msgs,
        None,
        &[("response_format", r#"{"type": "json_schema"}"#)],
        "must define the schema",
    );
    for (k, v) in [
        ("parallel_tool_calls", "null"),
        ("parallel_tool_calls", r#""off""#),
        ("temperature", r#"" 0.5 ""#),
        ("max_tokens", r#""1_0""#),
        ("seed", "null"),
        ("tool_choice", r#"{"function": {"name": "f", "extra": 1}}"#),
        ("whatever", "[1]"),
    ] {
        assert!(run(V::V3, msgs, None, &[(k, v)]).is_ok(), "{k}={v}");
    }
}

#[test]
fn continue_final_message_sets_prefix_and_openai_prefix_is_ignored() {
    let msgs = r#"[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "prefix": true}]"#;
    // `prefix` in an OpenAI message is dropped by from_openai, so the request ends with a plain
    // assistant message.
    rejected(V::V7, msgs, None, &[], "Expected last role");
    let request = parse_request(&json(msgs), None, &[], true, &NO_VERDICTS);
    let r = request.and_then(|r| prepare(r, V::V7, None, None));
    match r.map(|r| r.messages) {
        Ok(m) => assert!(matches!(m.last(), Some(Message::Assistant(a)) if a.prefix)),
        Err(e) => panic!("{e}"),
    }
    let user_last = parse_request(
        &json(r#"[{"role": "user", "content": "a"}]"#),
        None,
        &[],
        true,
        &NO_VERDICTS,
    );
    assert!(
        matches!(user_last, Err(Error::Request(m)) if m.contains("requires final message to be an assistant"))
    );
}

#[test]
fn chunk_types_per_version() {
    let image = r#"[{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]"#;
    rejected(
        V::V2,
        image,
        None,
        &[],
        "Unexpected content chunk types in user message: ['ImageURLChunk']",
    );
    assert!(run(V::V3, image, None, &[]).is_ok());
    let sys_think = r#"[{"role": "system", "content": [{"type": "thinking", "thinking": "t"}]}, {"role": "user", "content": "a"}]"#;
    assert!(run(V::V13, sys_think, None, &[]).is_ok());
    rejected(
        V::V15,
        sys_think,
        None,
        &[],
        "Unexpected content chunk types in system message: ['ThinkChunk']",
    );
    rejected(
        V::V3,
        r#"[{"role": "user", "content": [{"type": "thinking", "thinking": "t"}]}]"#,
        None,
        &[],
        "ThinkChunk cannot be used in user message.",
    );
    rejected(
        V::V3,
        r#"[{"role": "user", "content": [{"type": "image", "image": "abc"}]}]"#,
        None,
        &[],
        "image_url",
    );
    rejected(
        V::V3,
        r#"[{"role": "user", "content": [{"type": "text"}]}]"#,
        None,
        &[],
        "Field required",
    );
    rejected(
        V::V3,
        r#"[{"role": "user", "content": [{"type": 3}]}]"#,
        None,
        &[],
        "is not a valid ChunkTypes",
    );
}

#[test]
fn deep_arguments_are_errors_not_crashes() {
    let messages = json(
        r#"[{"role": "user", "content": "a"}, {"role": "assistant", "tool_calls": [{"id": "abcdefghi", "function": {"name": "f", "arguments": "X"}}]}, {"role": "tool", "tool_call_id": "abcdefghi", "content": "r"}]"#,
    );
    // A JSON string nested 10⁵ deep: mistral_common's json.loads raises RecursionError.
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let r = parse_request(
        &replace_str(messages.clone(), "X", &deep),
        None,
        &[],
        false,
        &NO_VERDICTS,
    )
    .and_then(|r| prepare(r, V::V7, None, None));
    assert!(r.is_err());
    // A dict nested past json.dumps' limit (986 levels accepted, measured).
    let nested = |n: usize| {
        let mut v = Value::Int(crate::value::Int::Small(1));
        for _ in 0..n {
            v = Value::Dict(vec![("a".to_string(), v)]);
        }
        v
    };
    for (n, accepted) in [(986, true), (987, false)] {
        let m = replace_value(messages.clone(), "X", &nested(n));
        let r = parse_request(&m, None, &[], false, &NO_VERDICTS)
            .and_then(|r| prepare(r, V::V7, None, None));
        assert_eq!(r.is_ok(), accepted, "{n}");
    }
}

fn replace_value(v: Value, from: &str, to: &Value) -> Value {
    match v {
        Value::Str(s) if s == from => to.clone(),
        Value::List(items) => Value::List(
            items
                .into_iter()
                .map(|i| replace_value(i, from, to))
                .collect(),
        ),
        Value::Dict(items) => Value::Dict(
            items
                .into_iter()
                .map(|(k, i)| (k, replace_value(i, from, to)))
                .collect(),
        ),
        other => other,
    }
}

fn replace_str(v: Value, from: &str, to: &str) -> Value {
    match v {
        Value::Str(s) if s == from => Value::Str(to.to_string()),
        Value::List(items) => Value::List(
            items
                .into_iter()
                .map(|i| replace_str(i, from, to))
                .collect(),
        ),
        Value::Dict(items) => Value::Dict(
            items
                .into_iter()
                .map(|(k, i)| (k, replace_str(i, from, to)))
                .collect(),
        ),
        other => other,
    }
}

/// pydantic's lax mode, field by field, for values that are not JSON (as the host records them).
#[test]
fn lax_fields_read_bytes_and_objects_of_other_types_by_field_type() {
    use crate::request::given::Opaque;
    use crate::value::Int;
    let user = json(r#"[{"role": "user", "content": "hi"}]"#);
    let with = |name: &str, v: Value| {
        parse_request(&user, None, &[(name.to_string(), v)], false, &NO_VERDICTS)
    };
    let opaque = |type_name: &str, float: Option<f64>, integer: Option<i64>| {
        Value::Opaque(Box::new(Opaque {
            type_name: type_name.into(),
            model_dump: false,
            index: None,
            float,
            integer: integer.map(Int::Small),
        }))
    };
    let bytes = |b: &[u8], mutable: bool| Value::Bytes {
        data: b.to_vec(),
        mutable,
    };
    // float fields: float(x), and bytes (not bytearray) parsed as text
    assert!(with("temperature", opaque("Decimal", Some(0.5), None)).is_ok());
    assert!(with("temperature", opaque("Decimal", Some(f64::NAN), None)).is_err());
    assert!(with("top_p", opaque("Fraction", Some(1.5), None)).is_err());
    assert!(with("temperature", opaque("object", None, None)).is_err());
    assert!(with("temperature", bytes(b"0.5", false)).is_ok());
    assert!(with("temperature", bytes(b"0.5", true)).is_err());
    // int fields: the integral value only
    assert!(with("max_tokens", opaque("Decimal", Some(5.0), Some(5))).is_ok());
    assert!(with("max_tokens", opaque("Decimal", Some(5.5), None)).is_err());
    assert!(with("max_tokens", opaque("Decimal", Some(-1.0), Some(-1))).is_err());
    assert!(with("random_seed", bytes(b"7", false)).is_ok());
    // bool fields: an int of 0 or 1
    assert!(with(
        "truncate_for_context_length",
        opaque("Decimal", Some(0.0), Some(0))
    )
    .is_ok());
    assert!(with("parallel_tool_calls", opaque("Decimal", Some(2.0), Some(2))).is_err());
    // str fields: UTF-8 bytes and bytearrays
    let r = with("model", bytes(b"m", true)).unwrap();
    assert_eq!(r.model.as_deref(), Some("m"));
    assert!(with("model", bytes(b"\xff", false)).is_err());
    // fields mistral_common ignores take anything
    assert!(with("frobnicate", opaque("object", None, None)).is_ok());
    // bytes as content are an unknown content type; as a chunk's text they are its UTF-8
    let content = |c: Value| {
        Value::List(vec![Value::Dict(vec![
            ("role".into(), Value::Str("user".into())),
            ("content".into(), c),
        ])])
    };
    let e = parse_request(
        &content(bytes(b"hi", false)),
        None,
        &[],
        false,
        &NO_VERDICTS,
    );
    assert!(
        matches!(e, Err(Error::Request(m)) if m.contains("Unknown content type: <class 'bytes'>"))
    );
    let chunk = Value::List(vec![Value::Dict(vec![
        ("type".into(), Value::Str("text".into())),
        ("text".into(), bytes(b"hi", false)),
    ])]);
    let r = parse_request(&content(chunk), None, &[], false, &NO_VERDICTS).unwrap();
    assert_eq!(
        r.messages[0].content(),
        Some(&Content::Chunks(vec![Chunk::Text("hi".into())]))
    );
    // an empty dict of tools is no tools (mistral_common iterates them)
    let r = parse_request(&user, Some(&Value::Dict(vec![])), &[], false, &NO_VERDICTS).unwrap();
    assert_eq!(r.tools, Some(vec![]));
}

#[test]
fn json_dumps_refuses_bytes_and_other_objects() {
    let mut out = String::new();
    let v = Value::List(vec![Value::Bytes {
        data: b"x".to_vec(),
        mutable: false,
    }]);
    let e = crate::template::json::write_into(&v, &mut out);
    assert!(
        matches!(e, Err(Error::Request(m)) if m == "Object of type bytes is not JSON serializable")
    );
}
