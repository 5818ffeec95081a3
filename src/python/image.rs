//! `_native._image_tokens`: the image module on its own, for the differential tests and the
//! benchmark (the chat path calls the core directly).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::errors::run;
use crate::image::{image_layout, ImageConfig, ImageInput, ImageTokenIds};

type Layout = (Vec<u32>, (u32, u32), (u32, u32));

/// Returns `(ids, (width_tokens, height_tokens), (width, height))` for one image: `image` is an
/// `image_url` URL (`kind="image_url"`), an `image` chunk string (`kind="image"`) or bytes.
#[pyfunction]
#[pyo3(signature = (image, image_patch_size, max_image_size, spatial_merge_size = 1, *, kind = "image_url", ids = (10, 12, 13)))]
pub(crate) fn _image_tokens(
    py: Python<'_>,
    image: &Bound<'_, PyAny>,
    image_patch_size: u32,
    max_image_size: u32,
    spatial_merge_size: u32,
    kind: &str,
    ids: (u32, u32, u32),
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
        let g = image_layout(input, &config)?;
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
    let text = s.to_cow()?;
    let text: &str = &text;
    match kind {
        "image_url" => py.detach(|| run(|| compute(ImageInput::Url(text)))),
        "image" => py.detach(|| run(|| compute(ImageInput::Base64(text)))),
        other => Err(PyTypeError::new_err(format!(
            "kind must be 'image_url' or 'image', got {other:?}"
        ))),
    }
}
