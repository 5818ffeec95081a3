"""One chat request carrying 10 minutes of 44.1 kHz mono WAV (16-bit PCM, base64 in an
``input_audio`` chunk) on a Voxtral-like tokenizer: mistral_tok vs mistral_common, side by side
in one run; also a vLLM-style transcription chunk (30 s at 16 kHz, ``return_audio=True``).

    python benches/compare_audio.py [--minutes 10] [--rate 44100] [--repeat 3]

Build with ``maturin develop --release`` first. mistral_common decodes the whole file with
soundfile, resamples it to 16 kHz with soxr ("HQ") and pads it before counting ``[AUDIO]``
tokens; the native path reads the WAV headers from the base64 text (the samples are never
decoded) and computes soxr's output length. Figures are the process's CPU time (the machine may
be loaded) with wall time alongside, best of ``--repeat``; issue #18 asks for >= 20x on the chat
request.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.protocol.transcription.request import TranscriptionRequest
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

from mistral_tok import Tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.audio_files import write_audio_tekken_file  # noqa: E402


def best_of(repeat: int, fn) -> tuple[float, float]:
    cpu, wall = [], []
    for _ in range(repeat):
        c, t = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - t)
    return min(cpu), min(wall)


def report(label: str, ref: tuple[float, float], native: tuple[float, float]) -> None:
    print(
        f"{label:<26} mistral_common {ref[0] * 1e3:8.1f} ms CPU ({ref[1] * 1e3:7.1f} wall)   "
        f"mistral_tok {native[0] * 1e3:7.2f} ms CPU ({native[1] * 1e3:6.2f} wall)   "
        f"{ref[0] / native[0]:5.0f}x CPU  {ref[1] / native[1]:5.0f}x wall"
    )


def wav_b64(seconds: float, rate: int) -> str:
    n = int(seconds * rate)
    rng = np.random.default_rng(0)
    x = (0.3 * np.sin(np.arange(n) * 0.05) + rng.normal(0, 0.05, n)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype="PCM_16")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=44100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    path = write_audio_tekken_file(Path(tempfile.mkdtemp()), "v7", "plain")
    ref, ours = MistralTokenizer.from_file(str(path)), Tokenizer.from_file(path)

    audio = wav_b64(args.minutes * 60, args.rate)
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Summarize this recording."},
                {"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}},
            ],
        }
    ]
    want = ref.encode_chat_completion(ChatCompletionRequest.from_openai(messages)).tokens
    got = ours.encode_chat(messages)
    assert got == want, "ids differ"
    print(
        f"chat request: {args.minutes:g} min at {args.rate} Hz, {len(audio) / 1e6:.1f} MB of "
        f"base64, {len(want)} ids (identical)"
    )

    def reference() -> None:
        ref.encode_chat_completion(ChatCompletionRequest.from_openai(messages))

    report(
        "chat request",
        best_of(args.repeat, reference),
        best_of(args.repeat, lambda: ours.encode_chat(messages)),
    )

    async def awaited() -> None:
        await ours.encode_chat_async(messages)

    report(
        "chat request (awaitable)",
        best_of(args.repeat, reference),
        best_of(args.repeat, lambda: asyncio.run(awaited())),
    )

    chunk = wav_b64(30.0, 16000)
    want_t = ref.encode_transcription(TranscriptionRequest(audio=chunk, language="en"))
    ids, audios = ours.encode_transcription(chunk, language="en", return_audio=True)
    assert ids == want_t.tokens
    assert bytes(audios[0]["array"]) == want_t.audios[0].audio_array.tobytes()
    report(
        "transcription 30 s +arrays",
        best_of(
            args.repeat,
            lambda: ref.encode_transcription(TranscriptionRequest(audio=chunk, language="en")),
        ),
        best_of(
            args.repeat,
            lambda: ours.encode_transcription(chunk, language="en", return_audio=True),
        ),
    )

    # vLLM's Voxtral transcription prompt for one 30 s float32 chunk: its WAV + base64 round trip
    # through mistral_common vs mistral_tok.voxtral_vllm.generation_prompt.
    from mistral_common.tokens.tokenizers.audio import Audio

    from mistral_tok.voxtral_vllm import generation_prompt

    x = np.random.default_rng(1).normal(0, 0.2, 480000).astype(np.float32)

    def vllm_path() -> None:
        a = Audio(x, 16000, format="wav")
        req = TranscriptionRequest(model="m", audio=a.to_base64(a.format), language="en")
        ref.instruct_tokenizer.encode_transcription(req)

    report(
        "vLLM Voxtral prompt (30 s)",
        best_of(args.repeat, vllm_path),
        best_of(args.repeat, lambda: generation_prompt(ours, x, 16000, "en")),
    )


if __name__ == "__main__":
    main()
