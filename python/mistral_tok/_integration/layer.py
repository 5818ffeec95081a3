"""One patched function's call: native when the plan covers it, else the original (counted,
logged once per reason); shadow mode serves the original and compares ours on a sample."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from mistral_tok._integration import context
from mistral_tok._integration.stats import Stats

if TYPE_CHECKING:
    from mistral_tok._integration.canary import Verifier

NATIVE = "native"
SHADOW = "shadow"

Outcome = tuple[str, Any]  # ("ok", value) or ("error", exception)


class Fallback(Exception):
    """Raised while planning or running the native path: it does not cover this input."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def require_keywords(keywords: Any, verified: frozenset[str]) -> None:
    """:class:`Fallback` when a call carries a keyword outside ``verified`` (the set whose
    handling by the host was verified): the host's function decides what it means."""
    unknown = sorted(k for k in keywords if k not in verified)
    if unknown:
        raise Fallback(f"keyword {unknown[0]!r} outside the verified set")


def outcome(fn: Callable[[], Any]) -> Outcome:
    try:
        return "ok", fn()
    except Exception as exc:  # noqa: BLE001 - the comparison is about any outcome
        return "error", exc


def describe(result: Outcome) -> str:
    kind, value = result
    if kind == "error":
        return f"raised {type(value).__name__}: {str(value)[:200]}"
    if isinstance(value, list):
        return f"{len(value)} tokens starting {value[:8]}"
    return f"{type(value).__name__} {str(value)[:80]!r}"


def _not_for_us(exc: BaseException) -> str | None:
    """mistral-tok errors that mean "use the original" rather than "the request is invalid"."""
    from mistral_tok import RequestError, UnsupportedFeatureError

    if isinstance(exc, UnsupportedFeatureError):
        return f"unsupported by mistral-tok: {exc}"
    if isinstance(exc, RequestError):
        return None
    if isinstance(exc, (TypeError, OverflowError, RecursionError, MemoryError)):
        # e.g. a pydantic iterator or a Python object the Rust conversion does not take
        return f"input mistral-tok cannot read ({type(exc).__name__})"
    return None


def _same_outcome(theirs: Outcome, ours: Outcome) -> bool:
    if theirs[0] == ours[0] == "ok":
        return bool(theirs[1] == ours[1])
    return theirs[0] == ours[0] == "error" and type(theirs[1]) is type(ours[1])


class Layer:
    """Everything one integration (vLLM, transformers, mistral_common) shares.

    ``map_error(exc)``: the exception the original raises for a request mistral-tok rejects
    (vLLM: ``ValueError(str(exc))``); ``same(theirs, ours)``: whether two outcomes are the same
    answer (shadow and canaries; default: equal values, or errors of the same class).
    """

    def __init__(
        self,
        name: str,
        *,
        original_name: str,
        map_error: Callable[[BaseException], BaseException] | None = None,
        same: Callable[[Outcome, Outcome], bool] = _same_outcome,
        stat_keys: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.logger = logging.getLogger(f"mistral_tok.{name}")
        self.stats = Stats(self.logger, original_name, ("native_rejected", *stat_keys))
        self.map_error = map_error or (lambda exc: exc)
        self.same = same
        self.mode = NATIVE
        self.shadow_rate = 1.0
        self.shadow_logged = 0
        self.verifier: Verifier | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    def executor(self) -> ThreadPoolExecutor:
        """This layer's own worker thread (never the host's shared pool)."""
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix=f"mistral-tok-{self.name}"
                )
            return self._executor

    # -- the native side -------------------------------------------------------------------

    def native(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` with the error contract: "not for us" errors become :class:`Fallback`,
        request errors ``map_error(exc)``."""
        try:
            return fn()
        except Fallback:
            raise
        except Exception as exc:
            raise self._classified(exc) from exc

    async def native_async(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await fn()
        except Fallback:
            raise
        except Exception as exc:
            raise self._classified(exc) from exc

    def _classified(self, exc: Exception) -> BaseException:
        reason = _not_for_us(exc)
        return Fallback(reason) if reason is not None else self.map_error(exc)

    # -- gates -------------------------------------------------------------------------------

    def admits(self, tokenizer: Any) -> bool:
        """Whether calls with ``tokenizer`` may be served natively (layers on, verified)."""
        if context.layers_are_off():
            return False
        return self.verifier is None or tokenizer is None or self.verifier.admits(tokenizer)

    def shadowing(self) -> bool:
        return self.mode == SHADOW and not context.layers_are_off()

    # -- calls -------------------------------------------------------------------------------

    def call(self, original: Callable[[], Any], native: Callable[[], Any], tokenizer: Any) -> Any:
        """The patched function's answer, synchronously. ``native`` raises :class:`Fallback`
        for what it does not cover; ``original`` is the host's function bound to the call."""
        if self.shadowing():
            theirs = outcome(lambda: self.original(original))
            if self._sampled():
                self.shadow_compare(theirs, lambda: self.native(native))
            return _unwrap(theirs)
        if not self.admits(tokenizer):
            return self.original(original)
        try:
            result = self.native(native)
        except Fallback as fb:
            self.stats.fallback(fb.reason)
            return self.original(original)
        except Exception:
            self.stats.count("native_rejected")
            raise
        self.stats.count("native")
        return result

    async def call_async(
        self,
        original_async: Callable[[], Awaitable[Any]],
        native_async: Callable[[], Awaitable[Any]],
        tokenizer: Any,
        shadow_native: Callable[[], Any] | None = None,
    ) -> Any:
        """As :meth:`call`; ``original_async()`` is the host's own awaitable (its function,
        offloaded as the host offloads it; work it hands to a thread should go through
        :func:`context.run_with_layers_off`, threads do not inherit the context),
        ``native_async()`` ours; ``shadow_native`` the synchronous native call the shadow
        comparison runs on this layer's thread."""
        if self.shadowing():
            try:
                theirs: Outcome = ("ok", await self._original_async(original_async))
            except Exception as exc:  # noqa: BLE001
                theirs = ("error", exc)
            if shadow_native is not None and self._sampled():
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(
                    self.executor(), self.shadow_compare, theirs, lambda: self.native(shadow_native)
                )
            return _unwrap(theirs)
        if not self.admits(tokenizer):
            return await self._original_async(original_async)
        try:
            result = await self.native_async(native_async)
        except Fallback as fb:
            self.stats.fallback(fb.reason)
            return await self._original_async(original_async)
        except Exception:
            self.stats.count("native_rejected")
            raise
        self.stats.count("native")
        return result

    @staticmethod
    def original(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """The host's function with every mistral-tok layer off."""
        with context.all_layers_off():
            return fn(*args, **kwargs)

    @staticmethod
    async def _original_async(original_async: Callable[[], Awaitable[Any]]) -> Any:
        with context.all_layers_off():
            return await original_async()

    # -- shadow ------------------------------------------------------------------------------

    def _sampled(self) -> bool:
        return self.shadow_rate >= 1.0 or random.random() < self.shadow_rate

    def shadow_compare(self, theirs: Outcome, ours_fn: Callable[[], Any]) -> None:
        ours = outcome(ours_fn)
        if ours[0] == "error" and isinstance(ours[1], Fallback):
            return
        self.stats.count("shadow_compared")
        if self.same(theirs, ours):
            return
        self.stats.count("shadow_differences")
        with self.stats.lock:
            self.shadow_logged += 1
            n = self.shadow_logged
        if n <= 10 or n % 100 == 0:
            self.logger.warning(
                "mistral-tok shadow difference #%d: %s %s, mistral-tok %s",
                n,
                self.stats.original_name,
                describe(theirs),
                describe(ours),
            )

    def reset_stats(self) -> None:
        self.stats.reset()
        self.shadow_logged = 0


def _unwrap(result: Outcome) -> Any:
    if result[0] == "error":
        raise result[1]
    return result[1]
