"""SGLang's OpenAI chat handler on transformers' ``MistralCommonBackend``, patched vs unpatched.

SGLang is not installed (it needs torch). This test makes the calls its chat route makes on the
tokenizer, with the same arguments, after the same request handling, as read in SGLang 0.5.23
(the PyPI wheel built 2026-10-30, the current release; its ``_version.py`` records no commit),
``python/sglang/srt/entrypoints/openai/serving_chat.py``:

* at start-up, ``__init__``: ``tokenizer.encode("")`` (does the tokenizer add specials?) and
  ``_probe_prompt_text_round_trip``: ``apply_chat_template(probe, tokenize=False,
  add_generation_prompt=True, return_dict=False)`` re-encoded with
  ``encode(text, add_special_tokens=False)``, against ``apply_chat_template(probe, tokenize=True,
  add_generation_prompt=True, return_dict=False)``. The two differ on every Mistral tokenizer
  (control tokens have no text form), so SGLang encodes straight to ids;
* per request, ``_apply_jinja_template`` → ``_render_and_encode_chat_template``:
  ``apply_chat_template(messages, tokenize=True, add_generation_prompt=True, tools=tools,
  return_dict=False, **template_kwargs)``; on any exception the same call again with each tool
  flattened to its ``"function"``; then ``_append_assistant_prefix_to_prompt_ids``
  (``encode(prefix)`` without its leading BOS) and, for multimodal models, ``decode(ids)``.

What SGLang does to the request before that call, and is reproduced here: the messages are its
pydantic models' ``model_dump()`` (every optional field of a non-user message present, ``None``
when unset); tool-call ``arguments`` strings parsed to dicts
(``normalize_assistant_tool_call_arguments``); ``None`` content made ``""``;
``process_content_for_template_format`` in the ``"string"`` format (``MistralCommonBackend`` has
no ``chat_template``, so ``TemplateManager`` picks ``"string"``): ``None``-valued keys dropped,
list content joined to its text parts; ``_handle_last_assistant_message``: a final assistant text
is removed and kept as the prefix with ``continue_final_message``, else turned into a user
message; tools are ``Tool.model_dump()`` (the ``function`` keys in the client's order,
``strict``/``defer_loading`` only when set, ``defer_loading: None`` beside ``function``), filtered
by a named ``tool_choice`` and dropped for ``"none"``; ``reasoning_effort`` is passed as a
keyword and also sets ``thinking``/``enable_thinking`` in ``chat_template_kwargs``
(``ChatCompletionRequest.normalize_reasoning_inputs``), a ``reasoning_effort`` inside
``chat_template_kwargs`` is moved out of it (``_convert_to_internal_request``), and the remaining
``chat_template_kwargs`` are passed as keywords (they reach ``from_openai``: the generated
requests' extra fields are sent that way). SGLang runs all this off its event loop,
``serving_base.handle_request`` → ``loop.run_in_executor(None, _convert_to_internal_request)``,
so here too the calls run on the default executor's threads, several at a time.

Requests that SGLang's own validation would refuse before the tokenizer (a role it does not know,
a non-JSON value, ``arguments`` that are not a JSON object, ...) are left out; nothing is left out
for what mistral_common may refuse. Also read, older and not tested: the git snapshots at commit
0c078e6f42685e4918bd79a94a025261c7f38942 (``apply_chat_template(tokenize=True,
reasoning_effort=...)`` directly) and 002897c23becbd522d88b8115a763a21765f978a (render to text,
then ``encode``; 0.5.23's probe replaced that for tokenizers that do not round-trip).
"""

from __future__ import annotations

import asyncio
import copy
import json
import warnings
import zlib
from pathlib import Path
from typing import Any

import pytest

import mistral_tok
from mistral_tok._integration import context
from tests.support.chat_files import chat_file_ids, chat_file_path
from tests.support.chat_gen import ChatCase, gen_cases, profile_for

FILES = chat_file_ids()
N_VALID, N_INVALID = 360, 90

# ChatCompletionMessageGenericParam: its roles (matched case-insensitively) and optional fields,
# in declaration order (what model_dump() gives).
GENERIC_ROLES = ("system", "assistant", "tool", "function", "developer", "latest_reminder", "root")
GENERIC_FIELDS = (
    "tool_call_id",
    "name",
    "phase",
    "reasoning_content",
    "tool_calls",
    "tools",
    "prefix",
)
# ChatCompletionMessageContentPart's members.
PART_TYPES = (
    "text",
    "thinking",
    "reasoning",
    "image_url",
    "video_url",
    "audio_url",
    "input_audio",
    "tool_reference",
)
LAX_BOOLS = {
    **dict.fromkeys(("0", "off", "f", "false", "n", "no"), False),
    **dict.fromkeys(("1", "on", "t", "true", "y", "yes"), True),
}
EFFORT_TIERS = ("none", "minimal", "low", "medium", "high", "xhigh", "ultra", "max")


class Refused(Exception):
    """SGLang answers 400 before it calls the tokenizer."""


def _json(value: Any) -> Any:
    """The request as SGLang's HTTP layer receives it: JSON."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise Refused("not JSON") from exc


def _optional_str(value: Any) -> Any:
    if value is not None and not isinstance(value, str):
        raise Refused("not a string")
    return value


def _lax_bool(value: Any) -> bool:
    """pydantic's lax ``bool``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in LAX_BOOLS:
        return LAX_BOOLS[value.lower()]
    raise Refused("not a bool")


def _tool_call(call: Any) -> dict:
    """``ToolCall.model_dump()``."""
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        raise Refused("tool call")
    function = call["function"]
    index = call.get("index")
    if call.get("type", "function") != "function" or not (
        index is None or (isinstance(index, int) and not isinstance(index, bool))
    ):
        raise Refused("tool call")
    arguments = function.get("arguments")
    if arguments is not None and not isinstance(arguments, (str, dict)):
        raise Refused("arguments")
    return {
        "id": _optional_str(call.get("id")),
        "index": index,
        "type": "function",
        "function": {"name": _optional_str(function.get("name")), "arguments": arguments},
    }


def _message(message: Any) -> dict:
    """``ChatCompletionMessageParam`` validated, then ``model_dump()``."""
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise Refused("message")
    content = message.get("content")
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in PART_TYPES:
                raise Refused("content part")
            if part["type"] == "text" and not isinstance(part.get("text"), str):
                raise Refused("text part")
    if message["role"] == "user":
        if not isinstance(content, (str, list)):
            raise Refused("user content")
        return {"role": "user", "content": content}
    role = message["role"].lower()
    if role not in GENERIC_ROLES or not (content is None or isinstance(content, (str, list))):
        raise Refused("role or content")
    dumped: dict[str, Any] = {"role": role, "content": content}
    for name in GENERIC_FIELDS:
        dumped[name] = message.get(name)
    for name in ("tool_call_id", "name", "reasoning_content"):
        _optional_str(dumped[name])
    if dumped["tool_calls"] is not None:
        if not isinstance(dumped["tool_calls"], list):
            raise Refused("tool_calls")
        dumped["tool_calls"] = [_tool_call(c) for c in dumped["tool_calls"]]
    if dumped["prefix"] is not None:
        dumped["prefix"] = _lax_bool(dumped["prefix"])
    if dumped["phase"] not in (None, "commentary", "final_answer") or dumped["tools"] is not None:
        raise Refused("phase, or tools in a message (the generator makes none)")
    return dumped


def _parse_arguments(message: dict) -> None:
    """``normalize_assistant_tool_call_arguments(message, strict=True)``."""
    if message.get("role") != "assistant" or not isinstance(message.get("tool_calls"), list):
        return
    for call in message["tool_calls"]:
        function = call["function"]
        if isinstance(function.get("arguments"), str):
            try:
                parsed = json.loads(function["arguments"], parse_constant=_no_constant)
            except (ValueError, RecursionError) as exc:
                raise Refused("arguments are not JSON") from exc
            if not isinstance(parsed, dict):
                raise Refused("arguments are not a JSON object")
            function["arguments"] = parsed


def _no_constant(name: str) -> Any:
    raise ValueError(f"orjson refuses {name}")


def _string_format(message: dict) -> dict:
    """``content is None → ""`` then ``process_content_for_template_format(msg, "string", ...)``
    (``normalize_tool_content`` has nothing left to do on a string)."""
    if message.get("content") is None:
        message["content"] = ""
    if isinstance(message["content"], list):
        texts = [part["text"] for part in message["content"] if part["type"] == "text"]
        message["content"] = " ".join(texts) if texts else ""
    return {k: v for k, v in message.items() if v is not None}


def _tool(tool: Any) -> dict:
    """``Tool.model_dump()``."""
    if not isinstance(tool, dict) or not isinstance(tool.get("function"), dict):
        raise Refused("tool")
    function = tool["function"]
    if not isinstance(function.get("name"), str) or not isinstance(tool.get("type", ""), str):
        raise Refused("tool")
    _optional_str(function.get("description"))
    defer = tool.get("defer_loading")
    for flag in (function.get("strict"), function.get("defer_loading"), defer):
        if flag is not None and not isinstance(flag, bool):
            raise Refused("tool flag")
    fields = {
        "description": function.get("description"),
        "name": function["name"],
        "parameters": function.get("parameters"),
        "strict": function.get("strict"),
        # Tool._propagate_defer_loading
        "defer_loading": defer
        if function.get("defer_loading") is None
        else function["defer_loading"],
    }
    for name in ("strict", "defer_loading"):
        if fields[name] is None:
            del fields[name]
    order = list(function)
    dumped = {k: fields[k] for k in order + [k for k in fields if k not in order] if k in fields}
    return {"type": tool.get("type", "function"), "function": dumped, "defer_loading": defer}


def sglang_request(case: ChatCase, effort_in_kwargs: bool) -> dict:
    """The tokenizer call SGLang makes for ``case``: its messages, tools, keywords and the
    assistant prefix. The generated request's extra fields arrive in ``chat_template_kwargs``."""
    (messages, tools), fields = case.args()
    messages, tools, fields = _json(messages), _json(tools), _json(fields)
    cfm = _lax_bool(fields.pop("continue_final_message"))
    if not isinstance(messages, list) or not messages:
        raise Refused("messages")
    tool_choice = fields.pop("tool_choice", None)
    effort = fields.pop("reasoning_effort", None)
    kwargs: dict[str, Any] = fields
    if effort is not None:
        if isinstance(effort, bool) or not (
            effort in EFFORT_TIERS or (isinstance(effort, (int, float)) and 0 <= effort <= 0.99)
        ):
            raise Refused("reasoning_effort")
        if effort_in_kwargs:
            kwargs["reasoning_effort"] = effort
            effort = None
        else:  # normalize_reasoning_inputs
            kwargs.setdefault("thinking", effort != "none")
            kwargs.setdefault("enable_thinking", effort != "none")
    moved = kwargs.pop("reasoning_effort", None)  # _convert_to_internal_request
    if moved is not None:
        effort = moved
    if tools is not None and not isinstance(tools, list):
        raise Refused("tools")
    tools = [_tool(t) for t in tools] if tools else None
    if tool_choice is None:
        tool_choice = "auto" if tools else "none"
    if isinstance(tool_choice, dict):
        function = tool_choice.get("function")
        if not isinstance(function, dict) or tool_choice.get("type", "function") != "function":
            raise Refused("tool_choice")
        name = _optional_str(function.get("name"))
        if not tools or not any(t["function"]["name"] == name for t in tools):
            raise Refused("named tool not in tools")
        tools = [t for t in tools if t["function"]["name"] == name]
    elif tool_choice not in ("auto", "required", "none") or (
        tool_choice == "required" and not tools
    ):
        raise Refused("tool_choice")
    if tool_choice == "none":
        tools = None
    dumped = [_message(m) for m in messages]
    for message in dumped:
        _parse_arguments(message)
    dumped = [_string_format(copy.deepcopy(m)) for m in dumped]
    prefix = None
    last = dumped[-1]
    if last.get("role") == "assistant" and isinstance(last.get("content"), str):
        if cfm:
            prefix, dumped = last["content"], dumped[:-1]
        else:
            dumped[-1] = {"role": "user", "content": last["content"]}
    template_kwargs = {"reasoning_effort": effort} if effort is not None else {}
    template_kwargs.update(kwargs)
    return {"messages": dumped, "tools": tools, "kwargs": template_kwargs, "prefix": prefix}


def serve(backend: Any, request: dict) -> Any:
    """``_apply_jinja_template``'s tokenizer calls on the ids path, as an outcome to compare."""

    def render(tools: Any) -> Any:
        return backend.apply_chat_template(
            copy.deepcopy(request["messages"]),
            tokenize=True,
            add_generation_prompt=True,
            tools=copy.deepcopy(tools),
            return_dict=False,
            **copy.deepcopy(request["kwargs"]),
        )

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tools = request["tools"]
            try:
                ids = render(tools)
            except Exception:  # noqa: BLE001 - SGLang retries on any exception
                tools = [t["function"] if "function" in t else t for t in tools] if tools else None
                ids = render(tools)
            if request["prefix"]:
                encoded = backend.encode(request["prefix"])
                if encoded and encoded[0] == backend.bos_token_id:
                    encoded = encoded[1:]
                ids = ids + encoded
            return ids, backend.decode(ids)
    except Exception as exc:  # noqa: BLE001 - any outcome is compared
        return exc


def serve_all(backend: Any, requests: list[dict], layers_off: bool) -> list[Any]:
    """Every request through the event loop's default executor, all in flight at once."""

    def one(request: dict) -> Any:
        if layers_off:
            return context.run_with_layers_off(serve, backend, request)
        return serve(backend, request)

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        return await asyncio.gather(*(loop.run_in_executor(None, one, r) for r in requests))

    return asyncio.run(main())


def start_up_probes(backend: Any) -> tuple:
    """What ``OpenAIServingChat.__init__`` asks the tokenizer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto_adds_specials = len(backend.encode("")) > 0
        probe = [{"role": "user", "content": "x"}]
        text = backend.apply_chat_template(
            probe, tokenize=False, add_generation_prompt=True, return_dict=False
        )
        encode_kwargs = {"add_special_tokens": False} if auto_adds_specials else {}
        via_text = backend.encode(text, **encode_kwargs)
        via_ids = backend.apply_chat_template(
            probe, tokenize=True, add_generation_prompt=True, return_dict=False
        )
    return auto_adds_specials, text, list(via_text), list(via_ids)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Exception) or isinstance(b, Exception):
        return type(a) is type(b) and str(a) == str(b)
    return a == b and all(type(x) is type(y) for x, y in zip(a[0], b[0], strict=True))


@pytest.fixture(scope="module")
def patched():
    mistral_tok.patch(["mistral_common", "transformers"])
    yield
    mistral_tok.unpatch()


@pytest.fixture(scope="session")
def files_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sglang_tokenizer_files")


@pytest.mark.parametrize(("file_id", "version"), FILES, ids=[f for f, _ in FILES])
def test_sglang_chat_calls(patched, file_id: str, version: str, files_dir: Path) -> None:
    transformers = pytest.importorskip("transformers")
    from mistral_tok.layers import transformers as layer_module

    backend = transformers.MistralCommonBackend(
        tokenizer_path=str(chat_file_path(file_id, files_dir))
    )
    with context.all_layers_off():
        theirs_probes = start_up_probes(backend)
    assert start_up_probes(backend) == theirs_probes
    auto_adds_specials, _, via_text, via_ids = theirs_probes
    # The round trip loses the control tokens, so SGLang takes the ids path tested below.
    assert auto_adds_specials and via_text != via_ids

    profile = profile_for(file_id, version)
    cases = gen_cases(zlib.crc32(b"sglang " + file_id.encode()), profile, N_VALID, N_INVALID)
    requests, kept = [], []
    for i, case in enumerate(cases):
        try:
            requests.append(sglang_request(case, effort_in_kwargs=i % 2 == 1))
            kept.append(case)
        except Refused:
            continue
    layer_module.layer.reset_stats()
    theirs = serve_all(backend, requests, layers_off=True)
    ours = serve_all(backend, requests, layers_off=False)
    differences = [
        f"case {i} ({case.label}): {a!r:.300} vs {b!r:.300}\n{case.describe(600)}"
        for i, (case, a, b) in enumerate(zip(kept, theirs, ours, strict=True))
        if not _same(a, b)
    ]
    stats = layer_module.layer.stats.snapshot()
    assert not differences, f"{len(differences)} differences; first:\n" + "\n".join(differences[:3])
    assert len(requests) >= 300, len(requests)
    accepted = sum(not isinstance(a, Exception) for a in theirs)
    assert accepted >= len(requests) // 2, accepted
    assert stats["native"] >= len(requests) // 2, stats


def test_sglang_request_shape() -> None:
    """The preprocessing above on one request, spelled out (it is what the differential test
    sends, so a slip here would silently test another call shape)."""
    case = ChatCase(
        messages=[
            {"role": "System", "content": "be brief"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "abcdefghi", "function": {"name": "f", "arguments": '{"x": 1}'}}
                ],
            },
            {"role": "tool", "content": "42", "tool_call_id": "abcdefghi"},
            {"role": "assistant", "content": "The answer"},
        ],
        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        continue_final_message=True,
        fields={"reasoning_effort": "high", "temperature": 0.5},
    )
    request = sglang_request(case, effort_in_kwargs=False)
    assert request == {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "a b"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "abcdefghi",
                        "index": None,
                        "type": "function",
                        "function": {"name": "f", "arguments": {"x": 1}},
                    }
                ],
            },
            {"role": "tool", "content": "42", "tool_call_id": "abcdefghi"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "f", "parameters": {}, "description": None},
                "defer_loading": None,
            }
        ],
        "kwargs": {
            "reasoning_effort": "high",
            "temperature": 0.5,
            "thinking": True,
            "enable_thinking": True,
        },
        "prefix": "The answer",
    }
    case.continue_final_message = False
    case.fields = {"tool_choice": "none", "reasoning_effort": "none"}
    request = sglang_request(case, effort_in_kwargs=True)
    assert request["tools"] is None and request["prefix"] is None
    assert request["messages"][-1] == {"role": "user", "content": "The answer"}
    assert request["kwargs"] == {"reasoning_effort": "none"}
