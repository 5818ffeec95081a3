"""Smoke test of an installed mistral-tok, printed as JSON so two interpreters can be compared.

    python scripts/wheel_smoke.py TOKENIZER_FILE [TOKENIZER_FILE ...]

For each file: plain encode, a chat request with a tool call, FIM where the version has it, the
awaitable, and the error class of a rejected request. ``check_wheel.sh`` runs it under the
development build and under each interpreter the abi3 wheel is installed into, and diffs the two.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil
import sys
import warnings

import mistral_tok
from mistral_tok import RequestError, Tokenizer

MESSAGES = [
    {"role": "system", "content": "Tu es concis. ☺"},
    {"role": "user", "content": "Quel temps fait-il à Paris ?"},
    {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "abcDEF123",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city": "Paris", "days": 1e-07}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "abcDEF123", "content": "22°C, ensoleillé"},
    {"role": "user", "content": "Et demain ? 東京は？"},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "number"}},
            },
        },
    }
]


def smoke(path: str) -> dict:
    tok = Tokenizer.from_file(path)
    out: dict = {"version": str(tok.version), "vocab_size": tok.vocab_size}
    out["encode"] = tok.encode("Hello, wörld! 123 \t\n  def f(x): return x", bos=True, eos=True)
    out["decode"] = tok.decode(out["encode"], special_token_policy="keep")
    try:
        out["chat"] = tok.encode_chat(MESSAGES, TOOLS)
    except RequestError as err:
        out["chat"] = f"{type(err).__name__}: {err}"
    out["chat_async"] = asyncio.run(_chat_async(tok))
    try:
        out["fim"] = tok.encode_fim("def f(x):", "    return y")
    except RequestError as err:
        out["fim"] = type(err).__name__
    try:
        tok.encode_chat([{"role": "assistant", "content": "no user turn"}])
        out["rejected"] = None
    except RequestError as err:
        out["rejected"] = type(err).__mro__[1].__name__
    return out


async def _chat_async(tok: Tokenizer) -> object:
    try:
        return await tok.encode_chat_async(MESSAGES, TOOLS)
    except RequestError as err:
        return f"{type(err).__name__}: {err}"


# Patterns whose `re.compile` verdict differs between Python versions or that a syntax check
# alone gets wrong (possessive quantifiers and global flags after the start are 3.11+).
REGEXES = [
    "a??",
    "a?+",
    "a*+",
    "(?>ab)",
    "a(?i)b",
    "(?i)ab",
    "^[\\w-\\.]+$",
    "\\1",
    "(?<=a+)b",
    "(?P<a>x)|(?P<a>y)",
    "\\x4",
    "(?L)x",
    "(?(1)a|b)",
    "\\400",
    "[a-\\d]",
    "x{4294967296}",
    "^[a-z]+$",
]


def regex_disagreements(path: str) -> list[str]:
    """The patterns on which a tool schema's acceptance differs from this interpreter's `re`."""
    import re

    tok = Tokenizer.from_file(path)
    out = []
    for p in REGEXES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # 3.10: flags not at the start only warn
                re.compile(p)
            python = True
        except Exception:
            python = False
        params = {"type": "object", "properties": {"u": {"type": "string", "pattern": p}}}
        tools = [{"type": "function", "function": {"name": "f", "parameters": params}}]
        try:
            tok.encode_chat([{"role": "user", "content": "x"}], tools)
            ours = True
        except RequestError:
            ours = False
        if ours != python:
            out.append(p)
    return out


def import_all() -> None:
    """Every module of the package imports on this interpreter, but for optional dependencies."""
    for info in pkgutil.walk_packages(mistral_tok.__path__, "mistral_tok."):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as err:
            if err.name is None or err.name.startswith("mistral_tok"):
                raise


def main(paths: list[str]) -> None:
    import_all()
    report = {
        "package": mistral_tok.__version__,
        "files": {p: smoke(p) for p in paths},
        "regex_disagreements": regex_disagreements(paths[0]),
    }
    json.dump(report, sys.stdout, ensure_ascii=False, sort_keys=True)
    print()


if __name__ == "__main__":
    main(sys.argv[1:])
