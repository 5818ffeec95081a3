"""patch()/unpatch(), the plugin entry point, and vLLM's own plugin loader."""

from __future__ import annotations

import pytest

pytest.importorskip("vllm", reason="vLLM is not importable here; run `make test-vllm VLLM=0.33.0`")

import importlib  # noqa: E402

from vllm_support import EXECUTOR, RENDERER, SYNC, profile, profile_name, vllm_version  # noqa: E402

TARGETS = {
    RENDERER: [("vllm.renderers.mistral", "safe_apply_chat_template")],
    EXECUTOR: [
        ("vllm.entrypoints.chat_utils", "apply_mistral_chat_template"),
        ("vllm.entrypoints.openai.serving_engine", "apply_mistral_chat_template"),
    ],
    SYNC: [
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
    assert rep.vllm_version == vllm_version() and rep.profile == profile_name()
    assert str(rep).startswith(f"mistral-tok: vLLM {vllm_version()}")
    after = _current()
    assert all(a is not b for a, b in zip(after, before, strict=False))
    assert all(
        getattr(a, "__mistral_tok_original__", None) is b
        for a, b in zip(after, before, strict=False)
    )
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
    if profile() == RENDERER:
        from vllm.renderers.mistral import MistralRenderer as cls

        attr = "__init__"
    else:
        from vllm.entrypoints.openai.serving_engine import OpenAIServing as cls

        attr = "_preprocess_chat" if profile() == SYNC else "__init__"
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


@pytest.mark.parametrize("setting, active", [(None, True), ("0", False), ("shadow", True)])
def test_load_general_plugins_in_a_fresh_process(setting, active):
    """What happens when vLLM starts: its own loader, in a new interpreter, logs one line."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("VLLM_PLUGINS", "MISTRAL_TOK_VLLM")}
    if setting is not None:
        env["MISTRAL_TOK_VLLM"] = setting
    code = (
        "from vllm.plugins import load_general_plugins\n"
        "load_general_plugins()\n"
        "load_general_plugins()\n"
        "import mistral_tok.vllm as mv\n"
        "print('REPORT', mv.report())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-2000:]
    report_line = next(line for line in out.splitlines() if line.startswith("REPORT"))
    assert ("patched" in report_line) == active, report_line
    plugin_lines = [
        line for line in out.splitlines() if "mistral-tok:" in line and "REPORT" not in line
    ]
    assert len(plugin_lines) == 1, plugin_lines
    if active:
        assert f"mode={setting or 'native'}" in plugin_lines[0]
    else:
        assert "disabled" in plugin_lines[0]


def test_objects_built_while_patched_are_restored_by_unpatch(unpatched):
    """A renderer/serving object built under the patch gets vLLM's own async binding back."""
    from mistral_tok.vllm.profiles import executor, renderer

    if profile() == RENDERER:
        from vllm.renderers.mistral import MistralRenderer
        from vllm_doubles import renderer_config

        def build():
            return MistralRenderer(renderer_config(), tokenizer=None)

        attr, shim_type = "_apply_chat_template_async", renderer.RendererAsync
    elif profile() == EXECUTOR:
        from vllm_doubles import openai_serving as build

        attr, shim_type = "_apply_mistral_chat_template_async", executor.ServingAsync
    else:
        pytest.skip("vLLM <= 0.11.0 binds nothing per object")
    unpatched.patch()
    obj = build()
    assert isinstance(getattr(obj, attr), shim_type)
    unpatched.unpatch()
    restored = getattr(obj, attr)
    assert not isinstance(restored, shim_type) and callable(restored)
