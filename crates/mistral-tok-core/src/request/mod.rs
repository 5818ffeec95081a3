//! Chat requests: parsing (`ChatCompletionRequest.from_openai` + pydantic validation), the
//! version-specific validators and normalizers, and the normalized [`instruct::InstructRequest`]
//! the templates consume.
//!
//! Pipeline: [`read::read`] (what the caller gave, [`given::Given`], to JSON-shaped values) →
//! [`parse::parse_request`] → [`validate::validate`] → [`normalize::normalize`].

pub mod given;
pub mod instruct;
pub(crate) mod normalize;
pub(crate) mod parse;
pub mod read;
pub mod regex;
pub(crate) mod schema;
pub(crate) mod validate;

#[cfg(test)]
mod tests;
