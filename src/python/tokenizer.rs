//! `mistral_tok.Tokenizer`: the loaded tokenizer file, shared with the worker thread through `Arc`.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use super::bigtext::{lighten, put_back};
use super::errors::{run, to_pyerr};
use super::ids::ids_to_list;
use super::image::{image_dicts, IdsAndImages};
use super::text::owned_text;
use super::value::to_given;
use super::worker::{
    boxed, submit, submit_text, submit_texts, Ids, IdsAndText, OnBadText, Text, TEXT_SLICE_CHARS,
};
use mistral_tok_core::chat::surrogates::IMAGES_SURROGATES;
use mistral_tok_core::chat::{ChatRequest, GivenRequest, Readings};
use mistral_tok_core::request::given::Given;
use mistral_tok_core::request::regex::RegexVerdicts;
use mistral_tok_core::template::{ImageOptions, KnownImageSizes};
use mistral_tok_core::tokenizer::{SpecialTokenPolicy, Tokenizer};
use mistral_tok_core::Error;

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
        submit(py, move || Ok(Text::new(tok.decode(&ids, policy)?)))
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
        let ids =
            py.detach(|| run(|| mistral_tok_core::encode_fim(tok, &prompt, suffix.as_deref())))?;
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
        let args = ChatArgs::new(messages, tools, None, request_fields, max_model_input_len)?;
        let given = args.given()?;
        let tok = &self.inner;
        let ids = py.detach(|| run(|| Readings::read(&given)?.encode(tok, check_pixels)))?;
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
        let args = ChatArgs::new(messages, tools, None, request_fields, max_model_input_len)?;
        let big = lighten(messages, TEXT_SLICE_CHARS)?;
        let tok = Arc::clone(&self.inner);
        if big.texts.is_empty() {
            let readings = args.read()?;
            return submit(py, move || {
                IdsAndText::new(readings.encode(&tok, check_pixels)?, text_policy, &tok)
            });
        }
        // Long strings are staged on the loop and put back on the worker (see `bigtext`). An
        // error at the call comes from reading the original request, as in `encode_chat`.
        let light = ChatArgs {
            messages: &big.light,
            ..args.clone()
        };
        let mut readings = light.read().or_else(|_| args.read())?;
        // A long string with lone surrogates (rare): read the whole request in one go instead.
        let original = args.unbind();
        let whole_tok = Arc::clone(&tok);
        let on_bad_text = OnBadText::Replace(Box::new(move |py| {
            let given = original.bind(py).given()?;
            let tok = Arc::clone(&whole_tok);
            Ok(boxed(move || {
                IdsAndText::new(
                    Readings::read(&given)?.encode(&tok, check_pixels)?,
                    text_policy,
                    &tok,
                )
            }))
        }));
        let paths = big.paths;
        submit_texts(big.texts, on_bad_text, move |texts| {
            for (path, text) in paths.iter().zip(texts) {
                for request in readings.requests_mut() {
                    put_back(&mut request.messages, path, text.clone())?;
                }
            }
            IdsAndText::new(readings.encode(&tok, check_pixels)?, text_policy, &tok)
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
        let args = ChatArgs::new(
            messages,
            tools,
            continue_final_message,
            request_fields,
            max_model_input_len,
        )?;
        let given = args.given()?;
        let options = ImageOptions {
            known_sizes: image_sizes.as_ref(),
            check_pixels,
        };
        let tok = &self.inner;
        let encoded = py.detach(|| {
            run(|| {
                let request = Readings::read(&given)?.into_single()?;
                request.encode_with_images(tok, options)
            })
        })?;
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
        let args = ChatArgs::new(
            messages,
            tools,
            continue_final_message,
            request_fields,
            max_model_input_len,
        )?;
        let big = lighten(messages, TEXT_SLICE_CHARS)?;
        let tok = Arc::clone(&self.inner);
        let encode = move |request: &ChatRequest| {
            let options = ImageOptions {
                known_sizes: image_sizes.as_ref(),
                check_pixels,
            };
            Ok(IdsAndImages::new(
                request.encode_with_images(&tok, options)?,
            ))
        };
        let single = |args: &ChatArgs<'_, '_>| args.read()?.into_single().map_err(to_pyerr);
        if big.texts.is_empty() {
            let request = single(&args)?;
            return submit(py, move || encode(&request));
        }
        // As in `encode_chat_async`: an error at the call comes from reading the whole request.
        let light = ChatArgs {
            messages: &big.light,
            ..args.clone()
        };
        let mut request = single(&light).or_else(|_| single(&args))?;
        let on_bad_text = OnBadText::Replace(Box::new(|_py| {
            Ok(boxed(|| -> mistral_tok_core::Result<IdsAndImages> {
                Err(Error::Unsupported(IMAGES_SURROGATES.to_string()))
            }))
        }));
        let paths = big.paths;
        submit_texts(big.texts, on_bad_text, move |texts| {
            for (path, text) in paths.iter().zip(texts) {
                put_back(&mut request.messages, path, text)?;
            }
            encode(&request)
        })
    }
}

/// The Python arguments of one `encode_chat*` call.
#[derive(Clone)]
pub(super) struct ChatArgs<'a, 'py> {
    messages: &'a Bound<'py, PyAny>,
    tools: Option<&'a Bound<'py, PyAny>>,
    /// The keyword when passed (an explicit `None` included, for `encode_chat`).
    continue_final_message: Option<Bound<'py, PyAny>>,
    request_fields: Option<&'a Bound<'py, PyDict>>,
    max_model_input_len: Option<&'a Bound<'py, PyAny>>,
}

impl<'a, 'py> ChatArgs<'a, 'py> {
    /// `continue_final_message`: the explicit parameter of the image-returning methods; the
    /// others take it from `request_fields`.
    pub(super) fn new(
        messages: &'a Bound<'py, PyAny>,
        tools: Option<&'a Bound<'py, PyAny>>,
        continue_final_message: Option<&'a Bound<'py, PyAny>>,
        request_fields: Option<&'a Bound<'py, PyDict>>,
        max_model_input_len: Option<&'a Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        let continue_final_message = match (continue_final_message, request_fields) {
            (Some(c), _) => Some(c.clone()),
            (None, Some(kw)) => kw.get_item("continue_final_message")?,
            (None, None) => None,
        };
        Ok(ChatArgs {
            messages,
            tools,
            continue_final_message,
            request_fields,
            max_model_input_len,
        })
    }

    /// The arguments as the core's [`GivenRequest`] (conversion only; no rule applied).
    pub(super) fn given(&self) -> PyResult<GivenRequest> {
        let mut regexes = RegexVerdicts::default();
        let mut given = |obj: &Bound<'py, PyAny>, what: &str| {
            to_given(obj, what, &mut regexes).map_err(to_pyerr)
        };
        let mut fields = Vec::new();
        if let Some(kw) = self.request_fields {
            for (k, v) in kw.iter() {
                let name: String = k.extract()?;
                if name != "continue_final_message" {
                    fields.push((name.clone(), given(&v, &name)?));
                }
            }
        }
        let request = GivenRequest {
            max_model_input_len: match self.max_model_input_len {
                Some(m) => given(m, "max_model_input_len")?,
                None => Given::Null,
            },
            messages: given(self.messages, "messages")?,
            tools: self.tools.map(|t| given(t, "tools")).transpose()?,
            continue_final_message: self
                .continue_final_message
                .as_ref()
                .map(|c| given(c, "continue_final_message"))
                .transpose()?,
            fields,
            regexes: RegexVerdicts::default(),
        };
        Ok(GivenRequest { regexes, ..request })
    }

    /// Converted and read (at the call, under the GIL: errors are raised by the call).
    fn read(&self) -> PyResult<Readings> {
        Readings::read(&self.given()?).map_err(to_pyerr)
    }

    fn unbind(&self) -> UnboundChatArgs {
        UnboundChatArgs {
            messages: self.messages.clone().unbind(),
            tools: self.tools.map(|t| t.clone().unbind()),
            continue_final_message: self.continue_final_message.clone().map(Bound::unbind),
            request_fields: self.request_fields.map(|f| f.clone().unbind()),
            max_model_input_len: self.max_model_input_len.map(|m| m.clone().unbind()),
        }
    }
}

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

/// [`ChatArgs`] kept for a later conversion.
struct UnboundChatArgs {
    messages: Py<PyAny>,
    tools: Option<Py<PyAny>>,
    continue_final_message: Option<Py<PyAny>>,
    request_fields: Option<Py<PyDict>>,
    max_model_input_len: Option<Py<PyAny>>,
}

impl UnboundChatArgs {
    fn bind<'a, 'py>(&'a self, py: Python<'py>) -> ChatArgs<'a, 'py> {
        ChatArgs {
            messages: self.messages.bind(py),
            tools: self.tools.as_ref().map(|t| t.bind(py)),
            continue_final_message: self
                .continue_final_message
                .as_ref()
                .map(|c| c.bind(py).clone()),
            request_fields: self.request_fields.as_ref().map(|f| f.bind(py)),
            max_model_input_len: self.max_model_input_len.as_ref().map(|m| m.bind(py)),
        }
    }
}
