//! Regular expressions in JSON schemas (`pattern`, the keys of `patternProperties`):
//! mistral_common's jsonschema judges them with the running Python's `re.compile`, whose answers
//! change between Python versions (possessive quantifiers from 3.11, global flags only at the
//! start from 3.11 …). The host records that `re`'s verdict for each such string while it
//! converts the request ([`RegexVerdicts::record`]); the schema check applies the recorded
//! verdicts, and falls back to [`crate::request::schema::check_python_regex`] (Python 3.11's
//! syntax) for a pattern the host did not judge (a Rust caller, a `cargo test`).

use rustc_hash::FxHashMap;

/// `re.compile`'s answer for each pattern judged: `None` when it compiles, else the message of
/// what it raised.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegexVerdicts(FxHashMap<String, Option<String>>);

impl RegexVerdicts {
    pub fn record(&mut self, pattern: &str, error: Option<String>) {
        self.0.insert(pattern.to_string(), error);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when `re.compile(pattern)` succeeds, else its error message.
    pub fn check(&self, pattern: &str) -> Result<(), String> {
        match self.0.get(pattern) {
            Some(None) => Ok(()),
            Some(Some(e)) => Err(e.clone()),
            None => crate::request::schema::check_python_regex(pattern),
        }
    }
}

/// Whether a str may be read as a regex by the schema check: the value of a `"pattern"` key, or a
/// key of a `"patternProperties"` dict, in `tools` or `response_format` (`parent_key`: the key
/// the str's dict is the value of, `key`: the key of the str itself when it is a value). A
/// superset of the schema positions is fine: the verdicts are only looked up.
pub fn may_be_regex(what: &str, parent_key: Option<&str>, key: Option<&str>) -> bool {
    matches!(what, "tools" | "response_format")
        && match key {
            Some(k) => k == "pattern",
            None => parent_key == Some("patternProperties"),
        }
}
