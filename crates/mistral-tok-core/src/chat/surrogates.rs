//! Requests whose strings held lone surrogates (U+D800–U+DFFF): a Python `str` may, UTF-8 cannot.
//!
//! mistral_common only trips on them where it uses the string: SentencePiece raises, tiktoken
//! repairs them (`s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")`), and a key or
//! field it drops never matters. Such a request is read three times into plain values
//! ([`Readings`]): twice with the surrogates spelled as private-use characters of two different
//! planes (an injective spelling, so equal strings stay equal), and once repaired as tiktoken
//! repairs them. When the two spellings give the same answer the surrogates did not matter; when
//! they differ they reach the tokens, and the repaired reading gives tekken's ids.

use super::{ChatRequest, GivenRequest};
use crate::error::{Error, Result};
use crate::request::instruct::InstructRequest;
use crate::request::read::Spelling;
use crate::template::{encode_instruct_with_images, ImageOptions};
use crate::tokenizer::{Tokenizer, TokenizerKind, TokenizerVersion};

/// The refusal when the readings cannot tell what mistral_common would do.
pub const SURROGATE_UNSUPPORTED: &str = "the request has a str with lone surrogates (not valid \
     Unicode) that decide its validity or meet another half across strings; the native encoder \
     cannot represent it";

/// Lone surrogates are not compared when images are returned (the readings compare whole
/// encodings).
pub const IMAGES_SURROGATES: &str =
    "the request has a str with lone surrogates (not valid Unicode); use encode_chat";

/// One request as read from what the caller gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Readings {
    /// The request; with lone surrogates, spelled in one private-use plane.
    pub request: ChatRequest,
    /// Present when a string had lone surrogates.
    pub lone_surrogates: Option<Alternatives>,
}

/// The other readings of a request with lone surrogates.
#[derive(Debug, Clone, PartialEq)]
pub struct Alternatives {
    /// The same request with the surrogates spelled in another private-use plane.
    pub respelled: ChatRequest,
    /// The request with every string repaired as tiktoken repairs it.
    pub repaired: ChatRequest,
    /// Whether a string started with a low or ended with a high surrogate: joined to a neighbour
    /// without a separator (v15 joins chunks with `""`), the halves could pair up, which a
    /// string-by-string repair misses.
    pub at_edge: bool,
}

impl Readings {
    /// `given` read once, or three times when a str has lone surrogates.
    pub fn read(given: &GivenRequest) -> Result<Self> {
        let (request, met) = ChatRequest::read(given, Spelling::PLANE_A)?;
        let lone_surrogates = if met.surrogates {
            let (respelled, _) = ChatRequest::read(given, Spelling::PLANE_B)?;
            let (repaired, met) = ChatRequest::read(given, Spelling::Repair)?;
            Some(Alternatives {
                respelled,
                repaired,
                at_edge: met.surrogates_at_edge,
            })
        } else {
            None
        };
        Ok(Readings {
            request,
            lone_surrogates,
        })
    }

    /// The one request, for the paths that return images (which compare no readings): a
    /// request with lone surrogates is [`Error::Unsupported`].
    pub fn into_single(self) -> Result<ChatRequest> {
        match self.lone_surrogates {
            None => Ok(self.request),
            Some(_) => Err(Error::Unsupported(IMAGES_SURROGATES.to_string())),
        }
    }

    /// A request read without lone surrogates.
    pub fn plain(request: ChatRequest) -> Self {
        Readings {
            request,
            lone_surrogates: None,
        }
    }

    /// Every reading's request, for a host that completes them in place (long strings put back
    /// after staging).
    pub fn requests_mut(&mut self) -> impl Iterator<Item = &mut ChatRequest> {
        let more = self
            .lone_surrogates
            .as_mut()
            .map(|a| [&mut a.respelled, &mut a.repaired]);
        std::iter::once(&mut self.request).chain(more.into_iter().flatten())
    }

    /// [`ChatRequest::encode`]'s answer for the request the host was given.
    ///
    /// mistral_common meets the strings while it encodes the messages, before it truncates: the
    /// readings are compared untruncated (with truncation, spellings of different lengths could
    /// drop different turns, or drop the very turn that decides), and the one decided on is then
    /// truncated.
    /// `check_pixels`: see [`ImageOptions::check_pixels`].
    pub fn encode(&self, tokenizer: &Tokenizer, check_pixels: bool) -> Result<Vec<u32>> {
        let options = ImageOptions {
            known_sizes: None,
            check_pixels,
        };
        let encode_instruct = |tokenizer: &Tokenizer, request: &InstructRequest| {
            encode_instruct_with_images(tokenizer, request, options).map(|e| e.ids)
        };
        let Some(alt) = &self.lone_surrogates else {
            return Ok(self.request.encode_with_images(tokenizer, options)?.ids);
        };
        let untruncated = |r: &ChatRequest| -> Result<(InstructRequest, Vec<u32>)> {
            let mut request = r.instruct_request(tokenizer)?;
            let max = request.truncate_at_max_tokens.take();
            let ids = encode_instruct(tokenizer, &request)?;
            request.truncate_at_max_tokens = max;
            Ok((request, ids))
        };
        let (request, ids) =
            match (untruncated(&self.request), untruncated(&alt.respelled)) {
                (Ok((request, a)), Ok((_, b))) if a == b => (request, a),
                // Both fail the same way (messages may differ: they can quote the string).
                (Err(a), Err(b)) if std::mem::discriminant(&a) == std::mem::discriminant(&b) => {
                    return Err(a)
                }
                (Ok(_), Ok(_)) => match tokenizer.kind() {
                    TokenizerKind::SentencePiece => return Err(Error::Request(
                        "a str with lone surrogates (not valid Unicode) cannot be encoded by a \
                         SentencePiece tokenizer"
                            .to_string(),
                    )),
                    TokenizerKind::Tekken => {
                        if alt.at_edge && tokenizer.version() >= TokenizerVersion::V15 {
                            return Err(unsupported());
                        }
                        untruncated(&alt.repaired).map_err(|_| unsupported())?
                    }
                },
                _ => return Err(unsupported()),
            };
        if request.truncate_at_max_tokens.is_none() {
            return Ok(ids);
        }
        encode_instruct(tokenizer, &request)
    }
}

fn unsupported() -> Error {
    Error::Unsupported(SURROGATE_UNSUPPORTED.to_string())
}
