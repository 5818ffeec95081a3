//! `MistralTokenizer.encode_transcription(TranscriptionRequest(audio, language, streaming,
//! target_streaming_delay_ms))` (`InstructTokenizerV7.encode_transcription`):
//! - instruct configs: `[BOS] [INST] [BEGIN_AUDIO] [AUDIO]×n [/INST]`, then `lang:<code>` when a
//!   language is given, then `[TRANSCRIBE]`; streaming must be disabled;
//! - streaming configs: `[BOS] [STREAMING_PAD]×(left pad + delay tokens)`; `offline` pads the
//!   audio on both sides, `online` returns the silent left and right pads (or, with audio, the
//!   audio after the left pad, not resampled).

use super::arrays::{pcm16_roundtrip, pcm16_samples};
use super::source::{self, Bytes};
use super::{chunk_tokens, probe, refuse_multichannel, unsupported, AudioArray, AudioConfig};
use crate::error::{Error, Result};
use crate::tokenizer::{TextTokenizer, Tokenizer, TokenizerKind, TokenizerVersion};

/// `StreamingMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamingMode {
    Disabled,
    Online,
    Offline,
}

impl std::str::FromStr for StreamingMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "disabled" => Ok(StreamingMode::Disabled),
            "online" => Ok(StreamingMode::Online),
            "offline" => Ok(StreamingMode::Offline),
            other => Err(Error::Request(format!(
                "streaming: Input should be 'disabled', 'online' or 'offline', got {other:?}"
            ))),
        }
    }
}

/// The fields of a `TranscriptionRequest` that decide its tokens.
#[derive(Debug, Clone, Copy)]
pub struct TranscriptionRequest<'a> {
    /// base64 text (`str`) or encoded bytes.
    pub audio: TranscriptionAudio<'a>,
    pub language: Option<&'a str>,
    pub streaming: StreamingMode,
    pub target_streaming_delay_ms: Option<i64>,
    /// Also produce `Tokenized.audios` (only for 16-bit PCM WAV needing no resampling).
    pub return_audio: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum TranscriptionAudio<'a> {
    Base64(&'a str),
    Bytes(&'a [u8]),
    /// A mono float32 chunk standing for the WAV `soundfile.write(buf, samples, rate,
    /// format="WAV")` writes (16-bit PCM, clipping on): vLLM's Voxtral transcription path,
    /// without building the file.
    Samples {
        samples: &'a [f32],
        rate: u32,
    },
}

/// `Tokenized.tokens`, and `Tokenized.audios` when asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcription {
    pub ids: Vec<u32>,
    pub audios: Vec<AudioArray>,
}

/// ISO 639-1 codes (`LanguageAlpha2`, pycountry 26.2.16).
const LANGUAGES: &str = "aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch \
    co cr cs cu cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha \
    he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks \
    ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no \
    nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg sh si sk sl sm sn so \
    sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh \
    yi yo za zh zu";

/// `LanguageAlpha2` validation: the lower-cased code.
fn language_code(language: &str) -> Result<String> {
    if !language.is_ascii() {
        return Err(unsupported("a non-ASCII language code"));
    }
    let code = language.to_ascii_lowercase();
    if code.len() == 2 && LANGUAGES.split_whitespace().any(|c| c == code) {
        Ok(code)
    } else {
        Err(Error::Request(format!(
            "1 validation error for TranscriptionRequest\nlanguage\n  Invalid language alpha2 code: {language}"
        )))
    }
}

fn special(text: &dyn TextTokenizer, name: &str, what: &str) -> Result<u32> {
    if text.special_token_id(name).is_err() {
        return Err(Error::Request(format!(
            "Audio encoder does not provide the {what} marker required for transcription."
        )));
    }
    text.special_token_id(name)
}

/// `encode_transcription(request).tokens` (and `.audios` when asked for).
pub fn encode_transcription(
    tokenizer: &Tokenizer,
    request: &TranscriptionRequest<'_>,
) -> Result<Transcription> {
    let language = request.language.map(language_code).transpose()?;
    if request.streaming == StreamingMode::Online {
        if let TranscriptionAudio::Bytes(b) = request.audio {
            if !b.is_empty() {
                return Err(Error::Request(
                    "ONLINE streaming audio must be a base64 text value or empty prefill; received bytes."
                        .to_string(),
                ));
            }
        }
    }
    if tokenizer.version() < TokenizerVersion::V7 {
        return Err(Error::Request(format!(
            "Transcription not available for {}",
            tokenizer.version()
        )));
    }
    let Some(section) = tokenizer
        .audio()
        .filter(|_| tokenizer.kind() == TokenizerKind::Tekken)
    else {
        return Err(Error::Request(format!(
            "Tokenizer {} does not provide an audio encoder for transcription.",
            tokenizer.version()
        )));
    };
    let config = AudioConfig::from_json(section)?;
    if let Some(delay) = request.target_streaming_delay_ms {
        if delay <= 0 {
            return Err(unsupported("a target streaming delay of 0 ms or less"));
        }
    }
    let text = tokenizer.text();
    let bos = text.bos_id();
    match config.streaming {
        None => instruct(tokenizer, &config, request, language.as_deref(), bos),
        Some(streaming) => {
            if request.streaming == StreamingMode::Disabled {
                return Err(Error::Request(
                    "Streaming transcription requires mode OFFLINE or ONLINE, got DISABLED."
                        .to_string(),
                ));
            }
            let pad = special(text, "[STREAMING_PAD]", "streaming_pad")?;
            let delay = request
                .target_streaming_delay_ms
                .map_or(streaming.transcription_delay_ms, |d| d as f64);
            let n = config.streaming_pad_tokens(&streaming, delay);
            let mut ids = Vec::with_capacity(1 + n as usize);
            ids.push(bos);
            ids.extend(std::iter::repeat_n(pad, n as usize));
            let audios = if request.streaming == StreamingMode::Offline {
                let audio = decoded(request)?;
                let counts = chunk_tokens(&config, audio.info(), Some(delay));
                arrays(request, &audio, &config, counts.left_pad, counts.padded_len)?
            } else {
                online_arrays(request, &config, &streaming, delay)?
            };
            Ok(Transcription { ids, audios })
        }
    }
}

/// The request's audio: an encoded file read by [`probe`] (multi-channel refused), or a float
/// chunk.
enum Decoded<'a> {
    File(Bytes<'a>, super::Probe),
    Chunk(&'a [f32], u32),
}

impl Decoded<'_> {
    fn info(&self) -> super::AudioInfo {
        match self {
            Decoded::File(_, p) => super::AudioInfo {
                frames: p.frames,
                sample_rate: p.sample_rate,
            },
            Decoded::Chunk(samples, rate) => super::AudioInfo {
                frames: samples.len() as u64,
                sample_rate: *rate,
            },
        }
    }

    /// The float32 samples soundfile reads, after `left` zeros and padded to `padded_len`.
    fn samples(&self, left: u64, padded_len: u64) -> Result<Vec<f32>> {
        match self {
            Decoded::File(bytes, p) => pcm16_samples(bytes, p, left, padded_len),
            Decoded::Chunk(samples, _) => {
                let total = usize::try_from(padded_len).map_err(|_| unsupported("a huge audio"))?;
                let left = usize::try_from(left).map_err(|_| unsupported("a huge audio"))?;
                let mut out = Vec::with_capacity(total.max(left + samples.len()));
                out.resize(left, 0.0);
                out.extend(samples.iter().map(|&x| pcm16_roundtrip(x)));
                out.resize(total.max(out.len()), 0.0);
                Ok(out)
            }
        }
    }
}

fn decoded<'a>(request: &TranscriptionRequest<'a>) -> Result<Decoded<'a>> {
    let bytes = match request.audio {
        TranscriptionAudio::Base64(s) => source::from_base64(s)?,
        TranscriptionAudio::Bytes(b) => Bytes::Slice(std::borrow::Cow::Borrowed(b)),
        TranscriptionAudio::Samples { samples, rate } => {
            if rate == 0 || u32::try_from(samples.len()).is_err() {
                return Err(unsupported("a chunk soundfile would not write as a WAV"));
            }
            return Ok(Decoded::Chunk(samples, rate));
        }
    };
    let p = probe(&bytes)?;
    if p.channels != 1 {
        return Err(refuse_multichannel());
    }
    Ok(Decoded::File(bytes, p))
}

fn arrays(
    request: &TranscriptionRequest<'_>,
    audio: &Decoded<'_>,
    config: &AudioConfig,
    left: u64,
    padded_len: u64,
) -> Result<Vec<AudioArray>> {
    if !request.return_audio {
        return Ok(Vec::new());
    }
    if audio.info().sample_rate != config.sampling_rate {
        return Err(unsupported("arrays of audio that mistral_common resamples"));
    }
    Ok(vec![AudioArray {
        samples: audio.samples(left, padded_len)?,
        sampling_rate: config.sampling_rate,
    }])
}

fn instruct(
    tokenizer: &Tokenizer,
    config: &AudioConfig,
    request: &TranscriptionRequest<'_>,
    language: Option<&str>,
    bos: u32,
) -> Result<Transcription> {
    let text = tokenizer.text();
    if request.streaming != StreamingMode::Disabled {
        let mode = match request.streaming {
            StreamingMode::Online => "ONLINE",
            _ => "OFFLINE",
        };
        return Err(Error::Request(format!(
            "Instruct transcription requires streaming mode DISABLED, got {mode}."
        )));
    }
    let transcribe = text.special_token_id("[TRANSCRIBE]")?;
    let begin = special(text, "[BEGIN_AUDIO]", "begin_audio")?;
    let audio = special(text, "[AUDIO]", "audio")?;
    if tokenizer.version() == TokenizerVersion::V15 {
        settings_none_allowed(tokenizer)?;
    }
    let decoded_audio = decoded(request)?;
    let counts = chunk_tokens(config, decoded_audio.info(), None);
    let n = usize::try_from(counts.tokens).map_err(|_| unsupported("a huge audio"))?;
    let mut ids = Vec::with_capacity(n + 16);
    ids.extend([bos, text.special_token_id("[INST]")?, begin]);
    ids.extend(std::iter::repeat_n(audio, n));
    ids.push(text.special_token_id("[/INST]")?);
    if let Some(code) = language {
        text.encode_into(&format!("lang:{code}"), &mut ids)?;
    }
    ids.push(transcribe);
    let audios = arrays(request, &decoded_audio, config, 0, counts.padded_len)?;
    Ok(Transcription { ids, audios })
}

/// V15 encodes the user message with `ModelSettings.none()`, which the file's builder validates
/// first (`validate_built_value`): a builder is required, and a reasoning-effort builder (which
/// must declare a default) refuses `None`.
fn settings_none_allowed(tokenizer: &Tokenizer) -> Result<()> {
    let Some(builder) = tokenizer.model_settings_builder() else {
        return Err(Error::Request(format!(
            "Tokenizer {} needs a `model_settings_builder`.",
            tokenizer.version()
        )));
    };
    if builder
        .get("reasoning_effort")
        .is_some_and(|r| !r.is_null())
    {
        return Err(Error::Request(
            "reasoning_effort should be set for this model.".to_string(),
        ));
    }
    Ok(())
}

fn online_arrays(
    request: &TranscriptionRequest<'_>,
    config: &AudioConfig,
    streaming: &super::Streaming,
    delay: f64,
) -> Result<Vec<AudioArray>> {
    let empty = match request.audio {
        TranscriptionAudio::Base64(s) => s.is_empty(),
        TranscriptionAudio::Bytes(b) => b.is_empty(),
        TranscriptionAudio::Samples { .. } => false,
    };
    let (left, right) = config.streaming_pad(streaming, 0, delay);
    if empty {
        if !request.return_audio {
            return Ok(Vec::new());
        }
        let zeros = |n: u64| -> Result<AudioArray> {
            let n = usize::try_from(n).map_err(|_| unsupported("a huge pad"))?;
            Ok(AudioArray {
                samples: vec![0.0; n],
                sampling_rate: config.sampling_rate,
            })
        };
        return Ok(vec![zeros(left)?, zeros(right)?]);
    }
    // The audio is decoded (and must decode) but is not resampled: it follows the left pad at
    // its own rate.
    let audio = decoded(request)?;
    if !request.return_audio {
        return Ok(Vec::new());
    }
    let info = audio.info();
    Ok(vec![AudioArray {
        samples: audio.samples(left, left + info.frames)?,
        sampling_rate: info.sample_rate,
    }])
}
