//! Where the audio bytes of a request come from, and random access to them without decoding a
//! whole base64 payload (a WAV's length is in its headers; its samples need not be decoded).

use std::borrow::Cow;

use super::{refuse, unsupported};
use crate::error::{Error, Result};
use mistral_tok_image::base64::{b64decode, CleanBase64, Decoded};

/// Encoded audio bytes: a slice or owned buffer, or base64 text decoded on demand.
pub(crate) enum Bytes<'a> {
    Slice(Cow<'a, [u8]>),
    Base64(CleanBase64<'a>),
}

impl Bytes<'_> {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Bytes::Slice(b) => b.len() as u64,
            Bytes::Base64(c) => c.len() as u64,
        }
    }

    /// Up to `n` bytes at `at` (fewer at the end).
    pub(crate) fn read_vec(&self, at: u64, n: usize) -> Vec<u8> {
        let Ok(at) = usize::try_from(at) else {
            return Vec::new();
        };
        match self {
            Bytes::Slice(b) => {
                let end = b.len().min(at.saturating_add(n));
                b.get(at..end).map_or_else(Vec::new, <[u8]>::to_vec)
            }
            Bytes::Base64(c) => {
                let mut buf = vec![0; n.min(c.len().saturating_sub(at))];
                let got = c.read_at(at, &mut buf);
                buf.truncate(got);
                buf
            }
        }
    }

    /// Exactly `N` bytes at `at`, or `None` past the end.
    pub(crate) fn read_array<const N: usize>(&self, at: u64) -> Option<[u8; N]> {
        self.read_vec(at, N).try_into().ok()
    }

    /// The whole content (decoded when it is base64).
    pub(crate) fn whole(&self) -> Cow<'_, [u8]> {
        match self {
            Bytes::Slice(b) => Cow::Borrowed(b),
            Bytes::Base64(c) => {
                let mut buf = vec![0; c.len()];
                let got = c.read_at(0, &mut buf);
                buf.truncate(got);
                Cow::Owned(buf)
            }
        }
    }
}

/// `maybe_strip_base64_data_url_prefix` then `base64.b64decode`, as `Audio.from_base64` does.
pub(crate) fn from_base64(text: &str) -> Result<Bytes<'_>> {
    let payload = if text.starts_with("data:") {
        match text.split_once(',') {
            Some((header, payload)) if header.ends_with(";base64") && !payload.is_empty() => {
                payload
            }
            _ => {
                let shown: String = text.chars().take(64).collect();
                return Err(Error::Request(format!(
                    "Invalid base64 data URL {shown}: expected the form `data:<mime>;base64,<payload>`."
                )));
            }
        }
    } else {
        text
    };
    match b64decode(payload) {
        Ok(Decoded::Clean(c)) => Ok(Bytes::Base64(c)),
        Ok(Decoded::Bytes(b)) => Ok(Bytes::Slice(Cow::Owned(b))),
        Err(_) => Err(Error::Request(
            "base64 decoding failed. Please check the input string is a valid base64.".to_string(),
        )),
    }
}

/// Linux's `PATH_MAX`: longer paths fail with `ENAMETOOLONG` (and do not exist for Python).
const PATH_MAX: usize = 4096;

/// What `AudioURLChunk.get_url_type` makes of a URL.
pub(crate) enum UrlKind<'a> {
    Http,
    Base64(&'a str),
    /// A `file://` URI or an existing path: the path `Audio.from_file` opens.
    File(&'a str),
}

/// `urlparse(url).scheme`, for the schemes that matter here (`None`: no scheme).
fn scheme(url: &str) -> Option<String> {
    let i = url.find(':')?;
    let head = &url[..i];
    let first = head.chars().next()?;
    let valid = first.is_ascii_alphabetic()
        && head
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| head.to_ascii_lowercase())
}

pub(crate) fn url_kind(url: &str) -> Result<UrlKind<'_>> {
    // urlsplit strips leading C0 controls and spaces and drops tabs and newlines before it
    // looks for the scheme: URLs where that could matter are left to mistral_common.
    let head = url.split(':').next().unwrap_or("");
    if url.starts_with(|c: char| c <= ' ') || head.contains(['\t', '\r', '\n']) {
        return Err(unsupported("an audio URL with control characters"));
    }
    match scheme(url).as_deref() {
        Some("http" | "https") => Ok(UrlKind::Http),
        Some("data") => Ok(UrlKind::Base64(url)),
        Some("file") => Ok(UrlKind::File(url.strip_prefix("file://").unwrap_or(url))),
        // `Path(url).exists()`; an unreadable or too long path (ENAMETOOLONG past PATH_MAX)
        // does not exist.
        _ if !url.is_empty() && url.len() < PATH_MAX && std::path::Path::new(url).exists() => {
            Ok(UrlKind::File(url))
        }
        _ => Ok(UrlKind::Base64(url)),
    }
}

/// `Audio.from_file`'s read.
pub(crate) fn read_file(path: &str) -> Result<Vec<u8>> {
    let p = std::path::Path::new(path);
    if path.is_empty() || !p.exists() {
        return Err(Error::Request(format!("file='{path}' does not exist")));
    }
    std::fs::read(p).map_err(|e| refuse(&format!("cannot read {path}: {e}")))
}
