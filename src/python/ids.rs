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
    let table = table(py)?;
    let len = ffi::Py_ssize_t::try_from(ids.len())
        .map_err(|_| pyo3::exceptions::PyMemoryError::new_err("too many token ids for a list"))?;
    // SAFETY: PyList_New returns a new reference (or NULL with an exception set). Every slot is
    // then given exactly one owned reference through PyList_SetItem (which steals it); a slot left
    // NULL after an error is allowed by list deallocation.
    unsafe {
        let list = Bound::from_owned_ptr_or_err(py, ffi::PyList_New(len))?;
        for (i, &id) in ids.iter().enumerate() {
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
            ffi::PyList_SetItem(list.as_ptr(), i as ffi::Py_ssize_t, item);
        }
        Ok(list.cast_into_unchecked())
    }
}
