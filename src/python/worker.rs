//! Awaitables served by the core's single worker thread (`crate::worker`).
//!
//! Submit (on the event-loop thread, GIL held): the caller has already converted its arguments to
//! owned Rust values; here we create a future on the running loop, remember it under a job id in
//! that loop's [`LoopSlot`], and queue the job. The worker never touches Python.
//!
//! Completion: the worker puts the result in the slot's mailbox, whose fd the loop watches through
//! one `loop.add_reader` per loop. The reader callback (the slot itself) runs on the loop thread,
//! takes the finished jobs, skips futures that are already done (cancelled), converts the results
//! to Python there and resolves the futures, in submission order. Large id lists are converted a
//! slice per loop iteration so that a 25 MB request never stalls the loop for the list build.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};
use pyo3::IntoPyObjectExt;
use rustc_hash::FxHashMap;

use super::errors::{to_pyerr, MistralTokError};
use super::ids::{ids_to_list, ListBuilder};
use super::text::owned_text;
use crate::tokenizer::TokenizerKind;
use crate::worker::{CancelFlag, Global, Job, Mailbox, ProcessTag};

/// A finished job's value, converted to Python on the loop thread. `step` may do part of the work
/// and answer `None` to be called again on a later loop iteration; `budget` is what this call may
/// still spend (roughly: Python objects to create) and is decreased by what was spent.
pub(crate) trait Deliver: Send {
    fn step(&mut self, py: Python<'_>, budget: &mut usize) -> PyResult<Option<Py<PyAny>>>;
}

pub(crate) type Output = Box<dyn Deliver>;

/// List items a drain call may write before it yields to the loop: well under a millisecond on a
/// quiet core with shared ints (`ids.rs`), a few ms on a loaded one.
const DRAIN_BUDGET: usize = 1 << 17;

/// A token-id list, built a slice at a time when it is long.
pub(crate) struct Ids {
    ids: Vec<u32>,
    list: Option<ListBuilder>,
}

impl Ids {
    pub(crate) fn new(ids: Vec<u32>) -> Self {
        Ids { ids, list: None }
    }
}

impl Deliver for Ids {
    fn step(&mut self, py: Python<'_>, budget: &mut usize) -> PyResult<Option<Py<PyAny>>> {
        if self.list.is_none() && self.ids.len() <= *budget {
            *budget -= self.ids.len();
            return Ok(Some(ids_to_list(py, &self.ids)?.into_any().unbind()));
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
            None => Err(MistralTokError::new_err(
                "internal error in mistral-tok (please report it): result delivered twice",
            )),
        }
    }
}

static WORKER: Global<Output> = Global::new("mistral-tok-worker", "MISTRAL_TOK_MAX_QUEUE");

/// Ids are unique per process; a forked child starts fresh slots, so reuse across fork is harmless.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Queues `job` on the worker and returns an `asyncio.Future` of the running loop that resolves to
/// what the job's result delivers (or to the exception the sync call would raise).
pub(crate) fn submit<'py, D>(
    py: Python<'py>,
    job: impl FnOnce() -> crate::Result<D> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    D: Deliver + 'static,
{
    let event_loop = running_loop(py)?;
    submit_on(&event_loop, job).map(|(future, _)| future)
}

/// `submit` for a job that needs a Python `str` as UTF-8. A short text is copied at once; a long
/// one is copied a slice per loop iteration and streamed to the job, which waits for the last
/// slice: a 25 MB str costs the loop tens of ms of conversion, which must not be one stall.
pub(crate) fn submit_text<'py, D>(
    text: &Bound<'py, PyString>,
    kind: TokenizerKind,
    job: impl FnOnce(String) -> crate::Result<D> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    D: Deliver + 'static,
{
    if text.len()? <= TEXT_SLICE_CHARS {
        let owned = owned_text(text, kind)?.into_owned();
        return submit(text.py(), move || job(owned));
    }
    submit_texts(
        vec![text.clone()],
        OnBadText::Repair(kind),
        move |mut texts| match texts.pop() {
            Some(text) => job(text),
            None => Err(crate::Error::Internal("streamed text missing".into())),
        },
    )
}

/// Strings longer than this are streamed by [`submit_texts`] rather than copied at the call.
pub(crate) const TEXT_SLICE_CHARS: usize = 1 << 18;

/// What to do with a streamed string that is not valid Unicode (a lone surrogate). Rare, so it
/// may cost one stall.
pub(crate) enum OnBadText {
    /// `encode`'s answer: tekken repairs the whole text (a surrogate pair split by a slice
    /// boundary must still pair up), sentencepiece refuses it.
    Repair(TokenizerKind),
    /// The error this call makes at the call site when it converts `source` in one go.
    Reconvert(Box<dyn Fn(Python<'_>) -> crate::Error + Send + Sync>),
}

/// Queues `job`, which receives `texts` as UTF-8 (in order) once the loop has copied them, a
/// slice per loop iteration. The job waits on the worker meanwhile, which keeps jobs in FIFO
/// order.
pub(crate) fn submit_texts<'py, D>(
    texts: Vec<Bound<'py, PyString>>,
    on_bad_text: OnBadText,
    job: impl FnOnce(Vec<String>) -> crate::Result<D> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    D: Deliver + 'static,
{
    let Some(py) = texts.first().map(|t| t.py()) else {
        return Err(MistralTokError::new_err(
            "internal error in mistral-tok (please report it): no text to stream",
        ));
    };
    let event_loop = running_loop(py)?;
    let expected = texts.len();
    let (tx, rx) = mpsc::channel::<TextPart>();
    let (future, cancel) = submit_on(&event_loop, move || {
        let mut done: Vec<String> = Vec::with_capacity(expected);
        let mut current = String::new();
        for part in rx {
            match part {
                TextPart::Slice(s) => current.push_str(&s),
                TextPart::Last(s) => {
                    current.push_str(&s);
                    done.push(std::mem::take(&mut current));
                }
                TextPart::Replaced(s) => {
                    current.clear();
                    done.push(s);
                }
                TextPart::Failed(e) => return Err(e),
            }
            if done.len() == expected {
                return job(done);
            }
        }
        // The feeder was dropped before the end: the future was cancelled or its loop closed,
        // so nobody will see this error.
        Err(crate::Error::Internal("text input abandoned".into()))
    })?;
    let lengths = texts
        .iter()
        .map(|t| t.len())
        .collect::<PyResult<Vec<_>>>()?;
    let feeder = Bound::new(
        py,
        Feeder {
            texts: texts.into_iter().map(Bound::unbind).collect(),
            lengths,
            event_loop: event_loop.unbind(),
            on_bad_text,
            cancel,
            state: Mutex::new(FeedState {
                text: 0,
                done: 0,
                tx: Some(tx),
            }),
        },
    )?;
    Feeder::feed(&feeder);
    Ok(future)
}

enum TextPart {
    Slice(String),
    /// The end of the current text.
    Last(String),
    /// The whole current text, converted at once (the slow path for lone surrogates).
    Replaced(String),
    Failed(crate::Error),
}

/// Streams long `str`s to a waiting job, one slice per loop iteration (`loop.call_soon(self)`).
#[pyclass(frozen, module = "mistral_tok._native")]
struct Feeder {
    texts: Vec<Py<PyString>>,
    /// In code points.
    lengths: Vec<usize>,
    event_loop: Py<PyAny>,
    on_bad_text: OnBadText,
    cancel: Arc<CancelFlag>,
    state: Mutex<FeedState>,
}

struct FeedState {
    /// Index of the text being copied, and how many of its code points are sent.
    text: usize,
    done: usize,
    /// Dropped when everything is sent or abandoned, which ends the job's wait.
    tx: Option<mpsc::Sender<TextPart>>,
}

impl Feeder {
    fn feed(slf: &Bound<'_, Self>) {
        let py = slf.py();
        let this = slf.get();
        let mut state = lock(&this.state);
        let Some(tx) = state.tx.take() else {
            return;
        };
        let (Some(text), Some(&len)) = (this.texts.get(state.text), this.lengths.get(state.text))
        else {
            return;
        };
        if this.cancel.is_cancelled() {
            return;
        }
        let text = text.bind(py);
        let end = len.min(state.done + TEXT_SLICE_CHARS);
        let part = match slice_utf8(text, state.done, end) {
            Ok(s) if end == len => TextPart::Last(s),
            Ok(s) => TextPart::Slice(s),
            Err(_) => match &this.on_bad_text {
                OnBadText::Repair(kind) => match owned_text(text, *kind) {
                    Ok(whole) => TextPart::Replaced(whole.into_owned()),
                    Err(e) => {
                        TextPart::Failed(crate::Error::InvalidArgument(e.value(py).to_string()))
                    }
                },
                OnBadText::Reconvert(error_of) => TextPart::Failed(error_of(py)),
            },
        };
        let text_done = !matches!(part, TextPart::Slice(_));
        let failed = matches!(part, TextPart::Failed(_));
        if tx.send(part).is_err() || failed {
            return;
        }
        if text_done {
            state.text += 1;
            state.done = 0;
            if state.text == this.texts.len() {
                return;
            }
        } else {
            state.done = end;
        }
        state.tx = Some(tx);
        drop(state);
        let scheduled = this
            .event_loop
            .bind(py)
            .call_method1(intern!(py, "call_soon"), (slf,));
        if scheduled.is_err() {
            // The loop is closed: end the job's wait.
            drop(lock(&this.state).tx.take());
        }
    }
}

#[pymethods]
impl Feeder {
    fn __call__(slf: &Bound<'_, Self>) {
        Self::feed(slf);
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

/// Registers the future and queues the job; answers the future and the job's cancel flag.
fn submit_on<'py, D>(
    event_loop: &Bound<'py, PyAny>,
    job: impl FnOnce() -> crate::Result<D> + Send + 'static,
) -> PyResult<(Bound<'py, PyAny>, Arc<CancelFlag>)>
where
    D: Deliver + 'static,
{
    let py = event_loop.py();
    let worker = WORKER.get().map_err(to_pyerr)?;
    let slot = slot_for(py, event_loop)?;
    let future = event_loop.call_method0(intern!(py, "create_future"))?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let cancel = Arc::new(CancelFlag::default());
    let hook = Bound::new(
        py,
        CancelHook {
            slot: slot.clone().unbind(),
            id,
        },
    )?;
    future.call_method1(intern!(py, "add_done_callback"), (hook,))?;
    let slot_ref = slot.get();
    slot_ref.pending().insert(
        id,
        Pending {
            future: future.clone().unbind(),
            cancel: Arc::clone(&cancel),
        },
    );
    let job: Job<Output> = Box::new(move || job().map(|d| Box::new(d) as Output));
    if let Err(e) = worker.submit(id, job, Arc::clone(&slot_ref.mailbox), Arc::clone(&cancel)) {
        let dropped = slot_ref.pending().remove(&id);
        drop(dropped);
        return Err(MistralTokError::new_err(e.to_string()));
    }
    Ok((future, cancel))
}

fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    GET_RUNNING_LOOP
        .import(py, "asyncio", "get_running_loop")?
        .call0()
}

struct Pending {
    future: Py<PyAny>,
    cancel: Arc<CancelFlag>,
}

/// Per-event-loop state: the mailbox whose fd the loop watches, the futures waiting on it, and
/// results being converted across loop iterations. Calling it drains (it is the reader callback).
#[pyclass(frozen, module = "mistral_tok._native")]
struct LoopSlot {
    mailbox: Arc<Mailbox<Output>>,
    pending: Mutex<FxHashMap<u64, Pending>>,
    /// Finished jobs not yet delivered, in submission order (only non-empty while a large result
    /// is being converted across loop iterations).
    backlog: Mutex<VecDeque<(Pending, crate::Result<Output>)>>,
    /// A forked child must not use its parent's slots.
    process: ProcessTag,
}

// The locks below are only taken on the loop thread and never across a call into Python, so they
// are never contended and never poisoned in a way that matters.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LoopSlot {
    fn pending(&self) -> MutexGuard<'_, FxHashMap<u64, Pending>> {
        lock(&self.pending)
    }

    fn is_current(&self) -> bool {
        self.process.is_current()
    }

    /// Moves finished jobs into the backlog, then resolves futures in order until the budget is
    /// spent. Errors of individual futures are swallowed: one bad future must not strand others.
    fn drain(slf: &Bound<'_, Self>) {
        let py = slf.py();
        let this = slf.get();
        let finished = this.mailbox.take();
        if !finished.is_empty() {
            let mut pending = this.pending();
            let ready: Vec<_> = finished
                .into_iter()
                .filter_map(|c| pending.remove(&c.id).map(|p| (p, c.result)))
                .collect();
            drop(pending);
            lock(&this.backlog).extend(ready);
        }
        let mut budget = DRAIN_BUDGET;
        let mut dropped = Vec::new();
        let mut yielded_on = None;
        loop {
            let Some((waiting, mut result)) = lock(&this.backlog).pop_front() else {
                break;
            };
            let future = waiting.future.bind(py);
            let done = future
                .call_method0(intern!(py, "done"))
                .and_then(|d| d.is_truthy())
                .unwrap_or(true);
            if done {
                dropped.push((waiting, result));
                continue;
            }
            let outcome = match &mut result {
                Ok(output) => match output.step(py, &mut budget) {
                    Ok(Some(value)) => Some(Ok(value)),
                    Ok(None) => None,
                    Err(e) => Some(Err(e)),
                },
                Err(e) => Some(Err(to_pyerr(e.clone()))),
            };
            match outcome {
                Some(Ok(value)) => {
                    let _ = future.call_method1(intern!(py, "set_result"), (value,));
                }
                Some(Err(err)) => {
                    let _ =
                        future.call_method1(intern!(py, "set_exception"), (err.into_value(py),));
                }
                None => {
                    yielded_on = Some(future.clone());
                    lock(&this.backlog).push_front((waiting, result));
                    break;
                }
            }
            if budget == 0 {
                yielded_on = lock(&this.backlog)
                    .front()
                    .map(|(p, _)| p.future.bind(py).clone());
                break;
            }
        }
        // Futures and results are dropped here, outside every lock: dropping a Python object may
        // run arbitrary code, including another submit on this loop.
        drop(dropped);
        if let Some(future) = yielded_on {
            // The rest is converted on a later iteration. A closed loop cannot run it; its
            // futures are abandoned with it.
            let _ = future
                .call_method0(intern!(py, "get_loop"))
                .and_then(|l| l.call_method1(intern!(py, "call_soon"), (slf,)));
        }
    }
}

#[pymethods]
impl LoopSlot {
    fn __call__(slf: &Bound<'_, Self>) {
        Self::drain(slf);
    }
}

/// `add_done_callback` hook: a future that finishes before its job delivered was cancelled (or
/// resolved by someone else); either way the worker may skip the job.
#[pyclass(frozen, module = "mistral_tok._native")]
struct CancelHook {
    slot: Py<LoopSlot>,
    id: u64,
}

#[pymethods]
impl CancelHook {
    fn __call__(&self, _future: &Bound<'_, PyAny>) {
        let removed = self.slot.get().pending().remove(&self.id);
        if let Some(p) = &removed {
            p.cancel.cancel();
        }
        drop(removed);
    }
}

/// `{loop: LoopSlot}` for every loop that awaited at least once. Holding the loop keeps its
/// identity stable; closed loops are swept whenever a new loop registers.
fn loops(py: Python<'_>) -> &Bound<'_, PyDict> {
    static LOOPS: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
    LOOPS.get_or_init(py, || PyDict::new(py).unbind()).bind(py)
}

fn slot_for<'py>(
    py: Python<'py>,
    event_loop: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, LoopSlot>> {
    let loops = loops(py);
    if let Some(slot) = loops.get_item(event_loop)? {
        let slot = slot.cast_into::<LoopSlot>()?;
        if slot.get().is_current() {
            return Ok(slot);
        }
        // A slot inherited through fork: its mailbox lock may be held by a thread that does not
        // exist here, so it is leaked untouched, and its fd is left registered (the selector may
        // be shared with the parent, whose registration a removal would delete).
        std::mem::forget(slot.unbind());
    }
    sweep_closed_loops(py, loops)?;
    let slot = Bound::new(
        py,
        LoopSlot {
            mailbox: Arc::new(Mailbox::new().map_err(to_pyerr)?),
            pending: Mutex::new(FxHashMap::default()),
            backlog: Mutex::new(VecDeque::new()),
            process: ProcessTag::current(),
        },
    )?;
    event_loop.call_method1(intern!(py, "add_reader"), (slot.get().mailbox.fd(), &slot))?;
    loops.set_item(event_loop, &slot)?;
    Ok(slot)
}

/// Forgets loops that were closed: their futures can never run again. Clearing the slot breaks
/// the cycle future → loop → selector → reader → slot → future, which the GC cannot see through
/// a Rust object.
fn sweep_closed_loops(py: Python<'_>, loops: &Bound<'_, PyDict>) -> PyResult<()> {
    let mut closed = Vec::new();
    for (event_loop, slot) in loops.iter() {
        let is_closed = event_loop
            .call_method0(intern!(py, "is_closed"))
            .and_then(|c| c.is_truthy())
            .unwrap_or(true);
        if is_closed {
            closed.push((event_loop, slot));
        }
    }
    for (event_loop, slot) in closed {
        loops.del_item(&event_loop)?;
        if let Ok(slot) = slot.cast::<LoopSlot>() {
            let slot = slot.get();
            if slot.is_current() {
                let pending = std::mem::take(&mut *slot.pending());
                let backlog = std::mem::take(&mut *lock(&slot.backlog));
                for p in pending.values() {
                    p.cancel.cancel();
                }
                drop((pending, backlog));
            }
        }
    }
    Ok(())
}

/// `mistral_tok.set_max_queue(n)`: at most `n` jobs may wait for the worker (0 = unlimited); a
/// submit beyond that raises `MistralTokError` at once. Default: `MISTRAL_TOK_MAX_QUEUE` or
/// unlimited.
#[pyfunction]
fn set_max_queue(n: usize) {
    WORKER.set_max_queue(n);
}

/// The current queue limit (0 = unlimited).
#[pyfunction]
fn max_queue() -> usize {
    WORKER.max_queue()
}

/// Whether this process has started its worker thread.
#[pyfunction]
fn _worker_started() -> bool {
    WORKER.is_started()
}

/// Futures of this process still waiting for the worker, over all loops (a leak check).
#[pyfunction]
fn _pending_jobs(py: Python<'_>) -> usize {
    loops(py)
        .values()
        .iter()
        .filter_map(|s| s.cast_into::<LoopSlot>().ok())
        .filter(|s| s.get().is_current())
        .map(|s| s.get().pending().len() + lock(&s.get().backlog).len())
        .sum()
}

/// Test hook: a job that panics on the worker. Its future raises `MistralTokError`.
#[pyfunction]
fn _test_panic_job(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    submit(py, || -> crate::Result<Whole<u32>> {
        panic!("test panic inside a worker job")
    })
}

/// Test hook: a job that sleeps `seconds` on the worker and then answers `value`, for
/// deterministic ordering and cancellation tests.
#[pyfunction]
fn _test_sleep_job(py: Python<'_>, seconds: f64, value: i64) -> PyResult<Bound<'_, PyAny>> {
    let duration = std::time::Duration::try_from_secs_f64(seconds)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    submit(py, move || {
        TEST_JOBS_STARTED.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(duration);
        Ok(Whole(Some(value)))
    })
}

static TEST_JOBS_STARTED: AtomicU64 = AtomicU64::new(0);

/// How many `_test_sleep_job` jobs have started running (skipped ones never start).
#[pyfunction]
fn _test_jobs_started() -> u64 {
    TEST_JOBS_STARTED.load(Ordering::SeqCst)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(set_max_queue, m)?)?;
    m.add_function(wrap_pyfunction!(max_queue, m)?)?;
    // Hidden helpers for tests: attributes, not exports (`add_function` would list them in
    // `__all__`).
    m.setattr("_worker_started", wrap_pyfunction!(_worker_started, m)?)?;
    m.setattr("_pending_jobs", wrap_pyfunction!(_pending_jobs, m)?)?;
    m.setattr("_test_panic_job", wrap_pyfunction!(_test_panic_job, m)?)?;
    m.setattr("_test_sleep_job", wrap_pyfunction!(_test_sleep_job, m)?)?;
    m.setattr(
        "_test_jobs_started",
        wrap_pyfunction!(_test_jobs_started, m)?,
    )?;
    Ok(())
}
