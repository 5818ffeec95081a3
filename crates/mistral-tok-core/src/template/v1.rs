//! V1 (`tokenizer.model.v1`): no control tokens at all. A user turn is the single text
//! `"[INST] {content} [/INST]"` (the brackets are plain text), the system prompt goes into the
//! first user turn, and tools do not exist.

use super::{
    describe_assistant, has_content, has_tool_calls, unsupported_chunk, Ctx, UserPosition,
};
use crate::error::{Error, Result};
use crate::request::instruct::{AssistantMessage, Chunk, Content};

/// The content as the `str` V1/V2 assert it is.
fn text_content<'c>(content: &'c Content, what: &str) -> Result<&'c str> {
    match content {
        Content::Text(t) => Ok(t),
        Content::Chunks(chunks) => Err(chunks
            .iter()
            .find(|c| !matches!(c, Chunk::Text(_) | Chunk::Think { .. }))
            .map_or_else(
                || {
                    Error::Request(format!(
                        "{what} content must be a string for this tokenizer"
                    ))
                },
                unsupported_chunk,
            )),
    }
}

pub(super) fn user_message(
    cx: &mut Ctx<'_>,
    content: &Content,
    system_prompt: Option<&str>,
    pos: UserPosition,
) -> Result<()> {
    let content = text_content(content, "User message")?;
    let text = match system_prompt.filter(|s| !s.is_empty()) {
        Some(sp) if pos.is_first => format!("[INST] {sp}\n\n{content} [/INST]"),
        _ => format!("[INST] {content} [/INST]"),
    };
    cx.text(&text);
    Ok(())
}

/// `InstructTokenizerV1.encode_user_content` (used by V2 for `str` content; V3+ for strings too):
/// one segment, with the system prompt in front when this is the last user message.
pub(super) fn user_content(
    cx: &mut Ctx<'_>,
    content: &Content,
    system_prompt: Option<&str>,
    is_last: bool,
) -> Result<()> {
    let content = text_content(content, "User message")?;
    match system_prompt.filter(|s| !s.is_empty()) {
        Some(sp) if is_last => cx.text(&format!("{sp}\n\n{content}")),
        _ => cx.text(content),
    }
    Ok(())
}

pub(super) fn assistant_message(cx: &mut Ctx<'_>, m: &AssistantMessage) -> Result<()> {
    if has_tool_calls(&m.tool_calls) {
        return Err(Error::Request(
            "Tools not implemented for tokenizer V1".to_string(),
        ));
    }
    match &m.content {
        Some(content) if has_content(&m.content) => {
            // No stripping in V1: trailing spaces are encoded.
            let text = text_content(content, "Assistant message")?;
            cx.text(text);
        }
        _ => {
            return Err(Error::Request(format!(
                "Invalid assistant message: {}",
                describe_assistant(m)
            )))
        }
    }
    if !m.prefix {
        cx.eos();
    }
    Ok(())
}
