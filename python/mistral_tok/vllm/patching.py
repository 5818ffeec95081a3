"""``patch()`` / ``unpatch()``: put the shims where the installed vLLM looks for its functions.

Every replacement is recorded as (owner, attribute, original) so ``unpatch()`` restores exactly what
was there; patching twice is a no-op that returns the current report.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

from mistral_tok.vllm import shims, versions
from mistral_tok.vllm.shims import STATE, Contract


@dataclass
class PatchReport:
    """What ``patch()`` did for the installed vLLM."""

    vllm_version: str | None
    profile: str | None
    mode: str
    patched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reason: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.patched)

    def __str__(self) -> str:
        if not self.patched:
            return f"mistral-tok: vLLM {self.vllm_version} left unpatched ({self.reason})"
        text = (
            f"mistral-tok: vLLM {self.vllm_version} ({self.profile}, mode={self.mode}) "
            f"patched {', '.join(self.patched)}"
        )
        if self.skipped:
            text += f"; not patched: {', '.join(self.skipped)}"
        return text


_lock = threading.RLock()
_undo: list[tuple[Any, str, Any]] = []
_report: PatchReport | None = None
# Instances whose bound async template function we replaced, to restore them on unpatch().
_instances: weakref.WeakSet[Any] = weakref.WeakSet()
_INSTANCE_RESTORE: dict[str, Callable[[Any], None]] = {}


def _set(owner: Any, name: str, value: Any, label: str, report: PatchReport) -> None:
    original = owner.__dict__[name] if name in vars(owner) else getattr(owner, name)
    _undo.append((owner, name, original))
    setattr(owner, name, value)
    report.patched.append(label)


def report() -> PatchReport | None:
    """The report of the patch in force, or ``None``."""
    return _report


def is_patched() -> bool:
    return _report is not None and _report.active


def patch(mode: str = shims.NATIVE, *, shadow_rate: float | None = None) -> PatchReport:
    """Install the shims into the installed vLLM. Idempotent; call ``unpatch()`` to undo.

    ``mode="shadow"`` serves vLLM's own results but also computes mistral-tok's on a sample
    (``shadow_rate``, default ``$MISTRAL_TOK_VLLM_SHADOW_RATE`` or 0.05) and logs differences.
    """
    global _report
    if mode not in (shims.NATIVE, shims.SHADOW):
        raise ValueError(f"mode must be {shims.NATIVE!r} or {shims.SHADOW!r}, not {mode!r}")
    with _lock:
        if _report is not None:
            if _report.mode != mode and _report.active:
                STATE.mode = mode
                _report.mode = mode
            return _report
        version = versions.installed_vllm_version()
        profile = versions.profile_for(version) if version else None
        rep = PatchReport(vllm_version=version, profile=profile, mode=mode)
        if version is None:
            rep.reason = "vLLM is not installed"
            return rep
        if profile is None:
            rep.reason = (
                f"vLLM {version} is not a version mistral-tok knows; its functions are kept"
            )
            return rep
        STATE.mode = mode
        STATE.shadow_rate = shims.env_shadow_rate() if shadow_rate is None else shadow_rate
        try:
            {
                versions.SYNC: _patch_sync,
                versions.EXECUTOR: _patch_executor,
                versions.RENDERER: _patch_renderer,
            }[profile](rep)
        except Exception as exc:
            _restore()
            rep.patched.clear()
            rep.reason = f"patching failed ({type(exc).__name__}: {exc})"
            STATE.contract = None
            return rep
        if not rep.patched:
            rep.reason = "nothing to patch"
        _report = rep
        return rep


def unpatch() -> None:
    """Restore every vLLM attribute ``patch()`` replaced. Idempotent."""
    global _report
    with _lock:
        _restore()
        _report = None
        STATE.contract = None
        STATE.mode = shims.NATIVE


def _restore() -> None:
    for instance in list(_instances):
        for restore in _INSTANCE_RESTORE.values():
            restore(instance)
    _instances.clear()
    _INSTANCE_RESTORE.clear()
    while _undo:
        owner, name, original = _undo.pop()
        setattr(owner, name, original)


def _transformers_major() -> int:
    try:
        from importlib.metadata import version

        return versions.parse_version(version("transformers"))[0]
    except Exception:  # noqa: BLE001
        return 0


def _tokenizer_module() -> Any:
    for name in ("vllm.tokenizers.mistral", "vllm.transformers_utils.tokenizers.mistral"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("vLLM's MistralTokenizer module was not found")


def _install_contract(rep: PatchReport) -> Any:
    module = _tokenizer_module()
    STATE.contract = Contract(module.MistralTokenizer, module, _transformers_major())
    return module


# ---------------------------------------------------------------------------------------------
# vLLM 0.16 - 0.33: MistralRenderer


def _patch_renderer(rep: PatchReport) -> None:
    _install_contract(rep)
    renderer_mod = importlib.import_module("vllm.renderers.mistral")

    from vllm.utils.async_utils import make_async  # type: ignore[import-not-found]

    original = renderer_mod.safe_apply_chat_template

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
    _set(
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
        _instances.add(renderer)

    @functools.wraps(original_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        bind(self)

    def restore(renderer: Any) -> None:
        executor = executor_of(renderer)
        if isinstance(renderer.__dict__.get("_apply_chat_template_async"), RendererAsync):
            renderer._apply_chat_template_async = make_async(original, executor=executor)

    _INSTANCE_RESTORE["renderer"] = restore
    _set(cls, "__init__", __init__, "MistralRenderer async path (mistral-tok worker)", rep)
    _patch_image_fetches(cls, rep)


def _media_connector() -> Any:
    for name in ("vllm.multimodal.media.connector", "vllm.multimodal.utils"):
        try:
            connector = getattr(importlib.import_module(name), "MediaConnector", None)
        except ImportError:
            continue
        if connector is not None:
            return connector
    return None


def _recording_fetch(fetch: Any, record: Callable[[Any, Any], None]) -> Any:
    """vLLM's synchronous ``MediaConnector.fetch_image``, handing ``record`` each URL and the
    image vLLM got for it."""

    @functools.wraps(fetch)
    def fetch_image(self: Any, image_url: Any, *args: Any, **kwargs: Any) -> Any:
        image = fetch(self, image_url, *args, **kwargs)
        record(image_url, image)
        return image

    return fetch_image


def _patch_image_fetches(renderer_cls: Any, rep: PatchReport) -> None:
    """Sizes of the http(s) images vLLM fetches while a ``MistralRenderer`` renders a request,
    for the template call that follows (``shims.record_fetched_image``)."""
    connector = _media_connector()
    fetch = getattr(connector, "fetch_image", None)
    fetch_async = getattr(connector, "fetch_image_async", None)
    render = getattr(renderer_cls, "render_messages", None)
    render_async = getattr(renderer_cls, "render_messages_async", None)
    if None in (fetch, fetch_async, render, render_async):
        rep.skipped.append("sizes of fetched images (vLLM's MediaConnector or renderer not found)")
        return

    fetch_image = _recording_fetch(fetch, shims.record_fetched_image)

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

    _set(connector, "fetch_image", fetch_image, "MediaConnector.fetch_image (sizes)", rep)
    _set(
        connector,
        "fetch_image_async",
        fetch_image_async,
        "MediaConnector.fetch_image_async (sizes)",
        rep,
    )
    _set(renderer_cls, "render_messages", render_messages, "MistralRenderer.render_messages", rep)
    _set(
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


# ---------------------------------------------------------------------------------------------
# vLLM 0.11.1 - 0.14.x: chat_utils.apply_mistral_chat_template + OpenAIServing's executor


_IMPORTERS = ("vllm.entrypoints.openai.serving_engine", "vllm.entrypoints.llm")


def _apply_sync(
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
    if parsed is not None and STATE.mode == shims.NATIVE:
        image_sizes = parsed.sizes()
        if image_sizes is None:
            STATE.fallback(REMOTE_IMAGE_FALLBACK)
            return fallback()
    return shims.apply_sync(
        fallback, tokenizer, messages, tools, dict(kwargs), image_sizes=image_sizes
    )


def _make_apply_mistral_chat_template(original: Callable[..., Any], resolve: Callable) -> Any:
    @functools.wraps(original)
    def apply_mistral_chat_template(
        tokenizer: Any, messages: Any, chat_template: Any, tools: Any, **kwargs: Any
    ) -> Any:
        resolve(chat_template=chat_template, **kwargs)
        return _apply_sync(original, tokenizer, messages, chat_template, tools, kwargs)

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
        if STATE.mode == shims.NATIVE:
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
        if remote is not None and await _native_capable(tokenizer):
            image_sizes = await remote.sizes()
            if image_sizes is None:
                STATE.fallback(REMOTE_IMAGE_FALLBACK)
                return await original_async()

        on_ids = None
        if slot is not None and shims.decode_offload_supported(tokenizer):

            async def on_ids(native: Any, ids: Any) -> None:
                if isinstance(ids, list):
                    text = await shims.decode_async(native, ids, "keep")
                    slot.ids, slot.text = ids, text

        return await shims.apply_async(
            original_async, tokenizer, messages, tools, dict(kwargs), on_ids, image_sizes
        )


REMOTE_IMAGE_FALLBACK = "remote image vLLM could not fetch or mistral-tok cannot vouch for"


async def _native_capable(tokenizer: Any) -> bool:
    await shims.ensure_native_async(tokenizer)
    try:
        shims.native_tokenizer(tokenizer)
    except shims.Fallback:
        return False
    return True


def _patch_remote_images(serving_engine: Any, rep: PatchReport) -> None:
    """vLLM <= 0.14: the http(s) images ``_preprocess_chat`` has vLLM fetch, for its template
    call (see ``shims.RemoteImages``): vLLM's parse hands out a shared task instead of its
    coroutine, and the fetches record what vLLM received."""
    connector = _media_connector()
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
        if STATE.mode != shims.NATIVE or not isinstance(result, tuple) or len(result) < 2:
            return result
        urls = shims.remote_image_urls(messages)
        if not urls:
            return result
        remote = shims.RemoteImages(messages, result[1], urls)
        shims.REMOTE_IMAGES.set(remote)
        return (result[0], remote, *result[2:])

    _set(
        connector,
        "fetch_image_async",
        fetch_image_async,
        "MediaConnector.fetch_image_async (remote images)",
        rep,
    )
    _set(
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

    fetch_image = _recording_fetch(fetch, shims.record_remote_image)

    @functools.wraps(parse)
    def parse_chat_messages(messages: Any, *args: Any, **kwargs: Any) -> Any:
        urls = shims.remote_image_urls(messages) if STATE.mode == shims.NATIVE else []
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

    _set(connector, "fetch_image", fetch_image, "MediaConnector.fetch_image (remote images)", rep)
    _set(
        chat_utils,
        "parse_chat_messages",
        parse_chat_messages,
        "chat_utils.parse_chat_messages (remote images)",
        rep,
    )
    module = sys.modules.get("vllm.entrypoints.llm")
    if module is not None and getattr(module, "parse_chat_messages", None) is parse:
        _set(
            module,
            "parse_chat_messages",
            parse_chat_messages,
            "vllm.entrypoints.llm.parse_chat_messages (remote images)",
            rep,
        )


def _replace_apply_mistral_chat_template(
    chat_utils: Any, original: Any, replacement: Any, rep: PatchReport
) -> None:
    """Rebinds ``apply_mistral_chat_template`` in ``chat_utils`` and in every module that
    imported the name (they hold their own reference to ``original``)."""
    _set(
        chat_utils,
        "apply_mistral_chat_template",
        replacement,
        "chat_utils.apply_mistral_chat_template",
        rep,
    )
    for name in _IMPORTERS:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "apply_mistral_chat_template", None) is original:
            _set(
                module,
                "apply_mistral_chat_template",
                replacement,
                f"{name}.apply_mistral_chat_template",
                rep,
            )


def _patch_executor(rep: PatchReport) -> None:
    tok_mod = _install_contract(rep)
    chat_utils = importlib.import_module("vllm.entrypoints.chat_utils")
    original = chat_utils.apply_mistral_chat_template
    resolve = chat_utils.resolve_mistral_chat_template
    shim = _make_apply_mistral_chat_template(original, resolve)
    _replace_apply_mistral_chat_template(chat_utils, original, shim, rep)
    serving_engine = importlib.import_module("vllm.entrypoints.openai.serving_engine")

    cls = serving_engine.OpenAIServing
    original_init = cls.__init__
    try:
        src = inspect.getsource(original_init)
    except (OSError, TypeError):  # no source shipped: rely on the version range
        src = "_apply_mistral_chat_template_async"
    if "_apply_mistral_chat_template_async" not in src:
        rep.skipped.append("OpenAIServing async path (not found)")
        return

    def bind(serving: Any) -> None:
        executor = getattr(serving, "_tokenizer_executor", None)
        serving._apply_mistral_chat_template_async = ServingAsync(
            original, resolve, executor, decode=True
        )
        _instances.add(serving)

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

    _INSTANCE_RESTORE["serving"] = restore
    _set(cls, "__init__", __init__, "OpenAIServing async path (mistral-tok worker)", rep)
    _patch_decode(tok_mod.MistralTokenizer, rep)
    _patch_remote_images(serving_engine, rep)


def _patch_decode(tokenizer_cls: Any, rep: PatchReport) -> None:
    original_decode = tokenizer_cls.decode
    param = inspect.signature(original_decode).parameters.get("skip_special_tokens")
    default_skip = bool(param.default) if param is not None else False

    @functools.wraps(original_decode)
    def decode(self: Any, ids: Any, *args: Any, **kwargs: Any) -> Any:
        if not args and (len(kwargs) == 0 or set(kwargs) == {"skip_special_tokens"}):
            skip = kwargs.get("skip_special_tokens", default_skip)
            text = shims.take_decoded(self, ids, skip)
            if text is not None:
                STATE.count("decode_offloaded")
                return text
        return original_decode(self, ids, *args, **kwargs)

    _set(
        tokenizer_cls,
        "decode",
        decode,
        "prompt decode in _preprocess_chat (mistral-tok worker)",
        rep,
    )


# ---------------------------------------------------------------------------------------------
# vLLM 0.10.2 - 0.11.0: the template runs synchronously inside _preprocess_chat


def _patch_sync(rep: PatchReport) -> None:
    """The call sits synchronously inside ``_preprocess_chat``: the wrapper computes the outcome
    on the worker first (on copies, so vLLM's own earlier steps see untouched messages), then
    runs vLLM's ``_preprocess_chat`` unchanged, whose synchronous template call and prompt decode
    are answered from what was computed. Net effect: upstream PR #26134, plus the decode."""
    tok_mod = _install_contract(rep)
    chat_utils = importlib.import_module("vllm.entrypoints.chat_utils")
    original = chat_utils.apply_mistral_chat_template
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
        return _apply_sync(original, tokenizer, messages, chat_template, tools, kwargs)

    apply_mistral_chat_template.__mistral_tok_original__ = original  # type: ignore[attr-defined]
    _replace_apply_mistral_chat_template(chat_utils, original, apply_mistral_chat_template, rep)
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
        if STATE.mode != shims.NATIVE:
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
        try:
            image_sizes = None
            if remote is not None:
                image_sizes = await remote.sizes()
            if preparsed is not None and image_sizes is None:
                raise shims.Fallback(REMOTE_IMAGE_FALLBACK)
            plan = shims.plan_legacy(native, messages, tools, copy=True)
            plan.image_sizes = image_sizes
            outcome: tuple[str, Any] = ("ok", await shims.run_plan_async(plan))
        except shims.Fallback as fb:
            STATE.fallback(fb.reason)
            outcome = ("fallback", None)
        except Exception as exc:  # noqa: BLE001
            reason = shims._native_failure_reason(exc)
            if reason is not None:
                STATE.fallback(reason)
                outcome = ("fallback", None)
            else:
                outcome = ("error", shims.vllm_error(exc))
        if outcome[0] == "ok":
            STATE.count("native")
            STATE.count("native_async")
        token = shims.PRECOMPUTED.set(shims.Precomputed(tokenizer, messages, tools, outcome))
        slot_token = None
        policy = shims.legacy_decode_policy(tokenizer)
        if outcome[0] == "ok" and policy is not None:
            slot = shims.DecodeSlot(tokenizer, skip_special_tokens=True)
            slot.ids, slot.text = outcome[1], await shims.decode_async(native, outcome[1], policy)
            slot_token = shims.DECODE_SLOT.set(slot)
        try:
            return await original_preprocess(self, *args, **kwargs)
        finally:
            shims.PRECOMPUTED.reset(token)
            if slot_token is not None:
                shims.DECODE_SLOT.reset(slot_token)

    _set(
        cls,
        "_preprocess_chat",
        _preprocess_chat,
        "OpenAIServing._preprocess_chat (template + decode off the loop)",
        rep,
    )
    _patch_decode(tok_mod.MistralTokenizer, rep)
    _patch_remote_images(serving_engine, rep)


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
