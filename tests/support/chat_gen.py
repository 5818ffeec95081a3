"""Seeded generator of OpenAI-format chat requests for differential tests against mistral_common.

``gen_valid(rng, profile)`` builds a request that mistral_common 1.13.1 should accept on a tokenizer
of the given version; ``gen_invalid(rng, profile)`` mutates a valid one so that it should be
rejected. "Should" is the generator's intent, measured against mistral_common by
``measure_acceptance`` (run this module as a script); what matters for the parity test is only that
both implementations agree, so mislabelled cases are still useful.

What is valid per version (mistral_common's validator.py / normalize.py / instruct.py, behaviour map
§5–§9):

* v1: no tool calls or tool messages (``Tools not implemented for tokenizer V1``); text only.
* v1–v3: an assistant message has either content or tool calls, never both; system text only.
* v2: at most one tool result per assistant turn from the last user message on.
* v3, v7, v11: call ids match ``^[a-zA-Z0-9]{9}$``; v13+: any non-empty id other than ``"null"``.
* v11+: results pair with calls by id (and are re-sorted to call order); v1–v7 count them.
* think chunks (and OpenAI ``reasoning``/``reasoning_content``): assistant v13+, system v13 only.
* ``reasoning_effort``: v15 only, and one of the values of the file's settings builder.
* the last message is user, tool, system, or an assistant continued with ``continue_final_message``.
* ``from_openai`` ignores unknown keys of messages, chunks, tools and the request, and ignores
  ``prefix``.
"""

from __future__ import annotations

import base64
import collections.abc
import copy
import decimal
import fractions
import io
import json
import random
import string
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# ------------------------------------------------------------------------------------------------
# Profiles


@dataclass(frozen=True)
class Profile:
    """What a tokenizer file supports."""

    version: str  # "v1" … "v15"
    is_tekken: bool
    has_image: bool  # the file has an image encoder
    reasoning_values: tuple[str, ...] = ()  # v15 settings builder values

    @property
    def n(self) -> int:
        return int(self.version[1:])


def profile_for(name: str, version: str) -> Profile:
    is_tekken = name.startswith("tekken")
    generated = "generated" in name
    has_image = name.endswith("v7m1") or name == "tekken_240911.json" or generated
    reasoning = ("none", "high") if version == "v15" else ()
    return Profile(
        version=version, is_tekken=is_tekken, has_image=has_image, reasoning_values=reasoning
    )


@dataclass
class ChatCase:
    """One request in ``encode_chat`` / ``from_openai`` form."""

    messages: Any
    tools: Any = None
    continue_final_message: Any = False
    fields: dict[str, Any] = field(default_factory=dict)
    intent: str = "valid"  # "valid" or "invalid"
    label: str = "valid"  # mutation name for invalid cases; feature tags for valid ones
    has_media: bool = False  # contains an image chunk
    # ``encode_chat_completion``'s argument (used with ``truncate_for_context_length``); passed
    # only when not None
    max_model_input_len: Any = None

    def args(self) -> tuple[tuple, dict]:
        """Fresh deep copies of the call arguments (callers must never share them)."""
        kwargs = copy.deepcopy(self.fields)
        kwargs["continue_final_message"] = copy.deepcopy(self.continue_final_message)
        if self.max_model_input_len is not None:
            kwargs["max_model_input_len"] = self.max_model_input_len
        return (copy.deepcopy(self.messages), copy.deepcopy(self.tools)), kwargs

    def describe(self, limit: int = 4000) -> str:
        text = (
            f"intent={self.intent} label={self.label}\n"
            f"messages={_short_repr(self.messages)}\n"
            f"tools={_short_repr(self.tools)}\n"
            f"continue_final_message={self.continue_final_message!r} "
            f"fields={_short_repr(self.fields)}"
            + (
                f" max_model_input_len={self.max_model_input_len!r}"
                if self.max_model_input_len is not None
                else ""
            )
        )
        return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more chars)"


def _short_repr(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 10_000:
        return f"<int of {value.bit_length()} bits>"  # repr() refuses ints over 4300 digits
    if isinstance(value, str) and value.startswith("data:image"):
        return repr(value[:40] + "…")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_short_repr(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_short_repr(v) for v in value) + "]"
    return repr(value)


# ------------------------------------------------------------------------------------------------
# Text

_WORDS = (
    "the quick brown fox jumps over lazy dog weather Paris tomorrow please answer briefly "
    "function call result "
    "value table index error retry tokenizer model prompt system user assistant tool json schema"
).split()

_FRAGMENTS = [
    # CJK, Hangul, kana
    "你好，世界。",
    "今日は良い天気ですね",
    "한국어 텍스트입니다",
    "東京タワー",
    "中文標點符號：「」、。",
    # emoji incl. ZWJ sequences, modifiers, flags, variation selectors
    "😀",
    "👩‍👩‍👧‍👦",
    "👍🏽",
    "🇫🇷🇯🇵",
    "❤️",
    "🧑🏿‍💻",
    "✌︎",
    "🫠",
    # combining marks and odd letters
    "e\u0301",
    "a\u0308\u0323",
    "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǫ̗͕",
    "ﬁ",
    "Ǆ",
    "ß",
    "İstanbul",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "Ωμέγα",
    "Ελληνικά",
    # RTL and bidi controls
    "مرحبا بالعالم",
    "שלום עולם",
    "\u200f",
    "\u202eabc\u202c",
    "١٢٣٤",
    # whitespace of all kinds
    "\r\n",
    "\r",
    "a\rb",
    "\n\n",
    "\n",
    "\t",
    "  ",
    "   \n  ",
    "\u00a0",
    "\u3000",
    "\u2028",
    "\u2029",
    "\u200b",
    "\ufeff",
    " \r\n\r\n ",
    "\x0b",
    "\x0c",
    # special-token lookalikes: must be encoded as text
    "[INST]",
    "[/INST]",
    "</s>",
    "<s>",
    "<unk>",
    "<pad>",
    "[TOOL_CALLS]",
    "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]",
    "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]",
    "[THINK]",
    "[/THINK]",
    "[MODEL_SETTINGS]",
    "[IMG]",
    "[ARGS]",
    "[CALL_ID]",
    "[TOOL_CONTENT]",
    "[REFERENCE_DOC_3]",
    "[REF]",
    "[/REF]",
    "<0x0A>",
    "▁",
    "▁▁hello",
    "<SPECIAL_20>",
    "[control_8]",
    "<|im_start|>",
    # digits and numbers
    "3.14159",
    "1234567890",
    "0.000001",
    "1e-07",
    "½",
    "²",
    "٣",
    # code and escapes
    "def f(x):\n    return x",
    '{"a": 1, "b": [true, null]}',
    "\\n",
    "\\u00e9",
    "C:\\path\\file",
    "<b>bold</b>",
    "a\x00b",
    "\x7f",
    "\x1b[31m",
    # long repetitions (tekken long pieces, SPM long whitespace)
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    " " * 40,
    "\n" * 7,
    "!!!!!!!!??",
    "----------",
]


# Planes weighted towards assigned scripts, but reaching unassigned, private-use and noncharacters.
_CODEPOINT_RANGES = [
    (0x20, 0x7E), (0x80, 0x2FF), (0x300, 0x36F), (0x370, 0x1FFF), (0x2000, 0x206F),
    (0x2070, 0x2BFF), (0x3000, 0x9FFF), (0xAC00, 0xD7A3), (0xE000, 0xF8FF), (0xF900, 0xFFFF),
    (0x10000, 0x1FFFF), (0x20000, 0x3FFFF), (0xE0000, 0x10FFFF),
]  # fmt: skip


def rand_codepoints(rng: random.Random) -> str:
    """Random code points from all planes (never surrogates)."""
    out = []
    for _ in range(rng.randint(1, 8)):
        lo, hi = rng.choice(_CODEPOINT_RANGES)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def rand_text(rng: random.Random, max_parts: int = 8, allow_empty: bool = False) -> str:
    """A short random text mixing plain words with Unicode and lookalike fragments."""
    if allow_empty and rng.random() < 0.05:
        return rng.choice(["", " ", "\n"])
    parts: list[str] = []
    for _ in range(rng.randint(1, max_parts)):
        r = rng.random()
        if r < 0.55:
            parts.append(" ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 6))))
        elif r < 0.92:
            parts.append(rng.choice(_FRAGMENTS))
        elif r < 0.96:
            parts.append(rand_codepoints(rng))
        else:
            parts.append("".join(rng.choice(string.printable) for _ in range(rng.randint(1, 12))))
    sep = rng.choice([" ", " ", "", "\n", ". "])
    text = sep.join(parts)
    r = rng.random()
    if r < 0.08:
        text = " " + text
    elif r < 0.16:
        text = text + rng.choice(["  ", " \n", "\n\n", " \t ", "   "])
    return text


def nonempty_text(rng: random.Random, max_parts: int = 8) -> str:
    text = rand_text(rng, max_parts)
    return text if text else "x"


# ------------------------------------------------------------------------------------------------
# JSON values, schemas, tools

_SPECIAL_NUMBERS: list[Any] = [
    1e-07,
    1e16,
    1e22,
    0.1,
    -0.0,
    2.5,
    1.0,
    -1.5e300,
    5e-324,
    2**70,
    -(2**64),
    12345678901234567890,
    0,
    -1,
    3,
    True,
    False,
    None,
    1.7976931348623157e308,
    123456.789,
    100.0,
]

_KEY_POOL = [
    "city",
    "unit",
    "query",
    "limit",
    "offset",
    "città",
    "名前",
    "emoji😀",
    "a b",
    'key"quote',
    "back\\slash",
    "tab\there",
    "",
    "x",
    "nested",
    "items",
    "type",
    "properties",
    "Ünïcödé",
    "$ref_like",
    "-dash",
    "0",
]


def rand_scalar(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.05:
        # any double, from its bits: subnormals, huge exponents, NaN, ±inf, shortest-repr edges
        return struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
    if r < 0.35:
        return rng.choice(_SPECIAL_NUMBERS)
    if r < 0.5:
        return rng.randint(-(10**6), 10**6)
    if r < 0.6:
        return rng.uniform(-1000, 1000)
    s = rand_text(rng, 3, allow_empty=True)
    if rng.random() < 0.1:
        s += rng.choice(["\x01", "\x1f", "\u2028", '"', "\\", "/", "\ud7ff", "\U0001f600"])
    return s


def rand_json_value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth >= 3 or r < 0.55:
        return rand_scalar(rng)
    if r < 0.75:
        return [rand_json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_rand_key(rng): rand_json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


# json.dumps stringifies these keys: 1 -> "1", 2.5 -> "2.5", True -> "true", None -> "null", …
_NON_STR_KEYS: list = [1, -7, 2.5, True, False, None, 1e16, -0.0, 10**20]


def _rand_key(rng: random.Random) -> Any:
    return rng.choice(_NON_STR_KEYS) if rng.random() < 0.03 else rng.choice(_KEY_POOL)


def rand_schema(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    """A valid Draft-7 schema exercising enum/array/object/anyOf and awkward numbers."""
    kinds = [
        "string",
        "number",
        "integer",
        "boolean",
        "enum",
        "array",
        "object",
        "anyOf",
        "null",
        "const",
    ]
    if depth >= 2:
        kinds = kinds[:5]
    kind = rng.choice(kinds)
    schema: dict[str, Any] = {}
    if kind in ("string", "number", "integer", "boolean", "null"):
        schema["type"] = kind
    if rng.random() < 0.5:
        schema["description"] = rand_text(rng, 3)
    if kind == "string":
        if rng.random() < 0.3:
            schema["minLength"] = rng.randint(0, 3)
        if rng.random() < 0.2:
            schema["format"] = rng.choice(["date-time", "email", "uri"])
        if rng.random() < 0.2:
            schema["pattern"] = rand_pattern(rng)
    elif kind in ("number", "integer"):
        if rng.random() < 0.5:
            schema["minimum"] = rng.choice([0, 1e-07, -1e16, -(2**70), 0.5])
        if rng.random() < 0.5:
            schema["maximum"] = rng.choice([1e16, 2**70, 100, 1.5, 12345678901234567890])
        if rng.random() < 0.3:
            schema["default"] = rng.choice(_SPECIAL_NUMBERS[:12] + [float("nan"), float("inf")])
        if rng.random() < 0.15:
            schema["multipleOf"] = rng.choice([0.5, 1e-07, 3])
    elif kind == "enum":
        schema["enum"] = rng.sample(
            ["celsius", "fahrenheit", "°K", "日本", 1, 2.5, None, True, 1e16, ""], rng.randint(1, 5)
        )
    elif kind == "const":
        schema["const"] = rand_scalar(rng)
    elif kind == "array":
        schema["type"] = "array"
        schema["items"] = rand_schema(rng, depth + 1)
        if rng.random() < 0.3:
            schema["minItems"] = rng.randint(0, 2)
    elif kind == "object":
        schema.update(rand_object_schema(rng, depth + 1))
    elif kind == "anyOf":
        schema["anyOf"] = [rand_schema(rng, depth + 1) for _ in range(rng.randint(1, 3))]
    return schema


# Regexes `re.compile` judges differently across Python versions (possessive quantifiers and
# global flags after the start are 3.11+), or that a syntax check alone gets wrong.
EDGE_PATTERNS = [
    "a??",
    "a?+",
    "a*+",
    "(?>ab)c",
    "a(?i)b",
    "(?i)ab",
    "^[\\w-\\.]+@([\\w-]+\\.)+[\\w-]{2,4}$",
    "\\1",
    "(?<=a+)b",
    "(?<!\\d{1,3})x",
    "(?P<a>x)|(?P<a>y)",
    "\\x4",
    "(?L)x",
    "(?(1)a|b)",
    "\\400",
    "[a-\\d]",
    "x{4294967296}",
]


def rand_pattern(rng: random.Random) -> str:
    if rng.random() < 0.25:
        return rng.choice(EDGE_PATTERNS)
    return rng.choice(["^[a-z]+$", "\\d{3}-\\d{4}", "^[A-Z][a-z]*(?: [A-Z][a-z]*)*$"])


def rand_object_schema(
    rng: random.Random, depth: int = 0, n_params: int | None = None
) -> dict[str, Any]:
    n = rng.randint(0, 4) if n_params is None else n_params
    keys = rng.sample(_KEY_POOL, min(n, len(_KEY_POOL)))
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {k: rand_schema(rng, depth) for k in keys},
    }
    if keys and rng.random() < 0.7:
        schema["required"] = rng.sample(keys, rng.randint(1, len(keys)))
    if rng.random() < 0.2:
        schema["additionalProperties"] = rng.choice([False, True, {"type": "string"}])
    if rng.random() < 0.05:
        schema["patternProperties"] = {rand_pattern(rng): {"type": "string"}}
    if rng.random() < 0.1:
        schema = dict(reversed(list(schema.items())))  # key order must be kept as given
    return schema


_NAME_CHARS = string.ascii_letters + string.digits + "_-"


def rand_tool_name(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.02:
        return "trailing_newline\n"  # accepted: Python's `$` matches before a final newline
    if r < 0.6:
        return "_".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3)))
    if r < 0.7:
        return "".join(rng.choice(_NAME_CHARS) for _ in range(64))
    if r < 0.8:
        return rng.choice(["a", "-", "_", "0", "get-weather-v2", "X_Y-Z"])
    return "".join(rng.choice(_NAME_CHARS) for _ in range(rng.randint(1, 20)))


def rand_tools(rng: random.Random, n: int) -> list[dict[str, Any]]:
    names: list[str] = []
    while len(names) < n:
        name = rand_tool_name(rng)
        if name not in names:
            names.append(name)
    tools = []
    for name in names:
        function: dict[str, Any] = {"name": name}
        r = rng.random()
        if r < 0.75:
            function["description"] = rand_text(rng, 4, allow_empty=True)
        elif r < 0.85:
            function["description"] = None
        r = rng.random()
        if r < 0.85:
            function["parameters"] = rand_object_schema(rng)
        elif r < 0.92:
            function["parameters"] = {}
        elif r < 0.96:
            function["parameters"] = None
        if rng.random() < 0.2:
            function["strict"] = rng.choice([True, False, None])
        if rng.random() < 0.05:
            function["unknown_key"] = "ignored"
        tool: dict[str, Any] = {"type": "function", "function": function}
        tools.append(tool)
    return tools


def rand_arguments(rng: random.Random) -> Any:
    """Tool-call arguments in one of the many shapes clients send."""
    obj = {_rand_key(rng): rand_json_value(rng, 1) for _ in range(rng.randint(0, 4))}
    r = rng.random()
    if r < 0.02:
        # within CPython's json limits (nesting well below the recursion limit, ≤ 4300 digits)
        return rng.choice(
            [
                "[" * 300 + "]" * 300,
                '{"a": ' + "9" * 4300 + "}",
                {"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf")},
                {"big": 10**40, "tiny": 5e-324, "neg0": -0.0},
                '{"a": 1.0e+400}',
            ]
        )
    if r < 0.2:
        return obj  # dict: from_openai json.dumps it (ASCII-escaped)
    if r < 0.45:
        return json.dumps(obj)
    if r < 0.6:
        return json.dumps(obj, ensure_ascii=False)
    if r < 0.67:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=rng.random() < 0.5)
    if r < 0.72:
        return json.dumps(obj, indent=rng.choice([2, None, "\t"]), ensure_ascii=False)
    if r < 0.85:
        return rng.choice(
            [
                '{"a": 1e2, "b": -0, "c": 1E400, "d": 0.1e1, "e": -1e-400}',
                '{"dup": 1, "x": 2, "dup": 3}',
                '{"esc": "\\u00e9\\/\\b\\f\\n\\r\\t\\u0001\\ud83d\\ude00"}',
                '{"big": 123456789012345678901234567890, "neg": -12345678901234567890}',
                '{"nan": NaN, "inf": Infinity, "ninf": -Infinity}',
                '  {"padded" :true }  ',
                '{"x": "raw\ncontrol"}',
                '{"u": "\\u2028\\u2029"}',
                '{"f": 1.0, "g": 1.10, "h": 3.0e5, "i": 1e16, "j": 1e15}',
                '{"nested": {"deep": [[[[]]]], "obj": {}}}',
            ]
        )
    if r < 0.9:
        return rng.choice(["", "{}", "[]"])
    if r < 0.95:
        return rng.choice(
            ["not json", "{broken", "42", '"just a string"', "null", "[1, 2, 3]", "true", "1.5"]
        )
    return None  # -> "{}"


def rand_tool_result(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.35:
        return json.dumps(rand_json_value(rng), ensure_ascii=rng.random() < 0.5)
    if r < 0.7:
        return rand_text(rng, 5, allow_empty=True)
    if r < 0.8:
        return rng.choice(
            ["", "{}", "20", "null", '{"t":20,"u":"°C"}', "[1,2]", "not json", '{"a": NaN}']
        )
    return [
        {"type": "text", "text": rand_text(rng, 3, allow_empty=True)}
        for _ in range(rng.randint(1, 3))
    ]


# ------------------------------------------------------------------------------------------------
# Images (tiny deterministic PNGs)


def _have_image_deps() -> bool:
    import importlib.util

    # mistral_common needs opencv to encode any image; without it every image request fails there
    return all(importlib.util.find_spec(m) is not None for m in ("PIL", "cv2"))


HAVE_IMAGE_DEPS = _have_image_deps()

_PNG_CACHE: dict[tuple[int, int, int], str] = {}


def rand_image_chunk(rng: random.Random) -> dict[str, Any]:
    w, h, c = rng.randint(4, 80), rng.randint(4, 80), rng.randint(0, 255)
    key = (w, h, c)
    if key not in _PNG_CACHE:
        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGB", (w, h), (c, 255 - c, (c * 7) % 256)).save(buf, format="PNG")
        _PNG_CACHE[key] = base64.b64encode(buf.getvalue()).decode("ascii")
    data = _PNG_CACHE[key]
    if rng.random() < 0.5:
        return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}
    return {"type": "image_url", "image_url": f"data:image/png;base64,{data}"}


# ------------------------------------------------------------------------------------------------
# Messages


def _content(rng: random.Random, allow_list: bool = True, nonempty: bool = False) -> Any:
    """String content, or a list of text chunks (which normalise like joined strings)."""
    if allow_list and rng.random() < 0.25:
        chunks = []
        for _ in range(rng.randint(1, 3)):
            chunk: dict[str, Any] = {
                "type": "text",
                "text": rand_text(rng, 4, allow_empty=not nonempty),
            }
            if rng.random() < 0.05:
                chunk["extra"] = "ignored"
            chunks.append(chunk)
        return chunks
    return nonempty_text(rng) if nonempty else rand_text(rng, allow_empty=True)


def _call_id(rng: random.Random, p: Profile, used: set) -> str | None:
    while True:
        if p.n <= 2:
            r = rng.random()
            if r < 0.3:
                return None  # no id key at all -> "null"
            cid = rng.choice(
                ["call_1", "abc", "".join(rng.choice(string.ascii_letters) for _ in range(9))]
            )
        elif p.n >= 13 and rng.random() < 0.5:
            cid = rng.choice(["call_", "toolu_", "id-", "😀", "x", "call "]) + str(
                rng.randint(0, 10**6)
            )
        else:
            cid = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(9))
            if rng.random() < 0.03:
                cid += (
                    "\n"  # Python's `$` matches before a final newline, so the id regex accepts it
                )
        if cid not in used:
            used.add(cid)
            return cid


def _think_chunk(rng: random.Random, closed: bool = True) -> dict[str, Any]:
    chunk: dict[str, Any] = {"type": "thinking", "thinking": rand_text(rng, 4, allow_empty=True)}
    if not closed:
        chunk["closed"] = False
    elif rng.random() < 0.3:
        chunk["closed"] = True
    return chunk


def _assistant_text_message(
    rng: random.Random, p: Profile, final_prefix: bool = False
) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant"}
    r = rng.random()
    if p.n >= 13 and r < 0.25:
        # reasoning through the OpenAI fields (-> a leading closed ThinkChunk)
        reasoning = rand_text(rng, 4, allow_empty=True)
        which = rng.choice(["reasoning", "reasoning_content", "both"])
        if which in ("reasoning", "both"):
            msg["reasoning"] = reasoning
        if which in ("reasoning_content", "both"):
            msg["reasoning_content"] = reasoning
        msg["content"] = rng.choice(
            [nonempty_text(rng), None, [{"type": "text", "text": nonempty_text(rng)}]]
        )
    elif p.n >= 13 and r < 0.45:
        chunks: list[dict[str, Any]] = []
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.5:
                closed = not (rng.random() < (0.5 if final_prefix else 0.05))
                chunks.append(_think_chunk(rng, closed=closed))
            else:
                chunks.append({"type": "text", "text": rand_text(rng, 4, allow_empty=True)})
        if not any(c["type"] == "text" and c["text"] for c in chunks) and not any(
            c["type"] == "thinking" for c in chunks
        ):
            chunks.append({"type": "text", "text": nonempty_text(rng)})
        msg["content"] = chunks
    else:
        msg["content"] = _content(rng, allow_list=True, nonempty=True)
        if isinstance(msg["content"], list) and not any(c["text"] for c in msg["content"]):
            msg["content"][0]["text"] = nonempty_text(rng)
    if rng.random() < 0.05:
        msg["prefix"] = rng.choice([True, False])  # ignored by from_openai
    if rng.random() < 0.03:
        msg["tool_calls"] = rng.choice([[], None])  # an empty call list is no call
    if rng.random() < 0.03:
        msg["name"] = "ignored"
    return msg


def _user_message(rng: random.Random, p: Profile, allow_image: bool) -> tuple[dict[str, Any], bool]:
    content = _content(rng)
    has_media = False
    if allow_image and p.has_image and HAVE_IMAGE_DEPS and rng.random() < 0.04:
        chunks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        chunks.insert(rng.randint(0, len(chunks)), rand_image_chunk(rng))
        content, has_media = chunks, True
    return {"role": "user", "content": content}, has_media


def _system_message(rng: random.Random, p: Profile) -> dict[str, Any]:
    role = "developer" if rng.random() < 0.2 else "system"
    if p.n == 13 and rng.random() < 0.15:
        content: Any = [{"type": "text", "text": rand_text(rng, 3)}, _think_chunk(rng)]
    else:
        content = _content(rng)
    return {"role": role, "content": content}


def _tool_call_round(
    rng: random.Random, p: Profile, tools: list[dict[str, Any]], used_ids: set, k: int
) -> list[dict[str, Any]]:
    """An assistant message with ``k`` calls followed by their results."""
    calls = []
    for _ in range(k):
        name = (
            rng.choice(tools)["function"]["name"]
            if tools and rng.random() < 0.9
            else rand_tool_name(rng)
        )
        call: dict[str, Any] = {
            "type": "function",
            "function": {"name": name, "arguments": rand_arguments(rng)},
        }
        cid = _call_id(rng, p, used_ids)
        if cid is not None:
            call["id"] = cid
        if rng.random() < 0.1:
            del call["type"]
        if rng.random() < 0.03:
            call["function"]["unknown_key"] = 1  # FunctionCall ignores unknown keys too
        calls.append(call)
    msg: dict[str, Any] = {"role": "assistant", "tool_calls": calls}
    if p.n >= 7 and rng.random() < 0.25:
        msg["content"] = nonempty_text(rng)
        if p.n >= 13 and rng.random() < 0.3:
            msg["reasoning"] = rand_text(rng, 3)
    elif rng.random() < 0.3:
        msg["content"] = None
    results = []
    for call in calls:
        res: dict[str, Any] = {
            "role": "tool",
            "tool_call_id": call.get("id"),
            "content": rand_tool_result(rng),
        }
        if rng.random() < 0.5:
            res["name"] = call["function"]["name"]
        results.append(res)
    if p.n >= 3 and rng.random() < 0.3:
        rng.shuffle(results)  # v11+ re-sort by call order; v3/v7 keep the given order
    if p.n <= 2:
        # v1/v2 ids are unchecked; a missing call id becomes "null", a result may carry None
        for res in results:
            if res["tool_call_id"] is None and rng.random() < 0.5:
                res["tool_call_id"] = rng.choice(["null", "whatever"])
    return [msg] + results


def _lax(rng: random.Random, value: Any) -> Any:
    """``value`` now and then in a form pydantic's lax mode reads as it (Decimal, Fraction,
    bytes, a numpy scalar …), or nearly so."""
    if rng.random() >= 0.1 or value is None:
        return value
    if isinstance(value, bool):
        return rng.choice([decimal.Decimal(int(value)), _numpy_scalar("bool_", value), int(value)])
    if isinstance(value, str):
        return rng.choice([value.encode(), bytearray(value.encode())])
    forms = [
        decimal.Decimal(repr(value)),
        fractions.Fraction(value),
        repr(value).encode(),
        _numpy_scalar("float64" if isinstance(value, float) else "int64", value),
    ]
    return rng.choice(forms)


def _numpy_scalar(kind: str, value: Any) -> Any:
    try:
        import numpy as np
    except ImportError:
        return value
    return getattr(np, kind)(value)


def _request_fields(
    rng: random.Random, p: Profile, tools: list[dict[str, Any]] | None
) -> dict[str, Any]:
    f: dict[str, Any] = {}
    if rng.random() < 0.3:
        f["temperature"] = rng.choice([0.0, 0.3, 0.7, 1.0, rng.random()])
    if rng.random() < 0.2:
        f["top_p"] = rng.choice([0.0, 0.9, 1.0])
    if rng.random() < 0.2:
        f["max_tokens"] = rng.choice([0, 1, 256, None])
    if rng.random() < 0.2:
        f[rng.choice(["random_seed", "seed"])] = rng.choice([0, 42, 2**31, None])
    if rng.random() < 0.2:
        f["model"] = rng.choice(["mistral-large-latest", "ministral", ""])
    if tools and rng.random() < 0.4:
        f["tool_choice"] = rng.choice(
            [
                "auto",
                "none",
                "any",
                "required",
                {"type": "function", "function": {"name": tools[0]["function"]["name"]}},
            ]
        )
    if rng.random() < 0.2:
        f["parallel_tool_calls"] = rng.choice([True, False, None])
    if rng.random() < 0.2:
        f["response_format"] = rng.choice(
            [
                {"type": "text"},
                {"type": "json_object"},
                {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "answer",
                        "schema": rand_object_schema(rng),
                        "strict": rng.random() < 0.5,
                    },
                },
                # the field's own name works as well as its alias; extra keys are ignored
                {
                    "type": "json_schema",
                    "json_schema": {"name": "a", "custom_schema": rand_object_schema(rng)},
                },
                {
                    "type": "json_schema",
                    "json_schema": {"name": "a", "schema": {}, "description": rand_text(rng, 2)},
                },
                {"type": "text", "json_schema": {"name": "a", "schema": {"type": "object"}}},
                {"type": "json_object", "unknown_key": 1},
            ]
        )
    for name in ["temperature", "top_p", "max_tokens", "random_seed", "seed", "model"]:
        if name in f:
            f[name] = _lax(rng, f[name])
    if p.n >= 15 and rng.random() < 0.6:
        f["reasoning_effort"] = rng.choice(list(p.reasoning_values) + [None])
    if rng.random() < 0.1:
        f["truncate_for_context_length"] = False
    if rng.random() < 0.05:
        f[rng.choice(["stream", "user", "n", "logprobs", "stop"])] = rng.choice(
            [True, "u-1", 1, None]
        )
    return f


# Values mistral_common never reads or never serialises may be anything Python allows, even what
# cannot be encoded: a str with a lone surrogate, an int too long for str() (> 4300 digits).
_UNREADABLE = ["lone \ud800 surrogate", 10**5000]


def _hide_unreadable(rng: random.Random, messages: list, fields: dict) -> str:
    value = rng.choice(_UNREADABLE)
    r = rng.random()
    if r < 0.4:
        rng.choice(messages)["unknown_key"] = value  # from_openai picks known keys only
        return "unreadable_message_key"
    if r < 0.7:
        fields["user"] = value  # unknown request fields are ignored
        return "unreadable_request_field"
    if r < 0.85:
        for m in messages:
            if isinstance(m.get("content"), list) and m["content"]:
                m["content"][0]["unknown_key"] = value  # chunks ignore unknown keys too
                return "unreadable_chunk_key"
    fields["tool_choice"] = {"type": "function", "function": {"name": "f", "extra": value}}
    return "unreadable_tool_choice"


def gen_valid(rng: random.Random, p: Profile, big: bool = False) -> ChatCase:
    """A request mistral_common should accept on a ``p`` tokenizer."""
    tags: list[str] = []
    use_tools = p.n >= 2 and rng.random() < 0.5
    tools = rand_tools(rng, rng.randint(1, 12 if big else 4)) if use_tools else None
    if p.n == 1 and rng.random() < 0.1:
        tools = rand_tools(rng, 1)  # v1 ignores tool definitions
    if tools is not None and rng.random() < 0.05:
        tools = []
    if tools and rng.random() < 0.03:
        tools.append(copy.deepcopy(rng.choice(tools)))  # duplicate names are not checked
        tags.append("dup_tool")
    messages: list[dict[str, Any]] = []
    has_media = False
    used_ids: set = set()

    if rng.random() < 0.5:
        messages.append(_system_message(rng, p))
        if rng.random() < 0.1:
            messages.append(_system_message(rng, p))
    n_turns = rng.choice([1, 1, 2, 2, 3, 4, 6]) * (4 if big else 1)
    ending = rng.choices(
        ["user", "tool", "prefix", "system"], weights=[60, 20 if tools else 0, 15, 5]
    )[0]
    if p.n == 1 and ending == "tool":
        ending = "user"
    if ending == "tool" and not tools:
        ending = "user"

    for turn in range(n_turns):
        last_turn = turn == n_turns - 1
        user, media = _user_message(rng, p, allow_image=True)
        messages.append(user)
        has_media |= media
        if rng.random() < 0.1:
            user2, media = _user_message(rng, p, allow_image=True)
            messages.append(user2)
            has_media |= media
        if rng.random() < 0.07:
            # system may follow user or system only; v7+ keeps it in place, v1-v3 merge it
            # into the prompt
            messages.append(_system_message(rng, p))
            if rng.random() < 0.3:
                messages.append({"role": "user", "content": _content(rng)})
        if last_turn and ending in ("user", "system"):
            break
        # the assistant side of the turn: some tool rounds, then (usually) an answer
        n_rounds = 0
        if tools and p.n >= 2:
            n_rounds = rng.choice([0, 0, 1, 1, 2])
            if last_turn and ending == "tool":
                n_rounds = max(n_rounds, 1)
        for _rnd in range(n_rounds):
            k = rng.choice([1, 1, 2, 3])
            if p.n == 2 and last_turn:
                k = 1
            messages.extend(_tool_call_round(rng, p, tools or [], used_ids, k))
            tags.append(f"calls{k}")
        if last_turn and ending == "tool":
            break
        if last_turn and ending == "prefix":
            messages.append(_assistant_text_message(rng, p, final_prefix=True))
            break
        messages.append(_assistant_text_message(rng, p))
        if rng.random() < 0.05:
            messages.append(_assistant_text_message(rng, p))

    if ending == "system":
        messages.append(_system_message(rng, p))
    r = rng.random()
    if r < 0.03 and ending != "prefix" and messages[0]["role"] == "user":
        # with two or more messages the first may be an assistant
        messages.insert(0, {"role": "assistant", "content": nonempty_text(rng)})
        tags.append("assistant_first")
    elif r < 0.05:
        messages = [_system_message(rng, p) for _ in range(rng.randint(1, 2))]
        ending = "system"
        tags.append("only_system")
    elif r < 0.06:
        i = rng.randrange(len(messages))
        if isinstance(messages[i].get("content"), str):
            messages[i]["content"] += "".join(rng.choice("abcdefghij") for _ in range(3000))
            tags.append("long_word")
    cfm: Any = ending == "prefix"
    if rng.random() < 0.1:
        # from_openai validates the flag as a lax pydantic bool
        cfm = rng.choice([1, "true", "yes", "on", "1"] if cfm else [0, "false", "no", "off", "0"])
    fields = _request_fields(rng, p, tools)
    if p.n == 1:
        for m in messages:
            if m["role"] == "assistant":
                m.pop("tool_calls", None)
    if rng.random() < 0.01:
        tags.append(_hide_unreadable(rng, messages, fields))
    tags.append(f"end={ending}")
    container: Any = messages
    if rng.random() < 0.01:
        container = tuple(messages)  # from_openai takes any sequence
        tags.append("tuple_messages")
    return ChatCase(container, tools, cfm, fields, "valid", " ".join(tags), has_media)


# ------------------------------------------------------------------------------------------------
# Invalid requests: one mutation of a valid one


def _idx(messages: list[dict[str, Any]], role: str) -> list[int]:
    return [i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == role]


def _calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for m in messages if isinstance(m, dict) for c in (m.get("tool_calls") or [])]


def _call(call_id: str = "abcDEF123", *, name: object = "f", arguments: object = "{}") -> dict:
    """One OpenAI tool call, for the mutations that plant a bad call or result around it."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _m_empty_messages(rng, p, c):
    c.messages = []


def _m_bad_role(rng, p, c):
    m = rng.choice(c.messages)
    if rng.random() < 0.3:
        del m["role"]
    else:
        m["role"] = rng.choice(["robot", "function", "", None, "User", "ASSISTANT", 1])


def _m_tool_after_user(rng, p, c):
    i = rng.choice(_idx(c.messages, "user"))
    c.messages.insert(i + 1, {"role": "tool", "tool_call_id": "abcdefghi", "content": "orphan"})


def _m_tool_result_without_call(rng, p, c):
    # v1-v7 count results (one too many, then an assistant); v11+ check ids (an unknown id)
    c.messages.append({"role": "assistant", "content": "x", "tool_calls": [_call()]})
    c.messages.append({"role": "tool", "tool_call_id": "abcDEF123", "content": "r"})
    c.messages.append({"role": "tool", "tool_call_id": "ZZZZZZZZ9", "content": "extra"})
    c.messages.append(
        {"role": "assistant", "content": "after"} if p.n < 11 else {"role": "user", "content": "u"}
    )
    if p.n < 11:
        c.messages.append({"role": "user", "content": "u"})


def _m_missing_result(rng, p, c):
    c.messages.append({"role": "assistant", "tool_calls": [_call(), _call("abcDEF124")]})
    c.messages.append({"role": "tool", "tool_call_id": "abcDEF123", "content": "r"})
    c.messages.append({"role": "assistant", "content": "done"})
    c.messages.append({"role": "user", "content": "u"})


def _m_bad_call_id(rng, p, c):
    bad = (
        ["call_1", "abc", "abcdefgh", "abcdefghij", "abc-efghi", "abcdéfghi", " bcdefghi"]
        if p.n < 13
        else ["", "null"]
    )
    c.messages.append({"role": "assistant", "tool_calls": [_call(rng.choice(bad))]})
    c.messages.append(
        {"role": "tool", "tool_call_id": c.messages[-1]["tool_calls"][0]["id"], "content": "r"}
    )
    c.continue_final_message = False


def _m_bad_result_id(rng, p, c):
    c.messages.append({"role": "assistant", "tool_calls": [_call()]})
    c.messages.append(
        {
            "role": "tool",
            "tool_call_id": rng.choice([None, "call_1", "", "null", "abcDEF12"]),
            "content": "r",
        }
    )
    c.continue_final_message = False


def _m_missing_tool_call_id_key(rng, p, c):
    c.messages.append({"role": "assistant", "tool_calls": [_call()]})
    c.messages.append({"role": "tool", "content": "r"})
    c.continue_final_message = False


def _m_assistant_last(rng, p, c):
    c.messages.append({"role": "assistant", "content": nonempty_text(rng)})
    c.continue_final_message = False


def _m_cfm_without_assistant(rng, p, c):
    if c.messages[-1].get("role") == "assistant":
        c.messages.append({"role": "user", "content": "u"})
    c.continue_final_message = True


def _m_bad_tool_name(rng, p, c):
    bad = rng.choice(["get weather", "", "x" * 65, "naïve", "a.b", "a/b", "名前", "tool\n"])
    if c.tools:
        rng.choice(c.tools)["function"]["name"] = bad
    else:
        c.tools = [{"type": "function", "function": {"name": bad, "parameters": {}}}]


def _m_bad_call_name(rng, p, c):
    c.messages.append(
        {
            "role": "assistant",
            "tool_calls": [_call(name=rng.choice(["get weather", "", "x" * 65, "f()"]))],
        }
    )
    c.messages.append({"role": "tool", "tool_call_id": "abcDEF123", "content": "r"})
    c.continue_final_message = False


def _m_bad_tool_message_name(rng, p, c):
    c.messages.append({"role": "assistant", "tool_calls": [_call()]})
    c.messages.append(
        {"role": "tool", "tool_call_id": "abcDEF123", "name": "bad name!", "content": "r"}
    )
    c.continue_final_message = False


def _m_invalid_schema(rng, p, c):
    bad = rng.choice(
        [
            {"type": "bogus"},
            {"type": 5},
            {"properties": []},
            {"required": "city"},
            {"minimum": "a"},
            {"type": "object", "properties": {"a": {"type": "strin"}}},
            {"enum": []},
            {"anyOf": []},
            {"items": 5},
            {"additionalProperties": "no"},
        ]
    )
    tools = c.tools or rand_tools(rng, 1)
    rng.choice(tools)["function"]["parameters"] = bad
    c.tools = tools


def _m_wrong_types(rng, p, c):
    choice = rng.randrange(16)
    msgs = c.messages
    if choice == 0:
        rng.choice(msgs)["content"] = rng.choice([5, {"a": 1}, 1.5, True, None, b"bytes"])
    elif choice == 1:
        c.messages.append({"role": "assistant", "tool_calls": "not a list"})
    elif choice == 2:
        c.messages.append(
            {
                "role": "assistant",
                "tool_calls": [{"id": "abcDEF123", "function": {"name": 5, "arguments": "{}"}}],
            }
        )
    elif choice == 3:
        msgs[_idx(msgs, "user")[0]]["content"] = [{"text": "no type"}]
    elif choice == 4:
        msgs[_idx(msgs, "user")[0]]["content"] = [
            {"type": rng.choice(["unknown", "Text", "image"]), "text": "t"}
        ]
    elif choice == 5:
        msgs[_idx(msgs, "user")[0]]["content"] = [
            {"type": "text", "text": rng.choice([None, 5, ["a"]])}
        ]
    elif choice == 6:
        c.fields["temperature"] = rng.choice([2.0, -0.1, "hot"])
    elif choice == 7:
        c.fields["max_tokens"] = -1
    elif choice == 8:
        c.fields["seed"], c.fields["random_seed"] = 1, 2
    elif choice == 9:
        c.fields["tool_choice"] = rng.choice(["bogus", 5, {"type": "function"}])
    elif choice == 10:
        c.fields["response_format"] = rng.choice(
            [
                {"type": "xml"},
                "json",
                None,
                {"type": "json_schema"},
                {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}},
                {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "bogus"}}},
            ]
        )
    elif choice == 11:
        call = {"id": "abcDEF123", "type": "function", "function": {"name": "f"}}
        call["function"]["arguments"] = rng.choice([[1, 2], 5, 1.5, True, ("a",)])
        c.messages.append({"role": "assistant", "tool_calls": [call]})
        c.messages.append({"role": "tool", "tool_call_id": "abcDEF123", "content": "r"})
        c.continue_final_message = False
    elif choice == 12:
        msgs.append({"role": "assistant", "content": "a", "reasoning": rng.choice([5, ["x"], {}])})
        msgs.append({"role": "user", "content": "u"})
    elif choice == 13:
        msgs.append(
            {"role": "assistant", "content": "a", "reasoning": "x", "reasoning_content": "y"}
        )
        msgs.append({"role": "user", "content": "u"})
    elif choice == 14:
        think = [{"type": "thinking", "thinking": "t"}, {"type": "text", "text": "a"}]
        msgs.append({"role": "assistant", "content": think, "reasoning": "r"})
        msgs.append({"role": "user", "content": "u"})
    else:
        c.messages = rng.choice([{"role": "user", "content": "x"}, "hello", None, 5])


def _m_think_unsupported(rng, p, c):
    if p.n < 13:
        if rng.random() < 0.5:
            c.messages.insert(
                len(c.messages) - 0, {"role": "assistant", "content": "a", "reasoning": "hmm"}
            )
            c.messages.append({"role": "user", "content": "u"})
        else:
            c.messages.append(
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm"},
                        {"type": "text", "text": "a"},
                    ],
                }
            )
            c.messages.append({"role": "user", "content": "u"})
        c.continue_final_message = False
    elif p.n == 15 and rng.random() < 0.5:
        c.messages.insert(
            0, {"role": "system", "content": [{"type": "thinking", "thinking": "sys think"}]}
        )
    else:
        i = _idx(c.messages, "user")[0]
        c.messages[i]["content"] = [{"type": "thinking", "thinking": "user think"}]


def _m_reasoning_effort(rng, p, c):
    c.fields["reasoning_effort"] = (
        rng.choice(["high", "none", "low"])
        if p.n < 15
        else rng.choice(["medium", "minimal", "xhigh", "bogus"])
    )


def _m_content_and_calls_v3(rng, p, c):
    c.messages.append(
        {
            "role": "assistant",
            "content": rng.choice(["", None]) if p.n >= 7 else "both",
            "tool_calls": []
            if p.n >= 7
            else [
                {
                    "id": "abcDEF123",
                    "type": "function",
                    "function": {"name": "f", "arguments": "{}"},
                }
            ],
        }
    )
    if p.n < 7:
        c.messages.append({"role": "tool", "tool_call_id": "abcDEF123", "content": "r"})
    else:
        c.messages.append({"role": "user", "content": "u"})
    c.continue_final_message = False


def _m_empty_assistant(rng, p, c):
    c.messages.append(
        {"role": "assistant", "content": rng.choice(["", None, [], [{"type": "text", "text": ""}]])}
    )
    c.messages.append({"role": "user", "content": "u"})
    c.continue_final_message = False


def _append_two_calls_and_results(c, first_id: str, second_id: str) -> None:
    """An assistant turn with two tool calls (ids as given) and their two results."""
    calls = [
        {"id": i, "type": "function", "function": {"name": n, "arguments": "{}"}}
        for i, n in ((first_id, "f"), (second_id, "g"))
    ]
    c.messages.append({"role": "assistant", "tool_calls": calls})
    c.messages.append({"role": "tool", "tool_call_id": first_id, "content": "r1"})
    c.messages.append({"role": "tool", "tool_call_id": second_id, "content": "r2"})
    c.continue_final_message = False


def _m_v2_multi_results(rng, p, c):
    _append_two_calls_and_results(c, "abcDEF123", "abcDEF124")


def _m_truncate(rng, p, c):
    c.fields["truncate_for_context_length"] = True


def _m_system_none(rng, p, c):
    if rng.random() < 0.5:
        c.messages.insert(0, {"role": "system", "content": None})
    else:
        c.messages.insert(0, {"role": "system"})


def _m_single_non_user(rng, p, c):
    c.messages = [
        rng.choice(
            [
                {"role": "assistant", "content": "a"},
                {"role": "tool", "tool_call_id": "abcDEF123", "content": "r"},
            ]
        )
    ]
    c.continue_final_message = rng.random() < 0.5 and c.messages[0]["role"] == "assistant"


def _m_duplicate_ids_v11(rng, p, c):
    _append_two_calls_and_results(c, "abcDEF123", "abcDEF123")


def _m_image_unsupported(rng, p, c):
    i = _idx(c.messages, "user")[0]
    c.messages[i]["content"] = [{"type": "text", "text": "look"}, rand_image_chunk(rng)]
    c.has_media = True
    if p.has_image and p.n >= 3:
        # valid chunk on this file: make it invalid another way (image in an assistant message)
        c.messages.insert(i + 1, {"role": "assistant", "content": [rand_image_chunk(rng)]})
        c.messages.insert(i + 2, {"role": "user", "content": "u"})


def _m_audio(rng, p, c):
    i = _idx(c.messages, "user")[0]
    c.messages[i]["content"] = [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    ]
    c.has_media = True


def _m_bad_cfm_value(rng, p, c):
    c.continue_final_message = rng.choice(["maybe", 2, [1], "yes", 1, "true"])
    if c.messages[-1].get("role") != "assistant":
        c.messages.append({"role": "assistant", "content": "partial"})


def _m_lone_surrogate(rng, p, c):
    # tiktoken encodes each text segment via a UTF-16 round trip: a lone half becomes U+FFFD, a
    # pair split over two str values that one segment joins becomes the real character; SPM fails.
    i = _idx(c.messages, "user")[-1]
    r = rng.random()
    if r < 0.4:
        c.messages[i]["content"] = rng.choice(
            ["bad \ud800 surrogate", "\udfff", "a\ud83d\ude00\udc00"]
        )
    elif r < 0.6:
        # halves in adjacent chunks / messages (joined with "" on v15, with "\n\n" elsewhere)
        c.messages[i]["content"] = [
            {"type": "text", "text": "x\ud83d"},
            {"type": "text", "text": "\ude00y"},
        ]
    elif r < 0.75:
        c.messages[i:i] = [
            {"role": "user", "content": "x\ud83d"},
            {"role": "user", "content": "\ude00"},
        ]
    elif r < 0.9:
        # an escaped lone surrogate inside JSON arguments (json.loads makes it a lone half)
        call = {"id": "abcDEF123", "type": "function", "function": {"name": "f"}}
        call["function"]["arguments"] = rng.choice(
            ['"\\ud83d"', '{"a": "\\udc00x"}', {"a": "\ud800"}]
        )
        c.messages.append({"role": "assistant", "tool_calls": [call]})
        c.messages.append({"role": "tool", "tool_call_id": "abcDEF123", "content": "r\udfff"})
        c.continue_final_message = False
    else:
        c.messages.insert(0, {"role": "system", "content": "s\ud800"})


def _m_tool_type(rng, p, c):
    tools = c.tools or rand_tools(rng, 1)
    t = rng.choice(tools)
    r = rng.random()
    if r < 0.4:
        t["type"] = rng.choice(["retrieval", "", None])
    elif r < 0.7:
        del t["function"]
    else:
        t["function"] = {"description": "no name"}
    c.tools = tools


def _m_tools_not_list(rng, p, c):
    c.tools = rng.choice([{"type": "function"}, "tools", 5])


def _m_v1_tools(rng, p, c):
    c.messages.append({"role": "assistant", "tool_calls": [_call()]})
    c.messages.append({"role": "tool", "tool_call_id": "abcDEF123", "content": "r"})
    c.continue_final_message = False


class Mapping(collections.abc.Mapping):
    """A mapping that is not a dict (as ``types.MappingProxyType``; this one deep-copies)."""

    def __init__(self, items: dict) -> None:
        self._items = dict(items)

    def __getitem__(self, key: Any) -> Any:
        return self._items[key]

    def __iter__(self) -> Any:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Mapping({self._items!r})"


class Iterable:
    """An iterable that is not a sequence (as a generator; this one deep-copies)."""

    def __init__(self, items: list) -> None:
        self._items = list(items)

    def __iter__(self) -> Any:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"Iterable({self._items!r})"


class UpperContent(dict):
    """A dict subclass whose ``__getitem__`` mistral_common reads through."""

    def __getitem__(self, key: Any) -> Any:
        value = dict.__getitem__(self, key)
        return value.upper() if key == "content" and isinstance(value, str) else value


def _m_other_types(rng, p, c):
    # Python objects that are not JSON: pydantic's lax mode, json.dumps and jsonschema each decide.
    r = rng.random()
    if r < 0.15:
        c.messages = Iterable(c.messages)
    elif r < 0.25:
        c.tools = Iterable(c.tools or [])
    elif r < 0.3:
        c.tools = {}
    elif r < 0.45:
        i = _idx(c.messages, "user")[-1]
        c.messages[i] = UpperContent(c.messages[i])
    elif r < 0.6:
        args = rng.choice(
            [
                Mapping({"a": 1}),
                {"a": b"x"},
                {b"k": 1},
                {"a": decimal.Decimal(1)},
                {"a": {"b": "\ud83d\ude00"}},
                {"a": ["x\ud800"]},
            ]
        )
        c.messages.append({"role": "assistant", "tool_calls": [_call(arguments=args)]})
        c.messages.append({"role": "tool", "tool_call_id": "abcDEF123", "content": "r"})
        c.continue_final_message = False
    elif r < 0.75:
        tools = c.tools or rand_tools(rng, 1)
        function = rng.choice(tools)["function"]
        params = function.get("parameters") or {"type": "object"}
        where = rng.random()
        if where < 0.3:
            params["properties"] = Mapping(params.get("properties") or {})
        elif where < 0.45:
            params["required"] = tuple(params.get("required") or ["x"])
        elif where < 0.7:
            params["default"] = rng.choice([decimal.Decimal(1), b"x", Mapping({}), (1, [2])])
        else:
            function["parameters"] = Mapping(params)
        c.tools = tools
    elif r < 0.9:
        i = _idx(c.messages, "user")[-1]
        c.messages[i]["content"] = rng.choice(
            [
                b"hi",
                [{"type": "text", "text": b"hi"}],
                [{"type": "text", "text": bytearray("é".encode())}],
                [{"type": "text", "text": b"\xff"}],
            ]
        )
    else:
        c.fields[rng.choice(["temperature", "max_tokens", "model", "unknown"])] = rng.choice(
            [decimal.Decimal("0.5"), decimal.Decimal("NaN"), fractions.Fraction(3, 2), object()]
        )


def _m_json_limits(rng, p, c):
    args = rng.choice(["[" * 3000 + "]" * 3000, '{"a": ' + "9" * 4301 + "}"])
    if rng.random() < 0.3 or p.n < 2:
        c.tools = [
            {"type": "function", "function": {"name": "f", "parameters": {"default": 10**5000}}}
        ]
        return
    c.messages.append({"role": "assistant", "tool_calls": [_call(arguments=args)]})
    c.messages.append({"role": "tool", "tool_call_id": "abcDEF123", "content": "r"})
    c.continue_final_message = False


MUTATIONS: dict[str, tuple[Callable, Callable[[Profile], bool]]] = {
    "empty_messages": (_m_empty_messages, lambda p: True),
    "bad_role": (_m_bad_role, lambda p: True),
    "tool_after_user": (_m_tool_after_user, lambda p: True),
    "tool_result_without_call": (_m_tool_result_without_call, lambda p: p.n >= 2),
    "missing_result": (_m_missing_result, lambda p: p.n >= 2),
    "bad_call_id": (_m_bad_call_id, lambda p: p.n >= 3),
    "bad_result_id": (_m_bad_result_id, lambda p: p.n >= 3),
    "missing_tool_call_id_key": (_m_missing_tool_call_id_key, lambda p: True),
    "assistant_last": (_m_assistant_last, lambda p: True),
    "cfm_without_assistant": (_m_cfm_without_assistant, lambda p: True),
    "bad_tool_name": (_m_bad_tool_name, lambda p: True),
    "bad_call_name": (_m_bad_call_name, lambda p: p.n >= 2),
    "bad_tool_message_name": (_m_bad_tool_message_name, lambda p: p.n >= 2),
    "invalid_schema": (_m_invalid_schema, lambda p: True),
    "wrong_types": (_m_wrong_types, lambda p: True),
    "think_unsupported": (_m_think_unsupported, lambda p: True),
    "reasoning_effort": (_m_reasoning_effort, lambda p: True),
    "content_and_calls": (_m_content_and_calls_v3, lambda p: p.n >= 2),
    "empty_assistant": (_m_empty_assistant, lambda p: True),
    "v2_multi_results": (_m_v2_multi_results, lambda p: p.n == 2),
    "truncate": (_m_truncate, lambda p: True),
    "system_none": (_m_system_none, lambda p: True),
    "single_non_user": (_m_single_non_user, lambda p: True),
    "duplicate_ids": (_m_duplicate_ids_v11, lambda p: p.n >= 11),
    "image_unsupported": (_m_image_unsupported, lambda p: True),
    "audio": (_m_audio, lambda p: True),
    "bad_cfm_value": (_m_bad_cfm_value, lambda p: True),
    "lone_surrogate": (_m_lone_surrogate, lambda p: True),
    "tool_type": (_m_tool_type, lambda p: True),
    "tools_not_list": (_m_tools_not_list, lambda p: True),
    "v1_tool_calls": (_m_v1_tools, lambda p: p.n == 1),
    "json_limits": (_m_json_limits, lambda p: True),
    "other_types": (_m_other_types, lambda p: True),
}


def gen_invalid(rng: random.Random, p: Profile, mutation: str | None = None) -> ChatCase:
    """A valid request with one mutation that mistral_common should reject."""
    names = [n for n, (_, ok) in MUTATIONS.items() if ok(p)] if mutation is None else [mutation]
    while True:
        case = gen_valid(rng, p)
        case.messages = list(case.messages)
        name = rng.choice(names)
        try:
            MUTATIONS[name][0](rng, p, case)
        except (IndexError, KeyError, AttributeError):
            continue  # this mutation does not apply to this conversation (e.g. no user message)
        case.intent, case.label = "invalid", name
        return case


def gen_cases(seed: int, p: Profile, n_valid: int, n_invalid: int) -> list[ChatCase]:
    """``n_valid`` valid then ``n_invalid`` invalid cases, reproducible from ``seed``."""
    rng = random.Random(seed)
    cases = [gen_valid(rng, p, big=rng.random() < 0.02) for _ in range(n_valid)]
    cases += [gen_invalid(rng, p) for _ in range(n_invalid)]
    return cases


# ------------------------------------------------------------------------------------------------
# The reference


def reference_encoding(tokenizer: Any, case: ChatCase) -> Any:
    """mistral_common's ``Tokenized`` for ``case``, or the exception it raised."""
    import warnings

    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    (messages, tools), kwargs = case.args()
    cfm = kwargs.pop("continue_final_message")
    max_len = kwargs.pop("max_model_input_len", None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            request = ChatCompletionRequest.from_openai(
                messages, tools, continue_final_message=cfm, **kwargs
            )
            return tokenizer.encode_chat_completion(request, max_model_input_len=max_len)
    except Exception as exc:  # any rejection counts; its type is reported
        return exc


def reference_tokens(tokenizer: Any, case: ChatCase) -> Any:
    """mistral_common's ids for ``case``, or the exception it raised."""
    out = reference_encoding(tokenizer, case)
    return out if isinstance(out, Exception) else out.tokens


def measure_acceptance(n_valid: int = 300, n_invalid: int = 150, seed: int = 1234) -> None:
    """Print, per tokenizer file, how often mistral_common accepts generated requests."""
    import collections
    import pathlib
    import tempfile
    import time

    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    from tests.support.chat_files import all_chat_files

    out = pathlib.Path(tempfile.gettempdir()) / "mistral_tok_chat_files"
    for name, path, version in all_chat_files(out):
        p = profile_for(name, version)
        tok = MistralTokenizer.from_file(str(path))
        cases = gen_cases(seed, p, n_valid, n_invalid)
        t0 = time.perf_counter()
        results = [reference_tokens(tok, c) for c in cases]
        dt = time.perf_counter() - t0
        valid_ok = sum(
            1
            for c, r in zip(cases, results, strict=False)
            if c.intent == "valid" and not isinstance(r, Exception)
        )
        invalid_rej = sum(
            1
            for c, r in zip(cases, results, strict=False)
            if c.intent == "invalid" and isinstance(r, Exception)
        )
        print(
            f"{name:48s} valid accepted {valid_ok}/{n_valid} ({100 * valid_ok / n_valid:.1f}%)  "
            f"invalid rejected {invalid_rej}/{n_invalid} "
            f"({100 * invalid_rej / n_invalid:.1f}%)  {dt:.1f}s"
        )
        rejected_valid: collections.Counter = collections.Counter()
        accepted_invalid: collections.Counter = collections.Counter()
        for c, r in zip(cases, results, strict=False):
            if c.intent == "valid" and isinstance(r, Exception):
                rejected_valid[f"{type(r).__name__}: {str(r).splitlines()[0][:110]}"] += 1
            if c.intent == "invalid" and not isinstance(r, Exception):
                accepted_invalid[c.label] += 1
        for k, v in rejected_valid.most_common(8):
            print(f"    valid rejected x{v}: {k}")
        if accepted_invalid:
            print(f"    invalid accepted: {dict(accepted_invalid)}")


if __name__ == "__main__":
    import sys

    measure_acceptance(*(int(a) for a in sys.argv[1:]))
