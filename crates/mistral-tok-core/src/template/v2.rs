//! V2: control tokens. Tools (`[AVAILABLE_TOOLS]`) go with the last user message (the first from
//! V13 on), tool calls and results are JSON lists, and tool turns before the last user message
//! are dropped (with their EOS). V2 also writes the user-message frame every later version keeps.

use super::json;
use super::{
    describe_assistant, has_content, has_tool_calls, real_call_id, settings, tool_calls,
    user_content, Ctx, UserPosition,
};
use crate::error::{Error, Result};
use crate::request::instruct::{
    AssistantMessage, Chunk, Content, InstructRequest, Message, ToolCall, ToolMessage,
};
use crate::tokenizer::TokenizerVersion;
use crate::value::Value;

/// `_validate_tool_results`: from the last user message on, an assistant tool-call turn may have
/// at most one tool result.
pub(super) fn validate_tool_results(messages: &[Message]) -> Result<()> {
    let last_user = messages
        .iter()
        .rposition(|m| matches!(m, Message::User(_)))
        .unwrap_or(0);
    let mut after_calls = false;
    let mut results = 0;
    for msg in messages.iter().skip(last_user) {
        match msg {
            Message::Assistant(a) => {
                after_calls = has_tool_calls(&a.tool_calls);
                results = 0;
            }
            Message::Tool(_) => {
                if after_calls {
                    results += 1;
                    if results > 1 {
                        return Err(Error::Request(
                            "Tokenizer v2 does not support multiple tool results for one \
                             assistant turn."
                                .to_string(),
                        ));
                    }
                }
            }
            _ => {
                after_calls = false;
                results = 0;
            }
        }
    }
    Ok(())
}

/// `encode_user_message` of V2 (kept by every later version): the tools and settings block on
/// the designated user message, then `[INST] content [/INST]`.
pub(super) fn user_message(
    cx: &mut Ctx<'_>,
    content: &Content,
    request: &InstructRequest,
    pos: UserPosition,
) -> Result<()> {
    let tools_here = if cx.version() >= TokenizerVersion::V13 {
        pos.is_first
    } else {
        pos.is_last
    };
    if tools_here {
        if let Some(tools) = request.available_tools.as_ref().filter(|t| !t.is_empty()) {
            let mut text = String::new();
            json::write_tools(tools, &mut text)?;
            cx.push(cx.sp.tools);
            cx.text(&text);
            cx.push(cx.sp.end_tools);
        }
        settings(cx, request)?;
    }
    cx.push(cx.sp.inst);
    user_content(cx, content, request.system_prompt.as_deref(), pos.is_last)?;
    cx.push(cx.sp.end_inst);
    Ok(())
}

/// V2/V3 assistant: either tool calls or text (`rstrip(" ")`), then EOS unless `prefix`. V2
/// drops a tool-call turn before the last user message entirely (no EOS either).
pub(super) fn assistant_message(
    cx: &mut Ctx<'_>,
    m: &AssistantMessage,
    before_last_user: bool,
) -> Result<()> {
    let with_calls = has_tool_calls(&m.tool_calls);
    if with_calls && has_content(&m.content) {
        return Err(Error::Request(format!(
            "Cannot have tool calls and content defined in the same assistant message {}",
            describe_assistant(m)
        )));
    }
    if let Some(calls) = m.tool_calls.as_deref().filter(|_| with_calls) {
        if before_last_user {
            return Ok(());
        }
        tool_calls(cx, calls)?;
    } else if has_content(&m.content) {
        match &m.content {
            Some(Content::Text(t)) => cx.text(t.trim_end_matches(' ')),
            _ => {
                return Err(Error::Request(
                    "Message content must be a string for tokenizer < V7".to_string(),
                ))
            }
        }
    } else {
        return Err(Error::Request(format!(
            "Invalid assistant message: {}",
            describe_assistant(m)
        )));
    }
    if !m.prefix {
        cx.eos();
    }
    Ok(())
}

/// `_prepare_function_call`: `{"name", "arguments"}`, plus `"id"` from V3 on when it is real.
fn prepared_call(cx: &Ctx<'_>, call: &ToolCall) -> Result<Value> {
    let mut items = vec![
        ("name".to_string(), Value::Str(call.name.clone())),
        (
            "arguments".to_string(),
            json::loads_or_str(&call.arguments)?,
        ),
    ];
    if cx.version() >= TokenizerVersion::V3 {
        if let Some(id) = real_call_id(&call.id) {
            items.push(("id".to_string(), Value::Str(id.to_string())));
        }
    }
    Ok(Value::Dict(items))
}

/// V2–V7 tool calls: `[TOOL_CALLS]` and one JSON list of all calls.
pub(super) fn tool_calls_json(cx: &mut Ctx<'_>, calls: &[ToolCall]) -> Result<()> {
    let list = calls
        .iter()
        .map(|c| prepared_call(cx, c))
        .collect::<Result<Vec<_>>>()?;
    let text = json::dumps(&Value::List(list))?;
    cx.push(cx.sp.calls);
    cx.text(&text);
    Ok(())
}

/// `_parse_tool_content`: the content (text chunks joined) parsed as JSON, or kept as a string.
pub(super) fn parse_tool_content(content: &Content) -> Result<Value> {
    match content {
        Content::Text(t) => json::loads_or_str(t),
        Content::Chunks(chunks) => {
            let mut joined = String::new();
            for chunk in chunks {
                match chunk {
                    Chunk::Text(t) => joined.push_str(t),
                    other => {
                        return Err(Error::Request(format!(
                            "Tool content only supports text chunks, got {}.",
                            other.class_name()
                        )))
                    }
                }
            }
            json::loads_or_str(&joined)
        }
    }
}

/// V2 tool result: a one-element list `[{"name", "content"}]`, dropped before the last user
/// message.
pub(super) fn tool_message(
    cx: &mut Ctx<'_>,
    m: &ToolMessage,
    before_last_user: bool,
) -> Result<()> {
    if before_last_user {
        return Ok(());
    }
    let result = Value::Dict(vec![
        (
            "name".to_string(),
            m.name.clone().map_or(Value::Null, Value::Str),
        ),
        ("content".to_string(), parse_tool_content(&m.content)?),
    ]);
    let text = json::dumps(&Value::List(vec![result]))?;
    cx.push(cx.sp.results);
    cx.text(&text);
    cx.push(cx.sp.end_results);
    Ok(())
}
