"""SentencePiece models: mistral_tok against mistral_common's ``SentencePieceTokenizer``.

Differential on the four shipped Mistral models (and ``.v7m1``), on models trained here with
sentencepiece itself (including one whose pieces cross word boundaries, which makes mistral_tok
merge the whole string at once), and on malformed files.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import io
import random
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sentencepiece as spm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy, SpecialTokens
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
from mistral_common.tokens.tokenizers.sentencepiece import SentencePieceTokenizer

from mistral_tok import (
    DecodeError,
    MistralTokError,
    Tokenizer,
    TokenizerFileError,
    shipped_tokenizer_path,
)

MODELS = [
    "tokenizer.model.v1",
    "mistral_instruct_tokenizer_240216.model.v2",
    "mistral_instruct_tokenizer_240323.model.v3",
    "mistral_instruct_tokenizer_241114.model.v7",
]
POLICIES = ["ignore", "keep", "raise"]
EXAMPLES = 2000


def _load_corpus() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "benches" / "corpus.py"
    spec = importlib.util.spec_from_file_location("mistral_tok_bench_corpus", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


corpus = _load_corpus()


@functools.cache
def _pair(name: str) -> tuple[Tokenizer, SentencePieceTokenizer]:
    path = shipped_tokenizer_path(name)
    return Tokenizer.from_file(path), SentencePieceTokenizer(str(path))


# Pieces of text that exercise every rule: spaces runs, `▁` typed in, tabs and newlines (byte
# fallback), NBSP, user-defined pieces (v3/v7), control pieces and byte pieces as plain text.
FRAGMENTS = [
    " ", " ", "  ", "   ", "    ", "        ", "▁", "▁▁", "\t", "\n", "\r\n", "\n\n", "\u00a0",
    "\u2009", "\u3000", "a", "b", "the", "The", " the", "ing", "Hello", "world", "x", "y", "1",
    "12345", "3.14", ".", ",", "!", "?", "'", '"', "(", ")", "[", "]", "{", "}", "<", ">", "/",
    "-", "_", "=", "#", "*", "é", "ü", "ñ", "ß", "e\u0301", "\u0301", "\u0308", "日本", "語",
    "中文", "한국어", "привет", "مرحبا", "😀", "👍🏽", "🇫🇷", "\U0001f9d1\u200d\U0001f4bb", "\u200b",
    "\ufeff", "\ufffd", "\x00", "\x7f", "\U00010000", "\U0001d11e", "\U000e0001", "\U0010ffff",
    "[REF]", "[/REF]", "[REF", "REF]", "[REFERENCE_DOC_0]", "[REFERENCE_DOC_1]",
    "[REFERENCE_DOC_12]", "[REFERENCE_DOC_19]", "[REFERENCE_DOC_", "[REFERENCE_DOC_20]", "[INST]",
    "[/INST]", "[TOOL_CALLS]", "[IMG]", "[control_8]", "<s>", "</s>", "<unk>", "<pad>",
    "<0x41>", "<0x0A>", "<0xFF>", " ⁇ ",
]  # fmt: skip

no_surrogates = st.characters(codec="utf-8")  # every plane, no lone surrogates
texts = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join),
    st.text(no_surrogates, max_size=40),
    st.lists(
        st.one_of(st.sampled_from(FRAGMENTS), st.text(no_surrogates, max_size=3)), max_size=20
    ).map("".join),
)

FIXED = [
    "",
    " ",
    "  ",
    "a",
    " leading",
    "trailing ",
    "a  b",
    "a\nb",
    "a\tb",
    "12345",
    "\t",
    "\n",
    "▁",
    "▁▁a",
    "[INST] hello [/INST]",
    "<s></s><unk>",
    "<0x41>",
    "[REFERENCE_DOC_1] x",
    "[REF]y[/REF]",
    "[REF][REF][/REF][REFERENCE_DOC_19][REFERENCE_DOC_1]9",
    "    def f(x):\n        return x  # comment\n",
    "Hello, world! How are you today?",
    "naïve café — “quotes” ‘single’ … ½ €",
    "日本語のテキスト。中文文本。한국어 텍스트.",
    "😀😃😄 👍🏽 🇫🇷 \U0001f9d1\u200d\U0001f4bb",
    "e\u0301 a\u0308 o\u0303\u0304",
    "\u00a0\u2009\u3000\u200b\ufeff",
    "\x00\x01\x7f",
    "\U0010ffff\U000e0001\U0001d11e",
]


@pytest.mark.parametrize("name", MODELS)
def test_attributes(name: str) -> None:
    ours, ref = _pair(name)
    assert ours.kind == "sentencepiece"
    assert f"v{ours.version}" == ref.version.value
    assert ours.vocab_size == ref.n_words
    assert ours.num_special_tokens == ref.num_special_tokens
    assert (ours.bos_id, ours.eos_id, ours.pad_id, ours.unk_id) == (
        ref.bos_id,
        ref.eos_id,
        ref.pad_id,
        ref.unk_id,
    )
    assert ours.pad_id == -1
    assert ours.image is None


@pytest.mark.parametrize("name", MODELS)
def test_every_piece_and_specialness(name: str) -> None:
    ours, ref = _pair(name)
    for i in range(ref.n_words):
        assert ours.id_to_piece(i) == ref.id_to_piece(i), i
        assert ours.is_special(i) == ref.is_special(i), i
    with pytest.raises(DecodeError):
        ours.id_to_piece(ref.n_words)
    assert not ours.is_special(ref.n_words)
    assert not ours.is_special(-1)


@pytest.mark.parametrize("name", MODELS)
def test_special_token_ids_resolve_like_piece_to_id(name: str) -> None:
    ours, ref = _pair(name)
    names = [t.value for t in SpecialTokens]
    names += [
        "[REF]",
        "[/REF]",
        "[REFERENCE_DOC_3]",
        "▁",
        "▁the",
        "<0x41>",
        "",
        "nope",
        "[control_8]",
    ]
    for s in names:
        assert ours.special_token_id(s) == ref.get_special_token(s), s
    # A missing piece resolves to <unk> (0), as sentencepiece's piece_to_id does.
    assert ours.special_token_id("[NOT_A_PIECE]") == 0


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("text", FIXED)
def test_fixed_texts(name: str, text: str) -> None:
    ours, ref = _pair(name)
    for bos, eos in [(False, False), (True, False), (False, True), (True, True)]:
        assert ours.encode(text, bos=bos, eos=eos) == ref.encode(text, bos=bos, eos=eos)


@pytest.mark.parametrize("name", MODELS)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts)
def test_random_texts(name: str, text: str) -> None:
    ours, ref = _pair(name)
    ids = ours.encode(text)
    assert ids == ref.encode(text, bos=False, eos=False)
    assert ours.decode(ids) == ref.decode(ids)


def _decode_ref(ref: SentencePieceTokenizer, ids: list[int], policy: str) -> str | Exception:
    try:
        return ref.decode(ids, special_token_policy=SpecialTokenPolicy(policy))
    except ValueError as e:
        return e


def _decode_ours(ours: Tokenizer, ids: list[int], policy: str) -> str | Exception:
    try:
        return ours.decode(ids, special_token_policy=policy)  # type: ignore[arg-type]
    except DecodeError as e:
        return e


def _same(a: str | Exception, b: str | Exception) -> bool:
    if isinstance(a, Exception) or isinstance(b, Exception):
        return isinstance(a, Exception) and isinstance(b, Exception) and str(a) == str(b)
    return a == b


@pytest.mark.parametrize("name", MODELS)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_ids_decode_with_every_policy(name: str, data: st.DataObject) -> None:
    ours, ref = _pair(name)
    n = ref.n_words
    specials = sorted(ref.special_ids)
    byte0 = ref.get_special_token("<0x00>")
    id_strategy = st.one_of(
        st.integers(0, n - 1),
        st.sampled_from(specials + [ref.unk_id]),
        st.integers(byte0, byte0 + 255),  # byte pieces: invalid UTF-8 runs
        st.sampled_from([ref.get_special_token("▁"), ref.get_special_token("▁▁")]),
    )
    ids = data.draw(st.lists(id_strategy, max_size=12))
    for policy in POLICIES:
        a, b = _decode_ours(ours, ids, policy), _decode_ref(ref, ids, policy)
        assert _same(a, b), (policy, ids, a, b)


@pytest.mark.parametrize("name", MODELS)
def test_decode_policies_fixed(name: str) -> None:
    ours, ref = _pair(name)
    ids = ref.encode("Hello\n world 😀 [REF]", bos=True, eos=True)
    ids = ids[:3] + [ref.unk_id] + ids[3:]
    for policy in POLICIES:
        assert _same(_decode_ours(ours, ids, policy), _decode_ref(ref, ids, policy))
    assert ours.decode(ids, special_token_policy="keep").startswith("<s>▁Hello")
    with pytest.raises(DecodeError, match="special_token_policy=RAISE"):
        ours.decode(ids, special_token_policy="raise")


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("policy", POLICIES)
def test_out_of_range_ids_are_decode_errors(name: str, policy: str) -> None:
    ours, ref = _pair(name)
    normal = ref.encode("hello", bos=False, eos=False)[0]
    # mistral_common raises IndexError here (from sentencepiece); ours is a DecodeError.
    with pytest.raises(IndexError):
        ref.decode([normal, ref.n_words, 1], special_token_policy=SpecialTokenPolicy(policy))
    with pytest.raises(DecodeError, match="out of range"):
        ours.decode([normal, ref.n_words, 1], special_token_policy=policy)  # type: ignore[arg-type]
    with pytest.raises(MistralTokError):
        ours.decode([-1], special_token_policy=policy)  # type: ignore[arg-type]
    # Under RAISE the first offending id decides: a control id before it gives the RAISE error.
    ids = [1, ref.n_words]
    a = _decode_ours(ours, ids, policy)
    if policy == "raise":
        assert _same(a, _decode_ref(ref, ids, policy))
    else:
        assert isinstance(a, DecodeError) and "out of range" in str(a)


@functools.cache
def _long_texts() -> dict[str, str]:
    rng = random.Random(7)
    return {
        "prose_1MB": corpus.prose(),
        "mixed_200KB": corpus.mixed_scripts(200_000),
        "one_letter_100KB": "a" * 100_000,
        "random_letters_100KB": corpus.single_piece(100_000),
        "spaces_100KB": " " * 100_000,
        "random_spaced_100KB": "".join(rng.choice("abcde    \n\t.,") for _ in range(100_000)),
        "code_indent": "".join(
            " " * rng.choice([0, 4, 8, 12, 16, 32]) + "return x\n" for _ in range(5000)
        ),
    }


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(
    "which",
    [
        "prose_1MB",
        "mixed_200KB",
        "one_letter_100KB",
        "random_letters_100KB",
        "spaces_100KB",
        "random_spaced_100KB",
        "code_indent",
    ],
)
def test_long_and_pathological_texts(name: str, which: str) -> None:
    ours, ref = _pair(name)
    text = _long_texts()[which]
    ids = ours.encode(text)
    assert ids == ref.encode(text, bos=False, eos=False)
    assert ours.decode(ids) == ref.decode(ids)


# --- the per-thread piece cache: state kept between calls must never show -----------------------


def _short_texts(seed: int, n: int) -> list[str]:
    """Chat-sized texts: prose slices and fragment soups, many words repeated across texts."""
    rng = random.Random(seed)
    prose = corpus.prose(200_000)
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            start = rng.randrange(len(prose) - 300)
            out.append(prose[start : start + rng.randint(0, 300)])
        else:
            out.append("".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 25))))
    return out


def test_models_interleaved_on_one_thread() -> None:
    # The same texts through every model in turn, plus a second instance of one model (its own
    # cache entries), each equal to mistral_common's.
    pairs = [_pair(name) for name in MODELS]
    v3 = shipped_tokenizer_path(MODELS[2])
    pairs.append((Tokenizer.from_file(v3), pairs[2][1]))
    for text in _short_texts(1, 400):
        for ours, ref in pairs:
            assert ours.encode(text) == ref.encode(text, bos=False, eos=False), text


@pytest.mark.asyncio
async def test_worker_thread_and_caller_thread_agree() -> None:
    # encode_async runs on the worker thread, whose cache fills in another order than this one's.
    texts = _short_texts(2, 300)
    pairs = [_pair(name) for name in MODELS]
    jobs = [(ours, ref, text) for text in texts for ours, ref in pairs]
    got = await asyncio.gather(*[ours.encode_async(text) for ours, _, text in jobs])
    for (ours, ref, text), ids in zip(jobs, got, strict=False):
        expected = ref.encode(text, bos=False, eos=False)
        assert ids == expected, text
        assert ours.encode(text) == expected, text


def test_v7m1_loads_with_image_settings() -> None:
    path = shipped_tokenizer_path("mistral_instruct_tokenizer_241114.model.v7m1")
    ours = Tokenizer.from_file(path)
    ref = MistralTokenizer.from_file(str(path))
    assert ours.version == 7 and ours.kind == "sentencepiece"
    image = ref.instruct_tokenizer.image_encoder
    assert image is not None
    assert ours.image is not None
    assert ours.image["image_patch_size"] == image.image_config.image_patch_size
    assert ours.image["max_image_size"] == image.image_config.max_image_size
    assert ours.image["spatial_merge_size"] == image.image_config.spatial_merge_size
    inner = ref.instruct_tokenizer.tokenizer
    for text in FIXED:
        assert ours.encode(text) == inner.encode(text, bos=False, eos=False)


def test_lone_surrogates_are_rejected_like_sentencepiece() -> None:
    ours, ref = _pair("mistral_instruct_tokenizer_241114.model.v7")
    with pytest.raises(Exception):  # noqa: B017 - sentencepiece raises a RuntimeError/TypeError
        ref.encode("a\ud800b", bos=False, eos=False)
    with pytest.raises(MistralTokError, match="surrogate"):
        ours.encode("a\ud800b")
    with pytest.raises(ValueError):
        ours.encode("\udfff")


# ---------------------------------------------------------------------------------------------
# Models trained here with sentencepiece itself.


def _train(**options: Any) -> bytes:
    lines = [line for line in corpus.prose(60_000).splitlines() if line.strip()]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type="bpe",
        vocab_size=800,
        character_coverage=1.0,
        byte_fallback=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        user_defined_symbols=["[REF]", "[REF][X]", "<tag>"],
        minloglevel=2,
        **options,
    )
    return model.getvalue()


@functools.cache
def _trained(kind: str, tmp: str) -> tuple[Tokenizer, spm.SentencePieceProcessor, bytes]:
    options: dict[str, Any] = {}
    if kind == "crossing":
        # Merges across spaces: pieces like "s▁t" appear, so splitting at words would be wrong.
        options = {"split_by_whitespace": False}
    data = _train(**options)
    path = Path(tmp) / f"{kind}.model"
    path.write_bytes(data)
    return Tokenizer.from_file(path), spm.SentencePieceProcessor(model_proto=data), data


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("trained"))


@pytest.mark.parametrize("kind", ["words", "crossing"])
def test_trained_models_equal_sentencepiece(kind: str, train_dir: str) -> None:
    ours, ref, _ = _trained(kind, train_dir)
    pieces = [ref.id_to_piece(i) for i in range(ref.get_piece_size())]
    crossing = [p for p in pieces if re.search("[^▁]▁", p)]
    if kind == "crossing":
        assert crossing, "the training options no longer produce word-crossing pieces"
    else:
        assert not crossing
    rng = random.Random(kind)
    alphabet = list("abcdefghijklmnopqrstuvwxyz   ..,\n\t") + [
        "[REF]",
        "[REF][X]",
        "<tag>",
        "é",
        "😀",
    ]
    texts = FIXED + [corpus.prose(20_000)]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(60))) for _ in range(3000)]
    for text in texts:
        ids = ours.encode(text)
        assert ids == ref.encode(text), text
        assert ours.decode(ids) == ref.decode(ids)


# ---------------------------------------------------------------------------------------------
# Files that are not (supported) sentencepiece models.


def _write(tmp_path: Path, data: bytes, name: str = "bad.model") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_empty_and_garbage_files(tmp_path: Path) -> None:
    for data in [b"", b"\x00" * 10, b"not a protobuf at all", bytes(range(256)) * 4]:
        path = _write(tmp_path, data)
        with pytest.raises(TokenizerFileError, match="bad.model"):
            Tokenizer.from_file(path)


def test_truncated_model_files(tmp_path: Path) -> None:
    data = shipped_tokenizer_path("mistral_instruct_tokenizer_241114.model.v7").read_bytes()
    rng = random.Random(3)
    cuts = [1, 2, 10, 100, len(data) // 2, len(data) - 1] + rng.sample(range(len(data)), 30)
    for cut in cuts:
        path = _write(tmp_path, data[:cut], "cut.model.v7")
        with pytest.raises(TokenizerFileError):
            Tokenizer.from_file(path)


def test_corrupted_model_files_never_crash(tmp_path: Path) -> None:
    data = bytearray(shipped_tokenizer_path("tokenizer.model.v1").read_bytes())
    rng = random.Random(4)
    for _ in range(50):
        bad = bytearray(data)
        for _ in range(rng.randrange(1, 20)):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        path = _write(tmp_path, bytes(bad), "flip.model")
        try:
            tok = Tokenizer.from_file(path)
        except TokenizerFileError:
            continue
        ids = tok.encode("Hello world, [INST] 😀\n")
        tok.decode(ids, special_token_policy="keep")


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"model_type": "unigram"}, "UNIGRAM"),
        ({"normalization_rule_name": "nmt_nfkc"}, "charsmap"),
        ({"remove_extra_whitespaces": True}, "remove_extra_whitespaces"),
    ],
)
def test_unsupported_models_are_rejected(
    tmp_path: Path, options: dict[str, Any], reason: str
) -> None:
    lines = [line for line in corpus.prose(30_000).splitlines() if line.strip()]
    model = io.BytesIO()
    settings_: dict[str, Any] = {
        "model_type": "bpe",
        "vocab_size": 500,
        "normalization_rule_name": "identity",
        "remove_extra_whitespaces": False,
        "byte_fallback": True,
        "character_coverage": 1.0,
    }
    settings_.update(options)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, minloglevel=2, **settings_
    )
    path = _write(tmp_path, model.getvalue(), "other.model")
    spm.SentencePieceProcessor(model_file=str(path))  # sentencepiece itself loads it
    with pytest.raises(TokenizerFileError, match=reason):
        Tokenizer.from_file(path)
