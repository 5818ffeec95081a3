//! Instruct templates: a normalized request to token ids, one module per tokenizer version.

pub mod json;
