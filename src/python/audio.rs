//! Audio at the Python boundary: `Tokenizer.encode_transcription`, `Tokenizer.encode_chat_with_audio`
//! (chat requests with `http(s)` audio the caller fetched) and `audio_info` (what fetched bytes
//! decode to). The arrays of `return_audio=True` are float32 `memoryview`s (format `"f"`, native
//! byte order) over a `bytearray` allocated once at its final size and written in place: no
//! numpy dependency, `numpy.frombuffer(a, dtype=numpy.float32)` views one without a copy, and the
//! awaitables fill a long array a slice per loop iteration.

use std::borrow::Cow;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyMemoryView, PyString, PyTuple};

use super::deliver::{Deliver, Ids};
use super::errors::{run, to_pyerr};
use super::ids::ids_to_list;
use super::image::ascii_chars;
use super::tokenizer::{ChatArgs, PyTokenizer};
use super::worker::submit;
use mistral_tok_core::audio::{
    encode_transcription, AudioArray, AudioInfo, ChunkTokens, KnownAudio, StreamingMode,
    Transcription, TranscriptionAudio, TranscriptionRequest,
};
use mistral_tok_core::chat::Readings;
use mistral_tok_core::template::{AudioOptions, ImageOptions};
use mistral_tok_core::Tokenizer;

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

/// The samples as native-order float32 bytes.
fn f32_raw(samples: &[f32]) -> &[u8] {
    // SAFETY: any f32 is four initialized bytes; the view lives no longer than `samples`.
    unsafe { std::slice::from_raw_parts(samples.as_ptr().cast::<u8>(), samples.len() * 4) }
}

/// A float32 array for Python: `memoryview(bytearray).cast("f")` of `samples` bytes, not yet
/// written. The caller writes every byte (`write_samples`) before handing it to anyone.
fn new_samples_array(py: Python<'_>, samples: usize) -> PyResult<Bound<'_, PyByteArray>> {
    let len = samples
        .checked_mul(4)
        .and_then(|n| pyo3::ffi::Py_ssize_t::try_from(n).ok())
        .ok_or_else(|| PyTypeError::new_err("audio too long"))?;
    // SAFETY: a NULL source asks CPython for a bytearray of `len` bytes without initializing
    // them; nobody else holds it until `write_samples` has filled it.
    let ptr = unsafe { pyo3::ffi::PyByteArray_FromStringAndSize(std::ptr::null(), len) };
    // SAFETY: `ptr` is a new reference or NULL with an exception set.
    let obj = unsafe { Bound::from_owned_ptr_or_err(py, ptr) }?;
    Ok(obj.cast_into::<PyByteArray>()?)
}

/// Copies `samples` into the array's bytes from sample `at` on.
fn write_samples(array: &Bound<'_, PyByteArray>, at: usize, samples: &[f32]) {
    // SAFETY: the array is ours alone (see `new_samples_array`) and no Python code runs while the
    // slice is borrowed; `at + samples.len()` never exceeds its length (callers' invariant).
    let dst = unsafe { array.as_bytes_mut() };
    dst[at * 4..(at + samples.len()) * 4].copy_from_slice(f32_raw(samples));
}

fn float32_view<'py>(array: &Bound<'py, PyByteArray>) -> PyResult<Bound<'py, PyAny>> {
    PyMemoryView::from(array.as_any())?.call_method1("cast", ("f",))
}

/// Float32 samples lent to the core, not copied: a `bytes` (immutable), or a 1-D C-contiguous
/// float32 `numpy.ndarray` (vLLM's audio chunks; the caller must not write to it until the call
/// returns or the awaitable completes, as with a buffer handed to an asynchronous write). The
/// reference keeps the memory alive, so the worker reads it without the GIL; it is released under
/// the GIL only (see `image::LentStr`).
struct LentSamples {
    _owner: Py<PyAny>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the memory is kept alive by `_owner` and not written while lent (see above).
unsafe impl Send for LentSamples {}
unsafe impl Sync for LentSamples {}

impl LentSamples {
    fn read(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let owner = obj.clone().unbind();
        if let Ok(b) = obj.cast::<PyBytes>() {
            let bytes = b.as_bytes();
            return Ok(LentSamples {
                _owner: owner,
                ptr: bytes.as_ptr(),
                len: bytes.len(),
            });
        }
        let (ptr, len) = float32_array(obj)?.ok_or_else(|| {
            PyTypeError::new_err(
                "samples must be bytes or a 1-D C-contiguous float32 numpy.ndarray",
            )
        })?;
        Ok(LentSamples {
            _owner: owner,
            ptr,
            len,
        })
    }

    fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `read` took `ptr` and `len` from the owner's own buffer; `_owner` keeps it.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// The data pointer and byte length of a 1-D C-contiguous native-order float32 `numpy.ndarray`
/// (read from its `__array_interface__`), or None for anything else.
fn float32_array(obj: &Bound<'_, PyAny>) -> PyResult<Option<(*const u8, usize)>> {
    let py = obj.py();
    let Ok(numpy) = py.import("numpy") else {
        return Ok(None);
    };
    if !obj.is_instance(&numpy.getattr("ndarray")?)? {
        return Ok(None);
    }
    let interface = obj.getattr("__array_interface__")?;
    let native = if cfg!(target_endian = "little") {
        "<f4"
    } else {
        ">f4"
    };
    let typestr: String = interface.get_item("typestr")?.extract()?;
    let shape: Vec<usize> = interface.get_item("shape")?.extract()?;
    let strides = interface.get_item("strides")?;
    if typestr != native || shape.len() != 1 || !strides.is_none() {
        return Ok(None);
    }
    let (address, _read_only): (usize, bool) = interface.get_item("data")?.extract()?;
    let len = shape[0]
        .checked_mul(4)
        .ok_or_else(|| PyTypeError::new_err("array too large"))?;
    Ok(Some((address as *const u8, len)))
}

/// Float32 samples given as bytes must be whole samples.
fn check_f32_len(raw: &[u8]) -> PyResult<()> {
    if raw.len() % 4 == 0 {
        return Ok(());
    }
    Err(to_pyerr(mistral_tok_core::Error::InvalidArgument(
        "samples must be float32 bytes (a multiple of 4 long)".to_string(),
    )))
}

/// The float32 samples in `raw` (native order): read in place when aligned, as a numpy array's
/// buffer is, else copied.
fn as_floats(raw: &[u8]) -> Cow<'_, [f32]> {
    // SAFETY: every bit pattern is a valid f32; `align_to` only yields the aligned middle, used
    // when it is the whole buffer.
    match unsafe { raw.align_to::<f32>() } {
        ([], aligned, []) => Cow::Borrowed(aligned),
        _ => Cow::Owned(
            raw.chunks_exact(4)
                .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
    }
}

/// `encode_transcription_samples[_async]`'s work, on whichever thread runs it.
fn encode_samples(
    tok: &Tokenizer,
    raw: &[u8],
    rate: u32,
    language: Option<&str>,
    streaming: StreamingMode,
    target_streaming_delay_ms: Option<i64>,
    return_audio: bool,
) -> mistral_tok_core::Result<Transcription> {
    record_samples_thread();
    let floats = as_floats(raw);
    let request = TranscriptionRequest {
        audio: TranscriptionAudio::Samples {
            samples: &floats,
            rate,
        },
        language,
        streaming,
        target_streaming_delay_ms,
        return_audio,
    };
    encode_transcription(tok, &request)
}

/// Test hook: the OS thread ids that ran the last `encode_transcription_samples[_async]`
/// encodes (at most 256), so that a test can tell which thread did the work: the event loop's
/// or the worker's.
static SAMPLES_THREADS: std::sync::Mutex<Vec<i64>> = std::sync::Mutex::new(Vec::new());

fn record_samples_thread() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions.
    let tid = i64::from(unsafe { libc::gettid() });
    #[cfg(not(target_os = "linux"))]
    let tid = -1;
    if let Ok(mut threads) = SAMPLES_THREADS.lock() {
        if threads.len() >= 256 {
            threads.remove(0);
        }
        threads.push(tid);
    }
}

/// `_native._samples_encode_threads()`: the thread ids recorded since the last call.
#[pyfunction]
pub(crate) fn _samples_encode_threads() -> Vec<i64> {
    SAMPLES_THREADS
        .lock()
        .map(|mut threads| std::mem::take(&mut *threads))
        .unwrap_or_default()
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

/// `encode_transcription[_samples]_async`' result: the ids list (built as `Ids` is), then the
/// arrays, filled a slice per loop iteration (one padded array of a 10-minute recording is
/// 38 MB of samples).
struct TranscriptionOut {
    ids: Ids,
    list: Option<Py<PyAny>>,
    audios: Option<std::vec::IntoIter<AudioArray>>,
    dicts: Option<Py<PyList>>,
    // The array being filled: the samples not yet copied, its bytes, its rate.
    filling: Option<(Vec<f32>, Py<PyByteArray>, u32)>,
}

impl TranscriptionOut {
    fn new(ids: Vec<u32>, audios: Option<Vec<AudioArray>>) -> Self {
        TranscriptionOut {
            ids: Ids::new(ids),
            list: None,
            audios: audios.map(Vec::into_iter),
            dicts: None,
            filling: None,
        }
    }

    /// Copies one slice of the array being filled (starting the next array when none is), from
    /// its end: the samples copied are freed at once (a 38 MB buffer freed in one go costs the
    /// loop ~5 ms of unmapping); `Ok(false)` when every array is done.
    fn fill(&mut self, py: Python<'_>, budget: &mut usize) -> PyResult<bool> {
        let (mut audio, array, rate) = match self.filling.take() {
            Some(filling) => filling,
            None => match self.audios.as_mut().and_then(Iterator::next) {
                Some(audio) => {
                    let array = new_samples_array(py, audio.samples.len())?.unbind();
                    let rate = audio.sampling_rate;
                    (audio.samples, array, rate)
                }
                None => return Ok(false),
            },
        };
        let start = audio.len().saturating_sub(SLICE_SAMPLES);
        write_samples(array.bind(py), start, &audio[start..]);
        *budget = budget.saturating_sub(1 + (audio.len() - start) / SAMPLES_PER_BUDGET_ITEM);
        audio.truncate(start);
        audio.shrink_to_fit();
        if start > 0 {
            self.filling = Some((audio, array, rate));
            return Ok(true);
        }
        let d = PyDict::new(py);
        d.set_item("array", float32_view(array.bind(py))?)?;
        d.set_item("sampling_rate", rate)?;
        let dicts = self.dicts.get_or_insert_with(|| PyList::empty(py).unbind());
        dicts.bind(py).append(d)?;
        Ok(true)
    }
}

/// Samples copied into an array per step (1 MB: a copy takes well under a millisecond).
const SLICE_SAMPLES: usize = 1 << 16;
/// Samples copied per unit of the drain budget (a copy costs far less per item than making an
/// int object).
const SAMPLES_PER_BUDGET_ITEM: usize = 1;

impl Deliver for TranscriptionOut {
    fn step(&mut self, py: Python<'_>, budget: &mut usize) -> PyResult<Option<Py<PyAny>>> {
        if self.list.is_none() {
            match self.ids.step(py, budget)? {
                Some(list) => self.list = Some(list),
                None => return Ok(None),
            }
        }
        if self.audios.is_none() {
            return Ok(self.list.take());
        }
        while *budget > 0 {
            if !self.fill(py, budget)? {
                let list = self.list.take().map(|l| l.into_bound(py));
                let dicts = match self.dicts.take() {
                    Some(dicts) => dicts.into_bound(py),
                    None => PyList::empty(py),
                };
                let pair = PyTuple::new(py, [list.into_pyobject(py)?, dicts.into_any()])?;
                return Ok(Some(pair.into_any().unbind()));
            }
        }
        Ok(None)
    }
}

/// `{"array": float32 memoryview of the samples, "sampling_rate": rate}` per audio.
fn audio_dicts<'py>(py: Python<'py>, audios: &[AudioArray]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for a in audios {
        list.append(audio_dict(py, a)?)?;
    }
    Ok(list)
}

fn audio_dict<'py>(py: Python<'py>, audio: &AudioArray) -> PyResult<Bound<'py, PyDict>> {
    let array = new_samples_array(py, audio.samples.len())?;
    write_samples(&array, 0, &audio.samples);
    let d = PyDict::new(py);
    d.set_item("array", float32_view(&array)?)?;
    d.set_item("sampling_rate", audio.sampling_rate)?;
    Ok(d)
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
    /// or the 1-D float32 numpy array itself, read in place): vLLM's Voxtral transcription prompt
    /// without the WAV and base64 round trip. GIL released.
    #[pyo3(signature = (samples, sample_rate, *, language = None, streaming = "disabled", target_streaming_delay_ms = None, return_audio = false))]
    #[allow(clippy::too_many_arguments)] // the Python signature
    fn encode_transcription_samples<'py>(
        &self,
        py: Python<'py>,
        samples: &Bound<'py, PyAny>,
        sample_rate: u32,
        language: Option<String>,
        streaming: &str,
        target_streaming_delay_ms: Option<i64>,
        return_audio: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let streaming: StreamingMode = streaming.parse().map_err(to_pyerr)?;
        let lent = LentSamples::read(samples)?;
        let raw = lent.bytes();
        check_f32_len(raw)?;
        let tok = &self.inner;
        let out = py.detach(|| {
            run(|| {
                encode_samples(
                    tok,
                    raw,
                    sample_rate,
                    language.as_deref(),
                    streaming,
                    target_streaming_delay_ms,
                    return_audio,
                )
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
            Ok(TranscriptionOut::new(
                out.ids,
                return_audio.then_some(out.audios),
            ))
        })
    }

    /// `await encode_transcription_samples_async(...)` == `encode_transcription_samples(...)`,
    /// computed on the worker thread, which reads the samples in place (lent, not copied): vLLM's
    /// Voxtral transcription prompt off the event loop.
    #[pyo3(signature = (samples, sample_rate, *, language = None, streaming = "disabled", target_streaming_delay_ms = None, return_audio = false))]
    #[allow(clippy::too_many_arguments)] // the Python signature
    fn encode_transcription_samples_async<'py>(
        &self,
        py: Python<'py>,
        samples: &Bound<'py, PyAny>,
        sample_rate: u32,
        language: Option<String>,
        streaming: &str,
        target_streaming_delay_ms: Option<i64>,
        return_audio: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let streaming: StreamingMode = streaming.parse().map_err(to_pyerr)?;
        let lent = LentSamples::read(samples)?;
        check_f32_len(lent.bytes())?;
        let tok = std::sync::Arc::clone(&self.inner);
        submit(py, move || {
            let out = encode_samples(
                &tok,
                lent.bytes(),
                sample_rate,
                language.as_deref(),
                streaming,
                target_streaming_delay_ms,
                return_audio,
            )?;
            Ok(TranscriptionOut::new(
                out.ids,
                return_audio.then_some(out.audios),
            ))
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
    Ok(PyBytes::new(
        py,
        f32_raw(&mistral_tok_core::audio::pcm16_roundtrip_f32(&samples)),
    ))
}

/// Test hook: the length `soxr.resample` returns (`mistral_tok_core::audio::resampled_len`).
#[pyfunction]
pub(crate) fn _resampled_len(samples: u64, in_rate: u32, out_rate: u32) -> u64 {
    mistral_tok_core::audio::resampled_len(samples, in_rate, out_rate)
}
