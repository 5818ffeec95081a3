//! Instruct templates: a normalized [`InstructRequest`] to token ids, as mistral_common's
//! `InstructTokenizerV1` … `InstructTokenizerV15` `encode_instruct` write them.
//!
//! mistral_common builds each version by subclassing the previous one and overriding a few
//! methods. Here each version's file holds only the rules that version introduced, and
//! [`dispatch`](self) picks, per message kind, the function of the newest version at or below the
//! tokenizer's that defines it:
//!
//! | rule | V1 | V2 | V3 | V7 | V11 | V13 | V15 |
//! |---|---|---|---|---|---|---|---|
//! | user message | v1 | v2 | v2 | v2 | v2 | v2 (first user) | v2 + v15 settings |
//! | user content | v1 | v1 | v3 | v7 | v7 | v7 | v7 |
//! | assistant | v1 | v2 | v2 (history kept) | v7 | v7 | v7 | v7 |
//! | tool calls | – | v2 | v3 | v3 | v11 | v13 | v13 |
//! | tool result | – | v2 | v3 | v7 | v7 | v13 | v13 |
//! | system message | – | – | – | v7 | v7 | v7 | v15 |
//! | think chunk | – | – | – | – | – | v13 | v13 |
//! | truncation | – | – | – | v7 | v7 | v7 | v7 |
//!
//! Every piece of text is encoded by its own `encode_into` call: for SentencePiece each segment
//! gets its own dummy-prefix `▁`, and tekken never merges across segments, so segment boundaries
//! are part of the output. Special tokens are looked up by their string in the loaded file, as
//! mistral_common does when it builds its instruct tokenizer (tekken fails on a missing one,
//! SentencePiece answers `<unk>`'s id).

mod audio;
pub(crate) mod json;
mod v1;
mod v11;
mod v13;
mod v15;
mod v2;
mod v3;
mod v7;

use std::ops::Range;

use crate::audio::{AudioInput, ChunkTokens};
use crate::error::{Error, Result};
use crate::request::instruct::{
    AssistantMessage, Chunk, Content, InstructRequest, Message, ToolCall, ToolMessage, UserMessage,
};
use crate::tokenizer::{ImageConfig, TextTokenizer, Tokenizer, TokenizerKind, TokenizerVersion};
pub use audio::AudioOptions;
use audio::AudioSection;
use mistral_tok_image::{ImageGrid, ImageInput, ImageTokenIds};

/// `MistralTokenizer.encode_chat_completion(...).tokens` for an already normalized request.
pub fn encode_instruct(tokenizer: &Tokenizer, request: &InstructRequest) -> Result<Vec<u32>> {
    encode_instruct_with_images(tokenizer, request, ImageOptions::default()).map(|e| e.ids)
}

/// Sizes of remote (`http…`) images the caller has already fetched, by URL. vLLM downloads every
/// image of a request before it tokenizes; mistral_common downloads it again to read its size.
/// With the size known, the native path needs no network I/O; without it, such a URL is
/// [`Error::Unsupported`].
pub type KnownImageSizes = std::collections::HashMap<String, (u32, u32)>;

/// How the images of a request are read.
#[derive(Debug, Clone, Copy)]
pub struct ImageOptions<'a> {
    /// Sizes of `http…` images the caller has fetched (see [`KnownImageSizes`]).
    pub known_sizes: Option<&'a KnownImageSizes>,
    /// Decode what PIL's load decodes where that decides acceptance (PNG image data), so that
    /// corrupt or cut image data is refused as mistral_common refuses it. `false` only for
    /// callers that have loaded every image with PIL themselves and vouch that it succeeded: a
    /// PNG with corrupt image data, or ending inside it, is then accepted. (vLLM's media loading
    /// does not vouch for it: see `mistral_tok_image`.)
    pub check_pixels: bool,
}

impl Default for ImageOptions<'_> {
    fn default() -> Self {
        ImageOptions {
            known_sizes: None,
            check_pixels: true,
        }
    }
}

/// The ids, and the images in the order mistral_common encodes them (`Tokenized.images`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    /// One grid per image chunk, in encoding order (user messages with a trailing image moved
    /// first). As in mistral_common, images of messages dropped by `truncate_at_max_tokens` stay
    /// in this list.
    pub images: Vec<ImageGrid>,
}

/// [`encode_instruct`] plus the size and token grid of every image it encoded, for callers that
/// build the pixel inputs (`ImageGrid::resized_width` × `resized_height` is what mistral_common
/// resizes each image to).
pub fn encode_instruct_with_images(
    tokenizer: &Tokenizer,
    request: &InstructRequest,
    options: ImageOptions<'_>,
) -> Result<Encoded> {
    encode_instruct_with_media(tokenizer, request, options, AudioOptions::default()).map(|(e, _)| e)
}

/// [`encode_instruct_with_images`] that also reads `http(s)` audio through `audio` and returns
/// the counts of every audio chunk it encoded, in order.
pub fn encode_instruct_with_media(
    tokenizer: &Tokenizer,
    request: &InstructRequest,
    options: ImageOptions<'_>,
    audio: AudioOptions<'_>,
) -> Result<(Encoded, Vec<ChunkTokens>)> {
    let target = Target {
        version: tokenizer.version(),
        kind: tokenizer.kind(),
        has_settings_builder: tokenizer.model_settings_builder().is_some(),
        image: tokenizer.image().copied(),
        audio: AudioSection::of(tokenizer),
    };
    encode_with_media(tokenizer.text(), target, request, options, audio)
}

/// What the templates need to know about the tokenizer file besides its text tokenizer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub version: TokenizerVersion,
    pub kind: TokenizerKind,
    pub has_settings_builder: bool,
    /// The file's image settings: `None` means mistral_common built no image encoder.
    pub image: Option<ImageConfig>,
    pub audio: AudioSection,
}

/// The special-token ids an instruct tokenizer resolves when it is built. Ids a version never
/// resolves stay 0 and are never read by that version's rules.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Specials {
    pub inst: u32,
    pub end_inst: u32,
    pub tools: u32,
    pub end_tools: u32,
    pub results: u32,
    pub end_results: u32,
    pub calls: u32,
    pub system: u32,
    pub end_system: u32,
    pub tool_content: u32,
    pub args: u32,
    pub call_id: u32,
    /// `[THINK]`, `[/THINK]`: optional even for V13+ (both or neither).
    pub think: Option<(u32, u32)>,
    /// `[MODEL_SETTINGS]`, `[/MODEL_SETTINGS]` (V15).
    pub settings: (u32, u32),
}

impl Specials {
    /// Resolves in the order of mistral_common's constructors, so a file missing several tokens
    /// reports the same one first.
    fn resolve(text: &dyn TextTokenizer, target: Target) -> Result<Specials> {
        let mut s = Specials::default();
        let v = target.version;
        if v == TokenizerVersion::V1 {
            return Ok(s);
        }
        let id = |name: &str| text.special_token_id(name);
        s.inst = id("[INST]")?;
        s.end_inst = id("[/INST]")?;
        s.tools = id("[AVAILABLE_TOOLS]")?;
        s.end_tools = id("[/AVAILABLE_TOOLS]")?;
        s.results = id("[TOOL_RESULTS]")?;
        s.end_results = id("[/TOOL_RESULTS]")?;
        s.calls = id("[TOOL_CALLS]")?;
        id("<s>")?;
        id("[PREFIX]")?;
        id("[SUFFIX]")?;
        if v >= TokenizerVersion::V7 {
            s.system = id("[SYSTEM_PROMPT]")?;
            s.end_system = id("[/SYSTEM_PROMPT]")?;
            s.tool_content = id("[TOOL_CONTENT]")?;
        }
        if v >= TokenizerVersion::V11 {
            s.args = id("[ARGS]")?;
            s.call_id = id("[CALL_ID]")?;
        }
        if v >= TokenizerVersion::V13 {
            if target.kind != TokenizerKind::Tekken {
                return Err(Error::Request(format!(
                    "Tokenizer must be a Tekkenizer for instruct version {v}"
                )));
            }
            s.think = match (id("[THINK]"), id("[/THINK]")) {
                (Ok(a), Ok(b)) => Some((a, b)),
                _ => None,
            };
        }
        if v >= TokenizerVersion::V15 {
            s.settings = (id("[MODEL_SETTINGS]")?, id("[/MODEL_SETTINGS]")?);
        }
        Ok(s)
    }
}

/// The state of one encoding: the output ids and what the rules need to write them.
pub(crate) struct Ctx<'a> {
    pub tok: &'a dyn TextTokenizer,
    pub target: Target,
    pub sp: Specials,
    pub out: Vec<u32>,
    pub images: Vec<ImageGrid>,
    pub images_read: ImageOptions<'a>,
    pub audios: Vec<ChunkTokens>,
    pub audio_read: AudioOptions<'a>,
    /// The first text the tokenizer refused (see [`Ctx::text`]), reported after its message.
    pub failed: Option<Error>,
}

impl Ctx<'_> {
    pub fn version(&self) -> TokenizerVersion {
        self.target.version
    }

    /// One separately encoded text segment. A refusal (tiktoken's regex limit) is kept rather
    /// than returned so that the rules stay infallible; [`encode_instruct`] reports it after the
    /// message that contains it, where mistral_common would have raised.
    pub fn text(&mut self, s: &str) {
        if self.failed.is_none() {
            if let Err(e) = self.tok.encode_into(s, &mut self.out) {
                self.failed = Some(e);
            }
        }
    }

    pub fn push(&mut self, id: u32) {
        self.out.push(id);
    }

    pub fn eos(&mut self) {
        let eos = self.tok.eos_id();
        self.out.push(eos);
    }

    /// One content chunk as `_encode_content_chunk` writes it (V3+).
    pub fn chunk(&mut self, chunk: &Chunk) -> Result<()> {
        match chunk {
            Chunk::Text(t) => {
                self.text(t);
                Ok(())
            }
            Chunk::Think { thinking, closed } => self.think(thinking, *closed),
            Chunk::ImageUrl { url, .. } => self.image(ImageInput::Url(url)),
            Chunk::Image(crate::value::Value::Str(s)) => self.image(ImageInput::Base64(s)),
            Chunk::Audio(crate::value::Value::Str(s)) => self.audio(AudioInput::Base64(s)),
            Chunk::Audio(crate::value::Value::Lent(s)) => self.audio(AudioInput::Base64(s)),
            Chunk::Audio(crate::value::Value::Bytes { data, .. }) => {
                self.audio(AudioInput::Bytes(data))
            }
            Chunk::AudioUrl(url) => self.audio(AudioInput::Url(url)),
            other => Err(unsupported_chunk(other)),
        }
    }

    pub fn chunks(&mut self, chunks: &[Chunk]) -> Result<()> {
        chunks.iter().try_for_each(|c| self.chunk(c))
    }

    /// `ImageEncoder.__call__`: the `[IMG]` grid of the image's size, written in place.
    pub fn image(&mut self, input: ImageInput<'_>) -> Result<()> {
        if self.failed.is_some() {
            // mistral_common stopped at the earlier text; that error is reported for the message.
            return Ok(());
        }
        let Some(config) = self.target.image else {
            return Err(Error::Request(
                "Make sure to define a image encoder at init".to_string(),
            ));
        };
        // Resolved as `load_image_encoder` does (tekken fails on a missing token).
        let ids = ImageTokenIds {
            img: self.tok.special_token_id("[IMG]")?,
            img_break: self.tok.special_token_id("[IMG_BREAK]")?,
            img_end: self.tok.special_token_id("[IMG_END]")?,
        };
        let known = match input {
            ImageInput::Url(url) if url.starts_with("http") => self
                .images_read
                .known_sizes
                .and_then(|k| k.get(url))
                .copied(),
            _ => None,
        };
        let grid = match known {
            Some((w, h)) => mistral_tok_image::image_grid(&config, w, h)?,
            None => mistral_tok_image::image_layout(input, &config, self.images_read.check_pixels)?,
        };
        grid.push_tokens(ids, &mut self.out);
        self.images.push(grid);
        Ok(())
    }

    /// `encode_think`: V13+ only.
    pub fn think(&mut self, thinking: &str, closed: bool) -> Result<()> {
        if self.version() < TokenizerVersion::V13 {
            return Err(Error::Request(
                "Think not implemented for tokenizer < V13.".to_string(),
            ));
        }
        v13::think(self, thinking, closed)
    }
}

/// The error for a chunk kind the native path does not encode (audio, images given as
/// something else than a string).
pub(crate) fn unsupported_chunk(chunk: &Chunk) -> Error {
    match chunk {
        Chunk::Image(_) | Chunk::ImageUrl { .. } => Error::Unsupported(format!(
            "this image ({}) is not encoded natively; use mistral_common for this request",
            chunk.class_name()
        )),
        Chunk::Audio(_) | Chunk::AudioUrl(_) => Error::Unsupported(format!(
            "audio ({}) is not encoded natively; use mistral_common for this request",
            chunk.class_name()
        )),
        Chunk::Text(_) | Chunk::Think { .. } => {
            Error::Internal(format!("{} reported as unsupported", chunk.class_name()))
        }
    }
}

/// Python truthiness of an optional content.
pub(crate) fn has_content(content: &Option<Content>) -> bool {
    content.as_ref().is_some_and(|c| !c.is_empty())
}

pub(crate) fn has_tool_calls(calls: &Option<Vec<ToolCall>>) -> bool {
    calls.as_ref().is_some_and(|c| !c.is_empty())
}

/// Python truthiness of a tool-call id that mistral_common writes (`id and id != "null"`).
pub(crate) fn real_call_id(id: &str) -> Option<&str> {
    (!id.is_empty() && id != "null").then_some(id)
}

/// A short Python-like rendering of an assistant message, for the error messages that print one.
pub(crate) fn describe_assistant(m: &AssistantMessage) -> String {
    let content = match &m.content {
        None => "None".to_string(),
        Some(Content::Text(s)) => format!("{s:?}").replace('"', "'"),
        Some(Content::Chunks(c)) => format!("[{} chunks]", c.len()),
    };
    let calls = match &m.tool_calls {
        None => "None".to_string(),
        Some(c) => format!("[{} tool calls]", c.len()),
    };
    let prefix = if m.prefix { "True" } else { "False" };
    format!("role='assistant' content={content} tool_calls={calls} prefix={prefix}")
}

#[cfg(test)]
pub(crate) fn encode_with(
    tok: &dyn TextTokenizer,
    target: Target,
    request: &InstructRequest,
) -> Result<Vec<u32>> {
    encode_with_images(tok, target, request, ImageOptions::default()).map(|e| e.ids)
}

#[cfg(test)]
pub(crate) fn encode_with_images(
    tok: &dyn TextTokenizer,
    target: Target,
    request: &InstructRequest,
    images_read: ImageOptions<'_>,
) -> Result<Encoded> {
    encode_with_media(tok, target, request, images_read, AudioOptions::default()).map(|(e, _)| e)
}

fn encode_with_media(
    tok: &dyn TextTokenizer,
    target: Target,
    request: &InstructRequest,
    images_read: ImageOptions<'_>,
    audio_read: AudioOptions<'_>,
) -> Result<(Encoded, Vec<ChunkTokens>)> {
    let sp = Specials::resolve(tok, target)?;
    let mut cx = Ctx {
        tok,
        target,
        sp,
        out: Vec::with_capacity(256),
        images: Vec::new(),
        images_read,
        audios: Vec::new(),
        audio_read,
        failed: None,
    };
    let version = target.version;
    let messages = &request.messages;

    if version == TokenizerVersion::V2 {
        v2::validate_tool_results(messages)?;
    }
    if matches!(version, TokenizerVersion::V7 | TokenizerVersion::V11) {
        v7::validate_messages(messages)?;
    }

    let (first_user, last_user) = first_last_user(messages);
    cx.out.push(tok.bos_id());
    let mut spans: Vec<Range<usize>> = Vec::with_capacity(messages.len());
    for (idx, msg) in messages.iter().enumerate() {
        let start = cx.out.len();
        let before_last_user = last_user.is_some_and(|l| idx < l);
        match msg {
            Message::User(m) => {
                let pos = UserPosition {
                    is_first: Some(idx) == first_user,
                    is_last: Some(idx) == last_user,
                };
                user_message(&mut cx, m, request, pos)?;
            }
            Message::Assistant(m) => {
                assistant_message(&mut cx, m, before_last_user)?;
                if m.prefix && idx + 1 != messages.len() {
                    return Err(Error::Request(
                        "Assistant message with prefix True must be last message".to_string(),
                    ));
                }
            }
            Message::Tool(m) => tool_message(&mut cx, m, before_last_user)?,
            Message::System(m) => match version {
                TokenizerVersion::V1 | TokenizerVersion::V2 | TokenizerVersion::V3 => {
                    return Err(Error::Request(format!(
                        "System message encoding not implemented for InstructTokenizer{}",
                        version.to_string().to_uppercase()
                    )));
                }
                TokenizerVersion::V15 => v15::system_message(&mut cx, &m.content)?,
                _ => v7::system_message(&mut cx, &m.content)?,
            },
        }
        if let Some(e) = cx.failed.take() {
            return Err(e);
        }
        spans.push(start..cx.out.len());
    }

    let ids = match request.truncate_at_max_tokens {
        Some(max) if version >= TokenizerVersion::V7 => {
            v7::truncate(cx.out, &spans, messages, max, last_user)?
        }
        _ => cx.out,
    };
    Ok((
        Encoded {
            ids,
            images: cx.images,
        },
        cx.audios,
    ))
}

fn first_last_user(messages: &[Message]) -> (Option<usize>, Option<usize>) {
    let is_user = |m: &Message| matches!(m, Message::User(_));
    (
        messages.iter().position(is_user),
        messages.iter().rposition(is_user),
    )
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct UserPosition {
    pub is_first: bool,
    pub is_last: bool,
}

fn user_message(
    cx: &mut Ctx<'_>,
    m: &UserMessage,
    request: &InstructRequest,
    pos: UserPosition,
) -> Result<()> {
    if cx.version() == TokenizerVersion::V1 {
        return v1::user_message(cx, &m.content, request.system_prompt.as_deref(), pos);
    }
    v2::user_message(cx, &m.content, request, pos)
}

/// `encode_user_content` of each version (the part between `[INST]` and `[/INST]`).
pub(crate) fn user_content(
    cx: &mut Ctx<'_>,
    content: &Content,
    system_prompt: Option<&str>,
    is_last: bool,
) -> Result<()> {
    match cx.version() {
        TokenizerVersion::V1 | TokenizerVersion::V2 => {
            v1::user_content(cx, content, system_prompt, is_last)
        }
        TokenizerVersion::V3 => v3::user_content(cx, content, system_prompt, is_last),
        _ => v7::user_content(cx, content),
    }
}

fn assistant_message(cx: &mut Ctx<'_>, m: &AssistantMessage, before_last_user: bool) -> Result<()> {
    match cx.version() {
        TokenizerVersion::V1 => v1::assistant_message(cx, m),
        TokenizerVersion::V2 => v2::assistant_message(cx, m, before_last_user),
        // V3 always encodes the tool-call history.
        TokenizerVersion::V3 => v2::assistant_message(cx, m, false),
        _ => v7::assistant_message(cx, m),
    }
}

/// `_encode_tool_calls_in_assistant_message` of each version.
pub(crate) fn tool_calls(cx: &mut Ctx<'_>, calls: &[ToolCall]) -> Result<()> {
    match cx.version() {
        TokenizerVersion::V1 => Err(Error::Request(
            "Tools not implemented for tokenizer V1".to_string(),
        )),
        TokenizerVersion::V2 | TokenizerVersion::V3 | TokenizerVersion::V7 => {
            v2::tool_calls_json(cx, calls)
        }
        TokenizerVersion::V11 => v11::tool_calls(cx, calls),
        TokenizerVersion::V13 | TokenizerVersion::V15 => v13::tool_calls(cx, calls),
    }
}

fn tool_message(cx: &mut Ctx<'_>, m: &ToolMessage, before_last_user: bool) -> Result<()> {
    match cx.version() {
        TokenizerVersion::V1 => Err(Error::Request(
            "Tools not implemented for tokenizer V1".to_string(),
        )),
        TokenizerVersion::V2 => v2::tool_message(cx, m, before_last_user),
        TokenizerVersion::V3 => v3::tool_message(cx, m),
        TokenizerVersion::V7 | TokenizerVersion::V11 => v7::tool_message(cx, m),
        TokenizerVersion::V13 | TokenizerVersion::V15 => v13::tool_message(cx, m),
    }
}

/// The model-settings part of the tools/settings block (`_encode_settings`).
pub(crate) fn settings(cx: &mut Ctx<'_>, request: &InstructRequest) -> Result<()> {
    if cx.version() == TokenizerVersion::V15 {
        return v15::settings(cx, &request.settings);
    }
    if cx.target.has_settings_builder {
        return Err(Error::Request(
            "`model_settings_builder` not supported for this version.".to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
