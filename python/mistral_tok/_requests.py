"""Chat requests as clients send them (OpenAI JSON), encoded by mistral-tok and by mistral_common.

A request is ``{"messages": [...], "tools": [...], ...other request fields}``; the other fields
(``continue_final_message``, ``reasoning_effort``, ``seed``, ``model``, ``temperature`` …) go to
``Tokenizer.encode_chat`` and to mistral_common's ``ChatCompletionRequest.from_openai`` as keyword
arguments, which validate the ones they know and ignore the rest. A bare JSON list is taken as the
messages.

mistral_common is optional: :class:`Reference` imports it only when built and raises
:class:`MissingDependencyError` with the install command when it is absent.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mistral_tok._native import Tokenizer

INSTALL_MISTRAL_COMMON = 'pip install "mistral-common[sentencepiece]==1.13.1"'


class MissingDependencyError(RuntimeError):
    """An optional dependency (mistral_common) is needed and not installed."""


def call_args(request: Any) -> tuple[Any, Any, dict[str, Any]]:
    """``(messages, tools, other_fields)`` of a request; a list is the messages alone.

    A request that is neither an object nor a list raises ``TypeError``.
    """
    if isinstance(request, list):
        return request, None, {}
    if not isinstance(request, Mapping):
        raise TypeError(
            f"a chat request is a JSON object with 'messages', not {type(request).__name__}"
        )
    fields = dict(request)
    messages = fields.pop("messages", None)
    tools = fields.pop("tools", None)
    return messages, tools, fields


def encode_ours(tok: Tokenizer, request: Any, max_model_input_len: int | None = None) -> list[int]:
    messages, tools, fields = call_args(request)
    return tok.encode_chat(messages, tools, max_model_input_len=max_model_input_len, **fields)


def describe(request: Any) -> str:
    """A one-line summary: message count, tools, size of the string contents."""
    try:
        messages, tools, fields = call_args(request)
    except TypeError as exc:
        return str(exc)
    n_messages = len(messages) if isinstance(messages, list) else 0
    size = 0
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, str):
            size += len(content.encode("utf-8", "surrogatepass"))
    parts = [f"{n_messages} message{'s' if n_messages != 1 else ''}"]
    if isinstance(tools, list) and tools:
        parts.append(f"{len(tools)} tool{'s' if len(tools) != 1 else ''}")
    parts.append(f"{size:,} bytes of text content")
    if fields:
        parts.append("fields: " + ", ".join(sorted(map(str, fields))))
    return ", ".join(parts)


class Reference:
    """mistral_common's ``MistralTokenizer`` on one tokenizer file (validation mode ``test``, as
    vLLM uses it)."""

    def __init__(self, path: str | Path, purpose: str = "this command") -> None:
        self.mistral_common = require_mistral_common(purpose)
        from mistral_common.protocol.instruct.request import ChatCompletionRequest

        self._request_cls = ChatCompletionRequest
        self.tokenizer = _mistral_tokenizer(str(path))
        self.version: str = getattr(self.mistral_common, "__version__", "?")

    def encode_chat(self, request: Any, max_model_input_len: int | None = None) -> list[int]:
        """``encode_chat_completion(ChatCompletionRequest.from_openai(...),
        max_model_input_len).tokens``; raises what mistral_common raises."""
        messages, tools, fields = call_args(request)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chat = self._request_cls.from_openai(messages, tools, **fields)
            return self.tokenizer.encode_chat_completion(chat, max_model_input_len).tokens


@functools.lru_cache(maxsize=4)
def _mistral_tokenizer(path: str) -> Any:
    # Loading takes ~0.5 s; the test suite builds many references on the same few files.
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    return MistralTokenizer.from_file(path)


def require_mistral_common(purpose: str = "this command") -> Any:
    """The imported ``mistral_common`` package, or :class:`MissingDependencyError`."""
    try:
        import mistral_common
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs mistral_common, the reference mistral-tok matches, and it is not "
            f"installed ({exc}); install it with: {INSTALL_MISTRAL_COMMON}"
        ) from None
    return mistral_common
