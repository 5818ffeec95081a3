//! Tokenizer versions, kinds and decode policies, with the names mistral_common uses.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// `mistral_common.tokens.tokenizers.base.TokenizerVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenizerVersion {
    V1,
    V2,
    V3,
    V7,
    V11,
    V13,
    V15,
}

impl TokenizerVersion {
    pub const ALL: [TokenizerVersion; 7] = [
        TokenizerVersion::V1,
        TokenizerVersion::V2,
        TokenizerVersion::V3,
        TokenizerVersion::V7,
        TokenizerVersion::V11,
        TokenizerVersion::V13,
        TokenizerVersion::V15,
    ];

    /// The number in the name: `V7` → 7.
    pub fn number(self) -> u32 {
        match self {
            TokenizerVersion::V1 => 1,
            TokenizerVersion::V2 => 2,
            TokenizerVersion::V3 => 3,
            TokenizerVersion::V7 => 7,
            TokenizerVersion::V11 => 11,
            TokenizerVersion::V13 => 13,
            TokenizerVersion::V15 => 15,
        }
    }

    /// Parses `"v7"` (the form used in tekken configs and file-name suffixes).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.to_string() == name)
    }
}

impl fmt::Display for TokenizerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.number())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerKind {
    Tekken,
    SentencePiece,
}

impl TokenizerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenizerKind::Tekken => "tekken",
            TokenizerKind::SentencePiece => "sentencepiece",
        }
    }
}

/// `SpecialTokenPolicy`: what decoding does with special (control) tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpecialTokenPolicy {
    #[default]
    Ignore,
    Keep,
    Raise,
}

impl FromStr for SpecialTokenPolicy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "ignore" => Ok(SpecialTokenPolicy::Ignore),
            "keep" => Ok(SpecialTokenPolicy::Keep),
            "raise" => Ok(SpecialTokenPolicy::Raise),
            other => Err(Error::InvalidArgument(format!(
                "Invalid `special_token_policy` '{other}'. Expected one of: 'ignore', 'keep', 'raise'."
            ))),
        }
    }
}

/// mistral_common's SentencePiece file-name rule (`is_sentencepiece`, `get_spm_version`): a name
/// ending in `.model` (v1) or `.model.<version>` / `.model.<version>m1`. Returns the version and
/// whether the `m1` image suffix is present.
pub(crate) fn sentencepiece_version_from_name(name: &str) -> Option<(TokenizerVersion, bool)> {
    if name.ends_with(".model") {
        return Some((TokenizerVersion::V1, false));
    }
    let (stem, suffix) = name.rsplit_once('.')?;
    if !stem.ends_with(".model") {
        return None;
    }
    let (version, m1) = match suffix.strip_suffix("m1") {
        Some(v) => (v, true),
        None => (suffix, false),
    };
    Some((TokenizerVersion::from_name(version)?, m1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentencepiece_names() {
        use TokenizerVersion::*;
        assert_eq!(
            sentencepiece_version_from_name("tokenizer.model"),
            Some((V1, false))
        );
        assert_eq!(
            sentencepiece_version_from_name("tokenizer.model.v1"),
            Some((V1, false))
        );
        assert_eq!(
            sentencepiece_version_from_name("t.model.v11"),
            Some((V11, false))
        );
        assert_eq!(
            sentencepiece_version_from_name("mistral_instruct_tokenizer_241114.model.v7m1"),
            Some((V7, true))
        );
        assert_eq!(sentencepiece_version_from_name("x.model.v4"), None);
        assert_eq!(sentencepiece_version_from_name("x.model.v7m2"), None);
        assert_eq!(sentencepiece_version_from_name("tekken.json"), None);
    }

    #[test]
    fn policy_names() {
        assert_eq!(
            "keep".parse::<SpecialTokenPolicy>(),
            Ok(SpecialTokenPolicy::Keep)
        );
        assert!("KEEP".parse::<SpecialTokenPolicy>().is_err());
    }
}
