"""Which request keywords vLLM's ``MistralTokenizer.apply_chat_template`` hands on to transformers,
observed by behaviour: the method is called once on a bare instance whose transformers backend is a
spy, with a sentinel keyword. Signatures cannot show this (0.33 -> 0.34 changed none of them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# What vLLM itself consumes (0.34 pops these; earlier releases read them).
CONSUMED = frozenset(
    {
        "add_generation_prompt",
        "continue_final_message",
        "tokenize",
        "padding",
        "truncation",
        "max_length",
        "return_tensors",
        "return_dict",
    }
)
_SENTINEL = "mistral_tok_probe_sentinel"
# The keywords transformers' backend always gets from vLLM (0.11.1+), whatever the request.
_FIXED = (CONSUMED - {"add_generation_prompt"}) | {"conversation", "tools"}


@dataclass(frozen=True)
class Forwarding:
    """``everything``: keywords vLLM does not consume reach transformers (0.34);
    ``reasoning_effort``: tokenizer versions for which vLLM adds ``reasoning_effort`` (as
    ``None`` when absent) while dropping other keywords (0.18 - 0.33: V15+)."""

    everything: bool
    reasoning_effort_from: int | None

    def __str__(self) -> str:
        if self.everything:
            return "every keyword vLLM does not consume"
        if self.reasoning_effort_from is not None:
            return f"reasoning_effort only, tokenizer V{self.reasoning_effort_from}+"
        return "no request keyword"


EXPLICIT_NONE = Forwarding(False, None)
EXPLICIT_REASONING_V15 = Forwarding(False, 15)
EVERYTHING = Forwarding(True, None)


class _Spy:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def apply_chat_template(self, *args: Any, **kwargs: Any) -> list[int]:
        self.calls.append(kwargs)
        return [1]


def probe(tokenizer_class: type) -> Forwarding | str:
    """What ``tokenizer_class.apply_chat_template`` forwards, or why the probe could not tell."""
    seen: dict[int, dict[str, Any]] = {}
    for version in (7, 11, 13, 15):
        spy = _Spy()
        tokenizer = object.__new__(tokenizer_class)
        tokenizer.__dict__.update(transformers_tokenizer=spy, version=version)
        try:
            tokenizer.apply_chat_template(
                [{"role": "user", "content": "probe"}],
                None,
                add_generation_prompt=True,
                reasoning_effort="high",
                **{_SENTINEL: 1},
            )
        except Exception as exc:  # noqa: BLE001 - a body the probe cannot drive
            return f"forwarding probe failed ({type(exc).__name__}: {exc})"
        if len(spy.calls) != 1:
            return f"forwarding probe: {len(spy.calls)} backend calls"
        seen[version] = spy.calls[0]
    extra = {v: set(kwargs) - _FIXED for v, kwargs in seen.items()}
    if all(extra[v] == {"reasoning_effort", _SENTINEL} for v in seen):
        if all(seen[v]["reasoning_effort"] == "high" for v in seen):
            return EVERYTHING
    elif all(not extra[v] for v in seen):
        return EXPLICIT_NONE
    else:
        with_effort = sorted(v for v in seen if extra[v] == {"reasoning_effort"})
        if (
            with_effort
            and all(not extra[v] for v in seen if v not in with_effort)
            and with_effort == [v for v in sorted(seen) if v >= with_effort[0]]
            and all(seen[v]["reasoning_effort"] == "high" for v in with_effort)
        ):
            return Forwarding(False, with_effort[0])
    return "forwarding probe: unexpected keywords " + ", ".join(
        f"V{v}: {sorted(extra[v])}" for v in sorted(extra)
    )


def expect(*allowed: Forwarding) -> Callable[[], str | None]:
    """A profile's probe: ``None`` when vLLM's tokenizer forwards as one of ``allowed``."""

    def check() -> str | None:
        from mistral_tok.vllm.patching import tokenizer_module

        observed = probe(tokenizer_module().MistralTokenizer)
        if isinstance(observed, str):
            return observed
        if observed not in allowed:
            return f"forwarding probe: vLLM's tokenizer forwards {observed}, not what was verified"
        return None

    return check
