"""vLLM 0.11.1 – 0.14.x: ``chat_utils.apply_mistral_chat_template``, awaited through
``OpenAIServing._apply_mistral_chat_template_async`` (a thread); the prompt is decoded on the loop
by ``_preprocess_chat`` (served here from the text the worker computed with the ids)."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

from mistral_tok._integration import Combination, Profile, Symbol
from mistral_tok.vllm import forwarding, shims
from mistral_tok.vllm.patching import (
    PatchReport,
    install_contract,
    on_restore,
    replace,
    track_instance,
)
from mistral_tok.vllm.profiles.serving import (
    CHAT_UTILS_SYMBOLS,
    REMOTE_IMAGE_FALLBACK,
    apply_sync,
    legacy_call,
    native_capable,
    patch_decode,
    patch_remote_images,
    replace_apply_mistral_chat_template,
)
from mistral_tok.vllm.shims import LAYER

SYMBOLS = (
    *CHAT_UTILS_SYMBOLS,
    Symbol("vllm.entrypoints.openai.serving_engine:OpenAIServing.__init__"),
    Symbol(
        "vllm.tokenizers.mistral:MistralTokenizer.apply_chat_template"
        " | vllm.transformers_utils.tokenizers.mistral:MistralTokenizer.apply_chat_template",
        "(self, messages, tools=…, **kwargs)",
    ),
    Symbol(
        "vllm.tokenizers.mistral:MistralTokenizer.decode"
        " | vllm.transformers_utils.tokenizers.mistral:MistralTokenizer.decode",
        "(self, ids, skip_special_tokens=…)",
    ),
)


def _make_apply_mistral_chat_template(original: Callable[..., Any], resolve: Callable) -> Any:
    @functools.wraps(original)
    def apply_mistral_chat_template(
        tokenizer: Any, messages: Any, chat_template: Any, tools: Any, **kwargs: Any
    ) -> Any:
        resolve(chat_template=chat_template, **kwargs)
        return apply_sync(original, tokenizer, messages, chat_template, tools, kwargs)

    apply_mistral_chat_template.__mistral_tok_original__ = original  # type: ignore[attr-defined]
    return apply_mistral_chat_template


class ServingAsync:
    """``OpenAIServing._apply_mistral_chat_template_async`` (0.11.1+): returns a started future,
    as ``make_async`` does; the prompt's decode is prepared on the worker too."""

    def __init__(
        self, original: Callable[..., Any], resolve: Callable, executor: Any, decode: bool
    ) -> None:
        self.original = original
        self.resolve = resolve
        self.executor = executor
        self.decode = decode

    def __call__(
        self, tokenizer: Any, messages: Any, chat_template: Any, tools: Any, **kwargs: Any
    ) -> Any:
        slot = remote = None
        if LAYER.mode == shims.NATIVE:
            remote = shims.remote_images_for(messages)
            if self.decode:
                slot = shims.DecodeSlot(tokenizer)
                shims.DECODE_SLOT.set(slot)
        return shims.schedule(
            self._run(tokenizer, messages, chat_template, tools, kwargs, slot, remote)
        )

    async def _run(self, tokenizer, messages, chat_template, tools, kwargs, slot, remote) -> Any:
        self.resolve(chat_template=chat_template, **kwargs)

        def original_async() -> Any:
            return shims.offload(
                self.executor, self.original, tokenizer, messages, chat_template, tools, **kwargs
            )

        image_sizes = None
        if remote is not None and await native_capable(tokenizer):
            image_sizes = await remote.sizes()
            if image_sizes is None:
                LAYER.stats.fallback(REMOTE_IMAGE_FALLBACK)
                return await original_async()

        on_text = None
        if slot is not None and shims.decode_offload_supported(tokenizer):

            def on_text(ids: Any, text: str) -> None:
                if isinstance(ids, list):
                    slot.ids, slot.text = ids, text

        return await shims.apply_async(
            original_async, tokenizer, messages, tools, dict(kwargs), on_text, image_sizes
        )


def patch(rep: PatchReport) -> None:
    chat_utils = importlib.import_module("vllm.entrypoints.chat_utils")
    original = chat_utils.apply_mistral_chat_template
    tok_mod = install_contract(legacy_call(original))
    resolve = chat_utils.resolve_mistral_chat_template
    shim = _make_apply_mistral_chat_template(original, resolve)
    replace_apply_mistral_chat_template(chat_utils, original, shim, rep)
    serving_engine = importlib.import_module("vllm.entrypoints.openai.serving_engine")

    cls = serving_engine.OpenAIServing
    original_init = cls.__init__

    def bind(serving: Any) -> None:
        # Whether vLLM's constructor made the async template function is seen on the instance.
        if "_apply_mistral_chat_template_async" not in vars(serving):
            LAYER.stats.log_once(30, "OpenAIServing has no _apply_mistral_chat_template_async")
            return
        executor = getattr(serving, "_tokenizer_executor", None)
        serving._apply_mistral_chat_template_async = ServingAsync(
            original, resolve, executor, decode=True
        )
        track_instance(serving)

    @functools.wraps(original_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        bind(self)

    try:
        from vllm.utils.async_utils import make_async  # type: ignore[import-not-found]
    except ImportError:  # 0.11.x
        from vllm.utils import make_async  # type: ignore[import-not-found]

    def restore(serving: Any) -> None:
        if isinstance(serving.__dict__.get("_apply_mistral_chat_template_async"), ServingAsync):
            serving._apply_mistral_chat_template_async = make_async(
                original, executor=getattr(serving, "_tokenizer_executor", None)
            )

    on_restore("serving", restore)
    replace(cls, "__init__", __init__, "OpenAIServing async path (mistral-tok worker)", rep)
    patch_decode(tok_mod.MistralTokenizer, rep)
    patch_remote_images(serving_engine, rep)


PROFILE = Profile(
    name="executor",
    summary="OpenAIServing._apply_mistral_chat_template_async (thread); prompt decode on the loop",
    first="0.11.1",
    last="0.14.1",
    symbols=SYMBOLS,
    patch=patch,
    forwarded=frozenset({"reasoning_effort"}),
    probe=forwarding.expect(forwarding.EXPLICIT_NONE, forwarding.EXPLICIT_REASONING_V15),
    verified=(
        Combination((("vllm", "0.14.1"), ("transformers", "4.57.*"), ("mistral-common", "1.13.1"))),
    ),
)
