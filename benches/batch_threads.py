"""``Tokenizer.encode_chat_batch``: 1,000 mixed conversations on 1 thread vs 2 threads, in one run.

The conversations are mixed, seeded, on ``tekken_240911.json``: half are generated valid
requests (``tests/support/chat_gen.py``: short chats of odd strings, long turns, a few large ones;
without tools, so that one batch call holds them all), half are chat-data-set-like dialogues of
1–8 turns of 20–4,000 characters of prose each (CPython docstrings, ``mistral_tok._scenarios``).

Wall time, best of ``--reps`` runs after a warm-up, and the process CPU time of that run; the
speed-up of 2 threads over 1 is the figure to read (the target is ≥ 1.7× on an idle 2-core
machine; on a loaded one the threads do not get two cores). Reading the Python objects needs the
GIL and is serial; the helper threads encode the rows read so far meanwhile. ``--realtime`` (root)
runs the process under ``SCHED_FIFO``, so that on a machine shared with other work both threads
still get a core each: what two free cores give, without waiting for the machine to be idle.

    python benches/batch_threads.py [--reps 5] [--n 1000] [--threads 1,2] [--realtime]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mistral_tok import Tokenizer, shipped_tokenizer_path  # noqa: E402
from mistral_tok._scenarios import stdlib_prose  # noqa: E402
from tests.support.chat_gen import gen_valid, profile_for  # noqa: E402


def dialogue(rng: random.Random, prose: str) -> list:
    turns = []
    for t in range(rng.randint(1, 4) * 2 - 1):
        size = rng.randint(20, 4000)
        start = rng.randrange(len(prose) - size)
        role = "user" if t % 2 == 0 else "assistant"
        turns.append({"role": role, "content": prose[start : start + size]})
    return turns


def conversations(n: int, seed: int = 5) -> list:
    rng = random.Random(seed)
    profile = profile_for("tekken_240911.json", "v3")
    prose = stdlib_prose(2_000_000)
    out = []
    while len(out) < n:
        if len(out) % 2:
            out.append(dialogue(rng, prose))
            continue
        case = gen_valid(rng, profile, big=rng.random() < 0.02)
        if case.tools is None and not case.fields and not case.has_media:
            out.append(case.messages)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--realtime", action="store_true", help="SCHED_FIFO (needs root)")
    args = parser.parse_args()
    if args.realtime:
        # Threads started from here (the helpers) inherit the policy.
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    tok = Tokenizer.from_file(shipped_tokenizer_path())
    rows = conversations(args.n)
    tok.encode_chat_batch(rows, errors="return")  # warm-up (caches, thread start)
    best: dict[int, float] = {}
    cpu: dict[int, float] = {}
    results = {}
    for threads in (int(t) for t in args.threads.split(",")):
        times, cpu_times = [], []
        for _ in range(args.reps):
            # The previous run's lists (10^6 ints) are freed here, outside the timed call.
            out = None
            started, started_cpu = time.perf_counter(), time.process_time()
            out = tok.encode_chat_batch(rows, num_threads=threads, errors="return")
            times.append(time.perf_counter() - started)
            cpu_times.append(time.process_time() - started_cpu)
        best[threads] = min(times)
        cpu[threads] = min(cpu_times)
        results[threads] = out
    first = next(iter(results.values()))
    same = all(
        [x if isinstance(x, list) else repr(x) for x in r]
        == [x if isinstance(x, list) else repr(x) for x in first]
        for r in results.values()
    )
    tokens = sum(len(x) for x in first if isinstance(x, list))
    print(f"{len(rows):,} conversations, {tokens:,} tokens; identical across thread counts: {same}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    policy = "SCHED_FIFO" if args.realtime else "normal scheduling"
    print(f"  (load average {load}; {policy})")
    base = best[min(best)]
    for threads, seconds in best.items():
        print(
            f"  {threads} thread(s): {seconds * 1e3:8.1f} ms  {tokens / seconds / 1e6:6.2f} M tok/s"
            f"  speed-up {base / seconds:4.2f}x  (process CPU {cpu[threads] * 1e3:.1f} ms)"
        )


if __name__ == "__main__":
    main()
