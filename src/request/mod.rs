//! Chat requests: parsing (`ChatCompletionRequest.from_openai` + pydantic validation), the
//! version-specific validators and normalizers, and the normalized [`instruct::InstructRequest`]
//! the templates consume.
//!
//! Pipeline: [`read::read`] (what the caller gave, [`given::Given`], to JSON-shaped values) →
//! [`parse::parse_request`] → [`validate::validate`] → [`normalize::normalize`].

pub mod given;
pub mod instruct;
pub mod normalize;
pub mod parse;
pub mod read;
pub mod regex;
pub mod schema;
pub mod validate;

#[cfg(test)]
mod tests;
