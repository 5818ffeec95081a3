"""Chat requests → token ids, side by side: mistral_common vs mistral_tok, in one run.

Python dicts in, ``list[int]`` out, on tekken (``tekken_240911.json``) and SentencePiece v3
(``mistral_instruct_tokenizer_240323.model.v3``), for the scenarios of ``docs/architecture.md``:

  (a) one 1 MB prose user message;
  (b) a system prompt + 2,000 short alternating user/assistant turns (60–240 chars), ending with a
      user turn (2,001 messages);
  (c) 50 tools with JSON schemas of 3–8 parameters + 100 tool calls and results (50 rounds of two
      parallel calls) after the last user message.

mistral_common is timed as ``ChatCompletionRequest.from_openai`` + ``encode_chat_completion``;
mistral_tok as ``Tokenizer.encode_chat``. Inputs are deterministic (``mistral_tok._scenarios``,
also behind ``mistral-tok bench``): the prose is CPython stdlib docstrings (offline), sliced with a
seeded RNG. Medians over ``--reps`` runs (after one warm-up) of
the calling thread's CPU time (``--clock wall`` for elapsed time). ``--fresh`` hands each run new
str objects (a JSON round trip, outside the timed region), as a server parsing each request does:
CPython caches a str's UTF-8 in the object once asked for it, which repeated runs on the same
objects would otherwise reuse.

    python benches/compare_chat.py [--reps 5] [--scenarios abc] [--tokenizers tekken,spm] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mistral_common
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

from mistral_tok._scenarios import build_scenarios, payload_bytes

DATA = Path(mistral_common.__file__).parent / "data"
TOKENIZERS = {
    "tekken": DATA / "tekken_240911.json",
    "spm": DATA / "mistral_instruct_tokenizer_240323.model.v3",
}


def median_ms(
    fn: Callable[[dict], Any], request: dict, reps: int, clock: Callable[[], float], fresh: bool
) -> tuple:
    result = fn(request)  # warm-up; also the value compared
    times = []
    for _ in range(reps):
        arg = json.loads(json.dumps(request)) if fresh else request
        t0 = clock()
        fn(arg)
        times.append((clock() - t0) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--scenarios", default="abc")
    parser.add_argument("--tokenizers", default="tekken,spm")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="cpu: this thread's CPU time (steadier on a shared machine); wall: elapsed time",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="new str objects for every run (see the docstring)"
    )
    args = parser.parse_args()
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter

    try:
        from mistral_tok import Tokenizer
    except ImportError:
        Tokenizer = None  # noqa: N806 - reported as n/a below

    names = {"a": "a 1 MB prose", "b": "b 2,000 turns", "c": "c 50 tools/100 calls"}
    built = build_scenarios(args.scenarios, seed=args.seed)
    scenarios = {names[k]: request for k, (_, request) in built.items()}

    header = (
        f"{'tokenizer':8} {'scenario':22} {'KB':>6} {'mistral_common ms':>18} "
        f"{'mistral_tok ms':>15} {'ratio':>7} {'tokens':>8}  ids"
    )
    fresh = ", new str objects every run" if args.fresh else ""
    print(f"median {args.clock} time per request, ms{fresh}")
    print(header)
    print("-" * len(header))
    for tok_name in args.tokenizers.split(","):
        path = TOKENIZERS[tok_name]
        ref = MistralTokenizer.from_file(str(path))
        ours = Tokenizer.from_file(path) if Tokenizer is not None else None
        for sc_name, request in scenarios.items():

            def run_ref(request: dict, ref=ref) -> list:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    req = ChatCompletionRequest.from_openai(request["messages"], request["tools"])
                    return ref.encode_chat_completion(req).tokens

            ref_ms, ref_ids = median_ms(run_ref, request, args.reps, clock, args.fresh)
            if ours is not None and hasattr(ours, "encode_chat"):

                def run_ours(request: dict, ours=ours) -> list:
                    return ours.encode_chat(request["messages"], request["tools"])

                try:
                    our_ms, our_ids = median_ms(
                        run_ours, request, max(args.reps, 20), clock, args.fresh
                    )
                    cells = (f"{our_ms:15.2f}", f"{ref_ms / our_ms:6.1f}x", str(our_ids == ref_ids))
                except Exception as exc:  # a bench reports, it does not stop
                    cells = (f"{'error':>15}", f"{'':>7}", f"{type(exc).__name__}: {exc}"[:60])
            else:
                cells = (f"{'n/a':>15}", f"{'':>7}", "encode_chat not available")
            kb = payload_bytes(request) / 1000
            print(
                f"{tok_name:8} {sc_name:22} {kb:6.0f} {ref_ms:18.1f} {cells[0]} {cells[1]:>7} "
                f"{len(ref_ids):8}  {cells[2]}"
            )


if __name__ == "__main__":
    main()
