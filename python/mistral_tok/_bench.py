"""``mistral-tok bench`` and ``mistral-tok demo``: mistral-tok and mistral_common side by side in
one run, with the event loop's lag while each encodes.

Ways of encoding, each awaited inside a coroutine under a :class:`mistral_tok._lag.LoopLag` probe:

- mistral_common inline: ``from_openai`` + ``encode_chat_completion`` called in the coroutine, as
  blocking code does;
- mistral_common in a thread: the same in a one-thread ``ThreadPoolExecutor`` (vLLM's
  ``make_async``); the GIL it holds still delays the loop;
- mistral-tok inline: ``Tokenizer.encode_chat`` called in the coroutine (bench only);
- mistral-tok awaitable: ``await Tokenizer.encode_chat_async(...)``, computed on mistral-tok's
  worker thread with the GIL released.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import textwrap
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from mistral_tok._lag import LagRun, measure_lag
from mistral_tok._native import Tokenizer
from mistral_tok._requests import Reference, call_args, encode_ours
from mistral_tok._scenarios import build_scenarios, payload_bytes

MC_INLINE = "mistral_common, inline"
MC_THREAD = "mistral_common, in a thread"
OURS_INLINE = "mistral-tok encode_chat, inline"
OURS_ASYNC = "mistral-tok await encode_chat_async"

DEMO_REQUEST: dict[str, Any] = {
    "model": "mistral-small-latest",
    "messages": [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call00001",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "call00001",
            "content": '{"temperature_c": 18, "sky": "cloudy"}',
        },
        {"role": "user", "content": "Thanks! Should I take an umbrella?"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather in a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ],
    "temperature": 0.2,
}


@dataclass
class Row:
    name: str
    run: LagRun


def _ways(
    tok: Tokenizer, reference: Reference, requests: list[Any], pool: concurrent.futures.Executor
) -> dict[str, Callable[[], Awaitable[list[list[int]]]]]:
    """Each way encodes ``requests`` one after the other and returns their ids."""
    args = [call_args(request) for request in requests]

    async def mc_inline() -> list[list[int]]:
        return [reference.encode_chat(request) for request in requests]

    async def mc_thread() -> list[list[int]]:
        loop = asyncio.get_running_loop()
        return [await loop.run_in_executor(pool, reference.encode_chat, r) for r in requests]

    async def ours_inline() -> list[list[int]]:
        return [encode_ours(tok, request) for request in requests]

    async def ours_async() -> list[list[int]]:
        return [await tok.encode_chat_async(m, t, **fields) for m, t, fields in args]

    return {
        MC_INLINE: mc_inline,
        MC_THREAD: mc_thread,
        OURS_INLINE: ours_inline,
        OURS_ASYNC: ours_async,
    }


async def measure_ways(
    tok: Tokenizer, reference: Reference, requests: list[Any], names: list[str], reps: int
) -> list[Row]:
    """One :class:`Row` per way in ``names``, measured in that order, ``reps`` times each."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mistral_common") as pool:
        ways = _ways(tok, reference, requests, pool)
        return [Row(name, await measure_lag(ways[name], reps)) for name in names]


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 10 else f"{value:,.1f} ms"


def _rate(tokens: int, ms: float) -> str:
    per_s = tokens / (ms / 1000) if ms > 0 else float("inf")
    if per_s >= 1e6:
        return f"{per_s / 1e6:,.2f} M"
    return f"{per_s / 1e3:,.0f} k"


def table(rows: list[Row], tokens: int) -> list[str]:
    header = f"  {'':38}{'wall':>11}{'CPU':>11}{'tokens/s':>11}{'max lag':>11}{'p99 lag':>11}"
    lines = [header]
    for row in rows:
        r = row.run
        lines.append(
            f"  {row.name:38}{_ms(r.wall_ms):>11}{_ms(r.process_cpu_ms):>11}"
            f"{_rate(tokens, r.wall_ms):>11}{_ms(r.max_ms):>11}{_ms(r.p99_ms):>11}"
        )
    return lines


LEGEND = (
    "  wall: elapsed time; CPU: the process's CPU time (all threads); tokens/s: by wall time;\n"
    "  max/p99 lag: how late a task sleeping 1 ms at a time woke up, i.e. how long the event\n"
    "  loop could not serve anything else (on a loaded machine even an idle loop shows a few ms)."
)


def bench(
    tok: Tokenizer,
    reference: Reference,
    out: TextIO,
    scenarios: str = "abc",
    size_mb: float = 1.0,
    reps: int = 3,
    requests: tuple[str, list[Any]] | None = None,
) -> bool:
    """Print one table per scenario (or for ``requests``: a name and the requests, encoded one
    after the other); True when the ids were identical everywhere."""
    if requests is None:
        batches = [
            (f"{key}. {title}: {payload_bytes(request) / 1000:,.0f} KB", [request])
            for key, (title, request) in build_scenarios(
                scenarios, prose_bytes=int(size_mb * 1_000_000)
            ).items()
        ]
    else:
        name, batch = requests
        size = sum(len(json.dumps(r).encode()) for r in batch)
        batches = [(f"{name}: {len(batch):,} requests, {size / 1000:,.0f} KB of JSON", batch)]
    names = [MC_INLINE, MC_THREAD, OURS_INLINE, OURS_ASYNC]
    print(
        f"mistral-tok bench: {Path(str(tok.path)).name} ({tok.kind} v{tok.version}), "
        f"mistral_common {reference.version}; wall/CPU are means of {reps}, lags the worst",
        file=out,
    )
    print(LEGEND, file=out)
    same_everywhere = True
    for title, batch in batches:
        expected = [reference.encode_chat(request) for request in batch]  # also the warm-up
        same = [encode_ours(tok, request) for request in batch] == expected
        same_everywhere &= same
        tokens = sum(map(len, expected))
        print(f"\n{title}, {tokens:,} tokens, ids {'identical' if same else 'DIFFERENT'}", file=out)
        rows = asyncio.run(measure_ways(tok, reference, batch, names, reps))
        for line in table(rows, tokens):
            print(line, file=out)
        by_name = {row.name: row.run for row in rows}
        ratio = by_name[MC_INLINE].process_cpu_ms / max(by_name[OURS_INLINE].process_cpu_ms, 1e-6)
        print(f"  mistral-tok / mistral_common: {ratio:,.1f}x less CPU time", file=out)
    return same_everywhere


def demo(
    tok: Tokenizer,
    reference: Reference,
    out: TextIO,
    size_mb: float = 5.0,
    reps: int = 1,
    started: float | None = None,
) -> bool:
    """The newcomer's tour; True when mistral-tok's ids matched mistral_common's.

    ``started`` is when the command started (``time.perf_counter()``), for the total time shown.
    """
    started = time.perf_counter() if started is None else started
    print(
        f"mistral-tok demo — tokenizer {tok.path} ({tok.kind} v{tok.version}, "
        f"{tok.vocab_size:,} ids), mistral_common {reference.version} as the reference",
        file=out,
    )
    ids = encode_ours(tok, DEMO_REQUEST)
    expected = reference.encode_chat(DEMO_REQUEST)
    small_same = ids == expected
    print("\n1. A chat request (OpenAI format)\n", file=out)
    print(_indent(compact_json(DEMO_REQUEST)), file=out)
    print(f"\n   token ids ({len(ids)}):", file=out)
    print(_indent(json.dumps(ids), width=96), file=out)
    print("\n   the prompt, decoded with its special tokens:\n", file=out)
    print(_indent(tok.decode(ids, special_token_policy="keep")), file=out)
    print(
        f"\n   mistral_common gives {'the same ids' if small_same else 'DIFFERENT ids'}.",
        file=out,
    )

    prose_bytes = int(size_mb * 1_000_000)
    title, request = build_scenarios("a", prose_bytes=prose_bytes)["a"]
    print(
        f"\n2. The event loop while a {size_mb:g} MB request is encoded ({title} of stdlib "
        "docstrings)\n",
        file=out,
    )
    rows = asyncio.run(
        measure_ways(tok, reference, [request], [MC_INLINE, MC_THREAD, OURS_ASYNC], reps)
    )
    by_name = {row.name: row.run for row in rows}
    big_expected = by_name[MC_INLINE].result[0]
    big_same = by_name[OURS_ASYNC].result[0] == big_expected
    for line in table(rows, len(big_expected)):
        print(line, file=out)
    print(LEGEND, file=out)

    inline, thread, ours = by_name[MC_INLINE], by_name[MC_THREAD], by_name[OURS_ASYNC]
    if small_same and big_same:
        ratio = inline.process_cpu_ms / max(ours.process_cpu_ms, 1e-6)
        conclusion = (
            f"Conclusion: identical ids ({len(big_expected):,} tokens); through mistral-tok's "
            f"awaitable the event loop's longest stall was {_ms(ours.max_ms)}, against "
            f"{_ms(inline.max_ms)} with mistral_common inline and {_ms(thread.max_ms)} in a "
            f"thread, for {ratio:,.1f}x less CPU time."
        )
    else:
        conclusion = (
            "Conclusion: mistral-tok's ids DIFFER from mistral_common's on this machine — please "
            "report it; `mistral-tok verify` shows where."
        )
    print("\n" + textwrap.fill(conclusion, width=100), file=out)
    print(f"(demo ran in {time.perf_counter() - started:.1f} s)", file=out)
    return small_same and big_same


def _indent(text: str, prefix: str = "   ", width: int | None = None) -> str:
    if width is None:
        return "\n".join(prefix + line for line in text.splitlines())
    lines, current = [], ""
    for word in text.split(" "):
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    return "\n".join(prefix + line for line in lines)


def compact_json(request: dict[str, Any]) -> str:
    """The request as JSON with one line per message and per tool."""
    lines = ["{"]
    items = list(request.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, list) and value:
            lines.append(f"  {json.dumps(key)}: [")
            for j, item in enumerate(value):
                sep = "," if j < len(value) - 1 else ""
                lines.append(f"    {json.dumps(item, ensure_ascii=False)}{sep}")
            lines.append(f"  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    lines.append("}")
    return "\n".join(lines)
