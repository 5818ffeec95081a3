//! Long Python strings copied to UTF-8 a slice per event-loop iteration, before their job goes
//! to the worker. Copying a 25 MB `str` costs the loop tens of ms; in slices it never stalls it,
//! and the worker is never kept waiting for a loop (which might stop running at any time).

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyString;

use super::deliver::Output;
use super::text::owned_text;
use crate::worker::Job;
use mistral_tok_core::tokenizer::TokenizerKind;
use mistral_tok_core::{Error, Result};

/// Strings longer than this (in code points) are staged; shorter ones are copied at the call.
/// One slice is well under a millisecond of copying on a quiet core.
pub(crate) const TEXT_SLICE_CHARS: usize = 1 << 18;

/// What to do with a staged string that is not valid Unicode (a lone surrogate). Rare, so it may
/// cost one stall.
pub(crate) enum OnBadText {
    /// `encode`'s answer: tekken repairs the whole text (a surrogate pair split by a slice
    /// boundary must still pair up), sentencepiece refuses it.
    Repair(TokenizerKind),
    /// The job (or the exception) to use instead, from the original arguments read in one go.
    Replace(ReplaceJob),
}

/// Builds a job from the original arguments, under the GIL.
pub(crate) type ReplaceJob = Box<dyn Fn(Python<'_>) -> PyResult<Job<Output>> + Send + Sync>;

/// Turns the copied strings (or the reason they could not be copied) into the job to run. Each
/// string arrives as its slices, joined by the job on the worker: growing one buffer on the loop
/// would copy it again whenever its capacity (unknown in advance: UTF-8 is longer than the code
/// points) runs out.
pub(crate) type Finish = Box<dyn FnOnce(Result<Vec<Slices>>) -> Job<Output> + Send>;

/// One string as the UTF-8 of its consecutive slices.
pub(crate) struct Slices(Vec<String>);

impl Slices {
    /// The whole string (on the worker thread).
    pub(crate) fn join(self) -> String {
        match <[String; 1]>::try_from(self.0) {
            Ok([whole]) => whole,
            Err(slices) => slices.concat(),
        }
    }
}

/// Strings being copied for one job.
pub(crate) struct Stream {
    texts: Vec<Py<PyString>>,
    /// In code points.
    lengths: Vec<usize>,
    on_bad_text: OnBadText,
    /// The loop that runs the next slice.
    pub(crate) event_loop: Py<PyAny>,
    /// The text being copied, how far, and the texts done.
    text: usize,
    offset: usize,
    current: Vec<String>,
    done: Vec<Slices>,
    finish: Option<Finish>,
}

impl Stream {
    pub(crate) fn new(
        texts: Vec<Bound<'_, PyString>>,
        on_bad_text: OnBadText,
        event_loop: Py<PyAny>,
        finish: Finish,
    ) -> PyResult<Self> {
        let lengths = texts
            .iter()
            .map(|t| t.len())
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Stream {
            texts: texts.into_iter().map(Bound::unbind).collect(),
            lengths,
            on_bad_text,
            event_loop,
            text: 0,
            offset: 0,
            current: Vec::new(),
            done: Vec::new(),
            finish: Some(finish),
        })
    }

    /// Copies one slice. Answers the job once every string is copied (or has failed), or the
    /// exception its future gets instead.
    pub(crate) fn step(&mut self, py: Python<'_>) -> Option<PyResult<Job<Output>>> {
        let (Some(text), Some(&len)) = (self.texts.get(self.text), self.lengths.get(self.text))
        else {
            return self.finish(Ok(()));
        };
        let text = text.bind(py);
        let end = len.min(self.offset + TEXT_SLICE_CHARS);
        match slice_utf8(text, self.offset, end) {
            Ok(piece) => {
                self.current.push(piece);
                self.offset = end;
            }
            Err(_) => match &self.on_bad_text {
                OnBadText::Repair(kind) => match owned_text(text, *kind) {
                    Ok(whole) => {
                        self.current = vec![whole.into_owned()];
                        self.offset = len;
                    }
                    Err(e) => {
                        let msg = e.value(py).to_string();
                        return self.finish(Err(Error::InvalidArgument(msg)));
                    }
                },
                OnBadText::Replace(job_of) => {
                    self.finish = None;
                    return Some(job_of(py));
                }
            },
        }
        if self.offset < len {
            return None;
        }
        self.done.push(Slices(std::mem::take(&mut self.current)));
        self.text += 1;
        self.offset = 0;
        if self.text < self.texts.len() {
            return None;
        }
        self.finish(Ok(()))
    }

    fn finish(&mut self, outcome: Result<()>) -> Option<PyResult<Job<Output>>> {
        let finish = self.finish.take()?;
        Some(Ok(finish(outcome.map(|()| std::mem::take(&mut self.done)))))
    }
}

/// UTF-8 of `text[start..end]` (code points), or an error for a lone surrogate.
fn slice_utf8(text: &Bound<'_, PyString>, start: usize, end: usize) -> PyResult<String> {
    let py = text.py();
    let (start, end) = (start as ffi::Py_ssize_t, end as ffi::Py_ssize_t);
    // SAFETY: `text` is a live str and the bounds are within its length; the result is a new
    // reference (or NULL with an exception set), owned by the Bound.
    let piece = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyUnicode_Substring(text.as_ptr(), start, end))?
    };
    Ok(piece.cast_into::<PyString>()?.to_cow()?.into_owned())
}
