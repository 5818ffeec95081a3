//! Chat requests: parsing (`ChatCompletionRequest.from_openai` + pydantic validation), the
//! version-specific validators and normalizers, and the normalized [`instruct::InstructRequest`]
//! the templates consume.

pub mod instruct;
