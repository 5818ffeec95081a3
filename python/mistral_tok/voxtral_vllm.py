"""vLLM's Voxtral transcription prompt, built natively.

``VoxtralForConditionalGeneration.get_generation_prompt`` (vLLM's ``/v1/audio/transcriptions``
path; ``VoxtralRealtimeGeneration``'s does the same with ``streaming=OFFLINE`` and hands over one
``(array, rate)`` instead of a list) writes each float32 chunk as a 16-bit PCM WAV with soundfile,
base64-encodes it, and has mistral_common decode it again, pad it and count its ``[AUDIO]``
tokens; the prompt is the ids and the padded arrays. :func:`generation_prompt` gives the same ids
and the same arrays (bit for bit: soundfile's PCM_16 quantization, clipping included, is
reproduced) from the chunk itself, with the GIL released, in well under half the time.

:func:`wrap_get_generation_prompt` turns vLLM's classmethod into one that uses it and falls back
to vLLM's own code for anything not handled natively (a chunk that is not a 1-D float32 array, a
request mistral_common would reject: vLLM then raises mistral_common's own error). It is not
registered by itself: the vLLM plugin's contract registry decides where and for which versions
(see ``mistral_tok.vllm``), and supplies ``native_tokenizer`` (the ``mistral_tok.Tokenizer`` of a
model config, or None).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mistral_tok import RequestError, Tokenizer


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
    import numpy as np

    if not (isinstance(audio, np.ndarray) and audio.ndim == 1 and audio.dtype == np.float32):
        return None
    ids, audios = tokenizer.encode_transcription_samples(
        np.ascontiguousarray(audio).tobytes(),
        int(sample_rate),
        language=language,
        streaming=streaming,
        return_audio=True,
    )
    return ids, [(np.frombuffer(a["array"], dtype=np.float32), sample_rate) for a in audios]


def _tokens_prompt(ids: list[int], audio: Any) -> Any:
    from vllm.inputs import TokensPrompt

    return TokensPrompt(prompt_token_ids=ids, multi_modal_data={"audio": audio})


def wrap_get_generation_prompt(
    original: Any,
    native_tokenizer: Callable[[Any], Tokenizer | None],
    make_prompt: Callable[[list[int], Any], Any] = _tokens_prompt,
    *,
    realtime: bool = False,
) -> classmethod:
    """A replacement for the classmethod ``original`` (``VoxtralForConditionalGeneration.
    get_generation_prompt``, or ``VoxtralRealtimeGeneration``'s with ``realtime=True``). Both of
    vLLM's signatures are handled: ``(stt_params)`` (0.16+) and the keyword form
    ``(audio=, stt_config=, model_config=, language=, ...)``. ``make_prompt(ids, audio)`` gets
    what vLLM puts under ``multi_modal_data["audio"]``: the list of ``(array, rate)``, or the one
    pair for Voxtral Realtime."""
    function = original.__func__ if isinstance(original, classmethod) else original

    def get_generation_prompt(cls: Any, *args: Any, **kwargs: Any) -> Any:
        params = kwargs.get("stt_params", args[0] if len(args) == 1 and not kwargs else None)
        if params is not None:
            audio, stt_config = params.audio, params.stt_config
            model_config, language = params.model_config, params.language
        else:
            audio, stt_config = kwargs.get("audio"), kwargs.get("stt_config")
            model_config, language = kwargs.get("model_config"), kwargs.get("language")
        tokenizer = native_tokenizer(model_config) if model_config is not None else None
        if tokenizer is not None and stt_config is not None:
            streaming = "offline" if realtime else "disabled"
            try:
                native = generation_prompt(
                    tokenizer, audio, stt_config.sample_rate, language, streaming=streaming
                )
            except RequestError:
                native = None  # unsupported or refused: vLLM's own path answers (or raises)
            if native is not None:
                ids, audios = native
                return make_prompt(ids, audios[0] if realtime else audios)
        return function(cls, *args, **kwargs)

    get_generation_prompt.__wrapped__ = function  # type: ignore[attr-defined]
    return classmethod(get_generation_prompt)
