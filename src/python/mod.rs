//! The PyO3 layer: convert arguments, release the GIL, call the core, convert back.
//! Nothing here decides behaviour; that lives in the core.

mod audio;
mod batch;
mod bigtext;
mod decoders;
mod deliver;
mod errors;
mod ids;
mod image;
mod pickle;
mod staging;
mod text;
mod tokenizer;
mod value;
mod worker;

use pyo3::prelude::*;

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    m.add_class::<tokenizer::PyTokenizer>()?;
    m.add_function(wrap_pyfunction!(image::image_size, m)?)?;
    m.add_function(wrap_pyfunction!(audio::audio_info, m)?)?;
    m.add_function(wrap_pyfunction!(image::_image_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(pickle::_tokenizer_from_bytes, m)?)?;
    // Test hook: an attribute, not an export (see `worker::register`).
    m.setattr("_lent_images", wrap_pyfunction!(image::_lent_images, m)?)?;
    m.setattr(
        "_pcm16_roundtrip",
        wrap_pyfunction!(audio::_pcm16_roundtrip, m)?,
    )?;
    m.setattr(
        "_resampled_len",
        wrap_pyfunction!(audio::_resampled_len, m)?,
    )?;
    m.setattr(
        "_samples_encode_threads",
        wrap_pyfunction!(audio::_samples_encode_threads, m)?,
    )?;
    worker::register(m)?;
    decoders::register(m)?;
    Ok(())
}
