"""Mistral chat requests to token ids, byte-identical to mistral_common, without blocking asyncio.

The work happens in Rust (``mistral_tok._native``) with the GIL released::

    from mistral_tok import Tokenizer

    tok = Tokenizer.from_file("tekken.json")
    ids = tok.encode("Hello world")
    assert tok.decode(ids) == "Hello world"
"""

from mistral_tok._files import shipped_tokenizer_path
from mistral_tok._native import (
    DecodeError,
    MistralTokError,
    RequestError,
    Tokenizer,
    TokenizerFileError,
    UnsupportedFeatureError,
    __version__,
)

__all__ = [
    "DecodeError",
    "MistralTokError",
    "RequestError",
    "Tokenizer",
    "TokenizerFileError",
    "UnsupportedFeatureError",
    "__version__",
    "shipped_tokenizer_path",
]
