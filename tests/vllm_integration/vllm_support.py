"""Helpers for the tests that run against a real vLLM (see ``make test-vllm``).

Builds vLLM ``MistralTokenizer``s from the tokenizer files mistral_common ships, the way vLLM
loads them (``from_pretrained`` on a model directory), and generates vLLM-shaped chat requests:
OpenAI-style message dicts as vLLM hands them to its template function, with the flags vLLM adds.
"""

from __future__ import annotations

import copy
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mistral_tok import shipped_tokenizer_path

SHIPPED = [
    "tokenizer.model.v1",
    "mistral_instruct_tokenizer_240216.model.v2",
    "mistral_instruct_tokenizer_240323.model.v3",
    "mistral_instruct_tokenizer_241114.model.v7",
    "mistral_instruct_tokenizer_241114.model.v7m1",
    "tekken_240718.json",
    "tekken_240911.json",
]


def vllm_version() -> str:
    import vllm

    return vllm.__version__


# Families of profiles: the entry points the tests call differ between them, not within.
SYNC = "loop-template"
EXECUTOR = "executor"
RENDERER = "renderer"


def profile_name() -> str | None:
    """The profile ``patch()`` picks for the installed vLLM (by range or by symbols)."""
    from mistral_tok.vllm.profiles import REGISTRY

    selection = REGISTRY.select()
    return selection.profile.name if selection.profile is not None else None


def profile() -> str | None:
    """The family of :func:`profile_name` (``forwarding-renderer`` is a ``renderer``)."""
    name = profile_name()
    return RENDERER if name is not None and name.endswith("renderer") else name


def forwards_everything() -> bool:
    return profile_name() == "forwarding-renderer"


def tokenizer_class() -> type:
    try:
        from vllm.tokenizers.mistral import MistralTokenizer
    except ImportError:
        from vllm.transformers_utils.tokenizers.mistral import MistralTokenizer
    return MistralTokenizer


# Tekken files of the versions mistral_common ships none of (tests/support/tekken_files.py).
GENERATED = ["v11", "v13", "v15"]


def load_vllm_tokenizer(name: str, root: Path, source: Path | None = None) -> Any:
    """vLLM's MistralTokenizer for a shipped file (or ``source``), loaded from a model directory
    as vLLM does (named ``tekken.json`` or ``tokenizer.model.vN`` there, as in a model
    repository)."""
    source = source or shipped_tokenizer_path(name)
    model_dir = root / name.replace(".", "_")
    model_dir.mkdir(parents=True, exist_ok=True)
    # vLLM <= 0.11 only finds `tokenizer.model.v*` / `tekken.json`; the suffix keeps the version.
    target = model_dir / (
        "tekken.json" if name.endswith(".json") else "tokenizer" + name[name.index(".model") :]
    )
    if not target.exists():
        shutil.copy(source, target)
    return tokenizer_class().from_pretrained(str(model_dir))


# -----------------------------------------------------------------------------------------------
# Request generator


_WORDS = [
    "hello",
    "world",
    "Paris",
    "naïve",
    "日本語",
    "🙂",
    "[INST]",
    "</s>",
    "<s>",
    "[TOOL_CALLS]",
    "  spaced  ",
    "\n",
    "\t",
    "x" * 40,
    "def f(x):\n    return x",
    "ÆØÅ",
    "\u200b",
    "42",
    "-",
    "[THINK]",
    "a\r\nb",
    "",
]


def _text(rng: random.Random, allow_empty: bool = True) -> str:
    n = rng.randint(0 if allow_empty else 1, 8)
    text = " ".join(rng.choice(_WORDS) for _ in range(n))
    if not allow_empty and not text.strip():
        text = "hi"
    return text


def _content(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.7:
        return _text(rng, allow_empty=rng.random() < 0.1)
    chunks: list[Any] = [
        {"type": "text", "text": _text(rng, False)} for _ in range(rng.randint(1, 3))
    ]
    if rng.random() < 0.2:
        chunks.insert(rng.randint(0, len(chunks)), {"text": "no type"})  # transformers drops it
    return chunks


def _call_id(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789") for _ in range(9))


def _tool(rng: random.Random, name: str) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name}
    r = rng.random()
    if r < 0.6:
        function["description"] = _text(rng)
    elif r < 0.8:
        function["description"] = None
    r = rng.random()
    if r < 0.6:
        function["parameters"] = {
            "type": "object",
            "properties": {"city": {"type": "string", "description": _text(rng)}},
            "required": ["city"],
        }
    elif r < 0.8:
        function["parameters"] = None
    if rng.random() < 0.15:
        function["strict"] = rng.choice([True, False, None])
    tool: dict[str, Any] = {"type": "function", "function": function}
    return tool


def _tool_calls(rng: random.Random, names: list[str]) -> list[dict[str, Any]]:
    calls = []
    for _ in range(rng.randint(1, 2)):
        args: Any = json.dumps({"city": _text(rng)}, ensure_ascii=rng.random() < 0.5)
        if rng.random() < 0.1:
            args = "{}"
        calls.append(
            {
                "id": _call_id(rng),
                "type": "function",
                "function": {"name": rng.choice(names), "arguments": args},
            }
        )
    return calls


def generate_request(rng: random.Random) -> tuple[list[Any], list[Any] | None, dict[str, Any]]:
    """(messages, tools, flags) shaped like what vLLM passes to its template function."""
    names = [f"tool_{i}" for i in range(rng.randint(1, 3))]
    tools = [_tool(rng, n) for n in names] if rng.random() < 0.4 else None
    messages: list[Any] = []
    if rng.random() < 0.3:
        messages.append({"role": "system", "content": _text(rng, False)})
    for _ in range(rng.randint(1, 4)):
        messages.append({"role": "user", "content": _content(rng)})
        r = rng.random()
        if tools and r < 0.3:
            calls = _tool_calls(rng, names)
            messages.append({"role": "assistant", "content": None, "tool_calls": calls})
            for call in calls:
                result = (
                    _text(rng) if rng.random() < 0.7 else [{"type": "text", "text": _text(rng)}]
                )
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        else:
            assistant: dict[str, Any] = {"role": "assistant", "content": _content(rng)}
            r = rng.random()
            if r < 0.03:
                assistant["reasoning"] = _text(rng, False)
            elif r < 0.05:
                assistant["reasoning_content"] = _text(rng, False)
            messages.append(assistant)
    # Most requests end on a user turn; some continue an assistant message.
    flags: dict[str, Any] = {"add_generation_prompt": True, "continue_final_message": False}
    r = rng.random()
    if r < 0.75:
        messages.append({"role": "user", "content": _content(rng)})
    elif r < 0.9:
        flags = {"add_generation_prompt": False, "continue_final_message": True}
    # Invalid on purpose: vLLM and mistral_common must reject these the same way.
    r = rng.random()
    if r < 0.03:
        messages = []
    elif r < 0.06:
        flags = {"add_generation_prompt": True, "continue_final_message": True}
    elif r < 0.09:
        messages.append({"role": rng.choice(["robot", "assistant", "tool"]), "content": "x"})
    elif r < 0.12 and messages:
        messages[0] = {"role": "user"}
    elif r < 0.14:
        flags = {"add_generation_prompt": False, "continue_final_message": False}
    return messages, tools, flags


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except Exception as exc:  # noqa: BLE001 - the comparison is about any outcome
        return type(exc).__name__, str(exc)


def deep(value: Any) -> Any:
    return copy.deepcopy(value)


# -----------------------------------------------------------------------------------------------
# The request fields vLLM >= 0.34 hands to mistral_common (earlier releases drop them): what
# ``chat_template_kwargs`` (per request, or server-wide ``--default-chat-template-kwargs``) and
# the renderer's ``response_format`` may add to the template call.

_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True,
    },
}
FIELD_CHOICES: dict[str, list[Any]] = {
    "response_format": [
        {"type": "json_object"},
        _SCHEMA,
        {"type": "text"},
        {"type": "json_schema", "json_schema": {"name": "x"}},
        {"type": "xml"},
    ],
    "reasoning_effort": ["none", "high", "low", "medium", None, "extreme"],
    "truncate_for_context_length": [True, False],
    "tool_choice": ["auto", "none", "required", "sometimes"],
    "parallel_tool_calls": [None, True, False],
    "seed": [7, -1],
    "temperature": [0.3, 2.0],
    "chat_template": [None],
    "enable_thinking": [True],
    "unknown_field": [{"a": 1}],
}


def generate_fields(rng: random.Random) -> dict[str, Any]:
    """0 to 3 request fields (most requests carry one)."""
    names = rng.sample(sorted(FIELD_CHOICES), rng.choice([0, 1, 1, 1, 2, 3]))
    return {name: rng.choice(FIELD_CHOICES[name]) for name in names}
