//! V15 (tekken only): `[MODEL_SETTINGS] {…} [/MODEL_SETTINGS]` after the tools block on the first
//! user message; think chunks are refused in system messages.

use super::{json, v7, Ctx};
use crate::error::{Error, Result};
use crate::request::instruct::{Chunk, Content, ModelSettings};
use crate::value::Value;

/// `_encode_settings`: `model_dump(exclude_none=True)` with the top-level keys sorted
/// (`json_schema` < `reasoning_effort`); nothing when every setting is `None`.
pub(super) fn settings(cx: &mut Ctx<'_>, settings: &ModelSettings) -> Result<()> {
    if !cx.target.has_settings_builder {
        return Err(Error::Request(format!(
            "Tokenizer {} needs a `model_settings_builder`.",
            cx.version()
        )));
    }
    if settings.is_none() {
        return Ok(());
    }
    let mut items = Vec::with_capacity(2);
    if let Some(schema) = &settings.json_schema {
        items.push(("json_schema".to_string(), schema.clone()));
    }
    if let Some(effort) = settings.reasoning_effort {
        items.push((
            "reasoning_effort".to_string(),
            Value::Str(effort.as_str().to_string()),
        ));
    }
    let text = json::dumps(&Value::Dict(items))?;
    let (begin, end) = cx.sp.settings;
    cx.push(begin);
    cx.text(&text);
    cx.push(end);
    Ok(())
}

pub(super) fn system_message(cx: &mut Ctx<'_>, content: &Content) -> Result<()> {
    if let Content::Chunks(chunks) = content {
        if chunks.iter().any(|c| matches!(c, Chunk::Think { .. })) {
            return Err(Error::Request(
                "ThinkChunk in system message is not supported for this model".to_string(),
            ));
        }
    }
    v7::system_message(cx, content)
}
