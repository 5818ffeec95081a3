"""The one canary set (``mistral_tok._integration.canary_requests``): what each host gets on each
tokenizer, and the mistral_common and transformers layers' self-verification with it agreeing
with the unpatched functions on every tokenizer file (the vLLM side: tests/vllm_integration)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

import mistral_tok
from mistral_tok._integration import canary_requests
from mistral_tok.layers import mistral_common as mc_layer
from tests.support.chat_files import chat_file_ids, chat_file_path

FILES = chat_file_ids()
ALL_NAMES = {request.name for request in canary_requests.REQUESTS}


@pytest.fixture(scope="module")
def files_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("canary_tokenizer_files")


def _mistral_tokenizer(file_id: str, files_dir: Path):
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    return MistralTokenizer.from_file(str(chat_file_path(file_id, files_dir)))


@pytest.fixture
def clean(monkeypatch):
    for name in list(os.environ):
        if name.startswith("MISTRAL_TOK"):
            monkeypatch.delenv(name)
    mistral_tok.unpatch()
    yield monkeypatch
    mistral_tok.unpatch()
    mc_layer.layer.reset_stats()


def test_each_host_gets_what_it_accepts(files_dir: Path) -> None:
    v13 = _mistral_tokenizer("tekken_v13(generated)", files_dir)  # think tokens, images
    assert canary_requests.tokenizer_parts(v13) == {"tools", "think", "vision"}
    assert {r.name for r in canary_requests.for_tokenizer(v13, None)} == ALL_NAMES
    layers = {
        r.name for r in canary_requests.for_tokenizer(v13, canary_requests.FROM_OPENAI_FIELDS)
    }
    assert layers == ALL_NAMES - {"unknown field"}

    v1 = _mistral_tokenizer("tokenizer.model.v1", files_dir)  # text only, no tools
    names = {r.name for r in canary_requests.for_tokenizer(v1, None)}
    assert not names & {"tools and calls", "think chunks", "image", "response_format json_schema"}
    assert {"truncation flag", "reasoning_effort high", "invalid: role"} <= names


def test_arguments_are_fresh_copies_and_flags_only_for_template_hosts() -> None:
    cfm = next(r for r in canary_requests.REQUESTS if r.name == "continue_final_message")
    plain = canary_requests.REQUESTS[0]
    messages, _, keywords = plain.arguments(template_flags=True)
    assert keywords == {"add_generation_prompt": True}
    messages[0]["content"] = "changed"
    assert plain.arguments(template_flags=False)[0][0]["content"] == "Be brief."
    assert plain.arguments(template_flags=False)[2] == {}
    assert cfm.arguments(template_flags=True)[2] == {"continue_final_message": True}


@pytest.mark.parametrize(("file_id", "version"), FILES, ids=[f for f, _ in FILES])
def test_layers_verify_natively_on_every_tokenizer(clean, file_id, version, files_dir) -> None:
    """With canaries forced, every tokenizer's verdict is native: the shared canaries give the
    same answers (ids, text or errors) patched and unpatched in both layers."""
    transformers = pytest.importorskip("transformers")
    from mistral_tok.layers import transformers as tf_layer

    clean.setenv("MISTRAL_TOK_MISTRAL_COMMON_VERIFY", "always")
    clean.setenv("MISTRAL_TOK_TRANSFORMERS_VERIFY", "always")
    mistral_tok.patch(["mistral_common", "transformers"])
    path = chat_file_path(file_id, files_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mt = _mistral_tokenizer(file_id, files_dir)
        verdict = mc_layer.layer.verifier.wait(mt, timeout=120)
        assert verdict is not None and verdict.native, verdict
        if version in ("v1", "v2"):
            return  # transformers' MistralCommonBackend loads tekken and v3+ files only
        backend = transformers.MistralCommonBackend(tokenizer_path=str(path))
        verdict = tf_layer.layer.verifier.wait(backend, timeout=120)
    assert verdict is not None and verdict.native, verdict
