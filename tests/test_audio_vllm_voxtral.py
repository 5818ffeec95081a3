"""``mistral_tok.voxtral_vllm``: the Voxtral transcription prompt equals what vLLM's
``get_generation_prompt`` builds through mistral_common (the WAV and base64 round trip reproduced
here step by step, as vLLM writes it), ids and arrays bit for bit, synchronously and from the
worker thread; other array types are left to vLLM's own code."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("soundfile")

from mistral_common.protocol.transcription.request import TranscriptionRequest  # noqa: E402
from mistral_common.tokens.tokenizers.audio import Audio  # noqa: E402
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer  # noqa: E402

from mistral_tok import RequestError, Tokenizer  # noqa: E402
from mistral_tok.voxtral_vllm import generation_prompt, generation_prompt_async  # noqa: E402
from tests.support.audio_files import write_audio_tekken_file  # noqa: E402


def vllm_reference(
    ref: MistralTokenizer, audio: np.ndarray, rate: int, language: str | None, streaming: str
):
    """vLLM's ``VoxtralForConditionalGeneration.get_generation_prompt`` body
    (``VoxtralRealtimeGeneration``'s with ``streaming="offline"``)."""
    a = Audio(audio, int(rate), format="wav")
    req = TranscriptionRequest(
        model="m", audio=a.to_base64(a.format), language=language, streaming=streaming
    )
    tokenized = ref.instruct_tokenizer.encode_transcription(req)
    return tokenized.tokens, [(x.audio_array, rate) for x in tokenized.audios]


@pytest.mark.parametrize("config", ["plain", "chunked", "streaming"])
def test_generation_prompt_equals_vllms(config: str, tmp_path: Path) -> None:
    streaming = "offline" if config == "streaming" else "disabled"
    path = write_audio_tekken_file(tmp_path, "v7", config)
    ref, ours = MistralTokenizer.from_file(str(path)), Tokenizer.from_file(path)
    rng = random.Random(config)
    for n in [1, 399, 400, 16000, 480000, 480001] + [rng.randrange(1, 600000) for _ in range(12)]:
        scale = rng.choice([0.05, 0.5, 1.5])
        chunk = np.random.default_rng(n).normal(0, scale, n).astype(np.float32)
        lang = rng.choice([None, "en", "fr"])
        want_ids, want_audio = vllm_reference(ref, chunk, 16000, lang, streaming)
        got = generation_prompt(ours, chunk, 16000, lang, streaming=streaming)
        assert got is not None
        ids, audio = got
        assert ids == want_ids, n
        assert len(audio) == len(want_audio) == 1
        assert audio[0][1] == want_audio[0][1]
        assert audio[0][0].dtype == want_audio[0][0].dtype == np.float32
        assert audio[0][0].tobytes() == want_audio[0][0].tobytes(), n


@pytest.mark.parametrize("config", ["chunked", "streaming"])
def test_generation_prompt_async_equals_vllms(config: str, tmp_path: Path) -> None:
    """The worker-thread variant the vLLM plugin awaits gives the same ids and arrays."""
    streaming = "offline" if config == "streaming" else "disabled"
    path = write_audio_tekken_file(tmp_path, "v7", config)
    ref, ours = MistralTokenizer.from_file(str(path)), Tokenizer.from_file(path)
    rng = np.random.default_rng(7)
    chunks = [
        rng.normal(0, s, n).astype(np.float32) for s, n in [(0.3, 480000), (1.7, 1), (0.01, 9)]
    ]

    async def run_all():
        return [
            await generation_prompt_async(ours, c, 16000, "en", streaming=streaming) for c in chunks
        ]

    for chunk, got in zip(chunks, asyncio.run(run_all()), strict=True):
        want_ids, want_audio = vllm_reference(ref, chunk, 16000, "en", streaming)
        assert got is not None
        ids, audio = got
        assert ids == want_ids
        assert [a[1] for a in audio] == [a[1] for a in want_audio]
        assert [a[0].tobytes() for a in audio] == [a[0].tobytes() for a in want_audio]


def test_other_dtypes_are_left_to_vllm(tmp_path: Path) -> None:
    """soundfile writes float64 and integer arrays through other conversions: no native answer."""
    ours = Tokenizer.from_file(write_audio_tekken_file(tmp_path, "v7", "plain"))
    for audio in [np.zeros(1600), np.zeros(1600, dtype=np.int16), np.zeros((2, 800), np.float32)]:
        assert generation_prompt(ours, audio, 16000, None) is None
        assert asyncio.run(generation_prompt_async(ours, audio, 16000, None)) is None
    with pytest.raises(RequestError):
        generation_prompt(ours, np.zeros(16, np.float32), 16000, "zz")
