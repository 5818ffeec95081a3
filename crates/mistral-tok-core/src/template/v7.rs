//! V7: system messages are their own `[SYSTEM_PROMPT]` blocks where they appear (no merged
//! system prompt), an assistant message may hold text and tool calls together, tool results are
//! `[TOOL_RESULTS] id [TOOL_CONTENT] content [/TOOL_RESULTS]` with the raw content, and
//! `truncate_at_max_tokens` is honoured.

use std::ops::Range;

use super::v3::image_first;
use super::{describe_assistant, has_content, has_tool_calls, tool_calls, unsupported_chunk, Ctx};
use crate::error::{Error, Result};
use crate::request::instruct::{AssistantMessage, Chunk, Content, Message, ToolMessage};

/// `validate_messages` of V7/V11: audio in a user message excludes system messages.
pub(super) fn validate_messages(messages: &[Message]) -> Result<()> {
    let has_audio = messages.iter().any(|m| match m {
        Message::User(u) => match &u.content {
            Content::Chunks(c) => c.iter().any(|c| matches!(c, Chunk::Audio(_))),
            Content::Text(_) => false,
        },
        _ => false,
    });
    if has_audio && messages.iter().any(|m| matches!(m, Message::System(_))) {
        return Err(Error::Request(
            "System messages are not yet allowed when audio is present".to_string(),
        ));
    }
    Ok(())
}

/// `[SYSTEM_PROMPT] chunks [/SYSTEM_PROMPT]`; a string is one text chunk.
pub(super) fn system_message(cx: &mut Ctx<'_>, content: &Content) -> Result<()> {
    cx.push(cx.sp.system);
    match content {
        Content::Text(t) => cx.text(t),
        Content::Chunks(chunks) => {
            for chunk in chunks {
                match chunk {
                    Chunk::Image(_) | Chunk::ImageUrl { .. } => {
                        return Err(Error::Request(
                            "System messages cannot contain images.".to_string(),
                        ))
                    }
                    other => cx.chunk(other)?,
                }
            }
        }
    }
    cx.push(cx.sp.end_system);
    Ok(())
}

/// V7+ user content: a string is one segment; a chunk list is encoded chunk by chunk (trailing
/// image moved first).
pub(super) fn user_content(cx: &mut Ctx<'_>, content: &Content) -> Result<()> {
    match content {
        Content::Text(t) => cx.text(t),
        Content::Chunks(chunks) => {
            for chunk in image_first(chunks) {
                cx.chunk(chunk)?;
            }
        }
    }
    Ok(())
}

/// V7+ assistant: text (`rstrip(" ")` for a string, chunk by chunk for a list), then tool calls,
/// then EOS unless `prefix`.
pub(super) fn assistant_message(cx: &mut Ctx<'_>, m: &AssistantMessage) -> Result<()> {
    let with_calls = has_tool_calls(&m.tool_calls);
    if !has_content(&m.content) && !with_calls {
        return Err(Error::Request(format!(
            "Invalid assistant message: {}",
            describe_assistant(m)
        )));
    }
    match &m.content {
        Some(Content::Text(t)) => cx.text(t.trim_end_matches(' ')),
        Some(Content::Chunks(chunks)) => {
            for chunk in chunks {
                match chunk {
                    Chunk::Text(_) | Chunk::Think { .. } => cx.chunk(chunk)?,
                    other => return Err(unsupported_chunk(other)),
                }
            }
        }
        None => {}
    }
    if let Some(calls) = m.tool_calls.as_deref().filter(|_| with_calls) {
        tool_calls(cx, calls)?;
    }
    if !m.prefix {
        cx.eos();
    }
    Ok(())
}

/// V7/V11 tool result: `[TOOL_RESULTS] id [TOOL_CONTENT] content [/TOOL_RESULTS]`.
pub(super) fn tool_message(cx: &mut Ctx<'_>, m: &ToolMessage) -> Result<()> {
    let Some(id) = &m.tool_call_id else {
        return Err(Error::Request(
            "Tool message has to have the tool call id defined".to_string(),
        ));
    };
    let Content::Text(content) = &m.content else {
        return Err(Error::Request(
            "Tool message content must be a string for this tokenizer".to_string(),
        ));
    };
    cx.push(cx.sp.results);
    cx.text(id);
    cx.push(cx.sp.tool_content);
    cx.text(content);
    cx.push(cx.sp.end_results);
    Ok(())
}

/// `_truncate_for_max_tokens`: drop whole messages from the front until the messages (BOS not
/// counted) fit in `max_tokens`. System messages and the last user message are never dropped;
/// after a user message, everything up to the next user message goes too, without re-checking
/// the budget. `out` is BOS followed by the messages' `spans`.
pub(super) fn truncate(
    out: Vec<u32>,
    spans: &[Range<usize>],
    messages: &[Message],
    max_tokens: i64,
    last_user: Option<usize>,
) -> Result<Vec<u32>> {
    let total: usize = spans.iter().map(|r| r.len()).sum();
    // i128 holds any usize minus any i64 exactly, as Python's ints would.
    let mut to_drop = i128::try_from(total).unwrap_or(i128::MAX) - i128::from(max_tokens);
    let mut dropped = vec![false; messages.len()];
    let mut drop = |idx: usize, to_drop: &mut i128| {
        if matches!(messages.get(idx), Some(Message::System(_))) || Some(idx) == last_user {
            return;
        }
        if let (Some(span), Some(flag)) = (spans.get(idx), dropped.get_mut(idx)) {
            *to_drop -= span.len() as i128;
            *flag = true;
        }
    };
    let is_user = |idx: usize| matches!(messages.get(idx), Some(Message::User(_)));
    let mut idx = 0;
    while to_drop > 0 && idx < messages.len() {
        drop(idx, &mut to_drop);
        idx += 1;
        if is_user(idx - 1) {
            while idx < messages.len() && !is_user(idx) {
                drop(idx, &mut to_drop);
                idx += 1;
            }
        }
    }
    if to_drop > 0 {
        return Err(Error::Request(
            "Input couldn't fit in truncate_at_max_token".to_string(),
        ));
    }
    if !dropped.contains(&true) {
        return Ok(out);
    }
    let mut kept = Vec::with_capacity(out.len());
    kept.extend(out.first().copied());
    for (span, gone) in spans.iter().zip(&dropped) {
        if !gone {
            kept.extend_from_slice(out.get(span.clone()).unwrap_or_default());
        }
    }
    Ok(kept)
}
