"""What the two OpenAIServing-era profiles (loop template ≤ 0.11.0, executor 0.11.1 – 0.14)
share: ``chat_utils.apply_mistral_chat_template`` rebinding, the prompt decode served from the
worker, and vLLM's remote-image fetches reused for image sizes."""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from typing import Any

from mistral_tok._integration import Symbol
from mistral_tok.vllm import shims
from mistral_tok.vllm.patching import PatchReport, media_connector, recording_fetch, replace
from mistral_tok.vllm.shims import LAYER

CHAT_UTILS_SYMBOLS = (
    Symbol(
        "vllm.entrypoints.chat_utils:apply_mistral_chat_template",
        "(tokenizer, messages, chat_template, tools, **kwargs)",
    ),
    Symbol(
        "vllm.entrypoints.chat_utils:resolve_mistral_chat_template", "(chat_template, **kwargs)"
    ),
)
_IMPORTERS = ("vllm.entrypoints.openai.serving_engine", "vllm.entrypoints.llm")


def apply_sync(
    original: Callable[..., Any],
    tokenizer: Any,
    messages: Any,
    chat_template: Any,
    tools: Any,
    kwargs: dict[str, Any],
) -> Any:
    """``apply_mistral_chat_template``'s answer from the shim, with vLLM's own as the fallback;
    remote images from what vLLM's synchronous parse just fetched (``LLM.chat``)."""
    fallback = functools.partial(original, tokenizer, messages, chat_template, tools, **kwargs)
    image_sizes = None
    parsed = shims.take_parsed_images(messages)
    if parsed is not None and LAYER.mode == shims.NATIVE:
        image_sizes = parsed.sizes()
        if image_sizes is None:
            LAYER.stats.fallback(REMOTE_IMAGE_FALLBACK)
            return fallback()
    return shims.apply_sync(
        fallback, tokenizer, messages, tools, dict(kwargs), image_sizes=image_sizes
    )


REMOTE_IMAGE_FALLBACK = "remote image vLLM could not fetch or mistral-tok cannot vouch for"


def legacy_call(original: Callable[..., Any]) -> Callable[..., Any]:
    """How canaries call vLLM's ``apply_mistral_chat_template`` (no chat template)."""

    def call_original(tokenizer: Any, messages: Any, tools: Any, kwargs: dict[str, Any]) -> Any:
        return original(tokenizer, messages, None, tools, **kwargs)

    return call_original


async def native_capable(tokenizer: Any) -> bool:
    await shims.ensure_native_async(tokenizer)
    try:
        shims.native_tokenizer(tokenizer)
    except shims.Fallback:
        return False
    return True


def patch_remote_images(serving_engine: Any, rep: PatchReport) -> None:
    """vLLM <= 0.14: the http(s) images ``_preprocess_chat`` has vLLM fetch, for its template
    call (see ``shims.RemoteImages``): vLLM's parse hands out a shared task instead of its
    coroutine, and the fetches record what vLLM received."""
    connector = media_connector()
    fetch_async = getattr(connector, "fetch_image_async", None)
    parse = getattr(serving_engine, "parse_chat_messages_futures", None)
    if fetch_async is None or parse is None:
        rep.skipped.append(
            "remote images (vLLM's MediaConnector or parse_chat_messages_futures not found)"
        )
        return

    @functools.wraps(fetch_async)
    async def fetch_image_async(self: Any, image_url: Any, *args: Any, **kwargs: Any) -> Any:
        image = await fetch_async(self, image_url, *args, **kwargs)
        shims.record_remote_image(image_url, image)
        return image

    @functools.wraps(parse)
    def parse_chat_messages_futures(messages: Any, *args: Any, **kwargs: Any) -> Any:
        pre = shims.PREPARSED.get()
        if pre is not None and pre[0] is messages:
            shims.PREPARSED.set(None)
            return pre[1]
        result = parse(messages, *args, **kwargs)
        if LAYER.mode != shims.NATIVE or not isinstance(result, tuple) or len(result) < 2:
            return result
        urls = shims.remote_image_urls(messages)
        if not urls:
            return result
        remote = shims.RemoteImages(messages, result[1], urls)
        shims.REMOTE_IMAGES.set(remote)
        return (result[0], remote, *result[2:])

    replace(
        connector,
        "fetch_image_async",
        fetch_image_async,
        "MediaConnector.fetch_image_async (remote images)",
        rep,
    )
    replace(
        serving_engine,
        "parse_chat_messages_futures",
        parse_chat_messages_futures,
        "serving_engine.parse_chat_messages_futures (remote images)",
        rep,
    )
    _patch_sync_parse(connector, rep)


def _patch_sync_parse(connector: Any, rep: PatchReport) -> None:
    """``LLM.chat`` (vLLM <= 0.14): its synchronous parse fetches every image before the template
    call; what the fetches returned is kept for that call (``shims.ParsedImages``)."""
    chat_utils = importlib.import_module("vllm.entrypoints.chat_utils")
    fetch = getattr(connector, "fetch_image", None)
    parse = getattr(chat_utils, "parse_chat_messages", None)
    if fetch is None or parse is None:
        rep.skipped.append("remote images in LLM.chat (vLLM's sync parse not found)")
        return

    fetch_image = recording_fetch(fetch, shims.record_remote_image)

    @functools.wraps(parse)
    def parse_chat_messages(messages: Any, *args: Any, **kwargs: Any) -> Any:
        urls = shims.remote_image_urls(messages) if LAYER.mode == shims.NATIVE else []
        if not urls:
            return parse(messages, *args, **kwargs)
        fetched: dict[str, Any] = {}
        token = shims.FETCHED_IMAGES.set(fetched)
        try:
            result = parse(messages, *args, **kwargs)
        finally:
            shims.FETCHED_IMAGES.reset(token)
        shims.PARSED_IMAGES.set(shims.ParsedImages(messages, urls, fetched))
        return result

    replace(
        connector, "fetch_image", fetch_image, "MediaConnector.fetch_image (remote images)", rep
    )
    replace(
        chat_utils,
        "parse_chat_messages",
        parse_chat_messages,
        "chat_utils.parse_chat_messages (remote images)",
        rep,
    )
    module = sys.modules.get("vllm.entrypoints.llm")
    if module is not None and getattr(module, "parse_chat_messages", None) is parse:
        replace(
            module,
            "parse_chat_messages",
            parse_chat_messages,
            "vllm.entrypoints.llm.parse_chat_messages (remote images)",
            rep,
        )


def replace_apply_mistral_chat_template(
    chat_utils: Any, original: Any, replacement: Any, rep: PatchReport
) -> None:
    """Rebinds ``apply_mistral_chat_template`` in ``chat_utils`` and in every module that
    imported the name (they hold their own reference to ``original``)."""
    replace(
        chat_utils,
        "apply_mistral_chat_template",
        replacement,
        "chat_utils.apply_mistral_chat_template",
        rep,
    )
    for name in _IMPORTERS:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "apply_mistral_chat_template", None) is original:
            replace(
                module,
                "apply_mistral_chat_template",
                replacement,
                f"{name}.apply_mistral_chat_template",
                rep,
            )


def patch_decode(tokenizer_cls: Any, rep: PatchReport) -> None:
    original_decode = tokenizer_cls.decode
    param = inspect.signature(original_decode).parameters.get("skip_special_tokens")
    default_skip = bool(param.default) if param is not None else False

    @functools.wraps(original_decode)
    def decode(self: Any, ids: Any, *args: Any, **kwargs: Any) -> Any:
        if not args and (len(kwargs) == 0 or set(kwargs) == {"skip_special_tokens"}):
            skip = kwargs.get("skip_special_tokens", default_skip)
            text = shims.take_decoded(self, ids, skip)
            if text is not None:
                LAYER.stats.count("decode_offloaded")
                return text
        return original_decode(self, ids, *args, **kwargs)

    replace(
        tokenizer_cls,
        "decode",
        decode,
        "prompt decode in _preprocess_chat (mistral-tok worker)",
        rep,
    )
