"""Event-loop lag: how long an asyncio loop stalls while a block of code runs.

A probe task sleeps ``interval`` seconds (1 ms by default) again and again and records, for each
wake-up, how late it woke compared with when it asked to. A loop that is never blocked shows lags
near zero; a synchronous 200 ms call inside the block shows a lag near 200 ms. The last,
unfinished sleep counts too, so a stall right before the block ends is not missed.

Wall-clock lag also counts time the loop thread spent waiting for a CPU: on an overloaded
machine an idle loop shows lags of 10 ms and more. ``max_cpu_ms`` separates the two: the largest
CPU time the loop thread consumed within one probe interval, i.e. the longest stretch of work
that ran on the loop between two wake-ups of the probe (the probe's own ~0.1 ms included). It
does not depend on the machine's load. It does not see time the loop spends waiting for the GIL
held by another thread (a ``run_in_executor`` job's Python work, say): only ``max_ms`` shows that.

Used by the ``loop_lag`` pytest fixture (:mod:`mistral_tok.pytest_plugin`), the ``mistral-tok
bench`` / ``demo`` commands and ``benches/async_lag.py``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["LagRun", "LoopLag", "measure_lag"]


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


@dataclass
class LagRun:
    """Worst lag figures and mean times over the repetitions of one awaited job."""

    max_ms: float = 0.0
    p99_ms: float = 0.0
    mean_ms: float = 0.0
    max_cpu_ms: float = 0.0
    wall_ms: float = 0.0
    loop_cpu_ms: float = 0.0
    process_cpu_ms: float = 0.0
    result: Any = None


async def measure_lag(make: Callable[[], Awaitable[Any]], reps: int = 1) -> LagRun:
    """Await ``make()`` ``reps`` times under a :class:`LoopLag` probe.

    Lags are the worst over the repetitions; ``wall_ms``, ``loop_cpu_ms`` (the loop thread's CPU
    time, probe included) and ``process_cpu_ms`` (all threads: worker threads' work included) are
    means; ``result`` is the last awaited value.
    """
    run = LagRun()
    reps = max(1, reps)
    for _ in range(reps):
        cpu0, wall0, proc0 = time.thread_time(), time.perf_counter(), time.process_time()
        async with LoopLag() as lag:
            run.result = await make()
        wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
        run.process_cpu_ms += (time.process_time() - proc0) * 1000 / reps
        run.max_ms = max(run.max_ms, lag.max_ms)
        run.p99_ms = max(run.p99_ms, lag.p99_ms)
        run.mean_ms = max(run.mean_ms, lag.mean_ms)
        run.max_cpu_ms = max(run.max_cpu_ms, lag.max_cpu_ms)
        run.wall_ms += wall * 1000 / reps
        run.loop_cpu_ms += cpu * 1000 / reps
    return run
