"""The README's vLLM table is the one the profiles registry generates (no vLLM needed)."""

from __future__ import annotations

from pathlib import Path

from mistral_tok.vllm.profiles import BEGIN, END, readme_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_vllm_table_matches_the_registry() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == readme_table(), (
        "README's vLLM table differs from the registry: paste "
        "`python -m mistral_tok.vllm.profiles table` between the markers"
    )
