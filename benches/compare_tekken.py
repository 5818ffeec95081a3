"""Tekken encode speed, side by side: mistral_tok, raw tiktoken, mistral_common's Tekkenizer.

Same inputs as the criterion bench (``crates/mistral-tok-core/benches/support/inputs.rs``, same
generators): 1 MB of English prose (CPython stdlib docstrings), 300 KB of mixed scripts, 100 KB of
base64, and two single 100 KB pieces. Prints MB/s (median of several runs; CPU time of the calling
thread by default, ``--clock wall`` for wall time) and load times. Build with ``maturin develop
--release`` first; a debug build is ~10x slower.

    python benches/compare_tekken.py [--reps N] [--file tekken_240911.json]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import sysconfig
import time
from pathlib import Path

import tiktoken
from mistral_common.tokens.tokenizers.tekken import Tekkenizer

from mistral_tok import Tokenizer, shipped_tokenizer_path

MASK = (1 << 64) - 1


class XorShift:
    """The generator of ``crates/mistral-tok-core/benches/support/inputs.rs``."""

    def __init__(self, seed: int) -> None:
        self.state = seed

    def next(self) -> int:
        x = self.state
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
        self.state = x
        return x

    def below(self, n: int) -> int:
        return self.next() % n


def truncate_utf8(s: str, n: int) -> str:
    return s.encode("utf-8")[:n].decode("utf-8", errors="ignore")


def prose() -> str:
    parts = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        try:
            with open(path, encoding="utf-8", newline="") as f:
                src = f.read()
        except (UnicodeDecodeError, OSError):
            continue
        parts.extend(chunk for i, chunk in enumerate(src.split('"""')) if i % 2 == 1)
    return truncate_utf8("\n\n".join(parts), 1_000_000)


WORDS = [
    "hello", "World", "ÉCOLE", "naïve", "straße", "Привет", "мир", "Ελληνικά", "λόγος", "中文",
    "日本語のテキスト", "한국어", "مرحبا", "שלום", "हिन्दी", "ভাষা", "தமிழ்", "ǅemal", "ʰʲ",
    "x\u0301\u0302", "e\u0301", "2024", "٣٤٥", "Ⅻ", "½", "😀", "👍🏻",
    "👨\u200d👩\u200d👧", "❤\ufe0f",
    "CamelCase", "snake_case", "ALLCAPS", "I'm", "don't", "(x)", '{"a": 1}', "a/b/c", "--flag",
    "$100", "3.14", "#tag", "@user", "e-mail", "\U0001d400\U0001d401", "\U0010ffff", "ﬁ",
]  # fmt: skip
SEPARATORS = [
    " ", " ", " ", " ", "  ", "\n", "\r\n", "\t", "\xa0", "\u3000", "\u2028", " \n ", ", ", ". ",
    "", "\u200b", "   ",
]  # fmt: skip


def mixed() -> str:
    rng = XorShift(0x123456789ABCDEF1)
    out: list[str] = []
    size = 0
    while size < 300_000:
        w = WORDS[rng.below(len(WORDS))] + SEPARATORS[rng.below(len(SEPARATORS))]
        out.append(w)
        size += len(w.encode("utf-8"))
    return truncate_utf8("".join(out), 300_000)


def base64_text() -> str:
    rng = XorShift(0x0BADCAFEF00DD00D)
    data = bytes((rng.next() >> 24) & 0xFF for _ in range(75_000))
    return base64.b64encode(data).decode("ascii")


def random_letters() -> str:
    rng = XorShift(0x5EED5EED5EED5EED)
    return "".join(chr(ord("a") + rng.below(26)) for _ in range(100_000))


def inputs() -> list[tuple[str, str]]:
    return [
        ("prose_1mb", prose()),
        ("mixed_300kb", mixed()),
        ("base64_100kb", base64_text()),
        ("one_letter_100kb", "a" * 100_000),
        ("random_letters_100kb", random_letters()),
    ]


CLOCKS = {
    # CPU time of the calling thread: every contender runs its work on it (mistral_tok releases the
    # GIL but computes on the same thread), and it is far less skewed by a busy machine.
    "cpu": time.thread_time,
    "wall": time.perf_counter,
}
clock = CLOCKS["cpu"]


def median_seconds(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def tiktoken_load(path: Path) -> tiktoken.Encoding:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    n = data["config"]["default_vocab_size"] - data["config"]["default_num_special_tokens"]
    ranks = {base64.b64decode(t["token_bytes"]): t["rank"] for t in data["vocab"][:n]}
    return tiktoken.Encoding(
        name="tekken", pat_str=data["config"]["pattern"], mergeable_ranks=ranks, special_tokens={}
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--file", default="tekken_240911.json")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    path = shipped_tokenizer_path(args.file)

    print(f"file: {path.name}; times: median, {args.clock} clock")
    loads = {
        "mistral_tok": median_seconds(lambda: Tokenizer.from_file(path), args.reps),
        "tiktoken (json + ranks + Encoding)": median_seconds(lambda: tiktoken_load(path), 3),
        "mistral_common Tekkenizer.from_file": median_seconds(
            lambda: Tekkenizer.from_file(path), 3
        ),
    }
    for name, seconds in loads.items():
        print(f"load  {name:<38} {seconds * 1e3:8.1f} ms")

    ours = Tokenizer.from_file(path)
    ref = Tekkenizer.from_file(path)
    raw = ref._model  # the tiktoken.Encoding mistral_common wraps
    shift = ref.num_special_tokens

    print()
    header = (
        f"{'input':<22} {'MB':>6} {'tokens':>8} {'mistral_tok':>12} {'tiktoken':>12}"
        f" {'mistral_common':>15}"
    )
    print(header + "   (MB/s; tiktoken = raw encode_ordinary)")
    for name, text in inputs():
        mb = len(text.encode("utf-8")) / 1e6
        ids = ours.encode(text)
        if ids != ref.encode(text, bos=False, eos=False):
            print(f"MISMATCH on {name}", file=sys.stderr)
            return 1
        if [i + shift for i in raw.encode_ordinary(text)] != ids:
            print(f"MISMATCH (tiktoken) on {name}", file=sys.stderr)
            return 1
        t_ours = median_seconds(lambda t=text: ours.encode(t), args.reps)
        t_raw = median_seconds(lambda t=text: raw.encode_ordinary(t), args.reps)
        t_ref = median_seconds(
            lambda t=text: ref.encode(t, bos=False, eos=False), max(args.reps // 2, 2)
        )
        print(
            f"{name:<22} {mb:6.2f} {len(ids):8d} {mb / t_ours:12.1f} {mb / t_raw:12.1f}"
            f" {mb / t_ref:15.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
