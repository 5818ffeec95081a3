"""SentencePiece speed: mistral_tok vs sentencepiece (raw) vs mistral_common, in one run.

Texts (deterministic, offline; see ``corpus.py``): 1 MB of prose, 1 MB of mixed scripts, one
100 KB word without spaces, a 3-line chat message. mistral_tok keeps the ids of short pieces per
thread from one call to the next, so it is measured twice: "warm", the same text again (the
pieces of earlier calls are cached), and "cold", each call on a freshly loaded tokenizer (nothing
of it is cached; the load is not timed). Each figure is the best of a few runs, in wall-clock
time and in CPU time of the calling thread (the machine may be shared; CPU time is the steadier
one). Also: load times, and a check that all give the same ids.

Usage: ``python benches/compare_sentencepiece.py [model file name] [--quick]``
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sentencepiece as spm
from mistral_common.tokens.tokenizers.sentencepiece import SentencePieceTokenizer

from mistral_tok import Tokenizer, shipped_tokenizer_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402

DEFAULT_MODEL = "mistral_instruct_tokenizer_241114.model.v7"


def best(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Best wall and best thread-CPU seconds over `runs` calls."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.thread_time()
        fn()
        c1, w1 = time.thread_time(), time.perf_counter()
        wall, cpu = min(wall, w1 - w0), min(cpu, c1 - c0)
    return wall, cpu


def best_cold(path: Path, text: str, runs: int) -> tuple[float, float]:
    """`best` of `encode(text)`, each on a freshly loaded tokenizer (its load not timed)."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(runs):
        tok = Tokenizer.from_file(path)
        w0, c0 = time.perf_counter(), time.thread_time()
        tok.encode(text)
        c1, w1 = time.thread_time(), time.perf_counter()
        wall, cpu = min(wall, w1 - w0), min(cpu, c1 - c0)
    return wall, cpu


def repeat(fn: Callable[[], object], n: int) -> None:
    for _ in range(n):
        fn()


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick = "--quick" in sys.argv
    name = args[0] if args else DEFAULT_MODEL
    path = shipped_tokenizer_path(name)
    runs = 2 if quick else 5

    load = {
        "mistral_tok": best(lambda: Tokenizer.from_file(path), runs),
        "sentencepiece": best(lambda: spm.SentencePieceProcessor(model_file=str(path)), runs),
        "mistral_common": best(lambda: SentencePieceTokenizer(str(path)), runs),
    }
    ours = Tokenizer.from_file(path)
    raw = spm.SentencePieceProcessor(model_file=str(path))
    ref = SentencePieceTokenizer(str(path))

    texts = {
        "prose 1 MB": corpus.prose(),
        "mixed scripts 1 MB": corpus.mixed_scripts(),
        "one 100 KB word": corpus.single_piece(),
        "chat message": "Hello! Can you summarise this article in three bullet points?\n"
        "  - keep it short\n  - no more than 20 words each",
    }

    first = texts["prose 1 MB"]
    fresh = Tokenizer.from_file(path)
    t0 = time.perf_counter()
    fresh.encode(first)
    first_call = time.perf_counter() - t0

    print(f"model: {name}")
    print("load (ms, wall / cpu):  " + "   ".join(
        f"{k} {w * 1e3:.1f} / {c * 1e3:.1f}" for k, (w, c) in load.items()
    ))  # fmt: skip
    names = ["mistral_tok warm", "mistral_tok cold", "sentencepiece", "mistral_common"]
    print(f"{'text':<20} " + " ".join(f"{n:>22}" for n in names) + "  same")
    print(f"{'':<20} " + " ".join(f"{'MB/s wall / cpu':>22}" for _ in names))
    for label, text in texts.items():
        size = len(text.encode("utf-8"))
        reps = runs if size > 10_000 else 2000
        fns: dict[str, Callable[[], object]] = {
            "ours": functools.partial(ours.encode, text),
            "raw": functools.partial(raw.encode, text),
            "ref": functools.partial(ref.encode, text, bos=False, eos=False),
        }
        timings = []
        for fn in fns.values():
            if reps > runs:
                wall, cpu = best(functools.partial(repeat, fn, reps), 3)
                timings.append((wall / reps, cpu / reps))
            else:
                timings.append(best(fn, reps))
        timings.insert(1, best_cold(path, text, runs if size > 10_000 else 50))
        cells = [f"{size / w / 1e6:9.2f} / {size / max(c, 1e-9) / 1e6:9.2f}" for w, c in timings]
        same = ours.encode(text) == raw.encode(text) == ref.encode(text, bos=False, eos=False)
        print(f"{label:<20} " + " ".join(f"{c:>22}" for c in cells) + f"  {same}")
    size = len(first.encode("utf-8"))
    print(f"first encode after load, prose 1 MB: {size / first_call / 1e6:.1f} MB/s (wall)")


if __name__ == "__main__":
    main()
