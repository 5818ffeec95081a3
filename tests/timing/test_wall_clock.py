"""Wall-clock latencies: what a user of a quiet machine sees. Opt-in (``make test-timing``, i.e.
``MISTRAL_TOK_TIMING=1``): on a shared, loaded machine they measure the scheduler, so ``make
test`` asserts the CPU-time properties instead (``tests/test_async.py``, ``test_async_server.py``).
"""

from __future__ import annotations

import os

import pytest

from tests.support.asyncutil import load_or_skip, prose
from tests.support.encode_server import encode_server, encode_while_polling

pytestmark = pytest.mark.skipif(
    os.environ.get("MISTRAL_TOK_TIMING") != "1", reason="wall-clock timing: make test-timing"
)

TOKENIZER_FILES = ["tekken_240911.json", "mistral_instruct_tokenizer_240323.model.v3"]


@pytest.mark.asyncio
@pytest.mark.parametrize("name", TOKENIZER_FILES)
@pytest.mark.parametrize("megabytes", [5, 25])
async def test_the_loop_wakes_within_20ms_while_a_big_text_is_encoded(
    loop_lag, name: str, megabytes: int
) -> None:
    tok = load_or_skip(name)
    text = prose(megabytes * 1_000_000)
    async with loop_lag() as lag:
        await tok.encode_async(text)
    assert lag.count > 0 and lag.max_ms < 20, f"{lag}; load {os.getloadavg()}"


@pytest.mark.asyncio
async def test_the_loop_wakes_within_20ms_while_a_big_chat_request_is_encoded(loop_lag) -> None:
    tok = load_or_skip("tekken_240911.json")
    messages = [{"role": "user", "content": prose(25_000_000)}]
    async with loop_lag() as lag:
        await tok.encode_chat_async(messages)
    assert lag.count > 0 and lag.max_ms < 20, f"{lag}; load {os.getloadavg()}"


@pytest.mark.asyncio
async def test_health_answers_within_100ms_during_a_25mb_encode() -> None:
    tok = load_or_skip("tekken_240911.json")
    with encode_server(tok.path) as url:
        _, latencies = await encode_while_polling(url, prose(25_000_000).encode())
    assert len(latencies) >= 5, "too few /health answers during the encode"
    assert max(latencies) < 100, f"slowest /health {max(latencies):.1f} ms of {len(latencies)}"
