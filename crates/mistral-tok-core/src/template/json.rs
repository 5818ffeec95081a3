//! Python's `json` module, as far as the templates see it: `json.dumps(obj, ensure_ascii=False)`
//! and `json.loads(s)`.
//!
//! Everything JSON-shaped that mistral_common tokenizes (tool definitions, tool calls, tool
//! results, model settings) goes through these two functions, so every byte they produce ends up
//! in the token ids. Both are iterative: a hostile 10⁵-deep argument string cannot overflow the
//! stack.

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::request::instruct::Tool;
use crate::value::{Int, Value};

/// The deepest nesting `loads` accepts. CPython's C decoder counts each nested container against
/// the interpreter recursion limit (1000), so the exact failure point depends on how deep the
/// Python stack already is; called from `encode_chat_completion`, mistral_common 1.13.1 accepts
/// 986 nested arrays in tool-call arguments and raises `RecursionError` at 987–990.
pub const MAX_DEPTH: usize = 986;

/// CPython's `sys.get_int_max_str_digits()` default: longer decimal ints raise `ValueError` both
/// in `json.loads` and in `json.dumps`.
pub const MAX_INT_DIGITS: usize = 4300;

/// Why `loads` failed. Only [`JsonError::Syntax`] is a `json.JSONDecodeError`, the exception
/// mistral_common catches to keep the raw string; the others escape mistral_common as other
/// exceptions and fail the whole request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON (`json.JSONDecodeError`), with the character offset where parsing stopped.
    Syntax { pos: usize, msg: &'static str },
    /// Nested deeper than [`MAX_DEPTH`] (Python: `RecursionError`).
    TooDeep,
    /// An integer literal with more than [`MAX_INT_DIGITS`] digits (Python: `ValueError`).
    IntTooLong { digits: usize },
    /// A `\uD800`-style escape without its partner. Python builds a `str` holding a lone
    /// surrogate, which a Rust `String` cannot hold.
    LoneSurrogate,
}

impl JsonError {
    /// The crate error for failures that mistral_common does not survive either.
    pub fn into_error(self) -> Error {
        match self {
            JsonError::Syntax { pos, msg } => {
                Error::Request(format!("invalid JSON: {msg} (char {pos})"))
            }
            // mistral_common fails too (RecursionError), so this is a refusal, not a fallback.
            JsonError::TooDeep => Error::Request(format!(
                "maximum recursion depth exceeded while decoding JSON: nested deeper than \
                 {MAX_DEPTH} levels"
            )),
            JsonError::IntTooLong { digits } => Error::Request(format!(
                "Exceeds the limit ({MAX_INT_DIGITS} digits) for integer string conversion: value \
                 has {digits} digits"
            )),
            JsonError::LoneSurrogate => Error::Unsupported(
                "JSON text with a lone surrogate escape (\\ud800-\\udfff without its pair) cannot \
                 be represented as UTF-8"
                    .to_string(),
            ),
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Writing

/// `json.dumps(value, ensure_ascii=False)`.
pub fn dumps(value: &Value) -> Result<String> {
    let mut out = String::new();
    write_into(value, &mut out)?;
    Ok(out)
}

enum WriteFrame<'a> {
    List(std::slice::Iter<'a, Value>, bool),
    Dict(std::slice::Iter<'a, (String, Value)>, bool),
}

/// Appends `json.dumps(value, ensure_ascii=False)` to `out`. Fails only where Python fails: an
/// integer longer than [`MAX_INT_DIGITS`] digits.
pub fn write_into(value: &Value, out: &mut String) -> Result<()> {
    let mut stack: Vec<WriteFrame<'_>> = Vec::new();
    let mut next = Some(value);
    loop {
        if let Some(v) = next.take() {
            match v {
                Value::List(items) | Value::Tuple(items) => {
                    out.push('[');
                    stack.push(WriteFrame::List(items.iter(), true));
                }
                Value::Dict(items) => {
                    out.push('{');
                    stack.push(WriteFrame::Dict(items.iter(), true));
                }
                Value::Null => out.push_str("null"),
                Value::Bool(true) => out.push_str("true"),
                Value::Bool(false) => out.push_str("false"),
                Value::Int(i) => write_int(i, out)?,
                Value::Float(f) => write_float(*f, out),
                Value::Str(s) => write_str(s, out),
                Value::Lent(s) => write_str(s, out),
                // `json.dumps` writes an `IntEnum` as its int (and refuses a plain `Enum`).
                Value::Member(m) => {
                    next = Some(&m.value);
                    continue;
                }
                Value::Bytes { .. } | Value::Opaque(_) => {
                    return Err(Error::Request(format!(
                        "Object of type {} is not JSON serializable",
                        v.type_name()
                    )))
                }
            }
        }
        let Some(top) = stack.last_mut() else {
            return Ok(());
        };
        match top {
            WriteFrame::List(iter, first) => match iter.next() {
                Some(v) => {
                    if !std::mem::take(first) {
                        out.push_str(", ");
                    }
                    next = Some(v);
                }
                None => {
                    out.push(']');
                    stack.pop();
                }
            },
            WriteFrame::Dict(iter, first) => match iter.next() {
                Some((k, v)) => {
                    if !std::mem::take(first) {
                        out.push_str(", ");
                    }
                    write_str(k, out);
                    out.push_str(": ");
                    next = Some(v);
                }
                None => {
                    out.push('}');
                    stack.pop();
                }
            },
        }
    }
}

/// `json.dumps` of the tool list as the templates write it, `[tool.model_dump(...), …]` (see
/// [`Tool::dump`]), without building that list: the parameters are written from the request.
pub fn write_tools(tools: &[Tool], out: &mut String) -> Result<()> {
    out.push('[');
    for (i, tool) in tools.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str("{\"type\": \"function\", \"function\": {\"name\": ");
        write_str(&tool.name, out);
        out.push_str(", \"description\": ");
        write_str(&tool.description, out);
        out.push_str(", \"parameters\": ");
        write_into(&tool.parameters, out)?;
        out.push_str("}}");
    }
    out.push(']');
    Ok(())
}

fn write_int(i: &Int, out: &mut String) -> Result<()> {
    match i {
        Int::Small(n) => {
            out.push_str(&n.to_string());
            Ok(())
        }
        Int::Big(digits) => {
            let n = digits.trim_start_matches('-').len();
            if n > MAX_INT_DIGITS {
                return Err(JsonError::IntTooLong { digits: n }.into_error());
            }
            out.push_str(digits);
            Ok(())
        }
    }
}

/// A JSON string literal as `json.dumps(..., ensure_ascii=False)` writes it: only `"`, `\` and
/// U+0000–U+001F are escaped (short forms where JSON has them, else `\u00xx`, lowercase hex).
pub fn write_str(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        // Most strings have nothing to escape: skip to the next byte that needs it.
        if !NEEDS_ESCAPE[usize::from(b)] {
            i += 1;
            continue;
        }
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            _ => "",
        };
        // Escaped bytes are ASCII, so `start..i` always lies on char boundaries.
        out.push_str(s.get(start..i).unwrap_or_default());
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        } else {
            out.push_str(esc);
        }
        i += 1;
        start = i;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// The bytes [`write_str`] escapes: `"`, `\` and the C0 controls.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// A float as `json.dumps` writes it: `repr(f)` for finite values (shortest round-trip digits,
/// fixed notation for decimal exponents −4 ≤ e < 16 with a trailing `.0`, else `d.ddde±XX`), and
/// `NaN`, `Infinity`, `-Infinity` otherwise.
pub fn write_float(f: f64, out: &mut String) {
    if f.is_nan() {
        out.push_str("NaN");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    // `{:e}` gives the shortest round-trip digits, like Python's repr: "1.2345e3", "1e-7", "0e0".
    let sci = shortest_closest(f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // Position of the decimal point relative to the start of `digits`.
    let decpt = exp + 1;
    if f.is_sign_negative() {
        out.push('-');
    }
    let n = digits.len() as i64;
    if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            out.push_str("0.");
            for _ in 0..-decpt {
                out.push('0');
            }
            out.push_str(&digits);
        } else if decpt >= n {
            out.push_str(&digits);
            for _ in 0..decpt - n {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            let (int_part, frac) = digits.split_at(decpt as usize);
            out.push_str(int_part);
            out.push('.');
            out.push_str(frac);
        }
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = decpt - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        let abs = e.unsigned_abs();
        if abs < 10 {
            out.push('0');
        }
        out.push_str(&abs.to_string());
    }
}

/// `{:e}` of a non-negative finite float with Python's digit choice. Rust's shortest mode finds
/// the fewest digits that round-trip but, when several such strings exist, not always the one
/// closest to the exact value, which is the one `repr` (David Gay's mode 0) picks: round the
/// exact value to that many digits and keep it if it round-trips.
fn shortest_closest(f: f64) -> String {
    let shortest = format!("{f:e}");
    let mantissa = shortest
        .split_once('e')
        .map_or(shortest.as_str(), |(m, _)| m);
    let n_digits = mantissa.chars().filter(char::is_ascii_digit).count();
    let closest = format!("{:.*e}", n_digits.saturating_sub(1), f);
    if closest != shortest && closest.parse::<f64>() == Ok(f) {
        closest
    } else {
        shortest
    }
}

// ------------------------------------------------------------------------------------------------
// Parsing

/// `json.loads(text)` for a `str` argument.
pub fn loads(text: &str) -> std::result::Result<Value, JsonError> {
    Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    }
    .parse()
}

/// mistral_common's `_parse_json_content` / the normalizer's try-`json.loads`: the parsed value,
/// or the text itself as a string when it is not JSON. Failures that are not a
/// `JSONDecodeError` in Python (too deep, too long an int, lone surrogates) are errors.
pub fn loads_or_str(text: &str) -> Result<Value> {
    match loads(text) {
        Ok(v) => Ok(v),
        Err(JsonError::Syntax { .. }) => Ok(Value::Str(text.to_string())),
        Err(e) => Err(e.into_error()),
    }
}

enum Open {
    List(Vec<Value>),
    Dict(DictBuilder),
}

/// An object under construction: Python's dict semantics for repeated keys (the last value wins,
/// at the position where the key first appeared).
struct DictBuilder {
    items: Vec<(String, Value)>,
    /// Built once the object is large enough for linear duplicate search to matter.
    index: Option<FxHashMap<String, usize>>,
    pending_key: String,
}

impl DictBuilder {
    const INDEX_FROM: usize = 16;

    fn new(first_key: String) -> Self {
        DictBuilder {
            items: Vec::new(),
            index: None,
            pending_key: first_key,
        }
    }

    fn insert(&mut self, value: Value) {
        let key = std::mem::take(&mut self.pending_key);
        let existing = match &self.index {
            Some(index) => index.get(&key).copied(),
            None => self.items.iter().position(|(k, _)| *k == key),
        };
        if let Some(slot) = existing.and_then(|i| self.items.get_mut(i)) {
            slot.1 = value;
            return;
        }
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), self.items.len());
        }
        self.items.push((key, value));
        if self.index.is_none() && self.items.len() >= Self::INDEX_FROM {
            let index = self
                .items
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect();
            self.index = Some(index);
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

type PResult<T> = std::result::Result<T, JsonError>;

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Python's JSON whitespace: exactly space, tab, LF, CR.
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn syntax<T>(&self, msg: &'static str) -> PResult<T> {
        // Python reports character offsets, not byte offsets.
        let pos = self
            .text
            .get(..self.pos)
            .map_or(self.pos, |s| s.chars().count());
        Err(JsonError::Syntax { pos, msg })
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.bytes.get(self.pos..self.pos + lit.len()) == Some(lit.as_bytes()) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    fn parse(mut self) -> PResult<Value> {
        let mut stack: Vec<Open> = Vec::new();
        self.skip_ws();
        loop {
            // A value starts here.
            let mut value = match self.peek() {
                Some(open @ (b'[' | b'{')) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(JsonError::TooDeep);
                    }
                    self.pos += 1;
                    self.skip_ws();
                    if open == b'[' {
                        if self.peek() == Some(b']') {
                            self.pos += 1;
                            Value::List(Vec::new())
                        } else {
                            stack.push(Open::List(Vec::new()));
                            continue;
                        }
                    } else if self.peek() == Some(b'}') {
                        self.pos += 1;
                        Value::Dict(Vec::new())
                    } else {
                        let key = self.parse_key()?;
                        stack.push(Open::Dict(DictBuilder::new(key)));
                        continue;
                    }
                }
                _ => self.parse_scalar()?,
            };
            // Attach the finished value to its container, closing containers as they end.
            loop {
                match stack.last_mut() {
                    None => {
                        self.skip_ws();
                        if self.pos != self.bytes.len() {
                            return self.syntax("Extra data");
                        }
                        return Ok(value);
                    }
                    Some(Open::List(items)) => {
                        items.push(value);
                        self.skip_ws();
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                self.skip_ws();
                                break;
                            }
                            Some(b']') => {
                                self.pos += 1;
                                let Some(Open::List(items)) = stack.pop() else {
                                    return self.syntax("internal: list frame expected");
                                };
                                value = Value::List(items);
                            }
                            _ => return self.syntax("Expecting ',' delimiter"),
                        }
                    }
                    Some(Open::Dict(dict)) => {
                        dict.insert(value);
                        self.skip_ws();
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                self.skip_ws();
                                let key = self.parse_key()?;
                                if let Some(Open::Dict(dict)) = stack.last_mut() {
                                    dict.pending_key = key;
                                }
                                break;
                            }
                            Some(b'}') => {
                                self.pos += 1;
                                let Some(Open::Dict(dict)) = stack.pop() else {
                                    return self.syntax("internal: dict frame expected");
                                };
                                value = Value::Dict(dict.items);
                            }
                            _ => return self.syntax("Expecting ',' delimiter"),
                        }
                    }
                }
            }
        }
    }

    /// `"key"` then `:`, leaving the position at the start of the value.
    fn parse_key(&mut self) -> PResult<String> {
        if self.peek() != Some(b'"') {
            return self.syntax("Expecting property name enclosed in double quotes");
        }
        let key = self.parse_string()?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return self.syntax("Expecting ':' delimiter");
        }
        self.pos += 1;
        self.skip_ws();
        Ok(key)
    }

    fn parse_scalar(&mut self) -> PResult<Value> {
        match self.peek() {
            Some(b'"') => Ok(Value::Str(self.parse_string()?)),
            Some(b'-' | b'0'..=b'9') => {
                if self.eat("-Infinity") {
                    return Ok(Value::Float(f64::NEG_INFINITY));
                }
                self.parse_number()
            }
            Some(b'n') if self.eat("null") => Ok(Value::Null),
            Some(b't') if self.eat("true") => Ok(Value::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(Value::Bool(false)),
            Some(b'N') if self.eat("NaN") => Ok(Value::Float(f64::NAN)),
            Some(b'I') if self.eat("Infinity") => Ok(Value::Float(f64::INFINITY)),
            _ => self.syntax("Expecting value"),
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`, where a `.` or `e` not followed by digits
    /// ends the number before it (as in CPython's scanner, leaving "Extra data").
    fn parse_number(&mut self) -> PResult<Value> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits_start = self.pos;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.pos += 1;
                }
            }
            _ => {
                self.pos = start;
                return self.syntax("Expecting value");
            }
        }
        let int_digits = self.pos - digits_start;
        let mut is_float = false;
        if self.peek() == Some(b'.') && matches!(self.bytes.get(self.pos + 1), Some(b'0'..=b'9')) {
            is_float = true;
            self.pos += 1;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let mut p = self.pos + 1;
            if matches!(self.bytes.get(p), Some(b'+' | b'-')) {
                p += 1;
            }
            if matches!(self.bytes.get(p), Some(b'0'..=b'9')) {
                is_float = true;
                while matches!(self.bytes.get(p), Some(b'0'..=b'9')) {
                    p += 1;
                }
                self.pos = p;
            }
        }
        let literal = self.text.get(start..self.pos).unwrap_or_default();
        if is_float {
            // Rust's parser rounds correctly, as Python's float() does; overflow gives ±inf.
            return match literal.parse::<f64>() {
                Ok(f) => Ok(Value::Float(f)),
                Err(_) => self.syntax("Expecting value"),
            };
        }
        if int_digits > MAX_INT_DIGITS {
            return Err(JsonError::IntTooLong { digits: int_digits });
        }
        Ok(Value::Int(match literal.parse::<i64>() {
            Ok(n) => Int::Small(n),
            // "-0" parses as 0 above, so a Big literal never has a sign on a zero.
            Err(_) => Int::Big(literal.to_string()),
        }))
    }

    /// A string literal starting at the opening quote (strict mode: raw control characters are
    /// errors).
    fn parse_string(&mut self) -> PResult<String> {
        self.pos += 1;
        let mut out = String::new();
        let mut chunk_start = self.pos;
        loop {
            let Some(b) = self.peek() else {
                return self.syntax("Unterminated string starting at");
            };
            match b {
                b'"' => {
                    out.push_str(self.text.get(chunk_start..self.pos).unwrap_or_default());
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(self.text.get(chunk_start..self.pos).unwrap_or_default());
                    self.pos += 1;
                    self.parse_escape(&mut out)?;
                    chunk_start = self.pos;
                }
                0x00..=0x1f => return self.syntax("Invalid control character at"),
                _ => self.pos += 1,
            }
        }
    }

    fn parse_escape(&mut self, out: &mut String) -> PResult<()> {
        let Some(c) = self.peek() else {
            return self.syntax("Unterminated string starting at");
        };
        self.pos += 1;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                if (0xdc00..0xe000).contains(&unit) {
                    return Err(JsonError::LoneSurrogate);
                }
                if (0xd800..0xdc00).contains(&unit) {
                    // A high surrogate pairs only with an immediately following `\uDC00-DFFF`.
                    if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                        return Err(JsonError::LoneSurrogate);
                    }
                    self.pos += 2;
                    let low = self.hex4()?;
                    if !(0xdc00..0xe000).contains(&low) {
                        return Err(JsonError::LoneSurrogate);
                    }
                    let code = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                    char::from_u32(code).ok_or(JsonError::LoneSurrogate)?
                } else {
                    char::from_u32(unit).ok_or(JsonError::LoneSurrogate)?
                }
            }
            _ => {
                self.pos -= 1;
                return self.syntax("Invalid \\escape");
            }
        };
        out.push(ch);
        Ok(())
    }

    fn hex4(&mut self) -> PResult<u32> {
        let Some(hex) = self.bytes.get(self.pos..self.pos + 4) else {
            return self.syntax("Invalid \\uXXXX escape");
        };
        let mut v = 0u32;
        for &h in hex {
            let d = match h {
                b'0'..=b'9' => h - b'0',
                b'a'..=b'f' => h - b'a' + 10,
                b'A'..=b'F' => h - b'A' + 10,
                _ => return self.syntax("Invalid \\uXXXX escape"),
            };
            v = v * 16 + u32::from(d);
        }
        self.pos += 4;
        Ok(v)
    }
}

#[cfg(test)]
mod tests;
