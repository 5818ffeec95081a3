//! `Tokenizer.encode_chat_batch`: many conversations read on the calling thread (reading Python
//! objects needs the GIL) while helper threads already encode the rows read so far; then the
//! calling thread releases the GIL and encodes with them.

use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Condvar, Mutex, OnceLock};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::errors::run;
use super::ids::{ids_to_untracked_list, UntrackedList};
use super::tokenizer::ChatArgs;
use mistral_tok_core::chat::{GivenRequest, Readings};
use mistral_tok_core::tokenizer::Tokenizer;

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
    // Without a helper the job is dropped, not run here: it would wait for rows that this thread
    // has not read yet. The calling thread encodes every row the helpers leave.
    if let Some(tx) = helpers.get(index) {
        let _ = tx.send(job);
    }
}

type RowResult = PyResult<Vec<u32>>;

/// A row's outcome, with the row itself when a helper encoded it: the row goes back to be freed by
/// the reading thread, which allocated it. (With glibc's malloc, a thread freeing another
/// thread's blocks takes that thread's arena lock: rows freed by a helper made the reading
/// thread's conversions 60% slower and the helper's encoding 10–15% slower, measured on 1,000
/// chats.)
struct Encoded {
    index: usize,
    result: RowResult,
    row: Option<Row>,
}

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
    /// Helpers asleep in `pop`: a push wakes one only then (a wake-up is a system call, and the
    /// reading thread pushes every row).
    waiting: usize,
}

impl Queue {
    fn new() -> Self {
        Queue {
            state: Mutex::new(QueueState {
                rows: VecDeque::new(),
                closed: false,
                waiting: 0,
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
        let wake = {
            let mut state = self.lock();
            state.rows.push_back((index, row));
            state.waiting > 0
        };
        if wake {
            self.ready.notify_one();
        }
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
            state.waiting += 1;
            state = self.ready.wait(state).unwrap_or_else(|p| p.into_inner());
            state.waiting -= 1;
        }
    }

    /// The next row if one is waiting.
    fn try_pop(&self) -> Option<(usize, Row)> {
        self.lock().rows.pop_front()
    }

    /// Encodes rows until the queue is drained (or nobody wants the results any more).
    fn work(&self, tok: &Tokenizer, check_pixels: bool, results: &mpsc::Sender<Encoded>) {
        while let Some((index, row)) = self.pop() {
            let result = encode_row(&row, tok, check_pixels);
            let row = Some(row);
            if results.send(Encoded { index, result, row }).is_err() {
                break;
            }
        }
    }
}

fn encode_row(row: &Row, tok: &Tokenizer, check_pixels: bool) -> RowResult {
    run(|| Readings::read(&row.given)?.encode(tok, check_pixels))
}

/// The rows' outcomes in row order, as Python objects: each list of ids is made as soon as its row
/// is encoded, while the GIL is held anyway (making 10⁶ ints' list costs about as much as reading
/// the conversations, and done after all the encoding it would leave the helpers idle). The lists
/// stay untracked by the GC until the batch returns them.
struct Outcomes<'py> {
    py: Python<'py>,
    rows: Vec<Option<PyResult<UntrackedList>>>,
    /// Rows whose outcome is in `rows`.
    done: usize,
}

impl<'py> Outcomes<'py> {
    /// Makes the row's list (or keeps its error), and frees the row here.
    fn place(&mut self, Encoded { index, result, .. }: Encoded) -> PyResult<()> {
        let outcome = match result {
            Ok(ids) => Ok(ids_to_untracked_list(self.py, &ids)?),
            Err(err) => Err(err),
        };
        if let Some(slot) = self.rows.get_mut(index) {
            *slot = Some(outcome);
            self.done += 1;
        }
        Ok(())
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
    let (tx, mut rx) = mpsc::channel::<Encoded>();
    for helper in 0..threads - 1 {
        let (queue, tok, tx) = (Arc::clone(&queue), Arc::clone(tok), tx.clone());
        send_to_helper(
            helper,
            Box::new(move || queue.work(&tok, check_pixels, &tx)),
        );
    }
    // Only the helpers send: once they are done, `rx` says so.
    drop(tx);
    let mut outcomes = Outcomes {
        py,
        rows: Vec::new(),
        done: 0,
    };
    let mut read_errors: Vec<Option<PyErr>> = Vec::new();
    let mut queued = 0;
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
        outcomes.rows.push(None);
        match read {
            Ok(row) => {
                queue.push(index, row);
                queued += 1;
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
        while let Ok(encoded) = rx.try_recv() {
            outcomes.place(encoded)?;
        }
    }
    drop(closer);
    // The calling thread makes the lists of the rows encoded so far, then (without the GIL)
    // encodes rows itself or waits for the helpers until a share of the rows is ready, and so
    // on: the GIL is released and taken again a bounded number of times (other Python threads
    // may hold it for a switch interval each time).
    let share = (queued / 16).max(1);
    while outcomes.done < queued {
        while let Ok(encoded) = rx.try_recv() {
            outcomes.place(encoded)?;
        }
        let wanted = share.min(queued - outcomes.done);
        if wanted == 0 {
            break;
        }
        // (`rx` goes along and comes back: a receiver may move between threads but not be shared.)
        let (encoded, back) = py.detach(|| {
            let rx = rx;
            let mut encoded = Vec::with_capacity(wanted);
            while encoded.len() < wanted {
                if let Some((index, row)) = queue.try_pop() {
                    let result = encode_row(&row, tok, check_pixels);
                    encoded.push(Encoded {
                        index,
                        result,
                        row: None,
                    });
                } else if let Ok(mut result) = rx.recv() {
                    drop(result.row.take()); // freed here, without the GIL
                    encoded.push(result);
                } else {
                    break; // no row left and no helper working
                }
            }
            (encoded, rx)
        });
        rx = back;
        if encoded.is_empty() {
            break;
        }
        for result in encoded {
            outcomes.place(result)?;
        }
    }
    let out = PyList::empty(py);
    for (outcome, read_error) in outcomes.rows.into_iter().zip(read_errors) {
        let outcome = match (outcome, read_error) {
            (Some(outcome), _) => outcome,
            (None, Some(err)) => Err(err),
            (None, None) => Err(pyo3::exceptions::PyRuntimeError::new_err(
                "internal error in mistral-tok (please report it): a batch row was not encoded",
            )),
        };
        match outcome {
            Ok(ids) => out.append(ids.track(py))?,
            Err(err) if on_error == OnError::Return => out.append(err.into_value(py))?,
            Err(err) => return Err(err),
        }
    }
    Ok(out)
}
