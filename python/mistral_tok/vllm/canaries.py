"""The requests a tokenizer's self-verification sends through vLLM's own template function and
through mistral-tok (see :mod:`mistral_tok._integration.canary`): tools and calls,
continue_final_message, response_format, reasoning effort, the truncation flag, think chunks, an
image, an unknown field, and a few invalid ones. Each side gets its own copy of every request."""

from __future__ import annotations

import base64
import copy
import os
import struct
import zlib
from typing import Any

from mistral_tok._integration import Canary


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


_IMAGE_URL = "data:image/png;base64," + base64.b64encode(_png(40, 24)).decode()
_TOOLS = [
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
_GEN = {"add_generation_prompt": True}

# vLLM's loggers that report a failed template call (``logger.exception``): quiet for canaries.
VLLM_LOGGERS = ("vllm.renderers.mistral", "vllm.entrypoints.chat_utils")

# (name, messages, tools, kwargs)
REQUESTS: list[tuple[str, list[dict[str, Any]], Any, dict[str, Any]]] = [
    ("plain", [{"role": "system", "content": "Be brief."}, _USER], None, _GEN),
    (
        "tools and calls",
        [
            _USER,
            {"role": "assistant", "content": None, "tool_calls": [_CALL]},
            {"role": "tool", "tool_call_id": "call12345", "content": '{"temp": 21}'},
            {"role": "user", "content": "And tomorrow?"},
        ],
        _TOOLS,
        _GEN,
    ),
    (
        "continue_final_message",
        [_USER, {"role": "assistant", "content": "It is"}],
        None,
        {"continue_final_message": True},
    ),
    (
        "response_format json_object",
        [_USER],
        None,
        {**_GEN, "response_format": {"type": "json_object"}},
    ),
    ("response_format json_schema", [_USER], _TOOLS, {**_GEN, "response_format": _SCHEMA}),
    ("reasoning_effort high", [_USER], None, {**_GEN, "reasoning_effort": "high"}),
    ("reasoning_effort none", [_USER], None, {**_GEN, "reasoning_effort": "none"}),
    ("reasoning_effort invalid", [_USER], None, {**_GEN, "reasoning_effort": "extreme"}),
    ("truncation flag", [_USER], None, {**_GEN, "truncate_for_context_length": True}),
    (
        "think chunks",
        [
            _USER,
            {"role": "assistant", "content": "Sunny.", "reasoning_content": "Look it up."},
            {"role": "user", "content": "Thanks"},
        ],
        None,
        _GEN,
    ),
    (
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
        None,
        _GEN,
    ),
    ("unknown field", [_USER], None, {**_GEN, "mistral_tok_unknown_field": 1}),
    ("invalid: empty", [], None, _GEN),
    ("invalid: trailing assistant", [_USER, {"role": "assistant", "content": "Hi"}], None, {}),
    ("invalid: role", [{"role": "robot", "content": "beep"}], None, _GEN),
    (
        "invalid: both prompts",
        [_USER],
        None,
        {"add_generation_prompt": True, "continue_final_message": True},
    ),
]


def for_tokenizer(tokenizer: Any) -> list[Canary]:
    from mistral_tok.vllm import shims

    call_original = shims.STATE.original
    if call_original is None:
        return []
    canaries = []
    for name, messages, tools, kwargs in REQUESTS:

        def original(m=messages, t=tools, k=kwargs) -> Any:
            m, t, k = copy.deepcopy((m, t, k))
            return call_original(tokenizer, m, t, k)

        def native(m=messages, t=tools, k=kwargs) -> Any:
            m, t, k = copy.deepcopy((m, t, k))
            return shims.native_result(tokenizer, m, t, k)

        canaries.append(Canary(name, original, native))
    return canaries


def prepare(tokenizer: Any) -> None:
    """Load mistral-tok's tokenizer, and let vLLM's side warm up once, before the timed run."""
    from mistral_tok._integration import Fallback, context
    from mistral_tok.vllm import shims

    try:
        shims.native_tokenizer(tokenizer)
    except Fallback:
        return
    call_original = shims.STATE.original
    if call_original is not None:
        with context.all_layers_off():
            try:
                call_original(tokenizer, [dict(_USER)], None, dict(_GEN))
            except Exception:  # noqa: BLE001 - only a warm-up
                pass


def label(tokenizer: Any) -> str:
    """``"V13 tekken.json"``: the tokenizer in stats and logs."""
    try:
        path = os.path.basename(str(tokenizer.tokenizer.file_path))
    except Exception:  # noqa: BLE001 - a label only
        path = type(tokenizer).__name__
    return f"V{getattr(tokenizer, 'version', '?')} {path}"
