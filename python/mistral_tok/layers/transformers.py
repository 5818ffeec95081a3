"""The transformers layer: ``MistralCommonBackend.apply_chat_template`` (transformers 5.x) with
the raw conversation dicts encoded by the Rust encoder.

transformers' own ``apply_chat_template`` still runs: its argument checks, its batching, its
message adaptation and its output building (``tokenize``, ``return_dict``, padding, tensors) are
its own code. Only its two mistral_common calls change, inside a patched call: the name
``ChatCompletionRequest`` in transformers' module stands for a factory whose ``from_openai`` keeps
the OpenAI-form arguments (:class:`Deferred`, no pydantic model built), and mistral_common's
``encode_chat_completion`` (patched by :mod:`mistral_tok.layers.mistral_common`) answers a
:class:`Deferred` with the native ids.

Whatever the native path does not cover (image or audio chunks, whose arrays transformers
returns; a tokenizer the mistral_common layer does not serve) and every rejected request run
transformers' function again with every layer off, so the caller gets its exact result or
exception.
"""

from __future__ import annotations

import functools
import sys
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
from mistral_tok.layers import mistral_common as mc_layer
from mistral_tok.layers import switches

NAME = "transformers"
MODULE = "transformers.tokenization_mistral_common"
# transformers × mistral_common versions whose tests ran against this layer.
VERIFIED_VERSIONS = {"transformers": ("5.22.2",), "mistral_common": mc_layer.VERIFIED_VERSIONS}

layer = Layer(NAME, original_name="transformers' own apply_chat_template")

_DEFER = "transformers.native_tokenizer"
_originals: dict[str, Any] = {}

# Chunk types whose text the native encoder reads; anything else (images, audio) carries arrays
# that transformers returns, so the call goes to transformers' own function.
_TEXT_CHUNKS = frozenset({"text", "thinking"})


class _Rerun(Fallback):
    """Raised through transformers' function from inside a native call: run it again, all off."""


def _text_only(messages: Any) -> bool:
    for message in messages:
        if not isinstance(message, dict):
            return False
        content = message.get("content")
        if isinstance(content, list):
            for chunk in content:
                if not isinstance(chunk, dict) or chunk.get("type") not in _TEXT_CHUNKS:
                    return False
    return True


class Deferred(mc_layer.DeferredRequest):
    """``ChatCompletionRequest.from_openai``'s arguments, kept for the native encoder."""

    __slots__ = ("messages", "tools", "continue_final_message", "fields")

    def __init__(
        self, messages: Any, tools: Any, continue_final_message: Any, fields: dict[str, Any]
    ) -> None:
        self.messages = messages
        self.tools = tools
        self.continue_final_message = continue_final_message
        self.fields = fields

    def tokenized(self, mistral_tokenizer: Any) -> Any:
        from mistral_common.tokens.tokenizers.base import Tokenized

        from mistral_tok import RequestError, UnsupportedFeatureError

        tok = context.get(_DEFER)
        if tok is None or tok is not mc_layer.native_tokenizer(mistral_tokenizer):
            raise _Rerun("the tokenizer changed during the call")
        if not _text_only(self.messages):
            raise _Rerun("image or audio content (transformers returns their arrays)")
        try:
            ids = tok.encode_chat(
                self.messages,
                self.tools,
                continue_final_message=self.continue_final_message,
                **self.fields,
            )
        except UnsupportedFeatureError as exc:
            raise _Rerun(f"unsupported by mistral-tok: {exc}") from None
        except RequestError:
            raise _Rerun(
                "a request mistral-tok rejects (transformers' function raises its own error)"
            ) from None
        except (TypeError, OverflowError, RecursionError):
            raise _Rerun("input mistral-tok cannot read") from None
        return Tokenized.model_construct(tokens=ids, prefix_ids=None, images=[], audios=[])


class RequestFactory:
    """Stands for ``ChatCompletionRequest`` in transformers' module: inside a native call
    ``from_openai`` returns a :class:`Deferred`; everything else is the real class."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def from_openai(
        self, messages: Any, tools: Any = None, continue_final_message: Any = False, **kwargs: Any
    ) -> Any:
        if context.get(_DEFER) is None:
            return self._real.from_openai(messages, tools, continue_final_message, **kwargs)
        return Deferred(messages, tools, continue_final_message, kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._real(*args, **kwargs)


def _native_call(original: Callable[..., Any], backend: Any, args: Any, kwargs: Any) -> Any:
    tok = mc_layer.native_tokenizer(backend.tokenizer)
    with context.scoped(_DEFER, tok):
        return original(backend, *args, **kwargs)


def patched_apply_chat_template(self: Any, *args: Any, **kwargs: Any) -> Any:
    original = _originals["apply_chat_template"]
    if context.layers_are_off():
        return original(self, *args, **kwargs)
    return layer.call(
        lambda: original(self, *args, **kwargs),
        lambda: _native_call(original, self, args, kwargs),
        self,
    )


patched_apply_chat_template.__mistral_tok_patch__ = True  # type: ignore[attr-defined]


def _text_to_ids_natively(backend: Any, text: Any, add_special_tokens: Any) -> list[int]:
    from mistral_common.protocol.instruct.validator import ValidationMode

    if type(text) is not str or type(add_special_tokens) is not bool:
        raise Fallback("text or flags other than a str and a bool")
    tok = mc_layer.native_tokenizer(backend.tokenizer)
    add_eos = add_special_tokens and backend._mode == ValidationMode.finetuning
    return list(tok.encode(text, bos=add_special_tokens, eos=add_eos))


def patched_text_to_ids(self: Any, text: Any, add_special_tokens: Any) -> Any:
    """``encode`` / ``__call__`` on text: transformers' own code around the native ``encode``."""
    original = _originals["_text_to_ids"]
    if context.layers_are_off():
        return original(self, text, add_special_tokens)
    return layer.call(
        lambda: original(self, text, add_special_tokens),
        lambda: _text_to_ids_natively(self, text, add_special_tokens),
        self,
    )


patched_text_to_ids.__mistral_tok_patch__ = True  # type: ignore[attr-defined]


def _canaries(backend: Any) -> list[Canary]:
    from mistral_tok._integration import canary_requests

    original = _originals["apply_chat_template"]

    def call_original(canary: Any, tokenize: bool) -> Any:
        messages, keywords = _call_arguments(canary, tokenize)
        return original(backend, messages, **keywords)

    def call_native(canary: Any, tokenize: bool) -> Any:
        messages, keywords = _call_arguments(canary, tokenize)
        return _native_call(original, backend, (messages,), keywords)

    out = []
    for canary in canary_requests.for_tokenizer(
        backend.tokenizer, canary_requests.FROM_OPENAI_FIELDS
    ):
        for tokenize in (True, False):
            out.append(
                Canary(
                    f"{canary.name} (tokenize={tokenize})",
                    original=functools.partial(call_original, canary, tokenize),
                    native=functools.partial(call_native, canary, tokenize),
                )
            )
    return out


def _call_arguments(canary: Any, tokenize: bool) -> tuple[Any, dict[str, Any]]:
    """``apply_chat_template``'s conversation and keywords for one canary (a fresh copy)."""
    messages, tools, keywords = canary.arguments(template_flags=True)
    return messages, dict(keywords, tools=tools, tokenize=tokenize, return_dict=False)


def _label(backend: Any) -> str:
    return mc_layer._label(backend.tokenizer)


def _unverified() -> str | None:
    for distribution, versions in VERIFIED_VERSIONS.items():
        version = installed_version(distribution)
        if version not in versions:
            return f"{distribution} {version} is not a verified version ({', '.join(versions)})"
    return None


def patch_module(module: Any) -> list[str]:
    """Patch ``MistralCommonBackend.apply_chat_template`` in the imported ``module`` (transformers'
    ``tokenization_mistral_common``; mistral_common's module is patched by then, as this one
    imports it)."""
    cls = module.MistralCommonBackend
    current = cls.__dict__["apply_chat_template"]
    if getattr(current, "__mistral_tok_patch__", False):
        return []
    import mistral_common.tokens.tokenizers.mistral as mc_module

    mc_layer.patch_module(mc_module, serve=False)
    _originals["apply_chat_template"] = current
    _originals["ChatCompletionRequest"] = module.ChatCompletionRequest
    layer.verifier = Verifier(
        layer,
        policy=switches.verify_policy(NAME),
        needed=_unverified(),
        canaries=_canaries,
        label=_label,
    )
    module.ChatCompletionRequest = RequestFactory(module.ChatCompletionRequest)
    cls.apply_chat_template = patched_apply_chat_template
    _originals["_text_to_ids"] = cls.__dict__["_text_to_ids"]
    cls._text_to_ids = patched_text_to_ids
    return [
        "transformers MistralCommonBackend.apply_chat_template",
        "MistralCommonBackend._text_to_ids (encode, __call__ on text)",
    ]


def unpatch_module(module: Any) -> None:
    for name in ("apply_chat_template", "_text_to_ids"):
        original = _originals.pop(name, None)
        if original is not None:
            setattr(module.MistralCommonBackend, name, original)
    request = _originals.pop("ChatCompletionRequest", None)
    if request is not None:
        module.ChatCompletionRequest = request
    mc_module = sys.modules.get(mc_layer.MODULE)
    if mc_module is not None and not mc_layer.serving():
        mc_layer.unpatch_module(mc_module)
