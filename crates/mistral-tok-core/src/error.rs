//! The one error type of the core. The Python layer maps each variant to one exception class.

use std::path::Path;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A tokenizer file that cannot be read or does not follow the format.
    #[error("invalid tokenizer file {path}: {reason}")]
    TokenizerFile { path: String, reason: String },

    /// A request that mistral_common would reject (bad structure, bad roles, bad tool calls …).
    #[error("{0}")]
    Request(String),

    /// A valid request using a feature the native path does not implement (callers may fall back).
    #[error("{0}")]
    Unsupported(String),

    /// Decoding failed: a special token under the `raise` policy, or an id out of range.
    #[error("{0}")]
    Decode(String),

    /// An argument the caller passed is out of its domain (unknown policy name, lone surrogate …).
    #[error("{0}")]
    InvalidArgument(String),

    /// An argument of the wrong type (Python's `TypeError`).
    #[error("{0}")]
    ArgumentType(String),

    /// A bug: a panic caught at a boundary. The message asks for a report.
    #[error("internal error in mistral-tok (please report it): {0}")]
    Internal(String),
}

impl Error {
    /// The error with `hint` appended to a request error's message.
    pub fn with_hint(self, hint: &str) -> Self {
        match self {
            Error::Request(m) if !hint.is_empty() => Error::Request(m + hint),
            other => other,
        }
    }

    pub fn tokenizer_file(path: &Path, reason: impl Into<String>) -> Self {
        Error::TokenizerFile {
            path: path.display().to_string(),
            reason: reason.into(),
        }
    }

    /// Runs `f`, turning a panic into [`Error::Internal`] so that no input can unwind into a caller
    /// (a Python thread or the worker) that cannot handle it.
    pub fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(r) => r,
            Err(payload) => {
                let msg = if let Some(s) = payload.downcast_ref::<&str>() {
                    (*s).to_string()
                } else if let Some(s) = payload.downcast_ref::<String>() {
                    s.clone()
                } else {
                    "panic with a non-string payload".to_string()
                };
                Err(Error::Internal(msg))
            }
        }
    }
}

/// The image crate's errors, variant for variant (it names them after these).
impl From<mistral_tok_image::Error> for Error {
    fn from(e: mistral_tok_image::Error) -> Self {
        use mistral_tok_image::Error as Image;
        match e {
            Image::Request(m) => Error::Request(m),
            Image::Unsupported(m) => Error::Unsupported(m),
            Image::InvalidArgument(m) => Error::InvalidArgument(m),
            Image::Internal(m) => Error::Internal(m),
        }
    }
}
