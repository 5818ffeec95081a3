"""Voxtral-like tekken files (an ``audio`` section and the audio special tokens) and generated
audio for the audio tests.

The files are ``tests.support.tekken_files``' generated files plus ``[AUDIO]`` (24),
``[BEGIN_AUDIO]`` (25), ``[TRANSCRIBE]`` (34) and ``[STREAMING_PAD]`` (39), and one of the
``AUDIO_CONFIGS`` below: Voxtral's (16 kHz, 12.5 Hz, hop 160) plain and with 30 s chunks,
Voxtral Realtime's streaming layout, and a 24 kHz config so that resampling targets another rate.
"""

from __future__ import annotations

import base64
import io
import json
import random
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.support import tekken_files

ENCODING = {"num_mel_bins": 128, "hop_length": 160, "window_size": 400}

AUDIO_CONFIGS: dict[str, dict] = {
    "plain": {"sampling_rate": 16000, "frame_rate": 12.5, "audio_encoding_config": ENCODING},
    "chunked": {
        "sampling_rate": 16000,
        "frame_rate": 12.5,
        "audio_encoding_config": ENCODING,
        "chunk_length_s": 30.0,
    },
    "streaming": {
        "sampling_rate": 16000,
        "frame_rate": 12.5,
        "audio_encoding_config": ENCODING,
        "transcription_format": "streaming",
        "transcription_delay_ms": 480.0,
        "streaming_look_ahead_ms": 2.5,
        "streaming_look_back_ms": 52.5,
        "streaming_n_left_pad_tokens": 32,
    },
    "plain24k": {
        "sampling_rate": 24000,
        "frame_rate": 12.5,
        "audio_encoding_config": {"num_mel_bins": 80, "hop_length": 240, "window_size": 600},
    },
}

AUDIO_TOKENS = {24: "[AUDIO]", 25: "[BEGIN_AUDIO]", 34: "[TRANSCRIBE]", 39: "[STREAMING_PAD]"}


def write_audio_tekken_file(directory: Path, version: str, config: str) -> Path:
    """Writes ``tekken_<version>_<config>.json`` (see the module doc) and returns its path."""
    directory = Path(directory)
    base = tekken_files.write_tekken_file(directory, version, image=False)
    with open(base, encoding="utf-8") as f:
        data = json.load(f)
    specials = data["special_tokens"]
    while len(specials) <= max(AUDIO_TOKENS):
        i = len(specials)
        specials.append({"rank": i, "token_str": f"<SPECIAL_{i}>", "is_control": True})
    for rank, name in AUDIO_TOKENS.items():
        specials[rank]["token_str"] = name
    data["audio"] = AUDIO_CONFIGS[config]
    path = directory / f"tekken_{version}_{config}.json"
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
    return path


# --- generated audio ----------------------------------------------------------------------------

WAV_SUBTYPES = ["PCM_16", "PCM_16", "PCM_24", "PCM_32", "PCM_U8", "FLOAT", "DOUBLE"]
# Read by libsndfile but left to mistral_common by the native path.
FALLBACK_SUBTYPES = ["ULAW", "ALAW", "IMA_ADPCM", "MS_ADPCM"]
FLAC_SUBTYPES = ["PCM_16", "PCM_24", "PCM_S8"]
RATES = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000]


def encode(samples: np.ndarray, rate: int, fmt: str, subtype: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def random_length(rng: random.Random, rate: int, long_ok: bool) -> int:
    r = rng.random()
    if r < 0.1:
        return rng.choice([1, 2, 3, 399, 400, 401, 1279, 1280, 1281])
    if r < 0.6:
        return rng.randrange(1, rate * 2)
    if r < 0.97 or not long_ok:
        return rng.randrange(rate * 2, rate * 12)
    return rng.randrange(rate * 30, rate * 90)


def random_audio(rng: random.Random) -> tuple[bytes, dict]:
    """Encoded audio bytes and a description: format, subtype, rate, channels, frames, and how it
    was damaged (``None`` for a well-formed file)."""
    kind = rng.choices(["WAV", "FLAC", "OGG", "OTHER"], weights=[60, 18, 14, 8])[0]
    rate = rng.choice(RATES) if rng.random() < 0.85 else rng.randrange(8000, 48001)
    channels = 2 if rng.random() < 0.1 else 1
    if kind == "WAV":
        subtype = rng.choice(WAV_SUBTYPES + FALLBACK_SUBTYPES[: 1 if rng.random() < 0.5 else 4])
        frames = random_length(rng, rate, long_ok=True)
    elif kind == "FLAC":
        subtype = rng.choice(FLAC_SUBTYPES)
        frames = random_length(rng, rate, long_ok=False)
    elif kind == "OGG":
        subtype = "VORBIS"
        frames = random_length(rng, rate, long_ok=False) // 4 + 1
    else:
        kind, subtype = rng.choice([("AIFF", "PCM_16"), ("AU", "PCM_16"), ("CAF", "PCM_16")])
        frames = rng.randrange(1, rate)
    if subtype in ("IMA_ADPCM", "MS_ADPCM"):
        channels = 1
    t = np.arange(frames, dtype=np.float64) / rate
    tone = 0.5 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t)
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 0.05, frames)
    mono = (tone + noise).astype(np.float32)
    samples = np.stack([mono] * channels, axis=1) if channels > 1 else mono
    data = encode(samples, rate, kind, subtype)
    desc = {
        "format": kind,
        "subtype": subtype,
        "rate": rate,
        "channels": channels,
        "frames": frames,
        "damage": None,
    }
    r = rng.random()
    if r < 0.12:
        cut = rng.randrange(0, len(data))
        data = data[:cut]
        desc["damage"] = f"cut at {cut}"
    elif r < 0.18:
        data = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(0, min(len(data), 200))
            data[at] = rng.randrange(256)
        data = bytes(data)
        desc["damage"] = "bytes changed"
    elif r < 0.2:
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
        desc["damage"] = "random bytes"
    return data, desc


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
