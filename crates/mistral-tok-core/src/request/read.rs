//! [`Given`] → [`Value`]: what mistral_common (and the pydantic models it validates with) make of
//! the objects a caller passed, before the request model reads them.
//!
//! - A `tuple` is a list everywhere but a message's `content` and `tool_calls`, where
//!   mistral_common tests `isinstance(x, list)`, and inside a schema, where jsonschema does
//!   ([`Value::Tuple`]).
//! - Dict keys are written as `json.dumps` writes them (`1` → `"1"`, `None` → `"null"` …), except
//!   at the top of a `dict[str, Any]` field (tool `parameters`, a response format's `schema`),
//!   where pydantic takes `str` keys only.
//! - A `str` with lone surrogates is spelled as the caller asks ([`Spelling`]); see
//!   [`crate::chat::surrogates`] for how the spellings decide.
//! - Lent text stays lent where an image URL is read, and is copied elsewhere.
//! - `bytes` and objects of other types are kept ([`Value::Bytes`], [`Value::Opaque`]) for the
//!   request model to read field by field as pydantic's lax mode does; a mapping that is not a
//!   `dict` is refused as tool-call `arguments`, and inside a schema it (or a sequence that is
//!   not a list or tuple) is an object `json.dumps` refuses.
//! - Any iterable is a list as the messages or the tools (mistral_common iterates them); a surrogate
//!   pair inside an arguments dict is joined (its `json.dumps` / `json.loads` round trip joins it).

use crate::error::{Error, Result};
use crate::request::given::{Given, Key, MapKind, Opaque, SeqKind, Text, Wtf8};
use crate::value::{Int, Member, Value};

/// Deeper nesting than any request mistral_common accepts (it fails near 990): a container this
/// deep is refused, and a host need not convert what is below it ([`Given::TooDeep`]).
pub const MAX_DEPTH: usize = 1000;

/// How a `str` with lone surrogates becomes UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// Each surrogate as the private-use character `plane + (code point − 0xD800)`: an injective
    /// spelling, equal strings stay equal and different ones stay different.
    Plane(u32),
    /// As tiktoken repairs them: `s.encode("utf-16", "surrogatepass").decode("utf-16",
    /// "replace")` (a high surrogate followed by a low one joined, any other U+FFFD).
    Repair,
}

impl Spelling {
    /// Supplementary Private Use Area-A.
    pub const PLANE_A: Spelling = Spelling::Plane(0xF0000);
    /// Supplementary Private Use Area-B.
    pub const PLANE_B: Spelling = Spelling::Plane(0x100000);

    pub fn spell(self, text: &Wtf8) -> String {
        let surrogate = |cp: u32| (0xD800..0xE000).contains(&cp);
        match self {
            Spelling::Plane(plane) => text
                .code_points()
                .map(|cp| {
                    let cp = if surrogate(cp) {
                        plane + (cp - 0xD800)
                    } else {
                        cp
                    };
                    char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER)
                })
                .collect(),
            Spelling::Repair => {
                let cps: Vec<u32> = text.code_points().collect();
                let mut out = String::with_capacity(cps.len());
                let mut i = 0;
                while let Some(&cp) = cps.get(i) {
                    let next = cps.get(i + 1).copied();
                    match next {
                        Some(lo)
                            if (0xD800..0xDC00).contains(&cp) && (0xDC00..0xE000).contains(&lo) =>
                        {
                            let joined = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            out.push(char::from_u32(joined).unwrap_or(char::REPLACEMENT_CHARACTER));
                            i += 2;
                            continue;
                        }
                        _ => out.push(char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER)),
                    }
                    i += 1;
                }
                out
            }
        }
    }
}

/// What reading met, besides the value.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Met {
    /// A str (value or key) had lone surrogates.
    pub surrogates: bool,
    /// One started with a low or ended with a high surrogate: joined to a neighbour without a
    /// separator, the halves could pair up, which a string-by-string repair misses.
    pub surrogates_at_edge: bool,
}

/// One step from a container to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Whether the str at `path` in the argument `what` is a media payload mistral_common reads as a
/// whole (`messages[i]["content"][j]` under `"image_url"` or `"audio_url"`, a str or the `"url"` of
/// a dict, or under `"input_audio"`, a str or the `"data"` of a dict): a host may lend such a str
/// ([`Text::Lent`]) instead of copying it.
pub fn is_media_payload(what: &str, path: &[Step<'_>]) -> bool {
    use Step::{Index, Key};
    what == "messages"
        && match path {
            [Index(_), Key("content"), Index(_), Key(chunk)] => {
                matches!(*chunk, "image_url" | "audio_url" | "input_audio")
            }
            [Index(_), Key("content"), Index(_), Key(chunk), Key(inner)] => matches!(
                (*chunk, *inner),
                ("image_url" | "audio_url", "url") | ("input_audio", "data")
            ),
            _ => false,
        }
}

/// Whether mistral_common iterates the argument `what` (`for m in messages`), so that any iterable
/// (a generator, say) is read as a list there: a host may iterate such an object it is given as
/// `what` ([`SeqKind::Iterated`]).
pub fn iterates(what: &str) -> bool {
    matches!(what, "messages" | "tools")
}

/// Reads `given`, the argument named `what` (`"messages"`, `"tools"`, a field name), spelling
/// lone surrogates as `spelling` says.
pub fn read(given: &Given, what: &str, spelling: Spelling, met: &mut Met) -> Result<Value> {
    let mut reader = Reader {
        what,
        spelling,
        met,
        path: Vec::new(),
    };
    reader.value(given)
}

/// A path step as the reader keeps it (keys as read).
enum Owned {
    Key(String),
    Index(usize),
}

/// A container being read.
enum Frame<'g> {
    Seq {
        items: std::slice::Iter<'g, Given>,
        out: Vec<Value>,
        /// A tuple inside a schema ([`Value::Tuple`]).
        tuple: bool,
    },
    Map {
        items: std::slice::Iter<'g, (Key, Given)>,
        str_only: bool,
        out: Vec<(String, Value)>,
    },
}

struct Reader<'a> {
    what: &'a str,
    spelling: Spelling,
    met: &'a mut Met,
    path: Vec<Owned>,
}

fn class_name(given: &Given) -> &str {
    match given {
        Given::Null => "NoneType",
        Given::Bool(_) => "bool",
        Given::Int { subclass, .. } => subclass.as_deref().unwrap_or("int"),
        Given::Float(_) => "float",
        Given::Str(_) => "str",
        Given::Bytes { mutable: false, .. } => "bytes",
        Given::Bytes { mutable: true, .. } => "bytearray",
        Given::Seq(SeqKind::Tuple, _) => "tuple",
        Given::Seq(SeqKind::List, _) => "list",
        Given::Seq(..) => "sequence",
        Given::Map(MapKind::Dict, _) => "dict",
        Given::Map(MapKind::Other, _) => "mapping",
        Given::Opaque(o) => &o.type_name,
        Given::Member { value, .. } => class_name(value),
        Given::TooDeep => "?",
    }
}

impl Reader<'_> {
    fn describe(&self) -> String {
        let depth = self.path.len();
        if depth == 0 {
            self.what.to_string()
        } else {
            format!("{} (at nesting depth {depth})", self.what)
        }
    }

    /// `messages[i]["tool_calls"][j]["function"]["arguments"]`.
    fn at_arguments(&self) -> bool {
        self.what == "messages"
            && self.path.len() == 5
            && self.key_str(1) == Some("tool_calls")
            && self.key_str(3) == Some("function")
            && self.key_str(4) == Some("arguments")
    }

    /// Strictly inside a tool's `parameters` or a response format's schema (which pydantic
    /// itself turns into a `dict`).
    fn in_schema(&self) -> bool {
        match self.what {
            "tools" => {
                self.path.len() > 3
                    && self.key_str(1) == Some("function")
                    && self.key_str(2) == Some("parameters")
            }
            "response_format" => {
                self.path.len() > 2
                    && self.key_str(0) == Some("json_schema")
                    && matches!(self.key_str(1), Some("schema" | "custom_schema"))
            }
            _ => false,
        }
    }

    /// Inside (a key or value of) `messages[i]["tool_calls"][j]["function"]["arguments"]`.
    fn in_arguments(&self) -> bool {
        self.what == "messages"
            && self.path.len() > 5
            && self.key_str(1) == Some("tool_calls")
            && self.key_str(3) == Some("function")
            && self.key_str(4) == Some("arguments")
    }

    fn key_str(&self, i: usize) -> Option<&str> {
        match self.path.get(i) {
            Some(Owned::Key(k)) => Some(k),
            _ => None,
        }
    }

    fn text(&mut self, text: &Text) -> Value {
        match text {
            Text::Utf8(s) => Value::Str(s.clone()),
            // mistral_common turns an arguments dict into JSON text and back: escaped pairs join.
            Text::Wtf8(w) if self.in_arguments() => match w.join_pairs() {
                Text::Wtf8(w) => Value::Str(self.spell(&w)),
                joined => self.text(&joined),
            },
            Text::Wtf8(w) => Value::Str(self.spell(w)),
            Text::Lent(s) => {
                let path: Vec<Step<'_>> = self
                    .path
                    .iter()
                    .map(|s| match s {
                        Owned::Key(k) => Step::Key(k),
                        Owned::Index(i) => Step::Index(*i),
                    })
                    .collect();
                if is_media_payload(self.what, &path) {
                    Value::Lent(s.clone())
                } else {
                    Value::Str(s.to_string())
                }
            }
        }
    }

    fn spell(&mut self, w: &Wtf8) -> String {
        self.met.surrogates = true;
        let low = |cp: u32| (0xDC00..0xE000).contains(&cp);
        let high = |cp: u32| (0xD800..0xDC00).contains(&cp);
        if w.code_points().next().is_some_and(low) || w.code_points().last().is_some_and(high) {
            self.met.surrogates_at_edge = true;
        }
        self.spelling.spell(w)
    }

    /// pydantic's `dict[str, Any]` fields (tool `parameters`, a response format's `schema`) take
    /// str keys only at their top level; `json.dumps` converts other keys everywhere else.
    fn str_keys_only(&self) -> bool {
        match (self.what, self.path.len()) {
            ("tools", 3) => {
                self.key_str(1) == Some("function") && self.key_str(2) == Some("parameters")
            }
            ("response_format", 2) => {
                self.key_str(0) == Some("json_schema")
                    && matches!(self.key_str(1), Some("schema" | "custom_schema"))
            }
            _ => false,
        }
    }

    /// A dict key as `json.dumps` writes it. Keys other than str only matter where mistral_common
    /// serialises the dict, and a converted key can collide with another (the request model
    /// deals with that).
    fn key(&mut self, key: &Key, str_only: bool) -> Result<String> {
        if let Key::Str(t) = key {
            return Ok(match self.text(t) {
                Value::Str(s) => s,
                other => other.as_str().unwrap_or_default().to_string(),
            });
        }
        let type_name = match key {
            Key::Null => "NoneType",
            Key::Bool(_) => "bool",
            Key::Int(_) => "int",
            Key::Float(_) => "float",
            Key::Other(t) => t,
            Key::Str(_) => "str",
        };
        if str_only {
            return Err(Error::Request(format!(
                "{}: Input should be a valid string (the keys of this dict[str, Any] must be str), \
                 got a {type_name} key",
                self.describe(),
            )));
        }
        Ok(match key {
            Key::Null => "null".to_string(),
            Key::Bool(b) => b.to_string(),
            Key::Int(Int::Small(i)) => i.to_string(),
            Key::Int(Int::Big(digits)) => digits.clone(),
            Key::Float(f) => {
                let mut out = String::new();
                crate::template::json::write_float(*f, &mut out);
                out
            }
            Key::Str(_) | Key::Other(_) => {
                return Err(Error::Request(format!(
                    "{}: keys must be str, int, float, bool or None, not {type_name}",
                    self.describe(),
                )))
            }
        })
    }

    /// mistral_common tests `isinstance(x, list)` on a message's `content` and `tool_calls`, so a
    /// tuple there is rejected although tuples are lists everywhere else.
    fn reject_message_tuple(&self, key: &str, v: &Given) -> Result<()> {
        if self.what != "messages"
            || self.path.len() != 1
            || !matches!(v, Given::Seq(SeqKind::Tuple, _))
        {
            return Ok(());
        }
        match key {
            "content" => Err(Error::Request(
                "Unknown content type: <class 'tuple'> (content must be a str or a list)"
                    .to_string(),
            )),
            "tool_calls" => Err(Error::Request(
                "tool_calls must be a list, got <class 'tuple'>".to_string(),
            )),
            _ => Ok(()),
        }
    }

    fn too_deep(&self) -> Error {
        Error::Request(format!(
            "{} is nested deeper than {MAX_DEPTH} levels (mistral_common fails with \
             RecursionError well before that)",
            self.what
        ))
    }

    /// A scalar's value, or `None` for a container (which [`Reader::value`] opens).
    fn scalar(&mut self, given: &Given) -> Result<Option<Value>> {
        Ok(Some(match given {
            Given::Null => Value::Null,
            Given::Bool(b) => Value::Bool(*b),
            Given::Int { value, .. } => Value::Int(value.clone()),
            Given::Float(f) => Value::Float(*f),
            Given::Str(t) => self.text(t),
            Given::Bytes { data, mutable } => Value::Bytes {
                data: data.clone(),
                mutable: *mutable,
            },
            Given::Opaque(o) => Value::Opaque(Box::new(o.clone())),
            // `json.dumps` and jsonschema read the member as what it is otherwise.
            Given::Member { value, .. } if self.in_arguments() || self.in_schema() => {
                return self.scalar(value)
            }
            Given::Member { text, value } => match self.scalar(value)? {
                Some(value) => {
                    let text = match self.text(text) {
                        Value::Str(s) => s,
                        other => other.as_str().unwrap_or_default().to_string(),
                    };
                    Value::Member(Box::new(Member { text, value }))
                }
                None => return Ok(None),
            },
            Given::TooDeep => return Err(self.too_deep()),
            Given::Seq(..) | Given::Map(..) if self.path.len() >= MAX_DEPTH => {
                return Err(self.too_deep())
            }
            Given::Seq(SeqKind::Iterated, _) if !(self.path.is_empty() && iterates(self.what)) => {
                return Err(Error::Request(format!(
                    "{}: an iterable that is not a list is only read as the messages or the tools",
                    self.describe()
                )))
            }
            // Inside a schema, jsonschema's "object" is a `dict` and its "array" a `list`, and
            // `json.dumps` writes no other mapping or sequence (but tuples, see `open`): those
            // are objects of another type there.
            Given::Map(MapKind::Other, _) | Given::Seq(SeqKind::Other, _) if self.in_schema() => {
                return Ok(Some(Value::Opaque(Box::new(Opaque {
                    type_name: class_name(given).to_string(),
                    model_dump: false,
                    index: None,
                    float: None,
                    integer: None,
                }))))
            }
            // pydantic's `str | dict` arguments take a `dict`, not another mapping.
            Given::Map(MapKind::Other, _) if self.at_arguments() => {
                return Err(Error::Request(format!(
                    "{}: Input should be a valid string",
                    self.describe()
                )))
            }
            Given::Seq(..) | Given::Map(..) => return Ok(None),
        }))
    }

    fn open<'g>(&self, given: &'g Given) -> Frame<'g> {
        match given {
            Given::Member { value, .. } => self.open(value),
            Given::Map(_, items) => Frame::Map {
                items: items.iter(),
                str_only: self.str_keys_only(),
                out: Vec::with_capacity(items.len()),
            },
            Given::Seq(kind, items) => Frame::Seq {
                items: items.iter(),
                out: Vec::with_capacity(items.len()),
                tuple: *kind == SeqKind::Tuple && self.in_schema(),
            },
            // `scalar` answered the others.
            _ => Frame::Seq {
                items: [].iter(),
                out: Vec::new(),
                tuple: false,
            },
        }
    }

    /// Depth first, in the caller's order (the first offending item decides the error), without
    /// recursion. `self.path` leads to the item being read.
    fn value(&mut self, given: &Given) -> Result<Value> {
        if let Some(v) = self.scalar(given)? {
            return Ok(v);
        }
        let mut stack = vec![self.open(given)];
        loop {
            let Some(frame) = stack.last_mut() else {
                unreachable!("the loop returns when the last frame closes")
            };
            let item = match frame {
                Frame::Seq { items, out, .. } => items.next().inspect(|_| {
                    self.path.push(Owned::Index(out.len()));
                }),
                Frame::Map {
                    items, str_only, ..
                } => match items.next() {
                    Some((k, item)) => {
                        let str_only = *str_only;
                        // Errors about a key name the depth of its value.
                        self.path.push(Owned::Index(0));
                        let key = self.key(k, str_only);
                        self.path.pop();
                        let key = key?;
                        self.reject_message_tuple(&key, item)?;
                        self.path.push(Owned::Key(key));
                        Some(item)
                    }
                    None => None,
                },
            };
            let done = match item {
                Some(item) => match self.scalar(item)? {
                    Some(v) => v,
                    None => {
                        let frame = self.open(item);
                        stack.push(frame);
                        continue;
                    }
                },
                None => {
                    let closed = match stack.pop() {
                        Some(Frame::Seq { out, tuple, .. }) if tuple => Value::Tuple(out),
                        Some(Frame::Seq { out, .. }) => Value::List(out),
                        Some(Frame::Map { out, .. }) => Value::Dict(out),
                        None => Value::Null,
                    };
                    if stack.is_empty() {
                        return Ok(closed);
                    }
                    closed
                }
            };
            // `done` is the item `self.path` ends with: store it in its container.
            match (self.path.pop(), stack.last_mut()) {
                (Some(Owned::Index(_)), Some(Frame::Seq { out, .. })) => out.push(done),
                (Some(Owned::Key(key)), Some(Frame::Map { out, .. })) => out.push((key, done)),
                _ => unreachable!("the path follows the frames"),
            }
        }
    }
}

/// `max_model_input_len` as an `i64`, keeping what mistral_common's arithmetic (`to_drop = total
/// - max_len`, drop while `to_drop > 0`, fail if still `> 0`) makes of it: an int (or anything
/// with `__index__`) beyond `i64` is clamped, which gives the same answers since no conversation
/// has `i64::MAX` tokens; a float acts as its floor (NaN and +inf never truncate, -inf never
/// fits). Other types are an [`Error::ArgumentType`].
pub fn max_model_input_len(given: &Given) -> Result<Option<i64>> {
    let clamp = |i: &Int| match i {
        Int::Small(n) => *n,
        Int::Big(digits) if digits.starts_with('-') => i64::MIN,
        Int::Big(_) => i64::MAX,
    };
    match given {
        Given::Null => Ok(None),
        // `as` saturates, which is the clamp wanted here.
        Given::Float(f) => Ok(Some(if f.is_nan() {
            i64::MAX
        } else {
            f.floor() as i64
        })),
        Given::Bool(b) => Ok(Some(i64::from(*b))),
        Given::Int { value, .. } => Ok(Some(clamp(value))),
        Given::Member { value, .. } => max_model_input_len(value),
        Given::Opaque(Opaque {
            index: Some(index), ..
        }) => Ok(Some(clamp(index))),
        other => Err(Error::ArgumentType(format!(
            "max_model_input_len must be an int or None, not {}",
            class_name(other)
        ))),
    }
}

#[cfg(test)]
mod tests;
