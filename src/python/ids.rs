//! Token ids → `list[int]` through a table of shared int objects.
//!
//! Creating a Python int costs 15–30 ns; taking a reference to an existing one costs a few. Token
//! ids are small (tekken: < 131,072), so one table of ints made once turns the list build, which
//! runs on the event-loop thread for the awaitables, into mostly reference counting, and millions
//! of equal ids share one object instead of 28 bytes each.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyList;
use pyo3::IntoPyObjectExt;

/// Ids below this come from the table; larger ones are created one by one.
const TABLE_LEN: usize = 1 << 17;

fn table(py: Python<'_>) -> PyResult<&'static [Py<PyAny>]> {
    static TABLE: PyOnceLock<Vec<Py<PyAny>>> = PyOnceLock::new();
    TABLE
        .get_or_try_init(py, || {
            (0..TABLE_LEN)
                .map(|i| i.into_py_any(py))
                .collect::<PyResult<Vec<_>>>()
        })
        .map(Vec::as_slice)
}

/// `list(ids)` with the same values as `PyList::new(py, ids)`.
pub(crate) fn ids_to_list<'py>(py: Python<'py>, ids: &[u32]) -> PyResult<Bound<'py, PyList>> {
    Ok(ids_to_untracked_list(py, ids)?.track(py))
}

/// [`ids_to_list`] whose list the GC does not see until [`UntrackedList::track`].
pub(crate) fn ids_to_untracked_list(py: Python<'_>, ids: &[u32]) -> PyResult<UntrackedList> {
    let mut list = ListBuilder::new(py, ids.len())?;
    list.fill(py, ids)?;
    list.finish_untracked().ok_or_else(|| {
        pyo3::exceptions::PyRuntimeError::new_err(
            "internal error in mistral-tok (please report it): id list left incomplete",
        )
    })
}

/// A complete `list[int]` not yet tracked by the GC. `encode_chat_batch` keeps its rows' lists
/// so until it returns them: each collection that the batch's own allocations trigger would
/// otherwise walk every id of every list made so far (about 4 ms of a batch of 1,000 chats, all
/// of it on the thread that holds the GIL, which the helper threads wait for). Dropped untracked,
/// a list is freed as usual.
pub(crate) struct UntrackedList(Py<PyList>);

impl UntrackedList {
    pub(crate) fn track(self, py: Python<'_>) -> Bound<'_, PyList> {
        // SAFETY: the list is complete and untracked (`ListBuilder::new` untracked it).
        unsafe { ffi::PyObject_GC_Track(self.0.as_ptr().cast()) };
        self.0.into_bound(py)
    }
}

/// A `list[int]` of known length filled a slice at a time (across event-loop iterations). Until
/// it is finished it is referenced only here and untracked by the GC, so nobody (not even
/// `gc.get_objects()`) sees its still-empty slots; being allocated once at full size, it is never
/// copied by a resize while it grows.
pub(crate) struct ListBuilder {
    list: Py<PyList>,
    filled: usize,
    len: usize,
}

impl ListBuilder {
    pub(crate) fn new(py: Python<'_>, len: usize) -> PyResult<Self> {
        let size = ffi::Py_ssize_t::try_from(len).map_err(|_| {
            pyo3::exceptions::PyMemoryError::new_err("too many token ids for a list")
        })?;
        // SAFETY: PyList_New returns a new, GC-tracked reference or NULL with an exception set;
        // untracking an object we alone reference is allowed (list deallocation copes with both
        // states and with NULL slots).
        let list = unsafe {
            let list = Bound::from_owned_ptr_or_err(py, ffi::PyList_New(size))?;
            ffi::PyObject_GC_UnTrack(list.as_ptr().cast());
            list.cast_into_unchecked::<PyList>()
        };
        Ok(ListBuilder {
            list: list.unbind(),
            filled: 0,
            len,
        })
    }

    pub(crate) fn remaining(&self) -> usize {
        self.len - self.filled
    }

    /// Appends `ids` after the slots already filled (at most `remaining()` of them are used).
    pub(crate) fn fill(&mut self, py: Python<'_>, ids: &[u32]) -> PyResult<()> {
        let table = table(py)?;
        let list = self.list.as_ptr();
        for &id in ids.iter().take(self.remaining()) {
            // SAFETY: `filled < len` is a valid, still-empty index; the item is a new (or newly
            // increfed) reference that PyList_SetItem steals.
            unsafe {
                let item = match table.get(id as usize) {
                    Some(shared) => {
                        ffi::Py_IncRef(shared.as_ptr());
                        shared.as_ptr()
                    }
                    None => ffi::PyLong_FromUnsignedLong(std::os::raw::c_ulong::from(id)),
                };
                if item.is_null() {
                    return Err(PyErr::fetch(py));
                }
                ffi::PyList_SetItem(list, self.filled as ffi::Py_ssize_t, item);
            }
            self.filled += 1;
        }
        Ok(())
    }

    /// The finished list, tracked by the GC again like any other list. `None` while slots are
    /// still empty.
    pub(crate) fn finish(self, py: Python<'_>) -> Option<Bound<'_, PyList>> {
        self.finish_untracked().map(|list| list.track(py))
    }

    /// The finished list, still untracked. `None` while slots are still empty.
    pub(crate) fn finish_untracked(self) -> Option<UntrackedList> {
        (self.filled == self.len).then_some(UntrackedList(self.list))
    }
}
