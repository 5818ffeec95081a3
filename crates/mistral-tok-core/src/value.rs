//! A JSON-shaped value that keeps what Python's `json` module would see in a request: dict key
//! order, integers of any size, and floats that must be written back as Python's `repr` writes them.
//!
//! Request parsing takes these (converted from Python objects, or parsed from JSON text), and the
//! templates serialise them with `json.dumps` rules.

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(Int),
    Float(f64),
    Str(String),
    /// A str the host lends instead of copying (a long image URL); read as a str.
    Lent(SharedText),
    /// `bytes` or `bytearray`: pydantic's lax mode reads them in `str` (and number) fields, and
    /// `json.dumps` refuses them.
    Bytes {
        data: Vec<u8>,
        mutable: bool,
    },
    /// An object of another type, with what Python answered about it: pydantic reads some in
    /// number fields (`Decimal`, `Fraction`, numpy scalars), `json.dumps` refuses them all.
    Opaque(Box<crate::request::given::Opaque>),
    /// An `enum.Enum` member outside tool-call arguments and schemas (where it is its plain
    /// value): pydantic's lax mode reads it as `str(member.value)` in a `str` field.
    Member(Box<Member>),
    List(Vec<Value>),
    /// A tuple where the request model tells it from a list (inside a JSON schema: jsonschema's
    /// "array" is a `list`, while `json.dumps` writes a tuple as a list).
    Tuple(Vec<Value>),
    /// Keys are unique and in insertion order, as in a Python `dict`.
    Dict(Vec<(String, Value)>),
}

/// An enum member: the text a lax `str` field reads, and the value anything else reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub text: String,
    pub value: Value,
}

/// A Python `int`: machine-sized when it fits, else its decimal digits (with a leading `-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Int {
    Small(i64),
    Big(String),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::Lent(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` in a dict (`None` for a missing key or a non-dict).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value at `path` (dict keys, or list indices written in decimal).
    pub fn get_path(&self, path: &[&str]) -> Option<&Value> {
        path.iter().try_fold(self, |v, step| match v {
            Value::List(items) => items.get(step.parse::<usize>().ok()?),
            _ => v.get(step),
        })
    }

    /// The Python type name, for error messages that say what was passed.
    pub fn type_name(&self) -> &str {
        match self {
            Value::Null => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) | Value::Lent(_) => "str",
            Value::Bytes { mutable: false, .. } => "bytes",
            Value::Bytes { mutable: true, .. } => "bytearray",
            Value::Opaque(o) => &o.type_name,
            Value::Member(m) => m.value.type_name(),
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
        }
    }
}

/// Text that lives elsewhere: kept by the host (a Python `str` read in place, which must outlive
/// the encoding) or owned. Cloning shares it.
#[derive(Clone)]
pub struct SharedText(std::sync::Arc<dyn HostText>);

/// Text a host keeps alive and unchanged while the core reads it, on any thread.
pub trait HostText: Send + Sync {
    fn text(&self) -> &str;
}

impl HostText for String {
    fn text(&self) -> &str {
        self
    }
}

impl SharedText {
    pub fn new(text: impl HostText + 'static) -> Self {
        SharedText(std::sync::Arc::new(text))
    }
}

impl From<String> for SharedText {
    fn from(s: String) -> Self {
        SharedText::new(s)
    }
}

impl From<&str> for SharedText {
    fn from(s: &str) -> Self {
        SharedText::new(s.to_string())
    }
}

impl std::ops::Deref for SharedText {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.text()
    }
}

impl PartialEq for SharedText {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for SharedText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}
