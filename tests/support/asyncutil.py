"""Helpers shared by the async test modules (plain functions, no fixtures)."""

from __future__ import annotations

import gc
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mistral_tok import Tokenizer, TokenizerFileError, shipped_tokenizer_path
from mistral_tok._lag import LoopLag

TOKENIZER_FILES = ["tekken_240911.json", "mistral_instruct_tokenizer_240323.model.v3"]


def load_or_skip(name: str) -> Tokenizer:
    """The shipped tokenizer `name`, or a skip while its kind is not implemented yet."""
    try:
        return Tokenizer.from_file(shipped_tokenizer_path(name))
    except TokenizerFileError as e:
        if "not implemented" in str(e):
            pytest.skip(f"{name}: {e}")
        raise


def sample_texts(n_random: int = 300) -> list[str]:
    """Hand-picked edge cases plus deterministic random strings over a varied alphabet."""
    fixed = [
        "",
        " ",
        "Hello world",
        "  leading and trailing  ",
        "[INST] not a control token [/INST] </s> <s>",
        "line\nbreaks\r\nand\ttabs",
        "Zahlen 1234567890 und Ümlaute, ça va? 日本語のテキスト。",
        "emoji 👩‍👩‍👧‍👦 🇫🇷 and marks e\u0301\u0302",
        "x" * 5000,
        "def f(a, b):\n    return {'k': [a, b]}  # code\n",
        "\u00a0\u2009\u3000 exotic spaces",
    ]
    alphabet = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 .,;:!?'\"()[]{}<>/\\-_\n\t") + [
        "é",
        "ß",
        "Ω",
        "ж",
        "中",
        "語",
        "🙂",
        "\u0301",
        "\u00a0",
        "▁",
        "’",
    ]
    rng = random.Random(1234)
    randoms = ["".join(rng.choices(alphabet, k=rng.randint(1, 400))) for _ in range(n_random)]
    return fixed + randoms


def prose(n_bytes: int) -> str:
    """About `n_bytes` of English-like prose with some non-ASCII, deterministic."""
    words = (
        "the quick brown fox jumps over lazy dogs while tokenizers count every byte of "
        "natural language text, numbers like 2024 and 3.14, café naïve façade, and code "
        "snippets such as print(x) or {key: value}; meanwhile servers keep answering requests."
    ).split()
    rng = random.Random(n_bytes)
    parts: list[str] = []
    size = 0
    while size < n_bytes:
        sentence = " ".join(rng.choices(words, k=rng.randint(6, 18))).capitalize() + ". "
        if rng.random() < 0.1:
            sentence += "\n\n"
        parts.append(sentence)
        size += len(sentence.encode())
    return "".join(parts)


def rss_bytes() -> int:
    """Resident set size of this process (Linux)."""
    fields = Path("/proc/self/statm").read_text().split()
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")


def worker_cpu_ms() -> float | None:
    """CPU time the mistral-tok worker thread has used so far, in ms (0.0 before it starts), or
    None where ``/proc`` does not tell."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    for tid in tasks:
        task = Path("/proc/self/task", tid)
        try:
            if (task / "comm").read_text().strip() != "mistral-tok-wor":  # 15-byte comm
                continue
            if (task / "schedstat").exists():
                return int((task / "schedstat").read_text().split()[0]) / 1e6
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None
    return 0.0


@dataclass
class LoopWork:
    """What the event loop's thread did while one awaited job ran, next to an idle baseline
    measured in the same test. Every figure is CPU time (ms), which the machine's load does not
    stretch; wall-clock lags are left to ``make test-timing`` and the benches."""

    count: int  # probe wake-ups during the job
    max_cpu_ms: float  # longest stretch of loop-thread CPU between two wake-ups, during the job
    idle_max_cpu_ms: float  # the same while the loop only waited for a worker job
    job_cpu_ms: float  # CPU of every thread during the job, the probe's own share removed
    worker_cpu_ms: float | None  # the worker thread's share of it (None: not measurable here)


# A job run on the loop thread is one stretch of at least the worker's share (half or more of the
# job); done right, the longest stretch measured is 2-8 % of the job (5 and 25 MB texts, a 25 MB
# chat, 2 cores; the result list is built a slice at a time).
STRETCH_SHARE = 0.25
WORKER_SHARE = 0.3


async def measure_loop_work(
    make: Callable[[], Awaitable[Any]], probe: Callable[[], LoopLag] = LoopLag
) -> tuple[Any, LoopWork]:
    """Awaits ``make()`` under a loop probe, after an idle run of the same probe (the loop waits
    while the worker sleeps 0.2 s). The garbage collector is off meanwhile: its pauses belong to
    the test process, not to the job."""
    from mistral_tok import _native

    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        cpu0 = time.thread_time()
        async with probe() as idle:
            await _native._test_sleep_job(0.2, 0)
        per_wake_up_ms = (time.thread_time() - cpu0) * 1000 / max(1, idle.count)
        worker0, cpu0 = worker_cpu_ms(), time.process_time()
        async with probe() as lag:
            result = await make()
        job_cpu_ms = (time.process_time() - cpu0) * 1000 - per_wake_up_ms * lag.count
        worker1 = worker_cpu_ms()
    finally:
        if was_enabled:
            gc.enable()
    worker = None if worker0 is None or worker1 is None else worker1 - worker0
    work = LoopWork(lag.count, lag.max_cpu_ms, idle.max_cpu_ms, job_cpu_ms, worker)
    return result, work


def assert_loop_stays_free(work: LoopWork) -> None:
    """The job ran on the worker thread, and the loop never worked through a large share of it
    at a stretch (beyond what it does idle)."""
    assert work.count > 0, f"the probe never ran: {work}"
    assert work.max_cpu_ms - work.idle_max_cpu_ms < STRETCH_SHARE * work.job_cpu_ms, work
    if work.worker_cpu_ms is not None:
        assert work.worker_cpu_ms > WORKER_SHARE * work.job_cpu_ms, work
