//! Python `str` → Rust `&str`, with tiktoken's and sentencepiece's answers to lone surrogates.

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::PyString;

use super::errors::to_pyerr;
use mistral_tok_core::request::given::Text;
use mistral_tok_core::tokenizer::TokenizerKind;

/// The UTF-8 of `text`, borrowed from the str object (`PyUnicode_AsUTF8AndSize`, in the limited
/// API since 3.10): CPython's own buffer for an ASCII str, else the UTF-8 copy it makes on the
/// first request and keeps with the str (as tiktoken's binding reads strings). An error for a
/// str with lone surrogates.
pub(crate) fn utf8<'a>(text: &'a Bound<'_, PyString>) -> PyResult<Cow<'a, str>> {
    text.to_str().map(Cow::Borrowed)
}

/// The text a tokenizer of `kind` encodes for `text` (see [`Wtf8::for_tokenizer`] for a str with
/// lone surrogates).
///
/// [`Wtf8::for_tokenizer`]: mistral_tok_core::request::given::Wtf8::for_tokenizer
pub(crate) fn owned_text<'a>(
    text: &'a Bound<'_, PyString>,
    kind: TokenizerKind,
) -> PyResult<Cow<'a, str>> {
    match utf8(text) {
        Ok(s) => Ok(s),
        Err(_) => match super::value::text(text)? {
            Text::Wtf8(w) => Ok(Cow::Owned(w.for_tokenizer(kind).map_err(to_pyerr)?)),
            Text::Utf8(s) => Ok(Cow::Owned(s)),
            Text::Lent(s) => Ok(Cow::Owned(s.to_string())),
        },
    }
}
