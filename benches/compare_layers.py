"""The patched layers, side by side with the unpatched functions, in one run: one 1 MB prose
request (``mistral_tok._scenarios`` scenario a) on ``tekken_240911.json``.

* mistral_common ``MistralTokenizer.encode_chat_completion(request)``: the caller's
  ``ChatCompletionRequest.from_openai`` is built once, outside the measurement;
* transformers ``MistralCommonBackend.apply_chat_template(messages)`` end to end (tokenize=True,
  its default ``BatchEncoding``), and with ``tokenize=False``.

"Unpatched" is the same call with every mistral-tok layer off (``all_layers_off``), in the same
process. Medians over ``--reps`` runs after a warm-up, of this thread's CPU time (``--clock
wall`` for elapsed time). Results are checked equal.

    python benches/compare_layers.py [--reps 5] [--size-mb 1] [--clock cpu|wall]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import mistral_tok
from mistral_tok._integration import context
from mistral_tok._scenarios import scenario_a, stdlib_prose


def median_ms(fn: Callable[[], Any], reps: int, clock: Callable[[], float]) -> tuple[float, Any]:
    result = fn()
    times = []
    for _ in range(reps):
        t0 = clock()
        fn()
        times.append((clock() - t0) * 1000)
    return statistics.median(times), result


def unpatched(fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with context.all_layers_off():
            return fn()

    return run


def row(name: str, fn: Callable[[], Any], reps: int, clock: Any, same: Callable) -> None:
    theirs_ms, theirs = median_ms(unpatched(fn), reps, clock)
    ours_ms, ours = median_ms(fn, reps, clock)
    print(
        f"{name:<44} {theirs_ms:>10.1f} {ours_ms:>10.1f} {theirs_ms / ours_ms:>8.1f}x"
        f"  {'identical' if same(theirs, ours) else 'DIFFERENT'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--size-mb", type=float, default=1.0)
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    args = parser.parse_args()
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    warnings.simplefilter("ignore")
    print(mistral_tok.patch(["mistral_common", "transformers"]))

    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    path = str(mistral_tok.shipped_tokenizer_path())
    request = scenario_a(stdlib_prose(int(args.size_mb * 1_000_000)))
    messages = request["messages"]
    print(f"one {args.size_mb:g} MB prose request on {path}; median {args.clock} ms of {args.reps}")
    print(f"{'call':<44} {'unpatched':>10} {'patched':>10} {'speed-up':>9}")
    mt = MistralTokenizer.from_file(path)
    pydantic_request = ChatCompletionRequest.from_openai(messages)
    row(
        "mistral_common encode_chat_completion",
        lambda: mt.encode_chat_completion(pydantic_request),
        args.reps,
        clock,
        lambda a, b: a == b,
    )
    try:
        from transformers import MistralCommonBackend
    except ImportError:
        print("transformers is not installed: its rows are skipped")
        return
    backend = MistralCommonBackend(tokenizer_path=path)
    row(
        "transformers apply_chat_template",
        lambda: backend.apply_chat_template(messages),
        args.reps,
        clock,
        lambda a, b: dict(a) == dict(b),
    )
    row(
        "transformers apply_chat_template tokenize=False",
        lambda: backend.apply_chat_template(messages, tokenize=False),
        args.reps,
        clock,
        lambda a, b: a == b,
    )
    print(mistral_tok.stats())


if __name__ == "__main__":
    main()
