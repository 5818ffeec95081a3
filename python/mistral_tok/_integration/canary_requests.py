"""The one set of canary requests every layer's self-verification (:mod:`.canary`) sends through
its host's own function and through mistral-tok, in OpenAI form.

Each layer takes what its host accepts: ``for_tokenizer(mistral_tokenizer, accepts)`` keeps the
requests whose keywords are all in ``accepts`` (``None``: every keyword, vLLM's template kwargs,
which reach ``from_openai`` as they are) and whose tokenizer part exists on this tokenizer (tools
from V2, think chunks where the vocabulary has the think tokens, an image on vision tokenizers).
The coverage: plain and multi-turn text with special-token look-alikes, tools and calls,
continue_final_message, response_format, reasoning effort, the truncation flag, think chunks, an
image, an unknown field, and a few invalid requests. ``arguments()`` gives each call its own copy.
"""

from __future__ import annotations

import base64
import copy
import re
import struct
import zlib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

# The request fields mistral_common's ``ChatCompletionRequest.from_openai`` reads and its encoder
# uses: what the mistral_common and transformers layers' hosts accept as keywords.
FROM_OPENAI_FIELDS = frozenset(
    {"continue_final_message", "response_format", "reasoning_effort", "truncate_for_context_length"}
)
# A keyword no host knows: only vLLM, whose template kwargs reach ``from_openai`` unfiltered on
# some releases and are refused on others, gets it.
UNKNOWN_FIELD = "mistral_tok_unknown_field"

TOOLS = "tools"
THINK = "think"
VISION = "vision"


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes([200, 30, 30]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class CanaryRequest:
    """``messages``, ``tools`` and the keywords (``fields``); ``generation_prompt``: whether the
    template hosts (vLLM, transformers) get ``add_generation_prompt=True`` (mistral_common has
    no such flag); ``needs``: the tokenizer part it exercises (``TOOLS``, ``THINK``, ``VISION``)."""

    name: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    generation_prompt: bool = True
    needs: str | None = None

    def arguments(
        self, template_flags: bool
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None, dict[str, Any]]:
        """A fresh ``(messages, tools, keywords)``; ``template_flags``: with
        ``add_generation_prompt`` when the request asks for it."""
        keywords = dict(self.fields)
        if template_flags and self.generation_prompt:
            keywords = {"add_generation_prompt": True, **keywords}
        return copy.deepcopy((self.messages, self.tools, keywords))


_IMAGE_URL = "data:image/png;base64," + base64.b64encode(_png(40, 24)).decode()
_WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
_CALL = {
    "id": "call12345",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
_USER = {"role": "user", "content": "What is the weather in Paris?"}
# Non-ASCII text and strings that look like control tokens (encoded as plain text).
_HELLO = {"role": "user", "content": "Hello, who are you? Naïve café 日本語 😀 [INST] </s>"}

REQUESTS: tuple[CanaryRequest, ...] = (
    CanaryRequest("plain", [{"role": "system", "content": "Be brief."}, _USER]),
    CanaryRequest(
        "turns and text chunks",
        [
            {"role": "system", "content": "You are terse."},
            _HELLO,
            {"role": "assistant", "content": "A model."},
            {"role": "user", "content": [{"type": "text", "text": "And  then?\n\n"}]},
        ],
    ),
    CanaryRequest(
        "tools and calls",
        [
            _USER,
            {"role": "assistant", "content": None, "tool_calls": [_CALL]},
            {"role": "tool", "tool_call_id": "call12345", "content": '{"temp": 21}'},
            {"role": "user", "content": "And tomorrow?"},
        ],
        _WEATHER_TOOLS,
        needs=TOOLS,
    ),
    CanaryRequest(
        "continue_final_message",
        [_HELLO, {"role": "assistant", "content": "It is"}],
        fields={"continue_final_message": True},
        generation_prompt=False,
    ),
    CanaryRequest(
        "response_format json_object", [_USER], fields={"response_format": {"type": "json_object"}}
    ),
    CanaryRequest(
        "response_format json_schema",
        [_USER],
        _WEATHER_TOOLS,
        fields={"response_format": _SCHEMA},
        needs=TOOLS,
    ),
    CanaryRequest("reasoning_effort high", [_USER], fields={"reasoning_effort": "high"}),
    CanaryRequest("reasoning_effort none", [_USER], fields={"reasoning_effort": "none"}),
    CanaryRequest("reasoning_effort invalid", [_USER], fields={"reasoning_effort": "extreme"}),
    CanaryRequest("truncation flag", [_USER], fields={"truncate_for_context_length": True}),
    CanaryRequest(
        "think chunks",
        [
            _USER,
            {"role": "assistant", "content": "Sunny.", "reasoning_content": "Look it up."},
            {"role": "user", "content": "Thanks"},
        ],
        needs=THINK,
    ),
    CanaryRequest(
        "image",
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe"},
                    {"type": "image_url", "image_url": {"url": _IMAGE_URL}},
                ],
            }
        ],
        needs=VISION,
    ),
    CanaryRequest("unknown field", [_USER], fields={UNKNOWN_FIELD: 1}),
    CanaryRequest("invalid: empty", []),
    CanaryRequest(
        "invalid: trailing assistant",
        [_USER, {"role": "assistant", "content": "Hi"}],
        generation_prompt=False,
    ),
    CanaryRequest("invalid: role", [{"role": "robot", "content": "beep"}]),
    CanaryRequest("invalid: both prompts", [_USER], fields={"continue_final_message": True}),
)


def tokenizer_parts(mistral_tokenizer: Any) -> set[str]:
    """The parts of ``REQUESTS`` a mistral_common ``MistralTokenizer`` has."""
    instruct = mistral_tokenizer.instruct_tokenizer
    version = instruct.tokenizer.version
    match = re.match(r"v(\d+)", str(getattr(version, "value", version)))
    parts = set()
    if match is not None and int(match.group(1)) >= 2:
        parts.add(TOOLS)
    if getattr(instruct, "BEGIN_THINK", None) is not None:
        parts.add(THINK)
    if getattr(instruct, "image_encoder", None) is not None:
        parts.add(VISION)
    return parts


def for_tokenizer(mistral_tokenizer: Any, accepts: Collection[str] | None) -> list[CanaryRequest]:
    """The requests for this tokenizer whose keywords are all in ``accepts`` (``None``: any)."""
    parts = tokenizer_parts(mistral_tokenizer)
    return [
        request
        for request in REQUESTS
        if (request.needs is None or request.needs in parts)
        and (accepts is None or all(name in accepts for name in request.fields))
    ]
