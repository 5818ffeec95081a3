//! `mistral_tok.Tokenizer`: the loaded tokenizer file, shared with the worker thread through `Arc`.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use super::bigtext::{lighten, put_back};
use super::errors::{run, to_pyerr};
use super::ids::ids_to_list;
use super::image::{image_dicts, lend_images, IdsAndImages};
use super::text::owned_text;
use super::value::{to_value, Surrogates};
use super::worker::{
    boxed, submit, submit_text, submit_texts, Ids, IdsAndText, OnBadText, Whole, TEXT_SLICE_CHARS,
};
use crate::chat::surrogates::{Alternatives, Readings};
use crate::chat::ChatRequest;
use crate::error::Error;
use crate::image::stand_in::StandIns;
use crate::template::{ImageOptions, KnownImageSizes};
use crate::tokenizer::{SpecialTokenPolicy, Tokenizer};

#[pyclass(frozen, module = "mistral_tok._native", name = "Tokenizer")]
pub struct PyTokenizer {
    pub(crate) inner: Arc<Tokenizer>,
    path: PathBuf,
}

/// JSON sections kept verbatim by the core become plain Python objects through `json.loads`; this
/// is a cold path (property access), so the simplest faithful conversion wins.
fn json_to_py<'py>(
    py: Python<'py>,
    value: Option<&serde_json::Value>,
) -> PyResult<Bound<'py, PyAny>> {
    match value {
        None => Ok(py.None().into_bound(py)),
        Some(v) => py.import("json")?.call_method1("loads", (v.to_string(),)),
    }
}

/// Ids arrive as Python ints; anything that is not a valid id is a decode error (as tiktoken's
/// KeyError and sentencepiece's IndexError are errors), never an OverflowError.
fn to_ids(ids: Vec<i64>) -> PyResult<Vec<u32>> {
    ids.into_iter()
        .map(|id| {
            u32::try_from(id)
                .map_err(|_| to_pyerr(Error::Decode(format!("token id {id} is out of range"))))
        })
        .collect()
}

impl PyTokenizer {
    pub(crate) fn from_parts(inner: Arc<Tokenizer>, path: PathBuf) -> Self {
        PyTokenizer { inner, path }
    }
}

#[pymethods]
impl PyTokenizer {
    /// Pickles with the file's contents (see `pickle`).
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, pyo3::types::PyTuple>)> {
        super::pickle::reduce(py, &self.inner, &self.path)
    }

    /// Many conversations, encoded on several threads (see `batch`).
    #[pyo3(
        signature = (conversations, tools = None, *, num_threads = None, errors = "raise", max_model_input_len = None, check_pixels = true, **request_fields),
        text_signature = "(self, /, conversations, tools=None, *, num_threads=None, errors='raise', continue_final_message=False, max_model_input_len=None, check_pixels=True, **request_fields)"
    )]
    #[allow(clippy::too_many_arguments)] // the Python signature
    fn encode_chat_batch<'py>(
        &self,
        py: Python<'py>,
        conversations: &Bound<'py, PyAny>,
        tools: Option<&Bound<'py, PyAny>>,
        num_threads: Option<usize>,
        errors: &str,
        max_model_input_len: Option<&Bound<'py, PyAny>>,
        check_pixels: bool,
        request_fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyList>> {
        super::batch::encode_chat_batch(
            py,
            &self.inner,
            conversations,
            tools,
            num_threads,
            errors,
            max_model_input_len,
            check_pixels,
            request_fields,
        )
    }

    /// Loads a tekken `.json` or SentencePiece `.model[.vN[m1]]` file.
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let tokenizer = py.detach(|| run(|| Tokenizer::from_file(&path)))?;
        Ok(PyTokenizer {
            inner: Arc::new(tokenizer),
            path,
        })
    }

    #[pyo3(signature = (text, *, bos = false, eos = false))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &Bound<'py, PyString>,
        bos: bool,
        eos: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let text = owned_text(text, self.inner.kind())?;
        let tok = &self.inner;
        let ids = py.detach(|| run(|| tok.encode(&text, bos, eos)))?;
        ids_to_list(py, &ids)
    }

    /// `await encode_async(...)` == `encode(...)`, computed on the worker thread.
    #[pyo3(signature = (text, *, bos = false, eos = false))]
    fn encode_async<'py>(
        &self,
        text: &Bound<'py, PyString>,
        bos: bool,
        eos: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let tok = Arc::clone(&self.inner);
        submit_text(text, self.inner.kind(), move |text| {
            Ok(Ids::new(tok.encode(&text, bos, eos)?))
        })
    }

    /// `await decode_async(...)` == `decode(...)`, computed on the worker thread.
    #[pyo3(signature = (ids, *, special_token_policy = "ignore"))]
    fn decode_async<'py>(
        &self,
        py: Python<'py>,
        ids: Vec<i64>,
        special_token_policy: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let policy: SpecialTokenPolicy = special_token_policy.parse().map_err(to_pyerr)?;
        let ids = to_ids(ids)?;
        let tok = Arc::clone(&self.inner);
        submit(py, move || Ok(Whole(Some(tok.decode(&ids, policy)?))))
    }

    /// Fill-in-the-middle prompt ids, as mistral_common's `encode_fim(FIMRequest(prompt, suffix))`.
    #[pyo3(signature = (prompt, suffix = None))]
    fn encode_fim<'py>(
        &self,
        py: Python<'py>,
        prompt: &Bound<'py, PyString>,
        suffix: Option<&Bound<'py, PyString>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let kind = self.inner.kind();
        let prompt = owned_text(prompt, kind)?;
        let suffix = suffix.map(|s| owned_text(s, kind)).transpose()?;
        let tok = &self.inner;
        let ids = py.detach(|| run(|| crate::fim::encode_fim(tok, &prompt, suffix.as_deref())))?;
        ids_to_list(py, &ids)
    }

    /// Chat request → token ids, as mistral_common's `encode_chat_completion(
    /// ChatCompletionRequest.from_openai(messages, tools, continue_final_message=…, **fields),
    /// max_model_input_len)`.
    #[pyo3(
        signature = (messages, tools = None, *, max_model_input_len = None, check_pixels = true, **request_fields),
        text_signature = "(self, /, messages, tools=None, *, continue_final_message=False, max_model_input_len=None, check_pixels=True, **request_fields)"
    )]
    fn encode_chat<'py>(
        &self,
        py: Python<'py>,
        messages: &Bound<'py, PyAny>,
        tools: Option<&Bound<'py, PyAny>>,
        max_model_input_len: Option<&Bound<'py, PyAny>>,
        check_pixels: bool,
        request_fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let cfm = continue_final_message_kwarg(request_fields)?;
        let input = ChatInput::new(messages, max_model_input_len)?;
        let readings = input.call(tools, cfm.as_ref(), request_fields).read()?;
        let (tok, lent) = (&self.inner, &input.lent);
        let ids = py.detach(|| lent.scope(|| run(|| readings.encode(tok, check_pixels))))?;
        ids_to_list(py, &ids)
    }

    /// `await encode_chat_async(...)` == `encode_chat(...)`, computed on the worker thread.
    /// With `with_text=True` it is `(ids, text)`: the prompt decoded with special tokens kept
    /// (or with the special-token policy `with_text` names: "keep", "ignore", "raise"), also on
    /// the worker, so a caller that needs both never reads the ids back.
    #[pyo3(
        signature = (messages, tools = None, *, max_model_input_len = None, check_pixels = true, with_text = None, **request_fields),
        text_signature = "(self, /, messages, tools=None, *, continue_final_message=False, max_model_input_len=None, check_pixels=True, with_text=False, **request_fields)"
    )]
    #[allow(clippy::too_many_arguments)] // the Python signature
    fn encode_chat_async<'py>(
        &self,
        py: Python<'py>,
        messages: &Bound<'py, PyAny>,
        tools: Option<&Bound<'py, PyAny>>,
        max_model_input_len: Option<&Bound<'py, PyAny>>,
        check_pixels: bool,
        with_text: Option<&Bound<'py, PyAny>>,
        request_fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let text_policy = text_policy(with_text)?;
        let cfm = continue_final_message_kwarg(request_fields)?;
        let input = ChatInput::new(messages, max_model_input_len)?;
        let call = input.call(tools, cfm.as_ref(), request_fields);
        let messages = call.messages;
        let big = lighten(messages, TEXT_SLICE_CHARS)?;
        let tok = Arc::clone(&self.inner);
        let lent = Arc::clone(&input.lent);
        if big.texts.is_empty() {
            let readings = call.read()?;
            return submit(py, move || {
                lent.scope(|| {
                    IdsAndText::new(readings.encode(&tok, check_pixels)?, text_policy, &tok)
                })
            });
        }
        // Long strings are staged on the loop and put back on the worker (see `bigtext`). An
        // error at the call comes from reading the original request, as in `encode_chat`.
        let light = ChatCall {
            messages: &big.light,
            ..call
        };
        let mut readings = light.read().or_else(|_| call.read())?;
        // A long string with lone surrogates (rare): read the whole request in one go instead.
        let original = (
            messages.clone().unbind(),
            tools.map(|t| t.clone().unbind()),
            call.continue_final_message.map(|c| c.clone().unbind()),
            request_fields.map(|f| f.clone().unbind()),
        );
        let max_len = call.max_model_input_len;
        let whole_tok = Arc::clone(&tok);
        let whole_lent = Arc::clone(&lent);
        let on_bad_text = OnBadText::Replace(Box::new(move |py| {
            let (m, t, c, f) = &original;
            let readings = ChatCall {
                messages: m.bind(py),
                tools: t.as_ref().map(|t| t.bind(py)),
                continue_final_message: c.as_ref().map(|c| c.bind(py)),
                request_fields: f.as_ref().map(|f| f.bind(py)),
                max_model_input_len: max_len,
            }
            .read()?;
            let tok = Arc::clone(&whole_tok);
            let lent = Arc::clone(&whole_lent);
            Ok(boxed(move || {
                lent.scope(|| {
                    IdsAndText::new(readings.encode(&tok, check_pixels)?, text_policy, &tok)
                })
            }))
        }));
        let paths = big.paths;
        submit_texts(big.texts, on_bad_text, move |texts| {
            for (path, text) in paths.iter().zip(texts) {
                for request in readings.requests_mut() {
                    put_back(&mut request.messages, path, text.clone())?;
                }
            }
            lent.scope(|| IdsAndText::new(readings.encode(&tok, check_pixels)?, text_policy, &tok))
        })
    }

    /// `encode_chat` plus the images it encoded, in order: one dict per image with the pixel size
    /// read from the image (`width`, `height`), its token grid (`width_tokens`, `height_tokens`)
    /// and the size mistral_common resizes it to (`resized_width`, `resized_height`).
    /// `image_sizes` maps `http(s)` image URLs the caller has already fetched to their
    /// `(width, height)`; other remote URLs raise `UnsupportedFeatureError`. As in
    /// mistral_common's `Tokenized.images`, images of turns dropped by truncation stay listed.
    #[pyo3(
        signature = (messages, tools = None, *, continue_final_message = None, image_sizes = None, max_model_input_len = None, check_pixels = true, **request_fields),
        text_signature = "(self, /, messages, tools=None, *, continue_final_message=False, image_sizes=None, max_model_input_len=None, check_pixels=True, **request_fields)"
    )]
    #[allow(clippy::too_many_arguments)] // the Python signature
    fn encode_chat_with_images<'py>(
        &self,
        py: Python<'py>,
        messages: &Bound<'py, PyAny>,
        tools: Option<&Bound<'py, PyAny>>,
        continue_final_message: Option<&Bound<'py, PyAny>>,
        image_sizes: Option<KnownImageSizes>,
        max_model_input_len: Option<&Bound<'py, PyAny>>,
        check_pixels: bool,
        request_fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        let input = ChatInput::new(messages, max_model_input_len)?;
        let call = input.call(tools, continue_final_message, request_fields);
        let args = ChatArgs::read_with_images(&call)?;
        let options = ImageOptions {
            known_sizes: image_sizes.as_ref(),
            check_pixels,
        };
        let (tok, lent) = (&self.inner, &input.lent);
        let encoded =
            py.detach(|| lent.scope(|| run(|| args.request.encode_with_images(tok, options))))?;
        Ok((
            ids_to_list(py, &encoded.ids)?,
            image_dicts(py, &encoded.images)?,
        ))
    }

    #[pyo3(signature = (ids, *, special_token_policy = "ignore"))]
    fn decode(
        &self,
        py: Python<'_>,
        ids: Vec<i64>,
        special_token_policy: &str,
    ) -> PyResult<String> {
        let policy: SpecialTokenPolicy = special_token_policy.parse().map_err(to_pyerr)?;
        let ids = to_ids(ids)?;
        let tok = &self.inner;
        py.detach(|| run(|| tok.decode(&ids, policy)))
    }

    fn id_to_piece(&self, id: i64) -> PyResult<String> {
        let id = to_ids(vec![id])?[0];
        run(|| self.inner.text().id_to_piece(id))
    }

    fn special_token_id(&self, name: &str) -> PyResult<u32> {
        run(|| self.inner.text().special_token_id(name))
    }

    fn is_special(&self, id: i64) -> bool {
        u32::try_from(id).is_ok_and(|id| self.inner.text().is_special(id))
    }

    #[getter]
    fn version(&self) -> u32 {
        self.inner.version().number()
    }

    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind().as_str()
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.text().vocab_size()
    }

    #[getter]
    fn num_special_tokens(&self) -> usize {
        self.inner.text().num_special_tokens()
    }

    #[getter]
    fn bos_id(&self) -> u32 {
        self.inner.text().bos_id()
    }

    #[getter]
    fn eos_id(&self) -> u32 {
        self.inner.text().eos_id()
    }

    #[getter]
    fn pad_id(&self) -> i64 {
        self.inner.text().pad_id()
    }

    #[getter]
    fn unk_id(&self) -> u32 {
        self.inner.text().unk_id()
    }

    /// The image settings (`image_patch_size`, `max_image_size`, `spatial_merge_size`) or None.
    #[getter]
    fn image<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = self.inner.image().map(|c| {
            serde_json::json!({
                "image_patch_size": c.image_patch_size,
                "max_image_size": c.max_image_size,
                "spatial_merge_size": c.spatial_merge_size,
            })
        });
        json_to_py(py, value.as_ref())
    }

    /// The tekken `audio` section as a dict, or None.
    #[getter]
    fn audio<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, self.inner.audio())
    }

    /// The tekken `model_settings_builder` section (v15+) as a dict, or None.
    #[getter]
    fn model_settings_builder<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, self.inner.model_settings_builder())
    }

    fn __repr__(&self) -> String {
        format!(
            "Tokenizer(kind={:?}, version={}, path={:?})",
            self.inner.kind().as_str(),
            self.inner.version().number(),
            self.path.display().to_string()
        )
    }

    /// `await encode_chat_with_images_async(...)` == `encode_chat_with_images(...)`: images are
    /// read and long strings converted on the worker thread (long image URLs are lent to it, not
    /// copied; other long strings are staged as in `encode_chat_async`).
    #[pyo3(
        signature = (messages, tools = None, *, continue_final_message = None, image_sizes = None, max_model_input_len = None, check_pixels = true, **request_fields),
        text_signature = "(self, /, messages, tools=None, *, continue_final_message=False, image_sizes=None, max_model_input_len=None, check_pixels=True, **request_fields)"
    )]
    #[allow(clippy::too_many_arguments)] // the Python signature
    fn encode_chat_with_images_async<'py>(
        &self,
        py: Python<'py>,
        messages: &Bound<'py, PyAny>,
        tools: Option<&Bound<'py, PyAny>>,
        continue_final_message: Option<&Bound<'py, PyAny>>,
        image_sizes: Option<KnownImageSizes>,
        max_model_input_len: Option<&Bound<'py, PyAny>>,
        check_pixels: bool,
        request_fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let input = ChatInput::new(messages, max_model_input_len)?;
        let call = input.call(tools, continue_final_message, request_fields);
        let big = lighten(call.messages, TEXT_SLICE_CHARS)?;
        let tok = Arc::clone(&self.inner);
        let lent = Arc::clone(&input.lent);
        let encode = move |args: &ChatArgs| {
            let options = ImageOptions {
                known_sizes: image_sizes.as_ref(),
                check_pixels,
            };
            let encoded = lent.scope(|| args.request.encode_with_images(&tok, options))?;
            Ok(IdsAndImages::new(encoded))
        };
        if big.texts.is_empty() {
            let args = ChatArgs::read_with_images(&call)?;
            return submit(py, move || encode(&args));
        }
        // As in `encode_chat_async`: an error at the call comes from reading the whole request.
        let light = ChatCall {
            messages: &big.light,
            ..call
        };
        let mut args =
            ChatArgs::read_with_images(&light).or_else(|_| ChatArgs::read_with_images(&call))?;
        let on_bad_text = OnBadText::Replace(Box::new(|_py| {
            Ok(boxed(|| -> crate::Result<IdsAndImages> {
                Err(Error::Unsupported(IMAGES_SURROGATES.to_string()))
            }))
        }));
        let paths = big.paths;
        submit_texts(big.texts, on_bad_text, move |texts| {
            for (path, text) in paths.iter().zip(texts) {
                put_back(&mut args.request.messages, path, text)?;
            }
            encode(&args)
        })
    }
}

/// What every `encode_chat*` method reads the same way: the messages with long image URLs lent
/// (see [`lend_images`]) and `max_model_input_len`.
pub(crate) struct ChatInput<'py> {
    messages: Bound<'py, PyAny>,
    pub(crate) lent: Arc<StandIns>,
    max_model_input_len: Option<i64>,
}

impl<'py> ChatInput<'py> {
    pub(crate) fn new(
        messages: &Bound<'py, PyAny>,
        max_model_input_len: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        let (messages, lent) = lend_images(messages)?;
        Ok(ChatInput {
            messages,
            lent,
            max_model_input_len: self::max_model_input_len(max_model_input_len)?,
        })
    }

    pub(crate) fn call<'a>(
        &'a self,
        tools: Option<&'a Bound<'py, PyAny>>,
        continue_final_message: Option<&'a Bound<'py, PyAny>>,
        request_fields: Option<&'a Bound<'py, PyDict>>,
    ) -> ChatCall<'a, 'py> {
        ChatCall {
            messages: &self.messages,
            tools,
            continue_final_message,
            request_fields,
            max_model_input_len: self.max_model_input_len,
        }
    }
}

/// Lone surrogates are not represented with images (`Readings` compares whole encodings).
const IMAGES_SURROGATES: &str =
    "the request has a str with lone surrogates (not valid Unicode); use encode_chat";

/// One reading of `encode_chat`'s arguments as a core request.
struct ChatArgs {
    request: ChatRequest,
    /// Whether a str had lone surrogates (spelled as private-use characters, see [`Surrogates`]).
    surrogates: bool,
    /// Whether one sat at a string's edge ([`Surrogates::at_edge`]).
    surrogates_at_edge: bool,
}

impl ChatArgs {
    /// [`ChatArgs::read`] for the image-returning methods, which do not take lone surrogates.
    fn read_with_images(call: &ChatCall<'_, '_>) -> PyResult<Self> {
        let args = ChatArgs::read(call, Surrogates::PLANE_A)?;
        if args.surrogates {
            return Err(to_pyerr(Error::Unsupported(IMAGES_SURROGATES.to_string())));
        }
        Ok(args)
    }

    fn read(call: &ChatCall<'_, '_>, plane: u32) -> PyResult<Self> {
        let sur = Surrogates::new(plane);
        let messages = to_value(call.messages, "messages", &sur).map_err(to_pyerr)?;
        let tools = match call.tools {
            Some(t) if !t.is_none() => Some(to_value(t, "tools", &sur).map_err(to_pyerr)?),
            _ => None,
        };
        let continue_final_message = match call.continue_final_message {
            None => false,
            Some(c) => {
                let v = to_value(c, "continue_final_message", &sur).map_err(to_pyerr)?;
                crate::request::parse::lax_bool(&v, "continue_final_message").map_err(to_pyerr)?
            }
        };
        let mut fields = Vec::new();
        if let Some(kw) = call.request_fields {
            for (k, v) in kw.iter() {
                let name: String = k.extract()?;
                if name == "continue_final_message" {
                    continue;
                }
                let value = to_value(&v, &name, &sur).map_err(to_pyerr)?;
                fields.push((name, value));
            }
        }
        Ok(ChatArgs {
            request: ChatRequest {
                messages,
                tools,
                fields,
                continue_final_message,
                max_model_input_len: call.max_model_input_len,
            },
            surrogates: sur.seen(),
            surrogates_at_edge: sur.at_edge(),
        })
    }
}

/// The Python arguments of one `encode_chat*` call.
#[derive(Clone, Copy)]
pub(crate) struct ChatCall<'a, 'py> {
    messages: &'a Bound<'py, PyAny>,
    tools: Option<&'a Bound<'py, PyAny>>,
    continue_final_message: Option<&'a Bound<'py, PyAny>>,
    request_fields: Option<&'a Bound<'py, PyDict>>,
    max_model_input_len: Option<i64>,
}

impl ChatCall<'_, '_> {
    /// The request read once, or three times when a str has lone surrogates (see
    /// [`crate::chat::surrogates`]).
    pub(crate) fn read(&self) -> PyResult<Readings> {
        let args = ChatArgs::read(self, Surrogates::PLANE_A)?;
        let lone_surrogates = if args.surrogates {
            let respelled = ChatArgs::read(self, Surrogates::PLANE_B)?;
            let repaired = ChatArgs::read(self, Surrogates::REPAIR)?;
            Some(Alternatives {
                respelled: respelled.request,
                repaired: repaired.request,
                at_edge: repaired.surrogates_at_edge,
            })
        } else {
            None
        };
        Ok(Readings {
            request: args.request,
            lone_surrogates,
        })
    }
}

/// `continue_final_message` is read from the keywords so that an explicit `None` is an error, as
/// mistral_common's `TypeAdapter(bool)` makes it, while a missing one is False.
/// `with_text`: `False` (ids only), `True` (text with special tokens kept) or a policy name.
fn text_policy(with_text: Option<&Bound<'_, PyAny>>) -> PyResult<Option<SpecialTokenPolicy>> {
    let Some(with_text) = with_text else {
        return Ok(None);
    };
    if let Ok(flag) = with_text.cast::<pyo3::types::PyBool>() {
        return Ok(flag.is_true().then_some(SpecialTokenPolicy::Keep));
    }
    let name: &str = &with_text.extract::<String>()?;
    name.parse().map(Some).map_err(to_pyerr)
}

pub(crate) fn continue_final_message_kwarg<'py>(
    request_fields: Option<&Bound<'py, PyDict>>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    match request_fields {
        Some(kw) => kw.get_item("continue_final_message"),
        None => Ok(None),
    }
}

/// `max_model_input_len` as the core's `i64`, keeping what mistral_common's arithmetic
/// (`to_drop = total - max_len`, drop while `to_drop > 0`, fail if still `> 0`) makes of it: an
/// int (or anything with `__index__`, e.g. a numpy int) beyond `i64` is clamped, which gives the
/// same answers since no conversation has `i64::MAX` tokens; a float acts as its floor (NaN and
/// +inf never truncate, -inf never fits). Other types are a `TypeError` at the call.
fn max_model_input_len(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<i64>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if let Ok(f) = value.cast::<pyo3::types::PyFloat>() {
        let f = f.value();
        // `as` saturates, which is the clamp wanted here.
        return Ok(Some(if f.is_nan() {
            i64::MAX
        } else {
            f.floor() as i64
        }));
    }
    if let Ok(n) = value.extract::<i64>() {
        return Ok(Some(n));
    }
    let index = value
        .py()
        .import("operator")?
        .call_method1("index", (value,))
        .map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "max_model_input_len must be an int or None, not {}",
                value
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
    Ok(Some(if index.lt(0)? { i64::MIN } else { i64::MAX }))
}
