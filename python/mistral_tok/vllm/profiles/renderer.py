"""vLLM 0.16 – 0.33: ``vllm.renderers.mistral.safe_apply_chat_template`` + ``MistralRenderer``.

vLLM awaits the template through ``MistralRenderer._apply_chat_template_async`` (its function in
its executor); the shim serves it from mistral-tok's worker. vLLM's ``MistralTokenizer`` hands
transformers only ``reasoning_effort``, and only for V15+ tokenizers from 0.18 on: the forwarding
probe observes which (0.18 – 0.20.2 were served without it before the probe existed).
"""

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
    media_connector,
    on_restore,
    recording_fetch,
    replace,
    track_instance,
)

SYMBOLS = (
    Symbol("vllm.renderers.mistral:safe_apply_chat_template", "(tokenizer, messages, **kwargs)"),
    Symbol("vllm.renderers.mistral:MistralRenderer.__init__", "(self, config, tokenizer)"),
    Symbol("vllm.renderers.mistral:MistralRenderer.render_messages", "(self, messages, params)"),
    Symbol(
        "vllm.renderers.mistral:MistralRenderer.render_messages_async", "(self, messages, params)"
    ),
    Symbol(
        "vllm.tokenizers.mistral:MistralTokenizer.apply_chat_template",
        "(self, messages, tools=…, **kwargs)",
    ),
    Symbol("vllm.utils.async_utils:make_async", "(func, executor=…)"),
)


def patch(rep: PatchReport) -> None:
    renderer_mod = importlib.import_module("vllm.renderers.mistral")

    from vllm.utils.async_utils import make_async  # type: ignore[import-not-found]

    original = renderer_mod.safe_apply_chat_template

    def call_original(tokenizer: Any, messages: Any, tools: Any, kwargs: dict[str, Any]) -> Any:
        extra = {} if tools is None else {"tools": tools}
        return original(tokenizer, messages, **extra, **kwargs)

    install_contract(call_original)

    @functools.wraps(original)
    def safe_apply_chat_template(tokenizer: Any, messages: Any, **kwargs: Any) -> Any:
        tools = kwargs.get("tools")
        plan_kwargs = {k: v for k, v in kwargs.items() if k != "tools"}
        return shims.apply_sync(
            functools.partial(original, tokenizer, messages, **kwargs),
            tokenizer,
            messages,
            tools,
            plan_kwargs,
            image_sizes=shims.fetched_image_sizes(),
        )

    safe_apply_chat_template.__mistral_tok_original__ = original  # type: ignore[attr-defined]
    replace(
        renderer_mod,
        "safe_apply_chat_template",
        safe_apply_chat_template,
        "vllm.renderers.mistral.safe_apply_chat_template",
        rep,
    )

    cls = renderer_mod.MistralRenderer
    original_init = cls.__init__

    def executor_of(renderer: Any) -> Any:
        for name in ("_executor", "_apply_chat_template_executor"):
            if hasattr(renderer, name):
                return getattr(renderer, name)
        return None

    def bind(renderer: Any) -> None:
        executor = executor_of(renderer)
        if executor is None or not hasattr(renderer, "_apply_chat_template_async"):
            return
        renderer._apply_chat_template_async = RendererAsync(original, executor)
        track_instance(renderer)

    @functools.wraps(original_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        bind(self)

    def restore(renderer: Any) -> None:
        executor = executor_of(renderer)
        if isinstance(renderer.__dict__.get("_apply_chat_template_async"), RendererAsync):
            renderer._apply_chat_template_async = make_async(original, executor=executor)

    on_restore("renderer", restore)
    replace(cls, "__init__", __init__, "MistralRenderer async path (mistral-tok worker)", rep)
    _patch_image_fetches(cls, rep)


def _patch_image_fetches(renderer_cls: Any, rep: PatchReport) -> None:
    """Sizes of the http(s) images vLLM fetches while a ``MistralRenderer`` renders a request,
    for the template call that follows (``shims.record_fetched_image``)."""
    connector = media_connector()
    fetch = getattr(connector, "fetch_image", None)
    fetch_async = getattr(connector, "fetch_image_async", None)
    render = getattr(renderer_cls, "render_messages", None)
    render_async = getattr(renderer_cls, "render_messages_async", None)
    if None in (fetch, fetch_async, render, render_async):
        rep.skipped.append("sizes of fetched images (vLLM's MediaConnector or renderer not found)")
        return

    fetch_image = recording_fetch(fetch, shims.record_fetched_image)

    @functools.wraps(fetch_async)
    async def fetch_image_async(self: Any, image_url: Any, *args: Any, **kwargs: Any) -> Any:
        image = await fetch_async(self, image_url, *args, **kwargs)
        await shims.record_fetched_image_async(image_url, image)
        return image

    @functools.wraps(render)
    def render_messages(self: Any, *args: Any, **kwargs: Any) -> Any:
        with shims.collecting_image_sizes():
            return render(self, *args, **kwargs)

    @functools.wraps(render_async)
    async def render_messages_async(self: Any, *args: Any, **kwargs: Any) -> Any:
        with shims.collecting_image_sizes():
            return await render_async(self, *args, **kwargs)

    replace(connector, "fetch_image", fetch_image, "MediaConnector.fetch_image (sizes)", rep)
    replace(
        connector,
        "fetch_image_async",
        fetch_image_async,
        "MediaConnector.fetch_image_async (sizes)",
        rep,
    )
    replace(
        renderer_cls, "render_messages", render_messages, "MistralRenderer.render_messages", rep
    )
    replace(
        renderer_cls,
        "render_messages_async",
        render_messages_async,
        "MistralRenderer.render_messages_async",
        rep,
    )


class RendererAsync:
    """``MistralRenderer._apply_chat_template_async``: same call, same awaitable, no vLLM thread."""

    def __init__(self, original: Callable[..., Any], executor: Any) -> None:
        self.original = original
        self.executor = executor

    def __call__(self, tokenizer: Any, messages: Any, **kwargs: Any) -> Any:
        tools = kwargs.get("tools")
        plan_kwargs = {k: v for k, v in kwargs.items() if k != "tools"}

        def original_async() -> Any:
            return shims.offload(self.executor, self.original, tokenizer, messages, **kwargs)

        return shims.schedule(
            shims.apply_async(
                original_async,
                tokenizer,
                messages,
                tools,
                plan_kwargs,
                image_sizes=shims.fetched_image_sizes(),
            )
        )


PROFILE = Profile(
    name="renderer",
    summary="MistralRenderer; reasoning_effort forwarded for V15+ (0.18+) as the probe observes",
    first="0.16.0",
    last="0.33.0",
    symbols=SYMBOLS,
    patch=patch,
    forwarded=frozenset({"reasoning_effort"}),
    probe=forwarding.expect(forwarding.EXPLICIT_NONE, forwarding.EXPLICIT_REASONING_V15),
    verified=(
        Combination((("vllm", "0.33.0"), ("transformers", "5.20.*"), ("mistral-common", "1.13.1"))),
    ),
)
