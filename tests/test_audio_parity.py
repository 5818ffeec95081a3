"""Audio requests against mistral_common 1.13.1: generated audio (WAV in every subtype, FLAC, Ogg
Vorbis, other formats, 8–48 kHz, mono and stereo, one sample to minutes, cut and damaged files) in
chat requests and transcription requests, on Voxtral-like tekken files of each audio config
(``tests/support/audio_files.py``) and each version v7–v15.

Every request must give the same ids, or be refused by both; ``UnsupportedFeatureError`` (the
caller falls back) is allowed only for what the native path leaves to mistral_common, never for a
well-formed mono or stereo WAV (PCM/float), FLAC or Ogg Vorbis file. Arrays
(``return_audio=True``) are compared bit for bit where they are produced (16-bit PCM WAV at the
tokenizer's rate).

``MISTRAL_TOK_PARITY_SCALE=N`` multiplies the requests (default 300 per audio config);
``MISTRAL_TOK_PARITY_SEED`` sets the seed (``random`` picks one).
"""

from __future__ import annotations

import os
import random
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("soundfile")
pytest.importorskip("soxr")

from mistral_common.protocol.instruct.request import ChatCompletionRequest  # noqa: E402
from mistral_common.protocol.transcription.request import TranscriptionRequest  # noqa: E402
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer  # noqa: E402

from mistral_tok import RequestError, Tokenizer, UnsupportedFeatureError  # noqa: E402
from tests.support.audio_files import (  # noqa: E402
    AUDIO_CONFIGS,
    FALLBACK_SUBTYPES,
    b64,
    random_audio,
    write_audio_tekken_file,
)

SCALE = int(os.environ.get("MISTRAL_TOK_PARITY_SCALE", "1"))
_SEED = os.environ.get("MISTRAL_TOK_PARITY_SEED", "20261207")
SEED = random.randrange(2**32) if _SEED == "random" else int(_SEED)
REQUESTS = 300 * SCALE
VERSIONS = ["v7", "v11", "v13", "v15"]


def must_be_native(desc: dict) -> bool:
    """Well-formed WAV (PCM/float), FLAC and Ogg Vorbis files are never left to mistral_common."""
    return desc["damage"] is None and (
        (desc["format"] == "WAV" and desc["subtype"] not in FALLBACK_SUBTYPES)
        or desc["format"] in ("FLAC", "OGG")
    )


def chat_messages(rng: random.Random, audio: str, tmp: Path) -> list[dict]:
    """A user turn carrying ``audio`` (base64, or its bytes) in one of the chunk shapes, with text
    around."""
    shape = rng.choice(
        [
            "input_audio",
            "input_audio_url",
            "input_audio_bytes",
            "data_url",
            "file",
            "file_uri",
            "b64",
        ]
    )
    if shape == "input_audio":
        chunk = {"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}}
    elif shape == "input_audio_url":
        data = "data:audio/wav;base64," + audio
        chunk = {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}
    elif shape == "input_audio_bytes":
        # `AudioChunk.input_audio: str | bytes`: raw file bytes, bare or as a dict's "data".
        data_bytes = __import__("base64").b64decode(audio)
        raw = data_bytes if rng.random() < 0.5 else {"data": data_bytes, "format": "wav"}
        chunk = {"type": "input_audio", "input_audio": raw}
    elif shape == "data_url":
        chunk = {"type": "audio_url", "audio_url": {"url": "data:audio/x;base64," + audio}}
    elif shape in ("file", "file_uri"):
        path = tmp / f"audio{rng.randrange(1 << 30)}.bin"
        path.write_bytes(__import__("base64").b64decode(audio))
        url = str(path) if shape == "file" else f"file://{path}"
        chunk = {"type": "audio_url", "audio_url": url}
    else:
        chunk = {"type": "audio_url", "audio_url": {"url": audio}}
    content: list[dict] = []
    if rng.random() < 0.6:
        content.append({"type": "text", "text": rng.choice(["Listen:", "What is said?", "Hi"])})
    content.append(chunk)
    if rng.random() < 0.3:
        content.append({"type": "text", "text": "Transcribe it."})
    messages: list[dict] = []
    if rng.random() < 0.3:
        messages += [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi! Send audio."},
        ]
    messages.append({"role": "user", "content": content})
    return messages


def outcome(fn):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()
    except Exception as exc:  # noqa: BLE001 - any refusal is a refusal
        return exc


@pytest.mark.parametrize("config", list(AUDIO_CONFIGS))
def test_audio_requests_match_mistral_common(config: str, tmp_path: Path) -> None:
    rng = random.Random(f"{SEED}-{config}")
    files = {v: write_audio_tekken_file(tmp_path, v, config) for v in VERSIONS}
    ref = {v: MistralTokenizer.from_file(str(p)) for v, p in files.items()}
    ours = {v: Tokenizer.from_file(p) for v, p in files.items()}
    rate = AUDIO_CONFIGS[config]["sampling_rate"]
    streaming = "transcription_format" in AUDIO_CONFIGS[config]
    counts: Counter[str] = Counter()
    problems: list[str] = []
    reasons: Counter[str] = Counter()
    for i in range(REQUESTS):
        version = VERSIONS[i % len(VERSIONS)]
        data, desc = random_audio(rng)
        audio = b64(data)
        arrays = False
        if rng.random() < 0.6:
            kind = "chat"
            messages = chat_messages(rng, audio, tmp_path)

            def reference(v=version, m=messages):
                return ref[v].encode_chat_completion(ChatCompletionRequest.from_openai(m)).tokens

            def native(v=version, m=messages):
                return ours[v].encode_chat(m)

        else:
            kind = "transcription"
            language = rng.choice([None, None, "en", "FR", "xx"])
            if streaming:
                mode = rng.choice(["offline", "online", "disabled"])
            else:
                mode = rng.choice(["disabled"] * 9 + ["offline"])
            payload: str | bytes = data if rng.random() < 0.3 and mode != "online" else audio
            if mode == "online" and rng.random() < 0.5:
                payload = ""
            delay = rng.choice([None, None, 80, 960]) if streaming else None
            arrays = desc["format"] == "WAV" and desc["subtype"] == "PCM_16"
            arrays = arrays and (desc["rate"] == rate or mode == "online") and not desc["damage"]

            def reference(p=payload, lang=language, m=mode, d=delay, v=version):
                req = TranscriptionRequest(
                    audio=p, language=lang, streaming=m, target_streaming_delay_ms=d
                )
                return ref[v].encode_transcription(req)

            def native(p=payload, lang=language, m=mode, d=delay, v=version, a=arrays):
                return ours[v].encode_transcription(
                    p, language=lang, streaming=m, target_streaming_delay_ms=d, return_audio=a
                )

        want = outcome(reference)
        got = outcome(native)
        label = f"#{i} {kind} {version} {desc}"
        if isinstance(got, UnsupportedFeatureError):
            counts["fallback"] += 1
            reasons[str(got).split(")")[0].removeprefix("audio (")] += 1
            if must_be_native(desc) and not isinstance(want, Exception):
                problems.append(f"{label}: fallback for a well-formed file: {got}")
            continue
        ref_tokens = want if kind == "chat" or isinstance(want, Exception) else want.tokens
        ours_tokens = got[0] if arrays and not isinstance(got, Exception) else got
        if isinstance(want, Exception) or isinstance(got, Exception):
            if isinstance(want, Exception) and isinstance(got, RequestError):
                counts["both reject"] += 1
            else:
                problems.append(f"{label}: mistral_common {want!r:.200} / ours {got!r:.200}")
            continue
        if list(ref_tokens) != list(ours_tokens):
            problems.append(f"{label}: ids differ ({len(ref_tokens)} vs {len(ours_tokens)})")
            continue
        counts["same ids"] += 1
        if arrays:
            theirs = [a.audio_array for a in want.audios]
            mine = [np.frombuffer(a["array"], dtype=np.float32) for a in got[1]]
            same = len(theirs) == len(mine) and all(
                t.dtype == np.float32 and t.tobytes() == m.tobytes()
                for t, m in zip(theirs, mine, strict=False)
            )
            rates = [a.sampling_rate for a in want.audios] == [a["sampling_rate"] for a in got[1]]
            if not (same and rates):
                problems.append(f"{label}: arrays differ")
            else:
                counts["same arrays"] += 1
    print(f"\n{config}: {dict(counts)} (seed {SEED}, {REQUESTS} requests)")
    print(f"  fallbacks: {dict(reasons.most_common())}")
    assert not problems, "\n".join(problems[:20])
    assert counts["same ids"] > REQUESTS // 3
