//! Images at the Python boundary: image URLs lent to the core without copying ([`lend_images`]),
//! the image dicts `encode_chat_with_images` returns, `image_size` (the size of fetched bytes,
//! for `image_sizes=`) and `_native._image_tokens` (the image module on its own, for the
//! differential tests and the benchmark).

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use super::deliver::{Deliver, Ids};
use super::errors::run;
use super::text::as_utf8_and_size;
use crate::image::stand_in::{ImageText, StandIns};
use crate::image::{image_layout, ImageConfig, ImageGrid, ImageInput, ImageTokenIds};

/// An ASCII `str`'s own characters, without a copy (under the limited API, `to_cow` copies twice
/// before 3.10: into a `bytes`, then into a `String`). `None` for other strings: the UTF-8 of a
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
    let function = as_utf8_and_size()?;
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live str; the call returns a pointer into the object (its ASCII data,
    // since it is ASCII) valid while the object lives, or NULL with an exception set.
    let ptr = unsafe { function(s.as_ptr(), &mut len) };
    if ptr.is_null() {
        let _ = PyErr::take(s.py());
        return None;
    }
    let len = usize::try_from(len).ok()?;
    // SAFETY: `ptr..ptr + len` is the str's buffer, alive and immutable as long as `s` (which the
    // returned borrow is tied to); it is ASCII, hence UTF-8.
    Some(unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr.cast(), len)) })
}

/// An ASCII `str` lent to the core: the reference keeps its buffer alive and unchanged (a `str` is
/// immutable), so the characters may be read on any thread, without the GIL. Dropped without the
/// GIL (on the worker), the reference is released by PyO3 the next time a thread takes the GIL.
struct LentStr {
    _owner: Py<PyString>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the pointed-to characters are immutable and owned by `_owner`, which is Send + Sync.
unsafe impl Send for LentStr {}
unsafe impl Sync for LentStr {}

impl ImageText for LentStr {
    fn text(&self) -> &str {
        // SAFETY: see `ascii_chars`, which produced `ptr` and `len`; `_owner` keeps them valid.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.ptr, self.len)) }
    }
}

/// Image URLs shorter than this are copied with the request (lending costs a few container
/// copies).
const LEND_MIN_CHARS: usize = 1 << 16;

/// The request with each long ASCII `image_url` URL (`messages[i]["content"][j]["image_url"]`, a
/// str or the `"url"` of a dict), and likewise each long `input_audio` (or its `"data"`) and
/// `audio_url` (or its `"url"`), replaced by a stand-in, in copies of the containers on the way
/// (the caller's objects are not modified), and the lent URLs. Encode it inside
/// `StandIns::scope`. Only plain `list`s and `dict`s are followed; anything else is left as is
/// and copied as usual.
pub(crate) fn lend_images<'py>(
    messages: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Arc<StandIns>)> {
    let py = messages.py();
    let content_key = intern!(py, "content");
    // (chunk key, key inside a dict value): image URLs, and the audio of `input_audio` and
    // `audio_url` chunks (resolved by `template::audio` the same way).
    let keys = [
        (intern!(py, "image_url"), intern!(py, "url")),
        (intern!(py, "input_audio"), intern!(py, "data")),
        (intern!(py, "audio_url"), intern!(py, "url")),
    ];
    let mut lent = StandIns::new();
    let light = map_list(messages, &mut lent, &mut |message, lent| {
        map_key(message, content_key, lent, &mut |content, lent| {
            map_list(content, lent, &mut |chunk, lent| {
                for (key, inner) in &keys {
                    let new = map_key(chunk, key, lent, &mut |value, lent| {
                        if value.is_instance_of::<PyDict>() {
                            map_key(value, inner, lent, &mut lend)
                        } else {
                            lend(value, lent)
                        }
                    })?;
                    if new.is_some() {
                        return Ok(new);
                    }
                }
                Ok(None)
            })
        })
    })?;
    Ok((light.unwrap_or_else(|| messages.clone()), Arc::new(lent)))
}

/// Test hook: how many image URLs of `messages` would be lent rather than copied.
#[pyfunction]
pub(crate) fn _lent_images(messages: &Bound<'_, PyAny>) -> PyResult<usize> {
    Ok(lend_images(messages)?.1.len())
}

type Map<'m, 'py> =
    dyn FnMut(&Bound<'py, PyAny>, &mut StandIns) -> PyResult<Option<Bound<'py, PyAny>>> + 'm;

fn lend<'py>(obj: &Bound<'py, PyAny>, lent: &mut StandIns) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Ok(s) = obj.cast::<PyString>() else {
        return Ok(None);
    };
    if s.len()? < LEND_MIN_CHARS {
        return Ok(None);
    }
    let Some(chars) = ascii_chars(s) else {
        return Ok(None);
    };
    let (ptr, len) = (chars.as_ptr(), chars.len());
    let url = lent.add(Box::new(LentStr {
        _owner: s.clone().unbind(),
        ptr,
        len,
    }));
    Ok(Some(PyString::new(obj.py(), &url).into_any()))
}

/// A copy of the list `obj` with the items `f` replaced, or None when it replaced none.
fn map_list<'py>(
    obj: &Bound<'py, PyAny>,
    lent: &mut StandIns,
    f: &mut Map<'_, 'py>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Ok(list) = obj.cast_exact::<PyList>() else {
        return Ok(None);
    };
    let mut copy: Option<Bound<'py, PyList>> = None;
    for (i, item) in list.iter().enumerate() {
        if let Some(new) = f(&item, lent)? {
            let target = match &copy {
                Some(c) => c.clone(),
                None => PyList::new(obj.py(), list.iter())?,
            };
            target.set_item(i, new)?;
            copy = Some(target);
        }
    }
    Ok(copy.map(Bound::into_any))
}

/// A copy of the dict `obj` with `obj[key]` replaced by `f`, or None when `f` did not replace it.
fn map_key<'py>(
    obj: &Bound<'py, PyAny>,
    key: &Bound<'py, PyString>,
    lent: &mut StandIns,
    f: &mut Map<'_, 'py>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Ok(dict) = obj.cast_exact::<PyDict>() else {
        return Ok(None);
    };
    let Some(value) = dict.get_item(key)? else {
        return Ok(None);
    };
    let Some(new) = f(&value, lent)? else {
        return Ok(None);
    };
    let copy = dict.copy()?;
    copy.set_item(key, new)?;
    Ok(Some(copy.into_any()))
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
    pub(crate) fn new(encoded: crate::template::Encoded) -> Self {
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
    py.detach(|| run(|| crate::image::image_size(ImageInput::Bytes(bytes), check_pixels)))
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
    let compute = |input: ImageInput<'_>| -> crate::Result<Layout> {
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
