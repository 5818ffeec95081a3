"""Shared fixtures: the tokenizer files mistral_common ships, found in the installed package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mistral_tok import shipped_tokenizer_path

pytest_plugins = ["tests.support.own_process"]

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


@pytest.fixture(scope="session")
def generated_tekken(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``generated_tekken("v13")`` → path of a generated tekken file of that version (v7, v11,
    v13, v15; see ``tests/support/tekken_files.py``), written once per session."""
    from tests.support.tekken_files import write_tekken_file

    directory = tmp_path_factory.mktemp("tekken_files")
    written: dict[str, Path] = {}

    def get(version: str) -> Path:
        if version not in written:
            written[version] = write_tekken_file(directory, version)
        return written[version]

    return get
