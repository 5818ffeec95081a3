"""``mistral_tok.patch()``'s switches: nothing imported eagerly, the environment variables and
their precedence, shadow mode, and self-verification on a host version nobody verified."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import pytest

import mistral_tok
from mistral_tok.layers import mistral_common as mc_layer


@pytest.fixture
def clean(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("MISTRAL_TOK"):
            monkeypatch.delenv(name)
    mistral_tok.unpatch()
    yield monkeypatch
    mistral_tok.unpatch()
    mc_layer.layer.reset_stats()


def test_patch_imports_nothing_and_patches_on_import():
    program = textwrap.dedent(
        """
        import sys
        import mistral_tok
        report = mistral_tok.patch()
        assert not any(m.split(".")[0] in ("transformers", "mistral_common") for m in sys.modules)
        import transformers.tokenization_mistral_common as t
        assert t.MistralCommonBackend.apply_chat_template.__module__ == (
            "mistral_tok.layers.transformers"
        )
        from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
        assert MistralTokenizer.encode_chat_completion.__module__ == (
            "mistral_tok.layers.mistral_common"
        )
        print(report)
        mistral_tok.unpatch()
        assert MistralTokenizer.encode_chat_completion.__module__ == (
            "mistral_common.tokens.tokenizers.mistral"
        )
        assert t.MistralCommonBackend.apply_chat_template.__module__ == t.__name__
        """
    )
    pytest.importorskip("transformers")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "transformers: patched" in done.stdout and "mistral_common: patched" in done.stdout


def test_mistral_tok_patch_0_wins(clean):
    clean.setenv("MISTRAL_TOK_PATCH", "0")
    clean.setenv("MISTRAL_TOK_MISTRAL_COMMON", "1")
    report = mistral_tok.patch()
    assert not report.active
    assert all(s.state in ("off", "not installed") for s in report.layers.values())
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    assert MistralTokenizer.encode_chat_completion.__module__.startswith("mistral_common")


def test_one_layer_off(clean):
    clean.setenv("MISTRAL_TOK_MISTRAL_COMMON", "off")
    report = mistral_tok.patch(["mistral_common"])
    assert report.layers["mistral_common"].state == "off"
    assert "MISTRAL_TOK_MISTRAL_COMMON=0" in str(report)
    mistral_tok.unpatch()
    with pytest.raises(ValueError, match="unknown layers"):
        mistral_tok.patch(["sglang"])


def _request():
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    return ChatCompletionRequest.from_openai([{"role": "user", "content": "canary?"}])


def test_shadow_mode_serves_the_original_and_compares(clean, shipped):
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    clean.setenv("MISTRAL_TOK_MISTRAL_COMMON", "shadow")
    clean.setenv("MISTRAL_TOK_MISTRAL_COMMON_SHADOW_RATE", "1")
    mistral_tok.patch(["mistral_common"])
    mc_layer.layer.reset_stats()
    mt = MistralTokenizer.from_file(str(shipped("tekken_240911.json")))
    out = mt.encode_chat_completion(_request())
    assert type(out.__pydantic_private__) is dict  # mistral_common's own Tokenized
    stats = mistral_tok.stats()["mistral_common"]
    assert (stats["shadow_compared"], stats["shadow_differences"], stats["native"]) == (1, 0, 0)


def test_unverified_version_runs_canaries_first(clean, shipped):
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    clean.setattr(mc_layer, "VERIFIED_VERSIONS", ("0.0.0",))
    report = mistral_tok.patch(["mistral_common"])
    assert report.layers["mistral_common"].state == "patched"
    mc_layer.layer.reset_stats()
    mt = MistralTokenizer.from_file(str(shipped("tekken_240911.json")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = mt.encode_chat_completion(_request())  # before the verdict: the original
        verdict = mc_layer.layer.verifier.wait(mt, timeout=60)
        assert verdict is not None and verdict.native, verdict
        second = mt.encode_chat_completion(_request())
    assert first == second
    stats = mistral_tok.stats()["mistral_common"]
    assert stats["before_verdict"] == 1 and stats["canary_runs"] == 1 and stats["native"] == 1
    (label, path), *_ = stats["tokenizers"].items()
    assert path["path"] == "native" and "canaries identical" in path["why"]


def test_unverified_transformers_runs_canaries_first(clean, shipped):
    transformers = pytest.importorskip("transformers")
    from mistral_tok.layers import transformers as tf_layer

    clean.setitem(tf_layer.VERIFIED_VERSIONS, "transformers", ("0.0.0",))
    report = mistral_tok.patch(["transformers"])
    backend = transformers.MistralCommonBackend(tokenizer_path=str(shipped("tekken_240911.json")))
    assert report.layers["transformers"].state == "patched"  # now, or when imported above
    tf_layer.layer.reset_stats()
    conversation = [{"role": "user", "content": "canary?"}]
    first = backend.apply_chat_template(conversation, return_dict=False)
    verdict = tf_layer.layer.verifier.wait(backend, timeout=60)
    assert verdict is not None and verdict.native, verdict
    second = backend.apply_chat_template(conversation, return_dict=False)
    assert first == second
    stats = mistral_tok.stats()["transformers"]
    assert (stats["before_verdict"], stats["canary_runs"], stats["native"]) == (1, 1, 1)
