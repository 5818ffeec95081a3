//! Where finished jobs wait for their event loop: a queue plus a wake-up fd that becomes readable
//! when the queue goes from empty to non-empty (one syscall per batch, not per job).

use std::os::fd::RawFd;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::wake::WakeFd;
use mistral_tok_core::Result;

/// One finished job: the id its submitter chose, and what the job returned.
#[derive(Debug)]
pub struct Completion<T> {
    pub id: u64,
    pub result: Result<T>,
}

/// One per consumer (in the Python layer: one per event loop). Jobs carry an `Arc` to the mailbox
/// their result belongs in, so several loops in several threads each get their own results.
pub struct Mailbox<T> {
    done: Mutex<Vec<Completion<T>>>,
    wake: WakeFd,
}

impl<T> Mailbox<T> {
    pub fn new() -> Result<Self> {
        Ok(Mailbox {
            done: Mutex::new(Vec::new()),
            wake: WakeFd::new()?,
        })
    }

    /// The descriptor to watch for readability (`loop.add_reader(fd, …)`).
    pub fn fd(&self) -> RawFd {
        self.wake.fd()
    }

    // Nothing that can panic runs while the lock is held, so a poisoned lock is still consistent.
    fn lock(&self) -> MutexGuard<'_, Vec<Completion<T>>> {
        self.done.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called by the worker. Wakes the consumer only on the empty → non-empty transition: while
    /// the queue is non-empty a wake-up is already pending (see `take` for why none is lost).
    pub(crate) fn deliver(&self, completion: Completion<T>) {
        let was_empty = {
            let mut done = self.lock();
            done.push(completion);
            done.len() == 1
        };
        if was_empty {
            self.wake.wake();
        }
    }

    /// Called by the consumer when the fd is readable: every completion delivered so far, in
    /// delivery order. The fd is re-armed *before* the queue is taken, so a completion delivered
    /// after the take finds an empty queue and writes a fresh wake-up.
    pub fn take(&self) -> Vec<Completion<T>> {
        self.wake.reset();
        std::mem::take(&mut *self.lock())
    }

    /// How many completions wait.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
