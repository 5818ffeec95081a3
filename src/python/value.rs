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

/// A container being converted: its remaining items and what is done so far.
enum Frame<'py> {
    /// A list, tuple or other sequence (items snapshotted as borrowed references).
    List {
        items: std::vec::IntoIter<Bound<'py, PyAny>>,
        out: Vec<Value>,
    },
    /// A dict or other mapping; `key` is the key of the item being converted.
    Dict {
        items: std::vec::IntoIter<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
        key: String,
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

/// Where an error happened, built only when there is an error.
struct Place<'a> {
    what: &'a str,
    depth: usize,
}

impl Place<'_> {
    fn describe(&self) -> String {
        if self.depth == 0 {
            self.what.to_string()
        } else {
            format!("{} (at nesting depth {})", self.what, self.depth)
        }
    }
}

fn string(s: &Bound<'_, PyString>, place: &Place<'_>, role: &str) -> Result<String, Error> {
    match s.to_cow() {
        Ok(c) => Ok(c.into_owned()),
        Err(_) => Err(Error::Unsupported(format!(
            "{role} in {} contains a lone surrogate (a str that is not valid Unicode); the native \
             encoder cannot represent it",
            place.describe()
        ))),
    }
}

/// The decimal digits of an int beyond `i64`. Python refuses to write more than 4300 digits
/// (`sys.get_int_max_str_digits()`), and so does `json.dumps` in mistral_common — but only when
/// the value is actually serialised (a tool's parameters are not, for v1). Such an int becomes a
/// placeholder of 4301 digits with its sign: every serialisation of it fails as Python's does,
/// and nothing else reads its digits.
fn big_int_digits(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = obj.py();
    let index = obj.call_method0("__index__")?;
    match py.get_type::<PyInt>().call_method1("__repr__", (&index,)) {
        Ok(r) => r.extract::<String>(),
        Err(_) => {
            let negative = index.lt(0)?;
            let sign = if negative { "-" } else { "" };
            Ok(format!("{sign}1{}", "0".repeat(4300)))
        }
    }
}

fn key(k: &Bound<'_, PyAny>, place: &Place<'_>) -> Result<String, Error> {
    match k.cast::<PyString>() {
        Ok(s) => string(s, place, "a dict key"),
        Err(_) => Err(Error::Request(format!(
            "{}: dict keys must be str, got {}",
            place.describe(),
            type_name(k)
        ))),
    }
}

fn open_list<'py>(items: Vec<Bound<'py, PyAny>>) -> Step<'py> {
    Step::Open(Frame::List {
        out: Vec::with_capacity(items.len()),
        items: items.into_iter(),
    })
}

fn open_dict<'py>(items: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>) -> Step<'py> {
    Step::Open(Frame::Dict {
        out: Vec::with_capacity(items.len()),
        items: items.into_iter(),
        key: String::new(),
    })
}

fn step<'py>(obj: &Bound<'py, PyAny>, place: &Place<'_>) -> Result<Step<'py>, Error> {
    if obj.is_none() {
        return Ok(Step::Done(Value::Null));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Step::Done(Value::Str(string(s, place, "a string")?)));
    }
    // bool before int: `bool` is an `int` subclass.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Step::Done(Value::Bool(b.is_true())));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        return Ok(Step::Done(Value::Int(match i.extract::<i64>() {
            Ok(v) => Int::Small(v),
            Err(_) => Int::Big(big_int_digits(obj).map_err(|e| {
                Error::Request(format!("{}: could not read an int: {e}", place.describe()))
            })?),
        })));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Step::Done(Value::Float(f.value())));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return Ok(open_dict(d.iter().collect()));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return Ok(open_list(l.iter().collect()));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return Ok(open_list(t.iter().collect()));
    }
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyByteArray>() {
        return Err(Error::Unsupported(format!(
            "{}: bytes values are not supported by the native encoder (pass str)",
            place.describe()
        )));
    }
    if obj.hasattr("model_dump").unwrap_or(false) {
        return Err(Error::Request(format!(
            "{}: got a {} object; encode_chat takes plain dicts and lists in OpenAI format \
             (for a pydantic model, pass model.model_dump())",
            place.describe(),
            type_name(obj)
        )));
    }
    if let Ok(m) = obj.cast::<PyMapping>() {
        let pairs = m.items().map_err(py_err)?;
        let mut items = Vec::with_capacity(pairs.len());
        for pair in pairs.iter() {
            items.push(pair.extract().map_err(py_err)?);
        }
        return Ok(open_dict(items));
    }
    if let Ok(s) = obj.cast::<PySequence>() {
        let n = s.len().map_err(py_err)?;
        let mut items = Vec::with_capacity(n);
        for i in 0..n {
            items.push(s.get_item(i).map_err(py_err)?);
        }
        return Ok(open_list(items));
    }
    Err(Error::Request(format!(
        "{}: values of type {} are not JSON-like (expected dict, list, str, int, float, bool or \
         None)",
        place.describe(),
        type_name(obj)
    )))
}

/// mistral_common tests `isinstance(x, list)` on a message's `content` and `tool_calls`, so a
/// tuple there is rejected although tuples are lists everywhere else.
fn reject_message_tuple(key: &str, v: &Bound<'_, PyAny>) -> Result<(), Error> {
    if !v.is_instance_of::<PyTuple>() {
        return Ok(());
    }
    match key {
        "content" => Err(Error::Request(
            "Unknown content type: <class 'tuple'> (content must be a str or a list)".to_string(),
        )),
        "tool_calls" => Err(Error::Request(
            "tool_calls must be a list, got <class 'tuple'>".to_string(),
        )),
        _ => Ok(()),
    }
}

/// Converts `obj` (named `what` in errors, e.g. `"messages"`) to a [`Value`].
pub(crate) fn to_value(obj: &Bound<'_, PyAny>, what: &str) -> Result<Value, Error> {
    let mut current = match step(obj, &Place { what, depth: 0 })? {
        Step::Done(v) => return Ok(v),
        Step::Open(f) => f,
    };
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let check_messages = what == "messages";
    loop {
        // The next item of the current container, or `None` when it is complete.
        let item = match &mut current {
            Frame::List { items, .. } => items.next(),
            Frame::Dict {
                items, key: cur, ..
            } => match items.next() {
                Some((k, v)) => {
                    let place = Place {
                        what,
                        depth: stack.len() + 1,
                    };
                    *cur = key(&k, &place)?;
                    if check_messages && stack.len() == 1 {
                        reject_message_tuple(cur, &v)?;
                    }
                    Some(v)
                }
                None => None,
            },
        };
        let finished = match item {
            Some(item) => {
                let place = Place {
                    what,
                    depth: stack.len() + 1,
                };
                match step(&item, &place)? {
                    Step::Done(v) => push(&mut current, v),
                    Step::Open(frame) => {
                        if stack.len() + 2 > MAX_DEPTH {
                            return Err(Error::Request(format!(
                                "{what} is nested deeper than {MAX_DEPTH} levels (mistral_common \
                                 fails with RecursionError well before that)"
                            )));
                        }
                        stack.push(std::mem::replace(&mut current, frame));
                    }
                }
                continue;
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
        Frame::Dict { key, out, .. } => out.push((std::mem::take(key), v)),
    }
}

fn close(frame: Frame<'_>) -> Value {
    match frame {
        Frame::List { out, .. } => Value::List(out),
        Frame::Dict { out, .. } => Value::Dict(out),
    }
}
