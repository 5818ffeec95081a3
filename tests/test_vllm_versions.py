"""Which vLLM contract applies to which version: pure Python, no vLLM needed."""

from __future__ import annotations

import pytest

from mistral_tok.vllm import versions


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0.33.0", (0, 33, 0)),
        ("0.14.1rc1+cu129", (0, 14, 1)),
        ("v0.11", (0, 11, 0)),
        ("1", (1, 0, 0)),
    ],
)
def test_parse_version(text, expected):
    assert versions.parse_version(text) == expected


def test_parse_version_rejects_garbage():
    with pytest.raises(ValueError):
        versions.parse_version("dev")


@pytest.mark.parametrize(
    "version, profile",
    [
        ("0.10.1", None),
        ("0.10.2", "loop-template"),
        ("0.11.0", "loop-template"),
        ("0.11.1", "executor"),
        ("0.14.1", "executor"),
        ("0.15.0", None),
        ("0.16.0", "renderer"),
        ("0.20.2", "renderer"),
        ("0.33.0", "renderer"),
        ("0.34.0", "forwarding-renderer"),
        ("0.35.0", None),
    ],
)
def test_profile_for(version, profile):
    assert versions.profile_for(version) == profile


def test_patch_without_vllm_is_a_no_op_report():
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here; tests/vllm_integration covers patching")
    import mistral_tok.vllm as mv

    report = mv.patch()
    assert not report.active and report.reason == "vLLM is not installed"
    assert "left unpatched" in str(report)
    mv.unpatch()


def test_plugin_never_raises_without_vllm(monkeypatch):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here; tests/vllm_integration covers the plugin")
    from mistral_tok.vllm.plugin import register

    monkeypatch.delenv("MISTRAL_TOK_VLLM", raising=False)
    register()
