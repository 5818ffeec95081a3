//! mistral-tok's core: Mistral chat requests to token ids, byte-identical to `mistral_common`.
//! Plain Rust: `cargo test` needs no Python; the Python binding (the `mistral-tok` package at the
//! repository root) only converts arguments, releases the GIL and calls what is exported here.
//!
//! - [`tokenizer`]: the text tokenizers (tekken BPE, SentencePiece) behind one [`Tokenizer`].
//! - [`chat`]: a request as the caller gave it ([`request::given`]) → rules → [`template`] → ids.
//! - [`audio`]: transcription requests and the audio lengths their token counts follow.
//! - [`Error`]: the one error enum; the image crate's errors map into it.
//!
//! Rust users start from the re-exports below: a [`Tokenizer`] from a tokenizer file, then
//! [`ChatRequest::encode`] (chat requests, as `mistral_common`'s `encode_chat_completion`),
//! [`encode_fim`], or [`image_size`] for the size mistral_common reads from an image.

pub mod audio;
pub mod chat;
mod error;
mod fim;
pub mod request;
pub mod template;
pub mod tokenizer;
pub mod value;

pub use chat::{ChatRequest, GivenRequest, Readings};
pub use error::{Error, Result};
pub use fim::encode_fim;
pub use mistral_tok_image::{image_size, ImageConfig, ImageGrid, ImageInput};
pub use tokenizer::{SpecialTokenPolicy, Tokenizer, TokenizerKind, TokenizerVersion};
