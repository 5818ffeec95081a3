//! V11: each tool call is its own block, `[TOOL_CALLS] name [CALL_ID] id [ARGS] arguments`, with
//! only the arguments as JSON.

use super::{json, real_call_id, Ctx};
use crate::error::Result;
use crate::request::instruct::ToolCall;

pub(super) fn tool_calls(cx: &mut Ctx<'_>, calls: &[ToolCall]) -> Result<()> {
    for call in calls {
        let args = json::dumps(&json::loads_or_str(&call.arguments)?)?;
        cx.push(cx.sp.calls);
        cx.text(&call.name);
        if let Some(id) = real_call_id(&call.id) {
            cx.push(cx.sp.call_id);
            cx.text(id);
        }
        cx.push(cx.sp.args);
        cx.text(&args);
    }
    Ok(())
}
