"""``@pytest.mark.own_process``: the test runs alone in a fresh pytest process, with a timeout.

For tests that fork or change the environment: the pytest process has other threads (the
mistral-tok worker, threads other tests left), and a fork copies whatever locks they hold. The
parent process only starts the child run and judges its outcome.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_ISOLATED = "MISTRAL_TOK_ISOLATED_TEST"
_TIMEOUT_SECONDS = 180


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "own_process: run this test alone in a fresh pytest process (fork, environ)"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if pyfuncitem.get_closest_marker("own_process") is None:
        return None
    if os.environ.get(_ISOLATED) == pyfuncitem.nodeid:
        return None  # this is the child run: the test body runs here
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", pyfuncitem.nodeid],
        cwd=pyfuncitem.config.rootpath,
        env={**os.environ, _ISOLATED: pyfuncitem.nodeid},
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_SECONDS,
    )
    report = run.stdout[-4000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert "1 passed" in run.stdout, report  # a node id that matched nothing would pass silently
    return True
