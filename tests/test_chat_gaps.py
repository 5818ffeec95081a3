"""Accept/reject cases found by an independent fuzz (issue 17), each against mistral_common 1.13.1
on every chat file: regexes in schemas judged by this interpreter's ``re``, pydantic's lax-mode
scalars, mappings and sequences that are not dict/list, surrogate pairs, bytes."""

from __future__ import annotations

import copy
import decimal
import enum
import fractions
import functools
import types
import warnings
from typing import Any

import numpy as np
import pytest
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

from mistral_tok import MistralTokError, Tokenizer, UnsupportedFeatureError
from tests.support.chat_files import chat_file_ids, chat_file_path
from tests.support.chat_gen import EDGE_PATTERNS

FILES = [file_id for file_id, _ in chat_file_ids()]
U = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """File id → (mistral_tok tokenizer, mistral_common tokenizer), loaded once."""
    out_dir = tmp_path_factory.mktemp("chat_files")

    @functools.cache
    def pair(file_id: str) -> tuple[Tokenizer, MistralTokenizer]:
        path = chat_file_path(file_id, out_dir)
        return Tokenizer.from_file(path), MistralTokenizer.from_file(str(path))

    return pair


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


def _same(pair: tuple[Tokenizer, MistralTokenizer], make) -> None:
    tok, ref = pair
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


REGEXES = [*EDGE_PATTERNS, "^[a-z]{2,}$"]


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
def test_schema_regexes_are_judged_by_this_pythons_re(
    pairs: Any, name: str, pattern: str, shape: str
) -> None:
    _same(pairs(name), _regex_shapes(pattern)[shape])


class Color(enum.IntEnum):
    RED = 1


class Weight(float, enum.Enum):
    C = 1.5


class Plain(enum.Enum):
    """Not an int or float: ``json.dumps`` refuses it, a lax ``str`` field reads its value."""

    A = 7
    T = (1, "x")
    S = "abcdefghi"


class Perm(enum.IntFlag):
    R = 4
    W = 2


class Shade(enum.Flag):
    DARK = 1


class Raw(bytes, enum.Enum):
    """A bytes subclass: pydantic decodes it before it tests for an enum."""

    B = b"hi"


class OtherMeta(enum.EnumMeta):
    pass


class Custom(enum.Enum, metaclass=OtherMeta):
    """pydantic reads only members of ``EnumMeta`` itself: this one is refused in ``str`` fields."""

    A = 1


def _text(text: Any) -> list:
    return [{"role": "user", "content": [{"type": "text", "text": text}]}]


def _tool_named(name: Any = "f", description: Any = "d") -> list:
    return [
        {
            "type": "function",
            "function": {"name": name, "description": description, "parameters": {}},
        }
    ]


MEMBERS = {
    "IntEnum": Color.RED,
    "float Enum": Weight.C,
    "Enum(int)": Plain.A,
    "Enum(tuple)": Plain.T,
    "Enum(str)": Plain.S,
    "IntFlag": Perm.R | Perm.W,
    "Flag": Shade.DARK,
    "bytes Enum": Raw.B,
    "other metaclass": Custom.A,
}


class Override(dict):
    """A dict subclass read through its ``__getitem__``, as mistral_common reads messages."""

    def __getitem__(self, key: Any) -> Any:
        value = dict.__getitem__(self, key)
        return value.upper() if key == "content" else value


def _call(arguments: Any) -> list:
    return [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "abcdefghi",
                    "type": "function",
                    "function": {"name": "f", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "abcdefghi", "content": "r"},
    ]


def _assistant_last() -> list:
    return [*copy.deepcopy(U), {"role": "assistant", "content": "x"}]


LAX_FIELDS: dict[str, Any] = {
    "temperature=Decimal": {"temperature": decimal.Decimal("0.5")},
    "temperature=Decimal(NaN)": {"temperature": decimal.Decimal("NaN")},
    "top_p=Fraction": {"top_p": fractions.Fraction(1, 2)},
    "temperature=bytes": {"temperature": b"0.5"},
    "temperature=bytearray": {"temperature": bytearray(b"0.5")},
    "temperature=numpy": {"temperature": np.float32(0.25)},
    "max_tokens=Decimal": {"max_tokens": decimal.Decimal("5")},
    "max_tokens=Decimal(5.5)": {"max_tokens": decimal.Decimal("5.5")},
    "max_tokens=Decimal(-1)": {"max_tokens": decimal.Decimal("-1")},
    "max_tokens=Fraction(4)": {"max_tokens": fractions.Fraction(4, 1)},
    "max_tokens=numpy": {"max_tokens": np.int64(3)},
    "max_tokens=bytes": {"max_tokens": b"7"},
    "random_seed=Decimal": {"random_seed": decimal.Decimal(3)},
    "truncate_for_context_length=Decimal(0)": {"truncate_for_context_length": decimal.Decimal(0)},
    "parallel_tool_calls=numpy": {"parallel_tool_calls": np.bool_(True)},
    "model=bytes": {"model": b"m"},
    "model=bytearray": {"model": bytearray(b"m")},
    "model=bad utf-8": {"model": b"\xff"},
    "unknown=Decimal": {"frobnicate": decimal.Decimal(1)},
    "unknown=object": {"frobnicate": object()},
}


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("case", list(LAX_FIELDS))
def test_lax_scalar_fields_follow_pydantic(pairs: Any, name: str, case: str) -> None:
    _same(pairs(name), lambda: (copy.deepcopy(U), None, dict(LAX_FIELDS[case])))


SHAPES: dict[str, Any] = {
    "continue_final_message=Decimal(1)": lambda: (
        _assistant_last(),
        None,
        {"continue_final_message": decimal.Decimal(1)},
    ),
    "arguments=mappingproxy": lambda: (_call(types.MappingProxyType({"a": 1})), None, {}),
    "arguments with bytes": lambda: (_call({"a": b"x"}), None, {}),
    "arguments=bytes": lambda: (_call(b'{"a": 1}'), None, {}),
    "arguments=bytearray": lambda: (_call(bytearray(b"{}")), None, {}),
    "arguments=bad utf-8": lambda: (_call(b"\xff"), None, {}),
    "arguments with Decimal": lambda: (_call({"a": decimal.Decimal(1)}), None, {}),
    "arguments with a surrogate pair": lambda: (_call({"a": "\ud83d\ude00"}), None, {}),
    "arguments with a lone surrogate": lambda: (_call({"a": "x\ud83dy"}), None, {}),
    "tool=mappingproxy": lambda: (
        copy.deepcopy(U),
        [types.MappingProxyType({"type": "function", "function": {"name": "f", "parameters": {}}})],
        {},
    ),
    "properties=mappingproxy": lambda: (
        copy.deepcopy(U),
        _tool({"type": "object", "properties": types.MappingProxyType({"u": {}})}),
        {},
    ),
    "parameters=mappingproxy": lambda: (
        copy.deepcopy(U),
        _tool(types.MappingProxyType({"type": "object"})),
        {},
    ),
    "enum=tuple": lambda: (
        copy.deepcopy(U),
        _tool({"type": "object", "properties": {"u": {"enum": ("a", "b")}}}),
        {},
    ),
    "required=tuple": lambda: (copy.deepcopy(U), _tool({"type": "object", "required": ("u",)}), {}),
    "default=tuple": lambda: (copy.deepcopy(U), _tool({"type": "object", "default": (1, [2])}), {}),
    "type=tuple": lambda: (copy.deepcopy(U), _tool({"type": ("object", "null")}), {}),
    "schema tuple in response_format": lambda: (
        copy.deepcopy(U),
        None,
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "n", "schema": {"type": "object", "required": ("a",)}},
            }
        },
    ),
    "default=range": lambda: (copy.deepcopy(U), _tool({"type": "object", "default": range(2)}), {}),
    "default=Decimal": lambda: (
        copy.deepcopy(U),
        _tool({"type": "object", "default": decimal.Decimal(1)}),
        {},
    ),
    "tools={}": lambda: (copy.deepcopy(U), {}, {}),
    "tools=generator": lambda: (copy.deepcopy(U), (t for t in _tool({})), {}),
    "messages=generator": lambda: ((m for m in copy.deepcopy(U)), None, {}),
    "dict subclass with __getitem__": lambda: ([Override(role="user", content="hi")], None, {}),
    "content=bytes": lambda: ([{"role": "user", "content": b"hi"}], None, {}),
    "text=bytes": lambda: (
        [{"role": "user", "content": [{"type": "text", "text": b"hi"}]}],
        None,
        {},
    ),
    "text=bytearray": lambda: (
        [{"role": "user", "content": [{"type": "text", "text": bytearray(b"hi")}]}],
        None,
        {},
    ),
    "content=IntEnum": lambda: ([{"role": "user", "content": Color.RED}], None, {}),
    "unknown message key=object": lambda: (
        [{"role": "user", "content": "hi", "extra": object()}],
        None,
        {},
    ),
}

for _label, _m in MEMBERS.items():
    SHAPES.update(
        {
            f"text={_label}": lambda m=_m: (_text(m), None, {}),
            f"tool call id={_label}": lambda m=_m: (
                [{**msg, "tool_call_id": m} if msg["role"] == "tool" else msg for msg in _call({})],
                None,
                {},
            ),
            f"arguments={_label}": lambda m=_m: (_call(m), None, {}),
            f"arguments with {_label}": lambda m=_m: (_call({"a": m, "b": [m]}), None, {}),
            f"tool description={_label}": lambda m=_m: (
                copy.deepcopy(U),
                _tool_named(description=m),
                {},
            ),
            f"tool name={_label}": lambda m=_m: (copy.deepcopy(U), _tool_named(name=m), {}),
            f"schema enum={_label}": lambda m=_m: (
                copy.deepcopy(U),
                _tool({"type": "object", "properties": {"u": {"enum": [m]}}}),
                {},
            ),
            f"model={_label}": lambda m=_m: (copy.deepcopy(U), None, {"model": m}),
            f"temperature={_label}": lambda m=_m: (copy.deepcopy(U), None, {"temperature": m}),
        }
    )


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("case", list(SHAPES))
def test_other_types_and_shapes_match(pairs: Any, name: str, case: str) -> None:
    _same(pairs(name), SHAPES[case])
