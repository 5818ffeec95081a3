"""Which vLLM is installed, and which of its Mistral chat-template contracts (profiles,
:mod:`mistral_tok.vllm.profiles`) covers a version by range.

A version outside every range is not refused: ``patch()`` picks the newest profile whose symbols
match and lets each tokenizer verify itself before it is served natively.
"""

from __future__ import annotations

from mistral_tok._integration import installed_version, parse_version

__all__ = ["installed_vllm_version", "parse_version", "profile_for"]


def profile_for(version: str) -> str | None:
    """The name of the profile whose range holds ``version`` (no import of vLLM)."""
    from mistral_tok.vllm.profiles import REGISTRY

    profile = REGISTRY.for_version(version)
    return profile.name if profile is not None else None


def installed_vllm_version() -> str | None:
    """The installed vLLM's version without importing vLLM (importing it pulls in torch)."""
    return installed_version("vllm")
