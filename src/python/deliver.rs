//! What a finished job hands back, and how it becomes a Python object on the loop thread.

use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

use super::errors::MistralTokError;
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

/// Token ids, or with the prompt's text `(ids, text)` (`encode_chat_async(..., with_text=True)`).
pub(crate) struct IdsAndText {
    ids: Ids,
    text: Option<String>,
}

impl IdsAndText {
    /// On the worker: the text is decoded here with `text_policy`, if any.
    pub(crate) fn new(
        ids: Vec<u32>,
        text_policy: Option<mistral_tok_core::tokenizer::SpecialTokenPolicy>,
        tok: &mistral_tok_core::tokenizer::Tokenizer,
    ) -> mistral_tok_core::Result<Self> {
        let text = match text_policy {
            Some(policy) => Some(tok.decode(&ids, policy)?),
            None => None,
        };
        Ok(IdsAndText {
            ids: Ids::new(ids),
            text,
        })
    }
}

impl Deliver for IdsAndText {
    fn step(&mut self, py: Python<'_>, budget: &mut usize) -> PyResult<Option<Py<PyAny>>> {
        let Some(list) = self.ids.step(py, budget)? else {
            return Ok(None);
        };
        match self.text.take() {
            Some(text) => Ok(Some((list, text).into_py_any(py)?)),
            None => Ok(Some(list)),
        }
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
