"""Helpers shared by the async test modules (plain functions, no fixtures)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from mistral_tok import Tokenizer, TokenizerFileError, shipped_tokenizer_path

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


def machine_overloaded() -> str | None:
    """Why wall-clock latencies cannot be asserted here (more runnable tasks than CPUs), or None.

    On a shared 2-CPU machine with a load average of 10, an idle event loop already sees 10 ms
    lags from waiting for a CPU; what such a measurement tests is the scheduler, not this code.
    """
    load = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    if load > cpus:
        return f"load average {load:.1f} on {cpus} CPUs"
    return None


def assert_loop_lag(lag, bound_ms: float) -> None:
    """The loop never worked longer than `bound_ms` at a stretch (CPU time, always asserted) and,
    on a machine that is not overloaded, never woke the probe later than `bound_ms` (wall)."""
    assert lag.count > 0, "the probe never ran"
    assert lag.max_cpu_ms < bound_ms, lag
    overloaded = machine_overloaded()
    if overloaded:
        pytest.skip(f"wall-clock lag not asserted ({overloaded}); measured {lag}")
    assert lag.max_ms < bound_ms, lag
