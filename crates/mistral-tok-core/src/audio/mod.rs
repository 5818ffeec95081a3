//! Audio (Voxtral): from the audio a request carries to its `[AUDIO]` tokens, as mistral_common
//! 1.13.1's `AudioEncoder` produces them, without decoding or resampling the samples.
//!
//! mistral_common decodes the file with soundfile (libsndfile) to float32, refuses anything but a
//! 1-D array, resamples it to the tokenizer's `sampling_rate` with soxr (quality "HQ") and pads it
//! (`AudioEncoder.pad`); the token count depends only on the padded length. So the native path
//! needs two numbers: how many frames libsndfile decodes ([`probe`]) and how many samples soxr
//! returns for them ([`resampled_len`]); [`AudioConfig`] does the rest of the arithmetic.
//!
//! # Containers
//! libsndfile picks the format from the first 12 bytes (`guess_file_type`); fewer bytes, or
//! bytes no format claims, are refused ([`Error::Request`], as mistral_common raises). Read here:
//! - **WAV** (`wav.rs`): PCM 8/16/24/32-bit and IEEE float 32/64-bit, from the chunk headers
//!   only — the samples are never decoded, and a base64 payload is decoded only where headers
//!   are read. Truncated files count the whole frames present, as libsndfile does.
//! - **FLAC** (`flac.rs`, decoded with `claxon`) and **Ogg Vorbis** (`vorbis.rs`, decoded with
//!   `lewton`): the count is accepted when the decoder's sample count equals the container's.
//!
//! Every other format libsndfile reads (MP3, AIFF, CAF, Opus, ADPCM or µ-law WAV, RF64 …), and
//! any layout of the three above that is not known to be read identically, is
//! [`Error::Unsupported`]: callers fall back to mistral_common.
//!
//! # Sources
//! `input_audio` chunks carry base64 (optionally a `data:…;base64,` URL); `audio_url` chunks a
//! `data:` URL, a `file://` URI or an existing path (read on the calling thread), `http(s)` (read
//! only through [`KnownAudio`]: the caller passes what its own fetch of the URL decoded to,
//! [`audio_info`] of the bytes), or else base64.
//!
//! # Checked against
//! libsndfile **1.2.2** (soundfile 0.14.0) and libsoxr **0.1.3** (python-soxr 1.1.0,
//! `0.1.3-14-ga66f3ee`), by `tests/test_audio_parity.py` and `tests/test_audio_resample.py`.

mod arrays;
mod config;
mod flac;
mod resample;
pub(crate) mod source;
mod transcription;
mod vorbis;
mod wav;

use std::collections::HashMap;

pub use arrays::{pcm16_roundtrip_f32, AudioArray};
pub use config::{AudioConfig, Streaming};
pub use resample::resampled_len;
pub use transcription::{
    encode_transcription, StreamingMode, Transcription, TranscriptionAudio, TranscriptionRequest,
};

use crate::error::{Error, Result};
use source::Bytes;

/// The libsndfile versions the answers here were checked against (see the module doc).
pub const CHECKED_AGAINST: &str = "libsndfile 1.2.2, libsoxr 0.1.3 (python-soxr 1.1.0)";

/// A mono audio's length as soundfile decodes it: `frames` samples at `sample_rate` Hz.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioInfo {
    pub frames: u64,
    pub sample_rate: u32,
}

/// What the caller's own fetch of `http(s)` audio URLs decoded to ([`audio_info`] of the bytes),
/// by URL. Without an entry such a URL is [`Error::Unsupported`].
pub type KnownAudio = HashMap<String, AudioInfo>;

/// The container a probe read, with what the arrays path needs to find the samples.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Container {
    /// The `fmt ` fields and the offset of the sample data.
    Wav(wav::Fmt, u64),
    Flac,
    OggVorbis,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe {
    pub container: Container,
    pub frames: u64,
    pub sample_rate: u32,
    pub channels: u16,
}

pub(crate) fn unsupported(what: &str) -> Error {
    Error::Unsupported(format!(
        "audio ({what}) is not read natively; use mistral_common for this request"
    ))
}

/// A file libsndfile cannot open (mistral_common raises).
pub(crate) fn refuse(what: &str) -> Error {
    Error::Request(format!(
        "Failed to decode the audio payload: {what}. Verify that the input is a valid audio file \
         (e.g. wav or mp3)."
    ))
}

/// `Audio.from_bytes(strict=True)` on a multi-channel file.
pub(crate) fn refuse_multichannel() -> Error {
    Error::Request("audio_array.ndim=2".to_string())
}

/// `guess_file_type`'s magic numbers for the formats not read here.
fn other_libsndfile_format(h: &[u8; 12]) -> bool {
    let w0 = &h[0..4];
    let w1 = &h[4..8];
    let w2 = &h[8..12];
    let ircam = (h[0] == 0x64 && h[1] == 0xA3 && h[2] & 0xF8 == 0 && h[3] == 0)
        || (h[0] == 0 && h[1] & 0xF8 == 0 && h[2] == 0xA3 && h[3] == 0x64);
    let mat4 = (w0 == [0, 0, 3, 0xE8] && w1 == [0, 0, 0, 1] && w2 == [0, 0, 0, 1])
        || (w0 == [0, 0, 0, 0] && w1 == [1, 0, 0, 0] && w2 == [1, 0, 0, 0]);
    let sds = h[0] == 0xF0 && h[1] == 0x7E && h[2] & 0x80 == 0 && h[3] == 0x01;
    ircam
        || mat4
        || sds
        || matches!(
            w0,
            b"FORM" | b".snd" | b"dns." | b"fap " | b" paf" | b"NIST" | b"Crea" | b"riff"
                | b"MATL" | b"PVF1" | b"Exte" | b"caff" | b"ALaw" | b"Diam" | b"LM89" | b"2BIT"
                | b"RF64" | b"CAT " | b"RIFX" | b"RIFF" | b"SOUN" | b"SY80" | b"SY85" | b"ajkg"
                | b"0&\xB2u"
        )
        || w0 == b"53\0\0"
        || h[0..2] == [1, 4]
        || h[0..3] == *b"ID3"
        // HTK (decided with the file length) and MPEG frame sync: left to mistral_common.
        || w2 == [0, 2, 0, 0]
        || h[0] == 0xFF
}

/// Reads the container: format, channels, rate and the frame count libsndfile decodes.
pub(crate) fn probe(data: &Bytes<'_>) -> Result<Probe> {
    let head = data
        .read_array::<12>(0)
        .ok_or_else(|| refuse("fewer than 12 bytes"))?;
    if &head[0..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        return wav::probe(data);
    }
    if &head[0..4] == b"fLaC" {
        return flac::probe(&data.whole());
    }
    if &head[0..4] == b"OggS" {
        return vorbis::probe(&data.whole());
    }
    if other_libsndfile_format(&head) {
        return Err(unsupported("a format other than WAV, FLAC or Ogg Vorbis"));
    }
    Err(refuse("Format not recognised"))
}

/// The mono length of encoded audio bytes as `Audio.from_bytes(data, strict=True)` decodes them,
/// or the error it raises (a multi-channel file, unreadable data); [`Error::Unsupported`] for
/// what is not read natively.
pub fn audio_info(data: &[u8]) -> Result<AudioInfo> {
    info(&Bytes::Slice(std::borrow::Cow::Borrowed(data)))
}

pub(crate) fn info(data: &Bytes<'_>) -> Result<AudioInfo> {
    let p = probe(data)?;
    if p.channels != 1 {
        return Err(refuse_multichannel());
    }
    Ok(AudioInfo {
        frames: p.frames,
        sample_rate: p.sample_rate,
    })
}

/// Where one audio chunk's data is.
#[derive(Debug, Clone, Copy)]
pub enum AudioInput<'a> {
    /// `input_audio`: base64, optionally a data URL (`Audio.from_base64`).
    Base64(&'a str),
    /// `input_audio` given as bytes (`Audio.from_bytes`).
    Bytes(&'a [u8]),
    /// `audio_url` (see the module doc).
    Url(&'a str),
}

/// The decoded length of one chunk's audio, before resampling.
pub fn input_info(input: AudioInput<'_>, known: Option<&KnownAudio>) -> Result<AudioInfo> {
    match input {
        AudioInput::Base64(s) => info(&source::from_base64(s)?),
        AudioInput::Bytes(b) => audio_info(b),
        AudioInput::Url(url) => match source::url_kind(url)? {
            source::UrlKind::Http => known.and_then(|k| k.get(url)).copied().ok_or_else(|| {
                Error::Unsupported(
                    "audio from an http(s) URL is not fetched natively; pass what your fetch \
                     decoded to (mistral_tok.audio_info) or use mistral_common"
                        .to_string(),
                )
            }),
            source::UrlKind::Base64(s) => info(&source::from_base64(s)?),
            source::UrlKind::File(path) => audio_info(&source::read_file(path)?),
        },
    }
}

/// The tokens of one audio chunk in a chat request (`AudioEncoder.__call__`), as counts: the
/// padded length at the tokenizer's rate, and how many `[AUDIO]` (instruct) or
/// `[STREAMING_PAD]` (streaming) tokens follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkTokens {
    /// Samples after resampling and padding (the array mistral_common keeps).
    pub padded_len: u64,
    /// Zero samples added before the audio (streaming only).
    pub left_pad: u64,
    pub tokens: u64,
}

/// `AudioEncoder.encode_audio(audio, delay_ms)` on audio of `info`'s length.
pub fn chunk_tokens(config: &AudioConfig, info: AudioInfo, delay_ms: Option<f64>) -> ChunkTokens {
    let len = resampled_len(info.frames, info.sample_rate, config.sampling_rate);
    match &config.streaming {
        Some(s) => {
            let delay = delay_ms.unwrap_or(s.transcription_delay_ms);
            let (left, right) = config.streaming_pad(s, len, delay);
            ChunkTokens {
                padded_len: left + len + right,
                left_pad: left,
                tokens: config.streaming_pad_tokens(s, delay),
            }
        }
        None => {
            let padded_len = config.padded_len(len);
            ChunkTokens {
                padded_len,
                left_pad: 0,
                tokens: config.num_audio_tokens(padded_len),
            }
        }
    }
}

#[cfg(test)]
mod tests;
