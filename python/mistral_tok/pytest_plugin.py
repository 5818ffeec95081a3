"""Pytest plugin: measure how long the asyncio event loop stalls while a block of code runs.

Installed with mistral-tok and registered as a ``pytest11`` entry point, so any test suite with
mistral-tok installed (and pytest-asyncio, or any other way to run ``async def`` tests) has the
``loop_lag`` fixture::

    async def test_encoding_does_not_block_the_loop(loop_lag):
        async with loop_lag() as lag:
            await tok.encode_async(big_text)
        assert lag.max_ms < 10

How it measures: a probe task sleeps ``interval`` seconds (1 ms by default) again and again and
records, for each wake-up, how late it woke compared with when it asked to. A loop that is never
blocked shows lags near zero; a synchronous 200 ms call inside the block shows a lag near 200 ms.
The last, unfinished sleep counts too, so a stall right before the block ends is not missed.

``lag`` (a :class:`LoopLag`) offers ``max_ms``, ``p99_ms``, ``mean_ms``, ``count`` (number of
wake-ups) and ``samples_ms`` (every measured lag, in ms). :class:`LoopLag` works without pytest
too: ``async with LoopLag() as lag: ...``.

Wall-clock lag also counts time the loop thread spent waiting for a CPU: on an overloaded
machine an idle loop shows lags of 10 ms and more. ``max_cpu_ms`` separates the two: the largest
CPU time the loop thread consumed within one probe interval, i.e. the longest stretch of work
that ran on the loop between two wake-ups of the probe (the probe's own ~0.1 ms included). It
does not depend on the machine's load, so it is the figure to assert on in shared CI. It does
not see time the loop spends waiting for the GIL held by another thread (a ``run_in_executor``
job's Python work, say): only ``max_ms`` shows that.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Callable

import pytest

__all__ = ["LoopLag", "loop_lag"]


class LoopLag:
    """Async context manager measuring event-loop lag with a sleeping probe task."""

    def __init__(self, interval: float = 0.001) -> None:
        if not interval > 0:
            raise ValueError("interval must be a positive number of seconds")
        self.interval = interval
        self.samples_ms: list[float] = []
        self.cpu_samples_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._due: float | None = None
        self._cpu_start = 0.0

    async def _probe(self) -> None:
        while True:
            self._cpu_start = time.thread_time()
            self._due = time.perf_counter() + self.interval
            await asyncio.sleep(self.interval)
            self.samples_ms.append(max(0.0, (time.perf_counter() - self._due) * 1000.0))
            self.cpu_samples_ms.append((time.thread_time() - self._cpu_start) * 1000.0)

    async def __aenter__(self) -> LoopLag:
        self.samples_ms.clear()
        self.cpu_samples_ms.clear()
        self._task = asyncio.get_running_loop().create_task(self._probe())
        # Let the probe start, so a stall at the very beginning of the block is measured.
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._due is not None:
            late = (time.perf_counter() - self._due) * 1000.0
            if late > 0:
                self.samples_ms.append(late)
                self.cpu_samples_ms.append((time.thread_time() - self._cpu_start) * 1000.0)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    @property
    def count(self) -> int:
        return len(self.samples_ms)

    @property
    def max_ms(self) -> float:
        return max(self.samples_ms, default=0.0)

    @property
    def max_cpu_ms(self) -> float:
        return max(self.cpu_samples_ms, default=0.0)

    @property
    def mean_ms(self) -> float:
        return sum(self.samples_ms) / len(self.samples_ms) if self.samples_ms else 0.0

    @property
    def p99_ms(self) -> float:
        if not self.samples_ms:
            return 0.0
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]

    def __repr__(self) -> str:
        return (
            f"LoopLag(count={self.count}, max_ms={self.max_ms:.2f}, p99_ms={self.p99_ms:.2f}, "
            f"mean_ms={self.mean_ms:.2f}, max_cpu_ms={self.max_cpu_ms:.2f})"
        )


@pytest.fixture
def loop_lag() -> Callable[..., LoopLag]:
    """``async with loop_lag(interval=0.001) as lag: ...`` then assert on ``lag.max_ms`` (or on
    ``lag.max_cpu_ms`` where the machine's load is not under control)."""
    return LoopLag
