//! Images at the Python boundary: image URLs lent to the core without copying ([`lend`]),
//! the image dicts `encode_chat_with_images` returns, `image_size` (the size of fetched bytes,
//! for `image_sizes=`) and `_native._image_tokens` (the image module on its own, for the
//! differential tests and the benchmark).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use super::deliver::{Deliver, Ids};
use super::errors::run;
use super::errors::to_pyerr;
use super::value::to_given;
use mistral_tok_core::request::given::{Given, Text};
use mistral_tok_core::request::regex::RegexVerdicts;
use mistral_tok_core::value::{HostText, SharedText};
use mistral_tok_image::image_size as probe_size;
use mistral_tok_image::{image_layout, ImageConfig, ImageGrid, ImageInput, ImageTokenIds};

/// An ASCII `str`'s own characters, without a copy. `None` for other strings: the UTF-8 of a
/// non-ASCII `str` would be built and cached on the object, so they are read as usual.
pub(super) fn ascii_chars<'a>(s: &'a Bound<'_, PyString>) -> Option<&'a str> {
    // Exact `str` only: a subclass could answer `isascii` as it likes. For an exact `str` the
    // answer is CPython's "ascii" flag (O(1)), and an ASCII str's UTF-8 is its data buffer.
    if !s.is_exact_instance_of::<PyString>() {
        return None;
    }
    if !s.call_method0("isascii").ok()?.is_truthy().ok()? {
        return None;
    }
    s.to_str().ok()
}

/// An ASCII `str` lent to the core: the reference keeps its buffer alive and unchanged (a `str` is
/// immutable), so the characters may be read on any thread, without the GIL. The `str` is released
/// under the GIL only: dropped on the worker (which never takes the GIL), PyO3's reference pool
/// keeps the decrement until a thread next attaches (the loop, when it takes the result).
struct LentStr {
    _owner: Py<PyString>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the pointed-to characters are immutable and owned by `_owner`, which is Send + Sync.
unsafe impl Send for LentStr {}
unsafe impl Sync for LentStr {}

impl HostText for LentStr {
    fn text(&self) -> &str {
        // SAFETY: see `ascii_chars`, which produced `ptr` and `len`; `_owner` keeps them valid.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.ptr, self.len)) }
    }
}

/// Image URLs shorter than this are copied with the request (lending costs more than copying).
const LEND_MIN_CHARS: usize = 1 << 16;

/// A long exact ASCII `str`, lent instead of copied (the converter lends image URLs).
pub(crate) fn lend(s: &Bound<'_, PyString>) -> Option<SharedText> {
    if s.len().ok()? < LEND_MIN_CHARS {
        return None;
    }
    let chars = ascii_chars(s)?;
    let (ptr, len) = (chars.as_ptr(), chars.len());
    Some(SharedText::new(LentStr {
        _owner: s.clone().unbind(),
        ptr,
        len,
    }))
}

/// Test hook: how many image URLs of `messages` are lent rather than copied.
#[pyfunction]
pub(crate) fn _lent_images(messages: &Bound<'_, PyAny>) -> PyResult<usize> {
    fn count(g: &Given) -> usize {
        match g {
            Given::Str(Text::Lent(_)) => 1,
            Given::Seq(_, items) => items.iter().map(count).sum(),
            Given::Map(_, items) => items.iter().map(|(_, v)| count(v)).sum(),
            _ => 0,
        }
    }
    let mut verdicts = RegexVerdicts::default();
    let given = to_given(messages, "messages", &mut verdicts).map_err(to_pyerr)?;
    Ok(count(&given))
}

/// `encode_chat_with_images`' image dicts.
pub(crate) fn image_dicts<'py>(
    py: Python<'py>,
    grids: &[ImageGrid],
) -> PyResult<Bound<'py, PyList>> {
    let images = PyList::empty(py);
    for g in grids {
        let d = PyDict::new(py);
        d.set_item("width", g.width)?;
        d.set_item("height", g.height)?;
        d.set_item("width_tokens", g.width_tokens)?;
        d.set_item("height_tokens", g.height_tokens)?;
        d.set_item("resized_width", g.resized_width)?;
        d.set_item("resized_height", g.resized_height)?;
        images.append(d)?;
    }
    Ok(images)
}

/// `encode_chat_with_images_async`' result: `(ids, image dicts)`, the ids list built as `Ids` is.
pub(crate) struct IdsAndImages {
    ids: Ids,
    list: Option<Py<PyAny>>,
    images: Vec<ImageGrid>,
}

impl IdsAndImages {
    pub(crate) fn new(encoded: mistral_tok_core::template::Encoded) -> Self {
        IdsAndImages {
            ids: Ids::new(encoded.ids),
            list: None,
            images: encoded.images,
        }
    }
}

impl Deliver for IdsAndImages {
    fn step(&mut self, py: Python<'_>, budget: &mut usize) -> PyResult<Option<Py<PyAny>>> {
        let list = match self.list.take() {
            Some(list) => list,
            None => match self.ids.step(py, budget)? {
                Some(list) => list,
                None => return Ok(None),
            },
        };
        *budget = budget.saturating_sub(self.images.len());
        let images = image_dicts(py, &self.images)?;
        Ok(Some(
            PyTuple::new(py, [list.into_bound(py), images.into_any()])?
                .into_any()
                .unbind(),
        ))
    }
}

/// `(width, height)` of encoded image bytes as mistral_common reads them (PIL's `Image.open(...)
/// .size`), with the GIL released; raises as the chat path does for such an image
/// (`RequestError` when mistral_common would fail on it, `UnsupportedFeatureError` when only a
/// full decode could tell). `check_pixels` as in `encode_chat`.
#[pyfunction]
#[pyo3(signature = (data, *, check_pixels = true))]
pub(crate) fn image_size(
    py: Python<'_>,
    data: &Bound<'_, PyBytes>,
    check_pixels: bool,
) -> PyResult<(u32, u32)> {
    let bytes = data.as_bytes();
    py.detach(|| run(|| Ok(probe_size(ImageInput::Bytes(bytes), check_pixels)?)))
}

type Layout = (Vec<u32>, (u32, u32), (u32, u32));

/// Returns `(ids, (width_tokens, height_tokens), (width, height))` for one image: `image` is an
/// `image_url` URL (`kind="image_url"`), an `image` chunk string (`kind="image"`) or bytes.
#[pyfunction]
#[pyo3(signature = (image, image_patch_size, max_image_size, spatial_merge_size = 1, *, kind = "image_url", ids = (10, 12, 13), check_pixels = true))]
#[allow(clippy::too_many_arguments)] // the Python signature
pub(crate) fn _image_tokens(
    py: Python<'_>,
    image: &Bound<'_, PyAny>,
    image_patch_size: u32,
    max_image_size: u32,
    spatial_merge_size: u32,
    kind: &str,
    ids: (u32, u32, u32),
    check_pixels: bool,
) -> PyResult<Layout> {
    let config = ImageConfig {
        image_patch_size,
        max_image_size,
        spatial_merge_size,
    };
    let ids = ImageTokenIds {
        img: ids.0,
        img_break: ids.1,
        img_end: ids.2,
    };
    let compute = |input: ImageInput<'_>| -> mistral_tok_core::Result<Layout> {
        let g = image_layout(input, &config, check_pixels)?;
        Ok((
            g.tokens(ids),
            (g.width_tokens, g.height_tokens),
            (g.width, g.height),
        ))
    };
    if let Ok(b) = image.cast::<PyBytes>() {
        let bytes = b.as_bytes();
        return py.detach(|| run(|| compute(ImageInput::Bytes(bytes))));
    }
    let Ok(s) = image.cast::<PyString>() else {
        return Err(PyTypeError::new_err("image must be str or bytes"));
    };
    let copied;
    let text: &str = match ascii_chars(s) {
        Some(chars) => chars,
        None => {
            copied = s.to_cow()?;
            &copied
        }
    };
    match kind {
        "image_url" => py.detach(|| run(|| compute(ImageInput::Url(text)))),
        "image" => py.detach(|| run(|| compute(ImageInput::Base64(text)))),
        other => Err(PyTypeError::new_err(format!(
            "kind must be 'image_url' or 'image', got {other:?}"
        ))),
    }
}
