"""vLLM 0.10.2 – 0.11.0: ``chat_utils.apply_mistral_chat_template`` called synchronously on the
event loop inside ``OpenAIServing._preprocess_chat``, validating the messages directly with
mistral_common (no transformers, every keyword ignored)."""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any

from mistral_tok._integration import Combination, Profile, Symbol
from mistral_tok.vllm import shims
from mistral_tok.vllm.patching import PatchReport, install_contract, replace
from mistral_tok.vllm.profiles.serving import (
    CHAT_UTILS_SYMBOLS,
    REMOTE_IMAGE_FALLBACK,
    apply_sync,
    legacy_call,
    patch_decode,
    patch_remote_images,
    replace_apply_mistral_chat_template,
)
from mistral_tok.vllm.shims import LAYER

SYMBOLS = (
    *CHAT_UTILS_SYMBOLS,
    Symbol(
        "vllm.entrypoints.openai.serving_engine:OpenAIServing._preprocess_chat",
        "(self, request, tokenizer, messages, chat_template, chat_template_content_format,"
        " add_generation_prompt=…, continue_final_message=…, tool_dicts=…, documents=…,"
        " chat_template_kwargs=…, tool_parser=…, add_special_tokens=…)",
    ),
    Symbol("vllm.transformers_utils.tokenizers.mistral:MistralTokenizer.decode"),
)


def patch(rep: PatchReport) -> None:
    """The call sits synchronously inside ``_preprocess_chat``: the wrapper computes the outcome
    on the worker first (on copies, so vLLM's own earlier steps see untouched messages), then
    runs vLLM's ``_preprocess_chat`` unchanged, whose synchronous template call and prompt decode
    are answered from what was computed. Net effect: upstream PR #26134, plus the decode."""
    chat_utils = importlib.import_module("vllm.entrypoints.chat_utils")
    original = chat_utils.apply_mistral_chat_template
    tok_mod = install_contract(legacy_call(original), probe=False)
    resolve = chat_utils.resolve_mistral_chat_template

    @functools.wraps(original)
    def apply_mistral_chat_template(
        tokenizer: Any, messages: Any, chat_template: Any, tools: Any, **kwargs: Any
    ) -> Any:
        resolve(chat_template=chat_template, **kwargs)
        pre = shims.PRECOMPUTED.get()
        if (
            pre is not None
            and pre.tokenizer is tokenizer
            and pre.messages is messages
            and pre.tools is tools
        ):
            shims.PRECOMPUTED.set(None)
            kind, value = pre.outcome
            if kind == "fallback":  # decided (and counted) before _preprocess_chat ran
                return original(tokenizer, messages, chat_template, tools, **kwargs)
            try:
                shims.legacy_fix_up(messages, tools)
            except Exception as exc:  # noqa: BLE001 - same error as the copy raised
                raise shims.vllm_error(exc) from exc
            if kind == "error":
                raise value
            return value
        return apply_sync(original, tokenizer, messages, chat_template, tools, kwargs)

    apply_mistral_chat_template.__mistral_tok_original__ = original  # type: ignore[attr-defined]
    replace_apply_mistral_chat_template(chat_utils, original, apply_mistral_chat_template, rep)
    serving_engine = importlib.import_module("vllm.entrypoints.openai.serving_engine")

    cls = serving_engine.OpenAIServing
    original_preprocess = cls._preprocess_chat
    signature = inspect.signature(original_preprocess)

    @functools.wraps(original_preprocess)
    async def _preprocess_chat(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            return await original_preprocess(self, *args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        tokenizer, messages = a.get("tokenizer"), a.get("messages")
        if LAYER.mode != shims.NATIVE or not LAYER.admits(tokenizer):
            return await original_preprocess(self, *args, **kwargs)
        await shims.ensure_native_async(tokenizer)
        try:
            native = shims.native_tokenizer(tokenizer)
        except shims.Fallback:
            return await original_preprocess(self, *args, **kwargs)
        preparsed = remote = None
        if shims.remote_image_urls(messages):
            preparsed, remote = _parse_ahead(serving_engine, self, a)
            if preparsed is None:  # vLLM's parse rejects the request: let it say so
                return await original_preprocess(self, *args, **kwargs)
        try:
            return await native_preprocess(self, args, kwargs, a, native, preparsed, remote)
        finally:
            if preparsed is not None:
                shims.PREPARSED.reset(preparsed)

    async def native_preprocess(self, args, kwargs, a, native, preparsed, remote) -> Any:
        tokenizer, messages = a.get("tokenizer"), a.get("messages")
        template_kwargs = dict(
            chat_template=a.get("chat_template"),
            add_generation_prompt=a.get("add_generation_prompt"),
            continue_final_message=a.get("continue_final_message"),
            tools=a.get("tool_dicts"),
            documents=a.get("documents"),
        )
        template_kwargs.update(a.get("chat_template_kwargs") or {})
        tools = template_kwargs.get("tools")
        policy = shims.legacy_decode_policy(tokenizer)
        texts: list[str | None] = []

        async def native_outcome() -> Any:
            image_sizes = None
            if remote is not None:
                image_sizes = await remote.sizes()
            if preparsed is not None and image_sizes is None:
                raise shims.Fallback(REMOTE_IMAGE_FALLBACK)
            plan = shims.plan_legacy(native, messages, tools, copy=True)
            plan.image_sizes = image_sizes
            plan.text_policy = policy  # the prompt decode below, from the worker
            ids = await shims.run_plan_async(plan)
            texts.append(plan.text)
            return ids

        try:
            outcome: tuple[str, Any] = ("ok", await LAYER.native_async(native_outcome))
        except shims.Fallback as fb:
            LAYER.stats.fallback(fb.reason)
            outcome = ("fallback", None)
        except ValueError as exc:
            outcome = ("error", exc)
        if outcome[0] == "ok":
            LAYER.stats.count("native")
            LAYER.stats.count("native_async")
        token = shims.PRECOMPUTED.set(shims.Precomputed(tokenizer, messages, tools, outcome))
        slot_token = None
        if outcome[0] == "ok" and texts and texts[0] is not None:
            slot = shims.DecodeSlot(tokenizer, skip_special_tokens=True)
            slot.ids, slot.text = outcome[1], texts[0]
            slot_token = shims.DECODE_SLOT.set(slot)
        try:
            return await original_preprocess(self, *args, **kwargs)
        finally:
            shims.PRECOMPUTED.reset(token)
            if slot_token is not None:
                shims.DECODE_SLOT.reset(slot_token)

    replace(
        cls,
        "_preprocess_chat",
        _preprocess_chat,
        "OpenAIServing._preprocess_chat (template + decode off the loop)",
        rep,
    )
    patch_decode(tok_mod.MistralTokenizer, rep)
    patch_remote_images(serving_engine, rep)


def _parse_ahead(serving_engine: Any, serving: Any, a: dict[str, Any]) -> tuple[Any, Any]:
    """vLLM 0.10.2-0.11.0: run ``_preprocess_chat``'s own first two steps (content format, parse)
    ahead of it, so that the shim can wait for vLLM's image fetches before the synchronous
    template call; vLLM's parse call then gets this result (``shims.PREPARSED``). Returns the
    contextvar token to reset and the request's ``RemoteImages``; ``(None, None)`` when the steps
    raise (vLLM's own call raises the same) or have another signature (not 0.11.0)."""
    messages, tokenizer = a.get("messages"), a.get("tokenizer")
    model_config = getattr(serving, "model_config", None)
    try:
        content_format = serving_engine.resolve_chat_template_content_format(
            a.get("chat_template"),
            a.get("tool_dicts"),
            a.get("chat_template_content_format"),
            tokenizer,
            model_config=model_config,
        )
        result = serving_engine.parse_chat_messages_futures(
            messages, model_config, tokenizer, content_format=content_format
        )
    except Exception:  # noqa: BLE001
        return None, None
    # vLLM's own parse call gets this result even without a RemoteImages (its coroutines must
    # not be created twice).
    return shims.PREPARSED.set((messages, result)), shims.remote_images_for(messages)


PROFILE = Profile(
    name="loop-template",
    summary="template and prompt decode on the event loop in _preprocess_chat",
    first="0.10.2",
    last="0.11.0",
    symbols=SYMBOLS,
    patch=patch,
    verified=(Combination((("vllm", "0.11.0"), ("mistral-common", "1.13.1"))),),
)
