//! V3: tool-call history is always kept, calls carry their `"id"`, results are
//! `{"content", "call_id"}` objects, and a user message may be a chunk list (images).

use super::v2::parse_tool_content;
use super::{json, Ctx};
use crate::error::{Error, Result};
use crate::request::instruct::{Chunk, Content, ToolMessage};
use crate::value::Value;

/// `_maybe_put_image_first`: `[text…, image]` becomes `[image, text…]`.
pub(super) fn image_first(chunks: &[Chunk]) -> Vec<&Chunk> {
    let is_image = |c: &Chunk| matches!(c, Chunk::Image(_) | Chunk::ImageUrl { .. });
    match chunks.split_last() {
        Some((last, rest))
            if !rest.is_empty()
                && is_image(last)
                && rest.iter().all(|c| matches!(c, Chunk::Text(_))) =>
        {
            std::iter::once(last).chain(rest).collect()
        }
        _ => chunks.iter().collect(),
    }
}

/// V3 user content: a string as V1 (one segment, system prompt in front on the last user
/// message); a chunk list with the system prompt as its own segment `SP + "\n\n"` before the
/// first chunk, then each chunk.
pub(super) fn user_content(
    cx: &mut Ctx<'_>,
    content: &Content,
    system_prompt: Option<&str>,
    is_last: bool,
) -> Result<()> {
    let chunks = match content {
        Content::Text(_) => return super::v1::user_content(cx, content, system_prompt, is_last),
        Content::Chunks(chunks) => chunks,
    };
    let ordered = image_first(chunks);
    if !ordered.is_empty() && is_last {
        if let Some(sp) = system_prompt.filter(|s| !s.is_empty()) {
            cx.text(&format!("{sp}\n\n"));
        }
    }
    for chunk in ordered {
        cx.chunk(chunk)?;
    }
    Ok(())
}

/// V3 tool result: `[TOOL_RESULTS] {"content": …, "call_id": …} [/TOOL_RESULTS]`, never dropped.
pub(super) fn tool_message(cx: &mut Ctx<'_>, m: &ToolMessage) -> Result<()> {
    let Some(id) = &m.tool_call_id else {
        return Err(Error::Request(
            "Tool message has to have the tool call id defined in v3".to_string(),
        ));
    };
    let result = Value::Dict(vec![
        ("content".to_string(), parse_tool_content(&m.content)?),
        ("call_id".to_string(), Value::Str(id.clone())),
    ]);
    let text = json::dumps(&result)?;
    cx.push(cx.sp.results);
    cx.text(&text);
    cx.push(cx.sp.end_results);
    Ok(())
}
