//! Long strings inside a request (say a 25 MB user message). Converting the request copies every
//! string under the GIL, on the event loop; for the awaitable that copy must not be one stall.
//! So the long strings are found first and replaced by empty strings in a shallow copy of the
//! request (cheap), the copy is converted as usual, and the long strings are streamed to the
//! worker a slice per loop iteration (`worker::submit_texts`) and put back into the converted
//! [`Value`] there, before anything reads the request.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use mistral_tok_core::request::read::{is_media_payload, Step};
use mistral_tok_core::value::Value;
use mistral_tok_core::{Error, Result};

/// One step from a container to an item, as the converted [`Value`] holds it.
pub(crate) enum PathStep {
    Key(String),
    Index(usize),
}

/// A request with its long strings taken out.
pub(crate) struct Lightened<'py> {
    /// The request to convert: the original object when nothing was taken out, else a copy of
    /// the containers on the way to each long string (the caller's objects are never modified).
    pub(crate) light: Bound<'py, PyAny>,
    /// Where each long string was, and the string, in the same order.
    pub(crate) paths: Vec<Vec<PathStep>>,
    pub(crate) texts: Vec<Bound<'py, PyString>>,
}

/// Long strings sit a few levels down (`messages[i]["content"][j]["text"]` is 4); deeper ones
/// are left in place (and copied at the call, as the sync path does).
const MAX_DEPTH: usize = 6;

/// Takes out the strings longer than `min_chars` code points found through plain `dict`s (with
/// `str` keys) and `list`s.
pub(crate) fn lighten<'py>(obj: &Bound<'py, PyAny>, min_chars: usize) -> PyResult<Lightened<'py>> {
    let mut out = Lightened {
        light: obj.clone(),
        paths: Vec::new(),
        texts: Vec::new(),
    };
    if let Some(light) = walk(obj, 0, &mut Vec::new(), &mut out, min_chars)? {
        out.light = light;
    }
    Ok(out)
}

/// The replacement for `obj` when something under it was taken out, else None.
fn walk<'py>(
    obj: &Bound<'py, PyAny>,
    depth: usize,
    path: &mut Vec<PathStep>,
    out: &mut Lightened<'py>,
    min_chars: usize,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = obj.py();
    if let Ok(s) = obj.cast::<PyString>() {
        // Long image URLs are lent to the core instead (see `image::lend`).
        if s.len()? > min_chars && !(at_media_payload(path) && super::image::lend(s).is_some()) {
            out.paths.push(path.iter().map(PathStep::copy).collect());
            out.texts.push(s.clone());
            return Ok(Some(PyString::new(py, "").into_any()));
        }
        return Ok(None);
    }
    if depth >= MAX_DEPTH {
        return Ok(None);
    }
    if let Ok(dict) = obj.cast_exact::<PyDict>() {
        let mut copy: Option<Bound<'py, PyDict>> = None;
        for (key, value) in dict.iter() {
            let Some(name) = key
                .cast::<PyString>()
                .ok()
                .and_then(|k| k.to_cow().ok().map(|c| c.into_owned()))
            else {
                continue;
            };
            path.push(PathStep::Key(name));
            let replaced = walk(&value, depth + 1, path, out, min_chars)?;
            path.pop();
            if let Some(new) = replaced {
                copy_once(&mut copy, || dict.copy())?.set_item(&key, new)?;
            }
        }
        return Ok(copy.map(Bound::into_any));
    }
    if let Ok(list) = obj.cast_exact::<PyList>() {
        let mut copy: Option<Bound<'py, PyList>> = None;
        for (i, value) in list.iter().enumerate() {
            path.push(PathStep::Index(i));
            let replaced = walk(&value, depth + 1, path, out, min_chars)?;
            path.pop();
            if let Some(new) = replaced {
                copy_once(&mut copy, || PyList::new(py, list.iter()))?.set_item(i, new)?;
            }
        }
        return Ok(copy.map(Bound::into_any));
    }
    Ok(None)
}

fn at_media_payload(path: &[PathStep]) -> bool {
    let path: Vec<Step<'_>> = path
        .iter()
        .map(|p| match p {
            PathStep::Key(k) => Step::Key(k),
            PathStep::Index(i) => Step::Index(*i),
        })
        .collect();
    is_media_payload("messages", &path)
}

impl PathStep {
    fn copy(&self) -> Self {
        match self {
            PathStep::Key(k) => PathStep::Key(k.clone()),
            PathStep::Index(i) => PathStep::Index(*i),
        }
    }
}

/// Puts `text` back where [`lighten`] took it from, in the converted request.
pub(crate) fn put_back(value: &mut Value, path: &[PathStep], text: String) -> Result<()> {
    let mut at = value;
    for step in path {
        let next = match (step, at) {
            (PathStep::Key(k), Value::Dict(items)) => {
                items.iter_mut().find(|(name, _)| name == k).map(|(_, v)| v)
            }
            (PathStep::Index(i), Value::List(items)) => items.get_mut(*i),
            _ => None,
        };
        at = next.ok_or_else(|| {
            Error::Internal("a streamed string lost its place in the request".to_string())
        })?;
    }
    *at = Value::Str(text);
    Ok(())
}

/// The container's copy, made on the first replacement: the caller's objects stay untouched and
/// containers without a long string are not copied at all.
fn copy_once<T>(copy: &mut Option<T>, make: impl FnOnce() -> PyResult<T>) -> PyResult<&T> {
    let c = match copy.take() {
        Some(c) => c,
        None => make()?,
    };
    Ok(copy.insert(c))
}
