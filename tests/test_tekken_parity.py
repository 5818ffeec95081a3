"""Tekken parity: ``mistral_tok.Tokenizer`` against mistral_common's ``Tekkenizer``, same file.

Files: the two shipped ones (``tekken_240718.json``, ``tekken_240911.json``) and generated v7, v11,
v13 and v15 files (``tests/support/tekken_files.py``). Text properties run ≥ 2,000 hypothesis
examples in total.
"""

from __future__ import annotations

import base64
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy
from mistral_common.tokens.tokenizers.tekken import Tekkenizer

from mistral_tok import DecodeError, RequestError, Tokenizer, TokenizerFileError

FILES = ["tekken_240718.json", "tekken_240911.json", "v7", "v11", "v13", "v15"]
POLICIES = ["ignore", "keep", "raise"]

_loaded: dict[str, tuple[Tokenizer, Tekkenizer]] = {}


@pytest.fixture(scope="session")
def pair(
    shipped: Callable[[str], Path], generated_tekken: Callable[[str], Path]
) -> Callable[[str], tuple[Tokenizer, Tekkenizer]]:
    """``pair(name)`` → (ours, mistral_common's) loaded from the same file, cached per session."""

    def get(name: str) -> tuple[Tokenizer, Tekkenizer]:
        if name not in _loaded:
            path = shipped(name) if name.endswith(".json") else generated_tekken(name)
            _loaded[name] = (Tokenizer.from_file(path), Tekkenizer.from_file(path))
        return _loaded[name]

    return get


@pytest.fixture(scope="module")
def main_pair(pair: Callable[[str], tuple[Tokenizer, Tekkenizer]]) -> tuple[Tokenizer, Tekkenizer]:
    return pair("tekken_240911.json")


# ---- file-level properties -------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_properties_match(pair, name: str) -> None:
    ours, ref = pair(name)
    assert ours.kind == "tekken"
    assert ours.version == ref.version.version_num
    assert ours.vocab_size == ref.n_words
    assert ours.num_special_tokens == ref.num_special_tokens
    assert (ours.bos_id, ours.eos_id, ours.pad_id, ours.unk_id) == (
        ref.bos_id,
        ref.eos_id,
        ref.pad_id,
        ref.unk_id,
    )


@pytest.mark.parametrize("name", FILES)
def test_special_tokens_match(pair, name: str) -> None:
    ours, ref = pair(name)
    for info in ref._all_special_tokens:
        s = info["token_str"]
        assert ours.special_token_id(s) == ref.get_special_token(s)
        assert ours.is_special(info["rank"]) == ref.is_special(info["rank"])
    for s in ["[THINK]", "[ARGS]", "[MODEL_SETTINGS]", "<SPECIAL_1000>", "hello", ""]:
        try:
            expected = ref.get_special_token(s)
        except ValueError as e:
            with pytest.raises(ValueError, match="Unknown control token") as info:
                ours.special_token_id(s)
            assert str(info.value) == str(e)
        else:
            assert ours.special_token_id(s) == expected
    for i in [-1, 0, 999, 1000, ours.vocab_size, 2**40]:
        assert ours.is_special(i) == ref.is_special(i)


@pytest.mark.parametrize("name", ["tekken_240911.json", "v15"])
def test_every_piece_matches(pair, name: str) -> None:
    ours, ref = pair(name)
    # mistral_common precomputes id_to_piece for every id in `vocab()`.
    assert [ours.id_to_piece(i) for i in range(ours.vocab_size)] == ref.vocab()


@pytest.mark.parametrize("version", ["v7", "v11", "v13", "v15"])
def test_generated_files_load_in_mistral_common(generated_tekken, version: str) -> None:
    from tests.support.tekken_files import check_loads_in_mistral_common

    path = generated_tekken(version)
    check_loads_in_mistral_common(path)
    ours = Tokenizer.from_file(path)
    assert ours.version == int(version[1:])


# ---- golden ids (behaviour map §3; mistral_common's test_tokenize_v3) ------------------------

GOLDEN = {
    "hello [INST] world": [29706, 1766, 3174, 3074, 1093, 4304],
    "a  b": [1097, 1032, 1289],
    "12345": [1049, 1050, 1051, 1052, 1053],
    "": [],
    "Hello!": [22177, 1033],
}


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("text", list(GOLDEN))
def test_golden_ids(pair, name: str, text: str) -> None:
    ours, ref = pair(name)
    assert ours.encode(text) == GOLDEN[text] == ref.encode(text, bos=False, eos=False)


@pytest.mark.parametrize("bos", [False, True])
@pytest.mark.parametrize("eos", [False, True])
def test_bos_eos(main_pair, bos: bool, eos: bool) -> None:
    ours, ref = main_pair
    text = "Weather in Paris?"
    assert ours.encode(text, bos=bos, eos=eos) == ref.encode(text, bos=bos, eos=eos)


# ---- hypothesis: many kinds of text ----------------------------------------------------------

WHITESPACE = [
    " ",
    "  ",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\n\n",
    "\x0b",
    "\x0c",
    "\x85",
    "\xa0",
    "\u1680",
    "\u180e",
    "\u2000",
    "\u2007",
    "\u200b",
    "\u2028",
    "\u2029",
    "\u202f",
    "\u205f",
    "\u3000",
    "\ufeff",
]
LOOKALIKES = [
    "<s>",
    "</s>",
    "<unk>",
    "<pad>",
    "[INST]",
    "[/INST]",
    "[TOOL_CALLS]",
    "[AVAILABLE_TOOLS]",
    "[IMG]",
    "[THINK]",
    "[/THINK]",
    "[MODEL_SETTINGS]",
    "<SPECIAL_5>",
    "<SPECIAL_999>",
    "<SPECIAL_1000>",
    "[control_8]",
]

any_char = st.characters(exclude_categories=())  # every plane, surrogates included
valid_char = st.characters(exclude_categories=("Cs",))
# Characters near class boundaries: letters of every case class, marks, numbers, punctuation.
boundary_char = st.sampled_from(
    list("aZ0 9/_!'.,;:-\n\r\tǅʰא\u0301\u0903\u20ddéÉß中ー٣²Ⅻ😀\U0001f3fb\ufe0f\u200d«$")
    + ["\u1ae8", "\U00032d90", "\U0001d400", "\U0010ffff", "\ue000"]
)
fragment = st.one_of(
    st.text(valid_char, max_size=12),
    st.text(boundary_char, max_size=12),
    st.sampled_from(WHITESPACE),
    st.sampled_from(LOOKALIKES),
    st.integers(0, 10**12).map(str),
    st.builds(lambda c, n: c * n, boundary_char | st.sampled_from(WHITESPACE), st.integers(1, 300)),
)
mixed_text = st.lists(fragment, max_size=12).map("".join)

EXAMPLES = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_encode(ours: Tokenizer, ref: Tekkenizer, text: str) -> list[int]:
    ids = ours.encode(text)
    assert ids == ref.encode(text, bos=False, eos=False), repr(text)
    return ids


@settings(max_examples=700, **EXAMPLES)
@given(text=mixed_text)
def test_mixed_text(main_pair, text: str) -> None:
    ours, ref = main_pair
    ids = check_encode(ours, ref, text)
    assert ours.decode(ids) == text == ref.decode(ids)


@settings(max_examples=500, **EXAMPLES)
@given(text=st.text(any_char, max_size=40))
def test_any_unicode_including_lone_surrogates(main_pair, text: str) -> None:
    ours, ref = main_pair
    ids = check_encode(ours, ref, text)
    assert ours.decode(ids, special_token_policy="raise") == ref.decode(ids)


@settings(max_examples=400, **EXAMPLES)
@given(
    text=st.lists(st.sampled_from(WHITESPACE) | st.sampled_from("ab1.\u0301"), max_size=30).map(
        "".join
    )
)
def test_whitespace_runs(main_pair, text: str) -> None:
    ours, ref = main_pair
    ids = check_encode(ours, ref, text)
    assert ours.decode(ids) == text


@settings(max_examples=200, **EXAMPLES)
@given(
    text=st.lists(st.sampled_from(LOOKALIKES) | st.text(boundary_char, max_size=3), max_size=8).map(
        "".join
    ),
    name=st.sampled_from(FILES),
)
def test_special_token_lookalikes_on_every_file(pair, text: str, name: str) -> None:
    ours, ref = pair(name)
    ids = check_encode(ours, ref, text)
    assert not any(ours.is_special(i) for i in ids)


@settings(max_examples=300, **EXAMPLES)
@given(
    ids=st.lists(
        st.one_of(st.integers(1000, 1255), st.integers(0, 40), st.integers(1000, 131071)),
        max_size=20,
    ),
    policy=st.sampled_from(POLICIES),
)
def test_decode_matches(main_pair, ids: list[int], policy: str) -> None:
    """Random byte tokens exercise U+FFFD replacement (one per maximal invalid subpart)."""
    ours, ref = main_pair
    try:
        expected = ref.decode(ids, special_token_policy=SpecialTokenPolicy(policy))
    except ValueError as e:
        with pytest.raises(DecodeError) as info:
            ours.decode(ids, special_token_policy=policy)
        assert str(info.value) == str(e)
    else:
        assert ours.decode(ids, special_token_policy=policy) == expected


# ---- another pattern: the fancy-regex fallback ------------------------------------------------

CL100K_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


@pytest.fixture(scope="module")
def other_pattern_pair(shipped, tmp_path_factory) -> tuple[Tokenizer, Tekkenizer]:
    with open(shipped("tekken_240718.json"), encoding="utf-8") as f:
        data = json.load(f)
    data["config"]["pattern"] = CL100K_PATTERN
    path = tmp_path_factory.mktemp("pattern") / "tekken_cl100k_pattern.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return Tokenizer.from_file(path), Tekkenizer.from_file(path)


@settings(max_examples=300, **EXAMPLES)
@given(text=mixed_text)
def test_other_pattern_falls_back_exactly(other_pattern_pair, text: str) -> None:
    ours, ref = other_pattern_pair
    ids = check_encode(ours, ref, text + " I'LL we've 12345")
    assert ours.decode(ids) == ref.decode(ids)


# ---- fixed cases -----------------------------------------------------------------------------

LONG_CASES = {
    "run_of_a": "a" * 100_000,
    "random_letters": "".join(
        random.Random(1).choice("abcdefghijklmnopqrstuvwxyz") for _ in range(50_000)
    ),
    "spaces_then_word": " " * 20_000 + "word",
    "newlines_and_spaces": "\n \r\n  \t" * 3000,
    "digits": "0123456789" * 5000,
    "punctuation": "!?/.,;" * 5000 + "\n\n//",
    "marks": "e" + "\u0301" * 10_000,
    "cjk": "中文日本語한국어" * 5000,
    "base64": base64.b64encode(random.Random(2).randbytes(30_000)).decode(),
    "crlf_text": "line one\r\nline two\r\n\r\n  indented\r\n",
}


@pytest.mark.parametrize("case", list(LONG_CASES))
def test_long_and_pathological(main_pair, case: str) -> None:
    ours, ref = main_pair
    text = LONG_CASES[case]
    ids = check_encode(ours, ref, text)
    assert ours.decode(ids) == text


@pytest.mark.parametrize(
    ("text", "rejected"),
    [
        (" " * 999_999 + "x", True),
        (" " * 999_998 + "x", False),
        ("\u3000" * 999_999, True),
        (" " * 999_999 + "\n", False),
        ("\n" + "\t" * 999_999, True),
    ],
    ids=["999999-spaces", "999998-spaces", "999999-ideographic", "ends-in-newline", "tabs"],
)
def test_huge_whitespace_runs_rejected_as_mistral_common_does(
    main_pair, text: str, rejected: bool
) -> None:
    """A run of ≥ 999,999 whitespace characters without a line break exceeds the backtracking
    stack of fancy-regex inside tiktoken: mistral_common raises ``ValueError("Regex error while
    tokenizing: …")``. We must reject the same texts (with a ``RequestError``)."""
    ours, ref = main_pair
    if rejected:
        with pytest.raises(ValueError, match="Regex error while tokenizing"):
            ref.encode(text, bos=False, eos=False)
        with pytest.raises(RequestError, match="Regex error while tokenizing"):
            ours.encode(text)
    else:
        assert ours.encode(text) == ref.encode(text, bos=False, eos=False)


def test_huge_whitespace_run_rejects_the_chat_request(main_pair) -> None:
    ours, _ = main_pair
    with pytest.raises(RequestError, match="Regex error while tokenizing"):
        ours.encode_chat([{"role": "user", "content": "a" + " " * 999_999 + "b"}])


@pytest.mark.parametrize(
    "text", ["a\ud800b", "\udfff", "\ud83d\ude00", "\ud83d", "x\udc00\ud800y", "\ud800" * 5]
)
def test_lone_surrogates(main_pair, text: str) -> None:
    """tiktoken retries with a UTF-16 round trip (lone surrogates → U+FFFD, pairs joined)."""
    ours, ref = main_pair
    check_encode(ours, ref, text)


class _Str(str):
    pass


@pytest.mark.parametrize(
    "text",
    ["plain ASCII words", "café naïve", "中文 and ÆØÅ", "emoji 😀👍🏻 here", "\x00\x7f\x80\uffff"],
    ids=["ascii", "latin1", "ucs2", "ucs4", "edges"],
)
def test_str_kinds_read_twice_and_subclasses(main_pair, text: str) -> None:
    """Strings are read through CPython's UTF-8 buffer (cached in the str after the first read):
    every storage kind, a second read of the same object, and str subclasses give the same ids."""
    ours, ref = main_pair
    expected = ref.encode(text, bos=False, eos=False)
    fresh = "".join(list(text))  # a new object whose UTF-8 was never asked for
    assert ours.encode(fresh) == expected
    assert ours.encode(fresh) == expected
    assert ours.encode(_Str(text)) == expected
    chat = ours.encode_chat([{"role": "user", "content": _Str(text) + "!"}])
    assert chat == ours.encode_chat([{"role": "user", "content": text + "!"}])


@pytest.mark.skipif(
    sys.platform == "win32" or sys.implementation.name != "cpython",
    reason="the in-place read is CPython-on-Unix only",
)
def test_str_utf8_is_read_in_place(main_pair) -> None:
    """A non-ASCII str's UTF-8 is made once by CPython and kept with the str (``sys.getsizeof``
    counts it), not copied into a bytes object per read."""
    ours, _ = main_pair
    text = "".join(["naïve café "] * 1000)
    before = sys.getsizeof(text)
    ours.encode(text)
    assert sys.getsizeof(text) > before


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("policy", POLICIES)
def test_decode_policies(pair, name: str, policy: str) -> None:
    ours, ref = pair(name)
    ids = [ours.bos_id, *ours.encode("Hi 😀"), 3, 4, 35, 999, *ours.encode("ok"), ours.eos_id]
    try:
        expected = ref.decode(ids, special_token_policy=SpecialTokenPolicy(policy))
    except ValueError as e:
        with pytest.raises(DecodeError) as info:
            ours.decode(ids, special_token_policy=policy)
        assert str(info.value) == str(e)
        assert policy == "raise"
    else:
        assert ours.decode(ids, special_token_policy=policy) == expected


def test_split_character_around_special(main_pair) -> None:
    ours, ref = main_pair
    smile = list("😀".encode())
    ids = [1000 + smile[0], 3, *[1000 + b for b in smile[1:]]]
    expected = ref.decode(ids, special_token_policy=SpecialTokenPolicy.KEEP)
    assert expected == "\ufffd[INST]\ufffd\ufffd\ufffd"
    assert ours.decode(ids, special_token_policy="keep") == expected


def test_decode_out_of_range(main_pair) -> None:
    ours, ref = main_pair
    for bad in [[ours.vocab_size], [1000, 200_000], [-1 + 2**32], [2**40]]:
        with pytest.raises((KeyError, OverflowError)):  # tiktoken's answers
            ref.decode(bad)
        with pytest.raises(DecodeError):
            ours.decode(bad)
    with pytest.raises(DecodeError):
        ours.id_to_piece(ours.vocab_size)


def test_invalid_policy(main_pair) -> None:
    ours, _ = main_pair
    with pytest.raises(ValueError):
        ours.decode([1], special_token_policy="KEEP")


# ---- malformed files -------------------------------------------------------------------------


def small_file() -> dict:
    vocab = [
        {"rank": i, "token_bytes": base64.b64encode(bytes([i])).decode(), "token_str": None}
        for i in range(256)
    ]
    vocab += [
        {"rank": 256 + k, "token_bytes": base64.b64encode(t).decode(), "token_str": t.decode()}
        for k, t in enumerate([b"he", b"ll", b"hello", b" w"])
    ]
    return {
        "config": {
            "pattern": "",  # set by the caller from a shipped file
            "num_vocab_tokens": len(vocab),
            "default_vocab_size": len(vocab) + 100,
            "default_num_special_tokens": 100,
            "version": "v3",
        },
        "vocab": vocab,
    }


def _pattern(shipped) -> str:
    with open(shipped("tekken_240718.json"), encoding="utf-8") as f:
        return json.load(f)["config"]["pattern"]


def _mutations(pattern: str) -> dict[str, Callable[[dict], object]]:
    def set_(path: list, value):
        def f(d: dict):
            node = d
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = value

        return f

    def delete(path: list):
        def f(d: dict):
            node = d
            for k in path[:-1]:
                node = node[k]
            del node[path[-1]]

        return f

    specials = [
        {"rank": i, "token_str": s, "is_control": True}
        for i, s in enumerate(["<unk>", "<s>", "</s>", "<pad>", "<s>"])
    ]
    return {
        "unknown_version": set_(["config", "version"], "v4"),
        "missing_version": delete(["config", "version"]),
        "missing_config": delete(["config"]),
        "missing_vocab": delete(["vocab"]),
        "missing_pattern": delete(["config", "pattern"]),
        "bad_pattern": set_(["config", "pattern"], "(unclosed"),
        "bad_base64": set_(["vocab", 257, "token_bytes"], "bGw"),  # "Incorrect padding"
        "duplicate_bytes": set_(["vocab", 257, "token_bytes"], base64.b64encode(b"he").decode()),
        "rank_mismatch": set_(["vocab", 258, "rank"], 7),
        "byte_out_of_place": set_(["vocab", 5, "token_bytes"], base64.b64encode(b"\x06").decode()),
        "extra_key": set_(["vocab", 256, "extra"], 1),
        "missing_token_str": delete(["vocab", 256, "token_str"]),
        "vocab_size_too_big": set_(["config", "default_vocab_size"], 10_000),
        "v13_without_special_tokens": set_(["config", "version"], "v13"),
        "duplicate_special_tokens": set_(["special_tokens"], specials),
        "too_many_special_tokens": set_(["config", "default_num_special_tokens"], 3),
        "multimodal_after_v11": lambda d: (
            d["config"].__setitem__("version", "v13"),
            d.__setitem__("special_tokens", specials[:4]),
            d.__setitem__("multimodal", {"image_patch_size": 16, "max_image_size": 1024}),
        ),
        "model_settings_before_v15": set_(["model_settings_builder"], {}),
        "bad_image": set_(["image"], {"image_patch_size": 0, "max_image_size": 1024}),
        "image_unknown_key": set_(["image"], {"image_patch_size": 16, "max_image_size": 1, "x": 1}),
    }


def _write(tmp_path: Path, name: str, payload) -> Path:
    path = tmp_path / f"tekken_{name}.json"
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    else:
        path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def test_small_file_loads_in_both(tmp_path: Path, shipped) -> None:
    data = small_file()
    data["config"]["pattern"] = _pattern(shipped)
    path = _write(tmp_path, "ok", data)
    ours, ref = Tokenizer.from_file(path), Tekkenizer.from_file(path)
    for text in ["hello world", "<s>hello", ""]:
        assert ours.encode(text) == ref.encode(text, bos=False, eos=False)


def test_lenient_base64_like_python(tmp_path: Path, shipped) -> None:
    """Python's b64decode skips characters outside the alphabet and accepts non-canonical
    trailing bits, so such a file loads in mistral_common; it must load identically here."""
    data = small_file()
    data["config"]["pattern"] = _pattern(shipped)
    data["vocab"][257]["token_bytes"] = "b G\nw=!"  # "ll" with junk
    data["vocab"][256]["token_bytes"] = "aGV="  # "he", non-canonical last symbol
    path = _write(tmp_path, "lenient", data)
    ours, ref = Tokenizer.from_file(path), Tekkenizer.from_file(path)
    for text in ["hello", "hell", "he ll"]:
        assert ours.encode(text) == ref.encode(text, bos=False, eos=False)


@pytest.mark.parametrize("mutation", list(_mutations("")))
def test_malformed_file(tmp_path: Path, shipped, mutation: str) -> None:
    data = small_file()
    data["config"]["pattern"] = _pattern(shipped)
    _mutations(data["config"]["pattern"])[mutation](data)
    path = _write(tmp_path, mutation, data)
    with pytest.raises(Exception):  # noqa: B017 - mistral_common raises assorted types
        Tekkenizer.from_file(path)
    with pytest.raises(TokenizerFileError) as info:
        Tokenizer.from_file(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "payload", [b"", b"{", b"[]", b"\xff\xfe{}", b'{"config": 1}', b"null"], ids=str
)
def test_not_a_tekken_json(tmp_path: Path, payload: bytes) -> None:
    path = _write(tmp_path, "garbage", payload)
    with pytest.raises(TokenizerFileError):
        Tokenizer.from_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TokenizerFileError):
        Tokenizer.from_file(tmp_path / "tekken_absent.json")
