"""``mistral_tok.voxtral_vllm``: the Voxtral transcription prompt equals what vLLM's
``get_generation_prompt`` builds through mistral_common (the WAV and base64 round trip reproduced
here step by step, as vLLM writes it), ids and arrays bit for bit; the wrapper falls back to the
original where the native path does not answer."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("soundfile")

from mistral_common.protocol.transcription.request import TranscriptionRequest  # noqa: E402
from mistral_common.tokens.tokenizers.audio import Audio  # noqa: E402
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer  # noqa: E402

from mistral_tok import Tokenizer  # noqa: E402
from mistral_tok.voxtral_vllm import generation_prompt, wrap_get_generation_prompt  # noqa: E402
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


def test_wrapper_falls_back(tmp_path: Path) -> None:
    path = write_audio_tekken_file(tmp_path, "v7", "plain")
    ours = Tokenizer.from_file(path)
    calls = []

    class Model:
        @classmethod
        def get_generation_prompt(cls, stt_params):
            calls.append(stt_params)
            return "original"

    Model.get_generation_prompt = wrap_get_generation_prompt(
        Model.__dict__["get_generation_prompt"],
        native_tokenizer=lambda model_config: ours,
        make_prompt=lambda ids, audios: ("native", ids, audios),
    )
    params = SimpleNamespace(
        audio=np.zeros(1600, dtype=np.float32),
        stt_config=SimpleNamespace(sample_rate=16000),
        model_config=object(),
        language="en",
    )
    out = Model.get_generation_prompt(params)
    assert out[0] == "native" and not calls
    # float64 chunks go through soundfile's double path: vLLM's own code answers.
    params.audio = np.zeros(1600, dtype=np.float64)
    assert Model.get_generation_prompt(stt_params=params) == "original"
    # A language mistral_common refuses: vLLM's own code raises its error.
    params.audio, params.language = np.zeros(16, dtype=np.float32), "zz"
    assert Model.get_generation_prompt(params) == "original"
    assert len(calls) == 2


def test_realtime_wrapper_hands_one_pair(tmp_path: Path) -> None:
    path = write_audio_tekken_file(tmp_path, "v7", "streaming")
    ref, ours = MistralTokenizer.from_file(str(path)), Tokenizer.from_file(path)

    class Realtime:
        @classmethod
        def get_generation_prompt(cls, stt_params):
            raise AssertionError("the native path answers")

    Realtime.get_generation_prompt = wrap_get_generation_prompt(
        Realtime.__dict__["get_generation_prompt"],
        native_tokenizer=lambda model_config: ours,
        make_prompt=lambda ids, audio: (ids, audio),
        realtime=True,
    )
    chunk = np.random.default_rng(0).normal(0, 0.3, 40000).astype(np.float32)
    params = SimpleNamespace(
        audio=chunk,
        stt_config=SimpleNamespace(sample_rate=16000),
        model_config=object(),
        language=None,
    )
    ids, (array, rate) = Realtime.get_generation_prompt(params)
    want_ids, want_audio = vllm_reference(ref, chunk, 16000, None, "offline")
    assert ids == want_ids and rate == 16000
    assert array.tobytes() == want_audio[0][0].tobytes()
