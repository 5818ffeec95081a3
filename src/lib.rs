//! mistral-tok: Mistral chat requests to token ids, byte-identical to `mistral_common`.
//!
//! The crate is a pure-Rust core (`cargo test` needs no Python) with a thin PyO3 layer behind the
//! `python` feature:
//!
//! - [`tokenizer`]: the text tokenizers (tekken BPE, SentencePiece) behind one [`Tokenizer`] type.
//! - [`error`]: the one error enum of the core.
//! - `python` (feature, Unix only): conversion of arguments, GIL release, exception mapping, and
//!   the asyncio worker thread behind the awaitables. Nothing else.
//!
//! Rust users start from the re-exports below: a [`Tokenizer`] from a tokenizer file, then
//! [`ChatRequest::encode`] (chat requests, as `mistral_common`'s `encode_chat_completion`),
//! [`encode_fim`], or [`image_size`] for the size mistral_common reads from an image.

pub mod audio;
pub mod chat;
pub mod error;
pub mod fim;
pub mod image;
pub mod request;
pub mod template;
pub mod tokenizer;
pub mod value;
// The asyncio worker wakes event loops through a file descriptor; only the binding uses it.
#[cfg(all(unix, any(test, feature = "python")))]
mod worker;

#[cfg(all(unix, feature = "python"))]
mod python;
#[cfg(all(not(unix), feature = "python"))]
compile_error!(
    "the Python binding needs Unix (Linux, macOS): its worker wakes loops through an fd"
);

pub use chat::{ChatRequest, GivenRequest, Readings};
pub use error::{Error, Result};
pub use fim::encode_fim;
pub use image::{image_size, ImageConfig, ImageGrid, ImageInput};
pub use tokenizer::{SpecialTokenPolicy, Tokenizer, TokenizerKind, TokenizerVersion};
