//! The version-specific `MistralRequestValidator*` of mistral_common in its default mode
//! (`ValidationMode.test`), run on the parsed request before normalization.
//!
//! Versions → validator class: v1/v2 `MistralRequestValidator`, v3 `…V3`, v7 `…V5`, v11 `…V11`,
//! v13 `…V13`, v15 `…V15`.

use crate::error::{Error, Result};
use crate::request::instruct::{Chunk, Content, Tool};
use crate::request::parse::{ChatCompletionRequest, ChatMessage, ToolCall};
use crate::request::regex::RegexVerdicts;
use crate::request::schema;
use crate::tokenizer::TokenizerVersion;

const NULL_ID: &str = "null";
const INVALID_ID_V13: &str =
    "Tool call id must be a non-empty string other than 'null' for tokenizer version 13 or newer.";

fn err(msg: impl Into<String>) -> Error {
    Error::Request(msg.into())
}

/// Python's `re.match(r"^[...]{min,max}$", s)`: `$` also matches before one final `"\n"`.
fn py_match(s: &str, min: usize, max: usize, ok: impl Fn(char) -> bool) -> bool {
    let body = s.strip_suffix('\n').unwrap_or(s);
    let n = body.chars().count();
    n >= min && n <= max && body.chars().all(ok)
}

fn valid_function_name(name: &str) -> bool {
    py_match(name, 1, 64, |c| {
        c.is_ascii_alphanumeric() || c == '_' || c == '-'
    })
}

fn valid_call_id(id: &str) -> bool {
    py_match(id, 9, 9, |c| c.is_ascii_alphanumeric())
}

fn function_name_error(name: &str) -> String {
    format!(
        "Function name was {name} but must be a-z, A-Z, 0-9, or contain underscores and dashes, \
         with a maximum length of 64."
    )
}

/// `MistralRequestValidator*.validate_request` in `test` mode.
pub fn validate(request: &ChatCompletionRequest, version: TokenizerVersion) -> Result<()> {
    let messages = &request.messages;
    validate_structure(messages, version)?;
    let last = messages.len().saturating_sub(1);
    for (idx, m) in messages.iter().enumerate() {
        validate_message(m, idx == last, version)?;
    }
    for tool in request.tools.iter().flatten() {
        validate_tool(tool, &request.regexes)?;
    }
    if version < TokenizerVersion::V15 {
        if let Some(effort) = request.reasoning_effort {
            return Err(err(format!(
                "reasoning_effort='{}' is not supported for this model",
                effort.as_str()
            )));
        }
    }
    Ok(())
}

fn validate_tool(tool: &Tool, regexes: &RegexVerdicts) -> Result<()> {
    schema::check_draft7(&tool.parameters, regexes)
        .map_err(|e| err(format!("Invalid tool schema: {e}")))?;
    if !valid_function_name(&tool.name) {
        return Err(err(function_name_error(&tool.name)));
    }
    Ok(())
}

fn validate_structure(messages: &[ChatMessage], version: TokenizerVersion) -> Result<()> {
    let Some(last) = messages.last() else {
        return Err(err("Conversation must have at least one message"));
    };
    if messages.len() == 1 && !matches!(last, ChatMessage::User { .. } | ChatMessage::System { .. })
    {
        return Err(err(
            "Conversation must start with a user message or system message",
        ));
    }
    if messages.len() > 1 {
        if let ChatMessage::Assistant { prefix: false, .. } = last {
            return Err(err(
                "Expected last role User or Tool (or Assistant with prefix) for serving but got \
                 assistant",
            ));
        }
    }
    for pair in messages.windows(2) {
        let [prev, cur] = pair else { continue };
        let (prev, cur) = (prev.role(), cur.role());
        let allowed: &[&str] = match prev {
            "system" => &["user", "assistant", "system"],
            "user" => &["assistant", "system", "user"],
            "assistant" => &["assistant", "user", "tool"],
            _ => &["assistant", "tool", "user"],
        };
        if !allowed.contains(&cur) {
            return Err(err(format!("Unexpected role '{cur}' after role '{prev}'")));
        }
    }
    if version >= TokenizerVersion::V11 {
        pair_by_id(messages)?;
    } else {
        pair_by_count(messages)?;
    }
    if version == TokenizerVersion::V7 {
        system_and_audio(messages)?;
    }
    Ok(())
}

/// v1–v7: the number of results after an assistant turn must match its calls by the time the
/// next assistant message comes (the first message is never counted).
fn pair_by_count(messages: &[ChatMessage]) -> Result<()> {
    let mut expected: i64 = 0;
    for m in messages.iter().skip(1) {
        match m {
            ChatMessage::Tool { .. } => expected -= 1,
            ChatMessage::Assistant { tool_calls, .. } => {
                if expected != 0 {
                    return Err(err("Not the same number of function calls and responses"));
                }
                if let Some(calls) = tool_calls {
                    expected = calls.len() as i64;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn show_id(id: Option<&str>) -> &str {
    id.unwrap_or("None")
}

/// v11+: results are paired with the calls of the preceding assistant message by id.
fn pair_by_id(messages: &[ChatMessage]) -> Result<()> {
    use rustc_hash::FxHashSet;
    let mut expected: FxHashSet<&str> = FxHashSet::default();
    let mut observed: FxHashSet<Option<&str>> = FxHashSet::default();
    for m in messages.iter().skip(1) {
        match m {
            ChatMessage::Tool { tool_call_id, .. } => {
                let id = tool_call_id.as_deref();
                if observed.contains(&id) {
                    return Err(err(format!(
                        "Duplicate tool call id {} in tool results",
                        show_id(id)
                    )));
                }
                if !id.is_some_and(|i| expected.contains(i)) {
                    return Err(err(format!(
                        "Unexpected tool call id {} in tool results",
                        show_id(id)
                    )));
                }
                observed.insert(id);
            }
            ChatMessage::Assistant { tool_calls, .. } => {
                if expected.len() != observed.len() {
                    return Err(err("Not the same number of function calls and responses"));
                }
                expected.clear();
                observed.clear();
                for call in tool_calls.iter().flatten() {
                    if !expected.insert(call.id.as_str()) {
                        return Err(err(format!(
                            "Duplicate tool call id {} in assistant message",
                            call.id
                        )));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn has_audio(content: &Content) -> bool {
    matches!(content, Content::Chunks(c) if c.iter().any(|c| matches!(c, Chunk::Audio(_) | Chunk::AudioUrl(_))))
}

/// v7 (`MistralRequestValidatorV5`): no system message when a user message has audio.
fn system_and_audio(messages: &[ChatMessage]) -> Result<()> {
    let sp: Vec<String> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| matches!(m, ChatMessage::System { .. }))
        .map(|(i, _)| i.to_string())
        .collect();
    let audio: Vec<String> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| matches!(m, ChatMessage::User { content } if has_audio(content)))
        .map(|(i, _)| i.to_string())
        .collect();
    if !sp.is_empty() && !audio.is_empty() {
        return Err(err(format!(
            "Found system messages at indexes [{}] and audio chunks in messages at indexes [{}]. \
             This is not allowed prior to the tokenizer version 13.",
            sp.join(", "),
            audio.join(", ")
        )));
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum C {
    Text,
    Think,
    Image,
    ImageUrl,
    Audio,
    AudioUrl,
}

fn class(c: &Chunk) -> C {
    match c {
        Chunk::Text(_) => C::Text,
        Chunk::Think { .. } => C::Think,
        Chunk::Image(_) => C::Image,
        Chunk::ImageUrl { .. } => C::ImageUrl,
        Chunk::Audio(_) => C::Audio,
        Chunk::AudioUrl(_) => C::AudioUrl,
    }
}

/// `_validate_content_chunk_types`: the sorted set of disallowed chunk class names.
fn check_chunks(content: Option<&Content>, allowed: &[C], role: &str) -> Result<()> {
    let Some(Content::Chunks(chunks)) = content else {
        return Ok(());
    };
    let mut bad: Vec<&str> = chunks
        .iter()
        .filter(|c| !allowed.contains(&class(c)))
        .map(|c| c.class_name())
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    bad.sort_unstable();
    bad.dedup();
    let names: Vec<String> = bad.iter().map(|n| format!("'{n}'")).collect();
    Err(err(format!(
        "Unexpected content chunk types in {role} message: [{}]",
        names.join(", ")
    )))
}

fn validate_message(m: &ChatMessage, is_last: bool, v: TokenizerVersion) -> Result<()> {
    use TokenizerVersion as V;
    match m {
        ChatMessage::User { content } => {
            let allowed: &[C] = match v {
                V::V1 | V::V2 => &[C::Text],
                V::V3 => &[C::Text, C::Image, C::ImageUrl],
                _ => &[C::Text, C::Image, C::ImageUrl, C::Audio, C::AudioUrl],
            };
            check_chunks(Some(content), allowed, "user")
        }
        ChatMessage::System { content } => {
            let allowed: &[C] = match v {
                V::V1 | V::V2 | V::V3 => &[C::Text],
                V::V15 => &[C::Text, C::Audio],
                _ => &[C::Text, C::Audio, C::Think],
            };
            check_chunks(Some(content), allowed, "system")
        }
        ChatMessage::Tool {
            content,
            tool_call_id,
            name,
        } => {
            if v < V::V15 {
                check_chunks(Some(content), &[C::Text], "tool")?;
            }
            if let Some(n) = name {
                if !valid_function_name(n) {
                    return Err(err(function_name_error(n)));
                }
            }
            match v {
                V::V1 | V::V2 => Ok(()),
                V::V3 | V::V7 | V::V11 => match tool_call_id {
                    None => Err(err("Tool call id has to be defined.")),
                    Some(id) if !valid_call_id(id) => Err(err(format!(
                        "Tool call id was {id} but must be a-z, A-Z, 0-9, with a length of 9."
                    ))),
                    Some(_) => Ok(()),
                },
                V::V13 | V::V15 => match tool_call_id.as_deref() {
                    None | Some("") | Some(NULL_ID) => Err(err(INVALID_ID_V13)),
                    Some(_) => Ok(()),
                },
            }
        }
        ChatMessage::Assistant {
            content,
            tool_calls,
            prefix,
        } => {
            let allowed: &[C] = if v >= V::V11 {
                &[C::Text, C::Think]
            } else {
                &[C::Text]
            };
            check_chunks(content.as_ref(), allowed, "assistant")?;
            if v < V::V7 {
                let has_content = content.as_ref().is_some_and(|c| !c.is_empty());
                let has_calls = tool_calls.as_ref().is_some_and(|c| !c.is_empty());
                if has_content == has_calls {
                    return Err(err(
                        "Assistant message must have either content or tool_calls, but not both.",
                    ));
                }
            }
            for call in tool_calls.iter().flatten() {
                validate_tool_call(call, v)?;
            }
            if *prefix && !is_last {
                return Err(err(
                    "Assistant message with prefix True must be last message",
                ));
            }
            Ok(())
        }
    }
}

fn validate_tool_call(call: &ToolCall, v: TokenizerVersion) -> Result<()> {
    use TokenizerVersion as V;
    match v {
        V::V1 | V::V2 => {}
        V::V3 | V::V7 | V::V11 => {
            if call.id == NULL_ID {
                return Err(err(
                    "Tool call id 'null' is only allowed for the last assistant message in \
                     finetuning mode.",
                ));
            }
            if !valid_call_id(&call.id) {
                return Err(err(format!(
                    "Tool call id was {} but must be a-z, A-Z, 0-9, with a length of 9.",
                    call.id
                )));
            }
        }
        V::V13 | V::V15 => {
            if call.id.is_empty() || call.id == NULL_ID {
                return Err(err(INVALID_ID_V13));
            }
        }
    }
    if !valid_function_name(&call.name) {
        return Err(err(function_name_error(&call.name)));
    }
    Ok(())
}
