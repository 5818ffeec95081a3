"""Event-loop lag and per-await overhead, side by side in one run.

    python benches/async_lag.py [--mb 5] [--reps 3] [--tokenizer tekken_240911.json]

1. Lag: while a ``--mb`` MB text (stdlib docstrings) is encoded, a probe task sleeping 1 ms at a
   time records how late it wakes (max / p99 / mean; ``mistral_tok._lag``), for
   - mistral-tok's awaitable (``await tok.encode_async(text)``),
   - mistral_common called inline in the coroutine (what blocking code does to a loop),
   - mistral_common in a one-thread ``ThreadPoolExecutor`` (vLLM's ``make_async``),
   - mistral-tok's sync ``encode`` in the same executor (GIL released while encoding).
   "loop cpu" is the CPU time the loop thread spent (probe included); "max stretch" the longest
   loop-thread CPU time between two probe wake-ups (``LoopLag.max_cpu_ms``), which unlike the
   lags does not grow with the machine's load.
2. Per-await overhead: ``asyncio.gather`` of 2,000 encodes of a short text, through the awaitable
   and through ``run_in_executor``, on asyncio and on uvloop when installed: wall time and the
   loop thread's CPU time per await.

Numbers are for comparison within one run; the machine's load moves all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import time

from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

from mistral_tok import Tokenizer, shipped_tokenizer_path
from mistral_tok._lag import measure_lag
from mistral_tok._scenarios import stdlib_prose


async def lag_table(tok: Tokenizer, mc, text: str, reps: int) -> None:
    loop = asyncio.get_running_loop()
    pool = concurrent.futures.ThreadPoolExecutor(1)

    async def inline() -> list[int]:
        return mc.encode(text, False, False)

    rows = {
        "mistral-tok encode_async": lambda: tok.encode_async(text),
        "mistral_common inline": inline,
        "mistral_common in TPE(1)": lambda: loop.run_in_executor(
            pool, mc.encode, text, False, False
        ),
        "mistral-tok sync in TPE(1)": lambda: loop.run_in_executor(pool, tok.encode, text),
    }
    expected = mc.encode(text, False, False)
    assert await tok.encode_async(text) == expected, "mistral-tok differs from mistral_common"
    print(
        f"{'':28} {'max lag':>9} {'p99 lag':>9} {'mean lag':>9} {'max stretch':>11} "
        f"{'wall':>9} {'loop cpu':>9}"
    )
    for name, make in rows.items():
        r = await measure_lag(make, reps)
        print(
            f"{name:28} {r.max_ms:7.1f}ms {r.p99_ms:7.1f}ms {r.mean_ms:7.2f}ms "
            f"{r.max_cpu_ms:9.1f}ms {r.wall_ms:7.0f}ms {r.loop_cpu_ms:7.0f}ms"
        )
    pool.shutdown()


async def overhead_table(tok: Tokenizer, mc, n: int = 2000, reps: int = 5) -> None:
    loop = asyncio.get_running_loop()
    pool = concurrent.futures.ThreadPoolExecutor(1)
    text = "Hello, how are you?"
    rows = {
        "mistral-tok encode_async": lambda: tok.encode_async(text),
        "mistral-tok sync in TPE(1)": lambda: loop.run_in_executor(pool, tok.encode, text),
        "mistral_common in TPE(1)": lambda: loop.run_in_executor(
            pool, mc.encode, text, False, False
        ),
    }
    for name, make in rows.items():
        best, best_cpu = float("inf"), float("inf")
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.thread_time()
            await asyncio.gather(*[make() for _ in range(n)])
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.thread_time() - c0)
        print(
            f"  {name:28} {best / n * 1e6:7.1f} µs/await wall, {best_cpu / n * 1e6:6.1f} µs "
            f"loop cpu (best of {reps}, gather of {n})"
        )
    pool.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=5.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--tokenizer", default="tekken_240911.json")
    args = parser.parse_args()

    path = shipped_tokenizer_path(args.tokenizer)
    tok = Tokenizer.from_file(path)
    mc = MistralTokenizer.from_file(str(path)).instruct_tokenizer.tokenizer
    text = stdlib_prose(int(args.mb * 1_000_000))

    print(f"== loop lag while encoding {args.mb:g} MB ({args.tokenizer}), worst of {args.reps}")
    asyncio.run(lag_table(tok, mc, text, args.reps))
    print("== per-await overhead, asyncio")
    asyncio.run(overhead_table(tok, mc))
    try:
        import uvloop
    except ImportError:
        return
    print("== per-await overhead, uvloop")
    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(overhead_table(tok, mc))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
