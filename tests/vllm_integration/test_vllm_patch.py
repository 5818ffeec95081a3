"""patch()/unpatch(), the plugin entry point, and vLLM's own plugin loader."""

from __future__ import annotations

import pytest

pytest.importorskip("vllm", reason="vLLM is not importable here; run `make test-vllm VLLM=0.33.0`")

import importlib  # noqa: E402

from vllm_support import profile, vllm_version  # noqa: E402

from mistral_tok.vllm import versions  # noqa: E402

TARGETS = {
    versions.RENDERER: [("vllm.renderers.mistral", "safe_apply_chat_template")],
    versions.EXECUTOR: [
        ("vllm.entrypoints.chat_utils", "apply_mistral_chat_template"),
        ("vllm.entrypoints.openai.serving_engine", "apply_mistral_chat_template"),
    ],
    versions.SYNC: [
        ("vllm.entrypoints.chat_utils", "apply_mistral_chat_template"),
        ("vllm.entrypoints.openai.serving_engine", "apply_mistral_chat_template"),
    ],
}


def _current():
    return [getattr(importlib.import_module(mod), name) for mod, name in TARGETS[profile()]]


def test_installed_version_is_a_known_profile():
    assert profile() is not None, f"vLLM {vllm_version()} has no profile"


def test_patch_reports_replaces_and_unpatch_restores(unpatched):
    mv = unpatched
    before = _current()
    rep = mv.patch()
    assert rep.active, str(rep)
    assert rep.vllm_version == vllm_version() and rep.profile == profile()
    assert str(rep).startswith(f"mistral-tok: vLLM {vllm_version()}")
    after = _current()
    assert all(a is not b for a, b in zip(after, before))
    assert all(getattr(a, "__mistral_tok_original__", None) is b for a, b in zip(after, before))
    # Idempotent: the same report, nothing wrapped twice.
    assert mv.patch() is rep
    assert _current() == after
    mv.unpatch()
    assert _current() == before
    mv.unpatch()
    assert _current() == before
    assert mv.report() is None


def test_class_attributes_restored(unpatched):
    mv = unpatched
    if profile() == versions.RENDERER:
        from vllm.renderers.mistral import MistralRenderer as cls

        attr = "__init__"
    else:
        from vllm.entrypoints.openai.serving_engine import OpenAIServing as cls

        attr = "_preprocess_chat" if profile() == versions.SYNC else "__init__"
    before = cls.__dict__[attr]
    mv.patch()
    assert cls.__dict__[attr] is not before
    mv.unpatch()
    assert cls.__dict__[attr] is before


def test_shadow_mode_reported(unpatched):
    rep = unpatched.patch("shadow")
    assert rep.mode == "shadow" and "mode=shadow" in str(rep)


def test_bad_mode_rejected(unpatched):
    with pytest.raises(ValueError):
        unpatched.patch("fast")


def test_plugin_found_by_vllm_loader(unpatched, monkeypatch):
    from vllm.plugins import load_plugins_by_group

    monkeypatch.delenv("VLLM_PLUGINS", raising=False)
    monkeypatch.delenv("MISTRAL_TOK_VLLM", raising=False)
    plugins = load_plugins_by_group("vllm.general_plugins")
    assert "mistral_tok" in plugins
    plugins["mistral_tok"]()
    assert unpatched.is_patched()
    assert unpatched.report().mode == "native"
    # vLLM calls plugins once per process, but a second call must be harmless.
    plugins["mistral_tok"]()
    assert unpatched.is_patched()


def test_plugin_respects_vllm_allow_list(monkeypatch):
    from vllm.plugins import load_plugins_by_group

    monkeypatch.setenv("VLLM_PLUGINS", "mistral_tok")
    assert list(load_plugins_by_group("vllm.general_plugins")) == ["mistral_tok"]


@pytest.mark.parametrize("value", ["0", "off", "false"])
def test_plugin_disabled_by_env(unpatched, monkeypatch, value):
    from mistral_tok.vllm.plugin import register

    monkeypatch.setenv("MISTRAL_TOK_VLLM", value)
    register()
    assert not unpatched.is_patched()


def test_plugin_shadow_by_env(unpatched, monkeypatch):
    from mistral_tok.vllm.plugin import register

    monkeypatch.setenv("MISTRAL_TOK_VLLM", "shadow")
    register()
    assert unpatched.report().mode == "shadow"
