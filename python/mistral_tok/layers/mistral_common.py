"""The mistral_common layer: ``MistralTokenizer.encode_chat_completion(request,
max_model_input_len)`` served by the Rust encoder, returning a real ``Tokenized`` equal to
mistral_common's.

The pydantic request is read attribute by attribute into the OpenAI form the native encoder takes
(the dicts are new, the strings are the request's own objects: nothing is copied on the Python
side). What the native path does not cover goes to mistral_common's own function, counted:

* a tokenizer in a validation mode other than ``test``, built in memory (no file), or assembled
  from parts that are not mistral_common's own classes;
* image and audio chunks (``Tokenized.images`` / ``.audios`` carry the decoded arrays);
* a request the native encoder rejects: mistral_common's function runs again to raise its own
  exception (class and message), which is what callers catch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from mistral_tok._integration import (
    Canary,
    Fallback,
    Layer,
    Verifier,
    context,
    installed_version,
)
from mistral_tok.layers import switches
from mistral_tok.layers.lazy_text import tokenized_with_lazy_text

NAME = "mistral_common"
MODULE = "mistral_common.tokens.tokenizers.mistral"
VERIFIED_VERSIONS = ("1.13.1",)

layer = Layer(NAME, original_name="mistral_common's own encode_chat_completion")

_native_tokenizers: dict[str, Any] = {}
_native_lock = threading.Lock()


class _Unsupported(Fallback):
    pass


def native_tokenizer(mistral_tokenizer: Any) -> Any:
    """The ``mistral_tok.Tokenizer`` of the file ``mistral_tokenizer`` was loaded from (cached on
    the instance); :class:`Fallback` when it is not one the native path serves exactly."""
    cached = mistral_tokenizer.__dict__.get("_mistral_tok_native")
    if cached is not None:
        if isinstance(cached, Fallback):
            raise cached
        return cached
    try:
        tok = _load_native(mistral_tokenizer)
    except Fallback as fb:
        mistral_tokenizer.__dict__["_mistral_tok_native"] = fb
        raise
    mistral_tokenizer.__dict__["_mistral_tok_native"] = tok
    return tok


def _is_mistral_commons(obj: Any) -> bool:
    return type(obj).__module__.startswith("mistral_common.")


def _load_native(mt: Any) -> Any:
    from mistral_common.protocol.instruct.validator import ValidationMode

    from mistral_tok import MistralTokError, Tokenizer

    validator = getattr(mt, "_chat_completion_request_validator", None)
    normalizer = getattr(mt, "_instruct_request_normalizer", None)
    instruct = getattr(mt, "instruct_tokenizer", None)
    text = getattr(instruct, "tokenizer", None)
    parts = (validator, normalizer, instruct, text)
    if any(p is None or not _is_mistral_commons(p) for p in parts):
        raise _Unsupported("a MistralTokenizer assembled from classes outside mistral_common")
    if getattr(validator, "_mode", None) != ValidationMode.test:
        raise _Unsupported(f"validation mode {getattr(validator, '_mode', None)!s} (not test)")
    try:
        path = text.file_path
    except Exception:  # noqa: BLE001 - Tekkenizer raises when it was built in memory
        raise _Unsupported("a tokenizer built in memory, without a file") from None
    key = str(path)
    with _native_lock:
        tok = _native_tokenizers.get(key)
        if tok is None:
            try:
                tok = Tokenizer.from_file(path)
            except (MistralTokError, OSError) as exc:
                raise _Unsupported(f"mistral-tok cannot load {path}: {exc}") from None
            _native_tokenizers[key] = tok
    version = getattr(text.version, "value", str(text.version))
    if version != f"v{tok.version}":
        raise _Unsupported(f"tokenizer version {version} is not the file's v{tok.version}")
    return tok


# ------------------------------------------------------------------------------------------------
# The pydantic request, read into the OpenAI form


def _chunks(content: Any) -> Any:
    from mistral_common.protocol.instruct.chunk import TextChunk, ThinkChunk

    if content is None or isinstance(content, str):
        return content
    out = []
    for chunk in content:
        kind = type(chunk)
        if kind is TextChunk:
            out.append({"type": "text", "text": chunk.text})
        elif kind is ThinkChunk:
            out.append({"type": "thinking", "thinking": chunk.thinking, "closed": chunk.closed})
        else:
            raise _Unsupported(f"a {kind.__name__} (its arrays come from mistral_common)")
    return out


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id,
            "type": getattr(call.type, "value", call.type),
            "function": {"name": call.function.name, "arguments": call.function.arguments},
        }
        for call in calls
    ]


def openai_form(request: Any) -> tuple[list[dict[str, Any]], Any, bool, dict[str, Any]]:
    """``(messages, tools, continue_final_message, fields)`` that ``from_openai`` would turn into
    ``request``; :class:`Fallback` for what the native path does not read."""
    from mistral_common.protocol.instruct.messages import (
        AssistantMessage,
        SystemMessage,
        ToolMessage,
        UserMessage,
    )

    messages: list[dict[str, Any]] = []
    continue_final_message = False
    last = len(request.messages) - 1
    for index, message in enumerate(request.messages):
        kind = type(message)
        if kind is UserMessage:
            messages.append({"role": "user", "content": _chunks(message.content)})
        elif kind is SystemMessage:
            messages.append({"role": "system", "content": _chunks(message.content)})
        elif kind is AssistantMessage:
            out: dict[str, Any] = {"role": "assistant", "content": _chunks(message.content)}
            if message.tool_calls is not None:
                out["tool_calls"] = _tool_calls(message.tool_calls)
            if message.prefix:
                if index != last:
                    raise _Unsupported("a prefix assistant message before the last message")
                continue_final_message = True
            messages.append(out)
        elif kind is ToolMessage:
            out = {
                "role": "tool",
                "content": _chunks(message.content),
                "tool_call_id": message.tool_call_id,
            }
            if message.name is not None:
                out["name"] = message.name
            messages.append(out)
        else:
            raise _Unsupported(f"a message of class {kind.__name__}")
    tools = None
    if request.tools is not None:
        tools = []
        for tool in request.tools:
            function = tool.function
            tools.append(
                {
                    "type": getattr(tool.type, "value", tool.type),
                    "function": {
                        "name": function.name,
                        "description": function.description,
                        "parameters": function.parameters,
                        "strict": function.strict,
                    },
                }
            )
    # The only request fields mistral_common's validator and encoder read (response_format: v15's
    # model settings carry its JSON schema).
    fields: dict[str, Any] = {"response_format": request.response_format.model_dump(by_alias=True)}
    if request.reasoning_effort is not None:
        fields["reasoning_effort"] = getattr(
            request.reasoning_effort, "value", request.reasoning_effort
        )
    if request.truncate_for_context_length:
        fields["truncate_for_context_length"] = True
    return messages, tools, continue_final_message, fields


# ------------------------------------------------------------------------------------------------
# The native answer


def _encode(tok: Any, messages: Any, tools: Any, cfm: bool, max_len: Any, fields: Any) -> Any:
    from mistral_tok import RequestError, UnsupportedFeatureError

    try:
        return tok.encode_chat(
            messages, tools, continue_final_message=cfm, max_model_input_len=max_len, **fields
        )
    except UnsupportedFeatureError:
        raise
    except RequestError:
        raise Fallback(
            "a request mistral-tok rejects (mistral_common's function raises its own error)"
        ) from None


def _prefix_ids(tok: Any, ids: list[int], messages: Any, tools: Any, fields: Any) -> list[int]:
    """``Tokenized.prefix_ids``: the final (prefix) assistant message's own tokens, the tail of
    ``ids``. Its length is what the request encodes to with and without that message (no
    truncation: it drops turns from the front only and keeps the last message)."""
    whole_fields = {k: v for k, v in fields.items() if k != "truncate_for_context_length"}
    whole = _encode(tok, messages, tools, True, None, whole_fields)
    try:
        before = _encode(tok, messages[:-1], tools, False, None, whole_fields)
    except Fallback:
        raise _Unsupported(
            "prefix_ids of a request whose earlier messages alone are invalid"
        ) from None
    n = len(whole) - len(before)
    if n < 0 or whole[: len(before)] != before or n > len(ids):
        raise _Unsupported("prefix_ids of this request (its turns do not encode independently)")
    return ids[len(ids) - n :]


def encode_natively(mistral_tokenizer: Any, request: Any, max_model_input_len: Any) -> Any:
    """The ``Tokenized`` mistral_common returns for ``request``, from the native encoder."""
    tok = native_tokenizer(mistral_tokenizer)
    messages, tools, cfm, fields = openai_form(request)
    ids = _encode(tok, messages, tools, cfm, max_model_input_len, fields)
    prefix = _prefix_ids(tok, ids, messages, tools, fields) if cfm else None
    return tokenized_with_lazy_text(
        ids, prefix, lambda: tok.decode(ids, special_token_policy="keep")
    )


# ------------------------------------------------------------------------------------------------
# Patch


def _canaries(mistral_tokenizer: Any) -> list[Canary]:
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    from mistral_tok._integration import canary_requests

    original = _original_method()
    out = []
    for canary in canary_requests.for_tokenizer(
        mistral_tokenizer, canary_requests.FROM_OPENAI_FIELDS
    ):
        messages, tools, fields = canary.arguments(template_flags=False)
        try:
            request = ChatCompletionRequest.from_openai(messages, tools, **fields)
        except Exception:  # noqa: BLE001 - a canary this version cannot even build is skipped
            continue
        out.append(
            Canary(
                canary.name,
                original=lambda r=request: original(mistral_tokenizer, r),
                native=lambda r=request: encode_natively(mistral_tokenizer, r, None),
            )
        )
    return out


def _label(mistral_tokenizer: Any) -> str:
    try:
        return str(mistral_tokenizer.instruct_tokenizer.tokenizer.file_path)
    except Exception:  # noqa: BLE001
        return f"MistralTokenizer at {id(mistral_tokenizer):#x}"


_originals: dict[str, Callable[..., Any]] = {}
_DEFAULT_POLICY = object()
# Whether pydantic requests are served natively (the layer is on); the method stays patched for
# the transformers layer's requests (see DeferredRequest) when only that layer is on.
_serving = False


class DeferredRequest:
    """What another layer passes to ``encode_chat_completion`` in place of a pydantic request it
    never built (the transformers layer: its raw conversation dicts go straight to the native
    encoder)."""

    def tokenized(self, mistral_tokenizer: Any) -> Any:
        raise NotImplementedError


def serving() -> bool:
    return _serving


def _original_method() -> Callable[..., Any]:
    return _originals["encode_chat_completion"]


def patched_encode_chat_completion(
    self: Any, request: Any, max_model_input_len: int | None = None
) -> Any:
    if isinstance(request, DeferredRequest):
        return request.tokenized(self)
    original = _original_method()
    if not _serving or context.layers_are_off():
        return original(self, request, max_model_input_len)
    return layer.call(
        lambda: original(self, request, max_model_input_len),
        lambda: encode_natively(self, request, max_model_input_len),
        self,
    )


patched_encode_chat_completion.__mistral_tok_patch__ = True  # type: ignore[attr-defined]


_POLICIES = frozenset({"ignore", "keep", "raise"})


def _decode_natively(mistral_tokenizer: Any, tokens: Any, policy: Any) -> str:
    from mistral_tok import MistralTokError

    name = getattr(policy, "value", policy)
    if type(tokens) is not list or name not in _POLICIES:
        raise _Unsupported("decode arguments other than a list of ids and a policy")
    tok = native_tokenizer(mistral_tokenizer)
    try:
        return str(tok.decode(tokens, special_token_policy=name))
    except (MistralTokError, TypeError, OverflowError):
        # mistral_common raises its own error (class and message) for these ids.
        raise _Unsupported("ids mistral_common's decode rejects") from None


def patched_decode(self: Any, tokens: Any, special_token_policy: Any = _DEFAULT_POLICY) -> Any:
    decode = _originals["decode"]
    given = () if special_token_policy is _DEFAULT_POLICY else (special_token_policy,)
    if not _serving or context.layers_are_off():
        return decode(self, tokens, *given)
    # mistral_common's default is SpecialTokenPolicy.IGNORE.
    policy = "ignore" if not given else special_token_policy
    return layer.call(
        lambda: decode(self, tokens, *given),
        lambda: _decode_natively(self, tokens, policy),
        self,
    )


patched_decode.__mistral_tok_patch__ = True  # type: ignore[attr-defined]


def patch_module(module: Any, *, serve: bool = True) -> list[str]:
    """Replace ``MistralTokenizer.encode_chat_completion`` in the imported ``module``; ``serve``:
    pydantic requests are served natively (else only other layers' deferred requests are)."""
    global _serving
    cls = module.MistralTokenizer
    current = cls.__dict__["encode_chat_completion"]
    if not getattr(current, "__mistral_tok_patch__", False):
        _originals["encode_chat_completion"] = current
        cls.encode_chat_completion = patched_encode_chat_completion
    if not serve or _serving:
        _serving = _serving or serve
        return []
    version = installed_version("mistral_common")
    unverified = (
        None
        if version in VERIFIED_VERSIONS
        else f"mistral_common {version} is not a verified version ({', '.join(VERIFIED_VERSIONS)})"
    )
    layer.verifier = Verifier(
        layer,
        policy=switches.verify_policy(NAME),
        needed=unverified,
        canaries=_canaries,
        label=_label,
    )
    _originals["decode"] = cls.__dict__["decode"]
    cls.decode = patched_decode
    _serving = True
    return ["mistral_common MistralTokenizer.encode_chat_completion", "MistralTokenizer.decode"]


def unpatch_module(module: Any) -> None:
    global _serving
    _serving = False
    for name in ("encode_chat_completion", "decode"):
        original = _originals.pop(name, None)
        if original is not None:
            setattr(module.MistralTokenizer, name, original)
