"""Self-verification: before a tokenizer is served natively on a combination of versions nobody
has verified, a set of canary requests runs through the host's own function and through ours.

Per tokenizer, once per process, on a thread of its own (never the event loop). Calls that arrive
before the verdict are served by the original. Identical answers: native from then on. Any
difference: the original for that tokenizer, and one log line naming the first difference.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mistral_tok._integration import context
from mistral_tok._integration.layer import Fallback, describe, outcome

if TYPE_CHECKING:
    from mistral_tok._integration.layer import Layer

ALWAYS = "always"
UNVERIFIED = "unverified"
NEVER = "never"
POLICIES = (ALWAYS, UNVERIFIED, NEVER)


def policy_from_env(variable: str) -> str:
    value = os.environ.get(variable, UNVERIFIED).strip().lower()
    return value if value in POLICIES else UNVERIFIED


@dataclass(frozen=True)
class Canary:
    """One request: ``original()`` the host's function on it, ``native()`` ours (may raise
    :class:`Fallback`: such requests go to the original anyway, nothing to compare)."""

    name: str
    original: Callable[[], Any]
    native: Callable[[], Any]


@dataclass(frozen=True)
class Verdict:
    native: bool
    why: str
    seconds: float = 0.0


class _ThisThreadOnly(logging.Filter):
    """Drops the records made on the thread that created it."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self.thread


class Verifier:
    """Decides per tokenizer whether ``layer`` may serve it natively.

    ``needed``: ``None`` when the installed combination is verified, else why it is not (then
    canaries run under policy ``unverified``). ``blocked``: a reason no tokenizer is served
    natively at all (a contract check that failed). ``canaries(tokenizer)`` builds the requests;
    ``label(tokenizer)`` names the tokenizer in stats and logs; ``prepare(tokenizer)`` runs
    first, not timed (loading our side of the tokenizer); ``quiet_loggers``: the host's loggers
    whose records on the verifying thread are dropped (its error logs for invalid canaries);
    ``eligible(tokenizer)``: whether the native path could serve it at all (others are let
    through to the layer, which falls back for them).
    """

    def __init__(
        self,
        layer: Layer,
        *,
        policy: str,
        needed: str | None,
        canaries: Callable[[Any], list[Canary]],
        label: Callable[[Any], str],
        blocked: str | None = None,
        prepare: Callable[[Any], None] | None = None,
        quiet_loggers: tuple[str, ...] = (),
        eligible: Callable[[Any], bool] | None = None,
    ) -> None:
        self.layer = layer
        self.policy = policy
        self.needed = needed
        self.blocked = blocked
        self.canaries = canaries
        self.label = label
        # Untimed work before the canaries (loading our tokenizer, which is not their cost).
        self.prepare = prepare
        # The host's loggers that report its own errors (invalid canaries are meant to fail):
        # records they make on the verifying thread are dropped.
        self.quiet_loggers = quiet_loggers
        # Objects the native path never serves (it falls back for them on its own) are not
        # verified, labelled nor recorded.
        self.eligible = eligible
        self._lock = threading.Lock()
        self._verdicts: dict[int, Verdict] = {}
        self._running: dict[int, threading.Event] = {}

    def runs_canaries(self) -> bool:
        if self.policy == NEVER:
            return False
        return self.policy == ALWAYS or self.needed is not None

    def admits(self, tokenizer: Any) -> bool:
        if self.eligible is not None and not self.eligible(tokenizer):
            return True
        verdict = self.verdict(tokenizer)
        if verdict is not None:
            return verdict.native
        if self.blocked is not None:
            return self._decided(tokenizer, Verdict(False, self.blocked)).native
        if not self.runs_canaries():
            why = (
                "verified combination"
                if self.needed is None
                else f"unverified, served natively ({self.policy}): {self.needed}"
            )
            return self._decided(tokenizer, Verdict(True, why)).native
        self.start(tokenizer)
        self.layer.stats.count("before_verdict")
        return False

    def _decided(self, tokenizer: Any, verdict: Verdict) -> Verdict:
        """A verdict without canaries, recorded once per tokenizer."""
        with self._lock:
            self._verdicts[id(tokenizer)] = verdict
        self._forget_with(tokenizer, id(tokenizer))
        path = "native" if verdict.native else "original"
        self.layer.stats.tokenizer_path(self.label(tokenizer), path, verdict.why)
        return verdict

    def verdict(self, tokenizer: Any) -> Verdict | None:
        with self._lock:
            return self._verdicts.get(id(tokenizer))

    def start(self, tokenizer: Any) -> threading.Event:
        """Start verifying ``tokenizer`` (once); the event is set when the verdict is in."""
        key = id(tokenizer)
        with self._lock:
            if key in self._verdicts:
                done = threading.Event()
                done.set()
                return done
            event = self._running.get(key)
            if event is not None:
                return event
            event = self._running[key] = threading.Event()
        label = self.label(tokenizer)
        self.layer.stats.tokenizer_path(label, "verifying", self.needed or "policy always")
        thread = threading.Thread(
            target=self._verify,
            args=(tokenizer, key, label, event),
            name=f"mistral-tok-{self.layer.name}-verify",
            daemon=True,
        )
        thread.start()
        return event

    def wait(self, tokenizer: Any, timeout: float | None = None) -> Verdict | None:
        """Start if needed and wait for the verdict (tests, warm-up)."""
        if not self.runs_canaries():
            return None
        self.start(tokenizer).wait(timeout)
        return self.verdict(tokenizer)

    def _verify(self, tokenizer: Any, key: int, label: str, event: threading.Event) -> None:
        started = time.perf_counter()
        quiet = _ThisThreadOnly()
        loggers = [logging.getLogger(name) for name in self.quiet_loggers]
        for host_logger in loggers:
            host_logger.addFilter(quiet)
        try:
            if self.prepare is not None:
                self.prepare(tokenizer)
                started = time.perf_counter()
            why = self._first_difference(tokenizer)
        except Exception as exc:  # noqa: BLE001 - a canary run that breaks proves nothing
            why = f"canaries could not run ({type(exc).__name__}: {exc})"
        finally:
            for host_logger in loggers:
                host_logger.removeFilter(quiet)
        seconds = time.perf_counter() - started
        verdict = Verdict(why is None, why or "canaries identical", seconds)
        with self._lock:
            self._verdicts[key] = verdict
            self._running.pop(key, None)
        self._forget_with(tokenizer, key)
        stats = self.layer.stats
        stats.tokenizer_path(
            label, "native" if verdict.native else "original", f"{verdict.why} ({seconds:.2f} s)"
        )
        stats.count("canary_runs")
        level = logging.INFO if verdict.native else logging.WARNING
        stats.log_once(level, f"self-verification of {label}: {verdict.why}")
        event.set()

    def _forget_with(self, tokenizer: Any, key: int) -> None:
        try:
            weakref.finalize(tokenizer, self._forget, key)
        except TypeError:
            pass  # not weak-referenceable: the verdict stays for the process

    def _forget(self, key: int) -> None:
        with self._lock:
            self._verdicts.pop(key, None)

    def _first_difference(self, tokenizer: Any) -> str | None:
        compared = 0
        for canary in self.canaries(tokenizer):
            theirs = outcome(functools.partial(self.layer.original, canary.original))
            with context.all_layers_off():
                ours = outcome(functools.partial(self.layer.native, canary.native))
            if ours[0] == "error" and isinstance(ours[1], Fallback):
                continue
            compared += 1
            if not self.layer.same(theirs, ours):
                return (
                    f"canary {canary.name!r} differs: {self.layer.stats.original_name} "
                    f"{describe(theirs)}, mistral-tok {describe(ours)}"
                )
        if compared == 0:
            return "no canary could be compared"
        return None
