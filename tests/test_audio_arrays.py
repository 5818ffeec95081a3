"""``Tokenized.audios`` produced natively: vLLM's transcription case, where each float chunk is
written as a PCM_16 WAV (soundfile's default subtype) at the tokenizer's rate. The ids and the
padded float32 arrays must equal mistral_common's bit for bit, in every audio config and
streaming mode; and the float → PCM_16 → float round trip must be soundfile's."""

from __future__ import annotations

import io
import random
import warnings
from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

from mistral_common.protocol.transcription.request import TranscriptionRequest  # noqa: E402
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer  # noqa: E402

from mistral_tok import Tokenizer, _native  # noqa: E402
from tests.support.audio_files import AUDIO_CONFIGS, b64, write_audio_tekken_file  # noqa: E402


def chunk(rng: random.Random, n: int) -> np.ndarray:
    x = np.random.default_rng(rng.randrange(1 << 30)).normal(0, rng.choice([0.01, 0.3, 1.2]), n)
    return x.astype(np.float32)


def wav16(x: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV")
    return buf.getvalue()


@pytest.mark.parametrize("config", list(AUDIO_CONFIGS))
def test_arrays_equal_mistral_commons(config: str, tmp_path: Path) -> None:
    rng = random.Random(config)
    path = write_audio_tekken_file(tmp_path, "v11", config)
    ref, ours = MistralTokenizer.from_file(str(path)), Tokenizer.from_file(path)
    rate = AUDIO_CONFIGS[config]["sampling_rate"]
    streaming = "transcription_format" in AUDIO_CONFIGS[config]
    lengths = [1, 2, 399, 400, 401, 1280, rate, rate * 30, rate * 30 + 1]
    lengths += [rng.randrange(1, rate * 40) for _ in range(25)]
    for n in lengths:
        data = wav16(chunk(rng, n), rate)
        for mode in ["offline", "online"] if streaming else ["disabled"]:
            audio = b64(data) if rng.random() < 0.7 or mode == "online" else data
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want = ref.encode_transcription(
                    TranscriptionRequest(audio=audio, language="en", streaming=mode)
                )
            ids, audios = ours.encode_transcription(
                audio, language="en", streaming=mode, return_audio=True
            )
            assert ids == want.tokens, (n, mode)
            assert [a["sampling_rate"] for a in audios] == [a.sampling_rate for a in want.audios]
            for mine, theirs in zip(audios, want.audios, strict=True):
                assert theirs.audio_array.dtype == np.float32
                assert bytes(mine["array"]) == theirs.audio_array.tobytes(), (n, mode)


def test_online_prefill_pads() -> None:
    path = write_audio_tekken_file(Path(__import__("tempfile").mkdtemp()), "v7", "streaming")
    ref, ours = MistralTokenizer.from_file(str(path)), Tokenizer.from_file(path)
    want = ref.encode_transcription(TranscriptionRequest(audio="", streaming="online"))
    ids, audios = ours.encode_transcription("", streaming="online", return_audio=True)
    assert ids == want.tokens
    assert [bytes(a["array"]) for a in audios] == [a.audio_array.tobytes() for a in want.audios]


def test_pcm16_roundtrip_is_soundfiles() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [
            rng.normal(0, 0.5, 20000),
            rng.uniform(-3, 3, 2000),
            [0.0, 1.0, -1.0, 0.5, -0.5, 1 / 65534, -1 / 65534, 1.0000001, -1.0000001],
            [np.nan, np.inf, -np.inf, -0.0, 1e-38, -1e-38, 3e38],
            np.arange(-40000, 40000) / 32767.0,
        ]
    ).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, 16000, format="WAV", subtype="PCM_16")
    want = sf.read(io.BytesIO(buf.getvalue()), dtype="float32")[0]
    got = np.frombuffer(_native._pcm16_roundtrip(x.tobytes()), dtype=np.float32)
    assert got.tobytes() == want.tobytes()
