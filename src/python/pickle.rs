//! Pickling a `Tokenizer` with its file's contents, so that it can be sent to processes that lack
//! the file (Ray, multiprocessing, `datasets.map(num_proc=…)` workers).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use super::errors::{run, to_pyerr};
use super::tokenizer::PyTokenizer;
use mistral_tok_core::tokenizer::{source_digest, Tokenizer};
use mistral_tok_core::Error;

/// `__reduce__`: `(_tokenizer_from_bytes, (path, contents))`. The file is read again rather than
/// kept in memory for the tokenizer's whole life; a file changed since it was loaded is an error,
/// not a silently different tokenizer on the workers.
pub(crate) fn reduce<'py>(
    py: Python<'py>,
    tok: &Tokenizer,
    path: &Path,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
    let data = py.detach(|| {
        let data = std::fs::read(path).map_err(|e| {
            Error::tokenizer_file(path, format!("cannot read the file to pickle it: {e}"))
        })?;
        if source_digest(&data) != tok.source_digest() {
            return Err(Error::tokenizer_file(
                path,
                "the file has changed since this tokenizer was loaded; cannot pickle it",
            ));
        }
        Ok(data)
    });
    let data = data.map_err(to_pyerr)?;
    let rebuild = py
        .import("mistral_tok._native")?
        .getattr("_tokenizer_from_bytes")?;
    let args = PyTuple::new(
        py,
        [
            path.into_pyobject(py)?.into_any(),
            PyBytes::new(py, &data).into_any(),
        ],
    )?;
    Ok((rebuild, args))
}

/// The unpickling side: the tokenizer `path` names, from its contents (the path is not opened).
#[pyfunction]
pub(crate) fn _tokenizer_from_bytes(
    py: Python<'_>,
    path: PathBuf,
    data: &Bound<'_, PyBytes>,
) -> PyResult<PyTokenizer> {
    let data = data.as_bytes();
    let tokenizer = py.detach(|| run(|| Tokenizer::from_bytes(&path, data)))?;
    Ok(PyTokenizer::from_parts(Arc::new(tokenizer), path))
}
