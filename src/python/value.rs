//! Python objects (the caller's messages, tools and request fields) → [`Value`], under the GIL.
//!
//! Only reads: nothing the caller passed is mutated. The walk is iterative with a depth limit, so
//! a 10⁵-deep structure gives a clear error instead of a stack overflow (mistral_common itself
//! raises `RecursionError` near 1000 levels; the exact limits that matter are checked by the core).

use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMapping, PySequence, PyString,
    PyTuple,
};

use crate::error::Error;
use crate::value::{Int, Value};

/// Deeper nesting than any request mistral_common accepts (it fails near 990).
pub(crate) const MAX_DEPTH: usize = 1000;

enum Frame<'py> {
    List {
        items: Vec<Bound<'py, PyAny>>,
        next: usize,
        out: Vec<Value>,
    },
    Dict {
        items: Vec<(String, Bound<'py, PyAny>)>,
        next: usize,
        out: Vec<(String, Value)>,
    },
}

/// What one object is: a finished scalar, or a container whose items are still to convert.
enum Step<'py> {
    Done(Value),
    Open(Frame<'py>),
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

fn py_err(e: PyErr) -> Error {
    Error::Request(format!("could not read the request: {e}"))
}

fn string(s: &Bound<'_, PyString>, what: &str) -> Result<String, Error> {
    match s.to_cow() {
        Ok(c) => Ok(c.into_owned()),
        Err(_) => Err(Error::Unsupported(format!(
            "{what} contains a lone surrogate (a str that is not valid Unicode); the native \
             encoder cannot represent it"
        ))),
    }
}

fn step<'py>(obj: &Bound<'py, PyAny>, path: &dyn Fn() -> String) -> Result<Step<'py>, Error> {
    if obj.is_none() {
        return Ok(Step::Done(Value::Null));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Step::Done(Value::Str(string(
            s,
            &format!("the string at {}", path()),
        )?)));
    }
    // bool before int: `bool` is an `int` subclass.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Step::Done(Value::Bool(b.is_true())));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        return Ok(Step::Done(Value::Int(match i.extract::<i64>() {
            Ok(v) => Int::Small(v),
            Err(_) => {
                // `int.__str__` itself refuses more than 4300 digits (`ValueError`), as
                // `json.dumps` does in mistral_common.
                let digits = obj.call_method0("__index__").and_then(|ix| {
                    let int_type = obj.py().get_type::<PyInt>();
                    int_type
                        .call_method1("__repr__", (ix,))?
                        .extract::<String>()
                });
                Int::Big(digits.map_err(|e| Error::Request(format!("{} : {e}", path())))?)
            }
        })));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Step::Done(Value::Float(f.value())));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut items = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            items.push((key(&k, path)?, v));
        }
        return Ok(Step::Open(Frame::Dict {
            out: Vec::with_capacity(items.len()),
            items,
            next: 0,
        }));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        let items: Vec<_> = l.iter().collect();
        return Ok(Step::Open(Frame::List {
            out: Vec::with_capacity(items.len()),
            items,
            next: 0,
        }));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        let items: Vec<_> = t.iter().collect();
        return Ok(Step::Open(Frame::List {
            out: Vec::with_capacity(items.len()),
            items,
            next: 0,
        }));
    }
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyByteArray>() {
        return Err(Error::Unsupported(format!(
            "{}: bytes values are not supported by the native encoder (pass str)",
            path()
        )));
    }
    if obj.hasattr("model_dump").unwrap_or(false) {
        return Err(Error::Request(format!(
            "{}: got a {} object; encode_chat takes plain dicts and lists in OpenAI format \
             (for a pydantic model, pass model.model_dump())",
            path(),
            type_name(obj)
        )));
    }
    if let Ok(m) = obj.cast::<PyMapping>() {
        let pairs = m.items().map_err(py_err)?;
        let mut items = Vec::new();
        for pair in pairs.iter() {
            let (k, v): (Bound<'py, PyAny>, Bound<'py, PyAny>) = pair.extract().map_err(py_err)?;
            items.push((key(&k, path)?, v));
        }
        return Ok(Step::Open(Frame::Dict {
            out: Vec::with_capacity(items.len()),
            items,
            next: 0,
        }));
    }
    if let Ok(s) = obj.cast::<PySequence>() {
        let n = s.len().map_err(py_err)?;
        let mut items = Vec::with_capacity(n);
        for i in 0..n {
            items.push(s.get_item(i).map_err(py_err)?);
        }
        return Ok(Step::Open(Frame::List {
            out: Vec::with_capacity(items.len()),
            items,
            next: 0,
        }));
    }
    Err(Error::Request(format!(
        "{}: values of type {} are not JSON-like (expected dict, list, str, int, float, bool or \
         None)",
        path(),
        type_name(obj)
    )))
}

fn key(k: &Bound<'_, PyAny>, path: &dyn Fn() -> String) -> Result<String, Error> {
    match k.cast::<PyString>() {
        Ok(s) => string(s, &format!("a dict key at {}", path())),
        Err(_) => Err(Error::Request(format!(
            "{}: dict keys must be str, got {}",
            path(),
            type_name(k)
        ))),
    }
}

/// Converts `obj` (named `what` in errors, e.g. `"messages"`) to a [`Value`].
pub(crate) fn to_value(obj: &Bound<'_, PyAny>, what: &str) -> Result<Value, Error> {
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut current = match step(obj, &|| what.to_string())? {
        Step::Done(v) => return Ok(v),
        Step::Open(f) => f,
    };
    loop {
        // Take the next item of the current container, or finish it.
        let next_item = match &mut current {
            Frame::List { items, next, .. } => {
                let item = items.get(*next).cloned();
                *next += 1;
                item
            }
            Frame::Dict { items, next, .. } => {
                let item = items.get(*next).map(|(_, v)| v.clone());
                *next += 1;
                item
            }
        };
        let finished = match next_item {
            Some(item) => {
                let path = || format!("{what} (at depth {})", stack.len() + 1);
                match step(&item, &path)? {
                    Step::Done(v) => {
                        push(&mut current, v);
                        continue;
                    }
                    Step::Open(frame) => {
                        if stack.len() + 2 > MAX_DEPTH {
                            return Err(Error::Request(format!(
                                "{what} is nested deeper than {MAX_DEPTH} levels (mistral_common \
                                 fails with RecursionError well before that)"
                            )));
                        }
                        stack.push(std::mem::replace(&mut current, frame));
                        continue;
                    }
                }
            }
            None => close(current),
        };
        match stack.pop() {
            Some(parent) => {
                current = parent;
                push(&mut current, finished);
            }
            None => return Ok(finished),
        }
    }
}

fn push(frame: &mut Frame<'_>, v: Value) {
    match frame {
        Frame::List { out, .. } => out.push(v),
        Frame::Dict { items, next, out } => {
            if let Some((k, _)) = items.get(next.wrapping_sub(1)) {
                out.push((k.clone(), v));
            }
        }
    }
}

fn close(frame: Frame<'_>) -> Value {
    match frame {
        Frame::List { out, .. } => Value::List(out),
        Frame::Dict { out, .. } => Value::Dict(out),
    }
}
