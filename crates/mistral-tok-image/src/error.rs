//! The errors of the image crate. Each variant has the name of the core's `Error` variant it
//! becomes (`mistral_tok_core` maps them with `From`), so an image is judged the same whichever
//! crate a caller starts from.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An image mistral_common fails on (not an image, corrupt or cut data its load refuses, a
    /// bad data URL or scheme), with mistral_common's message.
    #[error("{0}")]
    Request(String),

    /// An image only mistral_common can judge (`http…` URLs, formats and layouts not read here,
    /// a host whose decoders differ from those the checks reproduce).
    #[error("{0}")]
    Unsupported(String),

    /// Image settings or a size out of their domain (a zero side or setting).
    #[error("{0}")]
    InvalidArgument(String),

    /// A bug (an arithmetic overflow the settings' checks should have excluded).
    #[error("{0}")]
    Internal(String),
}
