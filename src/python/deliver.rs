//! What a finished job hands back, and how it becomes a Python object on the loop thread.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use mistral_tok_core::tokenizer::{SpecialTokenPolicy, Tokenizer};
use mistral_tok_core::Error;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyString;
use pyo3::IntoPyObjectExt;

use super::errors::{to_pyerr, MistralTokError};
use super::ids::{ids_to_list, ListBuilder};

/// A finished job's value, converted to Python on the loop thread. `step` may do part of the work
/// and answer `None` to be called again on a later loop iteration; `budget` is what this call may
/// still spend (roughly: Python objects to create) and is decreased by what was spent.
pub(crate) trait Deliver: Send {
    fn step(&mut self, py: Python<'_>, budget: &mut usize) -> PyResult<Option<Py<PyAny>>>;
}

pub(crate) type Output = Box<dyn Deliver>;

/// List items a drain call may write before it yields to the loop: well under a millisecond on a
/// quiet core with shared ints (`ids.rs`), a few ms on a loaded one. Debug builds are several
/// times slower per item, so they yield more often.
pub(crate) const DRAIN_BUDGET: usize = if cfg!(debug_assertions) {
    1 << 14
} else {
    1 << 17
};

/// A token-id list, built a slice at a time when it is long.
pub(crate) struct Ids {
    ids: Arc<Vec<u32>>,
    list: Option<ListBuilder>,
}

impl Ids {
    pub(crate) fn new(ids: Vec<u32>) -> Self {
        Self::shared(Arc::new(ids))
    }

    fn shared(ids: Arc<Vec<u32>>) -> Self {
        Ids { ids, list: None }
    }
}

impl Deliver for Ids {
    fn step(&mut self, py: Python<'_>, budget: &mut usize) -> PyResult<Option<Py<PyAny>>> {
        if self.list.is_none() && self.ids.len() <= *budget {
            *budget -= self.ids.len();
            return Ok(Some(
                ids_to_list(py, self.ids.as_slice())?.into_any().unbind(),
            ));
        }
        let mut list = match self.list.take() {
            Some(list) => list,
            None => ListBuilder::new(py, self.ids.len())?,
        };
        let start = self.ids.len() - list.remaining();
        let end = self.ids.len().min(start + (*budget).max(1));
        list.fill(py, self.ids.get(start..end).unwrap_or_default())?;
        *budget = budget.saturating_sub(end - start);
        if list.remaining() > 0 {
            self.list = Some(list);
            return Ok(None);
        }
        Ok(list.finish(py).map(|l| l.into_any().unbind()))
    }
}

/// Token ids, or with the prompt's text `(ids, text)` (`encode_chat_async(..., with_text=True)`).
pub(crate) struct IdsAndText {
    ids: Ids,
    list: Option<Py<PyAny>>,
    text: Option<PendingText>,
}

/// Prompts of at least this many ids have their text decoded on a thread of its own while the
/// loop builds the id list (which takes about as long), rather than on the worker before it.
const TEXT_THREAD_IDS: usize = 1 << 18;

/// How long one loop iteration waits, the GIL released, for a text still being decoded.
const TEXT_WAIT: Duration = Duration::from_micros(500);

impl IdsAndText {
    /// On the worker: the text is decoded here with `text_policy`, if any, or started on its own
    /// thread for a long prompt.
    pub(crate) fn new(
        ids: Vec<u32>,
        text_policy: Option<SpecialTokenPolicy>,
        tok: &Arc<Tokenizer>,
    ) -> mistral_tok_core::Result<Self> {
        let Some(policy) = text_policy else {
            return Ok(IdsAndText {
                ids: Ids::new(ids),
                list: None,
                text: None,
            });
        };
        let ids = Arc::new(ids);
        // A short prompt, or no thread to be had: decoded here.
        let decoding = (ids.len() >= TEXT_THREAD_IDS)
            .then(|| decode_on_a_thread(Arc::clone(&ids), policy, Arc::clone(tok)).ok())
            .flatten();
        let text = match decoding {
            Some(decoding) => PendingText::Decoding(Some(decoding)),
            None => PendingText::Ready(Text::new(tok.decode(&ids, policy)?)),
        };
        Ok(IdsAndText {
            ids: Ids::shared(ids),
            list: None,
            text: Some(text),
        })
    }
}

type Decoding = Receiver<mistral_tok_core::Result<Text>>;

fn decode_on_a_thread(
    ids: Arc<Vec<u32>>,
    policy: SpecialTokenPolicy,
    tok: Arc<Tokenizer>,
) -> std::io::Result<Decoding> {
    let (done, decoding) = sync_channel(1);
    std::thread::Builder::new()
        .name("mistral-tok-text".into())
        .spawn(move || {
            let text = Error::catch_panic(|| tok.decode(&ids, policy).map(Text::new));
            // The receiver is gone only if the future was dropped: nobody wants the text.
            let _ = done.send(text);
        })?;
    Ok(decoding)
}

/// The prompt's text: decoded, or still being decoded on its own thread.
enum PendingText {
    Ready(Text),
    /// `None` only while a step waits on it.
    Decoding(Option<Decoding>),
}

impl Deliver for PendingText {
    fn step(&mut self, py: Python<'_>, budget: &mut usize) -> PyResult<Option<Py<PyAny>>> {
        if let PendingText::Decoding(slot) = self {
            let decoding = slot.take().ok_or_else(delivered_twice)?;
            // A short wait off the GIL, not a spin: the loop runs its other work in between.
            let (decoding, got) = py.detach(move || {
                let got = decoding.recv_timeout(TEXT_WAIT);
                (decoding, got)
            });
            match got {
                Ok(Ok(text)) => *self = PendingText::Ready(text),
                Ok(Err(err)) => return Err(to_pyerr(err)),
                Err(RecvTimeoutError::Timeout) => {
                    *slot = Some(decoding);
                    return Ok(None);
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(to_pyerr(Error::Internal(
                        "the thread decoding the prompt's text ended without it".into(),
                    )))
                }
            }
        }
        match self {
            PendingText::Ready(text) => text.step(py, budget),
            PendingText::Decoding(_) => Ok(None),
        }
    }
}

impl Deliver for IdsAndText {
    fn step(&mut self, py: Python<'_>, budget: &mut usize) -> PyResult<Option<Py<PyAny>>> {
        if self.list.is_none() {
            let Some(list) = self.ids.step(py, budget)? else {
                return Ok(None);
            };
            self.list = Some(list);
        }
        let text = match self.text.as_mut() {
            Some(text) => match text.step(py, budget)? {
                Some(text) => Some(text),
                None => return Ok(None),
            },
            None => None,
        };
        let list = self.list.take().ok_or_else(delivered_twice)?;
        match text {
            Some(text) => Ok(Some((list, text).into_py_any(py)?)),
            None => Ok(Some(list)),
        }
    }
}

/// A `str`, written a slice of characters per loop iteration when long. A 5 MB prompt is a
/// 16 MB UCS-4 `str`: decoding it in one piece stalls the loop ~12 ms, most of it the page faults
/// of the fresh memory (a join of decoded pieces faults the whole size again, in one step). The
/// stable ABI has no `PyUnicode_New`, so the `str` is a fresh two-character one of the text's
/// widest kind (two characters of that kind, known from the worker) resized to the full length,
/// whose characters are then all overwritten with `PyUnicode_WriteChar` (allowed while we hold
/// the only reference and it was never hashed), `budget` of them per step: the faults and the
/// writes are spread over the iterations, like the id list's. Until it is finished nobody else
/// can see it (a `str` is not tracked by the GC).
pub(crate) struct Text {
    text: String,
    /// A character of the text's widest `str` kind (ASCII, Latin-1, UCS-2 or UCS-4) and the
    /// length in code points (computed on the worker).
    widest: char,
    chars: usize,
    /// The `str` being written, how many characters are written and where the next one starts.
    out: Option<Py<PyString>>,
    written: usize,
    cursor: usize,
}

impl Text {
    /// On the worker: the text's width and length, from its bytes (two passes the compiler
    /// vectorizes; decoding the characters took a quarter of the time of the prompt's decode).
    pub(crate) fn new(text: String) -> Self {
        let bytes = text.as_bytes();
        // Continuation bytes are 0b10xx_xxxx, -64 and below as i8.
        let chars = bytes.iter().filter(|&&b| (b as i8) >= -0x40).count();
        // The largest byte is the largest character's lead byte (continuation bytes are below
        // every lead byte of a non-ASCII character), which decides the `str`'s kind.
        let widest = match bytes.iter().copied().max().unwrap_or(0) {
            b @ 0..=0x7F => char::from(b),
            0x80..=0xC3 => '\u{FF}',
            0xC4..=0xEF => '\u{FFFF}',
            _ => '\u{10FFFF}',
        };
        Text {
            text,
            widest,
            chars,
            out: None,
            written: 0,
            cursor: 0,
        }
    }

    /// The full-length `str` of the right kind, contents not yet written.
    fn allocate(&self, py: Python<'_>) -> PyResult<Py<PyString>> {
        let seed: String = [self.widest, self.widest].into_iter().collect();
        let len = ffi::Py_ssize_t::try_from(self.chars)
            .map_err(|_| pyo3::exceptions::PyMemoryError::new_err("text too long for a str"))?;
        // SAFETY: a two-character str is never a shared singleton, so it is fresh (refcount 1,
        // unhashed, not interned) as PyUnicode_Resize requires; on failure it is freed and NULL
        // stored, with an exception set.
        unsafe {
            let mut ptr = PyString::new(py, &seed).into_ptr();
            if ffi::PyUnicode_Resize(&mut ptr, len) != 0 {
                return Err(PyErr::fetch(py));
            }
            Ok(Bound::from_owned_ptr(py, ptr)
                .cast_into_unchecked::<PyString>()
                .unbind())
        }
    }
}

impl Deliver for Text {
    fn step(&mut self, py: Python<'_>, budget: &mut usize) -> PyResult<Option<Py<PyAny>>> {
        if self.out.is_none() {
            if self.chars <= *budget || self.chars < 2 {
                *budget = budget.saturating_sub(self.chars);
                let text = std::mem::take(&mut self.text);
                return Ok(Some(PyString::new(py, &text).into_any().unbind()));
            }
            self.out = Some(self.allocate(py)?);
        }
        let out = self.out.as_ref().ok_or_else(delivered_twice)?.as_ptr();
        let todo = (self.chars - self.written).min((*budget).max(1));
        let rest = self.text.get(self.cursor..).unwrap_or_default();
        for c in rest.chars().take(todo) {
            // SAFETY: `out` is our fresh str of `chars` characters whose kind fits every one,
            // and `written < chars`. An error (none expected) comes back with its exception set.
            let index = self.written as ffi::Py_ssize_t;
            if unsafe { ffi::PyUnicode_WriteChar(out, index, u32::from(c)) } != 0 {
                return Err(PyErr::fetch(py));
            }
            self.written += 1;
            self.cursor += c.len_utf8();
        }
        *budget = budget.saturating_sub(todo);
        if self.written < self.chars {
            return Ok(None);
        }
        self.text = String::new();
        Ok(self.out.take().map(Py::into_any))
    }
}

fn delivered_twice() -> PyErr {
    MistralTokError::new_err(
        "internal error in mistral-tok (please report it): result delivered twice",
    )
}

/// Any value with a one-shot conversion (strings, small results).
pub(crate) struct Whole<T>(pub(crate) Option<T>);

impl<T> Deliver for Whole<T>
where
    T: Send + for<'py> IntoPyObject<'py>,
{
    fn step(&mut self, py: Python<'_>, budget: &mut usize) -> PyResult<Option<Py<PyAny>>> {
        *budget = budget.saturating_sub(1);
        match self.0.take() {
            Some(value) => Ok(Some(value.into_py_any(py)?)),
            None => Err(delivered_twice()),
        }
    }
}
