"""Which vLLM is installed, and which of its Mistral chat-template contracts applies.

vLLM moved the Mistral template three times (the README's "Inside vLLM" table):

* ``sync``      0.10.2 – 0.11.0  ``chat_utils.apply_mistral_chat_template`` called synchronously
                                 on the event loop inside ``OpenAIServing._preprocess_chat``;
* ``executor``  0.11.1 – 0.14.x  same function, awaited through
                                 ``OpenAIServing._apply_mistral_chat_template_async`` (a thread);
* ``renderer``  0.16 – 0.33.x    ``renderers.mistral.safe_apply_chat_template``
                                 + ``MistralRenderer``.

Anything else (0.15.x has no sdist; older and newer releases were never read) is ``None``:
``patch()`` then leaves vLLM alone, so an upgrade can never silently change results.
"""

from __future__ import annotations

import re

SYNC = "sync"
EXECUTOR = "executor"
RENDERER = "renderer"

# Versions whose sources were read AND whose test suite ran against our shims.
VERIFIED = ("0.11.0", "0.14.1", "0.33.0")


def parse_version(text: str) -> tuple[int, int, int]:
    """``"0.14.1rc1+cu129"`` -> ``(0, 14, 1)``; missing parts are 0."""
    match = re.match(r"\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if match is None:
        raise ValueError(f"not a vLLM version: {text!r}")
    return tuple(int(part or 0) for part in match.groups())  # type: ignore[return-value]


def profile_for(version: str) -> str | None:
    v = parse_version(version)
    if (0, 10, 2) <= v < (0, 11, 1):
        return SYNC
    if (0, 11, 1) <= v < (0, 15, 0):
        return EXECUTOR
    if (0, 16, 0) <= v < (0, 34, 0):
        return RENDERER
    return None


def installed_vllm_version() -> str | None:
    """The installed vLLM's version without importing vLLM (importing it pulls in torch)."""
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    try:
        return version("vllm")
    except PackageNotFoundError:
        return None
