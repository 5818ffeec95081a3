//! Audio chunks in chat requests (`AudioEncoder.__call__` as `_encode_content_chunk` calls it):
//! `[BEGIN_AUDIO] [AUDIO]×n` for instruct audio configs, `[STREAMING_PAD]×n` for streaming ones,
//! written where the chunk is (audio is never moved, unlike a trailing image).

use super::Ctx;
use crate::audio::{chunk_tokens, input_info, AudioConfig, AudioInput, ChunkTokens, KnownAudio};
use crate::error::{Error, Result};
use crate::tokenizer::{Tokenizer, TokenizerKind};

/// The tokenizer's audio settings as the templates see them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AudioSection {
    /// No `audio` section: mistral_common built no audio encoder.
    Absent,
    Config(AudioConfig),
    /// A section the native path does not read (see [`AudioConfig::from_json`]).
    Unread,
}

impl AudioSection {
    pub(crate) fn of(tokenizer: &Tokenizer) -> AudioSection {
        match tokenizer.audio() {
            Some(section) if tokenizer.kind() == TokenizerKind::Tekken => {
                AudioConfig::from_json(section).map_or(AudioSection::Unread, AudioSection::Config)
            }
            _ => AudioSection::Absent,
        }
    }
}

/// How the audio of a request is read.
#[derive(Debug, Clone, Copy, Default)]
pub struct AudioOptions<'a> {
    /// What the caller's fetch of `http(s)` audio URLs decoded to (see [`KnownAudio`]).
    pub known: Option<&'a KnownAudio>,
}

impl Ctx<'_> {
    /// One audio chunk, written in place; its counts are kept in `self.audios`.
    pub fn audio(&mut self, input: AudioInput<'_>) -> Result<()> {
        if self.failed.is_some() {
            // mistral_common stopped at the earlier text; that error is reported for the message.
            return Ok(());
        }
        let config = match self.target.audio {
            AudioSection::Config(c) => c,
            AudioSection::Absent => {
                return Err(Error::Request(
                    "Make sure to define a audio encoder at init".to_string(),
                ))
            }
            AudioSection::Unread => {
                return Err(Error::Unsupported(
                    "this tokenizer's audio section is not read natively; use mistral_common"
                        .to_string(),
                ))
            }
        };
        let info = input_info(input, self.audio_read.known)?;
        let counts: ChunkTokens = chunk_tokens(&config, info, None);
        let n = usize::try_from(counts.tokens)
            .map_err(|_| Error::Unsupported("an audio of more tokens than memory".to_string()))?;
        // The markers are looked up as `AudioEncoder`'s properties assert them, after decoding.
        let missing =
            |name: &str| Error::Request(format!("self.special_ids.{name}=None must be set."));
        if config.streaming.is_some() {
            let pad = self
                .tok
                .special_token_id("[STREAMING_PAD]")
                .map_err(|_| missing("streaming_pad"))?;
            self.out.extend(std::iter::repeat_n(pad, n));
        } else {
            let begin = self
                .tok
                .special_token_id("[BEGIN_AUDIO]")
                .map_err(|_| missing("begin_audio"))?;
            let audio = self
                .tok
                .special_token_id("[AUDIO]")
                .map_err(|_| missing("audio"))?;
            self.out.push(begin);
            self.out.extend(std::iter::repeat_n(audio, n));
        }
        self.audios.push(counts);
        Ok(())
    }
}
