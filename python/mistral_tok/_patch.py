"""``mistral_tok.patch()`` / ``unpatch()`` / ``stats()``: every integration layer at once.

A layer whose host module is already imported is patched at once; the others are patched when
their module is imported (a post-import hook on ``sys.meta_path``: nothing is imported eagerly, so
``patch()`` in a process that never uses transformers costs nothing). vLLM keeps its own
profiles (:mod:`mistral_tok.vllm`); ``patch()`` applies them when vLLM is already imported, and
the ``vllm.general_plugins`` entry point does in every vLLM process. See
:mod:`mistral_tok.layers.switches` for the environment switches and their precedence.
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from mistral_tok._integration.after_import import AfterImport
from mistral_tok.layers import switches

logger = logging.getLogger("mistral_tok")

# Outermost first: a call through transformers is served by the transformers layer (it never
# reaches mistral_common's patched method with a pydantic request).
LAYER_MODULES = {
    "transformers": "mistral_tok.layers.transformers",
    "mistral_common": "mistral_tok.layers.mistral_common",
}
VLLM = "vllm"
ALL_LAYERS = (VLLM, *LAYER_MODULES)


@dataclass
class LayerState:
    name: str
    state: str  # patched | waiting for import | off | not installed | failed
    why: str = ""
    patched: list[str] = field(default_factory=list)


@dataclass
class PatchReport:
    """What ``patch()`` did, per layer."""

    layers: dict[str, LayerState] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return any(s.state in ("patched", "waiting for import") for s in self.layers.values())

    def __str__(self) -> str:
        parts = []
        for s in self.layers.values():
            text = f"{s.name}: {s.state}"
            if s.patched:
                text += f" ({', '.join(s.patched)})"
            if s.why:
                text += f" [{s.why}]"
            parts.append(text)
        return "mistral-tok: " + "; ".join(parts)


_lock = threading.RLock()
_report: PatchReport | None = None
_hook = AfterImport()


def _layer(name: str) -> Any:
    return importlib.import_module(LAYER_MODULES[name])


def _installed(module: str) -> bool:
    top = module.split(".")[0]
    if top in sys.modules:
        return True
    from importlib.util import find_spec

    try:
        return find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def _apply(name: str, module: ModuleType) -> None:
    """Patch layer ``name`` into its freshly imported (or already imported) host ``module``."""
    assert _report is not None
    state = _report.layers[name]
    try:
        state.patched.extend(_layer(name).patch_module(module))
        state.state, state.why = "patched", ""
    except Exception as exc:  # noqa: BLE001 - the host's own function stays in place
        state.state, state.why = "failed", f"{type(exc).__name__}: {exc}"
        logger.warning("mistral-tok: not patching %s (%s)", name, state.why)


def _apply_on_import(name: str, module: ModuleType) -> None:
    with _lock:
        if _report is not None:
            _apply(name, module)


def _layer_modes(layers: Any) -> dict[str, str | None]:
    wanted = set(ALL_LAYERS if layers is None else layers)
    unknown = wanted - set(ALL_LAYERS)
    if unknown:
        raise ValueError(f"unknown layers {sorted(unknown)}; known: {list(ALL_LAYERS)}")
    return {name: switches.layer_mode(name) if name in wanted else None for name in ALL_LAYERS}


def patch(layers: Any = None) -> PatchReport:
    """Patch every layer (or those named in ``layers``: ``"vllm"``, ``"transformers"``,
    ``"mistral_common"``) that the environment allows. Idempotent: a second call returns the
    report in force. ``unpatch()`` undoes it."""
    global _report
    with _lock:
        if _report is not None:
            return _report
        report = _report = PatchReport()
        modes = _layer_modes(layers)
        for name in ALL_LAYERS:
            mode = modes[name]
            host = _layer(name).MODULE if name != VLLM else "vllm"
            if mode is None:
                why = (
                    "MISTRAL_TOK_PATCH=0"
                    if switches.everything_off()
                    else "not requested"
                    if layers is not None and name not in layers
                    else f"{switches.layer_variable(name)}=0"
                )
                report.layers[name] = LayerState(name, "off", why)
                continue
            if not _installed(host):
                report.layers[name] = LayerState(name, "not installed")
                continue
            if name == VLLM:
                report.layers[name] = _patch_vllm(mode)
                continue
            layer = _layer(name).layer
            layer.mode = mode
            layer.shadow_rate = switches.shadow_rate(name)
            report.layers[name] = LayerState(name, "waiting for import")
            if host in sys.modules:
                _apply(name, sys.modules[host])
            else:
                _hook.watch(host, functools.partial(_apply_on_import, name))
        return report


def _patch_vllm(mode: str) -> LayerState:
    if "vllm" not in sys.modules:
        return LayerState(
            VLLM, "off", "vLLM is not imported: its vllm.general_plugins entry point patches it"
        )
    import mistral_tok.vllm

    rep = mistral_tok.vllm.patch(mode)
    if rep.active:
        return LayerState(VLLM, "patched", patched=list(rep.patched))
    return LayerState(VLLM, "off", rep.reason or "")


def unpatch() -> None:
    """Restore every function ``patch()`` replaced and stop watching imports. Idempotent."""
    global _report
    with _lock:
        _hook.stop()
        if _report is None:
            return
        for name, state in _report.layers.items():
            if state.state != "patched":
                continue
            if name == VLLM:
                import mistral_tok.vllm

                mistral_tok.vllm.unpatch()
                continue
            host = sys.modules.get(_layer(name).MODULE)
            if host is not None:
                _layer(name).unpatch_module(host)
        _report = None


def report() -> PatchReport | None:
    """The report of the patch in force, or ``None``."""
    return _report


def stats() -> dict[str, Any]:
    """Counters of every layer: calls served natively, fallbacks by reason, shadow comparisons,
    and which path each tokenizer takes and why."""
    out: dict[str, Any] = {}
    if "mistral_tok.vllm" in sys.modules:
        out[VLLM] = sys.modules["mistral_tok.vllm"].stats()
    for name in LAYER_MODULES:
        out[name] = _layer(name).layer.stats.snapshot()
    return out


def reset_stats() -> None:
    if "mistral_tok.vllm" in sys.modules:
        sys.modules["mistral_tok.vllm"].reset_stats()
    for name in LAYER_MODULES:
        _layer(name).layer.reset_stats()
