"""vLLM 0.33 – 0.34: ``/v1/audio/transcriptions`` (and translations) for Voxtral and Voxtral
Realtime, prompts built natively off the event loop (:mod:`mistral_tok.vllm.transcription`).

``SpeechToTextBaseServing._preprocess_speech_to_text`` awaits ``_decode_and_chunk_speech_async``
(an instance attribute made in ``__init__``), then calls ``model_cls.get_generation_prompt(
stt_params)`` per chunk on the event loop; Voxtral's reads ``audio``, ``stt_config.sample_rate``,
``model_config`` (its tokenizer through ``cached_tokenizer_from_config``, ``model``) and
``language`` only. This contract is its own registry (:data:`profiles.SPEECH_TO_TEXT`), selected
and verified apart from the chat template's.
"""

from __future__ import annotations

import importlib

from mistral_tok._integration import Combination, Profile, Symbol
from mistral_tok.vllm.patching import PatchReport, on_restore, replace

_SERVING = "vllm.entrypoints.speech_to_text.base.serving:SpeechToTextBaseServing"
_VOXTRAL = "vllm.model_executor.models.voxtral"
_REALTIME = "vllm.model_executor.models.voxtral_realtime"

SYMBOLS = (
    Symbol(f"{_SERVING}._preprocess_speech_to_text", "(self, request, audio_data, request_id)"),
    Symbol(f"{_SERVING}._decode_and_chunk_speech", "(self, audio_data)"),
    Symbol("vllm.config.speech_to_text:SpeechToTextParams"),
)
# Checked and patched at the first request a Voxtral model serves (importing the model modules
# at start-up would cost every vLLM process ~1 s, Voxtral or not).
MODEL_SYMBOLS = (
    Symbol(f"{_VOXTRAL}:VoxtralForConditionalGeneration.get_generation_prompt", "(stt_params)"),
    Symbol(f"{_REALTIME}:VoxtralRealtimeGeneration.get_generation_prompt", "(stt_params)"),
    Symbol(f"{_VOXTRAL}:cached_tokenizer_from_config", "(model_config, **kwargs)"),
    Symbol(f"{_VOXTRAL}:TokensPrompt"),
)


def patch(rep: PatchReport) -> None:
    from mistral_tok.vllm import transcription

    serving_mod = importlib.import_module(_SERVING.partition(":")[0])
    cls = serving_mod.SpeechToTextBaseServing
    transcription.MODELS.arm((_VOXTRAL, _REALTIME), patch_models)
    on_restore("transcription", transcription.restore)
    replace(
        cls,
        "_preprocess_speech_to_text",
        transcription.wrap_preprocess(cls._preprocess_speech_to_text),
        "SpeechToTextBaseServing._preprocess_speech_to_text (Voxtral prompts on the worker)",
        rep,
    )


def patch_models(rep: PatchReport) -> str | None:
    """Voxtral's two ``get_generation_prompt``s, when a Voxtral model first serves a request;
    the difference from :data:`MODEL_SYMBOLS` when they do not match (then none is patched)."""
    from mistral_tok.vllm import transcription

    problems = [p for symbol in MODEL_SYMBOLS if (p := symbol.check()) is not None]
    if problems:
        return problems[0]
    voxtral = importlib.import_module(_VOXTRAL)
    realtime = importlib.import_module(_REALTIME)
    transcription.HOST["tokenizer"] = voxtral.cached_tokenizer_from_config
    transcription.HOST["prompt"] = voxtral.TokensPrompt
    for model_cls, streaming in (
        (voxtral.VoxtralForConditionalGeneration, "disabled"),
        (realtime.VoxtralRealtimeGeneration, "offline"),
    ):
        function = model_cls.__dict__["get_generation_prompt"].__func__
        transcription.ORIGINALS[model_cls] = function
        transcription.STREAMING[model_cls] = streaming
        replace(
            model_cls,
            "get_generation_prompt",
            transcription.wrap_get_generation_prompt(model_cls, function),
            f"{model_cls.__name__}.get_generation_prompt (native prompts)",
            rep,
        )
    return None


def _combination(vllm: str, transformers: str) -> Combination:
    return Combination(
        (("vllm", vllm), ("transformers", transformers), ("mistral-common", "1.13.1"))
    )


PROFILE = Profile(
    name="speech-to-text",
    summary="Voxtral / Voxtral Realtime transcription prompts: native, awaited from the worker "
    "after vLLM's decode (SpeechToTextBaseServing._preprocess_speech_to_text)",
    first="0.33.0",
    last="0.34.0",
    symbols=SYMBOLS,
    patch=patch,
    verified=(_combination("0.33.0", "5.20.*"), _combination("0.34.0", "5.22.*")),
)
