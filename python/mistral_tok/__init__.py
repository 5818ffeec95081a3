"""Mistral chat requests to token ids, byte-identical to mistral_common, without blocking asyncio.

The work happens in Rust (``mistral_tok._native``) with the GIL released::

    from mistral_tok import Tokenizer

    tok = Tokenizer.from_file("tekken.json")
    ids = tok.encode("Hello world")
    assert tok.decode(ids) == "Hello world"

Inside an event loop, ``await tok.encode_async(text)`` and ``await tok.decode_async(ids)`` return
what ``encode``/``decode`` return, computed on one worker thread for the whole process (jobs run
in submission order); the loop only pays for a wake-up and for building the result.
``set_max_queue(n)`` (or ``MISTRAL_TOK_MAX_QUEUE``) bounds the jobs waiting for that thread.
"""

from typing import Any

from mistral_tok._files import shipped_tokenizer_path
from mistral_tok._native import (
    DecodeError,
    MistralTokError,
    RequestError,
    Tokenizer,
    TokenizerFileError,
    UnsupportedFeatureError,
    __version__,
    audio_info,
    image_size,
    max_queue,
    set_max_queue,
)


def patch(layers: Any = None) -> Any:
    """Serve mistral_common's ``encode_chat_completion``, transformers'
    ``MistralCommonBackend.apply_chat_template`` and vLLM's Mistral templating with the native
    encoder, now or when they are imported; returns a report. See :mod:`mistral_tok._patch`."""
    from mistral_tok._patch import patch as _patch

    return _patch(layers)


def unpatch() -> None:
    """Undo :func:`patch`."""
    from mistral_tok._patch import unpatch as _unpatch

    _unpatch()


def stats() -> dict[str, Any]:
    """Per layer: calls served natively, fallbacks by reason, shadow comparisons, tokenizers."""
    from mistral_tok._patch import stats as _stats

    return _stats()


__all__ = [
    "DecodeError",
    "MistralTokError",
    "RequestError",
    "Tokenizer",
    "TokenizerFileError",
    "UnsupportedFeatureError",
    "__version__",
    "audio_info",
    "image_size",
    "max_queue",
    "patch",
    "set_max_queue",
    "shipped_tokenizer_path",
    "stats",
    "unpatch",
]
