//! The normalized request the templates consume: mistral_common's `InstructRequest` after
//! `InstructRequestNormalizer*.from_chat_completion_request`.
//!
//! Everything here has already been parsed, validated and normalized for one tokenizer version,
//! so templates only decide *how* to write it, never *whether* it is allowed — except for the
//! checks mistral_common itself makes inside its instruct tokenizers (e.g. "Tools not implemented
//! for tokenizer V1", think chunks before V13), which stay with the templates.
//!
//! Shape guarantees given by the normalizer (so templates can rely on them):
//! - Consecutive user messages are merged into one; consecutive assistant messages into one.
//!   Tool messages are never merged (one [`ToolMessage`] per input tool message). System messages
//!   are never merged either (V7+); for V1–V3 they are removed from `messages` and joined into
//!   `system_prompt`.
//! - V1–V3: `messages` is non-empty and starts with a user message (an empty one is inserted).
//! - A content made only of text is [`Content::Text`]; [`Content::Chunks`] appears only when a
//!   non-text chunk (think, image, audio) is present, and then adjacent text chunks are already
//!   merged (no two [`Chunk::Text`] are adjacent and none is empty).
//! - Tool-call `arguments` are already JSON-normalized (`json.dumps(json.loads(a),
//!   ensure_ascii=False)`, `""` → `"{}"`, non-JSON kept verbatim). V1–V3 tool-message content is
//!   JSON-normalized the same way; V7+ keeps it raw.
//! - `continue_final_message=True` has been folded into `prefix = true` on the final assistant
//!   message (mistral_common 1.13.1 does the same; it has no separate flag any more).

use crate::value::{SharedText, Value};

/// `InstructRequest`: what the per-version templates encode.
#[derive(Debug, Clone, PartialEq)]
pub struct InstructRequest {
    pub messages: Vec<Message>,
    /// V1–V3 only: the `"\n\n"`-join of every non-empty system message. Always `None` for V7+.
    pub system_prompt: Option<String>,
    /// `request.tools` unchanged (`None` when the request had no `tools`, `Some(vec![])` for `[]`).
    pub available_tools: Option<Vec<Tool>>,
    /// Truncate the encoded conversation to this many tokens, BOS not counted (V7+ only; V1–V3
    /// ignore it). `None` unless the caller asked for truncation and gave a maximum length.
    /// Signed as mistral_common's `int` is: zero or less can never fit and is an error.
    pub truncate_at_max_tokens: Option<i64>,
    pub settings: ModelSettings,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    System(SystemMessage),
    User(UserMessage),
    Assistant(AssistantMessage),
    Tool(ToolMessage),
}

impl Message {
    /// The role as mistral_common spells it (`"system"`, `"user"`, `"assistant"`, `"tool"`).
    pub fn role(&self) -> &'static str {
        match self {
            Message::System(_) => "system",
            Message::User(_) => "user",
            Message::Assistant(_) => "assistant",
            Message::Tool(_) => "tool",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SystemMessage {
    pub content: Content,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserMessage {
    pub content: Content,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AssistantMessage {
    /// After normalization this is always `Some` (an assistant message with only tool calls has
    /// `Some(Content::Text(""))`, as mistral_common's aggregation returns `""`). `None` is kept
    /// representable because mistral_common's type allows it; templates treat `None` like empty.
    pub content: Option<Content>,
    /// `None` when no message of the merged group had tool calls (never `Some(vec![])`).
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The model continues this (final) message: no end-of-sequence token after it.
    pub prefix: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolMessage {
    /// Always [`Content::Text`] before V15; V15 may carry chunks.
    pub content: Content,
    pub tool_call_id: Option<String>,
    pub name: Option<String>,
}

/// Message content: a plain string or a list of chunks (see the module doc for when each occurs).
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text(String),
    Chunks(Vec<Chunk>),
}

impl Content {
    /// Python truthiness of the content (`""` and `[]` are false), as mistral_common tests it.
    pub fn is_empty(&self) -> bool {
        match self {
            Content::Text(s) => s.is_empty(),
            Content::Chunks(c) => c.is_empty(),
        }
    }

    /// The text when the content is a plain string.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Content::Text(s) => Some(s),
            Content::Chunks(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    /// `TextChunk`.
    Text(String),
    /// `ThinkChunk` (`type: "thinking"`). `closed` defaults to `true`.
    Think { thinking: String, closed: bool },
    /// `ImageChunk` (`type: "image"`): the image as the request gave it (a base64 string, with or
    /// without a `data:` URL prefix). Not encoded natively yet (templates return
    /// `Error::Unsupported`).
    Image(Value),
    /// `ImageURLChunk` (`type: "image_url"`): `url` (http(s), file or data URL) and optional
    /// `detail`. Not encoded natively yet.
    ImageUrl {
        url: SharedText,
        detail: Option<String>,
    },
    /// `AudioChunk` (`type: "input_audio"`): base64 text or `bytes`, as the request gave it.
    Audio(Value),
    /// `AudioURLChunk` (`type: "audio_url"`): a data, file or http(s) URL, or a path or base64.
    AudioUrl(SharedText),
}

impl Chunk {
    /// mistral_common's class name, for error messages such as
    /// "Unexpected content chunk types in user message: ['ImageChunk']".
    pub fn class_name(&self) -> &'static str {
        match self {
            Chunk::Text(_) => "TextChunk",
            Chunk::Think { .. } => "ThinkChunk",
            Chunk::Image(_) => "ImageChunk",
            Chunk::ImageUrl { .. } => "ImageURLChunk",
            Chunk::Audio(_) => "AudioChunk",
            Chunk::AudioUrl(_) => "AudioURLChunk",
        }
    }
}

/// `ToolCall` (its `type` is always `"function"`).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// `"null"` when the request gave no id (mistral_common's default).
    pub id: String,
    pub name: String,
    /// The arguments as the JSON text mistral_common keeps (already normalized, see module doc).
    pub arguments: String,
}

/// `Tool` with its `Function` (`type` is always `"function"`).
///
/// Templates serialise each tool as mistral_common's `tool.model_dump(exclude={"function":
/// {"strict": True}})`, i.e. `{"type": "function", "function": {"name": …, "description": …,
/// "parameters": …}}` in that key order; see [`Tool::dump`].
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    /// `""` when the request gave none (or `null`).
    pub description: String,
    /// A dict (`{}` when the request gave none or `null`), keys in the caller's order.
    pub parameters: Value,
    /// Parsed and kept for completeness; never serialised by the templates.
    pub strict: bool,
}

impl Tool {
    /// The value mistral_common serialises for this tool (see the type doc).
    pub fn dump(&self) -> Value {
        Value::Dict(vec![
            ("type".to_string(), Value::Str("function".to_string())),
            (
                "function".to_string(),
                Value::Dict(vec![
                    ("name".to_string(), Value::Str(self.name.clone())),
                    (
                        "description".to_string(),
                        Value::Str(self.description.clone()),
                    ),
                    ("parameters".to_string(), self.parameters.clone()),
                ]),
            ),
        ])
    }
}

/// `ReasoningEffort` (a `StrEnum`; serialised as its value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasoningEffort {
    None,
    Minimal,
    Low,
    Medium,
    High,
    XHigh,
    Max,
}

impl ReasoningEffort {
    pub const ALL: [ReasoningEffort; 7] = [
        ReasoningEffort::None,
        ReasoningEffort::Minimal,
        ReasoningEffort::Low,
        ReasoningEffort::Medium,
        ReasoningEffort::High,
        ReasoningEffort::XHigh,
        ReasoningEffort::Max,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::None => "none",
            ReasoningEffort::Minimal => "minimal",
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
            ReasoningEffort::XHigh => "xhigh",
            ReasoningEffort::Max => "max",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// `ModelSettings`: only V15 fills it (from the tokenizer file's `model_settings_builder`);
/// all `None` for V1–V13.
///
/// V15 writes `model_dump(exclude_none=True)` with the top-level keys sorted, i.e. `json_schema`
/// before `reasoning_effort`, the schema itself in its own key order; the block is omitted when
/// both are `None`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelSettings {
    pub reasoning_effort: Option<ReasoningEffort>,
    pub json_schema: Option<Value>,
}

impl ModelSettings {
    pub fn is_none(&self) -> bool {
        self.reasoning_effort.is_none() && self.json_schema.is_none()
    }
}
