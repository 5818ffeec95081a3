"""Tests against a real vLLM; skipped when vLLM is not importable here.

Run them with ``make test-vllm VLLM=0.33.0`` (any of 0.11.0, 0.14.1, 0.33.0), which builds the
cached virtualenv with scripts/vllm_env.sh and runs this folder in it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def native_without_canaries(monkeypatch):
    """The suites compare the native path with vLLM's own function directly, also on a
    combination of versions that is not in the verified list (where the plugin would first run
    canaries); test_vllm_selfverify.py sets its own policy."""
    monkeypatch.setenv("MISTRAL_TOK_VLLM_VERIFY", "never")


@pytest.fixture()
def unpatched():
    """Every test starts and ends with vLLM's own functions in place."""
    import mistral_tok.vllm as mv

    mv.unpatch()
    mv.reset_stats()
    yield mv
    mv.unpatch()


@pytest.fixture(scope="session")
def vllm_tokenizers(tmp_path_factory):
    from vllm_support import SHIPPED, load_vllm_tokenizer

    root = tmp_path_factory.mktemp("models")
    return {name: load_vllm_tokenizer(name, root) for name in SHIPPED}


@pytest.fixture(scope="session")
def generated_vllm_tokenizers(tmp_path_factory):
    """vLLM tokenizers for generated tekken files of V11, V13 and V15 (image section included)."""
    from vllm_support import GENERATED, load_vllm_tokenizer

    from tests.support.tekken_files import write_tekken_file

    root = tmp_path_factory.mktemp("generated_models")
    return {
        f"tekken_{v}.json": load_vllm_tokenizer(
            f"tekken_{v}.json", root, write_tekken_file(root, v)
        )
        for v in GENERATED
    }


@pytest.fixture(scope="session")
def image_base():
    """``http://127.0.0.1:PORT`` of the loopback image server (``image_server.py``)."""
    import image_server

    with image_server.serving() as url:
        yield url
