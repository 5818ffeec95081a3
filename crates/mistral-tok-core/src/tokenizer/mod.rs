//! Text tokenizers: tekken (tiktoken-style byte BPE) and SentencePiece, behind one [`Tokenizer`].
//!
//! Loading follows `mistral_common.tokens.tokenizers.mistral.MistralTokenizer.from_file`: the file
//! name decides the kind, a tekken file carries its version in `config.version`, a SentencePiece
//! file carries it in its name suffix (`.model.v3`, `.model.v7m1`, bare `.model` = v1).

pub mod sentencepiece;
pub mod tekken;
mod version;

#[cfg(test)]
mod from_bytes_tests;

use std::path::Path;

use crate::error::{Error, Result};
pub use mistral_tok_image::ImageConfig;
pub use version::{SpecialTokenPolicy, TokenizerKind, TokenizerVersion};

/// What every text tokenizer offers; the semantics are those of mistral_common's
/// `Tokenizer` implementations (`Tekkenizer`, `SentencePieceTokenizer`).
pub trait TextTokenizer: Send + Sync {
    /// Appends the ids of `text` (no BOS/EOS) to `out`. Special-token strings inside `text` are
    /// plain text, exactly as in mistral_common. Fails only where mistral_common's tokenizer
    /// raises on the text itself (tiktoken's regex stack limit).
    fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<()>;
    /// `decode(ids, special_token_policy)`; invalid UTF-8 becomes U+FFFD as in Python's `replace`.
    fn decode(&self, ids: &[u32], policy: SpecialTokenPolicy) -> Result<String>;
    /// `id_to_piece(id)`.
    fn id_to_piece(&self, id: u32) -> Result<String>;
    /// `get_special_token(name)`: tekken rejects unknown names, SentencePiece answers `<unk>`'s id.
    fn special_token_id(&self, name: &str) -> Result<u32>;
    fn is_special(&self, id: u32) -> bool;
    /// `n_words`.
    fn vocab_size(&self) -> usize;
    fn num_special_tokens(&self) -> usize;
    fn bos_id(&self) -> u32;
    fn eos_id(&self) -> u32;
    /// SentencePiece models have no pad piece and answer −1, as `sp.pad_id()` does.
    fn pad_id(&self) -> i64;
    fn unk_id(&self) -> u32;
}

enum Backend {
    Tekken(tekken::Tekken),
    SentencePiece(sentencepiece::SentencePiece),
}

/// A loaded tokenizer file: the text tokenizer plus the settings mistral_common reads beside it.
pub struct Tokenizer {
    backend: Backend,
    version: TokenizerVersion,
    image: Option<ImageConfig>,
    /// The tekken `audio` section, kept as JSON: the native path does not encode audio.
    audio: Option<serde_json::Value>,
    /// The tekken `model_settings_builder` section (v15+), kept as JSON.
    model_settings_builder: Option<serde_json::Value>,
    /// [`source_digest`] of the file's contents.
    source_digest: u64,
}

/// A digest of a tokenizer file's contents (not stable across builds; compared within a process).
pub fn source_digest(data: &[u8]) -> u64 {
    use std::hash::{DefaultHasher, Hasher};
    let mut hasher = DefaultHasher::new();
    hasher.write(data);
    hasher.finish()
}

impl Tokenizer {
    /// Loads a tekken `.json` or SentencePiece `.model[.vN[mM]]` file, recognised by its name as
    /// mistral_common does.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let data = std::fs::read(path)
            .map_err(|e| Error::tokenizer_file(path, format!("cannot read the file: {e}")))?;
        Self::from_bytes(path, &data)
    }

    /// [`Tokenizer::from_file`] on contents already read: `path` names the file (its name decides
    /// the kind and, for SentencePiece, the version) and is not opened. This is how a tokenizer
    /// travels to processes that lack its file (pickling).
    pub fn from_bytes(path: &Path, data: &[u8]) -> Result<Self> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let source_digest = source_digest(data);
        if name.contains("tekken") && path.extension().is_some_and(|e| e == "json") {
            let file = tekken::TekkenFile::from_slice(data)
                .map_err(|reason| Error::tokenizer_file(path, reason))?;
            return Ok(Tokenizer {
                backend: Backend::Tekken(file.tokenizer),
                version: file.version,
                image: file.image,
                audio: file.audio,
                model_settings_builder: file.model_settings_builder,
                source_digest,
            });
        }
        if let Some((version, m1)) = version::sentencepiece_version_from_name(name) {
            let tokenizer = sentencepiece::SentencePiece::from_bytes(data)
                .map_err(|reason| Error::tokenizer_file(path, reason))?;
            return Ok(Tokenizer {
                backend: Backend::SentencePiece(tokenizer),
                version,
                image: m1.then_some(ImageConfig::SENTENCEPIECE_M1),
                audio: None,
                model_settings_builder: None,
                source_digest,
            });
        }
        Err(Error::tokenizer_file(
            path,
            "Unrecognized tokenizer file: expected a tekken file (a name containing \"tekken\" \
             ending in .json) or a SentencePiece file (.model, .model.v1 … .model.v15, optionally \
             with an m1 suffix)",
        ))
    }

    /// A digest of the contents this tokenizer was loaded from: whoever re-reads the file later
    /// (to pickle it) can tell whether it is still the same file.
    pub fn source_digest(&self) -> u64 {
        self.source_digest
    }

    pub fn text(&self) -> &dyn TextTokenizer {
        match &self.backend {
            Backend::Tekken(t) => t,
            Backend::SentencePiece(s) => s,
        }
    }

    pub fn kind(&self) -> TokenizerKind {
        match self.backend {
            Backend::Tekken(_) => TokenizerKind::Tekken,
            Backend::SentencePiece(_) => TokenizerKind::SentencePiece,
        }
    }

    pub fn version(&self) -> TokenizerVersion {
        self.version
    }

    pub fn image(&self) -> Option<&ImageConfig> {
        self.image.as_ref()
    }

    pub fn audio(&self) -> Option<&serde_json::Value> {
        self.audio.as_ref()
    }

    pub fn model_settings_builder(&self) -> Option<&serde_json::Value> {
        self.model_settings_builder.as_ref()
    }

    /// `encode(text, bos, eos)`.
    pub fn encode(&self, text: &str, bos: bool, eos: bool) -> Result<Vec<u32>> {
        let t = self.text();
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if bos {
            out.push(t.bos_id());
        }
        t.encode_into(text, &mut out)?;
        if eos {
            out.push(t.eos_id());
        }
        Ok(out)
    }

    pub fn decode(&self, ids: &[u32], policy: SpecialTokenPolicy) -> Result<String> {
        self.text().decode(ids, policy)
    }
}
