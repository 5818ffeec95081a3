"""vLLM's Voxtral transcription prompt, built natively.

``VoxtralForConditionalGeneration.get_generation_prompt`` (vLLM's ``/v1/audio/transcriptions``
path; ``VoxtralRealtimeGeneration``'s does the same with ``streaming=OFFLINE`` and hands over one
``(array, rate)`` instead of a list) writes each float32 chunk as a 16-bit PCM WAV with soundfile,
base64-encodes it, and has mistral_common decode it again, pad it and count its ``[AUDIO]``
tokens; the prompt is the ids and the padded arrays. :func:`generation_prompt` gives the same ids
and the same arrays (bit for bit: soundfile's PCM_16 quantization, clipping included, is
reproduced) from the chunk itself, with the GIL released, in well under half the time;
:func:`generation_prompt_async` on mistral-tok's worker thread. The vLLM plugin uses them for
``/v1/audio/transcriptions`` (:mod:`mistral_tok.vllm.transcription`).
"""

from __future__ import annotations

from typing import Any

from mistral_tok import Tokenizer


def generation_prompt(
    tokenizer: Tokenizer,
    audio: Any,
    sample_rate: int,
    language: str | None,
    *,
    streaming: str = "disabled",
) -> tuple[list[int], list[tuple[Any, int]]] | None:
    """``(prompt_token_ids, [(padded float32 array, sample_rate), ...])`` as vLLM's Voxtral
    ``get_generation_prompt`` builds them (``streaming="offline"``: Voxtral Realtime's), or None
    when ``audio`` is not a 1-D float32 numpy array (soundfile writes other dtypes through other
    conversions)."""
    samples = _float32_samples(audio)
    if samples is None:
        return None
    ids, audios = tokenizer.encode_transcription_samples(
        samples, int(sample_rate), language=language, streaming=streaming, return_audio=True
    )
    return ids, _arrays(audios, sample_rate)


async def generation_prompt_async(
    tokenizer: Tokenizer,
    audio: Any,
    sample_rate: int,
    language: str | None,
    *,
    streaming: str = "disabled",
) -> tuple[list[int], list[tuple[Any, int]]] | None:
    """:func:`generation_prompt` computed on mistral-tok's worker thread, which reads the chunk in
    place (it must not be written to meanwhile); the event loop only builds the result's lists
    and arrays, a slice per iteration."""
    samples = _float32_samples(audio)
    if samples is None:
        return None
    ids, audios = await tokenizer.encode_transcription_samples_async(
        samples, int(sample_rate), language=language, streaming=streaming, return_audio=True
    )
    return ids, _arrays(audios, sample_rate)


def _float32_samples(audio: Any) -> Any:
    """The chunk as the binding reads it (a C-contiguous native float32 array), or None."""
    import numpy as np

    if not (isinstance(audio, np.ndarray) and audio.ndim == 1 and audio.dtype == np.float32):
        return None
    return np.ascontiguousarray(audio)


def _arrays(audios: list[dict[str, Any]], sample_rate: Any) -> list[tuple[Any, Any]]:
    import numpy as np

    return [(np.frombuffer(a["array"], dtype=np.float32), sample_rate) for a in audios]
