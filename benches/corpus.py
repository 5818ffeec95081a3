"""Deterministic, offline benchmark texts (shared by the benchmark scripts and the tests).

``prose(n)`` is the first ``n`` bytes of the docstrings of CPython's standard library (the
top-level ``*.py`` files in sorted order, text between triple double quotes) — English prose
with some code, the same on every run of one Python version.
``crates/mistral-tok-core/benches/sentencepiece.rs`` builds the same text.
"""

from __future__ import annotations

import random
import sysconfig
from pathlib import Path

MB = 1_000_000


def _cut(text: str, n_bytes: int) -> str:
    return text.encode("utf-8")[:n_bytes].decode("utf-8", "ignore")


def prose(n_bytes: int = MB) -> str:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts: list[str] = []
    size = 0
    for path in sorted(stdlib.glob("*.py")):
        try:
            source = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for doc in source.split('"""')[1::2]:
            parts.append(doc)
            size += len(doc.encode("utf-8")) + 2
        if size >= n_bytes:
            break
    return _cut("\n\n".join(parts), n_bytes)


def mixed_scripts(n_bytes: int = MB, seed: int = 0) -> str:
    """Words from several scripts (Latin with accents, Cyrillic, Greek, CJK, Arabic, emoji)."""
    rng = random.Random(seed)
    words = (
        "the quick brown fox jumps über naïve café déjà vu "
        "привет мир как дела хорошо "
        "καλημέρα κόσμε "
        "日本語 中文 한국어 東京 北京 "
        "مرحبا بالعالم "
        "😀 🚀 👍🏽 ✨ "
        "1234 3.14 x=y+1; f(a, b)"
    ).split()
    out: list[str] = []
    size = 0
    while size < n_bytes:
        w = rng.choice(words)
        sep = rng.choice([" ", " ", " ", "  ", "\n", ", ", ". "])
        out.append(w + sep)
        size += len(w.encode("utf-8")) + len(sep)
    return _cut("".join(out), n_bytes)


def single_piece(n_bytes: int = 100_000, seed: int = 0) -> str:
    """Random ASCII letters without spaces: one word, merged as a whole."""
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n_bytes))


if __name__ == "__main__":
    for name, text in [("prose", prose()), ("mixed", mixed_scripts()), ("piece", single_piece())]:
        print(f"{name}: {len(text.encode('utf-8'))} bytes, {len(text)} chars")
