"""The ``vllm.general_plugins`` entry point: vLLM calls :func:`register` in every process it starts.

``MISTRAL_TOK_VLLM``: unset/``1``/``on`` patch; ``0``/``off``/``false`` do nothing;
``shadow`` serve vLLM's own results and log sampled differences with mistral-tok's
(``MISTRAL_TOK_VLLM_SHADOW_RATE``, default 0.05).
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger("mistral_tok.vllm")

_OFF = {"0", "off", "false", "no", "disable", "disabled"}


def register() -> None:
    """Never raises: a broken plugin must not stop vLLM from serving with its own code."""
    setting = os.environ.get("MISTRAL_TOK_VLLM", "1").strip().lower()
    if setting in _OFF:
        _log(logging.INFO, "mistral-tok: disabled by MISTRAL_TOK_VLLM=%s", setting)
        return
    mode = "shadow" if setting == "shadow" else "native"
    try:
        from mistral_tok.vllm import patch

        report = patch(mode)
    except Exception as exc:  # noqa: BLE001
        _log(logging.WARNING, "mistral-tok: not patching vLLM (%s: %s)", type(exc).__name__, exc)
        return
    _log(logging.INFO, "%s", report)


def _log(level: int, fmt: str, *args: object) -> None:
    # vLLM's own logger is configured when plugins load; ours may have no handler yet.
    try:
        from vllm.logger import init_logger  # type: ignore[import-not-found]

        init_logger("vllm.plugins.mistral_tok").log(level, fmt, *args)
    except Exception:  # noqa: BLE001
        logger.log(level, fmt, *args)
