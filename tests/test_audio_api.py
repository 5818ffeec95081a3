"""The audio API around the differential tests: awaitables equal the sync calls, ``audio_info``
and ``encode_chat_with_audio`` for ``http(s)`` audio the caller fetched, and the errors."""

from __future__ import annotations

import asyncio
import io
import random
from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

from mistral_tok import (  # noqa: E402
    MistralTokError,
    RequestError,
    Tokenizer,
    UnsupportedFeatureError,
    audio_info,
)
from tests.support.audio_files import b64, random_audio, write_audio_tekken_file  # noqa: E402


def wav(n: int, rate: int, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    shape = (n, channels) if channels > 1 else n
    sf.write(buf, np.full(shape, 0.25, dtype=np.float32), rate, format="WAV")
    return buf.getvalue()


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Tokenizer]:
    d = tmp_path_factory.mktemp("audio_api")
    return {
        c: Tokenizer.from_file(write_audio_tekken_file(d, "v7", c)) for c in ("plain", "streaming")
    }


def result(fn):
    try:
        out = fn()
    except Exception as exc:  # noqa: BLE001 - compared below
        return (type(exc), str(exc))
    if isinstance(out, tuple):
        ids, audios = out
        return ids, [(bytes(a["array"]), a["sampling_rate"]) for a in audios]
    return out


@pytest.mark.parametrize("config", ["plain", "streaming"])
def test_async_equals_sync(config: str, tokenizers: dict[str, Tokenizer]) -> None:
    tok = tokenizers[config]
    rng = random.Random(5)
    cases = []
    for _ in range(40):
        data, _ = random_audio(rng)
        audio = b64(data) if rng.random() < 0.7 else data
        mode = rng.choice(["disabled", "offline", "online"])
        if mode == "online" and isinstance(audio, bytes):
            audio = b64(data)
        cases.append((audio, rng.choice([None, "en", "zz"]), mode, rng.random() < 0.5))

    async def run_all() -> list:
        out = []
        for audio, lang, mode, arrays in cases:
            try:
                got = await tok.encode_transcription_async(
                    audio, language=lang, streaming=mode, return_audio=arrays
                )
            except Exception as exc:  # noqa: BLE001
                out.append((type(exc), str(exc)))
                continue
            out.append(result(lambda got=got: got))
        return out

    sync = [
        result(
            lambda a=a, lang=lang, m=m, r=r: tok.encode_transcription(
                a, language=lang, streaming=m, return_audio=r
            )
        )
        for a, lang, m, r in cases
    ]
    assert asyncio.run(run_all()) == sync

    messages = [
        {"role": "user", "content": [{"type": "input_audio", "input_audio": b64(wav(999, 8000))}]}
    ]

    async def chat() -> list[int]:
        return await tok.encode_chat_async(messages)

    assert asyncio.run(chat()) == tok.encode_chat(messages)


def test_audio_info_and_remote_audio(tokenizers: dict[str, Tokenizer]) -> None:
    tok = tokenizers["plain"]
    data = wav(44100 * 3 + 7, 44100)
    assert audio_info(data) == (44100 * 3 + 7, 44100)
    with pytest.raises(RequestError):
        audio_info(wav(10, 16000, channels=2))
    with pytest.raises(RequestError):
        audio_info(b"not audio at all")
    url = "https://example.com/a.wav"

    def request(chunk_url: str) -> list[dict]:
        return [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Hi"},
                    {"type": "audio_url", "audio_url": {"url": chunk_url}},
                ],
            }
        ]

    ids, chunks = tok.encode_chat_with_audio(request(url), audio_infos={url: audio_info(data)})
    assert ids == tok.encode_chat(request("data:audio/wav;base64," + b64(data)))
    assert chunks == [{"tokens": 38, "samples": 48003}]
    with pytest.raises(UnsupportedFeatureError):
        tok.encode_chat(request(url))


def test_audio_argument_errors(tokenizers: dict[str, Tokenizer], tmp_path: Path) -> None:
    tok = tokenizers["plain"]
    with pytest.raises(TypeError):
        tok.encode_transcription(123)  # type: ignore[call-overload]
    with pytest.raises(RequestError):
        tok.encode_transcription(b64(wav(100, 16000)), streaming="sometimes")
    with pytest.raises(RequestError):
        tok.encode_transcription(b64(wav(100, 16000)), streaming="online")
    # Arrays are produced only for 16-bit PCM needing no resampling.
    with pytest.raises(UnsupportedFeatureError):
        tok.encode_transcription(b64(wav(100, 8000)), return_audio=True)
    assert tok.encode_transcription(b64(wav(100, 8000)))[-1] == tok.special_token_id("[TRANSCRIBE]")


@pytest.mark.parametrize("config", ["plain", "streaming"])
def test_samples_as_bytes_or_array_sync_or_async(config: str, tokenizers) -> None:
    """``encode_transcription_samples[_async]``: a float32 array read in place answers as its
    bytes do, from the worker as in the calling thread; other arrays are refused."""
    tok = tokenizers[config]
    mode = "offline" if config == "streaming" else "disabled"
    rng = np.random.default_rng(11)
    chunks = [rng.normal(0, s, n).astype(np.float32) for s, n in [(0.3, 20000), (2.0, 1), (0.1, 0)]]
    chunks.append(rng.normal(0, 0.3, 8001).astype(np.float32)[1:])  # a view into a larger array
    kwargs = dict(language="en", streaming=mode, return_audio=True)

    async def run_all() -> list:
        return [
            result(lambda got=got: got)
            for got in [
                await tok.encode_transcription_samples_async(c, 16000, **kwargs) for c in chunks
            ]
        ]

    want = [
        result(lambda c=c: tok.encode_transcription_samples(c.tobytes(), 16000, **kwargs))
        for c in chunks
    ]
    assert [
        result(lambda c=c: tok.encode_transcription_samples(c, 16000, **kwargs)) for c in chunks
    ] == want
    assert asyncio.run(run_all()) == want
    assert want[0][0] and want[0][1][0][1] == 16000
    for bad in [
        np.zeros(16, dtype=np.float64),
        np.zeros(32, dtype=np.float32)[::2],
        np.zeros((2, 8), dtype=np.float32),
        np.zeros(16, dtype=">f4"),
        [0.0] * 16,
    ]:
        with pytest.raises(TypeError):
            tok.encode_transcription_samples(bad, 16000)
        with pytest.raises(TypeError):
            tok.encode_transcription_samples_async(bad, 16000)
    with pytest.raises(MistralTokError):
        tok.encode_transcription_samples(b"\0\0\0", 16000)


def test_bytearray_input_audio_as_mistral_common_reads_it(tmp_path: Path) -> None:
    """A ``bytearray`` as ``input_audio`` (bare or as the dict's ``data``): pydantic's smart
    ``str | bytes`` reads it as text when it is UTF-8 (base64, a data URL), else as raw bytes;
    the same ids or the same refusal as mistral_common, natively."""
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    path = write_audio_tekken_file(tmp_path, "v7", "plain")
    ref, tok = MistralTokenizer.from_file(str(path)), Tokenizer.from_file(path)
    rng = random.Random(17)
    payloads = [b"", b"  \n", "é".encode() * 8, b"\xff\xfe not audio", b"UklGRg=="]
    for _ in range(12):
        data, _desc = random_audio(rng)
        payloads += [data, b64(data).encode(), f"data:audio/wav;base64,{b64(data)}".encode()]
    compared = native = 0
    for payload in payloads:
        for shape in ("bare", "dict"):
            value = bytearray(payload)
            audio = value if shape == "bare" else {"data": value, "format": "wav"}
            messages = [
                {"role": "user", "content": [{"type": "input_audio", "input_audio": audio}]}
            ]
            try:
                want = ref.encode_chat_completion(
                    ChatCompletionRequest.from_openai(messages)
                ).tokens
            except Exception:  # noqa: BLE001 - refused: ours must refuse too
                want = None
            try:
                got = tok.encode_chat(messages)
            except UnsupportedFeatureError:
                continue  # a format or layout left to mistral_common
            except RequestError:
                got = None
            assert got == want, (payload[:40], shape)
            compared += 1
            native += got is not None
    assert compared >= 40 and native > 20, (compared, native)
