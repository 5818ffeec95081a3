//! Tells the image checks which decoders the host's Pillow has (`mistral_tok_image::decoders`), by
//! calling `mistral_tok._decoders.pillow_decoders()` once, when a check first needs it.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use mistral_tok_image::decoders::{set_host_decoders, Codec, Decoders, REPRODUCED};

fn key(codec: Codec) -> &'static str {
    match codec {
        Codec::Webp => "webp",
        Codec::Jpeg => "jpeg",
        Codec::Zlib => "zlib",
    }
}

/// May run on the worker thread: it attaches to the interpreter for this one call.
fn pillow_decoders() -> Result<Option<Decoders>, String> {
    let asked = Python::try_attach(|py| -> PyResult<Option<Decoders>> {
        let found = py
            .import("mistral_tok._decoders")?
            .call_method0("pillow_decoders")?;
        if found.is_none() {
            return Ok(None);
        }
        let found = found.cast_into::<PyDict>()?;
        let get = |codec: Codec| -> PyResult<Option<String>> {
            match found.get_item(key(codec))? {
                Some(v) if !v.is_none() => Ok(Some(v.extract()?)),
                _ => Ok(None),
            }
        };
        Ok(Some(Decoders {
            webp: get(Codec::Webp)?,
            jpeg: get(Codec::Jpeg)?,
            zlib: get(Codec::Zlib)?,
        }))
    });
    match asked {
        Some(answer) => answer.map_err(|e| e.to_string()),
        None => Err("the interpreter is shutting down".into()),
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    set_host_decoders(pillow_decoders);
    let reproduced = PyDict::new(m.py());
    for (codec, decoder) in REPRODUCED {
        reproduced.set_item(key(codec), decoder)?;
    }
    // For `mistral_tok._decoders`: an attribute, not an export.
    m.setattr("_REPRODUCED_DECODERS", reproduced)
}
