//! Chat requests to token ids: parse → validate → normalize → per-version template, the same
//! steps as mistral_common's `encode_chat_completion(ChatCompletionRequest.from_openai(...),
//! max_model_input_len)`.

pub mod surrogates;

pub use surrogates::Readings;

use crate::error::{Error, Result};
use crate::request::given::Given;
use crate::request::instruct::InstructRequest;
use crate::request::read::{self, Met, Spelling};
use crate::request::regex::RegexVerdicts;
use crate::request::{normalize, parse, validate};
use crate::template::{Encoded, ImageOptions};
use crate::tokenizer::{Tokenizer, TokenizerVersion};
use crate::value::Value;

/// A chat request in `ChatCompletionRequest.from_openai` form, plus the `max_model_input_len`
/// argument of `encode_chat_completion`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The OpenAI-format message list.
    pub messages: Value,
    /// The OpenAI-format tool list (`None`: no `tools` argument, or `tools=None`).
    pub tools: Option<Value>,
    /// The other request fields (`temperature`, `truncate_for_context_length`, …), in call order.
    pub fields: Vec<(String, Value)>,
    pub continue_final_message: bool,
    /// Used only when the field `truncate_for_context_length` is true, and then required: the
    /// conversation is truncated to this many tokens (BOS not counted) by dropping whole turns
    /// from the front (V7+; V1–V3 ignore it).
    pub max_model_input_len: Option<i64>,
    /// The host's `re.compile` verdicts for the regexes in tool and response-format schemas.
    pub regexes: RegexVerdicts,
}

/// `encode_chat`'s arguments as the caller gave them (see [`Given`]); [`Readings::read`] applies
/// the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct GivenRequest {
    pub messages: Given,
    /// `None` for no `tools` argument (`tools=None` is [`Given::Null`]).
    pub tools: Option<Given>,
    /// `None` when the keyword was not passed (an explicit `None` is an error, as
    /// mistral_common's `TypeAdapter(bool)` makes it).
    pub continue_final_message: Option<Given>,
    /// The other keyword arguments, in call order.
    pub fields: Vec<(String, Given)>,
    pub max_model_input_len: Given,
    /// The host's `re.compile` verdicts, recorded while converting (see [`RegexVerdicts`]).
    pub regexes: RegexVerdicts,
}

impl GivenRequest {
    /// A request of `messages` with no tools, no fields and no options.
    pub fn new(messages: Given) -> Self {
        GivenRequest {
            messages,
            tools: None,
            continue_final_message: None,
            fields: Vec::new(),
            max_model_input_len: Given::Null,
            regexes: RegexVerdicts::default(),
        }
    }
}

impl ChatRequest {
    /// The request `given` is, with lone surrogates spelled as `spelling` says, and what reading
    /// met. `max_model_input_len` is checked first (a `TypeError` at the call), then the
    /// arguments in order.
    pub fn read(given: &GivenRequest, spelling: Spelling) -> Result<(ChatRequest, Met)> {
        let max_model_input_len = read::max_model_input_len(&given.max_model_input_len)?;
        let mut met = Met::default();
        let messages = read::read(&given.messages, "messages", spelling, &mut met)?;
        let tools = match &given.tools {
            None | Some(Given::Null) => None,
            Some(t) => Some(read::read(t, "tools", spelling, &mut met)?),
        };
        let continue_final_message = match &given.continue_final_message {
            None => false,
            Some(c) => {
                let v = read::read(c, "continue_final_message", spelling, &mut met)?;
                parse::lax_bool(&v, "continue_final_message")?
            }
        };
        let mut fields = Vec::with_capacity(given.fields.len());
        for (name, v) in &given.fields {
            if name == "continue_final_message" {
                continue;
            }
            fields.push((name.clone(), read::read(v, name, spelling, &mut met)?));
        }
        let request = ChatRequest {
            messages,
            tools,
            fields,
            continue_final_message,
            max_model_input_len,
            regexes: given.regexes.clone(),
        };
        Ok((request, met))
    }

    /// A request of `messages` with no tools, no fields and no options.
    pub fn new(messages: Value) -> Self {
        ChatRequest {
            messages,
            tools: None,
            fields: Vec::new(),
            continue_final_message: false,
            max_model_input_len: None,
            regexes: RegexVerdicts::default(),
        }
    }

    /// The normalized request for `tokenizer`'s version, or the error mistral_common would raise
    /// before encoding.
    pub fn instruct_request(&self, tokenizer: &Tokenizer) -> Result<InstructRequest> {
        let request = parse::parse_request(
            &self.messages,
            self.tools.as_ref(),
            &self.fields,
            self.continue_final_message,
            &self.regexes,
        )?;
        prepare(
            request,
            tokenizer.version(),
            tokenizer.model_settings_builder(),
            self.max_model_input_len,
        )
    }

    /// `MistralTokenizer.encode_chat_completion(ChatCompletionRequest.from_openai(messages,
    /// tools, continue_final_message=…, **fields), max_model_input_len).tokens`.
    pub fn encode(&self, tokenizer: &Tokenizer) -> Result<Vec<u32>> {
        self.encode_with_images(tokenizer, ImageOptions::default())
            .map(|e| e.ids)
    }

    /// [`ChatRequest::encode`] plus the images it encoded, in order, with the size
    /// mistral_common used for each (see [`Encoded`]); `options` gives the size of `http…`
    /// images the caller has already fetched and says whether image data is checked (see
    /// [`ImageOptions`]).
    pub fn encode_with_images(
        &self,
        tokenizer: &Tokenizer,
        options: ImageOptions<'_>,
    ) -> Result<Encoded> {
        let instruct = self.instruct_request(tokenizer)?;
        crate::template::encode_instruct_with_images(tokenizer, &instruct, options)
    }
}

/// Validation and normalization of a parsed request for `version` (`settings_builder`: the
/// tokenizer file's `model_settings_builder`, v15), in `encode_chat_completion`'s order: the
/// missing `max_model_input_len` is reported after validation errors and before normalization
/// errors.
pub fn prepare(
    request: parse::ChatCompletionRequest,
    version: TokenizerVersion,
    settings_builder: Option<&serde_json::Value>,
    max_model_input_len: Option<i64>,
) -> Result<InstructRequest> {
    validate::validate(&request, version)?;
    let truncate = request.truncate_for_context_length;
    if truncate && max_model_input_len.is_none() {
        return Err(Error::Request(
            "encoding a chat completion request with truncation, but no max model len was provided"
                .to_string(),
        ));
    }
    let mut instruct = normalize::normalize(request, version, settings_builder)?;
    if truncate {
        instruct.truncate_at_max_tokens = max_model_input_len;
    }
    Ok(instruct)
}

#[cfg(test)]
mod tests;
