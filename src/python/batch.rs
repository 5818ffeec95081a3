//! `Tokenizer.encode_chat_batch`: many conversations read on the calling thread (reading Python
//! objects needs the GIL) while helper threads already encode the rows read so far; then the
//! calling thread releases the GIL and encodes with them.

use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Condvar, Mutex, OnceLock};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::errors::run;
use super::ids::ids_to_list;
use super::tokenizer::ChatArgs;
use crate::chat::{GivenRequest, Readings};
use crate::tokenizer::Tokenizer;

/// What to do with a row that fails: raise its error, or return it in the row's place.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnError {
    Raise,
    Return,
}

impl OnError {
    pub(crate) fn parse(text: &str) -> PyResult<Self> {
        match text {
            "raise" => Ok(OnError::Raise),
            "return" => Ok(OnError::Return),
            other => Err(pyo3::exceptions::PyValueError::new_err(format!(
                "errors must be 'raise' or 'return', not {other:?}"
            ))),
        }
    }
}

/// One conversation, converted and ready to read and encode without the GIL.
struct Row {
    given: GivenRequest,
}

type Job = Box<dyn FnOnce() + Send>;

/// Helper threads kept for the process: the tokenizers' per-thread caches stay warm from one
/// batch to the next (a fresh thread starts with an empty cache, which costs more than the
/// encoding of a batch of short chats).
fn helpers() -> &'static Mutex<Vec<mpsc::Sender<Job>>> {
    static HELPERS: OnceLock<Mutex<Vec<mpsc::Sender<Job>>>> = OnceLock::new();
    HELPERS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Hands `job` to helper thread `index`, starting it the first time.
fn send_to_helper(index: usize, job: Job) {
    let mut helpers = helpers().lock().unwrap_or_else(|p| p.into_inner());
    while helpers.len() <= index {
        let (tx, rx) = mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name(format!("mistral-tok-batch-{}", helpers.len()))
            .spawn(move || {
                for job in rx {
                    job();
                }
            });
        if spawned.is_err() {
            break; // no thread to be had: the calling thread does the work
        }
        helpers.push(tx);
    }
    if let Some(tx) = helpers.get(index) {
        if let Err(mpsc::SendError(job)) = tx.send(job) {
            job(); // the helper is gone: run its share here
        }
    } else {
        job();
    }
}

type RowResult = PyResult<Vec<u32>>;

/// Rows read but not yet encoded. The calling thread reads the conversations (it needs the GIL)
/// while the helpers already encode the rows read so far; then it joins them.
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

struct QueueState {
    rows: VecDeque<(usize, Row)>,
    /// No more rows will come.
    closed: bool,
}

impl Queue {
    fn new() -> Self {
        Queue {
            state: Mutex::new(QueueState {
                rows: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // A poisoned lock only means a thread panicked while holding it, which the short
        // sections below cannot do; the queue stays usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, index: usize, row: Row) {
        self.lock().rows.push_back((index, row));
        self.ready.notify_one();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// The next row, waiting while the queue is empty but open; `None` once it is drained.
    fn pop(&self) -> Option<(usize, Row)> {
        let mut state = self.lock();
        loop {
            if let Some(row) = state.rows.pop_front() {
                return Some(row);
            }
            if state.closed {
                return None;
            }
            state = self.ready.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Encodes rows until the queue is drained (or nobody wants the results any more).
    fn work(
        &self,
        tok: &Tokenizer,
        check_pixels: bool,
        results: &mpsc::Sender<(usize, RowResult)>,
    ) {
        while let Some((i, row)) = self.pop() {
            let result = run(|| Readings::read(&row.given)?.encode(tok, check_pixels));
            if results.send((i, result)).is_err() {
                break;
            }
        }
    }
}

/// Closes the queue however the reading ends (an error, a panic), so that no helper waits forever.
struct CloseOnDrop(Arc<Queue>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// `encode_chat_batch`: see `_native.pyi`.
#[allow(clippy::too_many_arguments)] // the Python signature
pub(crate) fn encode_chat_batch<'py>(
    py: Python<'py>,
    tok: &Arc<Tokenizer>,
    conversations: &Bound<'py, PyAny>,
    tools: Option<&Bound<'py, PyAny>>,
    num_threads: Option<usize>,
    errors: &str,
    max_model_input_len: Option<&Bound<'py, PyAny>>,
    check_pixels: bool,
    request_fields: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyList>> {
    let on_error = OnError::parse(errors)?;
    let threads = match num_threads {
        Some(0) => {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "num_threads must be at least 1",
            ))
        }
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let queue = Arc::new(Queue::new());
    let closer = CloseOnDrop(Arc::clone(&queue));
    let (tx, rx) = mpsc::channel::<(usize, RowResult)>();
    for helper in 0..threads - 1 {
        let (queue, tok, tx) = (Arc::clone(&queue), Arc::clone(tok), tx.clone());
        send_to_helper(
            helper,
            Box::new(move || queue.work(&tok, check_pixels, &tx)),
        );
    }
    let mut read_errors: Vec<Option<PyErr>> = Vec::new();
    for (index, conversation) in conversations.try_iter()?.enumerate() {
        let read = conversation.and_then(|conversation| {
            let args = ChatArgs::new(
                &conversation,
                tools,
                None,
                request_fields,
                max_model_input_len,
            )?;
            Ok(Row {
                given: args.given()?,
            })
        });
        match read {
            Ok(row) => {
                queue.push(index, row);
                read_errors.push(None);
            }
            Err(err) => {
                read_errors.push(Some(err));
                // Raised in row order below, after the rows before it (one may fail first).
                if on_error == OnError::Raise {
                    break;
                }
            }
        }
    }
    drop(closer);
    let rows = read_errors.len();
    let encoded = py.detach(|| {
        queue.work(tok, check_pixels, &tx);
        drop(tx);
        let mut encoded: Vec<Option<RowResult>> = (0..rows).map(|_| None).collect();
        for (i, result) in rx {
            if let Some(slot) = encoded.get_mut(i) {
                *slot = Some(result);
            }
        }
        encoded
    });
    let out = PyList::empty(py);
    for (result, read_error) in encoded.into_iter().zip(read_errors) {
        let result = match (result, read_error) {
            (Some(result), _) => result,
            (None, Some(err)) => Err(err),
            (None, None) => Err(pyo3::exceptions::PyRuntimeError::new_err(
                "internal error in mistral-tok (please report it): a batch row was not encoded",
            )),
        };
        match result {
            Ok(ids) => out.append(ids_to_list(py, &ids)?)?,
            Err(err) if on_error == OnError::Return => out.append(err.into_value(py))?,
            Err(err) => return Err(err),
        }
    }
    Ok(out)
}
