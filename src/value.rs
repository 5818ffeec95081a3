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
    List(Vec<Value>),
    /// Keys are unique and in insertion order, as in a Python `dict`.
    Dict(Vec<(String, Value)>),
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

    /// The Python type name, for error messages that say what was passed.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
        }
    }
}
