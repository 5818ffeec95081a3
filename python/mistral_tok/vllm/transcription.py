"""vLLM's ``/v1/audio/transcriptions`` (and translations) for Voxtral, with the prompts built
natively and off the event loop.

vLLM's async ``SpeechToTextBaseServing._preprocess_speech_to_text`` decodes the upload in its
preprocessing thread, then calls the synchronous classmethod ``model_cls.get_generation_prompt``
on the event loop once per chunk it cut (Voxtral's speech-to-text config turns vLLM's splitting
off: one call with the whole recording, which mistral_common pads to whole 30-second chunks).
Voxtral's (and Voxtral Realtime's) writes the audio as a PCM_16 WAV, base64-encodes it and has
mistral_common decode, pad and count it again: the loop is blocked for the whole of it.

Here, when the serving object's model class is exactly ``VoxtralForConditionalGeneration`` or
``VoxtralRealtimeGeneration``, the request runs vLLM's own ``_preprocess_speech_to_text`` in a
context holding a :class:`Pending` request. vLLM's own decode (the serving object's
``_decode_and_chunk_speech_async``, wrapped once per object) is followed by the native prompt
of every chunk, awaited from mistral-tok's worker thread, which reads the samples in place
(:func:`mistral_tok.voxtral_vllm.generation_prompt_async`); the patched ``get_generation_prompt``
then hands vLLM the prompt built for that very chunk (same array object, same language, same
configs) and calls vLLM's own code for anything else. Prompts and arrays are the ones vLLM's code
builds, bit for bit (soundfile's PCM_16 quantization is reproduced).

A chunk the native path does not take (not a 1-D float32 array, a rate that is not a whole
number, a request mistral-tok refuses or does not cover) gets vLLM's own ``get_generation_prompt``,
which answers or raises exactly as unpatched. Counters: ``mistral_tok.vllm.stats()
["transcription"]``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from mistral_tok._integration import NATIVE, Fallback, Layer, context

_MISSING = object()


def same_prompt(theirs: tuple[str, Any], ours: tuple[str, Any]) -> bool:
    """Same ``TokensPrompt``: ids, and the audio arrays bit for bit (dtype, shape, bytes) with
    the same rates; or both an error (vLLM's caller sees a failed request either way)."""
    if theirs[0] == ours[0] == "error":
        return True
    if not theirs[0] == ours[0] == "ok":
        return False
    a, b = theirs[1], ours[1]
    if not (isinstance(a, dict) and isinstance(b, dict)) or a.keys() != b.keys():
        return False
    if list(a.get("prompt_token_ids", ())) != list(b.get("prompt_token_ids", ())):
        return False
    rest_a = {k: v for k, v in a.items() if k not in ("prompt_token_ids", "multi_modal_data")}
    rest_b = {k: v for k, v in b.items() if k not in ("prompt_token_ids", "multi_modal_data")}
    if rest_a != rest_b:
        return False
    return _same_media(a.get("multi_modal_data"), b.get("multi_modal_data"))


def _same_media(a: Any, b: Any) -> bool:
    import numpy as np

    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and a.tobytes() == b.tobytes()
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_media(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(_same_media(x, y) for x, y in zip(a, b, strict=True))
        )
    return type(a) is type(b) and bool(a == b)


LAYER = Layer(
    "vllm.transcription",
    original_name="vLLM's own Voxtral get_generation_prompt",
    same=same_prompt,
    stat_keys=("chunks_native", "chunks_original"),
)

# Voxtral's model classes -> the ``streaming`` mode their ``get_generation_prompt`` passes to
# mistral_common, and vLLM's own function (set by the profile's patch).
ORIGINALS: dict[type, Callable[..., Any]] = {}
STREAMING: dict[type, str] = {}
# How vLLM gets the tokenizer of a model config (``cached_tokenizer_from_config`` as the Voxtral
# module imported it) and builds a prompt (``TokensPrompt``); set by the profile's patch.
HOST: dict[str, Callable[..., Any]] = {}

PENDING = context.Slot("vllm.transcription")


class _Models:
    """Voxtral's model classes, patched the first time a serving object of one of their modules
    serves a request (the profile's ``patch_models``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.modules: tuple[str, ...] = ()
        self.patch: Callable[[Any], str | None] | None = None

    def arm(self, modules: tuple[str, ...], patch: Callable[[Any], str | None]) -> None:
        self.modules, self.patch = modules, patch

    def ensure(self, model_cls: type) -> None:
        if model_cls in STREAMING or getattr(model_cls, "__module__", None) not in self.modules:
            return
        from mistral_tok.vllm.patching import report

        with self.lock:
            patch, self.patch = self.patch, None
            rep = report()
            if patch is None or rep is None:
                return
            problem = patch(rep)
        if problem is not None:
            LAYER.stats.log_once(logging.WARNING, f"Voxtral's prompt left to vLLM: {problem}")

    def forget(self) -> None:
        self.modules, self.patch = (), None


MODELS = _Models()


def forget() -> None:
    """``unpatch()``: vLLM's functions are back; nothing of theirs is kept."""
    ORIGINALS.clear()
    STREAMING.clear()
    HOST.clear()
    MODELS.forget()
    LAYER.mode = NATIVE
    LAYER.verifier = None


class Pending:
    """One ``_preprocess_speech_to_text`` call: the native prompt of each chunk vLLM decoded,
    keyed by the chunk object itself (vLLM hands the same array to ``get_generation_prompt``)."""

    __slots__ = ("serving", "model_cls", "request", "prompts", "decoded")

    def __init__(self, serving: Any, model_cls: type, request: Any) -> None:
        self.serving = serving
        self.model_cls = model_cls
        self.request = request
        # id(chunk) -> (chunk, language, prompt)
        self.prompts: dict[int, tuple[Any, Any, Any]] = {}
        self.decoded = False

    def take(self, params: Any) -> Any:
        """The native prompt for ``params`` if it is exactly what it was built for, else None."""
        entry = self.prompts.get(id(getattr(params, "audio", None)))
        if entry is None:
            return None
        chunk, language, prompt = entry
        serving = self.serving
        if (
            params.audio is not chunk
            or getattr(params, "language", _MISSING) != language
            or getattr(params, "stt_config", None) is not getattr(serving, "asr_config", _MISSING)
            or getattr(params, "model_config", None)
            is not getattr(serving, "model_config", _MISSING)
        ):
            return None
        del self.prompts[id(chunk)]
        return prompt


def voxtral_class(serving: Any) -> type | None:
    """The serving object's model class when it is exactly one of Voxtral's (subclasses may
    change the prompt) and still carries the patched ``get_generation_prompt``."""
    model_cls = serving.model_cls
    MODELS.ensure(model_cls)
    if model_cls not in STREAMING:
        return None
    if getattr(model_cls, "supports_explicit_language_detection", False):
        return None  # the language would be known only after the decode
    return model_cls


def wrap_preprocess(original: Callable[..., Any]) -> Callable[..., Any]:
    """``SpeechToTextBaseServing._preprocess_speech_to_text``: vLLM's own, in a context where
    the decode is followed by the native prompts (Voxtral only)."""

    @functools.wraps(original)
    async def _preprocess_speech_to_text(
        self: Any, request: Any, audio_data: Any, request_id: Any, *args: Any, **kwargs: Any
    ) -> Any:
        model_cls = None
        if not args and not kwargs and LAYER.mode == NATIVE and not context.layers_are_off():
            model_cls = voxtral_class(self)
        if model_cls is None or not _hook_decode(self):
            return await original(self, request, audio_data, request_id, *args, **kwargs)
        token = PENDING.set(Pending(self, model_cls, request))
        try:
            return await original(self, request, audio_data, request_id)
        finally:
            PENDING.reset(token)

    return _preprocess_speech_to_text


class DecodeThenPrompts:
    """A serving object's ``_decode_and_chunk_speech_async`` (vLLM's decode in its preprocessing
    thread), followed, inside a :class:`Pending` request, by the native prompts of the chunks."""

    def __init__(self, original: Callable[..., Any]) -> None:
        self.original = original

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = await self.original(*args, **kwargs)
        pending = PENDING.get()
        if pending is not None and not pending.decoded:
            pending.decoded = True
            await _build_prompts(pending, result)
        return result


def _hook_decode(serving: Any) -> bool:
    current = serving.__dict__.get("_decode_and_chunk_speech_async")
    if isinstance(current, DecodeThenPrompts):
        return True
    if current is None or not callable(current):
        LAYER.stats.fallback("serving object without _decode_and_chunk_speech_async")
        return False
    from mistral_tok.vllm.patching import track_instance

    serving._decode_and_chunk_speech_async = DecodeThenPrompts(current)
    track_instance(serving)
    return True


def restore(instance: Any) -> None:
    """``unpatch()``: the serving object's own decode awaitable back."""
    hook = instance.__dict__.get("_decode_and_chunk_speech_async")
    if isinstance(hook, DecodeThenPrompts):
        instance._decode_and_chunk_speech_async = hook.original


def _native_tokenizer(serving: Any) -> Any:
    """On mistral-tok's thread: vLLM's tokenizer for the model (as Voxtral looks it up) and the
    ``mistral_tok.Tokenizer`` of its file (loaded once)."""
    from mistral_tok.vllm import shims

    tokenizer = HOST["tokenizer"](serving.model_config)
    return shims.native_tokenizer(tokenizer)


async def _build_prompts(pending: Pending, decoded: Any) -> None:
    serving = pending.serving
    if not LAYER.admits(serving):
        return  # before the canaries' verdict, or refused by them: vLLM's own code
    try:
        chunks = _chunks(decoded)
        language = getattr(pending.request, "language", None)
        if language is not None and not isinstance(language, str):
            raise Fallback("language that is not a str")
        rate = serving.asr_config.sample_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or int(rate) != rate:
            raise Fallback("sample rate that is not a whole number")
        loop = asyncio.get_running_loop()
        native = await loop.run_in_executor(LAYER.executor(), _native_tokenizer, serving)
    except Fallback as fb:
        LAYER.stats.fallback(fb.reason)
        return
    from mistral_tok import MistralTokError
    from mistral_tok.voxtral_vllm import generation_prompt_async

    streaming = STREAMING[pending.model_cls]
    for chunk in chunks:
        try:
            built = await generation_prompt_async(
                native, chunk, rate, language, streaming=streaming
            )
        except MistralTokError as exc:
            # Refused or not covered: vLLM's own code answers for this chunk (or raises).
            LAYER.stats.fallback(f"chunk not built natively ({type(exc).__name__})")
            continue
        if built is None:
            LAYER.stats.fallback("chunk that is not a 1-D float32 array")
            continue
        pending.prompts[id(chunk)] = (chunk, language, make_prompt(pending.model_cls, *built))


def _chunks(decoded: Any) -> list[Any]:
    if not (isinstance(decoded, tuple) and len(decoded) == 2 and isinstance(decoded[0], list)):
        raise Fallback("decode result that is not (chunks, duration)")
    return decoded[0]


def make_prompt(model_cls: type, ids: list[int], audios: list[tuple[Any, Any]]) -> Any:
    """What Voxtral's ``get_generation_prompt`` returns: the list of ``(array, rate)`` pairs, or
    (Voxtral Realtime, streaming offline) the first pair alone."""
    audio: Any = audios[0] if STREAMING[model_cls] == "offline" else audios
    return HOST["prompt"](prompt_token_ids=ids, multi_modal_data={"audio": audio})


def wrap_get_generation_prompt(model_cls: type, function: Callable[..., Any]) -> classmethod:
    """``model_cls.get_generation_prompt``: the prompt built for this chunk inside a
    :class:`Pending` request, else vLLM's own ``function``."""

    def get_generation_prompt(cls: Any, *args: Any, **kwargs: Any) -> Any:
        pending = PENDING.get()
        if pending is not None and cls is pending.model_cls:
            if len(args) == 1 and not kwargs:
                params = args[0]
            elif not args and kwargs.keys() == {"stt_params"}:
                params = kwargs["stt_params"]
            else:
                params = None
            prompt = pending.take(params) if params is not None else None
            if prompt is not None:
                LAYER.stats.count("chunks_native")
                return prompt
            LAYER.stats.count("chunks_original")
        return function(cls, *args, **kwargs)

    get_generation_prompt.__wrapped__ = function  # type: ignore[attr-defined]
    get_generation_prompt.__name__ = "get_generation_prompt"
    get_generation_prompt.__qualname__ = f"{model_cls.__name__}.get_generation_prompt"
    get_generation_prompt.__doc__ = function.__doc__
    return classmethod(get_generation_prompt)


def native_prompt(serving: Any, params: Any) -> Any:
    """Synchronously, what the patch serves for ``params`` on ``serving`` (canaries compare it
    with vLLM's own function)."""
    from mistral_tok.voxtral_vllm import generation_prompt

    model_cls = serving.model_cls
    native = _native_tokenizer(serving)
    built = generation_prompt(
        native,
        params.audio,
        params.stt_config.sample_rate,
        params.language,
        streaming=STREAMING[model_cls],
    )
    if built is None:
        raise Fallback("chunk that is not a 1-D float32 array")
    return make_prompt(model_cls, *built)
