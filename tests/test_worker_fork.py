"""The worker across fork and spawn.

A forked child has none of its parent's threads. The parent's worker (and any lock it held) is
left untouched in the child, and the child starts a fresh worker on its first await. Children are
bounded in time: a hang is a failure, not a stuck test run. Each test forks from a fresh pytest
process of its own (``own_process``), not from the suite's process and whatever threads it has.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time

import pytest

from mistral_tok import _native

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    pytest.mark.own_process,
]


def _values(n: int, base: int) -> list[int]:
    async def main() -> list[int]:
        return await asyncio.gather(*[_native._test_sleep_job(0, base + i) for i in range(n)])

    return asyncio.run(asyncio.wait_for(main(), 30))


def _wait_child(pid: int, timeout: float = 30.0) -> int:
    """Exit status of child `pid`; kills it and fails if it runs longer than `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("forked child hung")


def _fork(child) -> int:  # runs `child()` in a forked child; returns its exit code
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if child() else 2
        finally:
            os._exit(code)
    return _wait_child(pid)


def test_os_fork_after_the_parent_used_the_worker() -> None:
    assert _values(100, 0) == list(range(100))
    assert _native._worker_started()

    def child() -> bool:
        if _native._worker_started():  # the parent's worker thread does not exist here
            return False
        return _values(200, 1000) == list(range(1000, 1200)) and _native._worker_started()

    assert _fork(child) == 0
    assert _values(100, 5) == list(range(5, 105))  # the parent's worker is untouched


def test_os_fork_while_the_parent_worker_is_busy() -> None:
    """Fork while a job runs and others wait: the child must not wait for them."""
    started = _native._test_jobs_started()
    results: list[int] = []

    def parent_loop() -> None:
        async def main() -> list[int]:
            return await asyncio.gather(*[_native._test_sleep_job(0.3, i) for i in range(3)])

        results.extend(asyncio.run(main()))

    thread = threading.Thread(target=parent_loop)
    thread.start()
    for _ in range(500):
        if _native._test_jobs_started() > started:
            break
        time.sleep(0.01)

    def child() -> bool:
        return _values(50, 0) == list(range(50))

    assert _fork(child) == 0
    thread.join(timeout=30)
    assert results == [0, 1, 2]


def test_a_grandchild_gets_its_own_worker_too() -> None:
    _values(10, 0)

    def child() -> bool:
        ok = _values(10, 100) == list(range(100, 110))
        return ok and _fork(lambda: _values(10, 200) == list(range(200, 210))) == 0

    assert _fork(child) == 0


def _pool_job(n: int) -> list[int]:
    return _values(n, n * 100)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing(method: str) -> None:
    _values(10, 0)  # the parent has a running worker when the pool starts
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        got = pool.map_async(_pool_job, [5, 6, 7, 8]).get(timeout=120)
    assert got == [list(range(n * 100, n * 100 + n)) for n in [5, 6, 7, 8]]
    assert _values(10, 0) == list(range(10))
