"""Drop-in replacements for vLLM's Mistral chat-template functions.

Each shim keeps the contract of the vLLM function it replaces for the installed vLLM version
(arguments, which inputs are mutated, what is returned, which errors surface and as what) and only
moves the expensive part — ``ChatCompletionRequest.from_openai`` + ``encode_chat_completion`` — to
mistral-tok's Rust tokenizer. The cheap Python pre-steps vLLM runs before mistral_common (its
argument checks, its in-place message/tool fix-ups) are vLLM's own functions, called as vLLM calls
them, so their errors and side effects are vLLM's by construction.

Images in ``image_url`` chunks are native: data URLs always, and ``http(s)`` URLs from the images
vLLM itself fetches for the request, so nothing is downloaded twice and mistral_common's
decode/resize of every image is skipped:

* 0.16+ (renderer): vLLM fetches before the template; the size of the bytes it received is
  read by the Rust probe, off the event loop, and recorded (:func:`record_fetched_image_async`,
  :class:`collecting_image_sizes`); bytes the probe refuses leave the request to vLLM's function;
* 0.10.2-0.14 (``OpenAIServing._preprocess_chat``): vLLM applies the template before it awaits
  its fetches, so its fetch awaitable becomes a task shared with the template call
  (:class:`RemoteImages`); the template call waits for it and reads the sizes from what vLLM
  received, the bytes through the Rust probe (:func:`mistral_tok.image_size`) off the event
  loop. On 0.11 the parse is run ahead of ``_preprocess_chat`` for that (:data:`PREPARSED`).
  ``LLM.chat``'s synchronous parse fetches before the template: kept in :class:`ParsedImages`.
  A failed fetch, or bytes the probe cannot vouch for, send the request to vLLM's own function:
  mistral_common then downloads the image and fails (or succeeds) exactly as unpatched.

Whatever the native path does not cover (a tokenizer that is not a real vLLM ``MistralTokenizer``,
remote images vLLM did not fetch, transformers-style ``image``/``audio`` chunks, audio,
truncation/padding arguments, batched conversations, a feature the Rust side reports as
unsupported) goes to the original vLLM function, offloaded exactly as vLLM offloads it; each such
fallback is counted in :func:`stats` and its reason logged once.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from mistral_tok._integration import Fallback, Layer, context, require_keywords
from mistral_tok.vllm.forwarding import CONSUMED

NATIVE = "native"
SHADOW = "shadow"


def vllm_error(exc: BaseException) -> ValueError:
    """vLLM's error contract: ``except (AssertionError, MistralCommonException)`` and any other
    ``Exception`` -> ``ValueError(str(exc))``."""
    error = ValueError(str(exc))
    error.__cause__ = exc
    return error


def _same(theirs: tuple[str, Any], ours: tuple[str, Any]) -> bool:
    """Same answer for vLLM's caller: equal results, or both a ``ValueError`` (the HTTP 400)."""
    if theirs[0] == ours[0] == "ok":
        return bool(theirs[1] == ours[1])
    return (
        theirs[0] == ours[0] == "error"
        and isinstance(theirs[1], ValueError)
        and isinstance(ours[1], ValueError)
    )


LAYER = Layer(
    "vllm",
    original_name="vLLM's own chat template",
    map_error=vllm_error,
    same=_same,
    stat_keys=("native_async", "decode_offloaded"),
)
logger = LAYER.logger


class _State:
    """The contract of the installed vLLM (set by ``patch()``)."""

    def __init__(self) -> None:
        self.contract: Contract | None = None
        # vLLM's own template function as canaries call it: (tokenizer, messages, tools, kwargs).
        self.original: Callable[..., Any] | None = None


STATE = _State()


def stats() -> dict[str, Any]:
    """Counters since the process started (or since :func:`reset_stats`), and which path each
    tokenizer takes and why (``tokenizers``); ``transcription``: the same for Voxtral
    transcription prompts (``chunks_native`` / ``chunks_original``, per serving object)."""
    from mistral_tok.vllm import transcription

    snapshot = LAYER.stats.snapshot()
    snapshot["transcription"] = transcription.LAYER.stats.snapshot()
    return snapshot


def reset_stats() -> None:
    from mistral_tok.vllm import transcription

    LAYER.reset_stats()
    transcription.LAYER.reset_stats()


# --------------------------------------------------------------------------------------------
# The Rust tokenizer behind a vLLM tokenizer: built once, from the file vLLM loaded.

_NATIVE_ATTR = "_mistral_tok_native"
_build_lock = threading.Lock()


class _NoNative:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def is_vllm_tokenizer(tokenizer: Any) -> bool:
    """A real vLLM ``MistralTokenizer`` (vLLM's own tests pass ``Mock(spec=MistralTokenizer)``:
    ``isinstance()`` is fooled, ``type()`` is not)."""
    contract = STATE.contract
    return contract is not None and issubclass(type(tokenizer), contract.tokenizer_class)


def native_tokenizer(tokenizer: Any) -> Any:
    """The ``mistral_tok.Tokenizer`` for a real vLLM ``MistralTokenizer``; raises :class:`Fallback`.

    The file is the one mistral_common recorded when vLLM loaded it
    (``MistralTokenizer.tokenizer.file_path``, the raw Tekkenizer/SentencePieceTokenizer in every
    vLLM version). The result, or the reason there is none, is cached on the vLLM tokenizer so a
    tokenizer is loaded once for the life of the vLLM one.
    """
    if not is_vllm_tokenizer(tokenizer):
        raise Fallback("tokenizer is not a vLLM MistralTokenizer")
    cached = tokenizer.__dict__.get(_NATIVE_ATTR)
    if cached is None:
        with _build_lock:
            cached = tokenizer.__dict__.get(_NATIVE_ATTR)
            if cached is None:
                cached = _build_native(tokenizer)
                tokenizer.__dict__[_NATIVE_ATTR] = cached
    if isinstance(cached, _NoNative):
        raise Fallback(cached.reason)
    return cached


async def ensure_native_async(tokenizer: Any) -> None:
    """Load the Rust tokenizer off the event loop the first time (a large tekken.json takes
    ~0.1-1 s to load); later calls find it cached."""
    if not isinstance(getattr(tokenizer, "__dict__", None), dict):
        return
    if tokenizer.__dict__.get(_NATIVE_ATTR) is not None or not is_vllm_tokenizer(tokenizer):
        return

    def build() -> None:
        try:
            native_tokenizer(tokenizer)
        except Fallback:
            pass

    await asyncio.get_running_loop().run_in_executor(LAYER.executor(), build)


def _build_native(tokenizer: Any) -> Any:
    from mistral_tok import MistralTokError, Tokenizer

    try:
        path = tokenizer.tokenizer.file_path
    except Exception as exc:  # noqa: BLE001 - any failure means "no file to load"
        return _NoNative(f"tokenizer file path unknown ({exc})")
    try:
        native = Tokenizer.from_file(path)
    except (MistralTokError, OSError) as exc:
        logger.warning("mistral-tok: cannot load %s (%s); vLLM's tokenizer stays in use", path, exc)
        return _NoNative(f"tokenizer file not loadable by mistral-tok ({type(exc).__name__})")
    if native.version != getattr(tokenizer, "version", native.version):
        return _NoNative("tokenizer version differs from vLLM's")
    return native


# --------------------------------------------------------------------------------------------
# Per-version contract of vLLM's MistralTokenizer.apply_chat_template (+ transformers below it).


# The request fields mistral_common 1.13.1's ``ChatCompletionRequest.from_openai`` reads and the
# Rust core validates the same way; plus ``chat_template``, which vLLM 0.34 passes along and
# ``from_openai`` ignores. Forwarded keywords outside this set go to vLLM's own function.
REQUEST_FIELDS = frozenset(
    {
        "model",
        "temperature",
        "top_p",
        "max_tokens",
        "seed",
        "random_seed",
        "response_format",
        "tool_choice",
        "parallel_tool_calls",
        "truncate_for_context_length",
        "reasoning_effort",
    }
)
FORWARDED_VERIFIED = REQUEST_FIELDS | {"chat_template"}


class Contract:
    """What vLLM's ``MistralTokenizer.apply_chat_template`` does before mistral_common.

    ``forwarding`` (:mod:`mistral_tok.vllm.forwarding`, observed by the probe): which request
    keywords reach transformers; ``None`` for vLLM <= 0.11.0, which validates the messages
    directly and ignores every keyword. ``verified``: the forwarded keywords the native path
    takes (others go to vLLM's own function)."""

    def __init__(
        self,
        tokenizer_class: type,
        vllm_module: Any,
        transformers_major: int,
        forwarding: Any = None,
        verified: frozenset[str] = FORWARDED_VERIFIED,
    ) -> None:
        self.tokenizer_class = tokenizer_class
        # 0.26+: `_validate_apply_chat_template_args` (checks only);
        # 0.11.1-0.20: `_prepare_apply_chat_template_tools_and_messages` (checks + in-place
        # fix-ups).
        self.validate = getattr(vllm_module, "_validate_apply_chat_template_args", None)
        self.prepare = getattr(vllm_module, "_prepare_apply_chat_template_tools_and_messages", None)
        # transformers 4.x adapts list content in place, returns `Tokenized.text` for
        # tokenize=False and refuses any extra keyword; 5.x adapts copies, decodes with
        # SpecialTokenPolicy.KEEP and hands extra keywords to `from_openai`.
        self.transformers_major = transformers_major
        self.adapt_in_place = transformers_major < 5
        self.tokenize_false_native = transformers_major >= 5
        self.forwarding = forwarding
        self.verified = verified
        # 0.10.2-0.11.0: `make_mistral_chat_completion_request` fixes messages up in place and
        # validates them directly as a ChatCompletionRequest (not `from_openai`); every kwarg
        # is ignored.
        self.legacy = self.validate is None and self.prepare is None
        self.aggregate = getattr(vllm_module, "_aggregate_content", None)

    def request_fields(self, version: int, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The keywords that reach ``from_openai`` for a tokenizer of ``version``, as vLLM and
        transformers pass them; :class:`Fallback` where the native path was not verified."""
        forwarding = self.forwarding
        if forwarding is None:
            return {}
        if forwarding.everything:
            fields = {k: v for k, v in kwargs.items() if k not in CONSUMED}
            require_keywords(fields, self.verified)
        elif forwarding.reasoning_effort_from is not None and (
            version >= forwarding.reasoning_effort_from
        ):
            fields = {"reasoning_effort": kwargs.get("reasoning_effort")}
        else:
            return {}
        if self.transformers_major < 5:
            # transformers 4's backend refuses every extra keyword, even None: vLLM's function
            # raises that error.
            raise Fallback("request keyword forwarded to transformers 4")
        fields.pop("chat_template", None)
        if fields.get("reasoning_effort", 0) is None:
            del fields["reasoning_effort"]
        return fields


class Plan:
    __slots__ = (
        "native",
        "messages",
        "tools",
        "continue_final_message",
        "fields",
        "tokenize",
        "image_sizes",
        "text_policy",
        "text",
        "served",
    )

    def __init__(self, native, messages, tools, continue_final_message, fields, tokenize):
        self.native = native
        self.messages = messages
        self.tools = tools
        self.continue_final_message = continue_final_message
        self.fields = fields
        self.tokenize = tokenize
        # Sizes of the http(s) images vLLM fetched for this request (see `fetched_image_sizes`).
        self.image_sizes: dict[str, tuple[int, int]] | None = None
        # Also the prompt's text, decoded with this special-token policy on the worker with the
        # ids (vLLM <= 0.14 decodes the whole prompt again on the loop).
        self.text_policy: str | None = None
        self.text: str | None = None
        self.served = False


def plan_apply_chat_template(
    tokenizer: Any, messages: Any, tools: Any = None, **kwargs: Any
) -> Plan:
    """Everything vLLM's ``MistralTokenizer.apply_chat_template(messages, tools, **kwargs)`` does
    before mistral_common, with the same errors and side effects; raises :class:`Fallback` for
    inputs the native path does not cover. Cheap: no pass over message text."""
    contract = STATE.contract
    native = native_tokenizer(tokenizer)
    assert contract is not None
    if contract.legacy:
        # Planned on copies: a fallback must find the caller's objects as vLLM would.
        plan = plan_legacy(native, messages, tools, copy=True)
        legacy_fix_up(messages, tools)  # vLLM's side effects on the caller's objects
        return plan
    add_generation_prompt = kwargs.pop("add_generation_prompt", False)
    continue_final_message = kwargs.get("continue_final_message", False)
    tokenize = kwargs.get("tokenize", True)
    if kwargs.get("padding", False) is not False or kwargs.get("truncation", False) is not False:
        raise Fallback("padding/truncation arguments")
    if kwargs.get("max_length") is not None:
        raise Fallback("max_length argument")
    # Before vLLM's own steps, which may change the caller's messages (a fallback repeats them).
    fields = contract.request_fields(native.version, kwargs)

    if contract.validate is not None:
        contract.validate(messages, continue_final_message, add_generation_prompt)
    elif contract.prepare is not None:
        messages, tools = contract.prepare(
            messages, tools, continue_final_message, add_generation_prompt
        )
    else:  # pragma: no cover - Contract() is only built for versions that have one of the two
        raise Fallback("unknown vLLM tokenizer contract")

    if isinstance(messages, (list, tuple)) and messages:
        first = messages[0]
        if isinstance(first, (list, tuple)) or hasattr(first, "messages"):
            raise Fallback("batched conversations")
    messages = _adapt_content(messages, in_place=contract.adapt_in_place)

    if not tokenize and not contract.tokenize_false_native:
        raise Fallback("tokenize=False with transformers 4")
    return Plan(native, messages, tools, continue_final_message, fields, tokenize)


def plan_legacy(native: Any, messages: Any, tools: Any, *, copy: bool) -> Plan:
    """vLLM 0.10.2/0.11.0: its in-place fix-ups (on copies when ``copy``), then a gate that keeps
    only requests on which direct pydantic validation and ``from_openai`` provably agree."""
    if copy:
        messages, tools = _legacy_copy(messages, tools)
    legacy_fix_up(messages, tools)
    stripped, continue_final = _legacy_gate(messages, tools)
    return Plan(native, stripped, tools, continue_final, {}, True)


def _legacy_copy(messages: Any, tools: Any) -> tuple[list[Any], Any]:
    if not isinstance(messages, list) or not all(type(m) is dict for m in messages):
        raise Fallback("messages that are not plain dicts")
    copied = []
    for message in messages:
        message = dict(message)
        content = message.get("content")
        if isinstance(content, list):
            message["content"] = [dict(c) if type(c) is dict else c for c in content]
        copied.append(message)
    if tools:
        if not isinstance(tools, list) or not all(
            type(t) is dict and type(t.get("function")) is dict for t in tools
        ):
            raise Fallback("tools that are not plain dicts")
        tools = [{**t, "function": dict(t["function"])} for t in tools]
    return copied, tools


def legacy_fix_up(messages: Any, tools: Any) -> None:
    """What vLLM 0.10.2/0.11.0's ``make_mistral_chat_completion_request`` does in place before
    validating (same order, same errors); ``_aggregate_content`` is vLLM's own function."""
    aggregate = STATE.contract.aggregate if STATE.contract is not None else None
    if aggregate is None:
        raise Fallback("vLLM's _aggregate_content not found")
    last_message = messages[-1]
    if last_message["role"] == "assistant":
        last_message["prefix"] = True
    for message in messages:
        message.pop("reasoning_content", None)
        if message.get("role") in ("assistant", "tool"):
            content = message.get("content")
            if isinstance(content, list):
                content = aggregate(content)
            message["content"] = content
    if tools:
        for function in [tool["function"] for tool in tools if tool["type"] == "function"]:
            if function.get("parameters") is None:
                function["parameters"] = {}
            if function.get("description") is None:
                function["description"] = ""


_LEGACY_KEYS = {
    "system": frozenset({"role", "content"}),
    "user": frozenset({"role", "content"}),
    "assistant": frozenset({"role", "content", "tool_calls", "prefix"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}


def _is_text_chunks(content: Any) -> bool:
    return isinstance(content, list) and all(
        type(c) is dict
        and c.keys() == {"type", "text"}
        and c["type"] == "text"
        and isinstance(c["text"], str)
        for c in content
    )


def _is_image_url_chunk(chunk: Any) -> bool:
    """An ``image_url`` chunk both validations read alike (``ImageURL | str``; extra keys are an
    error for direct validation and ignored by ``from_openai``)."""
    if type(chunk) is not dict or chunk.keys() != {"type", "image_url"}:
        return False
    if chunk["type"] != "image_url":
        return False
    image_url = chunk["image_url"]
    if isinstance(image_url, str):
        return True
    return (
        type(image_url) is dict
        and "url" in image_url
        and image_url.keys() <= {"url", "detail"}
        and isinstance(image_url["url"], str)
        and (image_url.get("detail") is None or isinstance(image_url["detail"], str))
    )


def _is_user_chunks(content: Any) -> bool:
    return isinstance(content, list) and all(
        _is_text_chunks([c]) or _is_image_url_chunk(c) for c in content
    )


def _legacy_gate(messages: list[Any], tools: Any) -> tuple[list[Any], bool]:
    last = len(messages) - 1
    out = messages
    continue_final = False
    for index, message in enumerate(messages):
        if type(message) is not dict:
            raise Fallback("messages that are not plain dicts")
        role = message.get("role")
        allowed = _LEGACY_KEYS.get(role) if isinstance(role, str) else None
        if allowed is None or not message.keys() <= allowed:
            raise Fallback("message fields outside the plain OpenAI subset (vLLM <= 0.11.0)")
        content = message.get("content")
        if role == "system":
            ok = isinstance(content, str) or _is_text_chunks(content)
        elif role == "user":
            ok = isinstance(content, str) or _is_user_chunks(content)
        elif role == "assistant":
            ok = content is None or isinstance(content, str)
            calls = message.get("tool_calls")
            if calls is not None and not _plain_tool_calls(calls):
                ok = False
            if "prefix" in message:
                ok = ok and message["prefix"] is True and index == last
        else:
            ok = isinstance(content, str) and isinstance(message.get("tool_call_id"), str)
        if not ok:
            raise Fallback("message shape outside the plain OpenAI subset (vLLM <= 0.11.0)")
    if last >= 0 and messages[last].get("prefix") is True:
        final = dict(messages[last])
        del final["prefix"]
        out = [*messages[:last], final]
        continue_final = True
    if tools:
        for tool in tools:
            function = tool.get("function") if type(tool) is dict else None
            if (
                type(function) is not dict
                or not tool.keys() <= {"type", "function"}
                or tool.get("type", "function") != "function"
                or not function.keys() <= {"name", "description", "parameters"}
                or not isinstance(function.get("name"), str)
                or not isinstance(function.get("description"), str)
                or type(function.get("parameters")) is not dict
            ):
                raise Fallback("tool shape outside the plain OpenAI subset (vLLM <= 0.11.0)")
    return out, continue_final


def _plain_tool_calls(calls: Any) -> bool:
    if not isinstance(calls, list):
        return False
    for call in calls:
        if type(call) is not dict or not call.keys() <= {"id", "type", "function"}:
            return False
        if call.get("type", "function") != "function" or not isinstance(call.get("id"), str):
            return False
        function = call.get("function")
        if type(function) is not dict or function.keys() != {"name", "arguments"}:
            return False
        if not isinstance(function["name"], str) or not isinstance(function["arguments"], str):
            return False
    return True


_MEDIA_TYPES = frozenset({"image", "audio"})


def _adapt_content(messages: Any, *, in_place: bool) -> Any:
    """transformers' ``_maybe_adapt_message``: chunks without a ``type`` are dropped; image/audio
    chunks (rewritten and loaded by transformers) go to the fallback."""
    copied: list[Any] | None = None
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if not content or isinstance(content, str):
            continue
        adapted = []
        for chunk in content:
            if not isinstance(chunk, dict):
                raise Fallback("content chunk that is not a dict")
            kind = chunk.get("type", None)
            if not kind:
                continue
            if kind in _MEDIA_TYPES:
                raise Fallback(f"{kind} content")
            adapted.append(chunk)
        if in_place:
            message["content"] = adapted
        else:
            if copied is None:
                copied = list(messages)
            new_message = message.copy()
            new_message["content"] = adapted
            copied[index] = new_message
    return copied if copied is not None else messages


# The shims keep mistral-tok's PNG pixel check on (`check_pixels=True`, the default), on every
# vLLM version: vLLM >= 0.16 loads each image before the template (`ImageMediaIO.load_bytes`), but
# its first `load()` runs inside `ImageOps.exif_transpose`, which swallows the error, and the
# second `load()` is then a no-op. A PNG with corrupt zlib data therefore passes vLLM's loading and
# is refused only by mistral_common's own decode in the template, which the check reproduces.


def run_plan(plan: Plan) -> Any:
    """The native part, synchronously (the GIL is released inside)."""
    if plan.image_sizes:
        ids, _ = plan.native.encode_chat_with_images(
            plan.messages,
            plan.tools,
            continue_final_message=plan.continue_final_message,
            image_sizes=plan.image_sizes,
            **plan.fields,
        )
    else:
        ids = plan.native.encode_chat(
            plan.messages,
            plan.tools,
            continue_final_message=plan.continue_final_message,
            **plan.fields,
        )
    if plan.tokenize:
        return ids
    return plan.native.decode(ids, special_token_policy="keep")


async def run_plan_async(plan: Plan) -> Any:
    """The native part on mistral-tok's worker thread; the event loop never waits on it (nor
    reads the ids back: with ``plan.with_text`` the text comes from the worker too)."""
    arguments = dict(continue_final_message=plan.continue_final_message, **plan.fields)
    policy = plan.text_policy or (None if plan.tokenize else "keep")
    text = None
    if plan.image_sizes:
        ids, _ = await plan.native.encode_chat_with_images_async(
            plan.messages, plan.tools, image_sizes=plan.image_sizes, **arguments
        )
        if policy is not None:
            text = await plan.native.decode_async(ids, special_token_policy=policy)
    elif policy is not None:
        ids, text = await plan.native.encode_chat_async(
            plan.messages, plan.tools, with_text=policy, **arguments
        )
    else:
        ids = await plan.native.encode_chat_async(plan.messages, plan.tools, **arguments)
    plan.text = text
    plan.served = True
    return ids if plan.tokenize else text


# --------------------------------------------------------------------------------------------
# Remote images: vLLM downloads every http(s) image of a request (for the model's pixels) before
# it applies the template, and mistral_common downloads it again only to read its size. The
# fetches vLLM makes while it renders one request are recorded here (URL -> PIL's
# ``Image.open(bytes).size`` of the bytes vLLM received: mistral_common's size, EXIF orientation
# not applied), so that the native path encodes those URLs without any network I/O. A URL not
# recorded (no fetch seen, bytes not kept) still goes to vLLM's own function.

FETCHED_IMAGE_SIZES = context.Slot("vllm.fetched_image_sizes")


def fetched_image_sizes() -> dict[str, tuple[int, int]] | None:
    """The sizes recorded so far for the request being rendered (a copy), or ``None``."""
    sizes = FETCHED_IMAGE_SIZES.get()
    return dict(sizes) if sizes else None


def record_fetched_image(url: Any, image: Any) -> None:
    """Called with what vLLM's ``MediaConnector.fetch_image(url)`` returned."""
    sizes, data = _fetched(url, image)
    if sizes is not None and data is not None:
        _record_size(sizes, url, data)


async def record_fetched_image_async(url: Any, image: Any) -> None:
    """Called with what vLLM's ``MediaConnector.fetch_image_async(url)`` returned: the probe
    (which inflates PNG data, ~30 ms for a 2000×2000 photo) runs on mistral-tok's thread, not on
    the event loop."""
    sizes, data = _fetched(url, image)
    if sizes is not None and data is not None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(LAYER.executor(), _record_size, sizes, url, data)


def _fetched(url: Any, image: Any) -> tuple[dict[str, tuple[int, int]] | None, bytes | None]:
    """The request's size table (``None`` outside a render) and the bytes vLLM received for an
    ``http…`` URL (``None`` when it kept none)."""
    sizes = FETCHED_IMAGE_SIZES.get()
    if sizes is None or not isinstance(url, str) or not url.startswith("http"):
        return None, None
    data = getattr(image, "original_bytes", None)
    return sizes, bytes(data) if isinstance(data, (bytes, bytearray)) else None


def _record_size(sizes: dict[str, tuple[int, int]], url: str, data: bytes) -> None:
    """The size mistral_common reads, from the Rust probe (GIL released), which also refuses
    what mistral_common's decode would refuse (PNG, GIF, WebP and JPEG data as PIL reads it):
    then the URL is not recorded and the request goes to vLLM's own function, as unpatched."""
    from mistral_tok import MistralTokError, image_size

    try:
        sizes[url] = image_size(data)
    except MistralTokError:
        sizes.pop(url, None)


class collecting_image_sizes:  # noqa: N801 - used like a function, as contextlib's helpers
    """``with collecting_image_sizes(): ...`` around the rendering of one request (sync or
    async): image fetches inside it, including in tasks it starts, are recorded."""

    def __enter__(self) -> dict[str, tuple[int, int]]:
        sizes: dict[str, tuple[int, int]] = {}
        self._token = FETCHED_IMAGE_SIZES.set(sizes)
        return sizes

    def __exit__(self, *exc: object) -> None:
        FETCHED_IMAGE_SIZES.reset(self._token)


# --------------------------------------------------------------------------------------------
# Remote images on vLLM <= 0.14 (``OpenAIServing._preprocess_chat``): vLLM parses the request
# into coroutines that fetch its images, applies the template (mistral_common downloads every
# http(s) image again, decodes and resizes it), and only then awaits its fetches. The shim turns
# vLLM's awaitable into a task shared with the template call (:class:`RemoteImages`), waits for
# vLLM's fetches, and reads each image's size from what vLLM received: the bytes (0.14, probed
# by the Rust core: same size as mistral_common's ``Image.open(...).size``, and a truncated file
# is caught) or, where vLLM keeps no bytes (0.11), the size of the image it decoded. If any
# fetch fails, or the probe cannot vouch for the bytes, the request goes to vLLM's own function,
# so the user gets mistral_common's error (or its success) exactly as unpatched.

FETCHED_IMAGES = context.Slot("vllm.fetched_images")


def record_remote_image(url: Any, image: Any) -> None:
    """Called with what vLLM's ``MediaConnector.fetch_image_async(url)`` returned (kept as is:
    nothing is read on the event loop)."""
    fetched = FETCHED_IMAGES.get()
    if fetched is not None and isinstance(url, str) and url.startswith("http"):
        fetched[url] = image


def remote_image_urls(messages: Any) -> list[str]:
    """The ``http…`` URLs of the ``image_url`` chunks of a request (mistral_common downloads
    every URL starting with ``http``), in order, without repeats; ``[]`` for anything else."""
    urls: dict[str, None] = {}
    if not isinstance(messages, (list, tuple)):
        return []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for chunk in content:
            if not isinstance(chunk, dict) or chunk.get("type") != "image_url":
                continue
            image_url = chunk.get("image_url")
            url = image_url.get("url") if isinstance(image_url, dict) else image_url
            if isinstance(url, str) and url.startswith("http"):
                urls[url] = None
    return list(urls)


def _retrieve(task: asyncio.Future[Any]) -> None:
    # vLLM awaits the task unless the template failed first; its error is then not news.
    if not task.cancelled():
        task.exception()


class RemoteImages:
    """vLLM's image fetches of one request (``mm_data_future``), started at most once, by
    whichever awaits first: vLLM's ``await`` or the template shim's :meth:`sizes`."""

    def __init__(self, messages: Any, awaitable: Any, urls: list[str]) -> None:
        self.messages = messages
        self.urls = urls
        self.fetched: dict[str, Any] = {}
        self._awaitable = awaitable
        self._task: asyncio.Future[Any] | None = None
        # The fetches run in a copy of the request's context in which they record what they got.
        self._context = contextvars.copy_context()
        self._context.run(FETCHED_IMAGES.set, self.fetched)

    def _start(self) -> asyncio.Future[Any]:
        if self._task is None:
            self._task = self._context.run(asyncio.ensure_future, self._awaitable)
            self._task.add_done_callback(_retrieve)
        return self._task

    def __await__(self) -> Any:
        """vLLM's ``await mm_data_future``: the task's result or error; then the references to
        the images are dropped (this object may stay in the request's context a while)."""
        task = self._start()
        try:
            return (yield from task.__await__())
        finally:
            self._task = self._awaitable = None
            self.fetched.clear()

    async def sizes(self) -> dict[str, tuple[int, int]] | None:
        """``{url: (width, height)}`` for every remote image of the request, or ``None`` when a
        fetch failed or an image is one the native path cannot vouch for."""
        if self._awaitable is None:
            return None  # vLLM has awaited (and released) its fetches already
        task = self._start()
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            task.cancel()  # as if the request had been awaiting vLLM's coroutine itself
            raise
        if task.cancelled() or task.exception() is not None:
            return None
        images = [self.fetched.get(url) for url in self.urls]
        if any(image is None for image in images):
            return None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(LAYER.executor(), _image_sizes, self.urls, images)


class ParsedImages:
    """The http(s) images vLLM's synchronous parse (``LLM.chat`` before 0.16) fetched for
    ``messages``, at once, before the template call that follows."""

    __slots__ = ("messages", "urls", "fetched")

    def __init__(self, messages: Any, urls: list[str], fetched: dict[str, Any]) -> None:
        self.messages = messages
        self.urls = urls
        self.fetched = fetched

    def sizes(self) -> dict[str, tuple[int, int]] | None:
        images = [self.fetched.get(url) for url in self.urls]
        if any(image is None for image in images):
            return None
        return _image_sizes(self.urls, images)


PARSED_IMAGES = context.Slot("vllm.parsed_images")


def take_parsed_images(messages: Any) -> ParsedImages | None:
    parsed = PARSED_IMAGES.get()
    if parsed is None or parsed.messages is not messages:
        return None
    PARSED_IMAGES.set(None)
    return parsed


def _image_sizes(urls: list[str], images: list[Any]) -> dict[str, tuple[int, int]] | None:
    """On mistral-tok's thread: each size from the bytes vLLM received (the Rust probe, GIL
    released) or, without bytes, from the image vLLM loaded (no EXIF transpose; same size)."""
    from mistral_tok import MistralTokError, image_size

    sizes: dict[str, tuple[int, int]] = {}
    for url, image in zip(urls, images, strict=False):
        data = getattr(image, "original_bytes", None)
        try:
            if isinstance(data, bytes):
                sizes[url] = image_size(data)
            else:
                size = getattr(image, "size", None)
                if not (
                    isinstance(size, tuple)
                    and len(size) == 2
                    and all(isinstance(v, int) and v > 0 for v in size)
                ):
                    return None
                sizes[url] = size
        except MistralTokError:
            return None  # mistral_common decides (and words the error)
    return sizes


REMOTE_IMAGES = context.Slot("vllm.remote_images")


def remote_images_for(messages: Any) -> RemoteImages | None:
    """The :class:`RemoteImages` vLLM's parse made for exactly these ``messages``, if any (taken:
    the request's context no longer holds it)."""
    remote = REMOTE_IMAGES.get()
    if remote is None or remote.messages is not messages:
        return None
    REMOTE_IMAGES.set(None)
    return remote


# vLLM <= 0.11.0: the parse the shim ran ahead of ``_preprocess_chat`` (to wait for the fetches
# before the synchronous template call), as ``(messages, result)``, for vLLM's own parse call.
PREPARSED = context.Slot("vllm.preparsed")


# --------------------------------------------------------------------------------------------
# The template call with vLLM's error contract, sync and async; `original` is vLLM's function
# bound to the same arguments, used for fallbacks and shadow mode.


def apply_sync(
    original: Callable[[], Any],
    tokenizer: Any,
    messages: Any,
    tools: Any,
    kwargs: dict,
    image_sizes: dict[str, tuple[int, int]] | None = None,
) -> Any:
    return LAYER.call(
        original,
        lambda: native_result(tokenizer, messages, tools, dict(kwargs), image_sizes),
        tokenizer,
    )


def native_result(
    tokenizer: Any,
    messages: Any,
    tools: Any,
    kwargs: dict,
    image_sizes: dict[str, tuple[int, int]] | None = None,
) -> Any:
    """Our answer to vLLM's template call (synchronously; also what canaries compare)."""
    plan = plan_apply_chat_template(tokenizer, messages, tools, **kwargs)
    plan.image_sizes = image_sizes
    return run_plan(plan)


async def apply_async(
    original_async: Callable[[], Any],
    tokenizer: Any,
    messages: Any,
    tools: Any,
    kwargs: dict,
    on_text: Callable[[Any, str], Any] | None = None,
    image_sizes: dict[str, tuple[int, int]] | None = None,
) -> Any:
    """``original_async()`` returns vLLM's own awaitable (its function in its executor);
    ``image_sizes``: the http(s) images vLLM fetched for this request (``fetched_image_sizes``);
    ``on_text(ids, text)``: called with the prompt's text (decoded with special tokens kept, on
    the worker, with the ids) when served natively."""
    shadow_kwargs = dict(kwargs)
    plans: list[Plan] = []

    async def native() -> Any:
        await ensure_native_async(tokenizer)
        plan = plan_apply_chat_template(tokenizer, messages, tools, **kwargs)
        plan.image_sizes = image_sizes
        plan.text_policy = "keep" if on_text is not None else None
        plans.append(plan)
        return await run_plan_async(plan)

    result = await LAYER.call_async(
        original_async,
        native,
        tokenizer,
        shadow_native=lambda: native_result(tokenizer, messages, tools, shadow_kwargs, image_sizes),
    )
    if plans and plans[0].served:
        LAYER.stats.count("native_async")
        if on_text is not None and plans[0].text is not None:
            on_text(result, plans[0].text)
    return result


def schedule(coro: Any) -> asyncio.Future[Any]:
    """Start now, like vLLM's ``make_async`` (its work starts before the caller awaits)."""
    return asyncio.ensure_future(coro)


def offload(executor: Executor | None, fn: Callable[..., Any], *args: Any, **kwargs: Any):
    """vLLM's ``make_async`` for the fallback: the original function in vLLM's executor, with
    every mistral-tok layer off there (an executor thread does not inherit the context)."""
    loop = asyncio.get_event_loop()
    call = functools.partial(context.run_with_layers_off, fn, *args, **kwargs)
    return loop.run_in_executor(executor, call)


# --------------------------------------------------------------------------------------------
# Prompt decode off the event loop (vLLM <= 0.14 decodes the whole prompt in _preprocess_chat).


class DecodeSlot:
    """The text of one prompt, decoded on the worker, waiting for vLLM's ``tokenizer.decode``."""

    __slots__ = ("tokenizer", "ids", "text", "skip_special_tokens")

    def __init__(self, tokenizer: Any, skip_special_tokens: bool = False) -> None:
        self.tokenizer = tokenizer
        self.ids: Any = None
        self.text: str | None = None
        self.skip_special_tokens = skip_special_tokens


DECODE_SLOT = context.Slot("vllm.decode_slot")


def take_decoded(tokenizer: Any, ids: Any, skip_special_tokens: bool) -> str | None:
    slot = DECODE_SLOT.get()
    if slot is None or slot.ids is not ids or slot.tokenizer is not tokenizer:
        return None
    if bool(skip_special_tokens) != slot.skip_special_tokens:
        return None
    text = slot.text
    slot.ids = slot.text = None
    return text


class Precomputed:
    """vLLM <= 0.11.0: the template outcome computed off the loop before ``_preprocess_chat``
    reaches its synchronous call, matched by identity of the tokenizer, messages and tools."""

    __slots__ = ("tokenizer", "messages", "tools", "outcome")

    def __init__(self, tokenizer: Any, messages: Any, tools: Any, outcome: tuple[str, Any]):
        self.tokenizer = tokenizer
        self.messages = messages
        self.tools = tools
        self.outcome = outcome


PRECOMPUTED = context.Slot("vllm.precomputed")


def decode_offload_supported(tokenizer: Any) -> bool:
    """vLLM's ``decode(ids)`` is transformers' decode with SpecialTokenPolicy.KEEP, plus
    ``clean_up_tokenization`` when the backend has it on: only the former is reproduced."""
    backend = getattr(tokenizer, "transformers_tokenizer", None)
    if backend is None:
        return False  # vLLM <= 0.11.0: see legacy_decode_policy
    cleanup = getattr(backend, "cleanup_tokenization_spaces", None)
    if cleanup is None:
        cleanup = getattr(backend, "clean_up_tokenization_spaces", None)
    return not cleanup


def legacy_decode_policy(tokenizer: Any) -> str | None:
    """vLLM <= 0.11.0 decodes with its ``_special_token_policy``: IGNORE for Tekken, ``None``
    for SentencePiece (which mistral_common 1.13 rejects; that error is left to vLLM)."""
    policy = getattr(tokenizer, "_special_token_policy", None)
    value = getattr(policy, "value", None)
    return value if value in ("ignore", "keep") else None


def env_shadow_rate() -> float:
    try:
        return min(1.0, max(0.0, float(os.environ.get("MISTRAL_TOK_VLLM_SHADOW_RATE", "0.05"))))
    except ValueError:
        return 0.05
