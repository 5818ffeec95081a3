"""Comparing ``Tokenizer.encode_chat`` with mistral_common on generated requests, and explaining
differences."""

from __future__ import annotations

import copy
import os
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support.chat_gen import ChatCase, reference_tokens

# The knobs of the differential tests (see tests/test_chat_parity.py): a multiplier of the number
# of requests, and the base seed (fixed by default so that a failure reproduces; "random" picks
# one).
SCALE = int(os.environ.get("MISTRAL_TOK_PARITY_SCALE", "1"))
_SEED_ENV = os.environ.get("MISTRAL_TOK_PARITY_SEED", "20261126")
BASE_SEED = random.randrange(2**32) if _SEED_ENV == "random" else int(_SEED_ENV)

# Outcomes of one comparison.
SAME_IDS = "same ids"
BOTH_REJECT = "both reject"
UNSUPPORTED = "unsupported (media, lone surrogates)"
NO_REFERENCE = "reference lacks an optional dependency"
MISMATCH = "mismatch"


def ours_tokens(tokenizer: Any, case: ChatCase) -> Any:
    """Our ids for ``case``, or the exception we raised."""
    (messages, tools), kwargs = case.args()
    try:
        return tokenizer.encode_chat(messages, tools, **kwargs)
    except Exception as exc:
        return exc


@dataclass
class Outcome:
    kind: str
    expected: Any
    got: Any
    why: str = ""


def _about_media(exc: Exception) -> bool:
    # the tolerated gap is media only; a media request refused for another reason still counts
    text = str(exc).lower()
    return "image" in text or "audio" in text


# A lone surrogate, raw (``\ud800`` in a repr) or JSON-escaped inside a string (``\\ud800``).
_SURROGATE = re.compile(r"\\+u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _about_surrogates(case: ChatCase, exc: Exception) -> bool:
    # Documented fallback: a str with lone surrogates that decide a request's validity, or whose
    # halves meet across strings (v15 joins chunks with ""), is left to mistral_common.
    return "lone surrogate" in str(exc) and bool(_SURROGATE.search(_repr(case.args())))


def _repr(value: Any) -> str:
    """``repr``, also of ints beyond ``sys.get_int_max_str_digits()`` (the JSON-limit cases)."""
    try:
        return repr(value)
    except ValueError:
        limit = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(0)
        try:
            return repr(value)
        finally:
            sys.set_int_max_str_digits(limit)


def classify(
    case: ChatCase, expected: Any, got: Any, request_error: type, unsupported_error: type
) -> Outcome:
    if isinstance(expected, ImportError):
        return Outcome(NO_REFERENCE, expected, got)
    if isinstance(got, unsupported_error) and (
        (case.has_media and _about_media(got)) or _about_surrogates(case, got)
    ):
        return Outcome(
            UNSUPPORTED if not isinstance(expected, Exception) else BOTH_REJECT, expected, got
        )
    if isinstance(expected, Exception):
        if isinstance(got, request_error):
            return Outcome(BOTH_REJECT, expected, got)
        if isinstance(got, Exception):
            return Outcome(MISMATCH, expected, got, "both reject, but ours is not a RequestError")
        return Outcome(MISMATCH, expected, got, "mistral_common rejects, ours accepts")
    if isinstance(got, Exception):
        return Outcome(MISMATCH, expected, got, "mistral_common accepts, ours rejects")
    if not isinstance(got, list) or not all(type(t) is int for t in got):
        return Outcome(
            MISMATCH, expected, got, f"ours returned {type(got).__name__}, not list[int]"
        )
    if got != expected:
        return Outcome(MISMATCH, expected, got, "different ids")
    return Outcome(SAME_IDS, expected, got)


def first_difference(a: list[int], b: list[int]) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def _pieces(ref_tokenizer: Any, ids: list[int]) -> str:
    inner = ref_tokenizer.instruct_tokenizer.tokenizer
    out = []
    for t in ids:
        try:
            out.append(inner.id_to_piece(t))
        except Exception:
            out.append(f"<{t}?>")
    return repr(out)


def _show(value: Any) -> str:
    if isinstance(value, Exception):
        return f"{type(value).__module__}.{type(value).__name__}: {str(value)[:300]}"
    if isinstance(value, list) and len(value) > 60:
        return f"{value[:30]} … {value[-30:]} (len {len(value)})"
    return repr(value)


def explain(case: ChatCase, outcome: Outcome, ref_tokenizer: Any, index: int) -> str:
    """A readable account of one mismatch: the request, both outputs, the first differing index."""
    lines = [f"case #{index}: {outcome.why}", case.describe(3000)]
    lines.append(f"  mistral_common: {_show(outcome.expected)}")
    lines.append(f"  mistral_tok   : {_show(outcome.got)}")
    if outcome.why == "different ids":
        exp, got = outcome.expected, outcome.got
        i = first_difference(exp, got)
        lo = max(0, i - 6)
        lines.append(f"  first difference at index {i} (lengths {len(exp)} vs {len(got)})")
        for label, ids in (("expected", exp), ("got     ", got)):
            window = ids[lo : i + 6]
            lines.append(f"    {label}[{lo}:{i + 6}] = {window} {_pieces(ref_tokenizer, window)}")
    return "\n".join(lines)


def minimize(
    case: ChatCase, still_fails: Callable[[ChatCase], bool], rounds: int = 80, seconds: float = 15.0
) -> ChatCase:
    """Greedily drop messages, tools, fields, chunks and text while ``still_fails`` holds."""
    best = copy.deepcopy(case)

    def attempts(c: ChatCase):
        msgs = c.messages if isinstance(c.messages, list) else []
        for i in range(len(msgs)):
            yield "messages", msgs[:i] + msgs[i + 1 :]
        if isinstance(c.tools, list):
            for i in range(len(c.tools)):
                yield "tools", c.tools[:i] + c.tools[i + 1 :]
            yield "tools", None
        for k in list(c.fields):
            yield "fields", {kk: v for kk, v in c.fields.items() if kk != k}
        for i, m in enumerate(msgs):
            if not isinstance(m, dict):
                continue
            for key in ("content", "reasoning", "reasoning_content"):
                v = m.get(key)
                if isinstance(v, str) and len(v) > 1:
                    for cut in (v[: len(v) // 2], v[len(v) // 2 :], "x"):
                        yield "messages", msgs[:i] + [{**m, key: cut}] + msgs[i + 1 :]
                if isinstance(v, list) and len(v) > 1:
                    for j in range(len(v)):
                        yield (
                            "messages",
                            msgs[:i] + [{**m, key: v[:j] + v[j + 1 :]}] + msgs[i + 1 :],
                        )
            calls = m.get("tool_calls")
            if isinstance(calls, list):
                for j, call in enumerate(calls):
                    fn = call.get("function") if isinstance(call, dict) else None
                    if isinstance(fn, dict) and fn.get("arguments") not in ("{}", None):
                        small = {**call, "function": {**fn, "arguments": "{}"}}
                        new_calls = calls[:j] + [small] + calls[j + 1 :]
                        yield (
                            "messages",
                            msgs[:i] + [{**m, "tool_calls": new_calls}] + msgs[i + 1 :],
                        )
            for key in ("name", "tool_calls"):
                if key in m and m["role"] != "tool":
                    calls = m.get("tool_calls")
                    if key == "tool_calls" and isinstance(calls, list) and len(calls) > 1:
                        for j in range(len(calls)):
                            yield (
                                "messages",
                                msgs[:i] + [{**m, key: calls[:j] + calls[j + 1 :]}] + msgs[i + 1 :],
                            )

    deadline = time.monotonic() + seconds
    for _ in range(rounds):
        improved = False
        for attr, value in list(attempts(best)):
            if time.monotonic() > deadline:
                return best
            trial = copy.deepcopy(best)
            setattr(trial, attr, copy.deepcopy(value))
            try:
                ok = still_fails(trial)
            except Exception:
                ok = False
            if ok:
                best, improved = trial, True
                break
        if not improved:
            break
    return best


def mismatch_predicate(
    ours_tok: Any, ref_tok: Any, request_error: type, unsupported_error: type, why: str
) -> Callable[[ChatCase], bool]:
    def still_fails(c: ChatCase) -> bool:
        o = classify(
            c,
            reference_tokens(ref_tok, c),
            ours_tokens(ours_tok, c),
            request_error,
            unsupported_error,
        )
        return o.kind == MISMATCH and o.why == why

    return still_fails


def summarize(counts: dict, extra: str | None = None) -> str:
    parts = [f"{k}: {v}" for k, v in sorted(counts.items())]
    return ", ".join(parts) + (f" ({extra})" if extra else "")
