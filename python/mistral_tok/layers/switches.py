"""The environment switches of ``mistral_tok.patch()``, read in one place.

Precedence, strongest first:

1. ``MISTRAL_TOK_PATCH=0`` (``off``/``false``/``no``): ``patch()`` patches nothing at all, in this
   process and (through ``mistral-tok run``) in every process it starts.
2. ``MISTRAL_TOK_<LAYER>`` for one layer (``MISTRAL_TOK_MISTRAL_COMMON``,
   ``MISTRAL_TOK_TRANSFORMERS``, ``MISTRAL_TOK_VLLM``): ``0`` leaves that layer unpatched,
   ``shadow`` serves the host's own results and compares mistral-tok's on a sample
   (``MISTRAL_TOK_<LAYER>_SHADOW_RATE``, default 0.05), ``1``/unset patches.
3. The arguments of ``patch(layers=..., mode=...)``: they choose among what the environment allows.

Self-verification (canary requests through the host's function and ours before a tokenizer is
served natively): ``MISTRAL_TOK_<LAYER>_VERIFY``, else ``MISTRAL_TOK_VERIFY``: ``unverified``
(default: only on host versions nobody verified), ``always``, ``never``.
"""

from __future__ import annotations

import os

from mistral_tok._integration import NATIVE, POLICIES, SHADOW, UNVERIFIED

OFF = frozenset({"0", "off", "false", "no", "disable", "disabled"})


def _read(variable: str) -> str | None:
    value = os.environ.get(variable)
    return None if value is None else value.strip().lower()


def everything_off() -> bool:
    return _read("MISTRAL_TOK_PATCH") in OFF


def layer_variable(layer: str) -> str:
    return f"MISTRAL_TOK_{layer.upper()}"


def layer_mode(layer: str) -> str | None:
    """``None`` when the environment turns ``layer`` off, else ``native`` or ``shadow``."""
    if everything_off():
        return None
    value = _read(layer_variable(layer))
    if value in OFF:
        return None
    return SHADOW if value == SHADOW else NATIVE


def shadow_rate(layer: str) -> float:
    try:
        return float(os.environ.get(f"{layer_variable(layer)}_SHADOW_RATE", "0.05"))
    except ValueError:
        return 0.05


def verify_policy(layer: str) -> str:
    for variable in (f"{layer_variable(layer)}_VERIFY", "MISTRAL_TOK_VERIFY"):
        value = _read(variable)
        if value in POLICIES:
            return value
    return UNVERIFIED
