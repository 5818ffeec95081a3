//! The one place where core errors become Python exceptions. Every class subclasses `ValueError`
//! so that callers (vLLM among them) that catch `ValueError` keep working.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use mistral_tok_core::Error;

pyo3::create_exception!(
    mistral_tok,
    MistralTokError,
    PyValueError,
    "Base class of every mistral_tok error; a subclass of ValueError."
);
pyo3::create_exception!(
    mistral_tok,
    TokenizerFileError,
    MistralTokError,
    "A tokenizer file that cannot be read or does not follow its format."
);
pyo3::create_exception!(
    mistral_tok,
    RequestError,
    MistralTokError,
    "A chat request that mistral_common would reject."
);
pyo3::create_exception!(
    mistral_tok,
    UnsupportedFeatureError,
    RequestError,
    "A valid request using a feature the native encoder does not implement; fall back to mistral_common."
);
pyo3::create_exception!(
    mistral_tok,
    DecodeError,
    MistralTokError,
    "Decoding failed: a special token under the 'raise' policy, or an id out of range."
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("MistralTokError", py.get_type::<MistralTokError>())?;
    m.add("TokenizerFileError", py.get_type::<TokenizerFileError>())?;
    m.add("RequestError", py.get_type::<RequestError>())?;
    m.add(
        "UnsupportedFeatureError",
        py.get_type::<UnsupportedFeatureError>(),
    )?;
    m.add("DecodeError", py.get_type::<DecodeError>())?;
    Ok(())
}

pub(crate) fn to_pyerr(err: Error) -> PyErr {
    let msg = err.to_string();
    match err {
        Error::TokenizerFile { .. } => TokenizerFileError::new_err(msg),
        Error::Request(_) => RequestError::new_err(msg),
        Error::Unsupported(_) => UnsupportedFeatureError::new_err(msg),
        Error::Decode(_) => DecodeError::new_err(msg),
        Error::InvalidArgument(_) | Error::Internal(_) => MistralTokError::new_err(msg),
        Error::ArgumentType(_) => pyo3::exceptions::PyTypeError::new_err(msg),
    }
}

/// Runs core work with panics caught and the error mapped, for use inside `py.detach`.
pub(crate) fn run<T>(f: impl FnOnce() -> mistral_tok_core::Result<T>) -> PyResult<T> {
    Error::catch_panic(f).map_err(to_pyerr)
}
