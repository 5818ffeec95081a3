//! The version-specific normalizers: a validated [`ChatCompletionRequest`] → the
//! [`InstructRequest`] the templates encode (mistral_common's `InstructRequestNormalizer`,
//! `…V7`, `…V13` (used for v11 and v13) and `…V15`).

use crate::error::{Error, Result};
use crate::request::instruct::{
    AssistantMessage, Chunk, Content, InstructRequest, Message, ModelSettings, ReasoningEffort,
    SystemMessage, ToolCall, ToolMessage, UserMessage,
};
use crate::request::parse::{Arguments, ChatCompletionRequest, ChatMessage, ResponseFormat};
use crate::template::json as pyjson;
use crate::tokenizer::TokenizerVersion;
use crate::value::Value;

const MSG_JOIN: &str = "\n\n";

/// Which normalizer class mistral_common picks for a version (`get_normalizer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// `InstructRequestNormalizer` (v1–v3): system prompt collected apart, JSON-normalized tool
    /// results, an empty user message first if needed.
    Legacy,
    /// `InstructRequestNormalizerV7`: system messages kept in place, raw tool results.
    V7,
    /// `InstructRequestNormalizerV13` (v11 and v13): tool results sorted by call order.
    V13,
    /// `InstructRequestNormalizerV15`: chunks joined with `""`, chunked tool results, settings.
    V15,
}

fn family(version: TokenizerVersion) -> Family {
    match version {
        TokenizerVersion::V1 | TokenizerVersion::V2 | TokenizerVersion::V3 => Family::Legacy,
        TokenizerVersion::V7 => Family::V7,
        TokenizerVersion::V11 | TokenizerVersion::V13 => Family::V13,
        TokenizerVersion::V15 => Family::V15,
    }
}

/// `normalizer.from_chat_completion_request(request)`. `settings_builder` is the tokenizer file's
/// `model_settings_builder` section (v15).
pub fn normalize(
    request: ChatCompletionRequest,
    version: TokenizerVersion,
    settings_builder: Option<&serde_json::Value>,
) -> Result<InstructRequest> {
    let fam = family(version);
    let chunk_join = if fam == Family::V15 { "" } else { MSG_JOIN };
    let system_prompt = if fam == Family::Legacy {
        system_prompt(&request.messages, chunk_join)?
    } else {
        None
    };
    let messages = aggregate_messages(&request.messages, fam, chunk_join)?;
    let settings = if fam == Family::V15 {
        build_settings(&request, settings_builder)?
    } else {
        ModelSettings::default()
    };
    Ok(InstructRequest {
        messages,
        system_prompt,
        available_tools: request.tools,
        truncate_at_max_tokens: None,
        settings,
    })
}

/// `_aggregate_content_chunks_impl`: text from different messages joined with `"\n\n"`, adjacent
/// text chunks of one message with `chunk_join`; only-text content becomes a plain string.
pub fn aggregate_content<'a>(
    contents: impl IntoIterator<Item = Option<&'a Content>>,
    chunk_join: &str,
) -> Content {
    let mut out: Vec<Chunk> = Vec::new();
    let mut text = String::new();
    let mut has_text = false;
    for content in contents {
        let mut new_msg_sep = has_text;
        match content {
            None => {}
            Some(Content::Text(s)) if s.is_empty() => {}
            Some(Content::Text(s)) => {
                if new_msg_sep {
                    text.push_str(MSG_JOIN);
                }
                text.push_str(s);
                has_text = true;
            }
            Some(Content::Chunks(chunks)) => {
                for chunk in chunks {
                    match chunk {
                        Chunk::Text(t) if t.is_empty() => {}
                        Chunk::Text(t) => {
                            if has_text {
                                text.push_str(if new_msg_sep { MSG_JOIN } else { chunk_join });
                            }
                            text.push_str(t);
                            has_text = true;
                            new_msg_sep = false;
                        }
                        other => {
                            if has_text {
                                out.push(Chunk::Text(std::mem::take(&mut text)));
                                has_text = false;
                            }
                            out.push(other.clone());
                        }
                    }
                }
            }
        }
    }
    if out.is_empty() {
        return Content::Text(text);
    }
    if has_text {
        out.push(Chunk::Text(text));
    }
    Content::Chunks(out)
}

fn expect_text(content: Content, role: &str) -> Result<String> {
    match content {
        Content::Text(s) => Ok(s),
        Content::Chunks(chunks) => {
            let names: Vec<String> = chunks
                .iter()
                .map(|c| format!("'{}'", c.class_name()))
                .collect();
            Err(Error::Request(format!(
                "Unexpected content chunk types in {role} message: [{}]",
                names.join(", ")
            )))
        }
    }
}

fn truthy(content: Option<&Content>) -> bool {
    content.is_some_and(|c| !c.is_empty())
}

/// v1–v3: the `"\n\n"`-join of the system messages with non-empty content.
fn system_prompt(messages: &[ChatMessage], chunk_join: &str) -> Result<Option<String>> {
    let mut parts = Vec::new();
    for m in messages {
        if let ChatMessage::System { content } = m {
            if !content.is_empty() {
                parts.push(expect_text(
                    aggregate_content([Some(content)], chunk_join),
                    "system",
                )?);
            }
        }
    }
    Ok(if parts.is_empty() {
        None
    } else {
        Some(parts.join(MSG_JOIN))
    })
}

/// `_normalize_json_content`: `""` → `"{}"`; JSON → `json.dumps(json.loads(s),
/// ensure_ascii=False)`; anything else unchanged.
pub fn normalize_json_text(s: &str) -> Result<String> {
    if s.is_empty() {
        return Ok("{}".to_string());
    }
    match pyjson::loads(s) {
        Ok(v) => pyjson::dumps(&v),
        Err(pyjson::JsonError::Syntax { .. }) => Ok(s.to_string()),
        Err(e) => Err(e.into_error()),
    }
}

fn normalize_arguments(args: &Arguments) -> Result<String> {
    match args {
        Arguments::Text(s) => normalize_json_text(s),
        Arguments::Json(v) => pyjson::dumps(v),
    }
}

fn aggregate_messages(
    messages: &[ChatMessage],
    fam: Family,
    chunk_join: &str,
) -> Result<Vec<Message>> {
    let mut out: Vec<Message> = Vec::with_capacity(messages.len());
    // Call ids of the assistant groups since the last tool group (tool results are sorted by them).
    let mut latest_call_ids: Vec<String> = Vec::new();
    let mut start = 0;
    while start < messages.len() {
        let role = messages[start].role();
        let end = messages[start..]
            .iter()
            .position(|m| m.role() != role)
            .map_or(messages.len(), |n| start + n);
        let group = &messages[start..end];
        match role {
            "user" => out.push(Message::User(UserMessage {
                content: aggregate_content(group.iter().map(|m| m.content()), chunk_join),
            })),
            "assistant" => {
                let msg = aggregate_assistant(group, fam, chunk_join)?;
                if let Some(calls) = &msg.tool_calls {
                    latest_call_ids.extend(calls.iter().map(|c| c.id.clone()));
                }
                out.push(Message::Assistant(msg));
            }
            "tool" => {
                let mut tools = Vec::with_capacity(group.len());
                for m in group {
                    if let ChatMessage::Tool {
                        content,
                        tool_call_id,
                        name,
                    } = m
                    {
                        let content = aggregate_content([Some(content)], chunk_join);
                        let content = match fam {
                            Family::Legacy => {
                                Content::Text(normalize_json_text(&expect_text(content, "tool")?)?)
                            }
                            Family::V7 | Family::V13 => {
                                Content::Text(expect_text(content, "tool")?)
                            }
                            Family::V15 => content,
                        };
                        tools.push(ToolMessage {
                            content,
                            tool_call_id: tool_call_id.clone(),
                            name: name.clone(),
                        });
                    }
                }
                if matches!(fam, Family::V13 | Family::V15) {
                    sort_tool_messages(&mut tools, &latest_call_ids);
                }
                latest_call_ids.clear();
                out.extend(tools.into_iter().map(Message::Tool));
            }
            _ => {
                // System: dropped for v1–v3 (collected in `system_prompt`), kept one by one after.
                if fam != Family::Legacy {
                    for m in group {
                        out.push(Message::System(SystemMessage {
                            content: aggregate_content([m.content()], chunk_join),
                        }));
                    }
                }
            }
        }
        start = end;
    }
    let needs_user = match out.first() {
        None => true,
        Some(first) => fam == Family::Legacy && !matches!(first, Message::User(_)),
    };
    if needs_user {
        out.insert(
            0,
            Message::User(UserMessage {
                content: Content::Text(String::new()),
            }),
        );
    }
    Ok(out)
}

fn aggregate_assistant(
    group: &[ChatMessage],
    fam: Family,
    chunk_join: &str,
) -> Result<AssistantMessage> {
    let content = aggregate_content(group.iter().map(|m| m.content()), chunk_join);
    let mut tool_calls: Vec<ToolCall> = Vec::new();
    let mut prefix = false;
    for m in group {
        if let ChatMessage::Assistant {
            content: c,
            tool_calls: calls,
            prefix: p,
        } = m
        {
            let has_calls = calls.as_ref().is_some_and(|c| !c.is_empty());
            if fam == Family::Legacy && has_calls && truthy(c.as_ref()) {
                return Err(Error::Request(
                    "Tool calls and content cannot be used together in the same message."
                        .to_string(),
                ));
            }
            for call in calls.iter().flatten() {
                tool_calls.push(ToolCall {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: normalize_arguments(&call.arguments)?,
                });
            }
            prefix |= *p;
        }
    }
    Ok(AssistantMessage {
        content: Some(content),
        tool_calls: if tool_calls.is_empty() {
            None
        } else {
            Some(tool_calls)
        },
        prefix,
    })
}

/// `InstructRequestNormalizerV13._inplace_sort_tool_messages`: a stable sort by (position of the
/// id among the latest calls, position of the id among these results). Both positions are those
/// of the *last* occurrence (they come from dict comprehensions), unknown call ids sort last, and
/// a missing id is looked up as `"null"` among the calls.
fn sort_tool_messages(tools: &mut Vec<ToolMessage>, latest_call_ids: &[String]) {
    use rustc_hash::FxHashMap;
    let mut call_idx: FxHashMap<&str, usize> = FxHashMap::default();
    for (i, id) in latest_call_ids.iter().enumerate() {
        call_idx.insert(id.as_str(), i);
    }
    let mut result_idx: FxHashMap<Option<&str>, usize> = FxHashMap::default();
    for (i, t) in tools.iter().enumerate() {
        result_idx.insert(t.tool_call_id.as_deref(), i);
    }
    let keys: Vec<(usize, usize)> = tools
        .iter()
        .map(|t| {
            let own = t.tool_call_id.as_deref();
            let lookup = own.filter(|s| !s.is_empty()).unwrap_or("null");
            (
                call_idx.get(lookup).copied().unwrap_or(usize::MAX),
                result_idx.get(&own).copied().unwrap_or(usize::MAX),
            )
        })
        .collect();
    drop(result_idx);
    let mut keyed: Vec<((usize, usize), ToolMessage)> =
        keys.into_iter().zip(tools.drain(..)).collect();
    // `sort_by_key` is stable, as Python's `list.sort`.
    keyed.sort_by_key(|(k, _)| *k);
    tools.extend(keyed.into_iter().map(|(_, t)| t));
}

/// `ModelSettingsBuilder.build_settings` (v15).
fn build_settings(
    request: &ChatCompletionRequest,
    builder: Option<&serde_json::Value>,
) -> Result<ModelSettings> {
    let Some(builder) = builder.filter(|b| !b.is_null()) else {
        return Err(Error::Request(
            "model_settings_builder must not be None for InstructRequestNormalizerV15".to_string(),
        ));
    };
    let mut settings = ModelSettings::default();
    if let Some(re) = builder.get("reasoning_effort").filter(|b| !b.is_null()) {
        let default = re
            .get("default")
            .and_then(|d| d.as_str())
            .and_then(ReasoningEffort::parse);
        let value = request.reasoning_effort.or(default);
        let values: Vec<&str> = re
            .get("values")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        if let Some(value) = value {
            if values.is_empty() {
                return Err(Error::Request(
                    "reasoning_effort not supported for this model.".to_string(),
                ));
            }
            if !values.contains(&value.as_str()) {
                let list: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
                return Err(Error::Request(format!(
                    "reasoning_effort should be one of [{}], got {}.",
                    list.join(", "),
                    value.as_str()
                )));
            }
        }
        settings.reasoning_effort = value;
    }
    if builder.get("json_schema").is_some_and(|b| !b.is_null()) {
        settings.json_schema = match &request.response_format {
            ResponseFormat::Text => None,
            ResponseFormat::JsonObject => Some(json_object_schema()),
            ResponseFormat::JsonSchema { schema, .. } => Some(schema.clone()),
        };
    }
    Ok(settings)
}

/// `{"anyOf": [{"type": "object"}, {"type": "array"}]}`.
fn json_object_schema() -> Value {
    let ty = |t: &str| Value::Dict(vec![("type".to_string(), Value::Str(t.to_string()))]);
    Value::Dict(vec![(
        "anyOf".to_string(),
        Value::List(vec![ty("object"), ty("array")]),
    )])
}
