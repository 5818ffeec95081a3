"""Chat requests → token ids, side by side: mistral_common vs mistral_tok, in one run.

Python dicts in, ``list[int]`` out, on tekken (``tekken_240911.json``) and SentencePiece v3
(``mistral_instruct_tokenizer_240323.model.v3``), for the scenarios of performance_anchors.md §1:

  (a) one 1 MB prose user message;
  (b) a system prompt + 2,000 short alternating user/assistant turns (60–240 chars), ending with a
      user turn (2,001 messages);
  (c) 50 tools with JSON schemas of 3–8 parameters + 100 tool calls and results (50 rounds of two
      parallel calls) after the last user message.

mistral_common is timed as ``ChatCompletionRequest.from_openai`` + ``encode_chat_completion``;
mistral_tok as ``Tokenizer.encode_chat``. Inputs are deterministic: the prose is CPython stdlib
docstrings (offline), sliced with a seeded RNG. Medians over ``--reps`` runs (after one warm-up) of
the calling thread's CPU time (``--clock wall`` for elapsed time). ``--fresh`` hands each run new
str objects (a JSON round trip, outside the timed region), as a server parsing each request does:
CPython caches a str's UTF-8 in the object once asked for it, which repeated runs on the same
objects would otherwise reuse.

    python benches/compare_chat.py [--reps 5] [--scenarios abc] [--tokenizers tekken,spm] [--fresh]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import random
import statistics
import string
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import mistral_common
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

DATA = Path(mistral_common.__file__).parent / "data"
TOKENIZERS = {
    "tekken": DATA / "tekken_240911.json",
    "spm": DATA / "mistral_instruct_tokenizer_240323.model.v3",
}
PROSE_BYTES = 1_000_000
_STDLIB = """
os re json collections functools itertools typing asyncio email.message http.client
argparse logging unittest decimal fractions statistics pathlib subprocess threading socket
string textwrap datetime calendar heapq bisect random shutil tempfile zipfile
tarfile csv sqlite3 xml.etree.ElementTree urllib.request inspect dataclasses enum abc contextlib
io codecs locale gettext pickle copy pprint difflib operator math
configparser ftplib imaplib smtplib mailbox optparse pdb pydoc trace turtle
tkinter ipaddress selectors ssl uuid weakref zoneinfo graphlib secrets hashlib
""".split()


def stdlib_prose(n_bytes: int = PROSE_BYTES) -> str:
    """Exactly ``n_bytes`` UTF-8 bytes of English from stdlib docstrings (fixed per Python)."""
    seen: set = set()
    docs: list = []
    for name in _STDLIB:
        try:
            module = importlib.import_module(name)
        except Exception:
            continue
        objects = [module] + [
            getattr(module, a) for a in sorted(dir(module)) if not a.startswith("_")
        ]
        for obj in objects:
            members = [obj]
            if inspect.isclass(obj):
                members += [getattr(obj, a, None) for a in sorted(vars(obj))]
            for member in members:
                doc = inspect.getdoc(member) if member is not None else None
                if doc and doc not in seen and len(doc) > 80:
                    seen.add(doc)
                    docs.append(doc)
    text = "\n\n".join(docs)
    while len(text.encode()) < n_bytes:
        text = text + "\n\n" + text
    return text.encode()[:n_bytes].decode("utf-8", errors="ignore")


def scenario_a(prose: str) -> dict:
    return {"messages": [{"role": "user", "content": prose}], "tools": None}


def scenario_b(prose: str, rng: random.Random) -> dict:
    def snippet() -> str:
        n = rng.randint(60, 240)
        start = rng.randrange(0, len(prose) - n)
        return prose[start : start + n]

    messages: list = [{"role": "system", "content": "You are a helpful assistant. " + snippet()}]
    for i in range(2001):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": snippet()})
    return {"messages": messages, "tools": None}


def _param_schema(rng: random.Random, words: list) -> dict:
    kind = rng.choice(["string", "integer", "number", "boolean", "enum", "array", "object"])
    desc = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
    if kind == "enum":
        return {"type": "string", "enum": rng.sample(words, 4), "description": desc}
    if kind == "array":
        return {
            "type": "array",
            "items": {"type": rng.choice(["string", "integer"])},
            "description": desc,
        }
    if kind == "object":
        props = {w: {"type": "string", "description": desc} for w in rng.sample(words, 2)}
        return {"type": "object", "properties": props, "required": list(props)[:1]}
    return {"type": kind, "description": desc}


def scenario_c(prose: str, rng: random.Random) -> dict:
    words = sorted({w.strip(string.punctuation).lower() for w in prose[:200_000].split()} - {""})
    words = [w for w in words if w.isidentifier()][:5000]
    tools = []
    names = []
    for i in range(50):
        name = f"{rng.choice(words)}_{rng.choice(words)}_{i}"[:64]
        names.append(name)
        params = {w: _param_schema(rng, words) for w in rng.sample(words, rng.randint(3, 8))}
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": " ".join(rng.choice(words) for _ in range(rng.randint(8, 30))),
                    "parameters": {
                        "type": "object",
                        "properties": params,
                        "required": list(params)[: rng.randint(1, 3)],
                    },
                },
            }
        )
    messages: list = [
        {"role": "system", "content": "Use the tools when they help."},
        {"role": "user", "content": prose[:2000]},
    ]
    alphabet = string.ascii_letters + string.digits
    for _ in range(50):
        calls = []
        for _ in range(2):
            args = {rng.choice(words): rng.choice([rng.choice(words), rng.randint(0, 10**6), 0.5])}
            args[rng.choice(words)] = [rng.choice(words) for _ in range(rng.randint(1, 4))]
            calls.append(
                {
                    "id": "".join(rng.choice(alphabet) for _ in range(9)),
                    "type": "function",
                    "function": {"name": rng.choice(names), "arguments": json.dumps(args)},
                }
            )
        messages.append({"role": "assistant", "content": None, "tool_calls": calls})
        for call in calls:
            result = {"result": " ".join(rng.choice(words) for _ in range(rng.randint(5, 40)))}
            messages.append(
                {"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)}
            )
    return {"messages": messages, "tools": tools}


def payload_bytes(request: dict) -> int:
    n = 0
    for m in request["messages"]:
        if isinstance(m.get("content"), str):
            n += len(m["content"].encode())
        for call in m.get("tool_calls") or []:
            n += len(call["function"]["arguments"].encode())
    if request["tools"]:
        n += len(json.dumps(request["tools"], ensure_ascii=False).encode())
    return n


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

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated stdlib aliases warn when touched
        prose = stdlib_prose()
    rng = random.Random(args.seed)
    scenarios = {
        "a 1 MB prose": scenario_a(prose),
        "b 2,000 turns": scenario_b(prose, rng),
        "c 50 tools/100 calls": scenario_c(prose, rng),
    }
    scenarios = {k: v for k, v in scenarios.items() if k[0] in args.scenarios}

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
