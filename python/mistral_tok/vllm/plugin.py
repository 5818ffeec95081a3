"""The ``vllm.general_plugins`` entry point: vLLM calls :func:`register` in every process it starts.

``MISTRAL_TOK_VLLM``: unset/``1``/``on`` patch; ``0``/``off``/``false`` do nothing;
``shadow`` serve vLLM's own results and log sampled differences with mistral-tok's
(``MISTRAL_TOK_VLLM_SHADOW_RATE``, default 0.05).
``MISTRAL_TOK_VLLM_VERIFY``: ``unverified`` (default) each tokenizer runs its canaries before it is
served natively when the installed vLLM × transformers × mistral_common combination is not in the
verified list; ``always`` on every combination; ``never`` not at all.
"""

from __future__ import annotations

import logging
import os
import sys

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
    """Through vLLM's logger when it is configured to show the line; otherwise (vLLM 0.33 loads
    plugins while building its CLI parser, before configuring logging) straight to stderr, so
    every process still reports what it patched."""
    target = logging.getLogger("vllm.plugins.mistral_tok")
    if target.isEnabledFor(level) and target.hasHandlers():
        target.log(level, fmt, *args)
        return
    if logger.isEnabledFor(level) and logger.hasHandlers():
        logger.log(level, fmt, *args)
        return
    sys.stderr.write((fmt % args) + "\n")
