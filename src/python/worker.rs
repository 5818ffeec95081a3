//! Awaitables served by the core's single worker thread (`crate::worker`).
//!
//! Submit (on the event-loop thread, GIL held): the caller has converted its arguments to owned
//! Rust values; here we create a future on the running loop, remember it under a job id in that
//! loop's [`LoopSlot`], and queue the job. The worker never touches Python. Long strings are
//! first copied a slice per loop iteration (`staging`); jobs of the same loop queued meanwhile
//! wait behind them, so each loop's jobs still run in submission order.
//!
//! Completion: the worker puts the result in the slot's mailbox, whose fd the loop watches through
//! one `loop.add_reader` per loop. The reader callback (the slot itself) runs on the loop thread,
//! takes the finished jobs, skips futures that are already done (cancelled), converts the results
//! to Python there and resolves the futures, in submission order. Large id lists are converted a
//! slice per loop iteration so that a 25 MB request never stalls the loop for the list build.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};
use pyo3::{PyTraverseError, PyVisit};
use rustc_hash::FxHashMap;

use super::deliver::DRAIN_BUDGET;
pub(crate) use super::deliver::{Deliver, Ids, IdsAndText, Output, Text, Whole};
use super::errors::{to_pyerr, MistralTokError};
use super::staging::{Finish, Slices, Stream};
pub(crate) use super::staging::{OnBadText, TEXT_SLICE_CHARS};
use super::text::owned_text;
use crate::worker::{CancelFlag, Global, Job, Mailbox, ProcessTag};
use mistral_tok_core::tokenizer::TokenizerKind;

static WORKER: Global<Output> = Global::new("mistral-tok-worker", "MISTRAL_TOK_MAX_QUEUE");

/// Ids are unique per process; a forked child starts fresh slots, so reuse across fork is harmless.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

pub(crate) fn boxed<D: Deliver + 'static>(
    job: impl FnOnce() -> mistral_tok_core::Result<D> + Send + 'static,
) -> Job<Output> {
    Box::new(move || job().map(|d| Box::new(d) as Output))
}

/// Queues `job` on the worker and returns an `asyncio.Future` of the running loop that resolves to
/// what the job's result delivers (or to the exception the sync call would raise).
pub(crate) fn submit<'py, D>(
    py: Python<'py>,
    job: impl FnOnce() -> mistral_tok_core::Result<D> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    D: Deliver + 'static,
{
    let new = new_future(py)?;
    LoopSlot::dispatch(&new.slot, new.id, new.cancel, boxed(job))?;
    Ok(new.future)
}

/// `submit` for a job that needs a Python `str` as UTF-8: copied at once when short, staged a
/// slice per loop iteration when long.
pub(crate) fn submit_text<'py, D>(
    text: &Bound<'py, PyString>,
    kind: TokenizerKind,
    job: impl FnOnce(String) -> mistral_tok_core::Result<D> + Send + 'static,
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
            None => Err(mistral_tok_core::Error::Internal(
                "staged text missing".into(),
            )),
        },
    )
}

/// Queues `job`, which receives `texts` as UTF-8 (in order) once the loop has copied them, a
/// slice per loop iteration.
pub(crate) fn submit_texts<'py, D>(
    texts: Vec<Bound<'py, PyString>>,
    on_bad_text: OnBadText,
    job: impl FnOnce(Vec<String>) -> mistral_tok_core::Result<D> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    D: Deliver + 'static,
{
    let Some(py) = texts.first().map(|t| t.py()) else {
        return Err(MistralTokError::new_err(
            "internal error in mistral-tok (please report it): no text to stage",
        ));
    };
    let NewFuture {
        event_loop,
        future,
        slot,
        id,
        cancel,
    } = new_future(py)?;
    let finish: Finish = Box::new(
        move |texts: mistral_tok_core::Result<Vec<Slices>>| match texts {
            Ok(texts) => boxed(move || job(texts.into_iter().map(Slices::join).collect())),
            Err(e) => Box::new(move || Err(e)),
        },
    );
    let stream = Stream::new(texts, on_bad_text, event_loop.unbind(), finish)?;
    let first = {
        let mut staging = lock(&slot.get().staging);
        staging.push_back(Staged {
            id,
            cancel,
            work: Work::Stream(Box::new(stream)),
        });
        staging.len() == 1
    };
    if first {
        LoopSlot::pump(&slot);
    }
    Ok(future)
}

/// A future of the running loop, registered in that loop's slot, before its job is queued.
struct NewFuture<'py> {
    event_loop: Bound<'py, PyAny>,
    future: Bound<'py, PyAny>,
    slot: Bound<'py, LoopSlot>,
    id: u64,
    cancel: Arc<CancelFlag>,
}

/// Creates the future and its bookkeeping; the job is not queued yet.
fn new_future(py: Python<'_>) -> PyResult<NewFuture<'_>> {
    let event_loop = running_loop(py)?;
    let slot = slot_for(py, &event_loop)?;
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
    slot.get().pending().insert(
        id,
        Pending {
            future: future.clone().unbind(),
            cancel: Arc::clone(&cancel),
        },
    );
    Ok(NewFuture {
        event_loop,
        future,
        slot,
        id,
        cancel,
    })
}

/// A job waiting in its loop's staging queue: its strings are being copied, or it waits behind a
/// job whose strings are.
struct Staged {
    id: u64,
    cancel: Arc<CancelFlag>,
    work: Work,
}

enum Work {
    Ready(Job<Output>),
    Stream(Box<Stream>),
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
    backlog: Mutex<VecDeque<(Pending, mistral_tok_core::Result<Output>)>>,
    /// Jobs not yet queued on the worker, in submission order (only non-empty while long strings
    /// are being copied).
    staging: Mutex<VecDeque<Staged>>,
    /// A forked child must not use its parent's slots.
    process: ProcessTag,
}

// The locks below are only taken on the loop thread and never across a call into Python, so they
// are never contended and never poisoned in a way that matters.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `lock` for the garbage collector, which may run while this thread holds the lock: `None`
/// then, instead of a deadlock.
fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

impl LoopSlot {
    fn pending(&self) -> MutexGuard<'_, FxHashMap<u64, Pending>> {
        lock(&self.pending)
    }

    fn is_current(&self) -> bool {
        self.process.is_current()
    }

    /// Drops every job of this slot and tells the worker to skip those not started. The futures
    /// are dropped here, outside every lock (dropping a Python object may run arbitrary code).
    fn abandon(&self) {
        if !self.is_current() {
            return; // inherited through fork: its locks may be held by a thread that is gone
        }
        let pending = std::mem::take(&mut *self.pending());
        let backlog = std::mem::take(&mut *lock(&self.backlog));
        let staging = std::mem::take(&mut *lock(&self.staging));
        for p in pending.values() {
            p.cancel.cancel();
        }
        drop((pending, backlog, staging));
    }

    /// Queues `job` on the worker, or behind the jobs still staging on this loop.
    fn dispatch(
        slf: &Bound<'_, Self>,
        id: u64,
        cancel: Arc<CancelFlag>,
        job: Job<Output>,
    ) -> PyResult<()> {
        let this = slf.get();
        {
            let mut staging = lock(&this.staging);
            if !staging.is_empty() {
                staging.push_back(Staged {
                    id,
                    cancel,
                    work: Work::Ready(job),
                });
                return Ok(());
            }
        }
        this.send(id, cancel, job).inspect_err(|_| {
            let dropped = this.pending().remove(&id);
            drop(dropped);
        })
    }

    fn send(&self, id: u64, cancel: Arc<CancelFlag>, job: Job<Output>) -> PyResult<()> {
        let worker = WORKER.get().map_err(to_pyerr)?;
        worker
            .submit(id, job, Arc::clone(&self.mailbox), cancel)
            .map_err(|e| MistralTokError::new_err(e.to_string()))
    }

    /// Copies one slice of the head job's strings; queues on the worker every job that is ready
    /// in order; schedules itself again while a job is still staging.
    fn pump(slf: &Bound<'_, Self>) {
        let py = slf.py();
        let this = slf.get();
        let mut failed = Vec::new();
        let mut again = None;
        loop {
            let Some(staged) = lock(&this.staging).pop_front() else {
                break;
            };
            if staged.cancel.is_cancelled() {
                continue;
            }
            let job = match staged.work {
                Work::Ready(job) => job,
                Work::Stream(mut stream) => match stream.step(py) {
                    Some(Ok(job)) => job,
                    Some(Err(err)) => {
                        failed.push((staged.id, err));
                        continue;
                    }
                    None => {
                        again = Some(stream.event_loop.clone_ref(py));
                        lock(&this.staging).push_front(Staged {
                            work: Work::Stream(stream),
                            ..staged
                        });
                        break;
                    }
                },
            };
            if let Err(e) = this.send(staged.id, staged.cancel, job) {
                failed.push((staged.id, e));
            }
        }
        for (id, err) in failed {
            let waiting = this.pending().remove(&id);
            if let Some(waiting) = waiting {
                let _ = waiting
                    .future
                    .bind(py)
                    .call_method1(intern!(py, "set_exception"), (err.into_value(py),));
            }
        }
        if let Some(event_loop) = again {
            let scheduled = slf.getattr(intern!(py, "_pump")).and_then(|pump| {
                event_loop
                    .bind(py)
                    .call_method1(intern!(py, "call_soon"), (pump,))
            });
            if scheduled.is_err() {
                // The loop is closed: its staged jobs can never be awaited; drop them.
                let abandoned = std::mem::take(&mut *lock(&this.staging));
                drop(abandoned);
            }
        }
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

    fn _pump(slf: &Bound<'_, Self>) {
        Self::pump(slf);
    }

    /// The objects that can lead back here: the futures (through their callbacks, a
    /// [`CancelHook`]) and the loops of staging jobs. Results being converted and the strings
    /// being copied hold no reference cycles. A lock held right now (the collector ran inside
    /// one) means those edges go unreported this time, which only delays a collection.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(pending) = try_lock(&self.pending) {
            for waiting in pending.values() {
                visit.call(&waiting.future)?;
            }
        }
        if let Some(backlog) = try_lock(&self.backlog) {
            for (waiting, _) in backlog.iter() {
                visit.call(&waiting.future)?;
            }
        }
        if let Some(staging) = try_lock(&self.staging) {
            for staged in staging.iter() {
                if let Work::Stream(stream) = &staged.work {
                    visit.call(&stream.event_loop)?;
                }
            }
        }
        Ok(())
    }

    /// Forgets every job of this slot (a slot in a garbage cycle has no loop left to run them).
    fn __clear__(&self) {
        self.abandon();
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
    /// The slot is the edge of the cycle future → callbacks → hook → slot → future; the slot's
    /// `__clear__` (or the future's) breaks it.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.slot)
    }

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
            staging: Mutex::new(VecDeque::new()),
            process: ProcessTag::current(),
        },
    )?;
    event_loop.call_method1(intern!(py, "add_reader"), (slot.get().mailbox.fd(), &slot))?;
    loops.set_item(event_loop, &slot)?;
    Ok(slot)
}

/// Forgets loops that were closed: their futures can never run again. Clearing the slot breaks
/// the cycle future → loop → selector → reader → slot → future now, not at the collector's next
/// full pass.
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
            slot.get().abandon();
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
    submit(py, || -> mistral_tok_core::Result<Whole<u32>> {
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
