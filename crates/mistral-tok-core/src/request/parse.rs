//! OpenAI-format messages, tools and request fields → a typed [`ChatCompletionRequest`]:
//! mistral_common's `ChatCompletionRequest.from_openai(messages, tools, continue_final_message,
//! **fields)` together with the pydantic validation it runs.
//!
//! What this mirrors (1.13.1):
//! - Message, chunk, tool-call and tool conversion (`*.from_openai`) ignore unknown keys, and the
//!   final `model_validate(..., extra="ignore")` makes every nested model ignore them too, so
//!   unknown keys are ignored everywhere on this path.
//! - Field types follow pydantic's lax mode: a `bool` field takes `0`/`1`/`"yes"`…, a `float`
//!   takes ints and numeric strings, a `str` field takes strings, UTF-8 `bytes` and enum members
//!   (read as `str(member.value)`).
//! - Assistant `prefix` is *not* read from an OpenAI message (mistral_common drops it); only
//!   `continue_final_message` sets it.
//! - Request fields mistral_common does not know are ignored; `seed` is `random_seed`.

use crate::error::{Error, Result};
use crate::request::instruct::{Chunk, Content, ReasoningEffort, Tool};
use crate::request::regex::RegexVerdicts;
use crate::value::{Int, SharedText, Value};

/// A message as the request gave it (before validation and normalization).
#[derive(Debug, Clone, PartialEq)]
pub enum ChatMessage {
    System {
        content: Content,
    },
    User {
        content: Content,
    },
    Assistant {
        content: Option<Content>,
        /// `Some(vec![])` is kept distinct from `None`, as mistral_common keeps `[]`.
        tool_calls: Option<Vec<ToolCall>>,
        prefix: bool,
    },
    Tool {
        content: Content,
        tool_call_id: Option<String>,
        name: Option<String>,
    },
}

impl ChatMessage {
    pub fn role(&self) -> &'static str {
        match self {
            ChatMessage::System { .. } => "system",
            ChatMessage::User { .. } => "user",
            ChatMessage::Assistant { .. } => "assistant",
            ChatMessage::Tool { .. } => "tool",
        }
    }

    pub fn content(&self) -> Option<&Content> {
        match self {
            ChatMessage::System { content }
            | ChatMessage::User { content }
            | ChatMessage::Tool { content, .. } => Some(content),
            ChatMessage::Assistant { content, .. } => content.as_ref(),
        }
    }
}

/// A tool call as the request gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// `"null"` when absent (mistral_common's default).
    pub id: String,
    pub name: String,
    pub arguments: Arguments,
}

/// Tool-call arguments: a JSON string as given, or a dict that mistral_common would turn into
/// one with `json.dumps` (kept as a value: normalization re-serialises it anyway, and
/// `json.dumps(json.loads(json.dumps(d)), ensure_ascii=False)` equals
/// `json.dumps(d, ensure_ascii=False)`).
#[derive(Debug, Clone, PartialEq)]
pub enum Arguments {
    Text(String),
    Json(Value),
}

/// `ResponseFormat`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ResponseFormat {
    #[default]
    Text,
    JsonObject,
    /// `json_schema.schema` (already checked to be a dict).
    JsonSchema {
        schema: Value,
        strict: bool,
    },
}

/// `ChatCompletionRequest`, keeping the fields that matter for encoding or for its errors.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatCompletionRequest {
    pub model: Option<String>,
    pub messages: Vec<ChatMessage>,
    pub tools: Option<Vec<Tool>>,
    pub response_format: ResponseFormat,
    pub truncate_for_context_length: bool,
    pub reasoning_effort: Option<ReasoningEffort>,
    /// The host's `re.compile` verdicts for the schemas' regexes.
    pub regexes: RegexVerdicts,
}

/// `ChatCompletionRequest.from_openai(messages, tools, continue_final_message, **fields)`.
pub fn parse_request(
    messages: &Value,
    tools: Option<&Value>,
    fields: &[(String, Value)],
    continue_final_message: bool,
    regexes: &RegexVerdicts,
) -> Result<ChatCompletionRequest> {
    for (key, _) in fields {
        if matches!(
            key.as_str(),
            "messages" | "tools" | "continue_final_message"
        ) {
            return Err(Error::InvalidArgument(format!(
                "`{key}` is a parameter of its own, not a request field"
            )));
        }
    }
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    if field("seed").is_some() && field("random_seed").is_some() {
        return Err(Error::Request(
            "Cannot specify both `seed` and `random_seed`.".to_string(),
        ));
    }

    let mut messages = parse_messages(messages)?;
    if continue_final_message {
        match messages.last_mut() {
            Some(ChatMessage::Assistant { prefix, .. }) => *prefix = true,
            _ => {
                return Err(Error::Request(
                    "continue_final_message=True requires final message to be an assistant."
                        .to_string(),
                ))
            }
        }
    }
    let tools = match tools {
        None => None,
        Some(t) => Some(parse_tools(t)?),
    };

    // The remaining fields, validated as pydantic would (most are ignored by tokenization).
    let mut model = None;
    let mut response_format = ResponseFormat::Text;
    let mut truncate_for_context_length = false;
    let mut reasoning_effort = None;
    let seed = match field("seed") {
        Some(Value::Null) | None => field("random_seed"),
        s => s,
    };
    if let Some(v) = seed {
        optional_int(v, "random_seed", Some(0))?;
    }
    for (key, value) in fields {
        let k = key.as_str();
        match k {
            "model" => model = optional_str(value, k)?,
            "temperature" | "top_p" => {
                let x = lax_float(value, k)?;
                if x.is_nan() || x < 0.0 {
                    return Err(field_error(k, "Input should be greater than or equal to 0"));
                }
                if x > 1.0 {
                    return Err(field_error(k, "Input should be less than or equal to 1"));
                }
            }
            "max_tokens" => {
                optional_int(value, k, Some(0))?;
            }
            "response_format" => response_format = parse_response_format(value, regexes)?,
            "tool_choice" => parse_tool_choice(value)?,
            "parallel_tool_calls" if !matches!(value, Value::Null) => {
                lax_bool(value, k)?;
            }
            "truncate_for_context_length" => truncate_for_context_length = lax_bool(value, k)?,
            "reasoning_effort" => {
                reasoning_effort = match value {
                    Value::Null => None,
                    Value::Str(s) => Some(ReasoningEffort::parse(s).ok_or_else(|| {
                        field_error(k, &format!("Input should be {}", enum_choices_reasoning()))
                    })?),
                    other => {
                        return Err(field_error(
                            k,
                            &format!(
                                "Input should be {} (got {})",
                                enum_choices_reasoning(),
                                other.type_name()
                            ),
                        ))
                    }
                }
            }
            // Unknown fields are ignored, as `model_validate(..., extra="ignore")` does.
            _ => {}
        }
    }

    Ok(ChatCompletionRequest {
        model,
        messages,
        tools,
        response_format,
        truncate_for_context_length,
        reasoning_effort,
        regexes: regexes.clone(),
    })
}

fn enum_choices_reasoning() -> String {
    let names: Vec<String> = ReasoningEffort::ALL
        .iter()
        .map(|e| format!("'{}'", e.as_str()))
        .collect();
    one_of(&names)
}

/// `'a', 'b' or 'c'`, as pydantic lists enum values.
fn one_of(names: &[String]) -> String {
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {}", rest.join(", "), last),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// A hint for a caller that passed pydantic models where mistral_common takes OpenAI dicts.
fn model_dump_hint(v: &Value) -> &'static str {
    match v {
        Value::Opaque(o) if o.model_dump => {
            " (encode_chat takes plain dicts and lists in OpenAI format; for a pydantic model, \
             pass model.model_dump())"
        }
        _ => "",
    }
}

fn field_error(path: &str, msg: &str) -> Error {
    Error::Request(format!("{path}: {msg}"))
}

// ------------------------------------------------------------------------------------------------
// Lax scalar fields (pydantic's python-mode coercions)

/// A `bool` field: `True/False`, `0/1`, `0.0/1.0`, or one of pydantic's words.
pub fn lax_bool(v: &Value, path: &str) -> Result<bool> {
    let bad = || {
        field_error(
            path,
            &format!("Input should be a valid boolean, got {}", short_repr(v)),
        )
    };
    match v {
        Value::Member(m) => lax_bool(&m.value, path),
        Value::Bool(b) => Ok(*b),
        Value::Int(Int::Small(0)) => Ok(false),
        Value::Int(Int::Small(1)) => Ok(true),
        Value::Float(f) if *f == 0.0 => Ok(false),
        Value::Float(f) if *f == 1.0 => Ok(true),
        Value::Str(s) => match s.to_ascii_lowercase().as_str() {
            "0" | "off" | "f" | "false" | "n" | "no" => Ok(false),
            "1" | "on" | "t" | "true" | "y" | "yes" => Ok(true),
            _ => Err(bad()),
        },
        // An object whose int is 0 or 1 (a `Decimal`, a numpy bool or int).
        Value::Opaque(o) => match &o.integer {
            Some(Int::Small(0)) => Ok(false),
            Some(Int::Small(1)) => Ok(true),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// The text of `bytes` in a `str` field (pydantic's lax mode decodes them as UTF-8), or of
/// `bytes` only (not `bytearray`) in a number field.
fn bytes_text(v: &Value, number: bool) -> Option<&str> {
    match v {
        Value::Bytes { data, mutable } if !(number && *mutable) => std::str::from_utf8(data).ok(),
        _ => None,
    }
}

/// A `float` field: floats, ints, bools and numeric strings.
fn lax_float(v: &Value, path: &str) -> Result<f64> {
    let bad = || {
        field_error(
            path,
            &format!("Input should be a valid number, got {}", short_repr(v)),
        )
    };
    match v {
        Value::Member(m) => lax_float(&m.value, path),
        Value::Float(f) => Ok(*f),
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        Value::Int(Int::Small(i)) => Ok(*i as f64),
        Value::Int(Int::Big(s)) => s.parse::<f64>().map_err(|_| bad()),
        Value::Str(s) => parse_py_float(s).ok_or_else(bad),
        Value::Opaque(o) => o.float.ok_or_else(bad),
        Value::Bytes { .. } => bytes_text(v, true).and_then(parse_py_float).ok_or_else(bad),
        _ => Err(bad()),
    }
}

fn parse_py_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.contains("__") || t.starts_with('_') || t.ends_with('_') {
        return None;
    }
    t.replace('_', "").parse::<f64>().ok()
}

/// An `int | None` field with an optional lower bound; returns nothing useful (these fields are
/// not tokenized) beyond the validation.
fn optional_int(v: &Value, path: &str, min: Option<i64>) -> Result<()> {
    let bad = || {
        field_error(
            path,
            &format!("Input should be a valid integer, got {}", short_repr(v)),
        )
    };
    let negative = match v {
        Value::Member(m) => return optional_int(&m.value, path, min),
        Value::Null => return Ok(()),
        Value::Bool(_) => false,
        Value::Int(Int::Small(i)) => min.is_some_and(|m| *i < m),
        Value::Int(Int::Big(s)) => s.starts_with('-'),
        Value::Float(f) if f.is_finite() && f.fract() == 0.0 => min.is_some_and(|m| *f < m as f64),
        Value::Opaque(o) => match &o.integer {
            Some(Int::Small(i)) => min.is_some_and(|m| *i < m),
            Some(Int::Big(s)) => s.starts_with('-'),
            None => return Err(bad()),
        },
        Value::Str(_) | Value::Bytes { .. } => {
            let s = v.as_str().or(bytes_text(v, true)).ok_or_else(bad)?;
            let t = s.trim().replace('_', "");
            let t = t.strip_suffix(".0").unwrap_or(&t).to_string();
            let digits = t.strip_prefix(['-', '+']).unwrap_or(&t);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.starts_with('-') && digits.bytes().any(|b| b != b'0')
        }
        _ => return Err(bad()),
    };
    if negative {
        if let Some(m) = min {
            return Err(field_error(
                path,
                &format!("Input should be greater than or equal to {m}"),
            ));
        }
    }
    Ok(())
}

fn optional_str(v: &Value, path: &str) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        other => req_str(other, path).map(Some),
    }
}

/// The text pydantic's lax mode reads in a `str` field: a str, UTF-8 `bytes` or `bytearray`, or
/// an enum member's `str(member.value)`.
fn lax_text(v: &Value) -> Option<&str> {
    match v {
        Value::Str(s) => Some(s),
        Value::Member(m) => Some(&m.text),
        _ => bytes_text(v, false),
    }
}

fn req_str(v: &Value, path: &str) -> Result<String> {
    lax_text(v).map(str::to_string).ok_or_else(|| {
        field_error(
            path,
            &format!("Input should be a valid string, got {}", v.type_name()),
        )
    })
}

/// A `str` field kept as the text it is (a lent image URL stays lent).
fn req_text(v: &Value, path: &str) -> Result<SharedText> {
    match v {
        Value::Lent(s) => Ok(s.clone()),
        other => req_str(other, path).map(SharedText::from),
    }
}

fn as_dict<'a>(v: &'a Value, path: &str, what: &str) -> Result<&'a [(String, Value)]> {
    match v {
        Value::Dict(items) => Ok(items),
        other => Err(field_error(
            path,
            &format!(
                "Input should be a valid dictionary or instance of {what}, got {}",
                other.type_name()
            ),
        )),
    }
}

fn get<'a>(items: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    items.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// A short Python-like rendering of a value for error messages.
pub fn short_repr(v: &Value) -> String {
    let mut out = String::new();
    repr_into(v, &mut out, 3);
    if out.chars().count() > 80 {
        let cut: String = out.chars().take(77).collect();
        return format!("{cut}...");
    }
    out
}

fn repr_into(v: &Value, out: &mut String, depth: usize) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Int(Int::Small(i)) => out.push_str(&i.to_string()),
        Value::Int(Int::Big(s)) => out.push_str(s),
        Value::Float(f) => out.push_str(&format!("{f:?}")),
        Value::Str(s) => out.push_str(&format!("'{}'", s.replace('\'', "\\'"))),
        Value::Lent(s) => out.push_str(&format!("'{}'", s.replace('\'', "\\'"))),
        Value::Bytes { data, .. } => out.push_str(&format!(
            "b'{}'",
            data.escape_ascii().to_string().replace('\'', "\\'")
        )),
        Value::Opaque(o) => out.push_str(&format!("<{} object>", o.type_name)),
        Value::Member(m) => repr_into(&m.value, out, depth),
        Value::List(items) | Value::Tuple(items) => {
            let (open, close) = match v {
                Value::Tuple(_) => ('(', ')'),
                _ => ('[', ']'),
            };
            if depth == 0 {
                out.push(open);
                out.push_str("...");
                out.push(close);
                return;
            }
            out.push(open);
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if out.len() > 100 {
                    out.push_str("...");
                    break;
                }
                repr_into(item, out, depth - 1);
            }
            out.push(close);
        }
        Value::Dict(items) => {
            if depth == 0 {
                out.push_str("{...}");
                return;
            }
            out.push('{');
            for (i, (k, item)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if out.len() > 100 {
                    out.push_str("...");
                    break;
                }
                out.push_str(&format!("'{k}': "));
                repr_into(item, out, depth - 1);
            }
            out.push('}');
        }
    }
}

/// Python's `type(x)` rendering, as mistral_common's own messages print it.
fn py_class(v: &Value) -> String {
    format!("<class '{}'>", v.type_name().replace("None", "NoneType"))
}

// ------------------------------------------------------------------------------------------------
// Nesting limits

/// The deepest dict given as tool-call `arguments` that mistral_common turns into JSON text
/// (`json.dumps` in the `FunctionCall` validator; measured: 986 accepted, 987 `RecursionError`).
const MAX_ARGUMENTS_DEPTH: usize = 986;
/// The deepest tool `parameters` value `json.dumps(tools)` writes (measured: a parameters dict
/// holding 986 nested lists is accepted, one more is a `RecursionError`).
const MAX_PARAMETERS_DEPTH: usize = 987;

fn too_deep(limit: usize) -> String {
    format!(
        "nested deeper than {limit} levels (mistral_common fails with RecursionError when it \
         serialises it)"
    )
}

/// Nesting depth of containers (a scalar is 0, `[]` is 1), without recursion.
pub fn depth(v: &Value) -> usize {
    let mut max = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(v, 0)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::List(items) | Value::Tuple(items) => {
                max = max.max(d + 1);
                stack.extend(items.iter().map(|i| (i, d + 1)));
            }
            Value::Dict(items) => {
                max = max.max(d + 1);
                stack.extend(items.iter().map(|(_, i)| (i, d + 1)));
            }
            _ => {}
        }
    }
    max
}

/// What `json.loads(json.dumps(d))` does to a dict whose keys collide once written (Python keys
/// `1` and `"1"` both become `"1"`): the last value wins, at the first key's position.
fn dedupe_keys(v: Value) -> Value {
    match v {
        Value::Dict(items) => {
            let mut out: Vec<(String, Value)> = Vec::with_capacity(items.len());
            let mut index: rustc_hash::FxHashMap<String, usize> = Default::default();
            for (k, v) in items {
                let v = dedupe_keys(v);
                match index.get(&k) {
                    Some(&i) => {
                        if let Some(slot) = out.get_mut(i) {
                            slot.1 = v;
                        }
                    }
                    None => {
                        index.insert(k.clone(), out.len());
                        out.push((k, v));
                    }
                }
            }
            Value::Dict(out)
        }
        Value::List(items) => Value::List(items.into_iter().map(dedupe_keys).collect()),
        other => other,
    }
}

// ------------------------------------------------------------------------------------------------
// Messages

fn parse_messages(messages: &Value) -> Result<Vec<ChatMessage>> {
    let Value::List(items) = messages else {
        return Err(Error::Request(format!(
            "messages must be a list of message dicts, got {}",
            messages.type_name()
        )));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, m)| parse_message(m, &format!("messages[{i}]")))
        .collect()
}

fn parse_message(msg: &Value, path: &str) -> Result<ChatMessage> {
    let Value::Dict(items) = msg else {
        return Err(field_error(
            path,
            &format!("a message must be a dict, got {}", msg.type_name()),
        )
        .with_hint(model_dump_hint(msg)));
    };
    let role = get(items, "role").unwrap_or(&Value::Null);
    let role_str = role.as_str().unwrap_or("");
    let required = |key: &str| {
        get(items, key).ok_or_else(|| {
            field_error(
                path,
                &format!(
                    "a {role_str} message needs a '{key}' key (mistral_common: KeyError '{key}')"
                ),
            )
        })
    };
    match role_str {
        "user" | "system" | "developer" => {
            let raw = required("content")?;
            let content = parse_content(raw, &format!("{path}.content"))?;
            let Some(content) = content else {
                return Err(field_error(
                    &format!("{path}.content"),
                    "Input should be a valid string or a list of content chunks, got None",
                ));
            };
            if role_str == "user" {
                check_class_chunks(
                    &content,
                    "user",
                    &[Kind::Text, Kind::Image, Kind::Audio],
                    path,
                )?;
                Ok(ChatMessage::User { content })
            } else {
                check_class_chunks(
                    &content,
                    "system",
                    &[Kind::Text, Kind::Audio, Kind::Think],
                    path,
                )?;
                Ok(ChatMessage::System { content })
            }
        }
        "assistant" => parse_assistant(items, path),
        "tool" => {
            let raw = required("content")?;
            let id = required("tool_call_id")?;
            let content = parse_content(raw, &format!("{path}.content"))?.ok_or_else(|| {
                field_error(
                    &format!("{path}.content"),
                    "Input should be a valid string or a list of content chunks, got None",
                )
            })?;
            check_class_chunks(
                &content,
                "tool",
                &[Kind::Text, Kind::Image, Kind::Audio],
                path,
            )?;
            let tool_call_id = optional_str(id, &format!("{path}.tool_call_id"))?;
            let name = match get(items, "name") {
                None => None,
                Some(v) => optional_str(v, &format!("{path}.name"))?,
            };
            Ok(ChatMessage::Tool {
                content,
                tool_call_id,
                name,
            })
        }
        _ => Err(field_error(
            path,
            &format!("Unknown message role: {}", py_str(role)),
        )),
    }
}

/// Python's `str(x)` for the simple values mistral_common interpolates in messages.
fn py_str(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => short_repr(other),
    }
}

fn parse_assistant(items: &[(String, Value)], path: &str) -> Result<ChatMessage> {
    let tool_calls = match get(items, "tool_calls") {
        None | Some(Value::Null) => None,
        Some(Value::List(calls)) => Some(
            calls
                .iter()
                .enumerate()
                .map(|(i, c)| parse_tool_call(c, &format!("{path}.tool_calls[{i}]")))
                .collect::<Result<Vec<_>>>()?,
        ),
        Some(other) => {
            return Err(field_error(
                path,
                &format!("tool_calls must be a list, got {}", py_class(other)),
            ))
        }
    };
    let mut content = match get(items, "content") {
        None => None,
        Some(raw) => parse_content(raw, &format!("{path}.content"))?,
    };
    let reasoning_content = get(items, "reasoning_content").filter(|v| !matches!(v, Value::Null));
    let reasoning = get(items, "reasoning").filter(|v| !matches!(v, Value::Null));
    let thinking = match (reasoning_content, reasoning) {
        (None, None) => None,
        (Some(a), Some(b)) if a != b => {
            return Err(field_error(
                path,
                "`reasoning_content` and `reasoning` should be equal.",
            ))
        }
        (_, Some(t)) | (Some(t), None) => Some(t),
    };
    if let Some(t) = thinking {
        if let Some(Content::Chunks(chunks)) = &content {
            if chunks.iter().any(|c| matches!(c, Chunk::Think { .. })) {
                return Err(field_error(
                    path,
                    "Message cannot have both thinking chunks in `content` and a top-level \
                     `reasoning` or `reasoning_content` field.",
                ));
            }
        }
        let thinking = req_str(t, &format!("{path}.reasoning"))?;
        let think = Chunk::Think {
            thinking,
            closed: true,
        };
        content = Some(match content {
            None => Content::Chunks(vec![think]),
            Some(Content::Text(s)) => Content::Chunks(vec![think, Chunk::Text(s)]),
            Some(Content::Chunks(mut c)) => {
                c.insert(0, think);
                Content::Chunks(c)
            }
        });
    }
    if let Some(c) = &content {
        check_class_chunks(c, "assistant", &[Kind::Text, Kind::Think], path)?;
    }
    Ok(ChatMessage::Assistant {
        content,
        tool_calls,
        prefix: false,
    })
}

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Text,
    Think,
    /// Image and image-URL chunks.
    Image,
    /// Audio and audio-URL chunks.
    Audio,
}

fn kind(c: &Chunk) -> Kind {
    match c {
        Chunk::Text(_) => Kind::Text,
        Chunk::Think { .. } => Kind::Think,
        Chunk::Image(_) | Chunk::ImageUrl { .. } => Kind::Image,
        Chunk::Audio(_) | Chunk::AudioUrl(_) => Kind::Audio,
    }
}

/// The chunk types a message class accepts at all (pydantic model validator), before the
/// version-specific validator narrows them.
fn check_class_chunks(content: &Content, role: &str, allowed: &[Kind], path: &str) -> Result<()> {
    if let Content::Chunks(chunks) = content {
        for c in chunks {
            if !allowed.contains(&kind(c)) {
                return Err(field_error(
                    path,
                    &format!("{} cannot be used in {role} message.", c.class_name()),
                ));
            }
        }
    }
    Ok(())
}

/// `BaseMessage._content_from_openai`: `None` stays `None`, a string is text, a list is chunks.
fn parse_content(raw: &Value, path: &str) -> Result<Option<Content>> {
    match raw {
        Value::Null => Ok(None),
        Value::Str(s) => Ok(Some(Content::Text(s.clone()))),
        Value::List(items) => Ok(Some(Content::Chunks(
            items
                .iter()
                .enumerate()
                .map(|(i, c)| parse_chunk(c, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>>>()?,
        ))),
        other => Err(field_error(
            path,
            &format!("Unknown content type: {}", py_class(other)),
        )),
    }
}

fn parse_chunk(raw: &Value, path: &str) -> Result<Chunk> {
    let Value::Dict(items) = raw else {
        return Err(field_error(
            path,
            &format!("a content chunk must be a dict, got {}", raw.type_name()),
        ));
    };
    let ty = match get(items, "type") {
        None | Some(Value::Null) => {
            return Err(field_error(path, "Content chunk must have a type field."))
        }
        Some(t) => t,
    };
    match ty.as_str() {
        Some("text") => {
            let text = get(items, "text")
                .ok_or_else(|| field_error(&format!("{path}.text"), "Field required"))?;
            Ok(Chunk::Text(req_str(text, &format!("{path}.text"))?))
        }
        Some("thinking") => {
            let thinking = get(items, "thinking")
                .ok_or_else(|| field_error(&format!("{path}.thinking"), "Field required"))?;
            let thinking = req_str(thinking, &format!("{path}.thinking"))?;
            let closed = match get(items, "closed") {
                None => true,
                Some(v) => lax_bool(v, &format!("{path}.closed"))?,
            };
            Ok(Chunk::Think { thinking, closed })
        }
        Some("image") => Err(field_error(
            path,
            "an OpenAI-format image chunk must have type 'image_url' (mistral_common's \
             ImageChunk.from_openai asserts it)",
        )),
        Some("image_url") => {
            let iu = get(items, "image_url")
                .ok_or_else(|| field_error(path, "an image_url chunk needs an 'image_url' key"))?;
            let p = format!("{path}.image_url");
            match iu {
                Value::Str(_) | Value::Lent(_) => Ok(Chunk::ImageUrl {
                    url: req_text(iu, &p)?,
                    detail: None,
                }),
                Value::Dict(d) => {
                    // `ImageURL` is validated with `extra="forbid"` here (no `extra="ignore"`).
                    if let Some((k, _)) = d.iter().find(|(k, _)| k != "url" && k != "detail") {
                        return Err(field_error(
                            &format!("{p}.{k}"),
                            "Extra inputs are not permitted",
                        ));
                    }
                    let url = get(d, "url")
                        .ok_or_else(|| field_error(&format!("{p}.url"), "Field required"))?;
                    let url = req_text(url, &format!("{p}.url"))?;
                    let detail = match get(d, "detail") {
                        None => None,
                        Some(v) => optional_str(v, &format!("{p}.detail"))?,
                    };
                    Ok(Chunk::ImageUrl { url, detail })
                }
                other => Err(field_error(
                    &p,
                    &format!(
                        "Input should be a string or a dict with 'url', got {}",
                        other.type_name()
                    ),
                )),
            }
        }
        Some("input_audio") => {
            let p = format!("{path}.input_audio");
            let raw = get(items, "input_audio").ok_or_else(|| field_error(&p, "Field required"))?;
            let data = match raw {
                Value::Dict(d) if get(d, "data").is_some() => {
                    get(d, "data").unwrap_or(&Value::Null)
                }
                other => other,
            };
            // `str | bytes` in pydantic's smart mode: neither member takes a bytearray strictly,
            // so lax `str` (first) reads it when it is UTF-8, lax `bytes` otherwise.
            let read_bytearray;
            let data = match data {
                Value::Bytes {
                    data: b,
                    mutable: true,
                } => {
                    read_bytearray = match std::str::from_utf8(b) {
                        Ok(s) => Value::Str(s.to_string()),
                        Err(_) => Value::Bytes {
                            data: b.clone(),
                            mutable: false,
                        },
                    };
                    &read_bytearray
                }
                other => other,
            };
            let empty = || field_error(&p, "`input_audio` should not be empty.");
            match data {
                Value::Str(s) if s.trim().is_empty() => Err(empty()),
                Value::Lent(s) if s.trim().is_empty() => Err(empty()),
                Value::Bytes {
                    data: b,
                    mutable: false,
                } if b.is_empty() => Err(empty()),
                Value::Str(_) | Value::Lent(_) | Value::Bytes { mutable: false, .. } => {
                    Ok(Chunk::Audio(data.clone()))
                }
                other => Err(field_error(
                    &p,
                    &format!("Input should be a valid string, got {}", other.type_name()),
                )),
            }
        }
        Some("audio_url") => {
            let p = format!("{path}.audio_url");
            match get(items, "audio_url") {
                None => Err(field_error(&p, "Field required")),
                Some(v @ (Value::Str(_) | Value::Lent(_))) => Ok(Chunk::AudioUrl(req_text(v, &p)?)),
                Some(Value::Dict(d)) => {
                    let url = get(d, "url")
                        .ok_or_else(|| field_error(&format!("{p}.url"), "Field required"))?;
                    Ok(Chunk::AudioUrl(req_text(url, &format!("{p}.url"))?))
                }
                Some(other) => Err(field_error(
                    &p,
                    &format!(
                        "Input should be a string or a dict with 'url', got {}",
                        other.type_name()
                    ),
                )),
            }
        }
        _ => Err(field_error(
            path,
            &format!("{} is not a valid ChunkTypes", short_repr(ty)),
        )),
    }
}

// ------------------------------------------------------------------------------------------------
// Tool calls and tools

fn check_function_type(items: &[(String, Value)], path: &str) -> Result<()> {
    match get(items, "type") {
        None => Ok(()),
        Some(Value::Str(s)) if s == "function" => Ok(()),
        Some(other) => Err(field_error(
            &format!("{path}.type"),
            &format!("Input should be 'function', got {}", short_repr(other)),
        )),
    }
}

fn parse_tool_call(raw: &Value, path: &str) -> Result<ToolCall> {
    let items = as_dict(raw, path, "ToolCall")?;
    let id = match get(items, "id") {
        None => "null".to_string(),
        Some(v) => req_str(v, &format!("{path}.id"))?,
    };
    check_function_type(items, path)?;
    let fpath = format!("{path}.function");
    let function = get(items, "function").ok_or_else(|| field_error(&fpath, "Field required"))?;
    let f = as_dict(function, &fpath, "FunctionCall")?;
    let name =
        get(f, "name").ok_or_else(|| field_error(&format!("{fpath}.name"), "Field required"))?;
    let name = req_str(name, &format!("{fpath}.name"))?;
    let apath = format!("{fpath}.arguments");
    let arguments = match get(f, "arguments") {
        None => return Err(field_error(&apath, "Field required")),
        Some(Value::Null) => Arguments::Text("{}".to_string()),
        Some(v @ Value::Dict(_)) => {
            if depth(v) > MAX_ARGUMENTS_DEPTH {
                return Err(field_error(&apath, &too_deep(MAX_ARGUMENTS_DEPTH)));
            }
            Arguments::Json(dedupe_keys(v.clone()))
        }
        Some(other) => Arguments::Text(req_str(other, &apath)?),
    };
    Ok(ToolCall {
        id,
        name,
        arguments,
    })
}

fn parse_tools(tools: &Value) -> Result<Vec<Tool>> {
    // mistral_common iterates `tools`: an empty dict is no tools.
    if matches!(tools, Value::Dict(d) if d.is_empty()) {
        return Ok(Vec::new());
    }
    let Value::List(items) = tools else {
        return Err(Error::Request(format!(
            "tools must be a list of tool dicts, got {}",
            tools.type_name()
        )));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, t)| parse_tool(t, &format!("tools[{i}]")))
        .collect()
}

/// Python truthiness (for `if function := tool.get("function")`).
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Int(Int::Small(i)) => *i != 0,
        Value::Int(Int::Big(_)) => true,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::Lent(s) => !s.is_empty(),
        Value::Bytes { data, .. } => !data.is_empty(),
        Value::Opaque(_) => true,
        Value::Member(m) => truthy(&m.value),
        Value::List(l) | Value::Tuple(l) => !l.is_empty(),
        Value::Dict(d) => !d.is_empty(),
    }
}

fn parse_tool(raw: &Value, path: &str) -> Result<Tool> {
    let Value::Dict(items) = raw else {
        return Err(field_error(
            path,
            &format!("a tool must be a dict, got {}", raw.type_name()),
        ));
    };
    check_function_type(items, path)?;
    let fpath = format!("{path}.function");
    let function = get(items, "function").ok_or_else(|| field_error(&fpath, "Field required"))?;
    let f = as_dict(function, &fpath, "Function")?;
    // `Function.from_openai` only runs on a truthy value: `{}` keeps its missing fields.
    let converted = truthy(function);
    let name =
        get(f, "name").ok_or_else(|| field_error(&format!("{fpath}.name"), "Field required"))?;
    let name = req_str(name, &format!("{fpath}.name"))?;
    let description = match get(f, "description") {
        None => String::new(),
        Some(Value::Null) if converted => String::new(),
        Some(v) => req_str(v, &format!("{fpath}.description"))?,
    };
    let ppath = format!("{fpath}.parameters");
    let parameters = match get(f, "parameters") {
        None | Some(Value::Null) if converted => Value::Dict(Vec::new()),
        None => return Err(field_error(&ppath, "Field required")),
        Some(v @ Value::Dict(_)) => {
            if depth(v) > MAX_PARAMETERS_DEPTH {
                return Err(field_error(&ppath, &too_deep(MAX_PARAMETERS_DEPTH)));
            }
            v.clone()
        }
        Some(other) => {
            return Err(field_error(
                &ppath,
                &format!(
                    "Input should be a valid dictionary, got {}",
                    other.type_name()
                ),
            ))
        }
    };
    let strict = match get(f, "strict") {
        None => false,
        Some(Value::Null) if converted => false,
        Some(v) => lax_bool(v, &format!("{fpath}.strict"))?,
    };
    Ok(Tool {
        name,
        description,
        parameters,
        strict,
    })
}

// ------------------------------------------------------------------------------------------------
// Other request fields

fn parse_response_format(v: &Value, regexes: &RegexVerdicts) -> Result<ResponseFormat> {
    let path = "response_format";
    let items = as_dict(v, path, "ResponseFormat")?;
    let ty = match get(items, "type") {
        None => "text",
        Some(Value::Str(s)) if matches!(s.as_str(), "text" | "json_object" | "json_schema") => s,
        Some(other) => {
            return Err(field_error(
                &format!("{path}.type"),
                &format!(
                    "Input should be 'text', 'json_object' or 'json_schema', got {}",
                    short_repr(other)
                ),
            ))
        }
    };
    let schema = match get(items, "json_schema") {
        None | Some(Value::Null) => None,
        Some(js) => Some(parse_json_schema(
            js,
            &format!("{path}.json_schema"),
            regexes,
        )?),
    };
    match (ty, schema) {
        ("json_schema", None) => Err(field_error(
            path,
            "Response format `json_schema` must define the schema",
        )),
        ("json_schema", Some((schema, strict))) => {
            Ok(ResponseFormat::JsonSchema { schema, strict })
        }
        ("json_object", _) => Ok(ResponseFormat::JsonObject),
        _ => Ok(ResponseFormat::Text),
    }
}

/// `JsonSchema{name, description, schema (alias; also `custom_schema`), strict}`.
fn parse_json_schema(v: &Value, path: &str, regexes: &RegexVerdicts) -> Result<(Value, bool)> {
    let items = as_dict(v, path, "JsonSchema")?;
    let name =
        get(items, "name").ok_or_else(|| field_error(&format!("{path}.name"), "Field required"))?;
    req_str(name, &format!("{path}.name"))?;
    if let Some(d) = get(items, "description") {
        optional_str(d, &format!("{path}.description"))?;
    }
    let spath = format!("{path}.schema");
    let schema = get(items, "schema")
        .or_else(|| get(items, "custom_schema"))
        .ok_or_else(|| field_error(&spath, "Field required"))?;
    if !matches!(schema, Value::Dict(_)) {
        return Err(field_error(
            &spath,
            &format!(
                "Input should be a valid dictionary, got {}",
                schema.type_name()
            ),
        ));
    }
    crate::request::schema::check_draft7(schema, regexes)
        .map_err(|e| field_error(&spath, &format!("Value error, {e}")))?;
    let strict = match get(items, "strict") {
        None => false,
        Some(s) => lax_bool(s, &format!("{path}.strict"))?,
    };
    Ok((schema.clone(), strict))
}

fn parse_tool_choice(v: &Value) -> Result<()> {
    let path = "tool_choice";
    match v {
        Value::Str(s) if matches!(s.as_str(), "auto" | "none" | "any" | "required") => Ok(()),
        Value::Dict(items) => {
            check_function_type(items, path)?;
            let fpath = format!("{path}.function");
            let f = get(items, "function").ok_or_else(|| field_error(&fpath, "Field required"))?;
            let f = as_dict(f, &fpath, "FunctionName")?;
            let name = get(f, "name")
                .ok_or_else(|| field_error(&format!("{fpath}.name"), "Field required"))?;
            req_str(name, &format!("{fpath}.name"))?;
            Ok(())
        }
        other => Err(field_error(
            path,
            &format!(
                "Input should be 'auto', 'none', 'any' or 'required', or a dict \
                 {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}, got {}",
                short_repr(other)
            ),
        )),
    }
}
