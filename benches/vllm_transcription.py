"""vLLM's ``/v1/audio/transcriptions`` preprocessing of a 10-minute recording, unpatched vs
patched, for Voxtral and Voxtral Realtime.

    <vllm venv>/bin/python benches/vllm_transcription.py [--minutes 10] [--repeat 3]
        [--subtype PCM_16|FLOAT]

Needs a vLLM venv with vLLM's audio extra (``scripts/vllm_env.sh 0.34.0``, or 0.33.0); prints a
note and exits otherwise (``make bench-python`` runs every script in a venv without vLLM). One run
is ``await OpenAIServingTranscription._preprocess_speech_to_text(request, wav, id)``: vLLM's
decode in its preprocessing thread, the Voxtral prompt (vLLM's ``get_generation_prompt`` on the
event loop, or mistral-tok's on its worker), vLLM's prompt parsing; the engine's renderer is a
double that returns at once. The tokenizer is a generated Voxtral-like tekken file
(``tests/support/audio_files.py``). Reported, best of ``--repeat`` after a warm-up: wall time,
the time spent building the prompt (unpatched: inside ``get_generation_prompt``; patched: from
the end of vLLM's decode to the prompts being ready), and the loop's longest stall over the whole
preprocessing and while the prompt is built (``max_ms``: wall, GIL waits and CPU scheduling
included, vLLM's own decode thread among them; in parentheses ``max_cpu_ms``: the longest stretch
of work on the loop itself), worst of all runs; prompts and arrays compared bit for bit.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "vllm_integration"))
sys.path.insert(0, str(HERE.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    # PCM_16 is what clients send; FLOAT makes vLLM's decode (soundfile over a BytesIO) copy the
    # whole upload in one Python callback, a stall of its own that the patch does not touch.
    parser.add_argument("--subtype", default="PCM_16", choices=("PCM_16", "FLOAT"))
    args = parser.parse_args()
    try:
        import soundfile  # noqa: F401
        import vllm
    except ImportError:
        print("vLLM (with its audio extra) is not installed here: skipped")
        return
    from mistral_tok.vllm.profiles import SPEECH_TO_TEXT

    if SPEECH_TO_TEXT.select().profile is None:
        print(f"vLLM {vllm.__version__}: no speech-to-text contract; skipped")
        return
    from stt_support import (
        REALTIME,
        VOXTRAL,
        model_class,
        model_dir,
        prompts_as_data,
        recording,
        serving_for,
        transcription_request,
    )

    import mistral_tok.vllm as mv
    from mistral_tok._lag import LoopLag
    from mistral_tok.vllm import transcription

    root = Path(tempfile.mkdtemp())
    upload = recording(args.minutes * 60, seed=10, subtype=args.subtype)
    print(
        f"vLLM {vllm.__version__}, {args.minutes:g}-minute 16 kHz recording "
        f"({len(upload) / 1e6:.1f} MB {args.subtype} WAV), best of {args.repeat} after a warm-up"
    )

    def run(which, patched: bool):
        mv.unpatch()
        model_cls = model_class(which)
        prompt_ms: list[float] = []
        phase_lag: list[tuple[float, float]] = []
        undo = None
        if patched:
            mv.patch()
            build = transcription._build_prompts

            async def timed_build(*a, **k):
                start = time.perf_counter()
                try:
                    async with LoopLag() as lag:
                        return await build(*a, **k)
                finally:
                    prompt_ms.append((time.perf_counter() - start) * 1e3)
                    phase_lag.append((lag.max_ms, lag.max_cpu_ms))

            transcription._build_prompts = timed_build
            undo = ("_build_prompts", build)
        else:
            original = model_cls.__dict__["get_generation_prompt"]
            function = original.__func__

            @functools.wraps(function)
            def timed(cls, *a, **k):
                start, cpu = time.perf_counter(), time.thread_time()
                try:
                    return function(cls, *a, **k)
                finally:
                    prompt_ms.append((time.perf_counter() - start) * 1e3)
                    # The whole call is one stall of the loop.
                    phase_lag.append((prompt_ms[-1], (time.thread_time() - cpu) * 1e3))

            model_cls.get_generation_prompt = classmethod(timed)
            undo = ("get_generation_prompt", original)
        serving = serving_for(model_dir(root, which[2]), model_cls)

        async def once():
            prompt_ms.clear()
            phase_lag.clear()
            start, cpu = time.perf_counter(), time.process_time()
            async with LoopLag() as lag:
                inputs, _, _ = await serving._preprocess_speech_to_text(
                    transcription_request("en"), upload, "bench"
                )
            wall = (time.perf_counter() - start) * 1e3
            cpu = (time.process_time() - cpu) * 1e3
            phase = (max(p[0] for p in phase_lag), max(p[1] for p in phase_lag))
            return wall, cpu, sum(prompt_ms), lag.max_ms, lag.max_cpu_ms, inputs, phase

        try:
            results = [asyncio.run(once()) for _ in range(args.repeat + 1)][1:]
        finally:
            name, value = undo
            if name == "_build_prompts":
                transcription._build_prompts = value
            else:
                setattr(model_cls, name, value)
            stats = mv.stats()["transcription"]
            mv.unpatch()
        best = min(results, key=lambda r: r[0])
        worst = (
            max(r[3] for r in results),
            max(r[4] for r in results),
            max(r[6][0] for r in results),
            max(r[6][1] for r in results),
        )
        return best, worst, stats

    for which in (VOXTRAL, REALTIME):
        theirs, theirs_worst, _ = run(which, False)
        ours, ours_worst, stats = run(which, True)
        same = prompts_as_data(theirs[5]) == prompts_as_data(ours[5])
        print(f"{which[1]} ({which[2]} audio config):")
        for name, best, worst in (
            ("unpatched", theirs, theirs_worst),
            ("patched", ours, ours_worst),
        ):
            wall, cpu, prompt = best[:3]
            print(
                f"  {name:>9}: {wall:6.1f} ms wall, {cpu:6.1f} ms CPU, prompt {prompt:6.1f} ms;"
                f" loop stall max {worst[0]:6.2f} ms (on-loop work {worst[1]:6.2f} ms),"
                f" while the prompt is built {worst[2]:6.2f} ms ({worst[3]:6.2f} ms)"
            )
        print(
            f"  same prompts and arrays: {same}; native chunks {stats['chunks_native']},"
            f" vLLM's {stats['chunks_original']}"
        )
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
