//! Fill-in-the-middle prompts: `InstructTokenizerV2.encode_fim` of mistral_common.

use crate::error::{Error, Result};
use crate::tokenizer::{Tokenizer, TokenizerVersion};

/// `<s> [SUFFIX] suffix [PREFIX] prompt` — no `[MIDDLE]`, no EOS, as mistral_common writes it.
///
/// The suffix is encoded behind a `☺` whose first two tokens are then dropped. mistral_common does
/// this to remove SentencePiece's dummy prefix, and it is *not* the same as encoding without one
/// (`"    return y"` keeps one fewer `▁` through the trick), so it is reproduced literally, on tekken
/// files too (where `☺` happens to be two byte-level tokens).
pub fn encode_fim(tokenizer: &Tokenizer, prompt: &str, suffix: Option<&str>) -> Result<Vec<u32>> {
    if tokenizer.version() == TokenizerVersion::V1 {
        return Err(Error::Request(format!(
            "FIM not available for {}",
            tokenizer.version()
        )));
    }
    let text = tokenizer.text();
    let mut out = Vec::with_capacity((prompt.len() + suffix.map_or(0, str::len)) / 3 + 4);
    out.push(text.special_token_id("<s>")?);
    out.push(text.special_token_id("[SUFFIX]")?);
    if let Some(suffix) = suffix.filter(|s| !s.is_empty()) {
        let mut infill = Vec::with_capacity(suffix.len() / 3 + 2);
        text.encode_into(&format!("☺{suffix}"), &mut infill)?;
        out.extend(infill.iter().skip(2));
    }
    out.push(text.special_token_id("[PREFIX]")?);
    text.encode_into(prompt, &mut out)?;
    Ok(out)
}
