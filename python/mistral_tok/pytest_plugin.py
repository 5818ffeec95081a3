"""Pytest plugin: measure how long the asyncio event loop stalls while a block of code runs.

Installed with mistral-tok and registered as a ``pytest11`` entry point, so any test suite with
mistral-tok installed (and pytest-asyncio, or any other way to run ``async def`` tests) has the
``loop_lag`` fixture::

    async def test_encoding_does_not_block_the_loop(loop_lag):
        async with loop_lag() as lag:
            await tok.encode_async(big_text)
        assert lag.max_ms < 10

``lag`` (a :class:`LoopLag`) offers ``max_ms``, ``p99_ms``, ``mean_ms``, ``count`` (number of
wake-ups), ``samples_ms`` (every measured lag, in ms) and ``max_cpu_ms`` (the longest stretch of
CPU work on the loop thread: it does not grow with the machine's load, so it is the figure to
assert on in shared CI). How it measures: see :mod:`mistral_tok._lag`. :class:`LoopLag` works
without pytest too: ``async with LoopLag() as lag: ...``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mistral_tok._lag import LoopLag

__all__ = ["LoopLag", "loop_lag"]


@pytest.fixture
def loop_lag() -> Callable[..., LoopLag]:
    """``async with loop_lag(interval=0.001) as lag: ...`` then assert on ``lag.max_ms`` (or on
    ``lag.max_cpu_ms`` where the machine's load is not under control)."""
    return LoopLag
