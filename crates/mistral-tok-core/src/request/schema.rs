//! `jsonschema.Draft7Validator.check_schema(value)`: is a tool's `parameters` (or a response
//! format's schema) a valid Draft-7 JSON Schema? mistral_common rejects tools whose parameters
//! are not.
//!
//! This checks a value against the Draft-7 meta-schema directly (one function per meta-schema
//! definition). The only `format` the default checker enforces among the meta-schema's formats is
//! `regex` (`uri`/`uri-reference` need optional packages mistral_common does not install), checked
//! with [`check_python_regex`].
//!
//! Depth: jsonschema is recursive Python, so a deeply nested schema raises `RecursionError` in
//! mistral_common. Measured with 1.13.1 from `encode_chat_completion`, the limit depends on the
//! keywords along the path (each costs a number of interpreter frames): 244 nested `not` /
//! `additionalProperties`, 163 nested `items` / `properties`, 122 nested `allOf` / `dependencies`.
//! The frame costs below reproduce those limits.

use crate::request::regex::RegexVerdicts;
use crate::value::{Int, Value};

/// The interpreter-frame budget measured (see the module doc).
const FRAME_BUDGET: usize = 978;
/// A keyword whose value is itself a schema (`{"$ref": "#"}` in the meta-schema).
const COST_SCHEMA: usize = 4;
/// `items` (an `anyOf`) and the schema maps (`properties`, `definitions`, `patternProperties`).
const COST_ANYOF_OR_MAP: usize = 6;
/// Schema arrays (`allOf`/`anyOf`/`oneOf`) and `dependencies`.
const COST_ARRAY: usize = 8;

/// `Ok(())` when `value` is a valid Draft-7 schema, else jsonschema-like message.
pub fn check_draft7(value: &Value, regexes: &RegexVerdicts) -> Result<(), String> {
    check_schema(value, 0, regexes)
}

fn type_err(v: &Value, expected: &str) -> String {
    format!(
        "{} is not of type {expected}",
        crate::request::parse::short_repr(v)
    )
}

fn is_number(v: &Value) -> bool {
    matches!(v, Value::Int(_) | Value::Float(_))
}

/// jsonschema's "integer": an int, or a float with no fractional part.
fn non_negative_integer(v: &Value) -> Result<(), String> {
    let negative = match v {
        Value::Int(Int::Small(i)) => *i < 0,
        Value::Int(Int::Big(s)) => s.starts_with('-'),
        Value::Float(f) if f.is_finite() && f.fract() == 0.0 => *f < 0.0,
        other => return Err(type_err(other, "'integer'")),
    };
    if negative {
        return Err(format!(
            "{} is less than the minimum of 0",
            crate::request::parse::short_repr(v)
        ));
    }
    Ok(())
}

fn string_array(v: &Value) -> Result<(), String> {
    let Value::List(items) = v else {
        return Err(type_err(v, "'array'"));
    };
    let mut seen: Vec<&str> = Vec::with_capacity(items.len());
    for item in items {
        let Value::Str(s) = item else {
            return Err(type_err(item, "'string'"));
        };
        if seen.contains(&s.as_str()) {
            return Err(format!(
                "{} has non-unique elements",
                crate::request::parse::short_repr(v)
            ));
        }
        seen.push(s);
    }
    Ok(())
}

const SIMPLE_TYPES: [&str; 7] = [
    "array", "boolean", "integer", "null", "number", "object", "string",
];

fn schema_array(v: &Value, used: usize, regexes: &RegexVerdicts) -> Result<(), String> {
    let Value::List(items) = v else {
        return Err(type_err(v, "'array'"));
    };
    if items.is_empty() {
        return Err("[] should be non-empty".to_string());
    }
    items
        .iter()
        .try_for_each(|s| check_schema(s, used, regexes))
}

fn schema_map(
    v: &Value,
    used: usize,
    regex_keys: bool,
    regexes: &RegexVerdicts,
) -> Result<(), String> {
    let Value::Dict(items) = v else {
        return Err(type_err(v, "'object'"));
    };
    for (k, s) in items {
        if regex_keys {
            regexes
                .check(k)
                .map_err(|e| format!("'{k}' is not a 'regex' ({e})"))?;
        }
        check_schema(s, used, regexes)?;
    }
    Ok(())
}

fn check_schema(v: &Value, used: usize, regexes: &RegexVerdicts) -> Result<(), String> {
    if used > FRAME_BUDGET {
        return Err(
            "the schema is nested too deeply (mistral_common raises RecursionError)".to_string(),
        );
    }
    let items = match v {
        Value::Bool(_) => return Ok(()),
        Value::Dict(items) => items,
        other => return Err(type_err(other, "'object', 'boolean'")),
    };
    for (key, val) in items {
        match key.as_str() {
            "$id" | "$schema" | "$ref" | "$comment" | "title" | "description" | "format"
            | "contentMediaType" | "contentEncoding"
                if !matches!(val, Value::Str(_)) =>
            {
                return Err(type_err(val, "'string'"));
            }
            "readOnly" | "uniqueItems" if !matches!(val, Value::Bool(_)) => {
                return Err(type_err(val, "'boolean'"));
            }
            "examples" | "enum" if !matches!(val, Value::List(_)) => {
                return Err(type_err(val, "'array'"));
            }
            "multipleOf" => {
                if !is_number(val) {
                    return Err(type_err(val, "'number'"));
                }
                let positive = match val {
                    Value::Int(Int::Small(i)) => *i > 0,
                    Value::Int(Int::Big(s)) => !s.starts_with('-'),
                    Value::Float(f) => *f > 0.0,
                    _ => false,
                };
                if !positive {
                    return Err(format!(
                        "{} is less than or equal to the minimum of 0",
                        crate::request::parse::short_repr(val)
                    ));
                }
            }
            "maximum" | "exclusiveMaximum" | "minimum" | "exclusiveMinimum" if !is_number(val) => {
                return Err(type_err(val, "'number'"));
            }
            "maxLength" | "minLength" | "maxItems" | "minItems" | "maxProperties"
            | "minProperties" => non_negative_integer(val)?,
            "pattern" => match val {
                Value::Str(p) => regexes
                    .check(p)
                    .map_err(|e| format!("'{p}' is not a 'regex' ({e})"))?,
                other => return Err(type_err(other, "'string'")),
            },
            "additionalItems"
            | "contains"
            | "additionalProperties"
            | "propertyNames"
            | "if"
            | "then"
            | "else"
            | "not" => check_schema(val, used + COST_SCHEMA, regexes)?,
            "items" => match val {
                Value::List(_) => schema_array(val, used + COST_ARRAY, regexes).map_err(|_| {
                    format!(
                        "{} is not valid under any of the given schemas",
                        crate::request::parse::short_repr(val)
                    )
                })?,
                _ => check_schema(val, used + COST_ANYOF_OR_MAP, regexes).map_err(|e| {
                    if matches!(val, Value::Dict(_) | Value::Bool(_)) {
                        e
                    } else {
                        format!(
                            "{} is not valid under any of the given schemas",
                            crate::request::parse::short_repr(val)
                        )
                    }
                })?,
            },
            "required" => string_array(val)?,
            "definitions" | "properties" => {
                schema_map(val, used + COST_ANYOF_OR_MAP, false, regexes)?
            }
            "patternProperties" => schema_map(val, used + COST_ANYOF_OR_MAP, true, regexes)?,
            "dependencies" => {
                let Value::Dict(deps) = val else {
                    return Err(type_err(val, "'object'"));
                };
                for (_, d) in deps {
                    if matches!(d, Value::List(_)) {
                        string_array(d).map_err(|_| {
                            format!(
                                "{} is not valid under any of the given schemas",
                                crate::request::parse::short_repr(d)
                            )
                        })?;
                    } else {
                        check_schema(d, used + COST_ARRAY, regexes)?;
                    }
                }
            }
            "allOf" | "anyOf" | "oneOf" => schema_array(val, used + COST_ARRAY, regexes)?,
            "type" => {
                let ok = match val {
                    Value::Str(s) => SIMPLE_TYPES.contains(&s.as_str()),
                    Value::List(ts) => {
                        !ts.is_empty()
                            && ts
                                .iter()
                                .all(|t| t.as_str().is_some_and(|s| SIMPLE_TYPES.contains(&s)))
                            && ts.iter().enumerate().all(|(i, t)| !ts[..i].contains(t))
                    }
                    _ => false,
                };
                if !ok {
                    return Err(format!(
                        "{} is not valid under any of the given schemas",
                        crate::request::parse::short_repr(val)
                    ));
                }
            }
            // `default`, `const` and unknown keywords accept anything.
            _ => {}
        }
    }
    Ok(())
}

/// Does Python's `re.compile(pattern)` accept `pattern`? A syntax check covering the errors
/// `re` reports: unbalanced parentheses, unterminated sets, nothing to repeat, multiple repeat,
/// bad escapes, bad ranges, bad group syntax.
pub fn check_python_regex(pattern: &str) -> Result<(), String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut depth = 0usize;
    // Whether the previous item can take a quantifier, and whether it already has one.
    let mut can_repeat = false;
    let mut repeated = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                i += 1;
                let Some(&e) = chars.get(i) else {
                    return Err("bad escape (end of pattern)".to_string());
                };
                if e.is_ascii_alphabetic() && !"AbBdDsSwWZafnrtvxuUN0".contains(e) {
                    return Err(format!("bad escape \\{e}"));
                }
                can_repeat = !matches!(e, 'A' | 'b' | 'B' | 'Z');
                repeated = false;
            }
            '[' => {
                i += 1;
                if chars.get(i) == Some(&'^') {
                    i += 1;
                }
                let start = i;
                let mut prev: Option<char> = None;
                loop {
                    let Some(&d) = chars.get(i) else {
                        return Err("unterminated character set".to_string());
                    };
                    if d == ']' && i > start {
                        break;
                    }
                    let mut lit = d;
                    if d == '\\' {
                        i += 1;
                        let Some(&e) = chars.get(i) else {
                            return Err("bad escape (end of pattern)".to_string());
                        };
                        if e.is_ascii_alphabetic() && !"bdDsSwWafnrtvxuUN0".contains(e) {
                            return Err(format!("bad escape \\{e}"));
                        }
                        lit = e;
                    }
                    if d == '-' && i > start {
                        if let (Some(lo), Some(&hi)) = (prev, chars.get(i + 1)) {
                            if hi != ']' && hi != '\\' && hi < lo {
                                return Err(format!("bad character range {lo}-{hi}"));
                            }
                        }
                    }
                    prev = Some(lit);
                    i += 1;
                }
                can_repeat = true;
                repeated = false;
            }
            '(' => {
                depth += 1;
                let mut backref = false;
                if chars.get(i + 1) == Some(&'?') {
                    i += 2;
                    match chars.get(i) {
                        Some(':' | '=' | '!' | '>') => {}
                        Some('<') => match chars.get(i + 1) {
                            Some('=' | '!') => i += 1,
                            _ => return Err("unknown extension ?<".to_string()),
                        },
                        Some('P') => match chars.get(i + 1) {
                            Some('<') => {
                                let close = chars[i..].iter().position(|&ch| ch == '>');
                                match close {
                                    Some(n) if n > 2 => i += n,
                                    _ => return Err("bad group name".to_string()),
                                }
                            }
                            Some('=') => {
                                let close = chars[i..].iter().position(|&ch| ch == ')');
                                match close {
                                    Some(n) => {
                                        i += n;
                                        depth -= 1;
                                        backref = true;
                                    }
                                    None => return Err("missing ), unterminated name".to_string()),
                                }
                            }
                            _ => return Err("unknown extension ?P".to_string()),
                        },
                        Some('#') => {
                            let close = chars[i..].iter().position(|&ch| ch == ')');
                            match close {
                                Some(n) => {
                                    i += n;
                                    depth -= 1;
                                }
                                None => return Err("missing ), unterminated comment".to_string()),
                            }
                        }
                        Some('(') => {
                            let close = chars[i..].iter().position(|&ch| ch == ')');
                            match close {
                                Some(n) => i += n,
                                None => return Err("missing ), unterminated name".to_string()),
                            }
                        }
                        Some(ch) if "aiLmsux-".contains(*ch) => {
                            while chars.get(i).is_some_and(|ch| "aiLmsux-".contains(*ch)) {
                                i += 1;
                            }
                            match chars.get(i) {
                                Some(':') => {}
                                Some(')') => {
                                    depth -= 1;
                                }
                                _ => return Err("missing -, : or )".to_string()),
                            }
                        }
                        _ => return Err("unknown extension".to_string()),
                    }
                }
                can_repeat = backref;
                repeated = false;
            }
            ')' => {
                if depth == 0 {
                    return Err(format!("unbalanced parenthesis at position {i}"));
                }
                depth -= 1;
                can_repeat = true;
                repeated = false;
            }
            '|' => {
                can_repeat = false;
                repeated = false;
            }
            '*' | '+' | '?' | '{' => {
                let mut is_quant = true;
                if c == '{' {
                    let close = chars[i..].iter().position(|&ch| ch == '}');
                    let body: Option<String> = close.map(|n| chars[i + 1..i + n].iter().collect());
                    match body {
                        Some(b) if is_repeat_body(&b) => {
                            let mut parts = b.splitn(2, ',');
                            let lo = parts.next().unwrap_or("");
                            let hi = parts.next();
                            if let (Ok(lo), Some(Ok(hi))) =
                                (lo.parse::<u64>(), hi.map(|h| h.parse::<u64>()))
                            {
                                if hi < lo {
                                    return Err("min repeat greater than max repeat".to_string());
                                }
                            }
                            i += close.unwrap_or(0);
                        }
                        // Not a repeat: a literal `{`.
                        _ => is_quant = false,
                    }
                }
                if is_quant {
                    if repeated {
                        // `a*?` (lazy) and `a*+` (possessive, Python 3.11+) are fine once.
                        if (c == '?' || c == '+') && chars.get(i.wrapping_sub(1)) != Some(&'?') {
                            repeated = false;
                            can_repeat = false;
                            i += 1;
                            continue;
                        }
                        return Err(format!("multiple repeat at position {i}"));
                    }
                    if !can_repeat {
                        return Err(format!("nothing to repeat at position {i}"));
                    }
                    repeated = true;
                } else {
                    can_repeat = true;
                    repeated = false;
                }
            }
            '^' | '$' => {
                can_repeat = false;
                repeated = false;
            }
            _ => {
                can_repeat = true;
                repeated = false;
            }
        }
        i += 1;
    }
    if depth != 0 {
        return Err("missing ), unterminated subpattern".to_string());
    }
    Ok(())
}

fn is_repeat_body(b: &str) -> bool {
    let mut parts = b.splitn(2, ',');
    let lo = parts.next().unwrap_or("");
    let hi = parts.next();
    let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    match hi {
        None => !lo.is_empty() && digits(lo),
        Some(h) => digits(lo) && digits(h),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_regex_syntax() {
        for ok in [
            "^[a-z]+$",
            "a{2,3}",
            "a{,3}",
            "x{",
            "(?:ab)*?",
            "(?P<n>x)(?P=n)",
            "a*+",
            "\\d\\w",
            "[]a]",
            "(?i)abc",
            "(?<=a)b",
        ] {
            assert_eq!(check_python_regex(ok), Ok(()), "{ok}");
        }
        for bad in [
            "(", ")", "[a", "*a", "a**", "\\q", "a{3,2}", "[z-a]", "a|*", "\\",
        ] {
            assert!(check_python_regex(bad).is_err(), "{bad}");
        }
    }
}
