"""Accept/reject cases found by an independent fuzz (issue 17), each against mistral_common 1.13.1
on every chat file: regexes in schemas judged by this interpreter's ``re``, pydantic's lax-mode
scalars, mappings and sequences that are not dict/list, surrogate pairs, bytes."""

from __future__ import annotations

import copy
import functools
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

from mistral_tok import MistralTokError, Tokenizer, UnsupportedFeatureError
from tests.support.chat_files import chat_file_ids, chat_file_path

FILES = [file_id for file_id, _ in chat_file_ids()]
U = [{"role": "user", "content": "hi"}]


@functools.cache
def _pair(file_id: str) -> tuple[Tokenizer, MistralTokenizer]:
    path = chat_file_path(file_id, Path(tempfile.mkdtemp(prefix="mistral_tok_gaps_")))
    return Tokenizer.from_file(path), MistralTokenizer.from_file(str(path))


def _reference(ref: MistralTokenizer, messages: Any, tools: Any, fields: dict) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            request = ChatCompletionRequest.from_openai(messages, tools, **fields)
            return ref.encode_chat_completion(request).tokens
    except Exception as e:  # noqa: BLE001 - any exception is a rejection
        return type(e)


def _ours(tok: Tokenizer, messages: Any, tools: Any, fields: dict) -> Any:
    try:
        return tok.encode_chat(messages, tools, **fields)
    except UnsupportedFeatureError:
        return UnsupportedFeatureError
    except MistralTokError as e:
        return type(e)


def _same(name: str, make) -> None:
    tok, ref = _pair(name)
    messages, tools, fields = make()
    want = _reference(ref, messages, tools, fields)
    messages, tools, fields = make()
    got = _ours(tok, messages, tools, fields)
    assert got is not UnsupportedFeatureError, (want, got)
    if isinstance(want, list):
        assert got == want
    else:
        assert not isinstance(got, list), (want, got)


def _tool(parameters: Any) -> list:
    return [{"type": "function", "function": {"name": "f", "parameters": parameters}}]


REGEXES = [
    "a??",
    "a?+",
    "a*+",
    "^[\\w-\\.]+@([\\w-]+\\.)+[\\w-]{2,4}$",
    "\\1",
    "(?<=a+)b",
    "(?<!\\d{1,3})x",
    "(?P<a>x)|(?P<a>y)",
    "a(?i)b",
    "\\x4",
    "(?L)x",
    "(?(1)a|b)",
    "\\400",
    "[a-\\d]",
    "x{4294967296}",
    "^[a-z]{2,}$",
]


def _regex_shapes(p: str) -> dict:
    prop = {"type": "object", "properties": {"u": {"type": "string", "pattern": p}}}
    keys = {"type": "object", "patternProperties": {p: {"type": "string"}}}
    schema = {"type": "json_schema", "json_schema": {"name": "n", "schema": prop}}
    return {
        "pattern": lambda: (copy.deepcopy(U), _tool(copy.deepcopy(prop)), {}),
        "patternProperties": lambda: (copy.deepcopy(U), _tool(copy.deepcopy(keys)), {}),
        "response_format": lambda: (
            copy.deepcopy(U),
            None,
            {"response_format": copy.deepcopy(schema)},
        ),
    }


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("pattern", REGEXES)
@pytest.mark.parametrize("shape", ["pattern", "patternProperties", "response_format"])
def test_schema_regexes_are_judged_by_this_pythons_re(name: str, pattern: str, shape: str) -> None:
    _same(name, _regex_shapes(pattern)[shape])
