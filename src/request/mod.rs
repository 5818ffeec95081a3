//! Chat requests: parsing (`ChatCompletionRequest.from_openai` + pydantic validation), the
//! version-specific validators and normalizers, and the normalized [`instruct::InstructRequest`]
//! the templates consume.
//!
//! Pipeline: [`parse::parse_request`] → [`validate::validate`] → [`normalize::normalize`].

pub mod instruct;
pub mod normalize;
pub mod parse;
pub mod schema;
pub mod validate;

#[cfg(test)]
mod tests;
