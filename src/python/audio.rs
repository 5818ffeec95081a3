//! Audio at the Python boundary: `Tokenizer.encode_transcription`, `Tokenizer.encode_chat_with_audio`
//! (chat requests with `http(s)` audio the caller fetched) and `audio_info` (what fetched bytes
//! decode to). The arrays of `return_audio=True` are `array.array("f")` (float32, native byte
//! order): no numpy dependency, and `numpy.frombuffer(a, dtype=numpy.float32)` views one without
//! a copy.

use std::borrow::Cow;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use super::deliver::{Deliver, Ids};
use super::errors::{run, to_pyerr};
use super::ids::ids_to_list;
use super::image::ascii_chars;
use super::tokenizer::{ChatArgs, PyTokenizer};
use super::worker::submit;
use mistral_tok_core::audio::{
    encode_transcription, AudioArray, AudioInfo, ChunkTokens, KnownAudio, StreamingMode,
    TranscriptionAudio, TranscriptionRequest,
};
use mistral_tok_core::chat::Readings;
use mistral_tok_core::template::{AudioOptions, ImageOptions};

/// The audio argument: base64 text (`str`) or encoded bytes, as `TranscriptionRequest.audio`.
enum AudioArg<'py> {
    Text(Cow<'py, str>),
    Bytes(&'py [u8]),
}

impl<'py> AudioArg<'py> {
    fn read(obj: &'py Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(s) = obj.cast::<PyString>() {
            // An ASCII str (base64) is read in place, not copied.
            if let Some(chars) = ascii_chars(s) {
                return Ok(AudioArg::Text(Cow::Borrowed(chars)));
            }
            return Ok(AudioArg::Text(s.to_cow()?));
        }
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(AudioArg::Bytes(b.as_bytes()));
        }
        Err(PyTypeError::new_err(
            "audio must be a str (base64, optionally a data URL) or bytes",
        ))
    }

    fn as_input(&self) -> TranscriptionAudio<'_> {
        match self {
            AudioArg::Text(s) => TranscriptionAudio::Base64(s),
            AudioArg::Bytes(b) => TranscriptionAudio::Bytes(b),
        }
    }
}

/// The samples as native-order float32 bytes, written straight into the `bytes` object.
fn f32_bytes<'py>(py: Python<'py>, samples: &[f32]) -> PyResult<Bound<'py, PyBytes>> {
    PyBytes::new_with(py, samples.len() * 4, |buf| {
        for (dst, f) in buf.chunks_exact_mut(4).zip(samples) {
            dst.copy_from_slice(&f.to_ne_bytes());
        }
        Ok(())
    })
}

/// The audio argument copied for the worker thread (a 30-second chunk is ~1 MB).
enum OwnedAudio {
    Text(String),
    Bytes(Vec<u8>),
}

impl OwnedAudio {
    fn as_input(&self) -> TranscriptionAudio<'_> {
        match self {
            OwnedAudio::Text(s) => TranscriptionAudio::Base64(s),
            OwnedAudio::Bytes(b) => TranscriptionAudio::Bytes(b),
        }
    }
}

/// `encode_transcription_async`' result: the ids list (built as `Ids` is), then the arrays.
struct TranscriptionOut {
    ids: Ids,
    list: Option<Py<PyAny>>,
    audios: Option<Vec<AudioArray>>,
}

impl Deliver for TranscriptionOut {
    fn step(&mut self, py: Python<'_>, budget: &mut usize) -> PyResult<Option<Py<PyAny>>> {
        let list = match self.list.take() {
            Some(list) => list,
            None => match self.ids.step(py, budget)? {
                Some(list) => list,
                None => return Ok(None),
            },
        };
        let Some(audios) = self.audios.take() else {
            return Ok(Some(list));
        };
        *budget = budget.saturating_sub(audios.len());
        let dicts = audio_dicts(py, &audios)?;
        Ok(Some(
            PyTuple::new(py, [list.into_bound(py), dicts.into_any()])?
                .into_any()
                .unbind(),
        ))
    }
}

/// `{"array": array.array("f", samples), "sampling_rate": rate}` per audio.
fn audio_dicts<'py>(py: Python<'py>, audios: &[AudioArray]) -> PyResult<Bound<'py, PyList>> {
    let array = py.import("array")?.getattr("array")?;
    let list = PyList::empty(py);
    for a in audios {
        let arr = array.call1(("f",))?;
        arr.call_method1("frombytes", (f32_bytes(py, &a.samples)?,))?;
        let d = PyDict::new(py);
        d.set_item("array", arr)?;
        d.set_item("sampling_rate", a.sampling_rate)?;
        list.append(d)?;
    }
    Ok(list)
}

/// `{"tokens": n, "samples": padded length}` per audio chunk.
fn chunk_dicts<'py>(py: Python<'py>, chunks: &[ChunkTokens]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for c in chunks {
        let d = PyDict::new(py);
        d.set_item("tokens", c.tokens)?;
        d.set_item("samples", c.padded_len)?;
        list.append(d)?;
    }
    Ok(list)
}

#[pymethods]
impl PyTokenizer {
    /// `MistralTokenizer.encode_transcription(TranscriptionRequest(audio=audio, language=…,
    /// streaming=…, target_streaming_delay_ms=…)).tokens`; with `return_audio=True`, also its
    /// `audios` as dicts (16-bit PCM WAV needing no resampling only; else
    /// `UnsupportedFeatureError`).
    #[pyo3(signature = (audio, *, language = None, streaming = "disabled", target_streaming_delay_ms = None, return_audio = false))]
    fn encode_transcription<'py>(
        &self,
        py: Python<'py>,
        audio: &Bound<'py, PyAny>,
        language: Option<String>,
        streaming: &str,
        target_streaming_delay_ms: Option<i64>,
        return_audio: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let arg = AudioArg::read(audio)?;
        let streaming: StreamingMode = streaming.parse().map_err(to_pyerr)?;
        let request = TranscriptionRequest {
            audio: arg.as_input(),
            language: language.as_deref(),
            streaming,
            target_streaming_delay_ms,
            return_audio,
        };
        let tok = &self.inner;
        let out = py.detach(|| run(|| encode_transcription(tok, &request)))?;
        let ids = ids_to_list(py, &out.ids)?;
        if !return_audio {
            return Ok(ids.into_any());
        }
        Ok((ids, audio_dicts(py, &out.audios)?)
            .into_pyobject(py)?
            .into_any())
    }

    /// `encode_transcription` of the WAV that `soundfile.write(buf, samples, sample_rate,
    /// format="WAV")` writes for a mono float32 chunk (`samples`: its native-order float32 bytes,
    /// e.g. `numpy_array.tobytes()`): vLLM's Voxtral transcription prompt without the WAV and
    /// base64 round trip. GIL released.
    #[pyo3(signature = (samples, sample_rate, *, language = None, streaming = "disabled", target_streaming_delay_ms = None, return_audio = false))]
    #[allow(clippy::too_many_arguments)] // the Python signature
    fn encode_transcription_samples<'py>(
        &self,
        py: Python<'py>,
        samples: &Bound<'py, PyBytes>,
        sample_rate: u32,
        language: Option<String>,
        streaming: &str,
        target_streaming_delay_ms: Option<i64>,
        return_audio: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let streaming: StreamingMode = streaming.parse().map_err(to_pyerr)?;
        let raw = samples.as_bytes();
        if raw.len() % 4 != 0 {
            return Err(to_pyerr(mistral_tok_core::Error::InvalidArgument(
                "samples must be float32 bytes (a multiple of 4 long)".to_string(),
            )));
        }
        let tok = &self.inner;
        let out = py.detach(|| {
            run(|| {
                // SAFETY: every bit pattern is a valid f32; `align_to` only yields the aligned
                // middle, used when it is the whole buffer.
                let (head, aligned, tail) = unsafe { raw.align_to::<f32>() };
                let copied: Vec<f32>;
                let floats = if head.is_empty() && tail.is_empty() {
                    aligned
                } else {
                    copied = raw
                        .chunks_exact(4)
                        .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .collect();
                    &copied
                };
                let request = TranscriptionRequest {
                    audio: TranscriptionAudio::Samples {
                        samples: floats,
                        rate: sample_rate,
                    },
                    language: language.as_deref(),
                    streaming,
                    target_streaming_delay_ms,
                    return_audio,
                };
                encode_transcription(tok, &request)
            })
        })?;
        let ids = ids_to_list(py, &out.ids)?;
        if !return_audio {
            return Ok(ids.into_any());
        }
        Ok((ids, audio_dicts(py, &out.audios)?)
            .into_pyobject(py)?
            .into_any())
    }

    /// `await encode_transcription_async(...)` == `encode_transcription(...)`, computed on the
    /// worker thread (the audio argument is copied first).
    #[pyo3(signature = (audio, *, language = None, streaming = "disabled", target_streaming_delay_ms = None, return_audio = false))]
    fn encode_transcription_async<'py>(
        &self,
        py: Python<'py>,
        audio: &Bound<'py, PyAny>,
        language: Option<String>,
        streaming: &str,
        target_streaming_delay_ms: Option<i64>,
        return_audio: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let owned = match AudioArg::read(audio)? {
            AudioArg::Text(s) => OwnedAudio::Text(s.into_owned()),
            AudioArg::Bytes(b) => OwnedAudio::Bytes(b.to_vec()),
        };
        let streaming: StreamingMode = streaming.parse().map_err(to_pyerr)?;
        let tok = std::sync::Arc::clone(&self.inner);
        submit(py, move || {
            let request = TranscriptionRequest {
                audio: owned.as_input(),
                language: language.as_deref(),
                streaming,
                target_streaming_delay_ms,
                return_audio,
            };
            let out = encode_transcription(&tok, &request)?;
            Ok(TranscriptionOut {
                ids: Ids::new(out.ids),
                list: None,
                audios: return_audio.then_some(out.audios),
            })
        })
    }

    /// `encode_chat` for requests with `http(s)` audio URLs: `audio_infos={url: (frames,
    /// sample_rate)}` gives what the caller's fetch of each URL decoded to (`audio_info(bytes)`).
    /// Returns the ids and, per audio chunk, `{"tokens": n, "samples": padded length}`.
    #[pyo3(
        signature = (messages, tools = None, *, audio_infos = None, max_model_input_len = None, **request_fields),
        text_signature = "(self, /, messages, tools=None, *, audio_infos=None, max_model_input_len=None, **request_fields)"
    )]
    fn encode_chat_with_audio<'py>(
        &self,
        py: Python<'py>,
        messages: &Bound<'py, PyAny>,
        tools: Option<&Bound<'py, PyAny>>,
        audio_infos: Option<std::collections::HashMap<String, (u64, u32)>>,
        max_model_input_len: Option<&Bound<'py, PyAny>>,
        request_fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        let known: Option<KnownAudio> = audio_infos.map(|m| {
            m.into_iter()
                .map(|(url, (frames, sample_rate))| {
                    (
                        url,
                        AudioInfo {
                            frames,
                            sample_rate,
                        },
                    )
                })
                .collect()
        });
        let given =
            ChatArgs::new(messages, tools, None, request_fields, max_model_input_len)?.given()?;
        let audio = AudioOptions {
            known: known.as_ref(),
        };
        let tok = &self.inner;
        let (encoded, chunks) = py.detach(|| {
            run(|| {
                let request = Readings::read(&given)?.into_single()?;
                let instruct = request.instruct_request(tok)?;
                mistral_tok_core::template::encode_instruct_with_media(
                    tok,
                    &instruct,
                    ImageOptions::default(),
                    audio,
                )
            })
        })?;
        Ok((ids_to_list(py, &encoded.ids)?, chunk_dicts(py, &chunks)?))
    }
}

/// What `Audio.from_bytes(data)` decodes: `(frames, sample_rate)` of a mono file, with the GIL
/// released; `RequestError` where mistral_common raises (multi-channel, unreadable data),
/// `UnsupportedFeatureError` for what is not read natively.
#[pyfunction]
pub(crate) fn audio_info(py: Python<'_>, data: &Bound<'_, PyBytes>) -> PyResult<(u64, u32)> {
    let bytes = data.as_bytes();
    let info = py.detach(|| run(|| mistral_tok_core::audio::audio_info(bytes)))?;
    Ok((info.frames, info.sample_rate))
}

/// Test hook: soundfile's float32 → PCM_16 → float32 round trip of native-order float32 bytes.
#[pyfunction]
pub(crate) fn _pcm16_roundtrip<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyBytes>,
) -> PyResult<Bound<'py, PyBytes>> {
    let samples: Vec<f32> = data
        .as_bytes()
        .chunks_exact(4)
        .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    f32_bytes(py, &mistral_tok_core::audio::pcm16_roundtrip_f32(&samples))
}

/// Test hook: the length `soxr.resample` returns (`mistral_tok_core::audio::resampled_len`).
#[pyfunction]
pub(crate) fn _resampled_len(samples: u64, in_rate: u32, out_rate: u32) -> u64 {
    mistral_tok_core::audio::resampled_len(samples, in_rate, out_rate)
}
