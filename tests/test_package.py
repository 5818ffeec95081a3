"""The package surface: exports, exception hierarchy, version, and file-name rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import mistral_tok
from mistral_tok import (
    DecodeError,
    MistralTokError,
    RequestError,
    Tokenizer,
    TokenizerFileError,
    UnsupportedFeatureError,
)


def test_exceptions_are_value_errors() -> None:
    for cls in (TokenizerFileError, RequestError, UnsupportedFeatureError, DecodeError):
        assert issubclass(cls, MistralTokError)
        assert issubclass(cls, ValueError)
    assert issubclass(UnsupportedFeatureError, RequestError)
    assert TokenizerFileError.__module__ == "mistral_tok"


def test_version_comes_from_the_crate() -> None:
    assert mistral_tok.__version__.count(".") == 2


def test_package_is_typed() -> None:
    root = Path(mistral_tok.__file__).parent
    assert (root / "py.typed").is_file()
    assert (root / "_native.pyi").is_file()


@pytest.mark.parametrize(
    "name",
    ["tokenizer.json", "model.bin", "tekken.txt", "x.model.v4", "x.model.v7m2", "x.model.v3m"],
)
def test_unrecognized_file_names_are_rejected(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("{}")
    with pytest.raises(TokenizerFileError, match="Unrecognized tokenizer file"):
        Tokenizer.from_file(path)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "tekken_missing.json"
    with pytest.raises(TokenizerFileError) as info:
        Tokenizer.from_file(path)
    assert str(path) in str(info.value)


def test_cli_encodes_the_sample_text() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mistral_tok", "encode-text", "Hello world"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ids (2" in out
    assert "'Hello world'" in out
