//! One dedicated worker thread that runs jobs in FIFO order and hands results to whoever waits
//! for them through a [`Mailbox`] (a queue plus a wake-up fd an event loop can watch).
//!
//! Why a plain thread and an fd rather than an async runtime: the worker never touches Python, so
//! it never competes for the GIL, and the event loop pays one fd read per batch of completions
//! (measurements: `docs/architecture.md`). The Python layer (`python/worker.rs`) owns the futures.
//!
//! Fork safety: a forked child has none of the parent's threads, and any lock the worker held is
//! held forever. [`Global`] therefore detects a fork (a `pthread_atfork` child handler bumps a
//! generation, and the pid is compared too) and, in the child, leaks the parent's worker without
//! touching it and lazily starts a fresh one.

mod mailbox;
mod wake;

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Once};
use std::thread::JoinHandle;

pub use mailbox::{Completion, Mailbox};

use mistral_tok_core::{Error, Result};

/// A unit of work: runs on the worker thread; a panic inside becomes [`Error::Internal`].
pub type Job<T> = Box<dyn FnOnce() -> Result<T> + Send>;

/// Set by the consumer when nobody wants the result any more. A job cancelled before it starts
/// is skipped; one cancelled while running has its result dropped.
#[derive(Debug, Default)]
pub struct CancelFlag(AtomicBool);

impl CancelFlag {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Why a job was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error(
        "the mistral-tok worker queue is full ({limit} jobs waiting); retry later, or raise the \
         limit with mistral_tok.set_max_queue(n) or MISTRAL_TOK_MAX_QUEUE (0 = unlimited)"
    )]
    QueueFull { limit: usize },
    #[error("the mistral-tok worker thread has stopped")]
    Stopped,
}

struct Task<T> {
    id: u64,
    job: Job<T>,
    mailbox: Arc<Mailbox<T>>,
    cancel: Arc<CancelFlag>,
}

/// The worker thread and the sending end of its FIFO channel.
pub struct Worker<T> {
    tx: Option<Sender<Task<T>>>,
    thread: Option<JoinHandle<()>>,
    /// Jobs submitted and not yet started.
    queued: Arc<AtomicUsize>,
    /// 0 = unlimited.
    limit: AtomicUsize,
    process: ProcessTag,
}

impl<T: Send + 'static> Worker<T> {
    /// Starts the thread. `limit` bounds the jobs waiting to start (0 = unlimited).
    pub fn spawn(name: &str, limit: usize) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Task<T>>();
        let queued = Arc::new(AtomicUsize::new(0));
        let queued_in_thread = Arc::clone(&queued);
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                for task in rx {
                    queued_in_thread.fetch_sub(1, Ordering::AcqRel);
                    run_task(task);
                }
            })
            .map_err(|e| Error::Internal(format!("cannot start the worker thread: {e}")))?;
        Ok(Worker {
            tx: Some(tx),
            thread: Some(thread),
            queued,
            limit: AtomicUsize::new(limit),
            process: ProcessTag::current(),
        })
    }

    /// Queues `job`; its [`Completion`] (tagged `id`) will arrive in `mailbox` unless `cancel` is
    /// set first. Jobs run one at a time in submission order.
    pub fn submit(
        &self,
        id: u64,
        job: Job<T>,
        mailbox: Arc<Mailbox<T>>,
        cancel: Arc<CancelFlag>,
    ) -> std::result::Result<(), SubmitError> {
        let limit = self.limit.load(Ordering::Relaxed);
        let before = self.queued.fetch_add(1, Ordering::AcqRel);
        if limit != 0 && before >= limit {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(SubmitError::QueueFull { limit });
        }
        let task = Task {
            id,
            job,
            mailbox,
            cancel,
        };
        let sent = self.tx.as_ref().map(|tx| tx.send(task));
        if !matches!(sent, Some(Ok(()))) {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(SubmitError::Stopped);
        }
        Ok(())
    }
}

impl<T> Worker<T> {
    /// Jobs submitted and not yet started.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// False in a forked child: the thread this value describes does not exist there.
    pub fn is_current(&self) -> bool {
        self.process.is_current()
    }
}

fn run_task<T>(task: Task<T>) {
    if task.cancel.is_cancelled() {
        return;
    }
    let result = Error::catch_panic(task.job);
    // Cancelled while running: nobody will look at the result, so do not wake anyone for it.
    if task.cancel.is_cancelled() {
        return;
    }
    task.mailbox.deliver(Completion {
        id: task.id,
        result,
    });
}

impl<T> Drop for Worker<T> {
    /// Closes the channel and waits for queued jobs to finish. In a forked child there is no
    /// thread to wait for (and the channel may be mid-operation), so everything is leaked.
    fn drop(&mut self) {
        if !self.is_current() {
            std::mem::forget(self.tx.take());
            std::mem::forget(self.thread.take());
            return;
        }
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A process-wide worker started on first use. A `static Global<T>` never frees its worker
/// (threads may still run at exit), which is what makes handing out `&Worker<T>` sound.
pub struct Global<T> {
    current: AtomicPtr<Worker<T>>,
    name: &'static str,
    /// `LIMIT_FROM_ENV` until read from `limit_env`.
    limit: AtomicUsize,
    limit_env: &'static str,
}

const LIMIT_FROM_ENV: usize = usize::MAX;

impl<T: Send + 'static> Global<T> {
    /// `limit_env` names the environment variable that sets the default queue limit.
    pub const fn new(name: &'static str, limit_env: &'static str) -> Self {
        Global {
            current: AtomicPtr::new(std::ptr::null_mut()),
            name,
            limit: AtomicUsize::new(LIMIT_FROM_ENV),
            limit_env,
        }
    }

    /// The worker of this process, started now if needed (first use, or first use after a fork).
    pub fn get(&self) -> Result<&Worker<T>> {
        loop {
            let seen = self.current.load(Ordering::Acquire);
            // SAFETY: a non-null pointer came from Box::into_raw below and is never freed.
            if let Some(worker) = unsafe { seen.as_ref() } {
                if worker.is_current() {
                    return Ok(worker);
                }
            }
            let fresh = Box::into_raw(Box::new(Worker::spawn(self.name, self.max_queue())?));
            match self
                .current
                .compare_exchange(seen, fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                // The parent's worker (if `seen` is one) is leaked on purpose: see the module doc.
                // SAFETY: `fresh` is now owned by `self.current` and never freed.
                Ok(_) => return Ok(unsafe { &*fresh }),
                // Another thread won the race; stop our thread and use theirs.
                // SAFETY: `fresh` was never published, so this is its only owner.
                Err(_) => drop(unsafe { Box::from_raw(fresh) }),
            }
        }
    }

    /// Whether this process has started its worker (a process that never awaits starts none).
    pub fn is_started(&self) -> bool {
        // SAFETY: as in `get`.
        unsafe { self.current.load(Ordering::Acquire).as_ref() }.is_some_and(Worker::is_current)
    }

    /// The queue limit (0 = unlimited): `set_max_queue`'s value, else the environment variable,
    /// else unlimited.
    pub fn max_queue(&self) -> usize {
        let limit = self.limit.load(Ordering::Relaxed);
        if limit != LIMIT_FROM_ENV {
            return limit;
        }
        let from_env = std::env::var(self.limit_env)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n != LIMIT_FROM_ENV)
            .unwrap_or(0);
        let _ = self.limit.compare_exchange(
            LIMIT_FROM_ENV,
            from_env,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        self.limit.load(Ordering::Relaxed)
    }

    /// Sets the queue limit (0 = unlimited) for the running worker and any later one.
    pub fn set_max_queue(&self, limit: usize) {
        let limit = limit.min(LIMIT_FROM_ENV - 1);
        self.limit.store(limit, Ordering::Relaxed);
        // SAFETY: as in `get`.
        if let Some(worker) = unsafe { self.current.load(Ordering::Acquire).as_ref() } {
            if worker.is_current() {
                worker.set_limit(limit);
            }
        }
    }
}

/// Which process (and which side of a fork) created something. State tagged with a stale tag was
/// inherited through fork and must not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessTag {
    pid: u32,
    generation: u64,
}

impl ProcessTag {
    pub fn current() -> Self {
        install_fork_handler();
        ProcessTag {
            pid: std::process::id(),
            generation: fork_generation(),
        }
    }

    pub fn is_current(&self) -> bool {
        self.generation == fork_generation() && self.pid == std::process::id()
    }
}

static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

fn fork_generation() -> u64 {
    FORK_GENERATION.load(Ordering::Acquire)
}

/// Runs in the child right after fork(); only async-signal-safe work is allowed, and an atomic
/// increment is.
extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::AcqRel);
}

fn install_fork_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a handler that only touches an atomic. A failure (ENOMEM) leaves the
        // pid comparison in `is_current` as the fork detector.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
}

#[cfg(test)]
mod tests;
