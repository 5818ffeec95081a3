//! Chat requests to token ids: parse → validate → normalize → per-version template, the same
//! steps as mistral_common's `encode_chat_completion(ChatCompletionRequest.from_openai(...))`.

use crate::error::{Error, Result};
use crate::request::instruct::InstructRequest;
use crate::request::{normalize, parse, validate};
use crate::tokenizer::{Tokenizer, TokenizerVersion};
use crate::value::Value;

/// The normalized request for `tokenizer`'s version, or the error mistral_common would raise
/// before encoding.
pub fn instruct_request(
    tokenizer: &Tokenizer,
    messages: &Value,
    tools: Option<&Value>,
    fields: &[(String, Value)],
    continue_final_message: bool,
) -> Result<InstructRequest> {
    let request = parse::parse_request(messages, tools, fields, continue_final_message)?;
    prepare(
        request,
        tokenizer.version(),
        tokenizer.model_settings_builder(),
    )
}

/// Validation and normalization of a parsed request for `version` (`settings_builder`: the
/// tokenizer file's `model_settings_builder`, v15).
pub fn prepare(
    request: parse::ChatCompletionRequest,
    version: TokenizerVersion,
    settings_builder: Option<&serde_json::Value>,
) -> Result<InstructRequest> {
    validate::validate(&request, version)?;
    if request.truncate_for_context_length {
        // `encode_chat_completion(request)` is called without `max_model_input_len`.
        return Err(Error::Request(
            "encoding a chat completion request with truncation, but no max model len was provided"
                .to_string(),
        ));
    }
    normalize::normalize(request, version, settings_builder)
}

/// `MistralTokenizer.encode_chat_completion(ChatCompletionRequest.from_openai(messages, tools,
/// continue_final_message=…, **fields)).tokens`.
pub fn encode_chat(
    tokenizer: &Tokenizer,
    messages: &Value,
    tools: Option<&Value>,
    fields: &[(String, Value)],
    continue_final_message: bool,
) -> Result<Vec<u32>> {
    let instruct = instruct_request(tokenizer, messages, tools, fields, continue_final_message)?;
    crate::template::encode_instruct(tokenizer, &instruct)
}

/// [`encode_chat`] plus the images it encoded, in order, with the size mistral_common used for
/// each (see [`crate::template::Encoded`]); `known_sizes` gives the size of `http…` images the
/// caller has already fetched (see [`crate::template::KnownImageSizes`]).
pub fn encode_chat_with_images(
    tokenizer: &Tokenizer,
    messages: &Value,
    tools: Option<&Value>,
    fields: &[(String, Value)],
    continue_final_message: bool,
    known_sizes: Option<&crate::template::KnownImageSizes>,
) -> Result<crate::template::Encoded> {
    let instruct = instruct_request(tokenizer, messages, tools, fields, continue_final_message)?;
    crate::template::encode_instruct_with_images(tokenizer, &instruct, known_sizes)
}
