"""How a vLLM tokenizer's self-verification (see :mod:`mistral_tok._integration.canary`) sends
the shared canary requests (:mod:`mistral_tok._integration.canary_requests`, every one the
tokenizer has the parts for: vLLM's template kwargs reach ``from_openai`` as they are) through
vLLM's own template function and through mistral-tok. Each side gets its own copy."""

from __future__ import annotations

import os
from typing import Any

from mistral_tok._integration import Canary, canary_requests

# vLLM's loggers that report a failed template call (``logger.exception``): quiet for canaries.
VLLM_LOGGERS = ("vllm.renderers.mistral", "vllm.entrypoints.chat_utils")
# What the warm-up sends (plain, generation prompt).
_WARM_UP = canary_requests.REQUESTS[0]


def for_tokenizer(tokenizer: Any) -> list[Canary]:
    from mistral_tok.vllm import shims

    call_original = shims.STATE.original
    if call_original is None:
        return []
    mistral = getattr(tokenizer, "mistral", None)  # mistral_common's MistralTokenizer
    if mistral is None:
        return []
    canaries = []
    for request in canary_requests.for_tokenizer(mistral, accepts=None):

        def original(r: Any = request) -> Any:
            return call_original(tokenizer, *r.arguments(template_flags=True))

        def native(r: Any = request) -> Any:
            return shims.native_result(tokenizer, *r.arguments(template_flags=True))

        canaries.append(Canary(request.name, original, native))
    return canaries


def prepare(tokenizer: Any) -> None:
    """Load mistral-tok's tokenizer, and let vLLM's side warm up once, before the timed run."""
    from mistral_tok._integration import Fallback, context
    from mistral_tok.vllm import shims

    try:
        shims.native_tokenizer(tokenizer)
    except Fallback:
        return
    call_original = shims.STATE.original
    if call_original is not None:
        with context.all_layers_off():
            try:
                call_original(tokenizer, *_WARM_UP.arguments(template_flags=True))
            except Exception:  # noqa: BLE001 - only a warm-up
                pass


def label(tokenizer: Any) -> str:
    """``"V13 tekken.json"``: the tokenizer in stats and logs."""
    try:
        path = os.path.basename(str(tokenizer.tokenizer.file_path))
    except Exception:  # noqa: BLE001 - a label only
        path = type(tokenizer).__name__
    return f"V{getattr(tokenizer, 'version', '?')} {path}"
