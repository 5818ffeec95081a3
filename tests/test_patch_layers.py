"""``mistral_tok.patch()`` against the real packages: mistral_common's ``encode_chat_completion``
and transformers' ``MistralCommonBackend.apply_chat_template``, patched vs unpatched (every layer
off), on generated requests (``tests/support/chat_gen.py``) for every tokenizer file.

Same answer means: an equal ``Tokenized`` (pydantic ``==``, which includes the private ``_text``,
and every field compared on its own), equal transformers outputs, or the same exception class
and message. The stats must show the native path served most requests (else the comparison would
prove nothing).
"""

from __future__ import annotations

import copy
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mistral_tok
from mistral_tok._integration import context
from tests.support.chat_files import chat_file_ids, chat_file_path
from tests.support.chat_gen import ChatCase, gen_cases, profile_for

FILES = chat_file_ids()
N_VALID, N_INVALID = 240, 60  # 300 per file and layer


@pytest.fixture(scope="module")
def patched():
    report = mistral_tok.patch(["mistral_common", "transformers"])
    yield report
    mistral_tok.unpatch()


@pytest.fixture(scope="session")
def files_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("layer_tokenizer_files")


def _outcome(fn: Any) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()
    except Exception as exc:  # noqa: BLE001 - any outcome is compared
        return exc


def _unpatched(fn: Any) -> Any:
    with context.all_layers_off():
        return _outcome(fn)


def _same_tokenized(a: Any, b: Any) -> str | None:
    if isinstance(a, Exception) or isinstance(b, Exception):
        if type(a) is type(b) and str(a) == str(b):
            return None
        return f"{a!r} vs {b!r}"
    if a.tokens != b.tokens:
        return "tokens"
    if a.prefix_ids != b.prefix_ids:
        return f"prefix_ids {a.prefix_ids} vs {b.prefix_ids}"
    if len(a.images) != len(b.images) or not all(
        np.array_equal(x, y) for x, y in zip(a.images, b.images, strict=False)
    ):
        return "images"
    if len(a.audios) != len(b.audios):
        return "audios"
    if a._text != b._text:
        return "_text"
    if a.model_fields_set != b.model_fields_set:
        return "fields set"
    if not a.images and a != b:
        return "pydantic =="
    return None


def _cases(file_id: str, version: str) -> list[ChatCase]:
    profile = profile_for(file_id, version)
    return gen_cases(zlib.crc32(file_id.encode()), profile, N_VALID, N_INVALID)


def _request(case: ChatCase) -> Any:
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    (messages, tools), kwargs = case.args()
    kwargs.pop("max_model_input_len", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ChatCompletionRequest.from_openai(messages, tools, **kwargs)


@pytest.mark.parametrize(("file_id", "version"), FILES, ids=[f for f, _ in FILES])
def test_mistral_common_layer(patched, file_id: str, version: str, files_dir: Path) -> None:
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    from mistral_tok.layers import mistral_common as layer_module

    mt = MistralTokenizer.from_file(str(chat_file_path(file_id, files_dir)))
    layer_module.layer.reset_stats()
    differences, compared = [], 0
    for i, case in enumerate(_cases(file_id, version)):
        request = _outcome(lambda case=case: _request(case))
        if isinstance(request, Exception):
            continue  # rejected by from_openai, before the patched function
        max_len = case.max_model_input_len
        theirs = _unpatched(lambda r=request, n=max_len: mt.encode_chat_completion(r, n))
        ours = _outcome(lambda r=request, n=max_len: mt.encode_chat_completion(r, n))
        compared += 1
        why = _same_tokenized(theirs, ours)
        if why is not None:
            differences.append(f"case {i} ({case.label}): {why}\n{case.describe(600)}")
    stats = layer_module.layer.stats.snapshot()
    assert not differences, f"{len(differences)} differences; first:\n" + "\n".join(differences[:3])
    assert compared >= 200
    assert stats["native"] >= compared // 2, stats


def _transformers_backend(path: Path) -> Any:
    transformers = pytest.importorskip("transformers")
    return transformers.MistralCommonBackend(tokenizer_path=str(path))


def _same_output(a: Any, b: Any) -> str | None:
    if isinstance(a, Exception) or isinstance(b, Exception):
        if type(a) is type(b) and str(a) == str(b):
            return None
        return f"{a!r} vs {b!r}"
    if type(a) is not type(b):
        return f"{type(a).__name__} vs {type(b).__name__}"
    if hasattr(a, "data"):
        a, b = dict(a.data), dict(b.data)
    return None if _equal(a, b) else "different outputs"


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return type(a) is type(b) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return type(a) is type(b) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_equal, a, b))
    return type(a) is type(b) and bool(a == b)


@pytest.mark.parametrize(("file_id", "version"), FILES, ids=[f for f, _ in FILES])
def test_transformers_layer(patched, file_id: str, version: str, files_dir: Path) -> None:
    from mistral_tok.layers import transformers as layer_module

    backend = _transformers_backend(chat_file_path(file_id, files_dir))
    layer_module.layer.reset_stats()
    differences, compared = [], 0
    cases = [c for c in _cases(file_id, version) if c.max_model_input_len is None]
    for i, case in enumerate(cases):
        (messages, tools), kwargs = case.args()
        # Every other request as text, every third as a BatchEncoding.
        kwargs["tokenize"] = i % 2 == 0
        kwargs["return_dict"] = i % 3 == 0

        def call(m=messages, t=tools, k=kwargs):
            return backend.apply_chat_template(copy.deepcopy(m), tools=copy.deepcopy(t), **k)

        theirs = _unpatched(call)
        ours = _outcome(call)
        compared += 1
        why = _same_output(theirs, ours)
        if why is not None:
            differences.append(f"case {i} ({case.label}): {why}\n{case.describe(600)}")
    stats = layer_module.layer.stats.snapshot()
    assert not differences, f"{len(differences)} differences; first:\n" + "\n".join(differences[:3])
    assert compared >= 250
    assert stats["native"] >= compared // 2, stats


def test_transformers_batched_conversations(patched, shipped) -> None:
    backend = _transformers_backend(shipped("tekken_240911.json"))
    conversations = [
        [{"role": "user", "content": "first"}],
        [{"role": "user", "content": "second, longer"}, {"role": "assistant", "content": "ok"}],
    ]
    for kwargs in (
        {"continue_final_message": True},
        {"continue_final_message": True, "tokenize": False},
        {"continue_final_message": True, "padding": True, "return_dict": True},
    ):
        theirs = _unpatched(lambda k=kwargs: backend.apply_chat_template(conversations, **k))
        ours = _outcome(lambda k=kwargs: backend.apply_chat_template(conversations, **k))
        assert _same_output(theirs, ours) is None, (kwargs, theirs, ours)


def test_rejections_raise_the_hosts_exception(patched, shipped) -> None:
    from mistral_common.exceptions import InvalidMessageStructureException

    backend = _transformers_backend(shipped("tekken_240911.json"))
    with pytest.raises(InvalidMessageStructureException) as theirs:
        with context.all_layers_off():
            backend.apply_chat_template([{"role": "assistant", "content": "x"}])
    with pytest.raises(InvalidMessageStructureException) as ours:
        backend.apply_chat_template([{"role": "assistant", "content": "x"}])
    assert str(ours.value) == str(theirs.value)


def test_not_served_natively(patched, shipped, tmp_path) -> None:
    """A finetuning-mode tokenizer and image requests go to mistral_common, with the same
    answers, counted as fallbacks."""
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.protocol.instruct.validator import ValidationMode
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    from mistral_tok.layers import mistral_common as layer_module

    path = str(shipped("tekken_240911.json"))
    layer_module.layer.reset_stats()
    finetuning = MistralTokenizer.from_file(path, mode=ValidationMode.finetuning)
    request = ChatCompletionRequest.from_openai([{"role": "user", "content": "hi"}])
    assert (
        _same_tokenized(
            _unpatched(lambda: finetuning.encode_chat_completion(request)),
            _outcome(lambda: finetuning.encode_chat_completion(request)),
        )
        is None
    )
    png = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4"
        "//8/AAX+Av4N70a4AAAAAElFTkSuQmCC"
    )
    image = ChatCompletionRequest.from_openai(
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": png}}]}]
    )
    mt = MistralTokenizer.from_file(path)
    assert (
        _same_tokenized(
            _unpatched(lambda: mt.encode_chat_completion(image)),
            _outcome(lambda: mt.encode_chat_completion(image)),
        )
        is None
    )
    stats = layer_module.layer.stats.snapshot()
    assert stats["native"] == 0 and stats["fallback"] == 2, stats


def test_patch_is_idempotent_and_reports(patched) -> None:
    assert mistral_tok.patch(["mistral_common", "transformers"]) is patched
    text = str(patched)
    assert "mistral_common" in text and "transformers" in text
    stats = mistral_tok.stats()
    assert {"mistral_common", "transformers"} <= set(stats)


def test_lazy_text_is_what_mistral_common_stores(patched, shipped) -> None:
    import pickle

    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    from mistral_tok.layers.lazy_text import LazyPrivate

    mt = MistralTokenizer.from_file(str(shipped("tekken_240911.json")))
    request = ChatCompletionRequest.from_openai(
        [{"role": "user", "content": "lazy"}, {"role": "assistant", "content": "te"}],
        continue_final_message=True,
    )
    theirs = _unpatched(lambda: mt.encode_chat_completion(request))

    def ours() -> Any:
        out = mt.encode_chat_completion(request)
        assert type(out.__pydantic_private__) is LazyPrivate
        return out

    assert theirs == ours() and ours() == theirs
    assert ours()._text == theirs._text and ours().__pydantic_private__ == {"_text": theirs._text}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ours().text == theirs.text
    for copied in (
        pickle.loads(pickle.dumps(ours())),
        copy.copy(ours()),
        copy.deepcopy(ours()),
        ours().model_copy(),
        ours().model_copy(deep=True),
    ):
        assert copied == theirs and type(copied.__pydantic_private__) is dict
    assert dict(ours().__pydantic_private__) == {"_text": theirs._text}
    assert list(ours().__pydantic_private__.items()) == [("_text", theirs._text)]
    assert repr(ours()) == repr(theirs)
    assert ours().model_dump() == theirs.model_dump()
    changed = ours()
    changed._text = "set by hand"
    assert changed._text == "set by hand"


TEXTS = ["hello world", "naïve café 日本語 😀 [INST] </s> <s>", "  \n\t x" * 20, ""]


@pytest.mark.parametrize(("file_id", "version"), FILES, ids=[f for f, _ in FILES])
def test_text_encode_decode(patched, file_id: str, version: str, files_dir: Path) -> None:
    """transformers' ``encode``/``__call__`` on text (``_text_to_ids``) and mistral_common's
    ``decode`` (every policy, ids with specials, out-of-range ids) patched vs unpatched."""
    from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy

    from mistral_tok.layers import transformers as tf_layer

    backend = _transformers_backend(chat_file_path(file_id, files_dir))
    mt = backend.tokenizer
    tf_layer.layer.reset_stats()
    calls = []
    for text in TEXTS:
        for kwargs in ({}, {"add_special_tokens": False}):
            calls.append(lambda t=text, k=kwargs: backend.encode(t, **k))
            calls.append(lambda t=text, k=kwargs: dict(backend(t, **k)))
            calls.append(lambda t=text, k=kwargs: dict(backend([t, t + "!"], padding=True, **k)))
        ids = _unpatched(lambda t=text: backend.encode(t)) + [1, 2, 3]
        for skip in (True, False):
            calls.append(lambda i=ids, s=skip: backend.decode(i, skip_special_tokens=s))
        for policy in (SpecialTokenPolicy.KEEP, "ignore", SpecialTokenPolicy.RAISE):
            calls.append(lambda i=ids, p=policy: mt.decode(i, special_token_policy=p))
        calls.append(lambda i=ids: mt.decode(i))
        calls.append(lambda i=ids: mt.decode(i + [10**9]))
    for call in calls:
        theirs, ours = _unpatched(call), _outcome(call)
        assert _same_output(theirs, ours) is None, (theirs, ours)
    assert tf_layer.layer.stats.snapshot()["native"] >= 4 * len(TEXTS)
