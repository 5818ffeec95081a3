"""Shared fixtures: the tokenizer files mistral_common ships, found in the installed package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mistral_tok import shipped_tokenizer_path

SHIPPED_TEKKEN = ["tekken_240718.json", "tekken_240911.json"]
SHIPPED_SENTENCEPIECE = [
    "tokenizer.model.v1",
    "mistral_instruct_tokenizer_240216.model.v2",
    "mistral_instruct_tokenizer_240323.model.v3",
    "mistral_instruct_tokenizer_241114.model.v7",
    "mistral_instruct_tokenizer_241114.model.v7m1",
]


@pytest.fixture(scope="session")
def shipped() -> Callable[[str], Path]:
    """``shipped(name)`` → path of a tokenizer file inside the installed mistral_common."""
    return shipped_tokenizer_path
