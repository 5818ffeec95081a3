"""vLLM 0.34+: the renderer symbols of 0.16 – 0.33, but ``MistralTokenizer.apply_chat_template``
hands every keyword it does not consume through transformers to ``from_openai``, and the renderer
adds ``response_format``. The native path forwards exactly the request fields the Rust core
validates as mistral_common does (``shims.FORWARDED_VERIFIED``); a call carrying any other
keyword is served by vLLM's own function."""

from __future__ import annotations

from mistral_tok._integration import Combination, Profile
from mistral_tok.vllm import forwarding, shims
from mistral_tok.vllm.profiles import renderer

PROFILE = Profile(
    name="forwarding-renderer",
    summary="MistralRenderer; every unconsumed keyword reaches from_openai (response_format, "
    "reasoning_effort on every tokenizer version, truncate_for_context_length, ...)",
    first="0.34.0",
    last="0.34.0",
    symbols=renderer.SYMBOLS,
    patch=renderer.patch,
    forwarded=shims.FORWARDED_VERIFIED,
    probe=forwarding.expect(forwarding.EVERYTHING),
    verified=(
        Combination((("vllm", "0.34.0"), ("transformers", "5.22.*"), ("mistral-common", "1.13.1"))),
    ),
)
