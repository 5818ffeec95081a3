"""Fill-in-the-middle: ``Tokenizer.encode_fim`` against mistral_common's ``encode_fim``."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mistral_common.protocol.fim.request import FIMRequest
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

from mistral_tok import RequestError, Tokenizer, shipped_tokenizer_path

FIM_FILES = [
    "mistral_instruct_tokenizer_240216.model.v2",
    "mistral_instruct_tokenizer_240323.model.v3",
    "mistral_instruct_tokenizer_241114.model.v7",
    "tekken_240718.json",
    "tekken_240911.json",
]

# Code-like text: indentation runs are where the `☺` trick matters for SentencePiece.
code_text = st.text(
    alphabet=st.sampled_from(
        list("    \t\n\r(){}[]:;=+-*/#'\"_abcxyzdefreturnpint0123456789é日😀☺▁")
    ),
    max_size=60,
)


@functools.cache
def _pair(name: str) -> tuple[Tokenizer, MistralTokenizer]:
    path = shipped_tokenizer_path(name)
    return Tokenizer.from_file(path), MistralTokenizer.from_file(str(path))


def _reference(ref: MistralTokenizer, prompt: str, suffix: str | None) -> list[int]:
    return ref.encode_fim(FIMRequest(prompt=prompt, suffix=suffix)).tokens


@pytest.mark.parametrize("name", FIM_FILES)
@pytest.mark.parametrize(
    ("prompt", "suffix"),
    [
        ("def f(x):", "    return y"),
        ("def f(x):", ""),
        ("def f(x):", None),
        ("", "a"),
        ("", None),
        ("  leading", "\n\n  trailing  "),
        ("[INST] <s> is text", "[PREFIX]"),
    ],
)
def test_fixed_cases_equal_mistral_common(name: str, prompt: str, suffix: str | None) -> None:
    ours, ref = _pair(name)
    assert ours.encode_fim(prompt, suffix) == _reference(ref, prompt, suffix)


@pytest.mark.parametrize("name", FIM_FILES)
@settings(max_examples=150, deadline=None)
@given(prompt=code_text, suffix=st.one_of(st.none(), code_text))
def test_random_code_equals_mistral_common(name: str, prompt: str, suffix: str | None) -> None:
    ours, ref = _pair(name)
    assert ours.encode_fim(prompt, suffix) == _reference(ref, prompt, suffix)


def test_golden_ids() -> None:
    # Observed with mistral_common 1.13.1 (behaviour map §11).
    v3, _ = _pair("mistral_instruct_tokenizer_240323.model.v3")
    assert v3.encode_fim("def f(x):", "    return y") == [
        1, 13, 3055, 1372, 1105, 11, 1569, 1053, 29500, 29512, 2097,
    ]  # fmt: skip
    tekken, _ = _pair("tekken_240718.json")
    assert tekken.encode_fim("def f(x):", "    return y") == [
        1, 16, 1293, 1850, 1404, 14, 3149, 1284, 4790, 4244,
    ]  # fmt: skip


def test_v2_has_no_prefix_token_and_emits_unk_like_mistral_common() -> None:
    ours, ref = _pair("mistral_instruct_tokenizer_240216.model.v2")
    ids = ours.encode_fim("x", "y")
    assert ids == _reference(ref, "x", "y")
    assert ids[1] == 0


def test_v1_rejects_fim() -> None:
    tok = Tokenizer.from_file(shipped_tokenizer_path("tokenizer.model.v1"))
    with pytest.raises(RequestError, match="FIM not available for v1"):
        tok.encode_fim("a", "b")
