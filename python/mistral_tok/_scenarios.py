"""Deterministic chat requests for benchmarks and the demo, built offline.

Prose is English from CPython stdlib docstrings (fixed per Python version), sliced with a seeded
RNG. The scenarios (also in ``docs/architecture.md``):

  (a) one prose user message (1 MB by default);
  (b) a system prompt + 2,000 short alternating user/assistant turns (60–240 chars), ending with a
      user turn (2,001 messages);
  (c) 50 tools with JSON schemas of 3–8 parameters + 100 tool calls and results (50 rounds of two
      parallel calls) after the last user message.

Requests are dicts in OpenAI form: ``{"messages": [...], "tools": [...] or None}``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import random
import string
import warnings

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


@functools.lru_cache(maxsize=1)
def _docstrings() -> str:
    seen: set = set()
    docs: list = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated stdlib modules and aliases warn when touched
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
    return "\n\n".join(docs)


def stdlib_prose(n_bytes: int = PROSE_BYTES) -> str:
    """Exactly ``n_bytes`` UTF-8 bytes of English from stdlib docstrings (fixed per Python)."""
    text = _docstrings()
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


SCENARIOS = {
    "a": "one {mb} MB prose message",
    "b": "system + 2,000 short turns",
    "c": "50 tools + 100 calls/results",
}


def build_scenarios(keys: str = "abc", prose_bytes: int = PROSE_BYTES, seed: int = 1234) -> dict:
    """``{letter: (title, request)}`` for the scenario letters in ``keys``, in that order.

    ``prose_bytes`` sizes scenario a; b and c are always built from 1 MB of prose and from one
    RNG, b first, so that each is the same request whatever subset is asked for.
    """
    rng = random.Random(seed)
    made = {}
    if "a" in keys:
        made["a"] = scenario_a(stdlib_prose(prose_bytes))
    if "b" in keys or "c" in keys:
        base = stdlib_prose(PROSE_BYTES)
        made["b"] = scenario_b(base, rng)
        if "c" in keys:
            made["c"] = scenario_c(base, rng)
    mb = f"{prose_bytes / 1e6:g}"
    return {key: (SCENARIOS[key].format(mb=mb), made[key]) for key in keys}
