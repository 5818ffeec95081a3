//! mistral-tok: Mistral chat requests to token ids, byte-identical to `mistral_common`.
//!
//! The crate is a pure-Rust core (`cargo test` needs no Python) with a thin PyO3 layer behind the
//! `python` feature:
//!
//! - [`tokenizer`]: the text tokenizers (tekken BPE, SentencePiece) behind one [`Tokenizer`] type.
//! - [`error`]: the one error enum of the core.
//! - `python` (feature): conversion of arguments, GIL release, exception mapping. Nothing else.

pub mod audio;
pub mod chat;
pub mod error;
pub mod fim;
pub mod image;
pub mod request;
pub mod template;
pub mod tokenizer;
pub mod value;
pub mod worker;

#[cfg(feature = "python")]
mod python;

pub use chat::ChatRequest;
pub use error::{Error, Result};
pub use tokenizer::{SpecialTokenPolicy, Tokenizer, TokenizerKind, TokenizerVersion};
