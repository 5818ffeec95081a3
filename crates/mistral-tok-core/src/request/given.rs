//! A request as the caller gave it, before any rule is applied: what a Python object *is* (a tuple
//! or a list, a `dict` or another mapping, a key of which type, a `str` with lone surrogates,
//! `bytes`, an object of another type and what Python answered about it). The host converts its
//! objects to [`Given`] without deciding anything; [`crate::request::read`] applies
//! mistral_common's and pydantic's rules to it and yields the JSON-shaped [`crate::value::Value`].

use crate::error::{Error, Result};
use crate::request::read::Spelling;
use crate::tokenizer::TokenizerKind;
use crate::value::{Int, SharedText};

#[derive(Debug, Clone, PartialEq)]
pub enum Given {
    Null,
    Bool(bool),
    /// An `int` (not a `bool`); an `int` subclass such as an `IntEnum` member keeps its name in
    /// `subclass`.
    Int {
        value: Int,
        subclass: Option<String>,
    },
    Float(f64),
    Str(Text),
    /// `bytes` (`mutable: false`) or `bytearray` (`mutable: true`).
    Bytes {
        data: Vec<u8>,
        mutable: bool,
    },
    Seq(SeqKind, Vec<Given>),
    Map(MapKind, Vec<(Key, Given)>),
    /// An object of any other type.
    Opaque(Opaque),
    /// A member of an `enum.Enum` that is not a `str` (pydantic's test: its class's metaclass is
    /// `EnumMeta` itself), as it is otherwise (an `int` for an `IntEnum`), with `str(member.value)`:
    /// the text pydantic's lax mode reads in a `str` field.
    Member {
        text: Text,
        value: Box<Given>,
    },
    /// A container nested deeper than the host converts ([`crate::request::read::MAX_DEPTH`]).
    TooDeep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqKind {
    List,
    Tuple,
    /// Another `collections.abc.Sequence`.
    Other,
    /// Another iterable, iterated where mistral_common iterates it ([`crate::request::read::iterates`]).
    Iterated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    Dict,
    /// Another `collections.abc.Mapping` (read through its `items()`).
    Other,
}

/// A dict key.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Str(Text),
    Null,
    Bool(bool),
    Int(Int),
    Float(f64),
    /// A key of another type (its type name).
    Other(String),
}

/// An object of a type the request model does not know, with the answers Python gave about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Opaque {
    pub type_name: String,
    /// It has a `model_dump` attribute (a pydantic model, say).
    pub model_dump: bool,
    /// Its `__index__()`, when it has one (a numpy integer, say).
    pub index: Option<Int>,
    /// `float(x)`, when it converts (`Decimal`, `Fraction`, numpy scalars …).
    pub float: Option<f64>,
    /// Its `__index__()`, else `int(x)` when `x == int(x)`: the int pydantic's lax mode reads.
    pub integer: Option<Int>,
}

/// A `str`: UTF-8, code points that UTF-8 cannot hold (lone surrogates), or text the host lends.
#[derive(Debug, Clone, PartialEq)]
pub enum Text {
    Utf8(String),
    Wtf8(Wtf8),
    Lent(SharedText),
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text::Utf8(s.to_string())
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text::Utf8(s)
    }
}

/// A Python `str` holding lone surrogates (U+D800–U+DFFF): its code points, as "generalized
/// UTF-8" (each surrogate code point written on its own as three bytes, `ED A0..BF xx`, pairs
/// included, so that two surrogates stay two code points as in Python).
#[derive(Clone, PartialEq, Eq)]
pub struct Wtf8(Vec<u8>);

impl Wtf8 {
    pub fn from_code_points(cps: impl IntoIterator<Item = u32>) -> Self {
        let mut out = Vec::new();
        for cp in cps {
            match char::from_u32(cp) {
                Some(c) => {
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                // Only surrogates (and values beyond U+10FFFF, which a str cannot hold) land here;
                // the latter are kept as U+FFFD.
                None if (0xD800..0xE000).contains(&cp) => out.extend_from_slice(&[
                    0xE0 | (cp >> 12) as u8,
                    0x80 | ((cp >> 6) & 0x3F) as u8,
                    0x80 | (cp & 0x3F) as u8,
                ]),
                None => out.extend_from_slice("\u{FFFD}".as_bytes()),
            }
        }
        Wtf8(out)
    }

    /// The code points, in order.
    pub fn code_points(&self) -> impl Iterator<Item = u32> + '_ {
        let b = &self.0;
        let mut i = 0;
        std::iter::from_fn(move || {
            let lead = *b.get(i)?;
            let (len, init) = match lead {
                0x00..=0x7F => (1, u32::from(lead)),
                0xC0..=0xDF => (2, u32::from(lead & 0x1F)),
                0xE0..=0xEF => (3, u32::from(lead & 0x0F)),
                _ => (4, u32::from(lead & 0x07)),
            };
            let cp = b
                .get(i + 1..i + len)
                .unwrap_or(&[])
                .iter()
                .fold(init, |acc, &c| (acc << 6) | u32::from(c & 0x3F));
            i += len;
            Some(cp)
        })
    }
}

impl Wtf8 {
    /// The string with each high surrogate followed by a low one joined into one code point, as
    /// a `json.dumps` / `json.loads` round trip joins them (`"\\ud83d\\ude00"` is one escape
    /// pair); lone ones stay.
    pub fn join_pairs(&self) -> Text {
        let mut out: Vec<u32> = Vec::new();
        for cp in self.code_points() {
            match out.last() {
                Some(&hi) if (0xD800..0xDC00).contains(&hi) && (0xDC00..0xE000).contains(&cp) => {
                    out.pop();
                    out.push(0x10000 + ((hi - 0xD800) << 10) + (cp - 0xDC00));
                }
                _ => out.push(cp),
            }
        }
        if out.iter().any(|cp| (0xD800..0xE000).contains(cp)) {
            Text::Wtf8(Wtf8::from_code_points(out))
        } else {
            Text::Utf8(out.into_iter().filter_map(char::from_u32).collect())
        }
    }

    /// The text a tokenizer of `kind` encodes for this str: tiktoken (tekken) retries with
    /// `text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")`, which turns each lone
    /// surrogate into U+FFFD and pairs adjacent high+low surrogates; sentencepiece raises.
    pub fn for_tokenizer(&self, kind: TokenizerKind) -> Result<String> {
        match kind {
            TokenizerKind::Tekken => Ok(Spelling::Repair.spell(self)),
            TokenizerKind::SentencePiece => Err(Error::InvalidArgument(
                "text contains a lone surrogate (a str that is not valid Unicode); SentencePiece \
                 tokenizers cannot encode it"
                    .to_string(),
            )),
        }
    }
}

impl std::fmt::Debug for Wtf8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wtf8(\"")?;
        for cp in self.code_points() {
            match char::from_u32(cp) {
                Some(c) => write!(f, "{}", c.escape_debug())?,
                None => write!(f, "\\u{{{cp:x}}}")?,
            }
        }
        f.write_str("\")")
    }
}

impl Given {
    /// A plain `int`.
    pub fn int(i: i64) -> Self {
        Given::Int {
            value: Int::Small(i),
            subclass: None,
        }
    }

    pub fn str(s: &str) -> Self {
        Given::Str(Text::from(s))
    }

    pub fn list(items: Vec<Given>) -> Self {
        Given::Seq(SeqKind::List, items)
    }

    /// A `dict` with `str` keys.
    pub fn dict<K: Into<Text>>(items: impl IntoIterator<Item = (K, Given)>) -> Self {
        Given::Map(
            MapKind::Dict,
            items
                .into_iter()
                .map(|(k, v)| (Key::Str(k.into()), v))
                .collect(),
        )
    }

    /// The plain JSON value as Python would hand it over (a `dict`, `list`, `str` …).
    pub fn from_json(v: &crate::value::Value) -> Self {
        use crate::value::Value;
        match v {
            Value::Null => Given::Null,
            Value::Bool(b) => Given::Bool(*b),
            Value::Int(i) => Given::Int {
                value: i.clone(),
                subclass: None,
            },
            Value::Float(f) => Given::Float(*f),
            Value::Str(s) => Given::str(s),
            Value::Lent(s) => Given::Str(Text::Lent(s.clone())),
            Value::Bytes { data, mutable } => Given::Bytes {
                data: data.clone(),
                mutable: *mutable,
            },
            Value::Opaque(o) => Given::Opaque((**o).clone()),
            Value::Member(m) => Given::Member {
                text: Text::Utf8(m.text.clone()),
                value: Box::new(Given::from_json(&m.value)),
            },
            Value::List(items) => Given::list(items.iter().map(Given::from_json).collect()),
            Value::Tuple(items) => {
                Given::Seq(SeqKind::Tuple, items.iter().map(Given::from_json).collect())
            }
            Value::Dict(items) => {
                Given::dict(items.iter().map(|(k, v)| (k.as_str(), Given::from_json(v))))
            }
        }
    }
}
