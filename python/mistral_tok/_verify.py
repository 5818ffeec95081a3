"""``mistral-tok verify``: a JSONL file of chat requests, encoded by mistral-tok and by
mistral_common, compared request by request."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

from mistral_tok._native import Tokenizer, UnsupportedFeatureError
from mistral_tok._progress import Progress
from mistral_tok._requests import Reference, describe, encode_ours

IDENTICAL = "identical"
DIFFERENT = "different ids"
BOTH_REJECT = "rejected by both"
ONLY_REFERENCE_REJECTS = "rejected by mistral_common only"
ONLY_OURS_REJECTS = "rejected by mistral-tok only"
UNSUPPORTED = "not handled natively"
SKIPPED = "skipped lines"

_JSON_KINDS = {str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}

# Outcomes that make ``verify`` fail.
DIFFERENCES = (DIFFERENT, ONLY_REFERENCE_REJECTS, ONLY_OURS_REJECTS)
ORDER = (IDENTICAL, DIFFERENT, BOTH_REJECT, ONLY_REFERENCE_REJECTS, ONLY_OURS_REJECTS, UNSUPPORTED)


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ORDER + (SKIPPED,), 0))
    shown: int = 0
    requests: int = 0

    @property
    def differences(self) -> int:
        return sum(self.counts[k] for k in DIFFERENCES)


def read_lines(stream: BinaryIO) -> Iterator[tuple[int, int, bytes]]:
    """``(line_number, bytes_consumed_so_far, line)`` for the non-blank lines."""
    consumed = 0
    for number, line in enumerate(stream, 1):
        consumed += len(line)
        if line.strip():
            yield number, consumed, line


def _error_text(exc: BaseException, limit: int = 2000) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more chars)"


def _piece(tok: Tokenizer, token: int) -> str:
    try:
        return repr(tok.id_to_piece(token))
    except Exception:
        return "<not in the vocabulary>"


def first_difference(a: list[int], b: list[int]) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def difference_window(
    tok: Tokenizer, expected: list[int], got: list[int], radius: int = 6
) -> list[str]:
    """Lines of a side-by-side table of ids and pieces around the first difference."""
    pos = first_difference(expected, got)
    lines = [f"    {'':2}{'position':>9}  {'mistral_common':<34} mistral-tok"]
    for i in range(max(0, pos - radius), min(max(len(expected), len(got)), pos + radius + 1)):
        pair = [ids[i] if i < len(ids) else None for ids in (expected, got)]
        cells = [f"{t:>7} {_piece(tok, t)}" if t is not None else "  (end)" for t in pair]
        mark = ">>" if pair[0] != pair[1] else ""
        lines.append(f"    {mark:2}{i:>9}  {cells[0][:34]:<34} {cells[1][:34]}".rstrip())
    return lines


def classify(ours: Any, expected: Any) -> str:
    if isinstance(ours, UnsupportedFeatureError):
        return BOTH_REJECT if isinstance(expected, Exception) else UNSUPPORTED
    if isinstance(ours, Exception):
        return BOTH_REJECT if isinstance(expected, Exception) else ONLY_OURS_REJECTS
    if isinstance(expected, Exception):
        return ONLY_REFERENCE_REJECTS
    return IDENTICAL if ours == expected else DIFFERENT


def parse_request(line: bytes) -> tuple[Any, str | None]:
    """``(request, None)``, or ``(None, why the line is not a chat request)``."""
    try:
        request = json.loads(line)
    except ValueError as exc:
        return None, f"not JSON ({exc})"
    if not isinstance(request, (dict, list)):
        kind = _JSON_KINDS.get(type(request), type(request).__name__)
        return None, f"a JSON {kind} is not a chat request"
    return request, None


def _attempt(fn: Callable[..., list[int]], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:  # a rejection, whatever its type, is an outcome to compare
        return exc


def verify(
    tok: Tokenizer,
    reference: Reference,
    lines: Iterator[tuple[int, int, bytes]],
    out: TextIO,
    progress: Progress,
    show: int = 5,
    max_model_input_len: int | None = None,
) -> Report:
    """Compare every request; print the first ``show`` differences in full to ``out``.
    ``max_model_input_len`` goes to both encoders (it truncates requests that set
    ``truncate_for_context_length``)."""
    report = Report()

    def emit(text: str) -> None:
        progress.clear()
        print(text, file=out, flush=True)

    for number, consumed, line in lines:
        request, skipped = parse_request(line)
        if skipped:
            report.counts[SKIPPED] += 1
            if report.counts[SKIPPED] <= show:
                emit(f"line {number}: skipped, {skipped}")
            progress.update(report.requests, consumed)
            continue
        report.requests += 1
        ours = _attempt(encode_ours, tok, request, max_model_input_len)
        expected = _attempt(reference.encode_chat, request, max_model_input_len)
        outcome = classify(ours, expected)
        report.counts[outcome] += 1
        if outcome in DIFFERENCES and report.shown < show:
            report.shown += 1
            emit("\n".join(explain(tok, number, request, outcome, ours, expected)))
        elif outcome == UNSUPPORTED and report.counts[UNSUPPORTED] <= show:
            emit(f"line {number}: not handled natively, {_error_text(ours, 300)}")
        progress.update(report.requests, consumed)
    progress.close()
    return report


def explain(
    tok: Tokenizer, number: int, request: Any, outcome: str, ours: Any, expected: Any
) -> list[str]:
    lines = [f"line {number}: {outcome.upper()} ({describe(request)})"]
    if outcome == DIFFERENT:
        pos = first_difference(expected, ours)
        lines.append(
            f"  mistral_common {len(expected):,} ids, mistral-tok {len(ours):,} ids; "
            f"first difference at position {pos:,}"
        )
        lines += difference_window(tok, expected, ours)
    elif outcome == ONLY_REFERENCE_REJECTS:
        lines.append(f"  mistral_common: {_error_text(expected)}")
        lines.append(f"  mistral-tok:    accepted, {len(ours):,} ids")
    else:
        lines.append(f"  mistral-tok:    {_error_text(ours)}")
        lines.append(f"  mistral_common: accepted, {len(expected):,} ids")
    return lines


def summary(report: Report) -> list[str]:
    labels = {
        IDENTICAL: "identical",
        DIFFERENT: "different ids",
        BOTH_REJECT: "rejected by both",
        ONLY_REFERENCE_REJECTS: "rejected by one: mistral_common only",
        ONLY_OURS_REJECTS: "rejected by one: mistral-tok only",
        UNSUPPORTED: "not handled natively (vLLM falls back to mistral_common)",
        SKIPPED: "lines skipped (not a JSON object or list)",
    }
    lines = [f"{report.requests:>9,}  requests"]
    for key, label in labels.items():
        n = report.counts[key]
        if n or key in (IDENTICAL, DIFFERENT, BOTH_REJECT) or key in DIFFERENCES:
            lines.append(f"{n:>9,}  {label}")
    if report.differences > report.shown:
        lines.append(
            f"(the first {report.shown} differences are shown above; --show N shows more)"
            if report.shown
            else "(--show N prints the differences)"
        )
    return lines
