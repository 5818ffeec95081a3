//! Python `str` → Rust `&str`, with tiktoken's and sentencepiece's answers to lone surrogates.

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::PyString;

use super::errors::MistralTokError;
use crate::tokenizer::TokenizerKind;

/// Owns the UTF-8 of `text`. A str with lone surrogates cannot be UTF-8: tiktoken (tekken) retries
/// with `text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")`, which turns each
/// lone surrogate into U+FFFD and pairs adjacent high+low surrogates; sentencepiece raises.
pub(crate) fn owned_text<'a>(
    text: &'a Bound<'_, PyString>,
    kind: TokenizerKind,
) -> PyResult<Cow<'a, str>> {
    match text.to_cow() {
        Ok(s) => Ok(s),
        Err(_) if kind == TokenizerKind::Tekken => {
            let repaired = text
                .call_method1("encode", ("utf-16", "surrogatepass"))?
                .call_method1("decode", ("utf-16", "replace"))?;
            Ok(Cow::Owned(
                repaired.cast_into::<PyString>()?.to_cow()?.into_owned(),
            ))
        }
        Err(_) => Err(MistralTokError::new_err(
            "text contains a lone surrogate (a str that is not valid Unicode); SentencePiece \
             tokenizers cannot encode it",
        )),
    }
}
