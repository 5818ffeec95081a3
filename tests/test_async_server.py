"""A real HTTP server (Starlette on uvicorn, loopback only) stays responsive while it encodes a
25 MB request through the awaitable: ``/health`` is answered while the encode is under way, the
encode runs on the worker thread and the server loop never works through a large share of it at a
stretch (CPU time: see ``LoopWork``). How fast ``/health`` answers is ``make test-timing``'s.

Everything is bounded: the server start, each request, and the whole exchange.
"""

from __future__ import annotations

import pytest

from tests.support.asyncutil import LoopWork, assert_loop_stays_free, load_or_skip, prose
from tests.support.encode_server import encode_server, encode_while_polling

pytest.importorskip("httpx")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


@pytest.fixture
def tekken():
    return load_or_skip("tekken_240911.json")


@pytest.fixture
def server_url(tekken):
    with encode_server(tekken.path) as url:
        yield url


@pytest.mark.asyncio
async def test_health_answers_during_a_25mb_encode(tekken, server_url) -> None:
    text = prose(25_000_000)
    response, latencies = await encode_while_polling(server_url, text.encode())
    expected = tekken.encode(text)
    work = LoopWork(**response.pop("work"))
    assert response == {"n_tokens": len(expected), "head": expected[:16], "tail": expected[-16:]}
    # A loop blocked by the encode would answer every /health before or after it, never during.
    assert latencies, f"no /health answered during the encode; server loop {work}"
    assert_loop_stays_free(work)
