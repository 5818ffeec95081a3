"""The chunks a Voxtral serving object's self-verification sends through vLLM's own
``get_generation_prompt`` and through mistral-tok (:mod:`mistral_tok.vllm.transcription`), on a
vLLM × transformers × mistral_common combination nobody verified: silence, noise, clipping, one
sample, a chunk longer than the tokenizer's chunk length, languages, and the request fields
Voxtral's prompt ignores on the verified versions (prompt, hotwords, translation), so that a
release whose prompt starts reading them is caught. Each side gets its own
``SpeechToTextParams``; prompts are compared ids and arrays bit for bit."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from mistral_tok._integration import Canary

# (name, seconds (or samples when negative), noise level, SpeechToTextParams fields)
CHUNKS: list[tuple[str, float, float, dict[str, Any]]] = [
    ("silence 1 s", 1.0, 0.0, {}),
    ("noise 30 s, en", 30.0, 0.3, {"language": "en"}),
    ("clipping 2 s", 2.0, 1.6, {}),
    ("one sample", -1, 0.5, {"language": "fr"}),
    ("noise 31 s", 31.0, 0.2, {}),
    (
        "prompt, hotwords, translation",
        3.0,
        0.3,
        {
            "language": "de",
            "request_prompt": "Voxtral, Zoë",
            "hotwords": "Mistral",
            "task_type": "translate",
            "to_language": "en",
        },
    ),
    ("invalid language", 1.0, 0.1, {"language": "zz"}),
]

# vLLM's loggers that report a failed prompt: quiet on the verifying thread.
VLLM_LOGGERS = ("vllm.model_executor.models.voxtral", "vllm.entrypoints.speech_to_text")


def _chunk(seconds: float, level: float, rate: int, seed: int) -> Any:
    import numpy as np

    n = 1 if seconds < 0 else int(seconds * rate)
    return np.random.default_rng(seed).normal(0.0, level, n).astype(np.float32)


def _params(serving: Any, audio: Any, fields: dict[str, Any]) -> Any:
    """vLLM's ``SpeechToTextParams`` with the fields this version has."""
    from vllm.config.speech_to_text import SpeechToTextParams  # type: ignore[import-not-found]

    names = {f.name for f in dataclasses.fields(SpeechToTextParams)}
    given = {k: v for k, v in fields.items() if k in names}
    return SpeechToTextParams(
        audio=audio, stt_config=serving.asr_config, model_config=serving.model_config, **given
    )


def for_serving(serving: Any) -> list[Canary]:
    from mistral_tok.vllm import transcription

    model_cls = transcription.voxtral_class(serving)
    original = transcription.ORIGINALS.get(model_cls) if model_cls is not None else None
    if original is None:
        return []
    rate = int(serving.asr_config.sample_rate)
    canaries = []
    for seed, (name, seconds, level, fields) in enumerate(CHUNKS):
        audio = _chunk(seconds, level, rate, seed)

        def theirs(a: Any = audio, f: dict[str, Any] = fields) -> Any:
            return original(model_cls, _params(serving, a.copy(), f))

        def ours(a: Any = audio, f: dict[str, Any] = fields) -> Any:
            return transcription.native_prompt(serving, _params(serving, a.copy(), f))

        canaries.append(Canary(name, theirs, ours))
    return canaries


def prepare(serving: Any) -> None:
    """Load mistral-tok's tokenizer and warm vLLM's side once, before the timed run."""
    from mistral_tok._integration import Fallback, context
    from mistral_tok.vllm import transcription

    try:
        transcription.native_prompt(serving, _params(serving, _chunk(0.1, 0.1, 16000, 0), {}))
    except Fallback:
        return
    original = transcription.ORIGINALS.get(serving.model_cls)
    if original is not None:
        with context.all_layers_off():
            try:
                original(serving.model_cls, _params(serving, _chunk(0.1, 0.1, 16000, 0), {}))
            except Exception:  # noqa: BLE001 - only a warm-up
                pass


def label(serving: Any) -> str:
    """``"VoxtralForConditionalGeneration tekken.json"``: the serving object in stats and logs."""
    try:
        name = serving.model_cls.__name__
    except Exception:  # noqa: BLE001 - a label only
        name = type(serving).__name__
    tokenizer = getattr(serving.model_config, "tokenizer", "?")
    return f"{name} {os.path.basename(str(tokenizer))}"
