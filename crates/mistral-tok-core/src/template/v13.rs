//! V13 (tekken only): tools on the first user message, no call ids in calls or results, think
//! chunks (`[THINK] … [/THINK]`).

use super::{json, real_call_id, Ctx};
use crate::error::{Error, Result};
use crate::request::instruct::{Content, ToolCall, ToolMessage};

/// `[TOOL_CALLS] name [ARGS] arguments` per call.
pub(super) fn tool_calls(cx: &mut Ctx<'_>, calls: &[ToolCall]) -> Result<()> {
    for call in calls {
        if real_call_id(&call.id).is_none() {
            return Err(Error::Request(format!(
                "Tool call id must be a non-empty string other than 'null' for tokenizer \
                 version 13 or newer, got {:?}",
                call.id
            )));
        }
        let args = json::dumps(&json::loads_or_str(&call.arguments)?)?;
        cx.push(cx.sp.calls);
        cx.text(&call.name);
        cx.push(cx.sp.args);
        cx.text(&args);
    }
    Ok(())
}

/// `[TOOL_RESULTS] content [/TOOL_RESULTS]`; a chunk list (V15) is encoded chunk by chunk.
pub(super) fn tool_message(cx: &mut Ctx<'_>, m: &ToolMessage) -> Result<()> {
    if m.tool_call_id.is_none() {
        return Err(Error::Request(
            "Tool call id must be provided for tokenizer >= v13".to_string(),
        ));
    }
    cx.push(cx.sp.results);
    match &m.content {
        Content::Text(t) => cx.text(t),
        Content::Chunks(chunks) => cx.chunks(chunks)?,
    }
    cx.push(cx.sp.end_results);
    Ok(())
}

/// `[THINK] thinking ([/THINK] if closed)`.
pub(super) fn think(cx: &mut Ctx<'_>, thinking: &str, closed: bool) -> Result<()> {
    let Some((begin, end)) = cx.sp.think else {
        return Err(Error::Request(
            "think tokens are not available for this tokenizer.".to_string(),
        ));
    };
    cx.push(begin);
    cx.text(thinking);
    if closed {
        cx.push(end);
    }
    Ok(())
}
