//! Python `str` → Rust `&str`, with tiktoken's and sentencepiece's answers to lone surrogates.

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::PyString;

use super::errors::to_pyerr;
use crate::request::given::Text;
use crate::tokenizer::TokenizerKind;

/// `PyUnicode_AsUTF8AndSize`'s C signature.
pub(crate) type AsUtf8AndSize = unsafe extern "C" fn(
    *mut pyo3::ffi::PyObject,
    *mut pyo3::ffi::Py_ssize_t,
) -> *const std::os::raw::c_char;

/// `PyUnicode_AsUTF8AndSize`, looked up in the running interpreter once.
///
/// It is in the limited API only from 3.10, so the abi3-py39 wheel must not import it (abi3audit
/// checks that); but every CPython ≥ 3.3 exports it, with this signature. `None` off Unix or when
/// the lookup fails (say an embedding that loaded libpython privately): callers then read strings
/// through pyo3.
pub(crate) fn as_utf8_and_size() -> Option<AsUtf8AndSize> {
    static FN: std::sync::OnceLock<Option<AsUtf8AndSize>> = std::sync::OnceLock::new();
    *FN.get_or_init(|| {
        #[cfg(unix)]
        {
            // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads; a non-null
            // result is the address of CPython's function, whose C signature is `AsUtf8AndSize`.
            unsafe {
                let f = libc::dlsym(libc::RTLD_DEFAULT, c"PyUnicode_AsUTF8AndSize".as_ptr());
                (!f.is_null()).then(|| std::mem::transmute::<*mut libc::c_void, AsUtf8AndSize>(f))
            }
        }
        #[cfg(not(unix))]
        {
            None
        }
    })
}

/// The UTF-8 of `text`; an error for a str with lone surrogates.
///
/// On Unix it is borrowed from the str object: CPython's own buffer for an ASCII str, else the
/// UTF-8 copy it makes on the first request and keeps with the str (as tiktoken's binding reads
/// strings). pyo3 under `abi3-py39` would instead encode into a new bytes object and copy that.
pub(crate) fn utf8<'a>(text: &'a Bound<'_, PyString>) -> PyResult<Cow<'a, str>> {
    if let Some(as_utf8) = as_utf8_and_size() {
        let mut size: pyo3::ffi::Py_ssize_t = 0;
        // SAFETY: `text` is a live str (we hold a reference for 'a, and str objects are
        // immutable), and we hold the GIL; the call returns NULL with an exception set, or a
        // buffer of `size` bytes owned by the str and valid while it lives.
        let data = unsafe { as_utf8(text.as_ptr(), &mut size) };
        if data.is_null() {
            return Err(PyErr::fetch(text.py()));
        }
        let len = usize::try_from(size).unwrap_or(0);
        // SAFETY: as above; CPython's UTF-8 of a str is valid UTF-8 (it fails on surrogates, the
        // only code points UTF-8 cannot hold), as pyo3's own `to_str` assumes.
        let s = unsafe {
            std::str::from_utf8_unchecked(std::slice::from_raw_parts(data.cast::<u8>(), len))
        };
        return Ok(Cow::Borrowed(s));
    }
    text.to_cow()
}

/// The text a tokenizer of `kind` encodes for `text` (see [`Wtf8::for_tokenizer`] for a str with
/// lone surrogates).
///
/// [`Wtf8::for_tokenizer`]: crate::request::given::Wtf8::for_tokenizer
pub(crate) fn owned_text<'a>(
    text: &'a Bound<'_, PyString>,
    kind: TokenizerKind,
) -> PyResult<Cow<'a, str>> {
    match utf8(text) {
        Ok(s) => Ok(s),
        Err(_) => match super::value::text(text)? {
            Text::Wtf8(w) => Ok(Cow::Owned(w.for_tokenizer(kind).map_err(to_pyerr)?)),
            Text::Utf8(s) => Ok(Cow::Owned(s)),
            Text::Lent(s) => Ok(Cow::Owned(s.to_string())),
        },
    }
}
