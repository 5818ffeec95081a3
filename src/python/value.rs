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

/// Where an error happened (described only when there is one), and how lone surrogates are
/// spelled (see [`Surrogates`]).
struct Place<'a> {
    what: &'a str,
    depth: usize,
    surrogates: &'a Surrogates,
}

/// A Python str may hold lone surrogates (U+D800–U+DFFF), which UTF-8 cannot. mistral_common
/// only trips on them where it uses the string (SentencePiece raises, tiktoken repairs them), and
/// ignores them in keys and fields it drops. So they are kept, spelled as private-use characters
/// `plane + (code point − 0xD800)` (an injective mapping: equal strings stay equal, different ones
/// stay different), and the caller encodes twice with two different planes: when both runs agree,
/// the surrogates did not matter. When they differ, they reach the tokens: SentencePiece refuses
/// such a str, and tiktoken repairs it (`s.encode("utf-16", "surrogatepass").decode("utf-16",
/// "replace")`), which [`Surrogates::REPAIR`] reproduces string by string.
pub(crate) struct Surrogates {
    plane: u32,
    seen: std::cell::Cell<bool>,
    edge: std::cell::Cell<bool>,
}

impl Surrogates {
    /// Supplementary Private Use Area-A.
    pub(crate) const PLANE_A: u32 = 0xF0000;
    /// Supplementary Private Use Area-B.
    pub(crate) const PLANE_B: u32 = 0x100000;

    /// Spell them as tiktoken's repair does (U+FFFD, or the pair joined).
    pub(crate) const REPAIR: u32 = 0;

    pub(crate) fn new(plane: u32) -> Self {
        Surrogates {
            plane,
            seen: std::cell::Cell::new(false),
            edge: std::cell::Cell::new(false),
        }
    }

    /// Whether any converted string had a lone surrogate.
    pub(crate) fn seen(&self) -> bool {
        self.seen.get()
    }

    /// Whether a string starts with a low or ends with a high surrogate: joined to a neighbour
    /// without a separator, the halves could pair up, which a string-by-string repair misses.
    pub(crate) fn at_edge(&self) -> bool {
        self.edge.get()
    }

    fn spell(&self, s: &Bound<'_, PyString>) -> PyResult<String> {
        self.seen.set(true);
        let bytes = s.call_method1("encode", ("utf-32-le", "surrogatepass"))?;
        let bytes = bytes.cast::<PyBytes>()?.as_bytes();
        let cps: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|u| u32::from_le_bytes([u[0], u[1], u[2], u[3]]))
            .collect();
        let low = |cp: u32| (0xDC00..0xE000).contains(&cp);
        let high = |cp: u32| (0xD800..0xDC00).contains(&cp);
        if cps.first().is_some_and(|&c| low(c)) || cps.last().is_some_and(|&c| high(c)) {
            self.edge.set(true);
        }
        if self.plane == Self::REPAIR {
            let repaired = s
                .call_method1("encode", ("utf-16", "surrogatepass"))?
                .call_method1("decode", ("utf-16", "replace"))?;
            return Ok(repaired.cast::<PyString>()?.to_cow()?.into_owned());
        }
        Ok(cps
            .into_iter()
            .map(|cp| {
                let cp = if (0xD800..0xE000).contains(&cp) {
                    self.plane + (cp - 0xD800)
                } else {
                    cp
                };
                char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect())
    }
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
    match super::text::utf8(s) {
        Ok(c) => Ok(c.into_owned()),
        Err(_) => place.surrogates.spell(s).map_err(|e| {
            Error::Request(format!(
                "{role} in {}: could not read it: {e}",
                place.describe()
            ))
        }),
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

/// A dict key as `json.dumps` writes it: str as is; int, float, bool and None converted
/// (`1` → `"1"`, `1.5` → `"1.5"`, `True` → `"true"`, `None` → `"null"`). Keys other than str only
/// matter where mistral_common serialises the dict (tool-call arguments given as a dict, tool
/// parameters), and a converted key can collide with another; the core deals with that.
fn key(k: &Bound<'_, PyAny>, place: &Place<'_>, str_only: bool) -> Result<String, Error> {
    if let Ok(s) = k.cast::<PyString>() {
        return string(s, place, "a dict key");
    }
    if str_only {
        return Err(Error::Request(format!(
            "{}: Input should be a valid string (the keys of this dict[str, Any] must be str), \
             got a {} key",
            place.describe(),
            type_name(k)
        )));
    }
    if k.is_none() {
        return Ok("null".to_string());
    }
    if let Ok(b) = k.cast::<PyBool>() {
        return Ok(if b.is_true() { "true" } else { "false" }.to_string());
    }
    if k.is_instance_of::<PyInt>() {
        return match k.extract::<i64>() {
            Ok(v) => Ok(v.to_string()),
            Err(_) => big_int_digits(k).map_err(|e| {
                Error::Request(format!(
                    "{}: could not read an int key: {e}",
                    place.describe()
                ))
            }),
        };
    }
    if let Ok(f) = k.cast::<PyFloat>() {
        let mut out = String::new();
        crate::template::json::write_float(f.value(), &mut out);
        return Ok(out);
    }
    Err(Error::Request(format!(
        "{}: keys must be str, int, float, bool or None, not {}",
        place.describe(),
        type_name(k)
    )))
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

/// Converts `obj` (named `what` in errors, e.g. `"messages"`) to a [`Value`], lone surrogates
/// spelled as `surrogates` says.
pub(crate) fn to_value(
    obj: &Bound<'_, PyAny>,
    what: &str,
    surrogates: &Surrogates,
) -> Result<Value, Error> {
    let place0 = Place {
        what,
        depth: 0,
        surrogates,
    };
    let mut current = match step(obj, &place0)? {
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
                        surrogates,
                    };
                    *cur = key(&k, &place, str_keys_only(what, &stack))?;
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
                    surrogates,
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

fn frame_key<'a>(frame: Option<&'a Frame<'_>>) -> &'a str {
    match frame {
        Some(Frame::Dict { key, .. }) => key,
        _ => "",
    }
}

/// pydantic's `dict[str, Any]` fields (tool `parameters`, a response format's `schema`) take str
/// keys only at their top level; `json.dumps` converts other keys everywhere else.
fn str_keys_only(what: &str, stack: &[Frame<'_>]) -> bool {
    match (what, stack.len()) {
        ("tools", 3) => {
            frame_key(stack.get(1)) == "function" && frame_key(stack.get(2)) == "parameters"
        }
        ("response_format", 2) => {
            frame_key(stack.first()) == "json_schema"
                && matches!(frame_key(stack.get(1)), "schema" | "custom_schema")
        }
        _ => false,
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
