"""vLLM's Mistral chat-template contracts, as data: one module per contract, oldest first.

Adding a vLLM release whose contract is unchanged is a one-line change: widen ``last`` (and add
the combination its suites ran on to ``verified``) in that profile's module. ``patch()``, the
tests, the Makefile (``python -m mistral_tok.vllm.profiles versions``) and the README table
(``python -m mistral_tok.vllm.profiles table``) read :data:`REGISTRY`.
"""

from __future__ import annotations

from mistral_tok._integration import Registry
from mistral_tok.vllm.profiles import executor, forwarding_renderer, loop_template, renderer

REGISTRY = Registry("vllm", ("transformers", "mistral-common"))
for _module in (loop_template, executor, renderer, forwarding_renderer):
    REGISTRY.add(_module.PROFILE)


def verified_vllm_versions() -> list[str]:
    """Every vLLM version some profile was verified on, oldest first."""
    versions = {
        pattern
        for profile in REGISTRY.profiles
        for combination in profile.verified
        for name, pattern in combination.versions
        if name == "vllm"
    }
    from mistral_tok._integration import parse_version

    return sorted(versions, key=parse_version)


def readme_table() -> str:
    """The README's "Inside vLLM" table (a test checks the README holds exactly this)."""
    lines = [
        "| vLLM | contract | verified with | other versions in the range |",
        "|---|---|---|---|",
    ]
    for row in REGISTRY.table():
        lines.append(
            f"| {row['versions']} | {row['contract']} | {row['verified']} | self-verified |"
        )
    return "\n".join(lines)
