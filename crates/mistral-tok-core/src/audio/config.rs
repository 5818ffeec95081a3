//! The tekken file's `audio` section as mistral_common's `AudioConfig` reads it, and the arithmetic
//! of `AudioEncoder` on sample counts: padding and `[AUDIO]` token counts.
//!
//! mistral_common computes these with Python floats where its code divides (`/`, `//` on a float
//! `frame_rate`, `math.ceil` of a true division); the same `f64` operations are used here so that
//! rounding agrees at every length, not only at the realistic ones.

use serde_json::Value;

use crate::error::{Error, Result};

/// `AudioConfig` (the fields that decide tokens).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioConfig {
    pub sampling_rate: u32,
    pub frame_rate: f64,
    pub hop_length: u64,
    pub window_size: u64,
    /// `chunk_length_s`: audio padded to a multiple of this many seconds.
    pub chunk_length_s: Option<f64>,
    /// `Some` for `transcription_format == "streaming"`.
    pub streaming: Option<Streaming>,
}

/// The streaming settings (`transcription_format: "streaming"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Streaming {
    pub transcription_delay_ms: f64,
    pub n_left_pad_tokens: u64,
}

/// `OFFLINE_STREAMING_BUFFER_TOKENS`: right padding for the longest word.
const OFFLINE_STREAMING_BUFFER_TOKENS: u64 = 10;

fn unsupported(what: &str) -> Error {
    Error::Unsupported(format!(
        "this tokenizer's audio section ({what}) is not read natively; use mistral_common"
    ))
}

fn positive_int(v: Option<&Value>, what: &str) -> Result<u64> {
    match v {
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|&n| n > 0)
            .ok_or_else(|| unsupported(what)),
        _ => Err(unsupported(what)),
    }
}

fn number(v: Option<&Value>, what: &str) -> Result<Option<f64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or_else(|| unsupported(what)),
        _ => Err(unsupported(what)),
    }
}

/// Python's `a // b` for positive floats (`float_floor_div`: from `fmod`, not `floor(a / b)`).
fn py_floordiv(a: f64, b: f64) -> f64 {
    let rem = a % b;
    let div = (a - rem) / b;
    if div == 0.0 {
        return 0.0;
    }
    let floor = div.floor();
    if div - floor > 0.5 {
        floor + 1.0
    } else {
        floor
    }
}

impl AudioConfig {
    /// The section as `AudioConfig(encoding_config=AudioSpectrogramConfig(**enc), **audio)` takes
    /// it, with `__post_init__`'s checks. A section mistral_common could not load, or with fields
    /// not modelled here, is [`Error::Unsupported`] (the request falls back).
    pub fn from_json(section: &Value) -> Result<AudioConfig> {
        let obj = section
            .as_object()
            .ok_or_else(|| unsupported("not an object"))?;
        let known = [
            "sampling_rate",
            "frame_rate",
            "audio_encoding_config",
            "chunk_length_s",
            "transcription_format",
            "transcription_delay_ms",
            "streaming_look_ahead_ms",
            "streaming_look_back_ms",
            "streaming_n_left_pad_tokens",
            "voice_num_audio_tokens",
        ];
        if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(unsupported(k));
        }
        let enc = obj
            .get("audio_encoding_config")
            .and_then(Value::as_object)
            .ok_or_else(|| unsupported("audio_encoding_config"))?;
        let sampling_rate = u32::try_from(positive_int(obj.get("sampling_rate"), "sampling_rate")?)
            .map_err(|_| unsupported("sampling_rate"))?;
        let frame_rate = number(obj.get("frame_rate"), "frame_rate")?
            .filter(|f| *f > 0.0 && *f <= f64::from(sampling_rate))
            .ok_or_else(|| unsupported("frame_rate"))?;
        positive_int(enc.get("num_mel_bins"), "num_mel_bins")?;
        let hop_length = positive_int(enc.get("hop_length"), "hop_length")?;
        let window_size = positive_int(enc.get("window_size"), "window_size")?;
        let chunk_length_s = number(obj.get("chunk_length_s"), "chunk_length_s")?;
        let format = match obj.get("transcription_format") {
            None => "instruct",
            Some(Value::String(s)) if s == "instruct" || s == "streaming" => s.as_str(),
            Some(_) => return Err(unsupported("transcription_format")),
        };
        let delay = number(obj.get("transcription_delay_ms"), "transcription_delay_ms")?;
        let look_ahead = number(
            obj.get("streaming_look_ahead_ms"),
            "streaming_look_ahead_ms",
        )?;
        let look_back = number(obj.get("streaming_look_back_ms"), "streaming_look_back_ms")?;
        let left_pad = match obj.get("streaming_n_left_pad_tokens") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                n.as_u64()
                    .ok_or_else(|| unsupported("streaming_n_left_pad_tokens"))?,
            ),
            Some(_) => return Err(unsupported("streaming_n_left_pad_tokens")),
        };
        let streaming = if format == "streaming" {
            let (Some(delay), Some(_), Some(_), Some(left)) =
                (delay, look_ahead, look_back, left_pad)
            else {
                return Err(unsupported("streaming fields"));
            };
            let frame_ms = 1000.0 / frame_rate;
            if delay <= 0.0 || delay % frame_ms != 0.0 || chunk_length_s.is_some() {
                return Err(unsupported("transcription_delay_ms"));
            }
            Some(Streaming {
                transcription_delay_ms: delay,
                n_left_pad_tokens: left,
            })
        } else {
            if delay.is_some() || look_ahead.is_some() || look_back.is_some() || left_pad.is_some()
            {
                return Err(unsupported("streaming fields in an instruct config"));
            }
            None
        };
        let config = AudioConfig {
            sampling_rate,
            frame_rate,
            hop_length,
            window_size,
            chunk_length_s,
            streaming,
        };
        if config.audio_length_per_tok() == 0 {
            return Err(unsupported("sampling_rate / frame_rate < hop_length"));
        }
        if let Some(c) = chunk_length_s {
            if c <= 0.0 || config.chunk_frames() == 0 {
                return Err(unsupported("chunk_length_s"));
            }
        }
        Ok(config)
    }

    /// `raw_audio_length_per_tok`: samples per token, `int(sampling_rate // frame_rate)`.
    pub fn raw_audio_length_per_tok(&self) -> u64 {
        py_floordiv(f64::from(self.sampling_rate), self.frame_rate) as u64
    }

    /// `audio_length_per_tok`: spectrogram frames per token.
    pub fn audio_length_per_tok(&self) -> u64 {
        (self.raw_audio_length_per_tok() as f64 / self.hop_length as f64) as u64
    }

    /// `chunk_frames`: `int(chunk_length_s * sampling_rate)`.
    fn chunk_frames(&self) -> u64 {
        self.chunk_length_s
            .map_or(0, |c| (c * f64::from(self.sampling_rate)) as u64)
    }

    /// `num_audio_tokens(audio_len)` (the same formula as `_encode_audio_tokens`).
    pub fn num_audio_tokens(&self, audio_len: u64) -> u64 {
        let hop = self.hop_length;
        let frames = if audio_len % hop != 0 {
            (audio_len as f64 / hop as f64 - 1.0).ceil() as u64
        } else {
            audio_len / hop
        };
        (frames as f64 / self.audio_length_per_tok() as f64).ceil() as u64
    }

    /// `get_num_delay_tokens(delay_ms)`.
    pub fn num_delay_tokens(&self, delay_ms: f64) -> u64 {
        let delay_len = (delay_ms / 1000.0 * f64::from(self.sampling_rate)) as u64;
        self.num_audio_tokens(delay_len)
    }

    /// `AudioEncoder.pad` for a non-streaming config: the padded length.
    pub fn padded_len(&self, len: u64) -> u64 {
        if self.chunk_length_s.is_some_and(|c| c != 0.0) {
            let chunk = self.chunk_frames();
            (len as f64 / chunk as f64).ceil() as u64 * chunk
        } else if len < self.window_size {
            self.window_size
        } else {
            len
        }
    }

    /// `_get_streaming_pad(len, delay_ms)`: (left, right) zero samples.
    pub fn streaming_pad(&self, streaming: &Streaming, len: u64, delay_ms: f64) -> (u64, u64) {
        let per_tok = self.raw_audio_length_per_tok();
        let right = (per_tok - len % per_tok) % per_tok
            + per_tok * (self.num_delay_tokens(delay_ms) + 1 + OFFLINE_STREAMING_BUFFER_TOKENS);
        (per_tok * streaming.n_left_pad_tokens, right)
    }

    /// `encode_streaming_tokens(delay_ms)`: how many `[STREAMING_PAD]`.
    pub fn streaming_pad_tokens(&self, streaming: &Streaming, delay_ms: f64) -> u64 {
        streaming.n_left_pad_tokens + self.num_delay_tokens(delay_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voxtral() -> AudioConfig {
        AudioConfig::from_json(&serde_json::json!({
            "sampling_rate": 16000, "frame_rate": 12.5,
            "audio_encoding_config": {"num_mel_bins": 128, "hop_length": 160, "window_size": 400},
            "chunk_length_s": null,
        }))
        .unwrap()
    }

    #[test]
    fn token_counts_of_the_reference() {
        // Behaviour map §10.2, observed with mistral_common 1.13.1 (16 kHz, 12.5 Hz, hop 160).
        let c = voxtral();
        assert_eq!(c.raw_audio_length_per_tok(), 1280);
        assert_eq!(c.audio_length_per_tok(), 8);
        for (n, tokens) in [(400, 1), (16000, 13), (48005, 38), (480000, 375)] {
            assert_eq!(c.num_audio_tokens(c.padded_len(n)), tokens, "{n}");
        }
        assert_eq!(c.padded_len(1), 400);
    }

    #[test]
    fn chunked_and_streaming_padding() {
        let mut c = voxtral();
        c.chunk_length_s = Some(30.0);
        assert_eq!(c.padded_len(1), 480000);
        assert_eq!(c.padded_len(480001), 960000);
        assert_eq!(c.padded_len(0), 0);
        let s = Streaming {
            transcription_delay_ms: 480.0,
            n_left_pad_tokens: 32,
        };
        // 480 ms = 7680 samples = 6 tokens.
        assert_eq!(c.num_delay_tokens(480.0), 6);
        assert_eq!(c.streaming_pad_tokens(&s, 480.0), 38);
        assert_eq!(c.streaming_pad(&s, 1, 480.0), (32 * 1280, 1279 + 1280 * 17));
    }

    #[test]
    fn sections_mistral_common_would_refuse_are_unsupported() {
        for bad in [
            serde_json::json!({"sampling_rate": 16000, "frame_rate": 12.5}),
            serde_json::json!({"sampling_rate": 16000, "frame_rate": 12.5, "transcription_delay_ms": 80.0,
                "audio_encoding_config": {"num_mel_bins": 1, "hop_length": 160, "window_size": 400}}),
            serde_json::json!({"sampling_rate": 100, "frame_rate": 12.5,
                "audio_encoding_config": {"num_mel_bins": 1, "hop_length": 160, "window_size": 400}}),
        ] {
            assert!(matches!(
                AudioConfig::from_json(&bad),
                Err(Error::Unsupported(_))
            ));
        }
    }
}
