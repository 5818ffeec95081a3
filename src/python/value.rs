//! Python objects (the caller's messages, tools and request fields) → [`Given`], under the GIL.
//!
//! Only reads, and decides nothing: what an object is (tuple or list, dict or other mapping, a
//! str with lone surrogates, …) is recorded, and the core's [`mistral_tok_core::request::read`] applies the
//! rules. The walk is iterative, and stops at the core's depth limit ([`Given::TooDeep`]), so a
//! 10⁵-deep structure gives a clear error instead of a stack overflow.

use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMapping, PySequence, PyString,
    PyTuple,
};

use super::image::lend;
use mistral_tok_core::request::given::{Given, Key, MapKind, Opaque, SeqKind, Text, Wtf8};
use mistral_tok_core::request::read::{is_media_payload, iterates, Step as PathStep, MAX_DEPTH};
use mistral_tok_core::request::regex::{may_be_regex, RegexVerdicts};
use mistral_tok_core::value::Int;
use mistral_tok_core::Error;

/// A container being converted: its remaining items and what is done so far.
enum Frame<'py> {
    Seq {
        kind: SeqKind,
        items: std::vec::IntoIter<Bound<'py, PyAny>>,
        out: Vec<Given>,
    },
    /// `key` is the key of the item being converted, `name` its text when it is a UTF-8 str.
    Map {
        kind: MapKind,
        items: std::vec::IntoIter<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
        key: Option<(Key, Option<String>)>,
        out: Vec<(Key, Given)>,
    },
}

/// What one object is: a finished scalar, or a container whose items are still to convert.
enum Step<'py> {
    Done(Given),
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

/// A str's text: UTF-8 when it is valid Unicode, else its code points (lone surrogates).
pub(crate) fn text(s: &Bound<'_, PyString>) -> PyResult<Text> {
    if let Ok(c) = super::text::utf8(s) {
        return Ok(Text::Utf8(c.into_owned()));
    }
    let bytes = s.call_method1("encode", ("utf-32-le", "surrogatepass"))?;
    let bytes = bytes.cast::<PyBytes>()?.as_bytes();
    Ok(Text::Wtf8(Wtf8::from_code_points(
        bytes
            .chunks_exact(4)
            .map(|u| u32::from_le_bytes([u[0], u[1], u[2], u[3]])),
    )))
}

/// The value of an int. Python refuses to write more than 4300 digits
/// (`sys.get_int_max_str_digits()`), and so does `json.dumps` in mistral_common — but only when
/// the value is actually serialised. Such an int becomes a placeholder of 4301 digits with its
/// sign: every serialisation of it fails as Python's does, and nothing else reads its digits.
fn int(obj: &Bound<'_, PyAny>) -> PyResult<Int> {
    if let Ok(v) = obj.extract::<i64>() {
        return Ok(Int::Small(v));
    }
    let py = obj.py();
    let index = obj.call_method0("__index__")?;
    match py.get_type::<PyInt>().call_method1("__repr__", (&index,)) {
        Ok(r) => Ok(Int::Big(r.extract::<String>()?)),
        Err(_) => {
            let sign = if index.lt(0)? { "-" } else { "" };
            Ok(Int::Big(format!("{sign}1{}", "0".repeat(4300))))
        }
    }
}

fn key(k: &Bound<'_, PyAny>) -> PyResult<Key> {
    Ok(if let Ok(s) = k.cast::<PyString>() {
        Key::Str(text(s)?)
    } else if k.is_none() {
        Key::Null
    } else if let Ok(b) = k.cast::<PyBool>() {
        Key::Bool(b.is_true())
    } else if k.is_instance_of::<PyInt>() {
        Key::Int(int(k)?)
    } else if let Ok(f) = k.cast::<PyFloat>() {
        Key::Float(f.value())
    } else {
        Key::Other(type_name(k))
    })
}

fn open_seq<'py>(kind: SeqKind, items: Vec<Bound<'py, PyAny>>) -> Step<'py> {
    Step::Open(Frame::Seq {
        kind,
        out: Vec::with_capacity(items.len()),
        items: items.into_iter(),
    })
}

fn open_map<'py>(kind: MapKind, items: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>) -> Step<'py> {
    Step::Open(Frame::Map {
        kind,
        out: Vec::with_capacity(items.len()),
        items: items.into_iter(),
        key: None,
    })
}

/// What pydantic's lax mode may read from an object of another type: `float(x)`, and its int
/// (`__index__`, else `int(x)` when equal to it). Errors are "no answer".
fn opaque(obj: &Bound<'_, PyAny>, model_dump: bool) -> PyResult<Opaque> {
    let index = match obj.call_method0("__index__") {
        Ok(i) => Some(int(&i)?),
        Err(_) => None,
    };
    let float = obj.extract::<f64>().ok();
    let integer = match (&index, float) {
        (Some(i), _) => Some(i.clone()),
        (None, Some(f)) if f.is_finite() => obj
            .py()
            .get_type::<PyInt>()
            .call1((obj,))
            .ok()
            .filter(|i| obj.eq(i).unwrap_or(false))
            .map(|i| int(&i))
            .transpose()?,
        _ => None,
    };
    Ok(Opaque {
        type_name: type_name(obj),
        model_dump,
        index,
        float,
        integer,
    })
}

/// `str(obj.value)` when `obj` is an enum member as pydantic's lax `str` validation tests it (the
/// type of its type is `enum.EnumMeta` itself), else `None`; an error is "no answer" (pydantic
/// would raise it, and a `str` field then refuses the member all the same).
fn member_text(obj: &Bound<'_, PyAny>) -> PyResult<Option<Text>> {
    static ENUM_TYPE: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    let py = obj.py();
    let enum_type = ENUM_TYPE.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("enum")?.getattr("EnumMeta")?.unbind())
    })?;
    if !obj.get_type().get_type().is(enum_type.bind(py)) {
        return Ok(None);
    }
    match obj.getattr("value").and_then(|v| v.str()) {
        Ok(s) => text(&s).map(Some),
        Err(_) => Ok(None),
    }
}

/// [`plain_step`], with an enum member kept as a [`Given::Member`] unless it is a `str`, `bytes` or
/// `bytearray` (which pydantic reads as such before it tests for an enum).
fn step<'py>(
    obj: &Bound<'py, PyAny>,
    at_media_payload: impl Fn() -> bool,
    iterate: bool,
) -> PyResult<Step<'py>> {
    match plain_step(obj, at_media_payload, iterate)? {
        Step::Done(value) if !matches!(value, Given::Str(_) | Given::Bytes { .. }) => {
            Ok(Step::Done(match member_text(obj)? {
                Some(text) => Given::Member {
                    text,
                    value: Box::new(value),
                },
                None => value,
            }))
        }
        other => Ok(other),
    }
}

/// `at_media_payload`: whether the object sits where an image URL is read (a long ASCII str there
/// is lent, not copied). `iterate`: whether another iterable is iterated (see
/// [`mistral_tok_core::request::read::iterates`]).
fn plain_step<'py>(
    obj: &Bound<'py, PyAny>,
    at_media_payload: impl Fn() -> bool,
    iterate: bool,
) -> PyResult<Step<'py>> {
    if obj.is_none() {
        return Ok(Step::Done(Given::Null));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        if let Some(lent) = lend(s).filter(|_| at_media_payload()) {
            return Ok(Step::Done(Given::Str(Text::Lent(lent))));
        }
        return Ok(Step::Done(Given::Str(text(s)?)));
    }
    // bool before int: `bool` is an `int` subclass.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Step::Done(Given::Bool(b.is_true())));
    }
    if obj.is_instance_of::<PyInt>() {
        let subclass = (!obj.is_exact_instance_of::<PyInt>()).then(|| type_name(obj));
        return Ok(Step::Done(Given::Int {
            value: int(obj)?,
            subclass,
        }));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Step::Done(Given::Float(f.value())));
    }
    if let Ok(d) = obj.cast_exact::<PyDict>() {
        return Ok(open_map(MapKind::Dict, d.iter().collect()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        // A subclass may override `__getitem__`, through which mistral_common reads it.
        let mut items = Vec::with_capacity(d.len());
        for k in d.keys() {
            let v = obj.get_item(&k)?;
            items.push((k, v));
        }
        return Ok(open_map(MapKind::Dict, items));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return Ok(open_seq(SeqKind::List, l.iter().collect()));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return Ok(open_seq(SeqKind::Tuple, t.iter().collect()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Step::Done(Given::Bytes {
            data: b.as_bytes().to_vec(),
            mutable: false,
        }));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Step::Done(Given::Bytes {
            data: b.to_vec(),
            mutable: true,
        }));
    }
    let model_dump = obj.hasattr("model_dump").unwrap_or(false);
    if !model_dump {
        if let Ok(m) = obj.cast::<PyMapping>() {
            let pairs = m.items()?;
            let mut items = Vec::with_capacity(pairs.len());
            for pair in pairs.iter() {
                items.push(pair.extract()?);
            }
            return Ok(open_map(MapKind::Other, items));
        }
        if let Ok(s) = obj.cast::<PySequence>() {
            let n = s.len()?;
            let mut items = Vec::with_capacity(n);
            for i in 0..n {
                items.push(s.get_item(i)?);
            }
            return Ok(open_seq(SeqKind::Other, items));
        }
        if iterate {
            if let Ok(iter) = obj.try_iter() {
                let items = iter.collect::<PyResult<Vec<_>>>()?;
                return Ok(open_seq(SeqKind::Iterated, items));
            }
        }
    }
    Ok(Step::Done(Given::Opaque(opaque(obj, model_dump)?)))
}

/// The path to the item being converted, for [`is_media_payload`].
fn at_media_payload(what: &str, stack: &[Frame<'_>], current: &Frame<'_>) -> bool {
    let mut path = Vec::with_capacity(stack.len() + 1);
    for frame in stack.iter().chain(std::iter::once(current)) {
        path.push(match frame {
            Frame::Seq { out, .. } => PathStep::Index(out.len()),
            Frame::Map { key, .. } => match key {
                Some((_, Some(name))) => PathStep::Key(name),
                _ => return false,
            },
        });
    }
    is_media_payload(what, &path)
}

/// The key name of a map frame's item being converted.
fn frame_key<'a>(frame: Option<&'a Frame<'_>>) -> Option<&'a str> {
    match frame {
        Some(Frame::Map {
            key: Some((_, Some(name))),
            ..
        }) => Some(name),
        _ => None,
    }
}

/// `re.compile(pattern)`'s verdict in this interpreter: `None` when it compiles, else the message
/// of what it raised (`re.error`, or `OverflowError` for a repeat count beyond C's range). Cached:
/// the same schemas come with every request.
fn regex_verdict(py: Python<'_>, pattern: &str) -> PyResult<Option<String>> {
    type Cache = std::sync::Mutex<rustc_hash::FxHashMap<String, Option<String>>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    const MAX_CACHED: usize = 4096;
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().ok().and_then(|c| c.get(pattern).cloned()) {
        return Ok(v);
    }
    let verdict = match py.import("re")?.call_method1("compile", (pattern,)) {
        Ok(_) => None,
        Err(e) => Some(e.value(py).str()?.to_string()),
    };
    if let Ok(mut c) = cache.lock() {
        if c.len() >= MAX_CACHED {
            c.clear();
        }
        c.insert(pattern.to_string(), verdict.clone());
    }
    Ok(verdict)
}

/// Records the verdict on `text` when the schema check may read it as a regex.
fn judge(py: Python<'_>, text: &Text, regex: bool, verdicts: &mut RegexVerdicts) -> PyResult<()> {
    if let (true, Text::Utf8(pattern)) = (regex, text) {
        let verdict = regex_verdict(py, pattern)?;
        verdicts.record(pattern, verdict);
    }
    Ok(())
}

/// Converts `obj`, the argument named `what` (e.g. `"messages"`), recording `re.compile`'s
/// verdicts on the strings a schema check may read as regexes.
pub(crate) fn to_given(
    obj: &Bound<'_, PyAny>,
    what: &str,
    verdicts: &mut RegexVerdicts,
) -> Result<Given, Error> {
    let py = obj.py();
    let mut current = match step(obj, || false, iterates(what)).map_err(py_err)? {
        Step::Done(v) => return Ok(v),
        Step::Open(f) => f,
    };
    let mut stack: Vec<Frame<'_>> = Vec::new();
    loop {
        // The next item of the current container, or `None` when it is complete.
        let item = match &mut current {
            Frame::Seq { items, .. } => items.next(),
            Frame::Map {
                items, key: cur, ..
            } => match items.next() {
                Some((k, v)) => {
                    let k = key(&k).map_err(py_err)?;
                    if let Key::Str(t) = &k {
                        let regex = may_be_regex(what, frame_key(stack.last()), None);
                        judge(py, t, regex, verdicts).map_err(py_err)?;
                    }
                    let name = match &k {
                        Key::Str(Text::Utf8(s)) => Some(s.clone()),
                        _ => None,
                    };
                    *cur = Some((k, name));
                    Some(v)
                }
                None => None,
            },
        };
        let finished = match item {
            Some(item) => {
                let stepped = step(&item, || at_media_payload(what, &stack, &current), false);
                match stepped.map_err(py_err)? {
                    Step::Done(v) => {
                        if let Given::Str(t) = &v {
                            let regex = may_be_regex(what, None, frame_key(Some(&current)));
                            judge(py, t, regex, verdicts).map_err(py_err)?;
                        }
                        push(&mut current, v)
                    }
                    Step::Open(_) if stack.len() + 1 >= MAX_DEPTH => {
                        push(&mut current, Given::TooDeep)
                    }
                    Step::Open(frame) => stack.push(std::mem::replace(&mut current, frame)),
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

fn push(frame: &mut Frame<'_>, v: Given) {
    match frame {
        Frame::Seq { out, .. } => out.push(v),
        Frame::Map { key, out, .. } => {
            if let Some((k, _)) = key.take() {
                out.push((k, v));
            }
        }
    }
}

fn close(frame: Frame<'_>) -> Given {
    match frame {
        Frame::Seq { kind, out, .. } => Given::Seq(kind, out),
        Frame::Map { kind, out, .. } => Given::Map(kind, out),
    }
}
