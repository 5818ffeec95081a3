"""``patch()`` / ``unpatch()``: put the shims where the installed vLLM looks for its functions.

The contract is chosen from :data:`mistral_tok.vllm.profiles.REGISTRY` (by version range, or for a
version nobody has read, by the newest profile whose symbols match), its behaviour probe is run,
and self-verification is armed for combinations of versions not in the verified list.

Every replacement is recorded as (owner, attribute, original) so ``unpatch()`` restores exactly what
was there; patching twice is a no-op that returns the current report.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.util
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mistral_tok._integration import Verifier, installed_version, parse_version, policy_from_env
from mistral_tok._integration.after_import import AfterImport
from mistral_tok.vllm import shims
from mistral_tok.vllm.shims import LAYER, STATE, Contract

VERIFY_ENV = "MISTRAL_TOK_VLLM_VERIFY"


@dataclass
class PatchReport:
    """What ``patch()`` did for the installed vLLM."""

    vllm_version: str | None
    profile: str | None
    mode: str
    patched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reason: str | None = None
    # Why this profile; what the forwarding probe saw; whether and why canaries decide.
    why: str = ""
    forwarding: str | None = None
    verification: str = ""

    @property
    def active(self) -> bool:
        return bool(self.patched)

    def __str__(self) -> str:
        if not self.patched:
            return f"mistral-tok: vLLM {self.vllm_version} left unpatched ({self.reason})"
        text = (
            f"mistral-tok: vLLM {self.vllm_version} ({self.profile}, mode={self.mode}) "
            f"patched {', '.join(self.patched)}"
        )
        if self.skipped:
            text += f"; not patched: {', '.join(self.skipped)}"
        if self.forwarding:
            text += f"; forwards {self.forwarding}"
        if self.verification:
            text += f"; {self.verification}"
        return text


_lock = threading.RLock()
_undo: list[tuple[Any, str, Any]] = []
_report: PatchReport | None = None
# Instances whose bound async template function we replaced, to restore them on unpatch().
_instances: weakref.WeakSet[Any] = weakref.WeakSet()
_INSTANCE_RESTORE: dict[str, Callable[[Any], None]] = {}


def replace(owner: Any, name: str, value: Any, label: str, report: PatchReport) -> None:
    """``owner.name = value``, undone by ``unpatch()``."""
    original = owner.__dict__[name] if name in vars(owner) else getattr(owner, name)
    _undo.append((owner, name, original))
    setattr(owner, name, value)
    report.patched.append(label)


def track_instance(instance: Any) -> None:
    """An object whose attributes a profile changed at construction (restored on unpatch)."""
    _instances.add(instance)


def on_restore(key: str, restore: Callable[[Any], None]) -> None:
    _INSTANCE_RESTORE[key] = restore


def report() -> PatchReport | None:
    """The report of the patch in force, or ``None``."""
    return _report


def is_patched() -> bool:
    return _report is not None and _report.active


def patch(
    mode: str = shims.NATIVE, *, shadow_rate: float | None = None, version: str | None = None
) -> PatchReport:
    """Install the shims into the installed vLLM. Idempotent; call ``unpatch()`` to undo.

    ``mode="shadow"`` serves vLLM's own results but also computes mistral-tok's on a sample
    (``shadow_rate``, default ``$MISTRAL_TOK_VLLM_SHADOW_RATE`` or 0.05) and logs differences.
    ``version``: treat the installed vLLM as this version (tests of unseen releases).
    """
    global _report
    from mistral_tok.vllm.profiles import REGISTRY

    if mode not in (shims.NATIVE, shims.SHADOW):
        raise ValueError(f"mode must be {shims.NATIVE!r} or {shims.SHADOW!r}, not {mode!r}")
    with _lock:
        if _report is not None:
            if _report.mode != mode and _report.active:
                LAYER.mode = mode
                _report.mode = mode
            return _report
        if installed_version("vllm") is None:
            return PatchReport(None, None, mode, reason="vLLM is not installed")
        selection = REGISTRY.select(version)
        profile = selection.profile
        name = profile.name if profile is not None else None
        rep = PatchReport(selection.version, name, mode, why=selection.why)
        if profile is None:
            rep.reason = f"{selection.why}; vLLM's functions are kept"
            return rep
        LAYER.mode = mode
        LAYER.shadow_rate = shims.env_shadow_rate() if shadow_rate is None else shadow_rate
        blocked = profile.probe() if profile.probe is not None else None
        try:
            profile.patch(rep)
        except Exception as exc:
            _restore()
            rep.patched.clear()
            rep.reason = f"patching failed ({type(exc).__name__}: {exc})"
            STATE.contract = None
            return rep
        if STATE.contract is not None and profile.forwarded:
            # The keywords this profile's native path was verified to treat as vLLM does.
            STATE.contract.verified = profile.forwarded
        if STATE.contract is not None and STATE.contract.forwarding is not None:
            rep.forwarding = str(STATE.contract.forwarding)
        _arm_verifier(rep, selection.unverified, blocked)
        _patch_speech_to_text(rep, mode, version)
        if not rep.patched:
            rep.reason = "nothing to patch"
        _report = rep
        return rep


def _arm_verifier(rep: PatchReport, unverified: str | None, blocked: str | None) -> None:
    from mistral_tok.vllm import canaries

    policy = policy_from_env(VERIFY_ENV)
    LAYER.verifier = Verifier(
        LAYER,
        policy=policy,
        needed=unverified,
        canaries=canaries.for_tokenizer,
        label=canaries.label,
        blocked=blocked,
        prepare=canaries.prepare,
        quiet_loggers=canaries.VLLM_LOGGERS,
        eligible=shims.is_vllm_tokenizer,
    )
    if blocked is not None:
        rep.verification = f"every call served by vLLM's own function: {blocked}"
    elif LAYER.verifier.runs_canaries():
        why = unverified or f"{VERIFY_ENV}={policy}"
        rep.verification = f"each tokenizer self-verifies before native use ({why})"
    elif unverified is not None:
        rep.verification = f"unverified combination served natively ({VERIFY_ENV}=never)"
    else:
        rep.verification = "verified combination"


SPEECH_TO_TEXT_MODULE = "vllm.entrypoints.speech_to_text.base.serving"
_WAITING_FOR_SPEECH_TO_TEXT = "transcription prompts (when vLLM imports its speech-to-text serving)"


# vLLM's speech-to-text serving is imported by its API server only.
_AFTER_IMPORT = AfterImport()


def _patch_speech_to_text(rep: PatchReport, mode: str, version: str | None) -> None:
    """The speech-to-text contract (``profiles.SPEECH_TO_TEXT``), selected and verified apart
    from the chat template's, now or when vLLM imports its speech-to-text serving; a failure
    leaves the chat patches in place."""
    import sys

    if SPEECH_TO_TEXT_MODULE in sys.modules:
        _apply_speech_to_text(rep, mode, version)
        return

    def then(_module: Any) -> None:
        _AFTER_IMPORT.watched.pop(SPEECH_TO_TEXT_MODULE, None)
        with _lock:
            if _report is rep:
                rep.skipped.remove(_WAITING_FOR_SPEECH_TO_TEXT)
                _apply_speech_to_text(rep, mode, version)

    rep.skipped.append(_WAITING_FOR_SPEECH_TO_TEXT)
    _AFTER_IMPORT.watch(SPEECH_TO_TEXT_MODULE, then)


def _apply_speech_to_text(rep: PatchReport, mode: str, version: str | None) -> None:
    from mistral_tok.vllm import transcription, transcription_canaries
    from mistral_tok.vllm.profiles import SPEECH_TO_TEXT

    try:
        selection = SPEECH_TO_TEXT.select(version)
    except Exception as exc:  # noqa: BLE001 - an import error in vLLM's audio modules
        rep.skipped.append(f"transcription prompts ({type(exc).__name__}: {exc})")
        return
    if selection.profile is None:
        rep.skipped.append(f"transcription prompts ({selection.why})")
        return
    done = len(_undo)
    try:
        selection.profile.patch(rep)
    except Exception as exc:  # noqa: BLE001
        while len(_undo) > done:
            owner, name, original = _undo.pop()
            setattr(owner, name, original)
            rep.patched.pop()
        rep.skipped.append(f"transcription prompts (patching failed: {type(exc).__name__}: {exc})")
        return
    layer = transcription.LAYER
    layer.mode = mode
    policy = policy_from_env(VERIFY_ENV)
    layer.verifier = Verifier(
        layer,
        policy=policy,
        needed=selection.unverified,
        canaries=transcription_canaries.for_serving,
        label=transcription_canaries.label,
        prepare=transcription_canaries.prepare,
        quiet_loggers=transcription_canaries.VLLM_LOGGERS,
    )
    if layer.verifier.runs_canaries():
        why = selection.unverified or f"{VERIFY_ENV}={policy}"
        rep.verification += f"; transcription: each Voxtral server self-verifies ({why})"


def unpatch() -> None:
    """Restore every vLLM attribute ``patch()`` replaced. Idempotent."""
    global _report
    with _lock:
        _restore()
        _report = None
        STATE.contract = None
        STATE.original = None
        LAYER.mode = shims.NATIVE
        LAYER.verifier = None
        from mistral_tok.vllm import transcription

        transcription.forget()
        _AFTER_IMPORT.stop()


def _restore() -> None:
    for instance in list(_instances):
        for restore in _INSTANCE_RESTORE.values():
            restore(instance)
    _instances.clear()
    _INSTANCE_RESTORE.clear()
    while _undo:
        owner, name, original = _undo.pop()
        setattr(owner, name, original)


def transformers_major() -> int:
    text = installed_version("transformers")
    return parse_version(text)[0] if text else 0


def tokenizer_module() -> Any:
    for name in ("vllm.tokenizers.mistral", "vllm.transformers_utils.tokenizers.mistral"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("vLLM's MistralTokenizer module was not found")


def install_contract(call_original: Callable[..., Any], *, probe: bool = True) -> Any:
    """Record the installed vLLM's tokenizer contract (its forwarding as the probe observes it)
    and how canaries call vLLM's own template function: ``call_original(tokenizer, messages,
    tools, kwargs)``. Returns vLLM's tokenizer module."""
    from mistral_tok.vllm import forwarding

    module = tokenizer_module()
    observed = forwarding.probe(module.MistralTokenizer) if probe else None
    if not isinstance(observed, forwarding.Forwarding):
        observed = None
    STATE.contract = Contract(module.MistralTokenizer, module, transformers_major(), observed)
    STATE.original = call_original
    return module


def media_connector() -> Any:
    for name in ("vllm.multimodal.media.connector", "vllm.multimodal.utils"):
        try:
            connector = getattr(importlib.import_module(name), "MediaConnector", None)
        except ImportError:
            continue
        if connector is not None:
            return connector
    return None


def recording_fetch(fetch: Any, record: Callable[[Any, Any], None]) -> Any:
    """vLLM's synchronous ``MediaConnector.fetch_image``, handing ``record`` each URL and the
    image vLLM got for it."""

    @functools.wraps(fetch)
    def fetch_image(self: Any, image_url: Any, *args: Any, **kwargs: Any) -> Any:
        image = fetch(self, image_url, *args, **kwargs)
        record(image_url, image)
        return image

    return fetch_image
