"""What every mistral-tok integration layer shares (vLLM today; transformers and mistral_common
next). Internal API, stable within this repository.

A *layer* patches one host function. It supplies the host's original (bound to the call), its
native replacement, and canary requests; this package decides which one answers.

Context (:mod:`.context`) — one immutable :class:`Context` in ONE ContextVar:
    ``current()``; ``get(name, default)``; ``set(name, value) -> Token``; ``reset(token)`` (one
    name, any order); ``take(name, match=None)``; ``scoped(name, value)`` (context manager);
    ``layers_are_off()``; ``all_layers_off()`` (context manager: every layer calls its original
    inside — canaries, shadow and fallbacks use it so the reference never runs through our own
    layers); ``run_with_layers_off(fn, *args)``.

Layer (:mod:`.layer`) — ``Layer(name, original_name=..., map_error=..., same=..., stat_keys=())``:
    ``call(original, native, tokenizer)`` / ``await call_async(original_async, native_async,
    tokenizer, shadow_native=None)``: native unless the layers are off, the verifier has not
    admitted ``tokenizer``, or ``native`` raises :class:`Fallback` (then the original, counted,
    reason logged once); shadow mode (``layer.mode = SHADOW``, ``layer.shadow_rate``) serves the
    original and compares ours. ``native(fn)`` / ``native_async(fn)``: the error contract (our
    "unsupported" errors become :class:`Fallback`, request errors ``map_error(exc)``).
    ``original(fn, *args)``: the host function with layers off. ``executor()``: the layer's own
    worker thread. ``stats`` (:class:`Stats`), ``reset_stats()``, ``verifier``.
    Module helpers: :class:`Fallback`, ``require_keywords(kwargs, verified)``, ``outcome(fn)``,
    ``describe(outcome)``, ``NATIVE``, ``SHADOW``.

Stats (:mod:`.stats`): ``count(key)``, ``fallback(reason)``, ``log_once(level, message)``,
    ``tokenizer_path(label, path, why)``, ``snapshot()`` (counters, ``fallback_reasons``,
    ``tokenizers``: ``{label: {"path": native|original|verifying, "why": ...}}``), ``reset()``.

Self-verification (:mod:`.canary`): ``Verifier(layer, policy=, needed=, canaries=, label=,
    blocked=None, prepare=None, quiet_loggers=(), eligible=None)`` with ``admits(tokenizer)``
    (starts the canaries on a thread the first time; ``False`` until the verdict),
    ``verdict(tokenizer)``, ``wait(tokenizer, timeout)``;
    :class:`Canary` ``(name, original, native)``; :class:`Verdict`; policies ``ALWAYS``,
    ``UNVERIFIED``, ``NEVER``, ``policy_from_env(variable)``.

Contracts (:mod:`.registry`): :class:`Registry` ``(host, companions)`` of :class:`Profile`
    ``(name, summary, first, last, symbols, patch, forwarded, probe, verified, notes)``;
    ``Registry.select(version=None) -> Selection(profile, version, why, unverified, problems)``,
    ``Registry.table()``; :class:`Symbol` ``(path "module:attr", signature)``,
    :class:`Combination`; ``parse_version``, ``installed_version``, ``resolve``.
"""

from mistral_tok._integration import context
from mistral_tok._integration.canary import (
    ALWAYS,
    NEVER,
    POLICIES,
    UNVERIFIED,
    Canary,
    Verdict,
    Verifier,
    policy_from_env,
)
from mistral_tok._integration.layer import (
    NATIVE,
    SHADOW,
    Fallback,
    Layer,
    Outcome,
    describe,
    outcome,
    require_keywords,
)
from mistral_tok._integration.registry import (
    Combination,
    Profile,
    Registry,
    Selection,
    Symbol,
    installed_version,
    parse_version,
    resolve,
)
from mistral_tok._integration.stats import Stats

__all__ = [
    "ALWAYS",
    "NATIVE",
    "NEVER",
    "POLICIES",
    "SHADOW",
    "UNVERIFIED",
    "Canary",
    "Combination",
    "Fallback",
    "Layer",
    "Outcome",
    "Profile",
    "Registry",
    "Selection",
    "Stats",
    "Symbol",
    "Verdict",
    "Verifier",
    "context",
    "describe",
    "installed_version",
    "outcome",
    "parse_version",
    "policy_from_env",
    "require_keywords",
    "resolve",
]
